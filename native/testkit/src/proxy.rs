//! Delaying and fault-injecting TCP proxies.

/// Placeholder.
pub struct DelayProxy;
/// Placeholder.
pub struct FaultProxy;

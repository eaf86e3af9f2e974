//! Deterministic message and mailbox generators.

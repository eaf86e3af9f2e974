//! Process control: which process owns a state directory, and starting the one that should.
//!
//! Both the api (the cmdlets probe and start the worker) and the worker (it takes the lock
//! before it touches the store) need these, so they live below both: neither of those layers
//! has to import the other for them. Only the standard library and the state directory's
//! layout are known here; nothing of the store, the engine or IMAP.

pub mod lock;
pub mod spawn;

pub use lock::{WorkerLock, probe};
pub use spawn::{SpawnError, detach, ensure_worker};

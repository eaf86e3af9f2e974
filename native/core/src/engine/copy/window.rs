//! The byte window: how much message data one user's copies hold in memory at once.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::super::error::Error;

/// Bytes of message bodies a user's copies hold between source reader and target writer,
/// shared by the folders copied at once, so that memory does not grow with the number of
/// folders in parallel. A message larger than the window takes all of it and passes alone.
pub(in crate::engine) struct ByteWindow {
    bytes: usize,
    sem: Arc<Semaphore>,
}

impl ByteWindow {
    pub fn new(bytes: usize) -> Self {
        // Permits are counted in u32 by `acquire_many_owned`.
        let bytes = bytes.clamp(1 << 20, u32::MAX as usize);
        ByteWindow {
            bytes,
            sem: Arc::new(Semaphore::new(bytes)),
        }
    }

    /// The window's size in bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Bytes currently free.
    #[cfg(test)]
    pub fn available(&self) -> usize {
        self.sem.available_permits()
    }

    /// Waits until `size` bytes (at most the whole window) are free and takes them.
    pub async fn acquire(&self, size: usize) -> Result<OwnedSemaphorePermit, Error> {
        let want = size.clamp(1, self.bytes) as u32;
        self.sem
            .clone()
            .acquire_many_owned(want)
            .await
            .map_err(|_| Error::Internal("byte window closed".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn folders_share_one_window_and_a_large_message_takes_all_of_it() {
        let w = ByteWindow::new(4 << 20);
        assert_eq!(w.bytes(), 4 << 20);
        // Two folders' readers draw from the same window.
        let a = w.acquire(3 << 20).await.unwrap();
        let b = w.acquire(1 << 20).await.unwrap();
        assert_eq!(w.available(), 0);
        // A third message waits until one of them is written.
        let blocked =
            tokio::time::timeout(std::time::Duration::from_millis(20), w.acquire(1)).await;
        assert!(blocked.is_err());
        drop(a);
        let c = w.acquire(1).await.unwrap();
        drop((b, c));
        // A message larger than the window takes all of it, alone.
        let big = w.acquire(100 << 20).await.unwrap();
        assert_eq!(w.available(), 0);
        drop(big);
        assert_eq!(w.available(), 4 << 20);
        // Too small a window is raised to 1 MiB.
        assert_eq!(ByteWindow::new(10).bytes(), 1 << 20);
    }
}

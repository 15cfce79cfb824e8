//! `Flusher`: a background thread that writes the writer's full chunks to the temporary
//! file, so encoding the next chunk overlaps the write of the previous one.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::io::TempFile;

type Outcome = (Box<dyn TempFile>, io::Result<()>);

/// Owns the temporary file while chunks stream; [`finish`](Self::finish) hands it back
/// with the first write error, if any. At most three chunk buffers exist: one queued,
/// one being written, one being filled.
pub(crate) struct Flusher {
    tx: Option<SyncSender<Vec<u8>>>,
    spare: Receiver<Vec<u8>>,
    failed: Arc<AtomicBool>,
    thread: Option<JoinHandle<Outcome>>,
    capacity: usize,
}

impl Flusher {
    /// Starts the thread. On failure the file is handed back with the error.
    pub(crate) fn start(
        file: Box<dyn TempFile>,
        capacity: usize,
    ) -> Result<Self, (Option<Box<dyn TempFile>>, io::Error)> {
        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(1);
        let (spare_tx, spare) = mpsc::channel();
        let failed = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&failed);
        // The file travels through a slot so that a failed spawn does not lose it.
        let slot = Arc::new(std::sync::Mutex::new(Some(file)));
        let thread_slot = Arc::clone(&slot);
        let spawned = std::thread::Builder::new()
            .name("kv-snapshot-writer".into())
            .spawn(move || {
                let mut file = thread_slot
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take()
                    .expect("the file is in the slot until the thread takes it");
                let mut result = Ok(());
                for mut chunk in rx {
                    if result.is_ok() {
                        if let Err(e) = file.write_all(&chunk) {
                            flag.store(true, Ordering::Release);
                            result = Err(e);
                        }
                    }
                    chunk.clear();
                    let _ = spare_tx.send(chunk);
                }
                (file, result)
            });
        match spawned {
            Ok(thread) => Ok(Flusher {
                tx: Some(tx),
                spare,
                failed,
                thread: Some(thread),
                capacity,
            }),
            Err(e) => {
                let file = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
                Err((file, e))
            }
        }
    }

    /// Queues `chunk` (waiting while one is already queued) and returns an empty buffer
    /// to fill next; `None` once a write has failed (then call [`finish`](Self::finish)).
    pub(crate) fn send(&mut self, chunk: Vec<u8>) -> Option<Vec<u8>> {
        if self.failed.load(Ordering::Acquire) {
            return None;
        }
        self.tx.as_ref()?.send(chunk).ok()?;
        Some(
            self.spare
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(self.capacity)),
        )
    }

    /// Waits for every queued chunk to be written; returns the file (unless the thread
    /// died) and the first error.
    pub(crate) fn finish(mut self) -> (Option<Box<dyn TempFile>>, io::Result<()>) {
        self.tx = None;
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok((file, result))) => (Some(file), result),
            _ => (
                None,
                Err(io::Error::other("the snapshot writer thread panicked")),
            ),
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

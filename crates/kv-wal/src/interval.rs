//! The one thread kv-wal ever starts: [`SyncPolicy::Interval`](crate::SyncPolicy::Interval)'s,
//! which the user asks for by choosing that policy. [`Wal::open`](crate::Wal::open)
//! starts it; [`Wal::close`](crate::Wal::close) or dropping the `Wal` stops it and
//! waits for it.

use std::io;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::wal::Shared;

/// The thread that makes every appended record durable once per interval.
#[derive(Debug)]
pub(crate) struct IntervalSyncThread {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl IntervalSyncThread {
    /// Starts the thread, named `kv-wal-sync`: every `every`, it waits (through group
    /// commit) until every record appended by then is durable. It ends at the first
    /// failed flush (the writer is poisoned: every later call reports it) or when
    /// stopped.
    pub(crate) fn start(shared: Arc<Shared>, every: Duration) -> io::Result<IntervalSyncThread> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("kv-wal-sync".into())
            .spawn(move || loop {
                match stopped.recv_timeout(every) {
                    Err(RecvTimeoutError::Timeout) => {
                        let upto = shared.state.lock().next_seq.prev();
                        if shared.wait_durable(upto).is_err() {
                            return;
                        }
                    }
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
            })?;
        Ok(IntervalSyncThread { stop, thread })
    }

    /// Stops the thread and waits for it to end.
    pub(crate) fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

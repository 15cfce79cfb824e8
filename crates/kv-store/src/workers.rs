//! Background workers: std threads woken by a ticker or a kick, stopped by a channel.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{never, select, tick, Receiver, Sender};

/// The running workers of one store. Dropping the stop sender (in [`Workers::stop`])
/// disconnects every worker's stop channel, which each one sees at its next `select!`.
#[derive(Default)]
pub(crate) struct Workers {
    stop: Option<Sender<()>>,
    stop_rx: Option<Receiver<()>>,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    pub(crate) fn new() -> Self {
        let (tx, rx) = crossbeam_channel::bounded(0);
        Self {
            stop: Some(tx),
            stop_rx: Some(rx),
            threads: Vec::new(),
        }
    }

    /// Starts a worker named `name` that runs `job` every `every` (if given) and
    /// whenever `kick` receives, until stopped. A panicking job is caught and reported
    /// through `on_panic`; the worker keeps running.
    pub(crate) fn spawn(
        &mut self,
        name: &'static str,
        every: Option<Duration>,
        kick: Option<Receiver<()>>,
        mut job: impl FnMut() + Send + 'static,
        on_panic: impl Fn(&'static str) + Send + 'static,
    ) -> std::io::Result<()> {
        let Some(stop) = self.stop_rx.clone() else {
            return Ok(());
        };
        let handle = std::thread::Builder::new()
            .name(format!("kv-{name}"))
            .spawn(move || {
                let ticker = every.map(tick).unwrap_or_else(never);
                let kick = kick.unwrap_or_else(never);
                loop {
                    select! {
                        recv(stop) -> _ => break,
                        recv(ticker) -> _ => {}
                        recv(kick) -> msg => {
                            if msg.is_err() {
                                break;
                            }
                        }
                    }
                    if catch_unwind(AssertUnwindSafe(&mut job)).is_err() {
                        on_panic(name);
                    }
                }
            })?;
        self.threads.push(handle);
        Ok(())
    }

    /// Signals every worker to stop and waits for them. Idempotent.
    pub(crate) fn stop(&mut self) {
        self.stop.take();
        self.stop_rx.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn a_kicked_worker_runs_and_stop_joins_it() {
        let mut w = Workers::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let (kick_tx, kick_rx) = crossbeam_channel::bounded(1);
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        let r = runs.clone();
        w.spawn(
            "test",
            None,
            Some(kick_rx),
            move || {
                r.fetch_add(1, Ordering::SeqCst);
                let _ = done_tx.send(());
            },
            |_| {},
        )
        .unwrap();
        kick_tx.send(()).unwrap();
        done_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        w.stop();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        w.stop();
    }

    #[test]
    fn a_panicking_job_is_reported_and_the_worker_survives() {
        let mut w = Workers::new();
        let (kick_tx, kick_rx) = crossbeam_channel::bounded(1);
        let (panic_tx, panic_rx) = crossbeam_channel::unbounded();
        w.spawn(
            "boom",
            None,
            Some(kick_rx),
            || panic!("boom"),
            move |name| {
                let _ = panic_tx.send(name);
            },
        )
        .unwrap();
        kick_tx.send(()).unwrap();
        assert_eq!(
            panic_rx.recv_timeout(Duration::from_secs(10)).unwrap(),
            "boom"
        );
        kick_tx.send(()).unwrap();
        assert_eq!(
            panic_rx.recv_timeout(Duration::from_secs(10)).unwrap(),
            "boom"
        );
        w.stop();
    }
}

//! Durable replies: one thread makes the log durable for every connection.
//!
//! With `--sync always` a reply leaves only once the writes before it are durable.
//! Each connection appends its pipeline's writes without waiting for the disk
//! ([`Store::without_waiting`]), asks the sync thread for the highest sequence number
//! it wrote, and awaits the answer; the thread flushes everything appended so far,
//! publishes how far the log is durable, and starts again if more was asked for
//! meanwhile. As with Redis's one fsync per event-loop turn, the writes that arrive
//! while a flush runs share the next one, and a waiting connection holds no thread.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, Thread};

use kv_store::Store;
use tokio::sync::watch;

/// How far the log is durable, or why it cannot be made durable (the log stays
/// poisoned until the store is reopened, so every later wait fails too).
type Durable = Result<u64, Arc<str>>;

/// The sync thread of a server whose replies wait for durability, and what its
/// connections share with it.
pub(crate) struct Syncer {
    shared: Arc<Wanted>,
    durable: watch::Receiver<Durable>,
    /// To wake the thread.
    thread: Thread,
    /// To join it, once.
    handle: Mutex<Option<JoinHandle<()>>>,
}

/// What connections tell the thread.
struct Wanted {
    /// The highest sequence number a connection waits for.
    upto: AtomicU64,
    stop: AtomicBool,
}

impl Syncer {
    /// Starts the thread, named `kv-server-sync`, for `store`.
    pub(crate) fn start(store: Store) -> std::io::Result<Self> {
        let shared = Arc::new(Wanted {
            upto: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let (tx, durable) = watch::channel(Ok(store.durable_seq()));
        let wanted = shared.clone();
        let handle = std::thread::Builder::new()
            .name("kv-server-sync".into())
            .spawn(move || run(&store, &wanted, &tx))?;
        Ok(Self {
            shared,
            durable,
            thread: handle.thread().clone(),
            handle: Mutex::new(Some(handle)),
        })
    }

    /// Returns once every write up to `seq` is durable; the error if the log cannot
    /// make it so.
    pub(crate) async fn wait(&self, seq: u64) -> Result<(), Arc<str>> {
        let mut durable = self.durable.clone();
        self.shared.upto.fetch_max(seq, Ordering::AcqRel);
        self.thread.unpark();
        let reached = durable
            .wait_for(|d| d.as_ref().map_or(true, |&upto| upto >= seq))
            .await;
        match reached.as_deref() {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.clone()),
            Err(_) => Err("the server's sync thread has stopped".into()),
        }
    }

    /// Stops the thread once it has served every wait asked for, and joins it.
    pub(crate) fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
        self.thread.unpark();
        if let Some(handle) = crate::server::lock(&self.handle).take() {
            if handle.join().is_err() {
                tracing::error!("the sync thread panicked");
            }
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The thread: while connections wait for more than is durable, flush; else sleep
/// until one asks (a wake-up that comes first is kept by `unpark`).
fn run(store: &Store, wanted: &Wanted, tx: &watch::Sender<Durable>) {
    let mut done = 0;
    loop {
        let upto = wanted.upto.load(Ordering::Acquire);
        if upto <= done {
            if wanted.stop.load(Ordering::Acquire) {
                return;
            }
            std::thread::park();
            continue;
        }
        match store.wait_durable(upto) {
            Ok(()) => {
                done = store.durable_seq().max(upto);
                drop(tx.send_replace(Ok(done)));
            }
            Err(e) => {
                done = upto;
                drop(tx.send_replace(Err(crate::error::chain(&e).into())));
            }
        }
    }
}

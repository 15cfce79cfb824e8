//! `Server`: the listener, the client limit, and graceful shutdown.
//!
//! As in tokio's mini-redis: the accept loop takes a semaphore permit per client, each
//! connection is a task holding a shutdown receiver and a "done" sender, and shutdown
//! stops the accept loop, lets every connection finish the commands it is running, and
//! waits until the last done sender is dropped.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kv_store::{Store, SyncPolicy};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};

use crate::syncer::Syncer;
use crate::{Config, Error};

/// Server-wide counters (`INFO stats`, `INFO clients`).
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) connections_received: AtomicU64,
    pub(crate) connected: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) commands: AtomicU64,
}

impl Stats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// What every connection shares.
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) config: Config,
    pub(crate) stats: Stats,
    /// The address actually listened on.
    pub(crate) addr: SocketAddr,
    /// `true` once shutdown began.
    pub(crate) shutdown: watch::Sender<bool>,
    /// When the server started, in milliseconds since the Unix epoch.
    pub(crate) started_ms: u64,
    pub(crate) bgsave_running: Arc<AtomicBool>,
    /// Whether the last background save succeeded.
    pub(crate) bgsave_ok: Arc<AtomicBool>,
    /// With a store that syncs every write ([`SyncPolicy::EveryWrite`], `--sync
    /// always`), a reply leaves only once the writes before it are durable: the thread
    /// that makes the log durable for every connection.
    pub(crate) syncer: Option<Syncer>,
    next_client_id: AtomicU64,
    /// One stop signal per open connection: dropping the sender stops it. (A watch
    /// channel in every connection's wait would take the channel's shared lock on each
    /// wait: 430 instructions per request, measured with callgrind.)
    connections: Mutex<HashMap<u64, oneshot::Sender<()>>>,
    /// SHA-256 of `requirepass`.
    password: Option<[u8; 32]>,
}

impl Shared {
    /// Registers a new connection: its client id, and the receiver that tells it the
    /// server is shutting down (the sender is dropped).
    pub(crate) fn register(&self) -> (u64, oneshot::Receiver<()>) {
        let id = self.next_client_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.connections).insert(id, tx);
        (id, rx)
    }

    /// Forgets a connection that ended.
    pub(crate) fn unregister(&self, id: u64) {
        lock(&self.connections).remove(&id);
    }

    /// True if no password is set.
    pub(crate) fn open_to_all(&self) -> bool {
        self.password.is_none()
    }

    /// Compares `given` with the password in time independent of both (their SHA-256
    /// digests are compared in constant time, as Redis does). False if none is set.
    pub(crate) fn password_matches(&self, given: &[u8]) -> bool {
        match &self.password {
            None => false,
            Some(want) => {
                let got: [u8; 32] = Sha256::digest(given).into();
                bool::from(got.ct_eq(want))
            }
        }
    }

    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Milliseconds since the Unix epoch on the store's clock (the one expiry times
    /// are compared with).
    pub(crate) fn now_ms(&self) -> u64 {
        self.store.now().as_millis()
    }
}

/// `mutex` locked, whether or not a holder panicked (the map stays consistent: each
/// operation on it is one call).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Stops a running [`Server`] from outside (a signal handler, a test). Cheap to clone.
#[derive(Clone)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
}

impl ShutdownHandle {
    /// Begins a graceful shutdown: the server stops accepting, every connection
    /// finishes the commands it is running and closes, and [`Server::run`] returns.
    pub fn shutdown(&self) {
        self.shared.begin_shutdown();
    }
}

impl std::fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShutdownHandle")
            .field("addr", &self.shared.addr)
            .finish()
    }
}

/// A Redis-protocol server over a [`Store`].
///
/// [`Server::bind`] opens the listening socket, [`Server::run`] serves until a
/// `SHUTDOWN` command or a [`ShutdownHandle`] stops it. The store stays the caller's:
/// close it after `run` returns (the `kv-server` binary does).
///
/// The server follows the store: expiry times are compared with the store's clock
/// ([`Store::now`]), and with a store that syncs every write
/// ([`SyncPolicy::EveryWrite`]) a reply leaves only once the writes before it are
/// durable, each connection's pipeline waiting once ([`Store::without_waiting`],
/// then a wait for the server's sync thread, which calls [`Store::wait_durable`] for
/// every connection), so that the writes of every connection share the log's
/// flushes. That thread, `kv-server-sync`, starts with [`Server::bind`] for such a
/// store and stops when [`Server::run`] returns or the server is dropped.
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.shared.addr)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Checks `config` and opens the listening socket. Fails with
    /// [`Error::Unprotected`] for an address that is not loopback without a password,
    /// [`Error::InvalidConfig`], or [`Error::Bind`].
    pub async fn bind(config: Config, store: Store) -> Result<Self, Error> {
        check(&config)?;
        let addr = config.addr();
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        Self::serving(config, store, listener)
    }

    /// Serves on a socket the caller bound (its address replaces `config`'s `bind`
    /// and `port`): bind first and open the store after, and a taken port fails before
    /// the data directory is touched, as the `kv-server` binary does. Must be called
    /// within a tokio runtime; the socket is made non-blocking. Fails as
    /// [`bind`](Self::bind) does; the protected-mode check applies to the socket's
    /// address.
    pub async fn from_listener(
        config: Config,
        store: Store,
        listener: std::net::TcpListener,
    ) -> Result<Self, Error> {
        let addr = config.addr();
        let bound = listener
            .local_addr()
            .and_then(|local| listener.set_nonblocking(true).map(|()| local))
            .map_err(|source| Error::Bind { addr, source })?;
        let config = config.bind(bound.ip()).port(bound.port());
        check(&config)?;
        let listener = TcpListener::from_std(listener).map_err(|source| Error::Bind {
            addr: bound,
            source,
        })?;
        Self::serving(config, store, listener)
    }

    /// The server on `listener`, with its sync thread if the store syncs every write.
    fn serving(config: Config, store: Store, listener: TcpListener) -> Result<Self, Error> {
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: config.addr(),
            source,
        })?;
        let password = config
            .requirepass
            .as_ref()
            .map(|p| Sha256::digest(p.as_bytes()).into());
        let (shutdown, _) = watch::channel(false);
        let started_ms = store.now().as_millis();
        let syncer = match store.sync_policy() {
            SyncPolicy::EveryWrite => {
                Some(Syncer::start(store.clone()).map_err(|source| Error::Runtime { source })?)
            }
            _ => None,
        };
        let shared = Arc::new(Shared {
            store,
            stats: Stats::default(),
            addr,
            shutdown,
            started_ms,
            syncer,
            bgsave_running: Arc::new(AtomicBool::new(false)),
            bgsave_ok: Arc::new(AtomicBool::new(true)),
            next_client_id: AtomicU64::new(1),
            connections: Mutex::new(HashMap::new()),
            password,
            config,
        });
        Ok(Self { listener, shared })
    }

    /// The address listened on (with the port the system chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// A handle that stops the server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shared: self.shared.clone(),
        }
    }

    /// Serves clients until shutdown; returns once every connection has closed.
    pub async fn run(self) -> Result<(), Error> {
        let Self { listener, shared } = self;
        let permits = Arc::new(Semaphore::new(shared.config.maxclients));
        let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
        let mut shutdown = shared.shutdown.subscribe();
        let mut backoff = Duration::from_millis(1);
        while !*shutdown.borrow_and_update() {
            tokio::select! {
                accepted = listener.accept() => {
                    let (socket, peer) = match accepted {
                        Ok(x) => x,
                        Err(e) => {
                            // Out of file descriptors and the like: wait, keep serving.
                            tracing::warn!(error = %e, "accept failed; retrying in {backoff:?}");
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(Duration::from_secs(1));
                            continue;
                        }
                    };
                    backoff = Duration::from_millis(1);
                    Stats::add(&shared.stats.connections_received, 1);
                    let Ok(permit) = permits.clone().try_acquire_owned() else {
                        Stats::add(&shared.stats.rejected, 1);
                        tracing::warn!(%peer, "max number of clients reached; connection refused");
                        tokio::spawn(refuse(socket));
                        continue;
                    };
                    let _ = socket.set_nodelay(true);
                    let shared = shared.clone();
                    let done = done_tx.clone();
                    let (id, stop) = shared.register();
                    tokio::spawn(async move {
                        crate::connection::serve(&shared, socket, peer, id, stop).await;
                        shared.unregister(id);
                        drop(permit);
                        drop(done);
                    });
                }
                _ = shutdown.changed() => {}
            }
        }
        drop(listener);
        tracing::info!("shutting down: no new connections; waiting for the open ones to finish");
        // Every connection was registered by this loop, which has stopped: all hear it.
        lock(&shared.connections).clear();
        drop(done_tx);
        let _ = done_rx.recv().await;
        if shared.syncer.is_some() {
            let shared = shared.clone();
            let stopped = tokio::task::spawn_blocking(move || {
                if let Some(syncer) = &shared.syncer {
                    syncer.stop();
                }
            });
            let _ = stopped.await;
        }
        Ok(())
    }
}

/// Tells a client over the limit why it is turned away, then closes.
async fn refuse(mut socket: TcpStream) {
    let write = socket.write_all(b"-ERR max number of clients reached\r\n");
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}

/// The checks of a configuration that need no socket.
pub(crate) fn check(config: &Config) -> Result<(), Error> {
    if !config.bind.is_loopback() && config.requirepass.is_none() {
        return Err(Error::Unprotected {
            addr: config.addr(),
        });
    }
    if config.maxclients == 0 {
        return Err(Error::InvalidConfig {
            setting: "maxclients",
            reason: "must be at least 1".into(),
        });
    }
    if config.timeout.is_some_and(|t| t.is_zero()) {
        return Err(Error::InvalidConfig {
            setting: "timeout",
            reason: "must be greater than zero (None: never)".into(),
        });
    }
    let l = &config.limits;
    if l.max_bulk == 0 || l.max_args == 0 || l.max_request < l.max_bulk {
        return Err(Error::InvalidConfig {
            setting: "request limits",
            reason: format!(
                "need max_bulk >= 1, max_args >= 1 and max_request >= max_bulk, got {l:?}"
            ),
        });
    }
    Ok(())
}

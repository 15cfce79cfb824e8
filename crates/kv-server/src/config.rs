//! `Config`: the network side of a server (address, password, client limits, request
//! and reply bounds), with its defaults.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::parse::Limits;

/// Default port, Redis's.
pub const DEFAULT_PORT: u16 = 6379;
/// Default most connected clients, Redis's.
pub const DEFAULT_MAX_CLIENTS: usize = 10_000;
/// Default most arguments in one request (Redis allows up to `i32::MAX`).
pub const DEFAULT_MAX_ARGS: usize = 1024 * 1024;
/// Default largest request, all arguments together (Redis's
/// `client-query-buffer-limit` is 1 GiB; kv values are at most a few MiB).
pub const DEFAULT_MAX_REQUEST: usize = 64 * 1024 * 1024;
/// Default most reply bytes held for one client.
pub const DEFAULT_MAX_OUTPUT: usize = 64 * 1024 * 1024;
/// Default time a client may leave its pending output unread (the socket accepts no
/// byte) before it is disconnected.
pub const DEFAULT_OUTPUT_STALL: Duration = Duration::from_secs(30);
/// What a bulk string may exceed the store's value limit by: a value a little over
/// the limit gets the store's clear error instead of a protocol error that closes the
/// connection.
pub const BULK_SLACK: usize = 1024 * 1024;

/// How a [`Server`](crate::Server) listens and what it allows its clients.
///
/// ```
/// use kv_server::Config;
///
/// let config = Config::new().port(0).requirepass("secret").maxclients(100);
/// assert_eq!(config.addr().ip().to_string(), "127.0.0.1");
/// ```
#[derive(Clone)]
pub struct Config {
    pub(crate) bind: IpAddr,
    pub(crate) port: u16,
    pub(crate) requirepass: Option<String>,
    pub(crate) maxclients: usize,
    pub(crate) timeout: Option<Duration>,
    pub(crate) limits: Limits,
    pub(crate) max_output: usize,
    pub(crate) output_stall: Duration,
    pub(crate) settings: Vec<(String, String)>,
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("port", &self.port)
            .field("requirepass", &self.requirepass.as_ref().map(|_| "<set>"))
            .field("maxclients", &self.maxclients)
            .field("timeout", &self.timeout)
            .field("limits", &self.limits)
            .field("max_output", &self.max_output)
            .field("output_stall", &self.output_stall)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// The defaults: 127.0.0.1:6379, no password, 10,000 clients, no idle timeout.
    pub fn new() -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: DEFAULT_PORT,
            requirepass: None,
            maxclients: DEFAULT_MAX_CLIENTS,
            timeout: None,
            limits: Limits {
                max_bulk: kv_store::DEFAULT_MAX_VALUE_SIZE + BULK_SLACK,
                max_args: DEFAULT_MAX_ARGS,
                max_request: DEFAULT_MAX_REQUEST,
            },
            max_output: DEFAULT_MAX_OUTPUT,
            output_stall: DEFAULT_OUTPUT_STALL,
            settings: Vec::new(),
        }
    }

    /// The address to listen on (default: 127.0.0.1). An address that is not loopback
    /// needs [`requirepass`](Self::requirepass): the server refuses to start otherwise
    /// (Redis's protected mode).
    pub fn bind(mut self, addr: IpAddr) -> Self {
        self.bind = addr;
        self
    }

    /// The port (default: 6379; 0: one chosen by the system, see
    /// [`Server::local_addr`](crate::Server::local_addr)).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The password clients must give with `AUTH` (default: none).
    pub fn requirepass(mut self, password: impl Into<String>) -> Self {
        self.requirepass = Some(password.into());
        self
    }

    /// Most clients connected at once (default: 10,000); one more is told
    /// `-ERR max number of clients reached` and disconnected.
    pub fn maxclients(mut self, n: usize) -> Self {
        self.maxclients = n;
        self
    }

    /// Disconnect a client idle this long (default: `None`, never).
    pub fn timeout(mut self, idle: Option<Duration>) -> Self {
        self.timeout = idle;
        self
    }

    /// Longest bulk string a request may carry (default: kv-store's value limit plus
    /// 1 MiB). Set it from the store's `max_value_size` when that is changed.
    pub fn max_bulk_len(mut self, bytes: usize) -> Self {
        self.limits.max_bulk = bytes;
        self
    }

    /// Most arguments in one request (default: 1,048,576).
    pub fn max_args(mut self, n: usize) -> Self {
        self.limits.max_args = n;
        self
    }

    /// Largest request, all its arguments together (default: 64 MiB).
    pub fn max_request(mut self, bytes: usize) -> Self {
        self.limits.max_request = bytes;
        self
    }

    /// Most reply bytes held for one client (default: 64 MiB). A client with this much
    /// unread output is served no further command until it reads (and is disconnected
    /// if its socket takes nothing for [`output_stall`](Self::output_stall)); a single
    /// reply larger than this (`KEYS *` on a huge store, `MGET` of many large values)
    /// is replaced by an error.
    pub fn max_output(mut self, bytes: usize) -> Self {
        self.max_output = bytes;
        self
    }

    /// How long a client may leave output unread before it is disconnected (default:
    /// 30 s without the socket taking a byte).
    pub fn output_stall(mut self, limit: Duration) -> Self {
        self.output_stall = limit;
        self
    }

    /// A setting reported by `CONFIG GET` (the binary reports its store flags this way:
    /// `dir`, `appendfsync`, `maxmemory`, …). Later calls for the same name replace it.
    pub fn report_setting(mut self, name: &str, value: impl Into<String>) -> Self {
        let value = value.into();
        match self.settings.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => self.settings.push((name.to_owned(), value)),
        }
        self
    }

    /// The socket address to listen on.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.port)
    }
}

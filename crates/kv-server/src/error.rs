//! `Error`: why a server could not start or stopped.

use std::fmt;
use std::io;
use std::net::SocketAddr;

/// What can go wrong starting or running a [`Server`](crate::Server).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The address is not loopback and no password is set: anyone who can reach it
    /// could read and change everything (Redis's protected mode refuses the same).
    Unprotected {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The listening socket could not be opened.
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        source: io::Error,
    },
    /// A setting is out of range.
    InvalidConfig {
        /// The setting, as spelled by its flag.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The async runtime, or the server's sync thread, could not start.
    Runtime {
        /// The operating system's error.
        source: io::Error,
    },
    /// The store failed (opening, closing).
    Store(kv_store::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unprotected { addr } => write!(
                f,
                "refusing to listen on {addr} without a password: give --requirepass, or \
                 bind a loopback address (protected mode)"
            ),
            Self::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            Self::InvalidConfig { setting, reason } => write!(f, "invalid {setting}: {reason}"),
            Self::Runtime { .. } => {
                f.write_str("cannot start the async runtime or the sync thread")
            }
            Self::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // The OS error's text is already in the message.
            Self::Bind { .. } | Self::Unprotected { .. } | Self::InvalidConfig { .. } => None,
            Self::Runtime { source } => Some(source),
            Self::Store(e) => e.source(),
        }
    }
}

impl From<kv_store::Error> for Error {
    fn from(e: kv_store::Error) -> Self {
        Self::Store(e)
    }
}

/// An error and its sources, joined with `: ` (a source whose text its parent already
/// shows is left out): one line for a log or a reply.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

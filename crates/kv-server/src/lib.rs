//! kv-server: a kv [`Store`](kv_store::Store) served over the Redis protocol.
//!
//! Another process, another language or another machine reaches the store with what
//! already speaks Redis: `redis-cli`, `redis-benchmark`, a client library in any
//! language, and proxies such as twemproxy that shard keys over several servers.
//!
//! - **Protocol**: RESP2 with pipelining and inline commands; `HELLO 3` switches a
//!   connection to RESP3. Replies and error texts are Redis 7's, so clients that match
//!   on them work; `docs/redis-compat.md` lists every command and every difference.
//! - **Commands**: connection and server commands (`PING`, `AUTH`, `HELLO`, `CLIENT`,
//!   `COMMAND`, `CONFIG GET`, `INFO`, `DBSIZE`, `FLUSHALL`, `SAVE`, `SHUTDOWN`, …) and
//!   the string, counter and key commands that map onto the store (`GET`, `SET` with
//!   all its options, `INCR`, `APPEND`, `GETEX`, `MGET`, `MSET`, `MSETNX`, `RENAME`,
//!   `DEL`, `EXPIRE … NX|XX|GT|LT`, `TTL`, `SCAN`, `KEYS`, …). A write that depends on
//!   what is there is one of the store's atomic updates (decided under the key's lock,
//!   one log record), and a command over several keys is one batch.
//! - **Structure** (after tokio's mini-redis): a [`Server`] accepts connections under a
//!   client limit; each connection is one task that parses requests from its buffer,
//!   runs them in order and writes the replies; shutdown reaches every connection.
//! - **Durable replies** (`--sync always`, any store that syncs every write): a
//!   connection runs a pipeline's writes without waiting for the disk, then holds the
//!   replies until the server's sync thread (`kv-server-sync`, which flushes the log
//!   for every connection) says they are durable; all connections share the log's
//!   flushes (group commit), and no runtime thread waits for an fsync.
//! - **Bad input**: every size a client controls is bounded (bulk string, argument
//!   count, request, pending output); malformed input gets `-ERR Protocol error: …`
//!   and the connection closes; a password is compared in constant time; an address
//!   that is not loopback needs a password (protected mode).
//!
//! The `kv-server` binary ([`run_cli`], flags in [`Flags`]) opens the store from its
//! flags, prints one line saying where it listens and what it recovered, serves until
//! `SIGTERM`, `SIGINT` or `SHUTDOWN`, and closes the store cleanly.
//!
//! Embedding the server in an application:
//!
//! ```
//! use std::io::{Read, Write};
//! use kv_server::{Config, Server};
//! use kv_store::Store;
//!
//! let runtime = tokio::runtime::Runtime::new().unwrap();
//! let store = Store::in_memory().unwrap();
//! // Port 0: the system picks a free one.
//! let server = runtime.block_on(Server::bind(Config::new().port(0), store.clone())).unwrap();
//! let addr = server.local_addr();
//! let stop = server.shutdown_handle();
//! let serving = runtime.spawn(server.run());
//!
//! let mut client = std::net::TcpStream::connect(addr).unwrap();
//! client.write_all(b"SET greeting hello\r\nGET greeting\r\n").unwrap();
//! let mut reply = [0u8; 16];
//! client.read_exact(&mut reply).unwrap();
//! assert_eq!(&reply, b"+OK\r\n$5\r\nhello\r\n");
//!
//! stop.shutdown();
//! runtime.block_on(serving).unwrap().unwrap();
//! store.close().unwrap();
//! ```
#![forbid(unsafe_code)]

mod cli;
mod cmd;
mod config;
mod connection;
mod error;
#[cfg(any(feature = "fuzzing", test))]
pub mod fuzzing;
mod glob;
mod parse;
mod reply;
mod server;
mod syncer;

pub use cli::{parse_memory, run_cli, Flags, Policy, Sync};
pub use config::{
    Config, BULK_SLACK, DEFAULT_MAX_ARGS, DEFAULT_MAX_CLIENTS, DEFAULT_MAX_OUTPUT,
    DEFAULT_MAX_REQUEST, DEFAULT_OUTPUT_STALL, DEFAULT_PORT,
};
pub use error::Error;
pub use server::{Server, ShutdownHandle};

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

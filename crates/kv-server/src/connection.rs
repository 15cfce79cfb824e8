//! One client connection: read requests, run them in order, write the replies.
//!
//! A single task per connection waits for its socket to be readable or writable and
//! does both without ever blocking on either: while replies are pending it keeps
//! reading and running commands (a client may send a whole pipeline before reading),
//! until the unread output reaches [`Config::max_output`](crate::Config::max_output);
//! then it serves that client nothing more until the output drains, and disconnects it
//! if its socket takes no byte for the output stall limit.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::sync::oneshot::{self, error::TryRecvError};
use tokio::time::{sleep_until, Instant};

use crate::cmd::{self, Request};
use crate::parse::{ProtocolError, RequestParser};
use crate::reply::{Protocol, Reply};
use crate::server::{Shared, Stats};

/// Bytes made room for before each read.
const READ_CHUNK: usize = 16 * 1024;
/// Most requests parsed ahead of running them.
const MAX_BATCH: usize = 1024;
/// Buffers grown past this are given back once empty.
const KEEP_CAPACITY: usize = 1024 * 1024;
/// Time a closing connection may take to hand over its last replies.
const FAREWELL: std::time::Duration = std::time::Duration::from_secs(5);

/// What a connection knows about its client.
#[derive(Debug, Default)]
pub(crate) struct Client {
    pub(crate) id: u64,
    pub(crate) name: Option<Bytes>,
    pub(crate) lib_name: Option<Bytes>,
    pub(crate) lib_ver: Option<Bytes>,
    pub(crate) authenticated: bool,
    pub(crate) proto: Protocol,
    pub(crate) quit: Quit,
    /// Commands run and not yet added to the server's count.
    pub(crate) commands: u64,
}

/// Whether the connection ends after the current command.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quit {
    #[default]
    No,
    /// After this command's reply (`QUIT`).
    AfterReply,
    /// Without a reply to this command (`SHUTDOWN`); earlier replies are still sent.
    WithoutReply,
}

/// Serves one client until it leaves, misbehaves, or the server shuts down.
pub(crate) async fn serve(
    shared: &Arc<Shared>,
    socket: TcpStream,
    peer: SocketAddr,
    id: u64,
    stop: oneshot::Receiver<()>,
) {
    Stats::add(&shared.stats.connected, 1);
    let client = Client {
        id,
        authenticated: shared.open_to_all(),
        ..Client::default()
    };
    let id = client.id;
    tracing::debug!(id, %peer, "client connected");
    let mut conn = Connection {
        parser: RequestParser::new(shared.config.limits),
        shared: shared.clone(),
        socket,
        input: BytesMut::with_capacity(READ_CHUNK),
        output: BytesMut::new(),
        pending: VecDeque::new(),
        client,
        closing: false,
        eof: false,
    };
    match conn.run(stop).await {
        Ok(()) => tracing::debug!(id, %peer, "client disconnected"),
        Err(e) => tracing::debug!(id, %peer, error = %e, "connection closed"),
    }
    shared
        .stats
        .connected
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
}

struct Connection {
    shared: Arc<Shared>,
    socket: TcpStream,
    parser: RequestParser,
    input: BytesMut,
    output: BytesMut,
    /// Requests parsed and not yet run.
    pending: VecDeque<Request>,
    client: Client,
    /// Nothing more is run: the output is flushed, then the connection closes.
    closing: bool,
    /// The client closed its side.
    eof: bool,
}

impl Connection {
    async fn run(&mut self, mut stop: oneshot::Receiver<()>) -> io::Result<()> {
        let mut stopped = false;
        let stall = self.shared.config.output_stall;
        let idle = self.shared.config.timeout;
        let mut last_activity = Instant::now();
        loop {
            if !stopped && matches!(stop.try_recv(), Err(TryRecvError::Closed)) {
                stopped = true;
                self.closing = true;
            }
            let output_full = self.run_ready().await;
            if self.closing {
                return self.farewell().await;
            }
            // Most of the time the socket takes the replies at once: no need to wait for
            // it to be writable (nor to arm the stall timer).
            if !self.output.is_empty() && self.write_some()? {
                last_activity = Instant::now();
                if output_full && self.output.len() < self.shared.config.max_output {
                    // Room again for the requests waiting behind the full output.
                    continue;
                }
            }
            let want_read = self.output.len() < self.shared.config.max_output && !self.eof;
            let want_write = !self.output.is_empty();
            let interest = match (want_read, want_write) {
                (true, true) => Interest::READABLE | Interest::WRITABLE,
                (false, true) => Interest::WRITABLE,
                _ => Interest::READABLE,
            };
            let deadline = match (want_write, idle) {
                (true, _) => Some(last_activity + stall),
                (false, Some(idle)) => Some(last_activity + idle),
                (false, None) => None,
            };
            tokio::select! {
                _ = &mut stop, if !stopped => {
                    stopped = true;
                    self.closing = true;
                }
                ready = self.socket.ready(interest) => {
                    let ready = ready?;
                    if want_write && ready.is_writable() && self.write_some()? {
                        last_activity = Instant::now();
                    }
                    if want_read && ready.is_readable() {
                        match self.read_some() {
                            Ok(0) => self.eof = true,
                            Ok(_) => last_activity = Instant::now(),
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
                _ = sleep_or_never(deadline) => {
                    return Err(if want_write {
                        io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading its replies")
                    } else {
                        io::Error::new(io::ErrorKind::TimedOut, "idle timeout")
                    });
                }
            }
        }
    }

    /// Parses and runs requests while the pending output allows; true if it stopped
    /// because the output is full (requests may be waiting). A protocol error is
    /// reported once the requests before it have run (the parser stops in front of the
    /// bad bytes, so parsing again finds the same error).
    async fn run_ready(&mut self) -> bool {
        loop {
            if self.closing {
                return false;
            }
            if self.output.len() >= self.shared.config.max_output {
                return true;
            }
            let protocol_error = if self.pending.is_empty() {
                self.parse_batch()
            } else {
                None
            };
            if !self.pending.is_empty() {
                self.execute().await;
                continue;
            }
            if let Some(e) = protocol_error {
                tracing::debug!(id = self.client.id, error = %e, "protocol error; closing");
                self.push_reply(&Reply::err(e.to_string()));
                self.closing = true;
            } else if self.eof {
                self.closing = true;
            }
            return false;
        }
    }

    /// Moves complete requests from the input to `pending`; the protocol error that
    /// stopped parsing, if any. A client that has not authenticated gets one request at
    /// a time, so that `AUTH` lifts the tighter limits for the next one.
    fn parse_batch(&mut self) -> Option<ProtocolError> {
        while self.pending.len() < MAX_BATCH {
            match self.parser.next(&mut self.input, self.client.authenticated) {
                Ok(Some(args)) => {
                    self.pending.push_back(Request::new(args));
                    if !self.client.authenticated {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => return Some(e),
            }
        }
        None
    }

    /// Runs pending requests: on a blocking thread if one of them always waits for the
    /// disk (`SAVE`); else here, and with durable replies, their writes are only
    /// appended to the log, then one wait for the server's sync thread (which flushes
    /// for every connection) holds the replies until they are durable.
    async fn execute(&mut self) {
        if self.pending.iter().any(Request::blocks) {
            let shared = self.shared.clone();
            let mut client = std::mem::take(&mut self.client);
            let mut pending = std::mem::take(&mut self.pending);
            let mut output = std::mem::take(&mut self.output);
            let job = tokio::task::spawn_blocking(move || {
                run_commands(&shared, &mut client, &mut pending, &mut output);
                (client, pending, output)
            });
            match job.await {
                Ok((client, pending, output)) => {
                    self.client = client;
                    self.pending = pending;
                    self.output = output;
                }
                Err(e) => {
                    // A command panicked: a bug. This client's state is gone with it.
                    tracing::error!(error = %e, "a command failed unexpectedly; closing the connection");
                    self.closing = true;
                    return;
                }
            }
        } else if let Some(syncer) = &self.shared.syncer {
            let held_from = self.output.len();
            let (shared, client, pending, output) = (
                &self.shared,
                &mut self.client,
                &mut self.pending,
                &mut self.output,
            );
            let ((), upto) = shared
                .store
                .without_waiting(|| run_commands(shared, client, pending, output));
            if upto > shared.store.durable_seq() {
                if let Err(why) = syncer.wait(upto).await {
                    // These replies would claim writes that may not survive a crash:
                    // the client gets none of them, and a closed connection.
                    tracing::error!(error = %why, "the log could not make writes durable; closing the connection");
                    self.output.truncate(held_from);
                    self.closing = true;
                    return;
                }
            }
        } else {
            run_commands(
                &self.shared,
                &mut self.client,
                &mut self.pending,
                &mut self.output,
            );
        }
        if self.client.quit != Quit::No {
            self.pending.clear();
            self.closing = true;
        }
    }

    fn push_reply(&mut self, reply: &Reply) {
        reply.encode(self.client.proto, &mut self.output);
    }

    /// Reads what the socket holds now; the number of bytes (0 at the end of the
    /// stream).
    ///
    /// A read that leaves room in the buffer has drained the socket, so the socket is
    /// marked not readable at once (as tokio's own `poll_read` does): the next turn
    /// waits for new data instead of paying a system call to learn there is none.
    /// A readiness event that arrives meanwhile is newer and is not cleared.
    fn read_some(&mut self) -> io::Result<usize> {
        self.input.reserve(READ_CHUNK);
        let mut read = None;
        let (socket, input) = (&self.socket, &mut self.input);
        let drained = socket.try_io(Interest::READABLE, || {
            let room = input.capacity() - input.len();
            let n = socket.try_read_buf(input)?;
            read = Some(n);
            if n > 0 && n < room {
                Err(io::ErrorKind::WouldBlock.into())
            } else {
                Ok(n)
            }
        });
        match (drained, read) {
            (Ok(n), _) | (Err(_), Some(n)) => Ok(n),
            (Err(e), None) => Err(e),
        }
    }

    /// Writes what the socket takes now; true if it took something.
    fn write_some(&mut self) -> io::Result<bool> {
        match self.socket.try_write(&self.output) {
            Ok(0) => Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                self.output.advance(n);
                if self.output.is_empty() && self.output.capacity() > KEEP_CAPACITY {
                    self.output = BytesMut::new();
                }
                if self.input.is_empty() && self.input.capacity() > KEEP_CAPACITY {
                    self.input = BytesMut::with_capacity(READ_CHUNK);
                }
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Hands over the pending replies (for a bounded time), then closes.
    async fn farewell(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + FAREWELL.min(self.shared.config.output_stall);
        while !self.output.is_empty() {
            tokio::select! {
                ready = self.socket.ready(Interest::WRITABLE) => {
                    if ready?.is_writable() {
                        self.write_some()?;
                    }
                }
                _ = sleep_until(deadline) => {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "the client did not take its last replies"));
                }
            }
        }
        Ok(())
    }
}

async fn sleep_or_never(deadline: Option<Instant>) {
    match deadline {
        Some(d) => sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Runs `pending` requests in order until none is left, the output reaches its limit,
/// or the client is leaving.
fn run_commands(
    shared: &Shared,
    client: &mut Client,
    pending: &mut VecDeque<Request>,
    output: &mut BytesMut,
) {
    let max_output = shared.config.max_output;
    run_until_full(shared, client, pending, output, max_output);
    Stats::add(&shared.stats.commands, std::mem::take(&mut client.commands));
}

fn run_until_full(
    shared: &Shared,
    client: &mut Client,
    pending: &mut VecDeque<Request>,
    output: &mut BytesMut,
    max_output: usize,
) {
    while let Some(request) = pending.pop_front() {
        let reply = cmd::dispatch(shared, client, request);
        if client.quit == Quit::WithoutReply {
            return;
        }
        let len = reply.encoded_len(client.proto);
        if len > max_output {
            Reply::err(format!(
                "reply of {len} bytes exceeds the output limit of {max_output} bytes"
            ))
            .encode(client.proto, output);
        } else {
            reply.encode(client.proto, output);
        }
        if client.quit != Quit::No || output.len() >= max_output {
            return;
        }
    }
}

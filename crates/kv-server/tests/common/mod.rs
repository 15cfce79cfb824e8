//! What the server tests share: starting `kv-server`, `redis-server` and `nutcracker`
//! on loopback ports with a guard that kills them on drop, checking that the tools are
//! installed (under `CI`, a missing tool fails the test instead of skipping it), and a
//! raw RESP client that returns each reply's exact bytes.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

/// The longest any single step of a test waits (a server to start, a reply).
pub const STEP: Duration = Duration::from_secs(20);

/// True if `tool` is on the PATH. Without it the test is skipped, except under `CI`,
/// where it fails: a CI machine must have every tool (`.ci/run` installs them).
pub fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "`{tool}` is not installed; CI must have it (see .ci/run)"
        );
        eprintln!("skipped: `{tool}` is not installed");
    }
    found
}

/// A child process killed (SIGKILL) and reaped when dropped.
pub struct Guard {
    pub child: Child,
    pub name: String,
}

impl Guard {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`TERM`, `INT`, `KILL`) with kill(1).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("kill(1) runs");
        assert!(status.success(), "kill -{signal} {} failed", self.name);
    }

    /// Waits for the process to exit by itself, at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {limit:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free on 127.0.0.1 a moment ago (for tools that cannot take port 0).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Connects to `addr`, retrying until it accepts or [`STEP`] has passed.
pub fn connect_retrying(addr: SocketAddr, guard: &mut Guard) -> TcpStream {
    let deadline = Instant::now() + STEP;
    loop {
        if let Ok(s) = TcpStream::connect(addr) {
            return s;
        }
        if let Ok(Some(status)) = guard.child.try_wait() {
            panic!("{} exited with {status} before listening", guard.name);
        }
        assert!(
            Instant::now() < deadline,
            "{} never listened on {addr}",
            guard.name
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running `kv-server` binary.
pub struct KvServer {
    pub guard: Guard,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    pub stderr: PathBuf,
    pub startup_line: String,
}

impl KvServer {
    /// Starts `kv-server --port 0 --dir DIR` plus `args`, and reads the startup line
    /// for the address.
    pub fn start(dir: &Path, args: &[&str]) -> Self {
        Self::start_on(dir, 0, args)
    }

    /// As [`start`](Self::start), on a given port (0: any).
    pub fn start_on(dir: &Path, port: u16, args: &[&str]) -> Self {
        let stderr = dir.with_extension(format!("stderr-{}", std::process::id()));
        let err_file = std::fs::File::create(&stderr).expect("stderr file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_kv-server"))
            .args(["--port", &port.to_string(), "--dir"])
            .arg(dir)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(err_file))
            .spawn()
            .expect("kv-server starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut guard = Guard {
            child,
            name: "kv-server".into(),
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            for _ in lines {}
        });
        let line = match rx.recv_timeout(STEP) {
            Ok(line) => line,
            Err(_) => {
                let status = guard.child.try_wait().ok().flatten();
                let log = std::fs::read_to_string(&stderr).unwrap_or_default();
                panic!("kv-server printed no startup line (exit: {status:?}); stderr:\n{log}");
            }
        };
        let addr = line
            .split_whitespace()
            .skip_while(|w| *w != "on")
            .nth(1)
            .and_then(|a| a.trim_end_matches(';').parse().ok())
            .unwrap_or_else(|| panic!("no address in the startup line {line:?}"));
        Self {
            guard,
            addr,
            dir: dir.to_path_buf(),
            stderr,
            startup_line: line,
        }
    }

    pub fn client(&self) -> Client {
        Client::connect(self.addr)
    }

    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

/// A running `redis-server`, persistence off, one database, on a free loopback port.
pub struct RedisServer {
    pub guard: Guard,
    pub addr: SocketAddr,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts `redis-server` with persistence off plus `args` (`--key value` pairs).
    ///
    /// Ready means its own log says it listens: a successful connect alone could
    /// reach another test's server that took the free port first (this redis-server
    /// then exits, unable to bind).
    pub fn start(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        for attempt in 0..5 {
            let port = free_port();
            let log = dir.path().join(format!("redis-{attempt}.log"));
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--databases", "1"])
                .args(["--daemonize", "no", "--protected-mode", "yes"])
                .arg("--dir")
                .arg(dir.path())
                .arg("--logfile")
                .arg(&log)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server starts");
            let mut guard = Guard {
                child,
                name: "redis-server".into(),
            };
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let deadline = Instant::now() + STEP;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = guard.child.try_wait() {
                    break; // the port was taken meanwhile: try another
                }
                let ready = std::fs::read_to_string(&log)
                    .is_ok_and(|l| l.contains("Ready to accept connections"));
                if ready && TcpStream::connect(addr).is_ok() {
                    return Self {
                        guard,
                        addr,
                        port,
                        _dir: dir,
                    };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("redis-server did not start");
    }

    pub fn client(&self) -> Client {
        Client::connect(self.addr)
    }
}

/// A raw RESP client: sends requests, returns each reply's exact bytes.
pub struct Client {
    pub stream: TcpStream,
    buf: BytesMut,
    pub resp3: bool,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(STEP)).unwrap();
        stream.set_write_timeout(Some(STEP)).unwrap();
        stream.set_nodelay(true).unwrap();
        Self {
            stream,
            buf: BytesMut::new(),
            resp3: false,
        }
    }

    /// Sends one request (as a multibulk) and returns its reply's bytes.
    pub fn call(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send(args);
        self.read_reply()
    }

    /// `call` with space-separated words.
    pub fn cmd(&mut self, line: &str) -> Vec<u8> {
        let words: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        self.call(&words)
    }

    pub fn send(&mut self, args: &[&[u8]]) {
        self.stream.write_all(&encode(args)).expect("write");
    }

    /// Reads one complete reply (RESP2 or RESP3 per `resp3`) and returns its bytes.
    pub fn read_reply(&mut self) -> Vec<u8> {
        match self.try_read_reply() {
            Some(r) => r,
            None => panic!(
                "the connection ended before a whole reply; have {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
        }
    }

    /// One complete reply, or `None` if the connection ends (or fails) first.
    pub fn try_read_reply(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(n) = reply_len(&self.buf, self.resp3) {
                return Some(self.buf.split_to(n).to_vec());
            }
            let mut chunk = [0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Everything the server sends until it closes, or until `wait` passes without a
    /// byte; and whether it closed.
    pub fn drain(&mut self, wait: Duration) -> (Vec<u8>, bool) {
        self.stream.set_read_timeout(Some(wait)).unwrap();
        let mut out = std::mem::take(&mut self.buf).to_vec();
        let mut chunk = [0u8; 64 * 1024];
        let closed = loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => break true,
                Ok(n) => out.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
                Err(_) => break false,
            }
        };
        self.stream.set_read_timeout(Some(STEP)).unwrap();
        (out, closed)
    }
}

/// Pipelines `n` writes `SET k{i} v`, calls `stop` once the first is acknowledged
/// (the rest in flight), reads until the server closes the connection, and checks that
/// only whole `+OK` replies came; how many writes were acknowledged (`k0`, `k1`, … in
/// order).
pub fn acknowledged_before_close(c: &mut Client, n: usize, stop: impl FnOnce()) -> usize {
    let mut pipeline = Vec::new();
    for i in 0..n {
        pipeline.extend(encode(&[b"SET", format!("k{i}").as_bytes(), b"v"]));
    }
    c.stream.write_all(&pipeline).expect("write the pipeline");
    assert_eq!(c.read_reply(), b"+OK\r\n");
    stop();
    let (rest, closed) = c.drain(STEP);
    assert!(closed, "the connection closes at shutdown");
    assert!(
        rest.len() % 5 == 0 && rest.chunks(5).all(|r| r == b"+OK\r\n"),
        "only whole replies"
    );
    1 + rest.len() / 5
}

/// `args` as a RESP multibulk request.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The length of the first complete reply in `buf`, by the reference decoder.
pub fn reply_len(buf: &[u8], resp3: bool) -> Option<usize> {
    if resp3 {
        redis_protocol::resp3::decode::complete::decode(buf)
            .expect("a valid RESP3 reply")
            .map(|(_, n)| n)
    } else {
        redis_protocol::resp2::decode::decode(buf)
            .expect("a valid RESP2 reply")
            .map(|(_, n)| n)
    }
}

/// A reply decoded by the reference decoder (RESP2).
pub fn decode2(reply: &[u8]) -> redis_protocol::resp2::types::OwnedFrame {
    redis_protocol::resp2::decode::decode(reply)
        .expect("valid RESP2")
        .expect("complete")
        .0
}

/// `Bytes` of a string, for building requests.
pub fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

//! Commands: the table (name, arity, flags, key positions, docs, handler) and the
//! dispatcher, which checks what Redis checks before running one, in Redis's order:
//! known command, known subcommand, arity, authentication.
//!
//! One file per family holds the handlers: `connection` (PING, AUTH, HELLO, CLIENT,
//! …), `server` (DBSIZE, FLUSHALL, SAVE, SHUTDOWN, TIME, …), `info` (INFO, CONFIG),
//! `introspect` (COMMAND), `strings` (GET, SET, MGET, MSET, …), `counters` (INCR,
//! DECR, INCRBY, DECRBY, INCRBYFLOAT), `keys` (DEL, EXISTS, TYPE, KEYS, RANDOMKEY,
//! RENAME), `expire` (EXPIRE, TTL, PERSIST, …), `scan` (SCAN).

mod connection;
mod counters;
mod expire;
mod info;
mod introspect;
mod keys;
mod scan;
mod server;
mod strings;
mod table;

use bytes::Bytes;
use kv_store::Store;

use crate::connection::Client;
use crate::error::chain;
use crate::reply::Reply;
use crate::server::Shared;

pub(crate) use table::COMMANDS;

/// What a handler gets: the server and the client it serves.
pub(crate) struct Ctx<'a> {
    pub(crate) shared: &'a Shared,
    pub(crate) client: &'a mut Client,
}

impl Ctx<'_> {
    pub(crate) fn store(&self) -> &Store {
        &self.shared.store
    }
}

/// A command's implementation: the whole request in (`args[0]` is the command's name),
/// the reply out.
pub(crate) type Handler = fn(&mut Ctx<'_>, &[Bytes]) -> Reply;

/// One command of the table, with what `COMMAND INFO` and `COMMAND DOCS` report.
pub(crate) struct Spec {
    /// Lower case; a subcommand is named `container|sub`.
    pub(crate) name: &'static str,
    /// Redis's convention: `n` exactly n arguments (the name included), `-n` at least n.
    pub(crate) arity: i32,
    pub(crate) flags: &'static [&'static str],
    /// First key, last key (negative: from the end), step.
    pub(crate) keys: (i32, i32, i32),
    pub(crate) acl: &'static [&'static str],
    pub(crate) group: &'static str,
    pub(crate) since: &'static str,
    pub(crate) summary: &'static str,
    pub(crate) run: Handler,
    /// Sorted by name.
    pub(crate) subcommands: &'static [Spec],
    /// Always runs on a blocking thread (it writes files: `SAVE`).
    pub(crate) blocks: bool,
    /// The name (after `|` for a subcommand) packed by [`pack`], for lookups.
    pub(crate) key: u128,
    /// `flags` has `no_auth`.
    pub(crate) no_auth: bool,
}

/// Longest name looked up (longer ones are unknown): the bytes of a `u128`.
const MAX_NAME: usize = 16;

/// A name of at most [`MAX_NAME`] bytes as one integer, first byte most significant and
/// zero-padded, so that integers order as the names do and a lookup compares integers
/// instead of strings. `None` if the name is too long.
pub(crate) const fn pack(name: &[u8]) -> Option<u128> {
    if name.len() > MAX_NAME {
        return None;
    }
    let mut bytes = [0u8; MAX_NAME];
    let mut i = 0;
    while i < name.len() {
        bytes[i] = name[i].to_ascii_lowercase();
        i += 1;
    }
    Some(u128::from_be_bytes(bytes))
}

/// The table entry for `name`, case-insensitively.
fn find(table: &'static [Spec], name: &[u8]) -> Option<&'static Spec> {
    // A NUL would pack as padding: `get\0` is not `get`.
    if name.contains(&0) {
        return None;
    }
    let key = pack(name)?;
    table
        .binary_search_by(|spec| spec.key.cmp(&key))
        .ok()
        .map(|i| &table[i])
}

/// The command `args` names (its subcommand, for a container given one): `Err` is
/// the unknown-command or unknown-subcommand error Redis gives.
pub(crate) fn lookup(args: &[Bytes]) -> Result<&'static Spec, Reply> {
    let Some(spec) = find(COMMANDS, &args[0]) else {
        return Err(unknown_command(args));
    };
    if spec.subcommands.is_empty() || args.len() < 2 {
        return Ok(spec);
    }
    find(spec.subcommands, &args[1]).ok_or_else(|| {
        let mut msg = b"unknown subcommand '".to_vec();
        msg.extend_from_slice(c_str(&args[1], 128));
        msg.extend_from_slice(b"'. Try ");
        msg.extend_from_slice(&args[0].to_ascii_uppercase());
        msg.extend_from_slice(b" HELP.");
        Reply::error_code("ERR", &msg)
    })
}

/// Runs one request.
pub(crate) fn dispatch(shared: &Shared, client: &mut Client, request: Request) -> Reply {
    let (args, spec) = (&request.args[..], request.spec);
    let spec = match spec {
        Ok(spec) => spec,
        Err(reply) => return reply,
    };
    let n = args.len() as i64;
    let arity = i64::from(spec.arity);
    if (arity > 0 && n != arity) || n < -arity {
        return wrong_arity(spec.name);
    }
    if !client.authenticated && !spec.no_auth {
        return Reply::error_code("NOAUTH", b"Authentication required.");
    }
    client.commands += 1;
    (spec.run)(&mut Ctx { shared, client }, args)
}

/// A request with the command it names looked up (once, when it is parsed).
pub(crate) struct Request {
    pub(crate) args: Vec<Bytes>,
    /// The command, or the unknown-command error.
    pub(crate) spec: Result<&'static Spec, Reply>,
}

impl Request {
    pub(crate) fn new(args: Vec<Bytes>) -> Self {
        let spec = lookup(&args);
        Self { args, spec }
    }

    /// True if running it always waits for the disk (`SAVE`).
    pub(crate) fn blocks(&self) -> bool {
        matches!(self.spec, Ok(spec) if spec.blocks)
    }
}

/// The handler of a container (`CLIENT`, `CONFIG`) called without a subcommand; its
/// arity (-2) makes the dispatcher answer first, so this only guards the table.
fn needs_subcommand(_: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    wrong_arity(&String::from_utf8_lossy(&args[0]).to_lowercase())
}

/// `-ERR wrong number of arguments for 'name' command`.
pub(crate) fn wrong_arity(name: &str) -> Reply {
    Reply::err(format!("wrong number of arguments for '{name}' command"))
}

/// `-ERR syntax error`.
pub(crate) fn syntax_error() -> Reply {
    Reply::err("syntax error")
}

/// `-ERR value is not an integer or out of range`.
pub(crate) fn not_an_integer() -> Reply {
    Reply::err("value is not an integer or out of range")
}

/// `-ERR value is not a valid float`.
pub(crate) fn not_a_float() -> Reply {
    Reply::err("value is not a valid float")
}

/// `-ERR no such key`.
pub(crate) fn no_such_key() -> Reply {
    Reply::err("no such key")
}

/// True if `e` is kv-core's overflow of an increment.
pub(crate) fn is_overflow(e: &kv_store::Error) -> bool {
    matches!(e, kv_store::Error::Core(kv_store::CoreError::Overflow))
}

/// An integer argument, parsed as Redis parses them.
pub(crate) fn int_arg(arg: &[u8]) -> Result<i64, Reply> {
    crate::parse::parse_i64(arg).ok_or_else(not_an_integer)
}

/// True if `arg` is `word`, ignoring ASCII case.
pub(crate) fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// `s` as C's `%.Ns` prints it: up to the first NUL, at most `max` bytes.
fn c_str(s: &[u8], max: usize) -> &[u8] {
    let s = match s.iter().position(|&b| b == 0) {
        Some(nul) => &s[..nul],
        None => s,
    };
    &s[..s.len().min(max)]
}

/// `-ERR unknown command 'name', with args beginning with: 'a' 'b' `, worded and
/// truncated as Redis does (the name to 128 bytes, the arguments to about 128).
fn unknown_command(args: &[Bytes]) -> Reply {
    let mut list = Vec::new();
    for arg in &args[1..] {
        if list.len() >= 128 {
            break;
        }
        let room = 128 - list.len();
        list.push(b'\'');
        list.extend_from_slice(c_str(arg, room));
        list.extend_from_slice(b"' ");
    }
    let mut msg = b"unknown command '".to_vec();
    msg.extend_from_slice(c_str(&args[0], 128));
    msg.extend_from_slice(b"', with args beginning with: ");
    msg.extend_from_slice(&list);
    Reply::error_code("ERR", &msg)
}

/// The reply for a store error, with the codes clients look for: `OOM` for a full
/// store, `MISCONF` when the disk failed.
pub(crate) fn store_error(e: kv_store::Error) -> Reply {
    use kv_store::Error as E;
    match &e {
        E::Core(core) => core_error(core),
        E::Closed => Reply::err("the server is shutting down"),
        E::Wal { .. } | E::Snapshot { .. } | E::Io { .. } => {
            Reply::error_code("MISCONF", chain(&e).as_bytes())
        }
        _ => Reply::err(chain(&e)),
    }
}

fn core_error(e: &kv_store::CoreError) -> Reply {
    match e {
        kv_store::CoreError::StoreFull { .. } => Reply::error_code(
            "OOM",
            b"command not allowed when used memory > 'maxmemory'.",
        ),
        kv_store::CoreError::EmptyKey => Reply::err("empty keys are not supported"),
        kv_store::CoreError::NotAnInteger => not_an_integer(),
        kv_store::CoreError::NotAFloat => not_a_float(),
        other => Reply::err(other.to_string()),
    }
}

/// A store call's reply: `ok` of its result, or the store's error.
pub(crate) fn reply_with<T>(r: kv_store::Result<T>, ok: impl FnOnce(T) -> Reply) -> Reply {
    match r {
        Ok(v) => ok(v),
        Err(e) => store_error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    fn text(r: &Reply) -> String {
        match r {
            Reply::Error(e) => String::from_utf8_lossy(e).into_owned(),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn the_table_is_sorted_so_lookups_find_every_command() {
        for table in std::iter::once(COMMANDS).chain(COMMANDS.iter().map(|s| s.subcommands)) {
            for pair in table.windows(2) {
                assert!(
                    pair[0].name < pair[1].name,
                    "{} before {}",
                    pair[0].name,
                    pair[1].name
                );
            }
        }
        for spec in COMMANDS {
            assert_eq!(
                lookup(&args(&[&spec.name.to_uppercase()]))
                    .ok()
                    .map(|s| s.name),
                Some(spec.name)
            );
            for sub in spec.subcommands {
                assert!(sub.name.starts_with(&format!("{}|", spec.name)));
                let short = sub.name.rsplit('|').next().unwrap();
                let found = lookup(&args(&[spec.name, short])).ok().map(|s| s.name);
                assert_eq!(found, Some(sub.name));
            }
        }
    }

    #[test]
    fn every_command_the_issue_lists_is_known() {
        let listed = "PING ECHO QUIT HELLO AUTH SELECT CLIENT|SETNAME CLIENT|GETNAME \
            CLIENT|SETINFO CLIENT|ID COMMAND COMMAND|COUNT COMMAND|DOCS COMMAND|INFO CONFIG|GET \
            INFO DBSIZE FLUSHDB FLUSHALL SAVE BGSAVE LASTSAVE SHUTDOWN TIME GET SET SETNX SETEX \
            PSETEX GETSET GETDEL GETEX MGET MSET MSETNX DEL UNLINK EXISTS TYPE INCR DECR INCRBY \
            DECRBY INCRBYFLOAT APPEND STRLEN GETRANGE EXPIRE PEXPIRE EXPIREAT PEXPIREAT TTL PTTL \
            EXPIRETIME PEXPIRETIME PERSIST SCAN KEYS RANDOMKEY RENAME RENAMENX";
        for name in listed.split_whitespace() {
            let words: Vec<&str> = name.split('|').collect();
            let spec = lookup(&args(&words)).unwrap_or_else(|_| panic!("{name} unknown"));
            assert_eq!(spec.name, name.to_lowercase());
        }
    }

    #[test]
    fn names_are_matched_whole_and_in_any_case() {
        assert_eq!(
            lookup(&args(&["GeT", "k"])).ok().map(|s| s.name),
            Some("get")
        );
        for other in [
            "get\0",
            "ge",
            "gett",
            "",
            "getdel!",
            "a-name-longer-than-sixteen",
        ] {
            assert!(lookup(&args(&[other])).is_err(), "{other:?} found");
        }
    }

    #[test]
    fn unknown_commands_are_worded_as_redis_words_them() {
        let r = lookup(&args(&["foo", "a", "b"])).err().unwrap();
        assert_eq!(
            text(&r),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
        let long = "z".repeat(150);
        let r = lookup(&args(&["foo", &long, "y"])).err().unwrap();
        assert_eq!(
            text(&r),
            format!(
                "ERR unknown command 'foo', with args beginning with: '{}' ",
                "z".repeat(128)
            )
        );
        let r = lookup(&args(&["config", "foo"])).err().unwrap();
        assert_eq!(text(&r), "ERR unknown subcommand 'foo'. Try CONFIG HELP.");
        let r = lookup(&args(&["foo", "a\nb"])).err().unwrap();
        assert_eq!(
            text(&r),
            "ERR unknown command 'foo', with args beginning with: 'a b' "
        );
    }
}

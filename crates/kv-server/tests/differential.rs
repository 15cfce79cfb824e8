//! The differential test: the same commands, edge cases included, go to Debian's
//! `redis-server` (the reference, persistence off) and to `kv-server`; the replies
//! must be byte for byte equal, except where `docs/redis-compat.md` lists a deliberate
//! difference (each such step names the phrase of the document that lists it, and the
//! test checks the document has it).

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{have, Client, KvServer, RedisServer};
use redis_protocol::resp2::types::OwnedFrame;

/// How a step's replies are compared.
#[derive(Clone, Debug)]
enum Expect {
    /// Byte for byte.
    Same,
    /// As multisets: arrays sorted (KEYS), or a SCAN reply's key list.
    Sorted,
    /// Integers within this distance (times that move while the test runs).
    Near(i64),
    /// The same kind of reply, contents free (TIME, INFO, CLIENT ID, ...).
    Shape,
    /// A deliberate difference: kv replies exactly this; the phrase is in
    /// docs/redis-compat.md.
    Differs { kv: Vec<u8>, doc: &'static str },
}

struct Step {
    args: Vec<Vec<u8>>,
    expect: Expect,
}

fn words(line: &str) -> Vec<Vec<u8>> {
    line.split(' ').map(|w| w.as_bytes().to_vec()).collect()
}

fn same(line: &str) -> Step {
    Step {
        args: words(line),
        expect: Expect::Same,
    }
}

fn same_args(args: &[&[u8]]) -> Step {
    Step {
        args: args.iter().map(|a| a.to_vec()).collect(),
        expect: Expect::Same,
    }
}

fn with(line: &str, expect: Expect) -> Step {
    Step {
        args: words(line),
        expect,
    }
}

fn differs(args: &[&[u8]], kv: &str, doc: &'static str) -> Step {
    Step {
        args: args.iter().map(|a| a.to_vec()).collect(),
        expect: Expect::Differs {
            kv: kv.as_bytes().to_vec(),
            doc,
        },
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The cases: each starts from an empty database.
fn cases() -> Vec<(&'static str, Vec<Step>)> {
    let now = now_secs();
    let big = vec![b'x'; 2 * 1024 * 1024];
    let too_big_reply = "-ERR value of 2097152 bytes exceeds the limit of 1048576 bytes\r\n";
    let mut cases = vec![
        (
            "connection",
            vec![
                same("PING"),
                same("PING hello"),
                same("PING a b"),
                same("ECHO"),
                same("ECHO x"),
                same("ECHO a b"),
                same("ping"),
                same("SELECT 0"),
                same("SELECT 1"),
                same("SELECT -1"),
                same("SELECT x"),
                same("SELECT 99999999999"),
                same("SELECT"),
                same("AUTH x"),
                same("AUTH default x"),
                same("AUTH nobody x"),
                same("AUTH a b c"),
                same("HELLO 4"),
                same("HELLO x"),
                same("HELLO 2 FOO"),
                same("HELLO 2 AUTH default"),
                with("HELLO", Expect::Shape),
                with("HELLO 2", Expect::Shape),
                with("HELLO 2 AUTH default anything SETNAME conn", Expect::Shape),
                same("CLIENT GETNAME"),
                same("CLIENT SETNAME foo"),
                same("CLIENT GETNAME"),
                same_args(&[b"CLIENT", b"SETNAME", b"a b"]),
                same_args(&[b"CLIENT", b"SETNAME", b"a\nb"]),
                same_args(&[b"CLIENT", b"SETNAME", b""]),
                same("CLIENT GETNAME"),
                same("CLIENT SETNAME"),
                same("CLIENT FOO"),
                same("CLIENT"),
                with("CLIENT ID", Expect::Shape),
                differs(
                    &[b"CLIENT", b"SETINFO", b"LIB-NAME", b"test"],
                    "+OK\r\n",
                    "CLIENT SETINFO",
                ),
            ],
        ),
        (
            "unknown commands",
            vec![
                same("FOO"),
                same("FOO a b"),
                same_args(&[b"foo", &[b'z'; 150], b"y"]),
                same_args(&[b"foo", &[b'z'; 100], &[b'y'; 40], b"w"]),
                same_args(&[b"foo", b"a\r\nb"]),
                same_args(&[&[b'n'; 200]]),
                same_args(&[b""]),
                differs(
                    &[b"LPUSH", b"l", b"a"],
                    "-ERR unknown command 'LPUSH', with args beginning with: 'l' 'a' \r\n",
                    "Lists",
                ),
                differs(
                    &[b"MULTI"],
                    "-ERR unknown command 'MULTI', with args beginning with: \r\n",
                    "MULTI",
                ),
                differs(
                    &[b"SUBSCRIBE", b"ch"],
                    "-ERR unknown command 'SUBSCRIBE', with args beginning with: 'ch' \r\n",
                    "SUBSCRIBE",
                ),
            ],
        ),
        (
            "server",
            vec![
                same("DBSIZE"),
                same("SET a 1"),
                same("DBSIZE"),
                same("FLUSHDB ASYNC"),
                same("DBSIZE"),
                same("SET a 1"),
                same("FLUSHDB SYNC"),
                same("FLUSHDB x"),
                same("FLUSHALL a b"),
                same("FLUSHALL"),
                same("DBSIZE x"),
                with("TIME", Expect::Shape),
                same("TIME x"),
                with("LASTSAVE", Expect::Shape),
                same("SHUTDOWN ABORT"),
                same("SHUTDOWN FOO"),
                same("SHUTDOWN NOSAVE SAVE"),
                same("SHUTDOWN ABORT NOW"),
                same("BGSAVE x"),
                same("BGSAVE a b"),
                same("CONFIG GET databases"),
                same("CONFIG GET timeout"),
                same("CONFIG GET save"),
                same("CONFIG GET maxmemory-policy"),
                same("CONFIG GET maxmemory"),
                same("CONFIG GET no-such-parameter"),
                same("CONFIG GET"),
                same("CONFIG"),
                same("CONFIG FOO"),
                differs(
                    &[b"CONFIG", b"GET", b"appendonly"],
                    "*2\r\n$10\r\nappendonly\r\n$3\r\nyes\r\n",
                    "appendonly",
                ),
                differs(
                    &[b"CONFIG", b"SET", b"timeout", b"10"],
                    "-ERR unknown subcommand 'SET'. Try CONFIG HELP.\r\n",
                    "CONFIG SET",
                ),
                with("INFO", Expect::Shape),
                with("INFO stats", Expect::Shape),
                same("INFO nosuchsection"),
                with("COMMAND COUNT", Expect::Shape),
                same("COMMAND INFO nosuchcommand"),
                same("COMMAND DOCS nosuchcommand"),
                same("COMMAND FOO"),
                same("COMMAND COUNT x"),
                same("COMMAND LIST FILTERBY"),
                same("COMMAND LIST FILTERBY MODULE nosuch"),
            ],
        ),
        (
            "get and set",
            vec![
                same("GET k"),
                same("SET k v"),
                same("GET k"),
                same("SET k v2"),
                same("GET k"),
                same("get K"),
                same("SET k"),
                same("GET"),
                same("GET a b"),
                same("SET k v FOO"),
                same("SET k v EX"),
                same("SET k v EX 0"),
                same("SET k v EX -1"),
                same("SET k v EX abc"),
                same("SET k v EX 1.5"),
                same("SET k v EX 9223372036854775807"),
                same("SET k v EX 9223372036854775"),
                same("SET k v PX 0"),
                same("SET k v PX -5"),
                same("SET k v PX 9223372036854775807"),
                same("SET k v EXAT 0"),
                same("SET k v PXAT -1"),
                same("SET k v EX 10 PX 10"),
                same("SET k v EX 10 KEEPTTL"),
                same("SET k v KEEPTTL EX 10"),
                same("SET k v PXAT 10 EXAT 10"),
                same("SET k v NX XX"),
                same("SET k v EX 0 NX"),
                same("SET k v ex 100 EX 200"),
                with("TTL k", Expect::Near(1)),
                same("SET k v px 100000"),
                with("PTTL k", Expect::Near(2000)),
                with("TTL k", Expect::Near(1)),
                same(&format!("SET k v EXAT {}", now + 100)),
                with("TTL k", Expect::Near(2)),
                same("SET k v PXAT 1"),
                same("GET k"),
                same("EXISTS k"),
                same(&format!("SET k v PXAT {}", (now + 50) * 1000)),
                same("PEXPIRETIME k"),
                same("EXPIRETIME k"),
                same("SET k v"),
                same("TTL k"),
                same_args(&[b"SET", b"bin", b"a\r\n\0b\xff"]),
                same("GET bin"),
                same("STRLEN bin"),
                same_args(&[b"SET", b"e", b""]),
                same("GET e"),
                same("STRLEN e"),
            ],
        ),
        (
            "set nx xx get keepttl",
            vec![
                same("SET k v NX"),
                same("SET k v2 NX"),
                same("GET k"),
                same("SET k v2 XX"),
                same("GET k"),
                same("SET nope v XX"),
                same("EXISTS nope"),
                same("SET k v3 GET"),
                same("SET new v GET"),
                same("GET new"),
                same("SET k v4 NX GET"),
                same("GET k"),
                same("SET fresh v NX GET"),
                same("GET fresh"),
                same("SET k v5 XX GET"),
                same("SET nope v XX GET"),
                same("EXISTS nope"),
                same("SET k v nx NX get GET"),
                same("SET k v XX NX"),
                same("SET k v NX XX GET"),
                same("SET k v EX 100"),
                same("SET k v6 KEEPTTL"),
                with("TTL k", Expect::Near(1)),
                same("SET k v7 KEEPTTL XX GET"),
                with("TTL k", Expect::Near(1)),
                same("SET k v8"),
                same("TTL k"),
                same("SET k v KEEPTTL PX 100"),
                same("SET k v GET EX 0"),
                same("SET k v GET EX 100"),
                with("TTL k", Expect::Near(1)),
                same("SET kt v KEEPTTL"),
                same("TTL kt"),
                same("SET k v NX PXAT 1"),
                same("GET k"),
                same("SET z v NX PXAT 1"),
                same("GET z"),
                same("EXISTS z"),
                same("SET k v XX GET PXAT 1"),
                same("GET k"),
                same("SET k v XX GET"),
            ],
        ),
        (
            "setnx getset getex",
            vec![
                same("SETNX a 1"),
                same("SETNX a 2"),
                same("GET a"),
                same("GETSET a 3"),
                same("GETSET nope x"),
                same("GET nope"),
                same("EXPIRE a 100"),
                same("GETSET a 4"),
                same("TTL a"),
                same("SET k v"),
                same("GETEX k"),
                same("GETEX k EX 100"),
                with("TTL k", Expect::Near(1)),
                same("GETEX k PX 200000"),
                with("PTTL k", Expect::Near(2000)),
                same(&format!("GETEX k EXAT {}", now + 300)),
                with("TTL k", Expect::Near(2)),
                same(&format!("GETEX k PXAT {}", (now + 400) * 1000)),
                same("PEXPIRETIME k"),
                same("GETEX k PERSIST"),
                same("TTL k"),
                same("GETEX k PERSIST"),
                same("GETEX k ex 10 EX 20"),
                with("TTL k", Expect::Near(1)),
                same("GETEX k PX 0"),
                same("GETEX k EX -1"),
                same("GETEX k EX abc"),
                same("GETEX k EX 9223372036854775807"),
                same("GETEX k EXAT 0"),
                same("GETEX k FOO"),
                same("GETEX k EX 10 PX 10"),
                same("GETEX k PERSIST EX 10"),
                same("GETEX k EX 10 PERSIST"),
                same("GETEX k KEEPTTL"),
                same("GETEX k NX"),
                same("GETEX k GET"),
                same("GETEX k EX"),
                same("GETEX nope EX 10"),
                same("EXISTS nope"),
                same("GETEX k EXAT 1"),
                same("EXISTS k"),
                same("SET k v"),
                same("GETEX k PXAT 1"),
                same("GET k"),
            ],
        ),
        (
            "counters",
            vec![
                same("INCR c"),
                same("INCR c"),
                same("DECR c"),
                same("INCRBY c 10"),
                same("DECRBY c 20"),
                same("INCRBY c -1"),
                same("DECRBY c -5"),
                same("GET c"),
                same("INCRBY c abc"),
                same("INCRBY c 1.5"),
                same("INCRBY c 99999999999999999999"),
                same_args(&[b"INCRBY", b"c", b""]),
                same("DECRBY c +1"),
                same("SET c 9223372036854775807"),
                same("INCR c"),
                same("INCRBY c 0"),
                same("DECRBY c -1"),
                same("GET c"),
                same("SET c -9223372036854775808"),
                same("DECR c"),
                same("DECRBY c 1"),
                same("INCRBY c -1"),
                same("DECRBY x -9223372036854775808"),
                same("EXISTS x"),
                same("INCRBY x -9223372036854775808"),
                same("DECRBY x 9223372036854775807"),
                same("SET s abc"),
                same("INCR s"),
                same_args(&[b"SET", b"s", b" 1"]),
                same("INCR s"),
                same("SET s 01"),
                same("DECR s"),
                same("SET s +1"),
                same("INCR s"),
                same("SET s -0"),
                same("INCR s"),
                same("SET s 1.0"),
                same("INCRBY s 1"),
                same_args(&[b"SET", b"s", b""]),
                same("INCR s"),
                same("GET s"),
                same("SET t 5 EX 100"),
                same("INCR t"),
                with("TTL t", Expect::Near(1)),
                same("DECRBY t 10"),
                with("TTL t", Expect::Near(1)),
            ],
        ),
        (
            "incrbyfloat",
            vec![
                same("SET f 10.5"),
                same("INCRBYFLOAT f 0.1"),
                same("INCRBYFLOAT f -5"),
                same("GET f"),
                same("SET f 5.0e3"),
                same("INCRBYFLOAT f 2.0e2"),
                same("INCRBYFLOAT g 3"),
                same("INCRBYFLOAT g 1.5"),
                same("INCRBYFLOAT g -4.5"),
                same("INCRBYFLOAT g -0.0"),
                same("INCRBYFLOAT g .5"),
                same("INCRBYFLOAT g 5."),
                same("INCRBYFLOAT g +1"),
                same("INCRBYFLOAT g 1E3"),
                same("INCRBYFLOAT g2 2.5e-2"),
                same("INCRBYFLOAT h 1.5e-7"),
                same("GET h"),
                same("INCRBYFLOAT i 12"),
                same("INCRBY i 1"),
                same("INCRBYFLOAT g abc"),
                same_args(&[b"INCRBYFLOAT", b"g", b" 1"]),
                same_args(&[b"INCRBYFLOAT", b"g", b"1 "]),
                same_args(&[b"INCRBYFLOAT", b"g", b""]),
                same("INCRBYFLOAT g 1e"),
                same("INCRBYFLOAT g nan"),
                same("INCRBYFLOAT g -nan"),
                same("INCRBYFLOAT g inf"),
                same("INCRBYFLOAT g -inf"),
                same("INCRBYFLOAT g Infinity"),
                same("INCRBYFLOAT nope inf"),
                same("EXISTS nope"),
                same("GET g"),
                same("SET s abc"),
                same("INCRBYFLOAT s 1"),
                same("INCRBYFLOAT s inf"),
                same("SET s inf"),
                same("INCRBYFLOAT s 1"),
                same("SET t 1.5 EX 100"),
                same("INCRBYFLOAT t 1"),
                with("TTL t", Expect::Near(1)),
                same("SET p 0.1"),
                differs(
                    &[b"INCRBYFLOAT", b"p", b"0.2"],
                    "$19\r\n0.30000000000000004\r\n",
                    "0.30000000000000004",
                ),
                differs(
                    &[b"INCRBYFLOAT", b"hex", b"0x10"],
                    "-ERR value is not a valid float\r\n",
                    "hexadecimal",
                ),
                same("SET q 12345.6789"),
                differs(
                    &[b"INCRBYFLOAT", b"q", b"0"],
                    "$10\r\n12345.6789\r\n",
                    "12345.67889999999999961",
                ),
                same("SET m 1.7e308"),
                differs(
                    &[b"INCRBYFLOAT", b"m", b"1.7e308"],
                    "-ERR increment would produce NaN or Infinity\r\n",
                    "1.7e308",
                ),
            ],
        ),
        (
            "append",
            vec![
                same("APPEND a x"),
                same("APPEND a yz"),
                same("GET a"),
                same_args(&[b"APPEND", b"a", b""]),
                same_args(&[b"APPEND", b"b", b"\0\r\n"]),
                same("STRLEN b"),
                same("SET t v EX 100"),
                same("APPEND t w"),
                with("TTL t", Expect::Near(1)),
                same("GET t"),
            ],
        ),
        (
            "msetnx",
            vec![
                same("MSETNX x 1 x 2"),
                same("GET x"),
                same("MSETNX x 1 y 2"),
                same("EXISTS y"),
                same("MSETNX y 1 z"),
                same("MSETNX y"),
                same("MSETNX y 1 z 2"),
                same("MGET x y z"),
                same("MSETNX y 3"),
                same("GET y"),
            ],
        ),
        (
            "rename",
            vec![
                same("SET a 1"),
                same("RENAME a a"),
                same("RENAMENX a a"),
                same("RENAME nope x"),
                same("RENAMENX nope x"),
                same("RENAME nope nope"),
                same("RENAMENX nope nope"),
                same("SET b 2"),
                same("RENAMENX a b"),
                same("GET b"),
                same("EXPIRE a 100"),
                same("RENAME a c"),
                with("TTL c", Expect::Near(1)),
                same("EXISTS a"),
                same("GET c"),
                same("RENAME c b"),
                same("GET b"),
                with("TTL b", Expect::Near(1)),
                same("RENAMENX b d"),
                same("EXISTS b"),
                same("GET d"),
                with("TTL d", Expect::Near(1)),
                same("SET e 5"),
                same("RENAME e d"),
                same("TTL d"),
            ],
        ),
        (
            "multi-key reads and deletes",
            vec![
                same("MSET a 1 b 2 c 3"),
                same("MGET a b c nope a"),
                same("MGET a"),
                same("EXISTS a b b c nope"),
                same("DEL a a nope"),
                same("EXISTS a"),
                same("UNLINK b c nope"),
                same("DBSIZE"),
                same("DEL a b"),
            ],
        ),
        (
            "setex psetex getdel",
            vec![
                same("SETEX k 100 v"),
                with("TTL k", Expect::Near(1)),
                same("GET k"),
                same("SETEX k 0 v"),
                same("SETEX k -1 v"),
                same("SETEX k x v"),
                same("SETEX k 9223372036854775807 v"),
                same("SETEX k 10"),
                same("PSETEX k 100000 v"),
                with("PTTL k", Expect::Near(2000)),
                same("PSETEX k 0 v"),
                same("PSETEX k -5 v"),
                same("GETDEL k"),
                same("GETDEL k"),
                same("EXISTS k"),
                same("GETDEL"),
            ],
        ),
        (
            "mget mset strlen getrange",
            vec![
                same("MSET a 1 b 2 c 3"),
                same("MGET a b c d"),
                same("MSET a"),
                same("MSET a 1 b"),
                same("MSET a 1 a 2"),
                same("GET a"),
                same("MGET"),
                same("MGET nope"),
                same("STRLEN a"),
                same("STRLEN nope"),
                same("STRLEN"),
                same("SET s HelloWorld!"),
                same("GETRANGE s 0 3"),
                same("GETRANGE s -3 -1"),
                same("GETRANGE s 0 -1"),
                same("GETRANGE s 10 100"),
                same("GETRANGE s 5 3"),
                same("GETRANGE s -1 -5"),
                same("GETRANGE s -100 2"),
                same("GETRANGE s 20 30"),
                same("GETRANGE s -9223372036854775808 9223372036854775807"),
                same("GETRANGE s x 1"),
                same("GETRANGE s 1 x"),
                same("GETRANGE nope 0 -1"),
                same("GETRANGE s 0"),
                same_args(&[b"SET", b"z", b""]),
                same("GETRANGE z 0 -1"),
            ],
        ),
        (
            "keys",
            vec![
                same("MSET hello 1 hallo 2 hxllo 3 hllo 4 heeeello 5 a* 6"),
                same("DEL hllo nope hllo"),
                same("DEL nope"),
                same("UNLINK heeeello nope"),
                same("DEL"),
                same("EXISTS hello hello nope"),
                same("EXISTS"),
                same("TYPE hello"),
                same("TYPE nope"),
                same("TYPE"),
                with("KEYS *", Expect::Sorted),
                with("KEYS h?llo", Expect::Sorted),
                with("KEYS h[ae]llo", Expect::Sorted),
                with("KEYS h[^e]llo", Expect::Sorted),
                with("KEYS h[a-b]llo", Expect::Sorted),
                with(r"KEYS a\*", Expect::Sorted),
                same("KEYS nothing*"),
                same("KEYS"),
                same("FLUSHALL"),
                same("RANDOMKEY"),
                same("SET only 1"),
                same("RANDOMKEY"),
                same("RANDOMKEY x"),
            ],
        ),
        (
            "memory usage",
            vec![
                same("MEMORY"),
                same("MEMORY FOO"),
                same("MEMORY USAGE"),
                same("MEMORY USAGE nope"),
                same("MEMORY USAGE nope SAMPLES x"),
                same("SET m 0123456789"),
                differs(&[b"MEMORY", b"USAGE", b"m"], ":91\r\n", "MEMORY USAGE"),
                differs(
                    &[b"MEMORY", b"usage", b"m", b"samples", b"0"],
                    ":91\r\n",
                    "MEMORY USAGE",
                ),
                same("MEMORY USAGE m SAMPLES x"),
                same("MEMORY USAGE m SAMPLES -1"),
                same("MEMORY USAGE m SAMPLES"),
                same("MEMORY USAGE m FOO"),
                same("MEMORY USAGE m SAMPLES 5 FOO"),
            ],
        ),
        (
            "scan",
            vec![
                same("SCAN 0"),
                same("MSET k1 1 k2 2 k3 3 other 4"),
                with("SCAN 0", Expect::Sorted),
                with("SCAN 0 MATCH k*", Expect::Sorted),
                with("SCAN 0 COUNT 100 MATCH k*", Expect::Sorted),
                with("SCAN 0 TYPE string", Expect::Sorted),
                with("SCAN 0 TYPE STRING", Expect::Sorted),
                same("SCAN 0 TYPE list"),
                same("SCAN 0 COUNT 0"),
                same("SCAN 0 COUNT -1"),
                same("SCAN 0 COUNT x"),
                same("SCAN 0 COUNT"),
                same("SCAN 0 FOO bar"),
                same("SCAN x"),
                same("SCAN 1x"),
                same("SCAN"),
            ],
        ),
        (
            "expire and ttl",
            vec![
                same("TTL nope"),
                same("PTTL nope"),
                same("EXPIRETIME nope"),
                same("PEXPIRETIME nope"),
                same("SET k v"),
                same("TTL k"),
                same("PTTL k"),
                same("EXPIRETIME k"),
                same("EXPIRE k 100"),
                with("TTL k", Expect::Near(1)),
                with("PTTL k", Expect::Near(2000)),
                with("EXPIRETIME k", Expect::Near(2)),
                same("EXPIRE nope 100"),
                same("EXPIRE k abc"),
                same("EXPIRE k 9223372036854775807"),
                same("EXPIRE k -9223372036854775808"),
                same("EXPIRE k 100 FOO"),
                same("EXPIRE k 100 NX XX"),
                same("EXPIRE k 100 GT LT"),
                same("EXPIRE k 100 nx gt"),
                same("EXPIRE k"),
                same("PEXPIRE k 100000"),
                with("PTTL k", Expect::Near(2000)),
                same("PEXPIRE k 9223372036854775807"),
                same(&format!("EXPIREAT k {}", now + 100)),
                with("TTL k", Expect::Near(2)),
                same(&format!("PEXPIREAT k {}", (now + 200) * 1000)),
                same("PEXPIRETIME k"),
                same("EXPIRETIME k"),
                same("EXPIREAT k 9223372036854775807"),
                same("EXPIRE k -1"),
                same("EXISTS k"),
                same("TTL k"),
                same("SET k v"),
                same("EXPIRE k 0"),
                same("EXISTS k"),
                same("SET k v"),
                same("PEXPIRE k -5"),
                same("GET k"),
                same("SET k v"),
                same("EXPIREAT k 1"),
                same("EXISTS k"),
                same("SET k v"),
                same("PEXPIREAT k -1"),
                same("EXISTS k"),
                same("EXPIREAT nope 1"),
            ],
        ),
        (
            "expire nx xx gt lt and persist",
            vec![
                same("SET t 1"),
                same("EXPIRE t 100 XX LT"),
                same("EXPIRE t 100 NX"),
                same("EXPIRE t 100 NX"),
                same("EXPIRE t 50 XX LT"),
                with("TTL t", Expect::Near(1)),
                same("EXPIRE t 200 LT"),
                same("EXPIRE t 200 GT"),
                with("TTL t", Expect::Near(1)),
                same("EXPIRE t 300 gt xx"),
                same("EXPIRE t 10 NX GT"),
                same("EXPIRE t -1 GT"),
                same("EXISTS t"),
                same("PEXPIRE t 1000000 GT"),
                with("PTTL t", Expect::Near(2000)),
                same(&format!("EXPIREAT t {} LT", now + 10)),
                with("TTL t", Expect::Near(2)),
                same(&format!("PEXPIREAT t {} GT", (now + 5) * 1000)),
                same("SET u 1"),
                same("EXPIRE u 100 XX"),
                same("EXPIRE u 100 GT"),
                same("EXPIRE u -1 GT"),
                same("EXISTS u"),
                same("EXPIRE u -1 LT"),
                same("EXISTS u"),
                same("SET v 1"),
                same("EXPIRE v 100 LT"),
                same("EXPIRE v 0 XX"),
                same("EXISTS v"),
                same("EXPIRE nope 10 NX"),
                same("EXPIRE nope 10 XX"),
                same("SET p v"),
                same("PERSIST p"),
                same("EXPIRE p 100"),
                same("PERSIST p"),
                same("TTL p"),
                same("PERSIST p"),
                same("PERSIST nope"),
            ],
        ),
        (
            "deliberate differences",
            vec![
                differs(&[b"SET", b"", b"v"], "-ERR empty keys are not supported\r\n", "Empty keys"),
                differs(&[b"GET", b""], "$-1\r\n", "Empty keys"),
                differs(&[b"SET", b"big", &big], too_big_reply, "larger than 1 MiB"),
                differs(&[b"GET", b"big"], "$-1\r\n", "larger than 1 MiB"),
                same_args(&[b"SET", b"full", &big[..1024 * 1024]]),
                differs(
                    &[b"APPEND", b"full", b"x"],
                    "-ERR value of 1048577 bytes exceeds the limit of 1048576 bytes\r\n",
                    "string exceeds maximum allowed size",
                ),
                same("STRLEN full"),
                differs(
                    &[b"COMMAND", b"INFO", b"get"],
                    "*1\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n\
                     *3\r\n+@read\r\n+@string\r\n+@fast\r\n*0\r\n*0\r\n*0\r\n",
                    "key specifications",
                ),
            ],
        ),
    ];
    // Wrong arity for every command: none, and one too many where the arity is fixed.
    let mut arity = Vec::new();
    for (name, n) in [
        ("GET", 2),
        ("GETDEL", 2),
        ("STRLEN", 2),
        ("TYPE", 2),
        ("TTL", 2),
        ("PTTL", 2),
        ("EXPIRETIME", 2),
        ("PEXPIRETIME", 2),
        ("ECHO", 2),
        ("SELECT", 2),
        ("SETEX", 4),
        ("PSETEX", 4),
        ("GETRANGE", 4),
        ("DBSIZE", 1),
        ("LASTSAVE", 1),
        ("RANDOMKEY", 1),
        ("SAVE", 1),
        ("SETNX", 3),
        ("GETSET", 3),
        ("INCR", 2),
        ("DECR", 2),
        ("INCRBY", 3),
        ("DECRBY", 3),
        ("INCRBYFLOAT", 3),
        ("APPEND", 3),
        ("PERSIST", 2),
        ("RENAME", 3),
        ("RENAMENX", 3),
    ] {
        if n > 1 {
            arity.push(same(name));
        }
        arity.push(same(&format!("{name}{}", " x".repeat(n))));
    }
    for name in [
        "SET",
        "MGET",
        "MSET",
        "DEL",
        "UNLINK",
        "EXISTS",
        "EXPIRE",
        "PEXPIRE",
        "EXPIREAT",
        "PEXPIREAT",
        "SCAN",
        "KEYS",
        "AUTH",
        "GETEX",
        "MSETNX",
    ] {
        arity.push(same(name));
    }
    cases.push(("arity", arity));
    cases
}

/// Raw byte streams (protocol errors, inline commands), compared with whether the
/// server closed the connection.
fn raw_cases() -> Vec<Vec<u8>> {
    let mut cases: Vec<Vec<u8>> = [
        &b"PING\r\n*1\r\n$4\r\nPING\r\n*a\r\n"[..],
        b"*1\r\nx\r\n",
        b"set \"a b\r\n",
        b"*1\r\n$-5\r\n",
        b"*-1\r\nPING\r\n",
        b"*0\r\nPING\r\n",
        b"\r\n\r\nPING\r\n",
        b"*3000000000\r\n",
        b"*1\r\n$600000000\r\n",
        b"*1\r\n:1\r\n",
        b"*2 \r\n$4\r\necho\r\n$1\r\nx\r\n",
        b"*+2\r\n$4\r\necho\r\n$1\r\nx\r\n",
        b"*2\r\n$+4\r\necho\r\n$1\r\nx\r\n",
        b"*1\r\n$04\r\nping\r\n",
        b"*1\r\n$0\r\n\r\n",
        b"ping \"a\"b\r\n",
        b"echo a\"b c\"\r\n",
        b"echo \"\\x41\\n\\t\" 'it\\'s'\r\n",
        b"QUIT\r\nPING\r\n",
        b"quit extra args\r\n",
        b"*1\r\n$4\r\nPINGxx",
        b"$3\r\nfoo\r\n",
        b"set k v\nget k\n",
    ]
    .iter()
    .map(|c| c.to_vec())
    .collect();
    let mut long = vec![b'x'; 70_000];
    cases.push(long.clone());
    long = b"*1".to_vec();
    long.resize(70_000, b'0');
    cases.push(long);
    long = b"*1\r\n$1".to_vec();
    long.resize(70_000, b'1');
    cases.push(long);
    cases
}

/// Steps with a password set: what a client may do before AUTH.
fn auth_steps() -> Vec<Step> {
    vec![
        same("PING"),
        same("GET k"),
        same("GET"),
        same("FOO"),
        same("HELLO 3"),
        same("HELLO 2 AUTH default wrong"),
        same("AUTH wrong"),
        same("AUTH nobody pw"),
        same("AUTH a b c"),
        same("CLIENT ID"),
        same("AUTH pw"),
        same("GET k"),
        same("AUTH default pw"),
        same("AUTH default wrong"),
        same("GET k"),
    ]
}

fn raw_auth_cases() -> Vec<Vec<u8>> {
    let mut eleven = b"*11\r\n".to_vec();
    for _ in 0..11 {
        eleven.extend_from_slice(b"$1\r\nx\r\n");
    }
    let mut big = b"*2\r\n$4\r\nAUTH\r\n$16385\r\n".to_vec();
    big.extend_from_slice(&[b'p'; 16385]);
    big.extend_from_slice(b"\r\n");
    let mut ok_then_many = b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n".to_vec();
    ok_then_many.extend_from_slice(&eleven);
    vec![eleven, big, ok_then_many, b"*10\r\n".to_vec()]
}

fn frame(bytes: &[u8]) -> OwnedFrame {
    common::decode2(bytes)
}

fn sorted(f: OwnedFrame) -> OwnedFrame {
    match f {
        OwnedFrame::Array(mut items) => {
            // A SCAN reply: cursor and keys; a KEYS reply: keys.
            if items.len() == 2 && matches!(items[1], OwnedFrame::Array(_)) {
                let keys = sorted(items.pop().unwrap());
                items.push(keys);
                OwnedFrame::Array(items)
            } else {
                items.sort_by_key(|i| format!("{i:?}"));
                OwnedFrame::Array(items)
            }
        }
        other => other,
    }
}

fn kind(f: &OwnedFrame) -> &'static str {
    match f {
        OwnedFrame::SimpleString(_) => "simple",
        OwnedFrame::Error(_) => "error",
        OwnedFrame::Integer(_) => "integer",
        OwnedFrame::BulkString(_) => "bulk",
        OwnedFrame::Array(_) => "array",
        OwnedFrame::Null => "null",
    }
}

/// Compares one step; the failure, if any, as a line of the report.
fn check(step: &Step, redis: &[u8], kv: &[u8]) -> Option<String> {
    let show = |b: &[u8]| {
        let s = String::from_utf8_lossy(b);
        if s.len() > 300 {
            format!("{}… ({} bytes)", &s[..300], b.len())
        } else {
            s.into_owned()
        }
    };
    let ok = match &step.expect {
        Expect::Same => redis == kv,
        Expect::Sorted => sorted(frame(redis)) == sorted(frame(kv)),
        Expect::Near(d) => match (frame(redis), frame(kv)) {
            (OwnedFrame::Integer(a), OwnedFrame::Integer(b)) => (a - b).abs() <= *d,
            (a, b) => a == b,
        },
        Expect::Shape => kind(&frame(redis)) == kind(&frame(kv)),
        Expect::Differs { kv: want, .. } => kv == &want[..],
    };
    (!ok).then(|| {
        let cmd: Vec<String> = step.args.iter().map(|a| show(a)).collect();
        format!(
            "{:?} ({:?}):\n    redis: {:?}\n    kv:    {:?}",
            cmd.join(" "),
            step.expect_name(),
            show(redis),
            show(kv)
        )
    })
}

impl Step {
    fn expect_name(&self) -> &'static str {
        match self.expect {
            Expect::Same => "same",
            Expect::Sorted => "sorted",
            Expect::Near(_) => "near",
            Expect::Shape => "shape",
            Expect::Differs { .. } => "differs",
        }
    }

    fn refs(&self) -> Vec<&[u8]> {
        self.args.iter().map(Vec::as_slice).collect()
    }
}

fn run_steps(
    name: &str,
    steps: &[Step],
    redis: &mut Client,
    kv: &mut Client,
    failures: &mut Vec<String>,
) {
    for step in steps {
        // Steps with a difference on record go to kv only (redis could change state,
        // as MULTI does, that later steps do not expect).
        let r = match step.expect {
            Expect::Differs { .. } => Vec::new(),
            _ => redis.call(&step.refs()),
        };
        let k = kv.call(&step.refs());
        if let Some(f) = check(step, &r, &k) {
            failures.push(format!("[{name}] {f}"));
        }
    }
}

fn run_raw(
    name: &str,
    input: &[u8],
    redis: &RedisServer,
    kv: &KvServer,
    failures: &mut Vec<String>,
) {
    use std::io::Write;
    let mut outs = Vec::new();
    for addr in [redis.addr, kv.addr] {
        let mut c = Client::connect(addr);
        c.stream.write_all(input).unwrap();
        outs.push(c.drain(Duration::from_millis(300)));
    }
    if outs[0] != outs[1] {
        failures.push(format!(
            "[{name}] raw {:?}:\n    redis: {:?}\n    kv:    {:?}",
            String::from_utf8_lossy(&input[..input.len().min(60)]),
            (String::from_utf8_lossy(&outs[0].0), outs[0].1),
            (String::from_utf8_lossy(&outs[1].0), outs[1].1),
        ));
    }
}

fn compat_doc() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/redis-compat.md");
    std::fs::read_to_string(&path).expect("docs/redis-compat.md exists")
}

#[test]
fn replies_equal_redis_except_where_documented() {
    if !have("redis-server") {
        return;
    }
    let doc = compat_doc();
    let redis = RedisServer::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let kv = KvServer::start(&tmp.path().join("data"), &["--sync", "no"]);
    let mut failures = Vec::new();
    let (mut rc, mut kc) = (redis.client(), kv.client());
    let mut steps = 0;
    for (name, case) in cases() {
        let reset = [same("FLUSHALL")];
        run_steps(name, &reset, &mut rc, &mut kc, &mut failures);
        run_steps(name, &case, &mut rc, &mut kc, &mut failures);
        steps += case.len();
        for step in &case {
            if let Expect::Differs { doc: phrase, .. } = step.expect {
                assert!(
                    doc.contains(phrase),
                    "docs/redis-compat.md does not mention {phrase:?}"
                );
            }
        }
    }
    for (i, input) in raw_cases().iter().enumerate() {
        run_raw(&format!("raw {i}"), input, &redis, &kv, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{} of {steps} steps differ from redis-server:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn resp3_replies_equal_redis() {
    if !have("redis-server") {
        return;
    }
    let redis = RedisServer::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let kv = KvServer::start(&tmp.path().join("data"), &["--sync", "no"]);
    let (mut rc, mut kc) = (redis.client(), kv.client());
    let mut failures = Vec::new();
    // HELLO's contents differ (server name, version, client id); its shape must not.
    rc.resp3 = true;
    kc.resp3 = true;
    let (r, k) = (rc.cmd("HELLO 3"), kc.cmd("HELLO 3"));
    assert!(
        r.starts_with(b"%7\r\n") && k.starts_with(b"%7\r\n"),
        "{r:?} {k:?}"
    );
    let steps = vec![
        same("FLUSHALL"),
        same("PING"),
        same("GET nope"),
        same("SET nope v XX"),
        same("SET a 0 XX GET"),
        same("GETEX nope"),
        same("INCRBYFLOAT f 1.5"),
        same("INCR n"),
        same("RENAME nope x"),
        same("MSET a 1 b 2"),
        same("MGET a nope b"),
        same("CONFIG GET databases"),
        same("CONFIG GET no-such-parameter"),
        same("TTL a"),
        same("SCAN 0 MATCH nothing*"),
        same("COMMAND INFO nosuchcommand"),
        same("RANDOMKEY x"),
        same("CLIENT GETNAME"),
        same("GET"),
        same("HELLO 2 FOO"),
    ];
    for step in &steps {
        let r = rc.call(&step.refs());
        let k = kc.call(&step.refs());
        if let Some(f) = check_resp3(step, &r, &k) {
            failures.push(f);
        }
    }
    let info = kc.cmd("INFO server");
    assert!(
        info.starts_with(b"="),
        "INFO is a verbatim string in RESP3: {info:?}"
    );
    assert!(
        failures.is_empty(),
        "RESP3 differences:\n{}",
        failures.join("\n")
    );
}

fn check_resp3(step: &Step, redis: &[u8], kv: &[u8]) -> Option<String> {
    (redis != kv).then(|| {
        format!(
            "{:?}:\n    redis: {:?}\n    kv:    {:?}",
            step.args
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>(),
            String::from_utf8_lossy(redis),
            String::from_utf8_lossy(kv)
        )
    })
}

#[test]
fn before_auth_replies_equal_redis() {
    if !have("redis-server") {
        return;
    }
    let redis = RedisServer::start(&["--requirepass", "pw"]);
    let tmp = tempfile::tempdir().unwrap();
    let kv = KvServer::start(
        &tmp.path().join("data"),
        &["--sync", "no", "--requirepass", "pw"],
    );
    let mut failures = Vec::new();
    let (mut rc, mut kc) = (redis.client(), kv.client());
    let steps: Vec<Step> = auth_steps()
        .into_iter()
        .map(|s| {
            // The client id differs between servers.
            if s.args[0] == b"CLIENT" {
                Step {
                    expect: Expect::Shape,
                    ..s
                }
            } else {
                s
            }
        })
        .collect();
    run_steps("auth", &steps, &mut rc, &mut kc, &mut failures);
    for (i, input) in raw_auth_cases().iter().enumerate() {
        run_raw(&format!("raw auth {i}"), input, &redis, &kv, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "differences before AUTH:\n{}",
        failures.join("\n")
    );
}

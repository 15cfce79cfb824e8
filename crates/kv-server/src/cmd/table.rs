//! The command table, sorted by name: what each command is (arity, flags, key
//! positions, ACL categories, documentation) and which handler runs it. The flags,
//! categories and key positions are Redis 7's, so `COMMAND INFO` answers as Redis does.

use super::{
    connection, counters, expire, info, introspect, keys, pack, scan, server, strings, Handler,
    Spec,
};

/// True if `flags` has `flag`.
const fn has(flags: &[&str], flag: &str) -> bool {
    let mut i = 0;
    while i < flags.len() {
        let (a, b) = (flags[i].as_bytes(), flag.as_bytes());
        if a.len() == b.len() {
            let mut j = 0;
            while j < a.len() && a[j] == b[j] {
                j += 1;
            }
            if j == a.len() {
                return true;
            }
        }
        i += 1;
    }
    false
}

/// The part of `name` a lookup matches: after the `|` of a subcommand.
const fn lookup_key(name: &str) -> u128 {
    let bytes = name.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'|' {
            start = i + 1;
        }
        i += 1;
    }
    let (_, short) = bytes.split_at(start);
    match pack(short) {
        Some(key) => key,
        None => panic!("a command name longer than a lookup takes"),
    }
}

#[allow(clippy::too_many_arguments)]
const fn spec(
    name: &'static str,
    arity: i32,
    flags: &'static [&'static str],
    keys: (i32, i32, i32),
    acl: &'static [&'static str],
    group: &'static str,
    since: &'static str,
    summary: &'static str,
    run: Handler,
) -> Spec {
    Spec {
        name,
        arity,
        flags,
        keys,
        acl,
        group,
        since,
        summary,
        run,
        subcommands: &[],
        blocks: false,
        key: lookup_key(name),
        no_auth: has(flags, "no_auth"),
    }
}

const NO_KEYS: (i32, i32, i32) = (0, 0, 0);
const ONE_KEY: (i32, i32, i32) = (1, 1, 1);
const ALL_KEYS: (i32, i32, i32) = (1, -1, 1);

const CONNECTION_NO_AUTH: &[&str] = &[
    "noscript",
    "loading",
    "stale",
    "fast",
    "no_auth",
    "allow_busy",
];
const EXPIRE_FLAGS: &[&str] = &["write", "fast"];
const EXPIRE_ACL: &[&str] = &["@keyspace", "@write", "@fast"];
const TTL_FLAGS: &[&str] = &["readonly", "fast"];
const TTL_ACL: &[&str] = &["@keyspace", "@read", "@fast"];
const STRING_WRITE_FLAGS: &[&str] = &["write", "denyoom", "fast"];
const STRING_WRITE_ACL: &[&str] = &["@write", "@string", "@fast"];
const CLIENT_FLAGS: &[&str] = &["noscript", "loading", "stale"];
const CLIENT_ACL: &[&str] = &["@slow", "@connection"];

const CLIENT: &[Spec] = &[
    spec(
        "client|getname",
        2,
        CLIENT_FLAGS,
        NO_KEYS,
        CLIENT_ACL,
        "connection",
        "2.6.9",
        "Returns the name of the connection.",
        connection::client_getname,
    ),
    spec(
        "client|id",
        2,
        CLIENT_FLAGS,
        NO_KEYS,
        CLIENT_ACL,
        "connection",
        "5.0.0",
        "Returns the unique client ID of the connection.",
        connection::client_id,
    ),
    spec(
        "client|setinfo",
        4,
        CLIENT_FLAGS,
        NO_KEYS,
        CLIENT_ACL,
        "connection",
        "7.2.0",
        "Sets information specific to the client or connection.",
        connection::client_setinfo,
    ),
    spec(
        "client|setname",
        3,
        CLIENT_FLAGS,
        NO_KEYS,
        CLIENT_ACL,
        "connection",
        "2.6.9",
        "Sets the connection name.",
        connection::client_setname,
    ),
];

const COMMAND: &[Spec] = &[
    spec(
        "command|count",
        2,
        &["loading", "stale"],
        NO_KEYS,
        CLIENT_ACL,
        "server",
        "2.8.13",
        "Returns a count of commands.",
        introspect::count,
    ),
    spec(
        "command|docs",
        -2,
        &["loading", "stale"],
        NO_KEYS,
        CLIENT_ACL,
        "server",
        "7.0.0",
        "Returns documentary information about one, multiple or all commands.",
        introspect::docs,
    ),
    spec(
        "command|info",
        -2,
        &["loading", "stale"],
        NO_KEYS,
        CLIENT_ACL,
        "server",
        "2.8.13",
        "Returns information about one, multiple or all commands.",
        introspect::info,
    ),
    spec(
        "command|list",
        -2,
        &["loading", "stale"],
        NO_KEYS,
        CLIENT_ACL,
        "server",
        "7.0.0",
        "Returns a list of command names.",
        introspect::list,
    ),
];

const CONFIG: &[Spec] = &[spec(
    "config|get",
    -3,
    &["admin", "noscript", "loading", "stale"],
    NO_KEYS,
    &["@admin", "@slow", "@dangerous"],
    "server",
    "2.0.0",
    "Returns the effective values of configuration parameters.",
    info::config_get,
)];

const MEMORY: &[Spec] = &[spec(
    "memory|usage",
    -3,
    &["readonly"],
    (2, 2, 1),
    &["@read", "@slow"],
    "server",
    "4.0.0",
    "Estimates the memory usage of a key.",
    info::memory_usage,
)];

/// Every command, sorted by name.
#[rustfmt::skip]
pub(crate) const COMMANDS: &[Spec] = &[
    spec("append", 3, STRING_WRITE_FLAGS, ONE_KEY, STRING_WRITE_ACL, "string", "2.0.0",
        "Appends a string to the value of a key. Creates the key if it doesn't exist.", strings::append),
    spec("auth", -2, CONNECTION_NO_AUTH, NO_KEYS, &["@fast", "@connection"], "connection", "1.0.0",
        "Authenticates the connection.", connection::auth),
    spec("bgsave", -1, &["admin", "noscript", "no_async_loading"], NO_KEYS,
        &["@admin", "@slow", "@dangerous"], "server", "1.0.0",
        "Asynchronously saves the database(s) to disk.", server::bgsave),
    Spec { subcommands: CLIENT, ..spec("client", -2, &[], NO_KEYS, &["@slow"], "connection", "2.4.0",
        "A container for client connection commands.", super::needs_subcommand) },
    Spec { subcommands: COMMAND, ..spec("command", -1, &["loading", "stale"], NO_KEYS, CLIENT_ACL, "server",
        "2.8.13", "Returns detailed information about all commands.", introspect::all) },
    Spec { subcommands: CONFIG, ..spec("config", -2, &[], NO_KEYS, &["@slow"], "server", "2.0.0",
        "A container for server configuration commands.", super::needs_subcommand) },
    spec("dbsize", 1, &["readonly", "fast"], NO_KEYS, &["@keyspace", "@read", "@fast"], "server", "1.0.0",
        "Returns the number of keys in the database.", server::dbsize),
    spec("decr", 2, STRING_WRITE_FLAGS, ONE_KEY, STRING_WRITE_ACL, "string", "1.0.0",
        "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
        counters::decr),
    spec("decrby", 3, STRING_WRITE_FLAGS, ONE_KEY, STRING_WRITE_ACL, "string", "1.0.0",
        "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.",
        counters::decrby),
    spec("del", -2, &["write"], ALL_KEYS, &["@keyspace", "@write", "@slow"], "generic", "1.0.0",
        "Deletes one or more keys.", keys::del),
    spec("echo", 2, &["fast"], NO_KEYS, &["@fast", "@connection"], "connection", "1.0.0",
        "Returns the given string.", connection::echo),
    spec("exists", -2, &["readonly", "fast"], ALL_KEYS, &["@keyspace", "@read", "@fast"], "generic", "3.0.3",
        "Determines whether one or more keys exist.", keys::exists),
    spec("expire", -3, EXPIRE_FLAGS, ONE_KEY, EXPIRE_ACL, "generic", "1.0.0",
        "Sets the expiration time of a key in seconds.", expire::expire),
    spec("expireat", -3, EXPIRE_FLAGS, ONE_KEY, EXPIRE_ACL, "generic", "1.2.0",
        "Sets the expiration time of a key to a Unix timestamp.", expire::expireat),
    spec("expiretime", 2, TTL_FLAGS, ONE_KEY, TTL_ACL, "generic", "7.0.0",
        "Returns the expiration time of a key as a Unix timestamp.", expire::expiretime),
    spec("flushall", -1, &["write"], NO_KEYS, &["@keyspace", "@write", "@slow", "@dangerous"], "server", "1.0.0",
        "Removes all keys from all databases.", server::flushall),
    spec("flushdb", -1, &["write"], NO_KEYS, &["@keyspace", "@write", "@slow", "@dangerous"], "server", "1.0.0",
        "Remove all keys from the current database.", server::flushdb),
    spec("get", 2, &["readonly", "fast"], ONE_KEY, &["@read", "@string", "@fast"], "string", "1.0.0",
        "Returns the string value of a key.", strings::get),
    spec("getdel", 2, &["write", "fast"], ONE_KEY, &["@write", "@string", "@fast"], "string", "6.2.0",
        "Returns the string value of a key after deleting the key.", strings::getdel),
    spec("getex", -2, &["write", "fast"], ONE_KEY, STRING_WRITE_ACL, "string", "6.2.0",
        "Returns the string value of a key after setting its expiration time.", strings::getex),
    spec("getrange", 4, &["readonly"], ONE_KEY, &["@read", "@string", "@slow"], "string", "2.4.0",
        "Returns a substring of the string stored at a key.", strings::getrange),
    spec("getset", 3, STRING_WRITE_FLAGS, ONE_KEY, STRING_WRITE_ACL, "string", "1.0.0",
        "Returns the previous string value of a key after setting it to a new value.", strings::getset),
    spec("hello", -1, CONNECTION_NO_AUTH, NO_KEYS, &["@fast", "@connection"], "connection", "6.0.0",
        "Handshakes with the Redis server.", connection::hello),
    spec("incr", 2, STRING_WRITE_FLAGS, ONE_KEY, STRING_WRITE_ACL, "string", "1.0.0",
        "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
        counters::incr),
    spec("incrby", 3, STRING_WRITE_FLAGS, ONE_KEY, STRING_WRITE_ACL, "string", "1.0.0",
        "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
        counters::incrby),
    spec("incrbyfloat", 3, STRING_WRITE_FLAGS, ONE_KEY, STRING_WRITE_ACL, "string", "2.6.0",
        "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
        counters::incrbyfloat),
    spec("info", -1, &["loading", "stale"], NO_KEYS, &["@slow", "@dangerous"], "server", "1.0.0",
        "Returns information and statistics about the server.", info::info),
    spec("keys", 2, &["readonly"], NO_KEYS, &["@keyspace", "@read", "@slow", "@dangerous"], "generic", "1.0.0",
        "Returns all key names that match a pattern.", keys::keys),
    spec("lastsave", 1, &["loading", "stale", "fast"], NO_KEYS, &["@admin", "@fast", "@dangerous"], "server", "1.0.0",
        "Returns the Unix timestamp of the last successful save to disk.", server::lastsave),
    Spec { subcommands: MEMORY, ..spec("memory", -2, &[], NO_KEYS, &["@slow"], "server", "4.0.0",
        "A container for memory diagnostics commands.", super::needs_subcommand) },
    spec("mget", -2, &["readonly", "fast"], ALL_KEYS, &["@read", "@string", "@fast"], "string", "1.0.0",
        "Atomically returns the string values of one or more keys.", strings::mget),
    spec("mset", -3, &["write", "denyoom"], (1, -1, 2), &["@write", "@string", "@slow"], "string", "1.0.1",
        "Atomically creates or modifies the string values of one or more keys.", strings::mset),
    spec("msetnx", -3, &["write", "denyoom"], (1, -1, 2), &["@write", "@string", "@slow"], "string", "1.0.1",
        "Atomically modifies the string values of one or more keys only when all keys don't exist.",
        strings::msetnx),
    spec("persist", 2, EXPIRE_FLAGS, ONE_KEY, EXPIRE_ACL, "generic", "2.2.0",
        "Removes the expiration time of a key.", expire::persist),
    spec("pexpire", -3, EXPIRE_FLAGS, ONE_KEY, EXPIRE_ACL, "generic", "2.6.0",
        "Sets the expiration time of a key in milliseconds.", expire::pexpire),
    spec("pexpireat", -3, EXPIRE_FLAGS, ONE_KEY, EXPIRE_ACL, "generic", "2.6.0",
        "Sets the expiration time of a key to a Unix milliseconds timestamp.", expire::pexpireat),
    spec("pexpiretime", 2, TTL_FLAGS, ONE_KEY, TTL_ACL, "generic", "7.0.0",
        "Returns the expiration time of a key as a Unix milliseconds timestamp.", expire::pexpiretime),
    spec("ping", -1, &["fast"], NO_KEYS, &["@fast", "@connection"], "connection", "1.0.0",
        "Returns the server's liveliness response.", connection::ping),
    spec("psetex", 4, &["write", "denyoom"], ONE_KEY, &["@write", "@string", "@slow"], "string", "2.6.0",
        "Sets both string value and expiration time in milliseconds of a key.", strings::psetex),
    spec("pttl", 2, TTL_FLAGS, ONE_KEY, TTL_ACL, "generic", "2.6.0",
        "Returns the expiration time in milliseconds of a key.", expire::pttl),
    spec("quit", -1, &["allow_busy", "noscript", "loading", "stale", "fast", "no_auth"], NO_KEYS,
        &["@fast", "@connection"], "connection", "1.0.0", "Closes the connection.", connection::quit),
    spec("randomkey", 1, &["readonly"], NO_KEYS, &["@keyspace", "@read", "@slow"], "generic", "1.0.0",
        "Returns a random key name from the database.", keys::randomkey),
    spec("rename", 3, &["write"], (1, 2, 1), &["@keyspace", "@write", "@slow"], "generic", "1.0.0",
        "Renames a key and overwrites the destination.", keys::rename),
    spec("renamenx", 3, &["write", "fast"], (1, 2, 1), &["@keyspace", "@write", "@fast"], "generic", "1.0.0",
        "Renames a key only when the target key name doesn't exist.", keys::renamenx),
    Spec { blocks: true, ..spec("save", 1, &["admin", "noscript", "no_async_loading", "no_multi"], NO_KEYS,
        &["@admin", "@slow", "@dangerous"], "server", "1.0.0",
        "Synchronously saves the database(s) to disk.", server::save) },
    spec("scan", -2, &["readonly"], NO_KEYS, &["@keyspace", "@read", "@slow"], "generic", "2.8.0",
        "Iterates over the key names in the database.", scan::scan),
    spec("select", 2, &["loading", "stale", "fast"], NO_KEYS, &["@fast", "@connection"], "connection", "1.0.0",
        "Changes the selected database.", connection::select),
    spec("set", -3, &["write", "denyoom"], ONE_KEY, &["@write", "@string", "@slow"], "string", "1.0.0",
        "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        strings::set),
    spec("setex", 4, &["write", "denyoom"], ONE_KEY, &["@write", "@string", "@slow"], "string", "2.0.0",
        "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.",
        strings::setex),
    spec("setnx", 3, STRING_WRITE_FLAGS, ONE_KEY, STRING_WRITE_ACL, "string", "1.0.0",
        "Set the string value of a key only when the key doesn't exist.", strings::setnx),
    spec("shutdown", -1, &["admin", "noscript", "loading", "stale", "no_multi", "allow_busy"], NO_KEYS,
        &["@admin", "@slow", "@dangerous"], "server", "1.0.0",
        "Synchronously saves the database(s) to disk and shuts down the Redis server.", server::shutdown),
    spec("strlen", 2, &["readonly", "fast"], ONE_KEY, &["@read", "@string", "@fast"], "string", "2.2.0",
        "Returns the length of a string value.", strings::strlen),
    spec("time", 1, &["loading", "stale", "fast"], NO_KEYS, &["@fast"], "server", "2.6.0",
        "Returns the server time.", server::time),
    spec("ttl", 2, TTL_FLAGS, ONE_KEY, TTL_ACL, "generic", "1.0.0",
        "Returns the expiration time in seconds of a key.", expire::ttl),
    spec("type", 2, &["readonly", "fast"], ONE_KEY, &["@keyspace", "@read", "@fast"], "generic", "1.0.0",
        "Determines the type of value stored at a key.", keys::type_),
    spec("unlink", -2, &["write", "fast"], ALL_KEYS, &["@keyspace", "@write", "@fast"], "generic", "4.0.0",
        "Asynchronously deletes one or more keys.", keys::del),
];

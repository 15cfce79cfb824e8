//! Connection commands: PING, ECHO, QUIT, SELECT, AUTH, HELLO, CLIENT.

use bytes::Bytes;

use super::{c_str, int_arg, is, syntax_error, wrong_arity, Ctx};
use crate::connection::Quit;
use crate::reply::{Protocol, Reply};

/// What `HELLO` and `INFO` report as the Redis version whose commands and replies kv
/// follows.
pub(crate) const REDIS_VERSION: &str = "7.0.0";

pub(super) fn ping(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    match args.len() {
        1 => Reply::Status("PONG"),
        2 => Reply::bulk(args[1].clone()),
        _ => wrong_arity("ping"),
    }
}

pub(super) fn echo(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    Reply::bulk(args[1].clone())
}

pub(super) fn quit(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Reply {
    ctx.client.quit = Quit::AfterReply;
    Reply::OK
}

/// `SELECT index`: database 0 is the only one.
pub(super) fn select(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    match int_arg(&args[1]) {
        Ok(n) if i32::try_from(n).is_err() => {
            Reply::err("value is out of range, value must between -2147483648 and 2147483647")
        }
        Ok(0) => Reply::OK,
        Ok(_) => Reply::err("DB index is out of range"),
        Err(r) => r,
    }
}

fn wrongpass() -> Reply {
    Reply::error_code(
        "WRONGPASS",
        b"invalid username-password pair or user is disabled.",
    )
}

/// Checks a username and password as Redis's `default` user does: with no password
/// set, any password is accepted; the only user is `default`.
fn authenticate(ctx: &mut Ctx<'_>, user: &[u8], password: &[u8]) -> bool {
    let ok =
        user == b"default" && (ctx.shared.open_to_all() || ctx.shared.password_matches(password));
    if ok {
        ctx.client.authenticated = true;
    }
    ok
}

/// `AUTH [username] password`.
pub(super) fn auth(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    let (user, password) = match args.len() {
        2 => {
            if ctx.shared.open_to_all() {
                return Reply::err(
                    "AUTH <password> called without any password configured for the default \
                     user. Are you sure your configuration is correct?",
                );
            }
            (&b"default"[..], &args[1][..])
        }
        3 => (&args[1][..], &args[2][..]),
        _ => return syntax_error(),
    };
    if authenticate(ctx, user, password) {
        Reply::OK
    } else {
        tracing::info!(id = ctx.client.id, "AUTH failed");
        wrongpass()
    }
}

/// `HELLO [protover [AUTH username password] [SETNAME clientname]]`.
pub(super) fn hello(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    let mut proto = None;
    if args.len() >= 2 {
        match crate::parse::parse_i64(&args[1]) {
            Some(2) => proto = Some(Protocol::Resp2),
            Some(3) => proto = Some(Protocol::Resp3),
            Some(_) => return Reply::error_code("NOPROTO", b"unsupported protocol version"),
            None => return Reply::err("Protocol version is not an integer or out of range"),
        }
    }
    let mut credentials = None;
    let mut name = None;
    let mut j = 2;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if is(&args[j], "auth") && more >= 2 {
            credentials = Some((&args[j + 1], &args[j + 2]));
            j += 3;
        } else if is(&args[j], "setname") && more >= 1 {
            name = Some(&args[j + 1]);
            j += 2;
        } else {
            let mut msg = b"Syntax error in HELLO option '".to_vec();
            msg.extend_from_slice(c_str(&args[j], usize::MAX));
            msg.push(b'\'');
            return Reply::error_code("ERR", &msg);
        }
    }
    if let Some((user, password)) = credentials {
        if !authenticate(ctx, user, password) {
            return wrongpass();
        }
    }
    if !ctx.client.authenticated {
        return Reply::error_code(
            "NOAUTH",
            b"HELLO must be called with the client already authenticated, otherwise the \
              HELLO AUTH <user> <pass> option can be used to authenticate the client and \
              select the RESP protocol version at the same time",
        );
    }
    if let Some(name) = name {
        if let Err(r) = set_name(ctx, name) {
            return r;
        }
    }
    if let Some(p) = proto {
        ctx.client.proto = p;
    }
    let s = |text: &'static str| Reply::bulk_static(text.as_bytes());
    Reply::Map(vec![
        (s("server"), s("kv")),
        (s("version"), s(REDIS_VERSION)),
        (
            s("proto"),
            Reply::Int(match ctx.client.proto {
                Protocol::Resp2 => 2,
                Protocol::Resp3 => 3,
            }),
        ),
        (s("id"), Reply::Int(ctx.client.id as i64)),
        (s("mode"), s("standalone")),
        (s("role"), s("master")),
        (s("modules"), Reply::Array(Vec::new())),
    ])
}

/// Redis accepts names and library attributes of printable ASCII without spaces.
fn printable_word(s: &[u8]) -> bool {
    s.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

fn set_name(ctx: &mut Ctx<'_>, name: &Bytes) -> Result<(), Reply> {
    if !printable_word(name) {
        return Err(Reply::err(
            "Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    ctx.client.name = (!name.is_empty()).then(|| name.clone());
    Ok(())
}

pub(super) fn client_setname(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    match set_name(ctx, &args[2]) {
        Ok(()) => Reply::OK,
        Err(r) => r,
    }
}

pub(super) fn client_getname(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Reply {
    match &ctx.client.name {
        Some(name) => Reply::bulk(name.clone()),
        None => Reply::Null,
    }
}

pub(super) fn client_id(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Reply {
    Reply::Int(ctx.client.id as i64)
}

/// `CLIENT SETINFO LIB-NAME|LIB-VER value` (Redis 7.2; client libraries send it on
/// connect).
pub(super) fn client_setinfo(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    let (attr, value) = (&args[2], &args[3]);
    let slot = if is(attr, "lib-name") {
        &mut ctx.client.lib_name
    } else if is(attr, "lib-ver") {
        &mut ctx.client.lib_ver
    } else {
        let mut msg = b"Unrecognized option '".to_vec();
        msg.extend_from_slice(c_str(attr, usize::MAX));
        msg.push(b'\'');
        return Reply::error_code("ERR", &msg);
    };
    if !printable_word(value) {
        let mut msg = c_str(attr, usize::MAX).to_vec();
        msg.extend_from_slice(b" cannot contain spaces, newlines or special characters.");
        return Reply::error_code("ERR", &msg);
    }
    *slot = (!value.is_empty()).then(|| value.clone());
    Reply::OK
}

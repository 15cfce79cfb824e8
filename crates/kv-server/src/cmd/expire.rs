//! Expiry commands: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, PERSIST, TTL, PTTL,
//! EXPIRETIME, PEXPIRETIME.

use bytes::Bytes;
use kv_store::{ExpireIf, Timestamp, Ttl};

use super::strings::Unit;
use super::{int_arg, is, reply_with, Ctx};
use crate::reply::Reply;

pub(super) fn expire(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    set_expiry(ctx, args, "expire", Unit::Seconds, false)
}

pub(super) fn pexpire(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    set_expiry(ctx, args, "pexpire", Unit::Millis, false)
}

pub(super) fn expireat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    set_expiry(ctx, args, "expireat", Unit::Seconds, true)
}

pub(super) fn pexpireat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    set_expiry(ctx, args, "pexpireat", Unit::Millis, true)
}

/// `EXPIRE key time [NX | XX | GT | LT]` and its siblings, with Redis's checks in
/// Redis's order (`expireGenericCommand`): options, integer, overflow. Decided under
/// the key's lock: 1 if the key exists and the conditions hold (a time not after now
/// then deletes it), else 0.
fn set_expiry(
    ctx: &mut Ctx<'_>,
    args: &[Bytes],
    command: &str,
    unit: Unit,
    absolute: bool,
) -> Reply {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in &args[3..] {
        if is(opt, "nx") {
            nx = true;
        } else if is(opt, "xx") {
            xx = true;
        } else if is(opt, "gt") {
            gt = true;
        } else if is(opt, "lt") {
            lt = true;
        } else {
            let mut msg = b"Unsupported option ".to_vec();
            msg.extend_from_slice(super::c_str(opt, usize::MAX));
            return Reply::error_code("ERR", &msg);
        }
    }
    if nx && (xx || gt || lt) {
        return Reply::err("NX and XX, GT or LT options at the same time are not compatible");
    }
    if gt && lt {
        return Reply::err("GT and LT options at the same time are not compatible");
    }
    let mut when = match int_arg(&args[2]) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let invalid = || Reply::err(format!("invalid expire time in '{command}' command"));
    if unit == Unit::Seconds {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return invalid();
        }
        when *= 1000;
    }
    let now = ctx.shared.now_ms() as i64;
    let base = if absolute { 0 } else { now };
    if when > i64::MAX - base {
        return invalid();
    }
    when += base;
    let conditions: Vec<ExpireIf> = [
        (nx, ExpireIf::NoTtl),
        (xx, ExpireIf::HasTtl),
        (gt, ExpireIf::Later),
        (lt, ExpireIf::Earlier),
    ]
    .into_iter()
    .filter_map(|(on, c)| on.then_some(c))
    .collect();
    // Before the epoch is as past as the epoch.
    let at = Timestamp::from_millis(when.max(0) as u64);
    reply_with(
        ctx.store().expire_or_delete_if(&args[1], at, &conditions),
        |changed| Reply::Int(changed.into()),
    )
}

/// `PERSIST key`: 1 if it removed the key's TTL, 0 if the key has none or is absent.
pub(super) fn persist(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    reply_with(
        ctx.store().expire_if(&args[1], None, ExpireIf::HasTtl),
        |removed| Reply::Int(removed.into()),
    )
}

pub(super) fn ttl(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    remaining(ctx, &args[1], Unit::Seconds)
}

pub(super) fn pttl(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    remaining(ctx, &args[1], Unit::Millis)
}

/// -2 for a missing key, -1 for one without expiry, else the time left (seconds
/// rounded to the nearest, as Redis).
fn remaining(ctx: &mut Ctx<'_>, key: &[u8], unit: Unit) -> Reply {
    reply_with(ctx.store().ttl(key), |ttl| match ttl {
        Ttl::Missing => Reply::Int(-2),
        Ttl::Persistent => Reply::Int(-1),
        Ttl::Remaining(d) => Reply::Int(in_unit(d.as_millis() as i64, unit)),
        // A future kind of answer: treat as no expiry known.
        #[allow(unreachable_patterns)]
        _ => Reply::Int(-1),
    })
}

pub(super) fn expiretime(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    absolute_expiry(ctx, &args[1], Unit::Seconds)
}

pub(super) fn pexpiretime(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    absolute_expiry(ctx, &args[1], Unit::Millis)
}

/// -2 for a missing key, -1 for one without expiry, else the expiry as a Unix time.
fn absolute_expiry(ctx: &mut Ctx<'_>, key: &[u8], unit: Unit) -> Reply {
    reply_with(ctx.store().info(key), |info| match info {
        None => Reply::Int(-2),
        Some(info) => match info.expires_at {
            None => Reply::Int(-1),
            Some(at) => Reply::Int(in_unit(at.as_millis() as i64, unit)),
        },
    })
}

fn in_unit(ms: i64, unit: Unit) -> i64 {
    match unit {
        Unit::Millis => ms,
        Unit::Seconds => ms.saturating_add(500) / 1000,
    }
}

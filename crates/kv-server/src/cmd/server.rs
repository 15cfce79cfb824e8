//! Server commands: DBSIZE, FLUSHDB, FLUSHALL, SAVE, BGSAVE, LASTSAVE, SHUTDOWN, TIME.

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::{is, reply_with, syntax_error, Ctx};
use crate::connection::Quit;
use crate::reply::Reply;

pub(super) fn dbsize(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Reply {
    reply_with(ctx.store().len(), |n| Reply::Int(n as i64))
}

/// `FLUSHALL [ASYNC | SYNC]`: there is one database, so the same as `FLUSHDB`.
pub(super) fn flushall(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    flushdb(ctx, args)
}

/// `FLUSHDB [ASYNC | SYNC]`: one logged clear either way.
pub(super) fn flushdb(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    match args {
        [_] => {}
        [_, mode] if is(mode, "sync") || is(mode, "async") => {}
        _ => return syntax_error(),
    }
    reply_with(ctx.store().clear(), |()| Reply::OK)
}

fn save_in_progress() -> Reply {
    Reply::err("Background save already in progress")
}

/// `SAVE`: a snapshot now (the connection runs it on a blocking thread).
pub(super) fn save(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Reply {
    if ctx.shared.bgsave_running.load(Ordering::Acquire) {
        return save_in_progress();
    }
    reply_with(ctx.store().snapshot(), |_| Reply::OK)
}

/// `BGSAVE [SCHEDULE]`: a snapshot on a blocking thread; the reply does not wait.
pub(super) fn bgsave(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    match args {
        [_] => {}
        [_, opt] if is(opt, "schedule") => {}
        _ => return syntax_error(),
    }
    let shared = ctx.shared;
    if shared.bgsave_running.swap(true, Ordering::AcqRel) {
        return save_in_progress();
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        shared.bgsave_running.store(false, Ordering::Release);
        return Reply::err("background saving needs the server's runtime");
    };
    let store = shared.store.clone();
    let done = shared.bgsave_ok.clone();
    let running = shared.bgsave_running.clone();
    runtime.spawn_blocking(move || {
        let ok = match store.snapshot() {
            Ok(info) => {
                tracing::info!(entries = info.entries, "background saving done");
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "background saving failed");
                false
            }
        };
        done.store(ok, Ordering::Release);
        running.store(false, Ordering::Release);
    });
    Reply::Status("Background saving started")
}

/// `LASTSAVE`: when the last snapshot finished (the server's start if none did since).
pub(super) fn lastsave(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Reply {
    let ms = ctx
        .store()
        .metrics()
        .last_snapshot_ms
        .unwrap_or(ctx.shared.started_ms);
    Reply::Int((ms / 1000) as i64)
}

/// `SHUTDOWN [NOSAVE | SAVE] [NOW] [FORCE] [ABORT]`: a graceful shutdown (every
/// client's running command finishes, the store closes cleanly, which takes its final
/// snapshot), whatever the options: the log already holds every write.
pub(super) fn shutdown(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    let (mut nosave, mut save, mut other, mut abort) = (false, false, false, false);
    for opt in &args[1..] {
        if is(opt, "nosave") {
            nosave = true;
        } else if is(opt, "save") {
            save = true;
        } else if is(opt, "now") || is(opt, "force") {
            other = true;
        } else if is(opt, "abort") {
            abort = true;
        } else {
            return syntax_error();
        }
    }
    if (abort && (nosave || save || other)) || (nosave && save) {
        return syntax_error();
    }
    if abort {
        return Reply::err("No shutdown in progress.");
    }
    tracing::info!(id = ctx.client.id, "SHUTDOWN asked for by a client");
    ctx.shared.begin_shutdown();
    ctx.client.quit = Quit::WithoutReply;
    Reply::OK
}

/// `TIME`: seconds and microseconds of the system clock, as two bulk strings.
pub(super) fn time(_ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Reply {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Reply::Array(vec![
        Reply::bulk(now.as_secs().to_string()),
        Reply::bulk(now.subsec_micros().to_string()),
    ])
}

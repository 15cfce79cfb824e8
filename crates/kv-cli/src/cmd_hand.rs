//! Working with a store by hand: `get`, `set`, `del`, `ttl`, `expire`, `exists`,
//! `keys`, `scan`, each through [`kv_store::Store`]. The reading commands open the
//! store read-only (no lock: they work beside a running store); the writing ones need
//! the directory to themselves.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use kv_store::{Options, RecoveryMode, SetOptions, Store, SyncPolicy, Ttl};
use serde_json::json;

use crate::app::{Ctx, Outcome};
use crate::cli::Command;
use crate::datadir::{self, Need};
use crate::output::{escape, json_line, line};
use crate::{Error, Result};

/// Opens the store in `dir` for a short command: every write synced before the
/// command returns, no background workers, no snapshot at close (`kv compact` takes
/// one).
pub(crate) fn open_store(dir: &Path, need: Need) -> Result<Store> {
    datadir::check(dir, need)?;
    Ok(Store::open(
        Options::new()
            .dir(dir)
            .sync(SyncPolicy::EveryWrite)
            .background_workers(false)
            .snapshot_on_close(false),
    )?)
}

/// Opens the store in `dir` read-only: no lock taken, nothing written, so it works
/// while another process has the store open and writing (see
/// [`Store::open_read_only`]).
pub(crate) fn open_reader(dir: &Path, recovery: RecoveryMode) -> Result<Store> {
    datadir::check(dir, Need::Existing)?;
    Ok(Store::open_read_only(
        Options::new().dir(dir).recovery(recovery),
    )?)
}

fn bytes(s: &OsStr) -> &[u8] {
    s.as_bytes()
}

fn not_found(key: &[u8]) -> Outcome {
    eprintln!("kv: no such key: {}", escape(key));
    Outcome::No
}

/// Runs one of the hand commands on the store in `dir`.
pub(crate) fn run(ctx: &mut Ctx<'_>, dir: &Path) -> Result<Outcome> {
    let store = match ctx.cli.command {
        Command::Set { .. }
        | Command::Incr { .. }
        | Command::Decr { .. }
        | Command::Append { .. } => open_store(dir, Need::MayCreate)?,
        Command::Del { .. } | Command::Expire { .. } => open_store(dir, Need::Existing)?,
        _ => open_reader(dir, RecoveryMode::default())?,
    };
    let outcome = command(ctx, &store)?;
    store.close()?;
    Ok(outcome)
}

fn command(ctx: &mut Ctx<'_>, store: &Store) -> Result<Outcome> {
    let json = ctx.cli.json;
    match &ctx.cli.command {
        Command::Get { key } => {
            let key = bytes(key);
            let Some(value) = store.get(key)? else {
                return Ok(not_found(key));
            };
            if json {
                let at = store.info(key)?.and_then(|i| i.expires_at);
                let v = crate::jsonl::encode(key, &value, at.map(|t| t.as_millis()));
                json_line(ctx.out, &v)?;
            } else {
                ctx.out.write_all(&value).map_err(Error::io("write", ""))?;
                if ctx.out_is_terminal {
                    line(ctx.out, "")?;
                }
            }
        }
        Command::Set {
            key,
            value,
            ttl,
            nx,
            xx,
            get,
        } => {
            let value = match value {
                Some(v) => bytes(v).to_vec(),
                None => {
                    let mut buf = Vec::new();
                    ctx.input
                        .read_to_end(&mut buf)
                        .map_err(Error::io("read the value from", "stdin"))?;
                    buf
                }
            };
            let mut opts = SetOptions::new();
            if let Some(ttl) = ttl {
                opts = opts.ttl(*ttl);
            }
            if *nx {
                opts = opts.if_absent();
            }
            if *xx {
                opts = opts.if_present();
            }
            if *get {
                opts = opts.get();
            }
            let out = store.set_with(bytes(key), &value, &opts)?;
            if json {
                let mut obj = serde_json::Map::new();
                obj.insert("written".into(), out.written.into());
                obj.insert("bytes".into(), value.len().into());
                if let Some(prev) = &out.previous {
                    crate::jsonl::put_bytes(&mut obj, "previous", prev);
                }
                json_line(ctx.out, &obj.into())?;
            } else if let Some(prev) = &out.previous {
                ctx.out.write_all(prev).map_err(Error::io("write", ""))?;
                if ctx.out_is_terminal {
                    line(ctx.out, "")?;
                }
            }
            if !out.written {
                return Ok(Outcome::No);
            }
        }
        Command::Incr { key, delta } | Command::Decr { key, delta } => {
            let delta = match ctx.cli.command {
                Command::Decr { .. } => delta
                    .checked_neg()
                    .ok_or(kv_store::Error::Core(kv_store::CoreError::Overflow))?,
                _ => *delta,
            };
            let n = store.incr(bytes(key), delta)?;
            if json {
                json_line(ctx.out, &json!({ "value": n }))?;
            } else {
                line(ctx.out, &n.to_string())?;
            }
        }
        Command::Append { key, value } => {
            let len = store.append(bytes(key), bytes(value))?;
            if json {
                json_line(ctx.out, &json!({ "length": len }))?;
            } else {
                line(ctx.out, &len.to_string())?;
            }
        }
        Command::Del { keys } => {
            let mut deleted = 0u64;
            for key in keys {
                deleted += u64::from(store.delete(bytes(key))?);
            }
            if json {
                json_line(ctx.out, &json!({ "deleted": deleted }))?;
            } else {
                line(ctx.out, &format!("deleted {deleted} of {}", keys.len()))?;
            }
            if deleted == 0 {
                return Ok(Outcome::No);
            }
        }
        Command::Ttl { key } => {
            let key = bytes(key);
            let ttl = store.ttl(key)?;
            let (text, ms) = match ttl {
                Ttl::Missing => return Ok(not_found(key)),
                Ttl::Persistent => ("persistent".to_owned(), None),
                Ttl::Remaining(d) => (crate::duration::human(d), Some(d.as_millis() as u64)),
                // `Ttl` is non-exhaustive; a state this tool does not know reads as absent.
                _ => return Ok(not_found(key)),
            };
            if json {
                json_line(ctx.out, &json!({"persistent": ms.is_none(), "ttl_ms": ms}))?;
            } else {
                line(ctx.out, &text)?;
            }
        }
        Command::Expire {
            key,
            duration,
            persist,
        } => {
            let key = bytes(key);
            let changed = match (duration, persist) {
                (Some(d), false) => store.expire(key, *d)?,
                _ => store.persist(key)?,
            };
            if !changed {
                return Ok(not_found(key));
            }
            if json {
                json_line(ctx.out, &json!({"ok": true}))?;
            }
        }
        Command::Exists { key } => {
            let found = store.exists(bytes(key))?;
            if json {
                json_line(ctx.out, &json!({ "exists": found }))?;
            } else {
                line(ctx.out, if found { "true" } else { "false" })?;
            }
            if !found {
                return Ok(Outcome::No);
            }
        }
        Command::Keys { prefix, null } => {
            let prefix = prefix.as_deref().map(bytes).unwrap_or_default();
            let mut keys: Vec<Vec<u8>> = store
                .keys()?
                .into_iter()
                .filter(|k| k.starts_with(prefix))
                .collect();
            keys.sort_unstable();
            for key in &keys {
                if json {
                    let mut obj = serde_json::Map::new();
                    crate::jsonl::put_bytes(&mut obj, "key", key);
                    json_line(ctx.out, &obj.into())?;
                } else {
                    ctx.out
                        .write_all(key)
                        .and_then(|()| ctx.out.write_all(if *null { b"\0" } else { b"\n" }))
                        .map_err(Error::io("write", ""))?;
                }
            }
        }
        Command::Scan { prefix, limit } => {
            let prefix = prefix.as_deref().map(bytes).unwrap_or_default();
            let mut entries: Vec<(Vec<u8>, kv_store::Value)> = store
                .iter()?
                .filter(|(k, _)| k.starts_with(prefix))
                .collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            for (key, value) in entries.iter().take(limit.unwrap_or(usize::MAX)) {
                if json {
                    let at = store.info(key)?.and_then(|i| i.expires_at);
                    let v = crate::jsonl::encode(key, value, at.map(|t| t.as_millis()));
                    json_line(ctx.out, &v)?;
                } else {
                    line(ctx.out, &format!("{}\t{}", escape(key), escape(value)))?;
                }
            }
        }
        _ => unreachable!("not a hand command"),
    }
    Ok(Outcome::Done)
}

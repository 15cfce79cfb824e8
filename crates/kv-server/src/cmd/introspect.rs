//! `COMMAND`, `COMMAND COUNT|INFO|DOCS|LIST`: the command table as clients read it
//! (redis-py and redis-cli ask for these).

use bytes::Bytes;

use super::{find, is, syntax_error, Ctx, Spec, COMMANDS};
use crate::glob::Pattern;
use crate::reply::Reply;

/// `COMMAND`: every command's info.
pub(super) fn all(_ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Reply {
    Reply::Array(COMMANDS.iter().map(command_info).collect())
}

/// `COMMAND COUNT`.
pub(super) fn count(_ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Reply {
    Reply::Int(COMMANDS.len() as i64)
}

/// The spec a `COMMAND INFO|DOCS` name refers to: a command, or `container|sub`.
fn named(name: &[u8]) -> Option<&'static Spec> {
    match name.iter().position(|&b| b == b'|') {
        None => find(COMMANDS, name),
        Some(bar) => {
            let container = find(COMMANDS, &name[..bar])?;
            find(container.subcommands, &name[bar + 1..])
        }
    }
}

/// `COMMAND INFO [name ...]`: null for an unknown name.
pub(super) fn info(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    if args.len() == 2 {
        return all(ctx, args);
    }
    Reply::Array(
        args[2..]
            .iter()
            .map(|name| named(name).map_or(Reply::Null, command_info))
            .collect(),
    )
}

/// Redis 7's ten fields: name, arity, flags, first key, last key, step, ACL
/// categories, tips, key specifications (none given here), subcommands.
fn command_info(spec: &Spec) -> Reply {
    let statuses =
        |words: &[&'static str]| Reply::Set(words.iter().map(|w| Reply::Status(w)).collect());
    Reply::Array(vec![
        Reply::bulk_static(spec.name.as_bytes()),
        Reply::Int(spec.arity.into()),
        statuses(spec.flags),
        Reply::Int(spec.keys.0.into()),
        Reply::Int(spec.keys.1.into()),
        Reply::Int(spec.keys.2.into()),
        statuses(spec.acl),
        Reply::Set(Vec::new()),
        Reply::Array(Vec::new()),
        Reply::Array(spec.subcommands.iter().map(command_info).collect()),
    ])
}

/// `COMMAND DOCS [name ...]`: a map from each known name to its summary, version and
/// group (unknown names are left out, as Redis does).
pub(super) fn docs(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    let specs: Vec<&Spec> = if args.len() == 2 {
        COMMANDS.iter().collect()
    } else {
        args[2..].iter().filter_map(|n| named(n)).collect()
    };
    Reply::Map(
        specs
            .into_iter()
            .map(|s| (Reply::bulk_static(s.name.as_bytes()), command_docs(s)))
            .collect(),
    )
}

fn command_docs(spec: &Spec) -> Reply {
    let text = |s: &'static str| Reply::bulk_static(s.as_bytes());
    let mut fields = vec![
        (text("summary"), text(spec.summary)),
        (text("since"), text(spec.since)),
        (text("group"), text(spec.group)),
    ];
    if !spec.subcommands.is_empty() {
        fields.push((
            text("subcommands"),
            Reply::Map(
                spec.subcommands
                    .iter()
                    .map(|s| (text(s.name), command_docs(s)))
                    .collect(),
            ),
        ));
    }
    Reply::Map(fields)
}

/// `COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]`: every
/// command's name, subcommands included.
pub(super) fn list(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    let filter: Box<dyn Fn(&Spec) -> bool> = match &args[2..] {
        [] => Box::new(|_| true),
        [by, kind, value] if is(by, "filterby") => {
            if is(kind, "module") {
                Box::new(|_| false)
            } else if is(kind, "aclcat") {
                let cat = format!("@{}", String::from_utf8_lossy(value).to_lowercase());
                Box::new(move |s| s.acl.contains(&cat.as_str()))
            } else if is(kind, "pattern") {
                let p = Pattern::new(&value.to_ascii_lowercase());
                Box::new(move |s| p.matches(s.name.as_bytes()))
            } else {
                return syntax_error();
            }
        }
        _ => return syntax_error(),
    };
    let names = COMMANDS
        .iter()
        .flat_map(|c| std::iter::once(c).chain(c.subcommands))
        .filter(|s| filter(s))
        .map(|s| Reply::bulk_static(s.name.as_bytes()))
        .collect();
    Reply::Array(names)
}

//! `kv dump DIR`: every live entry, sorted by key, as JSON lines or text, from the
//! store opened read-only (it works beside a running store).

use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::Path;

use kv_store::RecoveryMode;

use crate::app::{Ctx, Outcome};
use crate::cli::DumpFormat;
use crate::output::escape;
use crate::progress::Progress;
use crate::{Error, Result};

pub(crate) fn run(
    ctx: &mut Ctx<'_>,
    dir: &Path,
    format: DumpFormat,
    output: Option<&Path>,
    salvage: bool,
) -> Result<Outcome> {
    let reading = Progress::spinner(ctx.progress, "reading records");
    let recovery = if salvage {
        RecoveryMode::SalvageValid
    } else {
        RecoveryMode::default()
    };
    let store = crate::cmd_hand::open_reader(dir, recovery)?;
    let mut entries: Vec<(Vec<u8>, kv_store::Value, Option<u64>)> = Vec::new();
    for (key, value) in store.iter()? {
        let at = store.info(&key)?.and_then(|i| i.expires_at);
        entries.push((key, value, at.map(|t| t.as_millis())));
    }
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    reading.finish();

    let mut file;
    let out: &mut dyn Write = match output {
        Some(path) => {
            let mut opts = OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            file = BufWriter::new(opts.open(path).map_err(Error::io("create", path))?);
            &mut file
        }
        None => &mut *ctx.out,
    };
    let writing = Progress::bytes(ctx.progress, entries.len() as u64, "dump");
    let io_err = Error::io("write", output.unwrap_or(Path::new("")));
    let mut written = 0u64;
    let result = (|| -> std::io::Result<()> {
        for (key, value, expires_at) in &entries {
            match format {
                DumpFormat::Jsonl => {
                    let v = crate::jsonl::encode(key, value, *expires_at);
                    serde_json::to_writer(&mut *out, &v)?;
                    out.write_all(b"\n")?;
                }
                DumpFormat::Text => {
                    write!(out, "{}\t{}", escape(key), escape(value))?;
                    if let Some(at) = expires_at {
                        write!(out, "\texpires_at_ms={at}")?;
                    }
                    out.write_all(b"\n")?;
                }
            }
            written += 1;
            if written.is_multiple_of(1024) {
                writing.inc(1024);
            }
        }
        out.flush()
    })();
    writing.finish();
    result.map_err(io_err)?;
    if let (Some(path), false) = (output, ctx.cli.quiet) {
        eprintln!("kv: dumped {written} entries to {}", path.display());
    }
    Ok(Outcome::Done)
}

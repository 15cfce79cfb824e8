//! `kv dump DIR`: every live entry, sorted by key, as JSON lines or text; read-only.

use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::app::{Ctx, Outcome};
use crate::cli::DumpFormat;
use crate::datadir::{self, Need};
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
    datadir::check(dir, Need::Existing)?;
    let lock = datadir::lock_shared(dir)?;
    let now = datadir::now_ms();
    let reading = Progress::spinner(ctx.progress, "reading records");
    let state = crate::replay::rebuild(dir, now, salvage, &reading)?;
    reading.finish();
    drop(lock);

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
    let writing = Progress::bytes(ctx.progress, state.entries.len() as u64, "dump");
    let io_err = Error::io("write", output.unwrap_or(Path::new("")));
    let mut written = 0u64;
    let result = (|| -> std::io::Result<()> {
        for (key, e) in &state.entries {
            match format {
                DumpFormat::Jsonl => {
                    let v = crate::jsonl::encode(key, &e.value, e.expires_at);
                    serde_json::to_writer(&mut *out, &v)?;
                    out.write_all(b"\n")?;
                }
                DumpFormat::Text => {
                    write!(out, "{}\t{}", escape(key), escape(&e.value))?;
                    if let Some(at) = e.expires_at {
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

//! Output helpers: escaping bytes for text, sizes for people, one JSON value per line.

use std::io::Write;

use crate::{Error, Result};

/// `bytes` with everything but printable ASCII escaped (`\t`, `\n`, `\xNN`, ...).
pub(crate) fn escape(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// A byte count for people: `512 B`, `27.3 KiB`, `64.0 MiB`.
pub(crate) fn size(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Writes `value` as one line of JSON.
pub(crate) fn json_line(out: &mut dyn Write, value: &serde_json::Value) -> Result<()> {
    serde_json::to_writer(&mut *out, value)
        .map_err(std::io::Error::from)
        .and_then(|()| out.write_all(b"\n"))
        .map_err(Error::io("write", ""))
}

/// Writes `text` and a newline.
pub(crate) fn line(out: &mut dyn Write, text: &str) -> Result<()> {
    writeln!(out, "{text}").map_err(Error::io("write", ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_escapes_read_well() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(64 << 20), "64.0 MiB");
        assert_eq!(escape(b"a\tb\n\xff"), "a\\tb\\n\\xff");
    }
}

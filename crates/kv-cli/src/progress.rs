//! Progress bars: shown on stderr when it is a terminal, absent otherwise.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar or spinner that does nothing when hidden.
#[derive(Debug)]
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Whether bars are shown: not with `--quiet`, and only when stderr is a terminal
    /// (piped or redirected output stays clean).
    pub(crate) fn enabled(quiet: bool) -> bool {
        !quiet && std::io::stderr().is_terminal()
    }

    /// A bar over `total` bytes.
    pub(crate) fn bytes(enabled: bool, total: u64, what: &str) -> Self {
        Self::make(enabled, || {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_message(what.to_owned());
            bar
        })
    }

    /// A spinner counting items (records, entries) when the total is unknown.
    pub(crate) fn spinner(enabled: bool, what: &str) -> Self {
        Self::make(enabled, || {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} {human_pos} {per_sec}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_message(what.to_owned());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        })
    }

    fn make(enabled: bool, f: impl FnOnce() -> ProgressBar) -> Self {
        Progress {
            bar: enabled.then(f),
        }
    }

    /// Advances by `n`.
    pub(crate) fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    /// Changes the label.
    pub(crate) fn message(&self, what: &str) {
        if let Some(b) = &self.bar {
            b.set_message(what.to_owned());
        }
    }

    /// Removes the bar from the terminal.
    pub(crate) fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

//! Everything one run measured, as flat records the report and the targets read.

use crate::stats::Summary;

/// One figure: a contender on a workload variant.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// The report section ("in-memory", "hit ratio", ...).
    pub section: &'static str,
    /// The workload ("get", "churn", ...).
    pub workload: String,
    /// The variant within the workload ("2 threads", "capacity 1%", ...).
    pub variant: String,
    /// Who was measured.
    pub contender: String,
    /// True for our crates.
    pub ours: bool,
    /// Median and range over the runs.
    pub summary: Summary,
    /// What the figure counts ("ops/s", "%", "B/entry", ...).
    pub unit: &'static str,
    /// Each run's figure in run order, when the runs interleave with the other
    /// contenders' (run `i` of every contender taken back to back); empty otherwise.
    pub runs: Vec<f64>,
}

/// All the figures of one run, in the order they were taken.
#[derive(Debug, Default, Clone)]
pub struct Results {
    /// The figures.
    pub items: Vec<Measurement>,
    /// Remarks to print in the report (skipped contenders, missing crates).
    pub notes: Vec<String>,
}

impl Results {
    /// Records one figure and echoes it to stderr.
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        section: &'static str,
        workload: &str,
        variant: &str,
        contender: &str,
        ours: bool,
        summary: Summary,
        unit: &'static str,
    ) {
        eprintln!(
            "  {section} / {workload} / {variant} / {contender}: {} {unit} [{} .. {}]",
            fmt_num(summary.median),
            fmt_num(summary.min),
            fmt_num(summary.max)
        );
        self.items.push(Measurement {
            section,
            workload: workload.to_owned(),
            variant: variant.to_owned(),
            contender: contender.to_owned(),
            ours,
            summary,
            unit,
            runs: Vec::new(),
        });
    }

    /// Records a figure from interleaved runs, keeping each run's value so that
    /// targets can compare contenders run by run.
    #[allow(clippy::too_many_arguments)]
    pub fn push_runs(
        &mut self,
        section: &'static str,
        workload: &str,
        variant: &str,
        contender: &str,
        ours: bool,
        runs: &[f64],
        unit: &'static str,
    ) {
        self.push(
            section,
            workload,
            variant,
            contender,
            ours,
            Summary::of(runs),
            unit,
        );
        if let Some(m) = self.items.last_mut() {
            m.runs = runs.to_vec();
        }
    }

    /// The figure for exactly this section, workload, variant and contender.
    pub fn find(
        &self,
        section: &str,
        workload: &str,
        variant: &str,
        contender: &str,
    ) -> Option<&Measurement> {
        self.items.iter().find(|m| {
            m.section == section
                && m.workload == workload
                && m.variant == variant
                && m.contender == contender
        })
    }

    /// The median of that figure, if measured.
    pub fn median(
        &self,
        section: &str,
        workload: &str,
        variant: &str,
        contender: &str,
    ) -> Option<f64> {
        self.find(section, workload, variant, contender)
            .map(|m| m.summary.median)
    }

    /// Adds a remark for the report.
    pub fn note(&mut self, text: impl Into<String>) {
        let text = text.into();
        eprintln!("  note: {text}");
        self.notes.push(text);
    }
}

/// A number with SI suffix and three significant digits: `10.8M`, `470K`, `16.8K`, `5.7`.
pub fn fmt_num(x: f64) -> String {
    let (v, suffix) = if x.abs() >= 1e9 {
        (x / 1e9, "G")
    } else if x.abs() >= 1e6 {
        (x / 1e6, "M")
    } else if x.abs() >= 1e4 {
        (x / 1e3, "K")
    } else {
        (x, "")
    };
    let digits = if v.abs() >= 100.0 {
        0
    } else if v.abs() >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.digits$}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_at_a_glance() {
        assert_eq!(fmt_num(10_800_000.0), "10.8M");
        assert_eq!(fmt_num(470_000.0), "470K");
        assert_eq!(fmt_num(16_800.0), "16.8K");
        assert_eq!(fmt_num(5_700.0), "5700");
        assert_eq!(fmt_num(0.5), "0.50");
        assert_eq!(fmt_num(2.5e9), "2.50G");
    }

    #[test]
    fn find_matches_all_four_keys() {
        let mut r = Results::default();
        r.push("s", "w", "v", "c", false, Summary::single(1.0), "x");
        assert_eq!(r.median("s", "w", "v", "c"), Some(1.0));
        assert_eq!(r.median("s", "w", "v", "d"), None);
    }
}

//! Hand-rolled SVG bar charts: groups along the x axis, one bar per series in each group.

use std::fmt::Write;

/// One series: a name, whether it is ours (drawn in the accent colours), and one value
/// per group (`None` leaves a gap).
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// Ours get the saturated colours, peers the muted ones.
    pub ours: bool,
    /// One value per group.
    pub values: Vec<Option<f64>>,
}

/// A grouped bar chart.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Title at the top.
    pub title: String,
    /// Label of the value axis (already scaled: "M ops/s", "%").
    pub unit: String,
    /// Group labels along the x axis (a newline starts a second line).
    pub groups: Vec<String>,
    /// The bars.
    pub series: Vec<Series>,
    /// Logarithmic value axis (for figures spanning decades).
    pub log: bool,
}

const OURS: [&str; 4] = ["#d62728", "#ff7f0e", "#e377c2", "#bcbd22"];
const PEERS: [&str; 6] = [
    "#1f77b4", "#2ca02c", "#9467bd", "#17becf", "#8c564b", "#7f7f7f",
];

impl Chart {
    /// The chart as a standalone SVG document.
    pub fn render(&self) -> String {
        let n_groups = self.groups.len().max(1);
        let n_series = self.series.len().max(1);
        let bar_w = 14.0;
        let longest_line = self
            .groups
            .iter()
            .flat_map(|g| g.lines())
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0);
        let group_w = (bar_w * n_series as f64 + 24.0).max(longest_line as f64 * 6.5 + 10.0);
        let left = 70.0;
        let top = 40.0;
        let plot_h = 260.0;
        let legend_h = 22.0 * self.series.len().div_ceil(3) as f64;
        let width = (left + group_w * n_groups as f64 + 20.0).max(640.0);
        let height = top + plot_h + 62.0 + legend_h;
        let values: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied())
            .filter(|v| v.is_finite() && *v > 0.0)
            .collect();
        let max = values.iter().copied().fold(0.0, f64::max).max(1e-9);
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let (lo, hi) = if self.log {
            let lo = 10f64.powf(min.max(1e-9).log10().floor());
            let hi = 10f64.powf(max.log10().ceil());
            (lo, if hi <= lo { lo * 10.0 } else { hi })
        } else {
            (0.0, nice_ceiling(max))
        };
        let y = |v: f64| -> f64 {
            let f = if self.log {
                (v.max(lo).log10() - lo.log10()) / (hi.log10() - lo.log10())
            } else {
                v / hi
            };
            top + plot_h * (1.0 - f.clamp(0.0, 1.0))
        };
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="11">"#
        );
        let _ = write!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = write!(
            s,
            r#"<text x="{:.0}" y="22" font-size="15" font-weight="bold" text-anchor="middle">{}</text>"#,
            width / 2.0,
            esc(&self.title)
        );
        // Grid lines and value labels.
        let ticks: Vec<f64> = if self.log {
            let mut t = Vec::new();
            let mut v = lo;
            while v <= hi * 1.0001 {
                t.push(v);
                v *= 10.0;
            }
            t
        } else {
            (0..=5).map(|i| hi * f64::from(i) / 5.0).collect()
        };
        for t in ticks {
            let ty = y(t);
            let _ = write!(
                s,
                r##"<line x1="{left}" y1="{ty:.1}" x2="{:.0}" y2="{ty:.1}" stroke="#ddd"/><text x="{:.0}" y="{:.1}" text-anchor="end">{}</text>"##,
                width - 10.0,
                left - 6.0,
                ty + 4.0,
                tick_label(t)
            );
        }
        let _ = write!(
            s,
            r#"<text x="14" y="{:.0}" transform="rotate(-90 14 {:.0})" text-anchor="middle">{}</text>"#,
            top + plot_h / 2.0,
            top + plot_h / 2.0,
            esc(&self.unit)
        );
        // Bars.
        let (mut ours_i, mut peer_i) = (0, 0);
        let colours: Vec<&str> = self
            .series
            .iter()
            .map(|se| {
                if se.ours {
                    ours_i += 1;
                    OURS[(ours_i - 1) % OURS.len()]
                } else {
                    peer_i += 1;
                    PEERS[(peer_i - 1) % PEERS.len()]
                }
            })
            .collect();
        for (g, label) in self.groups.iter().enumerate() {
            let gx = left + group_w * g as f64 + 12.0;
            for (i, se) in self.series.iter().enumerate() {
                let Some(v) = se.values.get(g).copied().flatten() else {
                    continue;
                };
                let x = gx + bar_w * i as f64;
                let by = y(v);
                let h = (top + plot_h - by).max(0.5);
                let _ = write!(
                    s,
                    r#"<rect x="{x:.1}" y="{by:.1}" width="{:.1}" height="{h:.1}" fill="{}"><title>{}: {}</title></rect>"#,
                    bar_w - 2.0,
                    colours[i],
                    esc(&se.name),
                    tick_label(v)
                );
            }
            let lx = gx + bar_w * n_series as f64 / 2.0;
            for (i, line) in label.lines().enumerate() {
                let ly = top + plot_h + 14.0 + 13.0 * i as f64;
                let _ = write!(
                    s,
                    r#"<text x="{lx:.1}" y="{ly:.1}" text-anchor="middle">{}</text>"#,
                    esc(line)
                );
            }
        }
        let _ = write!(
            s,
            r##"<line x1="{left}" y1="{:.1}" x2="{:.0}" y2="{:.1}" stroke="#333"/>"##,
            top + plot_h,
            width - 10.0,
            top + plot_h
        );
        // Legend, three per row.
        for (i, se) in self.series.iter().enumerate() {
            let lx = left + (i % 3) as f64 * 200.0;
            let ly = top + plot_h + 52.0 + (i / 3) as f64 * 22.0;
            let weight = if se.ours { "bold" } else { "normal" };
            let _ = write!(
                s,
                r#"<rect x="{lx:.0}" y="{:.0}" width="12" height="12" fill="{}"/><text x="{:.0}" y="{ly:.0}" font-weight="{weight}">{}</text>"#,
                ly - 10.0,
                colours[i],
                lx + 18.0,
                esc(&se.name)
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

/// The smallest round number (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten) at or
/// above `x`.
fn nice_ceiling(x: f64) -> f64 {
    let p = 10f64.powf(x.log10().floor());
    [1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|&c| c >= x)
        .unwrap_or(10.0 * p)
}

fn tick_label(v: f64) -> String {
    crate::results::fmt_num(v)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(log: bool) -> Chart {
        Chart {
            title: "t <x>".into(),
            unit: "M ops/s".into(),
            groups: vec!["get".into(), "set".into()],
            series: vec![
                Series {
                    name: "ours".into(),
                    ours: true,
                    values: vec![Some(10.0), Some(5.0)],
                },
                Series {
                    name: "peer".into(),
                    ours: false,
                    values: vec![Some(100.0), None],
                },
            ],
            log,
        }
    }

    #[test]
    fn draws_one_bar_per_present_value_and_escapes_text() {
        for log in [false, true] {
            let svg = chart(log).render();
            assert!(svg.starts_with("<svg"));
            assert!(svg.trim_end().ends_with("</svg>"));
            assert_eq!(svg.matches("<title>").count(), 3, "{svg}");
            assert!(svg.contains("t &lt;x&gt;"));
        }
    }

    #[test]
    fn taller_bars_for_larger_values() {
        let svg = chart(false).render();
        let height = |name: &str| -> f64 {
            let at = svg.find(&format!("<title>{name}")).unwrap();
            let rect = &svg[svg[..at].rfind("<rect").unwrap()..at];
            let h = rect.split("height=\"").nth(1).unwrap();
            h[..h.find('"').unwrap()].parse().unwrap()
        };
        assert!(height("peer: 100") > height("ours: 10.0"));
    }

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceiling(7.3), 8.0);
        assert_eq!(nice_ceiling(1.7), 2.0);
        assert_eq!(nice_ceiling(420.0), 500.0);
        assert_eq!(nice_ceiling(52e6), 60e6);
    }
}

//! Turning runs into rows: medians, rates, ratios; the printed table and the JSON file.

use std::fmt::Write as _;

use serde::Serialize;

use crate::tools::{Build, Contender, Outcome};

/// One data set at one latency.
#[derive(Debug, Clone, Serialize)]
pub struct SetResult {
    /// The data set's name (see `datasets::NAMES`).
    pub set: String,
    /// Added round-trip time (0: plain loopback).
    pub rtt_ms: u32,
    /// Source mailboxes in the set.
    pub mailboxes: usize,
    /// Messages over all source mailboxes.
    pub messages: u64,
    /// Message bytes over all source mailboxes (the rates are computed from this).
    pub bytes: u64,
    /// One row per contender, unavailable and skipped ones included.
    pub rows: Vec<Row>,
}

/// One tool on one data set at one latency.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The contender's key: `cli`, or `cli@baseline` for the baseline build.
    pub tool: String,
    /// The name shown in the table (`mbsync`, `ImapMigration migrate`).
    pub label: String,
    /// `current` or `baseline`: which build of ImapMigration ran (peers: `current`).
    pub build: String,
    /// `ok`, `incomplete` (some run did not copy everything), `unavailable`, `skipped`.
    pub status: String,
    /// Why the status is not `ok` (the first failing run's note); empty when it is.
    pub note: String,
    /// Every run of this tool, complete or not, in order.
    pub runs: Vec<Outcome>,
    /// Over complete runs only.
    pub median_wall_s: Option<f64>,
    /// The set's messages over the median wall time; `None` without a complete run.
    pub messages_per_s: Option<f64>,
    /// The set's bytes in MB (10^6) over the median wall time; `None` without a complete run.
    pub mb_per_s: Option<f64>,
    /// Median over complete runs of the summed peak RSS of the copying processes, MiB.
    pub peak_rss_mib: Option<f64>,
    /// The largest peak of any single process in any run, MiB.
    pub max_process_rss_mib: Option<f64>,
    /// This median wall time over mbsync's (above 1: slower); `None` unless both exist.
    pub ratio_to_mbsync: Option<f64>,
    /// This median wall time over the floor copier's; `None` unless both exist.
    pub ratio_to_floor: Option<f64>,
    /// Our tool's median over the same tool's median from the baseline build (both complete).
    pub ratio_to_baseline: Option<f64>,
}

impl Row {
    /// An empty `ok` row for the contender, to collect its runs into.
    pub fn new(contender: Contender) -> Row {
        Row {
            tool: contender.key(),
            label: contender.label(),
            build: match contender.build {
                Build::Current => "current",
                Build::Baseline => "baseline",
            }
            .into(),
            status: "ok".into(),
            note: String::new(),
            runs: Vec::new(),
            median_wall_s: None,
            messages_per_s: None,
            mb_per_s: None,
            peak_rss_mib: None,
            max_process_rss_mib: None,
            ratio_to_mbsync: None,
            ratio_to_floor: None,
            ratio_to_baseline: None,
        }
    }

    /// A row without runs that reports why the contender did not run (`unavailable`,
    /// `skipped`).
    pub fn with_status(contender: Contender, status: &str, note: impl Into<String>) -> Row {
        Row {
            status: status.into(),
            note: note.into(),
            ..Row::new(contender)
        }
    }
}

/// The median of `v`; `None` when it is empty.
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

impl SetResult {
    /// Fills in medians, rates and ratios from the runs.
    pub fn summarize(&mut self) {
        for row in &mut self.rows {
            if row.runs.is_empty() {
                continue;
            }
            let ok: Vec<&Outcome> = row.runs.iter().filter(|r| r.complete).collect();
            if ok.len() < row.runs.len() {
                row.status = "incomplete".into();
                if let Some(bad) = row.runs.iter().find(|r| !r.complete) {
                    row.note = bad.note.clone();
                }
            }
            row.median_wall_s = median(ok.iter().map(|r| r.wall_s).collect());
            row.peak_rss_mib = median(ok.iter().map(|r| r.rss_kib as f64 / 1024.0).collect());
            row.max_process_rss_mib = ok
                .iter()
                .map(|r| r.rss_max_kib as f64 / 1024.0)
                .reduce(f64::max);
            if let Some(w) = row.median_wall_s.filter(|w| *w > 0.0) {
                row.messages_per_s = Some(self.messages as f64 / w);
                row.mb_per_s = Some(self.bytes as f64 / 1e6 / w);
            }
        }
        let wall_of = |key: &str, rows: &[Row]| {
            rows.iter()
                .find(|r| r.tool == key && r.status == "ok")
                .and_then(|r| r.median_wall_s)
        };
        let mbsync = wall_of("mbsync", &self.rows);
        let floor = wall_of("floor", &self.rows);
        let baselines: Vec<(String, Option<f64>)> = self
            .rows
            .iter()
            .map(|r| {
                (
                    r.tool.clone(),
                    wall_of(&format!("{}@baseline", r.tool), &self.rows),
                )
            })
            .collect();
        for (row, (_, baseline)) in self.rows.iter_mut().zip(baselines) {
            if let Some(w) = row.median_wall_s {
                row.ratio_to_mbsync = mbsync.map(|m| w / m);
                row.ratio_to_floor = floor.map(|f| w / f);
                // Only a complete row is compared: an incomplete run's time says nothing.
                if row.status == "ok" {
                    row.ratio_to_baseline = baseline.filter(|b| *b > 0.0).map(|b| w / b);
                }
            }
        }
    }

    fn has_baseline(&self) -> bool {
        self.rows.iter().any(|r| r.build == "baseline")
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let lat = if self.rtt_ms == 0 {
            "loopback".to_string()
        } else {
            format!("{} ms RTT", self.rtt_ms)
        };
        let runs = self.rows.iter().map(|r| r.runs.len()).max().unwrap_or(0);
        let _ = writeln!(
            s,
            "\n== {} ({} mailbox{}, {} messages, {:.1} MB), {lat}, {runs} run{} per tool ==",
            self.set,
            self.mailboxes,
            if self.mailboxes == 1 { "" } else { "es" },
            self.messages,
            self.bytes as f64 / 1e6,
            if runs == 1 { "" } else { "s" },
        );
        // The baseline column appears only when a baseline build ran.
        let with_baseline = self.has_baseline();
        let _ = writeln!(
            s,
            "{:<28} {:>9} {:>9} {:>8} {:>10} {:>10} {:>9}{}  status",
            "tool",
            "median s",
            "msg/s",
            "MB/s",
            "peak RSS",
            "vs mbsync",
            "vs floor",
            if with_baseline {
                format!(" {:>11}", "vs baseline")
            } else {
                String::new()
            }
        );
        let f = |v: Option<f64>, prec: usize, suffix: &str| {
            v.map(|v| format!("{v:.prec$}{suffix}"))
                .unwrap_or_else(|| "-".into())
        };
        for r in &self.rows {
            let status = if r.status == "ok" {
                String::new()
            } else {
                format!("{}: {}", r.status, r.note)
            };
            let _ = writeln!(
                s,
                "{:<28} {:>9} {:>9} {:>8} {:>10} {:>10} {:>9}{}  {}",
                r.label,
                f(r.median_wall_s, 2, ""),
                f(r.messages_per_s, 0, ""),
                f(r.mb_per_s, 1, ""),
                f(r.peak_rss_mib, 1, " MiB"),
                f(r.ratio_to_mbsync, 2, "x"),
                f(r.ratio_to_floor, 2, "x"),
                if with_baseline {
                    format!(" {:>11}", f(r.ratio_to_baseline, 2, "x"))
                } else {
                    String::new()
                },
                status
            );
        }
        if with_baseline {
            for r in self.rows.iter().filter(|r| r.build == "current") {
                let base = format!("{}@baseline", r.tool);
                let Some(b) = self.rows.iter().find(|b| b.tool == base) else {
                    continue;
                };
                let ratio = match r.ratio_to_baseline {
                    Some(x) => format!("{x:.3}x"),
                    None => "- (a row is incomplete)".into(),
                };
                let _ = writeln!(
                    s,
                    "{} / {}: {} (medians {} s / {} s, {} / {} runs)",
                    r.tool,
                    base,
                    ratio,
                    f(r.median_wall_s, 3, ""),
                    f(b.median_wall_s, 3, ""),
                    r.runs.iter().filter(|o| o.complete).count(),
                    b.runs.iter().filter(|o| o.complete).count(),
                );
            }
        }
        if self.mailboxes > 1 {
            s.push_str(
                "peak RSS: summed over the copying processes (mbsync, dsync, offlineimap3 run one per mailbox)\n",
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::tools::Tool;

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }

    fn run(wall_s: f64, complete: bool) -> Outcome {
        Outcome {
            wall_s,
            rss_kib: 1024,
            rss_max_kib: 1024,
            processes: 1,
            complete,
            verified: complete.then_some(true),
            note: if complete {
                String::new()
            } else {
                "incomplete".into()
            },
            check_s: 0.0,
        }
    }

    fn row(c: Contender, walls: &[f64], complete: bool) -> Row {
        let mut r = Row::new(c);
        r.runs = walls.iter().map(|w| run(*w, complete)).collect();
        r
    }

    fn set(rows: Vec<Row>) -> SetResult {
        let mut s = SetResult {
            set: "one".into(),
            rtt_ms: 0,
            mailboxes: 1,
            messages: 2500,
            bytes: 10_000_000,
            rows,
        };
        s.summarize();
        s
    }

    #[test]
    fn each_tool_is_compared_with_its_own_baseline_median() {
        let s = set(vec![
            row(Contender::current(Tool::Floor), &[0.2], true),
            row(Contender::current(Tool::Cli), &[1.1, 0.9, 1.0], true),
            row(Contender::baseline(Tool::Cli), &[0.8, 0.8, 0.7], true),
            row(Contender::current(Tool::Worker), &[2.0], true),
            row(Contender::baseline(Tool::Worker), &[2.5], true),
        ]);
        let ratio = |key: &str| {
            s.rows
                .iter()
                .find(|r| r.tool == key)
                .unwrap()
                .ratio_to_baseline
        };
        assert_eq!(ratio("cli"), Some(1.0 / 0.8));
        assert_eq!(ratio("worker"), Some(2.0 / 2.5));
        assert_eq!(ratio("floor"), None);
        assert_eq!(ratio("cli@baseline"), None);
        let table = s.table();
        assert!(table.contains("vs baseline"), "{table}");
        assert!(table.contains("baseline migrate"), "{table}");
        assert!(table.contains("cli / cli@baseline: 1.250x"), "{table}");
    }

    #[test]
    fn no_ratio_when_either_side_is_incomplete_and_no_column_without_a_baseline() {
        let s = set(vec![
            row(Contender::current(Tool::Cli), &[1.0], true),
            row(Contender::baseline(Tool::Cli), &[0.8], false),
        ]);
        assert_eq!(s.rows[0].ratio_to_baseline, None);
        assert!(
            s.table()
                .contains("cli / cli@baseline: - (a row is incomplete)")
        );

        let s = set(vec![row(Contender::current(Tool::Cli), &[1.0], true)]);
        assert!(!s.table().contains("vs baseline"));
    }
}

//! Turning runs into rows: medians, rates, ratios; the printed table and the JSON file.

use std::fmt::Write as _;

use serde::Serialize;

use crate::tools::{Outcome, Tool};

/// One data set at one latency.
#[derive(Debug, Clone, Serialize)]
pub struct SetResult {
    pub set: String,
    /// Added round-trip time (0: plain loopback).
    pub rtt_ms: u32,
    pub mailboxes: usize,
    pub messages: u64,
    pub bytes: u64,
    pub rows: Vec<Row>,
}

/// One tool on one data set at one latency.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub tool: String,
    pub label: String,
    /// `ok`, `incomplete` (some run did not copy everything), `unavailable`, `skipped`.
    pub status: String,
    pub note: String,
    pub runs: Vec<Outcome>,
    /// Over complete runs only.
    pub median_wall_s: Option<f64>,
    pub messages_per_s: Option<f64>,
    pub mb_per_s: Option<f64>,
    /// Median over complete runs of the summed peak RSS of the copying processes, MiB.
    pub peak_rss_mib: Option<f64>,
    /// The largest peak of any single process in any run, MiB.
    pub max_process_rss_mib: Option<f64>,
    pub ratio_to_mbsync: Option<f64>,
    pub ratio_to_floor: Option<f64>,
}

impl Row {
    pub fn new(tool: Tool) -> Row {
        Row {
            tool: tool.key().into(),
            label: tool.label().into(),
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
        }
    }

    pub fn with_status(tool: Tool, status: &str, note: impl Into<String>) -> Row {
        Row {
            status: status.into(),
            note: note.into(),
            ..Row::new(tool)
        }
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
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
        for row in &mut self.rows {
            if let Some(w) = row.median_wall_s {
                row.ratio_to_mbsync = mbsync.map(|m| w / m);
                row.ratio_to_floor = floor.map(|f| w / f);
            }
        }
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
        let _ = writeln!(
            s,
            "{:<28} {:>9} {:>9} {:>8} {:>10} {:>10} {:>9}  status",
            "tool", "median s", "msg/s", "MB/s", "peak RSS", "vs mbsync", "vs floor"
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
                "{:<28} {:>9} {:>9} {:>8} {:>10} {:>10} {:>9}  {}",
                r.label,
                f(r.median_wall_s, 2, ""),
                f(r.messages_per_s, 0, ""),
                f(r.mb_per_s, 1, ""),
                f(r.peak_rss_mib, 1, " MiB"),
                f(r.ratio_to_mbsync, 2, "x"),
                f(r.ratio_to_floor, 2, "x"),
                status
            );
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

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }
}

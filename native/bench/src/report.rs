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
    /// The link's rate each way in bit/s, shared by all connections (`None`: unlimited).
    pub bandwidth_bit_s: Option<u64>,
    /// The server offered COMPRESS=DEFLATE (RFC 4978) in this section.
    pub compression_offered: bool,
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
    /// Median over complete runs of the CPU seconds the Dovecot serving source and target spent.
    pub server_cpu_s: Option<f64>,
    /// `server_cpu_s` per 1,000 messages of the set.
    pub server_cpu_s_per_1k: Option<f64>,
    /// This row's server CPU over mbsync's (above 1: more work for the server).
    pub server_cpu_ratio_to_mbsync: Option<f64>,
    /// This row's server CPU over the floor copier's.
    pub server_cpu_ratio_to_floor: Option<f64>,
    /// Median over complete runs of the bytes through the proxy, both ways, in MB (10^6).
    pub wire_mb: Option<f64>,
    /// This row's bytes on the wire over mbsync's.
    pub wire_ratio_to_mbsync: Option<f64>,
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
            server_cpu_s: None,
            server_cpu_s_per_1k: None,
            server_cpu_ratio_to_mbsync: None,
            server_cpu_ratio_to_floor: None,
            wire_mb: None,
            wire_ratio_to_mbsync: None,
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
            row.server_cpu_s = median(ok.iter().filter_map(|r| r.server_cpu_s).collect());
            if self.messages > 0 {
                row.server_cpu_s_per_1k =
                    row.server_cpu_s.map(|c| c * 1000.0 / self.messages as f64);
            }
            row.wire_mb = median(
                ok.iter()
                    .filter_map(|r| r.wire_bytes)
                    .map(|b| b as f64 / 1e6)
                    .collect(),
            );
        }
        // A ratio needs both sides measured and the divisor above zero.
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        };
        let of = |key: &str, rows: &[Row], f: fn(&Row) -> Option<f64>| {
            rows.iter()
                .find(|r| r.tool == key && r.status == "ok")
                .and_then(f)
        };
        let (cpu_mbsync, cpu_floor, wire_mbsync) = (
            of("mbsync", &self.rows, |r| r.server_cpu_s),
            of("floor", &self.rows, |r| r.server_cpu_s),
            of("mbsync", &self.rows, |r| r.wire_mb),
        );
        for row in &mut self.rows {
            row.server_cpu_ratio_to_mbsync = ratio(row.server_cpu_s, cpu_mbsync);
            row.server_cpu_ratio_to_floor = ratio(row.server_cpu_s, cpu_floor);
            row.wire_ratio_to_mbsync = ratio(row.wire_mb, wire_mbsync);
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
        let lat = self.link_label();
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
        s.push_str(&self.server_table());
        s
    }

    /// How the tools reached the server: `loopback`, `100 ms RTT`, `10 Mbit/s link (...)`.
    pub fn link_label(&self) -> String {
        let mut parts = Vec::new();
        if let Some(bits) = self.bandwidth_bit_s {
            parts.push(format!(
                "{} link shared by all connections, each way",
                format_rate(bits)
            ));
        }
        if self.rtt_ms > 0 {
            parts.push(format!("{} ms RTT", self.rtt_ms));
        }
        if parts.is_empty() {
            parts.push("loopback".into());
        }
        if self.compression_offered {
            parts.push("server offers COMPRESS=DEFLATE".into());
        }
        parts.join(", ")
    }

    /// The server's side: Dovecot CPU per run and per 1,000 messages, and bytes on the wire
    /// where a proxy counted them; empty when nothing was measured.
    fn server_table(&self) -> String {
        let measured: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| r.server_cpu_s.is_some() || r.wire_mb.is_some())
            .collect();
        if measured.is_empty() {
            return String::new();
        }
        let with_wire = measured.iter().any(|r| r.wire_mb.is_some());
        let f = |v: Option<f64>, prec: usize, suffix: &str| {
            v.map(|v| format!("{v:.prec$}{suffix}"))
                .unwrap_or_else(|| "-".into())
        };
        let mut s = String::new();
        let _ = writeln!(
            s,
            "server CPU (the Dovecot serving source and target, medians){}:",
            if with_wire {
                " and bytes on the wire (both ways)"
            } else {
                ""
            }
        );
        let _ = writeln!(
            s,
            "{:<28} {:>9} {:>13} {:>10} {:>9}{}",
            "tool",
            "CPU s",
            "CPU s/1k msg",
            "vs mbsync",
            "vs floor",
            if with_wire {
                format!(" {:>9} {:>10}", "wire MB", "vs mbsync")
            } else {
                String::new()
            }
        );
        for r in measured {
            let _ = writeln!(
                s,
                "{:<28} {:>9} {:>13} {:>10} {:>9}{}",
                r.label,
                f(r.server_cpu_s, 2, ""),
                f(r.server_cpu_s_per_1k, 3, ""),
                f(r.server_cpu_ratio_to_mbsync, 2, "x"),
                f(r.server_cpu_ratio_to_floor, 2, "x"),
                if with_wire {
                    format!(
                        " {:>9} {:>10}",
                        f(r.wire_mb, 1, ""),
                        f(r.wire_ratio_to_mbsync, 2, "x")
                    )
                } else {
                    String::new()
                }
            );
        }
        if self.compression_offered && with_wire {
            s.push_str(
                "COMPRESS=DEFLATE: offered by the server; wire MB shows which tools turned it on (the floor copier never does)\n",
            );
        }
        if self
            .rows
            .iter()
            .any(|r| r.tool == "dsync" && r.server_cpu_s.is_some())
        {
            s.push_str(
                "dsync: doveadm writes the target store itself; that work is its own, not the server's above\n",
            );
        }
        s
    }
}

/// A link rate for people: `10 Mbit/s`, `512 kbit/s`, `1.5 Gbit/s`.
pub fn format_rate(bits_per_s: u64) -> String {
    let (div, unit) = match bits_per_s {
        b if b >= 1_000_000_000 => (1e9, "Gbit/s"),
        b if b >= 1_000_000 => (1e6, "Mbit/s"),
        b if b >= 1_000 => (1e3, "kbit/s"),
        _ => (1.0, "bit/s"),
    };
    let v = bits_per_s as f64 / div;
    if v.fract() == 0.0 {
        format!("{v:.0} {unit}")
    } else {
        format!("{v} {unit}")
    }
}

/// A link rate from the command line: a number with `bit`, `kbit`, `mbit` or `gbit` (any case,
/// `/s` optional, decimal units: 10mbit = 10,000,000 bit/s). Returns bit/s.
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let t = text.trim().to_ascii_lowercase();
    let t = t.strip_suffix("/s").unwrap_or(&t).trim_end();
    let (num, mult) = [("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1.0)]
        .iter()
        .find_map(|(unit, m)| t.strip_suffix(unit).map(|n| (n.trim(), *m)))
        .ok_or_else(|| format!("{text:?}: give the rate with a unit, e.g. 10mbit or 512kbit"))?;
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{text:?}: {num:?} is not a number"))?;
    let bits = (v * mult).round();
    if !(bits >= 8.0 && bits.is_finite()) {
        return Err(format!("{text:?}: the rate must be at least 8 bit/s"));
    }
    Ok(bits as u64)
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
            server_cpu_s: None,
            wire_bytes: None,
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
            bandwidth_bit_s: None,
            compression_offered: false,
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

    fn measured(c: Contender, cpu: &[f64], wire: Option<u64>) -> Row {
        let mut r = Row::new(c);
        r.runs = cpu
            .iter()
            .map(|c| Outcome {
                server_cpu_s: Some(*c),
                wire_bytes: wire,
                ..run(1.0, true)
            })
            .collect();
        r
    }

    #[test]
    fn server_cpu_per_thousand_messages_and_its_ratios() {
        let s = set(vec![
            measured(
                Contender::current(Tool::Floor),
                &[0.30, 0.32, 0.40],
                Some(40_000_000),
            ),
            measured(
                Contender::current(Tool::Cli),
                &[0.50, 0.45, 0.60],
                Some(20_000_000),
            ),
            measured(Contender::current(Tool::Mbsync), &[0.25], Some(50_000_000)),
            row(Contender::current(Tool::Worker), &[1.0], true),
        ]);
        let cli = &s.rows[1];
        assert_eq!(cli.server_cpu_s, Some(0.50));
        // 2,500 messages: 0.5 CPU-s is 0.2 per 1,000.
        assert!((cli.server_cpu_s_per_1k.unwrap() - 0.2).abs() < 1e-12);
        assert_eq!(cli.server_cpu_ratio_to_mbsync, Some(0.50 / 0.25));
        assert_eq!(cli.server_cpu_ratio_to_floor, Some(0.50 / 0.32));
        assert_eq!(cli.wire_mb, Some(20.0));
        assert_eq!(cli.wire_ratio_to_mbsync, Some(0.4));
        // Not measured: no figure, no ratio.
        assert_eq!(s.rows[3].server_cpu_s, None);
        assert_eq!(s.rows[3].server_cpu_ratio_to_mbsync, None);
        let table = s.table();
        assert!(table.contains("CPU s/1k msg"), "{table}");
        assert!(table.contains("wire MB"), "{table}");
        assert!(table.contains("0.200"), "{table}");
        assert!(
            !table.contains("ImapMigration worker (ABI)       -"),
            "{table}"
        );
    }

    #[test]
    fn no_server_block_when_nothing_was_measured() {
        let s = set(vec![row(Contender::current(Tool::Cli), &[1.0], true)]);
        assert!(!s.table().contains("server CPU"));
    }

    #[test]
    fn rates_parse_in_decimal_units_and_print_back() {
        assert_eq!(parse_rate("10mbit"), Ok(10_000_000));
        assert_eq!(parse_rate("10Mbit/s"), Ok(10_000_000));
        assert_eq!(parse_rate("512 kbit"), Ok(512_000));
        assert_eq!(parse_rate("1.5gbit"), Ok(1_500_000_000));
        assert_eq!(parse_rate("64000bit"), Ok(64_000));
        assert!(parse_rate("10").is_err());
        assert!(parse_rate("10mb").is_err());
        assert!(parse_rate("fastmbit").is_err());
        assert!(parse_rate("0mbit").is_err());
        assert_eq!(format_rate(10_000_000), "10 Mbit/s");
        assert_eq!(format_rate(1_500_000_000), "1.5 Gbit/s");
        assert_eq!(format_rate(512_000), "512 kbit/s");
    }

    #[test]
    fn the_link_label_names_rate_rtt_and_compression() {
        let mut s = set(vec![]);
        assert_eq!(s.link_label(), "loopback");
        s.rtt_ms = 100;
        assert_eq!(s.link_label(), "100 ms RTT");
        s.rtt_ms = 0;
        s.bandwidth_bit_s = Some(50_000_000);
        s.compression_offered = true;
        assert_eq!(
            s.link_label(),
            "50 Mbit/s link shared by all connections, each way, server offers COMPRESS=DEFLATE"
        );
    }
}

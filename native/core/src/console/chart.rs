//! The chart of messages copied over time, drawn server-side (SVG) from the store's report
//! lines: each pass's end line ("<email>: pass N finished: ...; X of Y items on the target",
//! written by the worker) says how many messages a user had on the target then.
//!
//! The time from the start to the last pass end is cut into buckets of a round size (a minute
//! up to a week) so that there are at most [`MAX_BUCKETS`]: a first sync of an hour shows
//! minutes, a batch synced incrementally for a month shows days. Per bucket the chart shows the
//! messages copied in it (a bar) and the messages on the target at its end (a step line, summed
//! over the users for a batch).

use chrono::{DateTime, TimeZone as _, Utc};
use serde::Serialize;
use serde_json::Value;

/// Buckets at most; the step is the smallest round size that keeps under it.
pub(super) const MAX_BUCKETS: i64 = 48;

/// Round bucket sizes in seconds, with their names.
const STEPS: &[(i64, &str)] = &[
    (60, "minute"),
    (300, "5 minutes"),
    (900, "15 minutes"),
    (1800, "30 minutes"),
    (3600, "hour"),
    (3 * 3600, "3 hours"),
    (6 * 3600, "6 hours"),
    (12 * 3600, "12 hours"),
    (86_400, "day"),
    (7 * 86_400, "week"),
];

const W: f64 = 600.0;
const H: f64 = 160.0;

/// One bucket's bar: the messages copied in it.
#[derive(Serialize, Debug)]
pub(super) struct Bar {
    x: u32,
    y: u32,
    w: u32,
    h: u32,
    title: String,
}

/// What the template draws (a 600 x 160 plot).
#[derive(Serialize, Debug)]
pub(super) struct Chart {
    /// The step line of messages on the target: SVG polyline points.
    pub(super) points: String,
    /// Bucket ends on the line, with their text.
    pub(super) dots: Vec<(u32, u32, String)>,
    pub(super) bars: Vec<Bar>,
    pub(super) first: String,
    pub(super) last: String,
    /// Messages on the target at the end (the line's scale).
    pub(super) max: u64,
    /// Most messages copied in one bucket (the bars' scale).
    pub(super) copied_max: u64,
    /// The bucket size, "15 minutes".
    pub(super) step: &'static str,
    pub(super) buckets: usize,
}

fn label(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn time_of(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.to_utc())
}

/// The pass ends in report `lines`: `(email, time, messages on the target)`.
pub(super) fn pass_ends(lines: &[Value]) -> Vec<(String, DateTime<Utc>, u64)> {
    let mut out = Vec::new();
    for l in lines {
        let message = l.get("Message").and_then(Value::as_str).unwrap_or("");
        let Some((email, rest)) = message.split_once(": pass ") else {
            continue;
        };
        if !rest.contains(" finished: ") {
            continue;
        }
        // The "; "-separated part that counts the items on the target (the line goes on with
        // the sessions the pass used).
        let on_target = rest
            .split("; ")
            .find_map(|part| part.strip_suffix(" items on the target"))
            .and_then(|t| t.split(" of ").next())
            .and_then(|n| n.trim().parse::<u64>().ok());
        if let (Some(t), Some(n)) = (l.get("CreationTime").and_then(time_of), on_target) {
            out.push((email.to_owned(), t, n));
        }
    }
    out
}

/// The chart of report `lines` (one user's or a whole batch's) from `started` (else the first
/// line's time), or None before the first pass end.
pub(super) fn chart(report: Option<&Value>, started: Option<&Value>) -> Option<Chart> {
    let lines = report?.as_array()?;
    let ends = pass_ends(lines);
    let start = started.and_then(time_of).or_else(|| {
        lines
            .iter()
            .find_map(|l| l.get("CreationTime").and_then(time_of))
    })?;
    build(start, &ends)
}

/// The chart of pass `ends` from `start`, every user at 0 then.
pub(super) fn build(start: DateTime<Utc>, ends: &[(String, DateTime<Utc>, u64)]) -> Option<Chart> {
    let last = ends.iter().map(|e| e.1).max()?;
    let start = start.min(ends.iter().map(|e| e.1).min()?);
    let span = (last - start).num_seconds().max(1);
    let &(step, step_name) = STEPS
        .iter()
        .find(|(s, _)| span / s < MAX_BUCKETS)
        .unwrap_or(&STEPS[STEPS.len() - 1]);
    // Buckets on round boundaries (whole minutes, hours, days in UTC).
    let b0 = start.timestamp().div_euclid(step) * step;
    let n = ((last.timestamp() - b0) / step + 1).max(1);
    let mut users: Vec<&str> = ends.iter().map(|e| e.0.as_str()).collect();
    users.sort_unstable();
    users.dedup();
    // Messages on the target at each bucket's end: per user its last pass end before it.
    let totals: Vec<u64> = (0..n)
        .map(|i| {
            let end = b0 + (i + 1) * step;
            users
                .iter()
                .map(|u| {
                    ends.iter()
                        .filter(|e| e.0 == *u && e.1.timestamp() < end)
                        .max_by_key(|e| e.1)
                        .map_or(0, |e| e.2)
                })
                .sum()
        })
        .collect();
    let copied: Vec<u64> = totals
        .iter()
        .enumerate()
        .map(|(i, t)| t.saturating_sub(if i == 0 { 0 } else { totals[i - 1] }))
        .collect();
    let max = totals.iter().copied().max().unwrap_or(0).max(1);
    let copied_max = copied.iter().copied().max().unwrap_or(0).max(1);
    let width = W / n as f64;
    let at = |i: i64| {
        Utc.timestamp_opt(b0 + i * step, 0)
            .single()
            .unwrap_or(start)
    };
    let y_of = |v: u64, scale: u64| (H - v as f64 / scale as f64 * H).round() as u32;
    let mut points = vec![format!("0,{}", H as u32)];
    let mut dots = Vec::new();
    let mut bars = Vec::new();
    for (i, (&total, &c)) in totals.iter().zip(&copied).enumerate() {
        let i = i as i64;
        let (x0, x1) = (
            (i as f64 * width).round() as u32,
            ((i + 1) as f64 * width).round() as u32,
        );
        let y = y_of(total, max);
        points.push(format!("{x0},{y}"));
        points.push(format!("{x1},{y}"));
        dots.push((x1, y, format!("{}: {total} messages", label(&at(i + 1)))));
        if c > 0 {
            let top = y_of(c, copied_max);
            bars.push(Bar {
                x: x0,
                y: top,
                w: (x1 - x0).saturating_sub(1).max(1),
                h: H as u32 - top,
                title: format!("{} to {}: {c} copied", label(&at(i)), label(&at(i + 1))),
            });
        }
    }
    Some(Chart {
        points: points.join(" "),
        dots,
        bars,
        first: label(&at(0)),
        last: label(&at(n)),
        max,
        copied_max,
        step: step_name,
        buckets: n as usize,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use serde_json::json;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn line(at: &str, email: &str, pass: u32, on_target: u64) -> Value {
        json!({
            "CreationTime": at,
            "Message": format!("{email}: pass {pass} finished: 3 copied, 0 flag updates, 0 skipped; {on_target} of 99 items on the target; 1 source and 1 target sessions"),
        })
    }

    #[test]
    fn a_first_sync_of_under_an_hour_is_drawn_in_five_minutes() {
        let report = json!([
            { "CreationTime": "2026-01-05T10:00:10Z", "Message": "ann@x: started" },
            line("2026-01-05T10:20:00Z", "ann@x", 1, 600),
            line("2026-01-05T10:50:00Z", "ann@x", 2, 900),
        ]);
        let c = chart(Some(&report), None).unwrap();
        assert_eq!(
            c.step, "5 minutes",
            "50 minutes in minutes would be over 48 buckets"
        );
        assert_eq!(c.buckets, 11);
        assert_eq!(c.first, "2026-01-05T10:00:00Z", "round boundaries");
        assert_eq!(c.max, 900);
        assert_eq!(c.copied_max, 600);
        assert_eq!(c.bars.len(), 2, "one bar per bucket that copied something");
        assert!(c.bars[1].title.ends_with(": 300 copied"), "{:?}", c.bars);
        assert!(
            c.dots
                .iter()
                .any(|d| d.2 == "2026-01-05T10:55:00Z: 900 messages")
        );
        assert!(
            c.bars[0]
                .title
                .starts_with("2026-01-05T10:20:00Z to 2026-01-05T10:25:00Z")
        );
    }

    #[test]
    fn a_month_of_incremental_syncs_is_drawn_in_days() {
        let mut lines = Vec::new();
        for day in 1..=30 {
            for hour in [0, 8, 16] {
                let n = u64::from(day * 3 + hour / 8) * 10;
                lines.push(line(
                    &format!("2026-03-{day:02}T{hour:02}:30:00Z"),
                    "bob@x",
                    day * 3 + hour / 8,
                    n,
                ));
            }
        }
        let c = build(t("2026-03-01T00:00:00Z"), &pass_ends(&lines)).unwrap();
        assert_eq!(c.step, "day");
        assert!(c.buckets as i64 <= MAX_BUCKETS);
        assert_eq!(c.buckets, 30);
        // Each day's three passes land in its one bucket.
        assert_eq!(
            c.copied_max, 50,
            "the first day ends at pass 5 with 50 messages"
        );
    }

    #[test]
    fn a_batch_sums_its_users_at_each_bucket_end() {
        let lines = vec![
            line("2026-01-05T10:01:00Z", "ann@x", 1, 100),
            line("2026-01-05T10:03:30Z", "bob@x", 1, 50),
            line("2026-01-05T10:04:10Z", "ann@x", 2, 120),
        ];
        let c = build(t("2026-01-05T10:00:00Z"), &pass_ends(&lines)).unwrap();
        assert_eq!(c.step, "minute");
        assert_eq!(c.max, 170, "ann's last count and bob's");
        let last = c.dots.last().unwrap();
        assert!(last.2.ends_with(": 170 messages"), "{last:?}");
        assert!(c.dots.iter().any(|d| d.2.ends_with(": 150 messages")));
    }

    #[test]
    fn no_pass_end_no_chart() {
        let report =
            json!([{ "CreationTime": "2026-01-05T10:00:10Z", "Message": "ann@x: started" }]);
        assert!(chart(Some(&report), None).is_none());
    }
}

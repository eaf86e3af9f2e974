//! `-ContentFilter` for IMAP migrations: Exchange OPATH restricted to `Received` comparisons.
//!
//! Exchange accepts, for IMAP batches, filters such as
//! `Received -gt '8/23/2015' -and Received -lt '8/23/2020'`. We read exactly that subset:
//! `Received` compared with `-gt -ge -lt -le -eq` to a quoted date, clauses joined by `-and`,
//! optional parentheses or braces around the whole filter or a clause. Anything else (`-or`,
//! `-not`, other properties, `-like`) is refused with an error naming the part, rather than
//! silently widening or narrowing what is copied.
//!
//! Dates are read as Exchange reads them with its default (en-US) culture: `M/d/yyyy`, optionally
//! with `H:mm[:ss]` or `h:mm[:ss] AM|PM`, and ISO 8601 (`yyyy-MM-dd`, `yyyy-MM-ddTHH:mm[:ss]`, with
//! `Z` or an offset). A date without an offset is taken as UTC. The property compared is the
//! message's INTERNALDATE (RFC 3501 §2.3.3), which is what "Received" means on an IMAP source.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

use super::Error;

/// A comparison operator of the filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `-gt`: received strictly after the instant (a date alone is its midnight UTC).
    Gt,
    /// `-ge`: received at or after the instant.
    Ge,
    /// `-lt`: received strictly before the instant.
    Lt,
    /// `-le`: received at or before the instant.
    Le,
    /// `-eq`: received within the UTC day of a date alone, else at exactly that second.
    Eq,
}

/// One `Received <op> <date>` clause. For `-eq` with a date that has no time of day, the clause
/// matches the whole UTC day (`[start, end)`); otherwise `start == end` is the instant compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedClause {
    /// How the message's INTERNALDATE is compared with `at`.
    pub op: CmpOp,
    /// Unix seconds, UTC.
    pub at: i64,
    /// End of the day for a date-only `-eq`, else equal to `at`.
    pub until: i64,
}

/// A parsed `-ContentFilter`: every clause must hold (they are joined by `-and`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceivedFilter {
    /// The clauses in the order written; empty admits every message.
    pub clauses: Vec<ReceivedClause>,
}

impl ReceivedFilter {
    /// Whether a message received (INTERNALDATE) at `received` (unix seconds) passes the filter.
    pub fn matches(&self, received: i64) -> bool {
        self.clauses.iter().all(|c| match c.op {
            CmpOp::Gt => received > c.at,
            CmpOp::Ge => received >= c.at,
            CmpOp::Lt => received < c.at,
            CmpOp::Le => received <= c.at,
            CmpOp::Eq if c.until > c.at => received >= c.at && received < c.until,
            CmpOp::Eq => received == c.at,
        })
    }
}

fn unsupported(part: &str, why: &str) -> Error {
    Error::InvalidFilter(format!("unsupported content filter part '{part}': {why}"))
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Open,
    Close,
}

fn tokenize(s: &str) -> Result<Vec<Token>, Error> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | '{' => {
                chars.next();
                out.push(Token::Open);
            }
            ')' | '}' => {
                chars.next();
                out.push(Token::Close);
            }
            '\'' | '"' | '\u{2018}' | '\u{2019}' | '\u{201c}' | '\u{201d}' => {
                chars.next();
                let close: &[char] = match c {
                    '\'' | '\u{2018}' | '\u{2019}' => &['\'', '\u{2018}', '\u{2019}'],
                    _ => &['"', '\u{201c}', '\u{201d}'],
                };
                let mut v = String::new();
                let mut closed = false;
                while let Some(ch) = chars.next() {
                    if close.contains(&ch) {
                        // PowerShell doubles a quote to escape it inside a quoted string.
                        if chars.peek() == Some(&ch) {
                            chars.next();
                            v.push(ch);
                            continue;
                        }
                        closed = true;
                        break;
                    }
                    v.push(ch);
                }
                if !closed {
                    return Err(unsupported(&format!("{c}{v}"), "unterminated quoted value"));
                }
                out.push(Token::Quoted(v));
            }
            _ => {
                let mut w = String::new();
                while let Some(&ch) = chars.peek() {
                    if ch.is_whitespace() || "(){}'\"".contains(ch) {
                        break;
                    }
                    w.push(ch);
                    chars.next();
                }
                out.push(Token::Word(w));
            }
        }
    }
    Ok(out)
}

/// Parses an Exchange `-ContentFilter` (OPATH) string for IMAP migrations.
///
/// ```
/// use imapmigration::engine::parse_content_filter;
/// let f = parse_content_filter("Received -gt '8/23/2015' -and Received -lt '8/23/2020'").unwrap();
/// assert!(f.matches(1_500_000_000)); // 2017-07-14
/// assert!(!f.matches(1_400_000_000)); // 2014-05-13
/// ```
pub fn parse_content_filter(opath: &str) -> Result<ReceivedFilter, Error> {
    let tokens = tokenize(opath)?;
    // Parentheses only group; with `-and` alone grouping never changes the meaning, so they only
    // have to balance.
    let mut depth = 0i32;
    let mut flat = Vec::new();
    for t in tokens {
        match t {
            Token::Open => depth += 1,
            Token::Close => {
                depth -= 1;
                if depth < 0 {
                    return Err(unsupported(")", "unbalanced parenthesis"));
                }
            }
            other => flat.push(other),
        }
    }
    if depth != 0 {
        return Err(unsupported("(", "unbalanced parenthesis"));
    }
    if flat.is_empty() {
        return Err(Error::InvalidFilter("the content filter is empty".into()));
    }
    let mut clauses = Vec::new();
    let mut it = flat.into_iter();
    loop {
        let prop = match it.next() {
            Some(Token::Word(w)) => w,
            Some(Token::Quoted(q)) => {
                return Err(unsupported(&q, "expected the property Received"));
            }
            _ => {
                return Err(Error::InvalidFilter(
                    "the content filter ends after -and".into(),
                ));
            }
        };
        if !prop.eq_ignore_ascii_case("Received") {
            let why = if prop.starts_with('-') {
                "expected the property Received"
            } else {
                "only Received can be filtered in IMAP migrations"
            };
            return Err(unsupported(&prop, why));
        }
        let op = match it.next() {
            Some(Token::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "-gt" => CmpOp::Gt,
                "-ge" => CmpOp::Ge,
                "-lt" => CmpOp::Lt,
                "-le" => CmpOp::Le,
                "-eq" => CmpOp::Eq,
                _ => return Err(unsupported(&w, "operators are -gt, -ge, -lt, -le and -eq")),
            },
            _ => {
                return Err(unsupported(
                    &prop,
                    "a comparison operator must follow Received",
                ));
            }
        };
        let value = match it.next() {
            Some(Token::Quoted(v)) | Some(Token::Word(v)) if !v.starts_with('-') => v,
            Some(Token::Word(v)) => return Err(unsupported(&v, "a date must follow the operator")),
            _ => {
                return Err(Error::InvalidFilter(
                    "a date must follow the operator".into(),
                ));
            }
        };
        let (at, date_only) = parse_date(&value)?;
        // `-gt '8/23/2015'` compares with midnight, as Exchange does ("after 2015-08-23 00:00");
        // only `-eq` with a bare date spans the day, since an exact-second match is never meant.
        let until = if op == CmpOp::Eq && date_only {
            at + 86_400
        } else {
            at
        };
        clauses.push(ReceivedClause { op, at, until });
        match it.next() {
            None => break,
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("-and") => continue,
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("-or") => {
                return Err(unsupported(&w, "only -and can join Received comparisons"));
            }
            Some(Token::Word(w)) | Some(Token::Quoted(w)) => {
                return Err(unsupported(&w, "expected -and between comparisons"));
            }
            Some(_) => return Err(unsupported("(", "expected -and between comparisons")),
        }
    }
    Ok(ReceivedFilter { clauses })
}

/// Parses a date the way Exchange's en-US culture does; returns unix seconds (UTC) and whether
/// the value had no time of day.
fn parse_date(v: &str) -> Result<(i64, bool), Error> {
    let s = v.trim();
    let bad = || {
        Error::InvalidFilter(format!(
            "unsupported content filter part '{v}': dates are M/d/yyyy [H:mm[:ss] [AM|PM]] or ISO 8601 yyyy-MM-dd[THH:mm[:ss][Z|+hh:mm]]"
        ))
    };
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Ok((dt.timestamp(), false));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%:z",
        "%Y-%m-%dT%H:%M%:z",
        "%Y-%m-%d %H:%M:%S%:z",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(s, f) {
            return Ok((dt.timestamp(), false));
        }
    }
    let naive_dt = [
        "%Y-%m-%dT%H:%M:%SZ",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%MZ",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%m/%d/%Y %H:%M:%S",
        "%m/%d/%Y %H:%M",
        "%m/%d/%Y %I:%M:%S %p",
        "%m/%d/%Y %I:%M %p",
    ];
    for f in naive_dt {
        if let Ok(ndt) = NaiveDateTime::parse_from_str(s, f) {
            return Ok((Utc.from_utc_datetime(&ndt).timestamp(), false));
        }
    }
    for f in ["%Y-%m-%d", "%m/%d/%Y"] {
        if let Ok(d) = NaiveDate::parse_from_str(s, f) {
            let ndt = d.and_time(NaiveTime::MIN);
            return Ok((Utc.from_utc_datetime(&ndt).timestamp(), true));
        }
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
        Utc.with_ymd_and_hms(y, m, d, h, mi, s)
            .single()
            .map(|t| t.timestamp())
            .unwrap_or_default()
    }

    #[test]
    fn exchange_example_range() {
        let f = parse_content_filter("Received -gt '8/23/2015' -and Received -lt '8/23/2020'")
            .expect("valid filter");
        assert_eq!(f.clauses.len(), 2);
        assert!(!f.matches(ts(2015, 8, 23, 0, 0, 0)));
        assert!(f.matches(ts(2015, 8, 23, 0, 0, 1)));
        assert!(f.matches(ts(2020, 8, 22, 23, 59, 59)));
        assert!(!f.matches(ts(2020, 8, 23, 0, 0, 0)));
    }

    #[test]
    fn iso_and_times_and_case() {
        let f = parse_content_filter("received -GE \"2021-03-04T10:00:00Z\"").expect("valid");
        assert!(f.matches(ts(2021, 3, 4, 10, 0, 0)));
        assert!(!f.matches(ts(2021, 3, 4, 9, 59, 59)));
        let f = parse_content_filter("Received -le '2021-03-04T12:00:00+02:00'").expect("valid");
        assert!(f.matches(ts(2021, 3, 4, 10, 0, 0)));
        assert!(!f.matches(ts(2021, 3, 4, 10, 0, 1)));
        let f = parse_content_filter("Received -lt '3/4/2021 2:30 PM'").expect("valid");
        assert!(f.matches(ts(2021, 3, 4, 14, 29, 59)));
        assert!(!f.matches(ts(2021, 3, 4, 14, 30, 0)));
        let f = parse_content_filter("Received -ge '12/31/2020 23:15'").expect("valid");
        assert!(f.matches(ts(2020, 12, 31, 23, 15, 0)));
    }

    #[test]
    fn eq_with_a_date_spans_the_day() {
        let f = parse_content_filter("Received -eq '2020-02-29'").expect("valid");
        assert!(f.matches(ts(2020, 2, 29, 0, 0, 0)));
        assert!(f.matches(ts(2020, 2, 29, 23, 59, 59)));
        assert!(!f.matches(ts(2020, 3, 1, 0, 0, 0)));
        assert!(!f.matches(ts(2020, 2, 28, 23, 59, 59)));
    }

    #[test]
    fn parentheses_and_braces() {
        let f = parse_content_filter("{(Received -gt '1/1/2020') -and (Received -lt '1/1/2021')}")
            .expect("valid");
        assert_eq!(f.clauses.len(), 2);
        assert!(parse_content_filter("(Received -gt '1/1/2020'").is_err());
    }

    #[test]
    fn refusals_name_the_part() {
        let cases = [
            ("Subject -like '*x*'", "Subject"),
            ("Received -gt '1/1/2020' -or Received -lt '1/1/2010'", "-or"),
            ("Received -like '1/1/2020'", "-like"),
            ("Received -gt 'yesterday'", "yesterday"),
            ("-not (Received -gt '1/1/2020')", "-not"),
            (
                "Received -gt '1/1/2020' Received -lt '1/1/2021'",
                "Received",
            ),
            ("Received -gt '13/1/2020'", "13/1/2020"),
        ];
        for (input, part) in cases {
            let e = parse_content_filter(input).expect_err(input).to_string();
            assert!(e.contains(part), "{input}: {e}");
        }
        assert!(parse_content_filter("").is_err());
        assert!(parse_content_filter("Received -gt").is_err());
        assert!(parse_content_filter("Received -gt '1/1/2020' -and").is_err());
    }
}

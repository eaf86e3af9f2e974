//! Deterministic message and mailbox generators.
//!
//! The same spec and seed always give the same bytes (a SplitMix64 generator of our own, so
//! the output does not change with a `rand` upgrade). Profiles:
//! - `one`: the benchmark mailbox, 2,500 messages in 7 folders (INBOX, `Projects/2024`,
//!   `Projects/2025`, Sent, Trash, Archive, `Résumé`), sizes 70 % ~3 KB, 25 % ~30 KB, 5 % ~270 KB
//!   (base64 attachment), plus the special messages below (counted within INBOX);
//! - `small`: 60 small messages in 6 folders (including `a.b` and `Résumé/Ünter`) + specials;
//! - `many`: 10,000 small messages in 10 folders.
//!
//! Special messages (in INBOX, when `specials` is on): one with raw UTF-8 (8-bit) headers, one
//! with bare LF line ends, one without Message-ID, two byte-identical duplicates.

use crate::maildir::{SeedFolder, SeedMessage};

/// SplitMix64: tiny, fast, and stable across crate versions.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Message sizes of a generated mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeProfile {
    /// 70 % ~3 KB, 25 % ~30 KB, 5 % ~270 KB with a base64 attachment.
    Bench,
    /// All ~2 KB.
    Small,
    /// All about this many bytes.
    Fixed(usize),
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxSpec {
    /// Folder name (UTF-8, `/`-separated) and message count.
    pub folders: Vec<(String, usize)>,
    /// How large the generated messages are.
    pub sizes: SizeProfile,
    /// Seed of the generator: the same spec and seed give the same bytes.
    pub seed: u64,
    /// Include the special messages in INBOX (they count toward INBOX's number).
    pub specials: bool,
    /// INTERNALDATEs are spread over the year starting here (unix seconds).
    pub start_date: i64,
}

/// 2024-01-01T00:00:00Z.
pub const START_2024: i64 = 1_704_067_200;

impl MailboxSpec {
    /// Total messages.
    pub fn message_count(&self) -> usize {
        self.folders.iter().map(|(_, n)| n).sum()
    }
}

/// Profile names the binary accepts.
pub const PROFILES: &[&str] = &["one", "small", "many"];

/// A named profile (`one`, `small`, `many`).
pub fn profile(name: &str) -> Option<MailboxSpec> {
    let f = |v: &[(&str, usize)]| {
        v.iter()
            .map(|(n, c)| (n.to_string(), *c))
            .collect::<Vec<_>>()
    };
    match name {
        "one" => Some(MailboxSpec {
            folders: f(&[
                ("INBOX", 1000),
                ("Projects/2024", 300),
                ("Projects/2025", 300),
                ("Sent", 400),
                ("Trash", 150),
                ("Archive", 250),
                ("Résumé", 100),
            ]),
            sizes: SizeProfile::Bench,
            seed: 1,
            specials: true,
            start_date: START_2024,
        }),
        "small" => Some(MailboxSpec {
            folders: f(&[
                ("INBOX", 20),
                ("Sent", 10),
                ("Projects/2024", 10),
                ("a.b", 5),
                ("Résumé/Ünter", 5),
                ("Archive", 10),
            ]),
            sizes: SizeProfile::Small,
            seed: 2,
            specials: true,
            start_date: START_2024,
        }),
        "many" => Some(MailboxSpec {
            folders: (0..10)
                .map(|i| {
                    (
                        if i == 0 {
                            "INBOX".to_string()
                        } else {
                            format!("Folder {i:02}")
                        },
                        1000,
                    )
                })
                .collect(),
            sizes: SizeProfile::Small,
            seed: 3,
            specials: false,
            start_date: START_2024,
        }),
        _ => None,
    }
}

/// The benchmark mailbox (profile `one`).
pub fn one() -> MailboxSpec {
    // Invariant: "one" is a profile defined just above.
    profile("one").unwrap_or_else(|| unreachable!())
}

const WORDS: &[&str] = &[
    "migration",
    "mailbox",
    "folder",
    "server",
    "message",
    "budget",
    "review",
    "meeting",
    "project",
    "deadline",
    "report",
    "invoice",
    "quarter",
    "schedule",
    "draft",
    "update",
    "customer",
    "delivery",
    "contract",
    "question",
    "the",
    "and",
    "for",
    "with",
    "please",
    "thanks",
    "regards",
    "attached",
    "tomorrow",
    "today",
    "next",
    "week",
    "team",
    "plan",
    "status",
    "call",
    "notes",
    "summary",
    "issue",
    "release",
    "test",
    "data",
    "about",
    "from",
];

const NAMES: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
];

fn words(rng: &mut Rng, approx_bytes: usize) -> String {
    let mut s = String::with_capacity(approx_bytes + 80);
    let mut line = 0;
    while s.len() < approx_bytes {
        let w = WORDS[rng.below(WORDS.len() as u64) as usize];
        s.push_str(w);
        line += w.len() + 1;
        if line > 70 {
            s.push_str("\r\n");
            line = 0;
        } else {
            s.push(' ');
        }
    }
    s.push_str("\r\n");
    s
}

fn rfc2822(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .map(|d| d.format("%a, %d %b %Y %H:%M:%S +0000").to_string())
        .unwrap_or_else(|| "Thu, 01 Jan 1970 00:00:00 +0000".into())
}

fn base64_lines(data: &[u8]) -> String {
    use base64::Engine as _;
    let b = base64::engine::general_purpose::STANDARD.encode(data);
    let mut out = String::with_capacity(b.len() + b.len() / 76 * 2 + 2);
    for chunk in b.as_bytes().chunks(76) {
        // Invariant: base64 output is ASCII, so any chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push_str("\r\n");
    }
    out
}

/// Headers and parameters of one generated message.
#[derive(Debug, Clone)]
pub struct MessageParams {
    /// The `Message-ID` header value with angle brackets; `None` leaves the header out.
    pub message_id: Option<String>,
    /// The `Date` header, unix seconds, written in UTC.
    pub date: i64,
    /// The `From` header value, written as given.
    pub from: String,
    /// The `To` header value, written as given.
    pub to: String,
    /// The `Subject` header value, written as given (no RFC 2047 encoding).
    pub subject: String,
    /// Approximate total size in bytes.
    pub size: usize,
    /// Add a base64 `application/octet-stream` attachment of most of `size`.
    pub attachment: bool,
}

/// One CRLF message with the given parameters; body text from `rng`.
pub fn message(rng: &mut Rng, p: &MessageParams) -> Vec<u8> {
    let mut m = String::new();
    if let Some(id) = &p.message_id {
        m.push_str(&format!("Message-ID: {id}\r\n"));
    }
    m.push_str(&format!(
        "Date: {}\r\nFrom: {}\r\nTo: {}\r\nSubject: {}\r\nMIME-Version: 1.0\r\n",
        rfc2822(p.date),
        p.from,
        p.to,
        p.subject
    ));
    if p.attachment {
        let boundary = format!("=_b{:016x}", rng.next_u64());
        let text = words(rng, 600);
        let header_len = m.len() + 400 + text.len();
        let att_len = (p.size.saturating_sub(header_len)) * 3 / 4;
        let mut data = vec![0u8; att_len];
        rng.fill(&mut data);
        m.push_str(&format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\nThis is a multi-part message in MIME format.\r\n\r\n"));
        m.push_str(&format!("--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n{text}\r\n"));
        m.push_str(&format!(
            "--{boundary}\r\nContent-Type: application/octet-stream; name=\"data-{:08x}.bin\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"data-{:08x}.bin\"\r\n\r\n",
            rng.next_u64() as u32,
            rng.next_u64() as u32
        ));
        m.push_str(&base64_lines(&data));
        m.push_str(&format!("--{boundary}--\r\n"));
    } else {
        m.push_str(
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n",
        );
        let body = p.size.saturating_sub(m.len()).max(40);
        m.push_str(&words(rng, body));
    }
    m.into_bytes()
}

/// A message of about `bytes` bytes (most of it a base64 attachment), e.g. 40 MB for
/// large-item tests. Deterministic for a given `seed`.
pub fn big_message(bytes: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    message(
        &mut rng,
        &MessageParams {
            message_id: Some(format!("<big-{bytes}-{seed}@testkit.imapmigration>")),
            date: START_2024,
            from: "Big Sender <big@example.com>".into(),
            to: "alice@example.com".into(),
            subject: format!("big message of {bytes} bytes"),
            size: bytes,
            attachment: true,
        },
    )
}

fn flags_for(rng: &mut Rng, folder: &str) -> Vec<String> {
    let mut f = Vec::new();
    if folder == "Sent" || rng.chance(60) {
        f.push("\\Seen".to_string());
    }
    if rng.chance(10) {
        f.push("\\Flagged".to_string());
    }
    if rng.chance(5) {
        f.push("\\Answered".to_string());
    }
    if rng.chance(2) {
        f.push("$Forwarded".to_string());
    }
    f.sort();
    f
}

/// The special messages (8-bit headers, bare LF, no Message-ID, two identical duplicates).
pub fn special_messages(seed: u64, date: i64) -> Vec<SeedMessage> {
    let eight_bit = format!(
        "Message-ID: <8bit-{seed}@testkit.imapmigration>\r\nDate: {}\r\nFrom: Jürgen Müller <juergen@example.de>\r\nTo: Zoë Ørsted <zoe@example.dk>\r\nSubject: Grüße aus Köln — ünïcödé ✓\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nRaw UTF-8 in the headers and the body: Größe, café, 日本語.\r\n",
        rfc2822(date)
    );
    let bare_lf = format!(
        "Message-ID: <barelf-{seed}@testkit.imapmigration>\nDate: {}\nFrom: unix@example.com\nTo: alice@example.com\nSubject: bare LF line ends\n\nThis message uses LF only.\nDovecot serves it with CRLF.\n",
        rfc2822(date + 60)
    );
    let no_id = format!(
        "Date: {}\r\nFrom: noid@example.com\r\nTo: alice@example.com\r\nSubject: no Message-ID header\r\n\r\nIdentified by content hash only.\r\n",
        rfc2822(date + 120)
    );
    let dup = format!(
        "Message-ID: <dup-{seed}@testkit.imapmigration>\r\nDate: {}\r\nFrom: dup@example.com\r\nTo: alice@example.com\r\nSubject: duplicate\r\n\r\nThis exact message is stored twice.\r\n",
        rfc2822(date + 180)
    );
    vec![
        SeedMessage {
            bytes: eight_bit.into_bytes(),
            flags: vec!["\\Seen".into()],
            internal_date: date,
        },
        SeedMessage {
            bytes: bare_lf.into_bytes(),
            flags: vec![],
            internal_date: date + 60,
        },
        SeedMessage {
            bytes: no_id.into_bytes(),
            flags: vec!["\\Flagged".into()],
            internal_date: date + 120,
        },
        SeedMessage {
            bytes: dup.clone().into_bytes(),
            flags: vec!["\\Seen".into()],
            internal_date: date + 180,
        },
        SeedMessage {
            bytes: dup.into_bytes(),
            flags: vec!["\\Seen".into()],
            internal_date: date + 180,
        },
    ]
}

/// Generates the folders and messages of a spec.
pub fn generate_mailbox(spec: &MailboxSpec) -> Vec<SeedFolder> {
    let mut rng = Rng::new(spec.seed);
    let total = spec.message_count().max(1) as i64;
    let span = 365 * 24 * 3600 / total;
    let mut counter: i64 = 0;
    let mut out = Vec::with_capacity(spec.folders.len());
    for (fi, (name, count)) in spec.folders.iter().enumerate() {
        let mut messages = Vec::with_capacity(*count);
        let mut regular = *count;
        if spec.specials && name == "INBOX" {
            let sp = special_messages(spec.seed, spec.start_date + 3600);
            let take = sp.len().min(*count);
            regular -= take;
            messages.extend(sp.into_iter().take(take));
        }
        for i in 0..regular {
            counter += 1;
            let date = spec.start_date + counter * span + rng.below(span.max(1) as u64) as i64;
            let (size, attachment) = match spec.sizes {
                SizeProfile::Bench => match rng.below(100) {
                    0..70 => (2_500 + rng.below(1_000) as usize, false),
                    70..95 => (27_000 + rng.below(6_000) as usize, false),
                    _ => (255_000 + rng.below(30_000) as usize, true),
                },
                SizeProfile::Small => (1_500 + rng.below(1_000) as usize, false),
                SizeProfile::Fixed(n) => (n, n > 100_000),
            };
            let from = NAMES[rng.below(NAMES.len() as u64) as usize];
            let to = NAMES[rng.below(NAMES.len() as u64) as usize];
            let subject = format!(
                "{} {} #{}",
                WORDS[rng.below(20) as usize],
                WORDS[rng.below(20) as usize],
                counter
            );
            let params = MessageParams {
                message_id: Some(format!("<{:x}.{fi}.{i}@testkit.imapmigration>", spec.seed)),
                // The Date header is a little older than the arrival time, as in real mail.
                date: date - rng.below(300) as i64,
                from: format!("{} <{from}@example.com>", capitalise(from)),
                to: format!("{to}@example.com"),
                subject,
                size,
                attachment,
            };
            let bytes = message(&mut rng, &params);
            messages.push(SeedMessage {
                bytes,
                flags: flags_for(&mut rng, name),
                internal_date: date,
            });
        }
        out.push(SeedFolder {
            name: name.clone(),
            messages,
        });
    }
    out
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn profile_one_has_the_promised_shape() {
        let spec = one();
        let folders = generate_mailbox(&spec);
        let all: Vec<&SeedMessage> = folders.iter().flat_map(|f| &f.messages).collect();
        assert_eq!(all.len(), 2500);
        assert_eq!(folders.len(), 7);
        let big = all.iter().filter(|m| m.bytes.len() > 200_000).count();
        let mid = all
            .iter()
            .filter(|m| (20_000..200_000).contains(&m.bytes.len()))
            .count();
        assert!((80..180).contains(&big), "big {big}");
        assert!((500..750).contains(&mid), "mid {mid}");
        // Unique Message-IDs except the deliberate duplicate pair and the one without.
        let ids: Vec<String> = all
            .iter()
            .filter_map(|m| {
                let s = String::from_utf8_lossy(&m.bytes);
                s.lines()
                    .find(|l| l.starts_with("Message-ID:"))
                    .map(str::to_string)
            })
            .collect();
        assert_eq!(ids.len(), 2499);
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 2498);
        // Deterministic.
        assert_eq!(generate_mailbox(&spec), folders);
    }

    #[test]
    fn big_message_is_about_the_asked_size() {
        let m = big_message(1_000_000, 7);
        assert!((950_000..1_050_000).contains(&m.len()), "{}", m.len());
        assert_eq!(m, big_message(1_000_000, 7));
    }
}

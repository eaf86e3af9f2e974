//! Shared helpers of the `engine_*` integration tests: a state store with one user, jobs
//! against throwaway Dovecot instances, deterministic messages, and a view of a mailbox as an
//! IMAP client sees it (so a Maildir target is checked through Dovecot serving it).
//!
//! Included by each `engine_*.rs` with `#[path = "engine_support.rs"] mod support;`; compiled on
//! its own as well, as an empty test crate.
#![allow(
    dead_code,
    reason = "each engine_* test crate uses only some of the helpers"
)]
#![allow(
    clippy::expect_used,
    reason = "test helpers fail the test by panicking"
)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use imapmigration::engine::{
    Progress, SourceSpec, SyncOptions, TargetSpec, UserJob, UserOutcome, sync_user,
};
use imapmigration_imap as imap;
use imapmigration_store::csv_import::CsvUser;
use imapmigration_store::{BatchRecord, EndpointRecord, Store};
use imapmigration_testkit::{Dovecot, DovecotOptions, SeedFolder, SeedMessage, SpecialUseNames};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

/// The password of every user on the test Dovecot instances and of the store's one user.
pub const PASSWORD: &str = "secret";
/// 2023-11-14T22:13:20Z: messages are dated from here, an hour apart.
pub const T0: i64 = 1_700_000_000;

/// A state directory with one batch and one user.
pub struct Env {
    /// Holds the state directory (`home`); removed when dropped, so keep the `Env` alive.
    pub dir: tempfile::TempDir,
    /// The state store opened on it.
    pub store: Arc<Store>,
    /// The `users.id` of the batch's one user (alice@example.com): every job's `user_id`.
    pub user_id: String,
}

/// A fresh state directory: endpoint `source` (127.0.0.1), batch `batch`, and one user,
/// alice@example.com with [`PASSWORD`].
pub fn env() -> Env {
    trace_if_asked();
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("home")).expect("open store");
    let ep = EndpointRecord::new("source", "127.0.0.1");
    store.insert_endpoint(&ep).expect("endpoint");
    let batch = BatchRecord::new("batch", ep.id);
    let users = store
        .insert_batch(
            &batch,
            &[CsvUser {
                row_index: 1,
                email_address: "alice@example.com".into(),
                user_name: "alice".into(),
                password: imapmigration_store::SecretString::from(PASSWORD),
                user_root: None,
            }],
        )
        .expect("batch");
    Env {
        dir,
        store: Arc::new(store),
        user_id: users[0].id.to_string(),
    }
}

/// Starts a Dovecot with these special-use folder names and these users, each with
/// [`PASSWORD`]; panics when Dovecot is not installed.
pub fn dovecot(names: SpecialUseNames, users: &[&str]) -> Dovecot {
    let mut opts = DovecotOptions::default().special_use(names);
    for u in users {
        opts = opts.user(u, PASSWORD);
    }
    Dovecot::start(opts).expect("start dovecot (apt-get install dovecot-imapd)")
}

/// Implicit TLS with the instance's test CA.
pub fn server(d: &Dovecot) -> imap::ServerConfig {
    let mut s = imap::ServerConfig::new("localhost", d.imaps_port(), imap::Security::Ssl);
    s.ca_file = Some(d.ca_file());
    s
}

/// IMAP `LOGIN` credentials.
pub fn creds(user: &str, password: &str) -> imap::Credentials {
    imap::Credentials::Login {
        user: user.into(),
        password: imap::SecretString::from(password),
    }
}

/// `user` on `d` as a job's source: implicit TLS, [`PASSWORD`], no `UserRoot`, personal
/// namespace only.
pub fn source(d: &Dovecot, user: &str) -> SourceSpec {
    SourceSpec {
        server: server(d),
        credentials: creds(user, PASSWORD),
        user_root: None,
        include_other_namespaces: false,
    }
}

/// A job copying `user`'s mailbox on `src` into the Maildir at `root`, with default options;
/// its state is kept under the `Env`'s user whatever `user` is.
pub fn maildir_job(env: &Env, src: &Dovecot, user: &str, root: &Path) -> UserJob {
    UserJob {
        user_id: env.user_id.clone(),
        email: format!("{user}@example.com"),
        source: source(src, user),
        target: TargetSpec::Maildir {
            root: root.to_path_buf(),
        },
        options: SyncOptions::default(),
    }
}

/// A job copying `user`'s mailbox on `src` into `dst_user`'s on `dst` (`LOGIN` with
/// [`PASSWORD`]), with default options; its state is kept under the `Env`'s user.
pub fn imap_job(env: &Env, src: &Dovecot, user: &str, dst: &Dovecot, dst_user: &str) -> UserJob {
    UserJob {
        user_id: env.user_id.clone(),
        email: format!("{user}@example.com"),
        source: source(src, user),
        target: TargetSpec::Imap {
            server: server(dst),
            credentials: creds(dst_user, PASSWORD),
        },
        options: SyncOptions::default(),
    }
}

/// Counts what the engine reports; optionally cancels after `cancel_after` copied messages.
#[derive(Default)]
pub struct Counting {
    /// Messages reported copied so far.
    pub copied: AtomicU64,
    /// Messages reported skipped (too large, refused) so far.
    pub skipped: AtomicU64,
    /// Cancels the token once at least this many messages were reported copied.
    pub cancel_after: Option<(u64, CancellationToken)>,
}

impl Progress for Counting {
    fn folder_started(&self, _: &str, _: u64, _: u64) {}
    fn copied(&self, items: u64, _: u64) {
        let n = self.copied.fetch_add(items, Ordering::SeqCst) + items;
        if let Some((after, token)) = &self.cancel_after
            && n >= *after
        {
            token.cancel();
        }
    }
    fn skipped(&self, n: u64) {
        self.skipped.fetch_add(n, Ordering::SeqCst);
    }
}

/// With `RUST_LOG` set, the engine's log goes to the test's stderr (shown for a failing test),
/// so a failure seen once under load can be read afterwards.
fn trace_if_asked() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
}

/// One pass of `job`, never cancelled; panics with the error's code and message when the pass
/// fails.
pub async fn sync(env: &Env, job: &UserJob) -> UserOutcome {
    sync_user(
        job,
        &env.store,
        &CancellationToken::new(),
        &Counting::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("sync failed ({}): {e}", e.code()))
}

/// A plain CRLF message with a Message-ID.
pub fn message(n: usize, subject: &str) -> Vec<u8> {
    format!(
        "Message-ID: <m{n}.{}@test.example>\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n\
         From: Sender {n} <sender{n}@example.com>\r\nTo: alice@example.com\r\nSubject: {subject}\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBody of message {n}.\r\n",
        subject.replace(' ', "-")
    )
    .into_bytes()
}

/// [`message`] `n` with these flags, its INTERNALDATE `n` hours after [`T0`].
pub fn seed_msg(n: usize, subject: &str, flags: &[&str]) -> SeedMessage {
    SeedMessage::new(message(n, subject), flags, T0 + n as i64 * 3600)
}

/// One message as an IMAP client sees it: SHA-256 of `BODY[]`, flags (no `\Recent`), date.
pub type Served = BTreeMap<String, Vec<(String, Vec<String>, i64)>>;

/// Every selectable folder with its messages, read over IMAP (EXAMINE, BODY.PEEK[]).
pub async fn served(d: &Dovecot, user: &str, password: &str) -> Served {
    let mut s = imap::connect(&server(d), &creds(user, password))
        .await
        .expect("connect");
    let mut out = Served::new();
    for f in s.list_folders().await.expect("list") {
        if f.noselect {
            continue;
        }
        let info = s.examine(&f.name).await.expect("examine");
        let mut msgs = Vec::new();
        if info.exists > 0 {
            let mut st = std::pin::pin!(s.fetch_bodies(&imap::UidSet::all()));
            while let Some(b) = st.next().await {
                let b = b.expect("fetch");
                let mut flags: Vec<String> = b
                    .flags
                    .into_iter()
                    .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
                    .collect();
                flags.sort();
                msgs.push((
                    hex::encode(Sha256::digest(&b.body)),
                    flags,
                    b.internal_date.timestamp(),
                ));
            }
        }
        msgs.sort();
        out.insert(f.name.clone(), msgs);
    }
    let _ = s.logout().await;
    out
}

/// Drops empty folders (auto-created special-use folders) and renames folders.
pub fn normalize(v: &Served, renames: &[(&str, &str)]) -> Served {
    let mut out = Served::new();
    for (k, msgs) in v {
        if msgs.is_empty() {
            continue;
        }
        let name = renames
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, b)| b.to_string())
            .unwrap_or_else(|| k.clone());
        let e = out.entry(name).or_default();
        e.extend(msgs.iter().cloned());
        e.sort();
    }
    out
}

/// Peak resident memory of this process so far (VmHWM), in bytes.
pub fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or_default()
}

/// Folders of every kind (nested, special-use, non-ASCII, a dot in a name, empty) and
/// messages of every kind (flags, a keyword, identical twins, 8-bit headers, bare LF, no
/// Message-ID): 16 messages.
pub fn rich_mailbox() -> Vec<SeedFolder> {
    let dup = SeedMessage::new(message(900, "twice"), &["\\Seen"], T0 + 900);
    let eight_bit = SeedMessage::new(
        "Message-ID: <8bit@test.example>\r\nSubject: Grüße aus Köln – ÄÖÜ\r\nFrom: Jürgen <j@example.com>\r\n\r\nKörper mit Umlauten: äöüß\r\n"
            .as_bytes()
            .to_vec(),
        &["\\Flagged"],
        T0 + 5000,
    );
    let bare_lf = SeedMessage::new(
        b"Subject: bare LF and no Message-ID\nFrom: x@example.com\n\nline one\nline two\n".to_vec(),
        &[],
        T0 + 6000,
    );
    vec![
        SeedFolder::new(
            "INBOX",
            vec![
                seed_msg(1, "hello", &["\\Seen"]),
                seed_msg(2, "answered", &["\\Seen", "\\Answered"]),
                seed_msg(3, "unread", &[]),
                seed_msg(4, "keyword", &["\\Seen", "$Label1"]),
                seed_msg(5, "deleted flag", &["\\Deleted", "\\Draft"]),
                dup.clone(),
                dup,
                eight_bit,
                bare_lf,
            ],
        ),
        SeedFolder::new(
            "Sent",
            vec![
                seed_msg(10, "sent one", &["\\Seen"]),
                seed_msg(11, "sent two", &["\\Seen"]),
            ],
        ),
        SeedFolder::new(
            "Archive/2023",
            vec![seed_msg(20, "old", &["\\Seen"]), seed_msg(21, "older", &[])],
        ),
        SeedFolder::new("Übung/Größe", vec![seed_msg(30, "non ascii", &["\\Seen"])]),
        SeedFolder::new("a.b", vec![seed_msg(40, "dotted", &["\\Flagged"])]),
        SeedFolder::new(
            "Trash",
            vec![seed_msg(50, "binned", &["\\Seen", "\\Deleted"])],
        ),
        SeedFolder::empty("Empty/Leaf"),
    ]
}

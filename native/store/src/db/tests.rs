use std::path::Path;

use super::*;
use crate::ExposeSecret;
use crate::csv_import::{CsvUser, parse};
use crate::types::*;

// ---- both backends -------------------------------------------------------------------------
//
// The tests listed in `both_backends!` run twice: `sqlite::NAME` on `<home>/state.db` and
// `postgres::NAME` on a database of their own in a private PostgreSQL cluster (skipped when
// PostgreSQL is not installed, unless IMAPMIGRATION_REQUIRE_POSTGRES=1). On PostgreSQL every
// state directory the test makes gets a `store.conf` naming that database, so the bodies are
// the same code: `Store::open` picks the backend from the configuration as it does for users.

thread_local! {
    /// The connection string of the current test's PostgreSQL database, if it runs on one.
    static PG_URL: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

fn on_postgres() -> bool {
    PG_URL.with(|u| u.borrow().is_some())
}

/// Runs `body` with every new state directory configured for a fresh database `name`.
fn run_on_postgres(name: &str, body: fn()) {
    let Some(pg) = imapmigration_testkit::Postgres::start_or_skip() else {
        return;
    };
    let url = pg.create_database(name).expect("create database");
    PG_URL.with(|u| *u.borrow_mut() = Some(url));
    body();
    PG_URL.with(|u| *u.borrow_mut() = None);
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name() } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::run_on_postgres(stringify!($name), super::$name) } )*
        }
    };
}

both_backends!(
    reopen_keeps_data,
    concurrent_first_opens_migrate_once,
    two_stores_write_concurrently_without_busy_errors,
    endpoint_crud,
    insert_batch_is_atomic,
    batch_from_parsed_csv_keeps_rows_and_warnings,
    batch_get_list_update_and_actions,
    batches_needing_attention_follows_the_worker_rules,
    delete_batch_cascades_to_everything,
    status_summary_filters_as_exchange_rolls_up_and_counters_group_by_progress,
    users_add_find_list_update,
    folder_and_message_state,
    refreshed_counters_count_skipped_items_and_every_planned_byte,
    skipped_items_events_config_workers,
    statistics_count_users_by_status,
    batch_stop_stops_each_user_by_its_passes_and_counts_users_to_start,
    a_login_token_is_taken_once_and_only_before_it_expires,
    the_listener_is_recorded_and_cleared,
    reports_are_kept_and_copied_to_each_reader,
);

/// The schema version a store of the current backend is at.
fn current_version() -> i64 {
    if on_postgres() {
        crate::pg::PG_SCHEMA_VERSION
    } else {
        SCHEMA_VERSION
    }
}

fn home() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    PG_URL.with(|u| {
        if let Some(url) = &*u.borrow() {
            std::fs::write(
                crate::location::store_conf_path(dir.path()),
                format!("store = {url}\n"),
            )
            .expect("write store.conf");
        }
    });
    dir
}

fn open(dir: &Path) -> Store {
    Store::open(dir).expect("open store")
}

fn endpoint(store: &Store, name: &str) -> EndpointRecord {
    let e = EndpointRecord::new(name, "imap.example.com");
    store.insert_endpoint(&e).expect("insert endpoint");
    e
}

fn csv_users(n: usize, password: &str) -> Vec<CsvUser> {
    (0..n)
        .map(|i| CsvUser {
            row_index: u32::try_from(i + 1).expect("small"),
            email_address: format!("user{i}@contoso.com"),
            user_name: format!("user{i}"),
            password: SecretString::from(password),
            user_root: None,
        })
        .collect()
}

fn batch(
    store: &Store,
    name: &str,
    src: &EndpointRecord,
    users: usize,
) -> (BatchRecord, Vec<UserRecord>) {
    let b = BatchRecord::new(name, src.id);
    let u = store
        .insert_batch(&b, &csv_users(users, "pw"))
        .expect("insert batch");
    (b, u)
}

fn count(store: &Store, table: &str) -> i64 {
    store
        .read("count", |db| {
            db.query_row(
                &format!("SELECT count(*) FROM {table}"),
                rusqlite::params![],
                |r| r.get(0),
            )
            .ctx("count")
        })
        .expect("count")
}

fn msg(uid: u32, size: u64) -> MessageRow {
    MessageRow {
        src_uid: uid,
        state: MessageState::Copied, // begin() must force 0 whatever this says
        dst_uid: None,
        size,
        internal_date: 1_700_000_000 + i64::from(uid),
        msg_key: format!("<{uid}@example.com>"),
        flags: String::new(),
    }
}

// ---- opening and migrations ---------------------------------------------------------------

#[test]
fn open_applies_migration_once_and_records_versions() {
    let dir = home();
    let s = open(dir.path());
    assert_eq!(s.schema_version().expect("version"), SCHEMA_VERSION);
    assert_eq!(
        s.meta("app_version").expect("meta").as_deref(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    let conn = s.conn();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("pragma");
    assert_eq!(mode, "wal");
    let fk: i64 = conn
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .expect("pragma");
    assert_eq!(fk, 1);
    let sync: i64 = conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .expect("pragma");
    assert_eq!(sync, 1, "NORMAL");
    drop(conn);
    drop(s);
    // Reopening runs no migration again (it would fail on CREATE TABLE) and keeps the version.
    let s = open(dir.path());
    assert_eq!(s.schema_version().expect("version"), SCHEMA_VERSION);
    assert_eq!(count(&s, "meta"), 2);
}

fn reopen_keeps_data() {
    let dir = home();
    let id = {
        let s = open(dir.path());
        let e = endpoint(&s, "Source");
        batch(&s, "B1", &e, 3);
        e.id
    };
    let s = open(dir.path());
    let e = s.get_endpoint("source").expect("get").expect("exists");
    assert_eq!(e.id, id);
    let b = s.get_batch("b1").expect("get").expect("exists");
    assert_eq!(
        s.list_users(&UserFilter {
            batch_id: Some(b.id),
            ..Default::default()
        })
        .expect("users")
        .len(),
        3
    );
}

#[test]
fn newer_schema_is_refused_with_update_hint() {
    let dir = home();
    drop(open(dir.path()));
    {
        let conn = rusqlite::Connection::open(crate::paths::db_path(dir.path())).expect("raw");
        conn.execute(
            "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
            [],
        )
        .expect("bump");
    }
    let err = Store::open(dir.path()).expect_err("must refuse");
    match &err {
        Error::SchemaTooNew { found, supported } => {
            assert_eq!(*found, 99);
            assert_eq!(*supported, SCHEMA_VERSION);
        }
        other => panic!("unexpected error: {other}"),
    }
    assert!(err.to_string().contains("update ImapMigration"), "{err}");
}

fn concurrent_first_opens_migrate_once() {
    let dir = home();
    let path = dir.path().to_path_buf();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let p = path.clone();
            std::thread::spawn(move || Store::open(&p).map(|s| s.schema_version()))
        })
        .collect();
    for h in handles {
        let v = h.join().expect("join").expect("open").expect("version");
        assert_eq!(v, current_version());
    }
}

// ---- several connections ------------------------------------------------------------------

#[test]
fn second_store_reads_while_another_connection_writes() {
    let dir = home();
    let reader = open(dir.path());
    let writer_store = open(dir.path());
    endpoint(&writer_store, "Before");

    // Hold an open write transaction with an uncommitted change on a third connection.
    let mut raw = rusqlite::Connection::open(crate::paths::db_path(dir.path())).expect("raw");
    let tx = raw
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .expect("begin immediate");
    tx.execute(
        "INSERT INTO config (key, value) VALUES ('pending', '1')",
        [],
    )
    .expect("write");

    // Readers are not blocked and see the last committed state.
    let names: Vec<String> = reader
        .list_endpoints(None)
        .expect("read during write")
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, vec!["Before"]);
    assert_eq!(reader.config_get("pending").expect("read"), None);

    tx.commit().expect("commit");
    assert_eq!(
        reader.config_get("pending").expect("read"),
        Some(serde_json::json!(1))
    );
}

fn two_stores_write_concurrently_without_busy_errors() {
    let dir = home();
    let a = std::sync::Arc::new(open(dir.path()));
    let b = std::sync::Arc::new(open(dir.path()));
    let e = endpoint(&a, "Src");
    let (bt, _) = batch(&a, "B", &e, 1);
    let handles: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .enumerate()
        .map(|(n, s)| {
            let bid = bt.id;
            std::thread::spawn(move || {
                for i in 0..100 {
                    s.insert_event(&Event::new(
                        None,
                        Some(bid),
                        EventLevel::Info,
                        format!("writer {n} line {i}"),
                    ))
                    .expect("insert event");
                    // A reader on the same store in between writes.
                    s.list_batches(&BatchFilter::default()).expect("read");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("join");
    }
    assert_eq!(b.events_for_batch(&bt.id, None).expect("events").len(), 200);
}

#[test]
fn store_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Store>();
}

// ---- secrets ------------------------------------------------------------------------------

#[test]
fn secrets_are_never_plaintext_in_the_database_files() {
    let dir = home();
    let user_pw = "UserPlaintextPassw0rd-7f3a";
    let admin_pw = "AdminPlaintextSecret-91bc";
    {
        let s = open(dir.path());
        let mut e = EndpointRecord::new("Target", "imap.example.com");
        e.admin_user = Some("admin".into());
        e.admin_secret = Some(s.seal(&SecretString::from(admin_pw)));
        s.insert_endpoint(&e).expect("insert");
        let b = BatchRecord::new("B", e.id);
        let users = s.insert_batch(&b, &csv_users(3, user_pw)).expect("batch");
        // The sealed values open again.
        let u = s
            .get_user_by_id(&users[0].id)
            .expect("get")
            .expect("exists");
        assert_eq!(
            s.user_password(&u).expect("unseal").expose_secret(),
            user_pw
        );
        let e = s.get_endpoint("Target").expect("get").expect("exists");
        let sealed = e.admin_secret.clone().expect("sealed");
        assert_eq!(s.unseal(&sealed).expect("unseal").expose_secret(), admin_pw);
        assert!(!format!("{u:?} {e:?}").contains(user_pw));
        s.set_user_password(&u.id, &SecretString::from("ChangedPassw0rd-55aa"))
            .expect("change");
        let u = s.get_user_by_id(&u.id).expect("get").expect("exists");
        assert_eq!(
            s.user_password(&u).expect("unseal").expose_secret(),
            "ChangedPassw0rd-55aa"
        );
    }
    let mut checked = 0;
    for entry in std::fs::read_dir(dir.path()).expect("ls") {
        let entry = entry.expect("entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("state.db") {
            continue;
        }
        let bytes = std::fs::read(entry.path()).expect("read");
        for pw in [user_pw, admin_pw, "ChangedPassw0rd-55aa"] {
            assert!(
                !bytes.windows(pw.len()).any(|w| w == pw.as_bytes()),
                "{pw} found in {name}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 1);
}

// ---- endpoints ----------------------------------------------------------------------------

fn endpoint_crud() {
    let dir = home();
    let s = open(dir.path());
    let e = endpoint(&s, "Source");
    let clash = EndpointRecord::new("SOURCE", "other");
    assert!(matches!(
        s.insert_endpoint(&clash),
        Err(Error::AlreadyExists {
            kind: "endpoint",
            ..
        })
    ));
    assert_eq!(s.get_endpoint("source").expect("get"), Some(e.clone()));
    assert_eq!(
        s.get_endpoint(&e.id.to_string().to_uppercase())
            .expect("get"),
        Some(e.clone())
    );
    assert_eq!(s.get_endpoint("nope").expect("get"), None);
    let t = endpoint(&s, "Target");
    assert_eq!(s.list_endpoints(None).expect("list").len(), 2);
    assert_eq!(s.list_endpoints(Some("imap")).expect("list").len(), 2);
    assert_eq!(s.list_endpoints(Some("Exchange")).expect("list").len(), 0);

    let updated = s
        .update_endpoint(
            "source",
            EndpointUpdate {
                port: Some(143),
                security: Some(SecurityMode::Tls),
                ca_file: Some(Some("/etc/ca.pem".into())),
                verify_content: Some(true),
                ..Default::default()
            },
        )
        .expect("update");
    assert_eq!(updated.port, 143);
    assert!(updated.verify_content && !e.verify_content);
    assert_eq!(s.get_endpoint("Source").expect("get"), Some(updated));
    assert!(matches!(
        s.update_endpoint(
            "source",
            EndpointUpdate {
                name: Some("target".into()),
                ..Default::default()
            }
        ),
        Err(Error::AlreadyExists { .. })
    ));

    let mut b = BatchRecord::new("UsesIt", e.id);
    b.target_endpoint_id = Some(t.id);
    s.insert_batch(&b, &[]).expect("batch");
    for name in ["Source", "Target"] {
        match s.delete_endpoint(name) {
            Err(Error::InUse { batches, .. }) => assert_eq!(batches, vec!["UsesIt"]),
            other => panic!("expected InUse, got {other:?}"),
        }
    }
    s.delete_batch(&b.id).expect("delete batch");
    s.delete_endpoint("source").expect("delete");
    assert_eq!(s.get_endpoint("Source").expect("get"), None);
    assert!(matches!(
        s.delete_endpoint("Source"),
        Err(Error::NotFound { .. })
    ));
}

// ---- batches ------------------------------------------------------------------------------

fn insert_batch_is_atomic() {
    let dir = home();
    let s = open(dir.path());
    let e = endpoint(&s, "Src");
    let mut users = csv_users(5, "pw");
    users[4].email_address = users[1].email_address.to_uppercase(); // clash on the last one
    let b = BatchRecord::new("Half", e.id);
    assert!(matches!(
        s.insert_batch(&b, &users),
        Err(Error::AlreadyExists { kind: "user", .. })
    ));
    assert_eq!(count(&s, "batches"), 0);
    assert_eq!(count(&s, "users"), 0);

    // Unknown endpoint: nothing created either.
    let orphan = BatchRecord::new("Orphan", uuid::Uuid::new_v4());
    assert!(matches!(
        s.insert_batch(&orphan, &csv_users(2, "pw")),
        Err(Error::NotFound {
            kind: "endpoint",
            ..
        })
    ));
    assert_eq!(count(&s, "batches"), 0);
    assert_eq!(count(&s, "users"), 0);

    // Name clash with an existing batch, case-insensitively.
    batch(&s, "Exists", &e, 1);
    let again = BatchRecord::new("EXISTS", e.id);
    assert!(matches!(
        s.insert_batch(&again, &csv_users(2, "pw")),
        Err(Error::AlreadyExists { kind: "batch", .. })
    ));
    assert_eq!(count(&s, "users"), 1);
}

fn batch_from_parsed_csv_keeps_rows_and_warnings() {
    let dir = home();
    let s = open(dir.path());
    let e = endpoint(&s, "Src");
    let parsed = parse(
        b"EmailAddress,UserName,Password\na@x.com,a,p\nbad,b,p\nc@x.com,c,p\n",
        false,
    )
    .expect("csv");
    let mut b = BatchRecord::new("FromCsv", e.id);
    b.validation_warnings = parsed.warnings.clone();
    let users = s.insert_batch(&b, &parsed.rows).expect("batch");
    assert_eq!(
        users.iter().map(|u| u.row_index).collect::<Vec<_>>(),
        vec![1, 3]
    );
    let got = s.get_batch("fromcsv").expect("get").expect("exists");
    assert_eq!(got, b);
    assert_eq!(got.validation_warnings[0].row_index, 2);
}

fn batch_get_list_update_and_actions() {
    let dir = home();
    let s = open(dir.path());
    let e1 = endpoint(&s, "E1");
    let e2 = endpoint(&s, "E2");
    let (b1, _) = batch(&s, "One", &e1, 1);
    let (b2, _) = batch(&s, "Two", &e2, 1);
    assert_eq!(
        s.get_batch(&b2.id.to_string()).expect("get"),
        Some(b2.clone())
    );
    assert_eq!(s.get_batch_by_id(&b1.id).expect("get"), Some(b1.clone()));
    assert_eq!(
        s.list_batches(&BatchFilter {
            endpoint_id: Some(e2.id),
            ..Default::default()
        })
        .expect("list")
        .len(),
        1
    );
    let when = now();
    let b = s
        .update_batch(
            &b1.id,
            BatchUpdate {
                status: Some(BatchStatus::Syncing),
                notification_emails: Some(vec!["admin@x.com".into()]),
                start_after: Some(Some(when)),
                bad_item_limit: Some(Some(10)),
                max_message_size: Some(Some(35 * 1024 * 1024)),
                ..Default::default()
            },
        )
        .expect("update");
    assert_eq!(s.get_batch_by_id(&b1.id).expect("get"), Some(b.clone()));
    assert_eq!(b.notification_emails, vec!["admin@x.com"]);
    assert_eq!(b.start_after, Some(when));
    assert_eq!(
        s.list_batches(&BatchFilter {
            status: Some(BatchStatus::Syncing),
            ..Default::default()
        })
        .expect("list")
        .iter()
        .map(|b| b.name.as_str())
        .collect::<Vec<_>>(),
        vec!["One"]
    );

    s.request_batch_action(&b2.id, BatchAction::Start)
        .expect("request");
    assert!(
        !s.clear_batch_action(&b2.id, BatchAction::Stop)
            .expect("clear")
    );
    assert!(
        s.clear_batch_action(&b2.id, BatchAction::Start)
            .expect("clear")
    );
    assert_eq!(
        s.get_batch_by_id(&b2.id)
            .expect("get")
            .expect("exists")
            .requested_action,
        None
    );
    assert!(matches!(
        s.set_batch_status(&uuid::Uuid::new_v4(), BatchStatus::Stopped),
        Err(Error::NotFound { .. })
    ));
}

fn batches_needing_attention_follows_the_worker_rules() {
    let dir = home();
    let s = open(dir.path());
    let e = endpoint(&s, "Src");
    let t0 = now();
    let past = t0 - chrono::Duration::minutes(5);
    let future = t0 + chrono::Duration::hours(1);
    let mk = |name: &str, f: &dyn Fn(&mut BatchRecord)| {
        let mut b = BatchRecord::new(name, e.id);
        f(&mut b);
        s.insert_batch(&b, &[]).expect("batch");
    };
    mk("idle-created", &|_| {});
    mk("autostart", &|b| b.auto_start = true);
    mk("autostart-later", &|b| {
        b.auto_start = true;
        b.start_after = Some(future);
    });
    mk("start-after-due", &|b| b.start_after = Some(past));
    mk("requested", &|b| {
        b.status = BatchStatus::Stopped;
        b.requested_action = Some(BatchAction::Start);
    });
    mk("syncing", &|b| b.status = BatchStatus::Syncing);
    mk("stopping", &|b| b.status = BatchStatus::Stopping);
    mk("synced-due", &|b| {
        b.status = BatchStatus::Synced;
        b.next_sync_at = Some(past);
    });
    mk("synced-later", &|b| {
        b.status = BatchStatus::SyncedWithErrors;
        b.next_sync_at = Some(future);
    });
    mk("stopped", &|b| b.status = BatchStatus::Stopped);
    mk("completed", &|b| b.status = BatchStatus::Completed);
    let mut names: Vec<String> = s
        .batches_needing_attention(t0)
        .expect("poll")
        .into_iter()
        .map(|b| b.name)
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            "autostart",
            "requested",
            "start-after-due",
            "stopping",
            "synced-due",
            "syncing"
        ]
    );
}

fn delete_batch_cascades_to_everything() {
    let dir = home();
    let s = open(dir.path());
    let e = endpoint(&s, "Src");
    let (b, users) = batch(&s, "Doomed", &e, 2);
    let (keep, keep_users) = batch(&s, "Kept", &e, 1);
    for u in users.iter().chain(&keep_users) {
        let f = s.folder_upsert(&u.id, "INBOX", "INBOX").expect("folder");
        s.messages_begin(f, &[msg(1, 10), msg(2, 20)])
            .expect("begin");
        s.insert_skipped_item(&SkippedItem {
            id: 0,
            user_id: u.id,
            folder: "INBOX".into(),
            src_uid: Some(3),
            kind: SkippedKind::LargeItem,
            subject: Some("big".into()),
            sender: None,
            recipients: vec![],
            date_sent: None,
            date_received: None,
            size: Some(99),
            reason: "too large".into(),
            created_at: now(),
        })
        .expect("skip");
        s.insert_event(&Event::new(Some(u.id), None, EventLevel::Info, "user line"))
            .expect("event");
    }
    s.insert_event(&Event::new(
        None,
        Some(b.id),
        EventLevel::Info,
        "batch line",
    ))
    .expect("event");
    assert!(s.delete_batch(&b.id).expect("delete"));
    assert!(!s.delete_batch(&b.id).expect("delete again"));
    assert_eq!(count(&s, "batches"), 1);
    assert_eq!(count(&s, "users"), 1);
    assert_eq!(count(&s, "folders"), 1);
    assert_eq!(count(&s, "messages"), 2);
    assert_eq!(count(&s, "skipped_items"), 1);
    assert_eq!(count(&s, "events"), 1);
    assert!(s.delete_batch(&keep.id).expect("delete"));
    for t in [
        "batches",
        "users",
        "folders",
        "messages",
        "skipped_items",
        "events",
    ] {
        assert_eq!(count(&s, t), 0, "{t}");
    }
}

// ---- users --------------------------------------------------------------------------------

fn status_summary_filters_as_exchange_rolls_up_and_counters_group_by_progress() {
    let dir = home();
    let s = open(dir.path());
    let e = endpoint(&s, "Src");
    let (b, u) = batch(&s, "B1", &e, 4);
    for (user, status) in u.iter().zip([
        UserStatus::IncrementalSyncing,
        UserStatus::CompletedWithWarnings,
        UserStatus::Synced,
        UserStatus::Failed,
    ]) {
        s.set_user_status(&user.id, status, None).expect("status");
    }
    let emails = |summary| -> Vec<UserStatus> {
        s.list_users(&UserFilter {
            status_summary: Some(summary),
            ..Default::default()
        })
        .expect("list")
        .into_iter()
        .map(|u| u.status)
        .collect()
    };
    let mut synced = emails(StatusSummary::Synced);
    synced.sort_by_key(|s| s.as_str());
    assert_eq!(synced, [UserStatus::IncrementalSyncing, UserStatus::Synced]);
    let mut failed = emails(StatusSummary::Failed);
    failed.sort_by_key(|s| s.as_str());
    assert_eq!(
        failed,
        [UserStatus::CompletedWithWarnings, UserStatus::Failed]
    );
    assert!(emails(StatusSummary::Active).is_empty());
    assert!(emails(StatusSummary::Completed).is_empty());
    // Exchange's batch counters: the incremental sync is active, the completion with warnings
    // is finalized (and counted as such), only the failed user fails.
    let c = s.batch_counts(&b.id).expect("counts");
    assert_eq!(
        (
            c.active,
            c.synced,
            c.failed,
            c.finalized,
            c.completed_with_warnings
        ),
        (1, 1, 1, 1, 1)
    );
}

fn users_add_find_list_update() {
    let dir = home();
    let s = open(dir.path());
    let e = endpoint(&s, "Src");
    let (b1, u1) = batch(&s, "B1", &e, 3);
    let (b2, _) = batch(&s, "B2", &e, 0);

    // -AddUsers: one already in the batch (case-insensitively), one new.
    let mut more = csv_users(1, "pw");
    more[0].email_address = "USER0@contoso.com".into();
    more.push(CsvUser {
        row_index: 2,
        email_address: "new@contoso.com".into(),
        user_name: "new".into(),
        password: SecretString::from("pw"),
        user_root: Some("/users/new".into()),
    });
    let added = s.add_users(&b1.id, &more).expect("add");
    assert_eq!(added.already_in_batch, vec!["USER0@contoso.com"]);
    assert_eq!(added.added.len(), 1);
    assert_eq!(added.added[0].user_root.as_deref(), Some("/users/new"));
    assert!(matches!(
        s.add_users(&uuid::Uuid::new_v4(), &more),
        Err(Error::NotFound { kind: "batch", .. })
    ));

    // The same address in a second batch: find by email returns both.
    s.add_users(&b2.id, &csv_users(1, "pw")).expect("add");
    let found = s.find_users("User0@Contoso.com").expect("find");
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].batch_id, b1.id);
    assert_eq!(found[1].batch_id, b2.id);
    assert_eq!(s.find_users(&u1[1].id.to_string()).expect("find").len(), 1);
    assert!(s.find_users("nobody@x.com").expect("find").is_empty());

    let failed = s
        .set_user_status(
            &u1[1].id,
            UserStatus::Failed,
            Some(("AuthenticationFailed", "sign-in failed")),
        )
        .expect("status");
    assert_eq!(failed.last_error.as_deref(), Some("sign-in failed"));
    s.set_user_status(&u1[2].id, UserStatus::Synced, None)
        .expect("status");
    let by = |f: UserFilter| s.list_users(&f).expect("list").len();
    assert_eq!(
        by(UserFilter {
            batch_id: Some(b1.id),
            ..Default::default()
        }),
        4
    );
    assert_eq!(
        by(UserFilter {
            status: Some(UserStatus::Failed),
            ..Default::default()
        }),
        1
    );
    assert_eq!(
        by(UserFilter {
            status_summary: Some(StatusSummary::Active),
            ..Default::default()
        }),
        3
    );
    assert_eq!(
        by(UserFilter {
            status_summary: Some(StatusSummary::Synced),
            ..Default::default()
        }),
        1
    );
    assert_eq!(
        by(UserFilter {
            limit: Some(2),
            ..Default::default()
        }),
        2
    );

    let t = now();
    let u = s
        .update_user(
            &u1[0].id,
            UserUpdate {
                status: Some(UserStatus::Syncing),
                started_at: Some(Some(t)),
                items_total: Some(100),
                passes: Some(1),
                ..Default::default()
            },
        )
        .expect("update");
    assert_eq!(s.get_user_by_id(&u.id).expect("get"), Some(u.clone()));
    s.add_progress(&u.id, 10, 1000, 1).expect("progress");
    s.add_progress(&u.id, 5, 500, 0).expect("progress");
    let u = s.get_user_by_id(&u.id).expect("get").expect("exists");
    assert_eq!(
        (u.items_synced, u.bytes_synced, u.items_skipped),
        (15, 1500, 1)
    );

    // Start re-queues the failed user; users_to_run sees Queued users and pending actions.
    assert_eq!(
        s.set_users_status(&b1.id, &[UserStatus::Failed], UserStatus::Queued)
            .expect("requeue"),
        1
    );
    s.request_user_action(&u1[2].id, UserAction::SyncNow)
        .expect("request");
    let run: Vec<String> = s
        .users_to_run(&b1.id)
        .expect("to run")
        .into_iter()
        .map(|u| u.email)
        .collect();
    assert_eq!(
        run,
        vec!["new@contoso.com", "user1@contoso.com", "user2@contoso.com"]
    );
    assert!(
        s.clear_user_action(&u1[2].id, UserAction::SyncNow)
            .expect("clear")
    );

    assert!(s.delete_user(&u1[0].id).expect("delete"));
    assert_eq!(s.get_user_by_id(&u1[0].id).expect("get"), None);
}

// ---- sync state ---------------------------------------------------------------------------

fn folder_and_message_state() {
    let dir = home();
    let s = open(dir.path());
    let e = endpoint(&s, "Src");
    let (_, users) = batch(&s, "B", &e, 1);
    let user = users[0].id;

    let f = s
        .folder_upsert(&user, "Sent Items", "Sent")
        .expect("folder");
    assert_eq!(
        s.folder_upsert(&user, "Sent Items", "Sent Mail")
            .expect("again"),
        f
    );
    let rec = s
        .folder_get(&user, "Sent Items")
        .expect("get")
        .expect("exists");
    assert_eq!(rec.target_name, "Sent Mail");
    assert_eq!(rec.src_uidvalidity, None);
    s.folder_set_validity(f, Some(1234), Some(u64::from(u32::MAX) + 7), Some(99))
        .expect("validity");
    let rec = s.folder_by_id(f).expect("get").expect("exists");
    assert_eq!(
        (
            rec.src_uidvalidity,
            rec.src_highest_modseq,
            rec.dst_uidvalidity
        ),
        (Some(1234), Some(u64::from(u32::MAX) + 7), Some(99))
    );

    let chunk: Vec<MessageRow> = (1..=300).map(|u| msg(u, 100)).collect();
    s.messages_begin(f, &chunk).expect("begin");
    assert_eq!(s.in_flight(f).expect("in flight").len(), 300);
    let commits: Vec<(u32, MessageState, Option<u32>, String)> = (1..=250)
        .map(|u| (u, MessageState::Copied, Some(u + 1000), "\\Seen".to_owned()))
        .chain(std::iter::once((
            251,
            MessageState::Skipped,
            None,
            String::new(),
        )))
        .collect();
    assert_eq!(s.messages_commit(f, &commits).expect("commit"), 251);
    assert_eq!(
        s.messages_commit(f, &[(9999u32, MessageState::Copied, Some(1), "")])
            .expect("commit unknown"),
        0
    );
    assert_eq!(s.in_flight(f).expect("in flight").len(), 49);
    assert_eq!(
        s.messages_update_flags(f, &[(1u32, "\\Flagged \\Seen")])
            .expect("flags"),
        1
    );
    let rows = s.messages_for_folder(f).expect("rows");
    assert_eq!(rows.len(), 300);
    assert_eq!(rows[0].flags, "\\Flagged \\Seen");
    assert_eq!(rows[0].dst_uid, Some(1001));
    assert_eq!(rows[0].state, MessageState::Copied);
    assert_eq!(s.delete_message_rows(f, &[299, 300]).expect("delete"), 2);

    let counts = s.sync_counts(&user).expect("counts");
    assert_eq!(
        counts,
        SyncCounts {
            folders: 1,
            copied_items: 250,
            copied_bytes: 25_000,
            skipped_items: 1,
            in_flight_items: 47,
        }
    );
    s.add_progress(&user, 999, 999, 0).expect("running total");
    s.refresh_user_counters(&user).expect("refresh");
    let u = s.get_user_by_id(&user).expect("get").expect("exists");
    assert_eq!(
        (u.items_synced, u.bytes_synced, u.folders_synced),
        (250, 25_000, 1)
    );

    // UIDVALIDITY changed: the old rows come back for rematching and the folder is empty.
    let old = s.folder_reset(f).expect("reset");
    assert_eq!(old.len(), 298);
    assert!(s.messages_for_folder(f).expect("rows").is_empty());
    let rec = s.folder_by_id(f).expect("get").expect("exists");
    assert_eq!((rec.src_uidvalidity, rec.dst_uidvalidity), (None, Some(99)));
    let mut rematched = old[0].clone();
    rematched.src_uid = 5000;
    s.messages_insert(f, &[rematched.clone()]).expect("insert");
    assert_eq!(s.messages_for_folder(f).expect("rows"), vec![rematched]);

    assert_eq!(s.folders_for_user(&user).expect("folders").len(), 1);
    assert!(s.folder_delete(f).expect("delete"));
    assert_eq!(count(&s, "messages"), 0);
    assert!(matches!(s.folder_reset(f), Err(Error::NotFound { .. })));
}

// ---- the rest -----------------------------------------------------------------------------

fn refreshed_counters_count_skipped_items_and_every_planned_byte() {
    let dir = home();
    let s = open(dir.path());
    let e = endpoint(&s, "Src");
    let (b, users) = batch(&s, "B", &e, 1);
    let user = users[0].id;
    let f = s.folder_upsert(&user, "INBOX", "INBOX").expect("folder");
    let rows: Vec<MessageRow> = (1..=4).map(|u| msg(u, 1000 * u64::from(u))).collect();
    s.messages_begin(f, &rows).expect("begin");
    let commits = [
        (1u32, MessageState::Copied, Some(11), String::new()),
        (2, MessageState::Copied, Some(12), String::new()),
        (4, MessageState::Skipped, None, String::new()),
    ];
    s.messages_commit(f, &commits).expect("commit");
    s.insert_skipped_item(&SkippedItem {
        id: 0,
        user_id: user,
        folder: "INBOX".into(),
        src_uid: Some(4),
        kind: SkippedKind::LargeItem,
        subject: None,
        sender: None,
        recipients: vec![],
        date_sent: None,
        date_received: None,
        size: Some(4000),
        reason: "too large".into(),
        created_at: now(),
    })
    .expect("skip");
    s.refresh_user_counters(&user).expect("refresh");
    let u = s.get_user_by_id(&user).expect("get").expect("exists");
    // Message 3 is still in flight: planned, so part of the estimate, not yet synced.
    assert_eq!(
        (
            u.items_synced,
            u.bytes_synced,
            u.items_skipped,
            u.bytes_total
        ),
        (2, 3000, 1, 10_000)
    );
    let c = s.batch_counts(&b.id).expect("counts");
    assert_eq!((c.items_skipped, c.bytes_total), (1, 10_000));
}

fn skipped_items_events_config_workers() {
    let dir = home();
    let s = open(dir.path());
    let e = endpoint(&s, "Src");
    let (b, users) = batch(&s, "B", &e, 1);
    let u = users[0].id;
    for i in 0..3u32 {
        s.insert_skipped_item(&SkippedItem {
            id: 0,
            user_id: u,
            folder: "INBOX".into(),
            src_uid: Some(i),
            kind: SkippedKind::BadItem,
            subject: None,
            sender: Some("a@b.c".into()),
            recipients: vec!["Ann <ann@b.c>".into(), "bob@b.c".into()],
            date_sent: None,
            date_received: None,
            size: None,
            reason: format!("bad {i}"),
            created_at: now(),
        })
        .expect("skip");
    }
    let items = s.list_skipped_items(&u, Some(2)).expect("list");
    assert_eq!(
        items.iter().map(|i| i.src_uid).collect::<Vec<_>>(),
        vec![Some(0), Some(1)]
    );
    assert_eq!(
        items[0].recipients,
        vec!["Ann <ann@b.c>".to_string(), "bob@b.c".to_string()]
    );
    assert_eq!(s.list_skipped_items(&u, None).expect("list").len(), 3);
    // The same source message refused again (a retried or resumed pass) is recorded once.
    let again = SkippedItem {
        id: 0,
        user_id: u,
        folder: "INBOX".into(),
        src_uid: Some(1),
        kind: SkippedKind::BadItem,
        subject: None,
        sender: None,
        recipients: vec![],
        date_sent: None,
        date_received: None,
        size: None,
        reason: "bad again".into(),
        created_at: now(),
    };
    assert_eq!(s.insert_skipped_item(&again).expect("skip again"), None);
    let other_folder = SkippedItem {
        folder: "Archive".into(),
        ..again
    };
    assert!(
        s.insert_skipped_item(&other_folder)
            .expect("skip")
            .is_some()
    );
    assert_eq!(s.list_skipped_items(&u, None).expect("list").len(), 4);

    for i in 0..5 {
        s.insert_event(&Event::new(
            Some(u),
            Some(b.id),
            EventLevel::Info,
            format!("line {i}"),
        ))
        .expect("event");
    }
    let last = s.events_for_user(&u, Some(2)).expect("events");
    assert_eq!(
        last.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(),
        vec!["line 3", "line 4"]
    );
    assert_eq!(s.events_for_batch(&b.id, None).expect("events").len(), 5);

    assert_eq!(s.config_get("smtpRelay").expect("get"), None);
    let relay = serde_json::json!({"server": "smtp.x.com", "port": 25});
    s.config_set("smtpRelay", &relay).expect("set");
    s.config_set("incrementalSyncIntervalSecs", &serde_json::json!(86400))
        .expect("set");
    assert_eq!(s.config_get("smtpRelay").expect("get"), Some(relay));
    assert_eq!(s.config_list().expect("list").len(), 2);
    assert!(s.config_delete("smtpRelay").expect("delete"));
    assert_eq!(s.config_get("smtpRelay").expect("get"), None);

    let mut w = WorkerRecord {
        id: "w1".into(),
        pid: 4242,
        host: "host".into(),
        version: "0.1.0".into(),
        started_at: now(),
        heartbeat_at: now(),
    };
    s.worker_heartbeat(&w).expect("beat");
    w.heartbeat_at = now() + chrono::Duration::seconds(5);
    s.worker_heartbeat(&w).expect("beat");
    assert_eq!(s.worker_get("w1").expect("get"), Some(w.clone()));
    assert_eq!(s.workers_list().expect("list"), vec![w.clone()]);
    assert!(w.alive_at(w.heartbeat_at + chrono::Duration::seconds(30)));
    assert!(!w.alive_at(w.heartbeat_at + chrono::Duration::seconds(31)));
    let dead = WorkerRecord {
        id: "w0".into(),
        pid: 4141,
        ..w.clone()
    };
    s.worker_heartbeat(&dead).expect("beat");
    assert_eq!(s.worker_remove_others("w1").expect("prune"), 1);
    assert_eq!(s.workers_list().expect("list"), vec![w]);
    assert!(s.worker_remove("w1").expect("remove"));
    assert_eq!(s.worker_get("w1").expect("get"), None);
}

fn statistics_count_users_by_status() {
    let dir = home();
    let s = open(dir.path());
    let e = endpoint(&s, "Src");
    let (b1, u1) = batch(&s, "B1", &e, 4);
    let (_, u2) = batch(&s, "B2", &e, 3);
    s.set_user_status(&u1[0].id, UserStatus::Syncing, None)
        .expect("status");
    s.set_user_status(&u1[1].id, UserStatus::Synced, None)
        .expect("status");
    s.set_user_status(&u1[2].id, UserStatus::Failed, None)
        .expect("status");
    s.set_user_status(&u2[0].id, UserStatus::IncrementalFailed, None)
        .expect("status");
    s.set_user_status(&u2[1].id, UserStatus::Stopped, None)
        .expect("status");
    s.set_user_status(&u2[2].id, UserStatus::CompletedWithWarnings, None)
        .expect("status");
    s.add_progress(&u1[0].id, 7, 700, 2).expect("progress");
    let all = s.statistics().expect("stats");
    assert_eq!(all.total, 7);
    assert_eq!(all.active, 1);
    assert_eq!(all.pending, 1);
    assert_eq!(all.synced, 1);
    assert_eq!(all.failed, 2);
    assert_eq!((all.failed_initial, all.failed_incremental), (1, 1));
    assert_eq!(all.stopped, 1);
    assert_eq!(all.finalized, 1);
    assert_eq!(all.completed_with_warnings, 1);
    assert_eq!(all.provisioned, 0);
    assert_eq!(
        (all.items_synced, all.bytes_synced, all.items_skipped),
        (7, 700, 2)
    );
    let one = s.batch_counts(&b1.id).expect("counts");
    assert_eq!(
        (one.total, one.active, one.pending, one.failed),
        (4, 1, 1, 1)
    );
}

#[test]
#[ignore = "timing probe, run by hand"]
fn probe_chunked_message_writes() {
    let dir = home();
    let s = open(dir.path());
    let e = endpoint(&s, "Src");
    let (_, users) = batch(&s, "B", &e, 1);
    let f = s
        .folder_upsert(&users[0].id, "INBOX", "INBOX")
        .expect("folder");
    let start = std::time::Instant::now();
    for chunk in (1..=100_000u32).collect::<Vec<_>>().chunks(500) {
        let rows: Vec<MessageRow> = chunk.iter().map(|u| msg(*u, 2048)).collect();
        s.messages_begin(f, &rows).expect("begin");
        let done: Vec<(u32, MessageState, Option<u32>, &str)> = chunk
            .iter()
            .map(|u| (*u, MessageState::Copied, Some(*u), "\\Seen"))
            .collect();
        s.messages_commit(f, &done).expect("commit");
    }
    let elapsed = start.elapsed();
    let read = std::time::Instant::now();
    assert_eq!(s.messages_for_folder(f).expect("rows").len(), 100_000);
    eprintln!(
        "100k begin+commit in 500-chunks: {elapsed:?}; read back: {:?}",
        read.elapsed()
    );
}

fn batch_stop_stops_each_user_by_its_passes_and_counts_users_to_start() {
    let dir = home();
    let s = open(dir.path());
    let e = endpoint(&s, "Src");
    let (b, users) = batch(&s, "StopMe", &e, 5);
    let (other, other_users) = batch(&s, "Other", &e, 1);
    // (status, passes) as a running batch has them when Stop takes effect.
    let before = [
        (UserStatus::Queued, 0),
        (UserStatus::Queued, 2),
        (UserStatus::Syncing, 0),
        (UserStatus::IncrementalSyncing, 1),
        (UserStatus::Synced, 1),
    ];
    for (u, (status, passes)) in users.iter().zip(before) {
        s.update_user(
            &u.id,
            UserUpdate {
                status: Some(status),
                passes: Some(passes),
                ..Default::default()
            },
        )
        .expect("update");
    }
    let c = s.batch_counts(&b.id).expect("counts");
    assert_eq!((c.pending, c.active, c.synced, c.to_start), (2, 2, 1, 2));

    let from = crate::lifecycle::user::all_where(crate::lifecycle::user::stopped_with_batch);
    let n = s
        .transition_users(&b.id, &from, crate::lifecycle::user::on_stop)
        .expect("stop");
    assert_eq!(n, 4);
    let after: Vec<UserStatus> = users
        .iter()
        .map(|u| s.get_user_by_id(&u.id).expect("get").expect("user").status)
        .collect();
    assert_eq!(
        after,
        [
            UserStatus::Stopped,
            UserStatus::IncrementalStopped,
            UserStatus::Stopped,
            UserStatus::IncrementalStopped,
            UserStatus::Synced,
        ]
    );
    // Another batch's users are not touched.
    let o = s
        .get_user_by_id(&other_users[0].id)
        .expect("get")
        .expect("user");
    assert_eq!((o.batch_id, o.status), (other.id, UserStatus::Queued));
    let c = s.batch_counts(&b.id).expect("counts");
    assert_eq!((c.stopped, c.synced, c.to_start), (4, 1, 4));
}

#[test]
fn an_unreachable_postgresql_store_fails_naming_the_setting_before_anything_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        crate::location::store_conf_path(dir.path()),
        "store = postgres://mig:s3cretpw@127.0.0.1:1/mig\n",
    )
    .unwrap();
    let e = Store::open(dir.path()).unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(
            e,
            Error::Postgres {
                action: "connect",
                ..
            }
        ),
        "{text}"
    );
    assert!(
        text.contains("store.conf") && !text.contains("s3cretpw"),
        "{text}"
    );
    assert!(!paths::db_path(dir.path()).exists());
    assert!(!paths::key_path(dir.path()).exists());
    // `store = sqlite` is the default spelled out.
    std::fs::write(
        crate::location::store_conf_path(dir.path()),
        "store = sqlite\n",
    )
    .unwrap();
    let s = Store::open(dir.path()).unwrap();
    assert!(!s.is_postgres());
}

#[test]
fn a_postgresql_store_seals_secrets_with_the_home_key_and_refuses_bad_settings() {
    let Some(pg) = imapmigration_testkit::Postgres::start_or_skip() else {
        return;
    };
    let url = pg.create_database("mig").expect("create database");
    let configure = |dir: &Path, url: &str| {
        std::fs::write(
            crate::location::store_conf_path(dir),
            format!("store = {url}\n"),
        )
        .expect("write store.conf");
    };
    let dir = tempfile::tempdir().expect("tempdir");
    configure(dir.path(), &url);
    let user_pw = "UserPlaintextPassw0rd-7f3a";
    {
        let s = open(dir.path());
        assert!(s.is_postgres());
        assert_eq!(
            s.schema_version().expect("version"),
            crate::pg::PG_SCHEMA_VERSION
        );
        let e = endpoint(&s, "Src");
        let b = BatchRecord::new("B", e.id);
        let users = s.insert_batch(&b, &csv_users(2, user_pw)).expect("batch");
        let u = s.get_user_by_id(&users[0].id).expect("get").expect("user");
        assert_eq!(
            s.user_password(&u).expect("unseal").expose_secret(),
            user_pw
        );
        // Nothing local holds the state: no state.db next to the key.
        assert!(!paths::db_path(dir.path()).exists());
    }
    let dump = pg
        .psql(
            "mig",
            "SELECT encode(password, 'escape') FROM users; SELECT * FROM meta",
        )
        .expect("dump");
    assert!(!dump.contains(user_pw), "{dump}");

    // Another host with a key of its own: refused, naming the key file and the setting.
    let other = tempfile::tempdir().expect("tempdir");
    crate::secret::Sealer::open(other.path()).expect("key");
    configure(other.path(), &url);
    let e = Store::open(other.path()).unwrap_err();
    assert!(matches!(e, Error::KeyMismatch { .. }), "{e}");
    assert!(e.to_string().contains("store.conf"), "{e}");

    // A wrong password: the setting is named, the password is not.
    let wrong = tempfile::tempdir().expect("tempdir");
    configure(
        wrong.path(),
        &format!("postgres://postgres:hunter2pw@127.0.0.1:{}/mig", pg.port()),
    );
    let e = Store::open(wrong.path()).unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(
            e,
            Error::Postgres {
                action: "connect",
                ..
            }
        ),
        "{text}"
    );
    assert!(
        text.contains("store.conf") && !text.contains("hunter2pw"),
        "{text}"
    );

    // A schema from a newer ImapMigration: refused and left alone.
    pg.psql(
        "mig",
        "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
    )
    .expect("bump");
    let e = Store::open(dir.path()).unwrap_err();
    assert!(matches!(e, Error::PgSchemaTooNew { found: 99, .. }), "{e}");
    assert!(e.to_string().contains("store.conf"), "{e}");
    assert_eq!(
        pg.psql("mig", "SELECT value FROM meta WHERE key = 'schema_version'")
            .expect("read")
            .trim(),
        "99"
    );
}

// ---- console ------------------------------------------------------------------------------

fn a_login_token_is_taken_once_and_only_before_it_expires() {
    let dir = home();
    let store = Store::open(dir.path()).unwrap();
    let now = chrono::Utc::now();
    let later = now + chrono::Duration::minutes(10);
    store
        .console_token_insert("aa", ConsoleTokenKind::Login, &now, &later)
        .unwrap();
    assert!(
        !store
            .console_token_take("aa", ConsoleTokenKind::Session, &now)
            .unwrap(),
        "a login token is no session"
    );
    assert!(
        !store
            .console_token_take(
                "aa",
                ConsoleTokenKind::Login,
                &(later + chrono::Duration::seconds(1))
            )
            .unwrap(),
        "expired"
    );
    assert!(
        store
            .console_token_take("aa", ConsoleTokenKind::Login, &now)
            .unwrap()
    );
    assert!(
        !store
            .console_token_take("aa", ConsoleTokenKind::Login, &now)
            .unwrap(),
        "used twice"
    );
}

fn the_listener_is_recorded_and_cleared() {
    let dir = home();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.console_listener_get().unwrap(), None);
    let l = ConsoleListener {
        address: "127.0.0.1:8440".into(),
        tls: false,
        pid: 42,
        bound_at: crate::types::parse_timestamp("2026-12-03T10:00:00Z").unwrap(),
    };
    store.console_listener_set(Some(&l)).unwrap();
    assert_eq!(store.console_listener_get().unwrap(), Some(l));
    store.console_listener_set(None).unwrap();
    assert_eq!(store.console_listener_get().unwrap(), None);
}

fn reports_are_kept_and_copied_to_each_reader() {
    let dir = home();
    let s = open(dir.path());
    let e = endpoint(&s, "Src");
    let (b, _) = batch(&s, "Reported", &e, 1);
    assert_eq!(s.report_files(&b.id, &b.name).expect("none yet"), None);

    let stats = b"EmailAddress,Status\nuser0@contoso.com,Synced\n".as_slice();
    let errors = b"RowIndex,EmailAddress,ErrorMessage\n".as_slice();
    let at = now();
    let files = s
        .reports_put(
            &b.id,
            &b.name,
            &[
                (ReportKind::Statistics, stats),
                (ReportKind::Errors, errors),
            ],
            &at,
        )
        .expect("put");
    let local = paths::reports_dir(dir.path(), "Reported");
    assert_eq!(files.statistics, local.join("MigrationStatistics.csv"));
    assert_eq!(files.errors, Some(local.join("MigrationErrors.csv")));
    assert_eq!(files.created_at, at);
    assert_eq!(std::fs::read(&files.statistics).expect("read"), stats);

    // A local copy that is gone or not the kept one is copied again.
    std::fs::remove_file(&files.statistics).expect("remove");
    std::fs::write(local.join("MigrationErrors.csv"), "edited").expect("edit");
    std::fs::write(local.join(".MigrationErrors.csv.sha256"), "0").expect("edit");
    assert_eq!(
        s.report_files(&b.id, &b.name).expect("read"),
        Some(files.clone())
    );
    assert_eq!(std::fs::read(&files.statistics).expect("read"), stats);
    assert_eq!(
        std::fs::read(local.join("MigrationErrors.csv")).expect("read"),
        errors
    );

    // Replaced reports replace the local copies.
    let newer = b"EmailAddress,Status\nuser0@contoso.com,Failed\n".as_slice();
    s.reports_put(&b.id, &b.name, &[(ReportKind::Statistics, newer)], &at)
        .expect("put again");
    assert_eq!(std::fs::read(&files.statistics).expect("read"), newer);

    if on_postgres() {
        // Another host of the same store (its own state directory, the same key) gets the
        // reports as files of its own.
        let other = home();
        std::fs::copy(paths::key_path(dir.path()), paths::key_path(other.path()))
            .expect("copy key");
        let o = open(other.path());
        let theirs = o.report_files(&b.id, &b.name).expect("read").expect("kept");
        let there = paths::reports_dir(other.path(), "Reported");
        assert_eq!(theirs.statistics, there.join("MigrationStatistics.csv"));
        assert_eq!(std::fs::read(&theirs.statistics).expect("read"), newer);
        assert_eq!(
            std::fs::read(there.join("MigrationErrors.csv")).expect("read"),
            errors
        );
    }

    assert!(s.delete_batch(&b.id).expect("delete"));
    assert_eq!(count(&s, "reports"), 0);
    assert_eq!(s.report_files(&b.id, &b.name).expect("read"), None);
}

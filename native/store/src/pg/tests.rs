//! The PostgreSQL backend against a real cluster (testkit::Postgres); skipped when PostgreSQL
//! is not installed, unless IMAPMIGRATION_REQUIRE_POSTGRES=1.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use imapmigration_testkit::Postgres;

use super::*;
use crate::location::{PgLocation, STORE_ENV, Setting, StoreLocation};

fn location(pg: &Postgres, db: &str) -> PgLocation {
    let url = pg.create_database(db).unwrap();
    PgLocation::new(&url, Setting::Env).unwrap()
}

/// An endpoint, a batch and `n` Queued users, as the cmdlets would have written them.
fn seed(store: &PgStore, batch: &str, n: usize) {
    let mut sql = format!(
        "INSERT INTO endpoints (id, name, endpoint_type, remote_server, port, security, authentication, created_at) \
         VALUES ('ep-{batch}', 'src-{batch}', 'IMAP', '127.0.0.1', 143, 'None', 'Basic', 'x') ON CONFLICT DO NOTHING; \
         INSERT INTO batches (id, name, source_endpoint_id, status, created_at) \
         VALUES ('{batch}', '{batch}', 'ep-{batch}', 'Syncing', 'x');"
    );
    for i in 0..n {
        sql.push_str(&format!(
            "INSERT INTO users (id, batch_id, email, user_name, password, row_index, status, created_at) \
             VALUES ('{batch}-u{i}', '{batch}', 'u{i}@example.com', 'u{i}', '\\x00', {i}, 'Queued', 'x');"
        ));
    }
    store.execute_raw(&sql).unwrap();
}

#[test]
fn open_migrates_once_and_reopens() {
    let Some(pg) = Postgres::start_or_skip() else {
        return;
    };
    let loc = location(&pg, "mig");
    let home = tempfile::tempdir().unwrap();
    let a = PgStore::open(home.path(), &loc).unwrap();
    assert_eq!(a.schema_version().unwrap(), PG_SCHEMA_VERSION);
    drop(a);
    let b = PgStore::open(home.path(), &loc).unwrap();
    assert_eq!(b.schema_version().unwrap(), PG_SCHEMA_VERSION);
    // Version 3's and 4's columns, version 5's table, version 6's and 8's columns are there.
    b.execute_raw(
        "SELECT recipients FROM skipped_items; SELECT max_connections_per_user, preserve_order, \
         disable_compression, verify_content FROM endpoints; SELECT ended_at FROM leases",
    )
    .unwrap();
}

#[test]
fn several_hosts_opening_at_once_migrate_once() {
    let Some(pg) = Postgres::start_or_skip() else {
        return;
    };
    let loc = location(&pg, "mig");
    let home = tempfile::tempdir().unwrap();
    // The key exists before the hosts start (it is copied to every host).
    crate::secret::Sealer::open(home.path()).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (loc, home) = (loc.clone(), home.path().to_path_buf());
            std::thread::spawn(move || PgStore::open(&home, &loc).map(|_| ()))
        })
        .collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
}

#[test]
fn a_newer_schema_is_refused_and_left_alone() {
    let Some(pg) = Postgres::start_or_skip() else {
        return;
    };
    let loc = location(&pg, "mig");
    let home = tempfile::tempdir().unwrap();
    let s = PgStore::open(home.path(), &loc).unwrap();
    s.execute_raw("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
        .unwrap();
    drop(s);
    let e = PgStore::open(home.path(), &loc).unwrap_err();
    assert!(matches!(e, Error::PgSchemaTooNew { found: 99, .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains("update ImapMigration on this host"), "{text}");
    assert!(text.contains(STORE_ENV), "{text}");
    assert!(!text.contains(imapmigration_testkit::PG_PASSWORD), "{text}");
    assert_eq!(
        pg.psql("mig", "SELECT value FROM meta WHERE key = 'schema_version'")
            .unwrap()
            .trim(),
        "99"
    );
}

#[test]
fn a_key_file_that_does_not_match_is_refused_without_writing() {
    let Some(pg) = Postgres::start_or_skip() else {
        return;
    };
    let loc = location(&pg, "mig");
    let first = tempfile::tempdir().unwrap();
    PgStore::open(first.path(), &loc).unwrap();

    // Another host with a key of its own.
    let other = tempfile::tempdir().unwrap();
    crate::secret::Sealer::open(other.path()).unwrap();
    let e = PgStore::open(other.path(), &loc).unwrap_err();
    assert!(matches!(e, Error::KeyMismatch { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("secret.key") && text.contains(STORE_ENV),
        "{text}"
    );

    // A host with no key at all: refused, and no fresh key is made up.
    let bare = tempfile::tempdir().unwrap();
    let e = PgStore::open(bare.path(), &loc).unwrap_err();
    assert!(matches!(e, Error::KeyMismatch { .. }), "{e}");
    assert!(!crate::paths::key_path(bare.path()).exists());

    // The copied key works.
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(
        crate::paths::key_path(first.path()),
        crate::paths::key_path(copy.path()),
    )
    .unwrap();
    PgStore::open(copy.path(), &loc).unwrap();
}

#[test]
fn an_unreachable_or_wrong_database_names_the_setting() {
    let Some(pg) = Postgres::start_or_skip() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let cases = [
        // Nothing listens there.
        "postgres://postgres:hunter2pw@127.0.0.1:1/mig".to_owned(),
        // Wrong password.
        format!(
            "postgres://postgres:hunter2pw@127.0.0.1:{}/postgres",
            pg.port()
        ),
        // No such database.
        pg.url("nosuchdb"),
    ];
    for url in cases {
        let home_conf = home.path().join(format!("h{}", url.len()));
        std::fs::create_dir_all(&home_conf).unwrap();
        std::fs::write(
            crate::location::store_conf_path(&home_conf),
            format!("store = {url}\n"),
        )
        .unwrap();
        let StoreLocation::Postgres(loc) = StoreLocation::resolve_with(&home_conf, None).unwrap()
        else {
            panic!("expected postgres");
        };
        let e = PgStore::open(&home_conf, &loc).unwrap_err();
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
        assert!(text.contains("store.conf"), "{text}");
        assert!(
            !text.contains("hunter2pw") && !text.contains(imapmigration_testkit::PG_PASSWORD),
            "{text}"
        );
        // Nothing was written: no key file.
        assert!(!crate::paths::key_path(&home_conf).exists(), "{text}");
    }
}

#[test]
fn concurrent_workers_claim_each_user_exactly_once() {
    let Some(pg) = Postgres::start_or_skip() else {
        return;
    };
    let loc = location(&pg, "mig");
    let home = tempfile::tempdir().unwrap();
    let first = PgStore::open(home.path(), &loc).unwrap();
    seed(&first, "b1", 60);
    let handles: Vec<_> = (0..3)
        .map(|w| {
            let (loc, home) = (loc.clone(), home.path().to_path_buf());
            std::thread::spawn(move || {
                let s = PgStore::open(&home, &loc).unwrap();
                let me = format!("w{w}");
                s.worker_register(&me, 100 + w, &format!("host{w}"), "0.1.0")
                    .unwrap();
                let mut got = Vec::new();
                while let Some(l) = s
                    .claim_user(&me, Some("b1"), &[UserStatus::Queued])
                    .unwrap()
                {
                    assert!(l.took_over_from.is_none());
                    assert!(s.holds(&me, &l.user_id).unwrap());
                    // The pass: the user is Synced and given back.
                    s.execute_raw(&format!(
                        "UPDATE users SET status = 'Synced' WHERE id = '{}'",
                        l.user_id
                    ))
                    .unwrap();
                    assert!(s.release(&me, &l.user_id).unwrap());
                    got.push(l.user_id);
                }
                got
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.join().unwrap());
    }
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), 60);
    assert_eq!(unique.len(), 60);
    let history = first.lease_history().unwrap();
    assert_eq!(history.len(), 60);
    assert!(overlapping_leases(&history).is_empty());
    let workers = first.workers().unwrap();
    assert_eq!(workers.len(), 3);
    assert!(workers.iter().all(|w| w.alive && w.users_held == 0));
}

#[test]
fn an_expired_lease_is_taken_over_and_the_old_holder_stops() {
    let Some(pg) = Postgres::start_or_skip() else {
        return;
    };
    let loc = location(&pg, "mig");
    let home = tempfile::tempdir().unwrap();
    let a = PgStore::open(home.path(), &loc).unwrap();
    let b = PgStore::open(home.path(), &loc).unwrap();
    seed(&a, "b1", 1);
    a.worker_register("A", 1, "hostA", "0.1.0").unwrap();
    b.worker_register("B", 2, "hostB", "0.1.0").unwrap();
    let statuses = [UserStatus::Queued, UserStatus::Syncing];
    let held = a.claim_user("A", None, &statuses).unwrap().unwrap();
    a.execute_raw("UPDATE users SET status = 'Syncing'")
        .unwrap();
    // While A's lease runs (and is renewed), B gets nothing.
    assert_eq!(a.heartbeat("A").unwrap(), 1);
    assert!(b.claim_user("B", None, &statuses).unwrap().is_none());
    let by_id: HashMap<_, _> = a
        .workers()
        .unwrap()
        .into_iter()
        .map(|w| (w.id.clone(), w))
        .collect();
    assert_eq!(by_id["A"].users_held, 1);
    assert_eq!(by_id["B"].users_held, 0);

    // A dies: its lease runs out (set in the past rather than waited for).
    a.execute_raw("UPDATE users SET lease_expires_at = now() - interval '1 second'")
        .unwrap();
    let taken = b.claim_user("B", None, &statuses).unwrap().unwrap();
    assert_eq!(taken.user_id, held.user_id);
    assert_eq!(taken.took_over_from.as_deref(), Some("A"));
    // A, if it was only cut off, learns it lost the user and cannot renew or release it.
    assert!(!a.holds("A", &held.user_id).unwrap());
    assert_eq!(a.heartbeat("A").unwrap(), 0);
    assert!(!a.release("A", &held.user_id).unwrap());
    assert!(b.holds("B", &held.user_id).unwrap());

    let history = b.lease_history().unwrap();
    assert_eq!(history.len(), 2);
    assert!(overlapping_leases(&history).is_empty(), "{history:?}");
    assert!(history[0].ended_at.unwrap() <= history[1].acquired_at);

    // B shuts down cleanly: the user is free again.
    b.worker_remove("B").unwrap();
    assert!(b.claim_user("C", None, &statuses).unwrap().is_some());
}

#[test]
fn the_store_survives_a_database_restart() {
    let Some(mut pg) = Postgres::start_or_skip() else {
        return;
    };
    let loc = location(&pg, "mig");
    let home = tempfile::tempdir().unwrap();
    let s = PgStore::open(home.path(), &loc).unwrap();
    seed(&s, "b1", 2);
    let first = s
        .claim_user("A", None, &[UserStatus::Queued])
        .unwrap()
        .unwrap();
    pg.restart().unwrap();
    // The connection was lost; a call may fail once, then the store reconnects.
    let _ = s.heartbeat("A");
    assert!(s.holds("A", &first.user_id).unwrap());
    let second = s
        .claim_user("A", None, &[UserStatus::Queued])
        .unwrap()
        .unwrap();
    assert_ne!(first.user_id, second.user_id);
}

#[test]
fn the_store_can_be_called_from_async_code() {
    let Some(pg) = Postgres::start_or_skip() else {
        return;
    };
    let loc = location(&pg, "mig");
    let home = tempfile::tempdir().unwrap();
    let s = Arc::new(PgStore::open(home.path(), &loc).unwrap());
    seed(&s, "b1", 1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let got = rt.block_on(async {
        s.worker_register("A", 1, "h", "v").unwrap();
        s.claim_user("A", None, &[UserStatus::Queued]).unwrap()
    });
    assert!(got.is_some());
}

#[test]
fn the_heartbeat_keeps_leases_ahead_of_expiry() {
    let Some(pg) = Postgres::start_or_skip() else {
        return;
    };
    let loc = location(&pg, "mig");
    let home = tempfile::tempdir().unwrap();
    let s = Arc::new(PgStore::open(home.path(), &loc).unwrap());
    seed(&s, "b1", 1);
    s.worker_register("A", 1, "h", "v").unwrap();
    let lease = s
        .claim_user("A", None, &[UserStatus::Queued])
        .unwrap()
        .unwrap();
    // A lease about to run out is pushed ahead by the next beat.
    s.execute_raw("UPDATE users SET lease_expires_at = now() + interval '50 milliseconds'")
        .unwrap();
    let hb = Heartbeat::start(s.clone(), "A", std::time::Duration::from_millis(10));
    while hb.state().beats < 3 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(hb.state().held, 1);
    assert!(hb.state().last_error.is_none());
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(s.holds("A", &lease.user_id).unwrap());
    drop(hb);
    let w = &s.workers().unwrap()[0];
    assert!(w.alive);
    assert_eq!(w.users_held, 1);
}

#[test]
fn a_claim_among_candidates_takes_their_order_and_rechecks_the_status() {
    let Some(pg) = Postgres::start_or_skip() else {
        return;
    };
    let loc = location(&pg, "among");
    let home = tempfile::tempdir().unwrap();
    let a = PgStore::open(home.path(), &loc).unwrap();
    let b = PgStore::open(home.path(), &loc).unwrap();
    seed(&a, "b1", 4);
    let queued = [UserStatus::Queued];
    let ids = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    // The caller's order, not the CSV's.
    let got = a
        .claim_user_among("wa", "b1", &ids(&["b1-u2", "b1-u0"]), &queued, None)
        .unwrap()
        .unwrap();
    assert_eq!(got.user_id, "b1-u2");
    // A user held by another worker, or no longer in a runnable status, is not claimed.
    a.execute_raw("UPDATE users SET status = 'Synced' WHERE id = 'b1-u0'")
        .unwrap();
    assert_eq!(
        b.claim_user_among("wb", "b1", &ids(&["b1-u2", "b1-u0"]), &queued, None)
            .unwrap(),
        None
    );
    assert_eq!(
        b.claim_user_among("wb", "b1", &[], &queued, None).unwrap(),
        None
    );
    let got = b
        .claim_user_among("wb", "b1", &ids(&["b1-u0", "b1-u3"]), &queued, None)
        .unwrap()
        .unwrap();
    assert_eq!(got.user_id, "b1-u3");
    // Each beat names what it renewed; a batch's leases say who holds what.
    assert_eq!(a.heartbeat_held("wa").unwrap(), ["b1-u2"]);
    let mut leases = a.batch_leases("b1").unwrap();
    leases.sort();
    assert_eq!(
        leases,
        [
            ("b1-u2".to_owned(), "wa".to_owned()),
            ("b1-u3".to_owned(), "wb".to_owned())
        ]
    );
}

#[test]
fn one_worker_at_a_time_holds_a_batch_lock() {
    let Some(pg) = Postgres::start_or_skip() else {
        return;
    };
    let loc = location(&pg, "lock");
    let home = tempfile::tempdir().unwrap();
    let a = PgStore::open(home.path(), &loc).unwrap();
    let b = PgStore::open(home.path(), &loc).unwrap();
    assert!(a.try_lock_batch("b1").unwrap());
    assert!(!b.try_lock_batch("b1").unwrap(), "two holders of one batch");
    assert!(b.try_lock_batch("b2").unwrap(), "another batch is free");
    a.unlock_batch("b1").unwrap();
    assert!(b.try_lock_batch("b1").unwrap());
    // A worker that dies (its connection closes) loses the lock.
    drop(b);
    assert!(a.try_lock_batch("b1").unwrap());
}

#[test]
fn claims_keep_an_endpoints_limits_over_all_workers() {
    let Some(pg) = Postgres::start_or_skip() else {
        return;
    };
    let loc = location(&pg, "limits");
    let home = tempfile::tempdir().unwrap();
    let a = PgStore::open(home.path(), &loc).unwrap();
    let b = PgStore::open(home.path(), &loc).unwrap();
    // Two batches from one endpoint; b2's users are past their first pass.
    seed(&a, "b1", 4);
    a.execute_raw(
        "INSERT INTO batches (id, name, source_endpoint_id, status, created_at) \
         VALUES ('b2', 'b2', 'ep-b1', 'Syncing', 'x'); \
         INSERT INTO users (id, batch_id, email, user_name, password, row_index, status, created_at, passes) \
         VALUES ('b2-u0', 'b2', 'v0@example.com', 'v0', '\\x00', 0, 'Queued', 'x', 1), \
                ('b2-u1', 'b2', 'v1@example.com', 'v1', '\\x00', 1, 'Queued', 'x', 1);",
    )
    .unwrap();
    let limits = EndpointLimits {
        endpoint_id: "ep-b1".into(),
        initial: 2,
        incremental: 1,
    };
    let queued = [UserStatus::Queued];
    let ids = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let b1 = ids(&["b1-u0", "b1-u1", "b1-u2", "b1-u3"]);
    let b2 = ids(&["b2-u0", "b2-u1"]);
    let claim = |s: &PgStore, w: &str, batch: &str, c: &[String]| {
        s.claim_user_among(w, batch, c, &queued, Some(&limits))
            .unwrap()
            .map(|l| l.user_id)
    };
    // Two initial syncs over both workers, then none until one is released.
    assert_eq!(claim(&a, "wa", "b1", &b1).as_deref(), Some("b1-u0"));
    assert_eq!(claim(&b, "wb", "b1", &b1).as_deref(), Some("b1-u1"));
    assert_eq!(claim(&a, "wa", "b1", &b1), None);
    assert_eq!(claim(&b, "wb", "b1", &b1), None);
    // A pass's outcome raises `passes` while its lease is held: the holding stays an initial
    // one and still takes the room.
    a.execute_raw("UPDATE users SET passes = 1 WHERE id = 'b1-u0'")
        .unwrap();
    assert_eq!(claim(&a, "wa", "b1", &b1), None);
    a.execute_raw("UPDATE users SET passes = 0 WHERE id = 'b1-u0'")
        .unwrap();
    // Without limits the same claim is taken: the limits are what refused it.
    assert!(
        b.claim_user_among("wb", "b1", &b1, &queued, None)
            .unwrap()
            .is_some()
    );
    b.release("wb", "b1-u2").unwrap();
    // Incremental syncs have their own limit.
    assert_eq!(claim(&b, "wb", "b2", &b2).as_deref(), Some("b2-u0"));
    assert_eq!(claim(&a, "wa", "b2", &b2), None);
    a.release("wa", "b1-u0").unwrap();
    assert_eq!(claim(&b, "wb", "b1", &b1).as_deref(), Some("b1-u0"));
    assert_eq!(claim(&a, "wa", "b1", &b1), None);
    // An expired lease holds no room.
    a.execute_raw(
        "UPDATE users SET lease_expires_at = now() - interval '1 second' WHERE id = 'b2-u0'",
    )
    .unwrap();
    assert_eq!(claim(&a, "wa", "b2", &b2).as_deref(), Some("b2-u0"));
}

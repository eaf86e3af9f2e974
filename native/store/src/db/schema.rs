//! Schema migrations. Each entry upgrades the schema by one version and runs inside the same
//! `BEGIN IMMEDIATE` transaction that records the new `meta.schema_version`. Entries are never
//! edited once released: a change is a new entry appended at the end.

/// Version 1: the schema of `docs/design.md`.
const V1: &str = r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE config (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE endpoints (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE COLLATE NOCASE,
  endpoint_type TEXT NOT NULL,
  remote_server TEXT NOT NULL, port INTEGER NOT NULL,
  security TEXT NOT NULL,
  authentication TEXT NOT NULL,
  accept_untrusted INTEGER NOT NULL DEFAULT 0,
  ca_file TEXT,
  max_concurrent_migrations INTEGER NOT NULL DEFAULT 100,
  max_concurrent_incremental_syncs INTEGER NOT NULL DEFAULT 20,
  admin_user TEXT,
  admin_secret BLOB,
  target_login TEXT,
  master_user_separator TEXT NOT NULL DEFAULT '*',
  oauth_token_endpoint TEXT, oauth_client_id TEXT, oauth_scope TEXT,
  target_user_template TEXT,
  created_at TEXT NOT NULL);
CREATE TABLE batches (
  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE,
  source_endpoint_id TEXT NOT NULL REFERENCES endpoints(id),
  target_endpoint_id TEXT REFERENCES endpoints(id),
  target_maildir TEXT,
  status TEXT NOT NULL,
  requested_action TEXT,
  auto_start INTEGER NOT NULL DEFAULT 0,
  start_after TEXT, complete_after TEXT, time_zone TEXT,
  notification_emails TEXT NOT NULL DEFAULT '[]', exclude_folders TEXT NOT NULL DEFAULT '[]',
  include_folders TEXT NOT NULL DEFAULT '[]', content_filter TEXT,
  bad_item_limit INTEGER, large_item_limit INTEGER,
  max_message_size INTEGER,
  allow_unknown_columns INTEGER NOT NULL DEFAULT 0,
  report_interval_secs INTEGER, skip_reports INTEGER NOT NULL DEFAULT 0,
  validation_warnings TEXT NOT NULL DEFAULT '[]',
  message TEXT,
  submitted_by TEXT,
  created_at TEXT NOT NULL, started_at TEXT, initial_sync_at TEXT, last_synced_at TEXT,
  completed_at TEXT, next_sync_at TEXT);
CREATE TABLE users (
  id TEXT PRIMARY KEY, batch_id TEXT NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
  email TEXT NOT NULL COLLATE NOCASE, user_name TEXT NOT NULL, password BLOB NOT NULL,
  user_root TEXT, row_index INTEGER NOT NULL,
  status TEXT NOT NULL, requested_action TEXT,
  last_error TEXT, error_code TEXT,
  items_total INTEGER NOT NULL DEFAULT 0, items_synced INTEGER NOT NULL DEFAULT 0,
  items_skipped INTEGER NOT NULL DEFAULT 0, bytes_total INTEGER NOT NULL DEFAULT 0,
  bytes_synced INTEGER NOT NULL DEFAULT 0, folders_synced INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL, started_at TEXT, last_sync_start TEXT, last_success_at TEXT,
  initial_sync_at TEXT, passes INTEGER NOT NULL DEFAULT 0,
  UNIQUE (batch_id, email));
CREATE TABLE folders (
  id INTEGER PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  source_name TEXT NOT NULL,
  target_name TEXT NOT NULL,
  src_uidvalidity INTEGER, src_highest_modseq INTEGER,
  dst_uidvalidity INTEGER,
  UNIQUE (user_id, source_name));
CREATE TABLE messages (
  folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
  src_uid INTEGER NOT NULL,
  state INTEGER NOT NULL,
  dst_uid INTEGER,
  size INTEGER NOT NULL, internal_date INTEGER NOT NULL,
  msg_key TEXT NOT NULL,
  flags TEXT NOT NULL,
  PRIMARY KEY (folder_id, src_uid)) WITHOUT ROWID;
CREATE TABLE skipped_items (
  id INTEGER PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  folder TEXT NOT NULL, src_uid INTEGER, kind TEXT NOT NULL,
  subject TEXT, sender TEXT, date_sent TEXT, date_received TEXT, size INTEGER,
  reason TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE events (
  id INTEGER PRIMARY KEY, user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
  batch_id TEXT REFERENCES batches(id) ON DELETE CASCADE, at TEXT NOT NULL, level TEXT NOT NULL, message TEXT NOT NULL);
CREATE TABLE workers (id TEXT PRIMARY KEY, pid INTEGER NOT NULL, host TEXT NOT NULL,
  version TEXT NOT NULL, started_at TEXT NOT NULL, heartbeat_at TEXT NOT NULL);

-- Indexes for the foreign keys (cascading deletes and ON DELETE checks scan without them)
-- and for the worker's polling query.
CREATE INDEX batches_source_endpoint ON batches(source_endpoint_id);
CREATE INDEX batches_target_endpoint ON batches(target_endpoint_id);
CREATE INDEX batches_status ON batches(status);
CREATE INDEX users_email ON users(email);
CREATE INDEX users_batch_status ON users(batch_id, status);
CREATE INDEX skipped_items_user ON skipped_items(user_id);
CREATE INDEX events_user ON events(user_id);
CREATE INDEX events_batch ON events(batch_id);
"#;

/// Version 3: the recipients (To and Cc) of a skipped item, a JSON array of strings
/// (`Recipient` of Exchange's skipped items).
const V3: &str = r#"
ALTER TABLE skipped_items ADD COLUMN recipients TEXT NOT NULL DEFAULT '[]';
"#;

/// Version 4: how many connections a user may hold on an endpoint at once
/// (`-MaxConnectionsPerUser`), and whether a folder is appended into over one connection only
/// (`-PreserveOrder`).
const V4: &str = r#"
ALTER TABLE endpoints ADD COLUMN max_connections_per_user INTEGER NOT NULL DEFAULT 8;
ALTER TABLE endpoints ADD COLUMN preserve_order INTEGER NOT NULL DEFAULT 0;
"#;

/// Version 5: whether COMPRESS=DEFLATE stays off with an endpoint (`-DisableCompression`).
const V5: &str = r#"
ALTER TABLE endpoints ADD COLUMN disable_compression INTEGER NOT NULL DEFAULT 0;
"#;

/// Version 6: the batch report files kept in the store (`db/reports.rs`).
const V6: &str = super::reports::SCHEMA;

/// Version 7: whether the copies appended to an IMAP target are read back and compared with
/// what was sent (`-VerifyContent`).
const V7: &str = r#"
ALTER TABLE endpoints ADD COLUMN verify_content INTEGER NOT NULL DEFAULT 0;
"#;

/// Every migration, in order; `MIGRATIONS[n]` upgrades version `n` to `n + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[V1, super::console::SCHEMA, V3, V4, V5, V6, V7];

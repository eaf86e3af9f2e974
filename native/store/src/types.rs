//! Domain types: statuses with Exchange's exact spellings, and one record type per table.
//!
//! Records mirror the rows of `docs/design.md` one to one. Sealed columns are carried as
//! [`Sealed`] and skipped by serde, so serializing a record never emits secret material.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SubsecRound, Utc};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::secret::Sealed;

/// UTC timestamp. Stored as RFC 3339 with whole seconds and `Z` (`2026-11-26T16:34:07Z`), so
/// stored values sort and compare correctly as text.
pub type Timestamp = DateTime<Utc>;

/// Current time truncated to whole seconds (the stored precision), so a record survives a
/// round trip through the database unchanged.
pub fn now() -> Timestamp {
    Utc::now().trunc_subsecs(0)
}

/// Formats a timestamp the way the database stores it.
pub fn format_timestamp(ts: &Timestamp) -> String {
    ts.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Parses a stored timestamp (any RFC 3339 value is accepted).
pub fn parse_timestamp(s: &str) -> Option<Timestamp> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// A string did not name a member of a status or option enum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} value {value:?}, expected one of: {expected}")]
pub struct ParseEnumError {
    pub kind: &'static str,
    pub value: String,
    pub expected: String,
}

/// Declares a string enum with `as_str`, `Display`, case-insensitive `FromStr`, serde as the
/// exact string, and SQLite conversion as TEXT.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every member, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The exact spelling (as stored and as Exchange prints it).
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text ),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ParseEnumError;
            /// Case-insensitive, surrounding white space ignored.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let t = s.trim();
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(t))
                    .ok_or_else(|| ParseEnumError {
                        kind: stringify!($name),
                        value: s.to_owned(),
                        expected: $name::ALL
                            .iter()
                            .map(|v| v.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                value
                    .as_str()?
                    .parse()
                    .map_err(|e: ParseEnumError| FromSqlError::Other(Box::new(e)))
            }
        }
    };
}

string_enum! {
    /// Connection security of an endpoint (`-Security`): `None` is plain text (optionally
    /// upgraded by STARTTLS where the endpoint says `Tls`), `Ssl` is implicit TLS (port 993).
    pub enum SecurityMode {
        None => "None",
        Ssl => "Ssl",
        Tls => "Tls",
    }
}

string_enum! {
    /// `-Authentication` of an IMAP endpoint.
    pub enum AuthenticationMethod {
        Basic => "Basic",
        Ntlm => "Ntlm",
        OAuth2 => "OAuth2",
    }
}

string_enum! {
    /// How a target endpoint logs in for each user (`endpoints.target_login`); absent means
    /// every user logs in with the credentials from the CSV.
    pub enum TargetLogin {
        MasterUser => "MasterUser",
        AuthorizationId => "AuthorizationId",
        OAuth2 => "OAuth2",
    }
}

string_enum! {
    /// Batch status, spelled as Exchange spells it (docs/compatibility.md §8.1).
    pub enum BatchStatus {
        Created => "Created",
        Starting => "Starting",
        Syncing => "Syncing",
        Synced => "Synced",
        SyncedWithErrors => "SyncedWithErrors",
        Stopping => "Stopping",
        Stopped => "Stopped",
        Completing => "Completing",
        Completed => "Completed",
        CompletedWithErrors => "CompletedWithErrors",
        Removing => "Removing",
        Failed => "Failed",
        IncrementalSyncing => "IncrementalSyncing",
        Waiting => "Waiting",
        Corrupted => "Corrupted",
    }
}

string_enum! {
    /// User status, spelled as Exchange spells it (docs/compatibility.md §8.3).
    pub enum UserStatus {
        Queued => "Queued",
        Starting => "Starting",
        Syncing => "Syncing",
        Synced => "Synced",
        IncrementalSyncing => "IncrementalSyncing",
        Failed => "Failed",
        IncrementalFailed => "IncrementalFailed",
        Stopping => "Stopping",
        Stopped => "Stopped",
        IncrementalStopped => "IncrementalStopped",
        Completing => "Completing",
        Completed => "Completed",
        CompletedWithWarnings => "CompletedWithWarnings",
        Removing => "Removing",
        Validating => "Validating",
    }
}

string_enum! {
    /// `StatusSummary` of a migration user.
    pub enum StatusSummary {
        Active => "Active",
        Failed => "Failed",
        Synced => "Synced",
        Completed => "Completed",
        Stopped => "Stopped",
    }
}

string_enum! {
    /// An action a cmdlet asks of the worker for a batch (`batches.requested_action`).
    pub enum BatchAction {
        Start => "start",
        Stop => "stop",
        Complete => "complete",
        Remove => "remove",
        SyncNow => "syncnow",
    }
}

string_enum! {
    /// An action a cmdlet asks of the worker for one user (`users.requested_action`).
    pub enum UserAction {
        Start => "start",
        Stop => "stop",
        Remove => "remove",
        SyncNow => "syncnow",
    }
}

string_enum! {
    /// Kind of a skipped item, as Exchange reports it.
    pub enum SkippedKind {
        LargeItem => "LargeItem",
        BadItem => "BadItem",
        CorruptItem => "CorruptItem",
    }
}

string_enum! {
    /// Level of a report line.
    pub enum EventLevel {
        Info => "Info",
        Warning => "Warning",
        Error => "Error",
    }
}

/// State of a `messages` row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum MessageState {
    /// Planned; the APPEND may or may not have landed on the target (0).
    InFlight,
    /// The target confirmed the copy (1).
    Copied,
    /// Deliberately not copied (2), see `skipped_items`.
    Skipped,
}

impl MessageState {
    /// The stored integer.
    pub fn code(self) -> u8 {
        match self {
            MessageState::InFlight => 0,
            MessageState::Copied => 1,
            MessageState::Skipped => 2,
        }
    }
}

impl From<MessageState> for u8 {
    fn from(s: MessageState) -> u8 {
        s.code()
    }
}

impl TryFrom<u8> for MessageState {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        match v {
            0 => Ok(MessageState::InFlight),
            1 => Ok(MessageState::Copied),
            2 => Ok(MessageState::Skipped),
            other => Err(format!("unknown message state {other}")),
        }
    }
}

impl ToSql for MessageState {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(i64::from(self.code())))
    }
}

impl FromSql for MessageState {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let v = value.as_i64()?;
        u8::try_from(v)
            .ok()
            .and_then(|v| MessageState::try_from(v).ok())
            .ok_or(FromSqlError::OutOfRange(v))
    }
}

/// A row-level CSV problem, kept on the batch (`batches.validation_warnings`) and serialized
/// with Exchange's property names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationWarning {
    /// 1-based index of the data row (the header is not counted; see
    /// [`crate::csv_import::parse`]).
    #[serde(rename = "RowIndex")]
    pub row_index: u32,
    /// The row's EmailAddress value (may be empty when that is the problem).
    #[serde(rename = "EmailAddress")]
    pub email_address: String,
    /// What is wrong, never containing a password.
    #[serde(rename = "LocalizedErrorMessage")]
    pub message: String,
}

/// A migration endpoint (`endpoints` row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRecord {
    pub id: Uuid,
    /// Unique, compared case-insensitively.
    pub name: String,
    /// Always `IMAP` today.
    pub endpoint_type: String,
    pub remote_server: String,
    pub port: u16,
    pub security: SecurityMode,
    pub authentication: AuthenticationMethod,
    pub accept_untrusted: bool,
    pub ca_file: Option<String>,
    pub max_concurrent_migrations: u32,
    pub max_concurrent_incremental_syncs: u32,
    /// `-Credentials` user name (targets).
    pub admin_user: Option<String>,
    /// Sealed admin password or OAuth2 client secret; never serialized.
    #[serde(skip)]
    pub admin_secret: Option<Sealed>,
    pub target_login: Option<TargetLogin>,
    pub master_user_separator: String,
    pub oauth_token_endpoint: Option<String>,
    pub oauth_client_id: Option<String>,
    pub oauth_scope: Option<String>,
    /// e.g. `{EmailAddress}` (the default when absent), `{UserName}`, `{LocalPart}`.
    pub target_user_template: Option<String>,
    pub created_at: Timestamp,
}

impl EndpointRecord {
    /// A new IMAP endpoint with Exchange's defaults: port 993, `Ssl`, `Basic`, 100 concurrent
    /// migrations, 20 concurrent incremental syncs, master-user separator `*`.
    pub fn new(name: impl Into<String>, remote_server: impl Into<String>) -> Self {
        EndpointRecord {
            id: Uuid::new_v4(),
            name: name.into(),
            endpoint_type: "IMAP".into(),
            remote_server: remote_server.into(),
            port: 993,
            security: SecurityMode::Ssl,
            authentication: AuthenticationMethod::Basic,
            accept_untrusted: false,
            ca_file: None,
            max_concurrent_migrations: 100,
            max_concurrent_incremental_syncs: 20,
            admin_user: None,
            admin_secret: None,
            target_login: None,
            master_user_separator: "*".into(),
            oauth_token_endpoint: None,
            oauth_client_id: None,
            oauth_scope: None,
            target_user_template: None,
            created_at: now(),
        }
    }
}

/// A migration batch (`batches` row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRecord {
    pub id: Uuid,
    /// Unique, compared case-insensitively.
    pub name: String,
    pub source_endpoint_id: Uuid,
    /// None: the configured default target, else the embedded Maildir.
    pub target_endpoint_id: Option<Uuid>,
    /// Resolved Maildir root when the target is the embedded store.
    pub target_maildir: Option<String>,
    pub status: BatchStatus,
    /// Set by cmdlets, cleared by the worker.
    pub requested_action: Option<BatchAction>,
    pub auto_start: bool,
    pub start_after: Option<Timestamp>,
    pub complete_after: Option<Timestamp>,
    pub time_zone: Option<String>,
    pub notification_emails: Vec<String>,
    pub exclude_folders: Vec<String>,
    pub include_folders: Vec<String>,
    pub content_filter: Option<String>,
    /// None = unlimited.
    pub bad_item_limit: Option<u32>,
    /// None = unlimited.
    pub large_item_limit: Option<u32>,
    /// Bytes; None = unlimited.
    pub max_message_size: Option<u64>,
    pub allow_unknown_columns: bool,
    pub report_interval_secs: Option<u64>,
    pub skip_reports: bool,
    pub validation_warnings: Vec<ValidationWarning>,
    pub message: Option<String>,
    pub submitted_by: Option<String>,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub initial_sync_at: Option<Timestamp>,
    pub last_synced_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub next_sync_at: Option<Timestamp>,
}

impl BatchRecord {
    /// A new batch in status `Created` with every option at its default.
    pub fn new(name: impl Into<String>, source_endpoint_id: Uuid) -> Self {
        BatchRecord {
            id: Uuid::new_v4(),
            name: name.into(),
            source_endpoint_id,
            target_endpoint_id: None,
            target_maildir: None,
            status: BatchStatus::Created,
            requested_action: None,
            auto_start: false,
            start_after: None,
            complete_after: None,
            time_zone: None,
            notification_emails: Vec::new(),
            exclude_folders: Vec::new(),
            include_folders: Vec::new(),
            content_filter: None,
            bad_item_limit: None,
            large_item_limit: None,
            max_message_size: None,
            allow_unknown_columns: false,
            report_interval_secs: None,
            skip_reports: false,
            validation_warnings: Vec::new(),
            message: None,
            submitted_by: None,
            created_at: now(),
            started_at: None,
            initial_sync_at: None,
            last_synced_at: None,
            completed_at: None,
            next_sync_at: None,
        }
    }
}

/// A user in a batch (`users` row). The same address may be in several batches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: Uuid,
    pub batch_id: Uuid,
    /// The CSV `EmailAddress` (target mailbox); unique per batch, case-insensitively.
    pub email: String,
    /// The CSV `UserName` (source login).
    pub user_name: String,
    /// Sealed CSV `Password`; never serialized.
    #[serde(skip)]
    pub password: Sealed,
    pub user_root: Option<String>,
    /// The CSV data row the user came from (1-based).
    pub row_index: u32,
    pub status: UserStatus,
    pub requested_action: Option<UserAction>,
    pub last_error: Option<String>,
    pub error_code: Option<String>,
    pub items_total: u64,
    pub items_synced: u64,
    pub items_skipped: u64,
    pub bytes_total: u64,
    pub bytes_synced: u64,
    pub folders_synced: u64,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub last_sync_start: Option<Timestamp>,
    pub last_success_at: Option<Timestamp>,
    pub initial_sync_at: Option<Timestamp>,
    pub passes: u32,
}

impl UserRecord {
    /// The summary of [`UserRecord::status`].
    pub fn status_summary(&self) -> StatusSummary {
        self.status.summary()
    }
}

/// One source folder of a user (`folders` row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderRecord {
    pub id: i64,
    pub user_id: Uuid,
    /// Decoded (UTF-8) source name.
    pub source_name: String,
    /// Decoded target name, after separator and special-use mapping.
    pub target_name: String,
    /// UIDVALIDITY of the source folder at the last pass (RFC 9051 §2.3.1.1).
    pub src_uidvalidity: Option<u32>,
    /// HIGHESTMODSEQ of the source folder at the last pass (CONDSTORE, RFC 7162 §3.1.2.1).
    pub src_highest_modseq: Option<u64>,
    /// UIDVALIDITY of the target folder the stored `dst_uid`s belong to.
    pub dst_uidvalidity: Option<u32>,
}

/// One planned or copied source message (`messages` row; the folder id is passed beside it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRow {
    pub src_uid: u32,
    pub state: MessageState,
    /// The target UID from APPENDUID (UIDPLUS, RFC 4315 §3) when known.
    pub dst_uid: Option<u32>,
    /// RFC822.SIZE.
    pub size: u64,
    /// INTERNALDATE as unix seconds.
    pub internal_date: i64,
    /// Message-ID, else `sha256:<hex of BODY[]>`.
    pub msg_key: String,
    /// Flags last applied to the target, space-separated and sorted.
    pub flags: String,
}

/// An item that was not migrated (`skipped_items` row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedItem {
    /// Assigned by the database; ignored on insert.
    pub id: i64,
    pub user_id: Uuid,
    pub folder: String,
    pub src_uid: Option<u32>,
    pub kind: SkippedKind,
    pub subject: Option<String>,
    pub sender: Option<String>,
    pub date_sent: Option<String>,
    pub date_received: Option<String>,
    pub size: Option<u64>,
    pub reason: String,
    pub created_at: Timestamp,
}

/// A report line of a user or a batch (`events` row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Assigned by the database; ignored on insert.
    pub id: i64,
    pub user_id: Option<Uuid>,
    pub batch_id: Option<Uuid>,
    pub at: Timestamp,
    pub level: EventLevel,
    pub message: String,
}

impl Event {
    /// A line stamped now.
    pub fn new(
        user_id: Option<Uuid>,
        batch_id: Option<Uuid>,
        level: EventLevel,
        message: impl Into<String>,
    ) -> Self {
        Event {
            id: 0,
            user_id,
            batch_id,
            at: now(),
            level,
            message: message.into(),
        }
    }
}

/// One configuration entry (`config` row); values are JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigRecord {
    pub key: String,
    pub value: serde_json::Value,
}

/// A worker's registration and heartbeat (`workers` row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerRecord {
    pub id: String,
    pub pid: u32,
    pub host: String,
    pub version: String,
    pub started_at: Timestamp,
    pub heartbeat_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_parse_case_insensitively_and_print_exactly() {
        assert_eq!(
            "syncedwitherrors".parse::<BatchStatus>(),
            Ok(BatchStatus::SyncedWithErrors)
        );
        assert_eq!(" QUEUED ".parse::<UserStatus>(), Ok(UserStatus::Queued));
        assert!("Nope".parse::<UserStatus>().is_err());
        for s in BatchStatus::ALL {
            assert_eq!(s.as_str().parse::<BatchStatus>(), Ok(*s));
            assert_eq!(
                serde_json::to_string(s).expect("json"),
                format!("\"{}\"", s.as_str())
            );
        }
        assert_eq!(BatchAction::SyncNow.as_str(), "syncnow");
        assert_eq!(SecurityMode::None.to_string(), "None");
    }

    #[test]
    fn user_status_summary_follows_design() {
        use UserStatus::*;
        for s in [
            Queued,
            Starting,
            Syncing,
            IncrementalSyncing,
            Completing,
            Stopping,
            Removing,
        ] {
            assert_eq!(s.summary(), StatusSummary::Active);
        }
        assert_eq!(Synced.summary(), StatusSummary::Synced);
        assert_eq!(IncrementalFailed.summary(), StatusSummary::Failed);
        assert_eq!(IncrementalStopped.summary(), StatusSummary::Stopped);
        assert_eq!(CompletedWithWarnings.summary(), StatusSummary::Completed);
        assert_eq!(
            StatusSummary::Failed.statuses(),
            vec![Failed, IncrementalFailed]
        );
    }

    #[test]
    fn validation_warning_uses_exchange_names() {
        let w = ValidationWarning {
            row_index: 2,
            email_address: "a@b.c".into(),
            message: "m".into(),
        };
        let json = serde_json::to_value(&w).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"RowIndex": 2, "EmailAddress": "a@b.c", "LocalizedErrorMessage": "m"})
        );
    }

    #[test]
    fn records_never_serialize_secrets() {
        let mut e = EndpointRecord::new("src", "imap.example.com");
        e.admin_secret = Some(Sealed(b"SEALEDBYTES".to_vec()));
        let json = serde_json::to_string(&e).expect("json");
        assert!(!json.contains("admin_secret"));
    }
}

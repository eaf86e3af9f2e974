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
    /// The enum's type name (`BatchStatus`, `SecurityMode`, ...).
    pub kind: &'static str,
    /// The string that was given, untrimmed.
    pub value: String,
    /// Every accepted spelling, comma-separated.
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
        /// Plain text; credentials cross the network in clear.
        None => "None",
        /// Implicit TLS from the first byte (port 993, RFC 8314).
        Ssl => "Ssl",
        /// STARTTLS on the plain port (RFC 3501 §6.2.1); the connection fails without it.
        Tls => "Tls",
    }
}

string_enum! {
    /// `-Authentication` of an IMAP endpoint.
    pub enum AuthenticationMethod {
        /// User name and password (IMAP LOGIN, or SASL PLAIN where LOGIN cannot carry them).
        Basic => "Basic",
        /// Accepted as Exchange accepts it; logging in works as for `Basic`.
        Ntlm => "Ntlm",
        /// XOAUTH2 with an app token from the endpoint's OAuth2 client (our extension).
        OAuth2 => "OAuth2",
    }
}

string_enum! {
    /// How a target endpoint logs in for each user (`endpoints.target_login`); absent means
    /// every user logs in with the credentials from the CSV.
    pub enum TargetLogin {
        /// `<user><separator><admin>` with the admin's password (Dovecot's master users).
        MasterUser => "MasterUser",
        /// SASL PLAIN with the admin as authentication and the user as authorization identity.
        AuthorizationId => "AuthorizationId",
        /// XOAUTH2 as the user with an app token from the endpoint's OAuth2 client.
        OAuth2 => "OAuth2",
    }
}

string_enum! {
    /// Batch status, spelled as Exchange spells it (docs/compatibility.md §8.1).
    pub enum BatchStatus {
        /// Created and never started.
        Created => "Created",
        /// Start-MigrationBatch (or `-AutoStart`) was run; the worker has not picked it up yet.
        Starting => "Starting",
        /// Mailboxes are being copied.
        Syncing => "Syncing",
        /// Every user finished the initial sync; incremental syncs follow on schedule.
        Synced => "Synced",
        /// As `Synced`, but some users failed; the others keep syncing.
        SyncedWithErrors => "SyncedWithErrors",
        /// Stop-MigrationBatch was run; running passes are being stopped.
        Stopping => "Stopping",
        /// Stopped after running; it can be started, changed or removed.
        Stopped => "Stopped",
        /// Complete-MigrationBatch was run (our extension); the final pass is under way.
        Completing => "Completing",
        /// Completed with every user completed.
        Completed => "Completed",
        /// Completed, but some users failed.
        CompletedWithErrors => "CompletedWithErrors",
        /// Remove-MigrationBatch was run; the batch goes once no pass of it is running.
        Removing => "Removing",
        /// The batch failed as a whole; Start retries it.
        Failed => "Failed",
        /// Exists as a `-Status` value in Exchange, which does not describe it.
        IncrementalSyncing => "IncrementalSyncing",
        /// Exists as a `-Status` value in Exchange, which does not describe it.
        Waiting => "Waiting",
        /// Exchange's status for a batch that can only be removed.
        Corrupted => "Corrupted",
    }
}

string_enum! {
    /// User status, spelled as Exchange spells it (docs/compatibility.md §8.3).
    pub enum UserStatus {
        /// Waiting for the batch to start or for a free slot of the endpoint's concurrency.
        Queued => "Queued",
        /// Picked up by the worker; the pass has not begun copying.
        Starting => "Starting",
        /// The initial sync is running.
        Syncing => "Syncing",
        /// The initial sync or the last incremental one finished.
        Synced => "Synced",
        /// An incremental sync (after a finished pass) is running.
        IncrementalSyncing => "IncrementalSyncing",
        /// The initial sync failed; `last_error` says why.
        Failed => "Failed",
        /// An incremental sync failed; what earlier passes copied stays copied.
        IncrementalFailed => "IncrementalFailed",
        /// A stop was requested; the running pass is stopping at a safe point.
        Stopping => "Stopping",
        /// Stopped before the first pass finished.
        Stopped => "Stopped",
        /// Stopped after at least one finished pass.
        IncrementalStopped => "IncrementalStopped",
        /// The final pass of a completing batch is running.
        Completing => "Completing",
        /// The final pass finished and no pass skipped an item.
        Completed => "Completed",
        /// The final pass finished, but items were skipped (in this or an earlier pass).
        CompletedWithWarnings => "CompletedWithWarnings",
        /// Remove-MigrationUser was run; the user goes once no pass is running.
        Removing => "Removing",
        /// Exchange's status while a user is being validated; counts as `Active`.
        Validating => "Validating",
    }
}

string_enum! {
    /// `StatusSummary` of a migration user.
    pub enum StatusSummary {
        /// Queued or being worked on (see [`UserStatus::summary`]).
        Active => "Active",
        /// `Failed` or `IncrementalFailed`.
        Failed => "Failed",
        /// `Synced`.
        Synced => "Synced",
        /// `Completed` or `CompletedWithWarnings`.
        Completed => "Completed",
        /// `Stopped` or `IncrementalStopped`.
        Stopped => "Stopped",
    }
}

string_enum! {
    /// An action a cmdlet asks of the worker for a batch (`batches.requested_action`).
    pub enum BatchAction {
        /// Start-MigrationBatch: start, or restart the failed users.
        Start => "start",
        /// Stop-MigrationBatch: stop the running passes.
        Stop => "stop",
        /// Complete-MigrationBatch: run a final pass, then complete.
        Complete => "complete",
        /// Remove-MigrationBatch: delete the batch with its users once nothing runs.
        Remove => "remove",
        /// Set-MigrationBatch `-SyncNow`: run an incremental sync now instead of on schedule.
        SyncNow => "syncnow",
    }
}

string_enum! {
    /// An action a cmdlet asks of the worker for one user (`users.requested_action`).
    pub enum UserAction {
        /// Start-MigrationUser: queue the user again.
        Start => "start",
        /// Stop-MigrationUser: stop the user's running pass.
        Stop => "stop",
        /// Remove-MigrationUser: delete the user once no pass runs.
        Remove => "remove",
        /// Set-MigrationUser `-SyncNow`: sync this user now.
        SyncNow => "syncnow",
    }
}

string_enum! {
    /// Kind of a skipped item, as Exchange reports it.
    pub enum SkippedKind {
        /// Larger than the batch's maximum message size; never sent.
        LargeItem => "LargeItem",
        /// The target refused the message (a tagged NO or BAD to its APPEND).
        BadItem => "BadItem",
        /// Exchange's kind for an item the source could not deliver intact.
        CorruptItem => "CorruptItem",
        /// The target stored the message changed: after APPEND its `RFC822.SIZE` differs from
        /// the size sent (line ends already CRLF, so not a normalization). The copy stays on
        /// the target; it counts against `-BadItemLimit` like a BadItem.
        ChangedItem => "ChangedItem",
    }
}

string_enum! {
    /// Level of a report line.
    pub enum EventLevel {
        /// Progress: a pass started or finished, a batch changed status.
        Info => "Info",
        /// Something went wrong and was handled (a retry, a skipped item).
        Warning => "Warning",
        /// A pass or an action failed.
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
    /// Stable identity (the endpoint's GUID); batches refer to it.
    pub id: Uuid,
    /// Unique, compared case-insensitively.
    pub name: String,
    /// Always `IMAP` today.
    pub endpoint_type: String,
    /// `-RemoteServer`: host name or IP address of the IMAP server.
    pub remote_server: String,
    /// TCP port (Exchange's default: 993 with `Ssl`, else 143).
    pub port: u16,
    /// `-Security`: whether and how the connection is encrypted.
    pub security: SecurityMode,
    /// `-Authentication`: how the source logs in; informational for targets, which use
    /// [`EndpointRecord::target_login`].
    pub authentication: AuthenticationMethod,
    /// `-AcceptUntrustedCertificates`: accept any server certificate (test servers).
    pub accept_untrusted: bool,
    /// PEM file of extra CA certificates to trust, for the server and the OAuth2 token
    /// endpoint; `None` trusts the system roots only.
    pub ca_file: Option<String>,
    /// `-MaxConcurrentMigrations`: initial syncs of users of this endpoint at once.
    pub max_concurrent_migrations: u32,
    /// `-MaxConcurrentIncrementalSyncs`: incremental syncs at once; not above
    /// `max_concurrent_migrations`.
    pub max_concurrent_incremental_syncs: u32,
    /// `-MaxConnectionsPerUser` (extension): connections one user's sync may hold on this
    /// server at once (default 8).
    pub max_connections_per_user: u32,
    /// `-PreserveOrder` (extension): as a target, append into each folder over one connection,
    /// keeping the source's order.
    pub preserve_order: bool,
    /// `-DisableCompression` (extension): never turn on `COMPRESS=DEFLATE` (RFC 4978) with
    /// this server, even when it offers it.
    pub disable_compression: bool,
    /// `-VerifyContent` (extension): as an IMAP target, read back every message appended into
    /// a folder (`BODY.PEEK[]`) and compare its SHA-256 with the bytes sent.
    pub verify_content: bool,
    /// `-Credentials` user name (targets).
    pub admin_user: Option<String>,
    /// Sealed admin password or OAuth2 client secret; never serialized.
    #[serde(skip)]
    pub admin_secret: Option<Sealed>,
    /// How each user logs in on this endpoint as a target; `None`: with the CSV's own
    /// credentials.
    pub target_login: Option<TargetLogin>,
    /// What joins user and admin in a `MasterUser` login (`*` for `alice*admin`).
    pub master_user_separator: String,
    /// OAuth2 token URL for the client-credentials grant; needed for `OAuth2` logins.
    pub oauth_token_endpoint: Option<String>,
    /// OAuth2 client id; its secret is `admin_secret`.
    pub oauth_client_id: Option<String>,
    /// `scope` sent with the token request; `None` sends none.
    pub oauth_scope: Option<String>,
    /// e.g. `{EmailAddress}` (the default when absent), `{UserName}`, `{LocalPart}`.
    pub target_user_template: Option<String>,
    /// When New-MigrationEndpoint created it.
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
            max_connections_per_user: 8,
            preserve_order: false,
            disable_compression: false,
            verify_content: false,
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
    /// Stable identity (the batch's `JobId` GUID).
    pub id: Uuid,
    /// Unique, compared case-insensitively.
    pub name: String,
    /// The endpoint mail is read from; fixed at creation.
    pub source_endpoint_id: Uuid,
    /// None: the configured default target, else the embedded Maildir.
    pub target_endpoint_id: Option<Uuid>,
    /// Resolved Maildir root when the target is the embedded store.
    pub target_maildir: Option<String>,
    /// Where the batch is in its life (docs/compatibility.md §8.1).
    pub status: BatchStatus,
    /// Set by cmdlets, cleared by the worker.
    pub requested_action: Option<BatchAction>,
    /// `-AutoStart` took effect: the batch starts without Start-MigrationBatch. False when
    /// validation warnings held it back.
    pub auto_start: bool,
    /// `-StartAfter`: do not start before this time; `None` starts when asked.
    pub start_after: Option<Timestamp>,
    /// `-CompleteAfter`: the time given for completion; `None` when not given.
    pub complete_after: Option<Timestamp>,
    /// `-TimeZone` as given (a Windows or IANA zone name), kept for display.
    pub time_zone: Option<String>,
    /// `-NotificationEmails`: who gets the batch's report mails.
    pub notification_emails: Vec<String>,
    /// `-ExcludeFolders`: folder names relative to the IMAP root, case-insensitive;
    /// `<Folder>/*` also covers its subfolders.
    pub exclude_folders: Vec<String>,
    /// `-IncludeFolders`: only these folders (same syntax); empty means all.
    pub include_folders: Vec<String>,
    /// `-ContentFilter` text (`Received` comparisons only); `None` copies every message.
    pub content_filter: Option<String>,
    /// None = unlimited.
    pub bad_item_limit: Option<u32>,
    /// None = unlimited.
    pub large_item_limit: Option<u32>,
    /// Bytes; None = unlimited.
    pub max_message_size: Option<u64>,
    /// `-AllowUnknownColumnsInCsv`: unknown CSV columns were ignored rather than refused.
    pub allow_unknown_columns: bool,
    /// `-ReportInterval` in seconds (0: never); `None` when not given.
    pub report_interval_secs: Option<u64>,
    /// `-SkipReports`: send no report mails.
    pub skip_reports: bool,
    /// CSV rows left out of the batch and why (docs/compatibility.md §9.3).
    pub validation_warnings: Vec<ValidationWarning>,
    /// The batch-level text shown as `Message` (e.g. why it was not started).
    pub message: Option<String>,
    /// `SubmittedByUser`: who created the batch; `None` when unknown.
    pub submitted_by: Option<String>,
    /// When New-MigrationBatch created it.
    pub created_at: Timestamp,
    /// When the batch first started; `None` until then.
    pub started_at: Option<Timestamp>,
    /// When the batch's initial sync finished; `None` until then.
    pub initial_sync_at: Option<Timestamp>,
    /// When a sync of the batch last finished; `None` until one has.
    pub last_synced_at: Option<Timestamp>,
    /// When the batch completed; `None` unless it did.
    pub completed_at: Option<Timestamp>,
    /// When the next incremental sync is due; `None` when none is scheduled.
    pub next_sync_at: Option<Timestamp>,
}

impl BatchRecord {
    /// A new batch, never started (status [`crate::lifecycle::batch::NEW`], `Stopped`), with
    /// every option at its default.
    pub fn new(name: impl Into<String>, source_endpoint_id: Uuid) -> Self {
        BatchRecord {
            id: Uuid::new_v4(),
            name: name.into(),
            source_endpoint_id,
            target_endpoint_id: None,
            target_maildir: None,
            status: crate::lifecycle::batch::NEW,
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
    /// Stable identity (the user's `JobItemGuid`).
    pub id: Uuid,
    /// The batch the user belongs to; deleting the batch deletes the user.
    pub batch_id: Uuid,
    /// The CSV `EmailAddress` (target mailbox); unique per batch, case-insensitively.
    pub email: String,
    /// The CSV `UserName` (source login).
    pub user_name: String,
    /// Sealed CSV `Password`; never serialized.
    #[serde(skip)]
    pub password: Sealed,
    /// The CSV `UserRoot` (shared-folder servers); `None` when absent or empty.
    pub user_root: Option<String>,
    /// The CSV data row the user came from (1-based).
    pub row_index: u32,
    /// Where the user is in its life (docs/compatibility.md §8.3).
    pub status: UserStatus,
    /// Set by cmdlets, cleared by the worker when it acts on it.
    pub requested_action: Option<UserAction>,
    /// Why the last pass failed (`ErrorSummary`), never with a secret; `None` after a
    /// successful pass.
    pub last_error: Option<String>,
    /// The stable error code of that failure (`ErrorType`: `AuthenticationFailed`,
    /// `EndpointUnreachable`, ...); `None` after a successful pass.
    pub error_code: Option<String>,
    /// Messages in the selected source folders, after the content filter, at the last
    /// finished pass (`TotalItemsInSourceMailboxCount`).
    pub items_total: u64,
    /// Messages the target confirmed (`SyncedItemCount`), counted from the `messages` table.
    pub items_synced: u64,
    /// Messages skipped as LargeItem or BadItem, or changed by the target (ChangedItem)
    /// (`SkippedItemCount`).
    pub items_skipped: u64,
    /// Estimated bytes to transfer (`EstimatedTotalTransferSize`).
    pub bytes_total: u64,
    /// RFC822.SIZE bytes of the messages the target confirmed (`BytesTransferred`).
    pub bytes_synced: u64,
    /// Source folders recorded for the user (`SyncedFolderCount`).
    pub folders_synced: u64,
    /// When the user was added to the batch.
    pub created_at: Timestamp,
    /// When the user's first pass started; `None` until then.
    pub started_at: Option<Timestamp>,
    /// When the user's latest pass started; `None` until one has.
    pub last_sync_start: Option<Timestamp>,
    /// When a pass of the user last finished (`LastSuccessfulSyncTime`); `None` until one has.
    pub last_success_at: Option<Timestamp>,
    /// When the user's first pass (the initial sync) finished; `None` until then.
    pub initial_sync_at: Option<Timestamp>,
    /// Finished passes; 0 means the next pass is the initial sync.
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
    /// Row id, assigned by the database; `messages` rows refer to it.
    pub id: i64,
    /// The user whose mailbox holds the folder.
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
    /// The message's UID in the source folder, under the folder's `src_uidvalidity`.
    pub src_uid: u32,
    /// Whether the copy is planned, confirmed, or deliberately skipped.
    pub state: MessageState,
    /// The target UID from APPENDUID (UIDPLUS, RFC 4315 §3) when known.
    pub dst_uid: Option<u32>,
    /// RFC822.SIZE.
    pub size: u64,
    /// INTERNALDATE as unix seconds.
    pub internal_date: i64,
    /// Message-ID, else `sha256:<hex of BODY[]>` (`large:<uid>` for a skipped large item
    /// without one, whose body is never fetched).
    pub msg_key: String,
    /// Flags last applied to the target, space-separated and sorted.
    pub flags: String,
}

/// An item that was not migrated (`skipped_items` row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedItem {
    /// Assigned by the database; ignored on insert.
    pub id: i64,
    /// The user whose mailbox held the item.
    pub user_id: Uuid,
    /// The source folder, `/`-separated (`FolderName`).
    pub folder: String,
    /// The item's UID in that folder; `None` when it is not known.
    pub src_uid: Option<u32>,
    /// Why it was skipped, as Exchange classifies it.
    pub kind: SkippedKind,
    /// The `Subject` header; `None` when missing or unreadable.
    pub subject: Option<String>,
    /// The `From` header; `None` when missing or unreadable.
    pub sender: Option<String>,
    /// The `To` and `Cc` recipients, in header order (`Recipient`); empty when unknown.
    #[serde(default)]
    pub recipients: Vec<String>,
    /// The `Date` header as written; `None` when missing or unreadable.
    pub date_sent: Option<String>,
    /// INTERNALDATE as RFC 3339; `None` when not known.
    pub date_received: Option<String>,
    /// RFC822.SIZE in bytes; `None` when not known.
    pub size: Option<u64>,
    /// What happened, for the admin (`Failure`): the size and the limit, or the target's
    /// refusal text.
    pub reason: String,
    /// When the item was skipped.
    pub created_at: Timestamp,
}

/// A report line of a user or a batch (`events` row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Assigned by the database; ignored on insert.
    pub id: i64,
    /// The user the line is about; `None` for a batch-level line.
    pub user_id: Option<Uuid>,
    /// The batch the line is about; `None` for a line about no batch.
    pub batch_id: Option<Uuid>,
    /// When it happened.
    pub at: Timestamp,
    /// How serious it is.
    pub level: EventLevel,
    /// The report text, never with a secret.
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
    /// The setting's name.
    pub key: String,
    /// Its value, any JSON.
    pub value: serde_json::Value,
}

/// A worker's registration and heartbeat (`workers` row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerRecord {
    /// A fresh identity per worker process (a UUID as text).
    pub id: String,
    /// The worker's process id on `host`.
    pub pid: u32,
    /// Host name of the machine the worker runs on.
    pub host: String,
    /// ImapMigration version of the worker binary.
    pub version: String,
    /// When the worker started.
    pub started_at: Timestamp,
    /// When the worker last reported alive; a stale value means it is gone.
    pub heartbeat_at: Timestamp,
}

impl WorkerRecord {
    /// How often a worker writes its heartbeat, in seconds.
    pub const HEARTBEAT_SECS: i64 = 5;
    /// A heartbeat older than this (six missed beats) means the worker is gone or hung.
    pub const STALE_AFTER_SECS: i64 = 30;

    /// Whether the worker's heartbeat is fresh at `now` ([`Self::STALE_AFTER_SECS`]).
    pub fn alive_at(&self, now: Timestamp) -> bool {
        now.signed_duration_since(self.heartbeat_at).num_seconds() <= Self::STALE_AFTER_SECS
    }
}

#[cfg(test)]
mod tests;

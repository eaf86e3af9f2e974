//! Mails a batch's report to its `-NotificationEmails` when a pass of the batch ends.
//!
//! Exchange sends the status report to the batch's NotificationEmails ("If you don't use this
//! parameter, the status report isn't sent"). We send it through the relay stored by
//! `Set-MigrationConfig -SmtpRelay` (config key `smtpRelay`): a plain-text summary (batch, status,
//! counts, one line per user) with the two report files that [`super::reports`] just wrote
//! attached, each time the batch becomes Synced, SyncedWithErrors, Completed or
//! CompletedWithErrors.
//!
//! Mail is a side channel: it never fails the batch or the worker. Without a relay the report
//! files are the report (the setting is still accepted); a relay that cannot be reached or
//! refuses the message leaves a Warning event on the batch. The relay password is unsealed only
//! into the SMTP client's credentials and scrubbed from any error text before it is logged or
//! recorded.
//!
//! SMTP submission: RFC 5321; STARTTLS (`Tls`): RFC 3207; implicit TLS (`Ssl`): RFC 8314 §3;
//! AUTH PLAIN/LOGIN: RFC 4954 and RFC 4616.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Attachment, Body, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;
use uuid::Uuid;

use imapmigration_store::{
    self as store, BatchRecord, BatchStatus, Event, EventLevel, ExposeSecret, SecretString,
    SecurityMode, Store, UserFilter,
};

/// The config key `config.set` stores the relay under (see `api/config.rs`).
const KEY_SMTP_RELAY: &str = "smtpRelay";
/// The report files, as [`super::reports`] names them.
const ATTACHMENTS: [&str; 2] = ["MigrationStatistics.csv", "MigrationErrors.csv"];
/// Per-user lines in the mail body; the attached statistics list every user.
const MAX_USER_LINES: usize = 500;
/// Per SMTP command, connecting included: a dead relay must not hold a task for long.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a report could not be mailed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum Error {
    #[error("cannot read the state store: {0}")]
    Store(#[from] store::Error),
    #[error("the smtp relay setting is not valid: {0}")]
    Relay(String),
    #[error("cannot open the smtp relay password: {0}")]
    Password(store::Error),
    #[error("the address \"{address}\" is not a valid email address: {source}")]
    Address {
        address: String,
        source: lettre::address::AddressError,
    },
    #[error("cannot build the report message: {0}")]
    Build(#[from] lettre::error::Error),
    #[error("cannot set up tls for smtp relay {server}: {source}")]
    Tls {
        server: String,
        source: lettre::transport::smtp::Error,
    },
    #[error("cannot send the report through smtp relay {server}:{port}: {source}")]
    Send {
        server: String,
        port: u16,
        source: lettre::transport::smtp::Error,
    },
}

/// The `smtpRelay` config value as `config.set` stores it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RelaySetting {
    server: String,
    port: u16,
    from: String,
    security: String,
    user_name: Option<String>,
    password_sealed: Option<String>,
}

/// A relay ready to use: the password is unsealed but stays a [`SecretString`].
struct Relay {
    server: String,
    port: u16,
    from: Mailbox,
    security: SecurityMode,
    login: Option<(String, SecretString)>,
}

impl Relay {
    /// Reads and checks the configured relay; None when there is none.
    fn load(store: &Store) -> Result<Option<Relay>, Error> {
        let Some(value) = store.config_get(KEY_SMTP_RELAY)? else {
            return Ok(None);
        };
        if value.is_null() {
            return Ok(None);
        }
        let s: RelaySetting =
            serde_json::from_value(value).map_err(|e| Error::Relay(e.to_string()))?;
        let security: SecurityMode = s
            .security
            .parse()
            .map_err(|_| Error::Relay(format!("unknown security \"{}\"", s.security)))?;
        let from = mailbox(&s.from)?;
        let login = match (s.user_name.filter(|u| !u.is_empty()), s.password_sealed) {
            (None, _) => None,
            (Some(user), None) => Some((user, SecretString::default())),
            (Some(user), Some(sealed)) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(sealed.as_bytes())
                    .map_err(|e| Error::Relay(format!("the sealed password is not base64: {e}")))?;
                let password = store
                    .unseal(&store::Sealed(bytes))
                    .map_err(Error::Password)?;
                Some((user, password))
            }
        };
        Ok(Some(Relay {
            server: s.server,
            port: s.port,
            from,
            security,
            login,
        }))
    }

    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, Error> {
        let tls = match self.security {
            SecurityMode::None => Tls::None,
            SecurityMode::Tls | SecurityMode::Ssl => {
                // rustls with the ring provider; roots from the system store.
                let params = TlsParameters::new_rustls(self.server.clone()).map_err(|source| {
                    Error::Tls {
                        server: self.server.clone(),
                        source,
                    }
                })?;
                if self.security == SecurityMode::Tls {
                    Tls::Required(params)
                } else {
                    Tls::Wrapper(params)
                }
            }
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(self.server.as_str())
                .port(self.port)
                .tls(tls)
                .timeout(Some(SMTP_TIMEOUT));
        if let Some((user, password)) = &self.login {
            builder = builder
                .credentials(Credentials::new(
                    user.clone(),
                    password.expose_secret().to_owned(),
                ))
                .authentication(vec![Mechanism::Plain, Mechanism::Login]);
        }
        Ok(builder.build())
    }

    /// `text` with the relay password replaced by `***`: error texts are logged and recorded,
    /// and a server may echo what it was sent.
    fn scrub(&self, text: String) -> String {
        match &self.login {
            Some((_, p)) if !p.expose_secret().is_empty() && text.contains(p.expose_secret()) => {
                text.replace(p.expose_secret(), "***")
            }
            _ => text,
        }
    }
}

fn mailbox(address: &str) -> Result<Mailbox, Error> {
    address.parse().map_err(|source| Error::Address {
        address: address.to_owned(),
        source,
    })
}

/// Mails the report of `batch_id` if the batch asks for it and a relay is configured. The
/// message is built here (a few store reads and the two report files) and sent by a task on the
/// current tokio runtime, so the scheduler never waits on the relay. Never fails: every problem
/// is logged, and recorded as a Warning event on the batch.
pub(super) fn spawn(store: &Arc<Store>, home: &Path, batch_id: Uuid) {
    let batch = match store.get_batch_by_id(&batch_id) {
        Ok(Some(b)) => b,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the batch to mail its report");
            return;
        }
    };
    if batch.notification_emails.is_empty() || batch.skip_reports {
        return;
    }
    if !store::lifecycle::batch::finished_pass(batch.status) {
        return;
    }
    let dir = store::paths::reports_dir(home, &batch.name);
    let relay = match Relay::load(store) {
        Ok(Some(r)) => r,
        Ok(None) => {
            tracing::info!(
                batch = %batch.name,
                reports = %dir.display(),
                "no smtp relay configured (Set-MigrationConfig -SmtpRelay); the report is not mailed"
            );
            return;
        }
        Err(e) => return warn(store, &batch, e.to_string()),
    };
    let message = match compose(store, &batch, &relay.from, &dir) {
        Ok(m) => m,
        Err(e) => return warn(store, &batch, relay.scrub(e.to_string())),
    };
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!(batch = %batch.name, "no runtime to mail the batch report on");
        return;
    };
    let store = Arc::clone(store);
    runtime.spawn(async move {
        let recipients = batch.notification_emails.join(", ");
        let sent = match relay.transport() {
            Ok(t) => t.send(message).await.map_err(|source| Error::Send {
                server: relay.server.clone(),
                port: relay.port,
                source,
            }),
            Err(e) => Err(e),
        };
        match sent {
            Ok(_) => {
                let message = format!(
                    "batch report ({}) mailed to {recipients}",
                    batch.status.as_str()
                );
                tracing::info!(batch = %batch.name, %message);
                record(&store, &batch, EventLevel::Info, message);
            }
            Err(e) => warn(
                &store,
                &batch,
                relay.scrub(format!("cannot mail the batch report to {recipients}: {e}")),
            ),
        }
    });
}

fn warn(store: &Store, batch: &BatchRecord, message: String) {
    tracing::warn!(batch = %batch.name, %message);
    record(store, batch, EventLevel::Warning, message);
}

fn record(store: &Store, batch: &BatchRecord, level: EventLevel, message: String) {
    if let Err(e) = store.insert_event(&Event::new(None, Some(batch.id), level, message)) {
        tracing::warn!(error = %e, "cannot record event");
    }
}

/// The report message: summary text plus the report files that exist.
fn compose(
    store: &Store,
    batch: &BatchRecord,
    from: &Mailbox,
    dir: &Path,
) -> Result<Message, Error> {
    let mut builder = Message::builder().from(from.clone()).subject(format!(
        "Migration batch {}: {}",
        batch.name,
        batch.status.as_str()
    ));
    let mut invalid = Vec::new();
    let mut any = false;
    for address in &batch.notification_emails {
        match mailbox(address) {
            Ok(m) => {
                builder = builder.to(m);
                any = true;
            }
            Err(e) => invalid.push(e.to_string()),
        }
    }
    if !any {
        // Every address is bad: the message cannot go anywhere.
        return Err(Error::Relay(invalid.join("; ")));
    }
    for e in invalid {
        warn(store, batch, e);
    }

    let attachments: Vec<(&str, PathBuf)> = ATTACHMENTS
        .iter()
        .map(|name| (*name, dir.join(name)))
        .collect();
    let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(summary(store, batch, dir)?));
    for (name, path) in attachments {
        match std::fs::read(&path) {
            // Base64 keeps the file byte for byte (CRLF line ends included).
            Ok(bytes) => {
                let body = Body::new_with_encoding(bytes, ContentTransferEncoding::Base64)
                    // Base64 can carry any bytes; lettre refuses only 7bit/8bit misfits.
                    .unwrap_or_else(Body::new);
                let csv = ContentType::parse("text/csv; charset=utf-8")
                    .unwrap_or(ContentType::TEXT_PLAIN);
                parts = parts.singlepart(Attachment::new(name.to_owned()).body(body, csv));
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "cannot attach a report file");
            }
        }
    }
    Ok(builder.multipart(parts)?)
}

/// The plain-text summary: batch, status, counts and one line per user.
fn summary(store: &Store, batch: &BatchRecord, dir: &Path) -> Result<String, Error> {
    let users = store.list_users(&UserFilter {
        batch_id: Some(batch.id),
        ..Default::default()
    })?;
    let counts = store.batch_counts(&batch.id)?;
    let migrated: u64 = users.iter().map(|u| u.items_synced).sum();
    let skipped: u64 = users.iter().map(|u| u.items_skipped).sum();
    let errors =
        batch.validation_warnings.len() + users.iter().filter(|u| u.last_error.is_some()).count();
    let headline = match batch.status {
        BatchStatus::Synced => "finished a sync pass".to_owned(),
        BatchStatus::SyncedWithErrors => format!("finished a sync pass with {errors} error(s)"),
        BatchStatus::Completed => "completed".to_owned(),
        BatchStatus::CompletedWithErrors => format!("completed with {errors} error(s)"),
        other => format!("is {}", other.as_str()),
    };
    let when = batch
        .last_synced_at
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();

    // Writing to a String cannot fail.
    let mut t = String::new();
    let _ = writeln!(t, "Migration batch {} {headline}.\n", batch.name);
    let _ = writeln!(t, "Batch:           {}", batch.name);
    let _ = writeln!(t, "Status:          {}", batch.status.as_str());
    let _ = writeln!(t, "Last synced:     {when}");
    let _ = writeln!(
        t,
        "Users:           {} total, {} synced, {} completed, {} failed, {} stopped, {} active, {} queued",
        counts.total,
        counts.synced,
        counts.finalized,
        counts.failed,
        counts.stopped,
        counts.active,
        counts.pending
    );
    let _ = writeln!(t, "Items migrated:  {migrated}");
    let _ = writeln!(t, "Items skipped:   {skipped}");
    let _ = writeln!(t, "Errors:          {errors}");
    let _ = writeln!(
        t,
        "\nEmailAddress, Status, ItemsMigrated, ItemsSkipped, Error"
    );
    for u in users.iter().take(MAX_USER_LINES) {
        let _ = write!(
            t,
            "{}, {}, {}, {}",
            u.email,
            u.status.as_str(),
            u.items_synced,
            u.items_skipped
        );
        if let Some(e) = &u.last_error {
            let _ = write!(t, ", {e}");
        }
        t.push('\n');
    }
    if users.len() > MAX_USER_LINES {
        let _ = writeln!(
            t,
            "... and {} more user(s): see the attached MigrationStatistics.csv",
            users.len() - MAX_USER_LINES
        );
    }
    for w in &batch.validation_warnings {
        let _ = writeln!(
            t,
            "CSV row {} ({}): {}",
            w.row_index, w.email_address, w.message
        );
    }
    let _ = writeln!(
        t,
        "\nAttached: MigrationStatistics.csv (every user) and MigrationErrors.csv (every error).\n\
         The worker keeps both in {}.",
        dir.display()
    );
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relay(security: SecurityMode, password: &str) -> Relay {
        Relay {
            server: "smtp.contoso.test".into(),
            port: 587,
            from: mailbox("migration@contoso.test").expect("valid address"),
            security,
            login: Some(("relay".into(), SecretString::from(password))),
        }
    }

    #[test]
    fn every_security_mode_builds_a_transport_on_ring() {
        for security in [SecurityMode::None, SecurityMode::Tls, SecurityMode::Ssl] {
            assert!(relay(security, "pw").transport().is_ok(), "{security:?}");
        }
    }

    #[test]
    fn scrub_hides_the_relay_password() {
        let r = relay(SecurityMode::Tls, "hunter2!");
        assert_eq!(
            r.scrub("535 bad credentials hunter2! for relay".into()),
            "535 bad credentials *** for relay"
        );
        assert_eq!(r.scrub("connection refused".into()), "connection refused");
    }
}

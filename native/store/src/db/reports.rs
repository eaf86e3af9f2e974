//! The batch report files (`MigrationStatistics.csv`, `MigrationErrors.csv`) kept in the store.
//!
//! The worker that finishes a pass writes both into the store; every reader gets them as files
//! in its own state directory (`<home>/reports/<batch>/`, [`Store::report_files`]), copied from
//! the store when the local copy is missing or older. On SQLite that is the worker's own file;
//! on a PostgreSQL store shared by several hosts, a cmdlet on the admin host gets the reports a
//! worker of another host wrote.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use rusqlite::params;
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use super::{Optional, Store, get_ts, ts, uid};
use crate::error::{DbContext, Error, Result};
use crate::paths;
use crate::types::Timestamp;

/// Schema version 6 on SQLite (7 on PostgreSQL, where the contents are BYTEA).
pub(crate) const SCHEMA: &str = r#"
CREATE TABLE reports (
  batch_id TEXT NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
  kind TEXT NOT NULL,                 -- statistics | errors
  content BLOB NOT NULL,              -- the CSV file's bytes
  digest TEXT NOT NULL,               -- hex SHA-256 of content
  created_at TEXT NOT NULL,
  PRIMARY KEY (batch_id, kind));
"#;

/// Which report file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    /// `MigrationStatistics.csv`, Exchange's success report: every user with status and counts.
    Statistics,
    /// `MigrationErrors.csv`, Exchange's error report: validation warnings and users' errors.
    Errors,
}

impl ReportKind {
    /// Both, in the order the batch's `Reports` property names them.
    pub const ALL: [ReportKind; 2] = [ReportKind::Statistics, ReportKind::Errors];

    fn as_str(self) -> &'static str {
        match self {
            Self::Statistics => "statistics",
            Self::Errors => "errors",
        }
    }

    /// The file name Exchange gives the report.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Statistics => "MigrationStatistics.csv",
            Self::Errors => "MigrationErrors.csv",
        }
    }
}

/// A batch's report files in this state directory, as [`Store::report_files`] left them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFiles {
    /// When the worker wrote the reports (the success report's time).
    pub created_at: Timestamp,
    /// `MigrationStatistics.csv`.
    pub statistics: PathBuf,
    /// `MigrationErrors.csv`, when one was written.
    pub errors: Option<PathBuf>,
}

/// The name of the file beside a report that records the digest of the stored report it was
/// copied from.
fn digest_file(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.sha256"))
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `content` to `path` atomically (a temporary file, then a rename), then the digest
/// file that says which stored report it is.
fn write_local(path: &Path, content: &[u8], digest: &str) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io("create the reports directory", dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // A name of this writer's own: the worker and a cmdlet reading the batch may write the
    // same report at once, and each must rename a file it wrote whole.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(io("write a report", &tmp))?;
    f.write_all(content).map_err(io("write a report", &tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io("write a report", path))?;
    let stamp = digest_file(path);
    let stamp_tmp = dir.join(format!(".{name}.{}.{n}.sha256.tmp", std::process::id()));
    std::fs::write(&stamp_tmp, digest).map_err(io("write a report", &stamp_tmp))?;
    std::fs::rename(&stamp_tmp, &stamp).map_err(io("write a report", &stamp))
}

impl Store {
    /// Keeps the batch's report files (replacing the ones kept before) in one transaction and
    /// writes them into this state directory; returns the local files.
    pub fn reports_put(
        &self,
        batch_id: &Uuid,
        batch_name: &str,
        reports: &[(ReportKind, &[u8])],
        now: &Timestamp,
    ) -> Result<ReportFiles> {
        let digests: Vec<String> = reports
            .iter()
            .map(|(_, content)| hex::encode(Sha256::digest(content)))
            .collect();
        self.write("keep reports", |tx| {
            for ((kind, content), digest) in reports.iter().zip(&digests) {
                tx.execute(
                    "INSERT INTO reports (batch_id, kind, content, digest, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (batch_id, kind) DO UPDATE SET \
                     content = excluded.content, digest = excluded.digest, \
                     created_at = excluded.created_at",
                    params![uid(batch_id), kind.as_str(), content, digest, ts(now)],
                )
                .ctx("keep reports")?;
            }
            Ok(())
        })?;
        let dir = paths::reports_dir(self.home(), batch_name);
        for ((kind, content), digest) in reports.iter().zip(&digests) {
            write_local(&dir.join(kind.file_name()), content, digest)?;
        }
        self.report_files(batch_id, batch_name)?
            .ok_or_else(|| Error::NotFound {
                kind: "batch",
                identity: batch_name.to_owned(),
            })
    }

    /// The batch's report files in this state directory, copied from the store first when a
    /// local copy is missing or not the one kept; `None` before the first report.
    pub fn report_files(&self, batch_id: &Uuid, batch_name: &str) -> Result<Option<ReportFiles>> {
        let kept: Vec<(String, String, Timestamp)> = self.read("read", |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT kind, digest, created_at FROM reports WHERE batch_id = ?1")
                .ctx("read reports")?;
            stmt.query_map([uid(batch_id)], |r| {
                Ok((r.get(0)?, r.get(1)?, get_ts(r, 2)?))
            })
            .and_then(|rows| rows.collect::<super::DbResult<Vec<_>>>())
            .ctx("read reports")
        })?;
        let dir = paths::reports_dir(self.home(), batch_name);
        let mut files = ReportFiles {
            created_at: Timestamp::default(),
            statistics: dir.join(ReportKind::Statistics.file_name()),
            errors: None,
        };
        let mut any = false;
        for kind in ReportKind::ALL {
            let Some((_, digest, created_at)) = kept.iter().find(|(k, ..)| k == kind.as_str())
            else {
                continue;
            };
            let path = dir.join(kind.file_name());
            let local = std::fs::read_to_string(digest_file(&path)).ok();
            if local.as_deref() != Some(digest.as_str()) || !path.is_file() {
                let content = self.report_content(batch_id, kind)?;
                // Replaced meanwhile: the next read copies the newer one.
                if let Some((content, digest)) = content {
                    write_local(&path, &content, &digest)?;
                }
            }
            match kind {
                ReportKind::Statistics => {
                    any = true;
                    files.created_at = *created_at;
                }
                ReportKind::Errors => files.errors = Some(path),
            }
        }
        Ok(any.then_some(files))
    }

    /// The kept bytes of one report and their digest.
    fn report_content(
        &self,
        batch_id: &Uuid,
        kind: ReportKind,
    ) -> Result<Option<(Vec<u8>, String)>> {
        self.read("read", |conn| {
            conn.query_row(
                "SELECT content, digest FROM reports WHERE batch_id = ?1 AND kind = ?2",
                params![uid(batch_id), kind.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .ctx("read report")
        })
    }
}

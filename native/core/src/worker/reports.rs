//! Exchange's batch report files: `MigrationStatistics.csv` (success report) and
//! `MigrationErrors.csv` (error report), in `<home>/reports/<batch>/`, rewritten after each pass.
//! The batch's `Reports` property links them. Nothing in them is secret: addresses, statuses,
//! counts and error texts (which never carry passwords).

use std::path::{Path, PathBuf};

use imapmigration_store::{self as store, BatchRecord, Store, UserFilter};

/// Writes both report files atomically (temp file + rename) and returns their paths.
pub fn write(
    store: &Store,
    home: &Path,
    batch: &BatchRecord,
) -> Result<(PathBuf, PathBuf), Box<dyn std::error::Error>> {
    let dir = store::paths::reports_dir(home, &batch.name);
    std::fs::create_dir_all(&dir)?;
    let users = store.list_users(&UserFilter {
        batch_id: Some(batch.id),
        ..Default::default()
    })?;

    let success = dir.join("MigrationStatistics.csv");
    let tmp = dir.join(".MigrationStatistics.csv.tmp");
    {
        let mut w = csv::Writer::from_path(&tmp)?;
        w.write_record(["EmailAddress", "Status", "ItemsMigrated", "ItemsSkipped"])?;
        for u in &users {
            w.write_record([
                u.email.as_str(),
                u.status.as_str(),
                &u.items_synced.to_string(),
                &u.items_skipped.to_string(),
            ])?;
        }
        w.flush()?;
    }
    std::fs::rename(&tmp, &success)?;

    let errors = dir.join("MigrationErrors.csv");
    let tmp = dir.join(".MigrationErrors.csv.tmp");
    {
        let mut w = csv::Writer::from_path(&tmp)?;
        w.write_record(["RowIndex", "EmailAddress", "ErrorMessage"])?;
        for warning in &batch.validation_warnings {
            w.write_record([
                warning.row_index.to_string().as_str(),
                &warning.email_address,
                &warning.message,
            ])?;
        }
        for u in users.iter().filter(|u| u.last_error.is_some()) {
            w.write_record([
                u.row_index.to_string().as_str(),
                &u.email,
                u.last_error.as_deref().unwrap_or_default(),
            ])?;
        }
        w.flush()?;
    }
    std::fs::rename(&tmp, &errors)?;
    tracing::info!(batch = %batch.name, at = %super::utc_now_text(), "reports written");
    Ok((success, errors))
}

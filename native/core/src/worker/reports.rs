//! Exchange's batch report files: `MigrationStatistics.csv` (success report) and
//! `MigrationErrors.csv` (error report), rewritten after each pass, kept in the store and
//! written to `<home>/reports/<batch>/` (store `db/reports.rs`: a reader on another host of a
//! shared store gets its own copy). The batch's `Reports` property links them. Nothing in them
//! is secret: addresses, statuses, counts and error texts (which never carry passwords).

use imapmigration_store::{self as store, BatchRecord, ReportFiles, ReportKind, Store, UserFilter};

/// Builds both reports, keeps them in the store (where a cmdlet on any host of a shared store
/// finds them) and writes them into this state directory; returns the local paths.
pub fn write(
    store: &Store,
    batch: &BatchRecord,
) -> Result<ReportFiles, Box<dyn std::error::Error>> {
    let users = store.list_users(&UserFilter {
        batch_id: Some(batch.id),
        ..Default::default()
    })?;

    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["EmailAddress", "Status", "ItemsMigrated", "ItemsSkipped"])?;
    for u in &users {
        w.write_record([
            u.email.as_str(),
            u.status.as_str(),
            &u.items_synced.to_string(),
            &u.items_skipped.to_string(),
        ])?;
    }
    let success = w.into_inner()?;

    let mut w = csv::Writer::from_writer(Vec::new());
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
    let errors = w.into_inner()?;

    let files = store.reports_put(
        &batch.id,
        &batch.name,
        &[
            (ReportKind::Statistics, &success),
            (ReportKind::Errors, &errors),
        ],
        &store::now(),
    )?;
    tracing::info!(batch = %batch.name, at = %super::utc_now_text(), "reports written");
    Ok(files)
}

//! In-flight verification. Rows left in state 0 by an interrupted pass are verified on the
//! target before anything is sent again: the APPEND (or delivery) may have landed after all,
//! and sending it again would duplicate the message. Found ones are committed (state 1), the
//! rest are forgotten, so the pass copies them again.

use imapmigration_store::{MessageRow, MessageState};

use super::super::error::Error;
use super::context::{FolderPass, st};
use super::target::TargetFolder;

/// Verifies the folder's rows in state 0 on the target (`rows` is all of the folder's rows).
pub(super) async fn verify_in_flight<F: TargetFolder>(
    pass: &FolderPass<'_>,
    rows: &[MessageRow],
    dst: &mut F,
) -> Result<(), Error> {
    if !rows.iter().any(|r| r.state == MessageState::InFlight) {
        return Ok(());
    }
    let located = dst.locate_in_flight(pass, rows).await?;
    tracing::info!(
        landed = located.found.len(),
        missing = located.lost.len(),
        "verified messages left in flight"
    );
    let store = pass.ctx.store;
    if !located.found.is_empty() {
        store
            .messages_commit(pass.folder_id, &located.found)
            .map_err(st("commit messages"))?;
    }
    if !located.lost.is_empty() {
        store
            .delete_message_rows(pass.folder_id, &located.lost)
            .map_err(st("forget messages"))?;
    }
    Ok(())
}

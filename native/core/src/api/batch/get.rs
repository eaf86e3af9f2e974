//! Get-MigrationBatch.

use serde::Deserialize;
use serde_json::{Value, json};

use imapmigration_store as store;
use store::lifecycle::batch as rules;
use store::{BatchFilter, BatchRecord, BatchStatus};

use super::Renderer;
use crate::api::{ApiError, ApiResult, Request, dto};

/// Get-MigrationBatch. An explicit identity that names no batch is `NotFound` (the M365 docs
/// show the "couldn't be found" error after a removal); without identity every batch matching
/// the filters is returned.
pub fn get(req: &Request) -> ApiResult {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Args {
        identity: Option<String>,
        endpoint: Option<String>,
        status: Option<String>,
        #[serde(default)]
        include_report: bool,
        result_size: Option<Value>,
    }
    let a: Args = dto::args(req)?;
    let limit = dto::result_size(&a.result_size)?;
    let status: Option<BatchStatus> = match dto::opt_identity(&a.status) {
        Some(s) => Some(s.parse().map_err(|e: store::ParseEnumError| {
            ApiError::invalid(
                "status",
                format!(
                    "the batch status \"{s}\" is not valid; expected one of {}",
                    e.expected
                ),
            )
        })?),
        None => None,
    };
    let identity = dto::opt_identity(&a.identity);
    let endpoint = dto::opt_identity(&a.endpoint);
    if identity.is_some() && endpoint.is_some() {
        return Err(ApiError::invalid(
            "endpoint",
            "identity and endpoint cannot be combined",
        ));
    }
    let store = req.open_store()?;
    let batches: Vec<BatchRecord> = if let Some(id) = identity {
        let b = store
            .get_batch(id)?
            .ok_or_else(|| ApiError::not_found("migration batch", id))?;
        if status.is_some_and(|s| !rules::shown_as(&b, s)) {
            vec![]
        } else {
            vec![b]
        }
    } else {
        let endpoint_id = match endpoint {
            Some(e) => Some(
                store
                    .get_endpoint(e)?
                    .ok_or_else(|| {
                        ApiError::not_found("endpoint", e)
                            .with_details(json!({ "identity": e, "parameter": "endpoint" }))
                    })?
                    .id,
            ),
            None => None,
        };
        store.list_batches(&BatchFilter {
            endpoint_id,
            status,
        })?
    };
    let r = Renderer::new(&store)?;
    let out = batches
        .iter()
        .take(limit.unwrap_or(usize::MAX))
        .map(|b| r.render(b, a.include_report))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Value::Array(out))
}

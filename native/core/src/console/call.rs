//! The api from async handlers: every console action is one `api::dispatch` operation, run on
//! the blocking pool (operations open SQLite and some block on network checks).

use std::path::Path;

use serde_json::{Map, Value};

use crate::ErrorCode;
use crate::api::{self, ApiError, ApiResult, Request};

/// Runs operation `op` with `args` (a JSON object) on the state directory `home`.
pub(super) async fn call(home: &Path, op: &str, args: Value) -> ApiResult {
    let args = match args {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        _ => {
            return Err(ApiError::new(
                ErrorCode::Internal,
                "console request arguments must be an object",
            ));
        }
    };
    let request = Request::new(op, Some(home.to_owned()), args);
    tokio::task::spawn_blocking(move || api::dispatch(&request))
        .await
        .map_err(|e| {
            ApiError::new(
                ErrorCode::Internal,
                format!("the console request failed: {e}"),
            )
        })?
}

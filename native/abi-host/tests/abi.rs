//! The C ABI as PowerShell uses it, through the real cdylib loaded with libloading.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test")]

use std::sync::{Arc, OnceLock};

use imapmigration_abi_host::{NativeLibrary, library_path, worker_path};
use serde_json::{Value, json};

fn lib() -> &'static NativeLibrary {
    static LIB: OnceLock<NativeLibrary> = OnceLock::new();
    LIB.get_or_init(|| {
        let path = library_path();
        assert!(
            path.is_file(),
            "{} not found: build it first with `cargo build -p imapmigration` (scripts/test does)",
            path.display()
        );
        NativeLibrary::load(&path).expect("load the cdylib")
    })
}

fn home() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn call(home: &tempfile::TempDir, mut req: Value) -> Value {
    req["home"] = json!(home.path());
    lib().call(&req)
}

fn ok(resp: &Value) -> &Value {
    assert_eq!(resp["ok"], json!(true), "expected success, got {resp}");
    &resp["result"]
}

fn err_code(resp: &Value) -> &str {
    assert_eq!(resp["ok"], json!(false), "expected an error, got {resp}");
    resp["error"]["code"].as_str().expect("error code string")
}

#[test]
fn abi_version_is_one() {
    assert_eq!(lib().abi_version(), 1);
}

#[test]
fn version_operation_reports_abi_and_home() {
    let h = home();
    let r = call(&h, json!({"op": "system.version"}));
    let result = ok(&r);
    assert_eq!(result["AbiVersion"], json!(1));
    assert_eq!(result["Version"], json!(env!("CARGO_PKG_VERSION")));
    assert_eq!(result["Home"], json!(h.path()));
    // docs/design.md "Codes (stable)", written out here so a rename in the library fails.
    assert_eq!(
        result["ErrorCodes"],
        json!([
            "InvalidArgument",
            "NotFound",
            "AlreadyExists",
            "InvalidState",
            "CsvInvalid",
            "AuthenticationFailed",
            "EndpointUnreachable",
            "TlsError",
            "ServerRefused",
            "Protocol",
            "Cancelled",
            "VersionMismatch",
            "Unsupported",
            "Internal",
            "Panic"
        ])
    );
}

#[test]
fn malformed_json_is_an_invalid_argument_error() {
    let r: Value = serde_json::from_str(&lib().call_raw(b"{\"op\": ")).unwrap();
    assert_eq!(err_code(&r), "InvalidArgument");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
}

#[test]
fn invalid_utf8_is_an_invalid_argument_error() {
    let r: Value = serde_json::from_str(&lib().call_raw(b"{\"op\": \"\xff\"}")).unwrap();
    assert_eq!(err_code(&r), "InvalidArgument");
}

#[test]
fn null_request_is_an_error_not_a_crash() {
    assert_eq!(err_code(&lib().call_null()), "InvalidArgument");
}

#[test]
fn unknown_operation_names_the_operation() {
    let h = home();
    let r = call(&h, json!({"op": "batch.explode"}));
    assert_eq!(err_code(&r), "InvalidArgument");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("batch.explode")
    );
}

#[test]
fn a_panic_becomes_an_error_and_the_library_keeps_working() {
    let h = home();
    let r = call(&h, json!({"op": "system.panic"}));
    assert_eq!(err_code(&r), "Panic", "{r}");
    let again = call(&h, json!({"op": "system.version"}));
    ok(&again);
}

#[test]
fn utf8_round_trips_unchanged() {
    let h = home();
    let text = "Über ✓ 日本語 \u{1F4E7} \"quoted\" \\ back";
    let r = call(&h, json!({"op": "system.echo", "text": text}));
    assert_eq!(ok(&r)["text"], json!(text));
}

#[test]
fn concurrent_calls_from_several_threads() {
    let h = Arc::new(home());
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let h = Arc::clone(&h);
            std::thread::spawn(move || {
                for j in 0..50 {
                    let text = format!("thread {i} call {j} ✓");
                    let r = call(&h, json!({"op": "system.echo", "text": text}));
                    assert_eq!(ok(&r)["text"], json!(text));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
}

fn new_endpoint(h: &tempfile::TempDir, name: &str) -> Value {
    let r = call(
        h,
        json!({"op": "endpoint.new", "name": name, "remoteServer": "imap.example.test", "port": 993,
               "security": "Ssl", "skipVerification": true}),
    );
    ok(&r).clone()
}

#[test]
fn endpoint_operations_round_trip() {
    let h = home();
    let e = new_endpoint(&h, "IMAPonpremises");
    assert_eq!(e["Identity"]["Id"], json!("IMAPonpremises"));
    assert_eq!(e["EndpointType"], json!("IMAP"));
    assert_eq!(e["Port"], json!(993));
    let dup = call(
        &h,
        json!({"op": "endpoint.new", "name": "imaponpremises", "remoteServer": "x", "skipVerification": true}),
    );
    assert_eq!(err_code(&dup), "AlreadyExists");
    let got = call(
        &h,
        json!({"op": "endpoint.get", "identity": "IMAPonpremises"}),
    );
    assert_eq!(ok(&got).as_array().unwrap().len(), 1);
    let set = call(
        &h,
        json!({"op": "endpoint.set", "identity": "IMAPonpremises", "maxConcurrentMigrations": 10, "maxConcurrentIncrementalSyncs": 5}),
    );
    assert_eq!(ok(&set)["MaxConcurrentMigrations"], json!(10));
    assert_eq!(ok(&set)["MaxConcurrentIncrementalSyncs"], json!(5));
    let bad = call(
        &h,
        json!({"op": "endpoint.set", "identity": "IMAPonpremises", "maxConcurrentIncrementalSyncs": 50}),
    );
    assert_eq!(err_code(&bad), "InvalidArgument");
    assert_eq!(
        bad["error"]["details"]["parameter"],
        json!("maxConcurrentIncrementalSyncs")
    );
    let rm = call(
        &h,
        json!({"op": "endpoint.remove", "identity": "IMAPonpremises"}),
    );
    ok(&rm);
    let missing = call(
        &h,
        json!({"op": "endpoint.remove", "identity": "IMAPonpremises"}),
    );
    assert_eq!(err_code(&missing), "NotFound");
}

fn b64(bytes: &[u8]) -> String {
    use std::fmt::Write;
    // Minimal standard base64 so the test does not trust the library's own encoder.
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.write_char(T[((n >> (18 - 6 * i)) & 63) as usize] as char)
                    .unwrap();
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn batch_operations_and_error_envelope() {
    let h = home();
    new_endpoint(&h, "src");
    let csv = "EmailAddress,UserName,Password\r\nann@contoso.test,ann,Secr3t-ann\r\nbob@contoso.test,bob,Secr3t-bob\r\n";
    let r = call(
        &h,
        json!({"op": "batch.new", "name": "IMAPImport", "sourceEndpoint": "src", "csvData": b64(csv.as_bytes())}),
    );
    let b = ok(&r);
    assert_eq!(b["Identity"]["Name"], json!("IMAPImport"));
    assert_eq!(b["Status"], json!("Stopped"));
    assert_eq!(b["TotalCount"], json!(2));
    assert!(
        !r.to_string().contains("Secr3t"),
        "a password leaked into the response"
    );

    let users = call(&h, json!({"op": "user.get", "batchId": "IMAPImport"}));
    let users = ok(&users).as_array().unwrap().clone();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0]["Status"], json!("Queued"));
    let stats = call(
        &h,
        json!({"op": "user.statistics", "identity": "ann@contoso.test", "includeSkippedItems": true}),
    );
    assert_eq!(ok(&stats)["SyncedItemCount"], json!(0));

    let bad_csv = call(
        &h,
        json!({"op": "batch.new", "name": "Bad", "sourceEndpoint": "src", "csvData": b64(b"EmailAddress,Password\r\na@b.c,x\r\n")}),
    );
    assert_eq!(err_code(&bad_csv), "CsvInvalid");
    assert!(
        bad_csv["error"]["message"]
            .as_str()
            .unwrap()
            .contains("UserName"),
        "{bad_csv}"
    );
    let none = call(&h, json!({"op": "batch.get", "identity": "Bad"}));
    assert_eq!(
        err_code(&none),
        "NotFound",
        "a refused CSV must create nothing"
    );

    let unknown_ep = call(
        &h,
        json!({"op": "batch.new", "name": "X", "sourceEndpoint": "nope", "csvData": b64(csv.as_bytes())}),
    );
    assert_eq!(err_code(&unknown_ep), "NotFound");

    let dup = call(
        &h,
        json!({"op": "batch.new", "name": "imapimport", "sourceEndpoint": "src", "csvData": b64(csv.as_bytes())}),
    );
    assert_eq!(err_code(&dup), "AlreadyExists");

    let in_use = call(&h, json!({"op": "endpoint.remove", "identity": "src"}));
    assert_eq!(err_code(&in_use), "InvalidState");

    let stats = call(&h, json!({"op": "statistics.get"}));
    assert_eq!(ok(&stats)["TotalCount"], json!(2));

    let cfg = call(
        &h,
        json!({"op": "config.set", "incrementalSyncIntervalSecs": 3600}),
    );
    assert_eq!(ok(&cfg)["IncrementalSyncIntervalSecs"], json!(3600));

    let removed = call(
        &h,
        json!({"op": "batch.remove", "identity": "IMAPImport", "workerPath": worker_path()}),
    );
    ok(&removed);
}

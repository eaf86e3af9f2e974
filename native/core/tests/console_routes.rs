//! The web console's routes, driven in process (`tower::ServiceExt::oneshot`) against a real
//! state store: every page and action needs a session, state-changing posts need the session's
//! CSRF token, failed logins are rate-limited, the cookie and headers are what a browser needs
//! to keep the session safe, a non-loopback console without TLS is refused, and no password
//! from a CSV or an endpoint ever appears in a response.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

use std::path::Path;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use base64::Engine as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

const CSV_PASSWORD: &str = "Csv-Secret-Pa55word";
const ADMIN_PASSWORD: &str = "Endpoint-Admin-Secret";
const CONSOLE_PASSWORD: &str = "Console-Pa55word";
const SMTP_PASSWORD: &str = "Smtp-Relay-Secret-88";

fn call(home: &Path, op: &str, mut args: Value) -> Value {
    args["op"] = json!(op);
    args["home"] = json!(home);
    imapmigration::api::handle_json(&args.to_string())
}

fn ok(home: &Path, op: &str, args: Value) -> Value {
    let r = call(home, op, args);
    assert_eq!(r["ok"], json!(true), "{op} failed: {r}");
    r["result"].clone()
}

/// A one-time login token, as Open-MigrationConsole gets it (the console "served" by this
/// test process).
fn login_token(home: &Path) -> String {
    ok(
        home,
        "console.listening",
        json!({ "address": "127.0.0.1:8440", "pid": std::process::id() }),
    );
    let url = ok(home, "console.open", json!({}))["Url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:8440/login?token="),
        "{url}"
    );
    url.rsplit_once("token=").unwrap().1.to_owned()
}

/// `req` as if it came from client address `addr` (the server's connection info).
fn from(addr: &str, mut req: Request<Body>) -> Request<Body> {
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(addr));
    req
}

async fn send(app: &axum::Router, req: Request<Body>) -> (Response<Body>, String) {
    let res = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, 16 << 20).await.unwrap();
    (
        Response::from_parts(parts, Body::empty()),
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut b = Request::get(path);
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    b.body(Body::empty()).unwrap()
}

fn post(path: &str, cookie: Option<&str>, form: &str) -> Request<Body> {
    let mut b =
        Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    b.body(Body::from(form.to_owned())).unwrap()
}

/// Logs in with a one-time link; returns the `Cookie` header value and the raw `Set-Cookie`.
async fn login(app: &axum::Router, home: &Path) -> (String, String) {
    let token = login_token(home);
    let (res, _) = send(app, get(&format!("/login?token={token}"), None)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[header::LOCATION], "/");
    let set = res.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    let pair = set.split(';').next().unwrap().to_owned();
    (pair, set)
}

/// The CSRF token a page rendered for the session.
fn csrf_in(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a csrf field")
        + 19;
    html[at..at + 64].to_owned()
}

/// A source endpoint (with admin credentials) and a batch from a CSV with passwords, one row
/// bad; nothing contacts a server.
fn seed_state(home: &Path) {
    ok(
        home,
        "endpoint.new",
        json!({
            "name": "src", "remoteServer": "127.0.0.1", "port": 1, "security": "None",
            "skipVerification": true,
            "credentials": { "userName": "admin", "password": ADMIN_PASSWORD },
            "targetLogin": "MasterUser",
        }),
    );
    let csv = format!(
        "EmailAddress,UserName,Password\r\nalice@example.test,alice,{CSV_PASSWORD}\r\nnot-an-address,bob,{CSV_PASSWORD}\r\n"
    );
    ok(
        home,
        "batch.new",
        json!({
            "name": "wave1", "sourceEndpoint": "src",
            "csvData": base64::engine::general_purpose::STANDARD.encode(csv),
        }),
    );
}

const PAGES: &[&str] = &[
    "/",
    "/fragments/batches",
    "/batches/wave1",
    "/fragments/batches/wave1/users",
    "/fragments/batches/wave1/row",
    "/batches/wave1/reports/statistics",
    "/endpoints",
    "/endpoints/src",
    "/new",
    "/settings",
    "/settings/saved",
];

const ACTIONS: &[&str] = &[
    "/logout",
    "/batches/wave1/action/start",
    "/batches/wave1/action/stop",
    "/batches/wave1/action/complete",
    "/batches/wave1/action/remove",
    "/batches/wave1/action/syncnow",
    "/endpoints",
    "/endpoints/test",
    "/endpoints/src",
    "/endpoints/src/test",
    "/endpoints/src/remove",
    "/settings",
];

#[tokio::test]
async fn every_page_and_action_needs_a_session() {
    let dir = tempfile::tempdir().unwrap();
    seed_state(dir.path());
    let app = imapmigration::console::router(dir.path().to_owned(), false);
    for cookie in [None, Some("imapmig_session=forged-session-id")] {
        for path in PAGES {
            let (res, body) = send(&app, get(path, cookie)).await;
            assert_eq!(res.status(), StatusCode::SEE_OTHER, "GET {path}");
            assert_eq!(res.headers()[header::LOCATION], "/login", "GET {path}");
            assert!(!body.contains("wave1"), "GET {path} leaks: {body}");
        }
        for path in ACTIONS.iter().chain(["/new"].iter()) {
            let (res, _) = send(&app, post(path, cookie, "csrf=x")).await;
            assert_eq!(res.status(), StatusCode::SEE_OTHER, "POST {path}");
        }
    }
    // Nothing was done: the batch and the endpoint are as they were.
    let b = ok(dir.path(), "batch.get", json!({ "identity": "wave1" }));
    assert_eq!(b[0]["Status"], json!("Stopped"));
    assert_eq!(
        ok(dir.path(), "endpoint.get", json!({}))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The login page and the assets are open.
    let (res, body) = send(&app, get("/login", None)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(body.contains("name=\"password\""));
    let (res, body) = send(&app, get("/assets/console.js", None)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(body.contains("data-refresh"));
}

#[tokio::test]
async fn a_login_link_works_once_and_sets_a_strict_http_only_cookie() {
    let dir = tempfile::tempdir().unwrap();
    let app = imapmigration::console::router(dir.path().to_owned(), false);
    let token = login_token(dir.path());
    let (res, _) = send(&app, get(&format!("/login?token={token}"), None)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let set = res.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Strict"), "{set}");
    assert!(!set.contains("Secure"), "plain HTTP on loopback: {set}");
    assert!(!set.contains(&token), "the session is not the token");
    let cookie = set.split(';').next().unwrap();
    let (res, body) = send(&app, get("/", Some(cookie))).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(body.contains("Migration batches"));

    let (res, body) = send(&app, get(&format!("/login?token={token}"), None)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "a token works once");
    assert!(body.contains("not valid"), "{body}");
    assert!(res.headers().get(header::SET_COOKIE).is_none());

    // Under TLS the cookie is Secure.
    let tls_app = imapmigration::console::router(dir.path().to_owned(), true);
    let token = login_token(dir.path());
    let (res, _) = send(&tls_app, get(&format!("/login?token={token}"), None)).await;
    let set = res.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(set.contains("Secure"), "{set}");

    // Logging out ends the session for good.
    let (_, page) = send(&app, get("/", Some(cookie))).await;
    let csrf = csrf_in(&page);
    let (res, _) = send(&app, post("/logout", Some(cookie), &format!("csrf={csrf}"))).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (res, _) = send(&app, get("/", Some(cookie))).await;
    assert_eq!(res.headers()[header::LOCATION], "/login");
}

#[tokio::test]
async fn a_post_without_the_sessions_csrf_token_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    seed_state(dir.path());
    let app = imapmigration::console::router(dir.path().to_owned(), false);
    let (cookie, _) = login(&app, dir.path()).await;
    // Another session's token is no better than none.
    let (other, _) = login(&app, dir.path()).await;
    let (_, page) = send(&app, get("/", Some(&other))).await;
    let foreign = csrf_in(&page);
    for path in ACTIONS {
        for form in [String::new(), "csrf=".into(), format!("csrf={foreign}")] {
            let (res, body) = send(&app, post(path, Some(&cookie), &form)).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "POST {path} [{form}]");
            assert!(body.contains("CSRF"), "{body}");
        }
    }
    // The wizard's multipart form too.
    let boundary = "XyZ";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"op\"\r\n\r\ncreate\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"batch_name\"\r\n\r\nwave2\r\n--{boundary}--\r\n"
    );
    let req = Request::post("/new")
        .header(header::COOKIE, &cookie)
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(body))
        .unwrap();
    let (res, _) = send(&app, req).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    let b = ok(dir.path(), "batch.get", json!({}));
    assert_eq!(b.as_array().unwrap().len(), 1, "no batch was created");
    assert_eq!(b[0]["Status"], json!("Stopped"), "no action was taken");
    assert_eq!(
        ok(dir.path(), "endpoint.get", json!({}))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(
        call(
            dir.path(),
            "console.session",
            json!({ "session": cookie.split_once('=').unwrap().1 })
        )["ok"]
            == json!(true),
        "the session survived"
    );

    // With the token the same action goes through the api: Start records Starting.
    let (_, page) = send(&app, get("/", Some(&cookie))).await;
    let csrf = csrf_in(&page);
    let (res, _) = send(
        &app,
        post(
            "/batches/wave1/action/start",
            Some(&cookie),
            &format!("csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let b = ok(dir.path(), "batch.get", json!({ "identity": "wave1" }));
    assert_eq!(b[0]["Status"], json!("Starting"));
}

#[tokio::test]
async fn wrong_passwords_are_rate_limited_per_client() {
    let dir = tempfile::tempdir().unwrap();
    ok(
        dir.path(),
        "config.set",
        json!({ "consolePassword": CONSOLE_PASSWORD }),
    );
    let cfg = ok(dir.path(), "config.get", json!({}));
    assert_eq!(cfg["HasConsolePassword"], json!(true));
    assert!(!cfg.to_string().contains(CONSOLE_PASSWORD));
    let stored = std::fs::read(dir.path().join("state.db")).unwrap();
    assert!(
        !String::from_utf8_lossy(&stored).contains(CONSOLE_PASSWORD),
        "the password is kept only as a hash"
    );
    let app = imapmigration::console::router(dir.path().to_owned(), false);
    let (res, _) = send(
        &app,
        post("/login", None, &format!("password={CONSOLE_PASSWORD}")),
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "the right password logs in"
    );
    // The guesses come from an address of their own: the limit is per client address, for the
    // whole process (other tests in this process log in from the unspecified address).
    let guesser = "192.0.2.77:40000";
    for i in 0..5 {
        let (res, body) = send(
            &app,
            from(guesser, post("/login", None, "password=wrong-password")),
        )
        .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "attempt {i}");
        assert!(!body.contains("wrong-password"));
    }
    let (res, body) = send(
        &app,
        from(
            guesser,
            post("/login", None, &format!("password={CONSOLE_PASSWORD}")),
        ),
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "limited even with the right password"
    );
    assert!(res.headers().get(header::RETRY_AFTER).is_some());
    assert!(body.contains("too many failed logins"), "{body}");
    assert!(res.headers().get(header::SET_COOKIE).is_none());
    let token = login_token(dir.path());
    let (res, _) = send(
        &app,
        from(guesser, get(&format!("/login?token={token}"), None)),
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "links are limited too"
    );
    // The count is the process's: a console started again (a new address, certificate or
    // password) does not forget it.
    let app2 = imapmigration::console::router(dir.path().to_owned(), false);
    let (res, _) = send(
        &app2,
        from(
            guesser,
            post("/login", None, &format!("password={CONSOLE_PASSWORD}")),
        ),
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "a restarted console keeps the count"
    );

    // Another address is not held back by the guesser; a new password ends every session.
    let (cookie, _) = login(&app2, dir.path()).await;
    ok(
        dir.path(),
        "config.set",
        json!({ "consolePassword": "Another-Pa55word" }),
    );
    let (res, _) = send(&app2, get("/", Some(&cookie))).await;
    assert_eq!(res.headers()[header::LOCATION], "/login");
}

#[tokio::test]
async fn a_console_beyond_loopback_needs_tls() {
    let dir = tempfile::tempdir().unwrap();
    let r = call(
        dir.path(),
        "config.set",
        json!({ "consoleListen": "0.0.0.0:8440" }),
    );
    assert_eq!(r["error"]["code"], json!("InvalidArgument"), "{r}");
    let message = r["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("-ConsoleCertificate") && message.contains("without TLS"),
        "{message}"
    );
    assert_eq!(r["error"]["details"]["setting"], json!("consoleListen"));
    assert_eq!(
        ok(dir.path(), "config.get", json!({}))["ConsoleListen"],
        Value::Null
    );
    // The worker's --console is checked the same way, before it starts.
    let e = imapmigration::console::check(dir.path(), Some("192.0.2.10:8440"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("without TLS"), "{e}");
    imapmigration::console::check(dir.path(), Some("127.0.0.1:0"))
        .await
        .unwrap();
    // A certificate without its key is refused; loopback is fine.
    let r = call(
        dir.path(),
        "config.set",
        json!({ "consoleListen": "0.0.0.0:8440", "consoleCertificate": "/etc/hostname" }),
    );
    assert_eq!(r["error"]["details"]["setting"], json!("consoleKey"), "{r}");
    ok(
        dir.path(),
        "config.set",
        json!({ "consoleListen": "127.0.0.1:8440" }),
    );
    assert_eq!(
        ok(dir.path(), "config.get", json!({}))["ConsoleListen"],
        json!("127.0.0.1:8440")
    );
    // Open-MigrationConsole without a serving process says how to turn the console on.
    let r = call(dir.path(), "console.open", json!({}));
    assert_eq!(r["error"]["code"], json!("InvalidState"));
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Set-MigrationConfig -ConsoleListen")
    );
}

#[tokio::test]
async fn no_secret_in_any_page_and_every_page_carries_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    seed_state(dir.path());
    let app = imapmigration::console::router(dir.path().to_owned(), false);
    let (cookie, _) = login(&app, dir.path()).await;
    let guid = ok(dir.path(), "user.get", json!({}))[0]["Guid"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut pages: Vec<String> = PAGES.iter().map(|p| (*p).to_owned()).collect();
    pages.push(format!("/users/{guid}"));
    pages.push("/no/such/page".into());
    for path in &pages {
        let (res, body) = send(&app, get(path, Some(&cookie))).await;
        let csp = res.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
            "{path}: {csp}"
        );
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(res.headers()[header::REFERRER_POLICY], "no-referrer");
        assert!(!body.contains("<script>"), "{path}: inline script");
        for secret in [CSV_PASSWORD, ADMIN_PASSWORD, SMTP_PASSWORD] {
            assert!(!body.contains(secret), "{path} shows a password");
        }
    }
    // The batch page shows the bad row's warning, not its password.
    let (_, body) = send(&app, get("/batches/wave1", Some(&cookie))).await;
    assert!(body.contains("Row 2 (not-an-address)"), "{body}");
    // A refused endpoint form keeps what was typed, except the password.
    let (_, page) = send(&app, get("/endpoints", Some(&cookie))).await;
    let csrf = csrf_in(&page);
    let form = format!(
        "csrf={csrf}&name=src&remote_server=imap.example.test&port=993&security=Ssl&authentication=Basic&admin_user=root&admin_password={ADMIN_PASSWORD}&skip_verification=on"
    );
    let (res, body) = send(&app, post("/endpoints", Some(&cookie), &form)).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(
        body.contains("already exists") || body.contains("already"),
        "{body}"
    );
    assert!(
        body.contains("value=\"imap.example.test\""),
        "the server is kept"
    );
    assert!(!body.contains(ADMIN_PASSWORD), "the password is not");
}

#[tokio::test]
async fn endpoints_are_edited_tested_and_removed_through_the_cmdlets_operations() {
    let dir = tempfile::tempdir().unwrap();
    let app = imapmigration::console::router(dir.path().to_owned(), false);
    let (cookie, _) = login(&app, dir.path()).await;
    let (_, page) = send(&app, get("/endpoints", Some(&cookie))).await;
    let csrf = csrf_in(&page);
    // Create (without verification: nothing listens there).
    let form = format!(
        "csrf={csrf}&name=tgt&remote_server=127.0.0.1&port=1&security=None&authentication=Basic&admin_user=admin&admin_password={ADMIN_PASSWORD}&target_login=MasterUser&skip_verification=on"
    );
    let (res, _) = send(&app, post("/endpoints", Some(&cookie), &form)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let e = ok(dir.path(), "endpoint.get", json!({ "identity": "tgt" }))[0].clone();
    assert_eq!(e["Port"], json!(1));
    assert_eq!(e["HasCredentials"], json!(true));
    assert_eq!(e["TargetLogin"], json!("MasterUser"));
    // The edit form shows the settings, never the password.
    let (res, body) = send(&app, get("/endpoints/tgt", Some(&cookie))).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(body.contains("value=\"admin\""));
    assert!(!body.contains(ADMIN_PASSWORD));
    // Edit: a new port; a blank password keeps the stored one.
    let form = format!(
        "csrf={csrf}&remote_server=127.0.0.1&port=2&security=None&authentication=Basic&admin_user=admin&admin_password=&skip_verification=on"
    );
    let (res, body) = send(&app, post("/endpoints/tgt", Some(&cookie), &form)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{body}");
    let e = ok(dir.path(), "endpoint.get", json!({ "identity": "tgt" }))[0].clone();
    assert_eq!(e["Port"], json!(2));
    assert_eq!(e["HasCredentials"], json!(true));
    // A bad port: the api's error, what was typed kept.
    let form = format!(
        "csrf={csrf}&remote_server=127.0.0.1&port=70000&security=None&authentication=Basic&skip_verification=on"
    );
    let (res, body) = send(&app, post("/endpoints/tgt", Some(&cookie), &form)).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(body.contains("the port 70000 is not valid"), "{body}");
    assert!(body.contains("value=\"70000\""));
    assert_eq!(
        ok(dir.path(), "endpoint.get", json!({ "identity": "tgt" }))[0]["Port"],
        json!(2)
    );
    // Test: the same check as Test-MigrationServerAvailability (nothing listens on port 2).
    let (res, body) = send(
        &app,
        post(
            "/endpoints/tgt/test",
            Some(&cookie),
            &format!("csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let home = dir.path().to_owned();
    let direct = tokio::task::spawn_blocking(move || {
        ok(&home, "endpoint.test", json!({ "endpoint": "tgt" }))
    })
    .await
    .unwrap();
    assert_eq!(direct["Result"], json!("Failed"));
    assert!(body.contains("data-result=\"Failed\""), "{body}");
    // Remove.
    let (res, _) = send(
        &app,
        post(
            "/endpoints/tgt/remove",
            Some(&cookie),
            &format!("csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let r = call(dir.path(), "endpoint.get", json!({ "identity": "tgt" }));
    assert!(r["error"]["code"] == json!("NotFound"), "removed: {r}");
}

/// A `POST /new` of the wizard's multipart form: `fields` as typed, `csv` as the uploaded file.
fn wizard_post(cookie: &str, fields: &[(&str, &str)], csv: Option<&[u8]>) -> Request<Body> {
    let boundary = "wIzArDbOuNdArY";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    if let Some(csv) = csv {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"csv_file\"; filename=\"users.csv\"\r\nContent-Type: text/csv\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(csv);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Request::post("/new")
        .header(header::COOKIE, cookie)
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(body))
        .unwrap()
}

/// An endpoint named `name` that no check contacts (nothing listens on port 1).
fn quiet_endpoint(home: &Path, name: &str) {
    ok(
        home,
        "endpoint.new",
        json!({
            "name": name, "remoteServer": "127.0.0.1", "port": 1, "security": "None",
            "skipVerification": true,
        }),
    );
}

fn batch_count(home: &Path) -> usize {
    ok(home, "batch.get", json!({})).as_array().unwrap().len()
}

fn endpoint_count(home: &Path) -> usize {
    ok(home, "endpoint.get", json!({}))
        .as_array()
        .unwrap()
        .len()
}

/// The `<input>` named `name` in a page, as rendered.
fn input_of<'a>(html: &'a str, name: &str) -> &'a str {
    let at = html
        .find(&format!("name=\"{name}\""))
        .unwrap_or_else(|| panic!("no input {name}"));
    let start = html[..at].rfind('<').unwrap();
    let end = at + html[at..].find('>').unwrap();
    &html[start..=end]
}

#[tokio::test]
async fn the_wizard_shows_each_rows_warning_before_anything_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    quiet_endpoint(home, "src");
    let app = imapmigration::console::router(home.to_owned(), false);
    let (cookie, _) = login(&app, home).await;
    let (_, page) = send(&app, get("/new", Some(&cookie))).await;
    let csrf = csrf_in(&page);
    let csv = format!(
        "EmailAddress,UserName,Password\r\nalice@example.test,alice,{CSV_PASSWORD}\r\nnot-an-address,bob,{CSV_PASSWORD}\r\ncarol@example.test,carol,{CSV_PASSWORD}\r\n"
    );
    let fields = [
        ("csrf", csrf.as_str()),
        ("op", "preview"),
        ("source", "src"),
        ("batch_name", "wave2"),
        ("exclude_folders", "Junk, Trash"),
        ("notification_emails", "ops@example.test"),
        ("auto_start", "on"),
    ];
    let (res, body) = send(&app, wizard_post(&cookie, &fields, Some(csv.as_bytes()))).await;
    assert_eq!(res.status(), StatusCode::OK, "{body}");
    // The warning per row, in the words New-MigrationBatch records on the batch.
    let direct = ok(
        home,
        "batch.new",
        json!({
            "name": "wave2", "sourceEndpoint": "src", "validateOnly": true,
            "csvData": base64::engine::general_purpose::STANDARD.encode(&csv),
        }),
    );
    assert_eq!(direct["UserCount"], json!(2));
    let warning = direct["ValidationWarnings"][0].clone();
    assert_eq!(warning["RowIndex"], json!(2));
    let line = format!(
        "Row 2 (not-an-address): {}",
        warning["LocalizedErrorMessage"].as_str().unwrap()
    );
    assert!(body.contains(&html_escape(&line)), "{line} in {body}");
    assert!(body.contains("data-users=\"2\""), "{body}");
    assert!(body.contains("data-warnings=\"1\""), "{body}");
    assert!(body.contains("alice@example.test") && body.contains("carol@example.test"));
    assert!(
        !body.contains(CSV_PASSWORD),
        "no CSV password in the preview"
    );
    // What was typed is kept, the upload sealed.
    assert!(input_of(&body, "batch_name").contains("value=\"wave2\""));
    assert!(input_of(&body, "exclude_folders").contains("value=\"Junk, Trash\""));
    assert!(input_of(&body, "notification_emails").contains("value=\"ops@example.test\""));
    assert!(input_of(&body, "auto_start").contains("checked"));
    assert!(body.contains("name=\"csv_kept\""), "the upload is kept");
    // Nothing was created: not the batch, not a user.
    assert_eq!(batch_count(home), 0, "a preview creates no batch");
    assert_eq!(
        ok(home, "user.get", json!({})).as_array().map(Vec::len),
        Some(0)
    );

    // Create from the kept upload: the batch has the warning the preview showed.
    let kept = {
        let tag = input_of(&body, "csv_kept");
        let at = tag.find("value=\"").unwrap() + 7;
        html_unescape(&tag[at..at + tag[at..].find('"').unwrap()])
    };
    let mut create = fields.to_vec();
    create[1] = ("op", "create");
    create.push(("csv_kept", &kept));
    let (res, body) = send(&app, wizard_post(&cookie, &create, None)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{body}");
    let b = ok(home, "batch.get", json!({ "identity": "wave2" }))[0].clone();
    assert_eq!(b["ValidationWarnings"][0], warning);
    assert_eq!(b["TotalCount"], json!(2));
    assert_eq!(b["NotificationEmails"], json!(["ops@example.test"]));
}

#[tokio::test]
async fn start_later_creates_a_stopped_batch_that_its_page_starts() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    quiet_endpoint(home, "src");
    let app = imapmigration::console::router(home.to_owned(), false);
    let (cookie, _) = login(&app, home).await;
    let (_, page) = send(&app, get("/new", Some(&cookie))).await;
    let csrf = csrf_in(&page);
    assert!(
        input_of(&page, "auto_start").contains("checked"),
        "starting automatically is the default"
    );
    let csv =
        format!("EmailAddress,UserName,Password\r\nalice@example.test,alice,{CSV_PASSWORD}\r\n");
    // Start later: the box unchecked (a browser then sends no auto_start field).
    let fields = [
        ("csrf", csrf.as_str()),
        ("op", "create"),
        ("source", "src"),
        ("batch_name", "later"),
        (
            "notification_emails",
            "ops@example.test; helpdesk@example.test",
        ),
    ];
    let (res, body) = send(&app, wizard_post(&cookie, &fields, Some(csv.as_bytes()))).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{body}");
    assert_eq!(res.headers()[header::LOCATION], "/batches/later");
    let b = ok(home, "batch.get", json!({ "identity": "later" }))[0].clone();
    assert_eq!(b["Status"], json!("Stopped"), "not started");
    assert_eq!(b["ValidationWarningCount"], json!(0));
    assert_eq!(
        b["NotificationEmails"],
        json!(["ops@example.test", "helpdesk@example.test"])
    );
    let (_, page) = send(&app, get("/batches/later", Some(&cookie))).await;
    assert!(
        page.contains("ops@example.test, helpdesk@example.test"),
        "the batch page names where reports go: {page}"
    );
    assert!(page.contains("action=\"/batches/later/action/start\""));
    let (res, _) = send(
        &app,
        post(
            "/batches/later/action/start",
            Some(&cookie),
            &format!("csrf={csrf}&back=/batches/later"),
        ),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let b = ok(home, "batch.get", json!({ "identity": "later" }))[0].clone();
    assert_eq!(b["Status"], json!("Starting"));
}

/// What a bad wizard case posts: its name, the fields typed, the CSV, the cmdlet's error.
type WizardCase<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str, String);

#[tokio::test]
async fn bad_wizard_input_shows_the_cmdlets_error_keeps_the_form_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    seed_state(home);
    let app = imapmigration::console::router(home.to_owned(), false);
    let (cookie, _) = login(&app, home).await;
    let (_, page) = send(&app, get("/new", Some(&cookie))).await;
    let csrf = csrf_in(&page);
    let good =
        format!("EmailAddress,UserName,Password\r\ncarol@example.test,carol,{CSV_PASSWORD}\r\n");
    let not_csv = format!("\u{89}PNG\r\n\u{1a}\n{CSV_PASSWORD}\0\0\0IHDR");
    // The error New-MigrationBatch (the same operation) gives for the same input.
    let cmdlet_error = |args: Value| {
        let r = call(home, "batch.new", args);
        assert_eq!(r["ok"], json!(false), "{r}");
        r["error"]["message"].as_str().unwrap().to_owned()
    };
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let cases: Vec<WizardCase> = vec![
        (
            "not a CSV",
            vec![("source", "src"), ("batch_name", "wave2")],
            not_csv.as_str(),
            cmdlet_error(
                json!({ "name": "wave2", "sourceEndpoint": "src", "csvData": b64(&not_csv) }),
            ),
        ),
        (
            "a batch name in use",
            vec![("source", "src"), ("batch_name", "wave1")],
            good.as_str(),
            cmdlet_error(
                json!({ "name": "wave1", "sourceEndpoint": "src", "csvData": b64(&good) }),
            ),
        ),
        (
            "a name in use, with a new endpoint",
            vec![
                ("source", "__new__"),
                ("endpoint_name", "fresh"),
                ("remote_server", "127.0.0.1"),
                ("port", "1"),
                ("security", "None"),
                ("batch_name", "wave1"),
            ],
            good.as_str(),
            cmdlet_error(
                json!({ "name": "wave1", "sourceEndpoint": "src", "csvData": b64(&good) }),
            ),
        ),
    ];
    for (what, typed, csv, expected) in &cases {
        for op in ["preview", "create"] {
            let mut fields = vec![("csrf", csrf.as_str()), ("op", op)];
            fields.extend(typed.iter().copied());
            fields.push(("notification_emails", "ops@example.test"));
            let (res, body) = send(&app, wizard_post(&cookie, &fields, Some(csv.as_bytes()))).await;
            assert!(
                res.status().is_client_error(),
                "{what} ({op}): {}",
                res.status()
            );
            assert!(
                body.contains(&html_escape(expected)),
                "{what} ({op}): the cmdlet's error \"{expected}\" in {body}"
            );
            for (name, value) in typed
                .iter()
                .filter(|(n, _)| *n != "source" && *n != "security")
            {
                assert!(
                    input_of(&body, name).contains(&format!("value=\"{value}\"")),
                    "{what} ({op}): {name} kept"
                );
            }
            assert!(input_of(&body, "notification_emails").contains("ops@example.test"));
            assert!(
                !body.contains(CSV_PASSWORD),
                "{what} ({op}): a CSV password shown"
            );
            assert_eq!(batch_count(home), 1, "{what} ({op}): no batch created");
            assert_eq!(
                endpoint_count(home),
                1,
                "{what} ({op}): no endpoint created"
            );
        }
    }

    // An endpoint that cannot be reached: New-MigrationEndpoint's error, nothing created.
    let owned = home.to_owned();
    let endpoint_error = tokio::task::spawn_blocking(move || {
        let r = call(
            &owned,
            "endpoint.new",
            json!({ "name": "fresh", "remoteServer": "127.0.0.1", "port": 1, "security": "None" }),
        );
        assert_eq!(r["ok"], json!(false), "{r}");
        r["error"]["message"].as_str().unwrap().to_owned()
    })
    .await
    .unwrap();
    let fields = [
        ("csrf", csrf.as_str()),
        ("op", "create"),
        ("source", "__new__"),
        ("endpoint_name", "fresh"),
        ("remote_server", "127.0.0.1"),
        ("port", "1"),
        ("security", "None"),
        ("batch_name", "wave2"),
    ];
    let (res, body) = send(&app, wizard_post(&cookie, &fields, Some(good.as_bytes()))).await;
    assert!(res.status().is_client_error() || res.status().is_server_error());
    assert_ne!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        body.contains(&html_escape(&endpoint_error)),
        "the cmdlet's error \"{endpoint_error}\" in {body}"
    );
    assert!(input_of(&body, "remote_server").contains("value=\"127.0.0.1\""));
    assert!(input_of(&body, "port").contains("value=\"1\""));
    assert!(input_of(&body, "batch_name").contains("value=\"wave2\""));
    assert!(!body.contains(CSV_PASSWORD));
    assert_eq!(batch_count(home), 1);
    assert_eq!(endpoint_count(home), 1);
}

/// `s` as minijinja's HTML escaping renders it.
fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

/// An attribute value as a browser reads it (the entities minijinja writes, decoded).
fn html_unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[tokio::test]
async fn settings_change_only_what_was_edited_and_never_show_the_relay_password() {
    let dir = tempfile::tempdir().unwrap();
    seed_state(dir.path());
    quiet_endpoint(dir.path(), "tgt");
    let app = imapmigration::console::router(dir.path().to_owned(), false);
    let (cookie, _) = login(&app, dir.path()).await;
    let (res, page) = send(&app, get("/settings", Some(&cookie))).await;
    assert_eq!(res.status(), StatusCode::OK);
    let csrf = csrf_in(&page);
    let default_root = dir.path().join("maildir").display().to_string();
    assert_eq!(value_of(&page, "maildir_root"), default_root);
    assert_eq!(value_of(&page, "incremental_hours"), "24");

    // Saving the page as shown changes nothing: no default is written down as a setting.
    let form = |fields: &[(&str, &str)]| {
        let mut f = vec![
            ("csrf", csrf.clone()),
            ("default_target", String::new()),
            ("maildir_root", default_root.clone()),
            ("incremental_hours", "24".into()),
            ("max_concurrent", String::new()),
            ("smtp_server", String::new()),
            ("smtp_port", String::new()),
            ("smtp_security", "Tls".into()),
            ("smtp_from", String::new()),
            ("smtp_user", String::new()),
            ("smtp_password", String::new()),
        ];
        for (k, v) in fields {
            if let Some(e) = f.iter_mut().find(|(n, _)| n == k) {
                e.1 = (*v).to_owned();
            } else {
                f.push((k, (*v).to_owned()));
            }
        }
        f.iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect::<Vec<_>>()
            .join("&")
    };
    let (res, body) = send(&app, post("/settings", Some(&cookie), &form(&[]))).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{body}");
    assert_eq!(res.headers()[header::LOCATION], "/settings/saved");
    let store = imapmigration_store::Store::open(dir.path()).unwrap();
    for key in ["maildirRoot", "incrementalSyncIntervalSecs", "smtpRelay"] {
        assert_eq!(store.config_get(key).unwrap(), None, "{key} was written");
    }

    // Edited fields go through Set-MigrationConfig's operation.
    let edited = form(&[
        ("default_target", "tgt"),
        ("incremental_hours", "6"),
        ("max_concurrent", "12"),
        ("smtp_server", "smtp.contoso.test"),
        ("smtp_from", "migration@contoso.test"),
        ("smtp_user", "relay"),
        ("smtp_password", SMTP_PASSWORD),
    ]);
    let (res, body) = send(&app, post("/settings", Some(&cookie), &edited)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{body}");
    let c = ok(dir.path(), "config.get", json!({}));
    assert_eq!(c["DefaultTargetEndpoint"], json!("tgt"), "{c}");
    assert_eq!(c["IncrementalSyncIntervalSecs"], json!(21_600), "{c}");
    assert_eq!(c["MaxConcurrentMigrations"], json!(12), "{c}");
    assert_eq!(c["SmtpRelay"]["Server"], json!("smtp.contoso.test"), "{c}");
    assert_eq!(c["SmtpRelay"]["Port"], json!(587), "{c}");
    assert_eq!(c["SmtpRelay"]["HasPassword"], json!(true), "{c}");
    assert_eq!(store.config_get("maildirRoot").unwrap(), None);
    let (_, page) = send(&app, get("/settings/saved", Some(&cookie))).await;
    assert!(page.contains("The settings were saved"), "{page}");
    assert!(page.contains("a password is stored"), "{page}");
    assert!(!page.contains(SMTP_PASSWORD));
    assert_eq!(value_of(&page, "smtp_user"), "relay");

    // A refused value: the api's words, what was typed kept except the password, nothing
    // written (the interval stays 6 hours).
    let bad = form(&[
        ("default_target", "tgt"),
        ("incremental_hours", "6"),
        ("max_concurrent", "12"),
        ("smtp_server", "smtp.contoso.test"),
        ("smtp_from", "migration@contoso.test"),
        ("smtp_user", "relay"),
        ("smtp_password", SMTP_PASSWORD),
        ("maildir_root", "relative/maildir"),
    ]);
    let (res, body) = send(&app, post("/settings", Some(&cookie), &bad)).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(
        body.contains("(-MaildirRoot) is not an absolute path"),
        "{body}"
    );
    assert_eq!(value_of(&body, "maildir_root"), "relative/maildir");
    assert!(!body.contains(SMTP_PASSWORD), "the password is not kept");
    let (res, body) = send(
        &app,
        post(
            "/settings",
            Some(&cookie),
            &form(&[("incremental_hours", "soon")]),
        ),
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(
        body.contains("&quot;soon&quot; is not a number of hours"),
        "{body}"
    );
    let c = ok(dir.path(), "config.get", json!({}));
    assert_eq!(c["IncrementalSyncIntervalSecs"], json!(21_600), "{c}");
    assert_eq!(c["MaildirRoot"], json!(default_root), "{c}");

    // Blank fields clear; "send no mail" removes the relay.
    let cleared = form(&[
        ("default_target", ""),
        ("incremental_hours", "6"),
        ("smtp_server", "smtp.contoso.test"),
        ("smtp_from", "migration@contoso.test"),
        ("smtp_user", "relay"),
        ("smtp_off", "on"),
    ]);
    let (res, body) = send(&app, post("/settings", Some(&cookie), &cleared)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{body}");
    let c = ok(dir.path(), "config.get", json!({}));
    assert_eq!(c["DefaultTargetEndpoint"], Value::Null, "{c}");
    assert_eq!(c["MaxConcurrentMigrations"], json!("Unlimited"), "{c}");
    assert_eq!(c["SmtpRelay"], Value::Null, "{c}");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The `value` of the `<input>` named `name`, unescaped.
fn value_of(html: &str, name: &str) -> String {
    let tag = input_of(html, name);
    let at = tag.find("value=\"").map_or(tag.len(), |i| i + 7);
    let end = tag[at..].find('"').map_or(at, |j| at + j);
    html_unescape(&tag[at..end])
}

//! The web console end to end over real HTTP: the worker binary serves it (`--console
//! 127.0.0.1:0`), the test reads the bound port from the store, logs in with the one-time link
//! Open-MigrationConsole gets, and walks the EAC steps against a real Dovecot: upload a CSV
//! with a bad row, test the connection, create and start the batch, watch it reach Synced, open
//! a user, download the report; then stops and resumes a batch from the page while the
//! cmdlets' `batch.get` sees each state.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use imapmigration_testkit::{
    DelayProxy, Dovecot, DovecotOptions, SeedFolder, SeedMessage, maildir_snapshot,
};
use reqwest::redirect::Policy;
use serde_json::{Value, json};

const WORKER: &str = env!("CARGO_BIN_EXE_imapmigration");

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

/// The worker serving the console for a temp state directory; killed on drop.
struct Worker {
    home: tempfile::TempDir,
    child: Child,
    client: reqwest::Client,
    base: String,
    cookie: String,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Worker {
    async fn start() -> Worker {
        let home = tempfile::tempdir().unwrap();
        let child = Command::new(WORKER)
            .args(["worker", "--console", "127.0.0.1:0", "--home"])
            .arg(home.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The bound address is in the store once the console serves.
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            let s = ok(home.path(), "console.status", json!({}));
            if s["Serving"] == json!(true) {
                break s;
            }
            assert!(Instant::now() < deadline, "the console never served: {s}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let address = status["Address"].as_str().unwrap().to_owned();
        assert!(
            address.starts_with("127.0.0.1:") && !address.ends_with(":0"),
            "{address}"
        );
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .unwrap();
        let url = ok(home.path(), "console.open", json!({}))["Url"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            url.starts_with(&format!("http://{address}/login?token=")),
            "{url}"
        );
        let res = client.get(&url).send().await.unwrap();
        assert_eq!(res.status(), 303);
        let cookie = res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        Worker {
            home,
            child,
            client,
            base: format!("http://{address}"),
            cookie,
        }
    }

    fn home(&self) -> &Path {
        self.home.path()
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }

    async fn csrf(&self) -> String {
        let (_, page) = self.get("/").await;
        let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
        page[at..at + 64].to_owned()
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let csrf = self.csrf().await;
        let mut form: Vec<(&str, &str)> = form.to_vec();
        form.push(("csrf", &csrf));
        self.client
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    fn batch_count(&self) -> usize {
        ok(self.home(), "batch.get", json!({}))
            .as_array()
            .map_or(0, Vec::len)
    }

    fn batch(&self, name: &str) -> Value {
        ok(self.home(), "batch.get", json!({ "identity": name }))[0].clone()
    }

    async fn wait_status(&self, name: &str, wanted: &[&str], timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let b = self.batch(name);
            if wanted.iter().any(|w| b["Status"] == json!(w)) {
                return b;
            }
            assert!(
                Instant::now() < deadline,
                "batch {name} is {}, wanted {wanted:?}",
                b["Status"]
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn seed(dovecot: &Dovecot, user: &str, n: usize, size: usize) {
    let messages = (0..n)
        .map(|i| {
            let mut body = format!(
                "Message-ID: <{i}.{user}@console.test>\r\nSubject: console message {i}\r\nFrom: a@example.test\r\n\r\n"
            )
            .into_bytes();
            while body.len() < size {
                body.extend_from_slice(b"some body text for the console test\r\n");
            }
            SeedMessage::new(body, if i % 2 == 0 { &["\\Seen"] } else { &[] }, 1_767_000_000 + i as i64 * 60)
        })
        .collect();
    dovecot
        .seed(user, &[SeedFolder::new("INBOX", messages)])
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_eac_steps_end_to_end_in_the_console() {
    let dovecot = Dovecot::start(DovecotOptions::default().user("ann", "pw-ann")).unwrap();
    seed(&dovecot, "ann", 40, 2_000);
    let w = Worker::start().await;
    let port = dovecot.imap_port().to_string();

    // IMAP configuration: Test connection keeps what was typed.
    let csrf = w.csrf().await;
    let form = |op: &str, csv: Option<&str>| {
        let mut f = reqwest::multipart::Form::new()
            .text("csrf", csrf.clone())
            .text("op", op.to_owned())
            .text("source", "__new__")
            .text("endpoint_name", "onprem")
            .text("remote_server", "127.0.0.1")
            .text("port", port.clone())
            .text("security", "None")
            .text("authentication", "Basic")
            .text("batch_name", "wave1")
            .text("auto_start", "on");
        if let Some(csv) = csv {
            f = f.part(
                "csv_file",
                reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("users.csv"),
            );
        }
        f
    };
    let csv = "EmailAddress,UserName,Password\r\nann@contoso.test,ann,pw-ann\r\nbroken-row,x,Bad-Row-Secret\r\n";
    let res = w
        .client
        .post(format!("{}/new", w.base))
        .header("cookie", &w.cookie)
        .multipart(form("test", Some(csv)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("data-result=\"Success\""), "{page}");
    assert!(page.contains("value=\"127.0.0.1\""), "the server is kept");
    assert!(page.contains("users.csv"), "the upload is kept");
    let csv_b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, csv);
    assert!(
        !page.contains(&csv_b64),
        "the kept upload is sealed, not the file"
    );
    assert!(
        !page.contains("Bad-Row-Secret") && !page.contains("pw-ann"),
        "no CSV password shown"
    );
    assert_eq!(
        ok(w.home(), "endpoint.get", json!({}))
            .as_array()
            .map(Vec::len),
        Some(0),
        "testing creates nothing"
    );

    // Create and start.
    let res = w
        .client
        .post(format!("{}/new", w.base))
        .header("cookie", &w.cookie)
        .multipart(form("create", Some(csv)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    assert_eq!(res.headers()["location"], "/batches/wave1");
    let (status, page) = w.get("/batches/wave1").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Row 2 (broken-row)"),
        "the bad row's warning: {page}"
    );
    assert!(!page.contains("Bad-Row-Secret"));

    // The same name again: the api's error, nothing created.
    let res = w
        .client
        .post(format!("{}/new", w.base))
        .header("cookie", &w.cookie)
        .multipart(form("create", Some(csv)).text("source", "onprem"))
        .send()
        .await
        .unwrap();
    assert_ne!(res.status(), 303);
    let page = res.text().await.unwrap();
    assert!(page.contains("already"), "{page}");
    assert!(page.contains("value=\"wave1\""), "the batch name is kept");
    assert_eq!(
        ok(w.home(), "batch.get", json!({}))
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        ok(w.home(), "endpoint.get", json!({}))
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // A batch with validation warnings waits for the admin to review them, even when started
    // automatically (as Exchange does); Resume on its page starts it.
    assert_eq!(w.batch("wave1")["Status"], json!("Stopped"));
    let (_, page) = w.get("/batches/wave1").await;
    assert!(
        page.contains("/batches/wave1/action/start"),
        "Resume is offered"
    );
    let res = w
        .post("/batches/wave1/action/start", &[("back", "/batches/wave1")])
        .await;
    assert_eq!(res.status(), 303);
    let b = w
        .wait_status("wave1", &["Synced"], Duration::from_secs(120))
        .await;
    assert_eq!(b["SyncedCount"], json!(1));
    let (_, page) = w.get("/").await;
    assert!(page.contains("data-status=\"Synced\""), "{page}");
    let (_, rows) = w.get("/fragments/batches").await;
    assert!(rows.contains("<tr data-batch=\"wave1\">"));
    // The batch's chart: its users' messages on the target summed, in round buckets.
    let (_, page) = w.get("/batches/wave1").await;
    assert!(page.contains("<svg id=\"copied-chart\""), "{page}");
    assert!(page.contains(": 40 messages</title>"), "{page}");
    assert!(page.contains(": 40 copied</title>"), "{page}");
    assert!(
        page.contains("Per minute"),
        "a first sync of seconds in minutes: {page}"
    );

    // The user page: counts from the store.
    let u = ok(
        w.home(),
        "user.get",
        json!({ "identity": "ann@contoso.test" }),
    )[0]
    .clone();
    let (status, page) = w
        .get(&format!("/users/{}", u["Guid"].as_str().unwrap()))
        .await;
    assert_eq!(status, 200);
    assert!(
        page.contains("40 synced, 0 skipped, 40 in the source mailbox"),
        "{page}"
    );
    // The chart, drawn from the store: the pass's end at 40 messages.
    assert!(page.contains("<svg id=\"copied-chart\""), "{page}");
    assert!(page.contains(": 40 messages</title>"), "{page}");
    let src = dovecot.snapshot("ann").unwrap();
    let dst = maildir_snapshot(&w.home().join("maildir").join("ann@contoso.test")).unwrap();
    assert!(
        src.without_empty_folders()
            .diff(&dst.without_empty_folders())
            .is_empty()
    );

    // Download report: the batch's MigrationStatistics.csv.
    let deadline = Instant::now() + Duration::from_secs(30);
    let report = loop {
        let res = w
            .client
            .get(format!("{}/batches/wave1/reports/statistics", w.base))
            .header("cookie", &w.cookie)
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            assert!(
                res.headers()["content-disposition"]
                    .to_str()
                    .unwrap()
                    .contains("MigrationStatistics.csv")
            );
            break res.text().await.unwrap();
        }
        assert!(Instant::now() < deadline, "no report");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(report.contains("ann@contoso.test"), "{report}");
    assert!(!report.contains("pw-ann"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_and_resume_from_the_page_show_in_the_cmdlets_at_once() {
    let dovecot = Dovecot::start(DovecotOptions::default().user("max", "pw-max")).unwrap();
    seed(&dovecot, "max", 600, 20_000);
    // A slow link, so the copy is still running when Stop is pressed.
    let link = DelayProxy::start(dovecot.imap_addr(), Duration::from_millis(150)).unwrap();
    let w = Worker::start().await;
    ok(
        w.home(),
        "endpoint.new",
        json!({"name": "src", "remoteServer": "127.0.0.1", "port": link.port(), "security": "None", "skipVerification": true}),
    );
    let csv = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        "EmailAddress,UserName,Password\r\nmax@contoso.test,max,pw-max\r\n",
    );
    ok(
        w.home(),
        "batch.new",
        json!({"name": "slow", "sourceEndpoint": "src", "csvData": csv, "autoStart": true}),
    );
    w.wait_status("slow", &["Syncing"], Duration::from_secs(60))
        .await;
    let res = w.post("/batches/slow/action/stop", &[]).await;
    assert_eq!(res.status(), 303);
    let b = w.batch("slow");
    assert!(
        b["Status"] == json!("Stopping") || b["Status"] == json!("Stopped"),
        "Get-MigrationBatch after Stop: {}",
        b["Status"]
    );
    w.wait_status("slow", &["Stopped"], Duration::from_secs(60))
        .await;
    let (_, page) = w.get("/batches/slow").await;
    assert!(page.contains("data-status=\"Stopped\""));
    assert!(
        page.contains("/batches/slow/action/start"),
        "Resume is offered"
    );

    let res = w
        .post("/batches/slow/action/start", &[("back", "/batches/slow")])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/batches/slow");
    let b = w.batch("slow");
    assert!(
        ["Starting", "Syncing", "Synced"]
            .iter()
            .any(|s| b["Status"] == json!(s)),
        "Get-MigrationBatch after Resume: {}",
        b["Status"]
    );
    w.wait_status("slow", &["Synced"], Duration::from_secs(240))
        .await;
    let dst = maildir_snapshot(&w.home().join("maildir").join("max@contoso.test")).unwrap();
    assert_eq!(dst.message_count(), 600);

    // Refused actions show the api's words: Stop on a synced batch is fine, Complete twice is not.
    let res = w.post("/batches/slow/action/complete", &[]).await;
    assert_eq!(res.status(), 303);
    let res = w.post("/batches/slow/action/complete", &[]).await;
    assert_eq!(res.status(), 409);
    let page = res.text().await.unwrap();
    assert!(page.contains("class=\"error\""), "{page}");
}

// ---- the real browser ---------------------------------------------------------------------------

/// chromedriver driving Debian's headless Chromium; killed on drop.
struct Browser {
    driver: Child,
    client: Option<fantoccini::Client>,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn find_program(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

impl Browser {
    /// Starts chromedriver and a fresh headless Chromium session; `None` (the test is skipped,
    /// saying why) when either is missing, unless IMAPMIGRATION_REQUIRE_BROWSER=1 (scripts/test).
    async fn start() -> Option<Browser> {
        let (Some(chromium), Some(chromedriver)) =
            (find_program("chromium"), find_program("chromedriver"))
        else {
            assert!(
                std::env::var("IMAPMIGRATION_REQUIRE_BROWSER").as_deref() != Ok("1"),
                "chromium or chromedriver missing: apt-get install -y chromium chromium-driver"
            );
            eprintln!(
                "skipped: chromium or chromedriver missing (apt-get install -y chromium chromium-driver)"
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Browser {
            driver,
            client: None,
            _profile: profile,
        };
        let caps: serde_json::Map<String, Value> = serde_json::from_value(json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    "--window-size=1280,1000",
                    format!("--user-data-dir={}", browser._profile.path().display()),
                ],
            }
        }))
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match fantoccini::ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(c) => break c,
                Err(e) => {
                    assert!(
                        Instant::now() < deadline,
                        "chromedriver never answered: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        browser.client = Some(client);
        Some(browser)
    }

    fn c(&self) -> &fantoccini::Client {
        self.client.as_ref().unwrap()
    }

    async fn screenshot(&self, name: &str) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.c().screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    async fn css(&self, selector: &str) -> fantoccini::elements::Element {
        self.c()
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(fantoccini::Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("no {selector}: {e}"))
    }

    /// Clicks what `selector` finds and waits until the browser has left the page it was on
    /// (the old page's root goes stale), so that what is looked for next is on the new page:
    /// the wizard's steps share class names, and a lookup racing the navigation would find the
    /// old page's element.
    async fn follow(&self, selector: &str) {
        let old = self
            .c()
            .find(fantoccini::Locator::Css("html"))
            .await
            .unwrap();
        self.css(selector).await.click().await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while old.tag_name().await.is_ok() {
            assert!(Instant::now() < deadline, "{selector} did not load a page");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn fill(&self, selector: &str, text: &str) {
        let e = self.css(selector).await;
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    /// Waits until `selector`'s text is `wanted` (the live refresh replaces the rows).
    async fn wait_text(&self, selector: &str, wanted: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(e) = self.c().find(fantoccini::Locator::Css(selector)).await
                && e.text().await.map(|t| t.trim() == wanted).unwrap_or(false)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{selector} never showed {wanted}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_eac_steps_in_headless_chromium() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let dovecot = Dovecot::start(DovecotOptions::default().user("eve", "pw-eve")).unwrap();
    seed(&dovecot, "eve", 30, 3_000);
    let w = Worker::start().await;
    let csv_dir = tempfile::tempdir().unwrap();
    let csv = csv_dir.path().join("users.csv");
    std::fs::write(
        &csv,
        "EmailAddress,UserName,Password\r\neve@contoso.test,eve,pw-eve\r\nno-at-sign,x,Bad-Row-Secret\r\n",
    )
    .unwrap();

    // Log in with the one-time link Open-MigrationConsole prints.
    let url = ok(w.home(), "console.open", json!({}))["Url"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = &browser;
    b.c().goto(&url).await.unwrap();
    b.css("table#batches").await;
    b.screenshot("01-dashboard-empty").await;

    // The wizard: the users, the IMAP configuration, Test connection.
    b.follow("a[href='/new']").await;
    b.css("input#csv_file")
        .await
        .send_keys(&csv.display().to_string())
        .await
        .unwrap();
    b.fill("#endpoint_name", "onprem").await;
    b.fill("#wiz-remote_server", "127.0.0.1").await;
    b.fill("#wiz-port", &dovecot.imap_port().to_string()).await;
    b.css("#wiz-security")
        .await
        .select_by_value("None")
        .await
        .unwrap();
    b.fill("#batch_name", "browser1").await;
    b.screenshot("02-wizard").await;
    // Check the users: each row's validation warning before anything is created.
    b.follow("button[name=op][value=preview]").await;
    let preview = b.css("section.preview").await;
    assert_eq!(
        b.css("section.preview p.test-result")
            .await
            .attr("data-users")
            .await
            .unwrap()
            .as_deref(),
        Some("1")
    );
    let text = preview.text().await.unwrap();
    assert!(text.contains("Row 2 (no-at-sign)"), "{text}");
    assert_eq!(w.batch_count(), 0, "a preview creates nothing");
    b.screenshot("02b-wizard-users-checked").await;
    b.follow("button[name=op][value=test]").await;
    let result = b.css("p.test-result").await;
    assert_eq!(
        result.attr("data-result").await.unwrap().as_deref(),
        Some("Success")
    );
    assert_eq!(
        b.css("#wiz-remote_server")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("127.0.0.1"),
        "what was typed is kept"
    );
    b.screenshot("03-wizard-tested").await;

    // Create: the batch page shows the bad row; it waits for review, Resume starts it.
    b.follow("button[name=op][value=create]").await;
    let warnings = b.css("ul.warnings").await.text().await.unwrap();
    assert!(warnings.contains("Row 2 (no-at-sign)"), "{warnings}");
    let source = b.c().source().await.unwrap();
    assert!(!source.contains("Bad-Row-Secret") && !source.contains("pw-eve"));
    b.screenshot("04-batch-review").await;
    b.follow("form[action='/batches/browser1/action/start'] button")
        .await;
    // The page refreshes itself: the user's row reaches Synced without a reload.
    b.wait_text("#users td.status", "Synced", Duration::from_secs(120))
        .await;
    b.wait_text(
        "#batch-actions td.status",
        "Synced",
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(w.batch("browser1")["Status"], json!("Synced"));
    b.screenshot("05-batch-synced").await;

    // The user.
    b.follow("#users a").await;
    let facts = b.css("dl.facts").await.text().await.unwrap();
    assert!(
        facts.contains("30 synced, 0 skipped, 30 in the source mailbox"),
        "{facts}"
    );
    b.screenshot("06-user").await;

    // Download report, with the browser's session.
    b.c().goto(&format!("{}/", w.base)).await.unwrap();
    let link = b
        .css("a[href='/batches/browser1/reports/statistics']")
        .await;
    b.screenshot("07-dashboard").await;
    let href = link.attr("href").await.unwrap().unwrap();
    let cookie = b.c().get_named_cookie("imapmig_session").await.unwrap();
    let res = w
        .client
        .get(format!("{}{href}", w.base))
        .header("cookie", format!("imapmig_session={}", cookie.value()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let report = res.text().await.unwrap();
    assert!(report.contains("eve@contoso.test"), "{report}");

    // The endpoints page.
    b.follow("a[href='/endpoints']").await;
    let row = b
        .css("tr[data-endpoint=onprem]")
        .await
        .text()
        .await
        .unwrap();
    assert!(row.contains("127.0.0.1"), "{row}");
    b.screenshot("08-endpoints").await;

    // The settings page: the incremental sync interval changed in the browser is what
    // Get-MigrationConfig shows.
    b.follow("a[href='/settings']").await;
    b.fill("#incremental_hours", "12").await;
    b.follow("form[action='/settings'] button[type=submit]")
        .await;
    b.css("p.notice").await;
    b.screenshot("09-settings").await;
    let config = ok(w.home(), "config.get", json!({}));
    assert_eq!(
        config["IncrementalSyncIntervalSecs"],
        json!(43_200),
        "{config}"
    );
    if let Some(c) = browser.client.clone() {
        let _ = c.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_migration_config_turns_https_on_in_a_running_worker() {
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(WORKER)
        .args(["worker", "--home"])
        .arg(home.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct Kill<'a>(&'a mut Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _kill = Kill(&mut child);
    // Off by default.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        ok(home.path(), "console.status", json!({}))["Serving"],
        json!(false)
    );
    let r = call(home.path(), "console.open", json!({}));
    assert_eq!(r["error"]["code"], json!("InvalidState"), "{r}");

    // A self-signed certificate for 127.0.0.1.
    let (cert, key) = (home.path().join("c.pem"), home.path().join("k.pem"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ok(
        home.path(),
        "config.set",
        json!({ "consoleListen": "127.0.0.1:0", "consoleCertificate": cert, "consoleKey": key }),
    );
    // The running worker picks the settings up.
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        let s = ok(home.path(), "console.status", json!({}));
        if s["Serving"] == json!(true) {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the worker never served the console: {s}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status["Tls"], json!(true));
    let url = ok(home.path(), "console.open", json!({}))["Url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .tls_certs_only([ca])
        .build()
        .unwrap();
    let res = client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let set = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set.contains("Secure") && set.contains("HttpOnly"), "{set}");
    let cookie = set.split(';').next().unwrap().to_owned();
    let base = url.split("/login").next().unwrap().to_owned();
    let res = client
        .get(format!("{base}/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Migration batches"));
    // Plain HTTP on the same port gets no page.
    let plain = format!("http://{}/", status["Address"].as_str().unwrap());
    let r = reqwest::Client::new()
        .get(&plain)
        .header("cookie", &cookie)
        .send()
        .await;
    assert!(r.map(|r| r.status() != 200).unwrap_or(true));

    // Turned off again: the address is cleared.
    ok(home.path(), "config.set", json!({ "consoleListen": null }));
    let deadline = Instant::now() + Duration::from_secs(30);
    while ok(home.path(), "console.status", json!({}))["Serving"] == json!(true) {
        assert!(Instant::now() < deadline, "the console kept serving");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

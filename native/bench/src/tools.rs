//! The tools the bench runs, how each is started on a set of (source, target) mailboxes, and
//! how its result is checked.
//!
//! Every tool copies from source users to fresh, empty target users on the same Dovecot
//! (ImapMigration's Maildir row writes a Maildir tree instead). A run counts only when every
//! folder of every target holds as many messages as its source folder; ImapMigration's runs
//! must moreover be byte-identical (SHA-256 of every message, flags and INTERNALDATE).
//!
//! Our tools can also run from a second build (`--baseline-bin`): a [`Contender`] is a tool
//! and the build it runs from, so the baseline rows take part in the same alternating runs on
//! the same data and are checked the same way.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use imapmigration_abi_host::NativeLibrary;
use imapmigration_testkit::{Dovecot, MASTER_PASSWORD, MASTER_USER, Snapshot, maildir_snapshot};
use serde_json::{Value, json};

use crate::measure::{self, Ended};

/// Password of every bench user, source and target.
pub const PASSWORD: &str = "secret";

/// A tool (one row of the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tool {
    /// The floor copier (`imapmig-floor`).
    Floor,
    /// `imapmigration migrate` to the IMAP target.
    Cli,
    /// `imapmigration migrate --no-compress` to the IMAP target: the same copy without
    /// COMPRESS=DEFLATE, for the bandwidth-limited runs.
    CliNoCompress,
    /// A batch created through the C ABI and run by `imapmigration worker`.
    Worker,
    /// `imapmigration migrate` to its Maildir target.
    Maildir,
    /// mbsync (isync), one process per mailbox.
    Mbsync,
    /// `doveadm backup -R` with the imapc source, one process per mailbox.
    Dsync,
    /// offlineimap3, one process per mailbox.
    Offlineimap,
}

impl Tool {
    /// Every tool, in the order of the table's rows.
    pub const ALL: [Tool; 8] = [
        Tool::Floor,
        Tool::Cli,
        Tool::CliNoCompress,
        Tool::Worker,
        Tool::Maildir,
        Tool::Mbsync,
        Tool::Dsync,
        Tool::Offlineimap,
    ];

    /// Short name used on the command line and in the JSON.
    pub fn key(self) -> &'static str {
        match self {
            Tool::Floor => "floor",
            Tool::Cli => "cli",
            Tool::CliNoCompress => "cli-nocompress",
            Tool::Worker => "worker",
            Tool::Maildir => "maildir",
            Tool::Mbsync => "mbsync",
            Tool::Dsync => "dsync",
            Tool::Offlineimap => "offlineimap",
        }
    }

    /// Row label.
    pub fn label(self) -> &'static str {
        match self {
            Tool::Floor => "floor (MULTIAPPEND copier)",
            Tool::Cli => "ImapMigration migrate",
            Tool::CliNoCompress => "ImapMigration --no-compress",
            Tool::Worker => "ImapMigration worker (ABI)",
            Tool::Maildir => "ImapMigration -> Maildir",
            Tool::Mbsync => "mbsync",
            Tool::Dsync => "dsync (doveadm backup)",
            Tool::Offlineimap => "offlineimap3",
        }
    }

    /// The tool with this [`Tool::key`]; `None` for an unknown name.
    pub fn from_key(s: &str) -> Option<Tool> {
        Tool::ALL.into_iter().find(|t| t.key() == s)
    }

    /// Ours: an incomplete or wrong result fails the bench.
    pub fn is_ours(self) -> bool {
        matches!(
            self,
            Tool::Cli | Tool::CliNoCompress | Tool::Worker | Tool::Maildir
        )
    }

    /// Whether the copy ends on the IMAP target (all but the Maildir row).
    fn targets_dovecot(self) -> bool {
        self != Tool::Maildir
    }
}

/// Which build of ImapMigration runs one of our tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Build {
    /// The build under test (`--bin`, by default this program's directory).
    Current,
    /// Another build to compare with, from `--baseline-bin`.
    Baseline,
}

/// One row of the table: a tool and, for ours, the build it runs from. Peers and the floor
/// always run as [`Build::Current`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Contender {
    /// What runs.
    pub tool: Tool,
    /// Which build of ours runs it.
    pub build: Build,
}

impl Contender {
    /// The tool as the build under test runs it.
    pub fn current(tool: Tool) -> Contender {
        Contender {
            tool,
            build: Build::Current,
        }
    }

    /// One of our tools run from the baseline build.
    pub fn baseline(tool: Tool) -> Contender {
        Contender {
            tool,
            build: Build::Baseline,
        }
    }

    /// Name in the JSON and the run lines: `cli`, or `cli@baseline`.
    pub fn key(self) -> String {
        match self.build {
            Build::Current => self.tool.key().to_string(),
            Build::Baseline => format!("{}@baseline", self.tool.key()),
        }
    }

    /// The key without `@`, for directory and user names (`cli-baseline`): an `@` in a target
    /// user's local part would make its address invalid.
    pub fn slug(self) -> String {
        self.key().replace('@', "-")
    }

    /// Row label.
    pub fn label(self) -> String {
        match self.build {
            Build::Current => self.tool.label().to_string(),
            Build::Baseline => {
                let what = self.tool.label().trim_start_matches("ImapMigration").trim();
                format!("baseline {what}")
            }
        }
    }

    /// Ours (either build): an incomplete or wrong result fails the bench.
    pub fn is_ours(self) -> bool {
        self.tool.is_ours()
    }
}

/// The files one build provides: `imapmigration` (CLI and worker) and, loaded when the worker
/// tool runs, `libimapmigration.so`.
pub struct Binaries {
    /// The directory that holds the build's files.
    pub dir: PathBuf,
    /// Its library, loaded only when the worker tool runs (it drives the ABI).
    pub lib: Option<NativeLibrary>,
}

/// A source mailbox, seeded once per data set.
#[derive(Debug, Clone)]
pub struct Source {
    /// The source user's login (`<set>-NN@source.bench`).
    pub user: String,
    /// Its messages as read from disk after seeding (empty folders left out).
    pub expected: Snapshot,
    /// Messages seeded, over all folders.
    pub messages: u64,
    /// Bytes of the seeded messages as generated, over all folders.
    pub bytes: u64,
}

impl Source {
    fn counts(&self) -> BTreeMap<String, usize> {
        self.expected
            .folders
            .iter()
            .map(|(k, v)| (k.clone(), v.len()))
            .collect()
    }
}

/// What a run needs from the bench.
pub struct Env {
    /// The one Dovecot holding both the source and the target users.
    pub dovecot: Dovecot,
    /// The build under test (target/release): imapmigration, imapmig-floor, libimapmigration.so.
    pub current: Binaries,
    /// Another build's imapmigration and libimapmigration.so, for the `@baseline` rows.
    pub baseline: Option<Binaries>,
}

impl Env {
    fn binaries(&self, build: Build) -> Option<&Binaries> {
        match build {
            Build::Current => Some(&self.current),
            Build::Baseline => self.baseline.as_ref(),
        }
    }
}

/// One run of one tool on one data set.
pub struct Run<'a> {
    /// The server and the builds.
    pub env: &'a Env,
    /// The mailboxes to copy, seeded once for the data set.
    pub sources: &'a [Source],
    /// Fresh target users, one per source, in the same order.
    pub targets: Vec<String>,
    /// The port the tools connect to: Dovecot's, or the delaying proxy's.
    pub port: u16,
    /// Scratch directory of this run (configs, state, logs).
    pub dir: PathBuf,
    /// How long the tool's processes may run; those still running then are killed.
    pub timeout: Duration,
}

/// How a run went.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    /// Seconds from starting the tool until its last process ended (or was killed).
    pub wall_s: f64,
    /// Sum over the processes that copied of their peak RSS (one process for ours and the floor).
    pub rss_kib: u64,
    /// The largest single process peak.
    pub rss_max_kib: u64,
    /// Processes the run started (one per mailbox for the peers).
    pub processes: usize,
    /// The tool reported success in time, every target folder has the source's message
    /// count, and for our tools the mail is byte-identical.
    pub complete: bool,
    /// Byte-identical (ImapMigration rows only; null when not checked).
    pub verified: Option<bool>,
    /// What went wrong (a timeout, a failed process with its log tail, missing messages);
    /// empty for a complete run.
    pub note: String,
    /// Time the check took (not part of wall_s).
    pub check_s: f64,
    /// CPU seconds the Dovecot serving source and target spent during the run (its master
    /// process and everything it forked, ended processes included); `None` when not measured.
    pub server_cpu_s: Option<f64>,
    /// Bytes through the delaying proxy during the run, both ways; `None` without a proxy.
    pub wire_bytes: Option<u64>,
}

impl Outcome {
    fn failed(wall_s: f64, note: impl Into<String>) -> Outcome {
        Outcome {
            wall_s,
            rss_kib: 0,
            rss_max_kib: 0,
            processes: 0,
            complete: false,
            verified: None,
            note: note.into(),
            check_s: 0.0,
            server_cpu_s: None,
            wire_bytes: None,
        }
    }
}

impl<'a> Run<'a> {
    /// A run in `<work>/runs/<tag>` with fresh target users `<tag>-NN@target.bench`, one per
    /// source, added to Dovecot.
    pub fn prepare(
        env: &'a Env,
        sources: &'a [Source],
        port: u16,
        work: &Path,
        tag: &str,
        timeout: Duration,
    ) -> Run<'a> {
        let targets = (0..sources.len())
            .map(|i| format!("{tag}-{i:02}@target.bench"))
            .collect::<Vec<_>>();
        // One passwd-file update for all: each waits for Dovecot's once-a-second re-read.
        let users: Vec<(&str, &str)> = targets.iter().map(|t| (t.as_str(), PASSWORD)).collect();
        let _ = env.dovecot.add_users(&users);
        Run {
            env,
            sources,
            targets,
            port,
            dir: work.join("runs").join(tag),
            timeout,
        }
    }
}

impl Run<'_> {
    fn url(&self) -> String {
        format!("imap://127.0.0.1:{}", self.port)
    }

    /// The batch's CSV: each target address with its source login.
    pub fn csv(&self) -> String {
        let mut s = String::from("EmailAddress,UserName,Password\n");
        for (src, dst) in self.sources.iter().zip(&self.targets) {
            let _ = writeln!(s, "{dst},{},{PASSWORD}", src.user);
        }
        s
    }

    /// Runs the tool from the contender's build, checks the result, and reports.
    pub fn execute(&self, contender: Contender) -> Outcome {
        let tool = contender.tool;
        if let Err(e) = std::fs::create_dir_all(&self.dir) {
            return Outcome::failed(0.0, format!("cannot create {}: {e}", self.dir.display()));
        }
        let Some(bins) = self.env.binaries(contender.build) else {
            return Outcome::failed(0.0, "no baseline build given (--baseline-bin)");
        };
        let mut out = match tool {
            Tool::Floor => self.floor(),
            Tool::Cli => self.cli(bins, None, true),
            Tool::CliNoCompress => self.cli(bins, None, false),
            Tool::Maildir => self.cli(bins, Some(self.dir.join("maildir")), true),
            Tool::Worker => self.worker(bins),
            Tool::Mbsync => self.mbsync(),
            Tool::Dsync => self.dsync(),
            Tool::Offlineimap => self.offlineimap(),
        };
        let t = Instant::now();
        if out.complete {
            // Both builds are held to the same check: same counts, byte for byte.
            self.check(tool, &mut out);
        }
        out.check_s = t.elapsed().as_secs_f64();
        out
    }

    /// Waits for processes and sums up their ending.
    fn finish(&self, start: Instant, procs: Vec<measure::Timed>) -> Outcome {
        let n = procs.len();
        let (end, ended) = measure::wait_all(procs, self.deadline_from(start));
        let wall = end.duration_since(start).as_secs_f64();
        let rss: u64 = ended.iter().map(|e| e.rss_kib).sum();
        let rss_max = ended.iter().map(|e| e.rss_kib).max().unwrap_or(0);
        let bad: Vec<&Ended> = ended.iter().filter(|e| !e.success).collect();
        let note = match bad.first() {
            None => String::new(),
            Some(e) if e.timed_out => {
                format!("timed out after {:.0} s", self.timeout.as_secs_f64())
            }
            Some(e) => format!(
                "{} of {n} failed; {}: {}",
                bad.len(),
                e.label,
                measure::log_tail(&e.log, 3)
            ),
        };
        Outcome {
            wall_s: wall,
            rss_kib: rss,
            rss_max_kib: rss_max,
            processes: n,
            complete: bad.is_empty(),
            verified: None,
            note,
            check_s: 0.0,
            server_cpu_s: None,
            wire_bytes: None,
        }
    }

    fn deadline_from(&self, start: Instant) -> Instant {
        start + self.timeout
    }

    fn spawn_all(
        &self,
        cmds: Vec<(Command, String)>,
    ) -> Result<(Instant, Vec<measure::Timed>), String> {
        let start = Instant::now();
        let mut procs = Vec::new();
        for (cmd, label) in cmds {
            match measure::spawn(cmd, &self.dir, &label) {
                Ok(p) => procs.push(p),
                Err(e) => {
                    for p in &procs {
                        measure::kill_group(p.pid(), "KILL");
                    }
                    return Err(format!("cannot start {label}: {e}"));
                }
            }
        }
        Ok((start, procs))
    }

    fn run_processes(&self, cmds: Vec<(Command, String)>) -> Outcome {
        match self.spawn_all(cmds) {
            Ok((start, procs)) => self.finish(start, procs),
            Err(e) => Outcome::failed(0.0, e),
        }
    }

    // -----------------------------------------------------------------------------------------
    // The tools

    fn floor(&self) -> Outcome {
        let mut map = String::new();
        for (src, dst) in self.sources.iter().zip(&self.targets) {
            let _ = writeln!(map, "{}\t{PASSWORD}\t{dst}\t{PASSWORD}", src.user);
        }
        let path = self.dir.join("floor.map");
        if let Err(e) = std::fs::write(&path, map) {
            return Outcome::failed(0.0, format!("cannot write {}: {e}", path.display()));
        }
        let addr = format!("127.0.0.1:{}", self.port);
        let mut cmd = Command::new(self.env.current.dir.join("imapmig-floor"));
        cmd.args(["--source", &addr, "--target", &addr, "--map"])
            .arg(&path);
        self.run_processes(vec![(cmd, "floor".into())])
    }

    fn cli(&self, bins: &Binaries, maildir: Option<PathBuf>, compress: bool) -> Outcome {
        let csv = self.dir.join("users.csv");
        if let Err(e) = std::fs::write(&csv, self.csv()) {
            return Outcome::failed(0.0, format!("cannot write {}: {e}", csv.display()));
        }
        let mut cmd = Command::new(bins.dir.join("imapmigration"));
        cmd.arg("migrate")
            .arg("--csv")
            .arg(&csv)
            .args(["--source", &self.url()]);
        match &maildir {
            Some(m) => {
                cmd.arg("--target").arg(format!("maildir:{}", m.display()));
            }
            None => {
                cmd.args([
                    "--target",
                    &self.url(),
                    "--target-login",
                    "master",
                    "--target-admin",
                    MASTER_USER,
                ]);
                cmd.env("IMAPMIGRATION_TARGET_PASSWORD", MASTER_PASSWORD);
            }
        }
        cmd.arg("--home").arg(self.dir.join("home"));
        cmd.args([
            "--quiet",
            "--name",
            "bench",
            "--concurrency",
            &self.sources.len().to_string(),
        ]);
        if !compress {
            cmd.arg("--no-compress");
        }
        cmd.env_remove("IMAPMIGRATION_WORKER")
            .env_remove("IMAPMIGRATION_HOME")
            .env_remove("IMAPMIGRATION_COMPRESS");
        self.run_processes(vec![(cmd, "imapmigration".into())])
    }

    fn worker(&self, bins: &Binaries) -> Outcome {
        let Some(lib) = &bins.lib else {
            return Outcome::failed(0.0, "libimapmigration.so not loaded");
        };
        let home = self.dir.join("home");
        let home_s = home.display().to_string();
        let call = |op: &str, mut args: Value| -> Result<Value, String> {
            args["op"] = json!(op);
            args["home"] = json!(home_s);
            let r = lib.call(&args);
            if r["ok"] == json!(true) {
                Ok(r["result"].clone())
            } else {
                Err(format!("{op}: {}", r["error"]))
            }
        };
        let n = self.sources.len();
        let setup = (|| -> Result<(), String> {
            call(
                "endpoint.new",
                json!({"name": "bench-source", "remoteServer": "127.0.0.1", "port": self.port, "security": "None",
                       "skipVerification": true, "maxConcurrentMigrations": n}),
            )?;
            call(
                "endpoint.new",
                json!({"name": "bench-target", "remoteServer": "127.0.0.1", "port": self.port, "security": "None",
                       "skipVerification": true, "targetLogin": "MasterUser",
                       "credentials": {"userName": MASTER_USER, "password": MASTER_PASSWORD}}),
            )?;
            let csv = base64::engine::general_purpose::STANDARD.encode(self.csv());
            call(
                "batch.new",
                json!({"name": "bench", "sourceEndpoint": "bench-source", "targetEndpoint": "bench-target",
                       "csvData": csv, "autoStart": true}),
            )?;
            Ok(())
        })();
        if let Err(e) = setup {
            return Outcome::failed(0.0, e);
        }
        // The batch waits, started, for a worker: the clock runs from the worker's start to Synced.
        use std::os::unix::process::CommandExt as _;
        let log = self.dir.join("worker.log");
        let Ok(out) = std::fs::File::create(&log) else {
            return Outcome::failed(0.0, "cannot create worker.log");
        };
        let err = out
            .try_clone()
            .ok()
            .map(Stdio::from)
            .unwrap_or_else(Stdio::null);
        let start = Instant::now();
        let child = Command::new(bins.dir.join("imapmigration"))
            .arg("worker")
            .arg("--home")
            .arg(&home)
            .env_remove("IMAPMIGRATION_WORKER")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => return Outcome::failed(0.0, format!("cannot start the worker: {e}")),
        };
        let pid = child.id();
        let deadline = self.deadline_from(start);
        let mut peak = 0;
        let (wall, status) = loop {
            if let Some(h) = measure::vm_hwm_kib(pid) {
                peak = peak.max(h);
            }
            let status = call("batch.get", json!({"identity": "bench"}))
                .ok()
                .and_then(|v| v[0]["Status"].as_str().map(str::to_string))
                .unwrap_or_default();
            if !matches!(
                status.as_str(),
                "Created" | "Starting" | "Syncing" | "IncrementalSyncing" | "Waiting" | ""
            ) {
                break (start.elapsed().as_secs_f64(), status);
            }
            if Instant::now() >= deadline {
                break (
                    start.elapsed().as_secs_f64(),
                    format!("still {status} (timed out)"),
                );
            }
            if let Ok(Some(st)) = child.try_wait() {
                break (
                    start.elapsed().as_secs_f64(),
                    format!("worker exited ({st}) while {status}"),
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        if let Some(h) = measure::vm_hwm_kib(pid) {
            peak = peak.max(h);
        }
        measure::kill_pid(pid, "TERM");
        let grace = Instant::now() + Duration::from_secs(10);
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < grace {
            std::thread::sleep(Duration::from_millis(20));
        }
        if matches!(child.try_wait(), Ok(None)) {
            measure::kill_group(pid, "KILL");
            let _ = child.wait();
        }
        let complete = status == "Synced";
        let note = if complete {
            String::new()
        } else {
            let users = call("user.get", json!({"batchId": "bench"})).unwrap_or_default();
            let errs: Vec<String> = users
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|u| {
                            u["ErrorSummary"]
                                .as_str()
                                .filter(|s| !s.is_empty())
                                .map(str::to_string)
                        })
                        .collect()
                })
                .unwrap_or_default();
            format!(
                "batch {status}; {}",
                errs.first()
                    .cloned()
                    .unwrap_or_else(|| measure::log_tail(&log, 2))
            )
        };
        Outcome {
            wall_s: wall,
            rss_kib: peak,
            rss_max_kib: peak,
            processes: 1,
            complete,
            verified: None,
            note,
            check_s: 0.0,
            server_cpu_s: None,
            wire_bytes: None,
        }
    }

    fn mbsync(&self) -> Outcome {
        let mut cmds = Vec::new();
        for (i, (src, dst)) in self.sources.iter().zip(&self.targets).enumerate() {
            let state = self.dir.join(format!("mbsync-state-{i}"));
            let _ = std::fs::create_dir_all(&state);
            let rc = format!(
                "IMAPAccount src\nHost 127.0.0.1\nPort {port}\nUser {su}\nPass {PASSWORD}\nSSLType None\nAuthMechs LOGIN\n\n\
                 IMAPStore src\nAccount src\n\n\
                 IMAPAccount dst\nHost 127.0.0.1\nPort {port}\nUser {dst}\nPass {PASSWORD}\nSSLType None\nAuthMechs LOGIN\n\n\
                 IMAPStore dst\nAccount dst\n\n\
                 Channel copy\nFar :src:\nNear :dst:\nPatterns *\nCreate Near\nSync Pull\nExpunge None\nRemove None\n\
                 CopyArrivalDate yes\nSyncState {state}/\n",
                port = self.port,
                su = src.user,
                state = state.display(),
            );
            let path = self.dir.join(format!("mbsync-{i}.rc"));
            if let Err(e) = std::fs::write(&path, rc) {
                return Outcome::failed(0.0, format!("cannot write {}: {e}", path.display()));
            }
            let mut cmd = Command::new("mbsync");
            cmd.arg("-q").arg("-c").arg(&path).arg("-a");
            cmds.push((cmd, format!("mbsync-{i}")));
        }
        self.run_processes(cmds)
    }

    fn dsync(&self) -> Outcome {
        let conf = self.env.dovecot.config_path();
        let mut cmds = Vec::new();
        for (i, (src, dst)) in self.sources.iter().zip(&self.targets).enumerate() {
            let mut cmd = Command::new("doveadm");
            cmd.arg("-c").arg(&conf);
            for o in [
                "imapc_host=127.0.0.1".to_string(),
                format!("imapc_port={}", self.port),
                format!("imapc_user={}", src.user),
                format!("imapc_password={PASSWORD}"),
                "imapc_features=rfc822.size fetch-headers".to_string(),
                "mail_prefetch_count=20".to_string(),
            ] {
                cmd.arg("-o").arg(o);
            }
            cmd.args(["backup", "-R", "-u", dst, "imapc:"]);
            cmds.push((cmd, format!("dsync-{i}")));
        }
        self.run_processes(cmds)
    }

    fn offlineimap(&self) -> Outcome {
        let mut cmds = Vec::new();
        for (i, (src, dst)) in self.sources.iter().zip(&self.targets).enumerate() {
            let meta = self.dir.join(format!("offlineimap-meta-{i}"));
            let _ = std::fs::create_dir_all(&meta);
            let rc = format!(
                "[general]\naccounts = copy\nmetadata = {meta}\nui = quiet\n\n\
                 [Account copy]\nlocalrepository = target\nremoterepository = source\n\n\
                 [Repository source]\ntype = IMAP\nremotehost = 127.0.0.1\nremoteport = {port}\nremoteuser = {su}\n\
                 remotepass = {PASSWORD}\nssl = no\nstarttls = no\nreadonly = True\nmaxconnections = 3\n\n\
                 [Repository target]\ntype = IMAP\nremotehost = 127.0.0.1\nremoteport = {port}\nremoteuser = {dst}\n\
                 remotepass = {PASSWORD}\nssl = no\nstarttls = no\nmaxconnections = 3\n",
                meta = meta.display(),
                port = self.port,
                su = src.user,
            );
            let path = self.dir.join(format!("offlineimap-{i}.conf"));
            if let Err(e) = std::fs::write(&path, rc) {
                return Outcome::failed(0.0, format!("cannot write {}: {e}", path.display()));
            }
            let mut cmd = Command::new("offlineimap");
            cmd.arg("-c").arg(&path).arg("-u").arg("quiet");
            cmds.push((cmd, format!("offlineimap-{i}")));
        }
        self.run_processes(cmds)
    }

    // -----------------------------------------------------------------------------------------
    // Checking

    fn target_root(&self, tool: Tool, target: &str) -> PathBuf {
        if tool.targets_dovecot() {
            self.env.dovecot.maildir(target)
        } else {
            self.dir.join("maildir").join(target)
        }
    }

    /// Holds a finished run to the bench's check: every target folder has its source folder's
    /// message count and, for our tools, the mail is byte-identical (SHA-256, flags and
    /// INTERNALDATE of every message). A failure clears `out.complete` and says why in `note`.
    pub fn check(&self, tool: Tool, out: &mut Outcome) {
        // Counts first (cheap, every tool), then content for ours.
        for (src, dst) in self.sources.iter().zip(&self.targets) {
            let got = folder_counts(&self.target_root(tool, dst));
            let mut missing = Vec::new();
            for (folder, want) in src.counts() {
                let have = got.get(&folder).copied().unwrap_or(0);
                if have != want {
                    missing.push(format!("{folder} {have}/{want}"));
                }
            }
            if !missing.is_empty() {
                out.complete = false;
                out.note = format!("{}: {}", dst, missing.join(", "));
                return;
            }
        }
        if !tool.is_ours() {
            return;
        }
        let diffs: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .sources
                .iter()
                .zip(&self.targets)
                .map(|(src, dst)| {
                    let root = self.target_root(tool, dst);
                    s.spawn(move || match maildir_snapshot(&root) {
                        Ok(snap) => src.expected.diff(&snap.without_empty_folders()),
                        Err(e) => format!("cannot read {}: {e}", root.display()),
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| "snapshot thread panicked".into())
                })
                .collect()
        });
        match diffs.iter().find(|d| !d.is_empty()) {
            None => out.verified = Some(true),
            Some(d) => {
                out.verified = Some(false);
                out.complete = false;
                out.note = format!(
                    "not byte-identical: {}",
                    d.lines().take(4).collect::<Vec<_>>().join(" | ")
                );
            }
        }
    }

    /// Removes the run's targets and scratch files (tmpfs is memory).
    pub fn cleanup(&self) {
        for dst in &self.targets {
            let home = self.env.dovecot.dir().join("mail").join(dst);
            let _ = std::fs::remove_dir_all(home);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Messages per folder of a Maildir++ tree, from file names alone.
pub fn folder_counts(root: &Path) -> BTreeMap<String, usize> {
    let count = |dir: &Path| -> usize {
        ["cur", "new"]
            .iter()
            .map(|s| {
                std::fs::read_dir(dir.join(s))
                    .map(|d| d.flatten().count())
                    .unwrap_or(0)
            })
            .sum()
    };
    let mut out = BTreeMap::new();
    if root.join("cur").is_dir() {
        out.insert("INBOX".to_string(), count(root));
    }
    if let Ok(entries) = std::fs::read_dir(root) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && name != "." && name != ".." && e.path().join("cur").is_dir()
            {
                out.insert(
                    imapmigration_testkit::maildir::folder_name_from_dir(&name),
                    count(&e.path()),
                );
            }
        }
    }
    out
}

//! The scale set: one batch of many mailboxes on a PostgreSQL store, run by 1, 2 and 4
//! `imapmigration worker` processes against the bench's Dovecot (the source, and the target
//! through its master user).
//!
//! Every worker is a host as in a deployment with several workers (README "Several workers on
//! PostgreSQL"; `core/tests/workers_postgres.rs` does the same): a state directory of its own
//! holding the admin's `secret.key` and a `store.conf` naming the run's database. The batch is
//! created through the C ABI in the admin's directory; the clock runs from `batch.start`, once
//! every worker is registered and alive, to the batch's `Synced`. Every run gets a fresh
//! database, fresh target users and fresh state directories.
//!
//! A run counts only when the batch is `Synced` with every user, every target is the source
//! byte for byte ([`Run::check`], as for the other sets), and the store's records show each
//! user copied by exactly one pass, held by one worker once (`users.passes`, the `leases`
//! table). Otherwise the bench fails.
//!
//! Per worker count: median wall time, messages/s, speed-up over one worker, the step over
//! the count before (twice the workers), peak RSS of the workers (the largest and the sum),
//! and where the CPU went (the workers, Dovecot's processes, PostgreSQL's, everything else).
//! When twice the workers is no longer [`STEP_HELPS`] times faster, [`bound`] says why:
//! `CPU-bound` when the machine's cores were busy, `server-bound` when they were not.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use imapmigration_abi_host::NativeLibrary;
use imapmigration_testkit::{MASTER_PASSWORD, MASTER_USER, Postgres};
use serde::Serialize;
use serde_json::{Value, json};

use crate::measure;
use crate::report::median;
use crate::tools::{Env, Outcome, Run, Source, Tool};

/// Worker processes per run, in the table's order; each count is twice the one before.
pub const WORKER_COUNTS: [usize; 3] = [1, 2, 4];

/// Users each worker copies at once (`Set-MigrationConfig -MaxConcurrentMigrations`, the
/// worker's default made explicit): a host added is a host's worth of passes added.
pub const USERS_PER_WORKER: u32 = 16;

/// Twice the workers must make the run at least this much faster to count as helping.
pub const STEP_HELPS: f64 = 1.15;

/// The machine's cores busy at least this share of a run: that run was CPU-bound.
pub const CPU_BOUND: f64 = 0.85;

/// Added to the bench's dovecot.conf when the scale set runs: four workers of 16 users open
/// a few hundred IMAP connections at once, over Dovecot's default of 100 processes per service.
pub const DOVECOT_LIMITS: &str = "default_process_limit = 1024\ndefault_client_limit = 4096\n";

/// How long a worker may take to register in the store.
const REGISTER_WITHIN: Duration = Duration::from_secs(30);

/// Why a step to more workers did or did not help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// The run got at least [`STEP_HELPS`] times faster.
    Scales,
    /// It did not, and the cores were busy: the machine has no CPU left for another worker.
    CpuBound,
    /// It did not, with cores to spare: the workers wait on the servers (Dovecot, PostgreSQL).
    ServerBound,
}

impl Bound {
    /// The word in the table and the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Bound::Scales => "scales",
            Bound::CpuBound => "CPU-bound",
            Bound::ServerBound => "server-bound",
        }
    }
}

/// What a step to twice the workers says: `step` is the time before over the time after,
/// `busy` the share of the machine's cores busy during the run after.
pub fn bound(step: f64, busy: f64) -> Bound {
    if step >= STEP_HELPS {
        Bound::Scales
    } else if busy >= CPU_BOUND {
        Bound::CpuBound
    } else {
        Bound::ServerBound
    }
}

/// Where the CPU went during one run, in seconds, and how busy the machine was.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cpu {
    /// Busy share of all the machine's cores over the run (0 to 1), from /proc/stat.
    pub busy: f64,
    /// The worker processes.
    pub workers_s: f64,
    /// Dovecot's master and every process it started (the `imap` processes of both sides).
    pub dovecot_s: f64,
    /// PostgreSQL's postmaster and its backends.
    pub postgres_s: f64,
    /// The bench process (polling the batch through the ABI ten times a second).
    pub bench_s: f64,
    /// Everything else busy on the machine (other jobs).
    pub other_s: f64,
}

/// One run at one worker count.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleRun {
    /// Worker processes.
    pub workers: usize,
    /// Seconds from `batch.start` to the batch's `Synced`.
    pub wall_s: f64,
    /// Synced with every user, byte-identical, every user copied by one pass.
    pub complete: bool,
    /// Byte-identical (null when the batch did not sync).
    pub verified: Option<bool>,
    /// What went wrong; empty for a complete run.
    pub note: String,
    /// Peak RSS of each worker (VmHWM), KiB.
    pub rss_kib: Vec<u64>,
    /// Users each worker copied (from the store's lease records), most first.
    pub users_per_worker: Vec<u64>,
    /// Where the CPU went.
    pub cpu: Cpu,
    /// Time the checks took (not part of wall_s).
    pub check_s: f64,
}

impl ScaleRun {
    fn failed(workers: usize, wall_s: f64, note: impl Into<String>) -> ScaleRun {
        ScaleRun {
            workers,
            wall_s,
            complete: false,
            verified: None,
            note: note.into(),
            rss_kib: Vec::new(),
            users_per_worker: Vec::new(),
            cpu: Cpu::default(),
            check_s: 0.0,
        }
    }
}

/// One worker count: its runs and their medians.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleRow {
    /// Worker processes.
    pub workers: usize,
    /// `ok`, or `incomplete` when a run did not pass the checks.
    pub status: String,
    /// The first failed run's note; empty when `ok`.
    pub note: String,
    /// Every run, in order.
    pub runs: Vec<ScaleRun>,
    /// Over complete runs only.
    pub median_wall_s: Option<f64>,
    /// The set's messages over the median wall time.
    pub messages_per_s: Option<f64>,
    /// The set's bytes in MB (10^6) over the median wall time.
    pub mb_per_s: Option<f64>,
    /// One worker's median wall time over this one.
    pub speedup: Option<f64>,
    /// The previous count's median wall time over this one (twice the workers).
    pub step: Option<f64>,
    /// What the step says ([`Bound::as_str`]); `None` for the first count.
    pub bound: Option<String>,
    /// Median over complete runs of the largest worker's peak RSS, MiB.
    pub peak_rss_max_mib: Option<f64>,
    /// Median over complete runs of the workers' summed peak RSS, MiB.
    pub peak_rss_sum_mib: Option<f64>,
    /// Median busy share of the machine's cores.
    pub cpu_busy: Option<f64>,
}

/// The scale set's result.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleResult {
    /// `scale`.
    pub set: String,
    /// Source mailboxes, all in one batch.
    pub mailboxes: usize,
    /// Messages over all mailboxes.
    pub messages: u64,
    /// Message bytes over all mailboxes.
    pub bytes: u64,
    /// Users each worker copies at once.
    pub users_per_worker: u32,
    /// The PostgreSQL server's version.
    pub postgres: String,
    /// The machine's cores.
    pub cores: usize,
    /// One row per worker count.
    pub rows: Vec<ScaleRow>,
    /// Where adding workers stops helping, and why, in a sentence.
    pub finding: String,
}

impl ScaleResult {
    /// Every run passed its checks.
    pub fn all_complete(&self) -> bool {
        self.rows.iter().all(|r| r.status == "ok")
    }
}

/// Runs the set: `repeat` rounds of every worker count, each round starting with another
/// count, on the seeded `sources`. Errors are the ones that stop the bench (no PostgreSQL, no
/// library); a run that fails its checks is a row that is not `ok`.
#[allow(
    clippy::print_stdout,
    reason = "the bench reports its progress on stdout"
)]
pub fn run(
    env: &Env,
    sources: &[Source],
    work: &Path,
    repeat: usize,
    timeout: Duration,
) -> Result<ScaleResult, String> {
    if std::env::var_os("IMAPMIGRATION_STORE").is_some() {
        return Err("unset IMAPMIGRATION_STORE: the scale set gives every run its own database in store.conf".into());
    }
    let Some(lib) = &env.current.lib else {
        return Err("the scale set needs libimapmigration.so loaded".into());
    };
    let pg = Postgres::start().map_err(|e| e.to_string())?;
    let postgres = pg
        .psql("postgres", "SHOW server_version")
        .map(|v| v.trim().to_string())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!(
        "bench: scale: PostgreSQL {postgres} on 127.0.0.1:{}, {} mailboxes in one batch, {USERS_PER_WORKER} users at a time per worker",
        pg.port(),
        sources.len()
    );
    let mut rows: Vec<ScaleRow> = WORKER_COUNTS
        .iter()
        .map(|&workers| ScaleRow {
            workers,
            status: "ok".into(),
            note: String::new(),
            runs: Vec::new(),
            median_wall_s: None,
            messages_per_s: None,
            mb_per_s: None,
            speedup: None,
            step: None,
            bound: None,
            peak_rss_max_mib: None,
            peak_rss_sum_mib: None,
            cpu_busy: None,
        })
        .collect();
    for rep in 0..repeat.max(1) {
        let mut order = WORKER_COUNTS.to_vec();
        order.rotate_left(rep % WORKER_COUNTS.len());
        for workers in order {
            let tag = format!("scale-w{workers}-r{rep}");
            let r = Run::prepare(env, sources, env.dovecot.imap_port(), work, &tag, timeout);
            let o = run_once(lib, &pg, &r, workers, &format!("scale_w{workers}_r{rep}"));
            println!(
                "bench: scale    run {} {workers} worker(s) {:>8.2} s  RSS max {:>6.1} MiB sum {:>6.1} MiB  cores {:>3.0}% busy  users {}  {}",
                rep + 1,
                o.wall_s,
                o.rss_kib.iter().copied().max().unwrap_or(0) as f64 / 1024.0,
                o.rss_kib.iter().sum::<u64>() as f64 / 1024.0,
                o.cpu.busy * 100.0,
                join(&o.users_per_worker, "/"),
                if o.complete {
                    "ok, byte-identical, one pass per user"
                } else {
                    o.note.as_str()
                }
            );
            if !o.complete {
                let keep = work.with_file_name(format!("imapmig-bench-failed-{tag}"));
                let _ = std::fs::rename(&r.dir, &keep);
                println!("bench: kept the failed run's files in {}", keep.display());
            }
            r.cleanup();
            if let Some(row) = rows.iter_mut().find(|row| row.workers == workers) {
                row.runs.push(o);
            }
        }
    }
    let mut result = ScaleResult {
        set: "scale".into(),
        mailboxes: sources.len(),
        messages: sources.iter().map(|s| s.messages).sum(),
        bytes: sources.iter().map(|s| s.bytes).sum(),
        users_per_worker: USERS_PER_WORKER,
        postgres,
        cores,
        rows,
        finding: String::new(),
    };
    result.summarize();
    Ok(result)
}

/// The ABI call `op` on the state directory `home`.
fn call(lib: &NativeLibrary, home: &Path, op: &str, mut args: Value) -> Result<Value, String> {
    args["op"] = json!(op);
    args["home"] = json!(home.display().to_string());
    let r = lib.call(&args);
    if r["ok"] == json!(true) {
        Ok(r["result"].clone())
    } else {
        Err(format!("{op}: {}", r["error"]))
    }
}

/// A state directory, 0700 as the worker wants it.
fn state_dir(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))
}

/// The worker processes of one run; stopped (TERM, then KILL after 10 s) when dropped.
struct Workers(Vec<(PathBuf, Child)>);

impl Workers {
    fn start(bin: &Path, homes: &[PathBuf]) -> Result<Workers, String> {
        // In the bench's process group: a Ctrl-C in the terminal ends them with the bench.
        let mut w = Workers(Vec::new());
        for home in homes {
            let log = home.join("worker.log");
            let out = std::fs::File::create(&log)
                .map_err(|e| format!("cannot create {}: {e}", log.display()))?;
            let err = out
                .try_clone()
                .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
            let child = Command::new(bin)
                .arg("worker")
                .arg("--home")
                .arg(home)
                .env_remove("IMAPMIGRATION_WORKER")
                .env_remove("IMAPMIGRATION_HOME")
                .env_remove("IMAPMIGRATION_STORE")
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .map_err(|e| format!("cannot start a worker: {e}"))?;
            w.0.push((home.clone(), child));
        }
        Ok(w)
    }

    fn pids(&self) -> Vec<u32> {
        self.0.iter().map(|(_, c)| c.id()).collect()
    }

    /// A worker that has ended, with its status.
    fn exited(&mut self) -> Option<String> {
        self.0.iter_mut().find_map(|(home, c)| {
            c.try_wait()
                .ok()
                .flatten()
                .map(|st| format!("the worker in {} exited ({st})", home.display()))
        })
    }

    fn stop(&mut self) {
        for (_, c) in &self.0 {
            measure::kill_pid(c.id(), "TERM");
        }
        let grace = Instant::now() + Duration::from_secs(10);
        for (_, c) in &mut self.0 {
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < grace {
                std::thread::sleep(Duration::from_millis(20));
            }
            if matches!(c.try_wait(), Ok(None)) {
                measure::kill_pid(c.id(), "KILL");
                let _ = c.wait();
            }
        }
    }

    /// The end of each worker's output, for a failure note.
    fn log_tails(&self) -> String {
        self.0
            .iter()
            .map(|(home, _)| measure::log_tail(&home.join("worker.log"), 2))
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join(" || ")
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop();
    }
}

/// CPU ticks so far: the machine's (busy, all), the workers', Dovecot's, PostgreSQL's and the
/// bench's own.
struct CpuMark {
    machine: (u64, u64),
    workers: u64,
    dovecot: u64,
    postgres: u64,
    bench: u64,
}

impl CpuMark {
    fn now(workers: &[u32], dovecot: Option<u32>, postgres: Option<u32>) -> CpuMark {
        CpuMark {
            machine: measure::machine_cpu_ticks().unwrap_or((0, 0)),
            workers: workers
                .iter()
                .filter_map(|p| measure::process_cpu_ticks(*p))
                .sum(),
            dovecot: dovecot.map(measure::tree_cpu_ticks).unwrap_or(0),
            postgres: postgres.map(measure::tree_cpu_ticks).unwrap_or(0),
            bench: measure::process_cpu_ticks(std::process::id()).unwrap_or(0),
        }
    }

    fn since(&self, start: &CpuMark) -> Cpu {
        let hz = measure::clock_ticks_per_s() as f64;
        let s = |a: u64, b: u64| a.saturating_sub(b) as f64 / hz;
        let busy_s = s(self.machine.0, start.machine.0);
        let all = self.machine.1.saturating_sub(start.machine.1);
        let workers_s = s(self.workers, start.workers);
        let dovecot_s = s(self.dovecot, start.dovecot);
        let postgres_s = s(self.postgres, start.postgres);
        let bench_s = s(self.bench, start.bench);
        Cpu {
            busy: if all > 0 {
                self.machine.0.saturating_sub(start.machine.0) as f64 / all as f64
            } else {
                0.0
            },
            workers_s,
            dovecot_s,
            postgres_s,
            bench_s,
            other_s: (busy_s - workers_s - dovecot_s - postgres_s - bench_s).max(0.0),
        }
    }
}

/// The postmaster's process id, the first line of `data/postmaster.pid`.
fn postmaster_pid(pg: &Postgres) -> Option<u32> {
    std::fs::read_to_string(pg.dir().join("data").join("postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// One run: a fresh database `db`, `workers` worker processes, the batch of every source.
fn run_once(lib: &NativeLibrary, pg: &Postgres, r: &Run<'_>, workers: usize, db: &str) -> ScaleRun {
    let failed = |note: String| ScaleRun::failed(workers, 0.0, note);
    let url = match pg.create_database(db) {
        Ok(u) => u,
        Err(e) => return failed(format!("cannot create database {db}: {e}")),
    };
    let admin = r.dir.join("admin");
    if let Err(e) = state_dir(&admin) {
        return failed(e);
    }
    let conf = admin.join("store.conf");
    if let Err(e) = std::fs::write(&conf, format!("store = {url}\n")) {
        return failed(format!("cannot write {}: {e}", conf.display()));
    }
    let n = r.sources.len();
    let batch = "scale";
    let setup = (|| -> Result<(), String> {
        call(
            lib,
            &admin,
            "endpoint.new",
            json!({"name": "scale-source", "remoteServer": "127.0.0.1", "port": r.port, "security": "None",
                   "skipVerification": true, "maxConcurrentMigrations": n}),
        )?;
        call(
            lib,
            &admin,
            "endpoint.new",
            json!({"name": "scale-target", "remoteServer": "127.0.0.1", "port": r.port, "security": "None",
                   "skipVerification": true, "targetLogin": "MasterUser",
                   "credentials": {"userName": MASTER_USER, "password": MASTER_PASSWORD}}),
        )?;
        call(
            lib,
            &admin,
            "config.set",
            json!({"maxConcurrentMigrations": USERS_PER_WORKER}),
        )?;
        let csv = base64::engine::general_purpose::STANDARD.encode(r.csv());
        call(
            lib,
            &admin,
            "batch.new",
            json!({"name": batch, "sourceEndpoint": "scale-source", "targetEndpoint": "scale-target",
                   "csvData": csv}),
        )?;
        Ok(())
    })();
    if let Err(e) = setup {
        return failed(e);
    }
    // The hosts: a state directory each, with the deployment's key and store.conf.
    let mut homes = Vec::new();
    for i in 0..workers {
        let home = r.dir.join(format!("host-{i}"));
        if let Err(e) = state_dir(&home) {
            return failed(e);
        }
        for f in ["secret.key", "store.conf"] {
            if let Err(e) = std::fs::copy(admin.join(f), home.join(f)) {
                return failed(format!("cannot copy {f} to {}: {e}", home.display()));
            }
        }
        homes.push(home);
    }
    let mut procs = match Workers::start(&r.env.current.dir.join("imapmigration"), &homes) {
        Ok(w) => w,
        Err(e) => return failed(e),
    };
    let registered = Instant::now() + REGISTER_WITHIN;
    loop {
        let alive = call(lib, &admin, "config.get", json!({}))
            .ok()
            .and_then(|c| {
                c["Workers"]
                    .as_array()
                    .map(|w| w.iter().filter(|w| w["Alive"] == json!(true)).count())
            })
            .unwrap_or(0);
        if alive >= workers {
            break;
        }
        if let Some(e) = procs.exited() {
            return failed(format!("{e}: {}", procs.log_tails()));
        }
        if Instant::now() >= registered {
            return failed(format!(
                "{alive} of {workers} workers registered within {} s: {}",
                REGISTER_WITHIN.as_secs(),
                procs.log_tails()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    let pids = procs.pids();
    let dovecot_pid = r.env.dovecot.master_pid();
    let pg_pid = postmaster_pid(pg);
    let cpu0 = CpuMark::now(&pids, dovecot_pid, pg_pid);
    let start = Instant::now();
    if let Err(e) = call(lib, &admin, "batch.start", json!({"identity": batch})) {
        return failed(e);
    }
    let deadline = start + r.timeout;
    let mut peaks = vec![0u64; pids.len()];
    let (wall, status, batch_info) = loop {
        for (peak, pid) in peaks.iter_mut().zip(&pids) {
            if let Some(h) = measure::vm_hwm_kib(*pid) {
                *peak = (*peak).max(h);
            }
        }
        let b = call(lib, &admin, "batch.get", json!({"identity": batch}))
            .ok()
            .map(|v| v[0].clone())
            .unwrap_or_default();
        let status = b["Status"].as_str().unwrap_or_default().to_string();
        if !matches!(
            status.as_str(),
            "Created" | "Starting" | "Syncing" | "IncrementalSyncing" | "Waiting" | ""
        ) {
            break (start.elapsed().as_secs_f64(), status, b);
        }
        if Instant::now() >= deadline {
            break (
                start.elapsed().as_secs_f64(),
                format!("still {status} (timed out)"),
                b,
            );
        }
        if let Some(e) = procs.exited() {
            break (
                start.elapsed().as_secs_f64(),
                format!("{e} while {status}"),
                b,
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let cpu = CpuMark::now(&pids, dovecot_pid, pg_pid).since(&cpu0);
    for (peak, pid) in peaks.iter_mut().zip(&pids) {
        if let Some(h) = measure::vm_hwm_kib(*pid) {
            *peak = (*peak).max(h);
        }
    }
    let logs = procs.log_tails();
    procs.stop();
    drop(procs);

    let checked = Instant::now();
    let mut o = ScaleRun {
        workers,
        wall_s: wall,
        complete: true,
        verified: None,
        note: String::new(),
        rss_kib: peaks,
        users_per_worker: Vec::new(),
        cpu,
        check_s: 0.0,
    };
    if status != "Synced" || batch_info["SyncedCount"] != json!(n) {
        o.complete = false;
        let users = call(lib, &admin, "user.get", json!({"batchId": batch})).unwrap_or_default();
        let err = users
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|u| {
                u["ErrorSummary"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
            })
            .unwrap_or(logs);
        o.note = format!(
            "batch {status}, {} of {n} users synced; {err}",
            batch_info["SyncedCount"]
        );
        return o;
    }
    // The same check as the other sets: counts per folder, then every message byte for byte.
    let mut copy = Outcome {
        wall_s: wall,
        rss_kib: 0,
        rss_max_kib: 0,
        processes: workers,
        complete: true,
        verified: None,
        note: String::new(),
        check_s: 0.0,
        server_cpu_s: None,
        wire_bytes: None,
    };
    r.check(Tool::Worker, &mut copy);
    o.verified = copy.verified;
    if !copy.complete {
        o.complete = false;
        o.note = copy.note;
    } else if let Err(e) = check_passes(pg, db, n) {
        o.complete = false;
        o.note = e;
    }
    o.users_per_worker = users_per_worker(pg, db);
    o.check_s = checked.elapsed().as_secs_f64();
    o
}

/// The store's records of the run: every one of the `n` users finished exactly one pass and
/// holds no lease, and was held once, by one worker (one row in `leases`).
fn check_passes(pg: &Postgres, db: &str, n: usize) -> Result<(), String> {
    let count = |sql: &str| -> Result<usize, String> {
        pg.psql(db, sql)
            .map_err(|e| format!("cannot read the store: {e}"))?
            .trim()
            .parse()
            .map_err(|e| format!("cannot read the store: {e}"))
    };
    let users = count("SELECT count(*) FROM users")?;
    let one_pass = count("SELECT count(*) FROM users WHERE passes = 1 AND lease_worker IS NULL")?;
    let held_once = count(
        "SELECT count(*) FROM (SELECT user_id FROM leases GROUP BY user_id HAVING count(*) = 1) AS once",
    )?;
    if users != n || one_pass != n || held_once != n {
        return Err(format!(
            "not one pass per user: {users} users, {one_pass} with one finished pass, {held_once} held once by one worker (of {n})"
        ));
    }
    Ok(())
}

/// Users each worker held, most first, from the lease records.
fn users_per_worker(pg: &Postgres, db: &str) -> Vec<u64> {
    pg.psql(
        db,
        "SELECT count(*) FROM leases GROUP BY worker_id ORDER BY 1 DESC",
    )
    .unwrap_or_default()
    .lines()
    .filter_map(|l| l.trim().parse().ok())
    .collect()
}

fn join(v: &[u64], sep: &str) -> String {
    v.iter().map(u64::to_string).collect::<Vec<_>>().join(sep)
}

impl ScaleResult {
    /// Fills in the medians, the speed-ups, the steps and the finding from the runs.
    pub fn summarize(&mut self) {
        for row in &mut self.rows {
            let ok: Vec<&ScaleRun> = row.runs.iter().filter(|r| r.complete).collect();
            if ok.len() < row.runs.len() {
                row.status = "incomplete".into();
                if let Some(bad) = row.runs.iter().find(|r| !r.complete) {
                    row.note = bad.note.clone();
                }
            }
            row.median_wall_s = median(ok.iter().map(|r| r.wall_s).collect());
            row.peak_rss_max_mib = median(
                ok.iter()
                    .map(|r| r.rss_kib.iter().copied().max().unwrap_or(0) as f64 / 1024.0)
                    .collect(),
            );
            row.peak_rss_sum_mib = median(
                ok.iter()
                    .map(|r| r.rss_kib.iter().sum::<u64>() as f64 / 1024.0)
                    .collect(),
            );
            row.cpu_busy = median(ok.iter().map(|r| r.cpu.busy).collect());
            if let Some(w) = row.median_wall_s.filter(|w| *w > 0.0) {
                row.messages_per_s = Some(self.messages as f64 / w);
                row.mb_per_s = Some(self.bytes as f64 / 1e6 / w);
            }
        }
        let first = self.rows.first().and_then(|r| r.median_wall_s);
        let mut before: Option<f64> = None;
        for row in &mut self.rows {
            if let Some(w) = row.median_wall_s.filter(|w| *w > 0.0) {
                row.speedup = first.map(|f| f / w);
                row.step = before.map(|b| b / w);
                row.bound = row
                    .step
                    .map(|s| bound(s, row.cpu_busy.unwrap_or(0.0)).as_str().to_string());
            }
            before = row.median_wall_s;
        }
        self.finding = self.finding_text();
    }

    /// The first step that did not help, with its ratio and where the CPU went; or that the
    /// last step still helped.
    fn finding_text(&self) -> String {
        if !self.all_complete() {
            return "no finding: a run failed its checks".into();
        }
        let steps: Vec<(&ScaleRow, &ScaleRow)> =
            self.rows.iter().zip(self.rows.iter().skip(1)).collect();
        let Some(&(last_from, last_to)) = steps.last() else {
            return String::new();
        };
        let stop = steps
            .iter()
            .find(|(_, to)| to.bound.as_deref() != Some(Bound::Scales.as_str()));
        let Some(&(from, to)) = stop else {
            return format!(
                "still scaling at {} workers: {} -> {} workers {:.2}x (at least {STEP_HELPS:.2}x counts as helping)",
                last_to.workers,
                last_from.workers,
                last_to.workers,
                last_to.step.unwrap_or(0.0)
            );
        };
        let cpu = to
            .runs
            .iter()
            .find(|r| r.complete)
            .map(|r| r.cpu.clone())
            .unwrap_or_default();
        let used = cpu.workers_s + cpu.dovecot_s + cpu.postgres_s + cpu.bench_s + cpu.other_s;
        let share = |s: f64| if used > 0.0 { s / used * 100.0 } else { 0.0 };
        format!(
            "adding workers stops helping at {} -> {} workers: {:.2}x for twice the workers (below {STEP_HELPS:.2}x); {}: the {} cores were {:.0}% busy (of the CPU used: workers {:.0}%, Dovecot {:.0}%, PostgreSQL {:.0}%, the bench {:.0}%, other jobs {:.0}%)",
            from.workers,
            to.workers,
            to.step.unwrap_or(0.0),
            to.bound.as_deref().unwrap_or(""),
            self.cores,
            to.cpu_busy.unwrap_or(0.0) * 100.0,
            share(cpu.workers_s),
            share(cpu.dovecot_s),
            share(cpu.postgres_s),
            share(cpu.bench_s),
            share(cpu.other_s),
        )
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let runs = self.rows.iter().map(|r| r.runs.len()).max().unwrap_or(0);
        let _ = writeln!(
            s,
            "\n== scale ({} mailboxes in one batch, {} messages, {:.1} MB), PostgreSQL {} store, {} users at a time per worker, {runs} run{} per count ==",
            self.mailboxes,
            self.messages,
            self.bytes as f64 / 1e6,
            self.postgres,
            self.users_per_worker,
            if runs == 1 { "" } else { "s" },
        );
        let _ = writeln!(
            s,
            "{:<8} {:>9} {:>7} {:>6} {:>9} {:>18} {:>13} {:>13} {:>9} {:>25}  status",
            "workers",
            "median s",
            "msg/s",
            "MB/s",
            "speed-up",
            "step",
            "peak RSS max",
            "peak RSS sum",
            "CPU busy",
            "CPU s wk/dc/pg/bench/oth",
        );
        let f = |v: Option<f64>, prec: usize, suffix: &str| {
            v.map(|v| format!("{v:.prec$}{suffix}"))
                .unwrap_or_else(|| "-".into())
        };
        for r in &self.rows {
            let step = match (r.step, &r.bound) {
                (Some(x), Some(b)) if b == Bound::Scales.as_str() => format!("{x:.2}x"),
                (Some(x), Some(b)) => format!("{x:.2}x {b}"),
                _ => "-".into(),
            };
            let cpu = r
                .runs
                .iter()
                .find(|o| o.complete)
                .map(|o| {
                    format!(
                        "{:.1}/{:.1}/{:.1}/{:.1}/{:.1}",
                        o.cpu.workers_s,
                        o.cpu.dovecot_s,
                        o.cpu.postgres_s,
                        o.cpu.bench_s,
                        o.cpu.other_s
                    )
                })
                .unwrap_or_else(|| "-".into());
            let status = if r.status == "ok" {
                String::new()
            } else {
                format!("{}: {}", r.status, r.note)
            };
            let _ = writeln!(
                s,
                "{:<8} {:>9} {:>7} {:>6} {:>9} {:>18} {:>13} {:>13} {:>9} {:>25}  {}",
                r.workers,
                f(r.median_wall_s, 2, ""),
                f(r.messages_per_s, 0, ""),
                f(r.mb_per_s, 2, ""),
                f(r.speedup, 2, "x"),
                step,
                f(r.peak_rss_max_mib, 1, " MiB"),
                f(r.peak_rss_sum_mib, 1, " MiB"),
                f(r.cpu_busy.map(|b| b * 100.0), 0, "%"),
                cpu,
                status
            );
        }
        s.push_str(
            "time: batch.start to Synced; speed-up: over 1 worker; step: over the count before (twice the workers); \
             peak RSS: the largest worker / all workers; \
             CPU s: workers / Dovecot / PostgreSQL / the bench / other jobs, first complete run\n",
        );
        let _ = writeln!(s, "where it stops: {}", self.finding);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_that_does_not_help_is_cpu_bound_only_with_the_cores_busy() {
        assert_eq!(bound(1.8, 0.99), Bound::Scales);
        assert_eq!(bound(STEP_HELPS, 0.5), Bound::Scales);
        assert_eq!(bound(1.05, 0.95), Bound::CpuBound);
        assert_eq!(bound(1.05, 0.40), Bound::ServerBound);
        assert_eq!(bound(0.9, CPU_BOUND), Bound::CpuBound);
    }

    fn run(workers: usize, wall_s: f64, busy: f64) -> ScaleRun {
        ScaleRun {
            workers,
            wall_s,
            complete: true,
            verified: Some(true),
            note: String::new(),
            rss_kib: vec![10 * 1024; workers],
            users_per_worker: vec![1; workers],
            cpu: Cpu {
                busy,
                workers_s: 30.0,
                dovecot_s: 10.0,
                postgres_s: 5.0,
                bench_s: 1.0,
                other_s: 4.0,
            },
            check_s: 0.0,
        }
    }

    fn result(runs: Vec<ScaleRun>) -> ScaleResult {
        let mut r = ScaleResult {
            set: "scale".into(),
            mailboxes: 200,
            messages: 16_000,
            bytes: 32_000_000,
            users_per_worker: USERS_PER_WORKER,
            postgres: "15".into(),
            cores: 2,
            rows: runs
                .into_iter()
                .map(|o| ScaleRow {
                    workers: o.workers,
                    status: "ok".into(),
                    note: String::new(),
                    runs: vec![o],
                    median_wall_s: None,
                    messages_per_s: None,
                    mb_per_s: None,
                    speedup: None,
                    step: None,
                    bound: None,
                    peak_rss_max_mib: None,
                    peak_rss_sum_mib: None,
                    cpu_busy: None,
                })
                .collect(),
            finding: String::new(),
        };
        r.summarize();
        r
    }

    #[test]
    fn speed_ups_steps_and_where_it_stops() {
        let r = result(vec![
            run(1, 40.0, 0.6),
            run(2, 25.0, 0.9),
            run(4, 24.0, 0.97),
        ]);
        assert_eq!(r.rows[1].speedup, Some(1.6));
        assert_eq!(r.rows[2].step, Some(25.0 / 24.0));
        assert_eq!(r.rows[1].bound.as_deref(), Some("scales"));
        assert_eq!(r.rows[2].bound.as_deref(), Some("CPU-bound"));
        assert_eq!(r.rows[2].peak_rss_sum_mib, Some(40.0));
        assert_eq!(r.rows[2].peak_rss_max_mib, Some(10.0));
        assert_eq!(r.rows[0].messages_per_s, Some(400.0));
        assert!(
            r.finding
                .starts_with("adding workers stops helping at 2 -> 4 workers: 1.04x"),
            "{}",
            r.finding
        );
        assert!(r.finding.contains("CPU-bound"), "{}", r.finding);
        assert!(r.table().contains("1.04x CPU-bound"), "{}", r.table());

        let r = result(vec![
            run(1, 40.0, 0.5),
            run(2, 21.0, 0.6),
            run(4, 11.0, 0.7),
        ]);
        assert!(
            r.finding.starts_with("still scaling at 4 workers"),
            "{}",
            r.finding
        );
    }

    #[test]
    fn a_failed_run_makes_the_row_incomplete_and_no_finding() {
        let mut bad = run(2, 5.0, 0.5);
        bad.complete = false;
        bad.note = "batch SyncedWithErrors".into();
        let r = result(vec![run(1, 40.0, 0.6), bad, run(4, 24.0, 0.97)]);
        assert!(!r.all_complete());
        assert_eq!(r.rows[1].status, "incomplete");
        assert_eq!(r.rows[1].median_wall_s, None);
        assert!(r.finding.starts_with("no finding"), "{}", r.finding);
    }
}

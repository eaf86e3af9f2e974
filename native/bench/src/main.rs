//! `imapmig-bench`: ImapMigration against mbsync, dsync, offlineimap3 and the floor copier, on
//! the same data in the same run. See `scripts/bench` and the crate docs.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use clap::Parser;
use imapmigration_abi_host::NativeLibrary;
use imapmigration_bench::datasets::DataSet;
use imapmigration_bench::measure;
use imapmigration_bench::report::{Row, SetResult};
use imapmigration_bench::scale::{self, ScaleResult};
use imapmigration_bench::tools::{Binaries, Contender, Env, PASSWORD, Run, Source, Tool};
use imapmigration_testkit::{DelayProxy, Dovecot, DovecotOptions, ServerProfile};

#[derive(Parser)]
#[command(
    name = "imapmig-bench",
    about = "Benchmark ImapMigration against mbsync, dsync, offlineimap3 and a floor copier"
)]
struct Args {
    /// One run per tool, data set "one" only, no latency runs.
    #[arg(long)]
    quick: bool,
    /// Data sets: one, many, big (= big10k,big50k,big100mb), single big sets, or scale (200
    /// mailboxes run by 1, 2 and 4 workers on PostgreSQL; not in the default).
    #[arg(long, value_delimiter = ',', default_value = "one,many")]
    sets: Vec<String>,
    /// Also run "one" and "many" at 20 ms round-trip time through a delaying proxy.
    #[arg(long)]
    latency: bool,
    /// Added round-trip time for --latency, in milliseconds.
    #[arg(long, default_value_t = 20)]
    rtt_ms: u32,
    /// The capability list the bench's Dovecot advertises (full, gmail, exchange, rev1-uidplus,
    /// rev1): every tool copies against a server that says what Gmail or Exchange Online say.
    #[arg(long, default_value = "full", value_parser = parse_profile)]
    profile: ServerProfile,
    /// Runs per tool (medians are reported).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Tools to run (default all): floor, cli, worker, maildir, mbsync, dsync, offlineimap.
    #[arg(long, value_delimiter = ',')]
    tools: Vec<String>,
    /// Keep Dovecot's fsync (mail_fsync = optimized) to show the disk-bound case.
    #[arg(long)]
    fsync: bool,
    /// Where the Dovecot instance, the mail and the runs live (default: a directory on /dev/shm).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Where the JSON results go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Directory with imapmigration, imapmig-floor and libimapmigration.so (default: this
    /// program's directory).
    #[arg(long)]
    bin: Option<PathBuf>,
    /// Directory with another build's imapmigration and libimapmigration.so: each of our tools
    /// also runs from it (rows `cli@baseline`, ...) in the same alternating runs, and the table
    /// gives each tool's ratio to its baseline.
    #[arg(long, value_name = "DIR")]
    baseline_bin: Option<PathBuf>,
    /// Keep the work directory (Dovecot, the source mail, the failed runs) for a look afterwards.
    #[arg(long)]
    keep: bool,
    /// offlineimap3 gives up after this many seconds per run (it is slow; the row says so).
    #[arg(long, default_value_t = 300)]
    offlineimap_timeout: u64,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!(
                "bench: FAILED: an ImapMigration run was incomplete or not byte-identical (see the tables)"
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("bench: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program} >/dev/null"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn version(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| {
            let t = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&t)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .unwrap_or_else(|_| "not installed".into())
}

/// Per-run time limit by data set; runs at added latency get three times as long.
fn timeout_for(set: &str, rtt_ms: u32) -> Duration {
    let base = match set {
        "one" => 180,
        "many" => 900,
        "big10k" | "big100mb" => 300,
        "scale" => 900,
        _ => 900,
    };
    Duration::from_secs(if rtt_ms > 0 { base * 3 } else { base })
}

fn parse_profile(name: &str) -> Result<ServerProfile, String> {
    ServerProfile::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = ServerProfile::ALL.iter().map(|p| p.name()).collect();
        format!("unknown profile {name:?}; one of {}", names.join(", "))
    })
}

#[allow(
    clippy::print_stdout,
    reason = "the bench reports its progress and tables on stdout"
)]
fn run(mut args: Args) -> Result<bool, String> {
    if args.quick {
        args.sets = vec!["one".into()];
        args.repeat = 1;
        args.latency = false;
    }
    let mut sets: Vec<String> = Vec::new();
    for s in &args.sets {
        match s.as_str() {
            "big" => sets.extend(["big10k", "big50k", "big100mb"].map(String::from)),
            s => sets.push(s.to_string()),
        }
    }
    for s in &sets {
        if DataSet::named(s).is_none() {
            return Err(format!(
                "unknown data set {s:?} (one, many, big, big10k, big50k, big100mb, scale)"
            ));
        }
    }
    // The scale set runs our worker through the ABI whichever --tools are chosen.
    let with_scale = sets.iter().any(|s| s == "scale");
    let mut tools: Vec<Tool> = if args.tools.is_empty() {
        Tool::ALL.to_vec()
    } else {
        args.tools
            .iter()
            .map(|t| Tool::from_key(t).ok_or_else(|| format!("unknown tool {t:?}")))
            .collect::<Result<_, _>>()?
    };
    if !std::path::Path::new(measure::GNU_TIME).exists() {
        return Err(format!(
            "{} is missing; install it with: apt-get install -y time",
            measure::GNU_TIME
        ));
    }
    let bin = match &args.bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .parent()
            .map(PathBuf::from)
            .unwrap_or_default(),
    };
    let mut needed = vec!["imapmig-floor"];
    let mut needed_ours = Vec::new();
    if tools.iter().any(|t| t.is_ours()) || with_scale {
        needed_ours.push("imapmigration");
    }
    if tools.contains(&Tool::Worker) || with_scale {
        needed_ours.push("libimapmigration.so");
    }
    needed.extend(&needed_ours);
    for f in needed {
        if !bin.join(f).exists() {
            return Err(format!(
                "{} is missing; build first (scripts/bench does)",
                bin.join(f).display()
            ));
        }
    }
    if let Some(base) = &args.baseline_bin {
        if needed_ours.is_empty() {
            println!(
                "bench: --baseline-bin has no effect: none of our tools (cli, worker, maildir) is selected"
            );
        }
        for f in &needed_ours {
            if !base.join(f).exists() {
                return Err(format!(
                    "{} is missing: --baseline-bin needs a directory with another build's {}",
                    base.join(f).display(),
                    needed_ours.join(" and ")
                ));
            }
        }
    }
    let mut unavailable: Vec<(Tool, String)> = Vec::new();
    for (tool, program, pkg) in [
        (Tool::Mbsync, "mbsync", "isync"),
        (Tool::Dsync, "doveadm", "dovecot-core"),
        (Tool::Offlineimap, "offlineimap", "offlineimap3"),
    ] {
        if tools.contains(&tool) && !have(program) {
            unavailable.push((
                tool,
                format!("{program} not found (apt-get install -y {pkg})"),
            ));
        }
    }

    let work = match &args.work_dir {
        Some(w) => w.clone(),
        None if std::path::Path::new("/dev/shm").is_dir() => {
            PathBuf::from(format!("/dev/shm/imapmig-bench-{}", std::process::id()))
        }
        None => std::env::temp_dir().join(format!("imapmig-bench-{}", std::process::id())),
    };
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let _cleanup = RemoveOnDrop(work.clone(), args.keep);

    let mut opts = DovecotOptions::default()
        .in_dir(work.join("dovecot"))
        .profile(args.profile);
    opts.fsync = args.fsync;
    if with_scale {
        opts.extra_config.push_str(scale::DOVECOT_LIMITS);
    }
    let dovecot = Dovecot::start(opts).map_err(|e| e.to_string())?;
    // The two builds' libraries are different files, so each loads as a library of its own
    // (its own runtime and statics) even when they are copies of each other.
    let load_lib = |dir: &std::path::Path| -> Result<Option<NativeLibrary>, String> {
        if !tools.contains(&Tool::Worker) && !with_scale {
            return Ok(None);
        }
        let path = dir.join("libimapmigration.so");
        NativeLibrary::load(&path)
            .map(Some)
            .map_err(|e| format!("cannot load {}: {e}", path.display()))
    };
    let lib = load_lib(&bin)?;
    let baseline = match &args.baseline_bin {
        Some(dir) if tools.iter().any(|t| t.is_ours()) => Some(Binaries {
            dir: dir.clone(),
            lib: load_lib(dir)?,
        }),
        _ => None,
    };
    // The library must not start a detached worker of its own: the bench runs it in the foreground.
    if std::env::var_os("IMAPMIGRATION_WORKER").is_some() {
        return Err("unset IMAPMIGRATION_WORKER: the bench starts the worker itself".into());
    }
    let env = Env {
        dovecot,
        current: Binaries {
            dir: bin.clone(),
            lib,
        },
        baseline,
    };
    tools.retain(|t| !unavailable.iter().any(|(u, _)| u == t));
    // Every tool as a row, each of ours followed by its baseline twin so that the two run
    // next to each other in every round.
    let contenders_of = |tools: &[Tool]| -> Vec<Contender> {
        let mut out = Vec::new();
        for &t in tools {
            out.push(Contender::current(t));
            if t.is_ours() && env.baseline.is_some() {
                out.push(Contender::baseline(t));
            }
        }
        out
    };

    let mut versions = serde_json::json!({
        "imapmigration": version(&bin.join("imapmigration").display().to_string(), &["version"]),
        "dovecot": version("/usr/sbin/dovecot", &["--version"]),
        "mbsync": version("mbsync", &["--version"]),
        "offlineimap": version("offlineimap", &["--version"]),
    });
    if let Some(b) = &env.baseline {
        versions["imapmigrationBaseline"] = serde_json::json!(version(
            &b.dir.join("imapmigration").display().to_string(),
            &["version"]
        ));
        println!(
            "bench: baseline build in {} ({})",
            b.dir.display(),
            versions["imapmigrationBaseline"].as_str().unwrap_or("")
        );
    }
    println!(
        "bench: Dovecot on 127.0.0.1:{} in {} (mail_fsync = {}), {} core(s); tools: {}",
        env.dovecot.imap_port(),
        work.display(),
        if args.fsync { "optimized" } else { "never" },
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        contenders_of(&tools)
            .iter()
            .map(|c| c.key())
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (t, why) in &unavailable {
        println!("bench: {} skipped: {why}", t.key());
    }

    let started = chrono::Utc::now();
    let mut results: Vec<SetResult> = Vec::new();
    let mut scale_results: Vec<ScaleResult> = Vec::new();
    let mut all_ours_ok = true;
    for set_name in &sets {
        let Some(set) = DataSet::named(set_name) else {
            continue;
        };
        let sources = seed(&env, &set)?;
        if set_name == "scale" {
            warm_up(
                &env,
                &sources,
                env.dovecot.imap_port(),
                &work,
                "scale-0-warm",
                timeout_for(set_name, 0),
            );
            if args.baseline_bin.is_some() {
                println!("bench: scale: --baseline-bin does not apply (the build under test only)");
            }
            let result = scale::run(&env, &sources, &work, args.repeat, timeout_for(set_name, 0))?;
            print!("{}", result.table());
            all_ours_ok &= result.all_complete();
            scale_results.push(result);
            write_json(&args, &started, &versions, &results, &scale_results)?;
            for s in &sources {
                let _ = std::fs::remove_dir_all(env.dovecot.dir().join("mail").join(&s.user));
            }
            continue;
        }
        let mut rtts = vec![0];
        if args.latency && matches!(set_name.as_str(), "one" | "many") {
            rtts.push(args.rtt_ms);
        }
        for &rtt in &rtts {
            let proxy = if rtt > 0 {
                Some(
                    DelayProxy::start(
                        env.dovecot.imap_addr(),
                        Duration::from_micros(u64::from(rtt) * 500),
                    )
                    .map_err(|e| e.to_string())?,
                )
            } else {
                None
            };
            let port = proxy
                .as_ref()
                .map(|p| p.port())
                .unwrap_or(env.dovecot.imap_port());
            let set_tools: Vec<Tool> = tools
                .iter()
                .copied()
                // offlineimap3 takes minutes where the others take seconds: by default it runs
                // on "one" at loopback speed only.
                .filter(|t| {
                    *t != Tool::Offlineimap
                        || (set_name == "one" && rtt == 0)
                        || args.tools.iter().any(|k| k == "offlineimap")
                })
                .collect();
            let mut result = SetResult {
                set: set_name.clone(),
                rtt_ms: rtt,
                mailboxes: sources.len(),
                messages: sources.iter().map(|s| s.messages).sum(),
                bytes: sources.iter().map(|s| s.bytes).sum(),
                rows: contenders_of(&Tool::ALL)
                    .into_iter()
                    .filter_map(|c| {
                        let t = &c.tool;
                        if let Some((_, why)) = unavailable.iter().find(|(u, _)| u == t) {
                            return args
                                .tools
                                .is_empty()
                                .then(|| Row::with_status(c, "unavailable", why.clone()));
                        }
                        if set_tools.contains(t) {
                            Some(Row::new(c))
                        } else if tools.contains(t) {
                            Some(Row::with_status(
                                c,
                                "skipped",
                                "not run on this data set (ask with --tools)",
                            ))
                        } else {
                            None
                        }
                    })
                    .collect(),
            };
            let runnable: Vec<Contender> = contenders_of(
                &set_tools
                    .iter()
                    .copied()
                    .filter(|t| !unavailable.iter().any(|(u, _)| u == t))
                    .collect::<Vec<_>>(),
            );
            warm_up(
                &env,
                &sources,
                port,
                &work,
                &format!("{set_name}-{rtt}-warm"),
                timeout_for(set_name, rtt),
            );
            let mut gave_up: Vec<Contender> = Vec::new();
            for rep in 0..args.repeat.max(1) {
                // Alternate: each round starts with a different tool.
                let mut order = runnable.clone();
                let shift = rep % order.len().max(1);
                order.rotate_left(shift);
                for contender in order {
                    if gave_up.contains(&contender) {
                        continue;
                    }
                    let tool = contender.tool;
                    let mut timeout = timeout_for(set_name, rtt);
                    if tool == Tool::Offlineimap {
                        timeout = timeout.min(Duration::from_secs(args.offlineimap_timeout));
                    }
                    let tag = format!("{set_name}-{rtt}-{}-r{rep}", contender.slug());
                    let t0 = std::time::Instant::now();
                    let r = Run::prepare(&env, &sources, port, &work, &tag, timeout);
                    let o = r.execute(contender);
                    println!(
                        "bench: {set_name:<8} rtt={rtt:<3} run {} {:<16} {:>8.2} s  {:>7.1} MiB  {}",
                        rep + 1,
                        contender.key(),
                        o.wall_s,
                        o.rss_kib as f64 / 1024.0,
                        if o.complete {
                            if o.verified == Some(true) {
                                "ok, byte-identical"
                            } else {
                                "ok"
                            }
                        } else {
                            o.note.as_str()
                        }
                    );
                    if !o.complete {
                        if contender.is_ours() {
                            all_ours_ok = false;
                            // Keep what failed for a look.
                            let keep = work.with_file_name(format!("imapmig-bench-failed-{tag}"));
                            let _ = std::fs::rename(&r.dir, &keep);
                            println!("bench: kept the failed run's files in {}", keep.display());
                        } else if o.note.contains("timed out") {
                            gave_up.push(contender);
                        }
                    }
                    r.cleanup();
                    if std::env::var_os("IMAPMIG_BENCH_TRACE").is_some() {
                        println!(
                            "bench:   (run with setup, check and cleanup: {:.1} s; check {:.1} s)",
                            t0.elapsed().as_secs_f64(),
                            o.check_s
                        );
                    }
                    let key = contender.key();
                    if let Some(row) = result.rows.iter_mut().find(|row| row.tool == key) {
                        row.runs.push(o);
                    }
                }
            }
            result.summarize();
            print!("{}", result.table());
            results.push(result);
            write_json(&args, &started, &versions, &results, &scale_results)?;
            drop(proxy);
        }
        for s in &sources {
            let _ = std::fs::remove_dir_all(env.dovecot.dir().join("mail").join(&s.user));
        }
    }
    println!(
        "\nbench: results in {}",
        args.out.join("latest.json").display()
    );
    Ok(all_ours_ok)
}

/// A copy that is not counted: Dovecot indexes and caches the source on first access.
#[allow(
    clippy::print_stdout,
    reason = "says when the warm-up copy did not finish"
)]
fn warm_up(
    env: &Env,
    sources: &[Source],
    port: u16,
    work: &std::path::Path,
    tag: &str,
    timeout: Duration,
) {
    let w = Run::prepare(env, sources, port, work, tag, timeout);
    let o = w.execute(Contender::current(Tool::Floor));
    w.cleanup();
    if !o.complete {
        println!("bench: warm-up copy incomplete: {}", o.note);
    }
}

/// Creates the source users of a data set and writes their mail.
#[allow(
    clippy::print_stdout,
    reason = "reports what was seeded and how long it took"
)]
fn seed(env: &Env, set: &DataSet) -> Result<Vec<Source>, String> {
    let t = std::time::Instant::now();
    let mut out = Vec::new();
    let names: Vec<String> = (0..set.mailboxes.len())
        .map(|i| format!("{}-{i:02}@source.bench", set.name))
        .collect();
    let users: Vec<(&str, &str)> = names.iter().map(|u| (u.as_str(), PASSWORD)).collect();
    env.dovecot.add_users(&users).map_err(|e| e.to_string())?;
    for (user, spec) in names.into_iter().zip(&set.mailboxes) {
        let folders = spec.generate();
        let bytes: u64 = folders
            .iter()
            .flat_map(|f| &f.messages)
            .map(|m| m.bytes.len() as u64)
            .sum();
        env.dovecot
            .seed(&user, &folders)
            .map_err(|e| e.to_string())?;
        drop(folders);
        let expected = env
            .dovecot
            .snapshot(&user)
            .map_err(|e| e.to_string())?
            .without_empty_folders();
        let messages = expected.message_count() as u64;
        out.push(Source {
            user,
            expected,
            messages,
            bytes,
        });
    }
    println!(
        "bench: seeded {} ({} mailbox(es), {} messages) in {:.1} s",
        set.name,
        out.len(),
        out.iter().map(|s| s.messages).sum::<u64>(),
        t.elapsed().as_secs_f64()
    );
    Ok(out)
}

fn write_json(
    args: &Args,
    started: &chrono::DateTime<chrono::Utc>,
    versions: &serde_json::Value,
    results: &[SetResult],
    scale: &[ScaleResult],
) -> Result<(), String> {
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let doc = serde_json::json!({
        "startedAt": started.to_rfc3339(),
        "host": {
            "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "kernel": version("uname", &["-sr"]),
        },
        "versions": versions,
        "config": {
            "repeat": args.repeat, "fsync": args.fsync, "latency": args.latency, "profile": args.profile.name(), "rttMs": args.rtt_ms,
            "baselineBin": args.baseline_bin.as_ref().map(|p| p.display().to_string()),
        },
        "results": results,
        "scale": scale,
    });
    let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    let name = format!("results-{}.json", started.format("%Y%m%dT%H%M%SZ"));
    for f in [name.as_str(), "latest.json"] {
        let p = args.out.join(f);
        std::fs::write(&p, &text).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    Ok(())
}

/// Removes the work directory (Dovecot's mail included) when the bench ends.
struct RemoveOnDrop(PathBuf, bool);

impl Drop for RemoveOnDrop {
    #[allow(clippy::print_stdout, reason = "says where the kept files are")]
    fn drop(&mut self) {
        if self.1 {
            println!("bench: kept {}", self.0.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

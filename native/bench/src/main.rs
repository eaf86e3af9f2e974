//! `imapmig-bench`: ImapMigration against mbsync, dsync, offlineimap3 and the floor copier, on
//! the same data in the same run. See `scripts/bench` and the crate docs.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use clap::Parser;
use imapmigration_abi_host::NativeLibrary;
use imapmigration_bench::datasets::DataSet;
use imapmigration_bench::measure;
use imapmigration_bench::report::{self, Row, SetResult};
use imapmigration_bench::scale::{self, ScaleResult};
use imapmigration_bench::tools::{Binaries, Contender, Env, PASSWORD, Run, Source, Tool};
use imapmigration_testkit::{DelayProxy, Dovecot, DovecotOptions, ServerProfile};

#[derive(Parser)]
#[command(
    name = "imapmig-bench",
    about = "Benchmark ImapMigration against mbsync, dsync, offlineimap3 and a floor copier"
)]
struct Args {
    /// One run per tool, data set "one" only, no latency or bandwidth runs.
    #[arg(long)]
    quick: bool,
    /// Data sets: one, many, big (= big10k,big50k,big100mb), single big sets, or scale (200
    /// mailboxes run by 1, 2 and 4 workers on PostgreSQL; not in the default).
    #[arg(long, value_delimiter = ',', default_value = "one,many")]
    sets: Vec<String>,
    /// Also run "one" and "many" at added round-trip time through a delaying proxy (20 ms
    /// unless --rtt-ms says otherwise).
    #[arg(long)]
    latency: bool,
    /// Added round-trip times for the latency runs, in milliseconds, each a run of its own
    /// (20,100); giving it implies --latency.
    #[arg(long, value_delimiter = ',', value_name = "MS")]
    rtt_ms: Vec<u32>,
    /// Also run "one" over a link of this rate each way, shared by all connections (10mbit,
    /// 50mbit; decimal units, several comma-separated), against a second Dovecot that offers
    /// COMPRESS=DEFLATE: floor, ImapMigration with and without compression, and mbsync.
    #[arg(long, value_delimiter = ',', value_name = "RATE", value_parser = report::parse_rate)]
    bandwidth: Vec<u64>,
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

impl Args {
    /// Applies what options imply: --quick drops the latency and bandwidth runs, --rtt-ms
    /// implies --latency, and --latency alone means 20 ms.
    fn settle(&mut self) {
        if self.quick {
            self.sets = vec!["one".into()];
            self.repeat = 1;
            self.latency = false;
            self.rtt_ms.clear();
            self.bandwidth.clear();
        }
        if !self.rtt_ms.is_empty() {
            self.latency = true;
        } else if self.latency {
            self.rtt_ms = vec![20];
        }
    }
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

/// Tools of the bandwidth-limited runs when --tools does not name others.
const BANDWIDTH_TOOLS: [Tool; 4] = [Tool::Floor, Tool::Cli, Tool::CliNoCompress, Tool::Mbsync];

/// How the tools reach the server in one section of a data set's runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Link {
    /// Added round-trip time in milliseconds (0: none).
    rtt_ms: u32,
    /// The shared link's rate each way in bit/s; `None`: unlimited (and no second Dovecot).
    bandwidth_bit_s: Option<u64>,
}

impl Link {
    /// The part of run tags and target user names that tells sections apart.
    fn slug(self) -> String {
        match self.bandwidth_bit_s {
            Some(b) => format!("{}-bw{}k", self.rtt_ms, b / 1000),
            None => self.rtt_ms.to_string(),
        }
    }
}

/// The sections a data set runs in: loopback, then each RTT (one and many), then each
/// bandwidth (one only).
fn links_for(set: &str, rtts: &[u32], bandwidths: &[u64]) -> Vec<Link> {
    let mut out = vec![Link {
        rtt_ms: 0,
        bandwidth_bit_s: None,
    }];
    if matches!(set, "one" | "many") {
        out.extend(rtts.iter().filter(|r| **r > 0).map(|&rtt_ms| Link {
            rtt_ms,
            bandwidth_bit_s: None,
        }));
    }
    if set == "one" {
        out.extend(bandwidths.iter().map(|&b| Link {
            rtt_ms: 0,
            bandwidth_bit_s: Some(b),
        }));
    }
    out
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
    args.settle();
    let rtts = args.rtt_ms.clone();
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
    // The bandwidth runs go to a Dovecot of their own that offers COMPRESS=DEFLATE, so that the
    // other runs keep the server (and the tools' choices) they always had.
    let bandwidth_dovecot = if !args.bandwidth.is_empty() && sets.iter().any(|s| s == "one") {
        let mut o = opts
            .clone()
            .in_dir(work.join("dovecot-compress"))
            .with_compression();
        o.extra_config.clear();
        Some(Dovecot::start(o).map_err(|e| e.to_string())?)
    } else {
        None
    };
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
    // Only the build under test runs over the limited link.
    let bandwidth_env = bandwidth_dovecot.map(|dovecot| Env {
        dovecot,
        current: Binaries {
            dir: bin.clone(),
            lib: None,
        },
        baseline: None,
    });
    tools.retain(|t| !unavailable.iter().any(|(u, _)| u == t));
    // Every tool as a row, each of ours followed by its baseline twin so that the two run
    // next to each other in every round.
    let contenders_of = |tools: &[Tool], with_baseline: bool| -> Vec<Contender> {
        let mut out = Vec::new();
        for &t in tools {
            out.push(Contender::current(t));
            if t.is_ours() && with_baseline {
                out.push(Contender::baseline(t));
            }
        }
        out
    };
    let ticks = measure::clock_ticks_per_s();

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
        contenders_of(&tools, env.baseline.is_some())
            .iter()
            .map(|c| c.key())
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (t, why) in &unavailable {
        println!("bench: {} skipped: {why}", t.key());
    }
    if let Some(b) = &bandwidth_env {
        println!(
            "bench: bandwidth runs: Dovecot with COMPRESS=DEFLATE on 127.0.0.1:{} ({})",
            b.dovecot.imap_port(),
            args.bandwidth
                .iter()
                .map(|r| report::format_rate(*r))
                .collect::<Vec<_>>()
                .join(", ")
        );
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
        let mut bandwidth_sources: Option<Vec<Source>> = None;
        for link in links_for(set_name, &rtts, &args.bandwidth) {
            let rtt = link.rtt_ms;
            let limited = link.bandwidth_bit_s.is_some();
            // The section's server and mail: the second Dovecot for the limited link.
            let (senv, ssources) = match (link.bandwidth_bit_s, &bandwidth_env) {
                (Some(_), Some(benv)) => {
                    if bandwidth_sources.is_none() {
                        let seeded = seed(benv, &set)?;
                        warm_up(
                            benv,
                            &seeded,
                            benv.dovecot.imap_port(),
                            &work,
                            &format!("{set_name}-bw-warm"),
                            timeout_for(set_name, 0),
                        );
                        bandwidth_sources = Some(seeded);
                    }
                    (benv, bandwidth_sources.as_deref().unwrap_or_default())
                }
                _ => (&env, sources.as_slice()),
            };
            let one_way = Duration::from_micros(u64::from(rtt) * 500);
            let proxy = match link.bandwidth_bit_s {
                Some(bits) => Some(
                    DelayProxy::start_shared_link(senv.dovecot.imap_addr(), one_way, bits / 8)
                        .map_err(|e| e.to_string())?,
                ),
                None if rtt > 0 => Some(
                    DelayProxy::start(senv.dovecot.imap_addr(), one_way)
                        .map_err(|e| e.to_string())?,
                ),
                None => None,
            };
            let port = proxy
                .as_ref()
                .map(|p| p.port())
                .unwrap_or(senv.dovecot.imap_port());
            let set_bytes: u64 = ssources.iter().map(|s| s.bytes).sum();
            let timeout = match link.bandwidth_bit_s {
                // Both ways carry the set's bytes (FETCH down, APPEND up): four times that.
                Some(bits) => {
                    timeout_for(set_name, rtt)
                        + Duration::from_secs_f64(4.0 * set_bytes as f64 * 8.0 / bits as f64)
                }
                None => timeout_for(set_name, rtt),
            };
            let asked = |t: Tool| args.tools.iter().any(|k| k == t.key());
            let set_tools: Vec<Tool> = tools
                .iter()
                .copied()
                .filter(|&t| {
                    if limited {
                        return !args.tools.is_empty() || BANDWIDTH_TOOLS.contains(&t);
                    }
                    // offlineimap3 takes minutes where the others take seconds: by default it
                    // runs on "one" at loopback speed only. Without compression offered,
                    // --no-compress changes nothing: that row runs over the limited link.
                    match t {
                        Tool::Offlineimap => (set_name == "one" && rtt == 0) || asked(t),
                        Tool::CliNoCompress => asked(t),
                        _ => true,
                    }
                })
                .collect();
            let with_baseline = senv.baseline.is_some();
            let mut result = SetResult {
                set: set_name.clone(),
                rtt_ms: rtt,
                bandwidth_bit_s: link.bandwidth_bit_s,
                compression_offered: limited,
                mailboxes: ssources.len(),
                messages: ssources.iter().map(|s| s.messages).sum(),
                bytes: set_bytes,
                rows: contenders_of(&Tool::ALL, with_baseline)
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
                        } else if *t == Tool::CliNoCompress && !limited {
                            None
                        } else if tools.contains(t) {
                            Some(Row::with_status(
                                c,
                                "skipped",
                                if limited {
                                    "not run over the limited link (ask with --tools)"
                                } else {
                                    "not run on this data set (ask with --tools)"
                                },
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
                with_baseline,
            );
            if !limited {
                warm_up(
                    senv,
                    ssources,
                    port,
                    &work,
                    &format!("{set_name}-{}-warm", link.slug()),
                    timeout,
                );
            }
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
                    let mut timeout = timeout;
                    if tool == Tool::Offlineimap {
                        timeout = timeout.min(Duration::from_secs(args.offlineimap_timeout));
                    }
                    let tag = format!("{set_name}-{}-{}-r{rep}", link.slug(), contender.slug());
                    let t0 = std::time::Instant::now();
                    let r = Run::prepare(senv, ssources, port, &work, &tag, timeout);
                    let wire = || {
                        proxy
                            .as_ref()
                            .map(|p| p.bytes_to_server() + p.bytes_to_client())
                    };
                    let server_cpu = || senv.dovecot.master_pid().map(measure::tree_cpu_ticks);
                    let (cpu0, wire0) = (server_cpu(), wire());
                    let mut o = r.execute(contender);
                    // Dovecot's processes of this run log out and are reaped by the master
                    // (their CPU time moves into its cutime) before the second sample.
                    std::thread::sleep(Duration::from_millis(200));
                    let (cpu1, wire1) = (server_cpu(), wire());
                    o.server_cpu_s = cpu0
                        .zip(cpu1)
                        .map(|(a, b)| b.saturating_sub(a) as f64 / ticks as f64);
                    o.wire_bytes = wire0.zip(wire1).map(|(a, b)| b.saturating_sub(a));
                    let link_label = match link.bandwidth_bit_s {
                        Some(b) => report::format_rate(b).replace(' ', ""),
                        None => format!("rtt={rtt}"),
                    };
                    println!(
                        "bench: {set_name:<8} {link_label:<10} run {} {:<16} {:>8.2} s  {:>7.1} MiB  srv {:>5.2} CPU-s{}  {}",
                        rep + 1,
                        contender.key(),
                        o.wall_s,
                        o.rss_kib as f64 / 1024.0,
                        o.server_cpu_s.unwrap_or(0.0),
                        o.wire_bytes
                            .map(|b| format!("  {:>6.1} MB wire", b as f64 / 1e6))
                            .unwrap_or_default(),
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
        if let (Some(benv), Some(bsources)) = (&bandwidth_env, &bandwidth_sources) {
            for s in bsources {
                let _ = std::fs::remove_dir_all(benv.dovecot.dir().join("mail").join(&s.user));
            }
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
            "bandwidthBitS": args.bandwidth,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_runs_for_one_and_many_bandwidth_runs_for_one_only() {
        let slugs = |set: &str| -> Vec<String> {
            links_for(set, &[20, 100], &[10_000_000])
                .into_iter()
                .map(Link::slug)
                .collect()
        };
        assert_eq!(slugs("one"), ["0", "20", "100", "0-bw10000k"]);
        assert_eq!(slugs("many"), ["0", "20", "100"]);
        assert_eq!(slugs("big10k"), ["0"]);
        assert_eq!(links_for("one", &[], &[]).len(), 1);
    }

    #[test]
    fn rtt_list_implies_latency_and_latency_alone_means_20_ms() {
        let parse = |argv: &[&str]| {
            let mut a =
                Args::parse_from(std::iter::once("imapmig-bench").chain(argv.iter().copied()));
            a.settle();
            (a.latency, a.rtt_ms, a.bandwidth)
        };
        assert_eq!(parse(&[]), (false, vec![], vec![]));
        assert_eq!(parse(&["--latency"]), (true, vec![20], vec![]));
        assert_eq!(
            parse(&["--rtt-ms", "20,100", "--bandwidth", "10mbit,50mbit"]),
            (true, vec![20, 100], vec![10_000_000, 50_000_000])
        );
        assert_eq!(
            parse(&["--quick", "--rtt-ms", "100", "--bandwidth", "10mbit"]),
            (false, vec![], vec![])
        );
        assert!(Args::try_parse_from(["imapmig-bench", "--bandwidth", "10"]).is_err());
    }
}

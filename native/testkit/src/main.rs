//! `imapmig-testkit`: the testkit for Pester, the demo and the benchmark.
//!
//! `start` leaves Dovecot running after the command exits (state in `<dir>/testkit.json`); the
//! OAuth token server then lives in a small detached helper (`serve-oauth`), which `stop` ends
//! together with Dovecot.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use imapmigration_testkit::dovecot::ExternalOAuth;
use imapmigration_testkit::{
    DelayProxy, Dovecot, DovecotOptions, FaultProxy, OAuthServer, Refusal, RefusingProxy,
    ServerProfile, SpecialUseNames, mail, maildir_snapshot,
};
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "imapmig-testkit",
    version,
    about = "Throwaway Dovecot, seeding, snapshots and proxies for ImapMigration tests"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum SpecialUse {
    Standard,
    Exchange,
}

#[derive(Clone, Copy, ValueEnum)]
enum Profile {
    One,
    Small,
    Many,
}

impl Profile {
    fn name(self) -> &'static str {
        match self {
            Profile::One => "one",
            Profile::Small => "small",
            Profile::Many => "many",
        }
    }
}

fn parse_server_profile(name: &str) -> Result<ServerProfile, String> {
    ServerProfile::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = ServerProfile::ALL.iter().map(|p| p.name()).collect();
        format!("unknown profile {name:?}; one of {}", names.join(", "))
    })
}

#[derive(Subcommand)]
enum Cmd {
    /// Start Dovecot in DIR and leave it running; prints where to reach it.
    Start {
        #[arg(long)]
        dir: PathBuf,
        /// Comma-separated name:password pairs.
        #[arg(long, default_value = "alice:secret,bob:secret")]
        users: String,
        /// Seed every user with this profile.
        #[arg(long, value_enum)]
        seed: Option<Profile>,
        #[arg(long, value_enum, default_value = "standard")]
        special_use: SpecialUse,
        /// Capability profile to advertise: full, gmail, exchange, rev1-uidplus, rev1.
        #[arg(long, default_value = "full", value_parser = parse_server_profile)]
        capabilities: ServerProfile,
        /// Keep fsync on (slower; default is mail_fsync = never).
        #[arg(long)]
        fsync: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Stop the Dovecot (and OAuth helper) started in DIR.
    Stop {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Print the running instance's JSON.
    Info {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Add a user to a running instance (takes effect at once).
    AddUser {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        user: String,
        #[arg(long)]
        password: String,
    },
    /// Write a generated mailbox into a user's Maildir.
    Seed {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        user: String,
        #[arg(long, value_enum, default_value = "small")]
        profile: Profile,
        /// Add the user with this password if it does not exist.
        #[arg(long)]
        password: Option<String>,
    },
    /// Print a snapshot (folders → sorted messages) of a user's mailbox, or of any Maildir++ tree.
    Snapshot {
        #[arg(long, required_unless_present = "maildir")]
        dir: Option<PathBuf>,
        #[arg(long, required_unless_present = "maildir")]
        user: Option<String>,
        /// Read this Maildir++ root (one user's) instead.
        #[arg(long)]
        maildir: Option<PathBuf>,
        /// Only counts per folder.
        #[arg(long)]
        counts: bool,
    },
    /// TCP proxies in the foreground (until killed).
    Proxy {
        #[command(subcommand)]
        kind: ProxyCmd,
    },
    /// Run the OAuth token/introspection server in the foreground (used by `start`).
    ServeOauth {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        client_id: String,
        #[arg(long)]
        client_secret: String,
    },
}

#[derive(Subcommand)]
enum ProxyCmd {
    /// Delay every chunk by MS milliseconds each way; prints {"port": N}.
    Delay {
        #[arg(long)]
        upstream: SocketAddr,
        #[arg(long)]
        ms: u64,
    },
    /// Forward untouched; reads commands on stdin: `cut`, `cut-after N`, `refuse on|off`, `stats`.
    Fault {
        #[arg(long)]
        upstream: SocketAddr,
    },
    /// Refuse chosen folders as field servers do (`NO [CANNOT]` to CREATE and SELECT of a folder
    /// whose name contains --create; `NO [SERVERBUG]` to body fetches in one whose name contains
    /// --fetch), forward the rest; prints {"port": N}.
    Refuse {
        #[arg(long)]
        upstream: SocketAddr,
        /// Refuse CREATE and SELECT of folders whose name contains this.
        #[arg(long, conflicts_with = "fetch", required_unless_present = "fetch")]
        create: Option<String>,
        /// Refuse the message bodies of folders whose name contains this.
        #[arg(long)]
        fetch: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("imapmig-testkit: {e}");
            ExitCode::FAILURE
        }
    }
}

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

fn print_json(v: &serde_json::Value) {
    // A closed stdout (`| head`) is not an error worth a panic.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_default()
    );
    let _ = out.flush();
}

fn instance_json(dc: &Dovecot) -> BoxResult<serde_json::Value> {
    let mut v = serde_json::to_value(dc.info())?;
    let users: Vec<serde_json::Value> = dc
        .users()
        .iter()
        .map(|u| json!({"name": u, "password": dc.password(u).unwrap_or_default()}))
        .collect();
    v["users"] = json!(users);
    Ok(v)
}

#[allow(
    clippy::print_stdout,
    reason = "the proxy commands report their address on stdout"
)]
fn run(cmd: Cmd) -> BoxResult<()> {
    match cmd {
        Cmd::Start {
            dir,
            users,
            seed,
            special_use,
            capabilities,
            fsync,
            json,
        } => start(&dir, &users, seed, special_use, capabilities, fsync, json),
        Cmd::Stop { dir } => {
            let mut dc = Dovecot::attach(&dir)?;
            dc.stop()?;
            Ok(())
        }
        Cmd::Info { dir } => {
            let dc = Dovecot::attach(&dir)?;
            print_json(&instance_json(&dc)?);
            Ok(())
        }
        Cmd::AddUser {
            dir,
            user,
            password,
        } => {
            Dovecot::attach(&dir)?.add_user(&user, &password)?;
            Ok(())
        }
        Cmd::Seed {
            dir,
            user,
            profile,
            password,
        } => {
            let dc = Dovecot::attach(&dir)?;
            if dc.password(&user).is_none()
                && let Some(p) = password
            {
                dc.add_user(&user, &p)?;
            }
            let n = seed_profile(&dc, &user, profile)?;
            print_json(&json!({"user": user, "profile": profile.name(), "messages": n}));
            Ok(())
        }
        Cmd::Snapshot {
            dir,
            user,
            maildir,
            counts,
        } => {
            let snap = match (maildir, dir, user) {
                (Some(m), _, _) => maildir_snapshot(&m)?,
                (None, Some(d), Some(u)) => Dovecot::attach(&d)?.snapshot(&u)?,
                _ => return Err("give --maildir, or --dir and --user".into()),
            };
            if counts {
                let c: serde_json::Map<String, serde_json::Value> = snap
                    .folders
                    .iter()
                    .map(|(k, v)| (k.clone(), json!(v.len())))
                    .collect();
                print_json(&json!({"messageCount": snap.message_count(), "folders": c}));
            } else {
                print_json(&serde_json::to_value(&snap)?);
            }
            Ok(())
        }
        Cmd::Proxy {
            kind: ProxyCmd::Delay { upstream, ms },
        } => {
            let p = DelayProxy::start(upstream, Duration::from_millis(ms))?;
            println!(
                "{}",
                json!({"host": "127.0.0.1", "port": p.port(), "upstream": upstream.to_string(), "oneWayMs": ms})
            );
            let _ = std::io::stdout().flush();
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        Cmd::Proxy {
            kind: ProxyCmd::Fault { upstream },
        } => fault_proxy(upstream),
        Cmd::Proxy {
            kind:
                ProxyCmd::Refuse {
                    upstream,
                    create,
                    fetch,
                },
        } => {
            let refusal = match (create, fetch) {
                (Some(name), _) => Refusal::Create(name),
                (None, Some(name)) => Refusal::FetchBodies(name),
                (None, None) => return Err("give --create or --fetch".into()),
            };
            let p = RefusingProxy::start(upstream, refusal)?;
            println!(
                "{}",
                json!({"host": "127.0.0.1", "port": p.port(), "upstream": upstream.to_string()})
            );
            let _ = std::io::stdout().flush();
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        Cmd::ServeOauth {
            dir,
            client_id,
            client_secret,
        } => {
            let server = OAuthServer::start(&client_id, &client_secret)?;
            let info = json!({"pid": std::process::id(), "port": server.addr().port(),
                "tokenUrl": server.token_url(), "introspectionUrl": server.introspection_url()});
            let path = dir.join("oauth.json");
            let tmp = dir.join("oauth.json.tmp");
            std::fs::write(&tmp, info.to_string())?;
            std::fs::rename(&tmp, &path)?;
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
    }
}

fn seed_profile(dc: &Dovecot, user: &str, profile: Profile) -> BoxResult<usize> {
    let spec = mail::profile(profile.name()).ok_or("unknown profile")?;
    Ok(dc.seed(user, &mail::generate_mailbox(&spec))?)
}

#[allow(clippy::print_stdout, reason = "prints where the instance listens")]
fn start(
    dir: &Path,
    users: &str,
    seed: Option<Profile>,
    special_use: SpecialUse,
    capabilities: ServerProfile,
    fsync: bool,
    as_json: bool,
) -> BoxResult<()> {
    std::fs::create_dir_all(dir)?;
    let dir = std::fs::canonicalize(dir)?;
    if let Ok(dc) = Dovecot::attach(&dir)
        && dc
            .master_pid()
            .is_some_and(|p| Path::new(&format!("/proc/{p}")).exists())
        && std::net::TcpStream::connect(dc.imap_addr()).is_ok()
    {
        return Err(format!(
            "an instance already runs in {} (stop it first)",
            dir.display()
        )
        .into());
    }
    let mut opts = DovecotOptions::default().in_dir(&dir).profile(capabilities);
    opts.fsync = fsync;
    opts.special_use_names = match special_use {
        SpecialUse::Standard => SpecialUseNames::Standard,
        SpecialUse::Exchange => SpecialUseNames::ExchangeLike,
    };
    for pair in users.split(',').filter(|s| !s.is_empty()) {
        let (u, p) = pair
            .split_once(':')
            .ok_or_else(|| format!("--users: expected name:password, got {pair}"))?;
        opts.users.push((u.to_string(), p.to_string()));
    }

    // The OAuth server must outlive this command: run it in a detached helper process.
    let oauth_file = dir.join("oauth.json");
    let _ = std::fs::remove_file(&oauth_file);
    let mut helper = Command::new(std::env::current_exe()?);
    helper
        .arg("serve-oauth")
        .arg("--dir")
        .arg(&dir)
        .arg("--client-id")
        .arg(&opts.oauth_client_id)
        .arg("--client-secret")
        .arg(&opts.oauth_client_secret)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut helper, 0);
    let child = helper.spawn()?;
    let helper_pid = child.id();
    // Not waited for: it runs until `stop`. Dropping the handle does not kill it.
    drop(child);
    let started = Instant::now();
    let oauth: serde_json::Value = loop {
        if let Ok(text) = std::fs::read_to_string(&oauth_file)
            && let Ok(v) = serde_json::from_str(&text)
        {
            break v;
        }
        if started.elapsed() > Duration::from_secs(10) {
            return Err("the oauth helper did not start within 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    opts.external_oauth = Some(ExternalOAuth {
        token_url: oauth["tokenUrl"].as_str().unwrap_or_default().to_string(),
        introspection_url: oauth["introspectionUrl"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    });
    let mut dc = match Dovecot::start(opts) {
        Ok(dc) => dc,
        Err(e) => {
            let _ = Command::new("kill").arg(helper_pid.to_string()).status();
            return Err(e.into());
        }
    };
    dc.set_oauth_pid(Some(helper_pid))?;
    if let Some(profile) = seed {
        for u in dc.users() {
            seed_profile(&dc, &u, profile)?;
        }
    }
    let out = instance_json(&dc)?;
    let _ = dc.detach();
    if as_json {
        print_json(&out);
    } else {
        println!("dovecot running in {}", dir.display());
        println!("  imap  127.0.0.1:{} (STARTTLS)", out["imapPort"]);
        println!("  imaps 127.0.0.1:{}", out["imapsPort"]);
        println!("  ca    {}", out["caFile"].as_str().unwrap_or_default());
        println!(
            "  oauth {}",
            out["oauthTokenUrl"].as_str().unwrap_or_default()
        );
        println!("  stop with: imapmig-testkit stop --dir {}", dir.display());
    }
    Ok(())
}

#[allow(
    clippy::print_stdout,
    reason = "stdout is the control channel: address, then one reply per command"
)]
fn fault_proxy(upstream: SocketAddr) -> BoxResult<()> {
    let p = FaultProxy::start(upstream)?;
    println!(
        "{}",
        json!({"host": "127.0.0.1", "port": p.port(), "upstream": upstream.to_string()})
    );
    let _ = std::io::stdout().flush();
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let line = line?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let reply = match words.as_slice() {
            ["cut"] => json!({"cut": p.cut_all()}),
            ["cut-after", n] => match n.parse::<u64>() {
                Ok(n) => {
                    p.cut_after_bytes(n);
                    json!({"armed": n})
                }
                Err(_) => json!({"error": "cut-after needs a number"}),
            },
            ["refuse", "on"] => {
                p.set_refusing(true);
                json!({"refusing": true})
            }
            ["refuse", "off"] => {
                p.set_refusing(false);
                json!({"refusing": false})
            }
            ["stats"] => {
                json!({"connections": p.connections(), "live": p.live_connections(), "cuts": p.cuts(), "refused": p.refused()})
            }
            [] => continue,
            _ => json!({"error": format!("unknown command {line:?}")}),
        };
        println!("{reply}");
        let _ = std::io::stdout().flush();
    }
    // stdin closed: keep serving until killed, as the delay proxy does.
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

//! `imapmig-floor`: the bench's floor copier (see `imapmigration_bench::floor`) as a process of
//! its own, so the bench measures its wall time and peak memory like any other tool's.
//!
//! Usage: `imapmig-floor --source 127.0.0.1:PORT --target 127.0.0.1:PORT --map FILE [--parallel N]`
//! where each line of FILE is `source-login TAB source-password TAB target-login TAB target-password`.
//! Prints the copied counts as JSON.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use imapmigration_bench::floor::{self, Account, Options, Pair};

#[derive(Parser)]
#[command(
    name = "imapmig-floor",
    about = "Minimal pipelined MULTIAPPEND copier (the bench's floor)"
)]
struct Args {
    /// Source server, host:port (plain IMAP).
    #[arg(long)]
    source: SocketAddr,
    /// Target server, host:port (plain IMAP).
    #[arg(long)]
    target: SocketAddr,
    /// Mailboxes: one `src-login<TAB>src-password<TAB>dst-login<TAB>dst-password` per line.
    #[arg(long)]
    map: PathBuf,
    /// Folder copies at once, over all mailboxes.
    #[arg(long, env = "IMAPMIG_FLOOR_PARALLEL", default_value_t = Options::default().parallel)]
    parallel: usize,
    /// Messages per MULTIAPPEND command (1: one APPEND per message, still pipelined).
    #[arg(long, env = "IMAPMIG_FLOOR_BATCH", default_value_t = Options::default().batch_messages)]
    batch_messages: usize,
}

#[allow(
    clippy::print_stdout,
    reason = "the copy statistics go to stdout as JSON"
)]
fn main() -> ExitCode {
    let args = Args::parse();
    let text = match std::fs::read_to_string(&args.map) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", args.map.display());
            return ExitCode::FAILURE;
        }
    };
    let mut pairs = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 4 {
            eprintln!(
                "error: {} line {}: expected 4 tab-separated fields",
                args.map.display(),
                i + 1
            );
            return ExitCode::FAILURE;
        }
        let acc = |addr, l: &str, p: &str| Account {
            addr,
            login: l.to_string(),
            password: p.to_string(),
        };
        pairs.push(Pair {
            source: acc(args.source, f[0], f[1]),
            target: acc(args.target, f[2], f[3]),
        });
    }
    let opts = Options {
        parallel: args.parallel,
        batch_messages: args.batch_messages.max(1),
        ..Options::default()
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(floor::copy(pairs, opts)) {
        Ok(stats) => {
            println!("{}", serde_json::to_string(&stats).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

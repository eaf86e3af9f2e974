//! `imapmigration`: the background worker and a shell front end over the same engine and store
//! as the PowerShell cmdlets.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

mod cli;

#[derive(Parser)]
#[command(
    name = "imapmigration",
    version,
    about = "IMAP mailbox migration: worker and command line"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run batches from the state directory until stopped (foreground; for systemd). The
    /// PowerShell module starts it detached on its own.
    Worker {
        /// State directory (default: IMAPMIGRATION_HOME, XDG data dir, ~/.local/share/ImapMigration).
        #[arg(long)]
        home: Option<PathBuf>,
        /// Start a worker in the background and return at once.
        #[arg(long)]
        detach: bool,
        /// Serve the web console on ADDR (such as 127.0.0.1:8440; port 0 picks a free port),
        /// over Set-MigrationConfig -ConsoleListen. Anything but loopback needs
        /// -ConsoleCertificate and -ConsoleKey.
        #[arg(long, value_name = "ADDR")]
        console: Option<String>,
    },
    /// Migrate the mailboxes listed in an Exchange IMAP CSV now, in the foreground.
    Migrate(Box<cli::MigrateArgs>),
    /// Print the version.
    Version,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if matches!(args.command, Command::Worker { .. } | Command::Migrate(_)) {
        imapmigration::process::restrict_umask();
    }
    match args.command {
        Command::Version => {
            print_version();
            ExitCode::SUCCESS
        }
        Command::Worker {
            home,
            detach,
            console,
        } => {
            let home = imapmigration_store::paths::state_dir(home.as_deref());
            if detach {
                let exe = match std::env::current_exe() {
                    Ok(e) => e,
                    Err(e) => {
                        eprintln!("error: cannot find this program's path: {e}");
                        return ExitCode::FAILURE;
                    }
                };
                return match imapmigration::process::detach(&exe, &home) {
                    Ok(_) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("error: cannot start the worker: {e}");
                        ExitCode::FAILURE
                    }
                };
            }
            let _guard = imapmigration::worker::init_logging(&home);
            let rt = match tokio::runtime::Runtime::new() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            rt.block_on(async {
                if let Err(e) = imapmigration::console::check(&home, console.as_deref()).await {
                    eprintln!("error: the console cannot be served: {e}");
                    return ExitCode::FAILURE;
                }
                let shutdown = CancellationToken::new();
                cli::cancel_on_signals(shutdown.clone());
                let console_home = home.clone();
                let serve_console =
                    move |stop| imapmigration::console::serve(console_home, console, stop);
                match imapmigration::worker::run_daemon_with(&home, shutdown, serve_console).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(imapmigration::worker::WorkerError::Busy { pid, .. }) => {
                        eprintln!("another worker (pid {pid}) already owns {}", home.display());
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        tracing::error!(error = %e, "worker failed");
                        ExitCode::FAILURE
                    }
                }
            })
        }
        Command::Migrate(m) => cli::migrate(*m),
    }
}

/// `imapmigration version`: the program's name and version, one line on stdout.
#[allow(
    clippy::print_stdout,
    reason = "`version` prints the version, and only that"
)]
fn print_version() {
    println!("imapmigration {}", imapmigration::VERSION);
}

//! A throwaway PostgreSQL 15 cluster on 127.0.0.1 for the store's second backend.
//!
//! Debian's `postgresql` package puts `initdb`, `pg_ctl` and `psql` in
//! `/usr/lib/postgresql/15/bin` (override with `$IMAPMIGRATION_POSTGRES_BIN`). `initdb` and
//! `pg_ctl` refuse to run as root, so as root the cluster directory is handed to the `postgres`
//! user and every command runs through `runuser -u postgres --`. The cluster listens on a free
//! port of 127.0.0.1 (and a Unix socket in its own directory), with password authentication
//! (scram-sha-256) for the superuser [`PG_SUPERUSER`] / [`PG_PASSWORD`].
//!
//! `scripts/common.sh` `ensure_postgresql` installs the package and sets
//! `IMAPMIGRATION_REQUIRE_POSTGRES=1`; [`Postgres::start_or_skip`] then fails instead of
//! skipping when no cluster can be started.

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::util::{free_port, is_root, run, tail};

/// Where Debian's postgresql-15 package installs its programs.
pub const POSTGRES_BIN: &str = "/usr/lib/postgresql/15/bin";
/// The superuser of every cluster.
pub const PG_SUPERUSER: &str = "postgres";
/// Password of [`PG_SUPERUSER`].
pub const PG_PASSWORD: &str = "pgtestpass";
/// The environment variable that turns a skip into a failure.
pub const REQUIRE_ENV: &str = "IMAPMIGRATION_REQUIRE_POSTGRES";

/// The directory holding `initdb`, `pg_ctl` and `psql`.
pub fn postgres_bin() -> PathBuf {
    std::env::var_os("IMAPMIGRATION_POSTGRES_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(POSTGRES_BIN))
}

/// Whether a cluster can be started here: the programs exist and, as root, the `postgres`
/// user does too.
pub fn postgres_available() -> bool {
    let bin = postgres_bin();
    let programs = ["initdb", "pg_ctl", "psql"]
        .iter()
        .all(|p| bin.join(p).exists());
    programs && (!is_root() || postgres_ids().is_some())
}

/// The uid and gid of the `postgres` user, from /etc/passwd.
fn postgres_ids() -> Option<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() > 3 && f[0] == PG_SUPERUSER)
            .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
            .flatten()
    })
}

fn start_err(message: String, dir: &Path) -> Error {
    Error::PostgresStart {
        message,
        log_tail: tail(&dir.join("postgres.log"), 30),
    }
}

/// A running cluster; stops (`pg_ctl stop -m immediate`) and is deleted on drop.
pub struct Postgres {
    dir: PathBuf,
    _temp: tempfile::TempDir,
    port: u16,
    running: bool,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("dir", &self.dir)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Postgres {
    /// Starts a cluster when PostgreSQL is installed; `None` (with a note on stderr) when it is
    /// not, unless `IMAPMIGRATION_REQUIRE_POSTGRES=1`, which makes that a panic. A cluster that
    /// is installed but fails to start always panics.
    #[allow(clippy::panic)]
    pub fn start_or_skip() -> Option<Postgres> {
        if !postgres_available() {
            if std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1") {
                panic!(
                    "{REQUIRE_ENV}=1 but PostgreSQL is not installed in {} (run scripts/common.sh ensure_postgresql)",
                    postgres_bin().display()
                );
            }
            eprintln!(
                "skipped: PostgreSQL not installed in {} (apt-get install postgresql)",
                postgres_bin().display()
            );
            return None;
        }
        match Postgres::start() {
            Ok(pg) => Some(pg),
            Err(e) => panic!("{e}"),
        }
    }

    /// Creates a cluster in a new temporary directory and starts it.
    pub fn start() -> Result<Postgres> {
        if !postgres_available() {
            return Err(Error::PostgresStart {
                message: format!(
                    "initdb, pg_ctl or psql missing in {} (or no postgres user): run \
                     `scripts/common.sh` ensure_postgresql (apt-get install postgresql)",
                    postgres_bin().display()
                ),
                log_tail: String::new(),
            });
        }
        let temp = tempfile::Builder::new()
            .prefix("imapmig-pg-")
            .tempdir()
            .map_err(Error::io("create directory", std::env::temp_dir()))?;
        let dir = temp.path().to_path_buf();
        if is_root() {
            let (uid, gid) = postgres_ids().ok_or_else(|| Error::PostgresStart {
                message: "no postgres user".into(),
                log_tail: String::new(),
            })?;
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .map_err(Error::io("chown", dir.clone()))?;
        }
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
            .map_err(Error::io("chmod", dir.clone()))?;
        let pwfile = dir.join("pwfile");
        fs::write(&pwfile, PG_PASSWORD).map_err(Error::io("write", pwfile.clone()))?;
        if let Some((uid, gid)) = is_root().then(postgres_ids).flatten() {
            std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid))
                .map_err(Error::io("chown", pwfile.clone()))?;
        }
        let data = dir.join("data");
        run(pg_command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", PG_SUPERUSER, "--auth=scram-sha-256", "-E", "UTF8"])
            .arg("--locale=C")
            .arg(format!("--pwfile={}", pwfile.display())))
        .map_err(|e| start_err(format!("initdb: {e}"), &dir))?;
        let _ = fs::remove_file(&pwfile);
        let mut pg = Postgres {
            dir,
            _temp: temp,
            port: 0,
            running: false,
        };
        let mut last = None;
        for _ in 0..5 {
            pg.port = free_port()?;
            match pg.pg_start() {
                Ok(()) => return Ok(pg),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| start_err("no free port".into(), &pg.dir)))
    }

    fn pg_start(&mut self) -> Result<()> {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.display()
        );
        run(pg_command("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("postgres.log"))
            .args(["-w", "-t", "30", "-o", &opts, "start"]))
        .map_err(|e| start_err(format!("pg_ctl start: {e}"), &self.dir))?;
        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if Instant::now() > deadline {
                return Err(start_err(
                    format!("port {} not accepting within 10 s", self.port),
                    &self.dir,
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.running = true;
        Ok(())
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's directory (data/, postgres.log, the Unix socket).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A connection string for `database` as the superuser, over TCP.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{PG_SUPERUSER}:{PG_PASSWORD}@127.0.0.1:{}/{database}",
            self.port
        )
    }

    /// Runs SQL with `psql` against `database` (as the superuser, over TCP), returning its
    /// unaligned, tuples-only output.
    pub fn psql(&self, database: &str, sql: &str) -> Result<String> {
        let mut cmd = Command::new(postgres_bin().join("psql"));
        cmd.env("PGPASSWORD", PG_PASSWORD)
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-U", PG_SUPERUSER])
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-d")
            .arg(database)
            .arg("-c")
            .arg(sql);
        run(&mut cmd)
    }

    /// Creates an empty database and returns its connection string.
    pub fn create_database(&self, name: &str) -> Result<String> {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""))?;
        Ok(self.url(name))
    }

    /// Stops the cluster at once (`pg_ctl stop -m immediate`, a crash for the clients).
    pub fn stop(&mut self) -> Result<()> {
        if !self.running {
            return Ok(());
        }
        self.running = false;
        run(pg_command("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"]))
        .map(|_| ())
    }

    /// Starts a cluster [`Self::stop`] stopped, on the same port.
    pub fn start_again(&mut self) -> Result<()> {
        if self.running {
            return Ok(());
        }
        self.pg_start()
    }

    /// Stops the cluster and starts it again on the same port (clients lose their
    /// connections; committed data survives).
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        self.pg_start()
    }

    /// The end of the server log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.dir.join("postgres.log"), lines)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// `initdb`/`pg_ctl` as the current user, or through `runuser -u postgres --` as root.
fn pg_command(program: &str) -> Command {
    let path = postgres_bin().join(program);
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", PG_SUPERUSER, "--"]).arg(path);
        c
    } else {
        Command::new(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_starts_answers_restarts_and_stops() {
        let Some(mut pg) = Postgres::start_or_skip() else {
            return;
        };
        let url = pg.create_database("t1").unwrap();
        assert!(url.ends_with("/t1"));
        pg.psql("t1", "CREATE TABLE x (v int); INSERT INTO x VALUES (7)")
            .unwrap();
        pg.restart().unwrap();
        assert_eq!(pg.psql("t1", "SELECT v FROM x").unwrap().trim(), "7");
        let dir = pg.dir().to_path_buf();
        drop(pg);
        assert!(!dir.exists());
    }
}

//! Starting and stopping the Dovecot master process of an instance.

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{DOVECOT_BIN, Dovecot};
use crate::error::{Error, Result};
use crate::util::{self, tail};

impl Dovecot {
    pub(super) fn launch(&mut self) -> Result<()> {
        let _ = fs::remove_file(self.dir.join("run/master.pid"));
        // The daemon keeps the stdout/stderr it inherits open, so capturing them through pipes
        // (`Command::output`) would wait for the daemon's exit: send them to a file instead.
        let errlog = self.dir.join("dovecot.stderr");
        let errfile = fs::File::create(&errlog).map_err(Error::io("create", &errlog))?;
        let errfile2 = errfile.try_clone().map_err(Error::io("open", &errlog))?;
        let status = Command::new(DOVECOT_BIN)
            .arg("-c")
            .arg(self.config_path())
            .stdin(std::process::Stdio::null())
            .stdout(errfile)
            .stderr(errfile2)
            .status()
            .map_err(|e| Error::Start {
                message: format!("cannot run {DOVECOT_BIN}: {e}"),
                log_tail: String::new(),
            })?;
        if !status.success() {
            return Err(Error::Start {
                message: format!(
                    "{DOVECOT_BIN} exited with {status}: {}",
                    fs::read_to_string(&errlog).unwrap_or_default().trim()
                ),
                log_tail: tail(&self.log_path(), 30),
            });
        }
        let start = Instant::now();
        let addr: SocketAddr = ([127, 0, 0, 1], self.imap_port).into();
        loop {
            if self.master_pid.is_none()
                && let Ok(p) = fs::read_to_string(self.dir.join("run/master.pid"))
            {
                self.master_pid = p.trim().parse().ok();
            }
            if let Some(pid) = self.master_pid
                && !util::pid_alive(pid)
            {
                self.master_pid = None;
                return Err(Error::Start {
                    message: "the master process exited".into(),
                    log_tail: tail(&self.log_path(), 30),
                });
            }
            if self.master_pid.is_some()
                && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            {
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(10) {
                let tail = tail(&self.log_path(), 30);
                self.kill_master();
                return Err(Error::Start {
                    message: format!("127.0.0.1:{} did not accept within 10 s", self.imap_port),
                    log_tail: tail,
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn kill_master(&mut self) {
        if let Some(pid) = self.master_pid.take() {
            // Only our master: after a crash the recorded pid may belong to another process now.
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let conf = self.config_path();
            if !String::from_utf8_lossy(&cmdline).contains(&*conf.to_string_lossy()) {
                return;
            }
            util::terminate_tree(pid, Duration::from_millis(500));
        }
    }

    /// Stops Dovecot (SIGTERM to the master, 0.5 s grace, then SIGKILL to it and its children), the OAuth server and
    /// any OAuth helper process. Idempotent.
    pub fn stop(&mut self) -> Result<()> {
        if self.master_pid.is_none()
            && let Ok(p) = fs::read_to_string(self.dir.join("run/master.pid"))
        {
            self.master_pid = p.trim().parse().ok();
        }
        let pid = self.master_pid;
        self.kill_master();
        // A master killed with SIGKILL leaves its pid file; a restart in this directory must
        // not mistake a recycled pid for a running Dovecot.
        let _ = fs::remove_file(self.dir.join("run/master.pid"));
        if let Some(p) = self.oauth_pid.take() {
            util::terminate(p, Duration::from_secs(2));
        }
        self.oauth = None;
        if let Some(pid) = pid
            && util::pid_alive(pid)
        {
            return Err(Error::Protocol(format!(
                "dovecot master {pid} did not exit"
            )));
        }
        Ok(())
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        if !self.keep_running {
            let _ = self.stop();
        }
    }
}

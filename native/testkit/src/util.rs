//! Small process, file and socket helpers shared by the modules.

use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Runs a command to completion; a non-zero exit is an error carrying its stderr.
pub(crate) fn run(cmd: &mut Command) -> Result<String> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::Command {
            command: shown.clone(),
            status: "not started".into(),
            stderr: source.to_string(),
        })?;
    if !out.status.success() {
        return Err(Error::Command {
            command: shown,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A port that was free a moment ago. Binding port 0 lets the kernel pick; the socket is
/// closed again before Dovecot binds it, so a start retries when the port is taken meanwhile.
pub(crate) fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(Error::net("bind 127.0.0.1:0"))?;
    let port = l
        .local_addr()
        .map_err(Error::net("read local address"))?
        .port();
    Ok(port)
}

/// Is `pid` a live (non-zombie) process?
pub(crate) fn pid_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the parenthesised command name.
        Ok(stat) => match stat.rfind(')') {
            Some(i) => !matches!(
                stat[i + 1..].trim_start().chars().next(),
                Some('Z') | Some('X')
            ),
            None => true,
        },
        Err(_) => false,
    }
}

/// Sends a signal with `kill(1)`: the crate denies `unsafe`, and these pids are not our children.
pub(crate) fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Direct children of `pid` (from /proc).
pub(crate) fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(child) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if let Ok(stat) = fs::read_to_string(format!("/proc/{child}/stat"))
            && let Some(i) = stat.rfind(')')
            && stat[i + 1..]
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u32>().ok())
                == Some(pid)
        {
            out.push(child);
        }
    }
    out
}

/// Stops a daemon and its children: SIGTERM to the parent, `grace` for an orderly exit, then
/// SIGKILL to whatever is left. Dovecot's login processes can linger for seconds after the
/// master is told to stop (waiting on auth or stats handshakes) while holding the listening
/// sockets, which a throwaway test server has no reason to wait for.
pub(crate) fn terminate_tree(pid: u32, grace: Duration) -> bool {
    let kids = children(pid);
    let master_gone = terminate(pid, grace);
    let start = Instant::now();
    for k in &kids {
        let left = grace.saturating_sub(start.elapsed());
        if !wait_gone(*k, left) {
            signal(*k, "KILL");
        }
    }
    for k in &kids {
        wait_gone(*k, Duration::from_secs(2));
    }
    master_gone
}

/// SIGTERM, wait up to `grace`, then SIGKILL and wait a little more.
pub(crate) fn terminate(pid: u32, grace: Duration) -> bool {
    if !pid_alive(pid) {
        return true;
    }
    signal(pid, "TERM");
    if wait_gone(pid, grace) {
        return true;
    }
    signal(pid, "KILL");
    wait_gone(pid, Duration::from_secs(2))
}

fn wait_gone(pid: u32, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if !pid_alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    !pid_alive(pid)
}

/// The last `max_lines` lines of a text file (empty if unreadable).
pub(crate) fn tail(path: &Path, max_lines: usize) -> String {
    let mut s = String::new();
    if let Ok(mut f) = fs::File::open(path) {
        let mut buf = Vec::new();
        let _ = f.read_to_end(&mut buf);
        s = String::from_utf8_lossy(&buf).into_owned();
    }
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(max_lines)..].join("\n")
}

/// Writes a file through a temporary name and rename, so readers never see half of it.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp~");
    fs::write(&tmp, data).map_err(Error::io("write", &tmp))?;
    fs::rename(&tmp, path).map_err(Error::io("rename", path))
}

/// `chown -R uid:gid` without following symlinks.
pub(crate) fn chown_tree(root: &Path, uid: u32, gid: u32) -> Result<()> {
    std::os::unix::fs::lchown(root, Some(uid), Some(gid)).map_err(Error::io("chown", root))?;
    let meta = fs::symlink_metadata(root).map_err(Error::io("stat", root))?;
    if meta.is_dir() {
        for entry in fs::read_dir(root).map_err(Error::io("read directory", root))? {
            let entry = entry.map_err(Error::io("read directory", root))?;
            chown_tree(&entry.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// Are we root? (Decides whether files must be handed to the mail uid.)
pub(crate) fn is_root() -> bool {
    // Reading our own uid from procfs keeps this free of `unsafe`.
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

//! Running the processes that copy: wall time, peak RSS (GNU time's `%M`, the maximum resident
//! set size from wait4's rusage), timeouts, and the peak of a long-running process from
//! `/proc/<pid>/status` (VmHWM); CPU time of a process, of a process tree (a server and the
//! processes it forks) and of the whole machine from `/proc`, in clock ticks.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// GNU time; `apt-get install time`.
pub const GNU_TIME: &str = "/usr/bin/time";

/// One measured process.
pub struct Timed {
    child: Child,
    rss_file: PathBuf,
    log: PathBuf,
    label: String,
}

impl Timed {
    /// The process id of GNU time, which leads the process group.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// How a measured process ended.
#[derive(Debug, Clone)]
pub struct Ended {
    /// The label given to [`spawn`]: which tool and run this was.
    pub label: String,
    /// Exited with status 0 before the deadline.
    pub success: bool,
    /// Killed (with its process group) at the deadline; `success` is then false.
    pub timed_out: bool,
    /// Peak RSS in KiB (0 when unknown).
    pub rss_kib: u64,
    /// stdout and stderr, for the record when something failed.
    pub log: PathBuf,
}

/// Starts `cmd` under GNU time in a process group of its own (so a timeout can end the tool and
/// everything it started); stdout and stderr go to `<dir>/<label>.log`.
pub fn spawn(cmd: Command, dir: &Path, label: &str) -> std::io::Result<Timed> {
    use std::os::unix::process::CommandExt as _;
    let rss_file = dir.join(format!("{label}.rss"));
    let log = dir.join(format!("{label}.log"));
    let out = std::fs::File::create(&log)?;
    let err = out.try_clone()?;
    let mut wrapped = Command::new(GNU_TIME);
    wrapped
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss_file)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    if let Some(d) = cmd.get_current_dir() {
        wrapped.current_dir(d);
    }
    wrapped
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    let child = wrapped.spawn()?;
    Ok(Timed {
        child,
        rss_file,
        log,
        label: label.to_string(),
    })
}

/// Sends `signal` to the process group `pgid` (the `kill` utility: no unsafe code here).
pub fn kill_group(pgid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{pgid}"))
        .stderr(Stdio::null())
        .status();
}

/// Sends `signal` to one process.
pub fn kill_pid(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

/// Waits for all processes; those still running at `deadline` are killed (with their groups).
/// Returns when the last one ended, and how each ended.
pub fn wait_all(mut procs: Vec<Timed>, deadline: Instant) -> (Instant, Vec<Ended>) {
    let mut ended: Vec<Option<Ended>> = procs.iter().map(|_| None).collect();
    let mut last = Instant::now();
    loop {
        let mut running = 0;
        for (i, p) in procs.iter_mut().enumerate() {
            if ended[i].is_some() {
                continue;
            }
            match p.child.try_wait() {
                Ok(Some(status)) => {
                    last = Instant::now();
                    ended[i] = Some(Ended {
                        label: p.label.clone(),
                        success: status.success(),
                        timed_out: false,
                        rss_kib: read_rss(&p.rss_file),
                        log: p.log.clone(),
                    });
                }
                Ok(None) => running += 1,
                Err(_) => {
                    ended[i] = Some(Ended {
                        label: p.label.clone(),
                        success: false,
                        timed_out: false,
                        rss_kib: 0,
                        log: p.log.clone(),
                    });
                }
            }
        }
        if running == 0 {
            break;
        }
        if Instant::now() >= deadline {
            for (i, p) in procs.iter_mut().enumerate() {
                if ended[i].is_none() {
                    kill_group(p.child.id(), "KILL");
                    let _ = p.child.wait();
                    ended[i] = Some(Ended {
                        label: p.label.clone(),
                        success: false,
                        timed_out: true,
                        rss_kib: 0,
                        log: p.log.clone(),
                    });
                }
            }
            last = Instant::now();
            break;
        }
        // Fine enough for runs of a tenth of a second and more, cheap enough not to matter.
        std::thread::sleep(Duration::from_millis(2));
    }
    (last, ended.into_iter().flatten().collect())
}

fn read_rss(path: &Path) -> u64 {
    // GNU time writes "Command exited with non-zero status N" before the value on failure.
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| {
            t.lines()
                .filter_map(|l| l.trim().parse::<u64>().ok())
                .next_back()
        })
        .unwrap_or(0)
}

/// A process's peak RSS so far (VmHWM, KiB) from /proc.
pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The last `n` lines of a log file, for failure notes.
pub fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// Clock ticks per second, the unit of the CPU times in `/proc` (`getconf CLK_TCK`; 100 when
/// that cannot be asked).
pub fn clock_ticks_per_s() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .filter(|t| *t > 0)
        .unwrap_or(100)
}

/// From `/proc/<pid>/stat`: the parent, the process's own CPU ticks (utime + stime) and those of
/// the children it has waited for (cutime + cstime).
fn stat_cpu(pid: u32) -> Option<(u32, u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces and parentheses itself.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state): ppid is field 4, utime..cstime fields 14..17.
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    let ppid = f.get(1)?.parse().ok()?;
    Some((ppid, num(11)? + num(12)?, num(13)? + num(14)?))
}

/// CPU ticks one process has used so far (utime + stime).
pub fn process_cpu_ticks(pid: u32) -> Option<u64> {
    stat_cpu(pid).map(|(_, own, _)| own)
}

/// CPU ticks a process and all its descendants have used so far: each live process's own
/// time and what its ended children used (they are counted in their parent's cutime and
/// cstime once it has reaped them, as Dovecot's master does with every `imap` process).
pub fn tree_cpu_ticks(root: u32) -> u64 {
    let procs: Vec<(u32, u32, u64)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| stat_cpu(pid).map(|(ppid, own, waited)| (pid, ppid, own + waited)))
        .collect();
    let mut tree = vec![root];
    let mut total = 0;
    let mut i = 0;
    while let Some(&pid) = tree.get(i) {
        i += 1;
        for (p, ppid, ticks) in &procs {
            if *p == pid {
                total += ticks;
            } else if *ppid == pid {
                tree.push(*p);
            }
        }
    }
    total
}

/// The machine's CPU ticks so far, summed over its cores: (busy, all), from the `cpu` line of
/// `/proc/stat` (busy is all but idle and iowait).
pub fn machine_cpu_ticks() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    // user nice system idle iowait irq softirq steal (guest time is inside user already).
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 8 {
        return None;
    }
    let all: u64 = v.iter().sum();
    Some((all - v[3] - v[4], all))
}

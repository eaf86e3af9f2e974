//! A throwaway Cyrus IMAP 3.6 on 127.0.0.1, run as the harness runs Dovecot: its own directory,
//! a private `imapd.conf` and `cyrus.conf`, Cyrus' `master` starting `imapd` on a free port.
//!
//! Debian's `cyrus-imapd` package conflicts with `dovecot-imapd`, but `cyrus-common` (master,
//! ctl_cyrusdb) and `sasl2-bin` (saslpasswd2) install beside Dovecot; `imapd` itself is
//! unpacked from the `cyrus-imapd` package (`scripts/common.sh` `ensure_cyrus` does all of
//! it). [`imapd_path`] says where it is looked for.
//!
//! What an instance offers:
//! - users in a private sasldb (`saslpasswd2 -f`), plaintext LOGIN and PLAIN allowed, INBOX
//!   created at first login;
//! - an admin, [`CYRUS_ADMIN`] / [`CYRUS_ADMIN_PASSWORD`], in `admins:` and `proxyservers:`,
//!   so SASL PLAIN with authzid `alice`, authcid `cyrusadmin` logs in as alice (Cyrus has no
//!   master-user login: this is AuthorizationId);
//! - hierarchy separator `/` (`unixhierarchysep: yes`) or `.` (the Cyrus default), and
//!   `virtdomains: userid` on request (`alice@example.com` is user alice of example.com);
//! - `munge8bit: no` unless asked: Cyrus' default rewrites 8-bit header bytes on APPEND.
//!
//! Running as root, `master` drops to the `cyrus` user (created by cyrus-common), so the
//! instance directory is handed to `cyrus:mail`.

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::util::{self, free_port, is_root, tail, write_atomic};

/// Cyrus' master process (package cyrus-common).
pub const CYRUS_MASTER: &str = "/usr/lib/cyrus/bin/master";
/// Where `ensure_cyrus` unpacks the cyrus-imapd package.
pub const CYRUS_UNPACKED: &str = "/opt/imapmigration-cyrus";
/// The admin of every instance (in `admins:` and `proxyservers:`).
pub const CYRUS_ADMIN: &str = "cyrusadmin";
/// Password of [`CYRUS_ADMIN`].
pub const CYRUS_ADMIN_PASSWORD: &str = "adminpass";

/// `imapd`: `$IMAPMIGRATION_CYRUS_IMAPD`, else the installed package's, else the one
/// `ensure_cyrus` unpacked under [`CYRUS_UNPACKED`].
pub fn imapd_path() -> PathBuf {
    if let Some(p) = std::env::var_os("IMAPMIGRATION_CYRUS_IMAPD") {
        return PathBuf::from(p);
    }
    let installed = Path::new("/usr/lib/cyrus/bin/imapd");
    if installed.exists() {
        return installed.to_path_buf();
    }
    Path::new(CYRUS_UNPACKED).join("usr/lib/cyrus/bin/imapd")
}

/// Whether Cyrus can be started here (master, imapd and saslpasswd2 present).
pub fn cyrus_available() -> bool {
    Path::new(CYRUS_MASTER).exists()
        && imapd_path().exists()
        && Path::new("/usr/sbin/saslpasswd2").exists()
}

/// How to start an instance.
#[derive(Debug, Clone)]
pub struct CyrusOptions {
    /// Users (login name, password); with `virtdomains`, names are `user@domain`.
    pub users: Vec<(String, String)>,
    /// Hierarchy separator: `'/'` (`unixhierarchysep: yes`) or `'.'`.
    pub separator: char,
    /// `virtdomains: userid`.
    pub virtdomains: bool,
    /// Keep Cyrus' default `munge8bit: yes` (8-bit header bytes rewritten on APPEND).
    pub munge8bit: bool,
}

impl Default for CyrusOptions {
    fn default() -> Self {
        CyrusOptions {
            users: Vec::new(),
            separator: '/',
            virtdomains: false,
            munge8bit: false,
        }
    }
}

impl CyrusOptions {
    /// Adds a user.
    pub fn user(mut self, name: &str, password: &str) -> Self {
        self.users.push((name.into(), password.into()));
        self
    }
    /// Chooses the hierarchy separator (`'/'` or `'.'`).
    pub fn separator(mut self, sep: char) -> Self {
        self.separator = sep;
        self
    }
}

/// A running instance; stops (master and its children) on drop.
pub struct Cyrus {
    dir: PathBuf,
    _temp: tempfile::TempDir,
    port: u16,
    separator: char,
    master: Option<Child>,
}

impl std::fmt::Debug for Cyrus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cyrus")
            .field("dir", &self.dir)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

fn start_err(message: String, dir: &Path) -> Error {
    Error::CyrusStart {
        message,
        log_tail: tail(&dir.join("master.log"), 30),
    }
}

impl Cyrus {
    /// Starts an instance and waits until its port accepts connections.
    pub fn start(opts: CyrusOptions) -> Result<Cyrus> {
        if !cyrus_available() {
            return Err(Error::CyrusStart {
                message: format!(
                    "{CYRUS_MASTER}, {} or /usr/sbin/saslpasswd2 is missing: run \
                     `scripts/common.sh` ensure_cyrus (apt-get install --no-install-recommends \
                     cyrus-common sasl2-bin; apt-get download cyrus-imapd; dpkg-deb -x it into \
                     {CYRUS_UNPACKED})",
                    imapd_path().display()
                ),
                log_tail: String::new(),
            });
        }
        if opts.separator != '/' && opts.separator != '.' {
            return Err(Error::InvalidArgument(format!(
                "cyrus separator {:?}: only '/' and '.'",
                opts.separator
            )));
        }
        let temp = tempfile::Builder::new()
            .prefix("imapmig-cyrus-")
            .tempdir()
            .map_err(Error::io("create temp directory", std::env::temp_dir()))?;
        let dir = temp.path().to_path_buf();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))
            .map_err(Error::io("chmod", &dir))?;
        for sub in ["config", "spool", "sieve", "socket", "lock", "proc", "run"] {
            let p = dir.join(sub);
            fs::create_dir_all(&p).map_err(Error::io("create directory", &p))?;
        }
        let port = free_port()?;
        let conf = dir.join("imapd.conf");
        write_atomic(&conf, render_imapd_conf(&dir, &opts).as_bytes())?;
        write_atomic(
            &dir.join("cyrus.conf"),
            render_cyrus_conf(&conf, port).as_bytes(),
        )?;
        let mut c = Cyrus {
            dir: dir.clone(),
            _temp: temp,
            port,
            separator: opts.separator,
            master: None,
        };
        let admin = (CYRUS_ADMIN.to_string(), CYRUS_ADMIN_PASSWORD.to_string());
        for (u, p) in opts.users.iter().chain(std::iter::once(&admin)) {
            c.add_user(u, p)?;
        }
        if is_root() {
            util::run(Command::new("chown").arg("-R").arg("cyrus:mail").arg(&dir))?;
        }
        c.launch()?;
        Ok(c)
    }

    fn launch(&mut self) -> Result<()> {
        let log = self.dir.join("master.log");
        let out = fs::File::create(&log).map_err(Error::io("create", &log))?;
        let err = out.try_clone().map_err(Error::io("open", &log))?;
        let child = Command::new(CYRUS_MASTER)
            .arg("-C")
            .arg(self.dir.join("imapd.conf"))
            .arg("-M")
            .arg(self.dir.join("cyrus.conf"))
            .arg("-p")
            .arg(self.dir.join("run/master.pid"))
            .arg("-D")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| start_err(format!("cannot run {CYRUS_MASTER}: {e}"), &self.dir))?;
        self.master = Some(child);
        let start = Instant::now();
        loop {
            if let Some(m) = self.master.as_mut()
                && let Ok(Some(status)) = m.try_wait()
            {
                self.master = None;
                return Err(start_err(format!("master exited with {status}"), &self.dir));
            }
            if TcpStream::connect_timeout(&self.imap_addr(), Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(15) {
                self.stop();
                return Err(start_err(
                    format!("127.0.0.1:{} did not accept within 15 s", self.port),
                    &self.dir,
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Adds a sasldb user (works while the server runs).
    pub fn add_user(&self, name: &str, password: &str) -> Result<()> {
        use std::io::Write as _;
        let db = self.dir.join("sasldb2");
        let mut cmd = Command::new("/usr/sbin/saslpasswd2");
        cmd.arg("-f").arg(&db).arg("-c").arg("-p");
        match name.split_once('@') {
            Some((user, domain)) => cmd.arg("-u").arg(domain).arg(user),
            None => cmd.arg(name),
        };
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(Error::io("run", "/usr/sbin/saslpasswd2"))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(password.as_bytes())
                .map_err(Error::io("write to", "/usr/sbin/saslpasswd2"))?;
        }
        let out = child
            .wait_with_output()
            .map_err(Error::io("run", "/usr/sbin/saslpasswd2"))?;
        if !out.status.success() {
            return Err(Error::Command {
                command: format!("saslpasswd2 -f {} -c -p {name}", db.display()),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        if is_root() {
            util::run(Command::new("chown").arg("cyrus:mail").arg(&db))?;
        }
        Ok(())
    }

    /// Stops master and its children. Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut m) = self.master.take() {
            util::terminate_tree(m.id(), Duration::from_secs(2));
            let _ = m.wait();
        }
    }

    /// Always `127.0.0.1`.
    pub fn host(&self) -> &str {
        "127.0.0.1"
    }
    /// The plain IMAP port (plaintext login allowed, no TLS).
    pub fn port(&self) -> u16 {
        self.port
    }
    /// `127.0.0.1:<port>`.
    pub fn imap_addr(&self) -> SocketAddr {
        ([127, 0, 0, 1], self.port).into()
    }
    /// The hierarchy separator.
    pub fn separator(&self) -> char {
        self.separator
    }
    /// The instance directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Cyrus {
    fn drop(&mut self) {
        self.stop();
    }
}

fn render_imapd_conf(d: &Path, opts: &CyrusOptions) -> String {
    let d = d.display();
    format!(
        "# Generated by imapmigration-testkit; see native/testkit/src/cyrus.rs\n\
         configdirectory: {d}/config\n\
         partition-default: {d}/spool\n\
         sievedir: {d}/sieve\n\
         admins: {CYRUS_ADMIN}\n\
         proxyservers: {CYRUS_ADMIN}\n\
         sasl_pwcheck_method: auxprop\n\
         sasl_auxprop_plugin: sasldb\n\
         sasl_sasldb_path: {d}/sasldb2\n\
         sasl_mech_list: PLAIN LOGIN\n\
         allowplaintext: yes\n\
         unixhierarchysep: {unix}\n\
         virtdomains: {virt}\n\
         munge8bit: {munge}\n\
         autocreate_quota: 0\n\
         idlesocket: {d}/socket/idle\n\
         notifysocket: {d}/socket/notify\n\
         lmtpsocket: {d}/socket/lmtp\n\
         mboxname_lockpath: {d}/lock\n\
         proc_path: {d}/proc\n\
         statuscache: no\n\
         syslog_prefix: imapmig-cyrus\n",
        unix = if opts.separator == '/' { "yes" } else { "no" },
        virt = if opts.virtdomains { "userid" } else { "off" },
        munge = if opts.munge8bit { "yes" } else { "no" },
    )
}

fn render_cyrus_conf(imapd_conf: &Path, port: u16) -> String {
    let conf = imapd_conf.display();
    format!(
        "# Generated by imapmigration-testkit; see native/testkit/src/cyrus.rs\n\
         START {{\n  recover cmd=\"/usr/lib/cyrus/bin/ctl_cyrusdb -C {conf} -r\"\n}}\n\
         SERVICES {{\n  imap cmd=\"{imapd} -C {conf}\" listen=\"127.0.0.1:{port}\" prefork=0 maxchild=100\n}}\n\
         EVENTS {{\n}}\n\
         DAEMON {{\n}}\n",
        imapd = imapd_path().display(),
    )
}

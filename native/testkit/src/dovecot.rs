//! A throwaway Dovecot 2.3 on 127.0.0.1, configured from scratch in its own directory.
//!
//! What an instance offers:
//! - a plain port with STARTTLS (plaintext LOGIN allowed) and an implicit-TLS port, with a
//!   certificate for `localhost`/`127.0.0.1` signed by a per-instance test CA ([`Dovecot::ca_file`]);
//! - passwd-file users ([`Dovecot::add_user`] works while it runs: Dovecot re-reads the file
//!   when its mtime or size changes);
//! - a master user `admin`/`adminpass`: `alice*admin` logs in as alice, and so does SASL PLAIN
//!   with authzid `alice`, authcid `admin`;
//! - XOAUTH2 and OAUTHBEARER through Dovecot's oauth2 passdb, which introspects tokens at the
//!   [`OAuthServer`] this crate runs (or an external one, for the detached binary);
//! - special-use folders with standard or Exchange-like names, auto-created and subscribed;
//! - Maildir++ (`maildir:~/Maildir`) with the `listescape` plugin and `/` as separator.
//!
//! Running as root (Debian's `dovecot`/`dovenull` users exist): Dovecot's login processes refuse
//! root and mail must not be uid 0, so mail belongs to `nobody:nogroup`, and the instance
//! directory is made world-traversable (0755).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::maildir::{self, MessageRef, SeedFolder, SeedMessage};
use crate::oauth::OAuthServer;
use crate::snapshot::{Snapshot, maildir_snapshot};
use crate::util::{self, chown_tree, free_port, is_root, run, tail, write_atomic};
use crate::{MAIL_GID, MAIL_UID, MASTER_PASSWORD, MASTER_SEPARATOR, MASTER_USER};

/// Path of the dovecot binary (Debian installs it in sbin).
pub const DOVECOT_BIN: &str = "/usr/sbin/dovecot";

/// How the five special-use folders are named.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SpecialUseNames {
    /// `Drafts`, `Sent`, `Trash`, `Junk`, `Archive`.
    #[default]
    Standard,
    /// `Drafts`, `Sent Items`, `Deleted Items`, `Junk Email`, `Archive` (as Exchange names them).
    ExchangeLike,
}

impl SpecialUseNames {
    /// (folder name, special-use attribute) pairs, RFC 6154.
    pub fn folders(self) -> [(&'static str, &'static str); 5] {
        match self {
            SpecialUseNames::Standard => [
                ("Drafts", "\\Drafts"),
                ("Sent", "\\Sent"),
                ("Trash", "\\Trash"),
                ("Junk", "\\Junk"),
                ("Archive", "\\Archive"),
            ],
            SpecialUseNames::ExchangeLike => [
                ("Drafts", "\\Drafts"),
                ("Sent Items", "\\Sent"),
                ("Deleted Items", "\\Trash"),
                ("Junk Email", "\\Junk"),
                ("Archive", "\\Archive"),
            ],
        }
    }

    /// The folder carrying a special-use attribute (`"\\Sent"` → `Sent` or `Sent Items`).
    pub fn name_of(self, attribute: &str) -> Option<&'static str> {
        self.folders()
            .iter()
            .find(|(_, a)| a.eq_ignore_ascii_case(attribute))
            .map(|(n, _)| *n)
    }
}

/// Token and introspection endpoints served by someone else (the detached binary runs its
/// [`OAuthServer`] in a helper process).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalOAuth {
    pub token_url: String,
    pub introspection_url: String,
}

/// How to start an instance. `Default` gives no users, standard names, no fsync, a temp dir.
#[derive(Debug, Clone)]
pub struct DovecotOptions {
    /// Users (name, password) present from the start.
    pub users: Vec<(String, String)>,
    pub special_use_names: SpecialUseNames,
    /// Keep Dovecot's fsync calls (`mail_fsync = optimized`); off by default for speed.
    pub fsync: bool,
    /// Run in this directory (created if needed, kept after stop) instead of a temp dir.
    pub dir: Option<PathBuf>,
    /// OAuth2 client the token endpoint accepts.
    pub oauth_client_id: String,
    pub oauth_client_secret: String,
    /// Use these endpoints instead of starting an in-process [`OAuthServer`].
    pub external_oauth: Option<ExternalOAuth>,
    /// Serve `maildir:<root>/%u` instead of per-user homes (see [`Dovecot::serve_maildir`]).
    pub maildir_root: Option<PathBuf>,
    /// Log auth decisions in detail (`auth_debug = yes`).
    pub auth_debug: bool,
    /// Appended verbatim to dovecot.conf.
    pub extra_config: String,
}

impl Default for DovecotOptions {
    fn default() -> Self {
        DovecotOptions {
            users: Vec::new(),
            special_use_names: SpecialUseNames::Standard,
            fsync: false,
            dir: None,
            oauth_client_id: "imapmigration-test-client".into(),
            oauth_client_secret: "test-client-secret".into(),
            external_oauth: None,
            maildir_root: None,
            auth_debug: false,
            extra_config: String::new(),
        }
    }
}

impl DovecotOptions {
    /// Adds a user present from the start.
    pub fn user(mut self, name: &str, password: &str) -> Self {
        self.users.push((name.to_string(), password.to_string()));
        self
    }

    /// Chooses the special-use folder names.
    pub fn special_use(mut self, names: SpecialUseNames) -> Self {
        self.special_use_names = names;
        self
    }

    /// Keeps fsync on (slower, closer to production).
    pub fn with_fsync(mut self) -> Self {
        self.fsync = true;
        self
    }

    /// Runs in this directory instead of a temporary one.
    pub fn in_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }
}

/// Everything a client needs to reach an instance; also the `testkit.json` state file in its
/// directory and what the binary prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceInfo {
    pub host: String,
    pub imap_port: u16,
    pub imaps_port: u16,
    pub ca_file: PathBuf,
    pub dir: PathBuf,
    pub log_path: PathBuf,
    pub config_path: PathBuf,
    pub users: Vec<String>,
    pub master_user: String,
    pub master_password: String,
    pub master_separator: String,
    pub oauth_token_url: Option<String>,
    pub oauth_introspection_url: Option<String>,
    pub oauth_client_id: String,
    pub oauth_client_secret: String,
    pub special_use: SpecialUseNames,
    pub special_use_folders: BTreeMap<String, String>,
    /// `maildir:<root>/%u` root when serving a Maildir tree; null for per-user homes.
    pub maildir_root: Option<PathBuf>,
    pub master_pid: Option<u32>,
    /// Pid of the helper process serving OAuth for a detached instance.
    pub oauth_pid: Option<u32>,
}

/// Counts Dovecot reports for a folder (`doveadm mailbox status`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxStatus {
    pub messages: u32,
    pub uidnext: u32,
    pub uidvalidity: u32,
}

/// A running instance. Stops (kills the master process and waits) on drop, unless attached or
/// detached.
pub struct Dovecot {
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    imap_port: u16,
    imaps_port: u16,
    master_pid: Option<u32>,
    oauth: Option<OAuthServer>,
    external_oauth: Option<ExternalOAuth>,
    oauth_pid: Option<u32>,
    oauth_client_id: String,
    oauth_client_secret: String,
    special_use: SpecialUseNames,
    maildir_root: Option<PathBuf>,
    users: Mutex<BTreeMap<String, String>>,
    /// Attached or detached: drop leaves the server running.
    keep_running: bool,
}

impl std::fmt::Debug for Dovecot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dovecot")
            .field("dir", &self.dir)
            .field("imap_port", &self.imap_port)
            .field("imaps_port", &self.imaps_port)
            .field("master_pid", &self.master_pid)
            .finish_non_exhaustive()
    }
}

const STATE_FILE: &str = "testkit.json";

impl Dovecot {
    /// Starts an instance and waits until its plain port accepts connections.
    pub fn start(opts: DovecotOptions) -> Result<Dovecot> {
        if !Path::new(DOVECOT_BIN).exists() {
            return Err(Error::Start {
                message: format!(
                    "{DOVECOT_BIN} is missing: install the dovecot-imapd package (it pulls dovecot-core)"
                ),
                log_tail: String::new(),
            });
        }
        let (dir, temp) = match &opts.dir {
            Some(d) => {
                fs::create_dir_all(d).map_err(Error::io("create directory", d))?;
                let d = fs::canonicalize(d).map_err(Error::io("resolve", d))?;
                (d, None)
            }
            None => {
                let t = tempfile::Builder::new()
                    .prefix("imapmig-dovecot-")
                    .tempdir()
                    .map_err(Error::io("create temp directory", std::env::temp_dir()))?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        // mktemp gives 0700, which Dovecot's unprivileged processes cannot traverse.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))
            .map_err(Error::io("chmod", &dir))?;
        for sub in ["run", "state", "mail", "home", "index"] {
            let p = dir.join(sub);
            fs::create_dir_all(&p).map_err(Error::io("create directory", &p))?;
        }
        let root = is_root();
        if root {
            for sub in ["mail", "home", "index"] {
                std::os::unix::fs::chown(dir.join(sub), Some(MAIL_UID), Some(MAIL_GID))
                    .map_err(Error::io("chown", dir.join(sub)))?;
            }
        }
        if !dir.join("cert.pem").exists() {
            crate::certs::install(&dir)?;
        }

        let oauth = match &opts.external_oauth {
            Some(_) => None,
            None => Some(OAuthServer::start(
                &opts.oauth_client_id,
                &opts.oauth_client_secret,
            )?),
        };
        let introspection_url = match (&oauth, &opts.external_oauth) {
            (Some(s), _) => s.introspection_url(),
            (None, Some(e)) => e.introspection_url.clone(),
            (None, None) => String::new(),
        };

        let mut dc = Dovecot {
            dir: dir.clone(),
            _temp: temp,
            imap_port: 0,
            imaps_port: 0,
            master_pid: None,
            oauth,
            external_oauth: opts.external_oauth.clone(),
            oauth_pid: None,
            oauth_client_id: opts.oauth_client_id.clone(),
            oauth_client_secret: opts.oauth_client_secret.clone(),
            special_use: opts.special_use_names,
            maildir_root: opts.maildir_root.clone(),
            users: Mutex::new(opts.users.iter().cloned().collect()),
            keep_running: false,
        };
        dc.write_users()?;
        write_atomic(
            &dir.join("masters"),
            format!("{MASTER_USER}:{{PLAIN}}{MASTER_PASSWORD}\n").as_bytes(),
        )?;
        let oauth_conf = format!(
            "# Dovecot's oauth2 passdb requires a username attribute and compares it, through\n\
             # username_format, with the login name. Tokens here are app-only (valid for every\n\
             # mailbox), so the format is a constant: both sides expand to the same string.\n\
             introspection_mode = post\n\
             introspection_url = {introspection_url}\n\
             username_attribute = active\n\
             username_format = app-only\n\
             active_attribute = active\n\
             active_value = true\n"
        );
        write_atomic(&dir.join("dovecot-oauth2.conf.ext"), oauth_conf.as_bytes())?;

        let mut last_err = None;
        for _attempt in 0..3 {
            dc.imap_port = free_port()?;
            dc.imaps_port = loop {
                let p = free_port()?;
                if p != dc.imap_port {
                    break p;
                }
            };
            write_atomic(&dc.config_path(), dc.render_config(&opts).as_bytes())?;
            match dc.launch() {
                Ok(()) => {
                    dc.write_state()?;
                    return Ok(dc);
                }
                Err(e) => {
                    // Another process took a port between our probe and Dovecot's bind.
                    let retry = e.to_string().contains("Address already in use")
                        || tail(&dc.log_path(), 50).contains("Address already in use");
                    last_err = Some(e);
                    if !retry {
                        break;
                    }
                }
            }
        }
        Err(last_err.unwrap_or_else(|| Error::Start {
            message: "no attempt made".into(),
            log_tail: String::new(),
        }))
    }

    /// Serves an existing tree of per-user Maildir++ directories (`<root>/<user>/`), as Dovecot
    /// would serve the engine's Maildir target: `mail_location = maildir:<root>/%u` with the
    /// listescape plugin and `/` as separator. Indexes go to the instance directory, so the tree
    /// only gains what Dovecot keeps beside the mail (`dovecot-uidlist`, `dovecot-keywords`).
    ///
    /// Users: `opts.users`, plus every directory under `root` not named there (password `secret`).
    ///
    /// Ownership: as root, the tree is chowned to `nobody:nogroup` (Dovecot will not serve mail
    /// as uid 0) and every ancestor of `root` gets the search (`o+x`) bit if it lacks it. Files
    /// written into the tree later must be handed over again with [`Dovecot::fix_ownership`].
    pub fn serve_maildir(root: &Path, mut opts: DovecotOptions) -> Result<Dovecot> {
        fs::create_dir_all(root).map_err(Error::io("create directory", root))?;
        let root = fs::canonicalize(root).map_err(Error::io("resolve", root))?;
        for entry in fs::read_dir(&root).map_err(Error::io("read directory", &root))? {
            let entry = entry.map_err(Error::io("read directory", &root))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().is_dir()
                && !name.starts_with('.')
                && !opts.users.iter().any(|(u, _)| *u == name)
            {
                opts.users.push((name, "secret".into()));
            }
        }
        opts.maildir_root = Some(root.clone());
        if is_root() {
            make_traversable(&root)?;
            chown_tree(&root, MAIL_UID, MAIL_GID)?;
        }
        Dovecot::start(opts)
    }

    /// A handle on an instance started elsewhere (by the binary) from its directory's state
    /// file. Dropping it leaves the server running; [`Dovecot::stop`] stops it.
    pub fn attach(dir: &Path) -> Result<Dovecot> {
        let path = dir.join(STATE_FILE);
        let text = fs::read_to_string(&path).map_err(Error::io("read", &path))?;
        let info: InstanceInfo = serde_json::from_str(&text).map_err(|source| Error::Json {
            action: format!("parse {}", path.display()),
            source,
        })?;
        let users = read_users_file(&info.dir.join("users"));
        Ok(Dovecot {
            dir: info.dir.clone(),
            _temp: None,
            imap_port: info.imap_port,
            imaps_port: info.imaps_port,
            master_pid: info.master_pid,
            oauth: None,
            external_oauth: match (&info.oauth_token_url, &info.oauth_introspection_url) {
                (Some(t), Some(i)) => Some(ExternalOAuth {
                    token_url: t.clone(),
                    introspection_url: i.clone(),
                }),
                _ => None,
            },
            oauth_pid: info.oauth_pid,
            oauth_client_id: info.oauth_client_id,
            oauth_client_secret: info.oauth_client_secret,
            special_use: info.special_use,
            maildir_root: info.maildir_root,
            users: Mutex::new(users),
            keep_running: true,
        })
    }

    /// Leaves the server running after this handle is dropped (the temp dir, if any, is kept).
    /// An in-process OAuth server still stops with the handle.
    pub fn detach(mut self) -> InstanceInfo {
        self.keep_running = true;
        if let Some(t) = self._temp.take() {
            let _ = t.keep();
        }
        self.info()
    }

    /// Records the pid of a helper process to stop together with Dovecot.
    pub fn set_oauth_pid(&mut self, pid: Option<u32>) -> Result<()> {
        self.oauth_pid = pid;
        self.write_state()
    }

    fn launch(&mut self) -> Result<()> {
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

    fn render_config(&self, opts: &DovecotOptions) -> String {
        let d = self.dir.display();
        let mut c = String::new();
        let mail_location = match &self.maildir_root {
            Some(root) => format!("maildir:{}/%u:INDEX={d}/index/%u", root.display()),
            None => "maildir:~/Maildir".to_string(),
        };
        let _ = write!(
            c,
            r#"# Generated by imapmigration-testkit; see native/testkit/src/dovecot.rs
base_dir = {d}/run
state_dir = {d}/state
instance_name = imapmig-testkit-{port}
protocols = imap
listen = 127.0.0.1
log_path = {d}/dovecot.log
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
first_valid_uid = {uid}
last_valid_uid = {uid}
mail_location = {mail_location}
mail_plugins = $mail_plugins listescape
mail_fsync = {fsync}
disable_plaintext_auth = no
# Tests try wrong passwords on purpose: no 2 s penalty per failure.
auth_failure_delay = 0
# No stats: a login process still waiting for the stats handshake holds a shutdown for 5 s.
stats_writer_socket_path =
auth_mechanisms = plain login xoauth2 oauthbearer
auth_master_user_separator = {sep}
auth_verbose = yes
auth_debug = {auth_debug}
ssl = yes
ssl_cert = <{d}/cert.pem
ssl_key = <{d}/key.pem
passdb {{
  driver = passwd-file
  master = yes
  pass = yes
  args = scheme=PLAIN username_format=%u {d}/masters
}}
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {d}/users
}}
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {d}/dovecot-oauth2.conf.ext
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {d}/users
}}
namespace inbox {{
  inbox = yes
  separator = /
  prefix =
"#,
            port = self.imap_port,
            uid = MAIL_UID,
            fsync = if opts.fsync { "optimized" } else { "never" },
            sep = MASTER_SEPARATOR,
            auth_debug = if opts.auth_debug { "yes" } else { "no" },
        );
        for (name, attr) in self.special_use.folders() {
            let _ = write!(
                c,
                "  mailbox \"{name}\" {{\n    special_use = {attr}\n    auto = subscribe\n  }}\n"
            );
        }
        let _ = write!(
            c,
            r#"}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  # Without this socket the auth penalty (2 s, 4 s, .. before each login from an address that
  # just failed) is off: tests fail logins on purpose.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
protocol imap {{
  mail_max_userip_connections = 100
}}
{extra}
"#,
            imap = self.imap_port,
            imaps = self.imaps_port,
            extra = opts.extra_config,
        );
        c
    }

    fn write_users(&self) -> Result<()> {
        let users = self
            .users
            .lock()
            .map_err(|_| Error::Protocol("user table lock poisoned".into()))?;
        let mut text = String::new();
        for (name, pass) in users.iter() {
            if name.contains(':')
                || pass.contains(':')
                || name.contains('\n')
                || pass.contains('\n')
            {
                return Err(Error::InvalidArgument(format!(
                    "user {name:?}: ':' and newlines cannot appear in a passwd-file"
                )));
            }
            let home = self.home_of(name);
            let _ = writeln!(
                text,
                "{name}:{{PLAIN}}{pass}:{MAIL_UID}:{MAIL_GID}::{}::",
                home.display()
            );
        }
        drop(users);
        write_atomic(&self.dir.join("users"), text.as_bytes())
    }

    fn home_of(&self, user: &str) -> PathBuf {
        match &self.maildir_root {
            Some(_) => self.dir.join("home").join(user),
            None => self.dir.join("mail").join(user),
        }
    }

    fn write_state(&self) -> Result<()> {
        let json = serde_json::to_string_pretty(&self.info()).map_err(|source| Error::Json {
            action: "serialize the instance state".into(),
            source,
        })?;
        write_atomic(&self.dir.join(STATE_FILE), json.as_bytes())
    }

    // -----------------------------------------------------------------------------------------
    // Where things are

    /// Always `127.0.0.1`.
    pub fn host(&self) -> &str {
        "127.0.0.1"
    }
    /// Plain IMAP port (STARTTLS offered, plaintext LOGIN allowed).
    pub fn imap_port(&self) -> u16 {
        self.imap_port
    }
    /// Implicit-TLS IMAP port.
    pub fn imaps_port(&self) -> u16 {
        self.imaps_port
    }
    /// `127.0.0.1:<imap_port>`.
    pub fn imap_addr(&self) -> SocketAddr {
        ([127, 0, 0, 1], self.imap_port).into()
    }
    /// `127.0.0.1:<imaps_port>`.
    pub fn imaps_addr(&self) -> SocketAddr {
        ([127, 0, 0, 1], self.imaps_port).into()
    }
    /// PEM file of the test CA that signed the server certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    /// The instance directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// Dovecot's log (all services).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("dovecot.log")
    }
    /// The generated dovecot.conf.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("dovecot.conf")
    }
    /// The master process id.
    pub fn master_pid(&self) -> Option<u32> {
        self.master_pid
    }
    /// The special-use naming this instance uses.
    pub fn special_use(&self) -> SpecialUseNames {
        self.special_use
    }
    /// `<user><sep><admin>`: the login name that opens `user`'s mailbox with the master password.
    pub fn master_login(&self, user: &str) -> String {
        format!("{user}{MASTER_SEPARATOR}{MASTER_USER}")
    }
    /// Master user name (`admin`).
    pub fn master_user(&self) -> &'static str {
        MASTER_USER
    }
    /// Master password (`adminpass`).
    pub fn master_password(&self) -> &'static str {
        MASTER_PASSWORD
    }

    /// The token endpoint (`POST` client credentials here).
    pub fn oauth_token_url(&self) -> String {
        match (&self.oauth, &self.external_oauth) {
            (Some(s), _) => s.token_url(),
            (None, Some(e)) => e.token_url.clone(),
            (None, None) => String::new(),
        }
    }
    /// The client id the token endpoint accepts.
    pub fn oauth_client_id(&self) -> &str {
        &self.oauth_client_id
    }
    /// The client secret the token endpoint accepts.
    pub fn oauth_client_secret(&self) -> &str {
        &self.oauth_client_secret
    }
    /// Tokens issued by the in-process server (0 for an external one).
    pub fn oauth_tokens_issued(&self) -> u64 {
        self.oauth
            .as_ref()
            .map(OAuthServer::tokens_issued)
            .unwrap_or(0)
    }
    /// The in-process OAuth server, if this handle runs one.
    pub fn oauth_server(&self) -> Option<&OAuthServer> {
        self.oauth.as_ref()
    }
    /// Issues an app-only token without HTTP (in-process server only).
    pub fn issue_oauth_token(&self) -> Result<String> {
        self.oauth
            .as_ref()
            .map(OAuthServer::issue_token)
            .ok_or_else(|| Error::InvalidArgument("this handle runs no oauth server".into()))
    }

    /// What a client needs, as JSON-ready data.
    pub fn info(&self) -> InstanceInfo {
        InstanceInfo {
            host: self.host().to_string(),
            imap_port: self.imap_port,
            imaps_port: self.imaps_port,
            ca_file: self.ca_file(),
            dir: self.dir.clone(),
            log_path: self.log_path(),
            config_path: self.config_path(),
            users: self.users(),
            master_user: MASTER_USER.into(),
            master_password: MASTER_PASSWORD.into(),
            master_separator: MASTER_SEPARATOR.into(),
            oauth_token_url: Some(self.oauth_token_url()).filter(|s| !s.is_empty()),
            oauth_introspection_url: match (&self.oauth, &self.external_oauth) {
                (Some(s), _) => Some(s.introspection_url()),
                (None, Some(e)) => Some(e.introspection_url.clone()),
                (None, None) => None,
            },
            oauth_client_id: self.oauth_client_id.clone(),
            oauth_client_secret: self.oauth_client_secret.clone(),
            special_use: self.special_use,
            special_use_folders: self
                .special_use
                .folders()
                .iter()
                .map(|(n, a)| (a.to_string(), n.to_string()))
                .collect(),
            maildir_root: self.maildir_root.clone(),
            master_pid: self.master_pid,
            oauth_pid: self.oauth_pid,
        }
    }

    // -----------------------------------------------------------------------------------------
    // Users

    /// Adds (or re-passwords) a user; works while Dovecot runs (see [`Dovecot::add_users`]).
    pub fn add_user(&self, name: &str, password: &str) -> Result<()> {
        self.add_users(&[(name, password)])
    }

    /// Adds (or re-passwords) users. Dovecot re-reads the passwd-file when its mtime or size
    /// changed, but stats it at most once per second; so the file's mtime is made to differ
    /// from the previous one, and while the server runs this returns only once the wall clock
    /// has entered the next second (up to 1 s), after which the next login sees the new users.
    pub fn add_users(&self, users: &[(&str, &str)]) -> Result<()> {
        {
            let mut table = self
                .users
                .lock()
                .map_err(|_| Error::Protocol("user table lock poisoned".into()))?;
            for (name, password) in users {
                table.insert(name.to_string(), password.to_string());
            }
        }
        let path = self.dir.join("users");
        let before = fs::metadata(&path).and_then(|m| m.modified()).ok();
        self.write_users()?;
        let written = std::time::SystemTime::now();
        if let Some(before) = before {
            let secs = |t: std::time::SystemTime| {
                t.duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0)
            };
            if secs(written) <= secs(before) {
                maildir::set_mtime(&path, secs(before) + 1)?;
            }
        }
        self.write_state()?;
        if self.master_pid.is_some() {
            let secs = written
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            while std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
                <= secs
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }

    /// User names, sorted.
    pub fn users(&self) -> Vec<String> {
        self.users
            .lock()
            .map(|u| u.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// A user's password.
    pub fn password(&self, user: &str) -> Option<String> {
        self.users.lock().ok().and_then(|u| u.get(user).cloned())
    }

    // -----------------------------------------------------------------------------------------
    // Mail on disk

    /// The user's Maildir++ root (INBOX's `cur/` lives here).
    pub fn maildir(&self, user: &str) -> PathBuf {
        match &self.maildir_root {
            Some(root) => root.join(user),
            None => self.dir.join("mail").join(user).join("Maildir"),
        }
    }

    fn check_user(&self, user: &str) -> Result<()> {
        if self.password(user).is_none() {
            return Err(Error::InvalidArgument(format!(
                "unknown user {user}; add it with add_user first"
            )));
        }
        Ok(())
    }

    /// Hands the user's mail to the mail uid (a no-op when not running as root).
    pub fn fix_ownership(&self, user: &str) -> Result<()> {
        if !is_root() {
            return Ok(());
        }
        let top = match &self.maildir_root {
            Some(root) => root.join(user),
            None => self.dir.join("mail").join(user),
        };
        if top.exists() {
            chown_tree(&top, MAIL_UID, MAIL_GID)
        } else {
            Ok(())
        }
    }

    /// Writes folders and messages straight into the user's Maildir (fast: no IMAP). Safe while
    /// Dovecot runs; it indexes new files on the next access. Returns the messages written.
    pub fn seed(&self, user: &str, folders: &[SeedFolder]) -> Result<usize> {
        self.check_user(user)?;
        let n = maildir::write_folders(&self.maildir(user), folders)?;
        self.fix_ownership(user)?;
        Ok(n)
    }

    /// Adds one message to a folder (created if missing) for incremental tests; returns its file.
    pub fn append_message(&self, user: &str, folder: &str, msg: &SeedMessage) -> Result<PathBuf> {
        self.check_user(user)?;
        let root = self.maildir(user);
        let folder_dir = maildir::folder_path(&root, folder);
        let existed = folder_dir.join("cur").is_dir() && root.is_dir();
        let path = maildir::write_message(&root, folder, msg)?;
        if is_root() {
            if existed {
                hand_over(&[&path, &folder_dir.join("dovecot-keywords")])?;
            } else {
                self.fix_ownership(user)?;
            }
        }
        Ok(path)
    }

    /// Replaces one message's flags (keywords included) by renaming its file.
    pub fn set_flags(
        &self,
        user: &str,
        folder: &str,
        which: MessageRef,
        flags: &[&str],
    ) -> Result<PathBuf> {
        let flags: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
        let root = self.maildir(user);
        let path = maildir::replace_flags(&root, folder, &which, &flags)?;
        if is_root() {
            hand_over(&[
                &path,
                &maildir::folder_path(&root, folder).join("dovecot-keywords"),
            ])?;
        }
        Ok(path)
    }

    /// The user's mailbox as it is on disk now.
    pub fn snapshot(&self, user: &str) -> Result<Snapshot> {
        maildir_snapshot(&self.maildir(user))
    }

    // -----------------------------------------------------------------------------------------
    // doveadm

    /// Runs `doveadm -c <this config> <args>` and returns its stdout.
    pub fn doveadm(&self, args: &[&str]) -> Result<String> {
        run(Command::new("doveadm")
            .arg("-c")
            .arg(self.config_path())
            .args(args))
    }

    /// `doveadm mailbox status messages uidnext uidvalidity` for one folder.
    pub fn mailbox_status(&self, user: &str, folder: &str) -> Result<MailboxStatus> {
        let out = self.doveadm(&[
            "mailbox",
            "status",
            "-u",
            user,
            "messages uidnext uidvalidity",
            folder,
        ])?;
        let mut st = MailboxStatus::default();
        // The folder name may contain spaces: read the key=value fields from the end.
        for tok in out.split_whitespace().rev().take(3) {
            if let Some((k, v)) = tok.split_once('=') {
                let v: u32 = v.parse().unwrap_or(0);
                match k {
                    "messages" => st.messages = v,
                    "uidnext" => st.uidnext = v,
                    "uidvalidity" => st.uidvalidity = v,
                    _ => {}
                }
            }
        }
        Ok(st)
    }

    /// `doveadm mailbox list`: the user's folders as Dovecot sees them (UTF-8).
    pub fn mailbox_list(&self, user: &str) -> Result<Vec<String>> {
        let out = self.doveadm(&["mailbox", "list", "-u", user])?;
        let mut v: Vec<String> = out
            .lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
            .collect();
        v.sort();
        Ok(v)
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        if !self.keep_running {
            let _ = self.stop();
        }
    }
}

fn hand_over(paths: &[&Path]) -> Result<()> {
    for p in paths {
        if p.exists() {
            std::os::unix::fs::lchown(p, Some(MAIL_UID), Some(MAIL_GID))
                .map_err(Error::io("chown", *p))?;
        }
    }
    Ok(())
}

/// Adds `o+x` to every ancestor that lacks it, so `nobody` can reach the tree.
fn make_traversable(path: &Path) -> Result<()> {
    for anc in path.ancestors().skip(1) {
        let meta = fs::metadata(anc).map_err(Error::io("stat", anc))?;
        let mode = meta.permissions().mode();
        if mode & 0o001 == 0 {
            fs::set_permissions(anc, fs::Permissions::from_mode(mode | 0o001))
                .map_err(Error::io("chmod", anc))?;
        }
    }
    Ok(())
}

fn read_users_file(path: &Path) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    if let Ok(text) = fs::read_to_string(path) {
        for line in text.lines() {
            let mut parts = line.splitn(3, ':');
            if let (Some(name), Some(pass)) = (parts.next(), parts.next()) {
                m.insert(
                    name.to_string(),
                    pass.trim_start_matches("{PLAIN}").to_string(),
                );
            }
        }
    }
    m
}

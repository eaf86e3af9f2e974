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
//! - Maildir++ (`maildir:~/Maildir`) with the `listescape` plugin and `/` as separator (or `.`,
//!   [`DovecotOptions::separator`]);
//! - a capability profile ([`ServerProfile`]): Dovecot's own list, or a Gmail-like,
//!   Exchange-like or bare IMAP4rev1 one.
//!
//! Running as root (Debian's `dovecot`/`dovenull` users exist): Dovecot's login processes refuse
//! root and mail must not be uid 0, so mail belongs to `nobody:nogroup`, and the instance
//! directory is made world-traversable (0755).
//!
//! Here: the options, the handle, start/attach/detach and where things are. Beside it:
//! `config.rs` (the generated `dovecot.conf`), `process.rs` (starting and stopping the master),
//! `users.rs` (the passwd-file users), `mail.rs` (mail on disk, ownership, `doveadm`).

mod config;
mod mail;
mod process;
mod profile;
mod users;

pub use profile::ServerProfile;

use std::collections::BTreeMap;
use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::oauth::OAuthServer;
use crate::util::{chown_tree, free_port, is_root, tail, write_atomic};
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
    /// Where clients `POST` client-credentials requests for an access token.
    pub token_url: String,
    /// Where Dovecot's oauth2 passdb checks a presented token (RFC 7662).
    pub introspection_url: String,
}

/// How to start an instance. `Default` gives no users, standard names, no fsync, a temp dir.
#[derive(Debug, Clone)]
pub struct DovecotOptions {
    /// Users (name, password) present from the start.
    pub users: Vec<(String, String)>,
    /// How the auto-created special-use folders are named.
    pub special_use_names: SpecialUseNames,
    /// Keep Dovecot's fsync calls (`mail_fsync = optimized`); off by default for speed.
    pub fsync: bool,
    /// Run in this directory (created if needed, kept after stop) instead of a temp dir.
    pub dir: Option<PathBuf>,
    /// OAuth2 client the token endpoint accepts.
    pub oauth_client_id: String,
    /// The secret that goes with `oauth_client_id`.
    pub oauth_client_secret: String,
    /// Use these endpoints instead of starting an in-process [`OAuthServer`].
    pub external_oauth: Option<ExternalOAuth>,
    /// Serve `maildir:<root>/%u` instead of per-user homes (see [`Dovecot::serve_maildir`]).
    pub maildir_root: Option<PathBuf>,
    /// Log auth decisions in detail (`auth_debug = yes`).
    pub auth_debug: bool,
    /// The capability list advertised (`imap_capability`); [`ServerProfile::Full`] leaves
    /// Dovecot's own.
    pub profile: ServerProfile,
    /// Load the `imap_zlib` plugin: the server advertises `COMPRESS=DEFLATE` (RFC 4978).
    pub compression: bool,
    /// Appended verbatim to dovecot.conf.
    pub extra_config: String,
    /// The personal namespace's hierarchy separator (`/`, or `.` as Courier and Cyrus without
    /// `unixhierarchysep` use); the Maildir++ tree on disk is the same either way.
    pub separator: char,
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
            profile: ServerProfile::Full,
            compression: false,
            extra_config: String::new(),
            separator: '/',
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

    /// Advertises this profile's capability list.
    pub fn profile(mut self, profile: ServerProfile) -> Self {
        self.profile = profile;
        self
    }

    /// Offers `COMPRESS=DEFLATE` (Dovecot's `imap_zlib` plugin).
    pub fn with_compression(mut self) -> Self {
        self.compression = true;
        self
    }

    /// Uses `separator` as the hierarchy separator of the personal namespace.
    pub fn separator(mut self, separator: char) -> Self {
        self.separator = separator;
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
    /// Address both ports listen on (always `127.0.0.1`).
    pub host: String,
    /// Plain IMAP port: STARTTLS offered, plaintext LOGIN allowed.
    pub imap_port: u16,
    /// Implicit-TLS IMAP port.
    pub imaps_port: u16,
    /// PEM file of the per-instance CA that signed the server certificate.
    pub ca_file: PathBuf,
    /// The instance directory (config, certificates, mail, log, this state file).
    pub dir: PathBuf,
    /// Dovecot's log, all services.
    pub log_path: PathBuf,
    /// The generated dovecot.conf.
    pub config_path: PathBuf,
    /// Names of the passwd-file users at the time of writing, sorted.
    pub users: Vec<String>,
    /// Master user name: `<user><separator><master_user>` logs in as `<user>`.
    pub master_user: String,
    /// Password of the master user.
    pub master_password: String,
    /// What joins a user and the master user in a master login (`*`).
    pub master_separator: String,
    /// Token endpoint for client credentials; `None` when no OAuth server is known.
    pub oauth_token_url: Option<String>,
    /// Introspection endpoint Dovecot asks; `None` when no OAuth server is known.
    pub oauth_introspection_url: Option<String>,
    /// OAuth2 client the token endpoint accepts.
    pub oauth_client_id: String,
    /// The secret that goes with `oauth_client_id`.
    pub oauth_client_secret: String,
    /// How the special-use folders are named.
    pub special_use: SpecialUseNames,
    /// Special-use attribute (`\Sent`) to folder name (`Sent` or `Sent Items`).
    pub special_use_folders: BTreeMap<String, String>,
    /// `maildir:<root>/%u` root when serving a Maildir tree; null for per-user homes.
    pub maildir_root: Option<PathBuf>,
    /// The capability profile advertised.
    #[serde(default)]
    pub profile: ServerProfile,
    /// Pid of the Dovecot master process; `None` when none is known (not started, stopped).
    pub master_pid: Option<u32>,
    /// Pid of the helper process serving OAuth for a detached instance.
    pub oauth_pid: Option<u32>,
}

/// Counts Dovecot reports for a folder (`doveadm mailbox status`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxStatus {
    /// Messages in the folder now.
    pub messages: u32,
    /// The UID the next delivered message will get.
    pub uidnext: u32,
    /// The folder's UIDVALIDITY.
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
    profile: ServerProfile,
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
            profile: opts.profile,
            users: Mutex::new(opts.users.iter().cloned().collect()),
            keep_running: false,
        };
        dc.write_users()?;
        write_atomic(
            &dir.join("masters"),
            format!("{MASTER_USER}:{{PLAIN}}{MASTER_PASSWORD}\n").as_bytes(),
        )?;
        let oauth_conf = config::oauth_passdb_config(&introspection_url);
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
            mail::make_traversable(&root)?;
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
        let users = users::read_users_file(&info.dir.join("users"));
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
            profile: info.profile,
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
    /// The capability profile this instance advertises.
    pub fn profile(&self) -> ServerProfile {
        self.profile
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
            profile: self.profile,
            master_pid: self.master_pid,
            oauth_pid: self.oauth_pid,
        }
    }
}

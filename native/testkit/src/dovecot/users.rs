//! The passwd-file users of an instance, which Dovecot re-reads while it runs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Dovecot;
use crate::error::{Error, Result};
use crate::maildir;
use crate::util::write_atomic;
use crate::{MAIL_GID, MAIL_UID};

impl Dovecot {
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

    pub(super) fn check_user(&self, user: &str) -> Result<()> {
        if self.password(user).is_none() {
            return Err(Error::InvalidArgument(format!(
                "unknown user {user}; add it with add_user first"
            )));
        }
        Ok(())
    }

    pub(super) fn write_users(&self) -> Result<()> {
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
}

pub(super) fn read_users_file(path: &Path) -> BTreeMap<String, String> {
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

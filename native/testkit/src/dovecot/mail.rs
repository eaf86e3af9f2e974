//! Mail on disk (seeding, flags, ownership) and `doveadm` queries of an instance.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Dovecot, MailboxStatus};
use crate::error::{Error, Result};
use crate::maildir::{self, MessageRef, SeedFolder, SeedMessage};
use crate::snapshot::{Snapshot, maildir_snapshot};
use crate::util::{chown_tree, is_root, run};
use crate::{MAIL_GID, MAIL_UID};

impl Dovecot {
    /// The user's Maildir++ root (INBOX's `cur/` lives here).
    pub fn maildir(&self, user: &str) -> PathBuf {
        match &self.maildir_root {
            Some(root) => root.join(user),
            None => self.dir.join("mail").join(user).join("Maildir"),
        }
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
pub(super) fn make_traversable(path: &Path) -> Result<()> {
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

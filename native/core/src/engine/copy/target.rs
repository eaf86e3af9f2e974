//! The target side of a pass: the user's target connection, and the target folder opened for
//! one pass behind one interface with an implementation per target kind (`imap_target`,
//! `maildir_target`). A folder is opened from a connection of its own kind, so the two can never
//! disagree.

use std::collections::{BTreeMap, HashSet};

use imapmigration_imap as imap;
use imapmigration_store::MessageRow;
use tokio::sync::mpsc;

use super::super::error::Error;
use super::super::flags::{FlagDelta, FlagSet};
use super::super::maildir::MaildirTarget;
use super::super::plan::Ident;
use super::context::{FolderPass, st};
use super::stream::{Commit, Item};

/// A user's connection to the target: an IMAP session or a Maildir root.
pub(in crate::engine) enum Target {
    Imap(Box<imap::Session>),
    Maildir(MaildirTarget),
}

impl Target {
    /// How long an IMAP target's greeting took (`imap::Session::greeting_wait`); none for a
    /// Maildir.
    pub fn greeting_wait(&self) -> Option<std::time::Duration> {
        match self {
            Target::Imap(s) => Some(s.greeting_wait()),
            Target::Maildir(_) => None,
        }
    }

    pub fn is_usable(&self) -> bool {
        match self {
            Target::Imap(s) => s.is_usable(),
            Target::Maildir(_) => true,
        }
    }
}

/// Which flags the open target folder keeps.
#[derive(Debug, Clone)]
pub(super) struct FlagPolicy {
    pub keywords: bool,
    pub permanent: FlagSet,
}

impl FlagPolicy {
    pub fn restrict(&self, f: &FlagSet) -> FlagSet {
        f.for_target(self.keywords, &self.permanent)
    }
}

/// Where rows left in state 0 were found: commits for those that landed, and the source UIDs
/// of those that did not.
#[derive(Debug, Default)]
pub(super) struct Located {
    pub found: Vec<Commit>,
    pub lost: Vec<u32>,
}

/// One message on the target, as a rebuild matches it.
#[derive(Debug, Clone)]
pub(super) struct TargetMessage<T> {
    /// How the target names it (a UID, a file).
    pub found: T,
    pub ident: Ident,
    pub flags: FlagSet,
}

/// Flag changes to apply, grouped by change: each row gets the same STORE or rename.
pub(super) type FlagWork<'r> = BTreeMap<FlagDelta, Vec<&'r MessageRow>>;

/// The target folder of one pass. Each method is one step of the pass that depends on the
/// target kind; the rules around them (what to verify, when to rebuild) live in the steps.
pub(super) trait TargetFolder {
    /// How a message found on the target is named while rebuilding.
    type Found: Clone;

    /// The folder's UIDVALIDITY, if the target has one (Maildir file keys carry the source's).
    fn uid_validity(&self) -> Option<u32>;

    /// The flags the folder keeps.
    fn flag_policy(&self) -> &FlagPolicy;

    /// Whether the folder holds no message at all, ours or anyone's.
    async fn is_empty(&mut self) -> Result<bool, Error>;

    /// Whether a write sent on an earlier connection may still land after that connection is
    /// gone (an IMAP server executing commands it had received); `verify` then gives such
    /// rows time before forgetting them. A Maildir delivery of this process is waited for
    /// instead, and one of a dead process cannot land any more.
    fn lands_late(&self) -> bool;

    /// Brings the folder's view up to date with what arrived meanwhile (IMAP: NOOP).
    async fn refresh(&mut self) -> Result<(), Error>;

    /// Looks for the messages of rows in state 0 (`rows` is all of the folder's rows).
    async fn locate_in_flight(
        &mut self,
        pass: &FolderPass<'_>,
        rows: &[MessageRow],
    ) -> Result<Located, Error>;

    /// Applies flag changes to copied messages; returns the source UIDs it changed.
    async fn apply_flags(
        &mut self,
        pass: &FolderPass<'_>,
        work: &FlagWork<'_>,
    ) -> Result<Vec<u32>, Error>;

    /// Every message in the folder not claimed by a sibling source folder, with its identity
    /// (`want_hash`: also hash bodies without a Message-ID).
    async fn inventory(
        &mut self,
        pass: &FolderPass<'_>,
        siblings: &Siblings,
        want_hash: bool,
    ) -> Result<Vec<TargetMessage<Self::Found>>, Error>;

    /// The target UID of a found message, where the target has UIDs.
    fn target_uid(found: &Self::Found) -> Option<u32>;

    /// Takes found messages as the copies of these source UIDs (Maildir renames files to carry
    /// their new key).
    async fn adopt(
        &mut self,
        pass: &FolderPass<'_>,
        adopted: Vec<(Self::Found, u32)>,
    ) -> Result<(), Error>;

    /// Writes the messages the reader sends (`expected` of them), recording each row's
    /// progress.
    async fn write(
        &mut self,
        pass: &FolderPass<'_>,
        rx: mpsc::Receiver<Item>,
        expected: usize,
    ) -> Result<(), Error>;
}

/// What the other source folders sharing this target folder hold there.
#[derive(Debug, Default)]
pub(super) struct Siblings {
    /// Their folder ids (Maildir file keys name them).
    pub folder_ids: HashSet<i64>,
    /// Target UIDs their rows claim, when recorded under the folder's current UIDVALIDITY.
    pub claimed: HashSet<u32>,
}

impl Siblings {
    pub fn load(pass: &FolderPass<'_>, dst_validity: Option<u32>) -> Result<Self, Error> {
        let ctx = pass.ctx;
        let mut out = Siblings::default();
        for g in pass
            .group
            .iter()
            .filter(|g| g.source_name != pass.plan.source_name)
        {
            let Some(rec) = ctx
                .store
                .folder_get(&ctx.user_id, &g.source_name)
                .map_err(st("read folder"))?
            else {
                continue;
            };
            out.folder_ids.insert(rec.id);
            if dst_validity.is_some() && rec.dst_uidvalidity == dst_validity {
                for r in ctx
                    .store
                    .messages_for_folder(rec.id)
                    .map_err(st("read messages"))?
                {
                    if let Some(u) = r.dst_uid {
                        out.claimed.insert(u);
                    }
                }
            }
        }
        Ok(out)
    }
}

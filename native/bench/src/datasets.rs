//! The bench's data sets, generated deterministically by the testkit's mail generators.
//!
//! - `one`: one mailbox of 2,500 messages in 7 folders (testkit profile `one`: nested folders,
//!   Sent, Trash, a non-ASCII name; 70% ~3 KB, 25% ~30 KB, 5% ~270 KB with an attachment; plus
//!   messages with 8-bit headers, bare LF, no Message-ID, and duplicates).
//! - `many`: 20 such mailboxes (each from its own seed), migrated as one batch.
//! - `big10k`, `big50k`: one mailbox of 10,000 / 50,000 small (~2 KB) messages in INBOX.
//! - `big100mb`: one mailbox holding one 100 MB message (a base64 attachment).
//! - `scale`: 200 mailboxes of 80 small (~2 KB) messages (60 in INBOX, 20 in Archive), one
//!   batch run by 1, 2 and 4 workers on a PostgreSQL store (see [`crate::scale`]).

use imapmigration_testkit::mail::{self, MailboxSpec as Spec, SizeProfile};
use imapmigration_testkit::{SeedFolder, SeedMessage};

/// The data set names `--sets` accepts (`big` stands for the three big ones).
pub const NAMES: &[&str] = &["one", "many", "big10k", "big50k", "big100mb", "scale"];

/// Mailboxes of the `scale` set.
pub const SCALE_MAILBOXES: usize = 200;

/// A data set: its mailboxes.
#[derive(Debug, Clone)]
pub struct DataSet {
    /// One of [`NAMES`].
    pub name: String,
    /// One entry per source mailbox (user) to create and migrate.
    pub mailboxes: Vec<MailboxSpec>,
}

/// How to generate one mailbox.
#[derive(Debug, Clone)]
pub enum MailboxSpec {
    /// A testkit generator spec.
    Generated(Spec),
    /// One message of about this many bytes in INBOX.
    Huge {
        /// Seed of the body generator: the same seed gives the same bytes.
        seed: u64,
        /// Approximate message size in bytes.
        bytes: usize,
    },
}

impl DataSet {
    /// The data set of that name; `None` for an unknown name.
    pub fn named(name: &str) -> Option<DataSet> {
        let one = |seed: u64| {
            MailboxSpec::Generated(Spec {
                seed,
                ..mail::one()
            })
        };
        let small = |seed: u64, count: usize| {
            MailboxSpec::Generated(Spec {
                folders: vec![("INBOX".to_string(), count)],
                sizes: SizeProfile::Small,
                seed,
                specials: false,
                start_date: mail::START_2024,
            })
        };
        let mailboxes = match name {
            "one" => vec![one(1)],
            "many" => (0..20).map(|i| one(100 + i)).collect(),
            "big10k" => vec![small(7, 10_000)],
            "big50k" => vec![small(8, 50_000)],
            "big100mb" => vec![MailboxSpec::Huge {
                seed: 9,
                bytes: 100 << 20,
            }],
            "scale" => (0..SCALE_MAILBOXES as u64)
                .map(|i| {
                    MailboxSpec::Generated(Spec {
                        folders: vec![("INBOX".to_string(), 60), ("Archive".to_string(), 20)],
                        sizes: SizeProfile::Small,
                        seed: 1_000 + i,
                        specials: false,
                        start_date: mail::START_2024,
                    })
                })
                .collect(),
            _ => return None,
        };
        Some(DataSet {
            name: name.to_string(),
            mailboxes,
        })
    }
}

impl MailboxSpec {
    /// Generates the mailbox's folders and messages.
    pub fn generate(&self) -> Vec<SeedFolder> {
        match self {
            MailboxSpec::Generated(spec) => mail::generate_mailbox(spec),
            MailboxSpec::Huge { seed, bytes } => {
                let msg = SeedMessage::new(
                    mail::big_message(*bytes, *seed),
                    &["\\Seen"],
                    mail::START_2024,
                );
                vec![SeedFolder::new("INBOX", vec![msg])]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_resolves() {
        for n in NAMES {
            assert!(DataSet::named(n).is_some(), "{n}");
        }
        assert_eq!(DataSet::named("many").map(|s| s.mailboxes.len()), Some(20));
        assert_eq!(
            DataSet::named("scale").map(|s| s.mailboxes.len()),
            Some(SCALE_MAILBOXES)
        );
    }

    #[test]
    fn one_has_2500_messages_in_7_folders() {
        let Some(set) = DataSet::named("one") else {
            unreachable!()
        };
        let folders = set.mailboxes[0].generate();
        assert_eq!(folders.len(), 7);
        assert_eq!(
            folders.iter().map(|f| f.messages.len()).sum::<usize>(),
            2_500
        );
    }
}

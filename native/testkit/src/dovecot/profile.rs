//! Server profiles: the capability lists of the servers admins migrate from and to, as data.
//!
//! An instance started with a profile advertises the profile's list (`imap_capability` under
//! `protocol imap`, before and after login; Dovecot adds `STARTTLS` and the `AUTH=` mechanisms
//! before login itself). Dovecot still *accepts* the commands it no longer advertises, so a
//! test that wants to know whether the client kept to the list puts a
//! [`StrictProxy`](crate::StrictProxy) in front of it.
//!
//! The lists are the providers' own post-login lists, minus what this Dovecot cannot serve:
//! - Gmail: `IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 UIDPLUS
//!   COMPRESS=DEFLATE ENABLE MOVE CONDSTORE ESEARCH UTF8=ACCEPT LIST-EXTENDED LIST-STATUS
//!   LITERAL- SPECIAL-USE APPENDLIMIT=35651584`; without `XLIST`, `X-GM-EXT-1`,
//!   `COMPRESS=DEFLATE` (no zlib plugin loaded) and `UTF8=ACCEPT` (Dovecot 2.3 lacks it).
//! - Exchange Online: `IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT
//!   CLIENTACCESSRULES CLIENTNETWORKPRESENCELOCATION BACKENDAUTHENTICATE CHILDREN IDLE NAMESPACE
//!   LITERAL+`; without the `AUTH=` entries (Dovecot names its own mechanisms) and Microsoft's
//!   three private extensions. No MULTIAPPEND, no CONDSTORE, no SPECIAL-USE.
//! - Bare IMAP4rev1 with UIDPLUS, and bare IMAP4rev1: older servers.

use serde::{Deserialize, Serialize};

/// A capability profile for a test server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ServerProfile {
    /// Dovecot's own list (LITERAL+, MULTIAPPEND, UIDPLUS, CONDSTORE, QRESYNC, SPECIAL-USE...).
    #[default]
    Full,
    /// Gmail's list: `LITERAL-` (non-synchronizing literals up to 4,096 bytes), no MULTIAPPEND,
    /// `APPENDLIMIT=35651584`, CONDSTORE, SPECIAL-USE.
    GmailLike,
    /// Exchange Online's list: `LITERAL+`, UIDPLUS, MOVE; no MULTIAPPEND, CONDSTORE or
    /// SPECIAL-USE.
    ExchangeLike,
    /// `IMAP4rev1 UIDPLUS`: synchronizing literals only, APPENDUID.
    Imap4rev1Uidplus,
    /// `IMAP4rev1` alone: synchronizing literals only, no APPENDUID, no NAMESPACE.
    Imap4rev1,
}

impl ServerProfile {
    /// Every profile, the full one first.
    pub const ALL: [ServerProfile; 5] = [
        ServerProfile::Full,
        ServerProfile::GmailLike,
        ServerProfile::ExchangeLike,
        ServerProfile::Imap4rev1Uidplus,
        ServerProfile::Imap4rev1,
    ];

    /// Short name for test output and the binary (`full`, `gmail`, `exchange`, `rev1-uidplus`,
    /// `rev1`).
    pub fn name(self) -> &'static str {
        match self {
            ServerProfile::Full => "full",
            ServerProfile::GmailLike => "gmail",
            ServerProfile::ExchangeLike => "exchange",
            ServerProfile::Imap4rev1Uidplus => "rev1-uidplus",
            ServerProfile::Imap4rev1 => "rev1",
        }
    }

    /// The profile named `name` (see [`ServerProfile::name`]).
    pub fn from_name(name: &str) -> Option<ServerProfile> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// The advertised list, or `None` for Dovecot's own.
    pub fn capabilities(self) -> Option<&'static [&'static str]> {
        match self {
            ServerProfile::Full => None,
            ServerProfile::GmailLike => Some(&[
                "IMAP4rev1",
                "UNSELECT",
                "IDLE",
                "NAMESPACE",
                "QUOTA",
                "ID",
                "CHILDREN",
                "UIDPLUS",
                "ENABLE",
                "MOVE",
                "CONDSTORE",
                "ESEARCH",
                "LIST-EXTENDED",
                "LIST-STATUS",
                "LITERAL-",
                "SPECIAL-USE",
                "APPENDLIMIT=35651584",
            ]),
            ServerProfile::ExchangeLike => Some(&[
                "IMAP4",
                "IMAP4rev1",
                "SASL-IR",
                "UIDPLUS",
                "MOVE",
                "ID",
                "UNSELECT",
                "CHILDREN",
                "IDLE",
                "NAMESPACE",
                "LITERAL+",
            ]),
            ServerProfile::Imap4rev1Uidplus => Some(&["IMAP4rev1", "UIDPLUS"]),
            ServerProfile::Imap4rev1 => Some(&["IMAP4rev1"]),
        }
    }

    /// The `imap_capability` value, or `None` to leave Dovecot's default.
    pub fn imap_capability(self) -> Option<String> {
        self.capabilities().map(|c| c.join(" "))
    }

    /// Whether the profile advertises `cap` (case-insensitive); the full profile advertises
    /// what Dovecot 2.3 does.
    pub fn advertises(self, cap: &str) -> bool {
        match self.capabilities() {
            Some(list) => list.iter().any(|c| c.eq_ignore_ascii_case(cap)),
            None => DOVECOT_DEFAULT.iter().any(|c| c.eq_ignore_ascii_case(cap)),
        }
    }
}

impl std::fmt::Display for ServerProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What Dovecot 2.3.19 advertises after login with this crate's configuration.
const DOVECOT_DEFAULT: &[&str] = &[
    "IMAP4rev1",
    "SASL-IR",
    "LOGIN-REFERRALS",
    "ID",
    "ENABLE",
    "IDLE",
    "SORT",
    "SORT=DISPLAY",
    "THREAD=REFERENCES",
    "THREAD=REFS",
    "THREAD=ORDEREDSUBJECT",
    "MULTIAPPEND",
    "URL-PARTIAL",
    "CATENATE",
    "UNSELECT",
    "CHILDREN",
    "NAMESPACE",
    "UIDPLUS",
    "LIST-EXTENDED",
    "I18NLEVEL=1",
    "CONDSTORE",
    "QRESYNC",
    "ESEARCH",
    "ESORT",
    "SEARCHRES",
    "WITHIN",
    "CONTEXT=SEARCH",
    "LIST-STATUS",
    "BINARY",
    "MOVE",
    "SNIPPET=FUZZY",
    "PREVIEW=FUZZY",
    "PREVIEW",
    "STATUS=SIZE",
    "SAVEDATE",
    "LITERAL+",
    "NOTIFY",
    "SPECIAL-USE",
];

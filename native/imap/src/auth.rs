//! Credentials and SASL payloads: LOGIN (RFC 3501 §6.2.3), PLAIN (RFC 4616), XOAUTH2
//! (Google/Microsoft), and the Dovecot-style master-user login.

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::error::Result;
use crate::secret::{ExposeSecret, SecretString};

/// Supplies OAuth2 access tokens (for XOAUTH2). Implementations cache and refresh.
pub trait TokenSource: Send + Sync {
    /// A currently valid access token.
    fn token(&self) -> BoxFuture<'_, Result<SecretString>>;
}

/// A fixed token, for callers that obtain tokens elsewhere.
#[derive(Debug, Clone)]
pub struct StaticToken(pub SecretString);

impl TokenSource for StaticToken {
    fn token(&self) -> BoxFuture<'_, Result<SecretString>> {
        Box::pin(async move { Ok(self.0.clone()) })
    }
}

/// How to log in.
#[derive(Clone)]
pub enum Credentials {
    /// `LOGIN user password`. Falls back to `AUTHENTICATE PLAIN` when the server advertises
    /// `LOGINDISABLED` but offers `AUTH=PLAIN`, or when a value cannot be sent as a quoted
    /// string (8-bit characters).
    Login {
        /// The login name, sent as an IMAP quoted string (or as the PLAIN authcid on fallback).
        user: String,
        /// The password; only ever sent over TLS unless the endpoint's security is `None`.
        password: SecretString,
    },
    /// Master-user login as Dovecot spells it: `LOGIN "<user><separator><admin>" <admin
    /// password>`, with the `LOGIN` fallbacks. A refusal says what a server without master
    /// users takes instead (Cyrus: an authorization identity).
    Master {
        /// The mailbox to open.
        user: String,
        /// What is sent as the login name: `user`, the separator, the master user.
        login: String,
        /// The master user's password.
        password: SecretString,
    },
    /// SASL PLAIN (RFC 4616). `authzid` is the user to act for; `authcid` the admin logging in.
    Plain {
        /// Authentication identity: whose password this is (the admin or master user).
        authcid: String,
        /// Authorization identity: the mailbox to open. `None` logs in as `authcid` itself.
        authzid: Option<String>,
        /// The password of `authcid`.
        password: SecretString,
    },
    /// SASL XOAUTH2 with a bearer token for `user`.
    XOAuth2 {
        /// The mailbox address the token is for (the `user=` part of the payload).
        user: String,
        /// Where the bearer token comes from; asked once per login, so it may refresh.
        token: Arc<dyn TokenSource>,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Login { user, .. } => f
                .debug_struct("Login")
                .field("user", user)
                .field("password", &"***")
                .finish(),
            Credentials::Master { user, login, .. } => f
                .debug_struct("Master")
                .field("user", user)
                .field("login", login)
                .field("password", &"***")
                .finish(),
            Credentials::Plain {
                authcid, authzid, ..
            } => f
                .debug_struct("Plain")
                .field("authcid", authcid)
                .field("authzid", authzid)
                .field("password", &"***")
                .finish(),
            Credentials::XOAuth2 { user, .. } => f
                .debug_struct("XOAuth2")
                .field("user", user)
                .field("token", &"***")
                .finish(),
        }
    }
}

impl Credentials {
    /// The user this login acts as, for messages.
    pub fn user(&self) -> &str {
        match self {
            Credentials::Login { user, .. }
            | Credentials::Master { user, .. }
            | Credentials::XOAuth2 { user, .. } => user,
            Credentials::Plain {
                authcid, authzid, ..
            } => authzid.as_deref().unwrap_or(authcid),
        }
    }
}

/// Master-user login as Dovecot spells it: `LOGIN "<user><sep><admin>" <admin password>`
/// (`alice*admin` with the default separator `*`).
pub fn master_user_login(
    user: &str,
    separator: &str,
    admin: &str,
    password: SecretString,
) -> Credentials {
    Credentials::Master {
        user: user.to_owned(),
        login: format!("{user}{separator}{admin}"),
        password,
    }
}

/// RFC 4616 §2: `[authzid] NUL authcid NUL passwd`.
pub(crate) fn plain_payload(
    authzid: Option<&str>,
    authcid: &str,
    password: &SecretString,
) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(authzid.unwrap_or_default().as_bytes());
    out.push(0);
    out.extend_from_slice(authcid.as_bytes());
    out.push(0);
    out.extend_from_slice(password.expose_secret().as_bytes());
    out
}

/// `user=<user>^Aauth=Bearer <token>^A^A`.
pub(crate) fn xoauth2_payload(user: &str, token: &SecretString) -> Vec<u8> {
    format!(
        "user={user}\x01auth=Bearer {}\x01\x01",
        token.expose_secret()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_payload_layout() {
        let p = plain_payload(Some("alice"), "admin", &SecretString::from("pw"));
        assert_eq!(p, b"alice\0admin\0pw");
        let p = plain_payload(None, "bob", &SecretString::from("pw"));
        assert_eq!(p, b"\0bob\0pw");
    }

    #[test]
    fn xoauth2_payload_layout() {
        let p = xoauth2_payload("u@x", &SecretString::from("tok"));
        assert_eq!(p, b"user=u@x\x01auth=Bearer tok\x01\x01");
    }

    #[test]
    fn master_user_and_debug_redaction() {
        let c = master_user_login("alice", "*", "admin", SecretString::from("adminpass"));
        let Credentials::Master { login, .. } = &c else {
            panic!()
        };
        assert_eq!(login, "alice*admin");
        assert_eq!(c.user(), "alice");
        assert!(!format!("{c:?}").contains("adminpass"));
    }
}

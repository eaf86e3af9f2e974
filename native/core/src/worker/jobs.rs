//! Turning stored records into an engine job: where the source is, how each side logs in, where
//! the mail goes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use imapmigration_imap as imap;
use imapmigration_store::{
    self as store, AuthenticationMethod, BatchRecord, EndpointRecord, Store, TargetLogin,
    UserRecord,
};
use uuid::Uuid;

use crate::engine::{SourceSpec, SyncOptions, TargetSpec, UserJob, server_config};

/// Why a job could not be built: these fail the user at once, with a clear message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// The store could not be read while building the job.
    #[error("cannot read the state store: {0}")]
    Store(#[from] store::Error),
    /// The batch names an endpoint (by id) that has been removed.
    #[error("endpoint {0} no longer exists")]
    MissingEndpoint(Uuid),
    #[error("endpoint {endpoint} is set to {what} but has no {missing}")]
    /// The endpoint's settings need a value it does not hold (an OAuth2 target without a
    /// token endpoint, say).
    Incomplete {
        /// The endpoint's name.
        endpoint: String,
        /// The setting that needs the missing value, as the error prints it.
        what: &'static str,
        /// The value that is missing, as the error prints it.
        missing: &'static str,
    },
    #[error("cannot prepare OAuth2 tokens for endpoint {endpoint}: {source}")]
    /// The endpoint's OAuth2 client-credentials token source could not be set up.
    OAuth {
        /// The endpoint's name.
        endpoint: String,
        /// Why the token source was refused.
        source: imap::Error,
    },
    /// The batch's `-ContentFilter` does not parse.
    #[error("invalid ContentFilter of batch {batch}: {message}")]
    ContentFilter {
        /// The batch's name.
        batch: String,
        /// What is wrong with the filter, from its parser.
        message: String,
    },
}

/// OAuth2 token sources, one per endpoint, shared by every user of that endpoint so a token is
/// fetched once and refreshed before it expires.
#[derive(Default)]
pub struct TokenCache {
    sources: HashMap<Uuid, Arc<dyn imap::TokenSource>>,
}

/// A token source whose every access token is registered with the redaction step
/// ([`store::redact`]): a server that echoes the bearer token in a refusal must not get it
/// into a report.
struct Redacted(imap::ClientCredentialsTokens);

impl imap::TokenSource for Redacted {
    fn token(&self) -> futures::future::BoxFuture<'_, imap::Result<imap::SecretString>> {
        Box::pin(async move {
            let token = self.0.token().await?;
            store::redact::remember(&token);
            Ok(token)
        })
    }
}

impl TokenCache {
    fn get(
        &mut self,
        store: &Store,
        endpoint: &EndpointRecord,
    ) -> Result<Arc<dyn imap::TokenSource>, JobError> {
        if let Some(t) = self.sources.get(&endpoint.id) {
            return Ok(t.clone());
        }
        let url = endpoint
            .oauth_token_endpoint
            .clone()
            .ok_or_else(|| JobError::Incomplete {
                endpoint: endpoint.name.clone(),
                what: "OAuth2",
                missing: "token endpoint (-OAuthTokenEndpoint)",
            })?;
        let client_id = endpoint
            .oauth_client_id
            .clone()
            .ok_or_else(|| JobError::Incomplete {
                endpoint: endpoint.name.clone(),
                what: "OAuth2",
                missing: "client id (-OAuthClientId)",
            })?;
        let sealed = endpoint
            .admin_secret
            .as_ref()
            .ok_or_else(|| JobError::Incomplete {
                endpoint: endpoint.name.clone(),
                what: "OAuth2",
                missing: "client secret (-Credentials password)",
            })?;
        let secret = store.unseal(sealed)?;
        let mut tokens = imap::ClientCredentialsTokens::new(
            url,
            client_id,
            secret,
            endpoint.oauth_scope.clone(),
        )
        .map_err(|source| JobError::OAuth {
            endpoint: endpoint.name.clone(),
            source,
        })?;
        if let Some(ca) = &endpoint.ca_file {
            tokens = tokens.with_ca_file(ca).map_err(|source| JobError::OAuth {
                endpoint: endpoint.name.clone(),
                source,
            })?;
        }
        let tokens: Arc<dyn imap::TokenSource> = Arc::new(Redacted(tokens));
        self.sources.insert(endpoint.id, tokens.clone());
        Ok(tokens)
    }
}

/// The target user name for `user` under an endpoint's `-TargetUserTemplate`
/// (`{EmailAddress}` by default; `{UserName}` and `{LocalPart}` are the other placeholders).
pub fn target_user_name(template: Option<&str>, user: &UserRecord) -> String {
    let template = template.unwrap_or("{EmailAddress}");
    let local = user.email.split('@').next().unwrap_or(&user.email);
    template
        .replace("{EmailAddress}", &user.email)
        .replace("{UserName}", &user.user_name)
        .replace("{LocalPart}", local)
}

/// Where the batch's mail goes when it names no IMAP target.
pub fn maildir_root(home: &Path, batch: &BatchRecord, user: &UserRecord) -> PathBuf {
    let base = batch
        .target_maildir
        .as_ref()
        .map(PathBuf::from)
        .unwrap_or_else(|| store::paths::maildir_root(home));
    base.join(store::paths::maildir_dir_name(&user.email))
}

/// The target endpoint of a batch: its own, else the configured default, else none (Maildir).
pub fn target_endpoint(
    store: &Store,
    batch: &BatchRecord,
) -> Result<Option<EndpointRecord>, JobError> {
    let id = match batch.target_endpoint_id {
        Some(id) => Some(id.to_string()),
        None => store
            .config_get("defaultTargetEndpoint")?
            .and_then(|v| v.as_str().map(str::to_owned)),
    };
    match id {
        None => Ok(None),
        Some(id) => match store.get_endpoint(&id)? {
            Some(e) => Ok(Some(e)),
            None => match batch.target_endpoint_id {
                Some(uuid) => Err(JobError::MissingEndpoint(uuid)),
                // A default that was removed falls back to the embedded store, as documented.
                None => Ok(None),
            },
        },
    }
}

/// Builds the engine job for one user of a batch.
pub fn build(
    store: &Store,
    tokens: &mut TokenCache,
    batch: &BatchRecord,
    user: &UserRecord,
) -> Result<UserJob, JobError> {
    let source_ep = store
        .get_endpoint(&batch.source_endpoint_id.to_string())?
        .ok_or(JobError::MissingEndpoint(batch.source_endpoint_id))?;
    let password = store.user_password(user)?;
    // The stall limits in force now: Set-MigrationConfig's, under the environment's overrides.
    let timeouts = crate::engine::server::configured_timeouts(store);
    let server = |e: &EndpointRecord| {
        let mut cfg = server_config(e);
        cfg.timeouts = timeouts;
        cfg
    };
    let source_credentials = match source_ep.authentication {
        AuthenticationMethod::OAuth2 => imap::Credentials::XOAuth2 {
            user: user.user_name.clone(),
            token: tokens.get(store, &source_ep)?,
        },
        _ => imap::Credentials::Login {
            user: user.user_name.clone(),
            password: password.clone(),
        },
    };
    let source = SourceSpec {
        server: server(&source_ep),
        credentials: source_credentials,
        user_root: user.user_root.clone(),
        include_other_namespaces: false,
    };

    let target = match target_endpoint(store, batch)? {
        None => TargetSpec::Maildir {
            root: maildir_root(store.home(), batch, user),
        },
        Some(t) => {
            let name = target_user_name(t.target_user_template.as_deref(), user);
            let admin = || -> Result<(String, imap::SecretString), JobError> {
                let admin = t.admin_user.clone().ok_or_else(|| JobError::Incomplete {
                    endpoint: t.name.clone(),
                    what: "an admin login",
                    missing: "user name (-Credentials)",
                })?;
                let sealed = t
                    .admin_secret
                    .as_ref()
                    .ok_or_else(|| JobError::Incomplete {
                        endpoint: t.name.clone(),
                        what: "an admin login",
                        missing: "password (-Credentials)",
                    })?;
                Ok((admin, store.unseal(sealed)?))
            };
            let credentials = match t.target_login {
                Some(TargetLogin::MasterUser) => {
                    let (admin, pw) = admin()?;
                    imap::master_user_login(&name, &t.master_user_separator, &admin, pw)
                }
                Some(TargetLogin::AuthorizationId) => {
                    let (admin, pw) = admin()?;
                    imap::Credentials::Plain {
                        authcid: admin,
                        authzid: Some(name),
                        password: pw,
                    }
                }
                Some(TargetLogin::OAuth2) => imap::Credentials::XOAuth2 {
                    user: name,
                    token: tokens.get(store, &t)?,
                },
                None => imap::Credentials::Login {
                    user: name,
                    password: password.clone(),
                },
            };
            TargetSpec::Imap {
                server: server(&t),
                credentials,
            }
        }
    };

    let received_filter = match batch.content_filter.as_deref().map(str::trim) {
        Some(f) if !f.is_empty() => {
            Some(
                crate::engine::parse_content_filter(f).map_err(|e| JobError::ContentFilter {
                    batch: batch.name.clone(),
                    message: e.to_string(),
                })?,
            )
        }
        _ => None,
    };
    // The target's limit: it is the server that counts a user's connections there (each
    // folder worker also holds one on the source, never more than on the target).
    let (connections_per_user, preserve_order, verify_content) =
        match target_endpoint(store, batch)? {
            Some(t) => (
                t.max_connections_per_user as usize,
                t.preserve_order,
                crate::engine::content_verification(
                    &t,
                    std::env::var(crate::engine::VERIFY_CONTENT_VAR)
                        .ok()
                        .as_deref(),
                ),
            ),
            // The Maildir target: the engine writes the files itself, nothing to read back.
            None => (source_ep.max_connections_per_user as usize, false, false),
        };
    let options = SyncOptions {
        exclude_folders: batch.exclude_folders.clone(),
        include_folders: batch.include_folders.clone(),
        received_filter,
        max_message_size: batch.max_message_size,
        large_item_limit: batch.large_item_limit.map(u64::from),
        bad_item_limit: batch.bad_item_limit.map(u64::from),
        connections_per_user,
        preserve_order,
        verify_content,
        // Each folder worker holds one source connection.
        folder_parallelism: SyncOptions::default()
            .folder_parallelism
            .min(source_ep.max_connections_per_user as usize)
            .max(1),
        far_folder_parallelism: SyncOptions::default()
            .far_folder_parallelism
            .min(source_ep.max_connections_per_user as usize)
            .max(1),
        ..SyncOptions::default()
    };
    Ok(UserJob {
        user_id: user.id.to_string(),
        email: user.email.clone(),
        source,
        target,
        options,
    })
}

//! OAuth2 client-credentials grant (RFC 6749 §4.4) for app-only XOAUTH2 logins.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::auth::TokenSource;
use crate::error::{Error, Result};
use crate::secret::{ExposeSecret, SecretString};
use crate::tls;

/// Refresh this long before a token expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Fetches and caches tokens from a token endpoint with a client id and secret.
pub struct ClientCredentialsTokens {
    token_url: String,
    client_id: String,
    client_secret: SecretString,
    scope: Option<String>,
    http: reqwest::Client,
    cache: Mutex<Option<(SecretString, Instant)>>,
}

impl std::fmt::Debug for ClientCredentialsTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentialsTokens")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenReply {
    /// Deserialized as a secret, so the token is zeroized when dropped.
    access_token: SecretString,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl ClientCredentialsTokens {
    /// A token source for `token_url`. `scope` is e.g. `https://outlook.office365.com/.default`.
    pub fn new(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: SecretString,
        scope: Option<String>,
    ) -> Result<Self> {
        let token_url = token_url.into();
        let http = http_client(&token_url, None)?;
        Ok(ClientCredentialsTokens {
            token_url,
            client_id: client_id.into(),
            client_secret,
            scope,
            http,
            cache: Mutex::new(None),
        })
    }

    /// Also trust the CA certificates in `ca_file` for the token endpoint.
    pub fn with_ca_file(mut self, ca_file: impl Into<PathBuf>) -> Result<Self> {
        self.http = http_client(&self.token_url, Some(ca_file.into()))?;
        Ok(self)
    }

    async fn fetch(&self) -> Result<(SecretString, Instant)> {
        let err = |message: String| Error::OAuth {
            url: self.token_url.clone(),
            message,
        };
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose_secret()),
        ];
        if let Some(scope) = &self.scope {
            form.push(("scope", scope.as_str()));
        }
        let started = Instant::now();
        let resp = self
            .http
            .post(&self.token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| err(format!("request failed: {e}")))?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            let body: String = body.chars().take(500).collect();
            return Err(err(format!("token endpoint answered {status}: {body}")));
        }
        let reply: TokenReply = resp
            .json()
            .await
            .map_err(|e| err(format!("cannot read token reply: {e}")))?;
        let lifetime = Duration::from_secs(reply.expires_in.unwrap_or(3600));
        tracing::debug!(lifetime_secs = lifetime.as_secs(), "obtained oauth2 token");
        Ok((reply.access_token, started + lifetime))
    }
}

/// When to stop using a token valid for `lifetime`: 5 minutes early, or halfway through
/// for tokens shorter than 10 minutes.
fn refresh_at(obtained: Instant, expires: Instant) -> Instant {
    let lifetime = expires.saturating_duration_since(obtained);
    let margin = REFRESH_MARGIN.min(lifetime / 2);
    expires - margin
}

impl TokenSource for ClientCredentialsTokens {
    fn token(&self) -> BoxFuture<'_, Result<SecretString>> {
        Box::pin(async move {
            let mut cache = self.cache.lock().await;
            if let Some((token, use_until)) = cache.as_ref()
                && Instant::now() < *use_until
            {
                return Ok(token.clone());
            }
            let now = Instant::now();
            let (token, expires) = self.fetch().await?;
            *cache = Some((token.clone(), refresh_at(now, expires)));
            Ok(token)
        })
    }
}

fn http_client(url: &str, ca_file: Option<PathBuf>) -> Result<reqwest::Client> {
    let host = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| url.to_string());
    let tls = tls::client_config(&host, false, ca_file.as_deref())?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(Duration::from_secs(30))
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| Error::OAuth {
            url: url.to_string(),
            message: format!("cannot build http client: {e}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_margin() {
        let t0 = Instant::now();
        assert_eq!(
            refresh_at(t0, t0 + Duration::from_secs(3600)),
            t0 + Duration::from_secs(3300)
        );
        assert_eq!(
            refresh_at(t0, t0 + Duration::from_secs(60)),
            t0 + Duration::from_secs(30)
        );
    }
}

//! Where a state directory keeps its state: the embedded SQLite file (the default) or a
//! PostgreSQL database shared by several worker hosts.
//!
//! The choice is configuration, read in this order:
//! 1. the environment variable [`STORE_ENV`] (`IMAPMIGRATION_STORE`): a connection string
//!    `postgres://user:password@host:port/database` (or `postgresql://...`), or `sqlite`;
//! 2. the file `<home>/store.conf`: one line `store = <connection string>` (blank lines and
//!    lines starting with `#` are ignored), or `store = sqlite`;
//! 3. otherwise `<home>/state.db`.
//!
//! The key file stays `<home>/secret.key` whichever backend holds the sealed secrets, so every
//! host of one PostgreSQL deployment needs the same copy of it.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The environment variable that selects the store.
pub const STORE_ENV: &str = "IMAPMIGRATION_STORE";

/// The configuration file in the state directory that selects the store.
pub const STORE_CONF: &str = "store.conf";

/// `<home>/store.conf`.
pub fn store_conf_path(home: &Path) -> PathBuf {
    home.join(STORE_CONF)
}

/// Which setting chose the store; named in every error about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    /// The environment variable [`STORE_ENV`].
    Env,
    /// `<home>/store.conf`.
    File(PathBuf),
    /// Nothing configured: the default.
    Default,
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Setting::Env => write!(f, "environment variable {STORE_ENV}"),
            Setting::File(p) => write!(f, "{} (store =)", p.display()),
            Setting::Default => write!(f, "the default (no {STORE_ENV}, no {STORE_CONF})"),
        }
    }
}

/// A PostgreSQL connection string with the setting it came from. Debug and Display never
/// show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct PgLocation {
    url: String,
    /// The setting the connection string came from.
    pub setting: Setting,
}

impl PgLocation {
    /// A location from a connection string (checked to be `postgres://` or `postgresql://`).
    pub fn new(url: &str, setting: Setting) -> Result<PgLocation> {
        let url = url.trim();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(Error::StoreConfig {
                setting: setting.to_string(),
                reason: "expected `sqlite` or a connection string postgres://user:password@host:port/database".into(),
            });
        }
        if url.parse::<postgres::Config>().is_err() {
            return Err(Error::StoreConfig {
                setting: setting.to_string(),
                reason: "the connection string cannot be parsed (postgres://user:password@host:port/database; percent-encode special characters)".into(),
            });
        }
        Ok(PgLocation {
            url: url.to_owned(),
            setting,
        })
    }

    /// The connection string, password included: only for the driver.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The connection string with the password replaced by `***`.
    pub fn redacted(&self) -> String {
        let Some((scheme, rest)) = self.url.split_once("://") else {
            return "***".into();
        };
        match rest.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
                None => format!("{scheme}://{userinfo}@{host}"),
            },
            None => self.url.clone(),
        }
    }
}

impl fmt::Debug for PgLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgLocation")
            .field("url", &self.redacted())
            .field("setting", &self.setting)
            .finish()
    }
}

impl fmt::Display for PgLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (from {})", self.redacted(), self.setting)
    }
}

/// The store a state directory uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// `<home>/state.db`.
    Sqlite,
    /// A shared PostgreSQL database.
    Postgres(PgLocation),
}

impl StoreLocation {
    /// Reads the configuration of `home` from [`STORE_ENV`] and `<home>/store.conf`.
    pub fn resolve(home: &Path) -> Result<StoreLocation> {
        Self::resolve_with(home, std::env::var(STORE_ENV).ok().as_deref())
    }

    /// [`Self::resolve`] with the environment variable's value given (tests).
    pub fn resolve_with(home: &Path, env: Option<&str>) -> Result<StoreLocation> {
        if let Some(v) = env.map(str::trim).filter(|v| !v.is_empty()) {
            return Self::from_value(v, Setting::Env);
        }
        let path = store_conf_path(home);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(StoreLocation::Sqlite);
            }
            Err(source) => {
                return Err(Error::Io {
                    action: "read store configuration",
                    path,
                    source,
                });
            }
        };
        let setting = Setting::File(path);
        let mut value = None;
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once('=') {
                Some((k, v)) if k.trim().eq_ignore_ascii_case("store") && value.is_none() => {
                    value = Some(v.trim().to_owned());
                }
                _ => {
                    return Err(Error::StoreConfig {
                        setting: setting.to_string(),
                        reason:
                            "expected one line `store = <connection string>` (or `store = sqlite`)"
                                .into(),
                    });
                }
            }
        }
        match value {
            Some(v) => Self::from_value(&v, setting),
            None => Err(Error::StoreConfig {
                setting: setting.to_string(),
                reason: "no `store = ...` line".into(),
            }),
        }
    }

    fn from_value(v: &str, setting: Setting) -> Result<StoreLocation> {
        if v.eq_ignore_ascii_case("sqlite") {
            return Ok(StoreLocation::Sqlite);
        }
        PgLocation::new(v, setting).map(StoreLocation::Postgres)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_env_and_file() {
        let home = tempfile::tempdir().unwrap();
        assert_eq!(
            StoreLocation::resolve_with(home.path(), None).unwrap(),
            StoreLocation::Sqlite
        );
        std::fs::write(
            store_conf_path(home.path()),
            "# shared store\nstore = postgres://mig:s3cret@db.example:5432/mig\n",
        )
        .unwrap();
        let StoreLocation::Postgres(pg) = StoreLocation::resolve_with(home.path(), None).unwrap()
        else {
            panic!("expected postgres")
        };
        assert_eq!(pg.redacted(), "postgres://mig:***@db.example:5432/mig");
        assert!(!format!("{pg} {pg:?}").contains("s3cret"));
        assert!(matches!(pg.setting, Setting::File(_)));
        // The environment wins over the file.
        assert_eq!(
            StoreLocation::resolve_with(home.path(), Some("sqlite")).unwrap(),
            StoreLocation::Sqlite
        );
    }

    #[test]
    fn bad_values_name_the_setting_and_hide_the_password() {
        let home = tempfile::tempdir().unwrap();
        let e = StoreLocation::resolve_with(home.path(), Some("mysql://u:pw@h/db")).unwrap_err();
        let text = e.to_string();
        assert!(text.contains(STORE_ENV), "{text}");
        assert!(!text.contains("pw@"), "{text}");
        std::fs::write(store_conf_path(home.path()), "url postgres://x\n").unwrap();
        let text = StoreLocation::resolve_with(home.path(), None)
            .unwrap_err()
            .to_string();
        assert!(text.contains("store.conf"), "{text}");
    }
}

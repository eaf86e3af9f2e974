//! An endpoint record as the IMAP layer's connection settings: one conversion, used by the
//! jobs the worker builds and by the endpoint checks of the api.

use std::path::PathBuf;
use std::time::Duration;

use imapmigration_imap as imap;
use imapmigration_store::{EndpointRecord, SecurityMode, Store};

/// The environment variable that turns COMPRESS=DEFLATE off for every endpoint (`0`).
pub const COMPRESS_VAR: &str = "IMAPMIGRATION_COMPRESS";

/// Whether COMPRESS=DEFLATE may be used with endpoint `e`: not when it has
/// `-DisableCompression`, nor when `IMAPMIGRATION_COMPRESS` is `0` (or `off`, `false`, `no`).
pub fn compression_allowed(e: &EndpointRecord, env: Option<&str>) -> bool {
    let env_off = env.is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "0" | "off" | "false" | "no"
        )
    });
    !e.disable_compression && !env_off
}

/// The environment variable that turns content verification on for every IMAP target (`1`).
pub const VERIFY_CONTENT_VAR: &str = "IMAPMIGRATION_VERIFY_CONTENT";

/// Whether what is appended to target endpoint `e` is read back and compared
/// ([`SyncOptions::verify_content`](super::SyncOptions)): when it has `-VerifyContent`, or
/// when `IMAPMIGRATION_VERIFY_CONTENT` is `1` (or `on`, `true`, `yes`).
pub fn content_verification(e: &EndpointRecord, env: Option<&str>) -> bool {
    let env_on = env.is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "on" | "true" | "yes"
        )
    });
    e.verify_content || env_on
}

/// Connection settings of an endpoint: host, port and security as recorded, its certificate
/// rules, whether compression may be used ([`compression_allowed`]), and the stall limits of
/// [`timeouts`].
pub fn server_config(e: &EndpointRecord) -> imap::ServerConfig {
    let security = match e.security {
        SecurityMode::None => imap::Security::None,
        SecurityMode::Tls => imap::Security::Tls,
        SecurityMode::Ssl => imap::Security::Ssl,
    };
    let mut cfg = imap::ServerConfig::new(e.remote_server.clone(), e.port, security);
    cfg.accept_untrusted = e.accept_untrusted;
    cfg.ca_file = e.ca_file.as_ref().map(PathBuf::from);
    cfg.timeouts = timeouts();
    cfg.compress = compression_allowed(e, std::env::var(COMPRESS_VAR).ok().as_deref());
    cfg
}

/// One stall limit that `Set-MigrationConfig` stores and an environment variable overrides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutSetting {
    /// The config key (and the `config.set` argument): seconds, or bytes per second for the
    /// rate.
    pub key: &'static str,
    /// The environment variable that overrides the stored value (tests, one-off runs).
    pub env: &'static str,
    /// The `Set-MigrationConfig` parameter that sets it.
    pub parameter: &'static str,
}

/// The stall limits settable with `Set-MigrationConfig`, in the order of [`imap::Timeouts`]:
/// connect, greeting, TLS, login, idle (seconds) and the minimum rate (bytes per second).
pub const TIMEOUT_SETTINGS: [TimeoutSetting; 6] = [
    TimeoutSetting {
        key: "connectTimeout",
        env: "IMAPMIGRATION_TIMEOUT_CONNECT",
        parameter: "ConnectTimeout",
    },
    TimeoutSetting {
        key: "greetingTimeout",
        env: "IMAPMIGRATION_TIMEOUT_GREETING",
        parameter: "GreetingTimeout",
    },
    TimeoutSetting {
        key: "tlsTimeout",
        env: "IMAPMIGRATION_TIMEOUT_TLS",
        parameter: "TlsTimeout",
    },
    TimeoutSetting {
        key: "loginTimeout",
        env: "IMAPMIGRATION_TIMEOUT_LOGIN",
        parameter: "LoginTimeout",
    },
    TimeoutSetting {
        key: "idleTimeout",
        env: "IMAPMIGRATION_TIMEOUT_IDLE",
        parameter: "IdleTimeout",
    },
    TimeoutSetting {
        key: "minTransferRate",
        env: "IMAPMIGRATION_MIN_RATE",
        parameter: "MinTransferRate",
    },
];

/// Environment variables that override each stall limit (seconds, decimals allowed; the rate
/// in bytes per second), for tests and for admins who need other numbers (README,
/// "Timeouts").
pub const TIMEOUT_VARS: [&str; 6] = [
    TIMEOUT_SETTINGS[0].env,
    TIMEOUT_SETTINGS[1].env,
    TIMEOUT_SETTINGS[2].env,
    TIMEOUT_SETTINGS[3].env,
    TIMEOUT_SETTINGS[4].env,
    TIMEOUT_SETTINGS[5].env,
];

/// The shortest and longest phase limit `Set-MigrationConfig` accepts, in seconds.
pub const TIMEOUT_RANGE_SECS: (f64, f64) = (1.0, 3600.0);

/// The highest minimum rate `Set-MigrationConfig` accepts: 100 MiB/s (0 turns the rate off).
pub const MAX_MIN_RATE: u64 = 100 << 20;

/// The stall limits of every connection: [`imap::Timeouts::default`] (connect 15 s, greeting
/// 30 s, TLS 30 s, login 60 s, no byte for 60 s, under 1 KB/s over 60 s) with the overrides
/// of [`TIMEOUT_VARS`] and the process's own ([`set_process_timeouts`]).
pub fn timeouts() -> imap::Timeouts {
    timeouts_from(|_| None, |k| std::env::var(k).ok())
}

/// The stall limits in force for the state directory of `store`: the defaults, then what
/// `Set-MigrationConfig` stored ([`TIMEOUT_SETTINGS`]), then the environment's overrides, then
/// the process's own ([`set_process_timeouts`]: `migrate`'s flags). The
/// worker and the CLI read them for every pass they start, so a change applies to the next
/// pass.
pub fn configured_timeouts(store: &Store) -> imap::Timeouts {
    timeouts_from(
        |k| store.config_get(k).ok().flatten(),
        |k| std::env::var(k).ok(),
    )
}

/// Checks a value given for one of [`TIMEOUT_SETTINGS`] (`config.set`) and returns what to
/// store: seconds as a number from 1 to 3,600 (decimals allowed) for the phases; bytes per
/// second for the rate, a whole number or a size text (`1 KB`, `64KB`) from 0 (off) to
/// 100 MB. The error names the parameter and what it expects, never the value.
pub fn check_timeout_setting(
    key: &str,
    value: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    let Some(setting) = TIMEOUT_SETTINGS.iter().find(|s| s.key == key) else {
        return Err(format!("{key} is not a timeout setting"));
    };
    if setting.key == TIMEOUT_SETTINGS[5].key {
        let rate = value
            .as_u64()
            .or_else(|| value.as_str().and_then(super::budget::parse_size))
            .ok_or_else(|| {
                format!(
                    "{} must be a whole number of bytes per second (or a size such as 1 KB)",
                    setting.key
                )
            })?;
        if rate > MAX_MIN_RATE {
            return Err(format!(
                "{} is {rate} bytes per second; it must be from 0 (off) to {} MB",
                setting.key,
                MAX_MIN_RATE >> 20
            ));
        }
        return Ok(serde_json::json!(rate));
    }
    let (low, high) = TIMEOUT_RANGE_SECS;
    match value.as_f64() {
        Some(s) if (low..=high).contains(&s) => Ok(serde_json::json!(s)),
        Some(s) => Err(format!(
            "{} is {s} seconds; it must be from {low} to {high} seconds",
            setting.key
        )),
        None => Err(format!("{} must be a number of seconds", setting.key)),
    }
}

/// Settings given for this process alone (`migrate --connect-timeout` ...), over the stored
/// ones and the environment's; set once, before the first connection.
static PROCESS_SETTINGS: std::sync::OnceLock<Vec<(&'static str, serde_json::Value)>> =
    std::sync::OnceLock::new();

/// Sets the stall limits of this process (keys of [`TIMEOUT_SETTINGS`], values checked by
/// [`check_timeout_setting`]), which win over everything else; false when they were set before.
pub fn set_process_timeouts(values: Vec<(&'static str, serde_json::Value)>) -> bool {
    PROCESS_SETTINGS.set(values).is_ok()
}

fn process_setting(key: &str) -> Option<serde_json::Value> {
    PROCESS_SETTINGS
        .get()?
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.clone())
}

/// The stall limits of a reachability check (`Test-MigrationServerAvailability`, and the check
/// New-/Set-MigrationEndpoint run): the defaults capped at `cap`, so that an unconfigured check
/// answers within it per step, then what was set for the state directory of `store` (stored,
/// environment, `migrate`'s flags) as for a pass: a limit the admin set applies to the check
/// too, shorter or longer than the cap.
pub fn check_timeouts(store: &Store, cap: Duration) -> imap::Timeouts {
    timeouts_over(
        imap::Timeouts::default().at_most(cap),
        |k| store.config_get(k).ok().flatten(),
        |k| std::env::var(k).ok(),
    )
}

fn timeouts_from(
    stored: impl Fn(&str) -> Option<serde_json::Value>,
    var: impl Fn(&str) -> Option<String>,
) -> imap::Timeouts {
    timeouts_over(imap::Timeouts::default(), stored, var)
}

/// `base` with the stored settings, then the environment's, then the process's applied.
fn timeouts_over(
    base: imap::Timeouts,
    stored: impl Fn(&str) -> Option<serde_json::Value>,
    var: impl Fn(&str) -> Option<String>,
) -> imap::Timeouts {
    let t = apply_settings(base, stored);
    let t = apply_env(t, var);
    apply_settings(t, process_setting)
}

/// `t` with the values of [`TIMEOUT_SETTINGS`] that `get` has (seconds, bytes per second).
fn apply_settings(
    mut t: imap::Timeouts,
    get: impl Fn(&str) -> Option<serde_json::Value>,
) -> imap::Timeouts {
    let secs = |s: &TimeoutSetting, into: &mut Duration| {
        // Values were checked when they were set; one written otherwise is ignored.
        if let Some(d) = get(s.key)
            .and_then(|v| v.as_f64())
            .filter(|v| *v > 0.0)
            .and_then(|v| Duration::try_from_secs_f64(v).ok())
        {
            *into = d;
        }
    };
    secs(&TIMEOUT_SETTINGS[0], &mut t.connect);
    secs(&TIMEOUT_SETTINGS[1], &mut t.greeting);
    secs(&TIMEOUT_SETTINGS[2], &mut t.tls);
    secs(&TIMEOUT_SETTINGS[3], &mut t.login);
    secs(&TIMEOUT_SETTINGS[4], &mut t.idle);
    if let Some(r) = get(TIMEOUT_SETTINGS[5].key).and_then(|v| v.as_u64()) {
        t.min_rate = r;
    }
    t
}

/// `t` with the overrides of [`TIMEOUT_VARS`] that `var` has.
fn apply_env(mut t: imap::Timeouts, var: impl Fn(&str) -> Option<String>) -> imap::Timeouts {
    let secs = |s: &TimeoutSetting, into: &mut Duration| {
        let Some(v) = var(s.env) else { return };
        match v
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
        {
            Some(d) if !d.is_zero() => *into = d,
            _ => tracing::warn!(
                variable = s.env,
                "ignored: not a positive number of seconds"
            ),
        }
    };
    secs(&TIMEOUT_SETTINGS[0], &mut t.connect);
    secs(&TIMEOUT_SETTINGS[1], &mut t.greeting);
    secs(&TIMEOUT_SETTINGS[2], &mut t.tls);
    secs(&TIMEOUT_SETTINGS[3], &mut t.login);
    secs(&TIMEOUT_SETTINGS[4], &mut t.idle);
    let rate = &TIMEOUT_SETTINGS[5];
    if let Some(v) = var(rate.env) {
        match v.trim().parse::<u64>() {
            Ok(r) => t.min_rate = r,
            Err(_) => tracing::warn!(
                variable = rate.env,
                "ignored: not a whole number of bytes per second"
            ),
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_verification_is_the_endpoints_or_the_environments() {
        let mut e = EndpointRecord::new("t", "imap.test");
        assert!(!content_verification(&e, None));
        for on in ["1", "on", "TRUE", " yes "] {
            assert!(content_verification(&e, Some(on)), "{on}");
        }
        for off in ["0", "", "off", "maybe"] {
            assert!(!content_verification(&e, Some(off)), "{off}");
        }
        e.verify_content = true;
        assert!(content_verification(&e, None));
        assert!(
            content_verification(&e, Some("0")),
            "the variable only turns it on"
        );
        // The worker is given the variable: process::spawn's WORKER_ENV lists it (the engine
        // may not use the process layer, so that list's test checks the name).
        assert_eq!(VERIFY_CONTENT_VAR, "IMAPMIGRATION_VERIFY_CONTENT");
    }

    #[test]
    fn timeouts_default_to_the_documented_numbers_and_take_overrides() {
        let t = timeouts_from(|_| None, |_| None);
        assert_eq!(
            (t.connect, t.greeting, t.tls, t.login, t.idle, t.min_rate),
            (
                Duration::from_secs(15),
                Duration::from_secs(30),
                Duration::from_secs(30),
                Duration::from_secs(60),
                Duration::from_secs(60),
                1024
            )
        );
        let t = timeouts_from(
            |_| None,
            |k| match k {
                "IMAPMIGRATION_TIMEOUT_GREETING" => Some("0.5".into()),
                "IMAPMIGRATION_TIMEOUT_IDLE" => Some("-3".into()),
                "IMAPMIGRATION_MIN_RATE" => Some("0".into()),
                _ => None,
            },
        );
        assert_eq!(t.greeting, Duration::from_millis(500));
        assert_eq!(t.idle, Duration::from_secs(60), "a bad value is ignored");
        assert_eq!(t.min_rate, 0);
    }

    #[test]
    fn stored_limits_apply_and_the_environment_overrides_them() {
        let stored = |k: &str| match k {
            "connectTimeout" => Some(serde_json::json!(5)),
            "idleTimeout" => Some(serde_json::json!(2.5)),
            "loginTimeout" => Some(serde_json::json!(-1)),
            "minTransferRate" => Some(serde_json::json!(0)),
            _ => None,
        };
        let t = timeouts_from(stored, |_| None);
        assert_eq!(t.connect, Duration::from_secs(5));
        assert_eq!(t.idle, Duration::from_millis(2500));
        assert_eq!(
            t.login,
            Duration::from_secs(60),
            "a bad stored value is ignored"
        );
        assert_eq!(t.min_rate, 0);
        let t = timeouts_from(stored, |k| {
            (k == "IMAPMIGRATION_TIMEOUT_CONNECT").then(|| "0.25".to_owned())
        });
        assert_eq!(
            t.connect,
            Duration::from_millis(250),
            "the environment wins"
        );
        assert_eq!(t.idle, Duration::from_millis(2500));
    }

    #[test]
    fn settings_are_checked_naming_the_setting() {
        use serde_json::json;
        assert_eq!(
            check_timeout_setting("connectTimeout", &json!(20)),
            Ok(json!(20.0))
        );
        assert_eq!(
            check_timeout_setting("idleTimeout", &json!(1.5)),
            Ok(json!(1.5))
        );
        assert_eq!(
            check_timeout_setting("minTransferRate", &json!("1 KB")),
            Ok(json!(1024))
        );
        assert_eq!(
            check_timeout_setting("minTransferRate", &json!(0)),
            Ok(json!(0))
        );
        for (key, bad) in [
            ("connectTimeout", json!(0)),
            ("greetingTimeout", json!(0.5)),
            ("loginTimeout", json!(7200)),
            ("tlsTimeout", json!("soon")),
            ("minTransferRate", json!(-1)),
            ("minTransferRate", json!("fast")),
            ("minTransferRate", json!(1u64 << 40)),
        ] {
            let e = check_timeout_setting(key, &bad).expect_err(key);
            assert!(e.starts_with(key), "{e}");
        }
    }
}

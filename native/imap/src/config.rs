//! Where and how to connect.

use std::path::PathBuf;
use std::time::Duration;

/// Transport security of an endpoint (the Exchange `Security` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Security {
    /// Plain text. Passwords are sent in clear: only for trusted networks and tests.
    None,
    /// STARTTLS on the plain port (RFC 3501 §6.2.1); fails if the server does not offer it.
    Tls,
    /// Implicit TLS (port 993, RFC 8314).
    #[default]
    Ssl,
}

/// How long each phase of a connection may stall before it is given up (docs/design.md,
/// "Timeouts"). Every limit names its phase and the server in the error it raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect (default 15 s).
    pub connect: Duration,
    /// The server's greeting after the connection opened (default 30 s): a server that
    /// accepts and never speaks, or speaks something that never ends a line.
    pub greeting: Duration,
    /// A TLS handshake, implicit or after STARTTLS (default 30 s).
    pub tls: Duration,
    /// Capabilities, STARTTLS and authentication, from the greeting to logged in (default 60 s).
    pub login: Duration,
    /// No byte at all while a response (or the wait for one) is under way, and no progress
    /// writing a command (default 60 s).
    pub idle: Duration,
    /// The slowest a response may arrive, in bytes per second, averaged over each `idle`
    /// period (default 1,024: under 1 KB/s over 60 s is a stall); a literal is also given a
    /// deadline of `idle` plus its announced size at this rate. 0 turns both off.
    pub min_rate: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(15),
            greeting: Duration::from_secs(30),
            tls: Duration::from_secs(30),
            login: Duration::from_secs(60),
            idle: Duration::from_secs(60),
            min_rate: 1024,
        }
    }
}

impl Timeouts {
    /// These limits with none of the phases longer than `d` (a quick reachability check).
    pub fn at_most(self, d: Duration) -> Self {
        Timeouts {
            connect: self.connect.min(d),
            greeting: self.greeting.min(d),
            tls: self.tls.min(d),
            login: self.login.min(d),
            idle: self.idle.min(d),
            min_rate: self.min_rate,
        }
    }
}

/// One IMAP endpoint.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Host name or IP address to dial; also the name the TLS certificate must carry.
    pub host: String,
    /// TCP port (usually 993 for `Ssl`, 143 for `Tls` and `None`).
    pub port: u16,
    /// Whether and how the connection is encrypted.
    pub security: Security,
    /// Accept any server certificate (self-signed test servers). Logged as a warning.
    pub accept_untrusted: bool,
    /// Extra trusted CA certificates (PEM), added to the system roots.
    pub ca_file: Option<PathBuf>,
    /// Stall limits per phase.
    pub timeouts: Timeouts,
    /// Turn on `COMPRESS=DEFLATE` (RFC 4978) after login when the server offers it (default
    /// on; `-DisableCompression`, `--no-compress`, `IMAPMIGRATION_COMPRESS=0` turn it off).
    pub compress: bool,
}

impl ServerConfig {
    /// A config with the default [`Timeouts`], verified TLS, no extra CA, compression when
    /// offered.
    pub fn new(host: impl Into<String>, port: u16, security: Security) -> Self {
        ServerConfig {
            host: host.into(),
            port,
            security,
            accept_untrusted: false,
            ca_file: None,
            timeouts: Timeouts::default(),
            compress: true,
        }
    }

    /// `host:port` as errors name the server.
    pub fn peer(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

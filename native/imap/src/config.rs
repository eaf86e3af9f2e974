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
    /// Limit for TCP connect plus TLS handshake.
    pub connect_timeout: Duration,
    /// Limit for any single read or write making no progress.
    pub io_timeout: Duration,
}

impl ServerConfig {
    /// A config with default timeouts (connect 30 s, I/O 120 s), verified TLS, no extra CA.
    pub fn new(host: impl Into<String>, port: u16, security: Security) -> Self {
        ServerConfig {
            host: host.into(),
            port,
            security,
            accept_untrusted: false,
            ca_file: None,
            connect_timeout: Duration::from_secs(30),
            io_timeout: Duration::from_secs(120),
        }
    }
}

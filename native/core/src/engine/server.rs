//! An endpoint record as the IMAP layer's connection settings: one conversion, used by the
//! jobs the worker builds and by the endpoint checks of the api.

use std::path::PathBuf;
use std::time::Duration;

use imapmigration_imap as imap;
use imapmigration_store::{EndpointRecord, SecurityMode};

/// Connection settings of an endpoint: host, port and security as recorded, its certificate
/// rules, a 20 s connect and a 120 s I/O timeout.
pub fn server_config(e: &EndpointRecord) -> imap::ServerConfig {
    let security = match e.security {
        SecurityMode::None => imap::Security::None,
        SecurityMode::Tls => imap::Security::Tls,
        SecurityMode::Ssl => imap::Security::Ssl,
    };
    let mut cfg = imap::ServerConfig::new(e.remote_server.clone(), e.port, security);
    cfg.accept_untrusted = e.accept_untrusted;
    cfg.ca_file = e.ca_file.as_ref().map(PathBuf::from);
    cfg.connect_timeout = Duration::from_secs(20);
    cfg.io_timeout = Duration::from_secs(120);
    cfg
}

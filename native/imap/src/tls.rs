//! TLS client configuration: rustls with the ring provider, system roots (falling back to
//! the compiled-in Mozilla roots when the system store is empty) plus an optional CA file.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::error::{Error, Result};

/// Installs ring as the process-wide default rustls provider, once. Harmless if another
/// part of the process installed one first: our own configs name ring explicitly.
pub fn install_default_provider() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        let loaded = rustls_native_certs::load_native_certs();
        for e in &loaded.errors {
            tracing::debug!(error = %e, "skipping unreadable system certificate");
        }
        let (added, _ignored) = roots.add_parsable_certificates(loaded.certs);
        if added == 0 {
            tracing::debug!("system trust store is empty, using the Mozilla root set");
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        roots
    })
}

/// Builds a client config for one endpoint.
pub(crate) fn client_config(
    host: &str,
    accept_untrusted: bool,
    ca_file: Option<&Path>,
) -> Result<ClientConfig> {
    install_default_provider();
    let tls_err = |message: String| Error::Tls {
        host: host.to_string(),
        message,
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(format!("cannot configure tls: {e}")))?;
    if accept_untrusted {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert {
                algorithms: provider().signature_verification_algorithms,
            }))
            .with_no_client_auth());
    }
    let mut roots = system_roots().clone();
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| tls_err(format!("cannot read ca file {}: {e}", path.display())))?;
        let mut n = 0;
        for cert in certs {
            let cert =
                cert.map_err(|e| tls_err(format!("cannot parse ca file {}: {e}", path.display())))?;
            roots
                .add(cert)
                .map_err(|e| tls_err(format!("bad certificate in {}: {e}", path.display())))?;
            n += 1;
        }
        if n == 0 {
            return Err(tls_err(format!(
                "ca file {} holds no certificate",
                path.display()
            )));
        }
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// The name to verify and send as SNI: an IP address literal becomes an IP server name.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_string()).map_err(|e| Error::Tls {
        host: host.to_string(),
        message: format!("invalid server name: {e}"),
    })
}

/// Accepts any certificate chain but still checks the handshake signatures, so the peer
/// must hold the key of the certificate it presents.
#[derive(Debug)]
struct AcceptAnyCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_hosts_become_ip_server_names() {
        assert!(matches!(
            server_name("127.0.0.1").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("[::1]").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("imap.example.org").unwrap(),
            ServerName::DnsName(_)
        ));
    }

    #[test]
    fn configs_build_and_missing_ca_file_is_a_tls_error() {
        assert!(client_config("h", false, None).is_ok());
        assert!(client_config("h", true, None).is_ok());
        let err = client_config("h", false, Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(matches!(err, Error::Tls { .. }), "{err}");
    }
}

//! Test CA and server certificate, made with the `openssl` CLI.
//!
//! A one-step self-signed certificate carries `CA:TRUE`, which webpki (rustls) refuses as a
//! server certificate (`CaUsedAsEndEntity`), so we make a CA and a leaf with `CA:FALSE`,
//! SAN `DNS:localhost,IP:127.0.0.1` and `serverAuth`.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::error::{Error, Result};
use crate::util::run;

/// Writes `ca.pem`, `ca.key`, `cert.pem` and `key.pem` into `dir`.
pub(crate) fn generate(dir: &Path) -> Result<()> {
    let p = |name: &str| dir.join(name);
    run(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=imapmigration-test-ca"])
        .arg("-addext")
        .arg("basicConstraints=critical,CA:TRUE")
        .arg("-keyout")
        .arg(p("ca.key"))
        .arg("-out")
        .arg(p("ca.pem")))?;
    run(Command::new("openssl")
        .args(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost"])
        .arg("-keyout")
        .arg(p("key.pem"))
        .arg("-out")
        .arg(p("leaf.csr")))?;
    fs::write(
        p("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .map_err(Error::io("write", p("leaf.ext")))?;
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "30", "-CAcreateserial"])
        .arg("-in")
        .arg(p("leaf.csr"))
        .arg("-CA")
        .arg(p("ca.pem"))
        .arg("-CAkey")
        .arg(p("ca.key"))
        .arg("-extfile")
        .arg(p("leaf.ext"))
        .arg("-out")
        .arg(p("cert.pem")))?;
    Ok(())
}

//! Test CA and server certificate, made with the `openssl` CLI.
//!
//! A one-step self-signed certificate carries `CA:TRUE`, which webpki (rustls) refuses as a
//! server certificate (`CaUsedAsEndEntity`), so we make a CA and a leaf with `CA:FALSE`,
//! SAN `DNS:localhost,IP:127.0.0.1` and `serverAuth`.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::util::run;

const FILES: [&str; 4] = ["ca.pem", "ca.key", "cert.pem", "key.pem"];

/// The first instance's certificates, reused by later instances of this process: key
/// generation is a good part of a start, and tests do not need a CA each.
static CACHE: Mutex<Option<Vec<Vec<u8>>>> = Mutex::new(None);

/// Writes `ca.pem`, `ca.key`, `cert.pem` and `key.pem` into `dir`.
pub(crate) fn install(dir: &Path) -> Result<()> {
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(files) = cache.as_ref() {
        for (name, bytes) in FILES.iter().zip(files) {
            fs::write(dir.join(name), bytes).map_err(Error::io("write", dir.join(name)))?;
        }
        return Ok(());
    }
    generate(dir)?;
    let mut files = Vec::new();
    for name in FILES {
        files.push(fs::read(dir.join(name)).map_err(Error::io("read", dir.join(name)))?);
    }
    *cache = Some(files);
    Ok(())
}

fn generate(dir: &Path) -> Result<()> {
    let p = |name: &str| dir.join(name);
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=imapmigration-test-ca",
        ])
        .arg("-addext")
        .arg("basicConstraints=critical,CA:TRUE")
        .arg("-keyout")
        .arg(p("ca.key"))
        .arg("-out")
        .arg(p("ca.pem")))?;
    run(Command::new("openssl")
        .args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
        ])
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

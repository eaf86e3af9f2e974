//! `--source` and `--target` URLs: `imap://host[:port]` and `imaps://host[:port]`.

/// A parsed server URL.
pub(super) struct Url {
    /// `imaps://`: implicit TLS.
    pub tls: bool,
    pub host: String,
    pub port: Option<u16>,
}

impl Url {
    /// The port given, else the scheme's default (993 for imaps, 143 for imap).
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(if self.tls { 993 } else { 143 })
    }
}

/// Parses `s`; `what` names the option in the error.
pub(super) fn parse_url(s: &str, what: &str) -> Result<Url, String> {
    let (tls, rest) = if let Some(r) = s.strip_prefix("imaps://") {
        (true, r)
    } else if let Some(r) = s.strip_prefix("imap://") {
        (false, r)
    } else {
        return Err(format!(
            "{what} must start with imap:// or imaps:// (got {s:?})"
        ));
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let (h, p) = r
            .split_once(']')
            .ok_or_else(|| format!("{what}: unclosed [ in {s:?}"))?;
        (h.to_owned(), p.strip_prefix(':'))
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (rest.to_owned(), None),
        }
    };
    let port = port
        .map(|p| match p.parse::<u16>() {
            Ok(0) | Err(_) => Err(format!(
                "{what}: invalid port {p:?} (give a port from 1 to 65535)"
            )),
            Ok(n) => Ok(n),
        })
        .transpose()?;
    if host.is_empty() {
        return Err(format!("{what}: no host in {s:?}"));
    }
    Ok(Url { tls, host, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_and_without_ports() {
        let u = parse_url("imaps://mail.example.test", "--source").unwrap();
        assert!(u.tls);
        assert_eq!(
            (u.host.as_str(), u.port_or_default()),
            ("mail.example.test", 993)
        );
        let u = parse_url("imap://[::1]:1143/", "--source").unwrap();
        assert!(!u.tls);
        assert_eq!((u.host.as_str(), u.port_or_default()), ("::1", 1143));
        assert!(parse_url("http://x", "--source").is_err());
        assert!(parse_url("imap://x:port", "--source").is_err());
        assert!(parse_url("imap://:143", "--source").is_err());
        assert!(parse_url("imap://x:0", "--source").is_err());
    }
}

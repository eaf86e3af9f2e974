//! The stable error codes of the ABI (docs/design.md, "The C ABI": "Codes (stable)").
//!
//! Every error response carries one of these as `error.code`; the module turns it into the
//! `FullyQualifiedErrorId` and the category of an `ErrorRecord`, and a user's `ErrorType` holds
//! the code of its last failure. A code never changes meaning once published, so the strings
//! here are the contract: add a code, never rename one. Which code a layer's error becomes is
//! decided in that layer (`engine::Error::code`, `api`'s store mapping); this file only names
//! the codes. It sits at the crate root so every layer may use it, and uses nothing but `std`
//! and `serde`.

use std::fmt;
use std::str::FromStr;

/// One stable ABI error code. Its string form ([`ErrorCode::as_str`]) is what the JSON, the
/// store and the module see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A request argument is missing, malformed or out of range.
    InvalidArgument,
    /// The identity names no endpoint, batch or user.
    NotFound,
    /// An object of that name exists already.
    AlreadyExists,
    /// The object's status does not allow the operation (details carry `status`).
    InvalidState,
    /// The CSV file as a whole cannot be used (details carry `line` / `column`).
    CsvInvalid,
    /// The server refused the credentials, or no OAuth2 token could be obtained.
    AuthenticationFailed,
    /// The server cannot be reached: TCP refused, timeout, connection dropped.
    EndpointUnreachable,
    /// TLS failed (certificate, handshake), or going on would send a secret in clear text.
    TlsError,
    /// The server refused: a tagged `NO` / `BAD`, a `BYE`, more refused items than
    /// `-BadItemLimit` allows.
    ServerRefused,
    /// The server answered something that is not IMAP as we can read it.
    Protocol,
    /// The operation was cancelled; a later pass resumes.
    Cancelled,
    /// The worker, the library or the state directory belongs to another version.
    VersionMismatch,
    /// Something the server or this implementation does not offer (a capability, an endpoint
    /// type, a per-user setting, more large items than `-LargeItemLimit` allows).
    Unsupported,
    /// A failure of our own side: the store, the key file, the file system, a broken invariant.
    Internal,
    /// The library panicked; the ABI's panic boundary caught it.
    Panic,
}

impl ErrorCode {
    /// Every code, in the order of docs/design.md. `system.version` reports this list so the
    /// module can check that it maps each one.
    pub const ALL: [ErrorCode; 15] = [
        ErrorCode::InvalidArgument,
        ErrorCode::NotFound,
        ErrorCode::AlreadyExists,
        ErrorCode::InvalidState,
        ErrorCode::CsvInvalid,
        ErrorCode::AuthenticationFailed,
        ErrorCode::EndpointUnreachable,
        ErrorCode::TlsError,
        ErrorCode::ServerRefused,
        ErrorCode::Protocol,
        ErrorCode::Cancelled,
        ErrorCode::VersionMismatch,
        ErrorCode::Unsupported,
        ErrorCode::Internal,
        ErrorCode::Panic,
    ];

    /// The published string: the JSON's `error.code`, a user's `ErrorType`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "InvalidArgument",
            ErrorCode::NotFound => "NotFound",
            ErrorCode::AlreadyExists => "AlreadyExists",
            ErrorCode::InvalidState => "InvalidState",
            ErrorCode::CsvInvalid => "CsvInvalid",
            ErrorCode::AuthenticationFailed => "AuthenticationFailed",
            ErrorCode::EndpointUnreachable => "EndpointUnreachable",
            ErrorCode::TlsError => "TlsError",
            ErrorCode::ServerRefused => "ServerRefused",
            ErrorCode::Protocol => "Protocol",
            ErrorCode::Cancelled => "Cancelled",
            ErrorCode::VersionMismatch => "VersionMismatch",
            ErrorCode::Unsupported => "Unsupported",
            ErrorCode::Internal => "Internal",
            ErrorCode::Panic => "Panic",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not one of the published codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown error code {0:?}")]
pub struct UnknownErrorCode(pub String);

impl FromStr for ErrorCode {
    type Err = UnknownErrorCode;

    /// Exact, case-sensitive: the codes are identifiers, not user input.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ErrorCode::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownErrorCode(s.to_owned()))
    }
}

/// Lets tests and callers compare with the published string: `assert_eq!(e.code(), "NotFound")`.
impl PartialEq<str> for ErrorCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_string_and_serde() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "{s} listed twice");
            assert_eq!(code.to_string(), s);
            assert_eq!(s.parse::<ErrorCode>(), Ok(code));
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, serde_json::Value::String(s.to_owned()));
            assert_eq!(serde_json::from_value::<ErrorCode>(json).unwrap(), code);
            assert_eq!(code, s);
        }
        assert_eq!(seen.len(), 15);
    }

    #[test]
    fn the_codes_are_the_published_ones() {
        // docs/design.md, "Codes (stable)": a rename here would break every script that
        // matches a FullyQualifiedErrorId.
        let names: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            names,
            [
                "InvalidArgument",
                "NotFound",
                "AlreadyExists",
                "InvalidState",
                "CsvInvalid",
                "AuthenticationFailed",
                "EndpointUnreachable",
                "TlsError",
                "ServerRefused",
                "Protocol",
                "Cancelled",
                "VersionMismatch",
                "Unsupported",
                "Internal",
                "Panic",
            ]
        );
    }

    #[test]
    fn an_unknown_string_is_refused() {
        assert!("notfound".parse::<ErrorCode>().is_err());
        assert!("UnsupportedParameter".parse::<ErrorCode>().is_err());
        assert!(serde_json::from_str::<ErrorCode>("\"Bogus\"").is_err());
    }
}

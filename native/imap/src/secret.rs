//! Secrets in memory: the one type every crate of the workspace uses for them.
//!
//! [`SecretString`] from the `secrecy` crate: the value is zeroized when dropped, `Debug` prints
//! `SecretBox<str>([REDACTED])`, there is no `Display` and no `Serialize`, and the value is read
//! only through [`ExposeSecret::expose_secret`], where it is sent. The store crate re-exports the
//! same type, so a password it unseals reaches the server here without a copy into another type.
//! Structs that hold a secret print `***` for it in their own `Debug`.

pub use secrecy::{ExposeSecret, SecretString};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_redacted() {
        let s = SecretString::from("hunter2");
        assert_eq!(format!("{s:?}"), "SecretBox<str>([REDACTED])");
        assert_eq!(s.expose_secret(), "hunter2");
        // Compiles only while SecretString has no Display: with one, both impls would apply
        // and the call below would be ambiguous. `{s}` cannot print a secret by mistake.
        trait AmbiguousIfDisplay<A> {
            fn check() {}
        }
        impl<T: ?Sized> AmbiguousIfDisplay<()> for T {}
        struct IsDisplay;
        impl<T: ?Sized + std::fmt::Display> AmbiguousIfDisplay<IsDisplay> for T {}
        <SecretString as AmbiguousIfDisplay<_>>::check();
    }

    #[test]
    fn token_reply_deserializes_into_a_secret() {
        let s: SecretString = serde_json::from_str("\"tok-123\"").expect("string");
        assert_eq!(s.expose_secret(), "tok-123");
    }
}

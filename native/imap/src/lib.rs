//! IMAP client layer.

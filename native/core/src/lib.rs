//! ImapMigration core.

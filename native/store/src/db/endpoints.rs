//! `endpoints`: Get-, New-, Set-, Remove-MigrationEndpoint.

use rusqlite::params;

use super::{
    Db, Optional, Row, Store, get_opt_sealed, get_ts, get_uuid, identity_guid, set, ts, uid,
    unique_violation,
};
use crate::error::{DbContext, Error, Result};
use crate::secret::Sealed;
use crate::types::{AuthenticationMethod, EndpointRecord, SecurityMode, TargetLogin};

const COLS: &str = "id, name, endpoint_type, remote_server, port, security, authentication, \
    accept_untrusted, ca_file, max_concurrent_migrations, max_concurrent_incremental_syncs, \
    admin_user, admin_secret, target_login, master_user_separator, oauth_token_endpoint, \
    oauth_client_id, oauth_scope, target_user_template, created_at, max_connections_per_user, \
    preserve_order, disable_compression, verify_content";

fn from_row(r: &Row<'_>) -> rusqlite::Result<EndpointRecord> {
    Ok(EndpointRecord {
        id: get_uuid(r, 0)?,
        name: r.get(1)?,
        endpoint_type: r.get(2)?,
        remote_server: r.get(3)?,
        port: r.get(4)?,
        security: r.get(5)?,
        authentication: r.get(6)?,
        accept_untrusted: r.get(7)?,
        ca_file: r.get(8)?,
        max_concurrent_migrations: r.get(9)?,
        max_concurrent_incremental_syncs: r.get(10)?,
        admin_user: r.get(11)?,
        admin_secret: get_opt_sealed(r, 12)?,
        target_login: r.get(13)?,
        master_user_separator: r.get(14)?,
        oauth_token_endpoint: r.get(15)?,
        oauth_client_id: r.get(16)?,
        oauth_scope: r.get(17)?,
        target_user_template: r.get(18)?,
        created_at: get_ts(r, 19)?,
        max_connections_per_user: r.get(20)?,
        preserve_order: r.get(21)?,
        disable_compression: r.get(22)?,
        verify_content: r.get(23)?,
    })
}

/// Changes to an endpoint (Set-MigrationEndpoint). `None` leaves a field alone; for nullable
/// columns `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct EndpointUpdate {
    /// Sets [`EndpointRecord::name`].
    pub name: Option<String>,
    /// Sets [`EndpointRecord::remote_server`].
    pub remote_server: Option<String>,
    /// Sets [`EndpointRecord::port`].
    pub port: Option<u16>,
    /// Sets [`EndpointRecord::security`].
    pub security: Option<SecurityMode>,
    /// Sets [`EndpointRecord::authentication`].
    pub authentication: Option<AuthenticationMethod>,
    /// Sets [`EndpointRecord::accept_untrusted`].
    pub accept_untrusted: Option<bool>,
    /// Sets [`EndpointRecord::ca_file`]; `Some(None)` clears it.
    pub ca_file: Option<Option<String>>,
    /// Sets [`EndpointRecord::max_concurrent_migrations`].
    pub max_concurrent_migrations: Option<u32>,
    /// Sets [`EndpointRecord::max_concurrent_incremental_syncs`].
    pub max_concurrent_incremental_syncs: Option<u32>,
    /// Sets [`EndpointRecord::max_connections_per_user`].
    pub max_connections_per_user: Option<u32>,
    /// Sets [`EndpointRecord::preserve_order`].
    pub preserve_order: Option<bool>,
    /// Sets [`EndpointRecord::disable_compression`].
    pub disable_compression: Option<bool>,
    /// Sets [`EndpointRecord::verify_content`].
    pub verify_content: Option<bool>,
    /// Sets [`EndpointRecord::admin_user`]; `Some(None)` clears it.
    pub admin_user: Option<Option<String>>,
    /// Sets [`EndpointRecord::admin_secret`] (sealed by the caller); `Some(None)` removes it.
    pub admin_secret: Option<Option<Sealed>>,
    /// Sets [`EndpointRecord::target_login`]; `Some(None)` clears it.
    pub target_login: Option<Option<TargetLogin>>,
    /// Sets [`EndpointRecord::master_user_separator`].
    pub master_user_separator: Option<String>,
    /// Sets [`EndpointRecord::oauth_token_endpoint`]; `Some(None)` clears it.
    pub oauth_token_endpoint: Option<Option<String>>,
    /// Sets [`EndpointRecord::oauth_client_id`]; `Some(None)` clears it.
    pub oauth_client_id: Option<Option<String>>,
    /// Sets [`EndpointRecord::oauth_scope`]; `Some(None)` clears it.
    pub oauth_scope: Option<Option<String>>,
    /// Sets [`EndpointRecord::target_user_template`]; `Some(None)` clears it.
    pub target_user_template: Option<Option<String>>,
}

impl EndpointUpdate {
    fn apply(self, e: &mut EndpointRecord) {
        set(&mut e.name, self.name);
        set(&mut e.remote_server, self.remote_server);
        set(&mut e.port, self.port);
        set(&mut e.security, self.security);
        set(&mut e.authentication, self.authentication);
        set(&mut e.accept_untrusted, self.accept_untrusted);
        set(&mut e.ca_file, self.ca_file);
        set(
            &mut e.max_concurrent_migrations,
            self.max_concurrent_migrations,
        );
        set(
            &mut e.max_concurrent_incremental_syncs,
            self.max_concurrent_incremental_syncs,
        );
        set(
            &mut e.max_connections_per_user,
            self.max_connections_per_user,
        );
        set(&mut e.preserve_order, self.preserve_order);
        set(&mut e.disable_compression, self.disable_compression);
        set(&mut e.verify_content, self.verify_content);
        set(&mut e.admin_user, self.admin_user);
        set(&mut e.admin_secret, self.admin_secret);
        set(&mut e.target_login, self.target_login);
        set(&mut e.master_user_separator, self.master_user_separator);
        set(&mut e.oauth_token_endpoint, self.oauth_token_endpoint);
        set(&mut e.oauth_client_id, self.oauth_client_id);
        set(&mut e.oauth_scope, self.oauth_scope);
        set(&mut e.target_user_template, self.target_user_template);
    }
}

fn get_in(conn: &Db<'_>, identity: &str) -> Result<Option<EndpointRecord>> {
    let guid = identity_guid(identity);
    conn.prepare_cached(&format!(
        "SELECT {COLS} FROM endpoints WHERE id = ?1 OR lower(name) = lower(?2) \
         ORDER BY id = ?1 DESC LIMIT 1"
    ))
    .and_then(|mut s| {
        s.query_row(params![guid, identity.trim()], from_row)
            .optional()
    })
    .ctx("read endpoint")
}

impl Store {
    /// Inserts a new endpoint (New-MigrationEndpoint). Fails with [`Error::AlreadyExists`]
    /// when the name (case-insensitively) or the id is taken.
    pub fn insert_endpoint(&self, e: &EndpointRecord) -> Result<()> {
        self.write("insert endpoint", |tx| {
            tx.execute(
                &format!(
                    "INSERT INTO endpoints ({COLS}) VALUES \
                     (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)"
                ),
                params![
                    uid(&e.id),
                    e.name,
                    e.endpoint_type,
                    e.remote_server,
                    e.port,
                    e.security,
                    e.authentication,
                    e.accept_untrusted,
                    e.ca_file,
                    e.max_concurrent_migrations,
                    e.max_concurrent_incremental_syncs,
                    e.admin_user,
                    e.admin_secret.as_ref().map(|s| s.as_bytes()),
                    e.target_login,
                    e.master_user_separator,
                    e.oauth_token_endpoint,
                    e.oauth_client_id,
                    e.oauth_scope,
                    e.target_user_template,
                    ts(&e.created_at),
                    e.max_connections_per_user,
                    e.preserve_order,
                    e.disable_compression,
                    e.verify_content,
                ],
            )
            .map_err(|err| unique_violation(err, "endpoint", &e.name, "insert endpoint"))?;
            Ok(())
        })
    }

    /// The endpoint whose GUID or name (case-insensitive) is `identity`; a GUID match wins.
    pub fn get_endpoint(&self, identity: &str) -> Result<Option<EndpointRecord>> {
        self.read("read", |conn| get_in(conn, identity))
    }

    /// Every endpoint by name, optionally only those of one `endpoint_type` (e.g. `IMAP`,
    /// compared case-insensitively).
    pub fn list_endpoints(&self, endpoint_type: Option<&str>) -> Result<Vec<EndpointRecord>> {
        self.read("read", |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {COLS} FROM endpoints \
                 WHERE CAST(?1 AS TEXT) IS NULL OR lower(endpoint_type) = lower(?1) \
                 ORDER BY lower(name), name"
                ))
                .ctx("list endpoints")?;
            let rows = stmt
                .query_map([endpoint_type], from_row)
                .and_then(|rows| rows.collect::<super::DbResult<Vec<_>>>())
                .ctx("list endpoints")?;
            Ok(rows)
        })
    }

    /// Applies `update` to the endpoint `identity` (read and write in one transaction) and
    /// returns the result. Renaming onto a taken name fails with [`Error::AlreadyExists`].
    pub fn update_endpoint(
        &self,
        identity: &str,
        update: EndpointUpdate,
    ) -> Result<EndpointRecord> {
        self.write("update endpoint", |tx| {
            let mut e = get_in(tx, identity)?.ok_or_else(|| Error::NotFound {
                kind: "endpoint",
                identity: identity.to_owned(),
            })?;
            update.clone().apply(&mut e);
            tx.execute(
                "UPDATE endpoints SET name = ?2, remote_server = ?3, port = ?4, security = ?5, \
                 authentication = ?6, accept_untrusted = ?7, ca_file = ?8, \
                 max_concurrent_migrations = ?9, max_concurrent_incremental_syncs = ?10, \
                 admin_user = ?11, admin_secret = ?12, target_login = ?13, \
                 master_user_separator = ?14, oauth_token_endpoint = ?15, oauth_client_id = ?16, \
                 oauth_scope = ?17, target_user_template = ?18, max_connections_per_user = ?19, \
                 preserve_order = ?20, disable_compression = ?21, verify_content = ?22 WHERE id = ?1",
                params![
                    uid(&e.id),
                    e.name,
                    e.remote_server,
                    e.port,
                    e.security,
                    e.authentication,
                    e.accept_untrusted,
                    e.ca_file,
                    e.max_concurrent_migrations,
                    e.max_concurrent_incremental_syncs,
                    e.admin_user,
                    e.admin_secret.as_ref().map(|s| s.as_bytes()),
                    e.target_login,
                    e.master_user_separator,
                    e.oauth_token_endpoint,
                    e.oauth_client_id,
                    e.oauth_scope,
                    e.target_user_template,
                    e.max_connections_per_user,
                    e.preserve_order,
                    e.disable_compression,
                    e.verify_content,
                ],
            )
            .map_err(|err| unique_violation(err, "endpoint", &e.name, "update endpoint"))?;
            Ok(e)
        })
    }

    /// Deletes the endpoint `identity` (Remove-MigrationEndpoint). Refuses with
    /// [`Error::InUse`] naming the batches that use it as source or target.
    pub fn delete_endpoint(&self, identity: &str) -> Result<()> {
        self.write("delete endpoint", |tx| {
            let e = get_in(tx, identity)?.ok_or_else(|| Error::NotFound {
                kind: "endpoint",
                identity: identity.to_owned(),
            })?;
            let batches: Vec<String> = tx
                .prepare_cached(
                    "SELECT name FROM batches \
                     WHERE source_endpoint_id = ?1 OR target_endpoint_id = ?1 \
                     ORDER BY lower(name), name",
                )
                .and_then(|mut s| {
                    s.query_map([uid(&e.id)], |r| r.get(0))?
                        .collect::<super::DbResult<Vec<String>>>()
                })
                .ctx("delete endpoint")?;
            if !batches.is_empty() {
                return Err(Error::InUse {
                    endpoint: e.name,
                    batches,
                });
            }
            tx.execute("DELETE FROM endpoints WHERE id = ?1", [uid(&e.id)])
                .ctx("delete endpoint")?;
            Ok(())
        })
    }
}

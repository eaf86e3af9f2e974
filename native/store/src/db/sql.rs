//! The one query layer under the table modules: each statement is written once, in SQL both
//! SQLite and PostgreSQL accept, and runs on either.
//!
//! Parameters are rusqlite's [`ToSql`] values and rows are read with rusqlite's [`FromSql`], so
//! the store's own types convert the same way on both backends. On SQLite a call goes straight
//! to rusqlite's cached prepared statements (nothing is copied or allocated per row beyond
//! what rusqlite does). On PostgreSQL the statement text is rewritten once (`?N` becomes `$n`,
//! numbered by first use so that parameters a statement does not reference are not sent),
//! prepared once per connection and cached; each parameter is sent in the type the server
//! inferred for it, and each column is read back as the SQLite value it stands for (integers,
//! booleans as 0/1, text, bytes).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use postgres::types::{IsNull, Type};
use rusqlite::types::{FromSql, FromSqlError, ToSql, ToSqlOutput, Value, ValueRef};

use crate::error::{DbContext, Error, Result};
use crate::pg::conn::PgStatement;

/// An error of either driver.
#[derive(Debug)]
pub(crate) enum DbError {
    Sqlite(rusqlite::Error),
    Pg(postgres::Error),
}

pub(crate) type DbResult<T> = std::result::Result<T, DbError>;

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        DbError::Sqlite(e)
    }
}

impl From<postgres::Error> for DbError {
    fn from(e: postgres::Error) -> Self {
        DbError::Pg(e)
    }
}

impl DbError {
    /// Whether a UNIQUE (or primary key) constraint refused the statement.
    pub(crate) fn is_unique_violation(&self) -> bool {
        match self {
            DbError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
                f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            }
            DbError::Pg(e) => e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION),
            DbError::Sqlite(_) => false,
        }
    }

    /// The store error for a failed `action`. A PostgreSQL error's location is filled in by
    /// the call that ran the transaction ([`pg_location`]).
    pub(crate) fn into_error(self, action: &'static str) -> Error {
        match self {
            DbError::Sqlite(source) => Error::Database { action, source },
            DbError::Pg(source) => Error::Postgres {
                action,
                location: String::new(),
                source,
            },
        }
    }
}

impl<T> DbContext<T> for DbResult<T> {
    fn ctx(self, action: &'static str) -> Result<T> {
        self.map_err(|e| e.into_error(action))
    }
}

/// Names the location in a PostgreSQL error raised inside a transaction.
pub(crate) fn pg_location(e: Error, location: &str) -> Error {
    match e {
        Error::Postgres {
            action,
            location: l,
            source,
        } if l.is_empty() => Error::Postgres {
            action,
            location: location.to_owned(),
            source,
        },
        other => other,
    }
}

/// `.optional()` of rusqlite for [`DbResult`].
pub(crate) trait Optional<T> {
    fn optional(self) -> DbResult<Option<T>>;
}

impl<T> Optional<T> for DbResult<T> {
    fn optional(self) -> DbResult<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(DbError::Sqlite(rusqlite::Error::QueryReturnedNoRows)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Parameters of a statement: `params![...]` or an array of one type.
pub(crate) trait Params {
    fn with_refs<R>(&self, f: impl FnOnce(&[&dyn ToSql]) -> R) -> R;
}

impl Params for &[&dyn ToSql] {
    fn with_refs<R>(&self, f: impl FnOnce(&[&dyn ToSql]) -> R) -> R {
        f(self)
    }
}

impl<T: ToSql, const N: usize> Params for [T; N] {
    fn with_refs<R>(&self, f: impl FnOnce(&[&dyn ToSql]) -> R) -> R {
        let refs: [&dyn ToSql; N] = std::array::from_fn(|i| &self[i] as &dyn ToSql);
        f(&refs)
    }
}

impl Params for Vec<Value> {
    fn with_refs<R>(&self, f: impl FnOnce(&[&dyn ToSql]) -> R) -> R {
        let refs: Vec<&dyn ToSql> = self.iter().map(|v| v as &dyn ToSql).collect();
        f(&refs)
    }
}

impl<P: Params> Params for &P {
    fn with_refs<R>(&self, f: impl FnOnce(&[&dyn ToSql]) -> R) -> R {
        (**self).with_refs(f)
    }
}

/// A row of either driver; columns are read as rusqlite reads them.
pub(crate) enum Row<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Pg(&'r postgres::Row),
}

impl Row<'_> {
    /// Column `i` as `T`, with rusqlite's conversions and errors.
    pub(crate) fn get<T: FromSql>(&self, i: usize) -> rusqlite::Result<T> {
        match self {
            Row::Sqlite(r) => r.get(i),
            Row::Pg(r) => {
                let value = pg_column(r, i)?;
                T::column_result(ValueRef::from(&value)).map_err(|e| match e {
                    FromSqlError::InvalidType => rusqlite::Error::InvalidColumnType(
                        i,
                        r.columns()[i].name().to_owned(),
                        value.data_type(),
                    ),
                    FromSqlError::OutOfRange(v) => rusqlite::Error::IntegralValueOutOfRange(i, v),
                    other => rusqlite::Error::FromSqlConversionFailure(
                        i,
                        value.data_type(),
                        other.into(),
                    ),
                })
            }
        }
    }
}

/// A PostgreSQL column as the SQLite value it stands for.
fn pg_column(r: &postgres::Row, i: usize) -> rusqlite::Result<Value> {
    let fail = |e: postgres::Error| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Null, Box::new(e))
    };
    let ty = r
        .columns()
        .get(i)
        .map(|c| c.type_().clone())
        .ok_or(rusqlite::Error::InvalidColumnIndex(i))?;
    let v = match ty {
        Type::INT8 => r
            .try_get::<_, Option<i64>>(i)
            .map(|v| v.map(Value::Integer)),
        Type::INT4 => r
            .try_get::<_, Option<i32>>(i)
            .map(|v| v.map(|v| Value::Integer(v.into()))),
        Type::INT2 => r
            .try_get::<_, Option<i16>>(i)
            .map(|v| v.map(|v| Value::Integer(v.into()))),
        Type::BOOL => r
            .try_get::<_, Option<bool>>(i)
            .map(|v| v.map(|v| Value::Integer(v.into()))),
        Type::FLOAT8 => r.try_get::<_, Option<f64>>(i).map(|v| v.map(Value::Real)),
        Type::FLOAT4 => r
            .try_get::<_, Option<f32>>(i)
            .map(|v| v.map(|v| Value::Real(v.into()))),
        Type::BYTEA => r
            .try_get::<_, Option<Vec<u8>>>(i)
            .map(|v| v.map(Value::Blob)),
        _ => r
            .try_get::<_, Option<String>>(i)
            .map(|v| v.map(Value::Text)),
    };
    Ok(v.map_err(fail)?.unwrap_or(Value::Null))
}

/// A parameter sent to PostgreSQL in the type the server inferred for it.
#[derive(Debug)]
struct PgValue<'v>(ValueRef<'v>);

type BoxError = Box<dyn std::error::Error + Sync + Send>;

fn pg_sql<T: postgres::types::ToSql>(
    v: &T,
    ty: &Type,
    out: &mut bytes::BytesMut,
) -> std::result::Result<IsNull, BoxError> {
    v.to_sql(ty, out)
}

impl postgres::types::ToSql for PgValue<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, BoxError> {
        match self.0 {
            ValueRef::Null => Ok(IsNull::Yes),
            ValueRef::Integer(v) => match *ty {
                Type::INT8 => pg_sql(&v, ty, out),
                Type::INT4 => pg_sql(&i32::try_from(v)?, ty, out),
                Type::INT2 => pg_sql(&i16::try_from(v)?, ty, out),
                Type::BOOL => pg_sql(&(v != 0), ty, out),
                Type::FLOAT8 => pg_sql(&(v as f64), ty, out),
                _ => pg_sql(&v.to_string(), ty, out),
            },
            ValueRef::Real(v) => match *ty {
                Type::FLOAT4 => pg_sql(&(v as f32), ty, out),
                Type::FLOAT8 => pg_sql(&v, ty, out),
                _ => pg_sql(&v.to_string(), ty, out),
            },
            ValueRef::Text(b) => pg_sql(&std::str::from_utf8(b)?, ty, out),
            ValueRef::Blob(b) => pg_sql(&b, ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// `?N` (and bare `?`) to `$n`, numbered by first use; returns the text and, per `$n`, the
/// index of the caller's parameter. Quoted strings and identifiers are left alone.
pub(crate) fn rewrite_placeholders(sql: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut order: Vec<usize> = Vec::new();
    let mut next_bare = 0usize;
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                out.push(c);
            }
            '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                let index = match digits.parse::<usize>() {
                    Ok(n) if n > 0 => n - 1,
                    _ => {
                        next_bare += 1;
                        next_bare - 1
                    }
                };
                let n = match order.iter().position(|&p| p == index) {
                    Some(pos) => pos + 1,
                    None => {
                        order.push(index);
                        order.len()
                    }
                };
                out.push('$');
                out.push_str(&n.to_string());
            }
            _ => out.push(c),
        }
    }
    (out, order)
}

/// The backend's transaction (or, on SQLite, the connection) a table module's closure runs
/// its statements on.
pub(crate) enum Db<'a> {
    Sqlite(&'a rusqlite::Connection),
    Pg(PgTx<'a>),
}

/// A PostgreSQL transaction with the connection's statement cache.
pub(crate) struct PgTx<'a> {
    pub(crate) tx: RefCell<postgres::Transaction<'a>>,
    pub(crate) statements: RefCell<&'a mut HashMap<String, Arc<PgStatement>>>,
}

impl PgTx<'_> {
    fn statement(&self, sql: &str) -> DbResult<Arc<PgStatement>> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let (text, params) = rewrite_placeholders(sql);
        let statement = self.tx.borrow_mut().prepare(&text)?;
        let s = Arc::new(PgStatement { statement, params });
        self.statements
            .borrow_mut()
            .insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    fn bind<R>(
        st: &PgStatement,
        params: &[&dyn ToSql],
        f: impl FnOnce(&[&(dyn postgres::types::ToSql + Sync)]) -> DbResult<R>,
    ) -> DbResult<R> {
        let outputs: Vec<ToSqlOutput<'_>> = st
            .params
            .iter()
            .map(|&i| {
                params
                    .get(i)
                    .ok_or(rusqlite::Error::InvalidParameterCount(i + 1, params.len()))?
                    .to_sql()
            })
            .collect::<rusqlite::Result<_>>()?;
        let values: Vec<PgValue<'_>> = outputs
            .iter()
            .map(|o| match o {
                ToSqlOutput::Borrowed(v) => Ok(PgValue(*v)),
                ToSqlOutput::Owned(v) => Ok(PgValue(ValueRef::from(v))),
                _ => Err(rusqlite::Error::ToSqlConversionFailure(
                    "unsupported parameter".into(),
                )),
            })
            .collect::<rusqlite::Result<_>>()?;
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = values
            .iter()
            .map(|v| v as &(dyn postgres::types::ToSql + Sync))
            .collect();
        f(&refs)
    }

    fn execute(&self, st: &PgStatement, params: &[&dyn ToSql]) -> DbResult<usize> {
        Self::bind(st, params, |p| {
            let n = self.tx.borrow_mut().execute(&st.statement, p)?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }

    fn query(&self, st: &PgStatement, params: &[&dyn ToSql]) -> DbResult<Vec<postgres::Row>> {
        Self::bind(st, params, |p| {
            Ok(self.tx.borrow_mut().query(&st.statement, p)?)
        })
    }
}

/// A prepared statement of either backend (cached on both).
pub(crate) enum Stmt<'s, 'a> {
    Sqlite(rusqlite::CachedStatement<'s>),
    Pg(&'s PgTx<'a>, Arc<PgStatement>),
}

impl Stmt<'_, '_> {
    pub(crate) fn execute(&mut self, params: impl Params) -> DbResult<usize> {
        params.with_refs(|p| match self {
            Stmt::Sqlite(s) => Ok(s.execute(p)?),
            Stmt::Pg(tx, st) => tx.execute(st, p),
        })
    }

    /// The first row mapped by `f`; `QueryReturnedNoRows` when there is none (see
    /// [`Optional::optional`]).
    pub(crate) fn query_row<T>(
        &mut self,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> DbResult<T> {
        params.with_refs(|p| match self {
            Stmt::Sqlite(s) => Ok(s.query_row(p, |r| f(&Row::Sqlite(r)))?),
            Stmt::Pg(tx, st) => {
                let rows = tx.query(st, p)?;
                match rows.first() {
                    Some(r) => Ok(f(&Row::Pg(r))?),
                    None => Err(rusqlite::Error::QueryReturnedNoRows.into()),
                }
            }
        })
    }

    /// Every row mapped by `f`, to be collected (`?.collect()`).
    pub(crate) fn query_map<T>(
        &mut self,
        params: impl Params,
        mut f: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> DbResult<std::vec::IntoIter<DbResult<T>>> {
        params.with_refs(|p| {
            let out: Vec<DbResult<T>> = match self {
                Stmt::Sqlite(s) => s
                    .query_map(p, |r| Ok(f(&Row::Sqlite(r))))?
                    .map(|r| {
                        r.map_err(DbError::from)
                            .and_then(|v| v.map_err(DbError::from))
                    })
                    .collect(),
                Stmt::Pg(tx, st) => tx
                    .query(st, p)?
                    .iter()
                    .map(|r| f(&Row::Pg(r)).map_err(DbError::from))
                    .collect(),
            };
            Ok(out.into_iter())
        })
    }
}

impl<'a> Db<'a> {
    /// Whether this runs on PostgreSQL (for the few statements spelled per backend).
    pub(crate) fn is_pg(&self) -> bool {
        matches!(self, Db::Pg(_))
    }

    pub(crate) fn prepare_cached<'s>(&'s self, sql: &str) -> DbResult<Stmt<'s, 'a>> {
        match self {
            Db::Sqlite(c) => Ok(Stmt::Sqlite(c.prepare_cached(sql)?)),
            Db::Pg(tx) => Ok(Stmt::Pg(tx, tx.statement(sql)?)),
        }
    }

    pub(crate) fn execute(&self, sql: &str, params: impl Params) -> DbResult<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    pub(crate) fn query_row<T>(
        &self,
        sql: &str,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> DbResult<T> {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}

//! PostgreSQL-backed tables (`CREATE TABLE ... WITH (extension = 'postgres', ...)`), behind
//! the runtime's `postgres` feature.
//!
//! A [`PgTable`] keeps its rows in a PostgreSQL table (`"postgres.table"`), created when it
//! is missing with one column per attribute, the primary key (a `PRIMARY KEY`, or a
//! `UNIQUE` constraint when a key column may be NULL), an index per `INDEX` and a column
//! `__ef_seq`: the row's place in insertion order and its id. An existing table must have
//! every column with a compatible type (a clear error otherwise; `__ef_seq` is added when
//! missing). Rows are visited in `__ef_seq` order, and an update keeps the row's place, so
//! the statements give the results of an in-memory table. Rows travel as JSON
//! (`json_populate_record` in, `json_build_object` out), so the column types decide.
//!
//! Lookups by primary key go through a bounded local cache (`"postgres.cache"` entries,
//! write-through; 0 turns it off); other conditions read the table in order.
//!
//! Without checkpoints every write commits at once. With checkpoints (`--state-dir`) the
//! writes since the last checkpoint form one transaction, prepared (`PREPARE TRANSACTION`)
//! before the checkpoint is saved and committed after it; a restart commits the prepared
//! transaction the restored checkpoint covers and rolls back a later one, so after a crash
//! the table holds exactly the writes of the restored checkpoint and the replay redoes the
//! rest. This needs `max_prepared_transactions > 0` on the server; without it the
//! transaction commits before the checkpoint is saved (a crash between the two replays
//! writes the table already holds; a warning says so).
//!
//! Failures follow [`PgOnError`]: `wait` (the default) retries with backoff until the
//! server is back, replaying the open transaction's writes, so nothing is lost; `log`
//! prints the error once per outage, finds no row and drops writes meanwhile; `fail` stops
//! the app with the error.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::{DuplicateKey, TableRow};
use crate::connect::tracked::{self, Participant};

/// The id of a row of a [`PgTable`]: its `__ef_seq`.
pub type PgRowId = i64;

/// The SQL type of a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PgType {
    /// `INT`: `integer`.
    Int,
    /// `LONG`: `bigint`.
    Long,
    /// `FLOAT`: `real`.
    Float,
    /// `DOUBLE`: `double precision`.
    Double,
    /// `STRING`: `text`.
    Text,
    /// `BOOL`: `boolean`.
    Bool,
}

impl PgType {
    fn sql(self) -> &'static str {
        match self {
            PgType::Int => "integer",
            PgType::Long => "bigint",
            PgType::Float => "real",
            PgType::Double => "double precision",
            PgType::Text => "text",
            PgType::Bool => "boolean",
        }
    }

    /// Whether a column of `data_type` (as `information_schema` names it) holds this type.
    fn accepts(self, data_type: &str) -> bool {
        match self {
            PgType::Text => matches!(data_type, "text" | "character varying"),
            _ => data_type == self.sql(),
        }
    }
}

/// What a [`PgTable`] does when PostgreSQL fails (`"on.error"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PgOnError {
    /// Retry with backoff until the server is back; nothing is lost (`'wait'`, default).
    #[default]
    Wait,
    /// Print the error, carry on as if the table had no matching row, drop writes (`'log'`).
    Log,
    /// Stop the app with the error (`'fail'`).
    Fail,
}

/// A column of a [`PgTable`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgColumn {
    /// The attribute's name (the column's, and the row's field in JSON).
    pub name: String,
    /// Its type.
    pub ty: PgType,
    /// Whether it may be NULL.
    pub nullable: bool,
}

/// Where a [`PgTable`] keeps its rows, its columns and keys; built from the table's
/// definition and `WITH` options by the generated code.
#[derive(Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// The table's name in the app, for messages and positions.
    pub table: String,
    /// The connection URL (`"postgres.url"`).
    pub url: String,
    /// The PostgreSQL table (`"postgres.table"`, optionally `schema.table`).
    pub pg_table: String,
    /// What a failure does.
    pub on_error: PgOnError,
    /// Entries of the primary-key cache (0: none).
    pub cache: usize,
    /// The columns, in the row's order.
    pub columns: Vec<PgColumn>,
    /// The primary-key columns (indexes into `columns`).
    pub primary_key: Vec<usize>,
    /// The secondary indexes.
    pub indexes: Vec<Vec<usize>>,
}

impl fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgOptions")
            .field("table", &self.table)
            .field("url", &shown(&self.url))
            .field("pg_table", &self.pg_table)
            .field("on_error", &self.on_error)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl PgOptions {
    /// Table `table` kept in `pg_table` at `url`: no columns yet, errors waited out, a
    /// cache of 10 000 rows.
    pub fn new(
        table: impl Into<String>,
        url: impl Into<String>,
        pg_table: impl Into<String>,
    ) -> Self {
        PgOptions {
            table: table.into(),
            url: url.into(),
            pg_table: pg_table.into(),
            on_error: PgOnError::Wait,
            cache: 10_000,
            columns: Vec::new(),
            primary_key: Vec::new(),
            indexes: Vec::new(),
        }
    }

    /// Adds a column.
    pub fn column(mut self, name: impl Into<String>, ty: PgType, nullable: bool) -> Self {
        self.columns.push(PgColumn {
            name: name.into(),
            ty,
            nullable,
        });
        self
    }

    /// Sets the primary-key columns.
    pub fn primary_key(mut self, cols: &[usize]) -> Self {
        self.primary_key = cols.to_vec();
        self
    }

    /// Adds a secondary index.
    pub fn index(mut self, cols: &[usize]) -> Self {
        self.indexes.push(cols.to_vec());
        self
    }

    /// Sets what a failure does.
    pub fn on_error(mut self, on_error: PgOnError) -> Self {
        self.on_error = on_error;
        self
    }

    /// Sets the size of the primary-key cache.
    pub fn cache(mut self, entries: usize) -> Self {
        self.cache = entries;
        self
    }
}

/// A failure of a [`PgTable`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PgTableError {
    /// PostgreSQL could not be reached, or the connection broke.
    #[error("table `{table}`: cannot reach PostgreSQL at {server}: {message}")]
    Connection {
        /// The table.
        table: String,
        /// The URL without its password.
        server: String,
        /// The client's error.
        message: String,
    },
    /// PostgreSQL rejected a statement.
    #[error("table `{table}`: PostgreSQL table `{pg_table}`: {message}")]
    Statement {
        /// The table.
        table: String,
        /// The PostgreSQL table.
        pg_table: String,
        /// The server's error.
        message: String,
    },
    /// The PostgreSQL table does not fit the table's columns.
    #[error("table `{table}`: the PostgreSQL table `{pg_table}` does not fit: {message}")]
    Schema {
        /// The table.
        table: String,
        /// The PostgreSQL table.
        pg_table: String,
        /// What is wrong.
        message: String,
    },
    /// A row or key could not be read or written.
    #[error("table `{table}`: {message}")]
    Row {
        /// The table.
        table: String,
        /// What is wrong.
        message: String,
    },
}

/// The URL without its password, for messages.
fn shown(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            let user = creds.split_once(':').map_or(creds, |(u, _)| u);
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

/// `"name"`: an identifier, quoted.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A write of the open transaction: a statement and its text parameters.
type Write = (String, Vec<String>);

/// The connection and transaction of one table (shared with its checkpoint participant).
struct Conn {
    options: PgOptions,
    /// The table's name, quoted (schema-qualified when given so).
    target: String,
    rt: Option<tokio::runtime::Runtime>,
    client: Option<tokio_postgres::Client>,
    /// Whether writes are grouped per checkpoint.
    transactional: bool,
    /// The writes of the open transaction (replayed after a reconnection).
    writes: Vec<Write>,
    /// Whether a transaction is open on `client`.
    open: bool,
    /// Transactions committed for checkpoints (kept in checkpoints).
    commits: u64,
    /// A prepared transaction waiting for its checkpoint to be saved.
    prepared: Option<String>,
    /// Whether the server refused `PREPARE TRANSACTION`.
    no_two_phase: bool,
    /// The `__ef_seq` of the next row.
    next_seq: i64,
    /// Whether the table was checked (and created) on this connection's server.
    ready: bool,
    /// An outage was reported (and not yet ended).
    down: bool,
    failure: Option<PgTableError>,
}

/// What a failed statement was.
enum Failed {
    /// The connection is gone (or could not be made).
    Connection(String),
    /// The server rejected the statement.
    Statement(String),
}

impl From<tokio_postgres::Error> for Failed {
    fn from(e: tokio_postgres::Error) -> Self {
        // Connection exceptions (08...) and a server shutting down or starting up (57P..)
        // are outages, not rejected statements.
        match e.as_db_error() {
            Some(db) if !matches!(&db.code().code()[..2], "08" | "57") => {
                Failed::Statement(db.message().to_string())
            }
            Some(db) => Failed::Connection(db.message().to_string()),
            None => Failed::Connection(e.to_string()),
        }
    }
}

impl Conn {
    fn connection_error(&self, message: String) -> PgTableError {
        PgTableError::Connection {
            table: self.options.table.clone(),
            server: shown(&self.options.url),
            message,
        }
    }

    fn statement_error(&self, message: String) -> PgTableError {
        PgTableError::Statement {
            table: self.options.table.clone(),
            pg_table: self.options.pg_table.clone(),
            message,
        }
    }

    fn runtime(&mut self) -> Result<&tokio::runtime::Runtime, Failed> {
        if self.rt.is_none() {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Failed::Connection(format!("cannot start the client: {e}")))?;
            self.rt = Some(rt);
        }
        self.rt
            .as_ref()
            .ok_or_else(|| Failed::Connection("no client".into()))
    }

    /// Connects, checks (or creates) the table, resolves transactions prepared by an
    /// earlier run, and reopens the transaction with its writes.
    fn connect(&mut self) -> Result<(), Failed> {
        self.client = None;
        self.open = false;
        let url = self.options.url.clone();
        let rt = self.runtime()?;
        let client = rt.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            Ok::<_, tokio_postgres::Error>(client)
        })?;
        self.client = Some(client);
        if !self.ready {
            self.prepare_table()?;
            self.ready = true;
        }
        if self.transactional && !self.writes.is_empty() {
            self.simple("BEGIN")?;
            self.open = true;
            let writes = std::mem::take(&mut self.writes);
            for (sql, params) in &writes {
                if let Err(e) = self.execute(sql, params) {
                    self.writes = writes;
                    return Err(e);
                }
            }
            self.writes = writes;
        }
        if self.down {
            self.down = false;
            eprintln!(
                "info: table `{}`: reconnected to PostgreSQL at {}",
                self.options.table,
                shown(&self.options.url)
            );
        }
        Ok(())
    }

    fn client(&self) -> Result<&tokio_postgres::Client, Failed> {
        self.client
            .as_ref()
            .ok_or_else(|| Failed::Connection("not connected".into()))
    }

    fn simple(&self, sql: &str) -> Result<(), Failed> {
        let (rt, client) = (self.rt.as_ref(), self.client()?);
        let rt = rt.ok_or_else(|| Failed::Connection("no client".into()))?;
        rt.block_on(client.batch_execute(sql))?;
        Ok(())
    }

    fn params(params: &[String]) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
        params
            .iter()
            .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect()
    }

    fn execute(&self, sql: &str, params: &[String]) -> Result<u64, Failed> {
        let (rt, client) = (self.rt.as_ref(), self.client()?);
        let rt = rt.ok_or_else(|| Failed::Connection("no client".into()))?;
        Ok(rt.block_on(client.execute(sql, &Self::params(params)))?)
    }

    fn query(&self, sql: &str, params: &[String]) -> Result<Vec<tokio_postgres::Row>, Failed> {
        let (rt, client) = (self.rt.as_ref(), self.client()?);
        let rt = rt.ok_or_else(|| Failed::Connection("no client".into()))?;
        Ok(rt.block_on(client.query(sql, &Self::params(params)))?)
    }

    /// Creates the table when missing, else checks its columns; adds `__ef_seq` when
    /// missing; learns the next `__ef_seq`; resolves prepared transactions.
    fn prepare_table(&mut self) -> Result<(), Failed> {
        let (schema, name) = match self.options.pg_table.split_once('.') {
            Some((s, n)) => (Some(s.to_string()), n.to_string()),
            None => (None, self.options.pg_table.clone()),
        };
        let schema_sql = schema
            .as_deref()
            .map_or_else(|| "current_schema()".to_string(), literal);
        let existing = self.query(
            &format!(
                "SELECT column_name::text, data_type::text FROM information_schema.columns \
                 WHERE table_schema = {schema_sql} AND table_name = $1::text"
            ),
            std::slice::from_ref(&name),
        )?;
        let existing: HashMap<String, String> = existing
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
            .collect();
        let cols = &self.options.columns;
        if existing.is_empty() {
            let mut defs: Vec<String> = cols
                .iter()
                .map(|c| format!("{} {}", quoted(&c.name), c.ty.sql()))
                .collect();
            defs.push("\"__ef_seq\" BIGSERIAL NOT NULL UNIQUE".into());
            if !self.options.primary_key.is_empty() {
                let key: Vec<String> = self
                    .options
                    .primary_key
                    .iter()
                    .map(|&c| quoted(&cols[c].name))
                    .collect();
                let nullable = self.options.primary_key.iter().any(|&c| cols[c].nullable);
                let kind = if nullable { "UNIQUE" } else { "PRIMARY KEY" };
                defs.push(format!("{kind} ({})", key.join(", ")));
            }
            let mut sql = format!(
                "CREATE TABLE IF NOT EXISTS {} ({});",
                self.target,
                defs.join(", ")
            );
            for (n, index) in self.options.indexes.iter().enumerate() {
                let idx_cols: Vec<String> = index.iter().map(|&c| quoted(&cols[c].name)).collect();
                sql.push_str(&format!(
                    "CREATE INDEX IF NOT EXISTS {} ON {} ({});",
                    quoted(&format!("{name}_ef_idx{n}")),
                    self.target,
                    idx_cols.join(", ")
                ));
            }
            self.simple(&sql)?;
        } else {
            let mut problems = Vec::new();
            for c in cols {
                match existing.get(&c.name) {
                    None => problems.push(format!("it has no column `{}`", c.name)),
                    Some(t) if !c.ty.accepts(t) => problems.push(format!(
                        "its column `{}` is {t}, not {}",
                        c.name,
                        c.ty.sql()
                    )),
                    Some(_) => {}
                }
            }
            if !problems.is_empty() {
                let e = PgTableError::Schema {
                    table: self.options.table.clone(),
                    pg_table: self.options.pg_table.clone(),
                    message: problems.join("; "),
                };
                self.failure = Some(e.clone());
                return Err(Failed::Statement(e.to_string()));
            }
            if !existing.contains_key("__ef_seq") {
                self.simple(&format!(
                    "ALTER TABLE {} ADD COLUMN \"__ef_seq\" BIGSERIAL NOT NULL UNIQUE",
                    self.target
                ))?;
            }
        }
        let rows = self.query(
            &format!("SELECT coalesce(max(\"__ef_seq\"), 0) FROM {}", self.target),
            &[],
        )?;
        let max: i64 = rows.first().map_or(0, |r| r.get(0));
        self.next_seq = self.next_seq.max(max + 1);
        if self.transactional {
            self.resolve_prepared()?;
        }
        Ok(())
    }

    /// The prefix of the names of this table's prepared transactions.
    fn gid_prefix(&self) -> String {
        format!("eventflux:{}:", self.options.pg_table)
    }

    /// Commits the prepared transaction the restored checkpoint covers, rolls back later
    /// ones (their checkpoint was never saved).
    fn resolve_prepared(&mut self) -> Result<(), Failed> {
        let prefix = self.gid_prefix();
        let rows = self.query(
            "SELECT gid FROM pg_prepared_xacts WHERE database = current_database() \
             AND starts_with(gid, $1::text)",
            std::slice::from_ref(&prefix),
        )?;
        for row in rows {
            let gid: String = row.get(0);
            let n: u64 = gid[prefix.len()..].parse().unwrap_or(u64::MAX);
            let verb = if n <= self.commits {
                "COMMIT"
            } else {
                "ROLLBACK"
            };
            self.simple(&format!("{verb} PREPARED {}", literal(&gid)))?;
        }
        Ok(())
    }

    /// Reports `error` per the table's `on.error` (once per outage for connections).
    fn report(&mut self, error: PgTableError) {
        match self.options.on_error {
            PgOnError::Fail => {
                if self.failure.is_none() {
                    self.failure = Some(error);
                }
            }
            _ => {
                let connection = matches!(error, PgTableError::Connection { .. });
                if connection && self.down {
                    return;
                }
                self.down |= connection;
                let retry = if connection && self.options.on_error == PgOnError::Wait {
                    "; retrying"
                } else {
                    ""
                };
                eprintln!("error: {error}{retry}");
            }
        }
    }

    /// Runs `op` (connecting first when needed). Connection failures are retried with
    /// backoff under `wait`; a rejected statement inside the transaction restarts it with
    /// its earlier writes. `None` when it failed.
    fn run<T>(&mut self, op: impl Fn(&mut Conn) -> Result<T, Failed>) -> Option<T> {
        let mut pause = Duration::from_millis(100);
        loop {
            if self.failure.is_some() {
                return None;
            }
            let result = if self.client.as_ref().is_none_or(|c| c.is_closed()) {
                self.connect().and_then(|()| op(self))
            } else {
                op(self)
            };
            match result {
                Ok(v) => return Some(v),
                Err(Failed::Statement(message))
                    if self.failure.is_none()
                        && self.client.as_ref().is_some_and(|c| !c.is_closed()) =>
                {
                    let e = self.statement_error(message);
                    self.report(e);
                    if self.open {
                        // The transaction is aborted: redo its writes in a new one.
                        let _ = self.simple("ROLLBACK");
                        self.open = false;
                        self.client = None;
                    }
                    return None;
                }
                Err(Failed::Statement(_)) if self.failure.is_some() => return None,
                Err(Failed::Connection(message) | Failed::Statement(message)) => {
                    self.client = None;
                    self.open = false;
                    let e = self.connection_error(message);
                    self.report(e);
                    if self.options.on_error != PgOnError::Wait {
                        return None;
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Runs a write: in the open transaction (begun if needed, and kept for a replay) or
    /// committed at once. Returns the rows it changed.
    fn write(&mut self, sql: String, params: Vec<String>) -> Option<u64> {
        let transactional = self.transactional;
        let n = self.run(|c| {
            if transactional && !c.open {
                c.simple("BEGIN")?;
                c.open = true;
            }
            c.execute(&sql, &params)
        })?;
        if transactional {
            self.writes.push((sql, params));
        }
        Some(n)
    }

    /// Ends the open transaction before a checkpoint: prepared (committed after the
    /// checkpoint is saved), or committed now when the server has no prepared transactions.
    fn before_checkpoint(&mut self) -> Result<(), String> {
        if !self.open && self.writes.is_empty() {
            return Ok(());
        }
        let n = self.commits + 1;
        let gid = format!("{}{n}", self.gid_prefix());
        let no_two_phase = self.no_two_phase;
        let done = self.run(|c| {
            if !c.open {
                return Err(Failed::Connection("transaction lost".into()));
            }
            if no_two_phase {
                c.simple("COMMIT")?;
                return Ok(false);
            }
            match c.simple(&format!("PREPARE TRANSACTION {}", literal(&gid))) {
                Ok(()) => Ok(true),
                Err(Failed::Statement(m)) if m.contains("prepared transactions are disabled") => {
                    // The failed PREPARE rolled the transaction back: redo it, commit.
                    c.open = false;
                    c.no_two_phase = true;
                    eprintln!(
                        "warning: table `{}`: the server has max_prepared_transactions = 0, so \
                         the table's writes are committed before each checkpoint is saved (a \
                         crash between the two replays writes the table holds already)",
                        c.options.table
                    );
                    Err(Failed::Connection("redo the transaction".into()))
                }
                Err(e) => Err(e),
            }
        });
        match done {
            Some(prepared) => {
                self.open = false;
                self.writes.clear();
                self.commits = n;
                self.prepared = prepared.then_some(gid);
                Ok(())
            }
            None => Err(format!(
                "table `{}`: cannot commit to PostgreSQL",
                self.options.table
            )),
        }
    }

    /// The checkpoint is saved: commits the prepared transaction.
    fn after_checkpoint(&mut self) {
        if let Some(gid) = self.prepared.take() {
            let sql = format!("COMMIT PREPARED {}", literal(&gid));
            // A lost connection: the restart (or reconnection) commits it.
            self.run(|c| c.simple(&sql));
        }
    }
}

/// The checkpoint participant of a table.
struct Checkpoints(Arc<Mutex<Conn>>);

fn lock(conn: &Mutex<Conn>) -> MutexGuard<'_, Conn> {
    conn.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Participant for Checkpoints {
    fn before_checkpoint(&self) -> Result<(), String> {
        lock(&self.0).before_checkpoint()
    }

    fn positions(&self) -> Vec<(String, u64)> {
        let conn = lock(&self.0);
        vec![(
            format!("postgres-table:{}", conn.options.pg_table),
            conn.commits,
        )]
    }

    fn after_checkpoint(&self) {
        lock(&self.0).after_checkpoint();
    }
}

/// A bounded map from primary key to the row with it (or none), written through.
struct Cache<R: TableRow> {
    cap: usize,
    rows: HashMap<R::Key, Option<(PgRowId, R)>>,
    keys: HashMap<PgRowId, R::Key>,
}

impl<R: TableRow + Clone> Cache<R> {
    fn get(&self, key: &R::Key) -> Option<&Option<(PgRowId, R)>> {
        self.rows.get(key)
    }

    fn put(&mut self, key: R::Key, row: Option<(PgRowId, R)>) {
        if self.cap == 0 {
            return;
        }
        if self.rows.len() >= self.cap && !self.rows.contains_key(&key) {
            self.rows.clear();
            self.keys.clear();
        }
        if let Some((id, _)) = &row {
            self.keys.insert(*id, key.clone());
        }
        self.rows.insert(key, row);
    }

    /// Forgets row `id` (its key now has no row).
    fn forget(&mut self, id: PgRowId) {
        if let Some(key) = self.keys.remove(&id) {
            self.rows.insert(key, None);
        }
    }
}

/// The rows of one table, kept in PostgreSQL.
pub struct PgTable<R: TableRow> {
    conn: Arc<Mutex<Conn>>,
    cache: RefCell<Cache<R>>,
    /// `json_build_object('a', t."a", ...)::text`.
    row_json: String,
    /// The primary-key equality of `t` (the table) and `r` (a record).
    key_match: String,
    /// The quoted column list.
    col_list: String,
    rows: PhantomData<fn() -> R>,
}

impl<R: TableRow> fmt::Debug for PgTable<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgTable").finish_non_exhaustive()
    }
}

/// Lookups by secondary index (`INDEX (...)`): the generated index key serializes as
/// `{"I<n>": [values of index n's columns]}`.
impl<R: TableRow + Clone + Serialize + DeserializeOwned> PgTable<R>
where
    R::Key: Serialize,
    R::IndexKey: Serialize,
{
    /// The rows whose index columns equal `key`, in insertion order, found by PostgreSQL
    /// through the index the table has on them (empty when PostgreSQL fails). A NULL in the
    /// key finds the rows with NULL there.
    pub fn lookup(&self, key: &R::IndexKey) -> Vec<(PgRowId, R)> {
        let Some((json, cols)) = self.index_probe(key) else {
            return Vec::new();
        };
        let sql = {
            let conn = self.conn();
            let cond: Vec<String> = cols
                .iter()
                .map(|(c, null)| {
                    let c = quoted(c);
                    if *null {
                        format!("t.{c} IS NULL")
                    } else {
                        format!("t.{c} = r.{c}")
                    }
                })
                .collect();
            format!(
                "SELECT t.\"__ef_seq\", {} FROM {} t, json_populate_record(NULL::{}, $1::text::json) r \
                 WHERE {} ORDER BY t.\"__ef_seq\"",
                self.row_json,
                conn.target,
                conn.target,
                cond.join(" AND ")
            )
        };
        let rows = self
            .conn()
            .run(|c| c.query(&sql, std::slice::from_ref(&json)));
        rows.map_or_else(Vec::new, |rows| self.decode(rows))
    }

    /// The JSON object of index key `key` (column name to value) and its columns, each with
    /// whether its value is NULL.
    fn index_probe(&self, key: &R::IndexKey) -> Option<(String, Vec<(String, bool)>)> {
        let bad = |message: String| {
            self.bad_row(message);
            None
        };
        let (variant, values) = match serde_json::to_value(key) {
            Ok(Value::Object(map)) if map.len() == 1 => map.into_iter().next()?,
            Ok(other) => return bad(format!("index key {other} is not one index's values")),
            Err(e) => return bad(e.to_string()),
        };
        let parts = match values {
            Value::Array(parts) => parts,
            single => vec![single],
        };
        let conn = self.conn();
        let index = variant
            .strip_prefix('I')
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| conn.options.indexes.get(n));
        let Some(index) = index.filter(|cols| cols.len() == parts.len()) else {
            drop(conn);
            return bad(format!("index key `{variant}` names no index of the table"));
        };
        let names: Vec<String> = index
            .iter()
            .map(|&c| conn.options.columns[c].name.clone())
            .collect();
        let cols = names
            .iter()
            .zip(&parts)
            .map(|(n, v)| (n.clone(), v.is_null()))
            .collect();
        let map: serde_json::Map<String, Value> = names.into_iter().zip(parts).collect();
        Some((Value::Object(map).to_string(), cols))
    }
}

impl<R: TableRow + Clone + Serialize + DeserializeOwned> PgTable<R>
where
    R::Key: Serialize,
{
    /// A table kept in the PostgreSQL of `options`: connects now (a table that does not fit
    /// is reported at once) and takes part in checkpoints when the run takes them.
    pub fn new(mut options: PgOptions) -> Self {
        // `${VAR}` in the URL and table name, replaced from the environment.
        let mut failure = None;
        for (key, value) in [
            ("postgres.url", &mut options.url),
            ("postgres.table", &mut options.pg_table),
        ] {
            match crate::connect::substitute(value, |n| std::env::var(n).ok()) {
                Ok(v) => *value = v,
                Err(e) => {
                    failure.get_or_insert(PgTableError::Row {
                        table: options.table.clone(),
                        message: format!("option \"{key}\": {e}"),
                    });
                }
            }
        }
        if failure.is_none() && !crate::connect::postgres::valid_table(&options.pg_table) {
            failure = Some(PgTableError::Row {
                table: options.table.clone(),
                message: format!(
                    "option \"postgres.table\": `{}` is not a table name",
                    options.pg_table
                ),
            });
        }
        let target = match options.pg_table.split_once('.') {
            Some((s, n)) => format!("{}.{}", quoted(s), quoted(n)),
            None => quoted(&options.pg_table),
        };
        let cols = &options.columns;
        let row_json = format!(
            "json_build_object({})::text",
            cols.iter()
                .map(|c| format!("{}, t.{}", literal(&c.name), quoted(&c.name)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let key_match = options
            .primary_key
            .iter()
            .map(|&k| {
                let c = quoted(&cols[k].name);
                if cols[k].nullable {
                    format!("(t.{c} = r.{c} OR (t.{c} IS NULL AND r.{c} IS NULL))")
                } else {
                    format!("t.{c} = r.{c}")
                }
            })
            .collect::<Vec<_>>()
            .join(" AND ");
        let col_list = cols
            .iter()
            .map(|c| quoted(&c.name))
            .collect::<Vec<_>>()
            .join(", ");
        let transactional = tracked::checkpointing();
        let commits =
            tracked::restored_sink(&format!("postgres-table:{}", options.pg_table)).unwrap_or(0);
        let cap = options.cache;
        let conn = Conn {
            options,
            target,
            rt: None,
            client: None,
            transactional,
            writes: Vec::new(),
            open: false,
            commits,
            prepared: None,
            no_two_phase: false,
            next_seq: 1,
            ready: false,
            down: false,
            failure: failure.clone(),
        };
        let conn = Arc::new(Mutex::new(conn));
        if transactional {
            tracked::register_sink(Arc::new(Checkpoints(Arc::clone(&conn))));
        }
        if let Some(e) = failure {
            eprintln!("error: {e}");
        } else {
            let mut c = lock(&conn);
            if let Err(e) = c.connect() {
                let error = match e {
                    Failed::Connection(m) => c.connection_error(m),
                    Failed::Statement(m) => c.statement_error(m),
                };
                match c.failure.clone() {
                    Some(schema) => eprintln!("error: {schema}"),
                    None => c.report(error),
                }
            }
        }
        PgTable {
            conn,
            cache: RefCell::new(Cache {
                cap,
                rows: HashMap::new(),
                keys: HashMap::new(),
            }),
            row_json,
            key_match,
            col_list,
            rows: PhantomData,
        }
    }

    fn conn(&self) -> MutexGuard<'_, Conn> {
        lock(&self.conn)
    }

    /// The first failure: with `'fail'`, or a PostgreSQL table that does not fit.
    pub fn failure(&self) -> Option<PgTableError> {
        self.conn().failure.clone()
    }

    fn bad_row(&self, message: String) {
        let mut conn = self.conn();
        let e = PgTableError::Row {
            table: conn.options.table.clone(),
            message,
        };
        conn.report(e);
    }

    /// The JSON object of primary key `key`.
    fn key_json(&self, key: &R::Key) -> Option<String> {
        let value = match serde_json::to_value(key) {
            Ok(v) => v,
            Err(e) => {
                self.bad_row(e.to_string());
                return None;
            }
        };
        let parts = match value {
            Value::Array(parts) => parts,
            single => vec![single],
        };
        let conn = self.conn();
        let names = conn
            .options
            .primary_key
            .iter()
            .map(|&c| conn.options.columns[c].name.clone());
        let map: serde_json::Map<String, Value> = names.zip(parts).collect();
        Some(Value::Object(map).to_string())
    }

    fn decode(&self, rows: Vec<tokio_postgres::Row>) -> Vec<(PgRowId, R)> {
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let (id, json): (i64, String) = (r.get(0), r.get(1));
            match serde_json::from_str::<R>(&json) {
                Ok(row) => out.push((id, row)),
                Err(e) => self.bad_row(format!("row {json} cannot be read: {e}")),
            }
        }
        out
    }

    /// The row with primary key `key` (`None` also when PostgreSQL fails).
    pub fn find(&self, key: &R::Key) -> Option<(PgRowId, R)> {
        if let Some(hit) = self.cache.borrow().get(key) {
            return hit.clone();
        }
        let json = self.key_json(key)?;
        let sql = {
            let conn = self.conn();
            format!(
                "SELECT t.\"__ef_seq\", {} FROM {} t, json_populate_record(NULL::{}, $1::text::json) r \
                 WHERE {} LIMIT 1",
                self.row_json, conn.target, conn.target, self.key_match
            )
        };
        let rows = self
            .conn()
            .run(|c| c.query(&sql, std::slice::from_ref(&json)))?;
        let found = self.decode(rows).into_iter().next();
        self.cache.borrow_mut().put(key.clone(), found.clone());
        found
    }

    /// Whether a row has primary key `key`.
    pub fn contains_key(&self, key: &R::Key) -> bool {
        self.find(key).is_some()
    }

    /// Every row, in insertion order (empty when PostgreSQL fails).
    pub fn scan(&self) -> Vec<(PgRowId, R)> {
        let sql = {
            let conn = self.conn();
            format!(
                "SELECT t.\"__ef_seq\", {} FROM {} t ORDER BY t.\"__ef_seq\"",
                self.row_json, conn.target
            )
        };
        let rows = self.conn().run(|c| c.query(&sql, &[]));
        rows.map_or_else(Vec::new, |rows| self.decode(rows))
    }

    /// Number of rows (0 when PostgreSQL fails).
    pub fn len(&self) -> usize {
        let sql = format!("SELECT count(*) FROM {}", self.conn().target);
        let rows = self.conn().run(|c| c.query(&sql, &[]));
        rows.and_then(|rows| rows.first().map(|r| r.get::<_, i64>(0)))
            .map_or(0, |n| usize::try_from(n).unwrap_or(0))
    }

    /// Whether the table has no row (also when PostgreSQL fails).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn row_json(&self, row: &R) -> Option<String> {
        match serde_json::to_string(row) {
            Ok(j) => Some(j),
            Err(e) => {
                self.bad_row(e.to_string());
                None
            }
        }
    }

    /// Stores `row`; rejected when another row has its primary key. A failure of
    /// PostgreSQL is handled by `on.error` and is not an `Err`.
    pub fn insert(&mut self, row: R) -> Result<(), DuplicateKey> {
        let key = row.primary_key();
        if let Some(k) = &key {
            if self.cache.borrow().get(k).is_some_and(Option::is_some) {
                return Err(DuplicateKey);
            }
        }
        let Some(json) = self.row_json(&row) else {
            return Ok(());
        };
        let mut conn = self.conn();
        let seq = conn.next_seq;
        let unique = if key.is_some() {
            format!(
                " WHERE NOT EXISTS (SELECT 1 FROM {} t WHERE {})",
                conn.target, self.key_match
            )
        } else {
            String::new()
        };
        let sql = format!(
            "INSERT INTO {target} ({cols}, \"__ef_seq\") SELECT {rcols}, $2::text::bigint \
             FROM json_populate_record(NULL::{target}, $1::text::json) r{unique}",
            target = conn.target,
            cols = self.col_list,
            rcols = self
                .col_list
                .split(", ")
                .map(|c| format!("r.{c}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        let n = conn.write(sql, vec![json, seq.to_string()]);
        drop(conn);
        match n {
            Some(0) => Err(DuplicateKey),
            Some(_) => {
                self.conn().next_seq = seq + 1;
                if let Some(k) = key {
                    self.cache.borrow_mut().put(k, Some((seq, row)));
                }
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Replaces row `id` with `row`, keeping its place; rejected (the row unchanged) when
    /// `row`'s primary key belongs to another row.
    pub fn update(&mut self, id: &PgRowId, row: R) -> Result<(), DuplicateKey> {
        let Some(json) = self.row_json(&row) else {
            return Ok(());
        };
        let target = self.conn().target.clone();
        if let Some(key) = row.primary_key() {
            let other = match self.find(&key) {
                Some((other, _)) => other != *id,
                None => false,
            };
            if other {
                return Err(DuplicateKey);
            }
        }
        let sql = format!(
            "UPDATE {target} SET ({cols}) = (SELECT {rcols} FROM \
             json_populate_record(NULL::{target}, $1::text::json) r) \
             WHERE \"__ef_seq\" = $2::text::bigint",
            cols = self.col_list,
            rcols = self
                .col_list
                .split(", ")
                .map(|c| format!("r.{c}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        let n = self.conn().write(sql, vec![json, id.to_string()]);
        let mut cache = self.cache.borrow_mut();
        cache.forget(*id);
        if n == Some(1) {
            if let Some(key) = row.primary_key() {
                cache.put(key, Some((*id, row)));
            }
        }
        Ok(())
    }

    /// Removes row `id`.
    pub fn remove(&mut self, id: &PgRowId) {
        let sql = format!(
            "DELETE FROM {} WHERE \"__ef_seq\" = $1::text::bigint",
            self.conn().target
        );
        self.conn().write(sql, vec![id.to_string()]);
        self.cache.borrow_mut().forget(*id);
    }

    /// Removes every row.
    pub fn clear(&mut self) {
        let sql = format!("DELETE FROM {}", self.conn().target);
        self.conn().write(sql, Vec::new());
        let mut cache = self.cache.borrow_mut();
        cache.rows.clear();
        cache.keys.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_literals_types_and_shown_urls() {
        assert_eq!(quoted("a\"b"), "\"a\"\"b\"");
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(
            shown("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert!(PgType::Text.accepts("character varying") && PgType::Text.accepts("text"));
        assert!(PgType::Double.accepts("double precision") && !PgType::Double.accepts("real"));
        let options = PgOptions::new("T", "postgres://u:secret@h/db", "t")
            .column("k", PgType::Text, false)
            .primary_key(&[0]);
        assert!(!format!("{options:?}").contains("secret"));
    }
}

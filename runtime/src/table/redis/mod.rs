//! Redis-backed tables (`CREATE TABLE ... WITH (extension = 'redis', ...)`), behind the
//! runtime's `redis` feature.
//!
//! A [`RedisTable`] keeps no rows in the process: each row is a Redis hash whose key is
//! `<prefix>:<table>:<primary key>` and whose fields are the row's non-NULL columns (the
//! private `codec` module gives the text of keys and values). So a lookup by primary key is
//! one `HGETALL`.
//!
//! Rows are visited in insertion order, as in the in-memory [`super::Table`]: the sorted set
//! `<prefix>:<table>#order` (outside the rows' keys) holds every row's key, scored one past
//! the last score when the row is inserted. An update keeps the row's score (also when it
//! changes the primary key: the new key takes the old one's place); a removed row leaves
//! the set, so a row deleted and inserted again comes last (also when another program
//! deleted its hash: a scan drops the keys whose hash is gone from the order, each checked
//! again inside the script that removes it). Any condition other than the
//! whole primary key scans the table: one `ZRANGE` and the rows in pipelines of
//! `HGETALL`s. Each write is one small Lua script, atomic with its duplicate check and its
//! change to the order.
//!
//! Rows with no place in the order (written by an EventFlux from before tables kept one,
//! or by another program) are found when the table connects: before its first operation
//! on each new connection it looks over its keys (`SCAN MATCH <prefix>:<table>:*`; keys
//! that are not hashes are left alone) and puts such rows after the others, in key order,
//! saying how many on stderr. A row another program writes while the table is connected
//! is found by its key, and by scans only after the table's next connection.
//!
//! The rows live in Redis, so a snapshot of the app stores nothing for a Redis table and a
//! restore leaves the table as Redis has it.
//!
//! Failures (Redis unreachable, the connection lost, a command or a stored row rejected)
//! follow [`OnError`]. With [`OnError::Log`] (the default) the error is printed on stderr
//! once per outage, naming the table and the server; meanwhile lookups find no row (an
//! inner join matches nothing, a left join pads with NULL, `IN` is false) and writes are
//! dropped; the next operation reconnects (a refused connection fails at once; a host that
//! does not answer makes each operation wait up to the timeout). With [`OnError::Fail`] the first failure is kept
//! in [`RedisTable::failure`], later operations do nothing, and the driver stops the app
//! with that error and exit code 1 after the current event.
//!
//! ```no_run
//! use eventflux_runtime::table::{RedisOptions, RedisTable, TableRow};
//!
//! #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
//! struct Stock { symbol: String, price: i64 }
//!
//! impl TableRow for Stock {
//!     type Key = (String,);
//!     type IndexKey = ();
//!     fn primary_key(&self) -> Option<(String,)> { Some((self.symbol.clone(),)) }
//!     fn index_keys(&self, _out: impl FnMut(())) {}
//! }
//!
//! let mut t = RedisTable::<Stock>::new(RedisOptions::new("Stock").port(6379));
//! t.insert(Stock { symbol: "IBM".into(), price: 10 }).unwrap(); // HSET eventflux:Stock:IBM
//! assert!(t.insert(Stock { symbol: "IBM".into(), price: 30 }).is_err());
//! let (key, row) = t.find(&("IBM".to_string(),)).unwrap();
//! t.update(&key, Stock { price: 20, ..row }).unwrap();
//! assert_eq!(t.scan().len(), 1);
//! ```

mod codec;
mod connection;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{DuplicateKey, TableRow};
use connection::Link;

/// The id of a row of a [`RedisTable`]: its Redis key.
pub type RedisKey = String;

/// What a [`RedisTable`] does when Redis fails (`"redis.on_error"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnError {
    /// Print the error, carry on as if the table had no matching row, reconnect on the next
    /// operation (`'log'`, the default).
    #[default]
    Log,
    /// Stop the app with the error (`'fail'`).
    Fail,
}

/// Where a [`RedisTable`] keeps its rows and how it handles failures; built from the
/// table's `WITH` options by the generated code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisOptions {
    /// The table's name: the middle part of its keys, and named in error messages.
    pub table: String,
    /// Server host (`"redis.host"`, default `127.0.0.1`).
    pub host: String,
    /// Server port (`"redis.port"`, default 6379).
    pub port: u16,
    /// Database number (`"redis.db"`, default 0).
    pub db: i64,
    /// Password (`"redis.password"`), if the server wants one.
    pub password: Option<String>,
    /// First part of every key (`"redis.prefix"`, default `eventflux`).
    pub prefix: String,
    /// What a failure does (`"redis.on_error"`).
    pub on_error: OnError,
    /// Connect, read and write timeout in ms (`"redis.timeout"`, default 2000).
    pub timeout_ms: u64,
}

impl RedisOptions {
    /// The defaults for table `table`: `127.0.0.1:6379`, db 0, prefix `eventflux`, errors
    /// logged, 2 s timeout.
    pub fn new(table: impl Into<String>) -> Self {
        RedisOptions {
            table: table.into(),
            host: "127.0.0.1".into(),
            port: 6379,
            db: 0,
            password: None,
            prefix: "eventflux".into(),
            on_error: OnError::Log,
            timeout_ms: 2000,
        }
    }

    /// Sets the host.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// Sets the port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Sets the database number.
    pub fn db(mut self, db: i64) -> Self {
        self.db = db;
        self
    }

    /// Sets the password.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Sets the key prefix.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets what a failure does.
    pub fn on_error(mut self, on_error: OnError) -> Self {
        self.on_error = on_error;
        self
    }

    /// Sets the timeout in ms (0 is taken as 1).
    pub fn timeout_ms(mut self, ms: u64) -> Self {
        self.timeout_ms = ms;
        self
    }

    /// `host:port/db`, for messages.
    fn server(&self) -> String {
        format!("{}:{}/{}", self.host, self.port, self.db)
    }
}

/// A failure of a [`RedisTable`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RedisTableError {
    /// Redis could not be reached, or the connection broke.
    #[error("table `{table}`: cannot reach Redis at {server}: {message}")]
    Connection {
        /// The table.
        table: String,
        /// `host:port/db`.
        server: String,
        /// The client's error.
        message: String,
    },
    /// Redis answered a command with an error.
    #[error("table `{table}`: Redis at {server} failed a command: {message}")]
    Command {
        /// The table.
        table: String,
        /// `host:port/db`.
        server: String,
        /// The server's error.
        message: String,
    },
    /// A hash in Redis does not hold a row of the table.
    #[error("table `{table}`: the Redis hash `{key}` is not a row of the table: {message}")]
    BadRow {
        /// The table.
        table: String,
        /// The hash's key.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// A row cannot be stored (a row with every column NULL has no hash field to store).
    #[error("table `{table}`: a row cannot be stored in Redis: {message}")]
    Unstorable {
        /// The table.
        table: String,
        /// Why.
        message: String,
    },
}

/// The rows of one table, kept in Redis.
pub struct RedisTable<R> {
    options: RedisOptions,
    /// `<prefix>:<table>:`, the start of every key.
    key_start: String,
    /// `<prefix>:<table>#order`, the sorted set giving the rows' order.
    order_key: String,
    link: RefCell<Link>,
    rows: PhantomData<fn() -> R>,
}

impl<R> fmt::Debug for RedisTable<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTable")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Lua: `next_score(order)`, the score after the last of sorted set `order` (1 when empty).
macro_rules! with_next_score {
    ($($body:literal)*) => {
        concat!(
            "local function next_score(order) \
                local last = redis.call('ZRANGE', order, -1, -1, 'WITHSCORES') \
                if last[2] then return tonumber(last[2]) + 1 end return 1 end ",
            $($body),*
        )
    };
}

/// Inserts a row unless its key exists, last in the order: `KEYS[1]` the key, `KEYS[2]`
/// the order, `ARGV` field, value, ...
const INSERT: &str = with_next_score!(
    "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end \
    redis.call('HSET', KEYS[1], unpack(ARGV)) \
    redis.call('ZADD', KEYS[2], next_score(KEYS[2]), KEYS[1]) return 1"
);

/// Replaces the row at `KEYS[1]` by a row at `KEYS[2]` (the same key unless the update
/// changed the primary key) in its place in the order `KEYS[3]`, unless `KEYS[1]` is gone
/// (2) or `KEYS[2]` is another row (0).
const UPDATE: &str = with_next_score!(
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 2 end \
    if KEYS[1] ~= KEYS[2] and redis.call('EXISTS', KEYS[2]) == 1 then return 0 end \
    local score = redis.call('ZSCORE', KEYS[3], KEYS[1]) \
    if not score then score = next_score(KEYS[3]) end \
    redis.call('DEL', KEYS[1]) redis.call('HSET', KEYS[2], unpack(ARGV)) \
    redis.call('ZREM', KEYS[3], KEYS[1]) redis.call('ZADD', KEYS[3], score, KEYS[2]) \
    return 1"
);

/// Removes the rows `KEYS[2..]` and their places in the order `KEYS[1]`.
const REMOVE: &str = "for i = 2, #KEYS do redis.call('DEL', KEYS[i]) \
    redis.call('ZREM', KEYS[1], KEYS[i]) end return 1";

/// Removes from the order `KEYS[1]` the members among `KEYS[2..]` whose row is gone (another
/// program deleted the hash); a member whose row exists again (re-inserted meanwhile) stays.
/// Returns how many it removed.
const PRUNE: &str = "local n = 0 for i = 2, #KEYS do \
    if redis.call('EXISTS', KEYS[i]) == 0 then n = n + redis.call('ZREM', KEYS[1], KEYS[i]) end \
    end return n";

/// Puts the hashes among `KEYS[2..]` (in key order) that have no place in the order
/// `KEYS[1]` last in it, in that order; returns how many.
const ADOPT: &str = with_next_score!(
    "local score = next_score(KEYS[1]) local n = 0 \
    for i = 2, #KEYS do \
        if redis.call('TYPE', KEYS[i]).ok == 'hash' \
            and not redis.call('ZSCORE', KEYS[1], KEYS[i]) then \
            redis.call('ZADD', KEYS[1], score, KEYS[i]) score = score + 1 n = n + 1 \
        end \
    end return n"
);

impl<R: TableRow + Serialize + DeserializeOwned> RedisTable<R>
where
    R::Key: Serialize,
{
    /// A table kept in the Redis of `options`; connects at the first operation.
    pub fn new(options: RedisOptions) -> Self {
        let key_start = format!("{}:{}:", options.prefix, options.table);
        let order_key = format!("{}:{}#order", options.prefix, options.table);
        let link = RefCell::new(Link::default());
        RedisTable {
            options,
            key_start,
            order_key,
            link,
            rows: PhantomData,
        }
    }

    /// The options the table was made with.
    pub fn options(&self) -> &RedisOptions {
        &self.options
    }

    /// The first failure, with [`OnError::Fail`] (always `None` with [`OnError::Log`]).
    pub fn failure(&self) -> Option<RedisTableError> {
        self.link
            .try_borrow()
            .ok()
            .and_then(|l| l.failure().cloned())
    }

    /// The Redis key of the row with primary key `key`.
    pub fn key_of(&self, key: &R::Key) -> Option<RedisKey> {
        match codec::encode_key(key) {
            Ok(suffix) => Some(format!("{}{suffix}", self.key_start)),
            Err(message) => {
                self.report(self.unstorable(message));
                None
            }
        }
    }

    /// The row with primary key `key` (`None` also when Redis fails).
    pub fn find(&self, key: &R::Key) -> Option<(RedisKey, R)> {
        let id = self.key_of(key)?;
        let fields = self.run(|con| con.hgetall(&id))?;
        self.decode(&id, &fields).map(|row| (id, row))
    }

    /// Whether a row has primary key `key`.
    pub fn contains_key(&self, key: &R::Key) -> bool {
        let Some(id) = self.key_of(key) else {
            return false;
        };
        self.run(|con| con.exists(&id)).unwrap_or(false)
    }

    /// Every row, in insertion order (empty when Redis fails). Members of the order whose
    /// hash another program deleted are skipped and pruned from the order.
    pub fn scan(&self) -> Vec<(RedisKey, R)> {
        let Some(hashes) = self.run(|con| con.ordered_hashes(&self.order_key, PRUNE)) else {
            return Vec::new();
        };
        hashes
            .into_iter()
            .filter(|(_, fields)| !fields.is_empty())
            .filter_map(|(id, fields)| self.decode(&id, &fields).map(|row| (id, row)))
            .collect()
    }

    /// Number of rows (0 when Redis fails).
    pub fn len(&self) -> usize {
        self.scan().len()
    }

    /// Whether the table has no row (also when Redis fails).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stores `row`; rejected when another row has its primary key. A failure of Redis is
    /// handled by [`OnError`] and is not an `Err`.
    pub fn insert(&mut self, row: R) -> Result<(), DuplicateKey> {
        let Some((id, fields)) = self.prepare(&row) else {
            return Ok(());
        };
        match self.run(|con| con.script(INSERT, &[&id, &self.order_key], &fields)) {
            Some(0) => Err(DuplicateKey),
            _ => Ok(()),
        }
    }

    /// Replaces row `id` with `row`, keeping its place; rejected (the row unchanged) when
    /// `row`'s primary key belongs to another row. Does nothing when `id` is gone.
    pub fn update(&mut self, id: &RedisKey, row: R) -> Result<(), DuplicateKey> {
        let Some((new_id, fields)) = self.prepare(&row) else {
            return Ok(());
        };
        match self.run(|con| con.script(UPDATE, &[id, &new_id, &self.order_key], &fields)) {
            Some(0) => Err(DuplicateKey),
            _ => Ok(()),
        }
    }

    /// Removes row `id`.
    pub fn remove(&mut self, id: &RedisKey) {
        self.run(|con| con.script(REMOVE, &[&self.order_key, id], &[]));
    }

    /// Removes every row of the table (every row in its order, which is then gone).
    pub fn clear(&mut self) {
        self.run(|con| con.remove_ordered(&self.order_key, REMOVE));
    }

    /// The key and fields of `row`, or `None` (reported) when it cannot be stored.
    fn prepare(&self, row: &R) -> Option<(RedisKey, Vec<(String, String)>)> {
        let Some(key) = row.primary_key() else {
            self.report(self.unstorable("the table has no primary key".into()));
            return None;
        };
        let id = self.key_of(&key)?;
        match codec::encode_row(row) {
            Ok(fields) if fields.is_empty() => {
                self.report(self.unstorable("every column is NULL".into()));
                None
            }
            Ok(fields) => Some((id, fields)),
            Err(message) => {
                self.report(self.unstorable(message));
                None
            }
        }
    }

    fn decode(&self, id: &str, fields: &[(String, String)]) -> Option<R> {
        if fields.is_empty() {
            return None;
        }
        match codec::decode_row(fields) {
            Ok(row) => Some(row),
            Err(message) => {
                self.report(RedisTableError::BadRow {
                    table: self.options.table.clone(),
                    key: id.to_string(),
                    message,
                });
                None
            }
        }
    }

    fn unstorable(&self, message: String) -> RedisTableError {
        RedisTableError::Unstorable {
            table: self.options.table.clone(),
            message,
        }
    }

    /// Runs `op` on the connection (connecting first if needed); `None` when it failed or
    /// the table has failed for good.
    fn run<T>(
        &self,
        op: impl FnOnce(&mut connection::Session<'_>) -> Result<T, ::redis::RedisError>,
    ) -> Option<T> {
        // Never re-entered: no operation calls another while it holds the link.
        let mut link = self.link.try_borrow_mut().ok()?;
        link.run(&self.options, |con| self.adopt(con), op)
    }

    /// Gives the rows without a place in the order (written by an EventFlux before tables
    /// kept one, or by another program) places after the others, in key order: run once on
    /// each new connection, before its first operation.
    fn adopt(&self, con: &mut connection::Session<'_>) -> Result<(), ::redis::RedisError> {
        let pattern = format!("{}*", codec::glob_escape(&self.key_start));
        let adopted = con.adopt(&pattern, &self.order_key, ADOPT)?;
        if adopted > 0 {
            eprintln!(
                "info: table `{}`: {adopted} row(s) in Redis had no place in the table's \
                 order (`{}`); they come after the others, in key order",
                self.options.table, self.order_key
            );
        }
        Ok(())
    }

    fn report(&self, error: RedisTableError) {
        if let Ok(mut link) = self.link.try_borrow_mut() {
            link.report(&self.options, error);
        }
    }
}

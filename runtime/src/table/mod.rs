//! Tables (`CREATE TABLE`, DESIGN §3.1, §4): rows kept in insertion order, a primary-key
//! map and secondary indexes.
//!
//! A [`Table`] holds rows of the generated row struct of one table, which implements
//! [`TableRow`] to give its primary key (`None` when the table has none) and its secondary
//! index keys. Rows are visited in insertion order whatever the keys: an update keeps the
//! row's place. Keys are maps from key to row id, so a lookup by primary key is O(1) and a
//! lookup by an index visits only the rows with that key (in insertion order).
//!
//! A second row with the primary key of an existing row is rejected ([`DuplicateKey`]); the
//! generated code logs it and goes on (DESIGN: the row is rejected, nothing else changes).
//!
//! ```
//! use eventflux_runtime::table::{Table, TableRow};
//!
//! #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
//! struct Stock { symbol: &'static str, price: i64 }
//!
//! impl TableRow for Stock {
//!     type Key = &'static str;
//!     type IndexKey = i64;
//!     fn primary_key(&self) -> Option<&'static str> { Some(self.symbol) }
//!     fn index_keys(&self, mut out: impl FnMut(i64)) { out(self.price) }
//! }
//!
//! let mut t = Table::new();
//! t.insert(Stock { symbol: "IBM", price: 10 }).unwrap();
//! t.insert(Stock { symbol: "ACME", price: 20 }).unwrap();
//! assert!(t.insert(Stock { symbol: "IBM", price: 30 }).is_err());
//! let (id, _) = t.find(&"IBM").unwrap();
//! t.update(id, Stock { symbol: "IBM", price: 20 }).unwrap();
//! let at_20: Vec<_> = t.lookup(&20).map(|(_, r)| r.symbol).collect();
//! assert_eq!(at_20, ["IBM", "ACME"]); // insertion order: the update kept IBM's place
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::hash::Hash;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::aggregate::FxBuildHasher;

/// The row struct of a table: how to get its keys. Implemented by the generated code.
pub trait TableRow {
    /// The primary key (a [`crate::aggregate::Total`] tuple of the key columns); `()` for a
    /// table without one.
    type Key: Hash + Eq + Clone;
    /// The key of a secondary index, tagged with the index it belongs to (a generated enum,
    /// or `()` for a table without indexes).
    type IndexKey: Hash + Eq + Clone;

    /// The row's primary key, or `None` when the table has no primary key.
    fn primary_key(&self) -> Option<Self::Key>;

    /// Calls `out` with the row's key in each secondary index.
    fn index_keys(&self, out: impl FnMut(Self::IndexKey));
}

/// Identifies a row of a [`Table`]; ids grow with insertion, so id order is insertion order.
pub type RowId = u64;

/// A row was rejected because another row has its primary key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("duplicate primary key")]
pub struct DuplicateKey;

/// The rows of one table with their primary-key map and secondary indexes.
///
/// Serializes as its rows (keys are rebuilt on restore).
#[derive(Clone)]
pub struct Table<R: TableRow> {
    rows: BTreeMap<RowId, R>,
    next: RowId,
    primary: HashMap<R::Key, RowId, FxBuildHasher>,
    indexes: HashMap<R::IndexKey, BTreeSet<RowId>, FxBuildHasher>,
}

impl<R: TableRow> Default for Table<R> {
    fn default() -> Self {
        Table {
            rows: BTreeMap::new(),
            next: 0,
            primary: HashMap::default(),
            indexes: HashMap::default(),
        }
    }
}

impl<R: TableRow + fmt::Debug> fmt::Debug for Table<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.rows.values()).finish()
    }
}

impl<R: TableRow> Table<R> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table has no row.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Every row, in insertion order.
    #[inline]
    pub fn iter(&self) -> impl Iterator<Item = (RowId, &R)> {
        self.rows.iter().map(|(id, r)| (*id, r))
    }

    /// The row `id`, if it still exists.
    #[inline]
    pub fn get(&self, id: RowId) -> Option<&R> {
        self.rows.get(&id)
    }

    /// The row with primary key `key`.
    #[inline]
    pub fn find(&self, key: &R::Key) -> Option<(RowId, &R)> {
        let id = *self.primary.get(key)?;
        self.rows.get(&id).map(|r| (id, r))
    }

    /// Whether a row has primary key `key`.
    #[inline]
    pub fn contains_key(&self, key: &R::Key) -> bool {
        self.primary.contains_key(key)
    }

    /// The rows with secondary-index key `key`, in insertion order.
    #[inline]
    pub fn lookup<'a>(&'a self, key: &R::IndexKey) -> impl Iterator<Item = (RowId, &'a R)> + 'a {
        self.indexes
            .get(key)
            .into_iter()
            .flatten()
            .filter_map(|id| self.rows.get(id).map(|r| (*id, r)))
    }

    /// Appends `row`; rejected when another row has its primary key.
    pub fn insert(&mut self, row: R) -> Result<RowId, DuplicateKey> {
        let id = self.next;
        if let Some(key) = row.primary_key() {
            match self.primary.entry(key) {
                std::collections::hash_map::Entry::Occupied(_) => return Err(DuplicateKey),
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(id);
                }
            }
        }
        self.next += 1;
        self.index(id, &row);
        self.rows.insert(id, row);
        Ok(id)
    }

    /// Replaces row `id` with `row`, keeping its place; rejected (the row unchanged) when
    /// `row`'s primary key belongs to another row. Does nothing for a missing `id`.
    pub fn update(&mut self, id: RowId, row: R) -> Result<(), DuplicateKey> {
        let Some(old) = self.rows.get(&id) else {
            return Ok(());
        };
        let (old_key, new_key) = (old.primary_key(), row.primary_key());
        if old_key != new_key {
            if let Some(k) = &new_key {
                if self.primary.contains_key(k) {
                    return Err(DuplicateKey);
                }
            }
            if let Some(k) = &old_key {
                self.primary.remove(k);
            }
            if let Some(k) = new_key {
                self.primary.insert(k, id);
            }
        }
        if let Some(old) = self.rows.remove(&id) {
            self.unindex(id, &old);
        }
        self.index(id, &row);
        self.rows.insert(id, row);
        Ok(())
    }

    /// Removes row `id`, returning it.
    pub fn remove(&mut self, id: RowId) -> Option<R> {
        let row = self.rows.remove(&id)?;
        if let Some(k) = row.primary_key() {
            self.primary.remove(&k);
        }
        self.unindex(id, &row);
        Some(row)
    }

    /// Removes every row.
    pub fn clear(&mut self) {
        self.rows.clear();
        self.primary.clear();
        self.indexes.clear();
    }

    fn index(&mut self, id: RowId, row: &R) {
        let indexes = &mut self.indexes;
        row.index_keys(|k| {
            indexes.entry(k).or_default().insert(id);
        });
    }

    fn unindex(&mut self, id: RowId, row: &R) {
        let indexes = &mut self.indexes;
        row.index_keys(|k| {
            if let Some(ids) = indexes.get_mut(&k) {
                ids.remove(&id);
                if ids.is_empty() {
                    indexes.remove(&k);
                }
            }
        });
    }
}

/// The serialized form: the next id and the rows with their ids, in insertion order.
#[derive(Serialize, Deserialize)]
struct Stored<R> {
    next: RowId,
    rows: Vec<(RowId, R)>,
}

impl<R: TableRow + Serialize> Serialize for Table<R> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct StoredRef<'a, R> {
            next: RowId,
            rows: Vec<(RowId, &'a R)>,
        }
        StoredRef {
            next: self.next,
            rows: self.rows.iter().map(|(id, r)| (*id, r)).collect(),
        }
        .serialize(serializer)
    }
}

impl<'de, R: TableRow + DeserializeOwned> Deserialize<'de> for Table<R> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = Stored::<R>::deserialize(deserializer)?;
        let mut table = Table::new();
        for (id, row) in stored.rows {
            if let Some(k) = row.primary_key() {
                table.primary.insert(k, id);
            }
            table.index(id, &row);
            table.rows.insert(id, row);
        }
        table.next = stored
            .next
            .max(table.rows.keys().next_back().map_or(0, |id| id + 1));
        Ok(table)
    }
}

/// Logs a row rejected for its duplicate primary key (the generated code's one error path).
pub fn report_duplicate(table: &str) {
    eprintln!("error: table `{table}`: a row with the same primary key exists; row rejected");
}

#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
pub use self::redis::{OnError, RedisKey, RedisOptions, RedisTable, RedisTableError};

#[cfg(test)]
mod tests;

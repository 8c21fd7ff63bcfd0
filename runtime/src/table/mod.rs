//! Tables (`CREATE TABLE`, docs/semantics.md#tables): rows kept in insertion order, a primary-key
//! map and secondary indexes.
//!
//! A [`Table`] holds rows of the generated row struct of one table, which implements
//! [`TableRow`] to give its primary key (`None` when the table has none) and its secondary
//! index keys. Rows are visited in insertion order whatever the keys: an update keeps the
//! row's place. Keys are maps from key to row id, so a lookup by primary key is O(1) and a
//! lookup by an index visits only the rows with that key (in insertion order).
//!
//! A second row with the primary key of an existing row is rejected ([`DuplicateKey`]); the
//! generated code logs it and goes on (docs/semantics.md#tables: the row is rejected, nothing else changes).
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

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasherDefault, Hash};

use hashbrown::HashTable;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::join::KeyHash;

mod key;
pub use self::key::{key_hash, probe, Comparable};
use crate::aggregate::hashed;
pub use crate::aggregate::Hashed;

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

    /// Whether `self` and `other` have equal primary keys (or both none). The generated rows
    /// compare their key columns in place, building no key.
    #[inline]
    fn same_key(&self, other: &Self) -> bool {
        self.primary_key() == other.primary_key()
    }
}

/// A row handed to a table: owned (moved in) or borrowed (cloned in when kept).
pub trait RowArg<R> {
    /// The row.
    fn row(&self) -> &R;
    /// The row, owned.
    fn into_row(self) -> R;
}

impl<R> RowArg<R> for R {
    #[inline]
    fn row(&self) -> &R {
        self
    }
    #[inline]
    fn into_row(self) -> R {
        self
    }
}

impl<R: Clone> RowArg<R> for &R {
    #[inline]
    fn row(&self) -> &R {
        self
    }
    #[inline]
    fn into_row(self) -> R {
        self.clone()
    }
}

/// Identifies a row of a [`Table`]; ids grow with insertion, so id order is insertion order.
/// An id stays valid until the next [`Table::insert`] (which may renumber the rows, keeping
/// their order, to reclaim the places of removed ones) or restore.
pub type RowId = u64;

/// A row was rejected because another row has its primary key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("duplicate primary key")]
pub struct DuplicateKey;

/// A spread of a row id, the place of a row without a primary key in the row map.
#[inline]
fn hash_id(id: RowId) -> Hashed {
    Hashed {
        hash: id.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(32),
        exact: true,
    }
}

/// The secondary indexes of a table of `R`: the ids of the rows with each index key.
type Indexes<R> = HashMap<<R as TableRow>::IndexKey, BTreeSet<RowId>, BuildHasherDefault<KeyHash>>;

/// A row in the row map, with its id and the hash it is filed under (its primary key's, or
/// its id's for a table without one).
#[derive(Clone)]
struct Slot<R> {
    hash: u64,
    id: RowId,
    row: R,
}

/// The rows of one table with their primary-key map and secondary indexes.
///
/// The rows live in a hash table filed by the hash of their primary key, so a probe by key
/// hashes a borrowed key (no clone) and reaches the row in one step, as a hand-written
/// `HashMap<Key, Row>` would. Insertion order is a deque with, for row `id` at place
/// `id - base`, the hash its row is filed under; a removed row leaves an empty place
/// (trimmed at the front, reclaimed by renumbering on insert once they outnumber the
/// rows). Rows whose different keys share a 64-bit hash (practically never) are all found:
/// the table counts them and then looks further. A key short enough to be packed whole
/// into its hash ([`Hashed::exact`]) is found without comparing keys while every key of the
/// table is (a flag kept until the table is cleared). Serializes as its rows (keys are
/// rebuilt on restore).
#[derive(Clone)]
pub struct Table<R: TableRow> {
    order: VecDeque<Option<u64>>,
    base: RowId,
    live: usize,
    rows: HashTable<Slot<R>>,
    collided: usize,
    long_keys: bool,
    indexes: Indexes<R>,
    scratch: Vec<RowId>,
}

impl<R: TableRow> Default for Table<R> {
    fn default() -> Self {
        Table {
            order: VecDeque::new(),
            base: 0,
            live: 0,
            rows: HashTable::new(),
            collided: 0,
            long_keys: false,
            indexes: HashMap::default(),
            scratch: Vec::new(),
        }
    }
}

impl<R: TableRow + fmt::Debug> fmt::Debug for Table<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter().map(|(_, r)| r)).finish()
    }
}

impl<R: TableRow> Table<R> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether the table has no row.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The hash row `id` is filed under, if it exists.
    #[inline]
    fn filed(&self, id: RowId) -> Option<u64> {
        let at = usize::try_from(id.checked_sub(self.base)?).ok()?;
        *self.order.get(at)?
    }

    /// Every row, in insertion order.
    #[inline]
    pub fn iter(&self) -> impl Iterator<Item = (RowId, &R)> {
        let base = self.base;
        self.order.iter().enumerate().filter_map(move |(i, h)| {
            let id = base + i as RowId;
            let slot = self.rows.find((*h)?, |s| s.id == id)?;
            Some((id, &slot.row))
        })
    }

    /// The row `id`, if it still exists.
    #[inline]
    pub fn get(&self, id: RowId) -> Option<&R> {
        let h = self.filed(id)?;
        self.rows.find(h, |s| s.id == id).map(|s| &s.row)
    }

    /// The row with primary key `key`.
    #[inline]
    pub fn find(&self, key: &R::Key) -> Option<(RowId, &R)> {
        self.find_by_hash(hashed(key).hash)
            .find(|(_, r)| r.primary_key().as_ref() == Some(key))
    }

    /// The rows whose primary key has hash `hash` ([`key_hash`] of the key's values as a
    /// tuple, e.g. `key_hash(&(Some("IBM"),))` for a key `Total((Some(ibm),))`):
    /// the row with that key, if any, and in the rarest case rows whose keys collide with
    /// it, so the caller checks the key (the generated code checks the whole condition).
    /// Clones nothing.
    #[inline]
    pub fn find_by_hash(&self, hash: u64) -> impl Iterator<Item = (RowId, &R)> {
        let first = self.rows.find(hash, |s| s.hash == hash);
        let more = (first.is_some() && self.collided > 0).then(|| {
            self.rows
                .iter_hash(hash)
                .filter(move |s| s.hash == hash)
                .skip(1)
        });
        first
            .into_iter()
            .chain(more.into_iter().flatten())
            .map(|s| (s.id, &s.row))
    }

    /// The row whose primary key has hash `hash` (as for [`Table::find_by_hash`]) and which
    /// satisfies `pred`: one probe, for a condition that fixes the primary key (at most one
    /// row satisfies it, also when keys collide).
    #[inline]
    pub fn get_by_hash(&self, hash: u64, mut pred: impl FnMut(&R) -> bool) -> Option<&R> {
        self.rows
            .find(hash, |s| s.hash == hash && pred(&s.row))
            .map(|s| &s.row)
    }

    /// The row whose primary key equals the key with [`probe`] `key`, given `same_key`,
    /// whether a row's key equals it: one probe that reads no row when the key is packed
    /// whole into its hash (and so are all the table's keys).
    #[inline]
    pub fn get_by_key(&self, key: Hashed, mut same_key: impl FnMut(&R) -> bool) -> Option<&R> {
        let (hash, known) = (key.hash, key.exact && !self.long_keys);
        self.rows
            .find(hash, |s| s.hash == hash && (known || same_key(&s.row)))
            .map(|s| &s.row)
    }

    /// Whether a row has primary key `key`.
    #[inline]
    pub fn contains_key(&self, key: &R::Key) -> bool {
        self.find(key).is_some()
    }

    /// The rows with secondary-index key `key`, in insertion order.
    #[inline]
    pub fn lookup<'a>(&'a self, key: &R::IndexKey) -> impl Iterator<Item = (RowId, &'a R)> + 'a {
        self.indexes
            .get(key)
            .into_iter()
            .flatten()
            .filter_map(|id| self.get(*id).map(|r| (*id, r)))
    }

    /// The id of the row other than `except` with primary key `key` (hash `hash`).
    fn key_owner(&self, key: &R::Key, hash: u64, except: Option<RowId>) -> Option<RowId> {
        self.find_by_hash(hash)
            .find(|(id, r)| Some(*id) != except && r.primary_key().as_ref() == Some(key))
            .map(|(id, _)| id)
    }

    /// Files `row` (id `id`) under `key`.
    fn file(&mut self, key: Hashed, id: RowId, row: R) {
        let hash = key.hash;
        self.long_keys |= !key.exact;
        if self.rows.find(hash, |s| s.hash == hash).is_some() {
            self.collided += 1;
        }
        self.rows
            .insert_unique(hash, Slot { hash, id, row }, |s| s.hash);
    }

    /// Takes row `id` (filed under `hash`) out of the row map.
    fn unfile(&mut self, hash: u64, id: RowId) -> Option<R> {
        let entry = self.rows.find_entry(hash, |s| s.id == id).ok()?;
        Some(entry.remove().0.row)
    }

    /// Appends `row`; rejected when another row has its primary key. May renumber the
    /// rows (see [`RowId`]).
    pub fn insert(&mut self, row: R) -> Result<RowId, DuplicateKey> {
        let key = row.primary_key();
        let hash = key.as_ref().map(hashed);
        if let (Some(k), Some(h)) = (&key, hash) {
            if self.key_owner(k, h.hash, None).is_some() {
                return Err(DuplicateKey);
            }
        }
        Ok(self.append(hash, row))
    }

    /// The id the next appended row gets (after renumbering the rows when removed ones
    /// left more empty places than rows).
    fn next_id(&mut self) -> RowId {
        if self.order.len() > 64 && self.order.len() > 2 * self.live {
            self.compact();
        }
        self.base + self.order.len() as RowId
    }

    /// Appends `row`, filed under `key` (its key's hash; its id's when `None`), returning
    /// its id.
    fn append(&mut self, key: Option<Hashed>, row: R) -> RowId {
        let id = self.next_id();
        let key = key.unwrap_or_else(|| hash_id(id));
        self.index(id, &row);
        self.file(key, id, row);
        self.order.push_back(Some(key.hash));
        self.live += 1;
        id
    }

    /// Replaces row `id` with `row`, keeping its place; rejected (the row unchanged) when
    /// `row`'s primary key belongs to another row. Does nothing for a missing `id`.
    pub fn update(&mut self, id: RowId, row: R) -> Result<(), DuplicateKey> {
        let Some(hash) = self.filed(id) else {
            return Ok(());
        };
        let Some(slot) = self.rows.find_mut(hash, |s| s.id == id) else {
            return Ok(());
        };
        if slot.row.same_key(&row) {
            replace_in_place(&mut self.indexes, id, &mut slot.row, row);
            return Ok(());
        }
        let new_key = row.primary_key();
        let new_hash = match &new_key {
            Some(k) => {
                let h = hashed(k);
                if self.key_owner(k, h.hash, Some(id)).is_some() {
                    return Err(DuplicateKey);
                }
                h
            }
            None => hash_id(id),
        };
        if let Some(old) = self.unfile(hash, id) {
            self.unindex(id, &old);
        }
        self.index(id, &row);
        self.file(new_hash, id, row);
        self.order[(id - self.base) as usize] = Some(new_hash.hash);
        Ok(())
    }

    /// Replaces the rows `select` puts into its list (their ids, from the lookups of the
    /// table and the row it is given) with `row`, or inserts `row` when it selects none: an
    /// `UPSERT`. Reuses one list, so an upsert allocates nothing; an owned `row` is moved
    /// into the table (cloned only when it replaces several rows).
    pub fn upsert_with(
        &mut self,
        row: impl RowArg<R>,
        select: impl FnOnce(&Self, &R, &mut Vec<RowId>),
    ) -> Result<(), DuplicateKey>
    where
        R: Clone,
    {
        let mut ids = std::mem::take(&mut self.scratch);
        ids.clear();
        select(self, row.row(), &mut ids);
        let result = match ids.split_last() {
            None => self.insert(row.into_row()).map(|_| ()),
            Some((&last, rest)) => {
                let mut result = Ok(());
                for &id in rest {
                    if self.update(id, row.row().clone()).is_err() {
                        result = Err(DuplicateKey);
                    }
                }
                self.update(last, row.into_row()).and(result)
            }
        };
        self.scratch = ids;
        result
    }

    /// An `UPSERT` whose condition is exactly the primary-key equality: replaces the row
    /// whose primary key equals `row`'s, in place, or appends `row` when there is none. One
    /// probe by `key`, the [`probe`] of `row`'s borrowed key values, `None` when a key
    /// column is NULL or NaN: such a key equals no other (`=` does not hold), so `row` is
    /// appended, rejected when another row has the same key.
    pub fn replace_or_insert(
        &mut self,
        row: impl RowArg<R>,
        key: Option<Hashed>,
    ) -> Result<(), DuplicateKey> {
        let Some(key) = key else {
            return self.insert(row.into_row()).map(|_| ());
        };
        let (hash, known) = (key.hash, key.exact && !self.long_keys);
        let new = row.row();
        match self
            .rows
            .find_mut(hash, |s| s.hash == hash && (known || s.row.same_key(new)))
        {
            Some(slot) => {
                let id = slot.id;
                replace_in_place(&mut self.indexes, id, &mut slot.row, row.into_row());
            }
            None => {
                self.append(Some(key), row.into_row());
            }
        }
        Ok(())
    }

    /// Removes row `id`, returning it.
    pub fn remove(&mut self, id: RowId) -> Option<R> {
        let at = usize::try_from(id.checked_sub(self.base)?).ok()?;
        let hash = self.order.get_mut(at)?.take()?;
        let row = self.unfile(hash, id)?;
        self.live -= 1;
        self.unindex(id, &row);
        while let Some(None) = self.order.front() {
            self.order.pop_front();
            self.base += 1;
        }
        Some(row)
    }

    /// Removes every row.
    pub fn clear(&mut self) {
        self.base += self.order.len() as RowId;
        self.order.clear();
        self.live = 0;
        self.rows.clear();
        self.collided = 0;
        self.long_keys = false;
        self.indexes.clear();
    }

    /// Renumbers the rows `base, base + 1, ...` in order, dropping the empty places.
    fn compact(&mut self) {
        let base = self.base;
        let mut new_of_old = Vec::with_capacity(self.order.len());
        let mut next = base;
        for h in &self.order {
            new_of_old.push(next);
            if h.is_some() {
                next += 1;
            }
        }
        let renumber = |id: RowId| new_of_old[(id - base) as usize];
        for slot in self.rows.iter_mut() {
            slot.id = renumber(slot.id);
        }
        for ids in self.indexes.values_mut() {
            *ids = ids.iter().map(|id| renumber(*id)).collect();
        }
        self.order.retain(Option::is_some);
    }

    fn index(&mut self, id: RowId, row: &R) {
        let indexes = &mut self.indexes;
        row.index_keys(|k| {
            indexes.entry(k).or_default().insert(id);
        });
    }

    fn unindex(&mut self, id: RowId, row: &R) {
        unindex(&mut self.indexes, id, row);
    }
}

/// Puts `row` in the place of `old` (row `id`, whose primary key `row` shares), moving the
/// row between secondary-index entries. The new index keys are gathered first: nothing is
/// allocated for a table without indexes.
fn replace_in_place<R: TableRow>(indexes: &mut Indexes<R>, id: RowId, old: &mut R, row: R) {
    let mut keys = Vec::new();
    row.index_keys(|k| keys.push(k));
    let old = std::mem::replace(old, row);
    unindex(indexes, id, &old);
    for k in keys {
        indexes.entry(k).or_default().insert(id);
    }
}

/// Takes row `id` (`row`) out of its secondary-index entries.
fn unindex<R: TableRow>(indexes: &mut Indexes<R>, id: RowId, row: &R) {
    row.index_keys(|k| {
        if let Some(ids) = indexes.get_mut(&k) {
            ids.remove(&id);
            if ids.is_empty() {
                indexes.remove(&k);
            }
        }
    });
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
            next: self.base + self.order.len() as RowId,
            rows: self.iter().collect(),
        }
        .serialize(serializer)
    }
}

impl<'de, R: TableRow + DeserializeOwned> Deserialize<'de> for Table<R> {
    /// The rows in their order, renumbered from 0 (ids are not kept across a restore).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = Stored::<R>::deserialize(deserializer)?;
        Ok(Table::from_stored(stored.rows))
    }
}

impl<R: TableRow> Table<R> {
    /// The rows in the order of their ids, renumbered from 0.
    fn from_stored(mut rows: Vec<(RowId, R)>) -> Self {
        rows.sort_by_key(|(id, _)| *id);
        let mut table = Table::new();
        for (_, row) in rows {
            let id = table.order.len() as RowId;
            let key = row
                .primary_key()
                .map_or_else(|| hash_id(id), |k| hashed(&k));
            table.index(id, &row);
            table.file(key, id, row);
            table.order.push_back(Some(key.hash));
            table.live += 1;
        }
        table
    }
}

impl<R: TableRow + crate::state::persist::Save> crate::state::persist::Save for Table<R> {
    /// As its serde form: the next id, then the rows with their ids in insertion order.
    fn save(&self, w: &mut crate::state::persist::Writer) {
        (self.base + self.order.len() as RowId).save(w);
        w.put_len(self.iter().count());
        for (id, row) in self.iter() {
            id.save(w);
            row.save(w);
        }
    }
}

impl<R: TableRow + crate::state::persist::Load> crate::state::persist::Load for Table<R> {
    /// The rows in their order, renumbered from 0 (ids are not kept across a restore).
    fn load(r: &mut crate::state::persist::Reader<'_>) -> Result<Self, crate::state::StateError> {
        use crate::state::persist::Load;
        let _next = RowId::load(r)?;
        let rows: Vec<(RowId, R)> = Load::load(r)?;
        Ok(Table::from_stored(rows))
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

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
pub use self::postgres::{PgColumn, PgOnError, PgOptions, PgRowId, PgTable, PgTableError, PgType};

#[cfg(test)]
mod tests;

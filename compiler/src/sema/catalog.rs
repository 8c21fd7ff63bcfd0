//! The catalog: every stream, table and trigger of an application with its schema.

use super::types::Type;
use crate::syntax::ast::{Span, TriggerAt};
use std::collections::HashMap;

/// One attribute of a stream or table schema.
#[derive(Clone, Debug, PartialEq)]
pub struct Attribute {
    /// Attribute name.
    pub name: String,
    /// Value type.
    pub ty: Type,
    /// `false` for `NOT NULL` attributes.
    pub nullable: bool,
}

/// How a stream came to exist.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamKind {
    /// `CREATE STREAM`.
    Defined,
    /// Created by the first `INSERT INTO` that targets it.
    Inferred,
    /// `CREATE TRIGGER` (one attribute `triggered_time LONG`).
    Trigger(TriggerAt),
    /// `CREATE TABLE`: not a stream (it holds rows; queries insert into it, join it, test
    /// `IN` it, update and delete its rows), kept in the catalog so names stay unique.
    Table(TableKeys),
}

/// The keys of a table, as attribute indexes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TableKeys {
    /// Primary-key columns, in key order (empty: no primary key).
    pub primary_key: Vec<usize>,
    /// Secondary indexes, each with its columns.
    pub indexes: Vec<Vec<usize>>,
    /// Where the rows live: `None` in memory, else in Redis (`WITH (extension = 'redis')`).
    pub redis: Option<super::store::RedisStore>,
    /// Else in PostgreSQL (`WITH (extension = 'postgres')`).
    pub postgres: Option<super::store::PgStore>,
}

impl TableKeys {
    /// Whether the rows live outside the process (Redis or PostgreSQL).
    pub fn external(&self) -> bool {
        self.redis.is_some() || self.postgres.is_some()
    }
}

/// A stream in the catalog.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamInfo {
    /// Stream name.
    pub name: String,
    /// Schema, in order.
    pub attrs: Vec<Attribute>,
    /// Defined, inferred or trigger.
    pub kind: StreamKind,
    /// Where it was defined (or first inserted into).
    pub span: Span,
    /// `true` when some query inserts into it (it is then an output of the app).
    pub produced: bool,
}

impl StreamInfo {
    /// Index of attribute `name`.
    pub fn attr_index(&self, name: &str) -> Option<usize> {
        self.attrs.iter().position(|a| a.name == name)
    }

    /// The keys, when this entry is a table.
    pub fn table(&self) -> Option<&TableKeys> {
        match &self.kind {
            StreamKind::Table(keys) => Some(keys),
            _ => None,
        }
    }
}

/// All streams of an application, in definition order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Catalog {
    /// The streams, in the order they were defined or inferred.
    pub streams: Vec<StreamInfo>,
    index: HashMap<String, usize>,
}

impl Catalog {
    /// Adds a stream; `Err` with the earlier definition's span when the name is taken.
    pub fn add(&mut self, info: StreamInfo) -> Result<usize, Span> {
        if let Some(&i) = self.index.get(&info.name) {
            return Err(self.streams[i].span);
        }
        let id = self.streams.len();
        self.index.insert(info.name.clone(), id);
        self.streams.push(info);
        Ok(id)
    }

    /// Looks a stream up by name.
    pub fn get(&self, name: &str) -> Option<&StreamInfo> {
        self.index.get(name).map(|&i| &self.streams[i])
    }

    /// Looks a stream up by name, mutably.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut StreamInfo> {
        self.index.get(name).map(|&i| &mut self.streams[i])
    }

    /// Every stream name (for "did you mean" suggestions).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.streams.iter().map(|s| s.name.as_str())
    }
}

/// The closest candidate to `name` within a small edit distance, for "did you mean" help.
pub fn suggest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.len() / 3).clamp(1, 3);
    candidates
        .map(|c| (edit_distance(&name.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["Trades", "Quotes", "Alerts"];
        assert_eq!(suggest("Trade", names.iter().copied()), Some("Trades"));
        assert_eq!(suggest("trades", names.iter().copied()), Some("Trades"));
        assert_eq!(suggest("Orders", names.iter().copied()), None);
    }
}

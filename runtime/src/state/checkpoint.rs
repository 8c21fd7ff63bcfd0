//! Checkpoints: an app's snapshot plus where its sources and sinks were, kept in a [`Store`]
//! (docs/operations.md#checkpoints).
//!
//! A checkpoint file is a header — magic `EFCK`, format version, app hash, checkpoint id,
//! the id of the checkpoint it extends (0 for a full one), the wall time it was taken and a
//! checksum of everything else — followed by an lz4-compressed bincode body: the positions
//! and the operator records. A full checkpoint holds every operator's record; an incremental
//! one only those whose state changed since the checkpoint it extends. Restoring walks the
//! chain back to its full checkpoint and applies the records in order.
//!
//! ```
//! use eventflux_runtime::state::{Checkpointer, DirStore, Position, Positions, SnapshotBuilder};
//! let dir = std::env::temp_dir().join(format!("ef-doc-ckpt-{}", std::process::id()));
//! let mut cp = Checkpointer::new(Box::new(DirStore::open(&dir).unwrap()));
//! let mut snap = SnapshotBuilder::new(7);
//! snap.add("q1/window", 1, &vec![1i64, 2]);
//! let mut positions = Positions::default();
//! positions.sources.push(("input".into(), Position::Offset { bytes: 120, lines: 3 }));
//! cp.save(&snap.finish(), positions.clone()).unwrap();
//! let restored = Checkpointer::new(Box::new(DirStore::open(&dir).unwrap()))
//!     .restore(None)
//!     .unwrap()
//!     .expect("a checkpoint");
//! assert_eq!(restored.positions, positions);
//! # std::fs::remove_dir_all(dir).unwrap();
//! ```

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::store::Store;
use super::{checksum, checksum_from, Record, Snapshot, SnapshotBuilder, StateError};

const MAGIC: &[u8; 4] = b"EFCK";
/// 2: records of snapshot format 2 (`state::persist`).
const VERSION: u32 = 2;
/// magic, version, app hash, id, base, time, checksum.
const HEADER: usize = 4 + 4 + 8 + 8 + 8 + 8 + 8;

/// Where a source was when a checkpoint was taken: enough to resume it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Position {
    /// A byte offset into a file (or the lines read from a pipe) and the number of lines
    /// read up to it (to keep numbering bad lines after a restart).
    Offset {
        /// Bytes consumed.
        bytes: u64,
        /// Lines consumed.
        lines: u64,
    },
    /// A broker's sequence number (the last one processed).
    Sequence(u64),
    /// Per-partition offsets (the next offset to read of each partition).
    Partitions(Vec<(i32, i64)>),
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Position::Offset { bytes, lines } => write!(f, "byte {bytes} (line {lines})"),
            Position::Sequence(seq) => write!(f, "sequence {seq}"),
            Position::Partitions(parts) => {
                let parts: Vec<String> = parts.iter().map(|(p, o)| format!("{p}:{o}")).collect();
                write!(f, "partitions {}", parts.join(","))
            }
        }
    }
}

/// The positions recorded with a checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Positions {
    /// Each source's position, by source name.
    pub sources: Vec<(String, Position)>,
    /// Each file sink's output offset in bytes, by path.
    pub sinks: Vec<(String, u64)>,
}

impl Positions {
    /// The position of source `name`.
    pub fn source(&self, name: &str) -> Option<&Position> {
        self.sources.iter().find(|(n, _)| n == name).map(|(_, p)| p)
    }

    /// The output offset of the file sink writing `path`.
    pub fn sink(&self, path: &str) -> Option<u64> {
        self.sinks.iter().find(|(p, _)| p == path).map(|(_, o)| *o)
    }
}

/// Why a checkpoint could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The store failed (I/O, connection).
    #[error("checkpoint store {store}: {message}")]
    Store {
        /// The store (credentials removed).
        store: String,
        /// What failed.
        message: String,
    },
    /// A checkpoint is unreadable.
    #[error("checkpoint {id}: {reason}")]
    Corrupt {
        /// Its id.
        id: u64,
        /// Why.
        reason: String,
    },
    /// `--restore-from ID` names a checkpoint the store does not have.
    #[error("no checkpoint {0} in the store")]
    Missing(u64),
    /// Checkpoints exist and none of them can be restored.
    #[error("none of the {count} checkpoint(s) in {store} can be restored ({reasons}); start with --no-restore to ignore them")]
    NoneUsable {
        /// The store.
        store: String,
        /// How many there are.
        count: usize,
        /// Why each failed.
        reasons: String,
    },
    /// The app's snapshot bytes are not a snapshot.
    #[error("app snapshot: {0}")]
    Snapshot(#[from] StateError),
}

#[derive(Serialize, Deserialize)]
struct Body {
    positions: Positions,
    records: Vec<Record>,
}

/// One decoded checkpoint.
struct Decoded {
    app_hash: u64,
    base: u64,
    time_ms: i64,
    body: Body,
}

fn encode(app_hash: u64, id: u64, base: u64, time_ms: i64, body: &Body) -> Vec<u8> {
    // Serializing plain data into a Vec cannot fail.
    let raw = bincode::serialize(body).unwrap_or_default();
    let compressed = lz4_flex::compress_prepend_size(&raw);
    let mut out = Vec::with_capacity(HEADER + compressed.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&app_hash.to_le_bytes());
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&base.to_le_bytes());
    out.extend_from_slice(&time_ms.to_le_bytes());
    let sum = checksum_from(checksum(&out), &compressed);
    out.extend_from_slice(&sum.to_le_bytes());
    out.extend_from_slice(&compressed);
    out
}

fn decode(id: u64, bytes: &[u8]) -> Result<Decoded, CheckpointError> {
    let corrupt = |reason: &str| CheckpointError::Corrupt {
        id,
        reason: reason.to_owned(),
    };
    if bytes.len() < HEADER || &bytes[..4] != MAGIC {
        return Err(corrupt(
            "not an EventFlux checkpoint (bad magic or cut short)",
        ));
    }
    let word = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let mut v = [0u8; 4];
    v.copy_from_slice(&bytes[4..8]);
    let version = u32::from_le_bytes(v);
    if version != VERSION {
        return Err(corrupt(&format!(
            "incompatible checkpoint: format version {version}, this build reads version \
             {VERSION} (written by another EventFlux version)"
        )));
    }
    let (app_hash, stored_id, base, time) = (word(8), word(16), word(24), word(32));
    let sum = word(40);
    let compressed = &bytes[HEADER..];
    if checksum_from(checksum(&bytes[..40]), compressed) != sum {
        return Err(corrupt(
            "checksum mismatch: the checkpoint is corrupt or cut short",
        ));
    }
    if stored_id != id {
        return Err(corrupt(&format!("it says it is checkpoint {stored_id}")));
    }
    let raw = lz4_flex::decompress_size_prepended(compressed)
        .map_err(|e| corrupt(&format!("cannot decompress: {e}")))?;
    let body: Body =
        bincode::deserialize(&raw).map_err(|e| corrupt(&format!("cannot decode: {e}")))?;
    Ok(Decoded {
        app_hash,
        base,
        time_ms: time as i64,
        body,
    })
}

/// What [`Checkpointer::save`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// The new checkpoint's id.
    pub id: u64,
    /// Its size in bytes.
    pub bytes: usize,
    /// Whether it is full (otherwise incremental).
    pub full: bool,
    /// Operator records written.
    pub records: usize,
}

/// A restored checkpoint: the app snapshot to give to `restore`, and the positions.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The checkpoint's id.
    pub id: u64,
    /// The snapshot bytes of the whole state (the chain of incremental checkpoints applied).
    pub snapshot: Vec<u8>,
    /// Where the sources and sinks were.
    pub positions: Positions,
    /// Newer checkpoints that could not be used, with why (reported by the caller).
    pub skipped: Vec<String>,
    /// The (id, layout) of every restored operator record.
    pub records: Vec<(String, u64)>,
    /// How many checkpoints the restore read: 1 for a full one, more for a chain of
    /// incremental ones.
    pub chain: usize,
}

impl Restored {
    /// The operators of `fresh` (a snapshot of a fresh app) that this checkpoint has no
    /// state for (new operators, or ones whose state layout changed): they start empty.
    pub fn missing_operators(&self, fresh: &[u8]) -> Vec<String> {
        let Ok((_, records)) = Snapshot::decode_any(fresh) else {
            return Vec::new();
        };
        records
            .into_iter()
            .filter(|r| {
                !self
                    .records
                    .iter()
                    .any(|(id, s)| *id == r.id && *s == r.schema)
            })
            .map(|r| r.id)
            .collect()
    }
}

/// One line of [`Checkpointer::list`].
#[derive(Debug, Clone)]
pub struct CheckpointInfo {
    /// The id (increasing).
    pub id: u64,
    /// When it was taken (ms since the epoch), if readable.
    pub time_ms: Option<i64>,
    /// Size in bytes.
    pub bytes: usize,
    /// The checkpoint it extends (`None`: a full checkpoint).
    pub base: Option<u64>,
    /// Positions, if readable.
    pub positions: Option<Positions>,
    /// Why it cannot be read, if it cannot.
    pub error: Option<String>,
}

/// Takes and restores checkpoints of one app in a [`Store`]: ids, incremental checkpoints,
/// retention, and falling back past corrupt checkpoints.
pub struct Checkpointer {
    store: Box<dyn Store>,
    keep: usize,
    full_every: u32,
    /// The records as of the last checkpoint written or restored: id -> (layout, checksum).
    last: HashMap<String, (u64, u64)>,
    /// The last checkpoint written or restored, and how many incremental ones since its full.
    last_id: Option<u64>,
    since_full: u32,
    next_id: u64,
}

impl Checkpointer {
    /// A checkpointer over `store`, keeping 3 checkpoints, a full one every 10.
    pub fn new(store: Box<dyn Store>) -> Self {
        Checkpointer {
            store,
            keep: 3,
            full_every: 10,
            last: HashMap::new(),
            last_id: None,
            since_full: 0,
            next_id: 0,
        }
    }

    /// Keeps the newest `n` checkpoints (at least 1), and the older ones they extend.
    pub fn keep(mut self, n: usize) -> Self {
        self.keep = n.max(1);
        self
    }

    /// Writes a full checkpoint every `n` (1: every checkpoint is full).
    pub fn full_every(mut self, n: u32) -> Self {
        self.full_every = n.max(1);
        self
    }

    /// The store's description (credentials removed).
    pub fn describe(&self) -> String {
        self.store.describe()
    }

    fn next_id(&mut self) -> Result<u64, CheckpointError> {
        if self.next_id == 0 {
            self.next_id = self.store.list()?.last().map_or(1, |id| id + 1);
        }
        let id = self.next_id;
        self.next_id += 1;
        Ok(id)
    }

    /// Writes a checkpoint of `snapshot` (the bytes of the app's `snapshot()`) with
    /// `positions`, then removes checkpoints beyond the retention.
    pub fn save(
        &mut self,
        snapshot: &[u8],
        positions: Positions,
    ) -> Result<Saved, CheckpointError> {
        let (app_hash, records) = Snapshot::decode_any(snapshot)?;
        let id = self.next_id()?;
        let full = self.last_id.is_none() || self.since_full + 1 >= self.full_every;
        let mut current = HashMap::with_capacity(records.len());
        let mut written = Vec::new();
        for record in records {
            let sum = checksum(&record.body);
            let same = self.last.get(&record.id) == Some(&(record.schema, sum));
            current.insert(record.id.clone(), (record.schema, sum));
            if full || !same {
                written.push(record);
            }
        }
        let base = if full { 0 } else { self.last_id.unwrap_or(0) };
        let body = Body {
            positions,
            records: written,
        };
        let bytes = encode(app_hash, id, base, now_ms(), &body);
        self.store.write(id, &bytes)?;
        self.last = current;
        self.last_id = Some(id);
        self.since_full = if full { 0 } else { self.since_full + 1 };
        self.prune()?;
        Ok(Saved {
            id,
            bytes: bytes.len(),
            full,
            records: body.records.len(),
        })
    }

    /// Removes all but the newest `keep` checkpoints and the chains they need.
    fn prune(&mut self) -> Result<(), CheckpointError> {
        let ids = self.store.list()?;
        if ids.len() <= self.keep {
            return Ok(());
        }
        let mut needed = BTreeSet::new();
        for &id in ids.iter().rev().take(self.keep) {
            let mut at = id;
            while at != 0 && needed.insert(at) {
                at = match self.store.read(at).ok().and_then(|b| decode(at, &b).ok()) {
                    Some(d) => d.base,
                    None => 0,
                };
            }
        }
        for id in ids {
            if !needed.contains(&id) {
                self.store.delete(id)?;
            }
        }
        Ok(())
    }

    /// Loads checkpoint `id` and the chain it extends into one snapshot.
    fn load(&mut self, id: u64) -> Result<Restored, CheckpointError> {
        let mut chain = Vec::new();
        let mut at = id;
        let mut app = None;
        while at != 0 {
            if chain.len() > 100_000 {
                return Err(CheckpointError::Corrupt {
                    id,
                    reason: "its chain of incremental checkpoints loops".into(),
                });
            }
            let bytes = self.store.read(at).map_err(|e| CheckpointError::Corrupt {
                id,
                reason: format!("checkpoint {at} it extends cannot be read: {e}"),
            })?;
            let d = decode(at, &bytes)?;
            if *app.get_or_insert(d.app_hash) != d.app_hash {
                return Err(CheckpointError::Corrupt {
                    id,
                    reason: format!("checkpoint {at} it extends belongs to another app"),
                });
            }
            if d.base >= at {
                return Err(CheckpointError::Corrupt {
                    id,
                    reason: format!("checkpoint {at} extends a newer one"),
                });
            }
            at = d.base;
            chain.push(d);
        }
        let depth = chain.len();
        let positions = chain
            .first()
            .map(|d| d.body.positions.clone())
            .unwrap_or_default();
        let app_hash = app.unwrap_or(0);
        // Oldest first: later records replace earlier ones.
        let mut records: Vec<Record> = Vec::new();
        for d in chain.into_iter().rev() {
            for r in d.body.records {
                match records.iter_mut().find(|x| x.id == r.id) {
                    Some(slot) => *slot = r,
                    None => records.push(r),
                }
            }
        }
        Ok(Restored {
            id,
            positions,
            skipped: Vec::new(),
            records: records.iter().map(|r| (r.id.clone(), r.schema)).collect(),
            snapshot: SnapshotBuilder::from_records(app_hash, records).finish(),
            chain: depth,
        })
    }

    /// Restores checkpoint `from`, or the newest usable one (`None`); `Ok(None)` when the
    /// store holds no checkpoint. A newer checkpoint that cannot be read is skipped (and
    /// named in [`Restored::skipped`]) in favour of the previous one.
    pub fn restore(&mut self, from: Option<u64>) -> Result<Option<Restored>, CheckpointError> {
        let ids = self.store.list()?;
        let candidates: Vec<u64> = match from {
            Some(id) if ids.contains(&id) => vec![id],
            Some(id) => return Err(CheckpointError::Missing(id)),
            None => ids.iter().rev().copied().collect(),
        };
        if candidates.is_empty() {
            return Ok(None);
        }
        let mut skipped = Vec::new();
        for id in &candidates {
            match self.load(*id) {
                Ok(mut restored) => {
                    restored.skipped = skipped;
                    self.adopt(&restored);
                    return Ok(Some(restored));
                }
                Err(e) if from.is_some() => return Err(e),
                Err(e) => skipped.push(e.to_string()),
            }
        }
        Err(CheckpointError::NoneUsable {
            store: self.store.describe(),
            count: candidates.len(),
            reasons: skipped.join("; "),
        })
    }

    /// Makes `restored` the base of the next (incremental) checkpoint.
    fn adopt(&mut self, restored: &Restored) {
        self.last.clear();
        if let Ok((_, records)) = Snapshot::decode_any(&restored.snapshot) {
            for r in records {
                let sum = checksum(&r.body);
                self.last.insert(r.id, (r.schema, sum));
            }
        }
        self.last_id = Some(restored.id);
        // The chain goes on from where the restored one stopped.
        self.since_full = u32::try_from(restored.chain.saturating_sub(1)).unwrap_or(u32::MAX);
    }

    /// Every checkpoint in the store, oldest first.
    pub fn list(&mut self) -> Result<Vec<CheckpointInfo>, CheckpointError> {
        let mut out = Vec::new();
        for id in self.store.list()? {
            let info = match self.store.read(id) {
                Err(e) => CheckpointInfo {
                    id,
                    time_ms: None,
                    bytes: 0,
                    base: None,
                    positions: None,
                    error: Some(e.to_string()),
                },
                Ok(bytes) => match decode(id, &bytes) {
                    Ok(d) => CheckpointInfo {
                        id,
                        time_ms: Some(d.time_ms),
                        bytes: bytes.len(),
                        base: (d.base != 0).then_some(d.base),
                        positions: Some(d.body.positions),
                        error: None,
                    },
                    Err(e) => CheckpointInfo {
                        id,
                        time_ms: None,
                        bytes: bytes.len(),
                        base: None,
                        positions: None,
                        error: Some(e.to_string()),
                    },
                },
            };
            out.push(info);
        }
        Ok(out)
    }
}

/// `ms` since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC).
pub fn format_utc(ms: i64) -> String {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::store::MemStore;
    use proptest::prelude::*;

    fn snap(values: &[(u8, u64)]) -> Vec<u8> {
        let mut b = SnapshotBuilder::new(9);
        for (op, v) in values {
            b.add(&format!("q{op}"), 1, v);
        }
        b.finish()
    }

    fn pos(n: u64) -> Positions {
        Positions {
            sources: vec![(
                "input".into(),
                Position::Offset {
                    bytes: n,
                    lines: n / 10,
                },
            )],
            sinks: vec![("out.jsonl".into(), n * 2)],
        }
    }

    #[test]
    fn incremental_chain_restores_the_last_state_and_prunes() {
        let store = MemStore::default();
        let mut cp = Checkpointer::new(Box::new(store.clone()))
            .keep(2)
            .full_every(3);
        let s1 = cp.save(&snap(&[(1, 1), (2, 1)]), pos(1)).unwrap();
        assert!(s1.full);
        let s2 = cp.save(&snap(&[(1, 2), (2, 1)]), pos(2)).unwrap();
        assert!(!s2.full);
        assert_eq!(s2.records, 1, "only the changed operator");
        let s3 = cp.save(&snap(&[(1, 2), (2, 5)]), pos(3)).unwrap();
        assert_eq!((s3.full, s3.records), (false, 1));
        let s4 = cp.save(&snap(&[(1, 3), (2, 5)]), pos(4)).unwrap();
        assert!(s4.full, "a full one every 3");
        // keep 2: 3 and 4 stay, and 3's chain (2, 1) too; after 5, 1-3 go.
        assert_eq!(store.ids(), vec![1, 2, 3, 4]);
        cp.save(&snap(&[(1, 4), (2, 5)]), pos(5)).unwrap();
        assert_eq!(store.ids(), vec![4, 5]);
        let r = Checkpointer::new(Box::new(store.clone()))
            .restore(None)
            .unwrap()
            .unwrap();
        assert_eq!((r.id, r.positions.clone()), (5, pos(5)));
        assert_eq!(r.snapshot, snap(&[(1, 4), (2, 5)]));
        let mut again = Checkpointer::new(Box::new(store.clone())).full_every(3);
        let old = again.restore(Some(4)).unwrap().unwrap();
        assert_eq!(old.snapshot, snap(&[(1, 3), (2, 5)]));
        assert_eq!(old.chain, 1);
        // After a restore the chain goes on: incremental, on the restored one.
        let s6 = again.save(&snap(&[(1, 3), (2, 6)]), pos(6)).unwrap();
        assert_eq!((s6.id, s6.full, s6.records), (6, false, 1));
        let r = Checkpointer::new(Box::new(store))
            .restore(None)
            .unwrap()
            .unwrap();
        assert_eq!((r.id, r.chain), (6, 2));
        assert_eq!(r.snapshot, snap(&[(1, 3), (2, 6)]));
    }

    #[test]
    fn corrupt_newest_falls_back_and_reports() {
        let store = MemStore::default();
        let mut cp = Checkpointer::new(Box::new(store.clone())).full_every(1);
        cp.save(&snap(&[(1, 1)]), pos(1)).unwrap();
        cp.save(&snap(&[(1, 2)]), pos(2)).unwrap();
        store.corrupt(2, |b| b.truncate(b.len() / 2));
        let r = Checkpointer::new(Box::new(store.clone()))
            .restore(None)
            .unwrap()
            .unwrap();
        assert_eq!(r.id, 1);
        assert_eq!(r.skipped.len(), 1);
        assert!(r.skipped[0].contains("checkpoint 2"), "{:?}", r.skipped);
        store.corrupt(1, |b| {
            let last = b.len() - 1;
            b[last] ^= 1;
        });
        let err = Checkpointer::new(Box::new(store.clone()))
            .restore(None)
            .unwrap_err();
        assert!(err.to_string().contains("--no-restore"), "{err}");
        let err = Checkpointer::new(Box::new(store))
            .restore(Some(7))
            .unwrap_err();
        assert!(matches!(err, CheckpointError::Missing(7)));
    }

    #[test]
    fn checkpoints_of_the_old_format_are_incompatible_not_restored() {
        let store = MemStore::default();
        let mut cp = Checkpointer::new(Box::new(store.clone())).full_every(1);
        cp.save(&snap(&[(1, 1)]), pos(1)).unwrap();
        store.corrupt(1, |b| b[4..8].copy_from_slice(&1u32.to_le_bytes()));
        let err = Checkpointer::new(Box::new(store))
            .restore(None)
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("incompatible checkpoint: format version 1")
                && err.to_string().contains("--no-restore"),
            "{err}"
        );
    }

    #[test]
    fn utc_format() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_utc(1_796_000_000_123), "2026-11-30T00:53:20.123Z");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn missing_operators_are_named() {
        let store = MemStore::default();
        let mut cp = Checkpointer::new(Box::new(store.clone()));
        cp.save(&snap(&[(1, 1), (2, 1)]), pos(1)).unwrap();
        let r = Checkpointer::new(Box::new(store))
            .restore(None)
            .unwrap()
            .unwrap();
        let mut fresh = SnapshotBuilder::new(9);
        fresh.add("q1", 1, &0u64);
        fresh.add("q2", 2, &0u64); // layout changed
        fresh.add("q3", 1, &0u64); // new
        assert_eq!(r.missing_operators(&fresh.finish()), ["q2", "q3"]);
    }

    proptest! {
        /// Restoring a chain of incremental checkpoints gives the state of a full one.
        #[test]
        fn incremental_equals_full(
            steps in proptest::collection::vec(proptest::collection::vec((0u8..6, 0u64..4), 0..6), 1..12),
            full_every in 1u32..5,
        ) {
            let store = MemStore::default();
            let mut cp = Checkpointer::new(Box::new(store.clone())).keep(2).full_every(full_every);
            let mut state: std::collections::BTreeMap<u8, u64> = (0..6).map(|k| (k, 0)).collect();
            for (n, changes) in steps.iter().enumerate() {
                for (op, v) in changes {
                    state.insert(*op, *v);
                }
                let values: Vec<(u8, u64)> = state.iter().map(|(k, v)| (*k, *v)).collect();
                cp.save(&snap(&values), pos(n as u64)).unwrap();
                let r = Checkpointer::new(Box::new(store.clone())).restore(None).unwrap().unwrap();
                prop_assert_eq!(r.snapshot, snap(&values));
            }
        }
    }
}

//! State snapshots (docs/running.md#state-and-snapshots).
//!
//! A snapshot is a header — magic, format version, app hash — followed by one record per
//! stateful operator (its stable id, a hash of its state layout, and its state as
//! [`persist`] writes it; generated apps use [`SnapshotBuilder::put`] and
//! [`Snapshot::load_into`]), all of it compressed with lz4_flex, then a checksum of the
//! compressed bytes.
//! [`Snapshot::restore_into`] gives each operator back the record with its id when the layout
//! hash matches, so a recompiled app restores the state of every query whose state layout did
//! not change; operators without a matching record keep their fresh state.
//!
//! ```
//! use eventflux_runtime::state::{Snapshot, SnapshotBuilder};
//! let mut b = SnapshotBuilder::new(7);
//! b.add("q1/window", 42, &vec![1i64, 2, 3]);
//! let bytes = b.finish();
//! let snap = Snapshot::decode(&bytes, 7).unwrap();
//! let mut state: Vec<i64> = Vec::new();
//! assert!(snap.restore_into("q1/window", 42, &mut state).unwrap());
//! assert_eq!(state, vec![1, 2, 3]);
//! ```

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 4] = b"EFSN";
/// 2: operator records written by `state::persist` (version 1 records were bincode).
const VERSION: u32 = 2;

/// Why a snapshot could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Not an EventFlux snapshot, or truncated.
    #[error("not an EventFlux snapshot (bad magic or too short)")]
    BadMagic,
    /// Written by an incompatible format version.
    #[error(
        "incompatible snapshot: format version {0}, this build reads version {VERSION} \
         (taken by another EventFlux version)"
    )]
    Version(u32),
    /// The checksum does not match: the file is corrupt.
    #[error("snapshot checksum mismatch: the snapshot is corrupt")]
    Checksum,
    /// The snapshot belongs to another application.
    #[error(
        "snapshot was taken by another application (app hash {found:#x}, expected {expected:#x})"
    )]
    OtherApp {
        /// Hash in the snapshot.
        found: u64,
        /// Hash of this app.
        expected: u64,
    },
    /// Decompression or decoding failed.
    #[error("snapshot body cannot be decoded: {0}")]
    Decode(String),
    /// The app was compiled without snapshots (`eventflux run` and `eventflux bench` build
    /// it so, to compile faster; `eventflux build` keeps them).
    #[error("this build of the app keeps no state (snapshots need `eventflux build`)")]
    NotKept,
}

mod checkpoint;
pub mod persist;
mod store;

pub use checkpoint::{
    format_utc, CheckpointError, CheckpointInfo, Checkpointer, Position, Positions, Restored, Saved,
};
#[cfg(feature = "redis")]
pub use store::RedisStore;
pub use store::{open_store, DirStore, Store};

/// One operator's state in a snapshot: its stable id, the hash of its state layout and its
/// bincode-encoded state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The operator's stable id (`query name/part`).
    pub id: String,
    /// Hash of the state's layout: a record restores only into the same layout.
    pub schema: u64,
    /// The bincode-encoded state.
    pub body: Vec<u8>,
}

/// Collects operator states into a snapshot.
pub struct SnapshotBuilder {
    app_hash: u64,
    records: Vec<Record>,
}

impl SnapshotBuilder {
    /// A snapshot of the app identified by `app_hash`.
    pub fn new(app_hash: u64) -> Self {
        SnapshotBuilder {
            app_hash,
            records: Vec::new(),
        }
    }

    /// Adds the state of operator `id` whose layout hashes to `schema`.
    pub fn add<T: Serialize + ?Sized>(&mut self, id: &str, schema: u64, state: &T) {
        // Serializing plain data into a Vec cannot fail; an empty body restores nothing.
        // One pass (`serialize` would first walk the state to size the buffer: a second
        // instantiation of every state type's serializer in each app), the same bytes.
        let mut body = Vec::new();
        if bincode::serialize_into(&mut body, state).is_err() {
            body.clear();
        }
        self.records.push(Record {
            id: id.to_owned(),
            schema,
            body,
        });
    }

    /// Adds the state of operator `id` written by its [`persist::Save`] impl (compiled once:
    /// no serde or bincode code per state type). Read it back with [`Snapshot::load_into`],
    /// not [`Snapshot::restore_into`]: the layout hash `schema` of such a record must differ
    /// from that of a bincode record of the same state.
    pub fn put(&mut self, id: &str, schema: u64, state: &dyn persist::Persist) {
        let mut w = persist::Writer::new();
        state.save_state(&mut w);
        self.records.push(Record {
            id: id.to_owned(),
            schema,
            body: w.into_bytes(),
        });
    }

    /// A snapshot of the app identified by `app_hash` made of ready records (how
    /// [`Checkpointer`] puts a chain of incremental checkpoints back together).
    pub fn from_records(app_hash: u64, records: Vec<Record>) -> Self {
        SnapshotBuilder { app_hash, records }
    }

    /// The snapshot bytes.
    pub fn finish(self) -> Vec<u8> {
        let body = bincode::serialize(&self.records).unwrap_or_default();
        let compressed = lz4_flex::compress_prepend_size(&body);
        let mut out = Vec::with_capacity(compressed.len() + 28);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&self.app_hash.to_le_bytes());
        out.extend_from_slice(&checksum(&compressed).to_le_bytes());
        out.extend_from_slice(&compressed);
        out
    }
}

/// A decoded snapshot.
pub struct Snapshot {
    records: Vec<Record>,
}

impl Snapshot {
    /// Checks and decodes `bytes` taken by the app identified by `app_hash`.
    pub fn decode(bytes: &[u8], app_hash: u64) -> Result<Snapshot, StateError> {
        let (found, records) = Self::decode_any(bytes)?;
        if found != app_hash {
            return Err(StateError::OtherApp {
                found,
                expected: app_hash,
            });
        }
        Ok(Snapshot { records })
    }

    /// Checks and decodes `bytes` of any app: its app hash and its records.
    pub fn decode_any(bytes: &[u8]) -> Result<(u64, Vec<Record>), StateError> {
        if bytes.len() < 24 || &bytes[..4] != MAGIC {
            return Err(StateError::BadMagic);
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
            return Err(StateError::Version(version));
        }
        let (found, sum, compressed) = (word(8), word(16), &bytes[24..]);
        if checksum(compressed) != sum {
            return Err(StateError::Checksum);
        }
        let body = lz4_flex::decompress_size_prepended(compressed)
            .map_err(|e| StateError::Decode(e.to_string()))?;
        let records = bincode::deserialize(&body).map_err(|e| StateError::Decode(e.to_string()))?;
        Ok((found, records))
    }

    /// The record of operator `id` with layout hash `schema`, if the snapshot has one.
    fn record(&self, id: &str, schema: u64) -> Option<&Record> {
        self.records
            .iter()
            .find(|r| r.id == id && r.schema == schema)
    }

    /// Restores `state` from the record of operator `id` when its layout hash is `schema`;
    /// `Ok(false)` when there is no such record (the state stays as it is).
    pub fn restore_into<T: DeserializeOwned>(
        &self,
        id: &str,
        schema: u64,
        state: &mut T,
    ) -> Result<bool, StateError> {
        let Some(record) = self.record(id, schema) else {
            return Ok(false);
        };
        *state = bincode::deserialize(&record.body)
            .map_err(|e| StateError::Decode(format!("{id}: {e}")))?;
        Ok(true)
    }

    /// Loads `state` from the record of operator `id` written by [`SnapshotBuilder::put`]
    /// when its layout hash is `schema`; `Ok(false)` when there is no such record (the state
    /// stays as it is). A record that does not decode to exactly its bytes is an error
    /// naming the operator, and leaves the state as it was.
    pub fn load_into(
        &self,
        id: &str,
        schema: u64,
        state: &mut dyn persist::Persist,
    ) -> Result<bool, StateError> {
        let Some(record) = self.record(id, schema) else {
            return Ok(false);
        };
        let context = |e: StateError| StateError::Decode(format!("{id}: {e}"));
        let mut r = persist::Reader::new(&record.body);
        state.load_state(&mut r).map_err(context)?;
        r.finish().map_err(context)?;
        Ok(true)
    }

    /// The operator ids in the snapshot.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.records.iter().map(|r| r.id.as_str())
    }
}

/// FNV-1a, 64 bits: a checksum against truncation and bit rot (not against tampering).
pub fn checksum(bytes: &[u8]) -> u64 {
    checksum_from(0xcbf2_9ce4_8422_2325, bytes)
}

/// [`checksum`] continued from `h` (the checksum of the bytes before).
pub fn checksum_from(h: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(h, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_layout_mismatch() {
        let mut b = SnapshotBuilder::new(1);
        b.add("a", 10, &(1u32, "x".to_string()));
        b.add("b", 20, &Some(2.5f64));
        let bytes = b.finish();
        let snap = Snapshot::decode(&bytes, 1).expect("decode");
        let mut a = (0u32, String::new());
        assert!(snap.restore_into("a", 10, &mut a).expect("restore"));
        assert_eq!(a, (1, "x".into()));
        let mut b2: Option<f64> = None;
        assert!(!snap.restore_into("b", 21, &mut b2).expect("layout changed"));
        assert_eq!(b2, None);
        assert_eq!(snap.ids().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn record_bytes_are_those_of_bincode_serialize() {
        // Checkpoints of earlier builds (written with `bincode::serialize`) must restore.
        let state = (
            vec![(1i64, Some(2.5f64)), (3, None)],
            "key".to_string(),
            std::collections::VecDeque::from([7u32, 8]),
        );
        let mut b = SnapshotBuilder::new(1);
        b.add("q", 5, &state);
        assert_eq!(
            b.records[0].body,
            bincode::serialize(&state).expect("serialize")
        );
    }

    #[test]
    fn persist_records_round_trip_beside_bincode_ones() {
        let mut b = SnapshotBuilder::new(3);
        b.add("serde", 1, &vec![1i64, 2]);
        b.put("persist", 2, &(5i64, Some("IBM".to_string())));
        b.put("short", 3, &7u8);
        let bytes = b.finish();
        let snap = Snapshot::decode(&bytes, 3).expect("decode");
        let mut serde_state: Vec<i64> = Vec::new();
        assert!(snap
            .restore_into("serde", 1, &mut serde_state)
            .expect("bincode"));
        assert_eq!(serde_state, [1, 2]);
        let mut state: (i64, Option<String>) = (0, None);
        assert!(snap.load_into("persist", 2, &mut state).expect("persist"));
        assert_eq!(state, (5, Some("IBM".into())));
        assert!(!snap
            .load_into("persist", 9, &mut state)
            .expect("other layout"));
        // A record that does not decode to exactly its bytes: an error naming it, the state
        // untouched.
        let mut wide: u64 = 11;
        let e = snap
            .load_into("short", 3, &mut wide)
            .expect_err("truncated");
        assert!(e.to_string().contains("short: ") && e.to_string().contains("truncated"));
        assert_eq!(wide, 11);
        let mut pair: (i64, Option<String>) = (0, None);
        let e = snap
            .load_into("serde", 1, &mut pair)
            .expect_err("bincode record");
        assert!(
            e.to_string()
                .starts_with("snapshot body cannot be decoded: serde: "),
            "{e}"
        );
    }

    #[test]
    fn rejects_corruption_and_other_apps() {
        let mut bytes = SnapshotBuilder::new(1).finish();
        assert!(matches!(
            Snapshot::decode(&bytes, 2),
            Err(StateError::OtherApp { .. })
        ));
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        assert!(matches!(
            Snapshot::decode(&bytes, 1),
            Err(StateError::Checksum)
        ));
        assert!(matches!(
            Snapshot::decode(b"nope", 1),
            Err(StateError::BadMagic)
        ));
    }

    #[test]
    fn an_old_format_is_an_incompatible_snapshot_error() {
        let mut b = SnapshotBuilder::new(1);
        b.put("q", 1, &7i64);
        let mut bytes = b.finish();
        bytes[4..8].copy_from_slice(&1u32.to_le_bytes());
        let e = Snapshot::decode(&bytes, 1).err().expect("version 1");
        assert!(matches!(e, StateError::Version(1)));
        assert!(e.to_string().starts_with("incompatible snapshot"), "{e}");
        // Corrupt or cut input stays an error, never a panic.
        let good = {
            let mut b = SnapshotBuilder::new(1);
            b.put("q", 1, &(7i64, Some("x".to_owned())));
            b.finish()
        };
        for cut in 0..good.len() {
            assert!(Snapshot::decode(&good[..cut], 1).is_err(), "cut at {cut}");
        }
        for at in 0..good.len() {
            let mut b = good.clone();
            b[at] ^= 0x5a;
            let mut state: (i64, Option<String>) = (0, None);
            if let Ok(snap) = Snapshot::decode(&b, 1) {
                let _ = snap.load_into("q", 1, &mut state);
            }
        }
    }
}

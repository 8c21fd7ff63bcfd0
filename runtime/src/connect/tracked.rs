//! Connectors whose position or delivery takes part in checkpoints (DESIGN 8.4): broker
//! sources whose position (a JetStream stream sequence, ...) is saved with each checkpoint
//! and acknowledged to the broker only once a checkpoint covers it, and broker sinks that
//! deliver everything before a checkpoint is saved and number their messages from
//! (epoch, sequence), both kept in checkpoints, so a deduplicating broker sees replays once.
//!
//! The standalone driver keeps one registry per process: [`begin`] when it starts (with the
//! restored checkpoint), then connectors register themselves when they start, the driver
//! records what it processed ([`SourceCell::processed`]) and the checkpoint calls
//! [`positions`], [`before_checkpoint`] and [`after_checkpoint`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::state::{Position, Positions};

/// What the driver and a tracked source share.
#[derive(Debug)]
pub struct SourceCell {
    name: String,
    /// The newest position the app has processed (set on the driver's thread).
    processed: AtomicU64,
    /// Whether `processed` holds a position (restored or processed).
    known: AtomicBool,
    /// The newest position a checkpoint covers (or, without checkpoints, that was
    /// processed): what the source may acknowledge to its broker.
    committed: AtomicU64,
    /// A partitioned source's (Kafka) offsets: its positions are [`partition_position`]s.
    parts: Option<Mutex<Parts>>,
}

/// A partitioned source's next offsets per partition.
#[derive(Debug, Default)]
struct Parts {
    processed: BTreeMap<i32, i64>,
    committed: BTreeMap<i32, i64>,
}

/// The position a partitioned source hands over for "everything of `partition` before
/// offset `next`": the partition in the top 16 bits, the offset in the low 48.
pub fn partition_position(partition: i32, next: i64) -> u64 {
    let p = u64::from(u16::try_from(partition).unwrap_or(u16::MAX));
    let o = u64::try_from(next).unwrap_or(0) & ((1 << 48) - 1);
    (p << 48) | o
}

fn split_position(position: u64) -> (i32, i64) {
    let p = i32::from(u16::try_from(position >> 48).unwrap_or(u16::MAX));
    let o = i64::try_from(position & ((1 << 48) - 1)).unwrap_or(0);
    (p, o)
}

impl SourceCell {
    /// The name the position is kept under in checkpoints.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Records that the app processed everything up to `position`.
    pub fn processed(&self, position: u64) {
        match &self.parts {
            Some(parts) => {
                let (p, next) = split_position(position);
                lock(parts).processed.insert(p, next);
            }
            None => self.processed.store(position, Ordering::Relaxed),
        }
        self.known.store(true, Ordering::Release);
    }

    /// A partitioned source's next offsets a checkpoint covers (or, without checkpoints,
    /// that were processed): what it may commit to its broker.
    pub fn committed_partitions(&self) -> Vec<(i32, i64)> {
        self.parts.as_ref().map_or_else(Vec::new, |parts| {
            lock(parts)
                .committed
                .iter()
                .map(|(&p, &o)| (p, o))
                .collect()
        })
    }

    /// The position for a checkpoint.
    fn position(&self) -> Position {
        match &self.parts {
            Some(parts) => Position::Partitions(
                lock(parts)
                    .processed
                    .iter()
                    .map(|(&p, &o)| (p, o))
                    .collect(),
            ),
            None => Position::Sequence(self.processed.load(Ordering::Relaxed)),
        }
    }

    /// Everything up to `position` may be acknowledged.
    fn commit(&self, position: &Position) {
        match (position, &self.parts) {
            (Position::Sequence(seq), None) => self.committed.store(*seq, Ordering::Release),
            (Position::Partitions(list), Some(parts)) => {
                lock(parts).committed = list.iter().copied().collect();
            }
            _ => {}
        }
    }

    /// The newest position that may be acknowledged (0: none).
    pub fn committed(&self) -> u64 {
        self.committed.load(Ordering::Acquire)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Waits until a sink's thread finished with the first `target` lines handed to it (`done`
/// reaches `target`); `Err` naming `what` when the thread ended first (`gone`).
pub fn wait_delivered(
    target: u64,
    done: &AtomicU64,
    gone: &AtomicBool,
    what: &str,
) -> Result<(), String> {
    while done.load(Ordering::Acquire) < target {
        if gone.load(Ordering::Acquire) {
            return Err(format!("{what} stopped"));
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    Ok(())
}

/// The positions of a sink that numbers its messages: `<kind>:<stream>` is the number of
/// lines numbered in the epoch `<kind>:<stream>:epoch` (`ids` = (epoch, lines)).
pub fn numbered_positions(kind: &str, stream: &str, ids: &Mutex<(u64, u64)>) -> Vec<(String, u64)> {
    let (epoch, lines) = *lock(ids);
    vec![
        (format!("{kind}:{stream}"), lines),
        (format!("{kind}:{stream}:epoch"), epoch),
    ]
}

/// What a broker sink shares between the driver's thread, its sending thread(s) and
/// checkpoints: a checkpoint waits for every line handed over, and a sink that numbers its
/// messages (nats, kafka) keeps its numbering in checkpoints (`numbered_positions`).
pub struct DeliveredSink {
    /// The extension, for positions and messages (`nats`, `kafka`, `mqtt`, ...).
    pub kind: &'static str,
    pub stream: String,
    /// (epoch, lines numbered in it), for a sink that numbers its lines.
    ids: Option<Mutex<(u64, u64)>>,
    /// Lines handed to the sending thread.
    pub handed: AtomicU64,
    /// Lines the sending thread finished with (delivered or given up on).
    pub done: AtomicU64,
    pub stop: AtomicBool,
    /// Set when the sending thread ended.
    pub gone: AtomicBool,
}

impl DeliveredSink {
    /// A sink of `stream` that does not number its lines, nothing handed over yet.
    pub fn new(kind: &'static str, stream: String) -> DeliveredSink {
        DeliveredSink {
            kind,
            stream,
            ids: None,
            handed: AtomicU64::new(0),
            done: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            gone: AtomicBool::new(false),
        }
    }

    /// A sink of `stream` whose numbering starts at `ids` (epoch, lines numbered).
    pub fn numbered(kind: &'static str, stream: String, ids: (u64, u64)) -> DeliveredSink {
        DeliveredSink {
            ids: Some(Mutex::new(ids)),
            ..DeliveredSink::new(kind, stream)
        }
    }

    /// Numbers `count` more lines: the epoch and the first one's number (the others
    /// follow it). A sink that does not number its lines gets (0, 0).
    pub fn number(&self, count: u64) -> (u64, u64) {
        self.ids.as_ref().map_or((0, 0), |ids| {
            let mut ids = lock(ids);
            let first = ids.1;
            ids.1 += count;
            (ids.0, first)
        })
    }
}

impl Participant for DeliveredSink {
    fn before_checkpoint(&self) -> Result<(), String> {
        wait_delivered(
            self.handed.load(Ordering::Acquire),
            &self.done,
            &self.gone,
            &format!("{} sink `{}`", self.kind, self.stream),
        )
    }

    fn positions(&self) -> Vec<(String, u64)> {
        self.ids.as_ref().map_or_else(Vec::new, |ids| {
            numbered_positions(self.kind, &self.stream, ids)
        })
    }
}

/// A sink taking part in checkpoints.
pub trait Participant: Send + Sync {
    /// Delivers everything handed over so far (waits for it); `Err` when that failed.
    fn before_checkpoint(&self) -> Result<(), String>;
    /// What the sink keeps in a checkpoint (names and counters: its epoch and the number
    /// of messages it numbered so far).
    fn positions(&self) -> Vec<(String, u64)>;
    /// The checkpoint was saved (a PostgreSQL table commits what it prepared for it).
    fn after_checkpoint(&self) {}
}

#[derive(Default)]
struct Registry {
    restored: Option<(u64, Positions)>,
    checkpointing: bool,
    fresh_epoch: u64,
    /// The restored checkpoint's replay may come in another order than the run that wrote
    /// past it (see [`replay_reordered`]).
    reordered: bool,
    sources: Vec<Arc<SourceCell>>,
    sinks: Vec<Arc<dyn Participant>>,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

fn registry() -> MutexGuard<'static, Option<Registry>> {
    // A panic while holding the lock leaves plain data behind: keep using it.
    REGISTRY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Starts a run: forgets earlier registrations; `restored` is the checkpoint the run
/// resumes from (id and positions), `checkpointing` whether checkpoints are taken (without,
/// sources acknowledge what was processed at once), `fresh_epoch` the epoch sinks number
/// their messages in when nothing was restored (see [`fresh_epoch`]).
pub fn begin(restored: Option<(u64, Positions)>, checkpointing: bool, fresh_epoch: u64) {
    *registry() = Some(Registry {
        restored,
        checkpointing,
        fresh_epoch,
        ..Registry::default()
    });
}

/// FNV-1a of `bytes` from `seed`: stable across builds and platforms.
fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(seed, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The epoch of a run that restored nothing: the same for every start with the same
/// checkpoint store (so a run killed before its first checkpoint and started again numbers
/// its messages as before), the start time otherwise (`--no-restore`, or no checkpoints:
/// a new run). Below 2^63.
pub fn fresh_epoch_for(store: Option<&str>) -> u64 {
    let seed = match store {
        Some(location) => {
            let absolute = std::fs::canonicalize(location)
                .map_or_else(|_| location.to_string(), |p| p.display().to_string());
            fnv1a(0xcbf2_9ce4_8422_2325, absolute.as_bytes())
        }
        None => u64::try_from(crate::functions::now_millis()).unwrap_or(0),
    };
    seed & (u64::MAX >> 1)
}

/// The epoch a sink numbers its messages in when the restored checkpoint has none for it:
/// when the run restored nothing, [`fresh_epoch_for`]'s; else one derived from it and the
/// restored checkpoint's id. A sink missing from a checkpoint (a worker's own sink after
/// a restart on more workers) then never reuses the ids of a run before that checkpoint,
/// which a deduplicating broker would drop, and a run killed before its next checkpoint
/// and started again numbers its messages as before.
pub fn fresh_epoch() -> u64 {
    registry().as_ref().map_or(0, |r| match &r.restored {
        None => r.fresh_epoch,
        Some((id, _)) => fnv1a(r.fresh_epoch, &id.to_le_bytes()) & (u64::MAX >> 1),
    })
}

/// The events replayed after a restart may come in another order than in the run before
/// (a run on several workers reading partitioned sources): sinks that number their messages
/// and match a replay by those numbers (nats, postgres) number them in a new epoch
/// ([`numbered_ids`]), so no replayed row can take an earlier row's id and be dropped as
/// its duplicate (they may come twice: at least once).
pub fn replay_reordered() {
    if let Some(r) = registry().as_mut() {
        r.reordered = true;
    }
}

/// The (epoch, next number) a sink numbering its messages as `<kind>:<stream>` continues
/// from: [`restored_ids`], or a new epoch from the clock after [`replay_reordered`].
pub fn numbered_ids(kind: &str, stream: &str) -> (u64, u64) {
    if registry().as_ref().is_some_and(|r| r.reordered) {
        return (fresh_epoch_for(None), 0);
    }
    restored_ids(kind, stream)
}

/// The (epoch, next number) the restored checkpoint keeps for the sink `<kind>:<stream>`,
/// else [`fresh_epoch`] from 0.
pub fn restored_ids(kind: &str, stream: &str) -> (u64, u64) {
    match (
        restored_sink(&format!("{kind}:{stream}:epoch")),
        restored_sink(&format!("{kind}:{stream}")),
    ) {
        (Some(epoch), Some(next)) => (epoch, next),
        _ => (fresh_epoch(), 0),
    }
}

/// A counter a sink kept under `name` in the restored checkpoint.
pub fn restored_sink(name: &str) -> Option<u64> {
    registry()
        .as_ref()
        .and_then(|r| r.restored.as_ref().and_then(|(_, p)| p.sink(name)))
}

/// The counters a sink kept in the restored checkpoint under names starting with `prefix`
/// (the rest of each name, and the counter).
pub fn restored_sinks_under(prefix: &str) -> Vec<(String, u64)> {
    registry().as_ref().map_or_else(Vec::new, |r| {
        r.restored.as_ref().map_or_else(Vec::new, |(_, p)| {
            p.sinks
                .iter()
                .filter_map(|(name, n)| Some((name.strip_prefix(prefix)?.to_string(), *n)))
                .collect()
        })
    })
}

/// Whether the run takes checkpoints.
pub fn checkpointing() -> bool {
    registry().as_ref().is_some_and(|r| r.checkpointing)
}

/// Registers a source named `name`; returns its cell and its restored position (a
/// sequence), if the restored checkpoint has one.
pub fn register_source(name: &str) -> (Arc<SourceCell>, Option<u64>) {
    let mut guard = registry();
    let reg = guard.get_or_insert_with(Registry::default);
    let restored = reg
        .restored
        .as_ref()
        .and_then(|(_, p)| p.source(name))
        .and_then(|p| match p {
            Position::Sequence(seq) => Some(*seq),
            _ => None,
        });
    let cell = Arc::new(SourceCell {
        name: name.to_string(),
        processed: AtomicU64::new(restored.unwrap_or(0)),
        known: AtomicBool::new(restored.is_some()),
        committed: AtomicU64::new(restored.unwrap_or(0)),
        parts: None,
    });
    reg.sources.push(Arc::clone(&cell));
    (cell, restored)
}

/// Registers a partitioned source (Kafka) named `name`: its positions are
/// [`partition_position`]s and its checkpointed position is
/// [`Position::Partitions`]. Returns its cell and the restored next offsets of the
/// partitions `mine` takes, gathered from every restored position of the same source (a
/// name up to an `@w<worker>` suffix: a run on several workers keeps one per worker, and a
/// restart may read the partitions on other workers).
pub fn register_partitioned_source(
    name: &str,
    mine: &dyn Fn(i32) -> bool,
) -> (Arc<SourceCell>, Vec<(i32, i64)>) {
    let mut guard = registry();
    let reg = guard.get_or_insert_with(Registry::default);
    let base = name.split_once("@w").map_or(name, |(b, _)| b);
    let restored: Vec<(i32, i64)> = reg.restored.as_ref().map_or_else(Vec::new, |(_, p)| {
        p.sources
            .iter()
            .filter(|(n, _)| n == base || n.strip_prefix(base).is_some_and(|r| r.starts_with("@w")))
            .flat_map(|(_, p)| match p {
                Position::Partitions(list) => list.clone(),
                _ => Vec::new(),
            })
            .filter(|&(p, _)| mine(p))
            .collect()
    });
    let map: BTreeMap<i32, i64> = restored.iter().copied().collect();
    let cell = Arc::new(SourceCell {
        name: name.to_string(),
        processed: AtomicU64::new(0),
        known: AtomicBool::new(!restored.is_empty()),
        committed: AtomicU64::new(0),
        parts: Some(Mutex::new(Parts {
            processed: map.clone(),
            committed: map,
        })),
    });
    reg.sources.push(Arc::clone(&cell));
    (cell, restored)
}

/// Registers a sink taking part in checkpoints.
pub fn register_sink(sink: Arc<dyn Participant>) {
    registry()
        .get_or_insert_with(Registry::default)
        .sinks
        .push(sink);
}

/// The positions of `cells` (one worker's sources), for a checkpoint.
pub fn positions_of(cells: &[Arc<SourceCell>]) -> Vec<(String, Position)> {
    cells
        .iter()
        .filter(|c| c.known.load(Ordering::Acquire))
        .map(|c| (c.name.clone(), c.position()))
        .collect()
}

/// The positions of the tracked sources, for a checkpoint.
pub fn positions() -> Vec<(String, Position)> {
    registry().as_ref().map_or_else(Vec::new, |r| {
        r.sources
            .iter()
            .filter(|c| c.known.load(Ordering::Acquire))
            .map(|c| (c.name.clone(), c.position()))
            .collect()
    })
}

/// The counters of the tracked sinks, for a checkpoint.
pub fn sink_positions() -> Vec<(String, u64)> {
    let sinks: Vec<Arc<dyn Participant>> = registry()
        .as_ref()
        .map_or_else(Vec::new, |r| r.sinks.clone());
    sinks.iter().flat_map(|s| s.positions()).collect()
}

/// Waits until every tracked sink delivered what it was handed.
pub fn before_checkpoint() -> Result<(), String> {
    let sinks: Vec<Arc<dyn Participant>> = registry()
        .as_ref()
        .map_or_else(Vec::new, |r| r.sinks.clone());
    sinks.iter().try_for_each(|s| s.before_checkpoint())
}

/// A checkpoint was saved with `positions`: sinks finish it and sources may acknowledge up
/// to them.
pub fn after_checkpoint(positions: &Positions) {
    sinks_after_checkpoint();
    commit_sources(positions);
}

/// A checkpoint was saved: the sinks finish their part of it (a PostgreSQL table commits
/// what it prepared).
pub fn sinks_after_checkpoint() {
    let sinks = match registry().as_ref() {
        Some(r) => r.sinks.clone(),
        None => return,
    };
    for sink in &sinks {
        sink.after_checkpoint();
    }
}

/// A complete checkpoint holds `positions`: the sources may acknowledge up to them.
pub fn commit_sources(positions: &Positions) {
    let sources = match registry().as_ref() {
        Some(r) => r.sources.clone(),
        None => return,
    };
    for cell in &sources {
        if let Some(position) = positions.source(&cell.name) {
            cell.commit(position);
        }
    }
}

/// Without checkpoints: everything processed may be acknowledged.
pub fn commit_processed() {
    let guard = registry();
    let Some(reg) = guard.as_ref() else {
        return;
    };
    if reg.checkpointing {
        return;
    }
    for cell in &reg.sources {
        if cell.known.load(Ordering::Acquire) {
            cell.commit(&cell.position());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The registry is one per process: its tests take turns.
    static SERIAL: Mutex<()> = Mutex::new(());

    #[test]
    fn a_checkpoint_waits_for_the_lines_handed_over_or_names_a_stopped_sink() {
        let done = Arc::new(AtomicU64::new(0));
        let gone = AtomicBool::new(false);
        let worker = {
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                for _ in 0..3 {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    done.fetch_add(1, Ordering::AcqRel);
                }
            })
        };
        assert_eq!(wait_delivered(3, &done, &gone, "nats sink `Out`"), Ok(()));
        assert_eq!(done.load(Ordering::Acquire), 3);
        let _ = worker.join();
        gone.store(true, Ordering::Release);
        assert_eq!(
            wait_delivered(4, &done, &gone, "nats sink `Out`"),
            Err("nats sink `Out` stopped".to_string())
        );
        let ids = Mutex::new((7, 42));
        assert_eq!(
            numbered_positions("kafka", "Out", &ids),
            vec![
                ("kafka:Out".to_string(), 42),
                ("kafka:Out:epoch".to_string(), 7)
            ]
        );
    }

    /// A sink missing from the restored checkpoint numbers in an epoch of that checkpoint:
    /// not the fresh run's (whose ids an earlier run used), the same on every start from it.
    #[test]
    fn a_sink_missing_from_a_restored_checkpoint_gets_an_epoch_of_that_checkpoint() {
        let _turn = lock(&SERIAL);
        begin(None, true, 77);
        assert_eq!(fresh_epoch(), 77);
        begin(Some((4, Positions::default())), true, 77);
        let at_4 = fresh_epoch();
        begin(Some((5, Positions::default())), true, 77);
        let at_5 = fresh_epoch();
        begin(Some((4, Positions::default())), true, 77);
        assert_eq!(fresh_epoch(), at_4);
        assert!(at_4 != 77 && at_5 != 77 && at_4 != at_5);
        assert!(at_4 < 1 << 63 && at_5 < 1 << 63);
        // A replay that may come in another order: a new epoch, numbered from 0.
        let mut restored = Positions::default();
        restored.sinks.push(("nats:Out:epoch".to_string(), 9));
        restored.sinks.push(("nats:Out".to_string(), 40));
        begin(Some((4, restored)), true, 77);
        assert_eq!(numbered_ids("nats", "Out"), (9, 40));
        replay_reordered();
        let (epoch, next) = numbered_ids("nats", "Out");
        assert!(epoch != 9 && epoch != 77 && epoch != at_4 && next == 0);
    }

    #[test]
    fn positions_follow_processing_and_commit_after_checkpoints() {
        let _turn = lock(&SERIAL);
        let mut restored = Positions::default();
        restored
            .sources
            .push(("nats:S:c".to_string(), Position::Sequence(7)));
        restored.sinks.push(("nats:Out".to_string(), 9));
        begin(Some((4, restored)), true, 1);
        assert!(checkpointing());
        assert_eq!(restored_sink("nats:Out"), Some(9));
        assert_eq!(restored_sinks_under("nats:"), vec![("Out".to_string(), 9)]);
        assert_eq!(restored_sinks_under("kafka:"), Vec::new());
        let (cell, at) = register_source("nats:S:c");
        assert_eq!(at, Some(7));
        let (fresh, none) = register_source("nats:T:c");
        assert_eq!(none, None);
        assert_eq!(
            positions(),
            vec![("nats:S:c".to_string(), Position::Sequence(7))]
        );
        cell.processed(12);
        fresh.processed(3);
        commit_processed();
        assert_eq!(
            cell.committed(),
            7,
            "checkpointing: only checkpoints commit"
        );
        let saved = Positions {
            sources: positions(),
            sinks: Vec::new(),
        };
        after_checkpoint(&saved);
        assert_eq!((cell.committed(), fresh.committed()), (12, 3));
        begin(None, false, 7);
        assert_eq!(restored_sink("nats:Out"), None);
        assert_eq!(fresh_epoch(), 7);
        assert_eq!(fresh_epoch_for(Some("a/b")), fresh_epoch_for(Some("a/b")));
        assert!(fresh_epoch_for(Some("a/b")) < 1 << 63);
        let (cell, _) = register_source("nats:S:c");
        cell.processed(2);
        commit_processed();
        assert_eq!(cell.committed(), 2);
    }

    #[test]
    fn partitioned_sources_keep_offsets_per_partition() {
        let _turn = lock(&SERIAL);
        assert_eq!(split_position(partition_position(3, 77)), (3, 77));
        assert_eq!(split_position(partition_position(0, 1 << 40)), (0, 1 << 40));
        let mut restored = Positions::default();
        restored.sources.push((
            "kafka:S:t".to_string(),
            Position::Partitions(vec![(0, 5), (1, 9)]),
        ));
        begin(Some((2, restored)), true, 1);
        let (cell, at) = register_partitioned_source("kafka:S:t", &|_| true);
        assert_eq!(at, vec![(0, 5), (1, 9)]);
        assert_eq!(cell.committed_partitions(), vec![(0, 5), (1, 9)]);
        cell.processed(partition_position(1, 12));
        cell.processed(partition_position(2, 1));
        commit_processed();
        assert_eq!(cell.committed_partitions(), vec![(0, 5), (1, 9)]);
        let saved = Positions {
            sources: positions(),
            sinks: Vec::new(),
        };
        assert_eq!(
            saved.sources,
            vec![(
                "kafka:S:t".to_string(),
                Position::Partitions(vec![(0, 5), (1, 12), (2, 1)])
            )]
        );
        after_checkpoint(&saved);
        assert_eq!(cell.committed_partitions(), vec![(0, 5), (1, 12), (2, 1)]);
    }
}

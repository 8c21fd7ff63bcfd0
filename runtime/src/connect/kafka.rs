//! The `kafka` connector (DESIGN 8.1, 8.4): a consumer group member as a source and an
//! idempotent producer as a sink, exactly once across kill -9 together with checkpoints.
//!
//! Source: subscribes `"kafka.topic"` at `"kafka.bootstrap.servers"` in the consumer group
//! `"kafka.group.id"` (default `eventflux-<Stream>`), without automatic commits. The next
//! offset of each partition the app processed is kept in checkpoints
//! ([`Position::Partitions`](crate::state::Position)) and committed to the group only once
//! a checkpoint covers it. A restarted binary starts where the group's committed offsets
//! are (at or before its checkpoint) and skips every message its checkpoint covers, so a
//! crash neither loses nor repeats an event.
//!
//! Sink: produces each output line to partition `"kafka.partition"` (default 0) of
//! `"kafka.topic"` with an idempotent producer (`enable.idempotence`: the broker drops the
//! producer's own retries and keeps the partition in order) and the header `eventflux-id`
//! = `<Stream>-<epoch>-<n>` (numbered like the nats sink's `Nats-Msg-Id`, kept in
//! checkpoints). A checkpoint waits until every line before it was acknowledged and keeps
//! the partition's offset after them. At start, the sink reads back the lines of its epoch
//! that the restored checkpoint does not cover (from that offset on) and skips a replayed
//! line equal to one of them, once per delivered copy, so the topic ends holding what an
//! uninterrupted run leaves there. Lines are matched by their bytes because a source with
//! several partitions replays them in another interleaving; a checkpoint taken before the
//! replay matched every such line keeps the offsets of the unmatched ones. This assumes the
//! sink is the partition's only writer with that stream name and epoch, and that a
//! replayed event yields the same lines (true when each key's events come from one source
//! partition, as with keyed Kafka messages).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::sink::{deliver_rows, join_lines, LineSender, OnError, SinkStats};
use super::source::{Batch, SourceEvent};
use super::tracked::{self, DeliveredSink, Participant, SourceCell};
use super::{ConnectError, ConnectorConfig};

/// The sink's option for librdkafka's `message.timeout.ms`.
const MESSAGE_TIMEOUT: &str = "kafka.message.timeout.ms";
/// Its least value (more than the producer's `linger.ms` of 5, as librdkafka wants).
const MIN_MESSAGE_TIMEOUT: u32 = 10;

/// The brokers when `"kafka.bootstrap.servers"` is not given.
pub const DEFAULT_SERVERS: &str = "127.0.0.1:9092";

/// The header that numbers a sink's lines.
const ID_HEADER: &str = "eventflux-id";

fn servers(cfg: &ConnectorConfig) -> String {
    cfg.option("kafka.bootstrap.servers")
        .unwrap_or(DEFAULT_SERVERS)
        .to_string()
}

/// A running Kafka source; [`KafkaSource::stop`] (or dropping it) ends it.
pub struct KafkaSource {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    cell: Arc<SourceCell>,
}

impl KafkaSource {
    /// Joins the group for `cfg` (a `kafka` source), sending batches of at most `batch`
    /// messages (each of one partition) on `tx`. With `share` = `(worker, workers)` (a run
    /// on several workers, DESIGN 11) it reads only the topic's partitions whose index
    /// modulo `workers` is `worker`, assigned rather than balanced by the group.
    pub fn start(
        cfg: &ConnectorConfig,
        tx: Sender<SourceEvent>,
        batch: usize,
        share: Option<(usize, usize)>,
    ) -> Result<KafkaSource, ConnectError> {
        let topic = cfg.required("kafka.topic")?.to_string();
        let group = cfg
            .option("kafka.group.id")
            .map_or_else(|| format!("eventflux-{}", cfg.stream), str::to_string);
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", servers(cfg))
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            // A killed member holds its partitions until its session expires: a restarted
            // binary waits for that, so keep it short.
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "1000")
            .create()
            .map_err(|e| {
                cfg.bad(
                    "kafka.bootstrap.servers",
                    format!("cannot start the consumer: {e}"),
                )
            })?;
        let name = format!("kafka:{}:{topic}", cfg.stream);
        let (cell, restored) = match share {
            None => {
                consumer
                    .subscribe(&[&topic])
                    .map_err(|e| cfg.bad("kafka.topic", format!("cannot subscribe: {e}")))?;
                tracked::register_partitioned_source(&name, &|_| true)
            }
            Some((worker, workers)) => {
                let count =
                    partition_count(&consumer, &topic).map_err(|e| cfg.bad("kafka.topic", e))?;
                let mine = |p: i32| usize::try_from(p).is_ok_and(|p| p % workers.max(1) == worker);
                let (cell, restored) =
                    tracked::register_partitioned_source(&format!("{name}@w{worker}"), &mine);
                let mut list = TopicPartitionList::new();
                for p in (0..count).filter(|&p| mine(p)) {
                    // The checkpoint's offset, else the group's (or the earliest).
                    let offset = restored
                        .iter()
                        .find(|(q, _)| *q == p)
                        .map_or(Offset::Stored, |&(_, next)| Offset::Offset(next));
                    list.add_partition_offset(&topic, p, offset)
                        .map_err(|e| cfg.bad("kafka.topic", format!("partition {p}: {e}")))?;
                }
                consumer
                    .assign(&list)
                    .map_err(|e| cfg.bad("kafka.topic", format!("cannot assign: {e}")))?;
                (cell, restored)
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let label = format!("kafka source `{}`", cfg.stream);
        let stream = cfg.stream.clone();
        let thread = {
            let (stop, cell) = (Arc::clone(&stop), Arc::clone(&cell));
            std::thread::Builder::new()
                .name(format!("ef-kafka-{}", cfg.stream))
                .spawn(move || {
                    let next: BTreeMap<i32, i64> = restored.into_iter().collect();
                    consume(
                        &consumer,
                        &topic,
                        &stream,
                        next,
                        &cell,
                        &tx,
                        batch.max(1),
                        &stop,
                        &label,
                    );
                    let _ = tx.send(SourceEvent::Closed { stream });
                })
                .map_err(|e| cfg.io("cannot start a source thread", e))?
        };
        Ok(KafkaSource {
            stop,
            thread: Some(thread),
            cell,
        })
    }

    /// The cell the driver records processed positions in.
    pub fn cell(&self) -> &Arc<SourceCell> {
        &self.cell
    }

    /// Stops after committing what the last checkpoint covers.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for KafkaSource {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How many partitions `topic` has (waiting up to 10 s for the broker).
fn partition_count(consumer: &BaseConsumer, topic: &str) -> Result<i32, String> {
    let meta = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .map_err(|e| format!("cannot read the partitions of `{topic}`: {e}"))?;
    let count = meta
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map_or(0, |t| t.partitions().len());
    match i32::try_from(count) {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "topic `{topic}` has no partitions (does it exist?)"
        )),
    }
}

/// Commits the offsets a checkpoint covers to the group when they changed.
fn commit_covered(
    consumer: &BaseConsumer,
    topic: &str,
    cell: &SourceCell,
    last: &mut Vec<(i32, i64)>,
    mode: CommitMode,
    label: &str,
) {
    let covered = cell.committed_partitions();
    if covered.is_empty() || covered == *last {
        return;
    }
    let mut list = TopicPartitionList::new();
    for &(p, next) in &covered {
        if list
            .add_partition_offset(topic, p, Offset::Offset(next))
            .is_err()
        {
            return;
        }
    }
    match consumer.commit(&list, mode) {
        Ok(()) => *last = covered,
        // The next round commits these too.
        Err(e) => eprintln!("eventflux: {label}: commit failed: {e}"),
    }
}

#[allow(clippy::too_many_arguments)]
fn consume(
    consumer: &BaseConsumer,
    topic: &str,
    stream: &str,
    mut next: BTreeMap<i32, i64>,
    cell: &SourceCell,
    tx: &Sender<SourceEvent>,
    batch: usize,
    stop: &AtomicBool,
    label: &str,
) {
    let mut committed = Vec::new();
    let mut warned = false;
    let send = |lines: Batch| lines.is_empty() || tx.send(SourceEvent::Batch(lines)).is_ok();
    'run: while !stop.load(Ordering::Relaxed) {
        let mut lines = Batch::new(stream);
        let mut partition = None;
        let mut wait = Duration::from_millis(50);
        while let Some(polled) = consumer.poll(wait) {
            wait = Duration::ZERO;
            let m = match polled {
                Ok(m) => m,
                Err(e) => {
                    if !warned {
                        // librdkafka reconnects by itself.
                        eprintln!("eventflux: {label}: {e}");
                        warned = true;
                    }
                    break;
                }
            };
            warned = false;
            let (p, offset) = (m.partition(), m.offset());
            if next.get(&p).is_some_and(|&n| offset < n) {
                // A checkpoint covers it (redelivered after a restart or a rebalance).
                continue;
            }
            next.insert(p, offset + 1);
            if partition.is_some_and(|q| q != p) {
                let full = std::mem::replace(&mut lines, Batch::new(stream));
                if !send(full) {
                    break 'run;
                }
            }
            partition = Some(p);
            let text = String::from_utf8_lossy(m.payload().unwrap_or_default());
            lines.push(
                &text,
                tracked::partition_position(p, offset + 1),
                u64::try_from(p).unwrap_or(0),
            );
            if lines.len() >= batch {
                break;
            }
        }
        if !send(lines) {
            break;
        }
        commit_covered(
            consumer,
            topic,
            cell,
            &mut committed,
            CommitMode::Async,
            label,
        );
    }
    // What the final checkpoint covered is committed before leaving the group.
    commit_covered(
        consumer,
        topic,
        cell,
        &mut committed,
        CommitMode::Sync,
        label,
    );
}

/// Counts the producer's delivery reports.
struct Reports {
    acked: AtomicU64,
    failed: AtomicU64,
    error: Mutex<Option<String>>,
    /// The offset after the newest message delivered (0: none yet).
    next: Arc<AtomicI64>,
}

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(m) => {
                self.next.fetch_max(m.offset() + 1, Ordering::AcqRel);
                self.acked.fetch_add(1, Ordering::Release);
            }
            Err((e, _)) => {
                *lock(&self.error) = Some(e.to_string());
                self.failed.fetch_add(1, Ordering::Release);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Lines for the sink thread: (number, payload).
type Lines = Vec<(u64, Vec<u8>)>;

/// The lines an earlier run of this sink delivered that no checkpoint covers (it was killed
/// after delivering them): the replay after the restart produces each of them again, and a
/// replayed line equal to one of them is that line, so it is not produced twice.
///
/// Lines are matched by their bytes, not by their numbers: a source with several partitions
/// (Kafka) replays its partitions in another interleaving than the killed run read them, so
/// the n-th replayed line need not be the n-th delivered one; each key's lines are still in
/// the same order, and so are the lines themselves.
#[derive(Debug, Default)]
struct Replay {
    /// Payload -> the topic offsets of delivered lines with these bytes, not matched yet.
    expected: HashMap<Vec<u8>, VecDeque<i64>>,
    /// Whether the partition was scanned (a checkpoint waits for it).
    scanned: bool,
    /// The partition's end when it was scanned.
    end: i64,
}

impl Replay {
    /// Records the line delivered at `offset`.
    fn delivered(&mut self, offset: i64, payload: &[u8]) {
        self.expected
            .entry(payload.to_vec())
            .or_default()
            .push_back(offset);
    }

    /// Whether `payload` was delivered already (then it counts as matched).
    fn matches(&mut self, payload: &[u8]) -> bool {
        let Some(offsets) = self.expected.get_mut(payload) else {
            return false;
        };
        offsets.pop_front();
        if offsets.is_empty() {
            self.expected.remove(payload);
        }
        true
    }

    /// The offsets of delivered lines not matched yet, as `[from, to)` ranges.
    fn pending(&self) -> Vec<(i64, i64)> {
        let mut offsets: Vec<i64> = self.expected.values().flatten().copied().collect();
        offsets.sort_unstable();
        let mut ranges: Vec<(i64, i64)> = Vec::new();
        for o in offsets {
            match ranges.last_mut() {
                Some((_, to)) if *to == o => *to = o + 1,
                _ => ranges.push((o, o + 1)),
            }
        }
        ranges
    }
}

/// What a Kafka sink shares between the driver's thread, its sending thread and
/// checkpoints: the numbering, the lines to match after a restart, and how far the
/// partition holds its lines.
struct KafkaShared {
    delivery: DeliveredSink,
    replay: Mutex<Replay>,
    /// The offset after the newest line this run delivered (0: none).
    next: Arc<AtomicI64>,
}

impl KafkaShared {
    fn offset_key(&self) -> String {
        format!("kafka:{}:offset", self.delivery.stream)
    }

    fn pending_prefix(&self) -> String {
        format!("kafka:{}:pending:", self.delivery.stream)
    }
}

impl Participant for KafkaShared {
    fn before_checkpoint(&self) -> Result<(), String> {
        // Until the partition is scanned, what this run may skip is unknown.
        while !lock(&self.replay).scanned {
            if self.delivery.gone.load(Ordering::Acquire) {
                return Err(format!("kafka sink `{}` stopped", self.delivery.stream));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        self.delivery.before_checkpoint()
    }

    /// The numbering, the offset from which the partition holds lines this checkpoint does
    /// not cover, and the ranges of offsets before it holding lines an earlier run
    /// delivered that the replay has not reached yet (the checkpoint does not cover them
    /// either).
    fn positions(&self) -> Vec<(String, u64)> {
        let mut positions = self.delivery.positions();
        let replay = lock(&self.replay);
        let from = replay.end.max(self.next.load(Ordering::Acquire));
        positions.push((self.offset_key(), u64::try_from(from).unwrap_or(0)));
        let prefix = self.pending_prefix();
        positions.extend(
            replay
                .pending()
                .into_iter()
                .map(|(from, to)| (format!("{prefix}{from}"), u64::try_from(to).unwrap_or(0))),
        );
        positions
    }
}

/// A Kafka sink: an idempotent producer.
pub struct KafkaSink {
    tx: Option<Sender<Lines>>,
    stats: Arc<SinkStats>,
    shared: Arc<KafkaShared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Which messages of the partition an earlier run of the sink delivered without a
/// checkpoint covering them.
#[derive(Debug, PartialEq)]
struct Scan {
    /// `[from, to)` offset ranges (`to` = `None`: to the partition's end).
    ranges: Vec<(i64, Option<i64>)>,
    /// The lowest line number that counts.
    min_number: u64,
}

impl Scan {
    /// From what the restored checkpoint says of the sink `stream` (`numbered` lines
    /// numbered before it), or `None` when nothing needs scanning (no checkpoints).
    fn of(stream: &str, numbered: u64) -> Option<Scan> {
        if !tracked::checkpointing() {
            return None;
        }
        let offset = tracked::restored_sink(&format!("kafka:{stream}:offset"));
        let Some(from) = offset.and_then(|o| i64::try_from(o).ok()) else {
            // No checkpoint (or one from before offsets were kept): the lines numbered
            // from the checkpoint's count on, among the partition's newest messages.
            return Some(Scan {
                ranges: vec![(-1, None)],
                min_number: numbered,
            });
        };
        let mut ranges: Vec<(i64, Option<i64>)> =
            tracked::restored_sinks_under(&format!("kafka:{stream}:pending:"))
                .into_iter()
                .filter_map(|(at, to)| Some((at.parse().ok()?, Some(i64::try_from(to).ok()?))))
                .collect();
        ranges.push((from, None));
        Some(Scan {
            ranges,
            min_number: 0,
        })
    }

    fn wants(&self, offset: i64) -> bool {
        self.ranges
            .iter()
            .any(|&(from, to)| offset >= from && to.is_none_or(|to| offset < to))
    }
}

impl KafkaSink {
    /// Starts the producer for `cfg`, a `kafka` sink; `queue` batches wait at most.
    /// `on.error` defaults to `wait`.
    pub fn start(cfg: &ConnectorConfig, queue: usize) -> Result<KafkaSink, ConnectError> {
        let topic = cfg.required("kafka.topic")?.to_string();
        let partition: i32 = cfg.number("kafka.partition", 0)?;
        if partition < 0 {
            return Err(cfg.bad("kafka.partition", "must be 0 or more"));
        }
        let policy = OnError::of(
            cfg,
            OnError::Wait {
                backoff: Duration::from_millis(100),
            },
        )?;
        // How long librdkafka tries to deliver a message before it reports it failed (and
        // `on.error` applies): its `message.timeout.ms`, 5 minutes by default.
        let timeout: u32 = cfg.number(MESSAGE_TIMEOUT, 300_000)?;
        if !(MIN_MESSAGE_TIMEOUT..=i32::MAX as u32).contains(&timeout) {
            return Err(cfg.bad(
                MESSAGE_TIMEOUT,
                format!("must be {MIN_MESSAGE_TIMEOUT} to 2147483647 milliseconds"),
            ));
        }
        let servers = servers(cfg);
        let next = Arc::new(AtomicI64::new(0));
        let reports = Reports {
            acked: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            error: Mutex::new(None),
            next: Arc::clone(&next),
        };
        let producer: ThreadedProducer<Reports> = ClientConfig::new()
            .set("bootstrap.servers", &servers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("message.timeout.ms", timeout.to_string())
            .create_with_context(reports)
            .map_err(|e| {
                cfg.bad(
                    "kafka.bootstrap.servers",
                    format!("cannot start the producer: {e}"),
                )
            })?;
        // Not `tracked::numbered_ids`: replayed lines are matched by their bytes, in any
        // order, so the epoch stays the restored checkpoint's also when a replay may come
        // in another order.
        let (epoch, numbered) = tracked::restored_ids("kafka", &cfg.stream);
        let scan = Scan::of(&cfg.stream, numbered);
        let stats = Arc::new(SinkStats::default());
        let shared = Arc::new(KafkaShared {
            delivery: DeliveredSink::numbered("kafka", cfg.stream.clone(), (epoch, numbered)),
            replay: Mutex::new(Replay {
                scanned: scan.is_none(),
                ..Replay::default()
            }),
            next,
        });
        tracked::register_sink(Arc::clone(&shared) as Arc<dyn Participant>);
        let (tx, rx) = crossbeam_channel::bounded::<Lines>(queue.max(1));
        let label = format!("kafka sink `{}`", cfg.stream);
        let prefix = format!("{}-{epoch}-", cfg.stream);
        let thread = {
            let (stats, shared) = (Arc::clone(&stats), Arc::clone(&shared));
            std::thread::Builder::new()
                .name(format!("ef-kafka-sink-{}", cfg.stream))
                .spawn(move || {
                    if let Some(scan) = scan {
                        let mut replay = Replay::default();
                        replay.end = delivered(
                            &servers,
                            &topic,
                            partition,
                            &prefix,
                            &scan,
                            &mut replay,
                            &label,
                        );
                        replay.scanned = true;
                        let found: usize = replay.expected.values().map(VecDeque::len).sum();
                        if found > 0 {
                            eprintln!(
                                "eventflux: {label}: {found} line(s) an earlier run delivered \
                                 after its last checkpoint are not delivered again"
                            );
                        }
                        *lock(&shared.replay) = replay;
                    }
                    let mut matching = !lock(&shared.replay).expected.is_empty();
                    for lines in &rx {
                        let fresh: Vec<&(u64, Vec<u8>)> = if matching {
                            let mut replay = lock(&shared.replay);
                            let fresh = lines.iter().filter(|(_, l)| !replay.matches(l)).collect();
                            matching = !replay.expected.is_empty();
                            fresh
                        } else {
                            lines.iter().collect()
                        };
                        let n = lines.len() as u64;
                        deliver_rows(
                            policy,
                            &label,
                            fresh.len() as u64,
                            &stats,
                            &shared.delivery.stop,
                            || produce(&producer, &topic, partition, &prefix, &fresh),
                            || join_lines(fresh.iter().map(|(_, l)| &l[..])).into(),
                        );
                        shared.delivery.done.fetch_add(n, Ordering::Release);
                        if stats.failed.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                    let _ = producer.flush(Duration::from_secs(10));
                    shared.delivery.gone.store(true, Ordering::Release);
                })
                .map_err(|e| cfg.io("cannot start a sink thread", e))?
        };
        Ok(KafkaSink {
            tx: Some(tx),
            stats,
            shared,
            thread: Some(thread),
        })
    }
}

/// Produces `lines` and waits for their delivery reports.
fn produce(
    producer: &ThreadedProducer<Reports>,
    topic: &str,
    partition: i32,
    prefix: &str,
    lines: &[&(u64, Vec<u8>)],
) -> Result<(), String> {
    let reports = producer.context();
    let acked = reports.acked.load(Ordering::Acquire);
    let failed = reports.failed.load(Ordering::Acquire);
    for (n, payload) in lines {
        let id = format!("{prefix}{n}");
        let headers = OwnedHeaders::new().insert(Header {
            key: ID_HEADER,
            value: Some(id.as_bytes()),
        });
        let mut record: BaseRecord<'_, (), [u8]> = BaseRecord::to(topic)
            .partition(partition)
            .payload(payload.as_slice())
            .headers(headers);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((e, back)) => {
                    if e.rdkafka_error_code() != Some(rdkafka::types::RDKafkaErrorCode::QueueFull) {
                        return Err(format!("produce failed: {e}"));
                    }
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }
    let want = lines.len() as u64;
    loop {
        let ok = reports.acked.load(Ordering::Acquire) - acked;
        let bad = reports.failed.load(Ordering::Acquire) - failed;
        if ok + bad >= want {
            if bad == 0 {
                return Ok(());
            }
            let why = lock(&reports.error).clone().unwrap_or_default();
            return Err(format!("{bad} message(s) not delivered: {why}"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Reads the lines of this sink's epoch (`prefix`) that `scan` names into `replay`, waiting
/// for the brokers as long as it takes; returns the partition's end.
fn delivered(
    servers: &str,
    topic: &str,
    partition: i32,
    prefix: &str,
    scan: &Scan,
    replay: &mut Replay,
    label: &str,
) -> i64 {
    /// How far back from the end the partition is searched without a checkpointed offset.
    const WINDOW: i64 = 100_000;
    // Assigned, not subscribed: the group is never joined nor committed to.
    let consumer: BaseConsumer = match ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", "eventflux-sink-scan")
        .set("enable.auto.commit", "false")
        .create()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("eventflux: {label}: cannot read the partition back: {e}");
            return 0;
        }
    };
    let mut warned = false;
    let (low, high) = loop {
        match consumer.fetch_watermarks(topic, partition, Duration::from_secs(5)) {
            Ok(w) => break w,
            Err(e) => {
                if !warned {
                    eprintln!("eventflux: {label}: {e}; retrying");
                    warned = true;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    };
    let first = scan
        .ranges
        .iter()
        .map(|&(from, _)| if from < 0 { high - WINDOW } else { from })
        .min()
        .unwrap_or(high)
        .max(low);
    if high <= first {
        return high;
    }
    let mut list = TopicPartitionList::new();
    if list
        .add_partition_offset(topic, partition, Offset::Offset(first))
        .is_err()
        || consumer.assign(&list).is_err()
    {
        eprintln!("eventflux: {label}: cannot read the partition back");
        return high;
    }
    let begun = Instant::now();
    loop {
        if begun.elapsed() > Duration::from_secs(60) {
            eprintln!(
                "eventflux: {label}: reading back what an earlier run delivered took over a \
                 minute; lines it delivered may be delivered again"
            );
            break;
        }
        let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let number = m.headers().and_then(|h| {
            h.iter()
                .find(|h| h.key == ID_HEADER)
                .and_then(|h| h.value)
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.strip_prefix(prefix))
                .and_then(|n| n.parse::<u64>().ok())
        });
        if scan.wants(m.offset()) && number.is_some_and(|n| n >= scan.min_number) {
            replay.delivered(m.offset(), m.payload().unwrap_or_default());
        }
        if m.offset() + 1 >= high {
            break;
        }
    }
    high
}

impl LineSender for KafkaSink {
    fn send_lines(&self, _events: u64, bytes: Vec<u8>) -> bool {
        let Some(tx) = &self.tx else {
            return false;
        };
        let payloads: Vec<&[u8]> = bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let (_, first) = self.shared.delivery.number(payloads.len() as u64);
        let lines: Lines = (first..)
            .zip(payloads)
            .map(|(n, line)| (n, line.to_vec()))
            .collect();
        let n = lines.len() as u64;
        self.shared.delivery.handed.fetch_add(n, Ordering::Release);
        if tx.send(lines).is_err() {
            self.shared.delivery.done.fetch_add(n, Ordering::Release);
            return false;
        }
        true
    }

    fn stats(&self) -> &Arc<SinkStats> {
        &self.stats
    }
}

impl Drop for KafkaSink {
    fn drop(&mut self) {
        // Produces what was queued and waits for it, then ends the thread.
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.shared.delivery.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replayed_lines_match_delivered_ones_by_bytes_once_per_copy() {
        let mut replay = Replay::default();
        for (offset, line) in [(10, "a"), (11, "b"), (12, "a"), (14, "c"), (15, "d")] {
            replay.delivered(offset, line.as_bytes());
        }
        assert_eq!(replay.pending(), vec![(10, 13), (14, 16)]);
        // Another interleaving: "c" comes back first.
        assert!(replay.matches(b"c"));
        assert!(replay.matches(b"a"));
        assert!(!replay.matches(b"e"), "never delivered");
        assert_eq!(replay.pending(), vec![(11, 13), (15, 16)]);
        assert!(replay.matches(b"a"));
        assert!(!replay.matches(b"c"), "its one copy was matched");
        assert!(replay.matches(b"b"));
        assert!(replay.matches(b"d"));
        assert!(replay.expected.is_empty());
        assert_eq!(replay.pending(), Vec::new());
    }

    #[test]
    fn a_scan_reads_what_the_checkpoint_does_not_cover() {
        let scan = Scan {
            ranges: vec![(3, Some(5)), (9, None)],
            min_number: 0,
        };
        let wanted: Vec<i64> = (0..12).filter(|&o| scan.wants(o)).collect();
        assert_eq!(wanted, vec![3, 4, 9, 10, 11]);
    }
}

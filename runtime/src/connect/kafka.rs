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
//! checkpoints). A checkpoint waits until every line before it was acknowledged. At start,
//! the sink reads the partition's newest messages and skips the replayed lines it finds
//! there (those of its epoch numbered up to the newest one found), so the topic ends as
//! after an uninterrupted run. This assumes the sink is the partition's only writer with
//! that stream name and epoch.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::sink::{deliver, LineSender, OnError, SinkStats};
use super::source::{Batch, SourceEvent};
use super::tracked::{self, NumberedSink, Participant, SourceCell};
use super::{ConnectError, ConnectorConfig};

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
    /// messages (each of one partition) on `tx`.
    pub fn start(
        cfg: &ConnectorConfig,
        tx: Sender<SourceEvent>,
        batch: usize,
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
        consumer
            .subscribe(&[&topic])
            .map_err(|e| cfg.bad("kafka.topic", format!("cannot subscribe: {e}")))?;
        let (cell, restored) =
            tracked::register_partitioned_source(&format!("kafka:{}:{topic}", cfg.stream));
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
}

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.acked.fetch_add(1, Ordering::Release);
            }
            Err((e, _)) => {
                *self
                    .error
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e.to_string());
                self.failed.fetch_add(1, Ordering::Release);
            }
        }
    }
}

/// Lines for the sink thread: (number, payload).
type Lines = Vec<(u64, Vec<u8>)>;

/// A Kafka sink: an idempotent producer.
pub struct KafkaSink {
    tx: Option<Sender<Lines>>,
    stats: Arc<SinkStats>,
    shared: Arc<NumberedSink>,
    thread: Option<std::thread::JoinHandle<()>>,
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
        let servers = servers(cfg);
        let reports = Reports {
            acked: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            error: Mutex::new(None),
        };
        let producer: ThreadedProducer<Reports> = ClientConfig::new()
            .set("bootstrap.servers", &servers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .create_with_context(reports)
            .map_err(|e| {
                cfg.bad(
                    "kafka.bootstrap.servers",
                    format!("cannot start the producer: {e}"),
                )
            })?;
        let (epoch, numbered) = match (
            tracked::restored_sink(&format!("kafka:{}:epoch", cfg.stream)),
            tracked::restored_sink(&format!("kafka:{}", cfg.stream)),
        ) {
            (Some(epoch), Some(next)) => (epoch, next),
            _ => (tracked::fresh_epoch(), 0),
        };
        let stats = Arc::new(SinkStats::default());
        let shared = Arc::new(NumberedSink::new(
            "kafka",
            cfg.stream.clone(),
            (epoch, numbered),
        ));
        tracked::register_sink(Arc::clone(&shared) as Arc<dyn Participant>);
        let (tx, rx) = crossbeam_channel::bounded::<Lines>(queue.max(1));
        let label = format!("kafka sink `{}`", cfg.stream);
        let prefix = format!("{}-{epoch}-", cfg.stream);
        let thread = {
            let (stats, shared) = (Arc::clone(&stats), Arc::clone(&shared));
            std::thread::Builder::new()
                .name(format!("ef-kafka-sink-{}", cfg.stream))
                .spawn(move || {
                    // Lines numbered below this are in the partition already.
                    let present = delivered(&servers, &topic, partition, &prefix, &label);
                    for lines in &rx {
                        let fresh: Vec<&(u64, Vec<u8>)> = lines
                            .iter()
                            .filter(|(n, _)| present.is_none_or(|p| *n > p))
                            .collect();
                        let n = lines.len() as u64;
                        deliver(
                            policy,
                            &label,
                            fresh.len() as u64,
                            &stats,
                            &shared.stop,
                            || produce(&producer, &topic, partition, &prefix, &fresh),
                        );
                        shared.done.fetch_add(n, Ordering::Release);
                        if stats.failed.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                    let _ = producer.flush(Duration::from_secs(10));
                    shared.gone.store(true, Ordering::Release);
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
            let why = reports
                .error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
                .unwrap_or_default();
            return Err(format!("{bad} message(s) not delivered: {why}"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The newest line number of this sink's epoch (`prefix`) among the partition's newest
/// messages, waiting for the brokers as long as it takes; `None` when there is none.
fn delivered(servers: &str, topic: &str, partition: i32, prefix: &str, label: &str) -> Option<u64> {
    /// How far back from the end the partition is searched.
    const WINDOW: i64 = 100_000;
    // Assigned, not subscribed: the group is never joined nor committed to.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", "eventflux-sink-scan")
        .set("enable.auto.commit", "false")
        .create()
        .ok()?;
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
    if high <= low {
        return None;
    }
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, partition, Offset::Offset(low.max(high - WINDOW)))
        .ok()?;
    consumer.assign(&list).ok()?;
    let mut newest = None;
    let begun = Instant::now();
    while begun.elapsed() < Duration::from_secs(60) {
        let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let id = m.headers().and_then(|h| {
            h.iter()
                .find(|h| h.key == ID_HEADER)
                .and_then(|h| h.value)
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.strip_prefix(prefix))
                .and_then(|n| n.parse::<u64>().ok())
        });
        if let Some(n) = id {
            newest = Some(newest.map_or(n, |m: u64| m.max(n)));
        }
        if m.offset() + 1 >= high {
            break;
        }
    }
    newest
}

impl LineSender for KafkaSink {
    fn send_lines(&self, events: u64, bytes: Vec<u8>) -> bool {
        let Some(tx) = &self.tx else {
            return false;
        };
        let mut lines = Vec::with_capacity(usize::try_from(events).unwrap_or(0));
        {
            let mut ids = self
                .shared
                .ids
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                lines.push((ids.1, line.to_vec()));
                ids.1 += 1;
            }
        }
        let n = lines.len() as u64;
        self.shared.handed.fetch_add(n, Ordering::Release);
        if tx.send(lines).is_err() {
            self.shared.done.fetch_add(n, Ordering::Release);
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
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

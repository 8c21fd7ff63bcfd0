//! The `nats` connector (DESIGN 8.1, 8.4): a JetStream durable pull consumer as a source and
//! deduplicated JetStream publishes as a sink.
//!
//! Source: the consumer `"nats.consumer"` (default `eventflux-<Stream>`) on stream
//! `"nats.stream"` filtered to `"nats.subject"`, created when missing (and the stream too).
//! Its position is the JetStream stream sequence of the last message the app processed; it
//! is saved in checkpoints, and messages are acknowledged (ack policy `all`) only once a
//! checkpoint covers them. At start the consumer is recreated to deliver from the restored
//! position + 1 (or, without a checkpoint, from its acknowledged floor + 1), so a crash
//! neither loses nor repeats a message. Redeliveries of sequences already handed over are
//! skipped.
//!
//! Sink: each output line is published to `"nats.subject"` with the header `Nats-Msg-Id` =
//! `<Stream>-<epoch>-<n>`: `n` numbers the sink's lines from 0, the epoch tells runs apart
//! (`tracked::fresh_epoch_for`: derived from the checkpoint store for a run with
//! checkpoints that starts afresh, the start time for a run without); both are kept in
//! checkpoints. A checkpoint first waits until every line
//! before it was acknowledged by JetStream; after a crash, the lines replayed from the
//! checkpoint get the same ids and JetStream's duplicate window drops them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Sender;
use futures_util::StreamExt;

use super::sink::{deliver_rows, join_lines, LineSender, OnError, SinkStats, MAX_BACKOFF};
use super::source::{Batch, SourceEvent};
use super::tracked::{self, DeliveredSink, Participant, SourceCell};
use super::{ConnectError, ConnectorConfig};

/// The server when `"nats.url"` is not given.
pub const DEFAULT_URL: &str = "nats://127.0.0.1:4222";

fn runtime(cfg: &ConnectorConfig) -> Result<tokio::runtime::Runtime, ConnectError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| cfg.io("cannot start the nats client", e))
}

/// The URL without credentials, for messages.
fn shown(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}{}", &url[..scheme + 3], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

async fn connect(url: &str, stop: &AtomicBool, label: &str) -> Option<async_nats::Client> {
    let mut pause = Duration::from_millis(100);
    let mut warned = false;
    loop {
        let opts = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(2))
            .max_reconnects(None);
        match opts.connect(url).await {
            Ok(client) => {
                if warned {
                    eprintln!("eventflux: {label}: connected");
                }
                return Some(client);
            }
            Err(e) => {
                if !warned {
                    eprintln!(
                        "eventflux: {label}: cannot connect to {}: {e}; retrying",
                        shown(url)
                    );
                    warned = true;
                }
            }
        }
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_BACKOFF);
    }
}

/// A running JetStream source; [`NatsSource::stop`] (or dropping it) ends it.
pub struct NatsSource {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    cell: Arc<SourceCell>,
}

struct SourceOptions {
    url: String,
    stream: String,
    /// The subjects the JetStream stream is created with when missing.
    stream_subject: String,
    subject: String,
    consumer: String,
    max_ack_pending: i64,
    ack_wait: Duration,
}

impl NatsSource {
    /// Starts consuming for `cfg` (a `nats` source), sending batches of at most `batch`
    /// messages on `tx`. `partition` = `Some(n)`: partition `n` of a source with
    /// `"nats.partitions"` (DESIGN 11): subject `<nats.subject>.<n>`, consumer
    /// `<nats.consumer>-<n>`, each with a position of its own.
    pub fn start(
        cfg: &ConnectorConfig,
        tx: Sender<SourceEvent>,
        batch: usize,
        partition: Option<usize>,
    ) -> Result<NatsSource, ConnectError> {
        let url = cfg.option("nats.url").unwrap_or(DEFAULT_URL).to_string();
        let mut consumer = cfg
            .option("nats.consumer")
            .map_or_else(|| format!("eventflux-{}", cfg.stream), str::to_string);
        let mut subject = cfg.required("nats.subject")?.to_string();
        let mut stream_subject = subject.clone();
        if let Some(n) = partition {
            stream_subject = format!("{subject}.*");
            subject = format!("{subject}.{n}");
            consumer = format!("{consumer}-{n}");
        }
        let ack_wait = match cfg.option("nats.ack.wait") {
            None => Duration::from_secs(300),
            Some(v) => Duration::from_millis(
                super::sink::parse_millis(v)
                    .filter(|&ms| ms > 0)
                    .ok_or_else(|| cfg.bad("nats.ack.wait", format!("`{v}` is not a duration")))?,
            ),
        };
        let max_ack_pending: i64 = cfg.number("nats.max.ack.pending", 100_000)?;
        if max_ack_pending < 1 {
            return Err(cfg.bad("nats.max.ack.pending", "must be at least 1"));
        }
        let opts = SourceOptions {
            url,
            stream: cfg.required("nats.stream")?.to_string(),
            stream_subject,
            subject,
            consumer,
            max_ack_pending,
            ack_wait,
        };
        let name = format!("nats:{}:{}", cfg.stream, opts.consumer);
        let (cell, restored) = tracked::register_source(&name);
        let rt = runtime(cfg)?;
        let stop = Arc::new(AtomicBool::new(false));
        let label = match partition {
            Some(n) => format!("nats source `{}` (partition {n})", cfg.stream),
            None => format!("nats source `{}`", cfg.stream),
        };
        let stream = cfg.stream.clone();
        let thread = {
            let stop = Arc::clone(&stop);
            let cell = Arc::clone(&cell);
            std::thread::Builder::new()
                .name(format!("ef-nats-{}", cfg.stream))
                .spawn(move || {
                    rt.block_on(consume(
                        &opts, &stream, restored, &cell, &tx, batch, &stop, &label,
                    ));
                    let _ = tx.send(SourceEvent::Closed { stream });
                })
                .map_err(|e| cfg.io("cannot start a source thread", e))?
        };
        Ok(NatsSource {
            stop,
            thread: Some(thread),
            cell,
        })
    }

    /// The name the source's position is kept under in checkpoints.
    pub fn position_name(&self) -> &str {
        self.cell.name()
    }

    /// The cell the driver records processed positions in.
    pub fn cell(&self) -> &Arc<SourceCell> {
        &self.cell
    }

    /// Stops consuming (unacknowledged messages stay with the broker).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for NatsSource {
    fn drop(&mut self) {
        self.stop();
    }
}

type PullConsumer =
    async_nats::jetstream::consumer::Consumer<async_nats::jetstream::consumer::pull::Config>;

/// Creates the stream if missing and (re)creates the durable consumer to deliver from
/// `restored` + 1 (or its acknowledged floor + 1).
async fn open_consumer(
    js: &async_nats::jetstream::Context,
    o: &SourceOptions,
    restored: Option<u64>,
) -> Result<PullConsumer, String> {
    use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
    let stream = js
        .get_or_create_stream(async_nats::jetstream::stream::Config {
            name: o.stream.clone(),
            subjects: vec![o.stream_subject.clone()],
            ..Default::default()
        })
        .await
        .map_err(|e| format!("cannot open JetStream stream `{}`: {e}", o.stream))?;
    let floor = match stream.consumer_info(&o.consumer).await {
        Ok(info) => {
            let floor = info.ack_floor.stream_sequence;
            stream
                .delete_consumer(&o.consumer)
                .await
                .map_err(|e| format!("cannot reset consumer `{}`: {e}", o.consumer))?;
            Some(floor)
        }
        Err(_) => None,
    };
    let deliver_policy = match restored.or(floor) {
        Some(seq) => DeliverPolicy::ByStartSequence {
            start_sequence: seq + 1,
        },
        None => DeliverPolicy::All,
    };
    stream
        .create_consumer(pull::Config {
            durable_name: Some(o.consumer.clone()),
            filter_subject: o.subject.clone(),
            deliver_policy,
            ack_policy: AckPolicy::All,
            ack_wait: o.ack_wait,
            max_ack_pending: o.max_ack_pending,
            ..Default::default()
        })
        .await
        .map_err(|e| format!("cannot create consumer `{}`: {e}", o.consumer))
}

/// Acknowledges (ack policy `all`) the newest pending message a checkpoint covers.
async fn ack_committed(
    pending: &mut VecDeque<(u64, async_nats::jetstream::message::Acker)>,
    cell: &SourceCell,
    label: &str,
) {
    let committed = cell.committed();
    let mut last = None;
    while pending.front().is_some_and(|(seq, _)| *seq <= committed) {
        last = pending.pop_front();
    }
    if let Some((_, acker)) = last {
        if let Err(e) = acker.ack().await {
            // The next acknowledgement covers these too.
            eprintln!("eventflux: {label}: acknowledgement failed: {e}");
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn consume(
    o: &SourceOptions,
    stream_name: &str,
    restored: Option<u64>,
    cell: &SourceCell,
    tx: &Sender<SourceEvent>,
    batch: usize,
    stop: &AtomicBool,
    label: &str,
) {
    let Some(client) = connect(&o.url, stop, label).await else {
        return;
    };
    let js = async_nats::jetstream::new(client);
    let mut pause = Duration::from_millis(100);
    let consumer = loop {
        match open_consumer(&js, o, restored).await {
            Ok(c) => break c,
            Err(e) => eprintln!("eventflux: {label}: {e}; retrying"),
        }
        if stop.load(Ordering::Relaxed) {
            return;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_BACKOFF);
    };
    // The newest sequence handed over: redeliveries up to it are skipped.
    let mut handed = restored.unwrap_or(0);
    let mut pending: VecDeque<(u64, async_nats::jetstream::message::Acker)> = VecDeque::new();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let mut warned = false;
    'open: while !stop.load(Ordering::Relaxed) {
        let mut messages = match consumer.messages().await {
            Ok(m) => m,
            Err(e) => {
                eprintln!("eventflux: {label}: cannot pull messages: {e}; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        pause = Duration::from_millis(100);
        while !stop.load(Ordering::Relaxed) {
            let mut next = tokio::select! {
                m = messages.next() => m,
                _ = tick.tick() => {
                    ack_committed(&mut pending, cell, label).await;
                    continue;
                }
            };
            let mut lines = Batch::new(stream_name);
            let mut last_acker = None;
            let ended = loop {
                match next {
                    // The pull subscription ended: open another one.
                    None => break true,
                    Some(Err(e)) => {
                        // Missed heartbeats while the server is away: the client reconnects.
                        if !warned {
                            eprintln!("eventflux: {label}: {e}");
                            warned = true;
                        }
                    }
                    Some(Ok(msg)) => {
                        warned = false;
                        if let Ok(seq) = msg.info().map(|i| i.stream_sequence) {
                            let (m, acker) = msg.split();
                            if seq > handed {
                                handed = seq;
                                lines.push(&String::from_utf8_lossy(&m.payload), seq, 0);
                                last_acker = Some((seq, acker));
                            }
                        }
                    }
                }
                if lines.len() >= batch {
                    break false;
                }
                match futures_util::FutureExt::now_or_never(messages.next()) {
                    Some(m) => next = m,
                    None => break false,
                }
            };
            if !lines.is_empty() && tx.send(SourceEvent::Batch(lines)).is_err() {
                break 'open;
            }
            pending.extend(last_acker);
            ack_committed(&mut pending, cell, label).await;
            if ended {
                continue 'open;
            }
        }
    }
    // What a final checkpoint covered is acknowledged before leaving.
    ack_committed(&mut pending, cell, label).await;
}

/// Messages for the sink thread: (`Nats-Msg-Id`, payload).
type Messages = Vec<(String, Vec<u8>)>;

/// A JetStream sink: publishes each line with a deterministic `Nats-Msg-Id`.
pub struct NatsSink {
    tx: Option<Sender<Messages>>,
    stats: Arc<SinkStats>,
    shared: Arc<DeliveredSink>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NatsSink {
    /// Connects (in the background, retrying) for `cfg`, a `nats` sink; `queue` batches
    /// wait at most. `on.error` defaults to `wait`.
    pub fn start(cfg: &ConnectorConfig, queue: usize) -> Result<NatsSink, ConnectError> {
        let url = cfg.option("nats.url").unwrap_or(DEFAULT_URL).to_string();
        let subject = cfg.required("nats.subject")?.to_string();
        let create = cfg.option("nats.stream").map(str::to_string);
        let policy = OnError::of(
            cfg,
            OnError::Wait {
                backoff: Duration::from_millis(100),
            },
        )?;
        let rt = runtime(cfg)?;
        let stats = Arc::new(SinkStats::default());
        let shared = Arc::new(DeliveredSink::numbered(
            "nats",
            cfg.stream.clone(),
            tracked::numbered_ids("nats", &cfg.stream),
        ));
        tracked::register_sink(Arc::clone(&shared) as Arc<dyn Participant>);
        let (tx, rx) = crossbeam_channel::bounded::<Messages>(queue.max(1));
        let label = format!("nats sink `{}`", cfg.stream);
        let thread = {
            let stats = Arc::clone(&stats);
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("ef-nats-sink-{}", cfg.stream))
                .spawn(move || {
                    // Connected by the first attempt of a batch (a server down at start is
                    // a failed send like any other: `on.error` decides).
                    let mut js = None;
                    for batch in &rx {
                        let n = batch.len() as u64;
                        deliver_rows(
                            policy,
                            &label,
                            n,
                            &stats,
                            &shared.stop,
                            || {
                                let ctx = match js.take() {
                                    Some(ctx) => ctx,
                                    None => rt.block_on(open_sink(
                                        &url,
                                        create.as_deref(),
                                        &subject,
                                        &label,
                                    ))?,
                                };
                                let sent = rt.block_on(publish(&ctx, &subject, &batch));
                                js = Some(ctx);
                                sent
                            },
                            || join_lines(batch.iter().map(|(_, l)| &l[..])).into(),
                        );
                        shared.done.fetch_add(n, Ordering::Release);
                        if stats.failed.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                    shared.gone.store(true, Ordering::Release);
                })
                .map_err(|e| cfg.io("cannot start a sink thread", e))?
        };
        Ok(NatsSink {
            tx: Some(tx),
            stats,
            shared,
            thread: Some(thread),
        })
    }
}

/// Connects a sink once (the client then reconnects on its own) and creates its JetStream
/// stream `create` when asked; the error names no credentials.
async fn open_sink(
    url: &str,
    create: Option<&str>,
    subject: &str,
    label: &str,
) -> Result<async_nats::jetstream::Context, String> {
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(2))
        .max_reconnects(None)
        .connect(url)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", shown(url)))?;
    let js = async_nats::jetstream::new(client);
    if let Some(name) = create {
        if let Err(e) = js
            .get_or_create_stream(async_nats::jetstream::stream::Config {
                name: name.to_string(),
                subjects: vec![subject.to_string()],
                ..Default::default()
            })
            .await
        {
            eprintln!("eventflux: {label}: cannot open JetStream stream `{name}`: {e}");
        }
    }
    Ok(js)
}

/// The (epoch, next number) a sink of `stream` starts from.
/// Publishes every message of a batch, then waits for all JetStream acknowledgements.
async fn publish(
    js: &async_nats::jetstream::Context,
    subject: &str,
    batch: &[(String, Vec<u8>)],
) -> Result<(), String> {
    use async_nats::jetstream::context::Publish;
    let mut acks = Vec::with_capacity(batch.len());
    for (id, payload) in batch {
        let publish = Publish::build()
            .payload(payload.clone().into())
            .message_id(id);
        let ack = js
            .send_publish(subject.to_string(), publish)
            .await
            .map_err(|e| format!("publish failed: {e}"))?;
        acks.push(ack);
    }
    for ack in acks {
        ack.await
            .map_err(|e| format!("publish not acknowledged: {e}"))?;
    }
    Ok(())
}

impl LineSender for NatsSink {
    fn send_lines(&self, _events: u64, bytes: Vec<u8>) -> bool {
        let Some(tx) = &self.tx else {
            return false;
        };
        let lines: Vec<&[u8]> = bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let (epoch, first) = self.shared.number(lines.len() as u64);
        let batch: Messages = (first..)
            .zip(lines)
            .map(|(n, line)| (format!("{}-{epoch}-{n}", self.shared.stream), line.to_vec()))
            .collect();
        let n = batch.len() as u64;
        self.shared.handed.fetch_add(n, Ordering::Release);
        if tx.send(batch).is_err() {
            self.shared.done.fetch_add(n, Ordering::Release);
            return false;
        }
        true
    }

    fn stats(&self) -> &Arc<SinkStats> {
        &self.stats
    }
}

impl Drop for NatsSink {
    fn drop(&mut self) {
        // Delivers what was queued, then ends the thread.
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

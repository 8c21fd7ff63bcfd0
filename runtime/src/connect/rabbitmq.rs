//! The `rabbitmq` connector (DESIGN 8.1, 8.4): an AMQP 0-9-1 queue consumer as a source and
//! confirmed publishes as a sink, both at-least-once.
//!
//! Source: consumes `"rabbitmq.queue"` at `"rabbitmq.url"` (declared durable when missing)
//! with manual acknowledgements and a bounded prefetch (`"rabbitmq.prefetch"`, default
//! 10000 unacknowledged messages). A message is acknowledged only once a checkpoint covers
//! it (without checkpoints: once it was processed). After a crash, or when the connection
//! drops, the broker requeues what was not acknowledged and delivers it again: nothing is
//! lost, and what was processed but not yet acknowledged is processed again.
//!
//! Sink: publishes each output line as a persistent message to `"rabbitmq.exchange"`
//! (default: the default exchange) with `"rabbitmq.routing.key"`, mandatory, on a channel in
//! confirm mode. Confirmations are pipelined: batches go out while earlier ones' are
//! outstanding, up to [`MAX_UNCONFIRMED`] unconfirmed messages, and are settled in order; a
//! batch counts as delivered once the broker confirmed every message of it. A message no
//! queue takes (returned), a negative confirmation or a lost connection is a failed
//! delivery of the messages not confirmed, published again under `on.error` (default
//! `wait`: retried until it succeeds, so messages may repeat). A checkpoint waits until
//! everything before it was confirmed.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Sender;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::publisher_confirm::Confirmation;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

use super::sink::{deliver_rows, join_lines, LineSender, OnError, SinkStats, MAX_BACKOFF};
use super::source::{Batch, SourceEvent};
use super::tracked::{self, DeliveredSink, Participant, SourceCell};
use super::{ConnectError, ConnectorConfig};

/// The broker when `"rabbitmq.url"` is not given.
pub const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Unacknowledged messages the source holds at most when `"rabbitmq.prefetch"` is not given.
pub const DEFAULT_PREFETCH: u16 = 10_000;

/// Whether `url` is an AMQP URL the client accepts.
fn valid_url(url: &str) -> bool {
    (url.starts_with("amqp://") || url.starts_with("amqps://"))
        && url.parse::<lapin::uri::AMQPUri>().is_ok()
}

fn url(cfg: &ConnectorConfig) -> Result<String, ConnectError> {
    let url = cfg.option("rabbitmq.url").unwrap_or(DEFAULT_URL);
    if valid_url(url) {
        Ok(url.to_string())
    } else {
        Err(cfg.bad(
            "rabbitmq.url",
            "is not an amqp://user:password@host:port/vhost URL",
        ))
    }
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

fn runtime(cfg: &ConnectorConfig) -> Result<tokio::runtime::Runtime, ConnectError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| cfg.io("cannot start the rabbitmq client", e))
}

/// A connection and a channel on it.
async fn open(url: &str, name: &str) -> Result<(Connection, Channel), String> {
    let props = ConnectionProperties::default().with_connection_name(name.to_string().into());
    let conn = Connection::connect(url, props)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", shown(url)))?;
    let channel = conn
        .create_channel()
        .await
        .map_err(|e| format!("cannot open a channel: {e}"))?;
    Ok((conn, channel))
}

async fn close(conn: &Connection, channel: &Channel) {
    let _ = channel.close(200, "bye").await;
    let _ = conn.close(200, "bye").await;
}

/// A running RabbitMQ source; [`RabbitSource::stop`] (or dropping it) ends it.
pub struct RabbitSource {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    cell: Arc<SourceCell>,
}

struct SourceOptions {
    url: String,
    queue: String,
    prefetch: u16,
}

impl RabbitSource {
    /// Starts consuming for `cfg` (a `rabbitmq` source), sending batches of at most `batch`
    /// messages on `tx`.
    pub fn start(
        cfg: &ConnectorConfig,
        tx: Sender<SourceEvent>,
        batch: usize,
    ) -> Result<RabbitSource, ConnectError> {
        let prefetch: u16 = cfg.number("rabbitmq.prefetch", DEFAULT_PREFETCH)?;
        if prefetch < 1 {
            return Err(cfg.bad("rabbitmq.prefetch", "must be at least 1"));
        }
        let opts = SourceOptions {
            url: url(cfg)?,
            queue: cfg.required("rabbitmq.queue")?.to_string(),
            prefetch,
        };
        let (cell, restored) =
            tracked::register_source(&format!("rabbitmq:{}:{}", cfg.stream, opts.queue));
        let rt = runtime(cfg)?;
        let stop = Arc::new(AtomicBool::new(false));
        let label = format!("rabbitmq source `{}`", cfg.stream);
        let stream = cfg.stream.clone();
        let thread = {
            let (stop, cell) = (Arc::clone(&stop), Arc::clone(&cell));
            std::thread::Builder::new()
                .name(format!("ef-rabbitmq-{}", cfg.stream))
                .spawn(move || {
                    let mut counter = restored.unwrap_or(0);
                    rt.block_on(consume(
                        &opts,
                        &stream,
                        &mut counter,
                        &cell,
                        &tx,
                        batch.max(1),
                        &stop,
                        &label,
                    ));
                    let _ = tx.send(SourceEvent::Closed { stream });
                })
                .map_err(|e| cfg.io("cannot start a source thread", e))?
        };
        Ok(RabbitSource {
            stop,
            thread: Some(thread),
            cell,
        })
    }

    /// The cell the driver records processed positions in.
    pub fn cell(&self) -> &Arc<SourceCell> {
        &self.cell
    }

    /// Stops consuming after acknowledging what the last checkpoint covers (the rest stays
    /// with the broker and is delivered again).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RabbitSource {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Acknowledges (`multiple`) the newest pending delivery a checkpoint covers; `pending`
/// holds (position, delivery tag) of the current channel.
async fn ack_committed(
    channel: &Channel,
    pending: &mut VecDeque<(u64, u64)>,
    cell: &SourceCell,
    label: &str,
) {
    let committed = cell.committed();
    let mut last = None;
    while pending.front().is_some_and(|(n, _)| *n <= committed) {
        last = pending.pop_front();
    }
    if let Some((_, tag)) = last {
        if let Err(e) = channel
            .basic_ack(tag, BasicAckOptions { multiple: true })
            .await
        {
            // The connection is gone: the broker requeues these and delivers them again.
            eprintln!("eventflux: {label}: acknowledgement failed: {e}");
        }
    }
}

/// Opens the channel, the queue and the consumer.
async fn subscribe(
    o: &SourceOptions,
    name: &str,
) -> Result<(Connection, Channel, lapin::Consumer), String> {
    let (conn, channel) = open(&o.url, name).await?;
    channel
        .basic_qos(o.prefetch, BasicQosOptions::default())
        .await
        .map_err(|e| format!("cannot set the prefetch: {e}"))?;
    channel
        .queue_declare(
            &o.queue,
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(|e| format!("cannot declare queue `{}`: {e}", o.queue))?;
    let consumer = channel
        .basic_consume(
            &o.queue,
            "",
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| format!("cannot consume queue `{}`: {e}", o.queue))?;
    Ok((conn, channel, consumer))
}

#[allow(clippy::too_many_arguments)]
async fn consume(
    o: &SourceOptions,
    stream_name: &str,
    counter: &mut u64,
    cell: &SourceCell,
    tx: &Sender<SourceEvent>,
    batch: usize,
    stop: &AtomicBool,
    label: &str,
) {
    let mut pause = Duration::from_millis(100);
    let mut warned = false;
    let name = format!("eventflux {stream_name}");
    while !stop.load(Ordering::Relaxed) {
        let (conn, channel, mut consumer) = match subscribe(o, &name).await {
            Ok(c) => c,
            Err(e) => {
                if !warned {
                    eprintln!("eventflux: {label}: {e}; retrying");
                    warned = true;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        if warned {
            eprintln!("eventflux: {label}: connected");
            warned = false;
        }
        pause = Duration::from_millis(100);
        let mut pending: VecDeque<(u64, u64)> = VecDeque::new();
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut lost = None;
        while !stop.load(Ordering::Relaxed) {
            let mut next = tokio::select! {
                d = consumer.next() => d,
                _ = tick.tick() => {
                    ack_committed(&channel, &mut pending, cell, label).await;
                    continue;
                }
            };
            let mut lines = Batch::new(stream_name);
            let mut last_tag = None;
            loop {
                match next {
                    None => {
                        lost = Some("the consumer was cancelled".to_string());
                        break;
                    }
                    Some(Err(e)) => {
                        lost = Some(e.to_string());
                        break;
                    }
                    Some(Ok(delivery)) => {
                        *counter += 1;
                        lines.push(&String::from_utf8_lossy(&delivery.data), *counter, 0);
                        last_tag = Some((*counter, delivery.delivery_tag));
                    }
                }
                if lines.len() >= batch {
                    break;
                }
                match futures_util::FutureExt::now_or_never(consumer.next()) {
                    Some(d) => next = d,
                    None => break,
                }
            }
            if !lines.is_empty() && tx.send(SourceEvent::Batch(lines)).is_err() {
                stop.store(true, Ordering::Relaxed);
                break;
            }
            pending.extend(last_tag);
            if lost.is_some() {
                break;
            }
            ack_committed(&channel, &mut pending, cell, label).await;
        }
        match lost {
            Some(e) => {
                // Unacknowledged deliveries of this channel are requeued by the broker.
                eprintln!("eventflux: {label}: connection lost: {e}; reconnecting");
                warned = true;
                close(&conn, &channel).await;
                tokio::time::sleep(pause).await;
            }
            None => {
                // Stopping: what the final checkpoint covered is acknowledged first.
                ack_committed(&channel, &mut pending, cell, label).await;
                close(&conn, &channel).await;
            }
        }
    }
}

/// A RabbitMQ sink with publisher confirms.
pub struct RabbitSink {
    tx: Option<Sender<Vec<u8>>>,
    stats: Arc<SinkStats>,
    shared: Arc<DeliveredSink>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Target {
    url: String,
    exchange: String,
    routing_key: String,
    name: String,
}

impl RabbitSink {
    /// Connects (in the background, retrying) for `cfg`, a `rabbitmq` sink; `queue` batches
    /// wait at most. `on.error` defaults to `wait`.
    pub fn start(cfg: &ConnectorConfig, queue: usize) -> Result<RabbitSink, ConnectError> {
        let target = Target {
            url: url(cfg)?,
            exchange: cfg.option("rabbitmq.exchange").unwrap_or("").to_string(),
            routing_key: cfg.required("rabbitmq.routing.key")?.to_string(),
            name: format!("eventflux {} (sink)", cfg.stream),
        };
        let policy = OnError::of(
            cfg,
            OnError::Wait {
                backoff: Duration::from_millis(100),
            },
        )?;
        let rt = runtime(cfg)?;
        let stats = Arc::new(SinkStats::default());
        let shared = Arc::new(DeliveredSink::new("rabbitmq", cfg.stream.clone()));
        tracked::register_sink(Arc::clone(&shared) as Arc<dyn Participant>);
        let (tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(queue.max(1));
        let label = format!("rabbitmq sink `{}`", cfg.stream);
        let thread = {
            let (stats, shared) = (Arc::clone(&stats), Arc::clone(&shared));
            std::thread::Builder::new()
                .name(format!("ef-rabbitmq-sink-{}", cfg.stream))
                .spawn(move || {
                    let mut open: Option<(Connection, Channel)> = None;
                    let mut flight: VecDeque<InFlight> = VecDeque::new();
                    let mut unconfirmed = 0u64;
                    let mut closed = false;
                    loop {
                        // Publishes the queued batches while the window allows, waiting
                        // for the next one only when nothing is outstanding.
                        while !closed && unconfirmed < MAX_UNCONFIRMED {
                            let next = if flight.is_empty() {
                                rx.recv().ok()
                            } else {
                                match rx.try_recv() {
                                    Ok(bytes) => Some(bytes),
                                    Err(crossbeam_channel::TryRecvError::Empty) => break,
                                    Err(crossbeam_channel::TryRecvError::Disconnected) => None,
                                }
                            };
                            let Some(bytes) = next else {
                                closed = true;
                                break;
                            };
                            let batch = rt.block_on(publish_ahead(&mut open, &target, bytes));
                            unconfirmed += batch.n;
                            flight.push_back(batch);
                        }
                        let Some(oldest) = flight.front_mut() else {
                            if closed {
                                break;
                            }
                            continue;
                        };
                        // The oldest batch's confirmations: waited for as long as it takes
                        // when nothing more may go out, else briefly (then new batches go
                        // out and it is looked at again).
                        let patience = (!closed && unconfirmed < MAX_UNCONFIRMED)
                            .then_some(Duration::from_millis(1));
                        if !rt.block_on(oldest.settle(&target, patience)) {
                            continue;
                        }
                        let Some(batch) = flight.pop_front() else {
                            continue;
                        };
                        unconfirmed -= batch.n;
                        let (delivered, failed, error) = batch.outcome();
                        stats.sent.fetch_add(delivered, Ordering::Relaxed);
                        if let Some(error) = error {
                            // What was not confirmed is published again (and waited for)
                            // under `on.error`, the failure counting as the first attempt.
                            let mut first = Some(error);
                            deliver_rows(
                                policy,
                                &label,
                                failed.len() as u64,
                                &stats,
                                &shared.stop,
                                || match first.take() {
                                    Some(error) => Err(error),
                                    None => rt.block_on(publish(&mut open, &target, &failed)),
                                },
                                || join_lines(failed.iter().copied()).into(),
                            );
                        }
                        shared.done.fetch_add(batch.n, Ordering::Release);
                        if stats.failed.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                    if let Some((conn, channel)) = &open {
                        rt.block_on(close(conn, channel));
                    }
                    shared.gone.store(true, Ordering::Release);
                })
                .map_err(|e| cfg.io("cannot start a sink thread", e))?
        };
        Ok(RabbitSink {
            tx: Some(tx),
            stats,
            shared,
            thread: Some(thread),
        })
    }
}

/// Messages the sink publishes ahead of their confirmations at most: a batch goes out while
/// fewer are unconfirmed, so at most this plus one batch are outstanding.
pub const MAX_UNCONFIRMED: u64 = 10_000;

/// The non-empty lines of `bytes`.
fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty())
}

/// Where a published message stands.
enum Confirm {
    /// Published, its confirmation outstanding.
    Waiting(lapin::publisher_confirm::PublisherConfirm),
    /// Confirmed.
    Delivered,
    /// Not published, or not confirmed: why.
    Failed(String),
}

/// A batch published ahead of its confirmations.
struct InFlight {
    bytes: Vec<u8>,
    /// One per line of `bytes`, in order.
    confirms: Vec<Confirm>,
    /// Its lines.
    n: u64,
}

impl InFlight {
    /// Collects the confirmations that came in, in order, waiting at most `patience` for
    /// each outstanding one (`None`: as long as it takes; a lost connection fails them);
    /// `true` once every message of the batch is settled.
    async fn settle(&mut self, t: &Target, patience: Option<Duration>) -> bool {
        let deadline = patience.map(|p| tokio::time::Instant::now() + p);
        for confirm in &mut self.confirms {
            let Confirm::Waiting(pending) = confirm else {
                continue;
            };
            let result = match deadline {
                None => pending.await,
                Some(deadline) => match tokio::time::timeout_at(deadline, &mut *pending).await {
                    Ok(result) => result,
                    Err(_) => return false,
                },
            };
            *confirm = match confirmation(result, t) {
                None => Confirm::Delivered,
                Some(error) => Confirm::Failed(error),
            };
        }
        true
    }

    /// Of a settled batch: the messages delivered, the lines that were not, and the first
    /// failure.
    fn outcome(&self) -> (u64, Vec<&[u8]>, Option<String>) {
        let mut delivered = 0;
        let mut failed = Vec::new();
        let mut error = None;
        for (line, confirm) in lines(&self.bytes).zip(&self.confirms) {
            match confirm {
                Confirm::Delivered => delivered += 1,
                Confirm::Failed(e) => {
                    error.get_or_insert_with(|| e.clone());
                    failed.push(line);
                }
                Confirm::Waiting(_) => {
                    error.get_or_insert_with(|| "publish not confirmed".to_string());
                    failed.push(line);
                }
            }
        }
        (delivered, failed, error)
    }
}

/// Why a confirmation is not a delivery (`None`: delivered).
fn confirmation(result: lapin::Result<Confirmation>, t: &Target) -> Option<String> {
    match result {
        Ok(Confirmation::Ack(None)) | Ok(Confirmation::NotRequested) => None,
        Ok(Confirmation::Ack(Some(returned))) | Ok(Confirmation::Nack(Some(returned))) => {
            Some(format!(
                "a message was returned ({}): no queue is bound to exchange `{}` with routing key `{}`",
                returned.reply_text, t.exchange, t.routing_key
            ))
        }
        Ok(Confirmation::Nack(None)) => Some("the broker refused a message".to_string()),
        Err(e) => Some(format!("publish not confirmed: {e}")),
    }
}

/// Publishes the lines of `bytes` without waiting for their confirmations (opening the
/// connection first if needed); a line that could not be published is failed at once.
async fn publish_ahead(
    open: &mut Option<(Connection, Channel)>,
    t: &Target,
    bytes: Vec<u8>,
) -> InFlight {
    let n = lines(&bytes).count();
    let mut confirms = Vec::with_capacity(n);
    match connect(open, t).await {
        Err(e) => confirms.extend((0..n).map(|_| Confirm::Failed(e.clone()))),
        Ok(channel) => {
            confirms.extend(
                publish_all(channel, t, lines(&bytes))
                    .await
                    .into_iter()
                    .map(|r| r.map_or_else(Confirm::Failed, Confirm::Waiting)),
            );
            if !channel.status().connected() {
                *open = None;
            }
        }
    }
    InFlight {
        bytes,
        confirms,
        n: n as u64,
    }
}

/// The open confirm-mode channel, (re)connecting first when there is none or it is closed.
async fn connect<'a>(
    open: &'a mut Option<(Connection, Channel)>,
    t: &Target,
) -> Result<&'a Channel, String> {
    if open
        .as_ref()
        .is_some_and(|(c, ch)| !c.status().connected() || !ch.status().connected())
    {
        if let Some((conn, channel)) = open.take() {
            close(&conn, &channel).await;
        }
    }
    if open.is_none() {
        let (conn, channel) = self::open(&t.url, &t.name).await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| format!("cannot enable publisher confirms: {e}"))?;
        *open = Some((conn, channel));
    }
    match open.as_ref() {
        Some((_, channel)) => Ok(channel),
        None => Err("no channel".to_string()),
    }
}

/// Publishes `lines` (opening the connection and a confirm-mode channel first if needed)
/// and waits for every confirmation; a failed connection is dropped so the next attempt
/// opens another.
async fn publish(
    open: &mut Option<(Connection, Channel)>,
    t: &Target,
    lines: &[&[u8]],
) -> Result<(), String> {
    let channel = connect(open, t).await?;
    let result = publish_on(channel, t, lines).await;
    if result.is_err() && !channel.status().connected() {
        *open = None;
    }
    result
}

async fn publish_on(channel: &Channel, t: &Target, lines: &[&[u8]]) -> Result<(), String> {
    let mut confirms = Vec::with_capacity(lines.len());
    for published in publish_all(channel, t, lines.iter().copied()).await {
        confirms.push(published?);
    }
    let mut failure = None;
    for confirm in confirms {
        if let Some(outcome) = confirmation(confirm.await, t) {
            failure.get_or_insert(outcome);
        }
    }
    failure.map_or(Ok(()), Err)
}

/// Publishes `lines` in order without waiting for each write: every publish is started (its
/// delivery tag taken and its frames queued for the connection, in order) before any is
/// awaited. One result per line; the confirmations are outstanding.
async fn publish_all<'a>(
    channel: &Channel,
    t: &Target,
    lines: impl Iterator<Item = &'a [u8]>,
) -> Vec<Result<lapin::publisher_confirm::PublisherConfirm, String>> {
    let mut started = Vec::new();
    for line in lines {
        let mut publish = Box::pin(publish_one(channel, t, line));
        let done = futures_util::FutureExt::now_or_never(&mut publish);
        started.push((publish, done));
    }
    let mut published = Vec::with_capacity(started.len());
    for (publish, done) in started {
        published.push(match done {
            Some(result) => result,
            None => publish.await,
        });
    }
    published
}

/// Publishes one persistent, mandatory message; its confirmation is outstanding.
async fn publish_one(
    channel: &Channel,
    t: &Target,
    line: &[u8],
) -> Result<lapin::publisher_confirm::PublisherConfirm, String> {
    channel
        .basic_publish(
            &t.exchange,
            &t.routing_key,
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            line,
            BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("application/json".into()),
        )
        .await
        .map_err(|e| format!("publish failed: {e}"))
}

impl LineSender for RabbitSink {
    fn send_lines(&self, _events: u64, bytes: Vec<u8>) -> bool {
        let Some(tx) = &self.tx else {
            return false;
        };
        let n = bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count() as u64;
        self.shared.handed.fetch_add(n, Ordering::Release);
        if tx.send(bytes).is_err() {
            self.shared.done.fetch_add(n, Ordering::Release);
            return false;
        }
        true
    }

    fn stats(&self) -> &Arc<SinkStats> {
        &self.stats
    }
}

impl Drop for RabbitSink {
    fn drop(&mut self) {
        // Publishes what was queued (waiting for its confirmations), then ends the thread.
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(valid_url("amqp://127.0.0.1:5672/%2f"));
        assert!(valid_url("amqp://u:p@broker"));
        assert!(!valid_url("http://broker"));
        assert!(!valid_url("amqp://broker:port"));
        assert_eq!(shown("amqp://u:p@h:1/%2f"), "amqp://h:1/%2f");
    }
}

//! The app's network and tailing connectors in the standalone driver (DESIGN 8.1): each
//! source runs on its own threads and feeds the driver's channel with items that are not
//! replayable (no file position); each sink is a `Write` routed by the output writer that
//! hands whole lines to its own thread.

use crossbeam_channel::Sender;
use std::io::Write;

use super::config::Override;
use super::erased::AppInfo;
use super::reader::{rebatch, unbatch, Batch, Item, Msg, Queued};
use super::Failure;
use crate::connect::csv::CsvWriter;
use crate::connect::fault::fault_event;
use crate::connect::sink::{LineSender, LineWriter};
use crate::connect::source::{decode_csv, decode_message, split_message};
use crate::connect::tcp::{TcpSink, TcpSource};
use crate::connect::{env_lookup, ConnectorConfig, Direction, SourceEvent};
use std::sync::Arc;

/// Extensions served here (the file, stdin and stdout ones are the driver's own).
const NETWORK: &[&str] = &[
    "tcp", "http", "nats", "mqtt", "postgres", "rabbitmq", "kafka", "grpc",
];

/// Whether this module handles the connector.
fn handled(c: &crate::connect::ConnectorDesc) -> bool {
    NETWORK.contains(&c.extension)
        || (c.extension == "file"
            && (c.option("file.follow") == Some("true")
                || c.option("format")
                    .is_some_and(|f| f.eq_ignore_ascii_case("csv"))
                || (c.direction == Direction::Sink && c.option("on.error").is_some())))
}

/// Whether a `--config` `[streams.<Name>]` override is for a connector handled here (it is
/// then applied to every such connector of the stream when it starts).
pub(super) fn takes_override(app: &AppInfo, o: &Override) -> bool {
    app.connectors
        .iter()
        .any(|c| c.stream == o.stream && handled(c))
}

/// The connectors of `A` handled here, resolved against the environment, with `--config`
/// overrides applied (an override replaces the option or adds it).
pub(super) fn resolved(
    app: &AppInfo,
    direction: Direction,
    overrides: &[Override],
) -> Result<Vec<ConnectorConfig>, Failure> {
    let mut out = Vec::new();
    for c in app
        .connectors
        .iter()
        .filter(|c| c.direction == direction && handled(c))
    {
        let mut cfg = c
            .resolve(env_lookup)
            .map_err(|e| Failure::runtime(e.to_string()))?;
        for o in overrides.iter().filter(|o| o.stream == cfg.stream) {
            match cfg.options.iter_mut().find(|(k, _)| *k == o.key) {
                Some((_, v)) => v.clone_from(&o.value),
                None => cfg.options.push((o.key.clone(), o.value.clone())),
            }
        }
        out.push(cfg);
    }
    Ok(out)
}

/// Whether `A` has sources this module starts (then the driver does not read stdin unless
/// `--input` says so, and runs until it is stopped).
pub(super) fn has_sources(app: &AppInfo) -> bool {
    app.connectors
        .iter()
        .any(|c| c.direction == Direction::Source && handled(c))
}

/// Whether `c` is a source split across workers by partition index (DESIGN 11): a Kafka
/// source (the topic's partitions), a NATS source with `"nats.partitions"`.
#[cfg(feature = "scale")]
fn split(c: &crate::connect::ConnectorDesc) -> bool {
    c.direction == Direction::Source
        && (c.extension == "kafka"
            || (c.extension == "nats" && c.option("nats.partitions").is_some()))
}

/// Whether `app` has a source split across workers by partition index.
#[cfg(feature = "scale")]
pub(super) fn has_split_sources(app: &AppInfo) -> bool {
    app.connectors.iter().any(split)
}

/// The running sources; dropping it stops them.
pub(super) struct Sources {
    /// The positions of the broker sources among them.
    pub(super) cells: Vec<std::sync::Arc<crate::connect::tracked::SourceCell>>,
    tcp: Vec<TcpSource>,
    #[cfg(feature = "http")]
    http: Vec<crate::connect::http::HttpSource>,
    follow: Vec<crate::connect::file::FollowSource>,
    #[cfg(feature = "nats")]
    nats: Vec<crate::connect::nats::NatsSource>,
    #[cfg(feature = "mqtt")]
    mqtt: Vec<crate::connect::mqtt::MqttSource>,
    #[cfg(feature = "rabbitmq")]
    rabbitmq: Vec<crate::connect::rabbitmq::RabbitSource>,
    #[cfg(feature = "kafka")]
    kafka: Vec<crate::connect::kafka::KafkaSource>,
}

impl Drop for Sources {
    fn drop(&mut self) {
        for s in &mut self.tcp {
            s.stop();
        }
        #[cfg(feature = "http")]
        for s in &mut self.http {
            s.stop();
        }
        for s in &mut self.follow {
            s.stop();
        }
        #[cfg(feature = "nats")]
        for s in &mut self.nats {
            s.stop();
        }
        #[cfg(feature = "mqtt")]
        for s in &mut self.mqtt {
            s.stop();
        }
        #[cfg(feature = "rabbitmq")]
        for s in &mut self.rabbitmq {
            s.stop();
        }
        #[cfg(feature = "kafka")]
        for s in &mut self.kafka {
            s.stop();
        }
    }
}

/// Lines per batch a source hands over at most.
const BATCH: usize = 1024;
/// Batches queued between a source and its decoder.
const QUEUE: usize = 16;

/// Starts every source of `A` handled here, each feeding `tx`; prints where each listens.
/// With `share` = `(worker, workers)` (a run on several workers) only worker `worker`'s
/// share: the partitions of split sources whose index modulo `workers` is `worker`, and on
/// worker 0 every other source too.
pub(super) fn start_sources(
    app: &AppInfo,
    tx: &Sender<Msg>,
    overrides: &[Override],
    metrics: Option<&std::sync::Arc<crate::metrics::Metrics>>,
    share: Option<(usize, usize)>,
) -> Result<Sources, Failure> {
    let mut sources = Sources {
        cells: Vec::new(),
        tcp: Vec::new(),
        #[cfg(feature = "http")]
        http: Vec::new(),
        follow: Vec::new(),
        #[cfg(feature = "nats")]
        nats: Vec::new(),
        #[cfg(feature = "mqtt")]
        mqtt: Vec::new(),
        #[cfg(feature = "rabbitmq")]
        rabbitmq: Vec::new(),
        #[cfg(feature = "kafka")]
        kafka: Vec::new(),
    };
    let mut queues: Vec<(&str, crate::connect::pipeline::QueueSender<Queued>)> = Vec::new();
    // Each source to start, with its partition (`"nats.partitions"`: one per subject).
    let mut wanted = Vec::new();
    for cfg in resolved(app, Direction::Source, overrides)? {
        let mine = |p: usize| share.is_none_or(|(w, n)| p % n.max(1) == w);
        let partitions: usize = cfg
            .number("nats.partitions", 0)
            .map_err(|e| Failure::runtime(e.to_string()))?;
        match cfg.extension.as_str() {
            // The app's whole service: started by `super::grpc`.
            "grpc" => {}
            "nats" if partitions > 0 => {
                for p in (0..partitions).filter(|&p| mine(p)) {
                    wanted.push((cfg.clone(), Some(p)));
                }
            }
            "kafka" => wanted.push((cfg, None)),
            _ if share.is_some_and(|(w, _)| w != 0) => {}
            _ => wanted.push((cfg, None)),
        }
    }
    for (cfg, partition) in wanted {
        if let (Some((w, n)), true) = (share, cfg.extension == "kafka" || partition.is_some()) {
            let part = partition.map_or_else(
                || format!("the partitions whose index modulo {n} is {w}"),
                |p| format!("partition {p}"),
            );
            super::log::log(
                super::log::Level::Info,
                &format!(
                    "worker {w} reads {} source `{}`: {part}",
                    cfg.extension, cfg.stream
                ),
            );
        }
        let (stx, srx) = crossbeam_channel::bounded::<SourceEvent>(QUEUE);
        let csv = cfg.csv().map_err(|e| Failure::runtime(e.to_string()))?;
        let fail = |e: crate::connect::ConnectError| Failure::runtime(e.to_string());
        // A tracked source (a broker): the driver records what it processed.
        #[cfg_attr(
            not(any(
                feature = "nats",
                feature = "mqtt",
                feature = "rabbitmq",
                feature = "kafka"
            )),
            allow(unused_mut)
        )]
        let mut mark = None;
        let label = match cfg.extension.as_str() {
            "tcp" => {
                let s = TcpSource::start(&cfg, stx, BATCH).map_err(fail)?;
                super::log::log(
                    super::log::Level::Info,
                    &format!(
                        "eventflux: tcp source `{}` listening on {}",
                        cfg.stream,
                        s.local_addr()
                    ),
                );
                sources.tcp.push(s);
                "tcp source"
            }
            #[cfg(feature = "http")]
            "http" => {
                let (codec, schema) = (std::sync::Arc::clone(&app.codec), app.schema);
                let validate: crate::connect::http::Validate = if csv {
                    std::sync::Arc::new(move |stream: &str, record: &str| {
                        let mut scratch = codec.events(1);
                        decode_csv(stream, record, schema(stream), |s, d| {
                            codec.decode_into(s, d, &mut scratch)
                        })
                        .map(|_| ())
                    })
                } else {
                    std::sync::Arc::new(move |stream: &str, data: &str| {
                        codec
                            .decode_into(stream, data, &mut codec.events(1))
                            .map_err(|e| e.to_string())
                    })
                };
                let s =
                    crate::connect::http::HttpSource::start(&cfg, stx, validate, metrics.cloned())
                        .map_err(fail)?;
                super::log::log(
                    super::log::Level::Info,
                    &format!(
                        "eventflux: http source `{}` listening on {}",
                        cfg.stream,
                        s.local_addr()
                    ),
                );
                sources.http.push(s);
                "http source"
            }
            "file" => {
                let s =
                    crate::connect::file::FollowSource::start(&cfg, stx, BATCH).map_err(fail)?;
                sources.follow.push(s);
                "file source"
            }
            #[cfg(feature = "nats")]
            "nats" => {
                let s = crate::connect::nats::NatsSource::start(&cfg, stx, BATCH, partition)
                    .map_err(fail)?;
                mark = Some(std::sync::Arc::clone(s.cell()));
                sources.nats.push(s);
                "nats source"
            }
            #[cfg(feature = "mqtt")]
            "mqtt" => {
                let s = crate::connect::mqtt::MqttSource::start(&cfg, stx).map_err(fail)?;
                mark = Some(std::sync::Arc::clone(s.cell()));
                sources.mqtt.push(s);
                "mqtt source"
            }
            #[cfg(feature = "rabbitmq")]
            "rabbitmq" => {
                let s = crate::connect::rabbitmq::RabbitSource::start(&cfg, stx, BATCH)
                    .map_err(fail)?;
                mark = Some(std::sync::Arc::clone(s.cell()));
                sources.rabbitmq.push(s);
                "rabbitmq source"
            }
            #[cfg(feature = "kafka")]
            "kafka" => {
                let s = crate::connect::kafka::KafkaSource::start(&cfg, stx, BATCH, share)
                    .map_err(fail)?;
                mark = Some(std::sync::Arc::clone(s.cell()));
                sources.kafka.push(s);
                "kafka source"
            }
            other => {
                return Err(Failure::runtime(format!(
                    "stream `{}`: the `{other}` connector is not compiled into this binary",
                    cfg.stream
                )))
            }
        };
        sources.cells.extend(mark.clone());
        let tx = tx.clone();
        let Some(on_error) = OnBad::of(cfg.option("on.error")) else {
            return Err(Failure::runtime(format!(
                "stream `{}`: a source's \"on.error\" is 'log', 'drop', 'fault' or 'fail', not `{}`",
                cfg.stream,
                cfg.option("on.error").unwrap_or_default()
            )));
        };
        let drops = metrics.cloned();
        let app = app.clone();
        let Some(p) = app.pipelines.iter().find(|p| p.stream == cfg.stream) else {
            std::thread::Builder::new()
                .name(format!("ef-decode-{}", cfg.stream))
                .spawn(move || bridge(&app, &srx, &tx, label, on_error, csv, mark, drops))
                .map_err(|e| Failure::runtime(format!("cannot start a decoder thread: {e}")))?;
            continue;
        };
        // An `async` stream (DESIGN 8.2): `workers` threads decode the source's batches in
        // order into the stream's queue, shared by its sources.
        let queue = match queues.iter().find(|(s, _)| *s == p.stream) {
            Some((_, q)) => q.clone(),
            None => {
                let q = stream_queue(&app, p, &tx, metrics)?;
                queues.push((p.stream, q.clone()));
                q
            }
        };
        let decoder = Decoder {
            label: label.to_owned(),
            on_bad: on_error,
            csv,
            mark,
            metrics: drops.clone(),
            codec: Arc::clone(&app.codec),
            schema: app.schema,
            proto: app.proto_schema,
        };
        let reason = drop_reason(p.backpressure);
        let stream = p.stream;
        let codec = Arc::clone(&app.codec);
        let emit = move |batch: Batch| match queue.push(unbatch(&*codec, batch), |(i, _)| {
            matches!(i, Item::Remote { .. })
        }) {
            Ok(dropped) => {
                if let (Some(m), true) = (&drops, dropped > 0) {
                    m.add_dropped(stream, reason, dropped);
                }
                true
            }
            Err(_) => false,
        };
        crate::connect::pipeline::ordered_map(
            &cfg.stream,
            srx,
            p.workers,
            move |ev| decoder.items(ev),
            emit,
        )
        .map_err(|e| Failure::runtime(format!("cannot start a decoder thread: {e}")))?;
    }
    Ok(sources)
}

/// The `reason` label of events an `async` queue drops.
pub(super) fn drop_reason(backpressure: crate::connect::Backpressure) -> &'static str {
    match backpressure {
        crate::connect::Backpressure::DropOldest => "drop_oldest",
        _ => "drop",
    }
}

/// The queue of an `async` stream fed by network sources, with the thread handing its
/// events to the driver in batches of at most `"batch.max"` (and its depth to metrics).
fn stream_queue(
    app: &AppInfo,
    p: &crate::connect::PipelineDesc,
    tx: &Sender<Msg>,
    metrics: Option<&std::sync::Arc<crate::metrics::Metrics>>,
) -> Result<crate::connect::pipeline::QueueSender<Queued>, Failure> {
    let (qtx, qrx) = crate::connect::pipeline::queue(p.buffer, p.backpressure);
    let (tx, metrics, stream, batch_max) = (tx.clone(), metrics.cloned(), p.stream, p.batch_max);
    let codec = Arc::clone(&app.codec);
    std::thread::Builder::new()
        .name(format!("ef-queue-{stream}"))
        .spawn(move || {
            crate::connect::pipeline::forward(
                &qrx,
                batch_max,
                &tx,
                |q| Msg::Batch(rebatch(&*codec, q)),
                |depth| {
                    if let Some(m) = &metrics {
                        m.set_queue_depth(stream, depth as u64);
                    }
                },
            )
        })
        .map_err(|e| Failure::runtime(format!("cannot start a queue thread: {e}")))?;
    Ok(qtx)
}

/// The pipeline of the driver's own input (`--input`, stdin or the app's file sources,
/// read as one sequence): that of the first `async` stream without a source handled here
/// and without sinks (an output stream's pipeline does not concern the input).
pub(super) fn input_pipeline(app: &AppInfo) -> Option<crate::connect::PipelineDesc> {
    app.pipelines
        .iter()
        .find(|p| {
            !app.connectors.iter().any(|c| {
                c.stream == p.stream
                    && (c.direction == Direction::Sink
                        || (c.direction == Direction::Source && handled(c)))
            })
        })
        .copied()
}

/// What a source does with a message it cannot decode (`"on.error"`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum OnBad {
    /// Report on stderr and skip.
    Log,
    /// Skip silently (counted among the bad lines).
    Drop,
    /// Send to the fault stream `!Name` (`connect::fault`).
    Fault,
    /// Stop the app (exit code 1).
    Fail,
}

impl OnBad {
    /// A source's `"on.error"` (`None`: not given, the default `log`); `None` when the value
    /// is none of these (sema rejects it first).
    pub(super) fn of(option: Option<&str>) -> Option<OnBad> {
        match option.map(str::to_ascii_lowercase).as_deref() {
            None | Some("log") => Some(OnBad::Log),
            Some("drop") => Some(OnBad::Drop),
            Some("fault") => Some(OnBad::Fault),
            Some("fail") => Some(OnBad::Fail),
            Some(_) => None,
        }
    }
}

/// Decodes a source's batches into driver items until either side goes away.
#[allow(clippy::too_many_arguments)]
pub(super) fn bridge(
    app: &AppInfo,
    rx: &crossbeam_channel::Receiver<SourceEvent>,
    tx: &Sender<Msg>,
    label: &str,
    on_bad: OnBad,
    csv: bool,
    mark: Option<std::sync::Arc<crate::connect::tracked::SourceCell>>,
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
) {
    let decoder = Decoder {
        label: label.to_owned(),
        on_bad,
        csv,
        mark,
        metrics,
        codec: Arc::clone(&app.codec),
        schema: app.schema,
        proto: app.proto_schema,
    };
    for ev in rx {
        let batch = decoder.items(ev);
        if !batch.items.is_empty() && tx.send(Msg::Batch(batch)).is_err() {
            return;
        }
    }
}

/// What turns a source's messages into driver items: its `"on.error"`, format and
/// tracking cell. Shared by the decoding threads of an `async` stream.
pub(super) struct Decoder {
    label: String,
    on_bad: OnBad,
    csv: bool,
    mark: Option<std::sync::Arc<crate::connect::tracked::SourceCell>>,
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
    codec: Arc<dyn super::erased::Codec>,
    schema: fn(&str) -> &'static [(&'static str, &'static str)],
    /// The gRPC service's layout, for [`SourceEvent::Proto`].
    proto: Option<&'static crate::connect::protobuf::ProtoSchema>,
}

impl Decoder {
    /// `text` is the message the source got (empty when none arrived), `reason` what is
    /// wrong with it, `at` where it came from, `arrival` the batch's arrival time; a fault
    /// event goes to `events`.
    fn bad(
        &self,
        events: &mut super::erased::Events,
        stream: &str,
        text: &str,
        reason: &str,
        at: String,
        arrival: i64,
    ) -> Option<Item> {
        let (on_bad, csv, metrics) = (self.on_bad, self.csv, &self.metrics);
        let message = format!("{at}: {reason}");
        match on_bad {
            OnBad::Drop => {
                // Counted in `eventflux_dropped_events_total{reason="undecodable"}`.
                if let Some(m) = metrics {
                    m.add_dropped(stream, "undecodable", 1);
                }
                None
            }
            OnBad::Fault => {
                let (ts, data) = if csv {
                    (None, text)
                } else {
                    split_message(stream, text).unwrap_or((None, text))
                };
                let schema = (self.schema)(stream);
                let codec = &*self.codec;
                let decode = |s: &str, d: &str| codec.decode_into(s, d, events);
                Some(
                    match fault_event(stream, data, csv, schema, reason, decode) {
                        Some(()) => Item::Remote {
                            ts: ts.or(Some(arrival)),
                        },
                        None => Item::RemoteBad {
                            message,
                            fatal: false,
                        },
                    },
                )
            }
            OnBad::Log => Some(Item::RemoteBad {
                message,
                fatal: false,
            }),
            OnBad::Fail => Some(Item::RemoteBad {
                message,
                fatal: true,
            }),
        }
    }

    /// The items of one message batch of the source, with their events.
    fn items(&self, ev: SourceEvent) -> Batch {
        let (csv, label, mark, metrics) =
            (self.csv, self.label.as_str(), &self.mark, &self.metrics);
        let codec = &*self.codec;
        match ev {
            SourceEvent::Batch(batch) => {
                let stream = batch.stream.as_str();
                let mut items = Vec::with_capacity(batch.len() + 1);
                let mut events = codec.events(batch.len());
                let mut last = None;
                let (mut good, mut undecodable) = (0, 0);
                let schema = (self.schema)(stream);
                // A message without `ts` takes its arrival time: one clock read per batch.
                let arrival = crate::functions::now_millis();
                for (text, line) in batch.iter() {
                    last = Some(line.position);
                    let fast = if csv {
                        None
                    } else {
                        codec.decode_message(stream, text, &mut events)
                    };
                    let decode = |s: &str, d: &str| codec.decode_into(s, d, &mut events);
                    let decoded = if let Some(ts) = fast {
                        Ok(Some(ts))
                    } else if csv {
                        decode_csv(stream, text, schema, decode).map(|e| e.map(|()| None))
                    } else {
                        decode_message(stream, text, decode).map(|(ts, ())| Some(ts))
                    };
                    match decoded {
                        // A CSV header.
                        Ok(None) => {}
                        Ok(Some(ts)) => {
                            good += 1;
                            items.push(Item::Remote {
                                ts: ts.or(Some(arrival)),
                            });
                        }
                        Err(reason) => {
                            undecodable += 1;
                            items.extend(self.bad(
                                &mut events,
                                stream,
                                text,
                                &reason,
                                format!(
                                    "{label} `{stream}` (connection {}) line {}",
                                    line.origin, line.position
                                ),
                                arrival,
                            ))
                        }
                    }
                }
                if let Some(m) = metrics {
                    m.add_events_in(stream, good);
                    m.add_bad(stream, undecodable);
                }
                if let (Some(cell), Some(position)) = (mark, last) {
                    let cell = std::sync::Arc::clone(cell);
                    items.push(Item::Mark { cell, position });
                }
                Batch { items, events }
            }
            SourceEvent::Bad {
                stream,
                position,
                origin,
                reason,
            } => {
                if let Some(m) = metrics {
                    m.add_bad(&stream, 1);
                }
                let mut events = codec.events(1);
                let items = self
                    .bad(
                        &mut events,
                        &stream,
                        "",
                        &reason,
                        format!("{label} `{stream}` (connection {origin}) line {position}"),
                        crate::functions::now_millis(),
                    )
                    .into_iter()
                    .collect();
                Batch { items, events }
            }
            SourceEvent::Proto(batch) => {
                let mut items = Vec::with_capacity(batch.len());
                let mut events = codec.events(batch.len());
                let arrival = crate::functions::now_millis();
                let stream = self.proto.and_then(|p| p.inputs.get(batch.stream));
                for (data, ts, position) in batch.iter() {
                    let decoded = match stream {
                        Some(s) => codec
                            .decode_proto_into(s, data, &mut events)
                            .map_err(|e| e.to_string()),
                        None => Err("no such input stream".to_string()),
                    };
                    match decoded {
                        Ok(()) => items.push(Item::Remote {
                            ts: ts.or(Some(arrival)),
                        }),
                        Err(reason) => {
                            let name = stream.map_or("Event", |s| s.name);
                            items.extend(self.bad(
                                &mut events,
                                name,
                                "",
                                &reason,
                                format!(
                                    "{label} `{name}` (connection {}) line {position}",
                                    batch.origin
                                ),
                                arrival,
                            ))
                        }
                    }
                }
                Batch { items, events }
            }
            SourceEvent::Closed { .. } => Batch {
                items: Vec::new(),
                events: codec.events(0),
            },
        }
    }
}

/// A stream's output route: its name and where its lines go.
pub(super) type Route = (String, Box<dyn Write + Send>);

/// Which of the app's sinks [`open_sinks`] opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "scale"), allow(dead_code))]
pub(super) enum SinkScope {
    /// Every sink (one worker).
    All,
    /// Under several workers, the sinks the process's workers share: those that do not
    /// number their messages.
    Shared,
    /// Under several workers, worker `w`'s own instance of each sink that numbers its
    /// messages (nats, kafka, postgres): a worker's lines come in the same order in a replay
    /// after a restore, the lines of several workers interleaved do not, so each worker
    /// numbers its own (as `<Stream>@w<w>` in message ids and checkpoints).
    Worker(usize),
}

/// Whether sinks of `extension` number their messages for deduplication
/// (`connect::tracked::numbered_positions`).
fn numbers_messages(extension: &str) -> bool {
    matches!(extension, "nats" | "kafka" | "postgres")
}

/// The sinks of `A` handled here (those of `scope`): (stream, writer) pairs for the output
/// writer's routes.
pub(super) fn open_sinks(
    app: &AppInfo,
    overrides: &[Override],
    metrics: Option<&std::sync::Arc<crate::metrics::Metrics>>,
    faults: Option<&crossbeam_channel::Sender<Msg>>,
    scope: SinkScope,
) -> Result<Vec<Route>, Failure> {
    let mut out: Vec<Route> = Vec::new();
    for cfg in resolved(app, Direction::Sink, overrides)? {
        let numbered = numbers_messages(&cfg.extension);
        let worker = match scope {
            SinkScope::All => None,
            SinkScope::Shared if numbered => continue,
            SinkScope::Shared => None,
            SinkScope::Worker(w) if numbered => Some(w),
            SinkScope::Worker(_) => continue,
        };
        // The sink's own name for its numbering (the route keeps the stream's).
        let own = worker.map(|w| {
            let mut own = cfg.clone();
            own.stream = format!("{}@w{w}", cfg.stream);
            own
        });
        #[cfg_attr(
            not(any(feature = "nats", feature = "kafka", feature = "postgres")),
            allow(unused_variables)
        )]
        let started = own.as_ref().unwrap_or(&cfg);
        let fail = |e: crate::connect::ConnectError| Failure::runtime(e.to_string());
        let csv = cfg.csv().map_err(fail)?;
        if csv && cfg.extension == "postgres" {
            return Err(Failure::runtime(format!(
                "stream `{}`: a postgres sink inserts rows; it takes no format = 'csv'",
                cfg.stream
            )));
        }
        if cfg.extension == "file" && cfg.option("on.error").is_none() {
            // A CSV file sink without `on.error` (the driver writes JSON-lines files itself;
            // one with `on.error` has a thread and a policy, below).
            let path = cfg
                .option("file.path")
                .or(cfg.option("path"))
                .unwrap_or("-");
            let file: Box<dyn Write + Send> = if path == "-" {
                Box::new(std::io::stdout())
            } else {
                Box::new(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .map_err(|e| {
                            Failure::runtime(format!(
                                "stream `{}`: cannot open `{path}`: {e}",
                                cfg.stream
                            ))
                        })?,
                )
            };
            out.push((cfg.stream.clone(), Box::new(CsvWriter::new(file))));
            continue;
        }
        let (sender, label): (Box<dyn LineSender>, String) = match cfg.extension.as_str() {
            "file" => (
                Box::new(crate::connect::file::FileSink::start(&cfg, 64).map_err(fail)?),
                format!("file sink `{}`", cfg.stream),
            ),
            "tcp" => (
                Box::new(TcpSink::start(&cfg, 64).map_err(fail)?),
                format!("tcp sink `{}`", cfg.stream),
            ),
            #[cfg(feature = "http")]
            "http" => (
                Box::new(crate::connect::http::HttpSink::start(&cfg, 64).map_err(fail)?),
                format!("http sink `{}`", cfg.stream),
            ),
            #[cfg(feature = "nats")]
            "nats" => (
                Box::new(crate::connect::nats::NatsSink::start(started, 64).map_err(fail)?),
                format!("nats sink `{}`", started.stream),
            ),
            #[cfg(feature = "mqtt")]
            "mqtt" => (
                Box::new(crate::connect::mqtt::MqttSink::start(&cfg, 64).map_err(fail)?),
                format!("mqtt sink `{}`", cfg.stream),
            ),
            #[cfg(feature = "grpc")]
            "grpc" => (
                Box::new(crate::connect::grpc::GrpcSink::start(&cfg, 64).map_err(fail)?),
                format!("grpc sink `{}`", cfg.stream),
            ),
            #[cfg(feature = "postgres")]
            "postgres" => (
                Box::new(crate::connect::postgres::PostgresSink::start(started, 64).map_err(fail)?),
                format!("postgres sink `{}`", started.stream),
            ),
            #[cfg(feature = "rabbitmq")]
            "rabbitmq" => (
                Box::new(crate::connect::rabbitmq::RabbitSink::start(&cfg, 64).map_err(fail)?),
                format!("rabbitmq sink `{}`", cfg.stream),
            ),
            #[cfg(feature = "kafka")]
            "kafka" => (
                Box::new(crate::connect::kafka::KafkaSink::start(started, 64).map_err(fail)?),
                format!("kafka sink `{}`", started.stream),
            ),
            other => {
                return Err(Failure::runtime(format!(
                    "stream `{}`: the `{other}` connector is not compiled into this binary",
                    cfg.stream
                )))
            }
        };
        if let Some(faults) = faults {
            sender
                .stats()
                .set_fault(fault_hook(app, &cfg.stream, csv, faults.clone()));
        }
        let mut writer = LineWriter::new(sender, label);
        if let Some(m) = metrics {
            writer = writer.count_drops(std::sync::Arc::clone(m), &cfg.stream);
        }
        if csv {
            out.push((cfg.stream.clone(), Box::new(CsvWriter::new(writer))));
        } else {
            out.push((cfg.stream.clone(), Box::new(writer)));
        }
    }
    Ok(out)
}

/// Where a sink with `'on.error' = 'fault'` sends the lines it could not deliver: each
/// becomes an event of the fault stream `!Name` (the row's attributes, the output line's
/// `ts`, `_error` = the delivery error), queued for the driver (never blocking the sink).
fn fault_hook(
    app: &AppInfo,
    stream: &str,
    csv: bool,
    faults: crossbeam_channel::Sender<Msg>,
) -> crate::connect::sink::FaultHook {
    let stream = stream.to_owned();
    let schema = app.schema;
    let codec = Arc::clone(&app.codec);
    Box::new(move |lines: &[u8], error: &str| {
        let text = String::from_utf8_lossy(lines);
        let arrival = crate::functions::now_millis();
        let mut items = Vec::new();
        let mut events = codec.events(0);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (ts, data) = if csv {
                (None, line.to_owned())
            } else {
                match serde_json::from_str::<serde_json::Value>(line) {
                    Ok(v) => (
                        v.get("ts").and_then(serde_json::Value::as_i64),
                        v.get("data").map_or_else(String::new, ToString::to_string),
                    ),
                    Err(_) => (None, String::new()),
                }
            };
            let reason = format!("not delivered: {error}");
            let decode = |s: &str, d: &str| codec.decode_into(s, d, &mut events);
            if fault_event(&stream, &data, csv, schema(&stream), &reason, decode).is_some() {
                items.push(Item::Remote {
                    ts: ts.or(Some(arrival)),
                });
            }
        }
        items.is_empty() || faults.send(Msg::Batch(Batch { items, events })).is_ok()
    })
}

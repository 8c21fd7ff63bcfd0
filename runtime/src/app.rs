//! The interface every generated `App` implements, used by the drivers in [`crate::cli`].

use serde::{Deserialize, Serialize};

/// Whether an output event is a current (arriving) or an expired (leaving) event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    /// An arriving event.
    Current,
    /// An event leaving a window.
    Expired,
}

impl EventKind {
    /// `"current"` or `"expired"`, as printed in JSON lines.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Current => "current",
            EventKind::Expired => "expired",
        }
    }
}

/// Why the `data` of an input line could not become a typed event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The line names a stream the app does not accept events for.
    #[error("unknown stream `{0}`")]
    UnknownStream(String),
    /// The `data` does not fit the stream's schema (wrong type, unknown attribute, ...).
    #[error("bad data for stream `{stream}`: {message}")]
    Data {
        /// The stream named by the line.
        stream: String,
        /// What was wrong.
        message: String,
    },
}

/// A compiled application, as seen by the generic drivers (JSON-lines runner, bench).
///
/// Generated code implements this for `App<S>`, where `S` is the output sink.
pub trait Application: Sized {
    /// One typed input event of any input stream (a generated enum). Events are decoded on
    /// the driver's input thread, hence `Send`.
    type Input: Send + 'static;
    /// Where output events go.
    type Sink;
    /// A row of a stream crossing from a partition to worker 0 (DESIGN 11; a generated
    /// enum of those streams' rows), `()` for an app without such a stream.
    type Crossing: crate::scale::ScaleInput;

    /// A fresh app writing to `sink`.
    fn with_sink(sink: Self::Sink) -> Self;
    /// The sink, e.g. to flush it or read its counters.
    fn sink_mut(&mut self) -> &mut Self::Sink;
    /// Names of the streams `decode` accepts.
    fn input_streams() -> &'static [&'static str];
    /// Names of the streams printed by default (every stream that is not an input).
    fn output_streams() -> &'static [&'static str];
    /// Decodes the JSON text of a line's `data` (an object or an array in attribute order).
    fn decode(stream: &str, data: &str) -> Result<Self::Input, DecodeError>;
    /// Reads the `data` of an event of `stream` at the scanner's position in one pass (the
    /// stream's generated [`crate::io::fast::FastDecode`]), for
    /// [`crate::io::fast::decode_line`]; `None` when it declines, and then the driver
    /// decodes the line with [`Application::decode`], which decides. `None` by default.
    fn fast_decode(
        stream: &str,
        scanner: &mut crate::io::fast::Scanner<'_>,
    ) -> Option<Self::Input> {
        let _ = (stream, scanner);
        None
    }
    /// Decodes an event of `stream` from its protobuf stream message (the app's gRPC service,
    /// DESIGN 8.3). Generated for an app with the service; an error by default.
    fn decode_proto(
        stream: &str,
        data: crate::connect::protobuf::ProtoData<'_>,
    ) -> Result<Self::Input, DecodeError> {
        let _ = data;
        Err(DecodeError::Data {
            stream: stream.to_owned(),
            message: "this app was built without its gRPC service".to_owned(),
        })
    }
    /// Processes one event at time `ts` (ms); timers due at or before `ts` fire first.
    fn send(&mut self, ts: i64, event: Self::Input);
    /// Moves the clock to `ts`, firing every timer due at or before it.
    fn advance_time(&mut self, ts: i64);
    /// The earliest pending timer, if any (used by the wall-clock scheduler).
    fn next_timer(&self) -> Option<i64>;
    /// Called once before the first event with the start time (fires `AT START` triggers).
    fn start(&mut self, ts: i64);
    /// The app's clock once it has started (also after [`Application::restore`]), `None`
    /// before: the driver continues from it (an event without `ts` right after a restore
    /// gets the restored time, not 0). `None` by default.
    fn clock(&self) -> Option<i64> {
        None
    }
    /// Whether the app was compiled with [`Application::snapshot`] and
    /// [`Application::restore`] (`false`: they return nothing and
    /// [`crate::state::StateError::NotKept`]).
    const KEEPS_STATE: bool = true;
    /// All state as snapshot bytes (see [`crate::state`]).
    fn snapshot(&self) -> Vec<u8>;
    /// Restores state taken by [`Application::snapshot`].
    fn restore(&mut self, bytes: &[u8]) -> Result<(), crate::state::StateError>;
    /// Restores this worker's share of a checkpoint taken on several workers (DESIGN 11),
    /// `snapshots` being every worker's [`Application::snapshot`] in worker order: all state
    /// but the partitions' keys from the first (worker 0's), and each partition's keys from
    /// every snapshot, keeping those whose [`crate::scale::key_hash`] `owns` says are this
    /// worker's. So a restart may use another number of workers (rescaling). By default
    /// (an app without partitions split across workers) the first snapshot, whole.
    fn restore_keys(
        &mut self,
        snapshots: &[Vec<u8>],
        owns: &dyn Fn(u64) -> bool,
    ) -> Result<(), crate::state::StateError> {
        let _ = owns;
        match snapshots.first() {
            Some(first) => self.restore(first),
            None => Ok(()),
        }
    }
    /// An error that stops the app: a Redis table with `"redis.on_error" = 'fail'` that
    /// failed (`table::RedisTable`, with the `redis` feature). The driver checks
    /// it after every input line and ends the run with it (exit code 1). None by default.
    fn failure(&self) -> Option<String> {
        None
    }
    /// Streams with a source of their own (`WITH (type = 'source', extension = 'file',
    /// "file.path" = ...)`): stream name and path (`-` for stdin). None by default.
    fn sources() -> &'static [(&'static str, &'static str)] {
        &[]
    }
    /// Streams with a sink of their own (`WITH (type = 'sink', ...)`): stream name and path
    /// (`-` for stdout). None by default.
    fn sinks() -> &'static [(&'static str, &'static str)] {
        &[]
    }
    /// Every source and sink declared on the app's streams, with raw option values
    /// (DESIGN 8.1; see [`crate::connect`]). None by default.
    fn connectors() -> &'static [crate::connect::ConnectorDesc] {
        &[]
    }
    /// The attributes (name, type name: `INT`, `STRING`, ...) of the streams read by a
    /// `format = 'csv'` source, in order; empty for other streams.
    fn schema(_stream: &str) -> &'static [(&'static str, &'static str)] {
        &[]
    }
    /// The layout of the app's gRPC service (DESIGN 8.3), when it was compiled with it (an
    /// app with a `grpc` connector, or `eventflux build --grpc`). None by default.
    fn proto_schema() -> Option<&'static crate::connect::protobuf::ProtoSchema> {
        None
    }
    /// The streams fed through an `async` queue (DESIGN 8.2). None by default.
    fn pipelines() -> &'static [crate::connect::PipelineDesc] {
        &[]
    }
    /// Whether the app runs on several workers (DESIGN 11, [`crate::scale`]): it has a
    /// partition whose queries neither read nor write tables (their rows may feed queries
    /// outside it: [`Application::CROSSING`]), and every input stream is read either only by
    /// one partition (by its key) or only by queries outside partitions. `false` by default: `--workers N` then runs one worker.
    const SCALABLE: bool = false;
    /// Where an input event goes when the app runs on several workers: to the owner of its
    /// partition key, or to worker 0. Worker 0 by default.
    fn route(event: &Self::Input) -> crate::scale::Route {
        let _ = event;
        crate::scale::Route::Worker0
    }
    /// Tells a worker that the first event of partition `partition` came at `ts` (on any
    /// worker), so that the partition's `PURGE AFTER` timer keeps the single-worker phase.
    fn partition_started(&mut self, partition: usize, ts: i64) {
        let _ = (partition, ts);
    }
    /// Whether a stream written inside a partition is read by queries outside it (DESIGN
    /// 11): on several workers its rows cross to worker 0, which runs those queries. `false`
    /// by default.
    const CROSSING: bool = false;
    /// Makes the app hand the rows of its crossing streams to
    /// [`Application::take_crossing`] instead of running the queries outside partitions on
    /// them (the queries inside partitions still run). Nothing by default.
    fn hand_over_crossing(&mut self) {}
    /// Moves the rows handed over since the last call into `out`, in the order they were
    /// made: `(ts, row)`. None by default.
    fn take_crossing(&mut self, out: &mut Vec<(i64, Self::Crossing)>) {
        let _ = out;
    }
    /// Runs the queries outside partitions on a row taken by
    /// [`Application::take_crossing`] (on any worker) at time `ts`. Nothing by default.
    fn send_crossing(&mut self, ts: i64, row: Self::Crossing) {
        let _ = (ts, row);
    }
}

/// Decodes the JSON text of one event of `stream` (an object or an array in attribute
/// order) into its generated struct.
pub fn decode<T: serde::de::DeserializeOwned>(stream: &str, data: &str) -> Result<T, DecodeError> {
    serde_json::from_str(data).map_err(|e| DecodeError::Data {
        stream: stream.to_owned(),
        message: e.to_string(),
    })
}

/// How deeply events may nest when queries feed streams in a cycle (`A -> B -> A`).
pub const MAX_DEPTH: u32 = 256;

/// Reports, once per app, that an event was dropped because a cycle between streams nested
/// deeper than [`MAX_DEPTH`].
pub fn report_cycle(reported: &mut bool, stream: &str) {
    if !*reported {
        *reported = true;
        eprintln!(
            "eventflux: events looped through stream `{stream}` more than {MAX_DEPTH} levels deep; \
             the event that would go deeper is dropped (the queries form a cycle)"
        );
    }
}

impl crate::state::persist::Save for EventKind {
    /// As its serde form: the variant's index (`u32`).
    fn save(&self, w: &mut crate::state::persist::Writer) {
        w.put_u32(match self {
            EventKind::Current => 0,
            EventKind::Expired => 1,
        });
    }
}

impl crate::state::persist::Load for EventKind {
    fn load(r: &mut crate::state::persist::Reader<'_>) -> Result<Self, crate::state::StateError> {
        match r.u32()? {
            0 => Ok(EventKind::Current),
            1 => Ok(EventKind::Expired),
            _ => Err(r.error("bad event kind")),
        }
    }
}

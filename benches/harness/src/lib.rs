//! # eventflux-bench
//!
//! Support for the benchmarks in `benches/` (see `BENCHMARKS.md` at the repository root):
//!
//! - [`data`]: a deterministic generator of `Trades` events as JSON lines (the `bench-gen`
//!   binary writes them to files), and of many-query apps for the compile-time measurements;
//! - [`baseline`]: the queries of `benches/apps/*.eventflux` written by hand in plain Rust
//!   over the same typed events (`Option` fields, `Arc<str>` strings), so the throughput of
//!   the generated code can be reported as a ratio of hand-written code;
//! - [`harness`]: the measurement loop of `eventflux bench`, reproduced for the baselines
//!   (decode once, replay N times with shifted timestamps, time only the replays, count
//!   outputs), and a printer of output events in the format of `eventflux run`, so that a
//!   baseline's output can be diffed against the generated app's.
//!
//! The crate depends on no workspace crate, so the baselines stay put (and keep building)
//! while the compiler and runtime change.
//!
//! ```
//! use eventflux_bench::baseline::FilterProjection;
//! use eventflux_bench::data::{trades, TradesSpec};
//! use eventflux_bench::{CountingSink, Query};
//!
//! let mut q = FilterProjection::new(CountingSink::default());
//! for (ts, event) in trades(&TradesSpec { events: 1000, ..TradesSpec::default() }) {
//!     q.send_trades(ts, event);
//! }
//! assert!(q.sink_mut().events > 800); // about 90% of the trades pass the filter
//! ```

pub mod baseline;
pub mod data;
mod fx;
pub mod harness;

use std::io::Write;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// An event of stream `Trades (symbol STRING, price DOUBLE, volume LONG NOT NULL)`: the same
/// struct the compiler generates for it (nullable attributes are `Option`s, strings
/// `Arc<str>`), decoded from JSON the same way.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trades {
    /// `symbol` (STRING).
    #[serde(default)]
    pub symbol: Option<Arc<str>>,
    /// `price` (DOUBLE).
    #[serde(default)]
    pub price: Option<f64>,
    /// `volume` (LONG NOT NULL).
    pub volume: i64,
}

/// Where a query's output events go (the role of the runtime's `EventSink`). Every
/// baseline emits current events only.
pub trait Sink {
    /// Takes one output event of `stream` at `ts`.
    fn emit<T: Serialize>(&mut self, stream: &'static str, ts: i64, row: &T);
}

/// Counts output events (what `eventflux bench` uses).
#[derive(Debug, Default)]
pub struct CountingSink {
    /// Events emitted so far.
    pub events: u64,
}

impl Sink for CountingSink {
    #[inline]
    fn emit<T: Serialize>(&mut self, _stream: &'static str, _ts: i64, _row: &T) {
        self.events += 1;
    }
}

/// Prints output events as JSON lines exactly like `eventflux run`:
/// `{"stream":"Out","ts":1000,"kind":"current","data":{...}}`.
pub struct JsonLinesSink {
    out: Box<dyn Write>,
    line: Vec<u8>,
    /// The first write error; later events are dropped.
    pub error: Option<std::io::Error>,
}

impl JsonLinesSink {
    /// A printer writing to `out` (buffer it).
    pub fn new(out: Box<dyn Write>) -> Self {
        JsonLinesSink {
            out,
            line: Vec::with_capacity(256),
            error: None,
        }
    }

    /// Flushes the output; the first error, if any.
    pub fn finish(mut self) -> std::io::Result<()> {
        match self.error.take() {
            Some(e) => Err(e),
            None => self.out.flush(),
        }
    }
}

impl Sink for JsonLinesSink {
    fn emit<T: Serialize>(&mut self, stream: &'static str, ts: i64, row: &T) {
        if self.error.is_some() {
            return;
        }
        self.line.clear();
        let line = &mut self.line;
        line.extend_from_slice(b"{\"stream\":");
        let formatted = serde_json::to_writer(&mut *line, stream)
            .map_err(std::io::Error::from)
            .and_then(|()| write!(line, ",\"ts\":{ts},\"kind\":\"current\",\"data\":"))
            .and_then(|()| serde_json::to_writer(&mut *line, row).map_err(Into::into));
        line.extend_from_slice(b"}\n");
        if let Err(e) = formatted.and_then(|()| self.out.write_all(line)) {
            self.error = Some(e);
        }
    }
}

/// A benchmark query, written by hand: the role of a generated `App`. Its input streams all
/// have the schema of `Trades` (most queries read only `Trades` itself).
pub trait Query<S: Sink>: Sized {
    /// The output stream's name.
    const OUTPUT: &'static str;
    /// The input streams' names; [`Query::send`] gets an index into them.
    const INPUTS: &'static [&'static str] = &["Trades"];
    /// A fresh query writing to `sink`.
    fn new(sink: S) -> Self;
    /// One `Trades` event at `ts` (ms); timers due at or before `ts` fire first.
    fn send_trades(&mut self, ts: i64, event: Trades);
    /// One event of input stream `INPUTS[input]` at `ts` (ms); timers due at or before `ts`
    /// fire first. The default serves queries whose only input is `Trades`.
    #[inline]
    fn send(&mut self, input: usize, ts: i64, event: Trades) {
        debug_assert_eq!(input, 0, "{} reads only Trades", Self::OUTPUT);
        self.send_trades(ts, event);
    }
    /// Moves the clock to `ts`, firing every timer due at or before it.
    fn advance_time(&mut self, ts: i64);
    /// The sink.
    fn sink_mut(&mut self) -> &mut S;
    /// Consumes the query, returning its sink.
    fn into_sink(self) -> S;
}

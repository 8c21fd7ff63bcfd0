//! The measurement loop of `eventflux bench` (runtime `cli/bench.rs`), reproduced step for
//! step for the hand-written baselines, so both sides of a ratio are timed the same way:
//! the input is decoded once into typed events; each replay works on its own clone of
//! them, made before its clock starts, and is shifted in time by the input's span + 1 so
//! time keeps moving forward; only the replay loops are timed; outputs are counted.

use std::io::BufRead;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::{CountingSink, Query, Sink, Trades};

/// Decoded input: `(ts, Some((input, event)))` for an event of the query's input stream
/// `input` (an index into [`Query::INPUTS`]; every input stream has the schema of `Trades`),
/// `(ts, None)` for clock ticks.
pub type Decoded = Vec<(i64, Option<(usize, Trades)>)>;

/// One input line (docs/running.md#json-lines): an event of an input stream, or `{"ts": N}`.
#[derive(Deserialize)]
struct Line {
    #[serde(default)]
    stream: Option<String>,
    #[serde(default)]
    ts: Option<i64>,
    #[serde(default)]
    data: Option<Trades>,
}

/// Decodes JSON lines of events of the streams `streams` (each with the schema of `Trades`;
/// an event's input index is its stream's position in `streams`). A missing `ts` is the
/// previous line's (0 at first). Unlike `eventflux run`, any bad line is an error (the
/// inputs are generated).
pub fn decode(input: impl BufRead, streams: &[&str]) -> Result<Decoded, String> {
    let mut out = Vec::new();
    let mut now = 0;
    for (i, line) in input.lines().enumerate() {
        let line = line.map_err(|e| format!("cannot read input: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |m: String| format!("line {}: {m}", i + 1);
        let parsed: Line = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        now = parsed.ts.unwrap_or(now);
        let input = parsed
            .stream
            .as_deref()
            .map(|name| streams.iter().position(|s| *s == name).ok_or(name));
        match (input, parsed.data) {
            (Some(Ok(i)), Some(event)) => out.push((now, Some((i, event)))),
            (None, None) if parsed.ts.is_some() => out.push((now, None)),
            (Some(Err(other)), _) => return Err(bad(format!("unknown stream `{other}`"))),
            _ => {
                return Err(bad(
                    "not an event of an input stream nor a clock tick".into()
                ))
            }
        }
    }
    Ok(out)
}

/// What one benchmark measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BenchStats {
    /// Events sent (per replay times replays).
    pub events: u64,
    /// Time spent in the replay loops.
    pub seconds: f64,
    /// Output events counted.
    pub outputs: u64,
}

impl BenchStats {
    /// Events per second.
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.events as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// The line `eventflux bench` prints:
    /// `{"events": E, "seconds": S, "events_per_sec": R, "outputs": O}`.
    pub fn to_json_line(self) -> String {
        format!(
            "{{\"events\": {}, \"seconds\": {}, \"events_per_sec\": {}, \"outputs\": {}}}",
            self.events,
            self.seconds,
            self.rate(),
            self.outputs
        )
    }
}

/// Replays `events` `repeat` times through a fresh `Q`, timing only the replays.
pub fn replay<Q: Query<CountingSink>>(events: Decoded, repeat: u32) -> BenchStats {
    let first = events.first().map_or(0, |e| e.0);
    let (lo, hi) = events
        .iter()
        .fold((first, first), |(lo, hi), e| (lo.min(e.0), hi.max(e.0)));
    let span = hi.saturating_sub(lo).saturating_add(1);
    let per_replay = events.iter().filter(|e| e.1.is_some()).count() as u64;
    let mut query = Q::new(CountingSink::default());
    let mut elapsed = Duration::ZERO;
    let mut events = Some(events);
    for r in 0..repeat {
        let shift = span.saturating_mul(i64::from(r));
        let batch = if r + 1 == repeat {
            events.take().unwrap_or_default()
        } else {
            events.clone().unwrap_or_default()
        };
        let clock = Instant::now();
        for (ts, event) in batch {
            match event {
                Some((input, event)) => query.send(input, ts.saturating_add(shift), event),
                None => query.advance_time(ts.saturating_add(shift)),
            }
        }
        elapsed += clock.elapsed();
    }
    BenchStats {
        events: per_replay * u64::from(repeat),
        seconds: elapsed.as_secs_f64(),
        outputs: query.sink_mut().events,
    }
}

/// Runs `events` once through a `Q` writing to `sink` (event clock), returning the sink.
pub fn run<S: Sink, Q: Query<S>>(events: Decoded, sink: S) -> S {
    let mut query = Q::new(sink);
    for (ts, event) in events {
        match event {
            Some((input, event)) => query.send(input, ts, event),
            None => query.advance_time(ts),
        }
    }
    query.into_sink()
}

//! `--bench`: the throughput of the compiled app alone (docs/running.md#the-eventflux-command).
//!
//! The input is decoded once into typed events; they are replayed `--repeat` times through
//! one app whose sink only counts, each replay shifted in time by the input's time span + 1
//! so that time keeps moving forward. Only the replay loops are timed: each replay works on
//! its own clone of the decoded events, made before its clock starts.

use std::io::{self, BufRead, Write};
use std::time::{Duration, Instant};

use super::args::{self, Args};
use super::{Failure, RunError};
use crate::io::{CountingSink, JsonLinesReader, LineRef};
use crate::Application;

/// The decoded input: `(ts, Some(event))` for events, `(ts, None)` for clock ticks.
pub(super) type Decoded<I> = Vec<(i64, Option<I>)>;

/// The result line's numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct BenchStats {
    pub events: u64,
    pub seconds: f64,
    pub outputs: u64,
    /// Resident memory (KiB) after the first and after the last replay, where the platform
    /// tells (Linux): the app's state must not grow with the number of replays (a sliding
    /// window has flat memory however long it runs).
    pub rss_kib: Option<(u64, u64)>,
}

impl BenchStats {
    /// `{"events": E, "seconds": S, "events_per_sec": R, "outputs": O}`, then
    /// `"rss_kib_first": F, "rss_kib_last": L` when known.
    pub fn to_json_line(self) -> String {
        let rate = if self.seconds > 0.0 {
            self.events as f64 / self.seconds
        } else {
            0.0
        };
        let num = |x: f64| serde_json::to_string(&x).unwrap_or_else(|_| "null".into());
        let rss = self
            .rss_kib
            .map(|(first, last)| format!(", \"rss_kib_first\": {first}, \"rss_kib_last\": {last}"))
            .unwrap_or_default();
        format!(
            "{{\"events\": {}, \"seconds\": {}, \"events_per_sec\": {}, \"outputs\": {}{rss}}}",
            self.events,
            num(self.seconds),
            num(rate),
            self.outputs
        )
    }
}

/// Decodes every line of `input` with the event-clock rules of [`run`](super::run): a
/// missing `ts` is the previous line's. Bad lines are reported on `errors` and skipped, or
/// end decoding under `strict`.
pub(super) fn decode_all<B: Application>(
    input: impl BufRead,
    strict: bool,
    errors: &mut impl Write,
) -> Result<Decoded<B::Input>, RunError> {
    let mut out = Vec::new();
    let mut now = 0;
    let mut reader = JsonLinesReader::new(input);
    while let Some(item) = reader.next_line() {
        let bad = match item {
            Ok(LineRef::Event {
                line_no,
                stream,
                ts,
                data,
            }) => match B::decode(&stream, data) {
                Ok(event) => {
                    now = ts.unwrap_or(now);
                    out.push((now, Some(event)));
                    continue;
                }
                Err(e) => (line_no, e.to_string()),
            },
            Ok(LineRef::Tick { ts, .. }) => {
                now = ts;
                out.push((now, None));
                continue;
            }
            Err(e) => (e.line_no, e.message),
        };
        if strict {
            return Err(RunError::BadLine {
                line_no: bad.0,
                message: bad.1,
            });
        }
        let _ = writeln!(errors, "line {}: {}", bad.0, bad.1);
    }
    match reader.take_io_error() {
        Some(e) => Err(RunError::Io(e)),
        None => Ok(out),
    }
}

/// Replays `events` `repeat` times through a fresh `B`, timing only the replays.
pub(super) fn replay<B>(events: Decoded<B::Input>, repeat: u32) -> BenchStats
where
    B: Application<Sink = CountingSink>,
    B::Input: Clone,
{
    let first = events.first().map_or(0, |e| e.0);
    let (lo, hi) = events
        .iter()
        .fold((first, first), |(lo, hi), e| (lo.min(e.0), hi.max(e.0)));
    let span = hi.saturating_sub(lo).saturating_add(1);
    let per_replay = events.iter().filter(|e| e.1.is_some()).count() as u64;
    let mut app = B::with_sink(CountingSink::new());
    app.start(first);
    let mut elapsed = Duration::ZERO;
    let mut rss_first = None;
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
                Some(event) => app.send(ts.saturating_add(shift), event),
                None => app.advance_time(ts.saturating_add(shift)),
            }
        }
        elapsed += clock.elapsed();
        if r == 0 {
            rss_first = resident_kib();
        }
    }
    BenchStats {
        events: per_replay * u64::from(repeat),
        seconds: elapsed.as_secs_f64(),
        outputs: app.sink_mut().events,
        rss_kib: rss_first.zip(resident_kib()),
    }
}

/// The process's resident memory in KiB (`VmRSS` of `/proc/self/status`), where available.
fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The whole `--bench` command.
pub(super) fn bench<B>(args: &Args) -> Result<(), Failure>
where
    B: Application<Sink = CountingSink>,
    B::Input: Clone,
{
    let input = args::open_input(&args.input)?;
    let events = match decode_all::<B>(input, args.strict, &mut io::stderr()) {
        Ok(events) => events,
        Err(e @ RunError::BadLine { .. }) => return Err(Failure::usage(format!("{e} (--strict)"))),
        Err(e) => return Err(Failure::runtime(e.to_string())),
    };
    let stats = replay::<B>(events, args.repeat);
    let mut out = args::open_output(&args.output)?;
    writeln!(out, "{}", stats.to_json_line())
        .and_then(|()| out.flush())
        .map_err(|e| Failure::runtime(format!("cannot write output: {e}")))
}

//! What sinks share: the `on.error` policy (DESIGN 8.2) and its delivery loop, and counters.

use super::{ConnectError, ConnectorConfig};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What a sink does when a send fails (`'on.error'`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnError {
    /// Log and skip the batch.
    Log,
    /// Skip the batch silently (counted).
    Drop,
    /// Retry `max` times with exponential backoff from `backoff`, then log and skip.
    Retry {
        /// Attempts after the first.
        max: u32,
        /// The first pause.
        backoff: Duration,
    },
    /// Retry until the peer recovers (the app waits: backpressure).
    Wait {
        /// The first pause (doubles up to 5 s).
        backoff: Duration,
    },
    /// Send the rows to the stream's fault stream `!Name` with the error (tcp and http
    /// sinks; see [`SinkStats::set_fault`]).
    Fault,
    /// Stop the app.
    Fail,
}

/// Where a sink with `'on.error' = 'fault'` hands the lines it could not deliver, with the
/// error (the driver turns them into events of the fault stream).
pub type FaultHook = Box<dyn Fn(&[u8], &str) + Send + Sync>;

/// The sinks that can send undelivered rows to the fault stream.
pub const FAULT_SINKS: &[&str] = &["tcp", "http"];

/// The longest pause between attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl OnError {
    /// The policy of a sink; `default` when `on.error` is not given.
    pub fn of(cfg: &ConnectorConfig, default: OnError) -> Result<OnError, ConnectError> {
        let backoff = match cfg.option("retry.backoff") {
            None => Duration::from_millis(100),
            Some(v) => Duration::from_millis(
                parse_millis(v)
                    .ok_or_else(|| cfg.bad("retry.backoff", format!("`{v}` is not a duration")))?,
            ),
        };
        let max = cfg.number("retry.max", 3u32)?;
        Ok(
            match cfg
                .option("on.error")
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                None => default,
                Some("log") => OnError::Log,
                Some("drop") => OnError::Drop,
                Some("retry") => OnError::Retry { max, backoff },
                Some("wait") => OnError::Wait { backoff },
                Some("fail") => OnError::Fail,
                Some("fault") if FAULT_SINKS.contains(&cfg.extension.as_str()) => OnError::Fault,
                Some("fault") => {
                    return Err(cfg.bad(
                        "on.error",
                        format!(
                            "'fault' is supported on {} sinks",
                            FAULT_SINKS.join(" and ")
                        ),
                    ))
                }
                Some(other) => return Err(cfg.bad("on.error", format!("unknown value `{other}`"))),
            },
        )
    }
}

/// `'100'` (ms), `'100 ms'`, `'2 s'`, `'1 min'`.
pub fn parse_millis(value: &str) -> Option<u64> {
    let v = value.trim();
    let digits = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let n: u64 = v[..digits].parse().ok()?;
    let factor = match v[digits..].trim().to_ascii_lowercase().as_str() {
        "" | "ms" | "millisecond" | "milliseconds" => 1,
        "s" | "sec" | "second" | "seconds" => 1000,
        "min" | "minute" | "minutes" => 60_000,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// Counters of one sink, shared with its thread.
#[derive(Debug, Default)]
pub struct SinkStats {
    /// Where `'on.error' = 'fault'` sends undelivered lines (set once, by the driver).
    pub fault: FaultSlot,
    /// Events delivered.
    pub sent: AtomicU64,
    /// Events given up on (`log`, `drop`, `retry` exhausted).
    pub dropped: AtomicU64,
    /// Failed attempts.
    pub errors: AtomicU64,
    /// Set when `fail` gave up: the app should stop.
    pub failed: AtomicBool,
}

/// The fault hook of a sink, set at most once.
#[derive(Default)]
pub struct FaultSlot(std::sync::OnceLock<FaultHook>);

impl std::fmt::Debug for FaultSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "FaultSlot(set)"
        } else {
            "FaultSlot(unset)"
        })
    }
}

impl SinkStats {
    /// Sets where undelivered lines go under `'on.error' = 'fault'` (once; later calls are
    /// ignored).
    pub fn set_fault(&self, hook: FaultHook) {
        let _ = self.fault.0.set(hook);
    }

    /// Hands undelivered `lines` with `error` to the fault hook; `false` when none is set
    /// (the lines are then counted as dropped).
    pub fn fault(&self, lines: &[u8], events: u64, error: &str) -> bool {
        match self.fault.0.get() {
            Some(hook) => {
                hook(lines, error);
                true
            }
            None => {
                self.dropped.fetch_add(events, Ordering::Relaxed);
                false
            }
        }
    }

    /// Events delivered so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
    /// Events given up on so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Delivers one batch of `events` events with `attempt` under `policy`; `stop` ends a `wait`.
/// Returns `false` when the batch was not delivered. Never panics; logs on stderr with
/// `label` (which must not hold credentials).
pub fn deliver(
    policy: OnError,
    label: &str,
    events: u64,
    stats: &Arc<SinkStats>,
    stop: &AtomicBool,
    attempt: impl FnMut() -> Result<(), String>,
) -> bool {
    deliver_or_error(policy, label, events, stats, stop, attempt).is_ok()
}

/// [`deliver`], returning the last error when the batch was not delivered (for
/// `'on.error' = 'fault'`, whose caller hands the lines to [`SinkStats::fault`]).
pub fn deliver_or_error(
    policy: OnError,
    label: &str,
    events: u64,
    stats: &Arc<SinkStats>,
    stop: &AtomicBool,
    mut attempt: impl FnMut() -> Result<(), String>,
) -> Result<(), String> {
    let mut pause = match policy {
        OnError::Retry { backoff, .. } | OnError::Wait { backoff } => backoff,
        _ => Duration::from_millis(100),
    };
    let mut tries = 0u32;
    let mut warned = false;
    loop {
        let err = match attempt() {
            Ok(()) => {
                stats.sent.fetch_add(events, Ordering::Relaxed);
                if warned {
                    eprintln!("eventflux: {label}: delivered again");
                }
                return Ok(());
            }
            Err(e) => e,
        };
        stats.errors.fetch_add(1, Ordering::Relaxed);
        let give_up = match policy {
            OnError::Log | OnError::Drop | OnError::Fault | OnError::Fail => true,
            OnError::Retry { max, .. } => tries >= max,
            OnError::Wait { .. } => stop.load(Ordering::Relaxed),
        };
        if give_up {
            if policy != OnError::Fault {
                stats.dropped.fetch_add(events, Ordering::Relaxed);
            }
            match policy {
                OnError::Drop => {}
                OnError::Fault => {
                    eprintln!(
                        "eventflux: {label}: {err}; {events} event(s) sent to the fault stream"
                    )
                }
                OnError::Fail => {
                    eprintln!("eventflux: {label}: {err}; stopping (on.error = 'fail')");
                    stats.failed.store(true, Ordering::Relaxed);
                }
                _ => eprintln!("eventflux: {label}: {err}; {events} event(s) not delivered"),
            }
            return Err(err);
        }
        if !warned {
            eprintln!("eventflux: {label}: {err}; retrying");
            warned = true;
        }
        tries += 1;
        std::thread::sleep(pause);
        pause = (pause * 2).min(MAX_BACKOFF);
    }
}

/// A sink thread that takes whole JSON lines (`events` of them in `bytes`).
pub trait LineSender: Send {
    /// Queues the lines; waits while the sink's queue is full. `false` once the sink stopped.
    fn send_lines(&self, events: u64, bytes: Vec<u8>) -> bool;
    /// The sink's counters.
    fn stats(&self) -> &Arc<SinkStats>;
}

/// A `Write` handing whole lines to a sink thread: what the driver routes a stream's output
/// to. Lines are handed over on `flush` (the driver flushes after each input batch) or when
/// 64 KiB are buffered. A write fails only once the sink gave up for good (`on.error =
/// 'fail'`), which stops the app.
pub struct LineWriter {
    sink: Box<dyn LineSender>,
    buf: Vec<u8>,
    label: String,
    /// Where events given up on are counted (`eventflux_dropped_events_total`), with the
    /// stream, and how many were counted so far.
    metrics: Option<(Arc<crate::metrics::Metrics>, String, u64)>,
}

/// Bytes buffered before lines are handed over without a flush.
const HANDOVER: usize = 64 * 1024;

impl LineWriter {
    /// A writer feeding `sink`; `label` names it in errors.
    pub fn new(sink: Box<dyn LineSender>, label: impl Into<String>) -> Self {
        LineWriter {
            sink,
            buf: Vec::with_capacity(HANDOVER),
            label: label.into(),
            metrics: None,
        }
    }

    /// Counts the events of `stream` this sink gives up on (`on.error` `log`, `drop`,
    /// `retry` exhausted) in `metrics` under reason `sink_error`, at each hand-over.
    pub fn count_drops(mut self, metrics: Arc<crate::metrics::Metrics>, stream: &str) -> Self {
        self.metrics = Some((metrics, stream.to_owned(), 0));
        self
    }

    fn publish_drops(&mut self) {
        if let Some((metrics, stream, counted)) = &mut self.metrics {
            let dropped = self.sink.stats().dropped();
            if dropped > *counted {
                metrics.add_dropped(stream, "sink_error", dropped - *counted);
                *counted = dropped;
            }
        }
    }

    fn hand_over(&mut self) -> std::io::Result<()> {
        self.publish_drops();
        if self.sink.stats().failed.load(Ordering::Relaxed) {
            return Err(std::io::Error::other(format!("{} failed", self.label)));
        }
        let Some(last) = self.buf.iter().rposition(|&b| b == b'\n') else {
            return Ok(());
        };
        let rest = self.buf.split_off(last + 1);
        let lines = std::mem::replace(&mut self.buf, rest);
        let events = lines.iter().filter(|&&b| b == b'\n').count() as u64;
        if self.sink.send_lines(events, lines) {
            Ok(())
        } else {
            Err(std::io::Error::other(format!("{} stopped", self.label)))
        }
    }
}

impl std::io::Write for LineWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= HANDOVER {
            self.hand_over()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.hand_over()
    }
}

/// Writes everything to several writers (a stream with several sinks).
pub struct Fanout(pub Vec<Box<dyn std::io::Write + Send>>);

impl std::io::Write for Fanout {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        for w in &mut self.0 {
            w.write_all(bytes)?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.iter_mut().try_for_each(|w| w.flush())
    }
}

/// Closes a sink's queue (`tx`), lets its thread deliver what is queued for up to
/// `give_up_after`, then sets `stop` and joins the thread (the tcp and http sinks).
pub(crate) fn close_sender_thread<T>(
    tx: &mut Option<crossbeam_channel::Sender<T>>,
    thread: &mut Option<std::thread::JoinHandle<()>>,
    stop: &std::sync::atomic::AtomicBool,
    give_up_after: std::time::Duration,
) {
    drop(tx.take());
    if let Some(h) = thread.take() {
        let deadline = std::time::Instant::now() + give_up_after;
        while !h.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = h.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_gives_up_after_max_and_counts() {
        let stats = Arc::new(SinkStats::default());
        let stop = AtomicBool::new(false);
        let mut calls = 0;
        let policy = OnError::Retry {
            max: 2,
            backoff: Duration::from_millis(1),
        };
        let ok = deliver(policy, "test", 5, &stats, &stop, || {
            calls += 1;
            Err("refused".into())
        });
        assert!(!ok);
        assert_eq!(calls, 3);
        assert_eq!(stats.dropped(), 5);
        let mut calls = 0;
        let ok = deliver(policy, "test", 4, &stats, &stop, || {
            calls += 1;
            if calls < 3 {
                Err("refused".into())
            } else {
                Ok(())
            }
        });
        assert!(ok);
        assert_eq!(stats.sent(), 4);
    }

    #[test]
    fn fail_marks_the_sink() {
        let stats = Arc::new(SinkStats::default());
        let stop = AtomicBool::new(false);
        assert!(!deliver(OnError::Fail, "t", 1, &stats, &stop, || Err(
            "x".into()
        )));
        assert!(stats.failed.load(Ordering::Relaxed));
    }
}

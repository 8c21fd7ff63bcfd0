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
    /// Send the rows to the stream's fault stream `!Name` with the error (the sinks of
    /// [`FAULT_SINKS`]; see [`SinkStats::set_fault`] and [`deliver_rows`]).
    Fault,
    /// Stop the app.
    Fail,
}

/// Where a sink with `'on.error' = 'fault'` hands the lines it could not deliver, with the
/// error (the driver turns them into events of the fault stream); `false` when the fault
/// stream takes nothing any more (the run is ending).
pub type FaultHook = Box<dyn Fn(&[u8], &str) -> bool + Send + Sync>;

/// The sinks that can send undelivered rows to the fault stream: those that fail per batch
/// of rows. `mqtt` (its client queues and resends every publish until the broker takes it)
/// and `postgres` (it retries a transaction until it commits: exactly once) never give a row
/// up, and `stdout`/`log` write to the process's own output.
pub const FAULT_SINKS: &[&str] = &["file", "tcp", "http", "grpc", "nats", "rabbitmq", "kafka"];

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
                            "'fault' is supported on {} sinks (a `{}` sink never gives a row up)",
                            FAULT_SINKS.join(", "),
                            cfg.extension
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

    /// Hands undelivered `lines` with `error` to the fault hook; `false` when none is set or
    /// it takes nothing any more (the lines are then counted as dropped, and said so).
    pub fn fault(&self, lines: &[u8], events: u64, error: &str) -> bool {
        if self.fault.0.get().is_some_and(|hook| hook(lines, error)) {
            return true;
        }
        self.dropped.fetch_add(events, Ordering::Relaxed);
        if self.fault.0.get().is_some() {
            eprintln!(
                "eventflux: the fault stream is closed (the run is ending): {events} event(s) not delivered"
            );
        }
        false
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

/// [`deliver_or_error`] of one batch of rows; when it was not delivered and `policy` is
/// `fault`, the rows (`rows()`: the batch's output lines, one per event) go to the fault
/// stream with the error ([`SinkStats::fault`]). What every sink's thread calls, so each
/// sink that fails per batch supports `'on.error' = 'fault'` the same way. Returns whether
/// the batch was delivered.
#[allow(clippy::too_many_arguments)]
pub fn deliver_rows<'r>(
    policy: OnError,
    label: &str,
    events: u64,
    stats: &Arc<SinkStats>,
    stop: &AtomicBool,
    attempt: impl FnMut() -> Result<(), String>,
    rows: impl FnOnce() -> std::borrow::Cow<'r, [u8]>,
) -> bool {
    match deliver_or_error(policy, label, events, stats, stop, attempt) {
        Ok(()) => true,
        Err(e) => {
            if policy == OnError::Fault {
                stats.fault(&rows(), events, &e);
            }
            false
        }
    }
}

/// Lines `lines` joined into one buffer, each ended by a newline (the rows of a batch a
/// sink keeps as one message per line).
pub fn join_lines<'a>(lines: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out
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

/// The `async` pipeline of a sink stream (DESIGN 8.2): the query thread hands each output
/// line to a bounded queue ([`super::pipeline::queue`], `buffer` events, full according to
/// `backpressure`), a thread of its own writes batches of at most `"batch.max"` lines to the
/// stream's sinks (`inner`). `block` makes the query thread wait (so the sources slow down),
/// `drop`/`drop_oldest` drop lines, counted in `eventflux_dropped_events_total` under the
/// strategy's name. Lines are handed over at each flush (the driver flushes after each input
/// batch) or every 64 KiB. Once a sink failed for good (a write of `inner` failed), writes
/// fail, which stops the app as a synchronous sink would. Dropping it delivers what is queued.
pub struct AsyncLines {
    queue: Option<super::pipeline::QueueSender<Vec<u8>>>,
    buf: Vec<u8>,
    failed: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    label: String,
    /// Where drops are counted: metrics, stream, reason.
    metrics: Option<(Arc<crate::metrics::Metrics>, String, &'static str)>,
}

impl AsyncLines {
    /// Starts the thread writing to `inner` for the sink stream of pipeline `p`; `label`
    /// names it in errors.
    pub fn start(
        p: &super::PipelineDesc,
        mut inner: Box<dyn std::io::Write + Send>,
        metrics: Option<Arc<crate::metrics::Metrics>>,
    ) -> std::io::Result<AsyncLines> {
        let (tx, rx) = super::pipeline::queue::<Vec<u8>>(p.buffer, p.backpressure);
        let failed = Arc::new(AtomicBool::new(false));
        let label = format!("async sink stream `{}`", p.stream);
        let thread = {
            let (failed, label, batch_max) = (Arc::clone(&failed), label.clone(), p.batch_max);
            let (depth, stream) = (metrics.clone(), p.stream);
            std::thread::Builder::new()
                .name(format!("ef-sink-queue-{}", p.stream))
                .spawn(move || {
                    use super::pipeline::Recv;
                    let mut out = Vec::new();
                    loop {
                        let lines = match rx.recv_batch(batch_max, Duration::from_millis(100)) {
                            Recv::Items(lines) => lines,
                            Recv::Timeout => continue,
                            Recv::Closed => break,
                        };
                        if let Some(m) = &depth {
                            m.set_queue_depth(stream, rx.len() as u64);
                        }
                        out.clear();
                        lines.iter().for_each(|l| out.extend_from_slice(l));
                        if let Err(e) = inner.write_all(&out).and_then(|()| inner.flush()) {
                            eprintln!("eventflux: {label}: {e}; stopping");
                            failed.store(true, Ordering::Relaxed);
                            break;
                        }
                    }
                    let _ = inner.flush();
                })?
        };
        let reason = match p.backpressure {
            super::Backpressure::DropOldest => "drop_oldest",
            _ => "drop",
        };
        Ok(AsyncLines {
            queue: Some(tx),
            buf: Vec::new(),
            failed,
            thread: Some(thread),
            label,
            metrics: metrics.map(|m| (m, p.stream.to_owned(), reason)),
        })
    }

    fn hand_over(&mut self) -> std::io::Result<()> {
        if self.failed.load(Ordering::Relaxed) {
            return Err(std::io::Error::other(format!("{} failed", self.label)));
        }
        let Some(last) = self.buf.iter().rposition(|&b| b == b'\n') else {
            return Ok(());
        };
        let rest = self.buf.split_off(last + 1);
        let lines = std::mem::replace(&mut self.buf, rest);
        let items = lines
            .split_inclusive(|&b| b == b'\n')
            .map(<[u8]>::to_vec)
            .collect::<Vec<_>>();
        let Some(queue) = &self.queue else {
            return Err(std::io::Error::other(format!("{} stopped", self.label)));
        };
        match queue.push(items, |_| true) {
            Ok(dropped) => {
                if let (Some((m, stream, reason)), true) = (&self.metrics, dropped > 0) {
                    m.add_dropped(stream, reason, dropped);
                }
                Ok(())
            }
            Err(_) => Err(std::io::Error::other(format!("{} stopped", self.label))),
        }
    }
}

impl std::io::Write for AsyncLines {
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

impl Drop for AsyncLines {
    fn drop(&mut self) {
        let _ = self.hand_over();
        drop(self.queue.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
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
    fn fault_hands_undelivered_rows_to_the_hook() {
        let stats = Arc::new(SinkStats::default());
        let stop = AtomicBool::new(false);
        let got = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = Arc::clone(&got);
        stats.set_fault(Box::new(move |rows: &[u8], error: &str| {
            seen.lock().is_ok_and(|mut g| {
                g.push((String::from_utf8_lossy(rows).into_owned(), error.to_owned()));
                true
            })
        }));
        let rows = join_lines([&b"{\"a\":1}"[..], &b"{\"a\":2}"[..]]);
        let ok = deliver_rows(
            OnError::Fault,
            "t",
            2,
            &stats,
            &stop,
            || Err("refused".into()),
            || std::borrow::Cow::Borrowed(&rows[..]),
        );
        assert!(!ok);
        let ok = deliver_rows(
            OnError::Fault,
            "t",
            1,
            &stats,
            &stop,
            || Ok(()),
            || unreachable!("delivered rows never reach the fault stream"),
        );
        assert!(ok);
        // Other policies never call the hook.
        assert!(!deliver_rows(
            OnError::Log,
            "t",
            3,
            &stats,
            &stop,
            || Err("x".into()),
            || { std::borrow::Cow::Borrowed(&b"{}\n"[..]) }
        ));
        let got = got.lock().map(|g| g.clone()).unwrap_or_default();
        assert_eq!(
            got,
            vec![("{\"a\":1}\n{\"a\":2}\n".to_string(), "refused".to_string())]
        );
        // Faulted rows are not dropped; the `log` batch is.
        assert_eq!((stats.sent(), stats.dropped()), (1, 3));
    }

    #[test]
    fn fault_without_a_fault_stream_counts_the_rows_dropped() {
        let stats = Arc::new(SinkStats::default());
        let stop = AtomicBool::new(false);
        assert!(!deliver_rows(
            OnError::Fault,
            "t",
            4,
            &stats,
            &stop,
            || Err("x".into()),
            || { std::borrow::Cow::Owned(b"{}\n".to_vec()) }
        ));
        assert_eq!(stats.dropped(), 4);
        // A fault stream that takes nothing any more (the run ended): dropped too.
        stats.set_fault(Box::new(|_: &[u8], _: &str| false));
        assert!(!stats.fault(b"{}\n{}\n", 2, "x"));
        assert_eq!(stats.dropped(), 6);
    }

    #[test]
    fn fault_is_taken_by_the_sinks_that_give_rows_up() {
        let cfg = |ext: &str| ConnectorConfig {
            stream: "S".into(),
            direction: super::super::Direction::Sink,
            extension: ext.into(),
            options: vec![("on.error".into(), "fault".into())],
        };
        for ext in FAULT_SINKS {
            assert_eq!(
                OnError::of(&cfg(ext), OnError::Log).ok(),
                Some(OnError::Fault)
            );
        }
        for ext in ["mqtt", "postgres", "stdout"] {
            let err = OnError::of(&cfg(ext), OnError::Log)
                .err()
                .map(|e| e.to_string());
            assert!(
                err.as_deref()
                    .is_some_and(|e| e.contains("never gives a row up")),
                "{ext}: {err:?}"
            );
        }
    }

    /// A writer that records what it got, and waits for `gate` before each write.
    struct Slow {
        got: Arc<std::sync::Mutex<Vec<u8>>>,
        gate: crossbeam_channel::Receiver<()>,
    }

    impl std::io::Write for Slow {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let _ = self.gate.recv();
            if let Ok(mut g) = self.got.lock() {
                g.extend_from_slice(b);
            }
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn desc(backpressure: super::super::Backpressure) -> super::super::PipelineDesc {
        super::super::PipelineDesc {
            stream: "Out",
            buffer: 4,
            backpressure,
            workers: 1,
            batch_max: 2,
        }
    }

    #[test]
    fn async_block_loses_nothing_and_keeps_the_order() {
        use std::io::Write;
        let got = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (gate_tx, gate) = crossbeam_channel::unbounded();
        let slow = Slow {
            got: Arc::clone(&got),
            gate,
        };
        let mut w = AsyncLines::start(
            &desc(super::super::Backpressure::Block),
            Box::new(slow),
            None,
        )
        .expect("start");
        // The writer opens the gate as it goes: the producer waits on the full queue.
        let opener = std::thread::spawn(move || {
            for _ in 0..100 {
                if gate_tx.send(()).is_err() {
                    break;
                }
            }
        });
        for i in 0..40 {
            writeln!(w, "{i}").expect("write");
            w.flush().expect("flush");
        }
        drop(w);
        let _ = opener.join();
        let text = got
            .lock()
            .map(|g| String::from_utf8_lossy(&g).into_owned())
            .unwrap_or_default();
        let want: String = (0..40).map(|i| format!("{i}\n")).collect();
        assert_eq!(text, want);
    }

    #[test]
    fn async_drop_counts_what_a_stuck_sink_could_not_take() {
        use std::io::Write;
        let got = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (gate_tx, gate) = crossbeam_channel::unbounded();
        let slow = Slow {
            got: Arc::clone(&got),
            gate,
        };
        let metrics = Arc::new(crate::metrics::Metrics::new());
        let mut w = AsyncLines::start(
            &desc(super::super::Backpressure::Drop),
            Box::new(slow),
            Some(Arc::clone(&metrics)),
        )
        .expect("start");
        // Nothing is written until the gate opens: at most the queue (4) and the batch
        // the thread holds (2) are kept, the rest of the 100 lines is dropped and counted.
        let text: String = (0..100).map(|i| format!("{i}\n")).collect();
        w.write_all(text.as_bytes()).expect("write");
        w.flush().expect("flush");
        for _ in 0..100 {
            let _ = gate_tx.send(());
        }
        drop(w);
        let kept = got
            .lock()
            .map(|g| g.iter().filter(|&&b| b == b'\n').count())
            .unwrap_or(0) as u64;
        let exposition = metrics.render(0);
        let dropped: u64 = exposition
            .lines()
            .find_map(|l| {
                l.strip_prefix("eventflux_dropped_events_total{stream=\"Out\",reason=\"drop\"} ")
            })
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        assert!((4..=6).contains(&kept), "kept {kept}");
        assert_eq!(kept + dropped, 100, "{exposition}");
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

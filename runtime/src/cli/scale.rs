//! `--workers N`, `--processes N --process I --hosts FILE` (DESIGN 11, docs/scale-out.md):
//! the JSON-lines run and `--bench` of an app split across workers by
//! [`crate::scale::execute`]. An app that is not split (see
//! [`Application::SCALABLE`]) runs on one worker as without the flags.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::args::{self, Args};
use super::bench::{decode_all, BenchStats, Decoded};
use super::{reader, Failure, RunError};
use crate::functions::now_millis;
use crate::io::{CountingSink, JsonLinesWriter};
use crate::scale::{execute, Batch, Route, ScaleInput, Source, Workers};
use crate::Application;

/// Events per batch a source hands to the dataflow (`EVENTFLUX_SCALE_BATCH` overrides it,
/// for measurements).
fn batch_size() -> usize {
    std::env::var("EVENTFLUX_SCALE_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1024)
}

/// The workers of `args`, or why they cannot be used.
fn workers(args: &Args) -> Result<Workers, Failure> {
    let hosts = match (&args.hosts, args.processes) {
        (_, 1) => Vec::new(),
        (None, _) => return Err(Failure::usage("--processes needs --hosts FILE")),
        (Some(file), n) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| Failure::usage(format!("cannot read --hosts `{file}`: {e}")))?;
            let hosts: Vec<String> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from)
                .collect();
            if hosts.len() != n {
                return Err(Failure::usage(format!(
                    "--hosts `{file}` lists {} processes, --processes says {n}",
                    hosts.len()
                )));
            }
            hosts
        }
    };
    if args.process >= args.processes {
        return Err(Failure::usage(format!(
            "--process {} is not below --processes {}",
            args.process, args.processes
        )));
    }
    Ok(Workers {
        threads: args.workers,
        hosts,
        process: args.process,
        wall_clock: matches!(args.clock, super::Clock::Wall),
    })
}

/// A `Write` that keeps what it is given until `flush`, then appends it whole to the shared
/// output: the workers' lines never interleave within a line.
struct SharedOut {
    buf: Vec<u8>,
    out: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl Write for SharedOut {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut out = self
            .out
            .lock()
            .map_err(|_| io::Error::other("output lock poisoned"))?;
        out.write_all(&self.buf)?;
        self.buf.clear();
        out.flush()
    }
}

/// Worker 0's source in a JSON-lines run: the input is read and decoded on a thread of its
/// own (`cli/reader.rs`, as in the single-worker run), which hands over a partial batch
/// whenever the input has nothing more buffered, so a live stream is not held back. The
/// event-clock rules are the plain run's (a missing `ts` is the previous line's); with the
/// wall clock every event gets its arrival time and tick lines are ignored. Bad lines go to
/// stderr, or end the input under `strict` (the error is left in `failed`). While the reader
/// has nothing, `next` returns an empty batch every few milliseconds.
struct ReaderSource<I> {
    rx: crossbeam_channel::Receiver<reader::Msg>,
    counters: Arc<reader::Counters>,
    now: i64,
    wall: bool,
    strict: bool,
    failed: Arc<Mutex<Option<RunError>>>,
    done: bool,
    /// Set by SIGTERM or SIGINT: what was read is run, nothing more is read (DESIGN 8.4).
    signal: Arc<AtomicBool>,
    /// The type of the events the reader's batches carry.
    events: std::marker::PhantomData<fn() -> I>,
}

impl<I> ReaderSource<I> {
    fn fail(&mut self, e: RunError) {
        self.done = true;
        if let Ok(mut f) = self.failed.lock() {
            f.get_or_insert(e);
        }
    }
}

impl<I: 'static> Iterator for ReaderSource<I> {
    type Item = Batch<I>;

    fn next(&mut self) -> Option<Batch<I>> {
        if self.done {
            return None;
        }
        if self.signal.load(Ordering::Relaxed) {
            // Shutting down: the batches already read are the last ones.
            self.done = true;
            let mut out = Vec::new();
            while let Ok(reader::Msg::Batch(more)) = self.rx.try_recv() {
                self.counters
                    .queued
                    .fetch_sub(more.items.len() as u64, Ordering::Relaxed);
                out.extend(self.batch(more));
            }
            return Some(out);
        }
        let items = match self.rx.recv_timeout(Duration::from_millis(5)) {
            Ok(reader::Msg::Batch(items)) => items,
            Ok(reader::Msg::Failed(e)) => {
                self.fail(RunError::Io(e));
                return None;
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => return Some(Vec::new()),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                self.done = true;
                return None;
            }
        };
        self.counters
            .queued
            .fetch_sub(items.items.len() as u64, Ordering::Relaxed);
        Some(self.batch(items))
    }
}

impl<I: 'static> ReaderSource<I> {
    /// The events and clock steps of the reader's items; bad lines are reported (or end
    /// the run with `--strict` or a failing source).
    fn batch(&mut self, read: reader::Batch) -> Batch<I> {
        let mut events = read.events.take::<I>().into_iter();
        let mut batch = Vec::with_capacity(read.items.len());
        for item in read.items {
            match item {
                reader::Item::Event { ts, .. } | reader::Item::Remote { ts } => {
                    let Some(event) = events.next() else {
                        continue;
                    };
                    self.now = if self.wall {
                        now_millis().max(self.now)
                    } else {
                        ts.unwrap_or(self.now)
                    };
                    batch.push((self.now, Some(event)));
                }
                reader::Item::Tick { ts, .. } => {
                    if !self.wall {
                        self.now = ts;
                        batch.push((self.now, None));
                    }
                }
                reader::Item::Bad {
                    line_no, message, ..
                } => {
                    if self.strict {
                        self.fail(RunError::BadLine { line_no, message });
                        break;
                    }
                    eprintln!("line {line_no}: {message}");
                }
                reader::Item::RemoteBad { message, fatal } => {
                    if fatal {
                        self.fail(RunError::SourceFailed(message));
                        break;
                    }
                    if self.strict {
                        self.fail(RunError::BadLine {
                            line_no: 0,
                            message,
                        });
                        break;
                    }
                    eprintln!("{message}");
                }
                reader::Item::Mark { .. } | reader::Item::Skipped { .. } => {}
            }
        }
        batch
    }
}

/// `--metrics` with several workers: the rows each worker wrote per stream, summed over the
/// workers of this process into `eventflux_events_out_total`.
struct OutCounts {
    per_worker: Mutex<Vec<Vec<(&'static str, u64)>>>,
    /// The newest event time over the workers.
    newest: std::sync::atomic::AtomicI64,
}

impl OutCounts {
    fn publish(
        &self,
        m: &crate::metrics::Metrics,
        index: usize,
        counts: &[(&'static str, u64)],
        clock: Option<i64>,
    ) {
        let Ok(mut all) = self.per_worker.lock() else {
            return;
        };
        if all.len() <= index {
            all.resize_with(index + 1, Vec::new);
        }
        all[index] = counts.to_vec();
        let mut sum: Vec<(&str, u64)> = Vec::new();
        for &(stream, n) in all.iter().flatten() {
            match sum.iter_mut().find(|(s, _)| *s == stream) {
                Some(slot) => slot.1 += n,
                None => sum.push((stream, n)),
            }
        }
        for (stream, n) in sum {
            m.set_events_out(stream, n);
        }
        if let Some(now) = clock {
            let before = self.newest.fetch_max(now, Ordering::Relaxed);
            m.set_newest_event(before.max(now));
        }
    }
}

/// Whether `args` asks for more than one worker. An app that is not split gets a note and
/// runs on one worker.
pub(super) fn wanted(info: &super::erased::AppInfo, args: &Args) -> bool {
    let wanted = args.workers > 1 || args.processes > 1;
    if wanted && !info.scalable {
        eprintln!(
            "note: this app has no partition that runs on several workers \
             (`eventflux explain` tells why); running it on one worker"
        );
        return false;
    }
    wanted
}

/// The JSON-lines run on several workers: worker 0 of process 0 reads `--input`; each
/// process writes the rows of its workers to its `--output`.
pub(super) fn run<A>(args: &Args, filter: std::collections::HashSet<String>) -> Result<(), Failure>
where
    A: Application<Sink = JsonLinesWriter> + 'static,
    A::Input: ScaleInput,
{
    if args.state_dir.is_some() {
        return Err(Failure::usage(
            "--state-dir is not supported with --workers/--processes yet (docs/scale-out.md)",
        ));
    }
    // Sources and sinks in the app: files, tcp and http (sources read by worker 0 of
    // process 0 and exchanged, sinks written by every process); not yet brokers.
    if let Some(c) = A::connectors()
        .iter()
        .find(|c| !["tcp", "http", "file"].contains(&c.extension))
    {
        return Err(Failure::usage(format!(
            "stream `{}`: the `{}` connector is not supported with --workers/--processes yet \
             (file, tcp and http are; docs/scale-out.md)",
            c.stream, c.extension
        )));
    }
    let workers = workers(args)?;
    let metrics = super::serve_metrics(args)?;
    let failed = Arc::new(Mutex::new(None));
    let info = super::erased::AppInfo::of::<A>();
    let mut sources: Vec<Source<A::Input>> = Vec::new();
    let endpoints = super::Endpoints::of(&info, &args.overrides)?;
    let mut network = None;
    // The process that reads the sources stops reading on SIGTERM/SIGINT and lets the
    // workers finish what was read; the other processes end with it.
    let signal = if workers.process == 0 {
        super::durable::shutdown_flag()
    } else {
        Arc::new(AtomicBool::new(false))
    };
    if workers.process == 0 {
        let counters = Arc::new(reader::Counters {
            metrics: metrics.clone(),
            ..reader::Counters::default()
        });
        let (tx, rx) = reader::channel();
        network = Some(super::connectors::start_sources(
            &info,
            &tx,
            &args.overrides,
            metrics.as_ref(),
        )?);
        // With network (or tailing) sources and no file source, `--input` is read only
        // when given; the run then lasts until it is stopped.
        let remote = super::connectors::has_sources(&info);
        if !(remote && !args.input_given && endpoints.sources.is_empty()) {
            reader::spawn(
                endpoints.open_input(args, 0)?,
                Arc::clone(&info.codec),
                reader::Faults::of(&info),
                Arc::new(AtomicBool::new(false)),
                Arc::clone(&counters),
                tx,
            );
        }
        sources.push(Box::new(ReaderSource {
            rx,
            counters,
            now: 0,
            wall: workers.wall_clock,
            strict: args.strict,
            failed: Arc::clone(&failed),
            done: false,
            signal: Arc::clone(&signal),
            events: std::marker::PhantomData,
        }));
    }
    // Every sink of a stream gets each of its lines (several sinks: a fan-out); the
    // workers of this process share each sink, a worker's lines appended whole at a flush.
    type Shared = Arc<Mutex<Box<dyn Write + Send>>>;
    let mut routes: Vec<(String, Vec<Box<dyn Write + Send>>)> = Vec::new();
    let mut add_route = |stream: &str, out: Box<dyn Write + Send>| match routes
        .iter_mut()
        .find(|(s, _)| s == stream)
    {
        Some((_, list)) => list.push(out),
        None => routes.push((stream.to_string(), vec![out])),
    };
    for (stream, path) in &endpoints.sinks {
        let (out, _) = super::durable::open_output(path, None)?;
        add_route(stream, out);
    }
    for (stream, out) in super::connectors::open_sinks(&info, &args.overrides, metrics.as_ref())? {
        add_route(&stream, out);
    }
    let routes: Vec<(String, Shared)> = routes
        .into_iter()
        .map(|(stream, mut list)| {
            let out: Box<dyn Write + Send> = if list.len() == 1 {
                list.remove(0)
            } else {
                Box::new(crate::connect::sink::Fanout(list))
            };
            (stream, Arc::new(Mutex::new(out)))
        })
        .collect();
    let out_counts = OutCounts {
        per_worker: Mutex::new(Vec::new()),
        newest: std::sync::atomic::AtomicI64::new(i64::MIN),
    };
    let out = Arc::new(Mutex::new(args::open_output(&args.output)?));
    let sink_out = Arc::clone(&out);
    let results = execute::<A, Option<io::Error>>(
        &workers,
        sources,
        move |_| {
            let shared = SharedOut {
                buf: Vec::new(),
                out: Arc::clone(&sink_out),
            };
            let mut writer = JsonLinesWriter::new(Box::new(shared), Some(filter.clone()));
            for (stream, out) in &routes {
                let shared = SharedOut {
                    buf: Vec::new(),
                    out: Arc::clone(out),
                };
                writer.route(stream, Box::new(shared));
            }
            writer
        },
        move |index, app| {
            let _ = app.sink_mut().flush();
            if let Some(m) = &metrics {
                let clock = app.clock();
                out_counts.publish(m, index, app.sink_mut().lines_per_stream(), clock);
            }
        },
        |_, mut app| {
            let _ = app.sink_mut().flush();
            app.sink_mut().take_error()
        },
    )
    .map_err(Failure::runtime)?;
    drop(network);
    if let Some(e) = failed.lock().ok().and_then(|mut f| f.take()) {
        return Err(match e {
            e @ RunError::BadLine { .. } => Failure::usage(format!("{e} (--strict)")),
            e => Failure::runtime(e.to_string()),
        });
    }
    if let Some(e) = results.into_iter().flatten().next() {
        if e.kind() != io::ErrorKind::BrokenPipe {
            return Err(Failure::runtime(format!("cannot write output: {e}")));
        }
    }
    if signal.load(Ordering::Relaxed) {
        super::log::log(super::log::Level::Info, "stopped by a signal");
    }
    Ok(())
}

/// `--bench` on several workers (DESIGN 11): the decoded events are split by a hash of
/// their key (not the owners' hash) into one source partition per worker, events outside
/// partitions and clock ticks into the first; each worker replays its partition `--repeat`
/// times and exchanges its events by key. The clock runs from the start of the workers to
/// the end of the last one. With `timely_one`, one worker also runs through the dataflow
/// (to measure its cost against the plain app).
pub(super) fn bench<B>(args: &Args) -> Result<(), Failure>
where
    B: Application<Sink = CountingSink> + 'static,
    B::Input: ScaleInput,
{
    let workers = workers(args)?;
    let input = args::open_input(&args.input)?;
    let events: Decoded<B::Input> = match decode_all::<B>(input, args.strict, &mut io::stderr()) {
        Ok(events) => events,
        Err(e @ RunError::BadLine { .. }) => return Err(Failure::usage(format!("{e} (--strict)"))),
        Err(e) => return Err(Failure::runtime(e.to_string())),
    };
    let total = workers.total();
    let mine: Vec<usize> = (0..workers.threads.max(1))
        .map(|t| workers.process * workers.threads.max(1) + t)
        .collect();
    let first = events.first().map_or(0, |e| e.0);
    let (lo, hi) = events
        .iter()
        .fold((first, first), |(lo, hi), e| (lo.min(e.0), hi.max(e.0)));
    let span = hi.saturating_sub(lo).saturating_add(1);
    let per_replay = events.iter().filter(|e| e.1.is_some()).count() as u64;
    let mut parts: Vec<Decoded<B::Input>> = vec![Vec::new(); total];
    for (ts, event) in events {
        let part = match event.as_ref().map(B::route) {
            Some(Route::Key { hash, .. }) => ((hash >> 32) % total as u64) as usize,
            _ => 0,
        };
        parts[part].push((ts, event));
    }
    // Every replay of every partition, batched, made before the clock starts.
    let mut sources: Vec<Source<B::Input>> = Vec::new();
    for (i, part) in parts.into_iter().enumerate() {
        let mut batches: Vec<Batch<B::Input>> = Vec::new();
        if mine.contains(&i) {
            for r in 0..args.repeat {
                let shift = span.saturating_mul(i64::from(r));
                for chunk in part.chunks(batch_size()) {
                    batches.push(
                        chunk
                            .iter()
                            .map(|(ts, e)| (ts.saturating_add(shift), e.clone()))
                            .collect(),
                    );
                }
            }
        }
        sources.push(Box::new(batches.into_iter()));
    }
    let clock = Instant::now();
    let outputs = execute::<B, u64>(
        &workers,
        sources,
        |_| CountingSink::new(),
        |_, _| {},
        |_, mut app| app.sink_mut().events,
    )
    .map_err(Failure::runtime)?;
    let seconds = clock.elapsed().as_secs_f64();
    let stats = BenchStats {
        events: per_replay * u64::from(args.repeat),
        seconds,
        outputs: outputs.iter().sum(),
        rss_kib: None,
    };
    let mut out = args::open_output(&args.output)?;
    writeln!(out, "{}", stats.to_json_line())
        .and_then(|()| out.flush())
        .map_err(|e| Failure::runtime(format!("cannot write output: {e}")))
}

//! `--workers N`, `--processes N --process I --hosts FILE` (DESIGN 11, docs/scale-out.md):
//! the JSON-lines run and `--bench` of an app split across workers by
//! [`crate::scale::execute`]. An app that is not split (see
//! [`Application::SCALABLE`]) runs on one worker as without the flags.

use std::io::{self, BufRead, Write};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::args::{self, Args};
use super::bench::{decode_all, BenchStats, Decoded};
use super::{Failure, RunError};
use crate::io::{CountingSink, JsonLinesReader, JsonLinesWriter, LineRef};
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

/// Decodes `input` in batches with the event-clock rules of the plain run (a missing `ts`
/// is the previous line's); bad lines go to stderr, or end the input under `strict` (the
/// error is left in `failed`).
struct Decoder<A: Application> {
    reader: JsonLinesReader<Box<dyn BufRead + Send>>,
    now: i64,
    strict: bool,
    failed: Arc<Mutex<Option<RunError>>>,
    done: bool,
    app: std::marker::PhantomData<fn() -> A>,
}

impl<A: Application> Iterator for Decoder<A> {
    type Item = Batch<A::Input>;

    fn next(&mut self) -> Option<Batch<A::Input>> {
        if self.done {
            return None;
        }
        let size = batch_size();
        let mut batch = Vec::with_capacity(size);
        while batch.len() < size {
            let Some(item) = self.reader.next_line() else {
                self.done = true;
                if let Some(e) = self.reader.take_io_error() {
                    self.fail(RunError::Io(e));
                }
                break;
            };
            let bad = match item {
                Ok(LineRef::Event {
                    line_no,
                    stream,
                    ts,
                    data,
                }) => match A::decode(&stream, data) {
                    Ok(event) => {
                        self.now = ts.unwrap_or(self.now);
                        batch.push((self.now, Some(event)));
                        continue;
                    }
                    Err(e) => (line_no, e.to_string()),
                },
                Ok(LineRef::Tick { ts, .. }) => {
                    self.now = ts;
                    batch.push((self.now, None));
                    continue;
                }
                Err(e) => (e.line_no, e.message),
            };
            if self.strict {
                self.done = true;
                self.fail(RunError::BadLine {
                    line_no: bad.0,
                    message: bad.1,
                });
                break;
            }
            eprintln!("line {}: {}", bad.0, bad.1);
        }
        (!batch.is_empty()).then_some(batch)
    }
}

impl<A: Application> Decoder<A> {
    fn fail(&self, e: RunError) {
        if let Ok(mut f) = self.failed.lock() {
            f.get_or_insert(e);
        }
    }
}

/// Whether `args` asks for more than one worker. An app that is not split gets a note and
/// runs on one worker.
pub(super) fn wanted<A: Application>(args: &Args) -> bool {
    let wanted = args.workers > 1 || args.processes > 1;
    if wanted && !A::SCALABLE {
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
    let unsupported = [
        (args.state_dir.is_some(), "--state-dir"),
        (args.metrics.is_some(), "--metrics"),
        (matches!(args.clock, super::Clock::Wall), "--clock wall"),
        (
            !A::sources().is_empty() || !A::sinks().is_empty() || !A::connectors().is_empty(),
            "sources and sinks declared in the app",
        ),
    ];
    if let Some((_, what)) = unsupported.iter().find(|(on, _)| *on) {
        return Err(Failure::usage(format!(
            "{what} is not supported with --workers/--processes yet (docs/scale-out.md)"
        )));
    }
    let workers = workers(args)?;
    let failed = Arc::new(Mutex::new(None));
    let mut sources: Vec<Source<A::Input>> = Vec::new();
    if workers.process == 0 {
        sources.push(Box::new(Decoder::<A> {
            reader: JsonLinesReader::new(args::open_input(&args.input)?),
            now: 0,
            strict: args.strict,
            failed: Arc::clone(&failed),
            done: false,
            app: std::marker::PhantomData,
        }));
    }
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
            JsonLinesWriter::new(Box::new(shared), Some(filter.clone()))
        },
        |app| {
            let _ = app.sink_mut().flush();
        },
        |_, mut app| {
            let _ = app.sink_mut().flush();
            app.sink_mut().take_error()
        },
    )
    .map_err(Failure::runtime)?;
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
        |_| {},
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

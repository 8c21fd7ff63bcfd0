//! The driver of compiled apps: the `main` of generated standalone binaries (and of the
//! projects `eventflux run`/`bench` build), and [`run`], the JSON-lines loop it uses.
//!
//! ```ignore
//! // main.rs of a generated project (`app` is the generated module):
//! fn main() -> std::process::ExitCode {
//!     eventflux_runtime::cli::main::<
//!         app::App<eventflux_runtime::io::JsonLinesWriter>,
//!         app::App<eventflux_runtime::io::CountingSink>,
//!     >()
//! }
//! ```
//!
//! Flags (docs/running.md#the-eventflux-command): `--input F|-`, `--output F|-`, `--clock event|wall`, `--strict`,
//! `--output-streams A,B`, `--bench [--repeat N]`, `--help`. Exit codes: 0 success, 1 a
//! runtime or I/O error, 2 bad usage or a bad line under `--strict`.

mod args;
mod bench;
mod collect;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::io::{CountingSink, JsonLinesWriter};
use crate::state::{open_store, Checkpointer, Position};
use crate::Application;
use args::Args;
use erased::{AppInfo, Core, DynApp, Stop};

mod config;
mod connectors;
mod durable;
mod erased;
mod grpc;
mod log;
mod reader;
#[cfg(feature = "scale")]
mod scale;
mod scale_state;
mod sources;
pub use collect::{run_collected, run_collected_split};
pub use erased::DriverSink;

/// Which clock gives events their time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Clock {
    /// Time is the `ts` of the input lines; results are deterministic.
    #[default]
    Event,
    /// Time is the arrival time (epoch ms); timers fire in real time.
    Wall,
}

/// Options of [`run`].
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The clock driving time.
    pub clock: Clock,
    /// Abort at the first bad line instead of reporting and skipping it.
    pub strict: bool,
}

/// What [`run`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Events decoded and sent to the app.
    pub events: u64,
    /// Lines skipped because they were bad.
    pub bad_lines: u64,
}

/// Why [`run`] stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A bad line under `strict`.
    #[error("line {line_no}: {message}")]
    BadLine {
        /// 1-based line number.
        line_no: u64,
        /// What was wrong with it.
        message: String,
    },
    /// Reading the input failed.
    #[error("cannot read input: {0}")]
    Io(#[from] io::Error),
    /// A source with `'on.error' = 'fail'` got a message it could not decode.
    #[error("{0} (on.error = 'fail')")]
    SourceFailed(String),
}

/// Feeds JSON-lines `input` to `app` until the input ends (docs/semantics.md#time, docs/running.md#json-lines).
///
/// Event clock: an event without `ts` gets the time of the previous line that had one (the
/// app's [`Application::clock`] at first, 0 for a fresh app); `{"ts": N}` lines call `advance_time(N)`; `start` is called once, with the time of
/// the first event or tick, before it. At the end of the input nothing more happens (pending
/// timers do not fire). Wall clock: `start(now)` at once; every event gets its arrival time
/// (tick lines are ignored) and timers fire in real time, also while no input arrives.
/// The input is read and decoded on a thread of its own (hence `Send + 'static`).
///
/// A bad line (see [`JsonLinesReader`](crate::io::JsonLinesReader)) or one whose data `A::decode` rejects (unknown
/// stream, wrong type) is reported on `errors` as `line N: message` and skipped; with
/// `strict` it ends the run with [`RunError::BadLine`] instead (not written to `errors`).
pub fn run<A>(
    app: &mut A,
    input: impl BufRead + Send + 'static,
    opts: &RunOptions,
    errors: &mut impl Write,
) -> Result<RunStats, RunError>
where
    A: Application + 'static,
    A::Sink: DriverSink,
{
    run_dyn(
        &AppInfo::of::<A>(),
        app,
        Box::new(input),
        opts,
        errors,
        Stop::Never,
    )
}

/// [`run`], also stopping (successfully) as soon as `stop(app)` is true after a line.
#[cfg(test)]
fn run_until<A>(
    app: &mut A,
    input: impl BufRead + Send + 'static,
    opts: &RunOptions,
    errors: &mut impl Write,
    mut stop: impl FnMut(&mut A) -> bool,
) -> Result<RunStats, RunError>
where
    A: Application + 'static,
    A::Sink: DriverSink,
{
    let mut check =
        |app: &mut dyn DynApp| app.as_any_mut().downcast_mut::<A>().is_some_and(&mut stop);
    run_dyn(
        &AppInfo::of::<A>(),
        app,
        Box::new(input),
        opts,
        errors,
        Stop::When(&mut check),
    )
}

/// [`run`] without the app's type.
fn run_dyn(
    info: &AppInfo,
    app: &mut dyn DynApp,
    input: Box<dyn io::Read + Send>,
    opts: &RunOptions,
    errors: &mut dyn Write,
    stop: Stop<'_>,
) -> Result<RunStats, RunError> {
    let input = reader::Input {
        read: input,
        line_no: 0,
        offset: 0,
    };
    let mut hooks = StopWith(stop);
    let counters = Arc::new(reader::Counters::default());
    drive(info, app, input, opts, errors, &mut hooks, &counters).map(|(stats, _)| stats)
}

/// What the driver asks its caller while it runs.
trait Hooks {
    /// When to end the run (successfully) at once, checked after every line.
    fn stop(&mut self) -> Stop<'_> {
        Stop::Never
    }

    /// After each batch of lines, and about every 100 ms while no input comes: `at` is the
    /// line number and byte offset processed so far. `true` ends the run after the lines
    /// already read are processed (a shutdown signal).
    fn progress(&mut self, _app: &mut dyn DynApp, _at: (u64, u64), _stats: &RunStats) -> bool {
        false
    }
}

struct StopWith<'s>(Stop<'s>);

impl Hooks for StopWith<'_> {
    fn stop(&mut self) -> Stop<'_> {
        match &mut self.0 {
            Stop::Never => Stop::Never,
            Stop::Halted => Stop::Halted,
            Stop::When(f) => Stop::When(&mut **f),
        }
    }
}

/// How often the driver looks up from an idle input.
const IDLE: Duration = Duration::from_millis(100);

/// Runs `input` through `app`; returns the stats and the line number and byte offset
/// processed (where a checkpoint taken now resumes).
fn drive(
    info: &AppInfo,
    app: &mut dyn DynApp,
    input: reader::Input,
    opts: &RunOptions,
    errors: &mut dyn Write,
    hooks: &mut dyn Hooks,
    counters: &Arc<reader::Counters>,
) -> Result<(RunStats, (u64, u64)), RunError> {
    let (tx, rx) = reader::channel();
    let (result, at) = drive_with(
        info,
        app,
        Some(input),
        (tx, rx),
        None,
        opts,
        errors,
        hooks,
        counters,
    );
    result.map(|stats| (stats, at))
}

/// [`drive`] with the channel made by the caller, which may have started more sources on
/// it (`cli/connectors.rs`), and without an input when the app reads only such sources.
/// The run ends when every sender is gone (the input and every source ended) or a hook
/// stops it. Returns the position processed (line number, byte offset) also when the run
/// failed.
#[allow(clippy::too_many_arguments)]
fn drive_with(
    info: &AppInfo,
    app: &mut dyn DynApp,
    input: Option<reader::Input>,
    (tx, rx): reader::Channel,
    faults: Option<crossbeam_channel::Receiver<reader::Msg>>,
    opts: &RunOptions,
    errors: &mut dyn Write,
    hooks: &mut dyn Hooks,
    counters: &Arc<reader::Counters>,
) -> (Result<RunStats, RunError>, (u64, u64)) {
    // A restored app has started already: its clock is the time of the previous line.
    let clock = app.clock();
    let at = input.as_ref().map_or((0, 0), |i| (i.line_no, i.offset));
    let stop = Arc::new(AtomicBool::new(false));
    match input {
        Some(input) => reader::spawn(
            input,
            Arc::clone(&info.codec),
            reader::Faults::of(info),
            Arc::clone(&stop),
            Arc::clone(counters),
            tx,
            connectors::input_pipeline(info),
        ),
        None => drop(tx),
    }
    let mut driver = Driver {
        app,
        core: Core {
            clock: opts.clock,
            strict: opts.strict,
            errors,
            stats: RunStats::default(),
            started: clock.is_some(),
            now: clock.unwrap_or(0),
            at,
        },
        counters,
        faults,
    };
    let result = driver.run(&rx, hooks);
    stop.store(true, Ordering::Relaxed);
    let (stats, at) = (driver.core.stats, driver.core.at);
    (result.map(|()| stats), at)
}

/// The state of one [`run`].
struct Driver<'a> {
    app: &'a mut dyn DynApp,
    core: Core<'a>,
    counters: &'a reader::Counters,
    /// Fault events of sinks (`'on.error' = 'fault'`), taken between batches.
    faults: Option<crossbeam_channel::Receiver<reader::Msg>>,
}

impl Driver<'_> {
    fn run(
        &mut self,
        rx: &crossbeam_channel::Receiver<reader::Msg>,
        hooks: &mut dyn Hooks,
    ) -> Result<(), RunError> {
        if self.core.clock == Clock::Wall {
            let start = self.core.wall_now();
            if !self.core.started {
                self.core.started = true;
                self.app.start(start);
            }
        }
        loop {
            let wait = match (self.core.clock, self.app.next_timer()) {
                (Clock::Wall, Some(t)) => {
                    let now = self.core.wall_now();
                    if t <= now {
                        self.core.now = now;
                        self.app.advance_time(now);
                        continue;
                    }
                    Duration::from_millis(u64::try_from(t - now).unwrap_or(1)).min(IDLE)
                }
                _ => IDLE,
            };
            match rx.recv_timeout(wait) {
                Ok(reader::Msg::Batch(batch)) => {
                    self.counters
                        .queued
                        .fetch_sub(batch.items.len() as u64, Ordering::Relaxed);
                    if self.batch(batch, hooks)? {
                        return Ok(());
                    }
                }
                Ok(reader::Msg::Failed(e)) => return Err(RunError::Io(e)),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return Ok(()),
            }
            let faults: Vec<_> = self
                .faults
                .as_ref()
                .map_or_else(Vec::new, |f| f.try_iter().collect());
            for msg in faults {
                if let reader::Msg::Batch(batch) = msg {
                    if self.batch(batch, hooks)? {
                        return Ok(());
                    }
                }
            }
            if hooks.progress(self.app, self.core.at, &self.core.stats) {
                // Shutting down: what was read already is processed, nothing more is read.
                while let Ok(reader::Msg::Batch(batch)) = rx.try_recv() {
                    if self.batch(batch, hooks)? {
                        return Ok(());
                    }
                }
                return Ok(());
            }
        }
    }

    /// One batch through the app (one dynamic call); `Ok(true)` when a hook stopped it.
    fn batch(&mut self, batch: reader::Batch, hooks: &mut dyn Hooks) -> Result<bool, RunError> {
        let mut stop = hooks.stop();
        self.app.run_batch(batch, &mut self.core, &mut stop)
    }
}

/// The `main` of a compiled app: parses `std::env::args()`, then runs the JSON-lines loop
/// with `A` or, with `--bench`, replays the input through `B` (see the module docs).
pub fn main<A, B>() -> ExitCode
where
    A: Application<Sink = JsonLinesWriter> + 'static,
    B: Application<Sink = CountingSink> + 'static,
    A::Input: crate::scale::ScaleInput,
    B::Input: Clone + crate::scale::ScaleInput,
{
    main_with(
        &AppInfo::of::<A>(),
        new_app::<A>,
        scale_run::<A>(),
        Some(bench_main::<B>),
    )
}

/// The `main` of a compiled app built without bench support (the default: the bench variant
/// doubles the generated code to compile). Same flags as [`main`] except `--bench`.
///
/// Only this function and a small shim (decoding a line, the loop over a decoded batch) are
/// compiled with the app; the driver under it is compiled once, in the runtime.
pub fn main_run<A>() -> ExitCode
where
    A: Application<Sink = JsonLinesWriter> + 'static,
    A::Input: crate::scale::ScaleInput,
{
    main_with(&AppInfo::of::<A>(), new_app::<A>, scale_run::<A>(), None)
}

/// A fresh app writing to `sink`, behind the driver's object.
fn new_app<A>(sink: JsonLinesWriter) -> Box<dyn DynApp>
where
    A: Application<Sink = JsonLinesWriter> + 'static,
{
    Box::new(A::with_sink(sink))
}

/// The run on several workers (DESIGN 11), generic over the app: `None` without the
/// `scale` feature.
type ScaleRun = fn(&Args, HashSet<String>) -> Result<(), Failure>;

#[cfg(feature = "scale")]
fn scale_run<A>() -> Option<ScaleRun>
where
    A: Application<Sink = JsonLinesWriter> + 'static,
    A::Input: crate::scale::ScaleInput,
{
    Some(scale::run::<A>)
}

#[cfg(not(feature = "scale"))]
#[allow(clippy::extra_unused_type_parameters)] // the signature of the `scale` variant
fn scale_run<A>() -> Option<ScaleRun> {
    None
}

/// The `--bench` mode, generic over the app.
type BenchRun = fn(&Args) -> Result<(), Failure>;

/// [`main`] and [`main_run`] without the app's types: `bench` is the `--bench` mode, when
/// the binary has one.
fn main_with(
    info: &AppInfo,
    make: fn(JsonLinesWriter) -> Box<dyn DynApp>,
    scale: Option<ScaleRun>,
    bench: Option<BenchRun>,
) -> ExitCode {
    let (prog, args) = match parse_args(info) {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    let result = if let Some(store) = &args.list_checkpoints {
        list_checkpoints(store)
    } else if args.bench {
        match bench {
            Some(bench) => bench(&args),
            None => Err(Failure::usage(
                "this binary was built without bench support: use `eventflux bench`",
            )),
        }
    } else {
        run_or_scale(info, &args, make, scale)
    };
    finish(&prog, result)
}

/// The JSON-lines run: on the workers of `--workers`/`--processes` (DESIGN 11) when they
/// ask for more than one and the app is split across workers, else the plain run.
fn run_or_scale(
    info: &AppInfo,
    args: &Args,
    make: fn(JsonLinesWriter) -> Box<dyn DynApp>,
    scale: Option<ScaleRun>,
) -> Result<(), Failure> {
    #[cfg(feature = "scale")]
    if let Some(run) = scale {
        if scale::wanted(info, args) {
            let filter = output_filter(info, args.output_streams.as_deref())?;
            return run(args, filter);
        }
    }
    #[cfg(not(feature = "scale"))]
    {
        let _ = scale;
        if args.workers > 1 || args.processes > 1 {
            eprintln!(
                "note: this app has no partition that runs on several workers \
                 (`eventflux explain` tells why); running it on one worker"
            );
        }
    }
    run_main(info, args, make)
}

/// `--bench`: on several workers like [`run_or_scale`] (also one worker through the
/// dataflow when `EVENTFLUX_BENCH_TIMELY` is set, to measure its cost), else the plain app.
fn bench_main<B>(args: &Args) -> Result<(), Failure>
where
    B: Application<Sink = CountingSink> + 'static,
    B::Input: Clone + crate::scale::ScaleInput,
{
    #[cfg(feature = "scale")]
    if scale::wanted(&AppInfo::of::<B>(), args)
        || (B::SCALABLE && std::env::var_os("EVENTFLUX_BENCH_TIMELY").is_some())
    {
        return scale::bench::<B>(args);
    }
    #[cfg(not(feature = "scale"))]
    if args.workers > 1 || args.processes > 1 {
        eprintln!(
            "note: this app has no partition that runs on several workers \
             (`eventflux explain` tells why); running it on one worker"
        );
    }
    bench::bench::<B>(args)
}

/// Parses `std::env::args()`; `Err` carries the exit code after printing help or an error.
fn parse_args(info: &AppInfo) -> Result<(String, Args), ExitCode> {
    let argv: Vec<String> = std::env::args().collect();
    let prog = argv
        .first()
        .and_then(|p| std::path::Path::new(p).file_name())
        .map_or_else(|| "app".to_string(), |n| n.to_string_lossy().into_owned());
    let streams: Vec<&str> = info
        .input_streams
        .iter()
        .chain(info.output_streams)
        .copied()
        .collect();
    let (words, overrides) = match config::expand(&argv[1.min(argv.len())..], &streams) {
        Ok(expanded) => expanded,
        Err(message) => {
            eprintln!("{prog}: {message}");
            return Err(ExitCode::from(2));
        }
    };
    match Args::parse(words.iter().map(String::as_str)) {
        Ok(Some(mut args)) => {
            args.overrides = overrides;
            if args.metrics_token.is_none() {
                args.metrics_token = std::env::var("EVENTFLUX_METRICS_TOKEN").ok();
            }
            if args.grpc_token.is_none() {
                args.grpc_token = std::env::var("EVENTFLUX_GRPC_TOKEN").ok();
            }
            log::use_json(args.log_json);
            Ok((prog, args))
        }
        Ok(None) => {
            print!("{}", args::usage(&prog));
            Err(ExitCode::SUCCESS)
        }
        Err(message) => {
            eprint!("{prog}: {message}\n\n{}", args::usage(&prog));
            Err(ExitCode::from(2))
        }
    }
}

/// Prints a failure and turns the result into the exit code.
fn finish(prog: &str, result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure { code, message }) => {
            log::log(log::Level::Error, &format!("{prog}: {message}"));
            ExitCode::from(code)
        }
    }
}

/// A failed command: its exit code and what to print.
#[derive(Debug)]
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: 2,
            message: message.into(),
        }
    }

    fn runtime(message: impl Into<String>) -> Self {
        Failure {
            code: 1,
            message: message.into(),
        }
    }
}

/// The streams to print: `--output-streams` (checked against the app's) or all outputs.
fn output_filter(info: &AppInfo, requested: Option<&[String]>) -> Result<HashSet<String>, Failure> {
    let known = info.output_streams;
    let Some(names) = requested else {
        return Ok(known.iter().map(|s| s.to_string()).collect());
    };
    for name in names {
        if !known.contains(&name.as_str()) {
            return Err(Failure::usage(format!(
                "unknown output stream `{name}` (output streams: {})",
                known.join(", ")
            )));
        }
    }
    Ok(names.iter().cloned().collect())
}

/// `--list-checkpoints STORE` (and `eventflux checkpoints`): one line per checkpoint.
fn list_checkpoints(store: &str) -> Result<(), Failure> {
    let mut cp = Checkpointer::new(open_store(store).map_err(|e| Failure::runtime(e.to_string()))?);
    let list = cp.list().map_err(|e| Failure::runtime(e.to_string()))?;
    let mut text = checkpoint_table(&list, &cp.describe());
    // The checkpoints of runs on several workers (`STATE_DIR/workers/`, docs/scale-out.md).
    if !store.contains("://") && scale_state::WorkerStore::used(store) {
        let workers = scale_state::WorkerStore::open(store).map_err(Failure::runtime)?;
        let list = workers.list(&scale_state::intact);
        text.push_str(&checkpoint_table(
            &list,
            &format!("{} (runs on several workers)", workers.describe()),
        ));
    }
    io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(|e| Failure::runtime(format!("cannot write: {e}")))
}

/// The table `eventflux checkpoints` prints for the checkpoints `list` of store `name`.
fn checkpoint_table(list: &[crate::state::CheckpointInfo], name: &str) -> String {
    let mut text = format!("{} checkpoint(s) in {name}\n", list.len());
    if !list.is_empty() {
        text.push_str("id\ttaken (UTC)\tbytes\tkind\tpositions\n");
    }
    for info in list {
        let kind = match (info.base, &info.error) {
            (_, Some(e)) => format!("unreadable: {e}"),
            (None, None) => "full".to_owned(),
            (Some(base), None) => format!("incremental on {base}"),
        };
        let positions = info.positions.as_ref().map_or_else(String::new, |p| {
            let mut parts: Vec<String> = p
                .sources
                .iter()
                .map(|(n, at)| format!("{n} at {at}"))
                .collect();
            parts.extend(
                p.sinks
                    .iter()
                    .map(|(path, o)| format!("output {path} at byte {o}")),
            );
            parts.join("; ")
        });
        let taken = info
            .time_ms
            .map_or_else(|| "?".to_owned(), crate::state::format_utc);
        text.push_str(&format!(
            "{}\t{taken}\t{}\t{kind}\t{positions}\n",
            info.id, info.bytes
        ));
    }
    text
}

/// The app's own file sources and sinks (stream, path), after `--config` overrides.
struct Endpoints {
    sources: Vec<(String, String)>,
    sinks: Vec<(String, String)>,
}

impl Endpoints {
    /// `A`'s endpoints with `overrides` applied; an override that applies to nothing is an
    /// error naming it.
    fn of(info: &AppInfo, overrides: &[config::Override]) -> Result<Endpoints, Failure> {
        // `"file.path" = '${VAR}'` is read from the environment at start (DESIGN 8.1).
        let own = |list: &[(&str, &str)]| -> Result<Vec<(String, String)>, Failure> {
            list.iter()
                .map(|(s, p)| {
                    crate::connect::substitute(p, crate::connect::env_lookup)
                        .map(|p| (s.to_string(), p))
                        .map_err(|e| Failure::runtime(format!("stream `{s}`: \"file.path\": {e}")))
                })
                .collect()
        };
        let mut e = Endpoints {
            sources: own(info.sources)?,
            sinks: own(info.sinks)?,
        };
        for o in overrides {
            if connectors::takes_override(info, o) {
                // A network or tailing connector's option: applied when it starts.
                continue;
            }
            if o.key != "file.path" {
                return Err(Failure::usage(format!(
                    "--config: [streams.{}] `{}`: not an option this binary's connectors take \
                     (file sources and sinks take \"file.path\")",
                    o.stream, o.key
                )));
            }
            let mut hit = false;
            for (stream, path) in e.sources.iter_mut().chain(e.sinks.iter_mut()) {
                if *stream == o.stream {
                    path.clone_from(&o.value);
                    hit = true;
                }
            }
            if !hit {
                return Err(Failure::usage(format!(
                    "--config: [streams.{}] `file.path`: stream `{}` has no file source or sink \
                     (WITH (type = 'source' | 'sink', extension = 'file', ...))",
                    o.stream, o.stream
                )));
            }
        }
        Ok(e)
    }

    /// Whether the input is the app's own sources (no `--input`).
    fn reads_sources(&self, args: &Args) -> bool {
        !args.input_given && !self.sources.is_empty()
    }

    /// The name a checkpoint keeps the input's position under: the input file's path, or
    /// the app's sources' paths. Stdin has none: a pipe cannot be told apart from a new
    /// one, so after a restore it is read from its start.
    fn source_name(&self, args: &Args) -> Option<String> {
        if self.reads_sources(args) {
            let paths: Vec<&str> = self.sources.iter().map(|(_, p)| p.as_str()).collect();
            Some(format!("sources:{}", paths.join(",")))
        } else if args.input == "-" {
            None
        } else {
            Some(format!("file:{}", args.input))
        }
    }

    /// Opens the input for the driver, positioned after the `skip` bytes a checkpoint says
    /// were processed: `--input` (a file or stdin), or the app's own file sources merged
    /// by time.
    fn open_input(&self, args: &Args, skip: u64) -> Result<reader::Input, Failure> {
        let (mut read, mut file, name): (Box<dyn io::Read + Send>, Option<std::fs::File>, String) =
            if self.reads_sources(args) {
                let list: Vec<(&str, &str)> = self
                    .sources
                    .iter()
                    .map(|(s, p)| (s.as_str(), p.as_str()))
                    .collect();
                (
                    sources::merge(&list)?,
                    None,
                    "the app's merged sources".into(),
                )
            } else if args.input == "-" {
                (Box::new(io::stdin()), None, "stdin".into())
            } else {
                let f = std::fs::File::open(&args.input).map_err(|e| {
                    Failure::runtime(format!("cannot open input file `{}`: {e}", args.input))
                })?;
                let handle = f
                    .try_clone()
                    .map_err(|e| Failure::runtime(format!("cannot open `{}`: {e}", args.input)))?;
                let name = format!("input file `{}`", args.input);
                (Box::new(f), Some(handle), name)
            };
        durable::skip_processed(&mut read, file.as_mut(), skip, &name)?;
        Ok(reader::Input {
            read,
            line_no: 0,
            offset: skip,
        })
    }
}

/// `--metrics ADDR`: the registry the run counts into, served over HTTP.
fn serve_metrics(args: &Args) -> Result<Option<Arc<crate::metrics::Metrics>>, Failure> {
    let Some(addr) = &args.metrics else {
        return Ok(None);
    };
    let tls = match &args.metrics_tls {
        (None, None) => None,
        (Some(cert), Some(key)) => Some(
            crate::metrics::Tls::from_pem_files(cert, key)
                .map_err(|e| Failure::runtime(format!("--metrics-tls-cert: {e}")))?,
        ),
        _ => {
            return Err(Failure::usage(
                "--metrics-tls-cert and --metrics-tls-key go together",
            ))
        }
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let metrics = Arc::new(crate::metrics::Metrics::new());
    let bound = crate::metrics::serve(addr, Arc::clone(&metrics), args.metrics_token.clone(), tls)
        .map_err(|e| Failure::runtime(e.to_string()))?;
    log::log(
        log::Level::Info,
        &format!("metrics at {scheme}://{bound}/metrics"),
    );
    Ok(Some(metrics))
}

/// Run mode: JSON lines in, JSON lines out, with checkpoints when `--state-dir` is given.
fn run_main(
    info: &AppInfo,
    args: &Args,
    make: fn(JsonLinesWriter) -> Box<dyn DynApp>,
) -> Result<(), Failure> {
    let filter = output_filter(info, args.output_streams.as_deref())?;
    if args.state_dir.is_some() && !info.keeps_state {
        return Err(Failure::usage(format!(
            "--state-dir: {}",
            crate::state::StateError::NotKept
        )));
    }
    let begun = std::time::Instant::now();
    let mut checkpointer = match &args.state_dir {
        Some(location) => Some(
            Checkpointer::new(open_store(location).map_err(|e| Failure::runtime(e.to_string()))?)
                .keep(args.keep_checkpoints)
                .full_every(args.full_every),
        ),
        None => None,
    };
    let restored = match checkpointer.as_mut() {
        Some(cp) if !args.no_restore => cp
            .restore(args.restore_from)
            .map_err(|e| Failure::runtime(e.to_string()))?,
        _ => None,
    };
    // Broker connectors: their positions and delivery take part in checkpoints.
    let store = args.state_dir.as_deref().filter(|_| !args.no_restore);
    crate::connect::tracked::begin(
        restored.as_ref().map(|r| (r.id, r.positions.clone())),
        checkpointer.is_some(),
        crate::connect::tracked::fresh_epoch_for(store),
    );
    let endpoints = Endpoints::of(info, &args.overrides)?;
    let positions = restored.as_ref().map(|r| &r.positions);
    let source = endpoints.source_name(args);
    let (line_no, offset) = match source.as_deref().and_then(|s| positions?.source(s)) {
        Some(Position::Offset { bytes, lines }) => (*lines, *bytes),
        _ => (0, 0),
    };
    // An app with network (or tailing) sources reads only them unless `--input` is given
    // or it has file sources; it then runs until it is stopped.
    let remote = connectors::has_sources(info) || grpc::wanted(info, args);
    let input = if remote && !args.input_given && endpoints.sources.is_empty() {
        None
    } else {
        let mut input = endpoints.open_input(args, offset)?;
        input.line_no = line_no;
        Some(input)
    };
    // Outputs: each cut back to the offset of the checkpoint (when resuming from one).
    let resume = |path: &str| {
        restored
            .as_ref()
            .map(|r| r.positions.sink(path).unwrap_or(0))
    };
    let mut outputs = Vec::new();
    let (out, file) = durable::open_output(&args.output, resume(&args.output))?;
    outputs.extend(file);
    let mut writer = JsonLinesWriter::new(out, Some(filter));
    let mut grpc = grpc::prepare(info, args, &mut writer)?;
    // Every sink of a stream gets each of its lines (several sinks: a fan-out).
    let mut routes: Vec<(String, Vec<Box<dyn io::Write + Send>>)> = Vec::new();
    let mut add_route = |stream: &str, out: Box<dyn io::Write + Send>| match routes
        .iter_mut()
        .find(|(s, _)| s == stream)
    {
        Some((_, list)) => list.push(out),
        None => routes.push((stream.to_string(), vec![out])),
    };
    for (stream, path) in &endpoints.sinks {
        let (out, file) = durable::open_output(path, resume(path))?;
        outputs.extend(file);
        add_route(stream, out);
    }
    let metrics = serve_metrics(args)?;
    // Rows a sink with `'on.error' = 'fault'` could not deliver come back as events of the
    // fault stream, on a channel of their own (it keeps no run alive).
    let (fault_tx, fault_rx) = crossbeam_channel::unbounded();
    let network_sinks = connectors::open_sinks(
        info,
        &args.overrides,
        metrics.as_ref(),
        Some(&fault_tx),
        connectors::SinkScope::All,
    )?;
    drop(fault_tx);
    // A service fed by network or tailing sources delivers what each batch produced (a
    // dead-letter file is read while the app runs), as network sinks do.
    let flush_each_batch =
        !network_sinks.is_empty() || connectors::has_sources(info) || grpc.is_some();
    for (stream, out) in network_sinks {
        add_route(&stream, out);
    }
    for (stream, mut list) in routes {
        let mut out = if list.len() == 1 {
            list.remove(0)
        } else {
            Box::new(crate::connect::sink::Fanout(list))
        };
        // An `async` sink stream: its lines go through a bounded queue to a thread of its own.
        if let Some(p) = info.pipelines.iter().find(|p| p.stream == stream) {
            out = Box::new(
                crate::connect::sink::AsyncLines::start(p, out, metrics.clone()).map_err(|e| {
                    Failure::runtime(format!("stream `{stream}`: cannot start its queue: {e}"))
                })?,
            );
        }
        writer.route(&stream, out);
    }
    let mut app = make(writer);
    if let (Some(r), Some(cp)) = (&restored, &checkpointer) {
        let fresh = app.snapshot();
        app.restore(&r.snapshot)
            .map_err(|e| Failure::runtime(format!("cannot restore checkpoint {}: {e}", r.id)))?;
        let took = begun.elapsed();
        durable::report_restore(r, &cp.describe(), &r.missing_operators(&fresh), took);
    }
    let opts = RunOptions {
        clock: args.clock,
        strict: args.strict,
    };
    let counters = Arc::new(reader::Counters {
        metrics: metrics.clone(),
        ..reader::Counters::default()
    });
    let mut service = durable::Service {
        checkpointer,
        every: args.checkpoint_every.map(Duration::from_millis),
        last: std::time::Instant::now(),
        outputs,
        source,
        signal: durable::shutdown_flag(),
        signalled: false,
        metrics,
        counters: Arc::clone(&counters),
        flush_each_batch,
    };
    let mut errors = log::LogLines::new();
    let (tx, rx) = reader::channel();
    let sources =
        connectors::start_sources(info, &tx, &args.overrides, counters.metrics.as_ref(), None)?;
    if let Some(g) = grpc.as_mut() {
        g.start(info, args, &tx, service.metrics.clone())?;
    }
    let (result, at) = drive_with(
        info,
        &mut *app,
        input,
        (tx, rx),
        Some(fault_rx),
        &opts,
        &mut errors,
        &mut service,
        &counters,
    );
    // The final checkpoint (end of input, a signal, a stop, or a source with
    // `'on.error' = 'fail'`, which stops the app after it): what was processed counts.
    let source_failed = matches!(result, Err(RunError::SourceFailed(_)));
    if (result.is_ok() || source_failed) && app.failure().is_none() {
        match service.checkpoint(&mut *app, at) {
            Err(e) => return Err(Failure::runtime(e)),
            Ok(Some((saved, took))) => log::log(
                log::Level::Info,
                &format!(
                    "checkpoint {} taken ({}, {} operator record(s), {} bytes) in {:.3} s",
                    saved.id,
                    if saved.full { "full" } else { "incremental" },
                    saved.records,
                    saved.bytes,
                    took.as_secs_f64()
                ),
            ),
            Ok(None) => {}
        }
    }
    // The sources stop after the final checkpoint, so broker sources acknowledge everything
    // it covers (stopped before it, they would leave the last events unacknowledged and the
    // broker would deliver them again after a clean restart).
    drop(sources);
    drop(grpc);
    let flushed = app.json_writer().map_or(Ok(()), |w| w.flush());
    let stats = match result {
        Ok(stats) => stats,
        Err(e @ RunError::BadLine { .. }) => return Err(Failure::usage(format!("{e} (--strict)"))),
        Err(e) => return Err(Failure::runtime(e.to_string())),
    };
    if let Some(failure) = app.failure() {
        return Err(Failure::runtime(failure));
    }
    if stats.bad_lines > 0 {
        log::log(
            log::Level::Warn,
            &format!("{} bad line(s) skipped", stats.bad_lines),
        );
    }
    if service.signalled {
        log::log(
            log::Level::Info,
            &format!("stopped by a signal after {} event(s)", stats.events),
        );
    }
    match flushed {
        // The reader of our output went away (`| head`): not an error of ours.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::runtime(format!("cannot write output: {e}"))),
        Ok(()) => Ok(()),
    }
}

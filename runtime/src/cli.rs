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
use std::sync::mpsc;
use std::time::Duration;

use crate::functions::now_millis;
use crate::io::{CountingSink, JsonLinesReader, JsonLinesWriter, Line, LineRef};
use crate::Application;
use args::Args;

mod sources;
pub use collect::{run_collected, run_collected_split};

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
}

/// Feeds JSON-lines `input` to `app` until the input ends (docs/semantics.md#time, docs/running.md#json-lines).
///
/// Event clock: an event without `ts` gets the time of the previous line that had one (the
/// app's [`Application::clock`] at first, 0 for a fresh app); `{"ts": N}` lines call `advance_time(N)`; `start` is called once, with the time of
/// the first event or tick, before it. At the end of the input nothing more happens (pending
/// timers do not fire). Wall clock: `start(now)` at once; every event gets its arrival time
/// (tick lines are ignored) and timers fire in real time, also while no input arrives, as
/// the input is read on a separate thread (hence `Send + 'static`).
///
/// A bad line (see [`JsonLinesReader`]) or one whose data `A::decode` rejects (unknown
/// stream, wrong type) is reported on `errors` as `line N: message` and skipped; with
/// `strict` it ends the run with [`RunError::BadLine`] instead (not written to `errors`).
pub fn run<A: Application>(
    app: &mut A,
    input: impl BufRead + Send + 'static,
    opts: &RunOptions,
    errors: &mut impl Write,
) -> Result<RunStats, RunError> {
    run_until(app, input, opts, errors, |_| false)
}

/// [`run`], also stopping (successfully) as soon as `stop(app)` is true after a line.
fn run_until<A: Application>(
    app: &mut A,
    input: impl BufRead + Send + 'static,
    opts: &RunOptions,
    errors: &mut impl Write,
    stop: impl FnMut(&mut A) -> bool,
) -> Result<RunStats, RunError> {
    // A restored app has started already: its clock is the time of the previous line.
    let clock = app.clock();
    let mut driver = Driver {
        app,
        strict: opts.strict,
        errors,
        stats: RunStats::default(),
        started: clock.is_some(),
        now: clock.unwrap_or(0),
    };
    match opts.clock {
        Clock::Event => driver.event_clock(input, stop)?,
        Clock::Wall => driver.wall_clock(input, stop)?,
    }
    Ok(driver.stats)
}

/// The state of one [`run`].
struct Driver<'a, A, W> {
    app: &'a mut A,
    strict: bool,
    errors: &'a mut W,
    stats: RunStats,
    started: bool,
    /// The current time: the last time given to the app.
    now: i64,
}

/// What the reading thread sends in wall-clock mode.
enum Msg {
    Line(Result<Line, crate::io::InputError>),
    Failed(io::Error),
}

impl<A: Application, W: Write> Driver<'_, A, W> {
    fn event_clock(
        &mut self,
        input: impl BufRead,
        mut stop: impl FnMut(&mut A) -> bool,
    ) -> Result<(), RunError> {
        let mut reader = JsonLinesReader::new(input);
        while let Some(item) = reader.next_line() {
            match item {
                Ok(LineRef::Event {
                    line_no,
                    stream,
                    ts,
                    data,
                }) => {
                    self.event(line_no, &stream, data, ts.unwrap_or(self.now))?;
                }
                Ok(LineRef::Tick { ts, .. }) => {
                    self.start_at(ts);
                    self.app.advance_time(ts);
                    self.now = ts;
                }
                Err(e) => self.bad(e.line_no, e.message)?,
            }
            if stop(self.app) {
                return Ok(());
            }
        }
        match reader.take_io_error() {
            Some(e) => Err(RunError::Io(e)),
            None => Ok(()),
        }
    }

    fn wall_clock(
        &mut self,
        input: impl BufRead + Send + 'static,
        mut stop: impl FnMut(&mut A) -> bool,
    ) -> Result<(), RunError> {
        let (tx, rx) = mpsc::sync_channel::<Msg>(1024);
        // Detached: if the run ends first, the thread ends at its next send (or with the
        // process, when it is blocked reading an idle input).
        std::thread::spawn(move || {
            let mut reader = JsonLinesReader::new(input);
            for item in &mut reader {
                if tx.send(Msg::Line(item)).is_err() {
                    return;
                }
            }
            if let Some(e) = reader.take_io_error() {
                let _ = tx.send(Msg::Failed(e));
            }
        });
        let start = self.wall_now();
        self.start_at(start);
        loop {
            if self.app.next_timer().is_some_and(|t| t <= self.wall_now()) {
                self.now = self.wall_now();
                self.app.advance_time(self.now);
            }
            let msg = match self.app.next_timer() {
                None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
                Some(t) => {
                    let wait = u64::try_from(t.saturating_sub(self.wall_now()))
                        .unwrap_or(0)
                        .max(1);
                    rx.recv_timeout(Duration::from_millis(wait))
                }
            };
            match msg {
                Ok(Msg::Line(Ok(Line::Event {
                    line_no,
                    stream,
                    data,
                    ..
                }))) => {
                    let ts = self.wall_now();
                    self.event(line_no, &stream, &data, ts)?;
                }
                Ok(Msg::Line(Ok(Line::Tick { .. }))) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                Ok(Msg::Line(Err(e))) => self.bad(e.line_no, e.message)?,
                Ok(Msg::Failed(e)) => return Err(RunError::Io(e)),
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
            }
            if stop(self.app) {
                return Ok(());
            }
        }
    }

    /// The wall-clock time, never before the time already reached.
    fn wall_now(&self) -> i64 {
        now_millis().max(self.now)
    }

    fn start_at(&mut self, ts: i64) {
        if !self.started {
            self.started = true;
            self.app.start(ts);
        }
    }

    fn event(&mut self, line_no: u64, stream: &str, data: &str, ts: i64) -> Result<(), RunError> {
        match A::decode(stream, data) {
            Ok(event) => {
                self.start_at(ts);
                self.app.send(ts, event);
                self.now = ts;
                self.stats.events += 1;
                Ok(())
            }
            Err(e) => self.bad(line_no, e.to_string()),
        }
    }

    fn bad(&mut self, line_no: u64, message: String) -> Result<(), RunError> {
        self.stats.bad_lines += 1;
        if self.strict {
            return Err(RunError::BadLine { line_no, message });
        }
        // Nowhere left to report a failure to report.
        let _ = writeln!(self.errors, "line {line_no}: {message}");
        Ok(())
    }
}

/// The `main` of a compiled app: parses `std::env::args()`, then runs the JSON-lines loop
/// with `A` or, with `--bench`, replays the input through `B` (see the module docs).
pub fn main<A, B>() -> ExitCode
where
    A: Application<Sink = JsonLinesWriter>,
    B: Application<Sink = CountingSink>,
    B::Input: Clone,
{
    let (prog, args) = match parse_args() {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    let result = if args.bench {
        bench::bench::<B>(&args)
    } else {
        run_main::<A>(&args)
    };
    finish(&prog, result)
}

/// The `main` of a compiled app built without bench support (the default: the bench variant
/// doubles the generated code to compile). Same flags as [`main`] except `--bench`.
pub fn main_run<A>() -> ExitCode
where
    A: Application<Sink = JsonLinesWriter>,
{
    let (prog, args) = match parse_args() {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    let result = if args.bench {
        Err(Failure::usage(
            "this binary was built without bench support: use `eventflux bench`",
        ))
    } else {
        run_main::<A>(&args)
    };
    finish(&prog, result)
}

/// Parses `std::env::args()`; `Err` carries the exit code after printing help or an error.
fn parse_args() -> Result<(String, Args), ExitCode> {
    let argv: Vec<String> = std::env::args().collect();
    let prog = argv
        .first()
        .and_then(|p| std::path::Path::new(p).file_name())
        .map_or_else(|| "app".to_string(), |n| n.to_string_lossy().into_owned());
    match Args::parse(argv.iter().skip(1).map(String::as_str)) {
        Ok(Some(args)) => Ok((prog, args)),
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
            eprintln!("{prog}: {message}");
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
fn output_filter<A: Application>(requested: Option<&[String]>) -> Result<HashSet<String>, Failure> {
    let known = A::output_streams();
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

/// The state file of `--state-dir`: `DIR/state.snap`, written atomically (temp + rename).
struct StateFile {
    path: std::path::PathBuf,
}

impl StateFile {
    fn open(dir: &str) -> Result<StateFile, Failure> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::runtime(format!("cannot create state directory `{dir}`: {e}")))?;
        Ok(StateFile {
            path: std::path::Path::new(dir).join("state.snap"),
        })
    }

    /// Restores the app from the state file, if there is one.
    fn restore<A: Application>(&self, app: &mut A) -> Result<(), Failure> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(Failure::runtime(format!(
                    "cannot read `{}`: {e}",
                    self.path.display()
                )))
            }
        };
        app.restore(&bytes)
            .map_err(|e| Failure::runtime(format!("cannot restore `{}`: {e}", self.path.display())))
    }

    /// Writes a snapshot of the app.
    fn save<A: Application>(&self, app: &A) -> Result<(), Failure> {
        let tmp = self.path.with_extension("snap.tmp");
        std::fs::write(&tmp, app.snapshot())
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .map_err(|e| Failure::runtime(format!("cannot write `{}`: {e}", self.path.display())))
    }
}

/// Run mode: JSON lines in, JSON lines out.
fn run_main<A: Application<Sink = JsonLinesWriter>>(args: &Args) -> Result<(), Failure> {
    let filter = output_filter::<A>(args.output_streams.as_deref())?;
    let input = if !args.input_given && !A::sources().is_empty() {
        sources::merge(A::sources())?
    } else {
        args::open_input(&args.input)?
    };
    let output = args::open_output(&args.output)?;
    let mut writer = JsonLinesWriter::new(output, Some(filter));
    for (stream, path) in A::sinks() {
        writer.route(stream, args::open_output(path)?);
    }
    if args.state_dir.is_some() && !A::KEEPS_STATE {
        return Err(Failure::usage(format!(
            "--state-dir: {}",
            crate::state::StateError::NotKept
        )));
    }
    let mut app = A::with_sink(writer);
    let state = args.state_dir.as_deref().map(StateFile::open).transpose()?;
    if let Some(file) = &state {
        file.restore(&mut app)?;
    }
    let opts = RunOptions {
        clock: args.clock,
        strict: args.strict,
    };
    let every = args.checkpoint_every.map(std::time::Duration::from_millis);
    let mut last_checkpoint = std::time::Instant::now();
    let result = run_until(&mut app, input, &opts, &mut io::stderr(), |a| {
        if let (Some(file), Some(every)) = (&state, every) {
            if last_checkpoint.elapsed() >= every {
                if let Err(e) = file.save(a) {
                    eprintln!("checkpoint failed: {}", e.message);
                }
                last_checkpoint = std::time::Instant::now();
            }
        }
        a.sink_mut().error().is_some() || a.failure().is_some()
    });
    if let Some(file) = &state {
        file.save(&app)?;
    }
    let flushed = app.sink_mut().flush();
    let stats = match result {
        Ok(stats) => stats,
        Err(e @ RunError::BadLine { .. }) => return Err(Failure::usage(format!("{e} (--strict)"))),
        Err(e) => return Err(Failure::runtime(e.to_string())),
    };
    if let Some(failure) = app.failure() {
        return Err(Failure::runtime(failure));
    }
    if stats.bad_lines > 0 {
        eprintln!("{} bad line(s) skipped", stats.bad_lines);
    }
    match flushed {
        // The reader of our output went away (`| head`): not an error of ours.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::runtime(format!("cannot write output: {e}"))),
        Ok(()) => Ok(()),
    }
}

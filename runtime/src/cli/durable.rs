//! What makes a standalone binary a service: checkpoints with the input position and the
//! output offsets, resuming from them, and shutting down on SIGTERM/SIGINT
//! (docs/operations.md).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::erased::{DynApp, Stop};
use super::log::{log, Level};
use super::reader::Counters;
use super::{Failure, Hooks, RunStats};
use crate::functions::now_millis;
use crate::metrics::Metrics;
use crate::state::{Checkpointer, Position, Positions, Restored, Saved};

/// A file the app writes output lines to, with the bytes written so far, so a checkpoint
/// can record the offset to truncate it to after a crash.
pub(super) struct OutputFile {
    path: String,
    /// A second handle on the file, to sync it before a checkpoint.
    file: File,
    base: u64,
    written: Arc<AtomicU64>,
}

impl OutputFile {
    pub(super) fn offset(&self) -> u64 {
        self.base + self.written.load(Ordering::Relaxed)
    }

    /// The file's path.
    #[cfg_attr(not(feature = "scale"), allow(dead_code))]
    pub(super) fn path(&self) -> &str {
        &self.path
    }

    /// Syncs what was written to the file.
    #[cfg_attr(not(feature = "scale"), allow(dead_code))]
    pub(super) fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }
}

/// The writing handle of an [`OutputFile`].
struct Counted {
    file: File,
    written: Arc<AtomicU64>,
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Opens output `path` (`-`: stdout): created empty, or, when resuming from a checkpoint
/// that recorded `resume` bytes of it, cut back to them and appended to.
pub(super) fn open_output(
    path: &str,
    resume: Option<u64>,
) -> Result<(Box<dyn Write + Send>, Option<OutputFile>), Failure> {
    if path == "-" {
        return Ok((Box::new(io::stdout()), None));
    }
    let fail = |what: &str, e: io::Error| Failure::runtime(format!("{what} `{path}`: {e}"));
    // A device or a pipe (`/dev/null`, a FIFO) cannot be cut back: written as it is.
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| fail("cannot open output", e))?;
        return Ok((Box::new(file), None));
    }
    let (file, base) = match resume {
        None => (
            File::create(path).map_err(|e| fail("cannot create output file", e))?,
            0,
        ),
        Some(offset) => {
            let mut file = OpenOptions::new()
                .write(true)
                .create(offset == 0)
                .truncate(false)
                .open(path)
                .map_err(|e| fail("cannot reopen output file", e))?;
            let len = file
                .metadata()
                .map_err(|e| fail("cannot read output file", e))?
                .len();
            if len < offset {
                return Err(Failure::runtime(format!(
                    "output file `{path}` has {len} bytes, fewer than the {offset} the checkpoint \
                     recorded: it was changed since (move it away to start over, or use --no-restore)"
                )));
            }
            file.set_len(offset)
                .and_then(|()| file.seek(SeekFrom::Start(offset)).map(drop))
                .map_err(|e| fail("cannot cut back output file", e))?;
            (file, offset)
        }
    };
    let sync = file
        .try_clone()
        .map_err(|e| fail("cannot open output file", e))?;
    let written = Arc::new(AtomicU64::new(0));
    let out = Counted {
        file,
        written: Arc::clone(&written),
    };
    Ok((
        Box::new(out),
        Some(OutputFile {
            path: path.to_owned(),
            file: sync,
            base,
            written,
        }),
    ))
}

/// Skips `bytes` of `input` that a checkpoint says were processed already: seeks a file,
/// reads past them on a pipe (so a replayed pipe resumes too).
pub(super) fn skip_processed(
    input: &mut Box<dyn Read + Send>,
    file: Option<&mut File>,
    bytes: u64,
    name: &str,
) -> Result<(), Failure> {
    if bytes == 0 {
        return Ok(());
    }
    let short = || {
        Failure::runtime(format!(
            "{name} is shorter than the {bytes} bytes the checkpoint says were processed: \
             was it replaced? (use --no-restore to start over)"
        ))
    };
    if let Some(file) = file {
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len < bytes {
            return Err(short());
        }
        file.seek(SeekFrom::Start(bytes))
            .map_err(|e| Failure::runtime(format!("cannot seek {name}: {e}")))?;
        return Ok(());
    }
    let skipped = io::copy(&mut input.take(bytes), &mut io::sink())
        .map_err(|e| Failure::runtime(format!("cannot read {name}: {e}")))?;
    if skipped < bytes {
        return Err(short());
    }
    Ok(())
}

/// The driver hooks of a standalone binary: checkpoints every `every`, shutdown on a signal,
/// and the failure checks.
pub(super) struct Service {
    pub checkpointer: Option<Checkpointer>,
    pub every: Option<Duration>,
    pub last: Instant,
    pub outputs: Vec<OutputFile>,
    /// The name the input's position is kept under (none for stdin).
    pub source: Option<String>,
    pub signal: Arc<AtomicBool>,
    /// Set once a signal ended the run.
    pub signalled: bool,
    /// `--metrics`: published after each batch.
    pub metrics: Option<Arc<Metrics>>,
    pub counters: Arc<Counters>,
    /// Hand the output to the sinks after every batch (network sinks: deliver promptly).
    pub flush_each_batch: bool,
}

impl Service {
    /// Takes a checkpoint now: flushes and syncs the outputs, then writes the state with
    /// the input position `at` and the output offsets.
    pub fn checkpoint(
        &mut self,
        app: &mut dyn DynApp,
        at: (u64, u64),
    ) -> Result<Option<(Saved, Duration)>, String> {
        let Some(cp) = self.checkpointer.as_mut() else {
            return Ok(None);
        };
        if let Some(writer) = app.json_writer() {
            writer
                .flush()
                .map_err(|e| format!("checkpoint skipped: cannot write output: {e}"))?;
        }
        for out in &self.outputs {
            out.file
                .sync_data()
                .map_err(|e| format!("checkpoint skipped: cannot sync `{}`: {e}", out.path))?;
        }
        crate::connect::tracked::before_checkpoint()
            .map_err(|e| format!("checkpoint skipped: {e}"))?;
        let mut positions = Positions {
            sources: self
                .source
                .iter()
                .map(|name| {
                    let p = Position::Offset {
                        bytes: at.1,
                        lines: at.0,
                    };
                    (name.clone(), p)
                })
                .collect(),
            sinks: self
                .outputs
                .iter()
                .map(|o| (o.path.clone(), o.offset()))
                .collect(),
        };
        positions
            .sources
            .extend(crate::connect::tracked::positions());
        positions
            .sinks
            .extend(crate::connect::tracked::sink_positions());
        let started = Instant::now();
        let saved = cp
            .save(&app.snapshot(), positions.clone())
            .map_err(|e| format!("checkpoint failed: {e}"))?;
        crate::connect::tracked::after_checkpoint(&positions);
        let took = started.elapsed();
        if let Some(m) = &self.metrics {
            let bytes = u64::try_from(saved.bytes).unwrap_or(u64::MAX);
            m.checkpoint_taken(took.as_secs_f64(), bytes, now_millis());
        }
        Ok(Some((saved, took)))
    }

    /// Publishes what the query thread counted.
    fn publish(&self, app: &mut dyn DynApp) {
        let Some(m) = &self.metrics else {
            return;
        };
        let mut out: Vec<(&str, u64)> = Vec::new();
        let counted = app.json_writer().map_or(&[][..], |w| w.lines_per_stream());
        for &(stream, n) in counted {
            match out.iter_mut().find(|(s, _)| *s == stream) {
                Some(slot) => slot.1 += n,
                None => out.push((stream, n)),
            }
        }
        for (stream, n) in out {
            m.set_events_out(stream, n);
        }
        m.set_queue_depth("_input", self.counters.queued.load(Ordering::Relaxed));
        if let Some(now) = app.clock() {
            m.set_newest_event(now);
        }
    }
}

impl Hooks for Service {
    fn stop(&mut self) -> Stop<'_> {
        Stop::Halted
    }

    fn progress(&mut self, app: &mut dyn DynApp, at: (u64, u64), _stats: &RunStats) -> bool {
        if self.flush_each_batch {
            // An error is remembered by the writer and ends the run (`stop`).
            if let Some(writer) = app.json_writer() {
                let _ = writer.flush();
            }
        }
        self.publish(app);
        // Without checkpoints, broker sources acknowledge what was processed.
        crate::connect::tracked::commit_processed();
        if let Some(every) = self.every {
            if self.last.elapsed() >= every {
                if let Err(e) = self.checkpoint(app, at) {
                    log(Level::Error, &e);
                }
                self.last = Instant::now();
            }
        }
        if self.signal.load(Ordering::Relaxed) {
            self.signalled = true;
        }
        self.signalled
    }
}

/// Sets the returned flag on SIGTERM or SIGINT (a second SIGINT ends the process at once).
pub(super) fn shutdown_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGINT, SIGTERM};
        for signal in [SIGTERM, SIGINT] {
            // Registration fails only for signals that cannot be caught; these two can.
            let _ = signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&flag));
            let _ = signal_hook::flag::register(signal, Arc::clone(&flag));
        }
    }
    flag
}

/// Says what a restore did on stderr: which checkpoint, which ones were skipped, and which
/// operators start empty.
pub(super) fn report_restore(restored: &Restored, store: &str, missing: &[String], took: Duration) {
    for reason in &restored.skipped {
        log(
            Level::Warn,
            &format!("warning: {reason}; trying an older checkpoint"),
        );
    }
    let at: Vec<String> = restored
        .positions
        .sources
        .iter()
        .map(|(name, p)| format!("{name} at {p}"))
        .collect();
    let at = if at.is_empty() {
        String::new()
    } else {
        format!(" ({})", at.join(", "))
    };
    log(
        Level::Info,
        &format!(
            "restored checkpoint {} from {store}{at} in {:.3} s",
            restored.id,
            took.as_secs_f64()
        ),
    );
    if !missing.is_empty() {
        log(
            Level::Warn,
            &format!(
                "note: checkpoint {} has no state for {} (new, or its state layout changed): \
                 they start empty",
                restored.id,
                missing.join(", ")
            ),
        );
    }
}

//! `--workers N`, `--processes N --process I --hosts FILE` (DESIGN 11, docs/scale-out.md):
//! the JSON-lines run and `--bench` of an app split across workers by
//! [`crate::scale::execute`]. An app that is not split (see
//! [`Application::SCALABLE`]) runs on one worker as without the flags.

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::args::{self, Args};
use super::bench::{decode_all, BenchStats, Decoded};
use super::connectors::SinkScope;
use super::durable::OutputFile;
use super::scale_state::{self as state, ProcessPart, WorkerStore};
use super::{reader, Failure, RunError};
use crate::functions::now_millis;
use crate::io::{CountingSink, JsonLinesWriter};
use crate::scale::{execute, execute_with, Batch, Checkpoints, Route, ScaleInput, Source, Workers};
use crate::state::{Position, Positions};
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
/// output: the workers' lines never interleave within a line. With checkpoints, what a
/// worker writes after reaching a checkpoint is held by the [`Gate`] until every worker of
/// the process has reached it and the output offsets are recorded.
struct SharedOut {
    buf: Vec<u8>,
    out: Arc<Mutex<Box<dyn Write + Send>>>,
    /// With checkpoints: the gate, this worker's local index and this output's slot.
    gate: Option<(Arc<Gate>, usize, usize)>,
}

impl Write for SharedOut {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some((gate, local, slot)) = &self.gate {
            return gate.hand_over(*local, *slot, std::mem::take(&mut self.buf));
        }
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

/// Lines a worker wrote to one output, by the checkpoint the worker had reached when it
/// wrote them.
struct Held {
    out: Arc<Mutex<Box<dyn Write + Send>>>,
    segments: VecDeque<(u64, Vec<u8>)>,
}

/// The lines of a process's workers held back, and the checkpoints its workers are taking.
#[derive(Default)]
struct HeldLines {
    /// By output slot.
    slots: Vec<Held>,
    /// The newest checkpoint whose output offsets are recorded.
    done: u64,
    /// Per checkpoint not yet taken by every local worker: how many have reached it, and
    /// whether one of them failed. A worker may reach later checkpoints before another
    /// reaches an earlier one, so each checkpoint counts on its own.
    taking: BTreeMap<u64, (usize, bool)>,
}

/// What the checkpoints of this process's workers share (see `scale_state`): the
/// checkpoint each worker has reached, the lines held until the output offsets of a
/// checkpoint are recorded, and the process's part of it.
struct Gate {
    store: WorkerStore,
    process: usize,
    processes: usize,
    total: usize,
    threads: usize,
    keep: usize,
    /// The checkpoint each local worker has reached.
    marks: Vec<AtomicU64>,
    /// The lines held and the checkpoints being taken.
    held: Mutex<HeldLines>,
    /// The output files, to sync them and record their offsets.
    outputs: Vec<OutputFile>,
    /// The input's name in checkpoints (process 0).
    source: Option<String>,
    /// Where this process's sources were at their cut of each checkpoint.
    source_at: Mutex<Vec<SourcesAt>>,
    /// The broker sources of each local worker (with sources split across workers; else
    /// worker 0's): a source that ended sends no cut, its position stays where it ended.
    cells: Vec<Vec<Arc<crate::connect::tracked::SourceCell>>>,
    /// With several processes: the broker sources' positions of checkpoints whose parts
    /// this process wrote, acknowledged to the brokers once every process has written its
    /// part.
    unacked: Mutex<Vec<(u64, Positions)>>,
}

/// Where a worker's source was at its cut of a checkpoint: the checkpoint, the local
/// worker, the input's line number and byte offset (worker 0 of process 0) and the broker
/// sources' positions.
type SourcesAt = (u64, usize, Option<(u64, u64)>, Vec<(String, Position)>);

impl Gate {
    /// Records where local worker `local`'s source was at its cut of checkpoint `id`: its
    /// broker sources' positions, and `input` (worker 0 of process 0: the input's line
    /// number and byte offset).
    fn record_cut(&self, id: u64, local: usize, input: Option<(u64, u64)>) {
        let brokers = self
            .cells
            .get(local)
            .map_or_else(Vec::new, |c| crate::connect::tracked::positions_of(c));
        if let Ok(mut list) = self.source_at.lock() {
            list.push((id, local, input, brokers));
        }
    }

    /// A new output slot for a worker's lines to `out`.
    fn slot(&self, out: &Arc<Mutex<Box<dyn Write + Send>>>) -> usize {
        let Ok(mut held) = self.held.lock() else {
            return 0;
        };
        held.slots.push(Held {
            out: Arc::clone(out),
            segments: VecDeque::new(),
        });
        held.slots.len() - 1
    }

    /// Takes the lines worker `local` wrote to output `slot` since its last flush, and writes
    /// out every line whose checkpoint's offsets are recorded.
    fn hand_over(&self, local: usize, slot: usize, lines: Vec<u8>) -> io::Result<()> {
        let mark = self.marks[local].load(Ordering::Acquire);
        let mut held = self
            .held
            .lock()
            .map_err(|_| io::Error::other("output lock poisoned"))?;
        let done = held.done;
        let Some(h) = held.slots.get_mut(slot) else {
            return Ok(());
        };
        if !lines.is_empty() {
            match h.segments.back_mut() {
                Some((m, seg)) if *m == mark => seg.extend_from_slice(&lines),
                _ => h.segments.push_back((mark, lines)),
            }
        }
        write_held(h, done)
    }

    /// Worker `index` ran the marker of checkpoint `id`: writes its snapshot; the last worker
    /// of the process to get there writes out the lines from before it, syncs the outputs
    /// and writes the process's part (process 0: and removes old checkpoints).
    fn reached<A: Application<Sink = JsonLinesWriter>>(&self, index: usize, app: &mut A, id: u64) {
        let local = index - self.process * self.threads.max(1);
        let mut failed = app
            .sink_mut()
            .flush()
            .err()
            .map(|e| format!("checkpoint {id} skipped: cannot write output: {e}"));
        if failed.is_none() {
            failed = self.store.write_worker(id, index, &app.snapshot()).err();
        }
        if let Some(e) = &failed {
            super::log::log(super::log::Level::Error, e);
        }
        self.settle(local, id, failed.is_some());
    }

    /// Local worker `local` has written (or, `failed`, could not write) its snapshot of
    /// checkpoint `id`; when it is the last local worker to get there, the lines from before
    /// the checkpoint are written out, the outputs synced and the process's part written.
    fn settle(&self, local: usize, id: u64, failed: bool) {
        self.marks[local].store(id, Ordering::Release);
        let Ok(mut held) = self.held.lock() else {
            return;
        };
        let (count, any_failed) = {
            let entry = held.taking.entry(id).or_default();
            entry.0 += 1;
            entry.1 |= failed;
            *entry
        };
        if count < self.threads.max(1) {
            return;
        }
        // Every local worker runs the markers in order, so every earlier checkpoint is
        // settled already.
        held.taking.retain(|&i, _| i > id);
        let mut ok = !any_failed;
        for h in &mut held.slots {
            if write_held(h, id - 1).is_err() {
                ok = false;
            }
        }
        if ok {
            match self.process_part(id) {
                Ok(()) => {
                    if self.process == 0 {
                        super::log::log(
                            super::log::Level::Info,
                            &format!("checkpoint {id} taken ({} worker(s))", self.total),
                        );
                        self.store.prune(self.keep, &state::intact);
                    }
                }
                Err(e) => super::log::log(super::log::Level::Error, &e),
            }
        }
        held.done = id;
        for h in &mut held.slots {
            let _ = write_held(h, id);
        }
    }

    /// At the end of a run that read its whole input: writes out every line still held (the
    /// last checkpoint may not have been taken, e.g. when it could not be written).
    fn release(&self) -> io::Result<()> {
        let mut held = self
            .held
            .lock()
            .map_err(|_| io::Error::other("output lock poisoned"))?;
        let mut result = Ok(());
        for h in &mut held.slots {
            result = result.and(write_held(h, u64::MAX));
        }
        result
    }

    /// Syncs the outputs, waits until the broker sinks delivered every line from before the
    /// checkpoint, and writes this process's part of checkpoint `id`; then the sources
    /// acknowledge what the checkpoint covers once it is complete.
    fn process_part(&self, id: u64) -> Result<(), String> {
        for out in &self.outputs {
            out.sync().map_err(|e| {
                format!("checkpoint {id} skipped: cannot sync `{}`: {e}", out.path())
            })?;
        }
        crate::connect::tracked::before_checkpoint()
            .map_err(|e| format!("checkpoint {id} skipped: {e}"))?;
        let mut positions = Positions {
            sources: Vec::new(),
            sinks: self
                .outputs
                .iter()
                .map(|o| (o.path().to_owned(), o.offset()))
                .collect(),
        };
        positions
            .sinks
            .extend(crate::connect::tracked::sink_positions());
        let mut at: Vec<SourcesAt> = Vec::new();
        if let Ok(mut list) = self.source_at.lock() {
            let (this, later): (Vec<SourcesAt>, Vec<SourcesAt>) = list
                .drain(..)
                .filter(|e| e.0 >= id)
                .partition(|e| e.0 == id);
            at = this;
            *list = later;
        }
        for (local, cells) in self.cells.iter().enumerate() {
            match at.iter_mut().find(|e| e.1 == local) {
                Some((_, _, input, brokers)) => {
                    if let (Some(name), Some((lines, bytes))) = (&self.source, *input) {
                        positions
                            .sources
                            .push((name.clone(), Position::Offset { bytes, lines }));
                    }
                    positions.sources.append(brokers);
                }
                // The source ended before the checkpoint: where it ended.
                None => positions
                    .sources
                    .extend(crate::connect::tracked::positions_of(cells)),
            }
        }
        let part = ProcessPart {
            workers: self.total,
            processes: self.processes,
            positions,
        };
        self.store.write_process(id, self.process, &part)?;
        crate::connect::tracked::sinks_after_checkpoint();
        self.acknowledge(id, part.positions);
        Ok(())
    }

    /// This process wrote its part of checkpoint `id` (with `positions`): its broker sources
    /// acknowledge what the newest complete checkpoint covers (with one process at once;
    /// with several once the others wrote theirs, at a later checkpoint at the latest).
    fn acknowledge(&self, id: u64, positions: Positions) {
        if self.processes <= 1 {
            crate::connect::tracked::commit_sources(&positions);
            return;
        }
        let Ok(mut unacked) = self.unacked.lock() else {
            return;
        };
        unacked.push((id, positions));
        let complete = unacked
            .iter()
            .rposition(|(i, _)| self.store.complete(*i, self.processes));
        if let Some(at) = complete {
            let done: Vec<(u64, Positions)> = unacked.drain(..=at).collect();
            if let Some((_, newest)) = done.last() {
                crate::connect::tracked::commit_sources(newest);
            }
        }
    }
}

/// Writes the held lines of `h` from checkpoints up to `done` to its output.
fn write_held(h: &mut Held, done: u64) -> io::Result<()> {
    let mut result = Ok(());
    while h.segments.front().is_some_and(|(m, _)| *m <= done) {
        let Some((_, seg)) = h.segments.pop_front() else {
            break;
        };
        let mut out = h
            .out
            .lock()
            .map_err(|_| io::Error::other("output lock poisoned"))?;
        result = result.and(out.write_all(&seg)).and(out.flush());
    }
    result
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
    /// The input's line number and byte offset after the last batch (for checkpoints).
    at: Arc<Mutex<(u64, u64)>>,
    /// Rows this process's sinks could not deliver (`'on.error' = 'fault'`), as events of
    /// their fault streams: sent into the dataflow with the source's events.
    faults: Option<crossbeam_channel::Receiver<reader::Msg>>,
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
            self.take_faults(&mut out);
            return Some(out);
        }
        let items = match self.rx.recv_timeout(Duration::from_millis(5)) {
            Ok(reader::Msg::Batch(items)) => items,
            Ok(reader::Msg::Failed(e)) => {
                self.fail(RunError::Io(e));
                return None;
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                let mut out = Vec::new();
                self.take_faults(&mut out);
                return Some(out);
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                self.done = true;
                return None;
            }
        };
        self.counters
            .queued
            .fetch_sub(items.items.len() as u64, Ordering::Relaxed);
        let mut out = self.batch(items);
        self.take_faults(&mut out);
        Some(out)
    }
}

impl<I: 'static> ReaderSource<I> {
    /// Appends the fault events waiting (rows a sink could not deliver) to `out`, each at
    /// its row's `ts` (or the source's clock when that is later: a source's clock never goes
    /// back), exchanged to their workers like the source's events.
    fn take_faults(&mut self, out: &mut Batch<I>) {
        let Some(rx) = &self.faults else {
            return;
        };
        let msgs: Vec<reader::Msg> = rx.try_iter().collect();
        for msg in msgs {
            let reader::Msg::Batch(read) = msg else {
                continue;
            };
            let mut events = read.events.take::<I>().into_iter();
            for item in read.items {
                if let reader::Item::Remote { ts } = item {
                    let Some(event) = events.next() else {
                        continue;
                    };
                    self.now = if self.wall {
                        now_millis().max(self.now)
                    } else {
                        ts.unwrap_or(self.now).max(self.now)
                    };
                    out.push((self.now, Some(event)));
                }
            }
        }
    }
}

impl<I: 'static> ReaderSource<I> {
    /// The events and clock steps of the reader's items; bad lines are reported (or end
    /// the run with `--strict` or a failing source).
    fn batch(&mut self, read: reader::Batch) -> Batch<I> {
        let mut events = read.events.take::<I>().into_iter();
        let mut batch = Vec::with_capacity(read.items.len());
        if let Some(at) = read.items.iter().rev().find_map(reader::Item::position) {
            if let Ok(mut cell) = self.at.lock() {
                *cell = at;
            }
        }
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
                // The batch goes to the workers before any later checkpoint marker, so
                // that checkpoint covers what the broker source handed over up to here.
                reader::Item::Mark { cell, position } => cell.processed(position),
                reader::Item::Skipped { .. } => {}
            }
        }
        // Without checkpoints a broker source acknowledges what it handed to the workers.
        crate::connect::tracked::commit_processed();
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
    // A state directory with checkpoints of several workers: resumed (and kept) through the
    // workers also on one (rescaling N -> 1).
    let resumed = info.scalable && args.state_dir.as_deref().is_some_and(WorkerStore::used);
    let wanted = args.workers > 1 || args.processes > 1 || resumed;
    if wanted && !info.scalable {
        eprintln!(
            "note: this app has no partition that runs on several workers \
             (`eventflux explain` tells why); running it on one worker"
        );
        return false;
    }
    // Rows crossing from a partition to worker 0 are ordered in event time, and are not
    // part of a checkpoint yet.
    if wanted
        && info.crossing
        && (args.state_dir.is_some() || matches!(args.clock, super::Clock::Wall))
    {
        eprintln!(
            "note: this app's partitions feed queries outside them, which runs on several \
             workers only with the event clock and without --state-dir; running it on one worker"
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
    if args.state_dir.is_some() && !A::KEEPS_STATE {
        return Err(Failure::usage(format!(
            "--state-dir: {}",
            crate::state::StateError::NotKept
        )));
    }
    // Sources are read by worker 0 of process 0 and exchanged (partitioned broker sources:
    // by every worker, each its share); every process writes its sinks.
    let workers = workers(args)?;
    // Rows a sink could not deliver enter the dataflow with the events of the sources, which
    // only worker 0 of process 0 reads: the sinks of another process have no way in.
    if workers.hosts.len() > 1 {
        if let Some(c) = A::connectors().iter().find(|c| {
            c.direction == crate::connect::Direction::Sink
                && c.option("on.error")
                    .is_some_and(|v| v.eq_ignore_ascii_case("fault"))
        }) {
            return Err(Failure::usage(format!(
                "stream `{}`: a sink with 'on.error' = 'fault' runs with --workers, not with \
                 --processes (only the first process feeds the dataflow; docs/scale-out.md)",
                c.stream
            )));
        }
    }
    let info = super::erased::AppInfo::of::<A>();
    let endpoints = super::Endpoints::of(&info, &args.overrides)?;
    let begun = Instant::now();
    // Checkpoints (DESIGN 11, `scale_state`): the newest complete one is restored (or the
    // newest of a run on one worker), new ones are taken every `--checkpoint-every` and at
    // the end of the input.
    let store = match &args.state_dir {
        Some(dir) => Some(WorkerStore::open(dir).map_err(Failure::usage)?),
        None => None,
    };
    let restored = match (&store, &args.state_dir) {
        (Some(st), Some(dir)) if !args.no_restore => {
            if st.ids().is_empty() {
                state::single_worker(dir, args.restore_from).map_err(Failure::runtime)?
            } else {
                st.newest(args.restore_from, &state::intact)
                    .map_err(Failure::runtime)?
            }
        }
        _ => None,
    };
    // Broker connectors: their positions and delivery take part in checkpoints (sources
    // on process 0; each process's sinks).
    let location = args.state_dir.as_deref().filter(|_| !args.no_restore);
    crate::connect::tracked::begin(
        restored.as_ref().map(|r| (r.id, r.positions.clone())),
        store.is_some(),
        crate::connect::tracked::fresh_epoch_for(location),
    );
    let total = workers.total();
    let threads = workers.threads.max(1);
    // The clock to continue from (an event without `ts` gets it), and a check that every
    // snapshot restores, before the workers start.
    let mut resume_clock = 0;
    if let Some(r) = &restored {
        let first = workers.process * threads;
        let mut probe = A::with_sink(JsonLinesWriter::new(Box::new(io::sink()), None));
        probe
            .restore_keys(&r.snapshots, &|h| (h % total as u64) as usize == first)
            .map_err(|e| Failure::runtime(format!("cannot restore checkpoint {}: {e}", r.id)))?;
        resume_clock = probe.clock().unwrap_or(0);
        let at: Vec<String> = r
            .positions
            .sources
            .iter()
            .map(|(name, p)| format!("{name} at {p}"))
            .collect();
        super::log::log(
            super::log::Level::Info,
            &format!(
                "restored checkpoint {} from {}{} on {total} worker(s) in {:.3} s",
                r.id,
                r.from,
                if at.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", at.join(", "))
                },
                begun.elapsed().as_secs_f64()
            ),
        );
    }
    let resume = |path: &str| {
        restored
            .as_ref()
            .map(|r| r.positions.sink(path).unwrap_or(0))
    };
    let source_name = endpoints.source_name(args);
    let (line_no, offset) = match restored
        .as_ref()
        .and_then(|r| r.positions.source(source_name.as_deref()?))
    {
        Some(Position::Offset { bytes, lines }) => (*lines, *bytes),
        _ => (0, 0),
    };
    let next_id = store
        .as_ref()
        .and_then(|st| st.ids().last().copied())
        .unwrap_or(0)
        + 1;
    let reader_at = Arc::new(Mutex::new((line_no, offset)));
    let metrics = super::serve_metrics(args)?;
    let failed = Arc::new(Mutex::new(None));
    let mut sources: Vec<Source<A::Input>> = Vec::new();
    // The app's gRPC service, like a tcp source: served by process 0 (its `Send` events
    // exchanged by key), its `Subscribe` streaming the rows of process 0's workers.
    let mut grpc = if workers.process == 0 {
        super::grpc::new(&info, args)?
    } else {
        None
    };
    let taps = grpc.as_ref().map(super::grpc::Grpc::taps);
    // Rows a sink with `'on.error' = 'fault'` could not deliver, back as fault events.
    let (fault_tx, fault_rx) = crossbeam_channel::unbounded();
    // Sources split across workers by partition (Kafka, NATS with "nats.partitions"):
    // every worker reads its share, and every source sends its cut of each checkpoint.
    let split = super::connectors::has_split_sources(&info) && total > 1;
    if split {
        // Where each source cuts a checkpoint depends on timing, and the sources' events
        // merge differently around the cuts: a replay may run them in another order.
        crate::connect::tracked::replay_reordered();
    }
    // A process that reads sources stops reading on SIGTERM/SIGINT and lets the workers
    // finish what was read; the other processes end with it.
    let signal = if workers.process == 0 || split {
        super::durable::shutdown_flag()
    } else {
        Arc::new(AtomicBool::new(false))
    };
    // The broker sources of each local worker that reads some (see `Gate::cells`).
    let mut cells: Vec<Vec<Arc<crate::connect::tracked::SourceCell>>> = Vec::new();
    let mut network: Vec<super::connectors::Sources> = Vec::new();
    // A worker's reader: its sources (`share`: its part of the split ones) feed a channel
    // that a `ReaderSource` hands to the dataflow.
    let start_reader = |share: Option<(usize, usize)>| {
        let counters = Arc::new(reader::Counters {
            metrics: metrics.clone(),
            ..reader::Counters::default()
        });
        let (tx, rx) = reader::channel();
        let started =
            super::connectors::start_sources(&info, &tx, &args.overrides, metrics.as_ref(), share)?;
        Ok::<_, Failure>((tx, rx, counters, started))
    };
    let reader_source = |rx, counters, at, faults| ReaderSource::<A::Input> {
        rx,
        counters,
        now: resume_clock,
        wall: workers.wall_clock,
        strict: args.strict,
        failed: Arc::clone(&failed),
        done: false,
        signal: Arc::clone(&signal),
        events: std::marker::PhantomData,
        at,
        faults,
    };
    if workers.process == 0 {
        let (tx, rx, counters, mut started) = start_reader(split.then_some((0, total)))?;
        cells.push(std::mem::take(&mut started.cells));
        network.push(started);
        if let Some(g) = grpc.as_mut() {
            g.start(&info, args, &tx, metrics.clone())?;
        }
        // With network (or tailing) sources and no file source, `--input` is read only
        // when given; the run then lasts until it is stopped.
        let remote = super::connectors::has_sources(&info) || grpc.is_some();
        if !(remote && !args.input_given && endpoints.sources.is_empty()) {
            let mut input = endpoints.open_input(args, offset)?;
            input.line_no = line_no;
            reader::spawn(
                input,
                Arc::clone(&info.codec),
                reader::Faults::of(&info),
                Arc::new(AtomicBool::new(false)),
                Arc::clone(&counters),
                tx,
                super::connectors::input_pipeline(&info),
            );
        }
        sources.push(Box::new(reader_source(
            rx,
            counters,
            Arc::clone(&reader_at),
            Some(fault_rx),
        )));
    }
    if split {
        // Every other worker reads its share of the split sources on a reader of its own;
        // the sources of other processes' workers are theirs (empty here).
        if workers.process > 0 {
            sources.resize_with(workers.process * threads, || Box::new(std::iter::empty()));
        }
        for local in sources.len() - workers.process * threads..threads {
            let index = workers.process * threads + local;
            let (tx, rx, counters, mut started) = start_reader(Some((index, total)))?;
            cells.push(std::mem::take(&mut started.cells));
            network.push(started);
            drop(tx);
            sources.push(Box::new(reader_source(
                rx,
                counters,
                Arc::new(Mutex::new((0, 0))),
                None,
            )));
        }
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
    let mut files: Vec<OutputFile> = Vec::new();
    for (stream, path) in &endpoints.sinks {
        let (out, file) = super::durable::open_output(path, resume(path))?;
        files.extend(file);
        add_route(stream, out);
    }
    let faults = (workers.process == 0).then_some(&fault_tx);
    for (stream, out) in super::connectors::open_sinks(
        &info,
        &args.overrides,
        metrics.as_ref(),
        faults,
        SinkScope::Shared,
    )? {
        add_route(&stream, out);
    }
    // An `async` sink stream: one queue and thread per process (shared by its workers) or
    // per worker's own sink.
    let queued = |stream: &str, out: Box<dyn Write + Send>| -> Result<Shared, Failure> {
        let out: Box<dyn Write + Send> = match info.pipelines.iter().find(|p| p.stream == stream) {
            Some(p) => Box::new(
                crate::connect::sink::AsyncLines::start(p, out, metrics.clone()).map_err(|e| {
                    Failure::runtime(format!("stream `{stream}`: cannot start its queue: {e}"))
                })?,
            ),
            None => out,
        };
        Ok(Arc::new(Mutex::new(out)))
    };
    // Each local worker's own instance of the sinks that number their messages.
    let mut own: Vec<Vec<(String, Shared)>> = Vec::with_capacity(threads);
    for local in 0..threads {
        let index = workers.process * threads + local;
        let sinks = super::connectors::open_sinks(
            &info,
            &args.overrides,
            metrics.as_ref(),
            faults,
            SinkScope::Worker(index),
        )?;
        let mut mine = Vec::with_capacity(sinks.len());
        for (stream, out) in sinks {
            let out = queued(&stream, out)?;
            mine.push((stream, out));
        }
        own.push(mine);
    }
    drop(fault_tx);
    let mut shared: Vec<(String, Shared)> = Vec::new();
    for (stream, mut list) in routes {
        let out: Box<dyn Write + Send> = if list.len() == 1 {
            list.remove(0)
        } else {
            Box::new(crate::connect::sink::Fanout(list))
        };
        let out = queued(&stream, out)?;
        shared.push((stream, out));
    }
    let routes = shared;
    let out_counts = OutCounts {
        per_worker: Mutex::new(Vec::new()),
        newest: std::sync::atomic::AtomicI64::new(i64::MIN),
    };
    let out: Box<dyn Write + Send> = if store.is_some() {
        let (out, file) = super::durable::open_output(&args.output, resume(&args.output))?;
        files.extend(file);
        out
    } else {
        args::open_output(&args.output)?
    };
    let out = Arc::new(Mutex::new(out));
    let gate = store.map(|store| {
        Arc::new(Gate {
            store,
            process: workers.process,
            processes: workers.hosts.len().max(1),
            total,
            threads,
            keep: args.keep_checkpoints,
            marks: (0..threads).map(|_| AtomicU64::new(0)).collect(),
            held: Mutex::new(HeldLines::default()),
            outputs: files,
            source: source_name.clone(),
            source_at: Mutex::new(Vec::new()),
            cells,
            unacked: Mutex::new(Vec::new()),
        })
    });
    let due: Option<Box<dyn FnMut(bool) -> Option<u64> + Send>> = match &gate {
        Some(g) if workers.process == 0 => {
            let g = Arc::clone(g);
            let every = args.checkpoint_every.map(Duration::from_millis);
            let mut last = Instant::now();
            let mut next = next_id;
            let failed = Arc::clone(&failed);
            Some(Box::new(move |end: bool| {
                if !end && every.is_none_or(|e| last.elapsed() < e) {
                    return None;
                }
                // A bad line under `--strict` (or a failed source) ends the run without a
                // checkpoint past it, as on one worker.
                if failed.lock().map_or(true, |f| f.is_some()) {
                    return None;
                }
                last = Instant::now();
                let id = next;
                next += 1;
                let at = reader_at.lock().map(|a| *a).unwrap_or_default();
                g.record_cut(id, 0, Some(at));
                Some(id)
            }))
        }
        _ => None,
    };
    let restored = restored.map(Arc::new);
    let marker_gate = gate.clone();
    let cut_gate = gate.clone();
    let (stop_signal, stop_failed) = (Arc::clone(&signal), Arc::clone(&failed));
    let end_gate = gate.clone();
    let checkpoints = Checkpoints {
        due,
        cut: Box::new(move |index, id| {
            if let Some(g) = &cut_gate {
                g.record_cut(id, index - g.process * threads, None);
            }
        }),
        sources: if split { total } else { 1 },
        stopped: Box::new(move || {
            stop_signal.load(Ordering::Relaxed) || stop_failed.lock().map_or(true, |f| f.is_some())
        }),
        init: Box::new(move |index, app: &mut A| {
            if let Some(r) = &restored {
                // Checked before the workers started (with the first worker's keys).
                if let Err(e) =
                    app.restore_keys(&r.snapshots, &|h| (h % total as u64) as usize == index)
                {
                    super::log::log(
                        super::log::Level::Error,
                        &format!("cannot restore checkpoint {}: {e}", r.id),
                    );
                }
            }
        }),
        reached: Box::new(move |index, app: &mut A, id| {
            if let Some(g) = &marker_gate {
                g.reached(index, app, id);
            }
        }),
    };
    let sink_out = Arc::clone(&out);
    let process = workers.process;
    let results = execute_with::<A, Option<io::Error>>(
        &workers,
        sources,
        checkpoints,
        move |index| {
            let local = index - process * threads;
            let share = |out: &Arc<Mutex<Box<dyn Write + Send>>>| SharedOut {
                buf: Vec::new(),
                out: Arc::clone(out),
                gate: gate.as_ref().map(|g| (Arc::clone(g), local, g.slot(out))),
            };
            let mut writer = JsonLinesWriter::new(Box::new(share(&sink_out)), Some(filter.clone()));
            if let Some(t) = &taps {
                t.tap(&mut writer);
            }
            // A stream's shared sinks and this worker's own: several are a fan-out.
            let mine = own.get(local).map_or(&[][..], Vec::as_slice);
            let mut streams: Vec<&str> = Vec::new();
            for (stream, _) in routes.iter().chain(mine) {
                if !streams.contains(&stream.as_str()) {
                    streams.push(stream);
                }
            }
            for stream in streams {
                let mut outs: Vec<Box<dyn Write + Send>> = routes
                    .iter()
                    .chain(mine)
                    .filter(|(s, _)| s == stream)
                    .map(|(_, out)| Box::new(share(out)) as Box<dyn Write + Send>)
                    .collect();
                let out = if outs.len() == 1 {
                    outs.remove(0)
                } else {
                    Box::new(crate::connect::sink::Fanout(outs))
                };
                writer.route(stream, out);
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
    drop(grpc);
    if let Some(e) = failed.lock().ok().and_then(|mut f| f.take()) {
        return Err(match e {
            e @ RunError::BadLine { .. } => Failure::usage(format!("{e} (--strict)")),
            e => Failure::runtime(e.to_string()),
        });
    }
    let released = end_gate.map_or(Ok(()), |g| g.release());
    if let Some(e) = results.into_iter().flatten().chain(released.err()).next() {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Process 0's gate of `processes` processes of `threads` workers each, with checkpoints
    /// under `dir`.
    fn test_gate(
        dir: &std::path::Path,
        processes: usize,
        threads: usize,
        outputs: Vec<OutputFile>,
    ) -> Gate {
        Gate {
            store: WorkerStore::open(&dir.to_string_lossy()).expect("store"),
            process: 0,
            processes,
            total: processes * threads,
            threads,
            keep: 5,
            marks: (0..threads).map(|_| AtomicU64::new(0)).collect(),
            held: Mutex::new(HeldLines::default()),
            outputs,
            source: None,
            source_at: Mutex::new(Vec::new()),
            cells: Vec::new(),
            unacked: Mutex::new(Vec::new()),
        }
    }

    /// A worker may run the marker of a later checkpoint before another worker of its
    /// process runs an earlier one: every checkpoint still completes once all have reached
    /// it, its part records the lines from before it, and the lines after it come out.
    #[test]
    fn checkpoints_complete_when_workers_reach_their_markers_out_of_step() {
        let dir = std::env::temp_dir().join(format!("ef-gate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("out.jsonl").to_string_lossy().into_owned();
        let (out, file) = super::super::durable::open_output(&path, None).expect("output");
        let gate = test_gate(&dir, 1, 2, file.into_iter().collect());
        let out = Arc::new(Mutex::new(out));
        let (a, b) = (gate.slot(&out), gate.slot(&out));
        let write = |local: usize, slot: usize, line: &str| {
            gate.hand_over(local, slot, format!("{line}\n").into_bytes())
                .expect("hand over");
        };
        // Worker 0 runs ahead through the markers of checkpoints 1 and 2.
        write(0, a, "a1");
        gate.settle(0, 1, false);
        write(0, a, "a2");
        gate.settle(0, 2, false);
        write(0, a, "a3");
        // Worker 1 catches up.
        write(1, b, "b1");
        gate.settle(1, 1, false);
        write(1, b, "b2");
        for (id, w) in [(2, 0), (2, 1)] {
            gate.store
                .write_worker(id, w, b"snapshot")
                .expect("snapshot");
        }
        gate.settle(1, 2, false);
        write(1, b, "b3");
        gate.release().expect("release");
        let text = std::fs::read_to_string(&path).expect("read output");
        let mut lines: Vec<&str> = text.lines().collect();
        let before_2 = text.find("a3").min(text.find("b3")).expect("a3 and b3");
        lines.sort_unstable();
        assert_eq!(lines, ["a1", "a2", "a3", "b1", "b2", "b3"]);
        let newest = gate
            .store
            .newest(None, &|_| Ok(()))
            .expect("checkpoints")
            .expect("checkpoint 2 complete");
        assert_eq!(newest.id, 2);
        // Checkpoint 2's offset covers exactly the lines from before its marker.
        assert_eq!(newest.positions.sink(&path), Some(before_2 as u64));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Process 0 of two keeps the broker positions of a checkpoint unacknowledged until the
    /// other process has written its part too, then acknowledges the newest complete one.
    #[test]
    fn sources_acknowledge_only_checkpoints_every_process_wrote() {
        let dir = std::env::temp_dir().join(format!("ef-ack-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let gate = test_gate(&dir, 2, 1, Vec::new());
        let unacked = || -> Vec<u64> {
            let list = gate.unacked.lock().expect("lock");
            list.iter().map(|(id, _)| *id).collect()
        };
        let other = ProcessPart {
            workers: 2,
            processes: 2,
            positions: Positions::default(),
        };
        gate.settle(0, 1, false);
        assert!(!gate.store.complete(1, 2));
        assert_eq!(unacked(), [1]);
        gate.store
            .write_process(1, 1, &other)
            .expect("part of process 1");
        assert!(gate.store.complete(1, 2));
        gate.settle(0, 2, false);
        assert_eq!(unacked(), [2]);
        gate.store
            .write_process(2, 1, &other)
            .expect("part of process 1");
        gate.settle(0, 3, false);
        assert_eq!(unacked(), [3]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! The timely dataflow that runs one app on several workers (see the module docs).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use timely::communication::Config as CommunicationConfig;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::{Input, Probe};
use timely::dataflow::{InputHandle, ProbeHandle};
use timely::WorkerConfig;

use super::{Route, ScaleInput};
use crate::Application;

/// A batch of a source: `(ts, Some(event))` for events, `(ts, None)` for clock ticks.
pub type Batch<I> = Vec<(i64, Option<I>)>;

/// One source partition: its batches in input order. An empty batch means "nothing to read
/// right now" (a live input waiting for lines): the worker runs what it has meanwhile, and
/// with the wall clock fires its due timers, before asking again.
pub type Source<I> = Box<dyn Iterator<Item = Batch<I>> + Send>;

/// How many workers, in how many processes.
#[derive(Clone, Debug, Default)]
pub struct Workers {
    /// Worker threads per process.
    pub threads: usize,
    /// `host:port` of every process (empty: one process).
    pub hosts: Vec<String>,
    /// This process's index in `hosts`.
    pub process: usize,
    /// Wall clock (`--clock wall`): each worker runs a message at its own wall-clock time
    /// on arrival (never before the time it reached) and fires its timers in real time, also
    /// while no input arrives; the sources' clocks only order the exchange.
    pub wall_clock: bool,
}

impl Workers {
    /// `threads` workers in this one process.
    pub fn threads(threads: usize) -> Self {
        Workers {
            threads,
            ..Workers::default()
        }
    }

    /// Every worker of every process.
    pub fn total(&self) -> usize {
        self.threads.max(1) * self.hosts.len().max(1)
    }

    fn config(&self) -> timely::Config {
        let threads = self.threads.max(1);
        let communication = if self.hosts.len() > 1 {
            CommunicationConfig::Cluster {
                threads,
                process: self.process,
                addresses: self.hosts.clone(),
                report: false,
                zerocopy: false,
                log_fn: Arc::new(|_| None),
            }
        } else if threads == 1 {
            CommunicationConfig::Thread
        } else {
            CommunicationConfig::Process(threads)
        };
        timely::Config {
            communication,
            worker: WorkerConfig::default(),
        }
    }
}

/// What travels between workers.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum Payload<I> {
    /// The first event of a partition came at the message's `ts`.
    Start(usize),
    /// An input event.
    Event(I),
    /// An input event for the queries outside partitions of an app whose partitions feed
    /// them ([`Application::CROSSING`]): worker 0 passes it on to them in time order.
    Outside(I),
    /// A clock tick: the worker's clock moves to the message's time.
    Tick,
    /// Checkpoint `id`: the sending source's cut. Every source sends one to every worker;
    /// a worker takes the checkpoint once it has run every message before the cut of every
    /// source (see [`Checkpoints`]).
    Checkpoint(u64),
    /// The sending source has ended: it sends no cut for a later checkpoint. `true`: it was
    /// stopped (a signal, a failure), and every other source stops too.
    Done(bool),
}

/// A row crossing to worker 0's queries outside partitions, or an event or clock tick of
/// worker 0 for them.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum CrossPayload<I, R> {
    /// An input event read only outside partitions.
    Event(I),
    /// A row of a crossing stream ([`Application::take_crossing`]).
    Row(R),
    /// A clock tick.
    Tick,
}

/// `(time, ts, payload)`: sent to worker 0 at timely time `time` (the clock of the message
/// that made it, or a timer's deadline), which orders them there.
type Cross<I, R> = (i64, i64, CrossPayload<I, R>);

/// Moves the rows `app` handed over into `out`, at time `at` (`timers`: rows of timers
/// fired on the way to `at`, at their own deadline).
fn take_rows<A: Application>(
    app: &mut A,
    rows: &mut Vec<(i64, A::Crossing)>,
    out: &mut Vec<Cross<A::Input, A::Crossing>>,
    at: i64,
    timers: bool,
) {
    app.take_crossing(rows);
    for (ts, row) in rows.drain(..) {
        let time = if timers { ts.min(at) } else { at };
        out.push((time, ts, CrossPayload::Row(row)));
    }
}

/// `(routing hash, clock, ts, epoch, source, payload)`: exchanged on the hash (a worker
/// index, or a key's hash); `clock` is the source's event clock (the running maximum of
/// `ts`) after the event; `epoch` is the id of the newest checkpoint whose cut the source
/// sent before it (0: none); `source` is the index of the worker whose source sent it.
type Msg<I> = (u64, i64, i64, u64, u32, Payload<I>);

/// The order a worker runs messages in: by epoch, then clock, then source (so that the
/// messages of several sources at one clock run in the same order in a replay); a stable
/// sort keeps one source's messages of one clock in the order sent.
fn order<I>(m: &Msg<I>) -> (u64, i64, u32) {
    (m.3, m.1, m.4)
}

/// Batches a source may have in flight before it waits for the workers to catch up
/// (`EVENTFLUX_SCALE_IN_FLIGHT` overrides it, for measurements).
fn in_flight_limit() -> usize {
    std::env::var("EVENTFLUX_SCALE_IN_FLIGHT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8)
}

/// How long a source of several waits with nothing to read before its clock follows the
/// others' (`EVENTFLUX_SCALE_IDLE_MS` overrides it).
fn idle_follow() -> Duration {
    Duration::from_millis(
        std::env::var("EVENTFLUX_SCALE_IDLE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(200),
    )
}

/// Runs app `A` on the workers of `workers`: the worker with global index `i` reads
/// `sources[i]` (if there is one) and exchanges its events by key. Each worker makes its app
/// with `make_sink(index)`, calls `after_batch(index, app)` after each run of events and hands its
/// app to `finish` at the end; the results come back in worker order (this process's
/// workers only).
pub fn execute<A, R>(
    workers: &Workers,
    sources: Vec<Source<A::Input>>,
    make_sink: impl Fn(usize) -> A::Sink + Send + Sync + 'static,
    after_batch: impl Fn(usize, &mut A) + Send + Sync + 'static,
    finish: impl Fn(usize, A) -> R + Send + Sync + 'static,
) -> Result<Vec<R>, String>
where
    A: Application + 'static,
    A::Input: ScaleInput,
    R: Send + 'static,
{
    execute_with(
        workers,
        sources,
        Checkpoints {
            due: None,
            cut: Box::new(|_, _| {}),
            sources: 1,
            stopped: Box::new(|| false),
            init: Box::new(|_, _| {}),
            reached: Box::new(|_, _, _| {}),
        },
        make_sink,
        after_batch,
        finish,
    )
}

/// Called on each worker's new app, with the worker's index.
pub type Init<A> = Box<dyn Fn(usize, &mut A) + Send + Sync>;
/// Called by a worker (its index) at the marker of a checkpoint (its id).
pub type Reached<A> = Box<dyn Fn(usize, &mut A, u64) + Send + Sync>;

/// Called by a source (its worker's index) at its cut of a checkpoint (its id).
pub type Cut = Box<dyn Fn(usize, u64) + Send + Sync>;

/// Checkpoints across workers (DESIGN 11). The first source asks `due(end)` after each batch
/// (`end`: after its last) whether to take a checkpoint; if so it sends every worker its cut
/// (a marker with the checkpoint's id) behind the batch. Every other source, once its worker
/// has seen a cut of a checkpoint it has not cut yet, calls `cut(index, id)` (to record its
/// position) and sends every worker its own cut behind what it has sent. Every message a
/// source sends after its cut belongs to the next epoch. A worker runs the messages of the
/// current epoch in clock order as the frontier passes them; once it has the cuts of all
/// `sources` and has run every message before them (the frontier has passed the latest
/// cut's clock), it calls `reached(index, app, id)` and runs the next epoch's messages, at
/// the latest cut's clock or later (as if one source had read every message before the
/// checkpoint first). With one source that is the moment it runs the marker.
/// `init(index, app)` is called on each new app (to restore it).
pub struct Checkpoints<A> {
    /// Whether a checkpoint is due after the batch just sent (`true`: the input ended).
    pub due: Option<Box<dyn FnMut(bool) -> Option<u64> + Send>>,
    /// Called by each source but the first at its cut of a checkpoint.
    pub cut: Cut,
    /// How many sources send cuts, over every process (those of `sources` in each).
    pub sources: usize,
    /// Asked when a source ends, with several sources: whether it was stopped (a signal, a
    /// failure) rather than at the end of its input; every other source then stops too.
    pub stopped: Box<dyn Fn() -> bool + Send + Sync>,
    /// Called on each worker's new app.
    pub init: Init<A>,
    /// Called by each worker when it takes a checkpoint.
    pub reached: Reached<A>,
}

/// [`execute`] with checkpoints.
pub fn execute_with<A, R>(
    workers: &Workers,
    sources: Vec<Source<A::Input>>,
    checkpoints: Checkpoints<A>,
    make_sink: impl Fn(usize) -> A::Sink + Send + Sync + 'static,
    after_batch: impl Fn(usize, &mut A) + Send + Sync + 'static,
    finish: impl Fn(usize, A) -> R + Send + Sync + 'static,
) -> Result<Vec<R>, String>
where
    A: Application + 'static,
    A::Input: ScaleInput,
    R: Send + 'static,
{
    if A::CROSSING && workers.wall_clock {
        return Err(
            "rows of a partition into queries outside it cross to worker 0 in event \
             time: with the wall clock such an app runs on one worker"
                .into(),
        );
    }
    let sources: Vec<Option<Source<A::Input>>> = sources.into_iter().map(Some).collect();
    let sources = Arc::new(Mutex::new(sources));
    let due = Arc::new(Mutex::new(checkpoints.due));
    let init = Arc::new(checkpoints.init);
    let reached_marker = Arc::new(checkpoints.reached);
    let cut = Arc::new(checkpoints.cut);
    let stopped = Arc::new(checkpoints.stopped);
    let cutting = checkpoints.sources.max(1);
    let after_batch = Arc::new(after_batch);
    let wall_clock = workers.wall_clock;
    let guards = timely::execute(workers.config(), move |worker| {
        let index = worker.index();
        let peers = worker.peers();
        // Rows of a partition into queries outside partitions cross to worker 0, where an
        // app of their own runs those queries (see the module docs).
        let crossing = A::CROSSING && !wall_clock;
        let mut input: InputHandle<i64, Msg<A::Input>> = InputHandle::new();
        let probe = ProbeHandle::new();
        let mut fresh = A::with_sink(make_sink(index));
        init(index, &mut fresh);
        if crossing {
            fresh.hand_over_crossing();
        }
        let app = Rc::new(RefCell::new(Some(fresh)));
        let op_app = Rc::clone(&app);
        let outside: Rc<RefCell<Option<A>>> = Rc::new(RefCell::new(
            (crossing && index == 0).then(|| A::with_sink(make_sink(index))),
        ));
        let op_outside = Rc::clone(&outside);
        let at_marker = Arc::clone(&reached_marker);
        let cut = Arc::clone(&cut);
        let stopped = Arc::clone(&stopped);
        let after = Arc::clone(&after_batch);
        let outside_after = Arc::clone(&after_batch);
        let tick_after = Arc::clone(&after_batch);
        let wall = wall_clock;
        // The time the worker's app has reached.
        let reached = Rc::new(Cell::new(i64::MIN));
        if wall {
            let now = crate::functions::now_millis();
            reached.set(now);
            if let Some(app) = app.borrow_mut().as_mut() {
                app.start(now);
            }
        }
        let op_reached = Rc::clone(&reached);
        // Set once the operator has seen its input end and run every message: the probe may
        // report the end before the operator's last activation has run the last messages.
        let drained = Rc::new(Cell::new(false));
        let op_drained = Rc::clone(&drained);
        // The same for the operator of the queries outside partitions (set at once when
        // there is none).
        let outside_drained = Rc::new(Cell::new(!crossing));
        let op_outside_drained = Rc::clone(&outside_drained);
        // With several sources: the newest clock of any message this worker received (an
        // idle source follows it, so that it does not hold the frontier back), and the
        // checkpoints whose cut it saw (its source sends its own cut of each).
        let seen = Rc::new(Cell::new(i64::MIN));
        let op_seen = Rc::clone(&seen);
        let requested: Rc<RefCell<VecDeque<u64>>> = Rc::new(RefCell::new(VecDeque::new()));
        let op_requested = Rc::clone(&requested);
        // Set once another source has ended (stopped by a signal or failed): this worker's
        // source stops too, so that every process ends with it.
        let peer_ended = Rc::new(Cell::new(false));
        let op_peer_ended = Rc::clone(&peer_ended);
        worker.dataflow::<i64, _, _>(|scope| {
            // Messages not yet run, in the order of their epochs and clocks (stable: one
            // source's messages of one clock keep their order).
            let mut pending: Vec<Msg<A::Input>> = Vec::new();
            // The checkpoint whose messages run (the newest taken, 0 before the first), the
            // clock of its latest cut (later messages run at it or later), the cuts come
            // per checkpoint (how many, the latest clock) and the epochs of the sources that
            // ended.
            let mut open = 0u64;
            let mut floor = i64::MIN;
            let mut cuts: BTreeMap<u64, (usize, i64)> = BTreeMap::new();
            let mut ended: Vec<u64> = Vec::new();
            let mut asked = 0u64;
            let rows = scope
                .input_from(&mut input)
                .unary_frontier::<timely::container::CapacityContainerBuilder<Vec<Cross<A::Input, A::Crossing>>>, _, _, _>(
                    Exchange::new(|m: &Msg<A::Input>| m.0),
                    "EventFlux",
                    move |cap, _info| {
                        // With crossing rows: a capability at or below the time of every
                        // row still to come (the earliest pending message or timer).
                        let mut held = crossing.then_some(cap);
                        let mut handed: Vec<(i64, A::Crossing)> = Vec::new();
                        move |(handle, frontier), output| {
                            // A source sends its messages in clock order, so what arrives
                            // usually extends `pending` in order; it is sorted only when
                            // messages of several sources interleave.
                            let mut sorted = true;
                            handle.for_each(|cap, data| {
                                if crossing && held.as_ref().is_none_or(|h| cap.time() < h.time()) {
                                    held = Some(cap.retain());
                                }
                                let last = pending.last().map_or((0, i64::MIN, 0), order);
                                if data.first().is_some_and(|m| order(m) < last)
                                    || data.windows(2).any(|w| order(&w[1]) < order(&w[0]))
                                {
                                    sorted = false;
                                }
                                if cutting > 1 {
                                    for m in data.iter() {
                                        op_seen.set(op_seen.get().max(m.1));
                                        match m.5 {
                                            Payload::Checkpoint(id) if id > asked => {
                                                asked = id;
                                                op_requested.borrow_mut().push_back(id);
                                            }
                                            Payload::Done(true) if m.4 as usize != index => {
                                                op_peer_ended.set(true);
                                            }
                                            _ => {}
                                        }
                                    }
                                }
                                pending.append(data);
                            });
                            if !sorted {
                                pending.sort_by_key(order);
                            }
                            // Every message still to come has a clock at or past the frontier.
                            // With the wall clock a message runs on arrival, at the worker's
                            // own time.
                            let next = frontier.frontier().iter().next().copied();
                            let mut guard = op_app.borrow_mut();
                            let Some(app) = guard.as_mut() else {
                                if next.is_none() {
                                    op_drained.set(true);
                                }
                                return;
                            };
                            let mut crossed: Vec<Cross<A::Input, A::Crossing>> = Vec::new();
                            let mut fired = false;
                            let mut ran = 0;
                            loop {
                                // The current epoch's messages the frontier has passed (with
                                // the wall clock: all of them, run on arrival).
                                let ready = pending.partition_point(|m| {
                                    m.3 == open && (wall || next.is_none_or(|f| m.1 < f))
                                });
                                ran += ready;
                                for (_, at, ts, _, _, payload) in pending.drain(..ready) {
                                    let (at, ts) = if wall {
                                        let now = crate::functions::now_millis().max(op_reached.get());
                                        (now, now)
                                    } else {
                                        (at.max(floor), ts)
                                    };
                                    if op_reached.get() < at {
                                        op_reached.set(at);
                                        app.advance_time(at);
                                    }
                                    if crossing {
                                        // Rows of timers fired on the way: at their deadline.
                                        take_rows(app, &mut handed, &mut crossed, at, true);
                                    }
                                    match payload {
                                        Payload::Event(ev) => app.send(ts, ev),
                                        Payload::Outside(ev) => crossed.push((at, ts, CrossPayload::Event(ev))),
                                        Payload::Start(p) => app.partition_started(p, ts),
                                        Payload::Tick => {
                                            if crossing && index == 0 {
                                                crossed.push((at, ts, CrossPayload::Tick));
                                            }
                                        }
                                        Payload::Checkpoint(id) => {
                                            let c = cuts.entry(id).or_insert((0, i64::MIN));
                                            c.0 += 1;
                                            c.1 = c.1.max(at);
                                        }
                                        Payload::Done(_) => ended.push(open),
                                    }
                                    if crossing {
                                        take_rows(app, &mut handed, &mut crossed, at, false);
                                    }
                                }
                                // The next checkpoint, once every source's cut is in (or the
                                // source ended before it) and every message before the cuts
                                // ran: the frontier passed the latest cut.
                                let Some((&id, &(count, latest))) = cuts.first_key_value() else {
                                    break;
                                };
                                let gone = ended.iter().filter(|&&e| e < id).count();
                                let complete = count + gone >= cutting;
                                let passed = next.is_none_or(|f| f > latest);
                                if !passed || pending.first().is_some_and(|m| m.3 == open) {
                                    break;
                                }
                                if !complete && next.is_some() {
                                    break;
                                }
                                cuts.remove(&id);
                                // Every input closed without every cut (not expected): the
                                // checkpoint is not taken, the run goes on.
                                if complete {
                                    at_marker(index, app, id);
                                }
                                open = id;
                                floor = floor.max(latest);
                            }
                            if next.is_none() && pending.is_empty() {
                                op_drained.set(true);
                            }
                            if ran == 0 && !crossing {
                                return;
                            }
                            if crossing {
                                // Every message still to come has a clock at or past the
                                // frontier: the timers due before it fire now, as they would
                                // before the next message on one worker.
                                if let Some(f) = next {
                                    let before = f.saturating_sub(1);
                                    if op_reached.get() < before
                                        && app.next_timer().is_some_and(|t| t <= before)
                                    {
                                        op_reached.set(before);
                                        app.advance_time(before);
                                        take_rows(app, &mut handed, &mut crossed, before, true);
                                    }
                                }
                                fired = !crossed.is_empty();
                                if let Some(h) = held.as_ref() {
                                    let mut session = output.session(h);
                                    for (at, ts, row) in crossed.drain(..) {
                                        let at = at.max(*h.time());
                                        session.give((at, ts, row));
                                    }
                                }
                                // Keep the capability at the earliest time a row may still
                                // come at (a pending message's clock or a timer), or drop it.
                                let earliest = pending.first().map(|m| m.1).into_iter().chain(app.next_timer()).min();
                                match earliest {
                                    Some(t) if !frontier.frontier().is_empty() || !pending.is_empty() => {
                                        if let Some(h) = held.as_mut() {
                                            if *h.time() < t {
                                                h.downgrade(&t);
                                            }
                                        }
                                    }
                                    _ => held = None,
                                }
                            }
                            if ran > 0 || fired {
                                after(index, app);
                            }
                        }
                    },
                );
            if crossing {
                // Worker 0's queries outside partitions: the rows of every worker, and the
                // events and clock ticks of worker 0, in the order of their times, each run
                // once the frontier has passed it.
                let mut waiting: Vec<Cross<A::Input, A::Crossing>> = Vec::new();
                let mut outside_reached = i64::MIN;
                rows.unary_frontier::<timely::container::CapacityContainerBuilder<Vec<()>>, _, _, _>(
                    Exchange::new(|_: &Cross<A::Input, A::Crossing>| 0),
                    "EventFlux outside",
                    move |_cap, _info| {
                        move |(handle, frontier), _output| {
                            handle.for_each(|_cap, data| waiting.append(data));
                            // Stable: one worker's rows of one time keep their order.
                            waiting.sort_by_key(|r| r.0);
                            let ready = match frontier.frontier().iter().next() {
                                Some(f) => waiting.partition_point(|r| r.0 < *f),
                                None => waiting.len(),
                            };
                            if frontier.frontier().is_empty() && ready == waiting.len() {
                                op_outside_drained.set(true);
                            }
                            if ready == 0 {
                                return;
                            }
                            let mut guard = op_outside.borrow_mut();
                            let Some(app) = guard.as_mut() else {
                                waiting.clear();
                                return;
                            };
                            for (at, ts, row) in waiting.drain(..ready) {
                                if outside_reached < at {
                                    outside_reached = at;
                                    app.advance_time(at);
                                }
                                match row {
                                    CrossPayload::Event(ev) => app.send(ts, ev),
                                    CrossPayload::Row(row) => app.send_crossing(ts, row),
                                    CrossPayload::Tick => {}
                                }
                            }
                            outside_after(peers, app);
                        }
                    },
                )
                .probe_with(&probe);
            } else {
                rows.probe_with(&probe);
            }
        });
        let source = sources
            .lock()
            .ok()
            .and_then(|mut s| s.get_mut(index).and_then(Option::take));
        // The first source (worker 0's) decides when checkpoints are due.
        let mut due = if source.is_some() && index == 0 {
            due.lock().ok().and_then(|mut d| d.take())
        } else {
            None
        };
        // The source's event clock (the input's timely time may be just past it).
        let mut clock = i64::MIN;
        // The newest checkpoint this source sent its cut of, and the source's index in
        // the messages.
        let mut epoch = 0u64;
        let me = u32::try_from(index).unwrap_or(u32::MAX);
        let has_source = source.is_some();
        let coordinator = due.is_some();
        // Sends this source's cut of checkpoint `id` to every worker: what it sends next
        // belongs to the epoch `id`.
        let send_cut =
            |input: &mut InputHandle<i64, Msg<A::Input>>, clock: i64, epoch: &mut u64, id: u64| {
                for w in 0..peers as u64 {
                    input.send((w, clock, clock, *epoch, me, Payload::Checkpoint(id)));
                }
                *epoch = id;
            };
        // A source other than the first sends its cut of every checkpoint its worker has
        // seen a cut of, behind what it has sent (the first sends its own when `due`).
        let follow_cuts =
            |input: &mut InputHandle<i64, Msg<A::Input>>, clock: i64, epoch: &mut u64| {
                let mut requested = requested.borrow_mut();
                if coordinator {
                    requested.clear();
                    return;
                }
                while let Some(id) = requested.pop_front() {
                    if id > *epoch {
                        cut(index, id);
                        send_cut(input, clock, epoch, id);
                    }
                }
            };
        if let Some(mut source) = source {
            let peers = peers as u64;
            let mut started: Vec<usize> = Vec::new();
            let mut in_flight: VecDeque<i64> = VecDeque::new();
            let limit = in_flight_limit();
            let follow_after = idle_follow();
            let mut idle_since: Option<Instant> = None;
            loop {
                // A cut before the next batch is read: the source's position at the cut
                // covers exactly what it sent before it.
                follow_cuts(&mut input, clock, &mut epoch);
                if peer_ended.get() {
                    break;
                }
                let Some(batch) = source.next() else {
                    break;
                };
                if batch.is_empty() {
                    // With several sources, one idle for a while moves its clock to the
                    // newest its worker has seen: it would hold every worker's frontier
                    // back, and what it reads later is late anyway, as for one source
                    // reading them all. Not at once: a source reading a backlog pauses
                    // briefly now and then, and following would make the order of the
                    // sources' events depend on those pauses (a replay after a restart
                    // would not repeat it).
                    let since = *idle_since.get_or_insert_with(Instant::now);
                    if cutting > 1 && !wall && seen.get() > clock && since.elapsed() >= follow_after
                    {
                        clock = seen.get();
                    }
                    // Nothing to read now. The messages of the last clock run once the
                    // frontier passes it: move the input just past it, so that a live input
                    // is not held back (messages still to come at that clock run on arrival,
                    // after the earlier ones of the same source, as they would on one
                    // worker). Then run what arrived and fire due wall-clock timers.
                    if clock > i64::MIN && clock.saturating_add(1) > *input.time() {
                        input.advance_to(clock.saturating_add(1));
                    }
                    worker.step();
                    if wall {
                        wall_tick(&app, &reached, &|a: &mut A| tick_after(index, a));
                    }
                    continue;
                }
                idle_since = None;
                // The batch goes out at the timely time of the clock before it: every
                // message carries its own clock (at or past that time), and the worker runs
                // the messages whose clock the frontier has passed, in clock order.
                for (ts, event) in batch {
                    clock = clock.max(ts);
                    match event {
                        Some(event) => match A::route(&event) {
                            Route::Worker0 if A::CROSSING => {
                                input.send((0, clock, ts, epoch, me, Payload::Outside(event)));
                            }
                            Route::Worker0 => {
                                input.send((0, clock, ts, epoch, me, Payload::Event(event)))
                            }
                            Route::Key { partition, hash } => {
                                if !started.contains(&partition) {
                                    started.push(partition);
                                    for w in 0..peers {
                                        input.send((
                                            w,
                                            clock,
                                            ts,
                                            epoch,
                                            me,
                                            Payload::Start(partition),
                                        ));
                                    }
                                }
                                input.send((hash, clock, ts, epoch, me, Payload::Event(event)));
                            }
                        },
                        None => {
                            for w in 0..peers {
                                input.send((w, clock, clock, epoch, me, Payload::Tick));
                            }
                        }
                    }
                }
                for w in 0..peers {
                    input.send((w, clock, clock, epoch, me, Payload::Tick));
                }
                if let Some(id) = due.as_mut().and_then(|d| d(false)) {
                    send_cut(&mut input, clock, &mut epoch, id);
                }
                if clock > *input.time() {
                    input.advance_to(clock);
                } else {
                    // The clock did not pass the input's time (a batch at the clock of the
                    // last one, moved past it while idle: rows a sink could not deliver,
                    // events without a later `ts`). `flush` alone leaves the messages in the
                    // exchange's buffers until the next advance; advancing by one sends them
                    // (their clocks are below the new frontier, so they run at once).
                    input.advance_to(input.time().saturating_add(1));
                }
                in_flight.push_back(clock);
                if in_flight.len() > limit {
                    if let Some(t) = in_flight.pop_front() {
                        // Parked, not spinning, while the other workers catch up: on a
                        // machine with as many cores as workers a spinning worker takes the
                        // core the one it waits for needs.
                        worker.step_or_park_while(None, || probe.less_than(&t));
                    }
                }
                worker.step();
                if wall {
                    wall_tick(&app, &reached, &|a: &mut A| tick_after(index, a));
                }
            }
        }
        if let Some(id) = due.as_mut().and_then(|d| d(true)) {
            send_cut(&mut input, clock, &mut epoch, id);
        }
        // With several sources, the others stop counting on this one's cuts (and stop
        // reading when this one was stopped).
        if has_source && cutting > 1 {
            follow_cuts(&mut input, clock, &mut epoch);
            let stop = peer_ended.get() || stopped();
            for w in 0..peers as u64 {
                input.send((w, clock, clock, epoch, me, Payload::Done(stop)));
            }
        }
        // One last message, so that closing the input flushes the exchange: timely's counter
        // passes the final flush on only when it has counted something since the last step,
        // and without it the last time's messages would stay in the exchange's buffers.
        if *input.time() > i64::MIN {
            input.send((index as u64, clock, clock, epoch, me, Payload::Tick));
        }
        input.close();
        if wall {
            while !probe.done() || !drained.get() {
                let wait = wall_tick(&app, &reached, &|a: &mut A| tick_after(index, a));
                worker.step_or_park(Some(wait));
            }
        } else {
            worker.step_or_park_while(None, || {
                !probe.done() || !drained.get() || !outside_drained.get()
            });
        }
        let app = app.borrow_mut().take();
        let outside = outside.borrow_mut().take();
        let mut results: Vec<R> = app.map(|app| finish(index, app)).into_iter().collect();
        results.extend(outside.map(|app| finish(index, app)));
        results
    })?;
    let mut out = Vec::new();
    for result in guards.join() {
        out.extend(result?);
    }
    Ok(out)
}

/// With the wall clock: fires the app's timers due by now and returns how long the worker
/// may wait for messages before the next one is due (at most 100 ms).
fn wall_tick<A: Application>(
    app: &RefCell<Option<A>>,
    reached: &Cell<i64>,
    after: &dyn Fn(&mut A),
) -> Duration {
    const IDLE: Duration = Duration::from_millis(100);
    let mut guard = app.borrow_mut();
    let Some(app) = guard.as_mut() else {
        return IDLE;
    };
    let now = crate::functions::now_millis().max(reached.get());
    match app.next_timer() {
        Some(t) if t <= now => {
            reached.set(now);
            app.advance_time(now);
            after(app);
            app.next_timer().map_or(IDLE, |t| {
                Duration::from_millis(u64::try_from(t - now).unwrap_or(1)).min(IDLE)
            })
        }
        Some(t) => Duration::from_millis(u64::try_from(t - now).unwrap_or(1)).min(IDLE),
        None => IDLE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Events `(key, value)` keyed by `key`; each event and each timer (7 ms after a key's
    /// last event) makes a row `(ts, key, value)` (`-1` for a timer). With `CROSS`, the
    /// partition's rows also feed a running sum outside it, recorded as `(ts, u64::MAX,
    /// sum)`, which the driver runs on worker 0.
    struct Fake<const CROSS: bool> {
        rows: Vec<(i64, u64, i64)>,
        timers: BTreeMap<u64, i64>,
        sum: i64,
        handed: Option<Vec<(i64, (u64, i64))>>,
    }

    impl<const CROSS: bool> Fake<CROSS> {
        fn row(&mut self, ts: i64, k: u64, v: i64) {
            self.rows.push((ts, k, v));
            if !CROSS {
                return;
            }
            match self.handed.as_mut() {
                Some(out) => out.push((ts, (k, v))),
                None => self.outside(ts, v),
            }
        }

        fn outside(&mut self, ts: i64, v: i64) {
            self.sum = self.sum.wrapping_mul(3).wrapping_add(v);
            self.rows.push((ts, u64::MAX, self.sum));
        }
    }

    impl<const CROSS: bool> Application for Fake<CROSS> {
        type Input = (u64, i64);
        type Sink = Vec<(i64, u64, i64)>;
        type Crossing = (u64, i64);
        fn with_sink(rows: Self::Sink) -> Self {
            Fake {
                rows,
                timers: BTreeMap::new(),
                sum: 0,
                handed: None,
            }
        }
        fn sink_mut(&mut self) -> &mut Self::Sink {
            &mut self.rows
        }
        fn input_streams() -> &'static [&'static str] {
            &["S"]
        }
        fn output_streams() -> &'static [&'static str] {
            &["O"]
        }
        fn decode(_: &str, _: &str) -> Result<Self::Input, crate::DecodeError> {
            Err(crate::DecodeError::UnknownStream(String::new()))
        }
        fn send(&mut self, ts: i64, (k, v): Self::Input) {
            self.advance_time(ts);
            self.row(ts, k, v);
            self.timers.insert(k, ts + 7);
        }
        fn advance_time(&mut self, ts: i64) {
            let mut due: Vec<(u64, i64)> = self
                .timers
                .iter()
                .filter(|(_, &d)| d <= ts)
                .map(|(&k, &d)| (k, d))
                .collect();
            due.sort_by_key(|&(k, d)| (d, k));
            for (k, d) in due {
                self.timers.remove(&k);
                self.row(d, k, -1);
            }
        }
        fn next_timer(&self) -> Option<i64> {
            self.timers.values().min().copied()
        }
        fn start(&mut self, _: i64) {}
        fn snapshot(&self) -> Vec<u8> {
            Vec::new()
        }
        fn restore(&mut self, _: &[u8]) -> Result<(), crate::state::StateError> {
            Ok(())
        }
        const SCALABLE: bool = true;
        fn route(event: &Self::Input) -> Route {
            Route::Key {
                partition: 0,
                hash: super::super::key_hash(&event.0),
            }
        }
        const CROSSING: bool = CROSS;
        fn hand_over_crossing(&mut self) {
            self.handed = Some(Vec::new());
        }
        fn take_crossing(&mut self, out: &mut Vec<(i64, (u64, i64))>) {
            if let Some(rows) = self.handed.as_mut() {
                out.append(rows);
            }
        }
        fn send_crossing(&mut self, ts: i64, (_, v): (u64, i64)) {
            self.outside(ts, v);
        }
    }

    fn input() -> Vec<(i64, Option<(u64, i64)>)> {
        let mut out = Vec::new();
        let mut ts = 0;
        for i in 0..3000i64 {
            ts += i % 3;
            let k = (i * 7 % 13) as u64;
            out.push((ts, Some((k, i))));
            if i % 500 == 0 {
                out.push((ts + 40, None));
            }
        }
        out.push((ts + 5, None));
        out
    }

    fn per_key(rows: Vec<(i64, u64, i64)>) -> BTreeMap<u64, Vec<(i64, i64)>> {
        let mut m: BTreeMap<u64, Vec<(i64, i64)>> = BTreeMap::new();
        for (ts, k, v) in rows {
            m.entry(k).or_default().push((ts, v));
        }
        m
    }

    fn run(threads: usize, sources: usize) -> BTreeMap<u64, Vec<(i64, i64)>> {
        let events = input();
        let mut parts: Vec<Batch<(u64, i64)>> = vec![Vec::new(); sources];
        for (ts, e) in events {
            let p = e.map_or(0, |(k, _)| (k % sources as u64) as usize);
            parts[p].push((ts, e));
        }
        let sources: Vec<Source<(u64, i64)>> = parts
            .into_iter()
            .map(|p| {
                let batches: Vec<Batch<(u64, i64)>> = p.chunks(100).map(<[_]>::to_vec).collect();
                Box::new(batches.into_iter()) as Source<(u64, i64)>
            })
            .collect();
        let rows = execute::<Fake<false>, Vec<(i64, u64, i64)>>(
            &Workers::threads(threads),
            sources,
            |_| Vec::new(),
            |_, _| {},
            |_, mut app| std::mem::take(app.sink_mut()),
        )
        .expect("runs");
        per_key(rows.into_iter().flatten().collect())
    }

    #[test]
    fn every_key_sees_the_single_worker_rows_and_timers_in_order() {
        let mut single = Fake::<false>::with_sink(Vec::new());
        for (ts, e) in input() {
            match e {
                Some(e) => single.send(ts, e),
                None => single.advance_time(ts),
            }
        }
        let single = per_key(single.rows);
        assert_eq!(run(1, 1), single);
        assert_eq!(run(2, 1), single);
        assert_eq!(run(3, 1), single);
        assert_eq!(run(2, 2), single);
        assert_eq!(run(3, 3), single);
    }

    /// A source of pre-made batches that counts the events it has handed out.
    struct Counted {
        batches: std::vec::IntoIter<Batch<(u64, i64)>>,
        handed: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Iterator for Counted {
        type Item = Batch<(u64, i64)>;
        fn next(&mut self) -> Option<Self::Item> {
            let batch = self.batches.next()?;
            let events = batch.iter().filter(|(_, e)| e.is_some()).count();
            self.handed
                .fetch_add(events, std::sync::atomic::Ordering::SeqCst);
            Some(batch)
        }
    }

    #[test]
    fn a_checkpoint_of_several_sources_holds_exactly_what_each_sent_before_its_cut() {
        use std::sync::atomic::Ordering::SeqCst;
        const SOURCES: usize = 3;
        let events = input();
        let mut parts: Vec<Batch<(u64, i64)>> = vec![Vec::new(); SOURCES];
        for (ts, e) in events {
            let p = e.map_or(0, |(k, _)| (k % SOURCES as u64) as usize);
            parts[p].push((ts, e));
        }
        let total: usize = parts
            .iter()
            .map(|p| p.iter().filter(|(_, e)| e.is_some()).count())
            .sum();
        let handed: Vec<Arc<std::sync::atomic::AtomicUsize>> = (0..SOURCES)
            .map(|_| Arc::new(std::sync::atomic::AtomicUsize::new(0)))
            .collect();
        let sources: Vec<Source<(u64, i64)>> = parts
            .into_iter()
            .zip(&handed)
            .map(|(p, h)| {
                let batches: Vec<Batch<(u64, i64)>> = p.chunks(20).map(<[_]>::to_vec).collect();
                Box::new(Counted {
                    batches: batches.into_iter(),
                    handed: Arc::clone(h),
                }) as Source<(u64, i64)>
            })
            .collect();
        // (id, source) -> events the source had handed out at its cut.
        let at_cut: Arc<Mutex<BTreeMap<(u64, usize), usize>>> = Arc::default();
        // id -> events run by each worker when it took the checkpoint.
        let taken: Arc<Mutex<BTreeMap<u64, Vec<usize>>>> = Arc::default();
        let (first, mut batches, mut next) = (Arc::clone(&handed[0]), 0u64, 1u64);
        let (cuts, first_cuts) = (Arc::clone(&at_cut), Arc::clone(&at_cut));
        let counted = handed.clone();
        let took = Arc::clone(&taken);
        let checkpoints = Checkpoints {
            due: Some(Box::new(move |end: bool| {
                batches += 1;
                if !end && batches % 5 != 0 {
                    return None;
                }
                let id = next;
                next += 1;
                if let Ok(mut c) = first_cuts.lock() {
                    c.insert((id, 0), first.load(SeqCst));
                }
                Some(id)
            })),
            cut: Box::new(move |index, id| {
                if let Ok(mut c) = cuts.lock() {
                    c.insert((id, index), counted[index].load(SeqCst));
                }
            }),
            sources: SOURCES,
            stopped: Box::new(|| false),
            init: Box::new(|_, _| {}),
            reached: Box::new(move |_, app: &mut Fake<false>, id| {
                let ran = app.rows.iter().filter(|r| r.2 >= 0).count();
                if let Ok(mut t) = took.lock() {
                    t.entry(id).or_default().push(ran);
                }
            }),
        };
        let rows = execute_with::<Fake<false>, Vec<(i64, u64, i64)>>(
            &Workers::threads(SOURCES),
            sources,
            checkpoints,
            |_| Vec::new(),
            |_, _| {},
            |_, mut app| std::mem::take(app.sink_mut()),
        )
        .expect("runs");
        let ran: usize = rows.iter().flatten().filter(|r| r.2 >= 0).count();
        assert_eq!(ran, total);
        let taken = taken.lock().expect("taken").clone();
        let at_cut = at_cut.lock().expect("cuts").clone();
        assert!(taken.len() >= 2, "{taken:?}");
        for (id, per_worker) in &taken {
            assert_eq!(per_worker.len(), SOURCES, "checkpoint {id}: {per_worker:?}");
            // A source that ended before a checkpoint sent no cut: all it had.
            let sent: usize = (0..SOURCES)
                .map(|s| {
                    at_cut
                        .get(&(*id, s))
                        .copied()
                        .unwrap_or_else(|| handed[s].load(SeqCst))
                })
                .sum();
            assert_eq!(per_worker.iter().sum::<usize>(), sent, "checkpoint {id}");
        }
    }

    #[test]
    fn rows_crossing_to_worker_0_run_there_in_the_single_worker_order() {
        // Distinct even timestamps; timers fire at odd times.
        let mut events: Vec<(i64, Option<(u64, i64)>)> = Vec::new();
        let mut ts = 0;
        for i in 0..2000i64 {
            ts += 2 * (1 + i % 5);
            events.push((ts, Some(((i * 7 % 17) as u64, i % 11))));
            if i % 300 == 299 {
                ts += 40;
                events.push((ts, None));
            }
        }
        let mut single = Fake::<true>::with_sink(Vec::new());
        for (ts, e) in events.clone() {
            match e {
                Some(e) => single.send(ts, e),
                None => single.advance_time(ts),
            }
        }
        let single = per_key(single.rows);
        assert!(single[&u64::MAX].len() > 2000);
        for threads in [1, 2, 3] {
            let batches: Vec<Batch<(u64, i64)>> = events.chunks(64).map(<[_]>::to_vec).collect();
            let rows = execute::<Fake<true>, Vec<(i64, u64, i64)>>(
                &Workers::threads(threads),
                vec![Box::new(batches.into_iter())],
                |_| Vec::new(),
                |_, _| {},
                |_, mut app| std::mem::take(app.sink_mut()),
            )
            .expect("runs");
            assert_eq!(
                per_key(rows.into_iter().flatten().collect()),
                single,
                "{threads} workers"
            );
        }
    }
}

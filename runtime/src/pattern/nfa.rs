//! The partial matches of one pattern query and how events and time move them.

use super::tree::{
    has_captures, parents, restarts_fresh, stream_bit, waits, Node, NodeState, Offer, Tree, Waits,
};
use serde::de::{self, DeserializeOwned, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::marker::PhantomData;

/// The constant description of a pattern: its tree and its mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Program {
    /// The nodes; leaves are tested and captured through the callbacks of
    /// [`Nfa::on_event`], which receive the leaf's index in this list.
    pub nodes: &'static [Node],
    /// Index of the root node.
    pub root: usize,
    /// `SEQUENCE` (strict contiguity) rather than `PATTERN`.
    pub sequence: bool,
    /// `WITHIN` (ms): a partial match lives while the time since its first captured event is
    /// at most this.
    pub within: Option<i64>,
}

/// A compiled pattern: its [`Program`] and the typed captures of a partial match. Generated
/// code implements it on a unit struct per pattern query.
pub trait Pattern {
    /// The events a partial match has captured, one field per stream leaf.
    type Captures: Clone + Default;
    /// The pattern's tree and mode (a constant).
    fn program() -> &'static Program;
    /// Forgets what stream leaf `leaf` captured.
    fn clear(leaf: usize, captures: &mut Self::Captures);
}

/// The node states of one partial match; serialized as a sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct States<const N: usize>([NodeState; N]);

impl<const N: usize> Serialize for States<N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.as_slice().serialize(s)
    }
}

impl<'de, const N: usize> Deserialize<'de> for States<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const N: usize>;
        impl<'de, const N: usize> Visitor<'de> for V<N> {
            type Value = States<N>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{N} node states")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<States<N>, A::Error> {
                let mut out = [NodeState::Idle; N];
                for (i, slot) in out.iter_mut().enumerate() {
                    *slot = seq
                        .next_element()?
                        .ok_or_else(|| de::Error::invalid_length(i, &self))?;
                }
                if seq.next_element::<NodeState>()?.is_some() {
                    return Err(de::Error::invalid_length(N + 1, &self));
                }
                Ok(States(out))
            }
        }
        d.deserialize_seq(V::<N>)
    }
}

/// One partial match.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Instance<C, const N: usize> {
    states: States<N>,
    captures: C,
    /// Time of the first captured event (`WITHIN` counts from it).
    first: Option<i64>,
    /// This partial match stands for the pattern's start: when it dies without completing,
    /// a fresh one replaces it (see the module docs).
    holds_start: bool,
    /// What its open leaves wait for.
    waits: Waits,
    /// Its earliest timer: `WITHIN` expiry or an absence deadline.
    due: Option<i64>,
}

impl<C, const N: usize> Instance<C, N> {
    fn tree(&mut self, program: &Program) -> Tree<'_> {
        self.parts(program).0
    }

    /// The tree and the captures, borrowed together.
    fn parts(&mut self, program: &Program) -> (Tree<'_>, &mut C) {
        let tree = Tree {
            nodes: program.nodes,
            st: &mut self.states.0,
        };
        (tree, &mut self.captures)
    }

    /// Recomputes what the partial match listens to and when its next timer is.
    fn refresh(&mut self, program: &Program) {
        self.waits = waits(program.nodes, &self.states.0);
        let expiry = match (self.first, program.within) {
            (Some(f), Some(w)) => Some(f.saturating_add(w).saturating_add(1)),
            _ => None,
        };
        self.due = min(expiry, self.waits.deadline);
    }
}

#[inline]
fn min(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What one event or timer did to a partial match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Alive,
    Complete,
    /// An absence was violated.
    Violated,
    /// A sequence saw an event it could not take.
    Broken,
    /// `WITHIN` passed.
    Expired,
}

/// The live partial matches of a pattern `P` with at most `N` nodes (generated code uses
/// exactly its number of nodes), in creation order, and how events and time move them
/// (semantics in the [module docs](super)).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(
    serialize = "P::Captures: Serialize",
    deserialize = "P::Captures: DeserializeOwned"
))]
pub struct Nfa<P: Pattern, const N: usize> {
    /// In creation order; a partial match that ends leaves a hole, swept out once holes are
    /// half of the list (so ending one does not move all the younger ones).
    instances: Vec<Option<Instance<P::Captures, N>>>,
    /// The first partial match was created (at the first event the pattern saw).
    armed: bool,
    /// A pattern whose start is not under `EVERY` completed: it starts no more matches.
    finished: bool,
    /// Cached earliest timer; may be earlier than any (a timer that finds nothing due
    /// recomputes it), never later.
    deadline: Option<i64>,
    /// For a `PATTERN`, what each entry of `instances` listens to (`Waits::streams`; 0 for a
    /// hole): an event visits only the partial matches listening to its stream. Rebuilt
    /// from `instances` when their lengths differ (after a restore, a sequence's event or a
    /// timer).
    #[serde(skip)]
    listens: Vec<u64>,
    /// Holes in `instances` since it was last compacted (not state).
    #[serde(skip)]
    holes: usize,
    /// Scratch space, rebuilt on demand (not state).
    #[serde(skip)]
    scratch: Scratch<P::Captures, N>,
    #[serde(skip)]
    marker: PhantomData<P>,
}

/// Buffers reused from one event to the next.
#[derive(Clone, Debug)]
struct Scratch<C, const N: usize> {
    /// The `EVERY` nodes that completed in one step.
    restarts: Vec<usize>,
    /// Partial matches created during one event or timer.
    born: Vec<Option<Instance<C, N>>>,
    /// A fresh start, for patterns without absences (whose start does not depend on time).
    template: Option<Instance<C, N>>,
    /// The parent of each node (empty until first needed).
    parents: Vec<usize>,
}

impl<C, const N: usize> Default for Scratch<C, N> {
    fn default() -> Self {
        Scratch {
            restarts: Vec::new(),
            born: Vec::new(),
            template: None,
            parents: Vec::new(),
        }
    }
}

impl<P: Pattern, const N: usize> Default for Nfa<P, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Pattern, const N: usize> Nfa<P, N> {
    /// An empty state machine; it arms at the first event it sees.
    ///
    /// # Panics
    ///
    /// When `P`'s program has more than `N` nodes (a bug of the caller, not of the data).
    pub fn new() -> Self {
        let nodes = P::program().nodes.len();
        assert!(
            nodes <= N,
            "a pattern with {nodes} nodes needs N >= {nodes}"
        );
        Nfa {
            instances: Vec::new(),
            armed: false,
            finished: false,
            deadline: None,
            listens: Vec::new(),
            holes: 0,
            scratch: Scratch::default(),
            marker: PhantomData,
        }
    }

    /// The number of live partial matches (including the one waiting for a first event).
    pub fn len(&self) -> usize {
        self.instances.iter().flatten().count()
    }

    /// `true` when no partial match is live.
    pub fn is_empty(&self) -> bool {
        self.instances.iter().all(Option::is_none)
    }

    /// The earliest time at which [`Nfa::advance`] has something to do: a `WITHIN` expiry
    /// (one past the last time a partial match may still complete) or an absence deadline.
    pub fn next_deadline(&self) -> Option<i64> {
        self.deadline
    }

    /// Processes an event of stream `stream` at `ts`: timers due at or before `ts` first,
    /// then every partial match, in creation order. `accept(leaf, captures)` tests the
    /// event against a leaf of its stream (the leaf's filter, reading what the partial match
    /// captured so far), `capture(leaf, captures)` stores it, and `emit(ts, captures)`
    /// receives each completed match.
    pub fn on_event<A, K, E>(
        &mut self,
        ts: i64,
        stream: u32,
        mut accept: A,
        mut capture: K,
        mut emit: E,
    ) where
        A: FnMut(usize, &P::Captures) -> bool,
        K: FnMut(usize, &mut P::Captures),
        E: FnMut(i64, &P::Captures),
    {
        self.advance(ts, &mut emit);
        let mut run = Run::<P, N>::new(&mut self.scratch, &mut self.finished);
        if !self.armed {
            self.armed = true;
            let seed = run.seed(ts);
            self.deadline = min(self.deadline, seed.due);
            self.instances.push(Some(seed));
        }
        let bit = stream_bit(stream);
        let mut ev = Event {
            ts,
            stream,
            accept: &mut accept,
            capture: &mut capture,
        };
        if !run.program.sequence {
            // A `PATTERN`: a partial match not listening to the stream is left as it is
            // (state and timers), so only the listening ones are visited.
            if self.listens.len() != self.instances.len() {
                self.listens = listening(&self.instances);
            }
            run.due = self.deadline;
            for (slot, listens) in self.instances.iter_mut().zip(self.listens.iter_mut()) {
                if *listens & bit == 0 {
                    continue;
                }
                let Some(inst) = slot else { continue };
                if run.rejects(inst, &mut ev) {
                    // Unchanged: its state, what it listens to and its timers stay.
                    continue;
                }
                let outcome = run.step(inst, &mut ev);
                if run.conclude(inst, outcome, ts, &mut emit) {
                    *listens = inst.waits.streams;
                } else {
                    *slot = None;
                    *listens = 0;
                    self.holes += 1;
                }
            }
            if self.holes * 2 > self.instances.len() {
                self.instances.retain(Option::is_some);
                self.listens = listening(&self.instances);
                self.holes = 0;
            }
            run.finish(&mut self.instances, &mut self.deadline, ts);
            self.listens
                .extend(listening(&self.instances[self.listens.len()..]));
            return;
        }
        self.holes = sweep(&mut self.instances, |inst| {
            let outcome = if inst.waits.streams & bit == 0 || run.rejects(inst, &mut ev) {
                // Unchanged by the event; a sequence that captured something breaks.
                run.unchanged(inst)
            } else {
                run.step(inst, &mut ev)
            };
            run.conclude(inst, outcome, ts, &mut emit)
        });
        if std::mem::take(&mut run.restart.now) {
            // A broken sequence restarts with the event that broke it.
            let mut inst = run.seed(ts);
            let outcome = if inst.waits.streams & bit == 0 || run.rejects(&inst, &mut ev) {
                Outcome::Alive
            } else {
                run.step(&mut inst, &mut ev)
            };
            if run.conclude(&inst, outcome, ts, &mut emit) {
                self.instances.push(Some(inst));
            }
        }
        run.finish(&mut self.instances, &mut self.deadline, ts);
    }

    /// Fires the timers due at or before `at`, in time order: partial matches older than
    /// `WITHIN` die, absences whose time passed are established (which may complete
    /// matches, emitted at the deadline).
    pub fn advance<E>(&mut self, at: i64, mut emit: E)
    where
        E: FnMut(i64, &P::Captures),
    {
        while let Some(t) = self.deadline.filter(|&t| t <= at) {
            self.fire(t, &mut emit);
        }
    }

    fn fire<E: FnMut(i64, &P::Captures)>(&mut self, t: i64, emit: &mut E) {
        let mut run = Run::<P, N>::new(&mut self.scratch, &mut self.finished);
        self.holes = sweep(&mut self.instances, |inst| {
            if inst.due.is_none_or(|due| due > t) {
                run.keep(inst);
                return true;
            }
            let outcome = run.timer(inst, t);
            run.conclude(inst, outcome, t, emit)
        });
        run.finish(&mut self.instances, &mut self.deadline, t);
        // What the partial matches listen to may have changed.
        self.listens = listening(&self.instances);
    }
}

#[cfg(test)]
thread_local! {
    /// Tests set it to run the reference path ([`Tree::offer`] + [`Tree::settle`]) only.
    pub(crate) static REFERENCE_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether [`Run::step`] may use the paths that touch only the leaf that changed
/// ([`Tree::take`], [`Tree::rise`]) instead of walking the whole tree.
#[cfg(not(test))]
#[inline(always)]
fn fast_paths() -> bool {
    true
}

#[cfg(test)]
fn fast_paths() -> bool {
    !REFERENCE_ONLY.with(std::cell::Cell::get)
}

/// What each entry of `instances` listens to (`Waits::streams`; 0 for a hole).
fn listening<C, const N: usize>(instances: &[Option<Instance<C, N>>]) -> Vec<u64> {
    instances
        .iter()
        .map(|i| i.as_ref().map_or(0, |i| i.waits.streams))
        .collect()
}

/// Calls `f` on every live partial match in order, ending those for which it returns
/// `false`; compacts the list once holes are half of it. Returns the holes left.
fn sweep<C, const N: usize>(
    instances: &mut Vec<Option<Instance<C, N>>>,
    mut f: impl FnMut(&mut Instance<C, N>) -> bool,
) -> usize {
    let mut holes = 0;
    for slot in instances.iter_mut() {
        match slot {
            Some(inst) => {
                if !f(inst) {
                    *slot = None;
                    holes += 1;
                }
            }
            None => holes += 1,
        }
    }
    if holes * 2 > instances.len() {
        instances.retain(Option::is_some);
        holes = 0;
    }
    holes
}

/// The event being processed, with its typed callbacks.
struct Event<'e, A, K> {
    ts: i64,
    stream: u32,
    accept: &'e mut A,
    capture: &'e mut K,
}

/// One event or timer being processed: the pieces of the [`Nfa`] it uses besides the
/// partial matches, and what it found so far.
struct Run<'n, P: Pattern, const N: usize> {
    program: &'static Program,
    /// The pattern has absences (they can fail; its start depends on time).
    absent: bool,
    scratch: &'n mut Scratch<P::Captures, N>,
    finished: &'n mut bool,
    restart: Restart,
    /// Earliest timer of the partial matches kept so far.
    due: Option<i64>,
}

/// What happened to the partial match that stands for the start during one event or timer.
#[derive(Default)]
struct Restart {
    /// It broke on the event: a fresh one is offered the same event.
    now: bool,
    /// It died otherwise: a fresh one starts after the event.
    after: bool,
}

impl<'n, P: Pattern, const N: usize> Run<'n, P, N> {
    fn new(scratch: &'n mut Scratch<P::Captures, N>, finished: &'n mut bool) -> Self {
        let program = P::program();
        let absent = program
            .nodes
            .iter()
            .any(|n| matches!(n, Node::Absent { .. }));
        Run {
            program,
            absent,
            scratch,
            finished,
            restart: Restart::default(),
            due: None,
        }
    }

    /// A fresh partial match standing for the pattern's start, armed at `now`.
    fn seed(&mut self, now: i64) -> Instance<P::Captures, N> {
        if let Some(t) = self.scratch.template.as_ref().filter(|_| !self.absent) {
            return t.clone();
        }
        let mut inst = Instance {
            states: States([NodeState::Idle; N]),
            captures: P::Captures::default(),
            first: None,
            holds_start: true,
            waits: Waits::default(),
            due: None,
        };
        let (mut tree, captures) = inst.parts(self.program);
        tree.start(self.program.root, now);
        // What holds from the start (an `OR` with a side that needs no event) is settled now.
        // (An `EVERY` cannot complete at its start: the compiler rejects that.)
        tree.settle(self.program.root, now, captures, P::clear, &mut Vec::new());
        inst.refresh(self.program);
        if !self.absent {
            self.scratch.template = Some(inst.clone());
        }
        inst
    }

    /// `true` when the partial match has a single open leaf and the event is not for it (a
    /// quick test before [`Run::step`]).
    #[inline]
    fn rejects<A, K>(&self, inst: &Instance<P::Captures, N>, ev: &mut Event<'_, A, K>) -> bool
    where
        A: FnMut(usize, &P::Captures) -> bool,
    {
        let Some(leaf) = inst.waits.solo.filter(|_| fast_paths()).map(|l| l as usize) else {
            return false;
        };
        let ours = match self.program.nodes.get(leaf) {
            Some(Node::Stream { stream, .. }) => *stream == ev.stream,
            _ => false,
        };
        !ours || !(ev.accept)(leaf, &inst.captures)
    }

    /// The outcome for a partial match that the event leaves unchanged.
    #[inline]
    fn unchanged(&self, inst: &Instance<P::Captures, N>) -> Outcome {
        if self.program.sequence && inst.first.is_some() {
            Outcome::Broken
        } else {
            Outcome::Alive
        }
    }

    /// Offers the event to one partial match (which [`Run::rejects`] did not reject);
    /// restarts of `EVERY` go to `born`.
    fn step<A, K>(
        &mut self,
        inst: &mut Instance<P::Captures, N>,
        ev: &mut Event<'_, A, K>,
    ) -> Outcome
    where
        A: FnMut(usize, &P::Captures) -> bool,
        K: FnMut(usize, &mut P::Captures),
    {
        let program = self.program;
        if self.scratch.parents.is_empty() {
            self.scratch.parents = parents(program.nodes, program.root);
        }
        let solo = inst.waits.solo.filter(|_| fast_paths());
        let (taken, violated, reached) = match solo.map(|l| l as usize) {
            Some(leaf) => {
                // The single open leaf accepted the event (the caller checked with `rejects`).
                let (mut tree, captures) = inst.parts(program);
                let reached = tree.take(leaf, &self.scratch.parents, captures, &mut *ev.capture);
                (Some(leaf), false, reached)
            }
            None => {
                let mut offer = Offer {
                    stream: ev.stream,
                    violated: false,
                    reached: false,
                    taken: None,
                    accept: &mut *ev.accept,
                    capture: &mut *ev.capture,
                    captures: &mut inst.captures,
                };
                let mut tree = Tree {
                    nodes: program.nodes,
                    st: &mut inst.states.0,
                };
                tree.offer(program.root, &mut offer);
                (offer.taken, offer.violated, offer.reached)
            }
        };
        if taken.is_none() && !violated {
            return self.unchanged(inst);
        }
        if taken.is_some() && inst.first.is_none() {
            inst.first = Some(ev.ts);
        }
        let mut restarts = std::mem::take(&mut self.scratch.restarts);
        restarts.clear();
        let outcome = match taken {
            // A count grew past its minimum: no node changed whether it is satisfied.
            Some(_) if !violated && !reached => Outcome::Alive,
            // Only what lies above the leaf that reached its minimum can change.
            Some(leaf) if !violated && fast_paths() => {
                let (mut tree, captures) = inst.parts(program);
                let parents = &self.scratch.parents;
                if tree.rise(leaf, parents, ev.ts, captures, P::clear, &mut restarts) {
                    Outcome::Complete
                } else {
                    Outcome::Alive
                }
            }
            _ => {
                let (mut tree, captures) = inst.parts(program);
                tree.settle(program.root, ev.ts, captures, P::clear, &mut restarts);
                match self.judge(inst) {
                    Outcome::Alive
                        if program.sequence && taken.is_none() && inst.first.is_some() =>
                    {
                        Outcome::Broken
                    }
                    outcome => outcome,
                }
            }
        };
        self.restart_all(&restarts, inst, ev.ts);
        self.scratch.restarts = restarts;
        if outcome == Outcome::Alive {
            inst.refresh(program);
        }
        outcome
    }

    /// Fires what is due at `t` in one partial match.
    fn timer(&mut self, inst: &mut Instance<P::Captures, N>, t: i64) -> Outcome {
        let program = self.program;
        let expired = matches!(
            (inst.first, program.within),
            (Some(f), Some(w)) if f.saturating_add(w) < t
        );
        if expired {
            return Outcome::Expired;
        }
        let mut restarts = std::mem::take(&mut self.scratch.restarts);
        restarts.clear();
        let (mut tree, captures) = inst.parts(program);
        tree.pass(t);
        tree.settle(program.root, t, captures, P::clear, &mut restarts);
        let outcome = self.judge(inst);
        self.restart_all(&restarts, inst, t);
        self.scratch.restarts = restarts;
        if outcome == Outcome::Alive {
            inst.refresh(program);
        }
        outcome
    }

    #[inline]
    fn judge(&self, inst: &mut Instance<P::Captures, N>) -> Outcome {
        let root = self.program.root;
        let tree = inst.tree(self.program);
        if tree.satisfied(root) {
            Outcome::Complete
        } else if self.absent && tree.failed(root) {
            Outcome::Violated
        } else {
            Outcome::Alive
        }
    }

    /// Emits a complete match and notes whether a dead partial match stood for the start;
    /// `true` when `inst` lives on.
    #[inline]
    fn conclude<E: FnMut(i64, &P::Captures)>(
        &mut self,
        inst: &Instance<P::Captures, N>,
        outcome: Outcome,
        now: i64,
        emit: &mut E,
    ) -> bool {
        match outcome {
            Outcome::Alive => {
                self.keep(inst);
                return true;
            }
            Outcome::Complete => {
                emit(now, &inst.captures);
                // Its start was not under EVERY (else a restart took it over): done.
                *self.finished |= inst.holds_start;
            }
            Outcome::Violated | Outcome::Expired => self.restart.after |= inst.holds_start,
            Outcome::Broken => self.restart.now |= inst.holds_start,
        }
        false
    }

    /// Notes the timer of a partial match that lives on.
    #[inline]
    fn keep(&mut self, inst: &Instance<P::Captures, N>) {
        self.due = min(self.due, inst.due);
    }

    /// For each `EVERY` node that completed in `inst`, a copy of `inst` with that node's
    /// sub-pattern (and what follows it through `->`) restarted at `now`.
    fn restart_all(&mut self, restarts: &[usize], inst: &mut Instance<P::Captures, N>, now: i64) {
        let program = self.program;
        for &every in restarts {
            let fresh = restarts_fresh(program.nodes, &inst.states.0, program.root, every);
            let mut copy = if fresh {
                self.seed(now)
            } else {
                let mut copy = inst.clone();
                let (mut tree, captures) = copy.parts(program);
                tree.reset_after(program.root, every, captures, P::clear);
                tree.reset(every, captures, P::clear);
                tree.start(every, now);
                tree.settle(every, now, captures, P::clear, &mut Vec::new());
                copy
            };
            if fresh || !has_captures(&copy.states.0) {
                // A restart of the pattern's beginning: it now stands for the start.
                copy.first = None;
                copy.holds_start = inst.holds_start;
                inst.holds_start = false;
            } else {
                copy.holds_start = false;
            }
            if !fresh {
                copy.refresh(program);
            }
            self.scratch.born.push(Some(copy));
        }
    }

    /// Adds the partial matches born during the event or timer at `now` (and a fresh start
    /// if the one standing for it died), and updates the cached deadline.
    fn finish(
        mut self,
        instances: &mut Vec<Option<Instance<P::Captures, N>>>,
        deadline: &mut Option<i64>,
        now: i64,
    ) {
        for inst in self.scratch.born.iter().flatten() {
            self.due = min(self.due, inst.due);
        }
        instances.append(&mut self.scratch.born);
        if self.restart.after && !*self.finished {
            let seed = self.seed(now);
            self.due = min(self.due, seed.due);
            instances.push(Some(seed));
        }
        *deadline = self.due;
    }
}

impl<const N: usize> crate::state::persist::Save for States<N> {
    /// As its serde form: a sequence (its length, then the states).
    fn save(&self, w: &mut crate::state::persist::Writer) {
        self.0.as_slice().save(w);
    }
}

impl<const N: usize> crate::state::persist::Load for States<N> {
    fn load(r: &mut crate::state::persist::Reader<'_>) -> Result<Self, crate::state::StateError> {
        let states: Vec<NodeState> = crate::state::persist::Load::load(r)?;
        let n = states.len();
        states
            .try_into()
            .map(States)
            .map_err(|_| r.error(&format!("{n} pattern node states where {N} are expected")))
    }
}

impl<C: crate::state::persist::Save, const N: usize> crate::state::persist::Save
    for Instance<C, N>
{
    fn save(&self, w: &mut crate::state::persist::Writer) {
        self.states.save(w);
        self.captures.save(w);
        self.first.save(w);
        self.holds_start.save(w);
        self.waits.save(w);
        self.due.save(w);
    }
}

impl<C: crate::state::persist::Load, const N: usize> crate::state::persist::Load
    for Instance<C, N>
{
    fn load(r: &mut crate::state::persist::Reader<'_>) -> Result<Self, crate::state::StateError> {
        use crate::state::persist::Load;
        Ok(Instance {
            states: Load::load(r)?,
            captures: Load::load(r)?,
            first: Load::load(r)?,
            holds_start: Load::load(r)?,
            waits: Load::load(r)?,
            due: Load::load(r)?,
        })
    }
}

impl<P: Pattern, const N: usize> crate::state::persist::Save for Nfa<P, N>
where
    P::Captures: crate::state::persist::Save,
{
    /// As its serde form: the partial matches, `armed`, `finished` and the deadline (the
    /// rest is rebuilt).
    fn save(&self, w: &mut crate::state::persist::Writer) {
        self.instances.save(w);
        self.armed.save(w);
        self.finished.save(w);
        self.deadline.save(w);
    }
}

impl<P: Pattern, const N: usize> crate::state::persist::Load for Nfa<P, N>
where
    P::Captures: crate::state::persist::Load,
{
    fn load(r: &mut crate::state::persist::Reader<'_>) -> Result<Self, crate::state::StateError> {
        use crate::state::persist::Load;
        Ok(Nfa {
            instances: Load::load(r)?,
            armed: Load::load(r)?,
            finished: Load::load(r)?,
            deadline: Load::load(r)?,
            listens: Vec::new(),
            holes: 0,
            scratch: Scratch::default(),
            marker: PhantomData,
        })
    }
}

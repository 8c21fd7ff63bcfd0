//! The partial matches of one pattern query and how events and time move them.

use super::tree::{deadline, has_captures, Node, NodeState, Offer, Tree};
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
    /// a fresh one replaces it (see [`Nfa`]).
    holds_start: bool,
}

/// What one event or timer did to a partial match.
enum Outcome {
    Alive,
    Complete,
    /// An absence was violated.
    Violated,
    /// A sequence saw an event it could not take.
    Broken,
}

/// The live partial matches of a pattern `P` with at most `N` nodes (generated code uses
/// exactly its number of nodes), in
/// creation order, and how events and time move them (semantics in the [module
/// docs](super)).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(
    serialize = "P::Captures: Serialize",
    deserialize = "P::Captures: DeserializeOwned"
))]
pub struct Nfa<P: Pattern, const N: usize> {
    instances: Vec<Instance<P::Captures, N>>,
    /// The first partial match was created (at the first event the pattern saw).
    armed: bool,
    /// A pattern whose start is not under `EVERY` completed: it starts no more matches.
    finished: bool,
    /// Cached earliest timer.
    deadline: Option<i64>,
    #[serde(skip)]
    restarts: Vec<usize>,
    #[serde(skip)]
    marker: PhantomData<P>,
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
        assert!(
            P::program().nodes.len() <= N,
            "a pattern with {} nodes needs N >= {}",
            P::program().nodes.len(),
            P::program().nodes.len()
        );
        Nfa {
            instances: Vec::new(),
            armed: false,
            finished: false,
            deadline: None,
            restarts: Vec::new(),
            marker: PhantomData,
        }
    }

    /// The number of live partial matches (including the one waiting for a first event).
    pub fn len(&self) -> usize {
        self.instances.len()
    }

    /// `true` when no partial match is live.
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
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
        if !self.armed {
            self.armed = true;
            self.instances.push(Self::seed(ts));
        }
        let old = std::mem::take(&mut self.instances);
        let mut born = Vec::new();
        let mut reseed_now = false;
        let mut reseed_after = false;
        for mut inst in old {
            let outcome = self.step(&mut inst, ts, stream, &mut accept, &mut capture, &mut born);
            match self.conclude(inst, outcome, ts, &mut emit) {
                Some(Outcome::Broken) => reseed_now = true,
                Some(_) => reseed_after = true,
                None => {}
            }
        }
        if reseed_now {
            // A broken sequence restarts with the event that broke it.
            let mut inst = Self::seed(ts);
            let outcome = self.step(&mut inst, ts, stream, &mut accept, &mut capture, &mut born);
            if self.conclude(inst, outcome, ts, &mut emit).is_some() {
                reseed_after = true;
            }
        }
        self.instances.append(&mut born);
        if reseed_after && !self.finished {
            self.instances.push(Self::seed(ts));
        }
        self.refresh_deadline();
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
        let old = std::mem::take(&mut self.instances);
        let mut born = Vec::new();
        let mut reseed = false;
        for mut inst in old {
            let expired = matches!((inst.first, P::program().within), (Some(f), Some(w)) if f.saturating_add(w) < t);
            if expired {
                reseed |= inst.holds_start;
                continue;
            }
            let mut tree = Tree {
                nodes: P::program().nodes,
                st: &mut inst.states.0,
            };
            if !tree.pass(t) {
                self.instances.push(inst);
                continue;
            }
            self.restarts.clear();
            tree.settle(
                P::program().root,
                t,
                &mut inst.captures,
                P::clear,
                &mut self.restarts,
            );
            let outcome = Self::judge(&tree);
            Self::restart_all(&self.restarts, &mut inst, t, &mut born);
            reseed |= self.conclude(inst, outcome, t, emit).is_some();
        }
        self.instances.append(&mut born);
        if reseed && !self.finished {
            self.instances.push(Self::seed(t));
        }
        self.refresh_deadline();
    }

    /// A fresh partial match standing for the pattern's start, armed at `now`.
    fn seed(now: i64) -> Instance<P::Captures, N> {
        let mut states = States([NodeState::Idle; N]);
        Tree {
            nodes: P::program().nodes,
            st: &mut states.0,
        }
        .start(P::program().root, now);
        Instance {
            states,
            captures: P::Captures::default(),
            first: None,
            holds_start: true,
        }
    }

    /// Offers the event to one partial match; restarts of `EVERY` go to `born`.
    fn step<A, K>(
        &mut self,
        inst: &mut Instance<P::Captures, N>,
        ts: i64,
        stream: u32,
        accept: &mut A,
        capture: &mut K,
        born: &mut Vec<Instance<P::Captures, N>>,
    ) -> Outcome
    where
        A: FnMut(usize, &P::Captures) -> bool,
        K: FnMut(usize, &mut P::Captures),
    {
        let mut tree = Tree {
            nodes: P::program().nodes,
            st: &mut inst.states.0,
        };
        let consumed = tree.offer(
            P::program().root,
            &mut Offer {
                stream,
                accept,
                capture,
                captures: &mut inst.captures,
            },
        );
        if consumed && inst.first.is_none() {
            inst.first = Some(ts);
        }
        self.restarts.clear();
        tree.settle(
            P::program().root,
            ts,
            &mut inst.captures,
            P::clear,
            &mut self.restarts,
        );
        let mut outcome = Self::judge(&tree);
        if matches!(outcome, Outcome::Alive)
            && P::program().sequence
            && !consumed
            && inst.first.is_some()
        {
            outcome = Outcome::Broken;
        }
        Self::restart_all(&self.restarts, inst, ts, born);
        outcome
    }

    fn judge(tree: &Tree<'_>) -> Outcome {
        if tree.satisfied(P::program().root) {
            Outcome::Complete
        } else if tree.failed(P::program().root) {
            Outcome::Violated
        } else {
            Outcome::Alive
        }
    }

    /// Keeps a live partial match, emits a complete one; returns the outcome when a partial
    /// match standing for the start died (the caller starts a fresh one).
    fn conclude<E: FnMut(i64, &P::Captures)>(
        &mut self,
        inst: Instance<P::Captures, N>,
        outcome: Outcome,
        now: i64,
        emit: &mut E,
    ) -> Option<Outcome> {
        match outcome {
            Outcome::Alive => {
                self.instances.push(inst);
                None
            }
            Outcome::Complete => {
                emit(now, &inst.captures);
                // Its start was not under EVERY (else a restart took it over): done.
                self.finished |= inst.holds_start;
                None
            }
            Outcome::Violated | Outcome::Broken => inst.holds_start.then_some(outcome),
        }
    }

    /// For each `EVERY` node that completed in `inst`, a copy of `inst` with that node's
    /// sub-pattern (and what follows it through `->`) restarted at `now`.
    fn restart_all(
        restarts: &[usize],
        inst: &mut Instance<P::Captures, N>,
        now: i64,
        born: &mut Vec<Instance<P::Captures, N>>,
    ) {
        for &every in restarts {
            let mut copy = inst.clone();
            let mut tree = Tree {
                nodes: P::program().nodes,
                st: &mut copy.states.0,
            };
            tree.reset_after(P::program().root, every, &mut copy.captures, P::clear);
            tree.reset(every, &mut copy.captures, P::clear);
            tree.start(every, now);
            if !has_captures(&copy.states.0) {
                // A restart of the pattern's beginning: it now stands for the start.
                copy.first = None;
                copy.holds_start = inst.holds_start;
                inst.holds_start = false;
            } else {
                copy.holds_start = false;
            }
            born.push(copy);
        }
    }

    fn refresh_deadline(&mut self) {
        self.deadline = self
            .instances
            .iter()
            .filter_map(|inst| {
                let expiry = match (inst.first, P::program().within) {
                    (Some(f), Some(w)) => Some(f.saturating_add(w).saturating_add(1)),
                    _ => None,
                };
                match (expiry, deadline(&inst.states.0)) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            })
            .min();
    }
}

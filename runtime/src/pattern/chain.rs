//! The most common pattern, run without the tree: `EVERY e1=S1[f1] -> e2=S2[f2] -> ... ->
//! en=Sn[fn] [WITHIN d]` (a `PATTERN`, each element one event).
//!
//! Its partial matches differ only in how far they got, so a [`Chain`] keeps each as the
//! step it waits at and its captures, in creation order; it gives the same matches as an
//! [`Nfa`](super::Nfa) over the same program (the property tests run both). An event of
//! stream `s` is offered to every partial match waiting at a step of `s` (in creation order,
//! a completed match emitted at once), then starts a new partial match when the first
//! element takes it. Partial matches start in time order, so those past `WITHIN` are the
//! oldest: a timer drops them from the front.

use std::collections::VecDeque;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::nfa::{Pattern, Program};
use super::tree::{stream_bit, Node};

/// One partial match: when its first event came, the step it waits at, its captures.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Partial<C> {
    first: i64,
    step: u32,
    captures: C,
}

/// The elements of a chain program in order, as `(leaf, stream)`, and the streams of the
/// elements after the first (as stream bits).
#[derive(Clone, Debug, Default)]
struct Steps {
    list: Vec<(usize, u32)>,
    later: u64,
}

impl Steps {
    /// The steps of `program`, when it is a chain (see [`Chain::fits`]).
    fn of(program: &Program) -> Option<Steps> {
        if program.sequence {
            return None;
        }
        let mut list = Vec::new();
        if !leaves(program.nodes, program.root, &mut list) {
            return None;
        }
        // The first element, and only it, is under `EVERY`.
        let mut steps = Steps::default();
        for (i, (node, every)) in list.into_iter().enumerate() {
            let Node::Stream {
                stream,
                min: 1,
                max: Some(1),
            } = program.nodes[node]
            else {
                return None;
            };
            if every != (i == 0) {
                return None;
            }
            if i > 0 {
                steps.later |= stream_bit(stream);
            }
            steps.list.push((node, stream));
        }
        Some(steps)
    }
}

/// Collects the elements under `node` in order (with whether each is under `EVERY`):
/// `false` when `node` holds anything but `->`, elements and `EVERY` over one element.
fn leaves(nodes: &[Node], node: usize, out: &mut Vec<(usize, bool)>) -> bool {
    match nodes.get(node) {
        Some(Node::Then(a, b)) => leaves(nodes, *a, out) && leaves(nodes, *b, out),
        Some(Node::Stream { .. }) => {
            out.push((node, false));
            true
        }
        Some(Node::Every(inner)) if matches!(nodes.get(*inner), Some(Node::Stream { .. })) => {
            out.push((*inner, true));
            true
        }
        _ => false,
    }
}

/// The partial matches of a chain pattern `P`: `EVERY e1=S1[f1] -> e2=S2[f2] -> ... ->
/// en=Sn[fn] [WITHIN d]`, a `PATTERN` of elements of one event each. Each partial match is
/// the step it waits at and its captures, in creation order; an event is offered to those
/// waiting at a step of its stream (a completed match emitted at once), then starts a new
/// partial match when the first element takes it; a timer drops the oldest past `WITHIN`.
/// Same methods and matches as an [`Nfa`](super::Nfa) over the same program.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(
    serialize = "P::Captures: Serialize",
    deserialize = "P::Captures: DeserializeOwned"
))]
pub struct Chain<P: Pattern> {
    /// In creation order (so in the order of their first events).
    pending: VecDeque<Partial<P::Captures>>,
    /// It has seen an event (the start then counts as a partial match, as in an `Nfa`).
    armed: bool,
    /// From the program (not state).
    #[serde(skip)]
    steps: Steps,
    #[serde(skip)]
    marker: PhantomData<P>,
}

impl<P: Pattern> Default for Chain<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Pattern> Chain<P> {
    /// Whether `program` is a chain: a `PATTERN` of elements of one event each joined by
    /// `->`, the first under `EVERY`.
    pub fn fits(program: &Program) -> bool {
        Steps::of(program).is_some()
    }

    /// No partial match yet.
    ///
    /// # Panics
    ///
    /// When `P`'s program is not a chain (a bug of the caller, not of the data).
    pub fn new() -> Self {
        Chain {
            pending: VecDeque::new(),
            armed: false,
            steps: Self::steps(),
            marker: PhantomData,
        }
    }

    fn steps() -> Steps {
        match Steps::of(P::program()) {
            Some(steps) => steps,
            None => panic!("a Chain needs a chain program"),
        }
    }

    /// The live partial matches, including the start once armed (as [`super::Nfa::len`]).
    pub fn len(&self) -> usize {
        self.pending.len() + usize::from(self.armed)
    }

    /// `true` before the first event.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// When the oldest partial match passes `WITHIN`, if any.
    pub fn next_deadline(&self) -> Option<i64> {
        let within = P::program().within?;
        let first = self.pending.front()?.first;
        Some(first.saturating_add(within).saturating_add(1))
    }

    /// Drops the partial matches past `WITHIN` at `at` (nothing to emit: a chain has no
    /// absence).
    pub fn advance<E>(&mut self, at: i64, emit: E)
    where
        E: FnMut(i64, &P::Captures),
    {
        let _ = emit;
        if let Some(within) = P::program().within {
            while self
                .pending
                .front()
                .is_some_and(|p| p.first.saturating_add(within) < at)
            {
                self.pending.pop_front();
            }
        }
    }

    /// Processes an event that only the chain's first element reads, taken by value: as
    /// [`Chain::on_event`] for such an event (no partial match waits for its stream), with
    /// `capture` moving what the new partial match keeps out of the event instead of
    /// cloning it.
    pub fn start<T, A, K, E>(&mut self, ts: i64, event: T, accept: A, capture: K, mut emit: E)
    where
        A: FnOnce(&T) -> bool,
        K: FnOnce(T, &mut P::Captures),
        E: FnMut(i64, &P::Captures),
    {
        self.arrive(ts, &mut emit);
        if !accept(&event) {
            return;
        }
        let mut captures = P::Captures::default();
        capture(event, &mut captures);
        self.begin(ts, captures, emit);
    }

    /// What every event does first: expire the matches past `WITHIN`, arm the start (and
    /// rebuild the steps after a restore).
    #[inline(always)]
    fn arrive<E: FnMut(i64, &P::Captures)>(&mut self, ts: i64, emit: &mut E) {
        self.advance(ts, emit);
        self.armed = true;
        if self.steps.list.is_empty() {
            // Restored from a snapshot.
            self.steps = Self::steps();
        }
    }

    /// A partial match that the first element just started with `captures`: complete when
    /// the chain has one element, else pending at the second.
    #[inline(always)]
    fn begin<E: FnMut(i64, &P::Captures)>(&mut self, ts: i64, captures: P::Captures, mut emit: E) {
        if self.steps.list.len() == 1 {
            emit(ts, &captures);
        } else {
            self.pending.push_back(Partial {
                first: ts,
                step: 1,
                captures,
            });
        }
    }

    /// Processes an event of stream `stream` at `ts`, as [`super::Nfa::on_event`].
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
        self.arrive(ts, &mut emit);
        let steps = &self.steps.list;
        if self.steps.later & stream_bit(stream) != 0 && steps.len() == 2 {
            // `EVERY e1=A -> e2=B`: every partial match waits at the last step, so an event
            // of its stream completes those it satisfies (no step to look up).
            let (leaf, _) = steps[1];
            self.pending.retain_mut(
                #[inline(always)]
                |p| {
                    if !accept(leaf, &p.captures) {
                        return true;
                    }
                    capture(leaf, &mut p.captures);
                    emit(ts, &p.captures);
                    false
                },
            );
        } else if self.steps.later & stream_bit(stream) != 0 {
            // (Inlined: the test runs for every partial match, the capture for few.)
            self.pending.retain_mut(
                #[inline(always)]
                |p| {
                    let (leaf, s) = steps[p.step as usize];
                    if s != stream || !accept(leaf, &p.captures) {
                        return true;
                    }
                    capture(leaf, &mut p.captures);
                    p.step += 1;
                    if p.step as usize == steps.len() {
                        emit(ts, &p.captures);
                        return false;
                    }
                    true
                },
            );
        }
        let (leaf, s) = steps[0];
        if s != stream {
            return;
        }
        let mut captures = P::Captures::default();
        if !accept(leaf, &captures) {
            return;
        }
        capture(leaf, &mut captures);
        self.begin(ts, captures, emit);
    }
}

crate::state::persist::persist_fields!(Partial<C> { first, step, captures });

impl<P: Pattern> crate::state::persist::Save for Chain<P>
where
    P::Captures: crate::state::persist::Save,
{
    /// As its serde form: the partial matches and `armed` (the steps come from the program).
    fn save(&self, w: &mut crate::state::persist::Writer) {
        self.pending.save(w);
        self.armed.save(w);
    }
}

impl<P: Pattern> crate::state::persist::Load for Chain<P>
where
    P::Captures: crate::state::persist::Load,
{
    fn load(r: &mut crate::state::persist::Reader<'_>) -> Result<Self, crate::state::StateError> {
        use crate::state::persist::Load;
        Ok(Chain {
            pending: Load::load(r)?,
            armed: Load::load(r)?,
            steps: Steps::default(),
            marker: PhantomData,
        })
    }
}

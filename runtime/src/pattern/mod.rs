//! Patterns and sequences (docs/patterns.md): a generic state machine over a pattern tree,
//! driven by typed predicates that generated code passes in (no boxed closures, no dynamic
//! values).
//!
//! A pattern compiles to a [`Pattern`]: a constant [`Program`], a tree of [`Node`]s (stream elements with
//! their counts, absences, `->`, `AND`, `OR`, `EVERY`), `SEQUENCE` or not, `WITHIN`, and a
//! generated struct of typed captures (`Option<E>` per element, [`Collect`] for counted ones).
//! [`Nfa`] holds the live partial matches, each with its captures, one [`NodeState`] per node
//! and the time of its first event.
//!
//! # Semantics
//!
//! - **Start.** The state machine arms at the first event it sees, with one partial match
//!   standing for the pattern's start (a leading `NOT A FOR d` counts from there).
//! - **Events.** Each event goes to the live partial matches in creation order; a completed
//!   match is emitted at once, so one event may emit several rows, oldest partial match
//!   first. Within one partial match an event fills at most one element: the latest started
//!   element of `->` is offered it first (an event completing `e1 -> e2` does not also extend
//!   `e1{1,3}`), the sides of `AND`/`OR` left to right. An element started by an event never
//!   sees that event: in `e1=A -> e2=A` one event cannot fill both.
//! - **`PATTERN`** skips events that no element takes. **`SEQUENCE`** requires contiguity:
//!   a partial match that has captured something dies on an event of one of the pattern's
//!   streams that it does not take, whether no element was waiting for that stream or the
//!   waiting element's filter rejected it (this is Siddhi's reset of every pending state on
//!   each event of the sequence's streams). A partial match that has captured nothing yet
//!   waits.
//! - **Counts.** `e=A{m,n}` takes up to `n` events (unbounded without `n`); from the `m`-th
//!   on, the next element is started too, and once it takes an event `e` is closed. An
//!   element at the end of the pattern completes the match at its `m`-th event.
//! - **`EVERY p`.** When `p` completes in a partial match, a copy of the partial match
//!   restarts `p` (and whatever follows `p`), forgetting what `p` captured: `EVERY e1=A -> e2=B`
//!   restarts at each `A` (all pending matches complete on one `B`); `EVERY (e1=A -> e2=B)`
//!   restarts after each `B`. Restarts overlap with running partial matches in both modes,
//!   also into counted elements. (The compiler rejects `EVERY` inside `EVERY`, whose
//!   restarts would feed each other, and `EVERY` over what needs no event.)
//! - **`AND`** completes when both sides have; **`OR`** when one side has (the other side is
//!   dropped and its captures read as NULL), at its start already when a side needs no event
//!   (`e1=A OR e2=B*`).
//! - **Absence.** `NOT A[cond] FOR d` is established when `d` passes after it started without
//!   a matching `A` (an `A` at exactly the deadline comes after it); a matching `A` before
//!   kills the partial match. Without `FOR` (as a side of `AND`) it holds until the other side
//!   completes. A match completed by a timer is emitted at the deadline.
//! - **`WITHIN d`.** A partial match lives while `now - first event <= d`: it dies by timer at
//!   `first + d + 1`, so an event exactly `d` after the first still completes it.
//! - **Restarting the start.** A pattern whose start is not under `EVERY` reports one match:
//!   after it completes, nothing new starts. If the partial match standing for the start dies
//!   instead (`WITHIN`, a violated absence, a broken sequence), a fresh one replaces it; after
//!   a broken sequence the fresh one is offered the event that broke it.
//!
//! # Example
//!
//! `EVERY e1=A[x > 0] -> e2=B[y > e1.x]` over `i32` events (`A` is stream 0, `B` stream 1):
//!
//! ```
//! use eventflux_runtime::pattern::{Nfa, Node, Pattern, Program};
//!
//! #[derive(Clone, Default)]
//! struct Caps { e1: Option<i32>, e2: Option<i32> }
//! struct P;
//! impl Pattern for P {
//!     type Captures = Caps;
//!     fn program() -> &'static Program {
//!         const PROGRAM: Program = Program {
//!             nodes: &[
//!                 Node::Stream { stream: 0, min: 1, max: Some(1) },
//!                 Node::Every(0),
//!                 Node::Stream { stream: 1, min: 1, max: Some(1) },
//!                 Node::Then(1, 2),
//!             ],
//!             root: 3,
//!             sequence: false,
//!             within: None,
//!         };
//!         &PROGRAM
//!     }
//!     fn clear(leaf: usize, c: &mut Caps) {
//!         match leaf { 0 => c.e1 = None, _ => c.e2 = None }
//!     }
//! }
//!
//! let mut nfa = Nfa::<P, 4>::new();
//! let mut out = Vec::new();
//! let mut send = |nfa: &mut Nfa<P, 4>, ts: i64, stream: u32, v: i32| {
//!     nfa.on_event(
//!         ts,
//!         stream,
//!         |leaf, c: &Caps| match leaf {
//!             0 => v > 0,
//!             _ => c.e1.is_some_and(|x| v > x),
//!         },
//!         |leaf, c: &mut Caps| match leaf { 0 => c.e1 = Some(v), _ => c.e2 = Some(v) },
//!         |ts, c: &Caps| out.push((ts, c.e1.unwrap(), c.e2.unwrap())),
//!     );
//! };
//! send(&mut nfa, 1, 0, 5);
//! send(&mut nfa, 2, 0, 7);
//! send(&mut nfa, 3, 1, 6); // completes only the match started by 5
//! send(&mut nfa, 4, 1, 9); // completes the one started by 7
//! assert_eq!(out, [(3, 5, 6), (4, 7, 9)]);
//! ```

mod chain;
mod collect;
mod nfa;
mod tree;

#[cfg(test)]
mod brute;
#[cfg(test)]
mod tests;

pub use chain::Chain;
pub use collect::Collect;
pub use nfa::{Nfa, Pattern, Program};
pub use tree::{Node, NodeState};

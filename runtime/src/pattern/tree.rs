//! The pattern tree and the per-partial-match state of each of its nodes.
//!
//! A partial match keeps one [`NodeState`] per [`Node`]. The functions here move those
//! states: [`Tree::start`] arms a node, [`Tree::offer`] hands it an event (searching the tree
//! for the leaf that takes it; [`Tree::take`] when that leaf is known), [`Tree::settle`]
//! applies what follows from satisfied nodes (start the next element of `->`, drop the
//! losing side of `OR`, restart an `EVERY`) over the whole tree, [`Tree::rise`] does the same
//! on the path above the one leaf that changed, [`Tree::pass`] lets absence timers expire.
//! `offer` + `settle` is the reference; `take` and `rise` are its fast path for the common
//! case (the property tests run both).

use serde::{Deserialize, Serialize};

/// One node of a compiled pattern. Leaves are [`Node::Stream`] and [`Node::Absent`]; inner
/// nodes refer to their children by index in the pattern's node list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Node {
    /// `e=S[cond]{min,max}`: captures between `min` and `max` events of stream `stream`
    /// (`max: None` is unbounded; a plain element is `{1,1}`).
    Stream {
        /// The stream's id (any number the caller uses consistently).
        stream: u32,
        /// Minimum number of events.
        min: u32,
        /// Maximum number of events.
        max: Option<u32>,
    },
    /// `NOT S[cond] [FOR wait]`: no matching event of `stream` for `wait` ms; without
    /// `FOR` (only as a side of `AND`), none until the other side completes.
    Absent {
        /// The stream's id.
        stream: u32,
        /// The `FOR` duration (ms, positive).
        wait: Option<i64>,
    },
    /// `a -> b`.
    Then(usize, usize),
    /// `a AND b`: both, in any order.
    And(usize, usize),
    /// `a OR b`: the first to complete.
    Or(usize, usize),
    /// `EVERY p`: when `p` completes, a copy of the partial match restarts `p`.
    Every(usize),
}

/// The state of one node in one partial match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeState {
    /// Not reached yet.
    Idle,
    /// An inner node that has been started.
    Started,
    /// An inner node whose one-time reaction happened: an `EVERY` that restarted, an `OR`
    /// that chose its side.
    Done,
    /// A stream leaf that has captured `n` events; `closed` once it may take no more.
    Count {
        /// Events captured.
        n: u32,
        /// No more events may be added.
        closed: bool,
    },
    /// An absent leaf watching its stream until `deadline` (`i64::MAX`: until its `AND`
    /// partner completes).
    Waiting {
        /// When the absence is established.
        deadline: i64,
    },
    /// An absent leaf whose absence is established.
    Passed,
    /// An absent leaf whose event occurred.
    Violated,
    /// An absent leaf closed before its deadline (its group completed otherwise): inert.
    Closed,
}

/// A pattern's nodes together with the node states of one partial match.
pub(crate) struct Tree<'a> {
    pub nodes: &'static [Node],
    pub st: &'a mut [NodeState],
}

/// What the caller provides to [`Tree::offer`]: the event's stream, and typed callbacks
/// testing and capturing the event for a leaf, given the partial match's captures. The offer
/// reports `violated` when the event violates an absence, `reached` when a leaf it filled
/// reached its minimum count (only then can satisfied nodes change).
pub(crate) struct Offer<'f, C, A, K> {
    pub stream: u32,
    pub violated: bool,
    pub reached: bool,
    /// The leaf that captured the event.
    pub taken: Option<usize>,
    pub accept: &'f mut A,
    pub capture: &'f mut K,
    pub captures: &'f mut C,
}

impl Tree<'_> {
    /// Arms node `i` at time `now` (and, through `->`, what follows a satisfied first part).
    pub fn start(&mut self, i: usize, now: i64) {
        match self.nodes[i] {
            Node::Stream { .. } => {
                self.st[i] = NodeState::Count {
                    n: 0,
                    closed: false,
                }
            }
            Node::Absent { wait, .. } => {
                let deadline = wait.map_or(i64::MAX, |w| now.saturating_add(w));
                self.st[i] = NodeState::Waiting { deadline };
            }
            Node::Then(a, b) => {
                self.st[i] = NodeState::Started;
                self.start(a, now);
                if self.satisfied(a) {
                    self.close(a, true);
                    self.start(b, now);
                }
            }
            Node::And(a, b) | Node::Or(a, b) => {
                self.st[i] = NodeState::Started;
                self.start(a, now);
                self.start(b, now);
            }
            Node::Every(p) => {
                self.st[i] = NodeState::Started;
                self.start(p, now);
            }
        }
    }

    /// `true` once node `i` has matched.
    pub fn satisfied(&self, i: usize) -> bool {
        match self.nodes[i] {
            Node::Stream { min, .. } => {
                matches!(self.st[i], NodeState::Count { n, .. } if n >= min)
            }
            Node::Absent { .. } => match self.st[i] {
                NodeState::Passed => true,
                NodeState::Waiting { deadline } => deadline == i64::MAX,
                _ => false,
            },
            Node::Then(_, b) => self.st[b] != NodeState::Idle && self.satisfied(b),
            Node::And(a, b) => self.satisfied(a) && self.satisfied(b),
            Node::Or(a, b) => self.satisfied(a) || self.satisfied(b),
            Node::Every(p) => self.satisfied(p),
        }
    }

    /// `true` once node `i` can no longer match (an absence was violated).
    pub fn failed(&self, i: usize) -> bool {
        match self.nodes[i] {
            Node::Stream { .. } => false,
            Node::Absent { .. } => self.st[i] == NodeState::Violated,
            Node::Then(a, b) | Node::And(a, b) => self.failed(a) || self.failed(b),
            Node::Or(a, b) => self.failed(a) && self.failed(b),
            Node::Every(p) => self.failed(p),
        }
    }

    /// Offers an event to node `i`; `true` when a leaf captured it. An event is captured at
    /// most once per partial match: later elements of `->` are offered it first, then the
    /// sides of `AND`/`OR` from left to right. An absent leaf that matches is violated (and
    /// does not capture).
    pub fn offer<C, A, K>(&mut self, i: usize, o: &mut Offer<'_, C, A, K>) -> bool
    where
        A: FnMut(usize, &C) -> bool,
        K: FnMut(usize, &mut C),
    {
        match self.nodes[i] {
            Node::Stream {
                stream, min, max, ..
            } => match self.st[i] {
                NodeState::Count { n, closed: false }
                    if stream == o.stream
                        && max.is_none_or(|max| n < max)
                        && (o.accept)(i, o.captures) =>
                {
                    (o.capture)(i, o.captures);
                    o.reached |= n + 1 == min;
                    o.taken = Some(i);
                    self.st[i] = NodeState::Count {
                        n: n + 1,
                        closed: false,
                    };
                    true
                }
                _ => false,
            },
            Node::Absent { stream, .. } => {
                if matches!(self.st[i], NodeState::Waiting { .. })
                    && stream == o.stream
                    && (o.accept)(i, o.captures)
                {
                    self.st[i] = NodeState::Violated;
                    o.violated = true;
                }
                false
            }
            Node::Then(a, b) => {
                if self.st[b] != NodeState::Idle && self.offer(b, o) {
                    // The next element took over: the first part is complete for good.
                    self.close(a, false);
                    return true;
                }
                self.offer(a, o)
            }
            Node::And(a, b) | Node::Or(a, b) => self.offer(a, o) || self.offer(b, o),
            Node::Every(p) => self.offer(p, o),
        }
    }

    /// Captures the event into open stream leaf `leaf` (known to accept it) and closes the
    /// first parts of the `->` it completes, as [`Tree::offer`] would; `true` when the leaf
    /// reached its minimum count.
    pub fn take<C>(
        &mut self,
        leaf: usize,
        parents: &[usize],
        captures: &mut C,
        capture: &mut impl FnMut(usize, &mut C),
    ) -> bool {
        let (Node::Stream { min, .. }, NodeState::Count { n, .. }) =
            (self.nodes[leaf], self.st[leaf])
        else {
            return false;
        };
        capture(leaf, captures);
        self.st[leaf] = NodeState::Count {
            n: n + 1,
            closed: false,
        };
        let mut child = leaf;
        while let Some(p) = up(parents, child) {
            if let Node::Then(a, b) = self.nodes[p] {
                if b == child {
                    self.close(a, false);
                }
            }
            child = p;
        }
        n + 1 == min
    }

    /// What [`Tree::settle`] does after stream leaf `leaf` became satisfied, walking up from
    /// it only (nothing else changed); `true` when the root is then satisfied.
    pub fn rise<C>(
        &mut self,
        leaf: usize,
        parents: &[usize],
        now: i64,
        captures: &mut C,
        clear: fn(usize, &mut C),
        restarts: &mut Vec<usize>,
    ) -> bool {
        let mut child = leaf;
        while let Some(p) = up(parents, child) {
            // `child` is satisfied; is `p` now, and what follows?
            let satisfied = match self.nodes[p] {
                Node::Then(a, b) if a == child => {
                    if self.st[b] == NodeState::Idle {
                        self.close(a, true);
                        self.start(b, now);
                        self.settle(b, now, captures, clear, restarts);
                    }
                    self.satisfied(b)
                }
                Node::Then(..) => true,
                Node::And(a, b) => self.satisfied(if a == child { b } else { a }),
                Node::Or(a, b) => {
                    if self.st[p] == NodeState::Started {
                        self.st[p] = NodeState::Done;
                        self.reset(if a == child { b } else { a }, captures, clear);
                    }
                    true
                }
                Node::Every(_) => {
                    if self.st[p] == NodeState::Started {
                        self.st[p] = NodeState::Done;
                        restarts.push(p);
                    }
                    true
                }
                Node::Stream { .. } | Node::Absent { .. } => true,
            };
            if !satisfied {
                return false;
            }
            child = p;
        }
        true
    }

    /// Applies what follows from satisfied nodes under `i`, at time `now`: a satisfied first
    /// part of `->` starts the second; an `OR` with a satisfied side resets the other (it
    /// becomes inert, its captures forgotten); a satisfied `EVERY` is recorded in `restarts` (once per partial match).
    pub fn settle<C>(
        &mut self,
        i: usize,
        now: i64,
        captures: &mut C,
        clear: fn(usize, &mut C),
        restarts: &mut Vec<usize>,
    ) {
        match self.nodes[i] {
            Node::Stream { .. } | Node::Absent { .. } => {}
            Node::Then(a, b) => {
                self.settle(a, now, captures, clear, restarts);
                if self.st[b] == NodeState::Idle && self.satisfied(a) {
                    self.close(a, true);
                    self.start(b, now);
                }
                if self.st[b] != NodeState::Idle {
                    self.settle(b, now, captures, clear, restarts);
                }
            }
            Node::And(a, b) => {
                self.settle(a, now, captures, clear, restarts);
                self.settle(b, now, captures, clear, restarts);
            }
            Node::Or(a, b) => {
                self.settle(a, now, captures, clear, restarts);
                self.settle(b, now, captures, clear, restarts);
                if self.st[i] == NodeState::Started {
                    let (sa, sb) = (self.satisfied(a), self.satisfied(b));
                    if sa || sb {
                        self.st[i] = NodeState::Done;
                        for (side, won) in [(a, sa), (b, sb)] {
                            if !won {
                                self.reset(side, captures, clear);
                            }
                        }
                    }
                }
            }
            Node::Every(p) => {
                self.settle(p, now, captures, clear, restarts);
                if self.st[i] == NodeState::Started && self.satisfied(p) {
                    self.st[i] = NodeState::Done;
                    restarts.push(i);
                }
            }
        }
    }

    /// Closes the leaves under `i`: no more captures (unless `absent_only`), and absences
    /// stop watching (an absence without `FOR` is then established).
    pub fn close(&mut self, i: usize, absent_only: bool) {
        match self.nodes[i] {
            Node::Stream { .. } => {
                if let NodeState::Count { n, closed: false } = self.st[i] {
                    if !absent_only {
                        self.st[i] = NodeState::Count { n, closed: true };
                    }
                }
            }
            Node::Absent { .. } => {
                if let NodeState::Waiting { deadline } = self.st[i] {
                    self.st[i] = if deadline == i64::MAX {
                        NodeState::Passed
                    } else {
                        NodeState::Closed
                    };
                }
            }
            Node::Then(a, b) | Node::And(a, b) | Node::Or(a, b) => {
                self.close(a, absent_only);
                self.close(b, absent_only);
            }
            Node::Every(p) => self.close(p, absent_only),
        }
    }

    /// Returns the nodes under `i` to `Idle`, forgetting their captures.
    pub fn reset<C>(&mut self, i: usize, captures: &mut C, clear: fn(usize, &mut C)) {
        self.st[i] = NodeState::Idle;
        match self.nodes[i] {
            Node::Stream { .. } => clear(i, captures),
            Node::Absent { .. } => {}
            Node::Then(a, b) | Node::And(a, b) | Node::Or(a, b) => {
                self.reset(a, captures, clear);
                self.reset(b, captures, clear);
            }
            Node::Every(p) => self.reset(p, captures, clear),
        }
    }

    /// Resets what follows `target` through `->` above it (searching from `i`); `true` when
    /// `target` is under `i`.
    pub fn reset_after<C>(
        &mut self,
        i: usize,
        target: usize,
        captures: &mut C,
        clear: fn(usize, &mut C),
    ) -> bool {
        if i == target {
            return true;
        }
        match self.nodes[i] {
            Node::Stream { .. } | Node::Absent { .. } => false,
            Node::Then(a, b) => {
                if self.reset_after(a, target, captures, clear) {
                    self.reset(b, captures, clear);
                    true
                } else {
                    self.reset_after(b, target, captures, clear)
                }
            }
            Node::And(a, b) | Node::Or(a, b) => {
                self.reset_after(a, target, captures, clear)
                    || self.reset_after(b, target, captures, clear)
            }
            Node::Every(p) => self.reset_after(p, target, captures, clear),
        }
    }

    /// Establishes the absences due at or before `at`; `true` when one was.
    pub fn pass(&mut self, at: i64) -> bool {
        let mut changed = false;
        for s in self.st.iter_mut() {
            if matches!(*s, NodeState::Waiting { deadline } if deadline <= at) {
                *s = NodeState::Passed;
                changed = true;
            }
        }
        changed
    }
}

/// The parent of every node (`usize::MAX` for the root and unreachable nodes).
pub(crate) fn parents(nodes: &[Node], root: usize) -> Vec<usize> {
    let mut parents = vec![usize::MAX; nodes.len()];
    for (p, node) in nodes.iter().enumerate() {
        match *node {
            Node::Then(a, b) | Node::And(a, b) | Node::Or(a, b) => {
                parents[a] = p;
                parents[b] = p;
            }
            Node::Every(c) => parents[c] = p,
            Node::Stream { .. } | Node::Absent { .. } => {}
        }
    }
    if let Some(r) = parents.get_mut(root) {
        *r = usize::MAX;
    }
    parents
}

/// The parent of node `i` in a [`parents`] table.
#[inline]
fn up(parents: &[usize], i: usize) -> Option<usize> {
    parents.get(i).copied().filter(|&p| p != usize::MAX)
}

/// What the open leaves of one partial match wait for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Waits {
    /// The streams (as bits of `stream % 64`) of the open leaves: an event of another stream
    /// leaves the partial match unchanged.
    pub streams: u64,
    /// The open leaf when there is exactly one and it captures: an event it does not
    /// accept leaves the partial match unchanged.
    pub solo: Option<u32>,
    /// The earliest absence deadline.
    pub deadline: Option<i64>,
}

/// What the open leaves of `states` wait for.
pub(crate) fn waits(nodes: &[Node], states: &[NodeState]) -> Waits {
    let mut w = Waits::default();
    let mut open = 0;
    for (i, (node, state)) in nodes.iter().zip(states).enumerate() {
        match (node, state) {
            (Node::Stream { stream, max, .. }, NodeState::Count { n, closed: false })
                if max.is_none_or(|max| *n < max) =>
            {
                w.streams |= stream_bit(*stream);
                w.solo = Some(i as u32);
                open += 1;
            }
            (Node::Absent { stream, .. }, NodeState::Waiting { deadline }) => {
                w.streams |= stream_bit(*stream);
                if *deadline != i64::MAX {
                    w.deadline = Some(w.deadline.map_or(*deadline, |d| d.min(*deadline)));
                }
                open += 2;
            }
            _ => {}
        }
    }
    if open != 1 {
        w.solo = None;
    }
    w
}

/// `true` when restarting `EVERY` node `every` gives a fresh start: it lies on the path
/// from `root` through first parts of `->` and through `EVERY` nodes (so what its restart
/// resets is everything), and no `EVERY` above it has restarted already.
pub(crate) fn restarts_fresh(
    nodes: &[Node],
    states: &[NodeState],
    root: usize,
    every: usize,
) -> bool {
    let mut i = root;
    loop {
        if i == every {
            return true;
        }
        i = match nodes[i] {
            Node::Then(a, _) => a,
            Node::Every(p) if states[i] != NodeState::Done => p,
            _ => return false,
        };
    }
}

/// The bit of `stream` in a [`Waits::streams`] set.
#[inline]
pub(crate) fn stream_bit(stream: u32) -> u64 {
    1 << (stream % 64)
}

/// `true` when some leaf of `states` holds a captured event.
pub(crate) fn has_captures(states: &[NodeState]) -> bool {
    states
        .iter()
        .any(|s| matches!(*s, NodeState::Count { n, .. } if n > 0))
}

impl crate::state::persist::Save for NodeState {
    /// As its serde form: the variant's index (`u32`), then its fields.
    fn save(&self, w: &mut crate::state::persist::Writer) {
        match *self {
            NodeState::Idle => w.put_u32(0),
            NodeState::Started => w.put_u32(1),
            NodeState::Done => w.put_u32(2),
            NodeState::Count { n, closed } => {
                w.put_u32(3);
                w.put_u32(n);
                w.put_bool(closed);
            }
            NodeState::Waiting { deadline } => {
                w.put_u32(4);
                w.put_i64(deadline);
            }
            NodeState::Passed => w.put_u32(5),
            NodeState::Violated => w.put_u32(6),
            NodeState::Closed => w.put_u32(7),
        }
    }
}

impl crate::state::persist::Load for NodeState {
    fn load(r: &mut crate::state::persist::Reader<'_>) -> Result<Self, crate::state::StateError> {
        Ok(match r.u32()? {
            0 => NodeState::Idle,
            1 => NodeState::Started,
            2 => NodeState::Done,
            3 => NodeState::Count {
                n: r.u32()?,
                closed: r.bool()?,
            },
            4 => NodeState::Waiting { deadline: r.i64()? },
            5 => NodeState::Passed,
            6 => NodeState::Violated,
            7 => NodeState::Closed,
            _ => return Err(r.error("bad pattern node state")),
        })
    }
}

crate::state::persist::persist_fields!(Waits {
    streams,
    solo,
    deadline
});

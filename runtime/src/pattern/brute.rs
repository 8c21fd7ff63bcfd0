//! Test support: random chain patterns over small integer events, run through [`Nfa`] and
//! through two naive references: a per-partial-match simulation specialised to chains, and,
//! for chains of single elements under a leading `EVERY`, the declarative definition
//! ("each start, then the first matching event for each next element").

use super::{Nfa, Node, Pattern, Program};
use std::cell::Cell;

/// A test event: stream 0..3, a small value, a time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ev {
    pub stream: u32,
    pub v: i32,
    pub ts: i64,
}

/// An element's filter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Filter {
    Any,
    Even,
    /// `v >` the last event of the previous element (false when it has none).
    GtPrev,
    /// `v >` this element's own last event (true when it has none).
    GtOwnLast,
}

/// One element of a chain: `S[filter]{min,max}`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Elem {
    pub stream: u32,
    pub min: u32,
    pub max: Option<u32>,
    pub filter: Filter,
}

/// Where `EVERY` goes in a chain.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Every {
    None,
    First,
    Whole,
}

/// `[EVERY] e0 -> e1 -> ...` (or a sequence), with `WITHIN`.
#[derive(Clone, Debug, PartialEq)]
pub struct Chain {
    pub elems: Vec<Elem>,
    pub every: Every,
    pub sequence: bool,
    pub within: Option<i64>,
}

/// A completed match: its time and the event indexes of each element.
pub type Match = (i64, Vec<Vec<usize>>);

/// Captures of the test pattern: event indexes per leaf.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Caps(pub Vec<Vec<usize>>);

crate::state::persist::persist_fields!(Caps { 0 });

impl Caps {
    fn slot(&mut self, leaf: usize) -> &mut Vec<usize> {
        if self.0.len() <= leaf {
            self.0.resize(leaf + 1, Vec::new());
        }
        &mut self.0[leaf]
    }

    fn get(&self, leaf: usize) -> &[usize] {
        self.0.get(leaf).map_or(&[], |s| s.as_slice())
    }
}

thread_local! {
    static PROGRAM: Cell<Option<&'static Program>> = const { Cell::new(None) };
}

/// The pattern whose program was last installed with [`install`].
pub struct TestPattern;

impl Pattern for TestPattern {
    type Captures = Caps;
    fn program() -> &'static Program {
        PROGRAM
            .with(|p| p.get())
            .expect("a test program is installed")
    }
    fn clear(leaf: usize, c: &mut Caps) {
        c.slot(leaf).clear();
    }
}

/// Installs `program` for [`TestPattern`] on this thread.
pub fn install(nodes: Vec<Node>, root: usize, sequence: bool, within: Option<i64>) {
    let program = Program {
        nodes: Vec::leak(nodes),
        root,
        sequence,
        within,
    };
    PROGRAM.with(|p| p.set(Some(Box::leak(Box::new(program)))));
}

/// Installs the program of `chain`: leaves `0..n` are the elements.
pub fn install_chain(chain: &Chain) {
    let mut nodes: Vec<Node> = chain
        .elems
        .iter()
        .map(|e| Node::Stream {
            stream: e.stream,
            min: e.min,
            max: e.max,
        })
        .collect();
    let push = |nodes: &mut Vec<Node>, n: Node| {
        nodes.push(n);
        nodes.len() - 1
    };
    let mut root = 0;
    if chain.every == Every::First {
        root = push(&mut nodes, Node::Every(0));
    }
    for i in 1..chain.elems.len() {
        root = push(&mut nodes, Node::Then(root, i));
    }
    if chain.every == Every::Whole {
        root = push(&mut nodes, Node::Every(root));
    }
    install(nodes, root, chain.sequence, chain.within);
}

/// Whether `events[idx]` passes `filter` for element `leaf`, given the captures.
fn passes(filter: Filter, leaf: usize, idx: usize, caps: &Caps, events: &[Ev]) -> bool {
    let v = events[idx].v;
    match filter {
        Filter::Any => true,
        Filter::Even => v % 2 == 0,
        Filter::GtPrev => leaf
            .checked_sub(1)
            .and_then(|p| caps.get(p).last())
            .is_some_and(|&p| v > events[p].v),
        Filter::GtOwnLast => caps.get(leaf).last().is_none_or(|&p| v > events[p].v),
    }
}

/// Runs `events` through the installed program with the chain's filters; timers fire as an
/// app would (before each event), and once more at the end.
pub fn run_nfa<const N: usize>(chain: &Chain, events: &[Ev]) -> Vec<Match> {
    let mut nfa = Nfa::<TestPattern, N>::new();
    let mut out = Vec::new();
    for (idx, e) in events.iter().enumerate() {
        nfa.on_event(
            e.ts,
            e.stream,
            |leaf, caps: &Caps| passes(chain.elems[leaf].filter, leaf, idx, caps, events),
            |leaf, caps: &mut Caps| caps.slot(leaf).push(idx),
            |ts, caps: &Caps| out.push((ts, normalize(caps, chain.elems.len()))),
        );
    }
    nfa.advance(i64::MAX, |ts, caps: &Caps| {
        out.push((ts, normalize(caps, chain.elems.len())))
    });
    out
}

/// [`run_nfa`] with a [`super::Chain`], its state round-tripped through JSON and then through
/// `state::persist` after event `split`.
pub fn run_chain(chain: &self::Chain, events: &[Ev], split: usize) -> Vec<Match> {
    let mut run = super::Chain::<TestPattern>::new();
    let mut out = Vec::new();
    for (idx, e) in events.iter().enumerate() {
        if idx == split {
            let json = serde_json::to_string(&run).expect("serializes");
            run = serde_json::from_str(&json).expect("deserializes");
            run = crate::state::persist::testkit::same_after_persist(&run);
        }
        // An event only the first element reads goes the by-value way (`Chain::start`).
        let first_only = chain.elems[0].stream == e.stream
            && chain.elems[1..].iter().all(|el| el.stream != e.stream);
        if first_only {
            run.start(
                e.ts,
                idx,
                |&i: &usize| passes(chain.elems[0].filter, 0, i, &Caps::default(), events),
                |i, caps: &mut Caps| caps.slot(0).push(i),
                |ts, caps: &Caps| out.push((ts, normalize(caps, chain.elems.len()))),
            );
            continue;
        }
        run.on_event(
            e.ts,
            e.stream,
            |leaf, caps: &Caps| passes(chain.elems[leaf].filter, leaf, idx, caps, events),
            |leaf, caps: &mut Caps| caps.slot(leaf).push(idx),
            |ts, caps: &Caps| out.push((ts, normalize(caps, chain.elems.len()))),
        );
    }
    run.advance(i64::MAX, |ts, caps: &Caps| {
        out.push((ts, normalize(caps, chain.elems.len())))
    });
    out
}

pub fn normalize(caps: &Caps, leaves: usize) -> Vec<Vec<usize>> {
    (0..leaves).map(|l| caps.get(l).to_vec()).collect()
}

/// One partial match of the reference: the element it is at and the captures.
#[derive(Clone, Debug)]
struct Run {
    pos: usize,
    counts: Vec<u32>,
    caps: Caps,
    first: Option<i64>,
    holds_start: bool,
    /// The first element reached its minimum (a leading `EVERY` restarted).
    restarted: bool,
}

impl Run {
    fn seed(n: usize) -> Run {
        Run {
            pos: 0,
            counts: vec![0; n],
            caps: Caps::default(),
            first: None,
            holds_start: true,
            restarted: false,
        }
    }
}

fn satisfied(chain: &Chain, run: &Run, i: usize) -> bool {
    run.counts[i] >= chain.elems[i].min
}

/// The reference: each partial match of a chain simulated directly.
pub fn reference(chain: &Chain, events: &[Ev]) -> Vec<Match> {
    let n = chain.elems.len();
    let mut runs: Vec<Run> = Vec::new();
    let mut out = Vec::new();
    let mut finished = false;
    let mut armed = false;
    for (idx, e) in events.iter().enumerate() {
        // WITHIN expiries due before this event, in time order.
        if let Some(w) = chain.within {
            let mut dues: Vec<i64> = runs
                .iter()
                .filter_map(|r| r.first.map(|f| f + w + 1))
                .filter(|&d| d <= e.ts)
                .collect();
            dues.sort();
            dues.dedup();
            for due in dues {
                let before = runs.len();
                let mut reseed = false;
                runs.retain(|r| {
                    let dead = r.first.is_some_and(|f| f + w < due);
                    reseed |= dead && r.holds_start;
                    !dead
                });
                debug_assert!(runs.len() < before);
                if reseed && !finished {
                    runs.push(Run::seed(n));
                }
            }
        }
        if !armed {
            armed = true;
            runs.push(Run::seed(n));
        }
        let mut born = Vec::new();
        let mut reseed_now = false;
        for mut run in std::mem::take(&mut runs) {
            match step(chain, &mut run, idx, events, &mut born) {
                Step::Alive => runs.push(run),
                Step::Complete => {
                    out.push((e.ts, normalize(&run.caps, n)));
                    finished |= run.holds_start;
                }
                Step::Broken => reseed_now |= run.holds_start,
            }
        }
        if reseed_now {
            let mut run = Run::seed(n);
            match step(chain, &mut run, idx, events, &mut born) {
                Step::Alive => runs.push(run),
                Step::Complete => {
                    out.push((e.ts, normalize(&run.caps, n)));
                    finished |= run.holds_start;
                }
                Step::Broken => unreachable!("a fresh partial match cannot break"),
            }
        }
        runs.append(&mut born);
    }
    out
}

enum Step {
    Alive,
    Complete,
    Broken,
}

fn step(chain: &Chain, run: &mut Run, idx: usize, events: &[Ev], born: &mut Vec<Run>) -> Step {
    let n = chain.elems.len();
    let e = events[idx];
    // Started elements: `pos`, and each next one while all before it are satisfied.
    let mut last_started = run.pos;
    while last_started + 1 < n && satisfied(chain, run, last_started) {
        last_started += 1;
    }
    let mut taken = None;
    for j in (run.pos..=last_started).rev() {
        let el = chain.elems[j];
        let open = el.max.is_none_or(|m| run.counts[j] < m);
        if open && el.stream == e.stream && passes(el.filter, j, idx, &run.caps, events) {
            taken = Some(j);
            break;
        }
    }
    if let Some(j) = taken {
        run.pos = j;
        run.counts[j] += 1;
        run.caps.slot(j).push(idx);
        run.first.get_or_insert(e.ts);
    }
    if chain.every == Every::First && !run.restarted && satisfied(chain, run, 0) {
        run.restarted = true;
        let mut fresh = Run::seed(n);
        fresh.holds_start = run.holds_start;
        run.holds_start = false;
        born.push(fresh);
    }
    let complete = (run.pos..n).all(|i| satisfied(chain, run, i));
    if complete {
        if chain.every == Every::Whole {
            let mut fresh = Run::seed(n);
            fresh.holds_start = run.holds_start;
            run.holds_start = false;
            born.push(fresh);
        }
        return Step::Complete;
    }
    if chain.sequence && taken.is_none() && run.first.is_some() {
        return Step::Broken;
    }
    Step::Alive
}

/// The declarative definition for `EVERY e0 -> e1 -> ...` of single elements: every event
/// taken by `e0` starts a match whose next element is the first later event that element
/// takes (in a sequence: the very next event of the pattern's streams), within `WITHIN` of
/// the start. Matches come out by completing event, then by start.
pub fn declarative(chain: &Chain, events: &[Ev]) -> Vec<Match> {
    let n = chain.elems.len();
    let streams: Vec<u32> = chain.elems.iter().map(|e| e.stream).collect();
    let mut found: Vec<(usize, usize, Vec<Vec<usize>>)> = Vec::new();
    for start in 0..events.len() {
        let mut caps = Caps::default();
        let mut at = start;
        let mut ok = events[start].stream == chain.elems[0].stream
            && passes(chain.elems[0].filter, 0, start, &caps, events);
        if ok {
            caps.slot(0).push(start);
        }
        for k in 1..n {
            if !ok {
                break;
            }
            let el = chain.elems[k];
            let next = (at + 1..events.len()).find(|&j| {
                if chain.sequence {
                    streams.contains(&events[j].stream)
                } else {
                    events[j].stream == el.stream && passes(el.filter, k, j, &caps, events)
                }
            });
            match next {
                Some(j)
                    if events[j].stream == el.stream && passes(el.filter, k, j, &caps, events) =>
                {
                    caps.slot(k).push(j);
                    at = j;
                }
                _ => ok = false,
            }
        }
        let in_time = chain
            .within
            .is_none_or(|w| events[at].ts - events[start].ts <= w);
        if ok && in_time {
            found.push((at, start, normalize(&caps, n)));
        }
    }
    found.sort_by_key(|(end, start, _)| (*end, *start));
    found
        .into_iter()
        .map(|(end, _, caps)| (events[end].ts, caps))
        .collect()
}

/// A random pattern tree for differential tests (fast paths against the tree-walking
/// reference).
#[derive(Clone, Debug)]
pub enum TreeSpec {
    Stream(Elem),
    Absent(u32, Option<i64>, Filter),
    Then(Box<TreeSpec>, Box<TreeSpec>),
    And(Box<TreeSpec>, Box<TreeSpec>),
    Or(Box<TreeSpec>, Box<TreeSpec>),
    Every(Box<TreeSpec>),
}

impl TreeSpec {
    /// Matches without events or time.
    fn nullable(&self) -> bool {
        match self {
            TreeSpec::Stream(e) => e.min == 0,
            TreeSpec::Absent(_, wait, _) => wait.is_none(),
            TreeSpec::Then(a, b) | TreeSpec::And(a, b) => a.nullable() && b.nullable(),
            TreeSpec::Or(a, b) => a.nullable() || b.nullable(),
            TreeSpec::Every(p) => p.nullable(),
        }
    }

    /// `true` when an `EVERY` is under this node.
    fn has_every(&self) -> bool {
        match self {
            TreeSpec::Stream(_) | TreeSpec::Absent(..) => false,
            TreeSpec::Then(a, b) | TreeSpec::And(a, b) | TreeSpec::Or(a, b) => {
                a.has_every() || b.has_every()
            }
            TreeSpec::Every(_) => true,
        }
    }

    /// The rules the compiler enforces: no nullable `EVERY` or root, no `EVERY` inside
    /// `EVERY`, `NOT` without `FOR` only as a side of `AND` with a partner that is not
    /// nullable.
    pub fn valid(&self) -> bool {
        fn ok(t: &TreeSpec, partner: Option<&TreeSpec>) -> bool {
            match t {
                TreeSpec::Stream(_) => true,
                TreeSpec::Absent(_, None, _) => partner.is_some_and(|p| !p.nullable()),
                TreeSpec::Absent(..) => true,
                TreeSpec::Then(a, b) | TreeSpec::Or(a, b) => ok(a, None) && ok(b, None),
                TreeSpec::And(a, b) => ok(a, Some(b)) && ok(b, Some(a)),
                TreeSpec::Every(p) => !p.nullable() && !p.has_every() && ok(p, None),
            }
        }
        !self.nullable() && ok(self, None)
    }

    /// Appends the nodes (children first) and each leaf's filter; returns the root.
    pub fn compile(&self, nodes: &mut Vec<Node>, filters: &mut Vec<Filter>) -> usize {
        let node = match self {
            TreeSpec::Stream(e) => {
                filters.push(e.filter);
                Node::Stream {
                    stream: e.stream,
                    min: e.min,
                    max: e.max,
                }
            }
            TreeSpec::Absent(stream, wait, f) => {
                filters.push(*f);
                Node::Absent {
                    stream: *stream,
                    wait: *wait,
                }
            }
            TreeSpec::Then(a, b) | TreeSpec::And(a, b) | TreeSpec::Or(a, b) => {
                let (a, b) = (a.compile(nodes, filters), b.compile(nodes, filters));
                filters.push(Filter::Any);
                match self {
                    TreeSpec::Then(..) => Node::Then(a, b),
                    TreeSpec::And(..) => Node::And(a, b),
                    _ => Node::Or(a, b),
                }
            }
            TreeSpec::Every(p) => {
                let p = p.compile(nodes, filters);
                filters.push(Filter::Any);
                Node::Every(p)
            }
        };
        nodes.push(node);
        nodes.len() - 1
    }
}

/// Runs `events` through the installed program, with `filters` per node; timers fire as an
/// app would, and once more at the end.
pub fn run_tree<const N: usize>(filters: &[Filter], events: &[Ev]) -> Vec<Match> {
    let mut nfa = Nfa::<TestPattern, N>::new();
    let mut out = Vec::new();
    let n = filters.len();
    for (idx, e) in events.iter().enumerate() {
        nfa.on_event(
            e.ts,
            e.stream,
            |leaf, caps: &Caps| passes(filters[leaf], leaf, idx, caps, events),
            |leaf, caps: &mut Caps| caps.slot(leaf).push(idx),
            |ts, caps: &Caps| out.push((ts, normalize(caps, n))),
        );
        // A few events make a few partial matches; more means restarts feeding each other.
        assert!(nfa.len() <= 64 * (idx + 1), "{} partial matches", nfa.len());
    }
    // Not to the end of time: `EVERY NOT A FOR d` fires every `d` without end.
    let end = events.last().map_or(0, |e| e.ts) + 20;
    nfa.advance(end, |ts, caps: &Caps| out.push((ts, normalize(caps, n))));
    out
}

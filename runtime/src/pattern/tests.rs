//! Unit tests of the pattern state machine, and property tests against naive references.

use super::brute::*;
use super::nfa::REFERENCE_ONLY;
use super::{Nfa, Node};
use proptest::prelude::*;

const S: Node = Node::Stream {
    stream: 0,
    min: 1,
    max: Some(1),
};

fn stream(stream: u32) -> Node {
    Node::Stream {
        stream,
        min: 1,
        max: Some(1),
    }
}

fn absent(stream: u32, wait: Option<i64>) -> Node {
    Node::Absent { stream, wait }
}

fn ev(stream: u32, v: i32, ts: i64) -> Ev {
    Ev { stream, v, ts }
}

/// A match as (time, [(leaf, event indexes)]) for the leaves that captured something.
type Taken = (i64, Vec<(usize, Vec<usize>)>);

/// A driver for hand-written programs: every leaf accepts any event of its stream, except
/// those listed in `reject` (leaf, value).
struct Driver {
    nfa: Nfa<TestPattern, 16>,
    events: Vec<Ev>,
    out: Vec<Match>,
    leaves: usize,
    reject: Vec<(usize, i32)>,
}

impl Driver {
    fn new(nodes: Vec<Node>, root: usize, sequence: bool, within: Option<i64>) -> Driver {
        let leaves = nodes.len();
        install(nodes, root, sequence, within);
        Driver {
            nfa: Nfa::new(),
            events: Vec::new(),
            out: Vec::new(),
            leaves,
            reject: Vec::new(),
        }
    }

    fn send(&mut self, stream: u32, v: i32, ts: i64) -> &mut Self {
        self.events.push(ev(stream, v, ts));
        let idx = self.events.len() - 1;
        let (reject, leaves, out) = (&self.reject, self.leaves, &mut self.out);
        self.nfa.on_event(
            ts,
            stream,
            |leaf, _: &Caps| !reject.contains(&(leaf, v)),
            |leaf, caps: &mut Caps| {
                if caps.0.len() <= leaf {
                    caps.0.resize(leaf + 1, Vec::new());
                }
                caps.0[leaf].push(idx)
            },
            |ts, caps: &Caps| out.push((ts, normalize(caps, leaves))),
        );
        self
    }

    fn advance(&mut self, at: i64) -> &mut Self {
        let (leaves, out) = (self.leaves, &mut self.out);
        self.nfa.advance(at, |ts, caps: &Caps| {
            out.push((ts, normalize(caps, leaves)))
        });
        self
    }

    /// Output as (time, [(leaf, event indexes)]) for non-empty leaves.
    fn taken(&mut self) -> Vec<Taken> {
        std::mem::take(&mut self.out)
            .into_iter()
            .map(|(ts, caps)| {
                let slots = caps
                    .into_iter()
                    .enumerate()
                    .filter(|(_, s)| !s.is_empty())
                    .collect();
                (ts, slots)
            })
            .collect()
    }
}

#[test]
fn followed_by_without_every_matches_once() {
    // a=A -> b=B
    let mut d = Driver::new(vec![stream(0), stream(1), Node::Then(0, 1)], 2, false, None);
    d.send(0, 1, 1)
        .send(0, 2, 2)
        .send(1, 3, 3)
        .send(0, 4, 4)
        .send(1, 5, 5);
    assert_eq!(d.taken(), [(3, vec![(0, vec![0]), (1, vec![2])])]);
}

#[test]
fn every_first_element_completes_all_pending_on_one_event() {
    // every a=A -> b=B
    let mut d = Driver::new(
        vec![stream(0), Node::Every(0), stream(1), Node::Then(1, 2)],
        3,
        false,
        None,
    );
    d.send(0, 1, 1).send(0, 2, 2).send(1, 3, 3).send(1, 4, 4);
    assert_eq!(
        d.taken(),
        [
            (3, vec![(0, vec![0]), (2, vec![2])]),
            (3, vec![(0, vec![1]), (2, vec![2])])
        ]
    );
}

#[test]
fn every_group_restarts_after_completion() {
    // every (a=A -> b=B): the second A is ignored while the first waits for B.
    let mut d = Driver::new(
        vec![stream(0), stream(1), Node::Then(0, 1), Node::Every(2)],
        3,
        false,
        None,
    );
    d.send(0, 1, 1)
        .send(0, 2, 2)
        .send(1, 3, 3)
        .send(0, 4, 4)
        .send(1, 5, 5);
    assert_eq!(
        d.taken(),
        [
            (3, vec![(0, vec![0]), (1, vec![2])]),
            (5, vec![(0, vec![3]), (1, vec![4])])
        ]
    );
}

#[test]
fn every_in_the_middle_repeats_with_the_same_start() {
    // a=A -> every b=B
    let mut d = Driver::new(
        vec![stream(0), stream(1), Node::Every(1), Node::Then(0, 2)],
        3,
        false,
        None,
    );
    d.send(1, 0, 1)
        .send(0, 1, 2)
        .send(1, 2, 3)
        .send(0, 3, 4)
        .send(1, 4, 5);
    assert_eq!(
        d.taken(),
        [
            (3, vec![(0, vec![1]), (1, vec![2])]),
            (5, vec![(0, vec![1]), (1, vec![4])])
        ]
    );
}

#[test]
fn same_stream_event_fills_one_slot_per_match() {
    // every a=S -> b=S: each event completes the previous match and starts the next.
    let mut d = Driver::new(vec![S, Node::Every(0), S, Node::Then(1, 2)], 3, false, None);
    d.send(0, 1, 1).send(0, 2, 2).send(0, 3, 3);
    assert_eq!(
        d.taken(),
        [
            (2, vec![(0, vec![0]), (2, vec![1])]),
            (3, vec![(0, vec![1]), (2, vec![2])])
        ]
    );
}

#[test]
fn within_expires_by_timer_and_exact_gap_matches() {
    // every a=A -> b=B within 10
    let nodes = vec![stream(0), Node::Every(0), stream(1), Node::Then(1, 2)];
    let mut d = Driver::new(nodes, 3, false, Some(10));
    d.send(0, 1, 0).send(0, 2, 5);
    assert_eq!(d.nfa.next_deadline(), Some(11));
    d.advance(11);
    // The match started at 0 is gone; the one from 5 completes at exactly 15.
    d.send(1, 3, 15).send(1, 4, 16);
    assert_eq!(d.taken(), [(15, vec![(0, vec![1]), (2, vec![2])])]);
    assert_eq!(d.nfa.len(), 1, "only the start remains");
}

#[test]
fn without_every_a_timed_out_start_is_replaced() {
    // a=A -> b=B within 10
    let mut d = Driver::new(
        vec![stream(0), stream(1), Node::Then(0, 1)],
        2,
        false,
        Some(10),
    );
    d.send(0, 1, 0)
        .send(0, 2, 5)
        .send(1, 3, 11)
        .send(0, 4, 12)
        .send(1, 5, 20);
    assert_eq!(d.taken(), [(20, vec![(0, vec![3]), (1, vec![4])])]);
}

#[test]
fn counts_collect_until_the_next_element_takes_over() {
    // a=A{2,3} -> b=B
    let nodes = vec![
        Node::Stream {
            stream: 0,
            min: 2,
            max: Some(3),
        },
        stream(1),
        Node::Then(0, 1),
    ];
    let mut d = Driver::new(nodes.clone(), 2, false, None);
    d.send(0, 1, 1)
        .send(1, 2, 2)
        .send(0, 3, 3)
        .send(0, 4, 4)
        .send(0, 5, 5);
    d.send(0, 6, 6).send(1, 7, 7);
    assert_eq!(d.taken(), [(7, vec![(0, vec![0, 2, 3]), (1, vec![6])])]);
    // At the minimum, B completes at once.
    let mut d = Driver::new(nodes, 2, false, None);
    d.send(0, 1, 1).send(0, 2, 2).send(1, 3, 3);
    assert_eq!(d.taken(), [(3, vec![(0, vec![0, 1]), (1, vec![2])])]);
}

#[test]
fn and_takes_both_sides_in_any_order() {
    // every (a=A and b=B) -> c=C
    let nodes = vec![
        stream(0),
        stream(1),
        Node::And(0, 1),
        Node::Every(2),
        stream(2),
        Node::Then(3, 4),
    ];
    let mut d = Driver::new(nodes, 5, false, None);
    d.send(1, 1, 1)
        .send(1, 2, 2)
        .send(0, 3, 3)
        .send(0, 4, 4)
        .send(2, 5, 5);
    // The first B and the first A form the first group; the second A starts another one
    // waiting for a B.
    assert_eq!(
        d.taken(),
        [(5, vec![(0, vec![2]), (1, vec![0]), (4, vec![4])])]
    );
}

#[test]
fn or_takes_the_first_side_and_drops_the_other() {
    // every ((a=A -> b=B) or c=C)
    let nodes = vec![
        stream(0),
        stream(1),
        Node::Then(0, 1),
        stream(2),
        Node::Or(2, 3),
        Node::Every(4),
    ];
    let mut d = Driver::new(nodes, 5, false, None);
    d.send(0, 1, 1)
        .send(2, 2, 2)
        .send(1, 3, 3)
        .send(0, 4, 4)
        .send(1, 5, 5);
    assert_eq!(
        d.taken(),
        [
            (2, vec![(3, vec![1])]),
            (5, vec![(0, vec![3]), (1, vec![4])])
        ]
    );
}

#[test]
fn absence_for_a_duration_fires_at_the_deadline() {
    // every a=A -> not B for 10
    let nodes = vec![
        stream(0),
        Node::Every(0),
        absent(1, Some(10)),
        Node::Then(1, 2),
    ];
    let mut d = Driver::new(nodes, 3, false, None);
    d.send(0, 1, 0).send(0, 2, 5).send(1, 3, 12);
    // A@0 completes at 10 (before the B); A@5 is killed by the B at 12.
    assert_eq!(d.taken(), [(10, vec![(0, vec![0])])]);
    d.send(0, 4, 20).send(1, 5, 30).advance(100);
    // A B exactly at the deadline comes after it.
    assert_eq!(d.taken(), [(30, vec![(0, vec![3])])]);
}

#[test]
fn leading_absence_counts_from_the_first_event_and_restarts_after_a_violation() {
    // not A for 10 -> b=B
    let nodes = vec![absent(0, Some(10)), stream(1), Node::Then(0, 1)];
    let mut d = Driver::new(nodes.clone(), 2, false, None);
    d.send(1, 1, 0).send(1, 2, 10);
    assert_eq!(d.taken(), [(10, vec![(1, vec![1])])]);
    let mut d = Driver::new(nodes, 2, false, None);
    d.send(1, 1, 0).send(0, 2, 5).send(1, 3, 14).send(1, 4, 15);
    // The A at 5 restarts the wait, which ends at 15.
    assert_eq!(d.taken(), [(15, vec![(1, vec![3])])]);
}

#[test]
fn absence_without_duration_as_a_side_of_and() {
    // every (not A and b=B)
    let nodes = vec![absent(0, None), stream(1), Node::And(0, 1), Node::Every(2)];
    let mut d = Driver::new(nodes, 3, false, None);
    d.send(1, 1, 1).send(0, 2, 2).send(1, 3, 3).send(1, 4, 4);
    // B@1 matches; the A kills the restarted group, a fresh one takes B@3, and so on.
    assert_eq!(
        d.taken(),
        [
            (1, vec![(1, vec![0])]),
            (3, vec![(1, vec![2])]),
            (4, vec![(1, vec![3])])
        ]
    );
}

#[test]
fn absence_for_a_duration_and_an_event() {
    // a=A -> (not B for 10 and c=C)
    let nodes = vec![
        stream(0),
        absent(1, Some(10)),
        stream(2),
        Node::And(1, 2),
        Node::Then(0, 3),
    ];
    let mut d = Driver::new(nodes.clone(), 4, false, None);
    // C before the deadline: the match completes when the absence is established.
    d.send(0, 1, 0).send(2, 2, 3).advance(10);
    assert_eq!(d.taken(), [(10, vec![(0, vec![0]), (2, vec![1])])]);
    let mut d = Driver::new(nodes, 4, false, None);
    d.send(0, 1, 0).send(2, 2, 3).send(1, 3, 9).advance(100);
    assert!(d.taken().is_empty());
}

#[test]
fn absence_or_an_event() {
    // a=A -> (not B for 10 or c=C)
    let nodes = vec![
        stream(0),
        absent(1, Some(10)),
        stream(2),
        Node::Or(1, 2),
        Node::Then(0, 3),
    ];
    let mut d = Driver::new(nodes.clone(), 4, false, None);
    d.send(0, 1, 0).send(1, 2, 3).send(2, 3, 5);
    assert_eq!(d.taken(), [(5, vec![(0, vec![0]), (2, vec![2])])]);
    let mut d = Driver::new(nodes, 4, false, None);
    d.send(0, 1, 0).advance(10);
    assert_eq!(d.taken(), [(10, vec![(0, vec![0])])]);
}

#[test]
fn sequence_breaks_on_a_foreign_event_and_restarts_with_it() {
    // a=A, b=B (sequence, no every)
    let mut d = Driver::new(vec![stream(0), stream(1), Node::Then(0, 1)], 2, true, None);
    d.send(0, 1, 1)
        .send(0, 2, 2)
        .send(1, 3, 3)
        .send(0, 4, 4)
        .send(1, 5, 5);
    assert_eq!(d.taken(), [(3, vec![(0, vec![1]), (1, vec![2])])]);
}

#[test]
fn sequence_filter_rejection_breaks() {
    // every a=A, b=B where b rejects value 3
    let nodes = vec![stream(0), Node::Every(0), stream(1), Node::Then(1, 2)];
    let mut d = Driver::new(nodes, 3, true, None);
    d.reject = vec![(2, 3)];
    d.send(0, 1, 1)
        .send(1, 3, 2)
        .send(1, 4, 3)
        .send(0, 5, 4)
        .send(1, 6, 5);
    assert_eq!(d.taken(), [(5, vec![(0, vec![3]), (2, vec![4])])]);
}

#[test]
fn every_restart_overlaps_into_plus_in_a_sequence() {
    // every a=A+, b=B
    let nodes = vec![
        Node::Stream {
            stream: 0,
            min: 1,
            max: None,
        },
        Node::Every(0),
        stream(1),
        Node::Then(1, 2),
    ];
    let mut d = Driver::new(nodes, 3, true, None);
    d.send(0, 1, 1).send(0, 2, 2).send(1, 3, 3);
    assert_eq!(
        d.taken(),
        [
            (3, vec![(0, vec![0, 1]), (2, vec![2])]),
            (3, vec![(0, vec![1]), (2, vec![2])])
        ]
    );
}

#[test]
fn optional_and_star_elements_in_a_sequence() {
    // a=A, b=B?, c=C
    let nodes = vec![
        stream(0),
        Node::Stream {
            stream: 1,
            min: 0,
            max: Some(1),
        },
        Node::Then(0, 1),
        stream(2),
        Node::Then(2, 3),
        Node::Every(4),
    ];
    let mut d = Driver::new(nodes, 5, true, None);
    d.send(0, 1, 1)
        .send(2, 2, 2)
        .send(0, 3, 3)
        .send(1, 4, 4)
        .send(2, 5, 5);
    d.send(0, 6, 6).send(1, 7, 7).send(1, 8, 8).send(2, 9, 9);
    assert_eq!(
        d.taken(),
        [
            (2, vec![(0, vec![0]), (3, vec![1])]),
            (5, vec![(0, vec![2]), (1, vec![3]), (3, vec![4])])
        ]
    );
}

#[test]
fn snapshot_restore_mid_stream() {
    let chain = Chain {
        elems: vec![
            Elem {
                stream: 0,
                min: 1,
                max: Some(2),
                filter: Filter::Any,
            },
            Elem {
                stream: 1,
                min: 1,
                max: Some(1),
                filter: Filter::GtPrev,
            },
        ],
        every: Every::First,
        sequence: false,
        within: Some(5),
    };
    install_chain(&chain);
    let events: Vec<Ev> = (0..20)
        .map(|i| ev(i % 3 % 2, (i * 7 % 5) as i32, i as i64))
        .collect();
    let whole = run_nfa::<8>(&chain, &events);
    assert!(!whole.is_empty());
    // Interrupt after 9 events: serialize the state (JSON, then `state::persist`) and
    // continue from the copy.
    let mut nfa = Nfa::<TestPattern, 8>::new();
    let mut out = Vec::new();
    for (idx, e) in events.iter().enumerate() {
        if idx == 9 {
            let json = serde_json::to_string(&nfa).unwrap();
            nfa = serde_json::from_str(&json).unwrap();
            nfa = crate::state::persist::testkit::same_after_persist(&nfa);
        }
        nfa.on_event(
            e.ts,
            e.stream,
            |leaf, caps: &Caps| match chain.elems[leaf].filter {
                Filter::GtPrev => caps.0[0].last().is_some_and(|&p| e.v > events[p].v),
                _ => true,
            },
            |leaf, caps: &mut Caps| {
                caps.0.resize(2, Vec::new());
                caps.0[leaf].push(idx)
            },
            |ts, caps: &Caps| out.push((ts, normalize(caps, 2))),
        );
    }
    nfa.advance(i64::MAX, |ts, caps: &Caps| {
        out.push((ts, normalize(caps, 2)))
    });
    assert_eq!(out, whole);
}

fn elem(sequence: bool) -> impl Strategy<Value = Elem> {
    let counts = if sequence {
        prop_oneof![
            Just((1, Some(1))),
            Just((1, Some(1))),
            Just((2, Some(2))),
            Just((1, Some(3))),
            Just((1, None)),
            Just((0, None)),
            Just((0, Some(1))),
        ]
        .boxed()
    } else {
        prop_oneof![
            Just((1, Some(1))),
            Just((1, Some(1))),
            Just((2, Some(2))),
            Just((1, Some(3))),
            Just((2, None)),
        ]
        .boxed()
    };
    let filter = prop_oneof![
        Just(Filter::Any),
        Just(Filter::Even),
        Just(Filter::GtPrev),
        Just(Filter::GtOwnLast),
    ];
    (0u32..2, counts, filter).prop_map(|(stream, (min, max), filter)| Elem {
        stream,
        min,
        max,
        filter,
    })
}

fn chain() -> impl Strategy<Value = Chain> {
    any::<bool>()
        .prop_flat_map(|sequence| {
            (
                prop::collection::vec(elem(sequence), 1..=3),
                prop_oneof![Just(Every::None), Just(Every::First), Just(Every::Whole)],
                Just(sequence),
                prop::option::of(1i64..8),
            )
        })
        .prop_map(|(elems, every, sequence, within)| Chain {
            elems,
            every,
            sequence,
            within,
        })
        .prop_filter("a pattern must capture an event", |c| {
            c.elems.iter().any(|e| e.min > 0) && (c.every != Every::First || c.elems[0].min > 0)
        })
}

fn events(streams: u32) -> impl Strategy<Value = Vec<Ev>> {
    prop::collection::vec((0..streams, 0i32..6, 0i64..3), 0..14).prop_map(|raw| {
        let mut ts = 0;
        raw.into_iter()
            .map(|(stream, v, dt)| {
                ts += dt;
                ev(stream, v, ts)
            })
            .collect()
    })
}

/// Only the events of streams the chain reads reach it.
fn relevant(chain: &Chain, events: Vec<Ev>) -> Vec<Ev> {
    events
        .into_iter()
        .filter(|e| chain.elems.iter().any(|el| el.stream == e.stream))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn chains_match_the_reference(chain in chain(), events in events(3)) {
        let events = relevant(&chain, events);
        install_chain(&chain);
        let expected = reference(&chain, &events);
        let got = run_nfa::<8>(&chain, &events);
        prop_assert_eq!(&got, &expected);
        // The tree-walking path alone gives the same.
        REFERENCE_ONLY.with(|r| r.set(true));
        let slow = run_nfa::<8>(&chain, &events);
        REFERENCE_ONLY.with(|r| r.set(false));
        prop_assert_eq!(&slow, &expected);
    }

    #[test]
    fn chains_of_single_events_run_without_the_tree_as_with_it(
        chain in chain().prop_map(|mut c| {
            for e in &mut c.elems {
                e.min = 1;
                e.max = Some(1);
            }
            c.every = Every::First;
            c.sequence = false;
            c
        }),
        events in events(3),
        split in 0usize..14,
    ) {
        let events = relevant(&chain, events);
        install_chain(&chain);
        prop_assert!(super::Chain::<TestPattern>::fits(<TestPattern as super::Pattern>::program()));
        prop_assert_eq!(run_chain(&chain, &events, split), run_nfa::<8>(&chain, &events));
    }

    #[test]
    fn single_element_chains_match_the_definition(
        chain in chain().prop_map(|mut c| {
            for e in &mut c.elems {
                e.min = 1;
                e.max = Some(1);
            }
            c.every = Every::First;
            c
        }),
        events in events(3),
    ) {
        let events = relevant(&chain, events);
        install_chain(&chain);
        let got = run_nfa::<8>(&chain, &events);
        prop_assert_eq!(&got, &declarative(&chain, &events));
        prop_assert_eq!(got, reference(&chain, &events));
    }

    #[test]
    fn fast_paths_match_the_tree_walk(
        tree in tree_spec().prop_filter("a valid pattern", TreeSpec::valid),
        sequence in any::<bool>(),
        within in prop::option::of(1i64..8),
        events in events(3),
    ) {
        let (mut nodes, mut filters) = (Vec::new(), Vec::new());
        let root = tree.compile(&mut nodes, &mut filters);
        prop_assume!(nodes.len() <= 16);
        install(nodes, root, sequence, within);
        let fast = run_tree::<16>(&filters, &events);
        REFERENCE_ONLY.with(|r| r.set(true));
        let slow = run_tree::<16>(&filters, &events);
        REFERENCE_ONLY.with(|r| r.set(false));
        prop_assert_eq!(fast, slow);
    }
}

fn tree_spec() -> impl Strategy<Value = TreeSpec> {
    let filter = prop_oneof![
        Just(Filter::Any),
        Just(Filter::Even),
        Just(Filter::GtPrev),
        Just(Filter::GtOwnLast),
    ];
    let leaf = prop_oneof![
        3 => elem(true).prop_map(TreeSpec::Stream),
        1 => (0u32..3, prop::option::of(1i64..5), filter)
            .prop_map(|(s, wait, f)| TreeSpec::Absent(s, wait, f)),
    ];
    leaf.prop_recursive(3, 10, 2, |inner| {
        prop_oneof![
            3 => (inner.clone(), inner.clone())
                .prop_map(|(a, b)| TreeSpec::Then(Box::new(a), Box::new(b))),
            1 => (inner.clone(), inner.clone())
                .prop_map(|(a, b)| TreeSpec::And(Box::new(a), Box::new(b))),
            1 => (inner.clone(), inner.clone())
                .prop_map(|(a, b)| TreeSpec::Or(Box::new(a), Box::new(b))),
            1 => inner.prop_map(|p| TreeSpec::Every(Box::new(p))),
        ]
    })
}

#[test]
fn node_states_persist_as_their_serde_form() {
    use super::tree::NodeState;
    use crate::state::persist::testkit::{load_all, same_after_persist};
    let all = vec![
        NodeState::Idle,
        NodeState::Started,
        NodeState::Done,
        NodeState::Count { n: 3, closed: true },
        NodeState::Waiting { deadline: -7 },
        NodeState::Passed,
        NodeState::Violated,
        NodeState::Closed,
    ];
    assert_eq!(same_after_persist(&all), all);
    let e = load_all::<NodeState>(&[8, 0, 0, 0]).expect_err("no such state");
    assert!(e.to_string().contains("node state"), "{e}");
    let e = load_all::<NodeState>(&[3, 0, 0, 0, 1, 0, 0, 0, 2]).expect_err("bad flag");
    assert!(e.to_string().contains("flag"), "{e}");
}

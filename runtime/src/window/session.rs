//! `WINDOW('session', gap [, key] [, allowed latency])`.

use std::collections::BTreeMap;
use std::hash::Hash;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::aggregate::FxBuildHasher;

use super::{Window, WindowEvent};

/// One open session.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Session<E> {
    id: u64,
    start: i64,
    last: i64,
    /// Events in timestamp order (arrival order among equal timestamps).
    events: Vec<Held<E>>,
}

/// An event of a session with its timestamp and its arrival number.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Held<E> {
    ts: i64,
    seq: u64,
    event: E,
}

/// `session(gap [, key] [, latency])`: per-key sessions closed by a gap of inactivity.
///
/// An event at `t` joins an open session of its key when `start - gap <= t < last + gap`
/// (bridging two sessions merges them), else it opens a new session. A session closes when
/// the clock reaches `last + gap + latency` (docs/semantics.md#sessions: at `last + gap` without latency; an
/// event at exactly `last + gap` opens a new session). The latency only keeps a session
/// open for late (out-of-order) events, as Siddhi's allowed latency does (its session stays
/// joinable for late events and expires at `last + gap + latency`); an event too late for
/// any session is dropped (no emission), as in Siddhi. Without a key attribute the generated
/// code passes `()`.
///
/// Emission (docs/semantics.md#sessions, Siddhi's `SessionWindowProcessor`): a sliding window. Each
/// admitted arrival is emitted as `Current` (its own timestamp); when a session closes at
/// `c`, all its events are emitted as `Expired`, stamped `c`, in timestamp order. Sessions
/// close in order of close time, then of creation, across keys, and before any event at or
/// after their close time is admitted. [`Window::iter`] lists the events of the open
/// sessions in arrival order (the order a join's key index keeps them in).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(
    serialize = "K: Serialize + Hash + Eq, E: Serialize",
    deserialize = "K: Deserialize<'de> + Hash + Eq, E: Deserialize<'de>"
))]
pub struct SessionWindow<K, E> {
    gap: i64,
    latency: i64,
    next_id: u64,
    clock: i64,
    /// Open sessions per key, by start.
    #[serde(with = "crate::aggregate::pairs")]
    sessions: IndexMap<K, Vec<Session<E>>, FxBuildHasher>,
    /// `(close time, session id) -> key`.
    #[serde(with = "crate::aggregate::pairs")]
    closing: BTreeMap<(i64, u64), K>,
    /// Number of events in open sessions.
    len: usize,
    /// Arrival number of the next event.
    next_seq: u64,
}

impl<K: Hash + Eq + Clone, E> SessionWindow<K, E> {
    /// Sessions closed after `gap_ms` (at least 1) without events of their key.
    pub fn new(gap_ms: i64) -> Self {
        SessionWindow {
            gap: gap_ms.max(1),
            latency: 0,
            next_id: 0,
            clock: i64::MIN,
            sessions: IndexMap::default(),
            closing: BTreeMap::new(),
            len: 0,
            next_seq: 0,
        }
    }

    /// Keeps sessions open `latency_ms` longer for late events (Siddhi: at most the gap).
    pub fn with_latency(mut self, latency_ms: i64) -> Self {
        self.latency = latency_ms.max(0);
        self
    }

    /// `event` of session key `key` arrives at `ts`: sessions due at or before `ts` close
    /// first (their events expire), then the event joins (or opens) a session of its key
    /// and is emitted as current; an event too late for any session is dropped.
    pub fn insert(&mut self, ts: i64, key: K, event: E, mut out: impl FnMut(WindowEvent<'_, E>)) {
        self.fire(ts, &mut out);
        self.clock = self.clock.max(ts);
        let gap = self.gap;
        let latency = self.latency;
        let seq = self.next_seq;
        let list = self.sessions.entry(key.clone()).or_default();
        let mut hits = list
            .iter()
            .enumerate()
            .filter(|(_, s)| s.start - gap <= ts && ts < s.last + gap)
            .map(|(i, _)| i);
        let Some(first) = hits.next() else {
            let close = ts + gap + latency;
            if close <= self.clock {
                if list.is_empty() {
                    self.sessions.swap_remove(&key);
                }
                return; // too late for any session (Siddhi drops it)
            }
            self.next_seq += 1;
            let id = self.next_id;
            self.next_id += 1;
            let pos = list.partition_point(|s| s.start <= ts);
            list.insert(
                pos,
                Session {
                    id,
                    start: ts,
                    last: ts,
                    events: vec![Held { ts, seq, event }],
                },
            );
            self.closing.insert((close, id), key);
            self.len += 1;
            out(WindowEvent::Current {
                ts,
                event: &list[pos].events[0].event,
            });
            return;
        };
        self.next_seq += 1;
        let others: Vec<usize> = hits.collect();
        let close_of = |s: &Session<E>| (s.last + gap + latency, s.id);
        self.closing.remove(&close_of(&list[first]));
        for &i in others.iter().rev() {
            let merged = list.remove(i);
            self.closing.remove(&close_of(&merged));
            let base = &mut list[first];
            base.start = base.start.min(merged.start);
            base.last = base.last.max(merged.last);
            base.events.extend(merged.events);
            base.events.sort_by_key(|h| (h.ts, h.seq));
        }
        let base = &mut list[first];
        let pos = base.events.partition_point(|h| h.ts <= ts);
        base.events.insert(pos, Held { ts, seq, event });
        base.start = base.start.min(ts);
        base.last = base.last.max(ts);
        self.closing.insert(close_of(base), key);
        self.len += 1;
        out(WindowEvent::Current {
            ts,
            event: &base.events[pos].event,
        });
    }

    /// Closes every session due at or before `now`, in order of close time: its events
    /// expire, stamped with the close time.
    fn fire(&mut self, now: i64, out: &mut impl FnMut(WindowEvent<'_, E>)) {
        while let Some(entry) = self.closing.first_entry() {
            let (close, id) = *entry.key();
            if close > now {
                break;
            }
            let key = entry.remove();
            let Some(list) = self.sessions.get_mut(&key) else {
                continue;
            };
            let Some(i) = list.iter().position(|s| s.id == id) else {
                continue;
            };
            let session = list.remove(i);
            if list.is_empty() {
                self.sessions.swap_remove(&key);
            }
            self.len -= session.events.len();
            for held in &session.events {
                out(WindowEvent::Expired {
                    ts: close,
                    event: &held.event,
                });
            }
        }
        self.clock = self.clock.max(now);
    }
}

impl<K: Hash + Eq + Clone, E> Window<E> for SessionWindow<K, E> {
    const IS_BATCH: bool = false;

    fn advance(&mut self, now: i64, mut out: impl FnMut(WindowEvent<'_, E>)) {
        self.fire(now, &mut out);
    }

    fn next_deadline(&self) -> Option<i64> {
        self.closing.keys().next().map(|(close, _)| *close)
    }

    fn iter<'a>(&'a self) -> impl Iterator<Item = (i64, &'a E)>
    where
        E: 'a,
    {
        let mut held: Vec<&'a Held<E>> = self
            .sessions
            .values()
            .flatten()
            .flat_map(|s| &s.events)
            .collect();
        held.sort_unstable_by_key(|h| h.seq);
        held.into_iter().map(|h| (h.ts, &h.event))
    }

    fn len(&self) -> usize {
        self.len
    }
}

crate::state::persist::persist_fields!(Session<E> { id, start, last, events });
crate::state::persist::persist_fields!(Held<E> { ts, seq, event });
crate::state::persist::persist_fields!(SessionWindow<K, E> { gap, latency, next_id, clock, sessions, closing, len, next_seq } where K: Hash + Eq);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::testkit::{check_restore, rec, timestamps, Rec};
    use proptest::prelude::*;

    #[test]
    fn per_key_sessions_closed_by_gap() {
        let mut w = SessionWindow::new(100);
        let mut log = Vec::new();
        w.insert(0, "u1", 'a', rec(&mut log));
        w.insert(50, "u2", 'b', rec(&mut log));
        w.insert(90, "u1", 'c', rec(&mut log));
        assert_eq!(w.next_deadline(), Some(150));
        assert_eq!(w.len(), 3);
        w.insert(150, "u2", 'd', rec(&mut log)); // u2 closed at 150 first: 'd' opens a new one
        w.advance(1000, rec(&mut log));
        assert!(w.is_empty());
        use Rec::*;
        assert_eq!(
            log,
            vec![
                Cur(0, 'a'),
                Cur(50, 'b'),
                Cur(90, 'c'),
                Exp(150, 'b'),
                Cur(150, 'd'),
                Exp(190, 'a'),
                Exp(190, 'c'),
                Exp(250, 'd'),
            ]
        );
    }

    #[test]
    fn a_clock_past_the_gap_closes_without_an_event() {
        let mut w = SessionWindow::new(100);
        let mut log = Vec::new();
        w.insert(0, "u1", 'a', rec(&mut log));
        w.advance(99, rec(&mut log));
        assert_eq!(
            w.iter().map(|(t, e)| (t, *e)).collect::<Vec<_>>(),
            [(0, 'a')]
        );
        w.advance(100, rec(&mut log));
        use Rec::*;
        assert_eq!(log, vec![Cur(0, 'a'), Exp(100, 'a')]);
        // The clock is at 100: an event of ts 0 is too late for any session.
        w.insert(0, "u1", 'b', rec(&mut log));
        assert_eq!(log.len(), 2);
    }

    #[test]
    fn latency_admits_late_events_and_merges() {
        let mut w = SessionWindow::new(100).with_latency(50);
        let mut log = Vec::new();
        w.insert(0, (), 'a', rec(&mut log));
        w.insert(120, (), 'b', rec(&mut log)); // gap passed: new session, 'a' still open
        w.insert(110, (), 'c', rec(&mut log)); // late: joins 'b' only
        w.insert(60, (), 'd', rec(&mut log)); // late: bridges both sessions
        w.advance(10_000, rec(&mut log));
        use Rec::*;
        assert_eq!(
            log,
            vec![
                Cur(0, 'a'),
                Cur(120, 'b'),
                Cur(110, 'c'),
                Cur(60, 'd'),
                Exp(270, 'a'),
                Exp(270, 'd'),
                Exp(270, 'c'),
                Exp(270, 'b'),
            ]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn matches_naive_gap_splitting(ts in timestamps(2000, 80, 0), keys in proptest::collection::vec(0u8..4, 2000), gap in 1i64..200) {
            let steps: Vec<(i64, u8, usize)> = ts.iter().enumerate().map(|(i, t)| (*t, keys[i], i)).collect();
            let log = check_restore(
                || SessionWindow::new(gap),
                &steps,
                |w, (t, k, i), log| w.insert(*t, *k, *i, rec(log)),
                |w, log| w.advance(i64::MAX / 2, rec(log)),
            );
            // Naive: per key, split the key's events where the gap to the previous is >= gap;
            // a session (close time, first event, events) expires at its close, before any
            // event at or after it.
            type Naive = (i64, usize, Vec<usize>);
            let mut sessions: Vec<Naive> = Vec::new();
            for k in 0u8..4 {
                let mut cur: Vec<(i64, usize)> = Vec::new();
                for (t, _, i) in steps.iter().filter(|s| s.1 == k) {
                    if let Some(last) = cur.last() {
                        if t - last.0 >= gap {
                            let done = std::mem::take(&mut cur);
                            sessions.push((done[done.len() - 1].0 + gap, done[0].1, done.iter().map(|e| e.1).collect()));
                        }
                    }
                    cur.push((*t, *i));
                }
                if let Some(last) = cur.last() {
                    sessions.push((last.0 + gap, cur[0].1, cur.iter().map(|e| e.1).collect()));
                }
            }
            sessions.sort_by_key(|(close, first, _)| (*close, *first));
            let mut naive = Vec::new();
            let mut closes = sessions.iter().peekable();
            for (t, _, i) in &steps {
                while let Some((close, _, evs)) = closes.next_if(|s| s.0 <= *t) {
                    naive.extend(evs.iter().map(|e| Rec::Exp(*close, *e)));
                }
                naive.push(Rec::Cur(*t, *i));
            }
            for (close, _, evs) in closes {
                naive.extend(evs.iter().map(|e| Rec::Exp(*close, *e)));
            }
            prop_assert_eq!(log, naive);
        }
    }
}

//! `WINDOW('session', gap [, key] [, allowed latency])`.

use std::collections::BTreeMap;
use std::hash::Hash;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::aggregate::FxBuildHasher;

use super::batch::emit_chunk;
use super::{Window, WindowEvent};

/// One open session.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Session<E> {
    id: u64,
    start: i64,
    last: i64,
    /// Events in timestamp order (arrival order among equal timestamps).
    events: Vec<(i64, E)>,
}

/// `session(gap [, key] [, latency])`: per-key sessions closed by a gap of inactivity.
///
/// An event at `t` joins an open session of its key when `start - gap <= t < last + gap`
/// (bridging two sessions merges them), else it opens a new session. A session closes when
/// the clock reaches `last + gap + latency` (docs/semantics.md#sessions: at `last + gap` without latency; an
/// event at exactly `last + gap` opens a new session). The latency only keeps a session
/// open for late (out-of-order) events; an event too late for any session is dropped, as in
/// Siddhi. Without a key attribute the generated code passes `()`.
///
/// Emission: EventFlux treats the session as a batch window, so that an aggregation emits
/// one row per session: when a session closes at `c` the window emits the previously closed
/// session's events as expired (stamped `c`), `Reset`, the session's events as current (own
/// timestamps), `Flush`. Sessions closing at the same time close in order of creation.
/// (Siddhi instead passes every arrival through as current and emits the session's events
/// as expired when it closes.)
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
    previous: Vec<(i64, E)>,
    keep_expired: bool,
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
            previous: Vec::new(),
            keep_expired: true,
        }
    }

    /// Keeps sessions open `latency_ms` longer for late events (Siddhi: at most the gap).
    pub fn with_latency(mut self, latency_ms: i64) -> Self {
        self.latency = latency_ms.max(0);
        self
    }

    /// Whether closed sessions are kept to be emitted as expired at the next close (default
    /// true). Turn off when the query emits no expired events and nothing joins the window.
    pub fn with_expired(mut self, keep: bool) -> Self {
        self.keep_expired = keep;
        if !keep {
            self.previous.clear();
        }
        self
    }

    /// `event` of session key `key` arrives at `ts`: sessions due at or before `ts` close
    /// first, then the event joins (or opens) a session of its key.
    pub fn insert(&mut self, ts: i64, key: K, event: E, mut out: impl FnMut(WindowEvent<'_, E>)) {
        self.fire(ts, &mut out);
        self.clock = self.clock.max(ts);
        let gap = self.gap;
        let list = self.sessions.entry(key.clone()).or_default();
        let mut hits = list
            .iter()
            .enumerate()
            .filter(|(_, s)| s.start - gap <= ts && ts < s.last + gap)
            .map(|(i, _)| i);
        let Some(first) = hits.next() else {
            let close = ts + gap + self.latency;
            if close <= self.clock {
                if list.is_empty() {
                    self.sessions.swap_remove(&key);
                }
                return; // too late for any session (Siddhi drops it)
            }
            let id = self.next_id;
            self.next_id += 1;
            let pos = list.partition_point(|s| s.start <= ts);
            list.insert(
                pos,
                Session {
                    id,
                    start: ts,
                    last: ts,
                    events: vec![(ts, event)],
                },
            );
            self.closing.insert((close, id), key);
            return;
        };
        let others: Vec<usize> = hits.collect();
        let close_of = |s: &Session<E>| (s.last + gap + self.latency, s.id);
        self.closing.remove(&close_of(&list[first]));
        for &i in others.iter().rev() {
            let merged = list.remove(i);
            self.closing.remove(&close_of(&merged));
            let base = &mut list[first];
            base.start = base.start.min(merged.start);
            base.last = base.last.max(merged.last);
            base.events.extend(merged.events);
            base.events.sort_by_key(|(t, _)| *t);
        }
        let base = &mut list[first];
        let pos = base.events.partition_point(|(t, _)| *t <= ts);
        base.events.insert(pos, (ts, event));
        base.start = base.start.min(ts);
        base.last = base.last.max(ts);
        let k = close_of(base);
        self.closing.insert(k, key);
    }

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
            emit_chunk(close, &self.previous, &[], &session.events, out);
            self.previous.clear();
            if self.keep_expired {
                self.previous = session.events;
            }
            self.clock = self.clock.max(close);
        }
    }
}

impl<K: Hash + Eq + Clone, E> Window<E> for SessionWindow<K, E> {
    const IS_BATCH: bool = true;

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
        self.previous.iter().map(|(t, e)| (*t, e))
    }

    fn len(&self) -> usize {
        self.previous.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::testkit::{check_restore, chunks, rec, timestamps, Rec};
    use proptest::prelude::*;

    #[test]
    fn per_key_sessions_closed_by_gap() {
        let mut w = SessionWindow::new(100);
        let mut log = Vec::new();
        w.insert(0, "u1", 'a', rec(&mut log));
        w.insert(50, "u2", 'b', rec(&mut log));
        w.insert(90, "u1", 'c', rec(&mut log));
        assert_eq!(w.next_deadline(), Some(150));
        w.insert(150, "u2", 'd', rec(&mut log)); // u2 closed at 150 first: 'd' opens a new one
        w.advance(1000, rec(&mut log));
        use Rec::*;
        assert_eq!(
            log,
            vec![
                Reset(150),
                Cur(50, 'b'),
                Flush(150, true),
                Exp(190, 'b'),
                Reset(190),
                Cur(0, 'a'),
                Cur(90, 'c'),
                Flush(190, true),
                Exp(250, 'a'),
                Exp(250, 'c'),
                Reset(250),
                Cur(150, 'd'),
                Flush(250, true),
            ]
        );
    }

    #[test]
    fn latency_admits_late_events_and_merges() {
        let mut w = SessionWindow::new(100).with_latency(50).with_expired(false);
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
                Reset(270),
                Cur(0, 'a'),
                Cur(60, 'd'),
                Cur(110, 'c'),
                Cur(120, 'b'),
                Flush(270, true)
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
            // Naive: per key, split the key's events where the gap to the previous is >= gap.
            // (close time, first event, events)
            type Naive = (i64, usize, Vec<(i64, usize)>);
            let mut naive: Vec<Naive> = Vec::new();
            for k in 0u8..4 {
                let mut cur: Vec<(i64, usize)> = Vec::new();
                for (t, _, i) in steps.iter().filter(|s| s.1 == k) {
                    if let Some(last) = cur.last() {
                        if t - last.0 >= gap {
                            naive.push((last.0 + gap, cur[0].1, std::mem::take(&mut cur)));
                        }
                    }
                    cur.push((*t, *i));
                }
                if let Some(last) = cur.last() {
                    naive.push((last.0 + gap, cur[0].1, cur));
                }
            }
            naive.sort_by_key(|(close, first, _)| (*close, *first));
            let got = chunks(&log);
            prop_assert_eq!(got.len(), naive.len());
            let mut prev: Vec<usize> = Vec::new();
            for (c, (close, _, evs)) in got.iter().zip(&naive) {
                prop_assert_eq!(c.at, *close);
                prop_assert_eq!(&c.current, evs);
                prop_assert_eq!(&c.expired, &prev);
                prev = evs.iter().map(|e| e.1).collect();
            }
        }
    }
}

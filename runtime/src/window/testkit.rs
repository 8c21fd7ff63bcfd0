//! Test support for windows: recording emissions, snapshot round-trips, batch structure.

use std::fmt::Debug;

use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::WindowEvent;

/// An owned copy of a [`WindowEvent`].
#[derive(Clone, Debug, PartialEq)]
pub enum Rec<E> {
    /// `Current { ts, event }`.
    Cur(i64, E),
    /// `Expired { ts, event }`.
    Exp(i64, E),
    /// `Reset { ts }`.
    Reset(i64),
    /// `Flush { ts, has_current }`.
    Flush(i64, bool),
}

/// A callback appending owned copies of emissions to `log`.
pub fn rec<E: Clone>(log: &mut Vec<Rec<E>>) -> impl FnMut(WindowEvent<'_, E>) + '_ {
    move |e| {
        log.push(match e {
            WindowEvent::Current { ts, event } => Rec::Cur(ts, event.clone()),
            WindowEvent::Expired { ts, event } => Rec::Exp(ts, event.clone()),
            WindowEvent::Reset { ts } => Rec::Reset(ts),
            WindowEvent::Flush { ts, has_current } => Rec::Flush(ts, has_current),
        })
    }
}

/// `w` serialized to JSON and read back.
pub fn roundtrip<W: Serialize + DeserializeOwned>(w: &W) -> W {
    let json = serde_json::to_string(w).expect("serialize window");
    serde_json::from_str(&json).expect("deserialize window")
}

/// Runs `steps` on a fresh window, and again with a snapshot/restore before step `cut`
/// (and after the last step, then one more `finish`); both runs must emit the same.
/// Returns the emissions of the uninterrupted run.
pub fn check_restore<W, S, E>(
    make: impl Fn() -> W,
    steps: &[S],
    apply: impl Fn(&mut W, &S, &mut Vec<Rec<E>>),
    finish: impl Fn(&mut W, &mut Vec<Rec<E>>),
) -> Vec<Rec<E>>
where
    W: Serialize + DeserializeOwned,
    E: PartialEq + Debug,
{
    let mut whole = make();
    let mut log = Vec::new();
    for s in steps {
        apply(&mut whole, s, &mut log);
    }
    finish(&mut whole, &mut log);
    for cut in [steps.len() / 3, steps.len() / 2, steps.len()] {
        let mut w = make();
        let mut log2 = Vec::new();
        for (i, s) in steps.iter().enumerate() {
            if i == cut {
                w = roundtrip(&w);
            }
            apply(&mut w, s, &mut log2);
        }
        if cut == steps.len() {
            w = roundtrip(&w);
        }
        finish(&mut w, &mut log2);
        assert_eq!(
            log, log2,
            "emissions differ after a restore before step {cut}"
        );
    }
    log
}

/// One batch chunk: expired events, then current events (after a `Reset`), closed at `at`.
#[derive(Clone, Debug, PartialEq)]
pub struct Chunk<E> {
    /// Close time (the `Flush` timestamp).
    pub at: i64,
    /// Expired events of the chunk (all stamped `at`).
    pub expired: Vec<E>,
    /// Current events with their timestamps.
    pub current: Vec<(i64, E)>,
}

/// Splits a batch window's emissions into chunks, asserting `Exp* [Reset Cur+] Flush` shape
/// with consistent timestamps.
pub fn chunks<E: Clone + Debug>(log: &[Rec<E>]) -> Vec<Chunk<E>> {
    let mut out = Vec::new();
    let mut cur: Option<Chunk<E>> = None;
    let mut reset_seen = false;
    for r in log {
        let c = cur.get_or_insert_with(|| Chunk {
            at: i64::MIN,
            expired: Vec::new(),
            current: Vec::new(),
        });
        match r {
            Rec::Exp(ts, e) => {
                assert!(!reset_seen, "expired after reset in {log:?}");
                assert!(c.at == i64::MIN || c.at == *ts);
                c.at = *ts;
                c.expired.push(e.clone());
            }
            Rec::Reset(ts) => {
                assert!(!reset_seen);
                assert!(c.at == i64::MIN || c.at == *ts);
                c.at = *ts;
                reset_seen = true;
            }
            Rec::Cur(ts, e) => {
                assert!(reset_seen, "current before reset");
                c.current.push((*ts, e.clone()));
            }
            Rec::Flush(ts, has_current) => {
                assert!(c.at == i64::MIN || c.at == *ts);
                assert!(reset_seen != c.current.is_empty(), "reset without current");
                assert_eq!(*has_current, reset_seen, "has_current flag");
                c.at = *ts;
                out.push(cur.take().expect("chunk"));
                reset_seen = false;
            }
        }
    }
    assert!(cur.is_none(), "unterminated chunk");
    out
}

/// Nondecreasing timestamps from random gaps in `0..max_gap`, starting at `start`.
pub fn timestamps(n: usize, max_gap: i64, start: i64) -> impl Strategy<Value = Vec<i64>> {
    proptest::collection::vec(0..max_gap, 1..n).prop_map(move |gaps| {
        gaps.iter()
            .scan(start, |t, g| {
                *t += g;
                Some(*t)
            })
            .collect()
    })
}

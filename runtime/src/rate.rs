//! Output rate limiting (`OUTPUT [ALL|FIRST|LAST|SNAPSHOT] EVERY ...`, docs/semantics.md#output-rate-limiting).
//!
//! A [`RateLimiter`] sits between a query's selector and its target: rows are offered to it
//! with their group key (`()`-like when the query does not group) and it decides which rows
//! leave and when:
//!
//! | mode | every n events | every duration |
//! |---|---|---|
//! | `ALL` | the buffered rows, each time n rows have arrived | the buffered rows at each period end |
//! | `FIRST` | the 1st, (n+1)th, ... row of each group | the first row of each group in each period, immediately |
//! | `LAST` | the nth, 2nth, ... row of each group | the last row of each group at each period end |
//! | `SNAPSHOT` | — | the latest row of each group at each period end (kept across periods) |
//!
//! Periods start at the first event the query sees ([`RateLimiter::observe`]); on the event
//! clock they are deterministic.

use crate::aggregate::GroupMap;
use serde::{Deserialize, Serialize};
use std::hash::Hash;

/// Which rows a limiter releases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RateMode {
    /// Every buffered row.
    All,
    /// The first row of each period (per group).
    First,
    /// The last row of each period (per group).
    Last,
    /// The latest row of each group, at every period end.
    Snapshot,
}

/// The period of a limiter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RateEvery {
    /// Every n rows.
    Events(u64),
    /// Every duration (ms).
    Time(i64),
}

/// Per-group state.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(serialize = "R: Serialize", deserialize = "R: Deserialize<'de>"))]
struct Slot<R> {
    count: u64,
    seen: bool,
    last: Option<R>,
}

impl<R> Default for Slot<R> {
    fn default() -> Self {
        Slot {
            count: 0,
            seen: false,
            last: None,
        }
    }
}

/// A rate limiter over rows `R` grouped by `K`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(
    serialize = "K: Serialize + Hash + Eq, R: Serialize",
    deserialize = "K: Deserialize<'de> + Hash + Eq, R: Deserialize<'de>"
))]
pub struct RateLimiter<K, R> {
    mode: RateMode,
    every: RateEvery,
    next: Option<i64>,
    buffer: Vec<R>,
    groups: GroupMap<K, Slot<R>>,
}

impl<K: Hash + Eq + Clone, R: Clone> RateLimiter<K, R> {
    /// A limiter releasing rows by `mode` every `every`.
    pub fn new(mode: RateMode, every: RateEvery) -> Self {
        RateLimiter {
            mode,
            every,
            next: None,
            buffer: Vec::new(),
            groups: GroupMap::new(),
        }
    }

    /// The query saw an event at `ts`: starts the first period if none is running.
    #[inline]
    pub fn observe(&mut self, ts: i64) {
        if let (RateEvery::Time(period), None) = (self.every, self.next) {
            self.next = Some(ts.saturating_add(period.max(1)));
        }
    }

    /// The end of the current period, if time-based and started.
    pub fn next_deadline(&self) -> Option<i64> {
        self.next
    }

    /// Offers one row of group `key`; rows released now are pushed to `out`.
    pub fn offer(&mut self, key: K, row: R, out: &mut Vec<R>) {
        match (self.mode, self.every) {
            (RateMode::All, RateEvery::Events(n)) => {
                self.buffer.push(row);
                if self.buffer.len() as u64 >= n.max(1) {
                    out.append(&mut self.buffer);
                }
            }
            (RateMode::All, RateEvery::Time(_)) => self.buffer.push(row),
            (RateMode::First, RateEvery::Events(n)) => {
                let slot = self.groups.get_or_default(key);
                if slot.count.is_multiple_of(n.max(1)) {
                    out.push(row);
                }
                slot.count += 1;
            }
            (RateMode::First, RateEvery::Time(_)) => {
                let slot = self.groups.get_or_default(key);
                if !slot.seen {
                    slot.seen = true;
                    out.push(row);
                }
            }
            (RateMode::Last, RateEvery::Events(n)) => {
                let slot = self.groups.get_or_default(key);
                slot.count += 1;
                if slot.count >= n.max(1) {
                    slot.count = 0;
                    out.push(row);
                }
            }
            (RateMode::Last | RateMode::Snapshot, _) => {
                self.groups.get_or_default(key).last = Some(row);
            }
        }
    }

    /// Ends every period due at or before `now`, pushing released rows to `out`.
    pub fn advance(&mut self, now: i64, out: &mut Vec<R>) {
        let RateEvery::Time(period) = self.every else {
            return;
        };
        while let Some(due) = self.next.filter(|&d| d <= now) {
            self.next = Some(due.saturating_add(period.max(1)));
            match self.mode {
                RateMode::All => out.append(&mut self.buffer),
                RateMode::First => self.groups.clear(),
                RateMode::Last => {
                    for (_, slot) in self.groups.iter_mut() {
                        out.extend(slot.last.take());
                    }
                    self.groups.clear();
                }
                RateMode::Snapshot => {
                    out.extend(self.groups.iter().filter_map(|(_, s)| s.last.clone()));
                }
            }
        }
    }
}

impl crate::state::persist::Save for RateMode {
    /// As its serde form: the variant's index (`u32`).
    fn save(&self, w: &mut crate::state::persist::Writer) {
        w.put_u32(match self {
            RateMode::All => 0,
            RateMode::First => 1,
            RateMode::Last => 2,
            RateMode::Snapshot => 3,
        });
    }
}

impl crate::state::persist::Load for RateMode {
    fn load(r: &mut crate::state::persist::Reader<'_>) -> Result<Self, crate::state::StateError> {
        Ok(match r.u32()? {
            0 => RateMode::All,
            1 => RateMode::First,
            2 => RateMode::Last,
            3 => RateMode::Snapshot,
            _ => return Err(r.error("bad rate limit mode")),
        })
    }
}

impl crate::state::persist::Save for RateEvery {
    /// As its serde form: the variant's index (`u32`), then its value.
    fn save(&self, w: &mut crate::state::persist::Writer) {
        match *self {
            RateEvery::Events(n) => {
                w.put_u32(0);
                w.put_u64(n);
            }
            RateEvery::Time(ms) => {
                w.put_u32(1);
                w.put_i64(ms);
            }
        }
    }
}

impl crate::state::persist::Load for RateEvery {
    fn load(r: &mut crate::state::persist::Reader<'_>) -> Result<Self, crate::state::StateError> {
        Ok(match r.u32()? {
            0 => RateEvery::Events(r.u64()?),
            1 => RateEvery::Time(r.i64()?),
            _ => return Err(r.error("bad rate limit period")),
        })
    }
}

crate::state::persist::persist_fields!(Slot<R> { count, seen, last });
crate::state::persist::persist_fields!(RateLimiter<K, R> { mode, every, next, buffer, groups } where K: Hash + Eq);

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        mode: RateMode,
        every: RateEvery,
        rows: &[(i64, &'static str, u32)],
        end: i64,
    ) -> Vec<u32> {
        let mut limiter = RateLimiter::<&str, u32>::new(mode, every);
        let mut out = Vec::new();
        for &(ts, key, row) in rows {
            limiter.advance(ts, &mut out);
            limiter.observe(ts);
            limiter.offer(key, row, &mut out);
        }
        limiter.advance(end, &mut out);
        out
    }

    const ROWS: &[(i64, &str, u32)] = &[
        (0, "a", 1),
        (100, "b", 2),
        (200, "a", 3),
        (1100, "a", 4),
        (1200, "b", 5),
    ];

    #[test]
    fn every_n_events() {
        assert_eq!(
            run(RateMode::All, RateEvery::Events(2), ROWS, 0),
            vec![1, 2, 3, 4]
        );
        assert_eq!(
            run(RateMode::First, RateEvery::Events(2), ROWS, 0),
            vec![1, 2, 4]
        );
        assert_eq!(
            run(RateMode::Last, RateEvery::Events(2), ROWS, 0),
            vec![3, 5]
        );
    }

    #[test]
    fn every_period() {
        let every = RateEvery::Time(1000);
        assert_eq!(run(RateMode::All, every, ROWS, 2000), vec![1, 2, 3, 4, 5]);
        assert_eq!(run(RateMode::First, every, ROWS, 2000), vec![1, 2, 4, 5]);
        assert_eq!(run(RateMode::Last, every, ROWS, 2000), vec![3, 2, 4, 5]);
        assert_eq!(run(RateMode::Snapshot, every, ROWS, 2000), vec![3, 2, 4, 5]);
        assert_eq!(
            run(RateMode::Snapshot, every, ROWS, 3000),
            vec![3, 2, 4, 5, 4, 5]
        );
    }

    #[test]
    fn periods_start_at_the_first_event() {
        let mut limiter = RateLimiter::<(), u32>::new(RateMode::All, RateEvery::Time(1000));
        assert_eq!(limiter.next_deadline(), None);
        limiter.observe(50);
        limiter.observe(70);
        assert_eq!(limiter.next_deadline(), Some(1050));
    }

    #[test]
    fn state_round_trips() {
        let mut limiter = RateLimiter::<String, u32>::new(RateMode::Last, RateEvery::Events(3));
        let mut out = Vec::new();
        limiter.offer("a".into(), 1, &mut out);
        let json = serde_json::to_string(&limiter).expect("serialize");
        let mut back: RateLimiter<String, u32> = serde_json::from_str(&json).expect("deserialize");
        back.offer("a".into(), 2, &mut out);
        back.offer("a".into(), 3, &mut out);
        assert_eq!(out, vec![3]);
    }
}

//! The benchmark queries of `benches/apps/`, written by hand.
//!
//! Each is what a Rust programmer would write for that one query, given the same typed
//! events and the same output contract as generated code (one owned output row per output
//! event, handed to a [`Sink`](crate::Sink); the same NULL rules; the same emission order and
//! timestamps, so `eventflux run` and the baseline print identical lines). They are
//! deliberately specialised: a window keeps only the columns the query reads, a group is
//! looked up once per event and then addressed by index, a batch aggregates on arrival.
//! Those are the liberties the compiler could take too; see `BENCHMARKS.md`.

mod filter_projection;
mod join_length;
mod length_group_sum;
mod partition_length_sum;
mod pattern_rise;
mod table_enrich;
mod table_upsert;
mod time_avg;
mod time_batch_group;

pub use filter_projection::{Big, FilterProjection};
pub use join_length::{JoinLength, Matched};
pub use length_group_sum::{LengthGroupSum, Sums};
pub use partition_length_sum::PartitionLengthSum;
pub use pattern_rise::{PatternRise, Rises};
pub use table_enrich::{Enriched, TableEnrich};
pub use table_upsert::{Rows, TableUpsert};
pub use time_avg::{Averages, TimeAvg};
pub use time_batch_group::{Stats, TimeBatchGroup};

use std::sync::Arc;

use crate::fx::FxHashMap;
use crate::Trades;

/// Group keys interned to dense indexes: one hash lookup per event, then plain indexing
/// (e.g. for the group of an event leaving a window, whose index the window stores).
#[derive(Default)]
struct Groups<T> {
    index: FxHashMap<Option<Arc<str>>, u32>,
    entries: Vec<(Option<Arc<str>>, T)>,
}

impl<T: Default> Groups<T> {
    /// The index of `key`'s group, created (with `T::default()`) on first sight.
    #[inline]
    fn intern(&mut self, key: &Option<Arc<str>>) -> u32 {
        if let Some(&i) = self.index.get(key) {
            return i;
        }
        let i = u32::try_from(self.entries.len()).expect("fewer than 2^32 groups");
        self.index.insert(key.clone(), i);
        self.entries.push((key.clone(), T::default()));
        i
    }
}

/// The columns of a row of table `Stock (symbol STRING PRIMARY KEY, price DOUBLE, volume
/// LONG)` besides its key.
#[derive(Clone, Copy, Debug, PartialEq)]
struct StockRow {
    price: Option<f64>,
    volume: Option<i64>,
}

/// Table `Stock` by hand, as the table queries use it (upsert and lookup by primary key):
/// a hash map from symbol to the row. A row with a NULL symbol is not kept: the queries
/// reach rows only through `= symbol`, which NULL never satisfies.
#[derive(Default)]
struct StockTable {
    rows: FxHashMap<Arc<str>, StockRow>,
}

impl StockTable {
    /// `UPSERT` of the event's columns, by its symbol.
    #[inline]
    fn upsert(&mut self, event: Trades) {
        let Some(symbol) = event.symbol else {
            return;
        };
        let row = StockRow {
            price: event.price,
            volume: Some(event.volume),
        };
        match self.rows.get_mut(&*symbol) {
            Some(old) => *old = row,
            None => {
                self.rows.insert(symbol, row);
            }
        }
    }

    /// The row of `symbol`.
    #[inline]
    fn get(&self, symbol: &str) -> Option<&StockRow> {
        self.rows.get(symbol)
    }
}

/// `sum`/`avg` state over a retracting window, with the NULL rules and float handling of
/// the EventFlux aggregators (an emptied sum restarts from exactly 0.0), so that results
/// are bit-identical to the generated app's.
#[derive(Clone, Copy, Default)]
struct SumCount {
    sum: f64,
    count: i64,
}

impl SumCount {
    #[inline]
    fn add(&mut self, v: Option<f64>) {
        if let Some(v) = v {
            self.sum += v;
            self.count += 1;
        }
    }

    #[inline]
    fn remove(&mut self, v: Option<f64>) {
        if let Some(v) = v {
            self.count -= 1;
            if self.count == 0 {
                self.sum = 0.0;
            } else {
                self.sum -= v;
            }
        }
    }

    #[inline]
    fn sum(&self) -> Option<f64> {
        (self.count > 0).then_some(self.sum)
    }

    #[inline]
    fn avg(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }
}

#[cfg(test)]
mod tests {
    //! Each baseline against a naive recomputation over the same events.

    use super::*;
    use crate::data::{symbol, trades, TradesSpec};
    use crate::harness::{run, Decoded};
    use crate::{Query, Sink};

    /// Keeps `(ts, row as JSON)`.
    #[derive(Default)]
    struct Rows(Vec<(i64, serde_json::Value)>);

    impl Sink for Rows {
        fn emit<T: serde::Serialize>(&mut self, _stream: &'static str, ts: i64, row: &T) {
            self.0.push((ts, serde_json::to_value(row).unwrap()));
        }
    }

    fn input(keys: u32, per_ms: u32) -> Vec<(i64, Trades)> {
        let spec = TradesSpec {
            events: 3000,
            keys,
            per_ms,
            null_every: 7,
            ..TradesSpec::default()
        };
        trades(&spec).collect()
    }

    fn decoded(events: &[(i64, Trades)]) -> Decoded {
        events
            .iter()
            .map(|(t, e)| (*t, Some((0, e.clone()))))
            .collect()
    }

    fn outputs<Q: Query<Rows>>(events: &[(i64, Trades)]) -> Vec<(i64, serde_json::Value)> {
        run::<Rows, Q>(decoded(events), Rows::default()).0
    }

    /// Runs `Q` over events given with their input index.
    fn outputs_of<Q: Query<Rows>>(
        events: &[(i64, usize, Trades)],
    ) -> Vec<(i64, serde_json::Value)> {
        let decoded = events
            .iter()
            .map(|(t, i, e)| (*t, Some((*i, e.clone()))))
            .collect();
        run::<Rows, Q>(decoded, Rows::default()).0
    }

    fn close(a: Option<f64>, b: &serde_json::Value) -> bool {
        match (a, b.as_f64()) {
            (None, None) => b.is_null(),
            (Some(x), Some(y)) => (x - y).abs() <= 1e-6 * x.abs().max(1.0),
            _ => false,
        }
    }

    #[test]
    fn filter_projection_keeps_big_trades_but_xyz_and_null_symbols() {
        let mut events = input(10, 1);
        events[0].1.symbol = None;
        events[0].1.volume = 500;
        let out = outputs::<FilterProjection<Rows>>(&events);
        let expected: Vec<_> = events
            .iter()
            .filter(|(_, e)| e.volume >= 100 && e.symbol.as_deref().is_some_and(|s| s != "XYZ"))
            .collect();
        assert_eq!(out.len(), expected.len());
        for ((ts, row), (t, e)) in out.iter().zip(expected) {
            assert_eq!(ts, t);
            assert_eq!(row["symbol"].as_str(), e.symbol.as_deref());
            assert!(close(
                e.price.map(|p| p * e.volume as f64),
                &row["notional"]
            ));
        }
    }

    #[test]
    fn length_group_sum_matches_the_last_100_events_of_the_group() {
        let events = input(7, 1);
        let out = outputs::<LengthGroupSum<Rows>>(&events);
        assert_eq!(out.len(), events.len());
        for (i, ((ts, row), (t, e))) in out.iter().zip(&events).enumerate() {
            let window = &events[(i + 1).saturating_sub(length_group_sum::LENGTH)..=i];
            let prices: Vec<f64> = window
                .iter()
                .filter(|(_, w)| w.symbol == e.symbol)
                .filter_map(|(_, w)| w.price)
                .collect();
            let naive = (!prices.is_empty()).then(|| prices.iter().sum());
            assert_eq!(ts, t);
            assert!(close(naive, &row["total"]), "event {i}: {naive:?} vs {row}");
        }
    }

    #[test]
    fn partition_length_sum_matches_the_last_10_events_of_the_key() {
        let events = input(13, 1);
        let out = outputs::<PartitionLengthSum<Rows>>(&events);
        assert_eq!(out.len(), events.len());
        for (i, ((ts, row), (t, e))) in out.iter().zip(&events).enumerate() {
            let same_key: Vec<&Trades> = events[..=i]
                .iter()
                .map(|(_, w)| w)
                .filter(|w| w.symbol == e.symbol)
                .collect();
            let window = &same_key[same_key.len().saturating_sub(partition_length_sum::LENGTH)..];
            let prices: Vec<f64> = window.iter().filter_map(|w| w.price).collect();
            let naive = (!prices.is_empty()).then(|| prices.iter().sum());
            assert_eq!(ts, t);
            assert_eq!(row["symbol"].as_str(), e.symbol.as_deref());
            assert!(close(naive, &row["total"]), "event {i}: {naive:?} vs {row}");
        }
    }

    #[test]
    fn time_avg_matches_the_events_of_the_last_second() {
        let events = input(5, 3);
        let out = outputs::<TimeAvg<Rows>>(&events);
        assert_eq!(out.len(), events.len());
        for (i, ((ts, row), (t, _))) in out.iter().zip(&events).enumerate() {
            let prices: Vec<f64> = events[..=i]
                .iter()
                .filter(|(w, _)| w + time_avg::DURATION_MS > *t)
                .filter_map(|(_, w)| w.price)
                .collect();
            let naive =
                (!prices.is_empty()).then(|| prices.iter().sum::<f64>() / prices.len() as f64);
            assert_eq!(ts, t);
            assert!(close(naive, &row["mean"]), "event {i}: {naive:?} vs {row}");
        }
    }

    #[test]
    fn time_batch_group_emits_each_closed_batch_per_group_in_first_seen_order() {
        let events = input(20, 4);
        let out = outputs::<TimeBatchGroup<Rows>>(&events);
        let first = events[0].0;
        let last_batch = (events[events.len() - 1].0 - first) / time_batch_group::DURATION_MS;
        let mut expected = Vec::new();
        for b in 0..last_batch {
            let lo = first + b * time_batch_group::DURATION_MS;
            let batch: Vec<_> = events
                .iter()
                .filter(|(t, _)| (lo..lo + time_batch_group::DURATION_MS).contains(t))
                .collect();
            let mut order: Vec<Option<&str>> = Vec::new();
            for (_, e) in &batch {
                if !order.contains(&e.symbol.as_deref()) {
                    order.push(e.symbol.as_deref());
                }
            }
            for key in order {
                let group: Vec<_> = batch
                    .iter()
                    .filter(|(_, e)| e.symbol.as_deref() == key)
                    .collect();
                let prices: Vec<f64> = group.iter().filter_map(|(_, e)| e.price).collect();
                let sum = (!prices.is_empty()).then(|| prices.iter().sum::<f64>());
                let max = prices.iter().copied().reduce(f64::max);
                expected.push((
                    group[group.len() - 1].0,
                    key,
                    sum,
                    sum.map(|s| s / prices.len() as f64),
                    max,
                ));
            }
        }
        assert_eq!(out.len(), expected.len());
        for ((ts, row), (t, key, sum, mean, max)) in out.iter().zip(expected) {
            assert_eq!((*ts, row["symbol"].as_str()), (t, key));
            assert!(
                close(sum, &row["total"]) && close(mean, &row["mean"]) && close(max, &row["top"])
            );
        }
    }

    #[test]
    fn pattern_rise_pairs_each_a_with_the_first_higher_b_within_a_second() {
        // A third of the events go to A; 2 events per ms, so a second holds 2,000.
        let events: Vec<_> = input(11, 2)
            .into_iter()
            .enumerate()
            .map(|(i, (t, e))| (t, usize::from(!i.is_multiple_of(3)), e))
            .collect();
        let out = outputs_of::<PatternRise<Rows>>(&events);
        // Each A, with the first later B priced above it within WITHIN, in the order of the
        // B (and of the A for one B).
        let mut expected = Vec::new();
        for (i, (t, s, a)) in events.iter().enumerate() {
            if *s != 0 {
                continue;
            }
            let higher = |(tb, sb, b): &(i64, usize, Trades)| {
                *sb == 1
                    && *tb - t <= pattern_rise::WITHIN
                    && matches!((a.price, b.price), (Some(x), Some(y)) if y > x)
            };
            if let Some(j) = events[i + 1..].iter().position(higher) {
                let (tb, _, b) = &events[i + 1 + j];
                expected.push((i + 1 + j, i, *tb, a.symbol.clone(), a.price, b.price));
            }
        }
        expected.sort_by_key(|e| (e.0, e.1));
        assert!(expected.len() > 500, "{} rows", expected.len());
        assert_eq!(out.len(), expected.len());
        for ((ts, row), (_, _, t, sym, before, after)) in out.iter().zip(expected) {
            assert_eq!((*ts, row["symbol"].as_str()), (t, sym.as_deref()));
            assert!(
                close(before, &row["before"]) && close(after, &row["after"]),
                "{row}"
            );
        }
    }

    #[test]
    fn join_length_matches_the_last_100_events_of_the_other_side() {
        let events: Vec<_> = input(13, 1)
            .into_iter()
            .enumerate()
            .map(|(i, (t, mut e))| {
                if i % 97 == 5 {
                    e.symbol = None;
                }
                (t, usize::from(i.is_multiple_of(3) || i % 7 == 1), e)
            })
            .collect();
        let out = outputs_of::<JoinLength<Rows>>(&events);
        let mut expected = Vec::new();
        for (i, (t, s, e)) in events.iter().enumerate() {
            let other: Vec<_> = events[..i].iter().filter(|w| w.1 != *s).collect();
            let window = &other[other.len().saturating_sub(join_length::LENGTH)..];
            for (_, _, w) in window {
                if e.symbol.is_some() && w.symbol == e.symbol {
                    let (price, bid) = if *s == 0 {
                        (e.price, w.price)
                    } else {
                        (w.price, e.price)
                    };
                    expected.push((*t, e.symbol.clone(), price, bid));
                }
            }
        }
        assert!(expected.len() > 1000, "{} rows", expected.len());
        assert_eq!(out.len(), expected.len());
        for ((ts, row), (t, sym, price, bid)) in out.iter().zip(expected) {
            assert_eq!((*ts, row["symbol"].as_str()), (t, sym.as_deref()));
            assert!(
                close(price, &row["price"]) && close(bid, &row["bid"]),
                "{row}"
            );
        }
    }

    /// Fill events (input `fill`) for keys `0..keys`, then `events` on input `1 - fill`.
    fn table_input(fill: usize, keys: u32) -> Vec<(i64, usize, Trades)> {
        let mut events: Vec<_> = input(keys * 2, 1)
            .into_iter()
            .map(|(t, e)| (t, 1 - fill, e))
            .collect();
        for k in (0..keys).rev() {
            let e = Trades {
                symbol: Some(symbol(k).into()),
                price: (!k.is_multiple_of(5)).then_some(f64::from(k)),
                volume: i64::from(k),
            };
            events.insert(0, (0, fill, e));
        }
        events
    }

    /// The latest upserted row of `symbol` among `events` of input `table`.
    fn naive_row<'a>(
        events: &'a [(i64, usize, Trades)],
        table: usize,
        symbol: &Option<Arc<str>>,
    ) -> Option<&'a Trades> {
        let symbol = symbol.as_ref()?;
        events
            .iter()
            .rev()
            .find(|(_, i, e)| *i == table && e.symbol.as_ref() == Some(symbol))
            .map(|(_, _, e)| e)
    }

    #[test]
    fn table_enrich_finds_the_row_of_each_trade_symbol() {
        let events = table_input(0, 50);
        let out = outputs_of::<TableEnrich<Rows>>(&events);
        let mut expected = Vec::new();
        for (i, (t, input, e)) in events.iter().enumerate() {
            if let (1, Some(row)) = (*input, naive_row(&events[..i], 0, &e.symbol)) {
                expected.push((*t, e, row));
            }
        }
        assert!(expected.len() > 500, "{} rows", expected.len());
        assert_eq!(out.len(), expected.len());
        for ((ts, row), (t, e, stock)) in out.iter().zip(expected) {
            assert_eq!((*ts, row["symbol"].as_str()), (t, e.symbol.as_deref()));
            assert!(close(e.price, &row["price"]) && close(stock.price, &row["ref_price"]));
            assert_eq!(row["lot"].as_i64(), Some(stock.volume));
        }
    }

    #[test]
    fn table_upsert_keeps_the_latest_row_per_symbol() {
        let mut events: Vec<_> = input(40, 1).into_iter().map(|(t, e)| (t, 0, e)).collect();
        for k in 0..90 {
            let probe = Trades {
                symbol: Some(symbol(k).into()),
                price: None,
                volume: 0,
            };
            events.push((5000, 1, probe));
        }
        let out = outputs_of::<TableUpsert<Rows>>(&events);
        let expected: Vec<_> = events
            .iter()
            .enumerate()
            .filter(|(_, (_, input, _))| *input == 1)
            .filter_map(|(i, (t, _, e))| Some((*t, e, naive_row(&events[..i], 0, &e.symbol)?)))
            .collect();
        assert_eq!(expected.len(), 40);
        assert_eq!(out.len(), expected.len());
        for ((ts, row), (t, e, stock)) in out.iter().zip(expected) {
            assert_eq!((*ts, row["symbol"].as_str()), (t, e.symbol.as_deref()));
            assert!(close(stock.price, &row["price"]));
            assert_eq!(row["volume"].as_i64(), Some(stock.volume));
        }
    }
}

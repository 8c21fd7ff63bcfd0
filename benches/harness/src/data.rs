//! Deterministic benchmark inputs: `Trades` events (as typed events or JSON lines) and
//! many-query apps for the compile-time measurements.
//!
//! The same [`TradesSpec`] always gives the same events, on every machine: a SplitMix64
//! generator seeded by `spec.seed`, no floating-point formatting that depends on the
//! platform (prices are whole cents).

use std::io::{self, Write};
use std::sync::Arc;

use crate::Trades;

/// What [`trades`] generates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TradesSpec {
    /// Number of events.
    pub events: u64,
    /// Number of distinct symbols: `XYZ` (the one `filter_projection` drops) and `S0001`,
    /// `S0002`, ..., each picked uniformly.
    pub keys: u32,
    /// Events per millisecond: the timestamp advances by 1 every `per_ms` events, so a
    /// window of `d` ms holds `d * per_ms` events.
    pub per_ms: u32,
    /// Timestamp of the first event (ms).
    pub start_ts: i64,
    /// One price in `null_every` is NULL (0: never).
    pub null_every: u32,
    /// PRNG seed.
    pub seed: u64,
    /// Keys in turn (event `i` has key `i % keys`) instead of picked uniformly: every key
    /// occurs, `events / keys` times (e.g. exactly 2M distinct keys for memory benchmarks).
    pub cycle: bool,
}

impl Default for TradesSpec {
    fn default() -> Self {
        TradesSpec {
            events: 100_000,
            keys: 100,
            per_ms: 1,
            start_ts: 1_000_000,
            null_every: 100,
            seed: 42,
            cycle: false,
        }
    }
}

/// SplitMix64: tiny, fast, and the same everywhere.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`; the modulo bias is irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// The symbol of key `k`: `XYZ` for 0, else `S` and four digits.
pub fn symbol(k: u32) -> String {
    if k == 0 {
        "XYZ".to_owned()
    } else {
        format!("S{k:04}")
    }
}

/// The events of `spec`, with their timestamps, in order. Symbols are shared `Arc<str>`s
/// (decoding JSON gives each event its own; the queries cannot tell).
pub fn trades(spec: &TradesSpec) -> impl Iterator<Item = (i64, Trades)> {
    let symbols: Vec<Arc<str>> = (0..spec.keys.max(1)).map(|k| symbol(k).into()).collect();
    let mut rng = SplitMix64::new(spec.seed);
    let per_ms = u64::from(spec.per_ms.max(1));
    let (start, null_every, cycle) = (spec.start_ts, u64::from(spec.null_every), spec.cycle);
    (0..spec.events).map(move |i| {
        let ts = start + (i / per_ms) as i64;
        let k = rng.below(symbols.len() as u64);
        let k = if cycle { i % symbols.len() as u64 } else { k };
        let sym = symbols[k as usize].clone();
        let cents = 100 + rng.below(50_000); // 1.00 ..= 500.99
        let price = (null_every == 0 || rng.below(null_every) != 0).then(|| cents as f64 / 100.0);
        let volume = 1 + rng.below(1000) as i64; // 1 ..= 1000
        (
            ts,
            Trades {
                symbol: Some(sym),
                price,
                volume,
            },
        )
    })
}

/// Writes the events of `spec` as JSON lines (docs/running.md#json-lines), one `Trades` event per line.
pub fn write_trades(spec: &TradesSpec, out: &mut impl Write) -> io::Result<()> {
    write_input(spec, &Layout::default(), out)
}

/// How [`write_input`] spreads events over streams, for queries with several inputs (every
/// stream has the schema of `Trades`). The default is the plain [`trades`] input.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// The streams the events of [`trades`] go to, each event's picked uniformly (by a
    /// generator of its own, so the events themselves do not change); empty: `Trades`.
    pub streams: Vec<String>,
    /// A stream that first gets one event per key, keys in order (e.g. to fill a table).
    pub fill: Option<String>,
    /// A stream that finally gets this many events, keys spread evenly over all keys (e.g.
    /// to read a table back).
    pub probe: Option<(String, u64)>,
}

/// Writes the input `layout` makes of the events of `spec` as JSON lines: the fill events
/// (at `spec.start_ts`), the events of [`trades`], then the probe events (at the last
/// event's time). Deterministic like [`trades`].
pub fn write_input(spec: &TradesSpec, layout: &Layout, out: &mut impl Write) -> io::Result<()> {
    let mut rng = SplitMix64::new(spec.seed ^ 0x5eed_f111);
    let keys = spec.keys.max(1);
    if let Some(stream) = &layout.fill {
        for k in 0..keys {
            let event = extra_event(&mut rng, k);
            write_event(out, stream, spec.start_ts, &event)?;
        }
    }
    let mut pick = SplitMix64::new(spec.seed.wrapping_add(1));
    let mut last = spec.start_ts;
    for (ts, event) in trades(spec) {
        let stream = match layout.streams.len() {
            0 => "Trades",
            1 => &layout.streams[0],
            n => &layout.streams[pick.below(n as u64) as usize],
        };
        write_event(out, stream, ts, &event)?;
        last = ts;
    }
    if let Some((stream, n)) = &layout.probe {
        for i in 0..*n {
            let k = (i * u64::from(keys) / (*n).max(1)) as u32;
            let event = extra_event(&mut rng, k);
            write_event(out, stream, last, &event)?;
        }
    }
    Ok(())
}

/// A fill or probe event of key `k`.
fn extra_event(rng: &mut SplitMix64, k: u32) -> Trades {
    Trades {
        symbol: Some(symbol(k).into()),
        price: Some((100 + rng.below(50_000)) as f64 / 100.0),
        volume: 1 + rng.below(1000) as i64,
    }
}

/// One event as a JSON line.
fn write_event(out: &mut impl Write, stream: &str, ts: i64, t: &Trades) -> io::Result<()> {
    write!(
        out,
        "{{\"stream\": \"{stream}\", \"ts\": {ts}, \"data\": {{"
    )?;
    match &t.symbol {
        Some(s) => write!(out, "\"symbol\": \"{s}\"")?,
        None => write!(out, "\"symbol\": null")?,
    }
    match t.price {
        // Whole cents: `{:?}` prints the shortest exact form, always with a '.'.
        Some(p) => write!(out, ", \"price\": {p:?}")?,
        None => write!(out, ", \"price\": null")?,
    }
    writeln!(out, ", \"volume\": {}}}}}", t.volume)
}

/// An app of `queries` queries over two input streams, cycling through eight query shapes
/// (filters, projections, CASE and string functions, length/time/batch windows with GROUP
/// BY, HAVING, and queries reading other queries' output). `salt` changes a literal in every
/// query, giving a new generated source (a build-cache miss) for the same shape.
pub fn many_query_app(queries: u32, salt: u32) -> String {
    let mut app = String::from(
        "-- Generated by `bench-gen app`: a many-query app for the compile-time benchmarks.\n\
         CREATE STREAM Trades (symbol STRING, price DOUBLE, volume LONG NOT NULL);\n\
         CREATE STREAM Readings (sensor STRING, celsius DOUBLE, site INT);\n\n",
    );
    for i in 0..queries {
        let n = i + salt;
        let q = match i % 8 {
            0 => format!(
                "INSERT INTO Out{i} SELECT symbol, price * volume AS notional FROM Trades \
                 WHERE volume >= {n} AND symbol != 'XYZ';"
            ),
            1 => format!(
                "INSERT INTO Out{i} SELECT symbol, CASE WHEN price > {n} THEN 'high' \
                 WHEN price > 10 THEN 'mid' ELSE 'low' END AS band, \
                 upper(coalesce(symbol, 'none')) AS label FROM Trades;"
            ),
            2 => format!(
                "INSERT INTO Out{i} SELECT symbol, sum(price) AS total, count() AS n \
                 FROM Trades WINDOW('length', {}) GROUP BY symbol;",
                n + 10
            ),
            3 => format!(
                "INSERT INTO Out{i} SELECT symbol, avg(price) AS mean, max(price) AS top \
                 FROM Trades WINDOW('timeBatch', {} sec) GROUP BY symbol \
                 HAVING avg(price) > {n}.5;",
                n + 1
            ),
            4 => format!(
                "INSERT INTO Out{i} SELECT avg(price) AS mean, min(price) AS low \
                 FROM Trades WINDOW('time', {} sec);",
                n + 1
            ),
            5 => format!(
                "INSERT INTO Out{i} SELECT sensor, celsius * 1.8 + 32 AS fahrenheit \
                 FROM Readings WHERE celsius BETWEEN {n} AND {} AND site IN (1, 2, 3);",
                n + 50
            ),
            6 => format!(
                "INSERT INTO Out{i} SELECT sensor, count() AS readings, stdDev(celsius) AS sd \
                 FROM Readings WINDOW('lengthBatch', {}) GROUP BY sensor;",
                n + 5
            ),
            _ => format!(
                "INSERT INTO Out{i} SELECT symbol, notional FROM Out{} WHERE notional > {n}.0;",
                i - 7
            ),
        };
        app.push_str(&format!("@info(name = 'q{i}')\n{q}\n\n"));
    }
    app
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trades_are_deterministic_and_shaped_by_the_spec() {
        let spec = TradesSpec {
            events: 2000,
            keys: 10,
            per_ms: 10,
            ..TradesSpec::default()
        };
        let a: Vec<_> = trades(&spec).collect();
        let b: Vec<_> = trades(&spec).collect();
        assert_eq!(a, b);
        assert_eq!(a.first().map(|e| e.0), Some(1_000_000));
        assert_eq!(a.last().map(|e| e.0), Some(1_000_199));
        let mut syms: Vec<_> = a.iter().filter_map(|e| e.1.symbol.clone()).collect();
        syms.sort();
        syms.dedup();
        assert_eq!(syms.len(), 10);
        let nulls = a.iter().filter(|e| e.1.price.is_none()).count();
        assert!((5..=50).contains(&nulls), "{nulls} null prices");
    }

    #[test]
    fn json_lines_decode_back_to_the_same_events() {
        let spec = TradesSpec {
            events: 500,
            ..TradesSpec::default()
        };
        let mut text = Vec::new();
        write_trades(&spec, &mut text).unwrap();
        let decoded = crate::harness::decode(text.as_slice(), &["Trades"]).unwrap();
        let expected: Vec<_> = trades(&spec).map(|(ts, e)| (ts, Some((0, e)))).collect();
        assert_eq!(decoded, expected);
    }

    #[test]
    fn layouts_fill_spread_and_probe_deterministically() {
        let spec = TradesSpec {
            events: 300,
            keys: 20,
            ..TradesSpec::default()
        };
        let layout = Layout {
            streams: vec!["A".into(), "B".into()],
            fill: Some("F".into()),
            probe: Some(("P".into(), 5)),
        };
        let mut text = Vec::new();
        write_input(&spec, &layout, &mut text).unwrap();
        let decoded = crate::harness::decode(text.as_slice(), &["F", "A", "B", "P"]).unwrap();
        assert_eq!(decoded.len(), 20 + 300 + 5);
        let of = |i: usize| {
            decoded
                .iter()
                .filter(|e| e.1.as_ref().unwrap().0 == i)
                .count()
        };
        assert_eq!((of(0), of(1) + of(2), of(3)), (20, 300, 5));
        assert!(of(1) > 100 && of(2) > 100);
        let fill: Vec<_> = decoded[..20]
            .iter()
            .map(|e| e.1.clone().unwrap().1.symbol)
            .collect();
        assert_eq!(fill[0].as_deref(), Some("XYZ"));
        assert_eq!(fill[19].as_deref(), Some("S0019"));
        let events: Vec<_> = decoded[20..320]
            .iter()
            .map(|e| (e.0, e.1.clone().unwrap().1))
            .collect();
        assert_eq!(events, trades(&spec).collect::<Vec<_>>());
        let probes: Vec<_> = decoded[320..]
            .iter()
            .map(|e| e.1.clone().unwrap().1.symbol)
            .collect();
        assert_eq!(probes[1].as_deref(), Some("S0004"));
        let mut again = Vec::new();
        write_input(&spec, &layout, &mut again).unwrap();
        assert_eq!(text, again);
    }

    #[test]
    fn many_query_apps_differ_by_salt_only_in_literals() {
        let a = many_query_app(16, 0);
        let b = many_query_app(16, 1);
        assert_eq!(a.matches("INSERT INTO").count(), 16);
        assert_ne!(a, b);
        assert_eq!(a.lines().count(), b.lines().count());
    }
}

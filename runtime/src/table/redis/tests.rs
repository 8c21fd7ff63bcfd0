//! The Redis table against a real server: `EVENTFLUX_TEST_REDIS=redis://127.0.0.1:6399`
//! (set by `.ci/run`, which starts the server). Without it the tests print that they are
//! skipped and pass, except under CI (`CI` set), where a missing server is a failure.
//! Every test uses its own key prefix, so tests run in parallel on one server.

use super::*;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Stock {
    #[serde(default)]
    site: Option<Arc<str>>,
    #[serde(default)]
    symbol: Option<Arc<str>>,
    #[serde(default)]
    price: Option<f64>,
    volume: i64,
}

type Key = crate::aggregate::Total<(Option<Arc<str>>, Option<Arc<str>>)>;

impl TableRow for Stock {
    type Key = Key;
    type IndexKey = ();
    fn primary_key(&self) -> Option<Key> {
        Some(key(self.site.as_deref(), self.symbol.as_deref()))
    }
    fn index_keys(&self, _out: impl FnMut(())) {}
}

fn key(site: Option<&str>, symbol: Option<&str>) -> Key {
    crate::aggregate::Total((site.map(Arc::from), symbol.map(Arc::from)))
}

fn stock(site: &str, symbol: &str, price: f64, volume: i64) -> Stock {
    Stock {
        site: Some(site.into()),
        symbol: Some(symbol.into()),
        price: Some(price),
        volume,
    }
}

/// `(host, port)` of the test server, or `None` (after printing why) to skip.
fn server(test: &str) -> Option<(String, u16)> {
    let Ok(url) = std::env::var("EVENTFLUX_TEST_REDIS") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "EVENTFLUX_TEST_REDIS must be set under CI (.ci/run starts redis-server)"
        );
        eprintln!("skipped {test}: EVENTFLUX_TEST_REDIS is not set (e.g. redis://127.0.0.1:6399)");
        return None;
    };
    let rest = url.trim_start_matches("redis://").trim_end_matches('/');
    let (host, port) = rest.rsplit_once(':').unwrap_or((rest, "6379"));
    Some((
        host.to_string(),
        port.parse().expect("port in EVENTFLUX_TEST_REDIS"),
    ))
}

/// A table on the test server under a prefix of its own, emptied first.
fn table(test: &str, on_error: OnError) -> Option<RedisTable<Stock>> {
    let (host, port) = server(test)?;
    let options = RedisOptions::new("Stock")
        .host(host)
        .port(port)
        .prefix(format!("eftest:{test}:{}", std::process::id()));
    let mut t = RedisTable::new(options.on_error(on_error));
    t.clear();
    assert_eq!(t.failure(), None);
    Some(t)
}

#[test]
fn insert_rejects_duplicates_and_finds_by_key() {
    let Some(mut t) = table("insert", OnError::Fail) else {
        return;
    };
    t.insert(stock("a", "IBM", 10.5, 1)).unwrap();
    t.insert(stock("a", "ACME", 20.0, 2)).unwrap();
    t.insert(stock("b", "IBM", 30.0, 3)).unwrap();
    assert_eq!(t.insert(stock("a", "IBM", 99.0, 9)), Err(DuplicateKey));
    let (id, row) = t.find(&key(Some("a"), Some("IBM"))).unwrap();
    assert_eq!(row, stock("a", "IBM", 10.5, 1));
    assert!(id.ends_with(":Stock:a:IBM"), "{id}");
    assert!(t.find(&key(Some("c"), Some("IBM"))).is_none());
    assert!(t.contains_key(&key(Some("b"), Some("IBM"))));
    assert_eq!(t.len(), 3);
    assert_eq!(t.failure(), None);
    t.clear();
}

#[test]
fn nulls_and_separators_survive_the_round_trip() {
    let Some(mut t) = table("nulls", OnError::Fail) else {
        return;
    };
    let odd = Stock {
        site: None,
        symbol: Some("x:y\\z".into()),
        price: None,
        volume: -7,
    };
    t.insert(odd.clone()).unwrap();
    t.insert(stock("x", "y\\z", 1.0, 1)).unwrap();
    assert_eq!(
        t.find(&key(None, Some("x:y\\z"))).map(|(_, r)| r),
        Some(odd)
    );
    assert_eq!(t.len(), 2);
    t.clear();
}

/// The symbols of the rows a scan visits, in its order.
fn symbols(t: &RedisTable<Stock>) -> Vec<String> {
    t.scan()
        .into_iter()
        .filter_map(|(_, r)| r.symbol.map(|s| s.to_string()))
        .collect()
}

#[test]
fn update_delete_and_scan_in_insertion_order() {
    let Some(mut t) = table("update", OnError::Fail) else {
        return;
    };
    for (i, s) in ["C", "A", "B"].iter().enumerate() {
        t.insert(stock("s", s, i as f64, 1)).unwrap();
    }
    assert_eq!(symbols(&t), ["C", "A", "B"]);
    let (id, row) = t.find(&key(Some("s"), Some("B"))).unwrap();
    t.update(
        &id,
        Stock {
            price: None,
            ..row.clone()
        },
    )
    .unwrap();
    assert_eq!(t.find(&key(Some("s"), Some("B"))).unwrap().1.price, None);
    assert_eq!(
        symbols(&t),
        ["C", "A", "B"],
        "an update keeps the row's place"
    );
    // Changing the key onto another row is rejected; onto a free key moves the row, which
    // keeps its place.
    let onto_c = Stock {
        symbol: Some("C".into()),
        ..row.clone()
    };
    assert_eq!(t.update(&id, onto_c), Err(DuplicateKey));
    t.update(
        &id,
        Stock {
            symbol: Some("D".into()),
            ..row
        },
    )
    .unwrap();
    assert_eq!(symbols(&t), ["C", "A", "D"]);
    // Updating a row that is gone does nothing.
    t.update(&id, stock("s", "E", 0.0, 0)).unwrap();
    assert_eq!(symbols(&t), ["C", "A", "D"]);
    let (id, _) = t.find(&key(Some("s"), Some("A"))).unwrap();
    t.remove(&id);
    assert_eq!(symbols(&t), ["C", "D"]);
    // A row deleted and inserted again comes last; so does the key a row left.
    t.insert(stock("s", "A", 5.0, 1)).unwrap();
    t.insert(stock("s", "B", 6.0, 1)).unwrap();
    assert_eq!(symbols(&t), ["C", "D", "A", "B"]);
    // Updating the last row keeps it last; the next row still comes after it.
    let (id, row) = t.find(&key(Some("s"), Some("B"))).unwrap();
    t.update(&id, Stock { volume: 2, ..row }).unwrap();
    t.insert(stock("s", "F", 7.0, 1)).unwrap();
    assert_eq!(symbols(&t), ["C", "D", "A", "B", "F"]);
    t.clear();
    let order_left: bool = t
        .run(|con| con.query(::redis::cmd("EXISTS").arg(&t.order_key)))
        .unwrap();
    assert!(!order_left, "clear removes the order too");
    assert!(t.is_empty());
    assert_eq!(t.failure(), None);
}

#[test]
fn a_scan_prunes_rows_another_program_deleted() {
    let Some(mut t) = table("prune", OnError::Fail) else {
        return;
    };
    for s in ["A", "B", "C"] {
        t.insert(stock("s", s, 1.0, 1)).unwrap();
    }
    let (b, _) = t.find(&key(Some("s"), Some("B"))).unwrap();
    let (c, _) = t.find(&key(Some("s"), Some("C"))).unwrap();
    // Another program deletes the hashes of B and C, leaving their places in the order.
    t.run(|con| con.query::<i64>(::redis::cmd("DEL").arg(&b).arg(&c)))
        .unwrap();
    let in_order = |t: &RedisTable<Stock>, id: &str| -> bool {
        t.run(|con| con.query::<Option<f64>>(::redis::cmd("ZSCORE").arg(&t.order_key).arg(id)))
            .unwrap()
            .is_some()
    };
    assert!(in_order(&t, &b) && in_order(&t, &c));
    assert_eq!(symbols(&t), ["A"]);
    assert!(!in_order(&t, &b), "the scan pruned B from the order");
    assert!(!in_order(&t, &c), "the scan pruned C from the order");
    let members: i64 = t
        .run(|con| con.query(::redis::cmd("ZCARD").arg(&t.order_key)))
        .unwrap();
    assert_eq!(members, 1);
    // A later insert of the key goes last.
    t.insert(stock("s", "D", 1.0, 1)).unwrap();
    t.insert(stock("s", "B", 1.0, 1)).unwrap();
    assert_eq!(symbols(&t), ["A", "D", "B"]);
    // The pruning script checks each key again: a row re-inserted after the scan read its
    // hash as gone keeps its place.
    let removed = t
        .run(|con| con.script(PRUNE, &[&t.order_key, &b, &c], &[]))
        .unwrap();
    assert_eq!(removed, 0, "C is no member any more and B exists again");
    assert_eq!(symbols(&t), ["A", "D", "B"]);
    assert_eq!(t.failure(), None);
    t.clear();
}

#[test]
fn a_hash_that_is_not_a_row_is_reported_and_skipped() {
    let Some(mut t) = table("bad_row", OnError::Fail) else {
        return;
    };
    t.insert(stock("a", "OK", 1.0, 1)).unwrap();
    let bad = format!("{}a:BAD", t.key_start);
    t.run(|con| {
        con.script(
            INSERT,
            &[&bad, &t.order_key],
            &[("volume".into(), "lots".into())],
        )
    })
    .unwrap();
    assert_eq!(t.scan().len(), 1);
    let failure = t.failure().expect("the bad row is the table's failure");
    assert!(failure.to_string().contains("is not a LONG"), "{failure}");
    let options = t.options().clone().on_error(OnError::Log);
    let mut cleanup = RedisTable::<Stock>::new(options);
    cleanup.remove(&bad);
    cleanup.clear();
}

#[test]
fn rows_without_a_place_in_the_order_come_after_the_others_in_key_order() {
    let Some(mut t) = table("older", OnError::Fail) else {
        return;
    };
    t.insert(stock("s", "Y", 1.0, 1)).unwrap();
    t.insert(stock("s", "X", 2.0, 1)).unwrap();
    // Rows as an older EventFlux wrote them (a hash, no place in the order), and a key
    // under the table's that is not a hash.
    let junk = format!("{}junk", t.key_start);
    let older = t.key_start.clone();
    t.run(|con| {
        for symbol in ["B", "A"] {
            con.query::<i64>(
                ::redis::cmd("HSET")
                    .arg(format!("{older}s:{symbol}"))
                    .arg("site")
                    .arg("s")
                    .arg("symbol")
                    .arg(symbol)
                    .arg("volume")
                    .arg(3),
            )?;
        }
        con.query::<()>(::redis::cmd("SET").arg(&junk).arg("x"))
    })
    .unwrap();
    // The table's connection has no reason to look again; a new one (as the next run of
    // the app would) finds them.
    assert_eq!(symbols(&t), ["Y", "X"]);
    let mut next = RedisTable::<Stock>::new(t.options().clone());
    assert_eq!(symbols(&next), ["Y", "X", "A", "B"]);
    next.insert(stock("s", "C", 4.0, 1)).unwrap();
    let (id, row) = next.find(&key(Some("s"), Some("A"))).unwrap();
    next.update(
        &id,
        Stock {
            symbol: Some("Z".into()),
            ..row
        },
    )
    .unwrap();
    assert_eq!(symbols(&next), ["Y", "X", "Z", "B", "C"]);
    assert_eq!(symbols(&t), ["Y", "X", "Z", "B", "C"]);
    assert_eq!(next.failure(), None);
    next.clear();
    next.run(|con| con.query::<i64>(::redis::cmd("DEL").arg(&junk)))
        .unwrap();
    assert!(t.is_empty());
}

#[test]
fn connection_loss_finds_no_row_then_fail_mode_stops() {
    // A port nobody listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let options = RedisOptions::new("Lost")
        .port(port)
        .timeout_ms(200)
        .prefix("eftest:lost");
    let mut logged = RedisTable::<Stock>::new(options.clone());
    assert!(logged.find(&key(Some("a"), Some("IBM"))).is_none());
    assert!(logged.scan().is_empty());
    assert_eq!(logged.insert(stock("a", "IBM", 1.0, 1)), Ok(()));
    assert_eq!(logged.failure(), None, "log mode never fails");

    let mut failing = RedisTable::<Stock>::new(options.on_error(OnError::Fail));
    assert!(failing.find(&key(Some("a"), Some("IBM"))).is_none());
    let failure = failing.failure().expect("fail mode keeps the failure");
    let text = failure.to_string();
    assert!(
        text.contains("table `Lost`") && text.contains(&format!("127.0.0.1:{port}/0")),
        "{text}"
    );
    assert!(matches!(failure, RedisTableError::Connection { .. }));
    assert_eq!(failing.insert(stock("a", "IBM", 1.0, 1)), Ok(()));
}

#[test]
fn reconnects_after_the_connection_drops() {
    let Some(mut t) = table("reconnect", OnError::Log) else {
        return;
    };
    t.insert(stock("a", "IBM", 1.0, 1)).unwrap();
    // The server closes the table's connection, as a restart would.
    let killed: Option<i64> = t.run(|con| {
        let id: i64 = con.query(::redis::cmd("CLIENT").arg("ID"))?;
        con.query(
            ::redis::cmd("CLIENT")
                .arg("KILL")
                .arg("ID")
                .arg(id)
                .arg("SKIPME")
                .arg("no"),
        )
    });
    assert_eq!(killed, Some(1));
    assert!(
        t.find(&key(Some("a"), Some("IBM"))).is_none(),
        "the lost connection finds nothing"
    );
    assert!(
        t.find(&key(Some("a"), Some("IBM"))).is_some(),
        "the next operation reconnects"
    );
    t.clear();
}

/// Times 1,000 inserts and a scan of their rows, alone and beside 100,000 keys of no table
/// (median of 9 scans each); prints the times. `cargo test --release -p eventflux-runtime --features
/// redis --lib scan_of_1000_rows -- --ignored --nocapture` with EVENTFLUX_TEST_REDIS set.
#[test]
#[ignore = "a measurement, not a check"]
fn scan_of_1000_rows() {
    let Some(mut t) = table("bench", OnError::Fail) else {
        return;
    };
    let start = std::time::Instant::now();
    for i in 0..1000 {
        t.insert(stock("s", &format!("S{i:04}"), i as f64, i))
            .unwrap();
    }
    let inserts = start.elapsed();
    let median = |t: &RedisTable<Stock>| {
        let mut times: Vec<std::time::Duration> = (0..9)
            .map(|_| {
                let start = std::time::Instant::now();
                assert_eq!(t.scan().len(), 1000);
                start.elapsed()
            })
            .collect();
        times.sort();
        times[4]
    };
    let alone = median(&t);
    let filler = format!("{}filler", t.options().prefix);
    t.run(|con| {
        for chunk in (0..100_000).collect::<Vec<u32>>().chunks(10_000) {
            let mut pipe = ::redis::pipe();
            for i in chunk {
                pipe.cmd("SET").arg(format!("{filler}:{i}")).arg(1).ignore();
            }
            con.query_pipe(&pipe)?;
        }
        Ok(())
    })
    .unwrap();
    let crowded = median(&t);
    println!(
        "1000 inserts: {inserts:?}; scan of 1000 rows: {alone:?} alone, {crowded:?} beside \
         100000 other keys"
    );
    t.run(|con| {
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = con.query(
                ::redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(format!("{filler}:*"))
                    .arg("COUNT")
                    .arg(10_000),
            )?;
            if !keys.is_empty() {
                con.query::<i64>(::redis::cmd("DEL").arg(keys))?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    })
    .unwrap();
    t.clear();
}

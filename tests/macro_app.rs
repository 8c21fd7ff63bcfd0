//! The `eventflux!` macro end to end: inline source and `file = "..."`, typed output.

mod inline {
    eventflux::eventflux!(
        r#"
        CREATE STREAM Trades (symbol STRING, price DOUBLE, volume LONG NOT NULL);
        INSERT INTO Big SELECT symbol, price * volume AS notional FROM Trades WHERE volume >= 100;
        "#
    );
}

mod from_file {
    eventflux::eventflux!(file = "examples/trades/app.eventflux");
}

use eventflux::runtime::io::CollectingSink;
use eventflux::runtime::EventKind;

#[derive(Default)]
struct Notionals(Vec<(i64, Option<f64>)>);

impl inline::Output for Notionals {
    fn on_big(&mut self, ts: i64, kind: EventKind, event: &inline::Big) {
        assert_eq!(kind, EventKind::Current);
        self.0.push((ts, event.notional));
    }
}

#[test]
fn inline_app_calls_the_typed_output() {
    let mut app = inline::App::new(Notionals::default());
    app.send_trades(
        1,
        inline::Trades {
            symbol: Some("IBM".into()),
            price: Some(2.0),
            volume: 100,
        },
    );
    app.send_trades(
        2,
        inline::Trades {
            symbol: None,
            price: Some(2.0),
            volume: 10,
        },
    );
    assert_eq!(app.output().0, vec![(1, Some(200.0))]);
}

#[test]
fn file_app_writes_json_lines() {
    let mut app = from_file::App::new(CollectingSink::default());
    app.send_trades(
        5,
        from_file::Trades {
            symbol: Some("IBM".into()),
            price: Some(1.5),
            volume: 200,
        },
    );
    let lines = &app.output().lines;
    assert_eq!(
        lines[0],
        r#"{"stream":"Big","ts":5,"kind":"current","data":{"symbol":"IBM","notional":300.0}}"#
    );
    assert_eq!(lines.len(), 2);
}

mod patterns {
    eventflux::eventflux!(
        r#"
        CREATE STREAM A (id INT);
        CREATE STREAM B (id INT);
        @info(name = 'pairs')
        INSERT INTO Pairs
        SELECT e1.id AS a, e2.id AS b
        FROM PATTERN (EVERY e1=A -> e2=B[e2.id == e1.id]) WITHIN 10 ms;
        "#
    );
}

/// The live partial-match count is part of the generated API: it grows with pending `A`s
/// and falls when they complete or their `WITHIN` deadline passes.
#[test]
fn pattern_partial_match_count() {
    let mut app = patterns::App::new(CollectingSink::default());
    assert_eq!(app.query_pairs_partial_matches(), 0);
    for id in 0..3 {
        app.send_a(id.into(), patterns::A { id: Some(id) });
    }
    // Three pending `A`s and the match waiting for the next `A`.
    assert_eq!(app.query_pairs_partial_matches(), 4);
    app.send_b(4, patterns::B { id: Some(1) });
    assert_eq!(app.query_pairs_partial_matches(), 3);
    app.advance_time(100);
    assert_eq!(app.query_pairs_partial_matches(), 1);
}

mod partitioned_patterns {
    eventflux::eventflux!(
        r#"
        CREATE STREAM A (id INT, k STRING);
        CREATE STREAM B (id INT, k STRING);
        PARTITION WITH (k OF A, k OF B)
        BEGIN
            @info(name = 'pairs')
            INSERT INTO Pairs
            SELECT e1.id AS a, e2.id AS b
            FROM PATTERN (EVERY e1=A -> e2=B[e2.id == e1.id]) WITHIN 10 ms;
        END;
        "#
    );
}

/// Inside a partition the count covers every key's partial matches.
#[test]
fn partitioned_pattern_partial_match_count() {
    let mut app = partitioned_patterns::App::new(CollectingSink::default());
    assert_eq!(app.query_pairs_partial_matches(), 0);
    for (id, k) in [(1, "x"), (2, "y"), (3, "x")] {
        let k = Some(k.into());
        app.send_a(id.into(), partitioned_patterns::A { id: Some(id), k });
    }
    // Per key: its pending `A`s and the match waiting for the next `A`.
    assert_eq!(app.query_pairs_partial_matches(), (2 + 1) + (1 + 1));
    app.advance_time(100);
    assert_eq!(app.query_pairs_partial_matches(), 2);
}

mod counting {
    eventflux::eventflux!(
        r#"
        CREATE STREAM Orders (customer STRING, amount DOUBLE);
        INSERT INTO Spend SELECT customer, sum(amount) AS total FROM Orders GROUP BY customer;
        "#
    );
}

/// An embedded app checkpoints with positions of its own (here: how many orders of a list
/// it consumed) through the runtime's `Checkpointer`, the same as standalone binaries use,
/// and a fresh app resumes from it.
#[test]
fn embedded_apps_checkpoint_with_their_own_positions() {
    use eventflux::runtime::state::{Checkpointer, DirStore, Position, Positions};
    let orders: Vec<(&str, f64)> = vec![("ann", 10.0), ("bob", 5.0), ("ann", 2.5), ("bob", 1.0)];
    let order = |(customer, amount): (&str, f64)| counting::Orders {
        customer: Some(customer.into()),
        amount: Some(amount),
    };
    let dir = std::env::temp_dir().join(format!("ef-embedded-ckpt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = || Box::new(DirStore::open(&dir).expect("store"));

    let mut app = counting::App::new(CollectingSink::default());
    for (i, o) in orders[..2].iter().enumerate() {
        app.send_orders(i as i64, order(*o));
    }
    let mut positions = Positions::default();
    positions
        .sources
        .push(("orders".into(), Position::Sequence(2)));
    Checkpointer::new(store())
        .save(&app.snapshot(), positions)
        .expect("checkpoint");

    // "Restart": a fresh app, restored, resumes after the recorded position.
    let restored = Checkpointer::new(store())
        .restore(None)
        .expect("read store")
        .expect("a checkpoint");
    let mut app = counting::App::new(CollectingSink::default());
    app.restore(&restored.snapshot).expect("restore");
    let Some(Position::Sequence(next)) = restored.positions.source("orders") else {
        panic!("no position")
    };
    for (i, o) in orders.iter().enumerate().skip(*next as usize) {
        app.send_orders(i as i64, order(*o));
    }
    assert_eq!(
        app.output().lines,
        [
            r#"{"stream":"Spend","ts":2,"kind":"current","data":{"customer":"ann","total":12.5}}"#,
            r#"{"stream":"Spend","ts":3,"kind":"current","data":{"customer":"bob","total":6.0}}"#,
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

//! Queries: both INSERT forms, clauses, output rates, sources, windows, joins, and the
//! table statements (UPSERT, UPDATE, DELETE).

use super::*;
use BinaryOp::*;

fn win(name: &str, args: Vec<(Expr, Option<bool>)>) -> WindowSpec {
    WindowSpec {
        name: id(name),
        args: args
            .into_iter()
            .map(|(expr, descending)| WindowArg { expr, descending })
            .collect(),
        span: sp(),
    }
}

fn join(left: Source, kind: JoinKind, right: Source, on: Option<Expr>) -> Source {
    Source::Join(Box::new(JoinSource {
        left,
        kind,
        right,
        on,
        span: sp(),
    }))
}

#[test]
fn insert_first_form() {
    let q = query("INSERT INTO Out SELECT symbol, price * 2 AS p FROM Trades;");
    let expected = simple_query(
        "Out",
        vec![
            select_item(attr("symbol"), None),
            select_item(bin(Mul, attr("price"), int(2)), Some("p")),
        ],
        Source::Stream(stream("Trades")),
    );
    assert_eq!(q, expected);
}

#[test]
fn trailing_insert_form_is_the_same_query() {
    let a = query("SELECT symbol FROM Trades WHERE price > 10 INSERT INTO Out");
    let b = query("insert into Out select symbol from Trades where price > 10");
    assert_eq!(a, b);
    assert_eq!(a.where_, Some(bin(Gt, attr("price"), int(10))));
}

#[test]
fn insert_event_kinds_and_inner_target() {
    let events = |src: &str| match query(src).output {
        QueryOutput::Insert { events, .. } => events,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        events("INSERT INTO O SELECT a FROM S"),
        OutputEvents::Current
    );
    assert_eq!(
        events("INSERT CURRENT EVENTS INTO O SELECT a FROM S"),
        OutputEvents::Current
    );
    assert_eq!(
        events("INSERT EXPIRED EVENTS INTO O SELECT a FROM S"),
        OutputEvents::Expired
    );
    assert_eq!(
        events("INSERT ALL EVENTS INTO O SELECT a FROM S"),
        OutputEvents::All
    );
    assert_eq!(
        events("SELECT a FROM S INSERT expired INTO O"),
        OutputEvents::Expired
    );
    let q = query("INSERT INTO #Tmp SELECT a FROM #Other");
    assert_eq!(
        q.output,
        QueryOutput::Insert {
            events: OutputEvents::Current,
            target: id("Tmp"),
            inner: true
        }
    );
    let Source::Stream(s) = &q.from else {
        panic!("not a stream")
    };
    assert!(s.inner);
}

#[test]
fn all_clauses() {
    let q = query(
        "INSERT INTO Out SELECT DISTINCT symbol, avg(price) AS ap FROM Trades
         WHERE volume > 0 GROUP BY symbol, venue HAVING ap > 5
         ORDER BY ap DESC, symbol ASC, venue LIMIT 10 OFFSET 2
         OUTPUT LAST EVERY 5 SEC;",
    );
    assert!(q.select.distinct);
    assert_eq!(q.group_by, vec![attr("symbol"), attr("venue")]);
    assert_eq!(q.having, Some(bin(Gt, attr("ap"), int(5))));
    assert_eq!(
        q.order_by,
        vec![
            OrderItem {
                expr: attr("ap"),
                descending: true
            },
            OrderItem {
                expr: attr("symbol"),
                descending: false
            },
            OrderItem {
                expr: attr("venue"),
                descending: false
            },
        ]
    );
    assert_eq!(q.limit, Some(int(10)));
    assert_eq!(q.offset, Some(int(2)));
    assert_eq!(
        q.rate,
        Some(OutputRate {
            mode: RateMode::Last,
            every: RateEvery::Time(dur(5_000)),
            span: sp()
        })
    );
}

#[test]
fn select_star_and_output_rates() {
    let q = query("SELECT * FROM S OUTPUT EVERY 10 EVENTS INSERT INTO O");
    assert_eq!(q.select.items, vec![SelectItem::Star(sp())]);
    let rate = q.rate.unwrap();
    assert_eq!(rate.mode, RateMode::All);
    assert_eq!(rate.every, RateEvery::Events(10, sp()));
    // The OUTPUT clause may also follow the trailing INSERT.
    let q = query("SELECT * FROM S INSERT INTO O OUTPUT SNAPSHOT EVERY 1 min");
    assert_eq!(q.rate.unwrap().mode, RateMode::Snapshot);
    let q = query("INSERT INTO O SELECT * FROM S OUTPUT FIRST EVERY 3 events");
    assert_eq!(q.rate.unwrap().mode, RateMode::First);
    let q = query("INSERT INTO O SELECT * FROM S OUTPUT ALL EVERY 2 HOURS");
    assert_eq!(q.rate.unwrap().every, RateEvery::Time(dur(7_200_000)));
}

#[test]
fn output_clause_twice_is_an_error() {
    let src = "SELECT * FROM S OUTPUT EVERY 1 sec INSERT INTO O OUTPUT EVERY 2 sec;";
    let (_, diags) = errors_of(src);
    assert_eq!(diags[0].message, "the OUTPUT clause is written twice");
    assert_eq!(text(src, diags[0].span), "OUTPUT EVERY 2 sec");
}

#[test]
fn stream_sources() {
    let q = query(
        "INSERT INTO O SELECT a FROM Trades[price > 10] AS t WINDOW('length', 5) UNIDIRECTIONAL",
    );
    let mut expected = stream("Trades");
    expected.filter = Some(bin(Gt, attr("price"), int(10)));
    expected.alias = Some(id("t"));
    expected.window = Some(win("length", vec![(int(5), None)]));
    expected.unidirectional = true;
    assert_eq!(q.from, Source::Stream(expected));
    // Alias after the window.
    let q = query("INSERT INTO O SELECT a FROM Trades WINDOW LENGTH(5) AS t");
    let Source::Stream(s) = &q.from else {
        panic!("not a stream")
    };
    assert_eq!(s.alias, Some(id("t")));
    assert_eq!(s.window, Some(win("LENGTH", vec![(int(5), None)])));
}

#[test]
fn windows() {
    let window = |w: &str| {
        let src = format!("INSERT INTO O SELECT a FROM S {w}");
        match query(&src).from {
            Source::Stream(s) => s.window.expect("a window"),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        window("WINDOW('time', 10 sec)"),
        win("time", vec![(lit(Literal::Duration(10_000)), None)])
    );
    assert_eq!(
        window("WINDOW TUMBLING(1 min)"),
        win("TUMBLING", vec![(lit(Literal::Duration(60_000)), None)])
    );
    assert_eq!(
        window("window lengthBatch(10)"),
        win("lengthBatch", vec![(int(10), None)])
    );
    assert_eq!(
        window("WINDOW('sort', 2, price DESC, volume ASC, ts)"),
        win(
            "sort",
            vec![
                (int(2), None),
                (attr("price"), Some(true)),
                (attr("volume"), Some(false)),
                (attr("ts"), None)
            ]
        )
    );
    assert_eq!(window("WINDOW cron('*/5 * * * * ?')").name, id("cron"));
    assert_eq!(
        window("WINDOW('expression', 'count() <= 20')").args[0].expr,
        string("count() <= 20")
    );
    let src = "INSERT INTO O SELECT a FROM S WINDOW('length', 5)";
    let Source::Stream(s) = query(src).from else {
        panic!()
    };
    let w = s.window.unwrap();
    assert_eq!(text(src, w.span), "WINDOW('length', 5)");
    assert_eq!(text(src, w.name.span), "'length'");
}

#[test]
fn joins_of_every_kind() {
    let kind = |k: &str| {
        let src = format!("INSERT INTO O SELECT a FROM A {k} B ON A.x = B.x");
        match query(&src).from {
            Source::Join(j) => j.kind,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(kind("JOIN"), JoinKind::Inner);
    assert_eq!(kind("INNER JOIN"), JoinKind::Inner);
    assert_eq!(kind("LEFT JOIN"), JoinKind::Left);
    assert_eq!(kind("left outer join"), JoinKind::Left);
    assert_eq!(kind("RIGHT JOIN"), JoinKind::Right);
    assert_eq!(kind("RIGHT OUTER JOIN"), JoinKind::Right);
    assert_eq!(kind("FULL JOIN"), JoinKind::Full);
    assert_eq!(kind("FULL OUTER JOIN"), JoinKind::Full);
}

#[test]
fn joins_chain_left_associatively() {
    let q = query(
        "INSERT INTO O SELECT a FROM A WINDOW('length', 1) AS a UNIDIRECTIONAL
         JOIN B AS b ON a.k = b.k LEFT JOIN C JOIN D ON D.k == a.k WHERE a.v > 0",
    );
    let mut a = stream("A");
    a.alias = Some(id("a"));
    a.window = Some(win("length", vec![(int(1), None)]));
    a.unidirectional = true;
    let mut b = stream("B");
    b.alias = Some(id("b"));
    let ab = join(
        Source::Stream(a),
        JoinKind::Inner,
        Source::Stream(b),
        Some(bin(Eq, qattr("a", "k"), qattr("b", "k"))),
    );
    let abc = join(ab, JoinKind::Left, Source::Stream(stream("C")), None);
    let abcd = join(
        abc,
        JoinKind::Inner,
        Source::Stream(stream("D")),
        Some(bin(Eq, qattr("D", "k"), qattr("a", "k"))),
    );
    assert_eq!(q.from, abcd);
    assert_eq!(q.where_, Some(bin(Gt, qattr("a", "v"), int(0))));
}

#[test]
fn upsert() {
    let q = query(
        "UPSERT INTO Stock SELECT symbol, price FROM Trades WHERE price > 0 ON Stock.symbol = Trades.symbol",
    );
    assert_eq!(
        q.output,
        QueryOutput::Upsert {
            target: id("Stock"),
            on: bin(Eq, qattr("Stock", "symbol"), qattr("Trades", "symbol"))
        }
    );
    assert_eq!(q.where_, Some(bin(Gt, attr("price"), int(0))));
    let same = query(
        "update or insert into Stock select symbol, price from Trades where price > 0 on Stock.symbol = Trades.symbol",
    );
    assert_eq!(q, same);
    // Without WHERE, and from a join (whose own ON comes first).
    let q = query("UPSERT INTO T SELECT a FROM S ON T.a = a");
    assert_eq!(q.from, Source::Stream(stream("S")));
    let q = query("UPSERT INTO T SELECT a FROM S JOIN U ON S.a = U.a ON T.a = S.a");
    let Source::Join(j) = &q.from else {
        panic!("not a join")
    };
    assert_eq!(j.on, Some(bin(Eq, qattr("S", "a"), qattr("U", "a"))));
}

#[test]
fn update_statement() {
    let src = "UPDATE Stock SET price = u.price, Stock.volume = u.volume + 1 FROM Updates AS u WHERE Stock.symbol = u.symbol;";
    let Statement::Update(u) = one(src) else {
        panic!("not an update")
    };
    let mut from = stream("Updates");
    from.alias = Some(id("u"));
    assert_eq!(
        u,
        UpdateStmt {
            annotations: Vec::new(),
            table: id("Stock"),
            sets: vec![
                (id("price"), qattr("u", "price")),
                (id("volume"), bin(Add, qattr("u", "volume"), int(1))),
            ],
            from: Source::Stream(from),
            where_: Some(bin(Eq, qattr("Stock", "symbol"), qattr("u", "symbol"))),
            span: sp(),
        }
    );
    assert_eq!(text(src, u.span), &src[..src.len() - 1]);
}

#[test]
fn update_with_wrong_qualifier() {
    let src = "UPDATE Stock SET Other.price = 1 FROM U";
    let (_, diags) = errors_of(src);
    assert_eq!(diags[0].message, "`Other.price` is not a column of `Stock`");
    assert_eq!(text(src, diags[0].span), "Other.price");
}

#[test]
fn delete_statement() {
    let Statement::Delete(d) = one(
        "@info(name = 'del') DELETE FROM Stock USING Removals AS r WHERE Stock.symbol = r.symbol",
    ) else {
        panic!("not a delete")
    };
    let mut using = stream("Removals");
    using.alias = Some(id("r"));
    assert_eq!(d.table, id("Stock"));
    assert_eq!(d.using, Source::Stream(using));
    assert_eq!(
        d.where_,
        Some(bin(Eq, qattr("Stock", "symbol"), qattr("r", "symbol")))
    );
    assert_eq!(d.annotations.len(), 1);
    let Statement::Delete(d) = one("delete from T using S") else {
        panic!("not a delete")
    };
    assert_eq!(d.where_, None);
}

#[test]
fn soft_keywords_as_stream_and_alias_names() {
    let q = query("INSERT INTO output SELECT window.last FROM pattern AS window JOIN sequence ON window.k = sequence.k");
    let Source::Join(j) = &q.from else {
        panic!("not a join")
    };
    let Source::Stream(left) = &j.left else {
        panic!()
    };
    assert_eq!(left.stream, id("pattern"));
    assert_eq!(left.alias, Some(id("window")));
    assert_eq!(
        q.select.items[0],
        select_item(qattr("window", "last"), None)
    );
}

#[test]
fn in_is_also_a_stream_name() {
    // docs/language.md#names: a stream may be named `In`; IN is an operator only after an operand.
    let q = query("INSERT INTO Out SELECT In.a FROM In WHERE a IN In AND b IN (1, 2)");
    assert_eq!(q.from, Source::Stream(stream("In")));
    assert_eq!(q.select.items[0], select_item(qattr("In", "a"), None));
    let Some(Expr::Binary { left, .. }) = &q.where_ else {
        panic!("{:#?}", q.where_)
    };
    assert!(matches!(&**left, Expr::InTable { table, .. } if table.name == "In"));
}

#[test]
fn more_soft_keywords() {
    // Aliases and stream names that are keywords only in other places.
    let q =
        query("INSERT ALL EVENTS INTO Every SELECT v AS at, desc, by FROM S ORDER BY desc DESC");
    assert!(matches!(&q.output, QueryOutput::Insert { target, .. } if target.name == "Every"));
    assert_eq!(
        q.select.items,
        vec![
            select_item(attr("v"), Some("at")),
            select_item(attr("desc"), None),
            select_item(attr("by"), None),
        ]
    );
    assert_eq!(
        q.order_by,
        vec![OrderItem {
            expr: attr("desc"),
            descending: true
        }]
    );
    let q = query("INSERT INTO O SELECT a FROM set AS of JOIN using AS within ON of.k = within.k");
    let Source::Join(j) = &q.from else {
        panic!("not a join")
    };
    assert!(matches!(&j.left, Source::Stream(s) if s.stream.name == "set"));
    assert!(matches!(&j.right, Source::Stream(s) if s.alias == Some(id("within"))));
}

//! Definitions: streams, tables, triggers, WITH options and annotations.

use super::*;

fn attr_def(name: &str, ty: &str, not_null: bool, primary_key: bool) -> AttrDef {
    AttrDef {
        name: id(name),
        ty: id(ty),
        not_null,
        primary_key,
        span: sp(),
    }
}

fn kv(key: Option<&str>, value: Literal) -> OptionKv {
    OptionKv {
        key: key.map(id),
        value,
        value_span: sp(),
    }
}

#[test]
fn create_stream() {
    let src = "CREATE STREAM Trades (symbol STRING, price DOUBLE, volume LONG NOT NULL);";
    let expected = StreamDef {
        annotations: Vec::new(),
        name: id("Trades"),
        inner: false,
        attrs: vec![
            attr_def("symbol", "STRING", false, false),
            attr_def("price", "DOUBLE", false, false),
            attr_def("volume", "LONG", true, false),
        ],
        with: Vec::new(),
        and_with: Vec::new(),
        span: sp(),
    };
    assert_eq!(one(src), Statement::Stream(expected));
}

#[test]
fn define_stream_lower_case_and_spans() {
    let src = "define stream #Inner (a int, b bigint null)";
    let Statement::Stream(s) = one(src) else {
        panic!("not a stream")
    };
    assert!(s.inner);
    assert_eq!(s.name, id("Inner"));
    assert_eq!(text(src, s.name.span), "Inner");
    assert_eq!(text(src, s.span), src);
    assert_eq!(text(src, s.attrs[1].span), "b bigint null");
    assert_eq!(text(src, s.attrs[1].ty.span), "bigint");
    assert!(!s.attrs[1].not_null);
}

#[test]
fn stream_with_options() {
    let src = r#"CREATE STREAM In (a INT) WITH (type = 'source', extension = 'file',
        "file.path" = 'in.jsonl', retries = 3, ratio = -0.5, strict = true, plain.dotted = 'x');"#;
    let Statement::Stream(s) = one(src) else {
        panic!("not a stream")
    };
    assert_eq!(
        s.with,
        vec![
            kv(Some("type"), Literal::String("source".into())),
            kv(Some("extension"), Literal::String("file".into())),
            kv(Some("file.path"), Literal::String("in.jsonl".into())),
            kv(Some("retries"), Literal::Int(3)),
            kv(Some("ratio"), Literal::Double(-0.5)),
            kv(Some("strict"), Literal::Bool(true)),
            kv(Some("plain.dotted"), Literal::String("x".into())),
        ]
    );
    assert_eq!(text(src, s.with[2].value_span), "'in.jsonl'");
    assert_eq!(text(src, s.with[4].value_span), "-0.5");
}

#[test]
fn soft_keywords_are_attribute_names() {
    let src = "CREATE STREAM S (time LONG, length INT, count INT, first STRING, last STRING,
        value DOUBLE, key STRING, type STRING, start LONG, events INT, index INT, window INT,
        limit INT, offset INT, output INT, stream STRING, table STRING, left INT, right INT);";
    let Statement::Stream(s) = one(src) else {
        panic!("not a stream")
    };
    let names: Vec<&str> = s.attrs.iter().map(|a| a.name.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "time", "length", "count", "first", "last", "value", "key", "type", "start", "events",
            "index", "window", "limit", "offset", "output", "stream", "table", "left", "right"
        ]
    );
}

#[test]
fn create_table_with_keys_and_indexes() {
    let src = "CREATE TABLE Stock (symbol STRING PRIMARY KEY, price DOUBLE NOT NULL, INDEX (price))
        WITH (store = 'memory');";
    let expected = TableDef {
        annotations: Vec::new(),
        name: id("Stock"),
        attrs: vec![
            attr_def("symbol", "STRING", false, true),
            attr_def("price", "DOUBLE", true, false),
        ],
        primary_key: Vec::new(),
        indexes: vec![vec![id("price")]],
        with: vec![kv(Some("store"), Literal::String("memory".into()))],
        span: sp(),
    };
    assert_eq!(one(src), Statement::Table(expected));

    let src = "DEFINE TABLE Latest (site STRING, sensor STRING, val DOUBLE, PRIMARY KEY (site, sensor), INDEX (val), INDEX (site, val))";
    let Statement::Table(t) = one(src) else {
        panic!("not a table")
    };
    assert_eq!(t.primary_key, vec![id("site"), id("sensor")]);
    assert_eq!(
        t.indexes,
        vec![vec![id("val")], vec![id("site"), id("val")]]
    );
    assert_eq!(t.attrs.len(), 3);
}

#[test]
fn stream_rejects_table_clauses() {
    let src = "CREATE STREAM S (a INT, PRIMARY KEY (a));";
    let (app, diags) = errors_of(src);
    assert_eq!(diags.len(), 1);
    assert_eq!(
        diags[0].message,
        "a stream cannot have a primary key or an index"
    );
    assert_eq!(text(src, diags[0].span), "PRIMARY KEY (a)");
    assert!(matches!(app.statements[0], Statement::Stream(_)));
}

#[test]
fn triggers() {
    let trigger = |src: &str| match one(src) {
        Statement::Trigger(t) => t,
        other => panic!("not a trigger: {other:#?}"),
    };
    let t = trigger("CREATE TRIGGER Tick AT EVERY 5 SECONDS;");
    assert_eq!(t.name, id("Tick"));
    assert_eq!(t.at, TriggerAt::Every(dur(5_000)));
    assert_eq!(trigger("create trigger T at start").at, TriggerAt::Start);
    assert_eq!(trigger("DEFINE TRIGGER T AT 'start'").at, TriggerAt::Start);
    let src = "CREATE TRIGGER T AT CRON '*/5 * * * * *'";
    let t = trigger(src);
    let TriggerAt::Cron(cron, span) = &t.at else {
        panic!("not cron")
    };
    assert_eq!(cron, "*/5 * * * * *");
    assert_eq!(text(src, *span), "'*/5 * * * * *'");
    assert_eq!(
        trigger("CREATE TRIGGER T AT '0 0 * * * ?'").at,
        TriggerAt::Cron("0 0 * * * ?".into(), sp())
    );
}

#[test]
fn annotations() {
    let src = "@app:name('Demo') @info(name = 'q1', parallel = 2) @async
        INSERT INTO Out SELECT a FROM S";
    let q = query(src);
    assert_eq!(
        q.annotations,
        vec![
            Annotation {
                name: id("app:name"),
                args: vec![kv(None, Literal::String("Demo".into()))],
                span: sp(),
            },
            Annotation {
                name: id("info"),
                args: vec![
                    kv(Some("name"), Literal::String("q1".into())),
                    kv(Some("parallel"), Literal::Int(2)),
                ],
                span: sp(),
            },
            Annotation {
                name: id("async"),
                args: Vec::new(),
                span: sp(),
            },
        ]
    );
    assert_eq!(text(src, q.annotations[0].span), "@app:name('Demo')");
    assert_eq!(text(src, q.annotations[0].name.span), "app:name");
    // The statement's span covers its annotations.
    assert_eq!(q.span.start, 0);
    assert_eq!(q.span.end, src.len());
}

#[test]
fn annotations_on_definitions() {
    let stmts = parse_ok(
        "@source(type = 'file') CREATE STREAM S (a INT);
         @store(type = 'memory') CREATE TABLE T (a INT);",
    );
    let Statement::Stream(s) = &stmts[0] else {
        panic!("not a stream")
    };
    assert_eq!(s.annotations[0].name, id("source"));
    let Statement::Table(t) = &stmts[1] else {
        panic!("not a table")
    };
    assert_eq!(t.annotations[0].name, id("store"));
}

#[test]
fn annotation_on_trigger_is_a_warning() {
    let (app, diags) = parse("@info(name = 'x') CREATE TRIGGER T AT START;");
    assert_eq!(diags.len(), 1);
    assert!(!diags[0].is_error());
    assert!(matches!(app.statements[0], Statement::Trigger(_)));
}

#[test]
fn statements_separated_by_semicolons_last_optional() {
    let stmts = parse_ok(
        "CREATE STREAM A (x INT);; CREATE STREAM B (x INT);
         INSERT INTO B SELECT x FROM A",
    );
    assert_eq!(stmts.len(), 3);
    assert!(parse_ok("").is_empty());
    assert!(parse_ok("  -- only a comment\n ; ;").is_empty());
}

#[test]
fn fault_stream_names() {
    // `!Name` is one name (the fault stream of `Name`), `!=` stays an operator.
    let src = r#"INSERT INTO Bad SELECT * FROM !Orders WHERE a != 1;"#;
    let Statement::Query(q) = one(src) else {
        panic!("not a query")
    };
    let text_of = format!("{q:?}");
    assert!(text_of.contains("\"!Orders\""), "{text_of}");
    // A fault stream carrying a sink leaves its attributes out.
    let src = r#"CREATE STREAM !"my orders" WITH (type = 'sink', extension = 'stdout');"#;
    let Statement::Stream(s) = one(src) else {
        panic!("not a stream")
    };
    assert_eq!(s.name, id("!my orders"));
    assert!(s.attrs.is_empty());
    assert_eq!(s.with.len(), 2);
}

#[test]
fn a_plain_stream_needs_its_attributes() {
    let (_, errors) = errors_of("CREATE STREAM S WITH (type = 'sink', extension = 'stdout');");
    assert!(
        errors
            .iter()
            .any(|e| e.message.contains("needs its attributes")),
        "{errors:?}"
    );
}

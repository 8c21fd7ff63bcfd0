//! Connectors end to end through a real standalone binary (`eventflux build --debug`) on
//! 127.0.0.1 with free ports: a stream fed by a tcp and an http source at once, a tcp sink,
//! an http sink, a tailing file source; `${VAR}` substitution at start; bad input on every
//! source reported and survived; SIGTERM ends the service with exit 0.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod support;

const APP: &str = r#"
CREATE STREAM Orders (id LONG, sym STRING, qty INT)
  WITH (type = 'source', extension = 'tcp', "tcp.port" = '0')
  AND WITH (type = 'source', extension = 'http', "http.port" = '0', "auth.token" = '${EF_TEST_TOKEN}');
CREATE STREAM Big (id LONG, qty INT)
  WITH (type = 'sink', extension = 'tcp', "tcp.host" = '127.0.0.1', "tcp.port" = '${EF_TEST_SINK_PORT}');
CREATE STREAM Small (id LONG, qty INT)
  WITH (type = 'sink', extension = 'http', "http.url" = '${EF_TEST_HTTP_URL}', "retry.backoff" = '10');
CREATE STREAM Prices (sym STRING, price DOUBLE)
  WITH (type = 'source', extension = 'file', "file.path" = '${EF_TEST_FOLLOW}', "file.follow" = 'true');
INSERT INTO Big SELECT id, qty FROM Orders WHERE qty >= 100;
INSERT INTO Small SELECT id, qty FROM Orders WHERE qty < 100;
INSERT INTO Dear SELECT sym, price FROM Prices WHERE price > 10.0;
"#;

const TOKEN: &str = "t0ken-not-to-be-printed";

fn dir() -> PathBuf {
    support::temp_dir("connector-tests")
}

fn build(app: &str, name: &str) -> PathBuf {
    support::build_in(&dir(), app, name)
}

/// A tiny HTTP server answering 200 to every POST and passing each body on.
fn http_server() -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let body = loop {
                let Ok(n) = conn.read(&mut chunk) else {
                    break None;
                };
                if n == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .and_then(|v| v.trim().parse().ok())
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        break Some(body.to_string());
                    }
                }
            };
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            if let Some(body) = body {
                let _ = tx.send(body);
            }
        }
    });
    (port, rx)
}

fn post(addr: SocketAddr, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect http source");
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send request");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read answer");
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (
        status,
        text.split("\r\n\r\n").nth(1).unwrap_or("").to_string(),
    )
}

/// The metrics endpoint's address, from the binary's "metrics at http://ADDR/metrics" line.
fn metrics_at(line: &str) -> Option<SocketAddr> {
    line.split("metrics at http://")
        .nth(1)?
        .split('/')
        .next()?
        .parse()
        .ok()
}

fn listening(line: &str, what: &str) -> Option<SocketAddr> {
    let rest = line.strip_prefix(&format!("eventflux: {what} `Orders` listening on "))?;
    rest.trim().parse().ok()
}

#[test]
fn tcp_http_and_tailing_sources_and_sinks_through_a_real_binary() {
    let bin = build(APP, "connectors_app");
    let sink = TcpListener::bind("127.0.0.1:0").expect("bind sink");
    let (http_port, posted) = http_server();
    let follow = dir().join("prices.jsonl");
    std::fs::write(&follow, "{\"sym\": \"A\", \"price\": 5.0}\n").expect("write follow file");
    let mut child = Command::new(&bin)
        .env("EF_TEST_TOKEN", TOKEN)
        .env(
            "EF_TEST_SINK_PORT",
            sink.local_addr().expect("addr").port().to_string(),
        )
        .env(
            "EF_TEST_HTTP_URL",
            format!("http://127.0.0.1:{http_port}/streams/Small"),
        )
        .env("EF_TEST_FOLLOW", &follow)
        .args(["--metrics", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary");
    // Where the sources listen, from stderr; the rest of stderr is kept for the end.
    let err_rx = support::stderr_lines(&mut child);
    let (mut tcp_addr, mut http_addr, mut metrics_addr) = (None, None, None);
    let mut log = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while tcp_addr.is_none() || http_addr.is_none() || metrics_addr.is_none() {
        let line = err_rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("the binary did not start its sources: {log:?}"));
        tcp_addr = tcp_addr.or(listening(&line, "tcp source"));
        http_addr = http_addr.or(listening(&line, "http source"));
        metrics_addr = metrics_addr.or(metrics_at(&line));
        log.push(line);
    }
    let (tcp_addr, http_addr) = (tcp_addr.expect("tcp"), http_addr.expect("http"));
    assert!(tcp_addr.ip().is_loopback() && http_addr.ip().is_loopback());

    // TCP: two clients, a bad line, a wrong type, a client gone in the middle of a line.
    let mut a = TcpStream::connect(tcp_addr).expect("connect");
    let mut b = TcpStream::connect(tcp_addr).expect("connect");
    a.write_all(
        b"{\"ts\": 1000, \"data\": {\"id\": 1, \"sym\": \"IBM\", \"qty\": 150}}\nnot json\n",
    )
    .expect("write");
    b.write_all(b"{\"id\": 2, \"sym\": \"X\", \"qty\": \"many\"}\n{\"id\": 3, \"sym\": \"Y\", \"qty\": 500}\n{\"id\": 4, \"sy")
        .expect("write");
    drop(b);
    a.write_all(b"[5, \"Z\", 20]\n").expect("write");

    // HTTP: without the token (401, not processed), then with it: one good and one bad line.
    let (status, _) = post(
        http_addr,
        "/streams/Orders",
        None,
        "{\"id\": 99, \"qty\": 1}",
    );
    assert_eq!(status, 401);
    // The refused request is counted in the metrics.
    let metrics = support::metrics_text(metrics_addr.expect("metrics"));
    assert!(
        metrics.contains("eventflux_unauthorized_requests_total 1"),
        "{metrics}"
    );
    let (status, body) = post(
        http_addr,
        "/streams/Orders",
        Some(TOKEN),
        "{\"id\": 6, \"sym\": \"H\", \"qty\": 7}\n{\"id\": \"six\"}\n",
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("\"accepted\":1") && body.contains("\"line\":2"),
        "{body}"
    );
    let (status, body) = post(
        http_addr,
        "/streams/Orders",
        Some(TOKEN),
        "[{\"id\": 7, \"qty\": 300}]",
    );
    assert_eq!((status, body.as_str()), (202, "{\"accepted\":1}"));

    // The tailed file grows.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&follow)
        .expect("open follow file");
    f.write_all(b"{\"sym\": \"B\", \"price\": 50.0}\n{\"sym\": \"C\", \"pri")
        .expect("append");
    f.flush().expect("flush");
    f.write_all(b"ce\": 70.5}\n").expect("append");
    f.flush().expect("flush");

    // The tcp sink connects and gets Big's events (ids 1, 3, 7 in some order of arrival).
    sink.set_nonblocking(false).expect("blocking");
    let (peer, _) = sink.accept().expect("the tcp sink connects");
    peer.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut peer = BufReader::new(peer);
    let mut big = Vec::new();
    while big.len() < 3 {
        let mut line = String::new();
        assert!(
            peer.read_line(&mut line).expect("read sink") > 0,
            "sink closed: {big:?}"
        );
        big.push(line.trim().to_string());
    }
    let mut ids: Vec<i64> = big
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON line");
            assert_eq!(v["stream"], "Big");
            assert_eq!(v["kind"], "current");
            v["data"]["id"].as_i64().expect("id")
        })
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![1, 3, 7]);
    assert!(big.iter().any(|l| l.contains("\"ts\":1000")), "{big:?}");

    // The http sink POSTs Small's events (ids 5 and 6).
    let mut small = String::new();
    while !(small.contains("\"id\":5") && small.contains("\"id\":6")) {
        let body = posted
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("http sink posted only {small:?}"));
        small.push_str(&body);
    }
    assert!(
        small.lines().all(|l| l.contains("\"stream\":\"Small\"")),
        "{small}"
    );

    // SIGTERM: stop reading, deliver, exit 0.
    std::thread::sleep(Duration::from_millis(300));
    let stdout = support::faults::sigterm_and_wait(&mut child, &err_rx, &mut log);
    let log = log.join("\n");
    let dear: Vec<&str> = stdout.lines().collect();
    assert_eq!(dear.len(), 2, "{stdout}");
    assert!(
        dear[0].contains("\"sym\":\"B\"") && dear[1].contains("\"price\":70.5"),
        "{stdout}"
    );
    // Every bad input was reported, and the token never printed.
    assert!(
        log.contains("tcp source `Orders` (connection 1) line 2"),
        "{log}"
    );
    assert!(
        log.contains("(connection 2) line 1") && log.contains("\"many\""),
        "{log}"
    );
    assert!(log.contains("in the middle of a line"), "{log}");
    assert!(!log.contains(TOKEN), "{log}");
}

#[test]
fn an_unset_variable_is_a_startup_error_naming_it() {
    let app = "CREATE STREAM S (x INT) WITH (type = 'source', extension = 'tcp', \"tcp.port\" = '${EF_TEST_UNSET_PORT}');\nINSERT INTO T SELECT x FROM S;\n";
    let bin = build(app, "connectors_unset");
    let out = Command::new(&bin)
        .env_remove("EF_TEST_UNSET_PORT")
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("EF_TEST_UNSET_PORT") && err.contains("`S`"),
        "{err}"
    );
}

#[test]
fn a_csv_file_source_is_read_to_its_end() {
    let app = "CREATE STREAM Trades (sym STRING, price DOUBLE, qty INT)\n  WITH (type = 'source', extension = 'file', format = 'csv', \"file.path\" = '${EF_TEST_CSV}');\nINSERT INTO Big SELECT sym, price, qty FROM Trades WHERE qty >= 10;\n";
    let bin = build(app, "connectors_csv");
    let csv = dir().join("trades.csv");
    std::fs::write(
        &csv,
        "sym,price,qty\nIBM,75.5,100\n\"A, \"\"B\"\"\",,20\nSMALL,1.0,1\nBAD,x,30\nLAST,2,40",
    )
    .expect("write csv");
    let out = Command::new(&bin)
        .env("EF_TEST_CSV", &csv)
        .stdin(Stdio::null())
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let data: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            // The output line as printed (attributes in SELECT order).
            let data = l.split_once("\"data\":").expect("data").1;
            data[..data.len() - 1].to_string()
        })
        .collect();
    assert_eq!(
        data,
        vec![
            r#"{"sym":"IBM","price":75.5,"qty":100}"#,
            r#"{"sym":"A, \"B\"","price":null,"qty":20}"#,
            r#"{"sym":"LAST","price":2.0,"qty":40}"#,
        ]
    );
    assert!(stderr.contains("`price`: `x` is not a DOUBLE"), "{stderr}");
}

const FAULT_APP: &str = r#"
CREATE STREAM Orders (id LONG, sym STRING, qty INT)
  WITH (type = 'source', extension = 'tcp', "tcp.port" = '0', "on.error" = 'fault');
CREATE STREAM !Orders WITH (type = 'sink', extension = 'file', "file.path" = '${EF_TEST_DEAD}');
INSERT INTO Good SELECT id, qty FROM Orders;
INSERT INTO Faults SELECT sym, _error FROM !Orders;
"#;

/// `'on.error' = 'fault'` on a tcp source: every bad message (not JSON, a wrong type, a
/// client gone in the middle of a line) becomes an event of `!Orders`, which a query reads and
/// a file sink (a dead-letter file) carries; good messages go on as usual.
#[test]
fn undecodable_tcp_messages_go_to_the_fault_stream_and_its_dead_letter_file() {
    let bin = build(FAULT_APP, "fault_app");
    let dead = dir().join("dead-letters.jsonl");
    let _ = std::fs::remove_file(&dead);
    let mut child = support::Killed(
        Command::new(&bin)
            .env("EF_TEST_DEAD", &dead)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the binary"),
    );
    let err_rx = support::stderr_lines(&mut child.0);
    let mut log = Vec::new();
    let addr = loop {
        let line = err_rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("the binary did not start its source: {log:?}"));
        if let Some(addr) = listening(&line, "tcp source") {
            break addr;
        }
        log.push(line);
    };
    let mut a = TcpStream::connect(addr).expect("connect");
    a.write_all(
        b"{\"ts\": 1000, \"data\": {\"id\": 1, \"sym\": \"IBM\", \"qty\": 5}}\nnot json\n\
          {\"id\": 2, \"sym\": \"X\", \"qty\": \"many\"}\n[4, \"Y\", 6]\n",
    )
    .expect("write");
    let mut b = TcpStream::connect(addr).expect("connect");
    b.write_all(b"{\"id\": 3, \"sy").expect("write");
    drop(b);
    // Three faults reach the dead-letter file.
    let deadline = Instant::now() + Duration::from_secs(30);
    let letters = loop {
        let text = std::fs::read_to_string(&dead).unwrap_or_default();
        if text.lines().count() >= 3 {
            break text;
        }
        assert!(Instant::now() < deadline, "dead letters so far: {text:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = support::faults::stop(child, &err_rx, &mut log);
    let letters: Vec<serde_json::Value> = letters
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert!(letters.iter().all(|v| v["stream"] == "!Orders"));
    let data = |pred: &dyn Fn(&serde_json::Value) -> bool| {
        letters
            .iter()
            .map(|v| &v["data"])
            .find(|d| pred(d))
            .unwrap_or_else(|| panic!("no such dead letter in {letters:?}"))
            .clone()
    };
    // Not JSON: every attribute NULL, the reason kept.
    let garbage = data(&|d| {
        d["id"].is_null()
            && d["_error"]
                .as_str()
                .is_some_and(|e| e.contains("not a JSON"))
    });
    assert_eq!(garbage["sym"], serde_json::Value::Null);
    // A wrong type: what decodes is kept.
    let wrong = data(&|d| d["id"] == 2);
    assert_eq!(
        (&wrong["sym"], &wrong["qty"]),
        (&serde_json::json!("X"), &serde_json::Value::Null)
    );
    assert!(
        wrong["_error"]
            .as_str()
            .is_some_and(|e| e.contains("\"many\"")),
        "{wrong}"
    );
    // A client gone in the middle of a line.
    data(&|d| {
        d["_error"]
            .as_str()
            .is_some_and(|e| e.contains("middle of a line"))
    });
    // Good events go on; the query over !Orders sees the three faults.
    let good: Vec<i64> = out
        .iter()
        .filter(|v| v["stream"] == "Good")
        .filter_map(|v| v["data"]["id"].as_i64())
        .collect();
    assert_eq!(good, vec![1, 4], "{out:?}");
    assert_eq!(
        out.iter().filter(|v| v["stream"] == "Faults").count(),
        3,
        "{out:?}"
    );
    assert!(!out.iter().any(|v| v["stream"] == "!Orders"), "{out:?}");
}

/// `format = 'csv'` on a file sink: one record per event, the attributes in order, values as
/// in JSON lines (a DOUBLE keeps its decimal point), NULL an empty field, strings quoted
/// when needed (an empty string is `""`).
#[test]
fn a_csv_file_sink_writes_records_in_attribute_order() {
    let app = r#"
CREATE STREAM Orders (id LONG, sym STRING, price DOUBLE, ok BOOL);
CREATE STREAM Rows (sym STRING, id LONG, total DOUBLE, ok BOOL)
  WITH (type = 'sink', extension = 'file', "file.path" = '${EF_CSV_OUT}', format = 'csv');
INSERT INTO Rows SELECT sym, id, price * 2 AS total, ok FROM Orders;
"#;
    let bin = build(app, "csv_sink_app");
    let input = dir().join("csv-sink-input.jsonl");
    std::fs::write(
        &input,
        concat!(
            "{\"stream\":\"Orders\",\"ts\":1,\"data\":{\"id\":1,\"sym\":\"a, b\",\"price\":2,\"ok\":true}}\n",
            "{\"stream\":\"Orders\",\"ts\":2,\"data\":{\"id\":2,\"sym\":null,\"price\":1.25,\"ok\":null}}\n",
            "{\"stream\":\"Orders\",\"ts\":3,\"data\":{\"id\":3,\"sym\":\"say \\\"hi\\\"\",\"price\":null,\"ok\":false}}\n",
            "{\"stream\":\"Orders\",\"ts\":4,\"data\":{\"id\":4,\"sym\":\"\",\"price\":-0.5,\"ok\":true}}\n",
        ),
    )
    .expect("write input");
    let csv = dir().join("csv-sink-out.csv");
    let _ = std::fs::remove_file(&csv);
    let out = Command::new(&bin)
        .env("EF_CSV_OUT", &csv)
        .arg("--input")
        .arg(&input)
        .output()
        .expect("run the binary");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&csv).expect("the csv file"),
        "\"a, b\",1,4.0,true\n,2,2.5,\n\"say \"\"hi\"\"\",3,,false\n\"\",4,-1.0,true\n"
    );
}

/// `'on.error' = 'drop'` on a tcp source and on a tcp sink whose peer is gone: both skip
/// silently, and `--metrics` counts them in `eventflux_dropped_events_total{stream,reason}`.
#[test]
fn dropped_messages_and_undeliverable_events_are_counted_in_metrics() {
    let app = r#"
CREATE STREAM Orders (id LONG, qty INT)
  WITH (type = 'source', extension = 'tcp', "tcp.port" = '0', "on.error" = 'drop');
CREATE STREAM Out (id LONG, qty INT)
  WITH (type = 'sink', extension = 'tcp', "tcp.port" = '${EF_TEST_DEAD_PORT}', "on.error" = 'drop');
INSERT INTO Out SELECT id, qty FROM Orders;
"#;
    let bin = build(app, "drop_metrics_app");
    // A port nobody listens on: the sink's peer is dead.
    let dead_port = support::free_port();
    let mut child = support::Killed(
        Command::new(&bin)
            .env("EF_TEST_DEAD_PORT", dead_port.to_string())
            .args(["--metrics", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the binary"),
    );
    let err_rx = support::stderr_lines(&mut child.0);
    let (mut source, mut metrics) = (None, None);
    let mut log = Vec::new();
    while source.is_none() || metrics.is_none() {
        let line = err_rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("the binary did not start: {log:?}"));
        source = source.or(listening(&line, "tcp source"));
        metrics = metrics.or(metrics_at(&line));
        log.push(line);
    }
    let (source, metrics) = (source.expect("source"), metrics.expect("metrics"));
    let mut client = TcpStream::connect(source).expect("connect");
    client
        .write_all(b"not json\n{\"id\": 1, \"qty\": 2}\n{\"id\": \"x\"}\n{\"id\": 3, \"qty\": 4}\n")
        .expect("write");
    let wanted = [
        "eventflux_dropped_events_total{stream=\"Orders\",reason=\"undecodable\"} 2",
        "eventflux_dropped_events_total{stream=\"Out\",reason=\"sink_error\"} 2",
        // A network source counts what it received, good and bad, like the input reader.
        "eventflux_events_in_total{stream=\"Orders\"} 2",
        "eventflux_bad_events_total{stream=\"Orders\"} 2",
    ];
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = support::metrics_text(metrics);
        if wanted.iter().all(|w| text.contains(w)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "metrics lack {wanted:?}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(client);
    while let Ok(line) = err_rx.recv_timeout(Duration::from_millis(300)) {
        log.push(line);
    }
    // `drop` is silent: neither the bad lines nor the failed sends are logged.
    assert!(
        !log.iter()
            .any(|l| l.contains("not json") || l.contains("not delivered")),
        "{log:?}"
    );
}

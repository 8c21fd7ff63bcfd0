//! TLS on the http source and `'on.error' = 'fault'` on sinks, end to end through a real
//! standalone binary on 127.0.0.1: curl (verifying a test CA's certificate) posts events
//! over HTTPS with the bearer token, plain HTTP to the TLS port gets nothing processed; rows
//! a tcp or http sink cannot deliver (a dead peer) become events of their fault stream,
//! which a query reads and a dead-letter file sink carries.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod support;

use support::faults::{assert_dead_letters, listening_on, start, stop};

fn dir() -> PathBuf {
    support::temp_dir("tls-fault-tests")
}

fn build(app: &str, name: &str) -> PathBuf {
    support::build_in(&dir(), app, name)
}

const TOKEN: &str = "s3cret-t0ken";

const TLS_APP: &str = r#"
CREATE STREAM Orders (id LONG, qty INT)
  WITH (type = 'source', extension = 'http', "http.port" = '0', "auth.token" = '${EF_TEST_TOKEN}',
        "tls.cert" = '${EF_TEST_TLS}/server.pem', "tls.key" = '${EF_TEST_TLS}/server.key');
INSERT INTO Big SELECT id, qty FROM Orders WHERE qty >= 100;
"#;

fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl (the test needs it)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", ""));
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (code.to_string(), body.to_string())
}

/// HTTPS with the bearer token: 202 and the events are processed; without the token 401;
/// plain HTTP to the TLS port: no answer, nothing processed.
#[test]
fn the_http_source_serves_https_with_a_bearer_token() {
    let bin = build(TLS_APP, "tls_app");
    let tls = concat!(env!("CARGO_MANIFEST_DIR"), "/../runtime/tests/data/tls");
    let (child, err) = start(
        &bin,
        &[
            ("EF_TEST_TOKEN", TOKEN.to_string()),
            ("EF_TEST_TLS", tls.to_string()),
        ],
    );
    let mut log = Vec::new();
    let addr = listening_on(&err, &mut log, "http source", "Orders");
    // Plain HTTP to the TLS port: no HTTP answer, and the event is never processed.
    {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(15)))
            .expect("timeout");
        let body = "{\"id\": 99, \"qty\": 999}";
        let _ = write!(
            s,
            "POST /streams/Orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let mut bytes = Vec::new();
        let _ = s.read_to_end(&mut bytes);
        assert!(
            !String::from_utf8_lossy(&bytes).contains("HTTP/1.1"),
            "{bytes:?}"
        );
    }
    let url = format!("https://localhost:{}/streams/Orders", addr.port());
    let ca = format!("{tls}/ca.pem");
    let (code, _) = curl(&[
        "--cacert",
        &ca,
        "--data-binary",
        "{\"id\": 7, \"qty\": 700}",
        &url,
    ]);
    assert_eq!(code, "401");
    let auth = format!("Authorization: Bearer {TOKEN}");
    let (code, body) = curl(&[
        "--cacert",
        &ca,
        "-H",
        &auth,
        "--data-binary",
        "{\"id\": 1, \"qty\": 150}\n{\"ts\": 5, \"data\": {\"id\": 2, \"qty\": 5}}\n[3, 300]",
        &url,
    ]);
    assert_eq!((code.as_str(), body.as_str()), ("202", "{\"accepted\":3}"));
    // Wait for the rows, then stop.
    let out = stop(child, &err, &mut log);
    let ids: Vec<i64> = out
        .iter()
        .filter(|v| v["stream"] == "Big")
        .filter_map(|v| v["data"]["id"].as_i64())
        .collect();
    assert_eq!(ids, vec![1, 3], "{out:?}");
    assert!(!log.iter().any(|l| l.contains(TOKEN)), "{log:?}");
}

const FAULT_APP: &str = r#"
CREATE STREAM In (id LONG, qty INT)
  WITH (type = 'source', extension = 'tcp', "tcp.port" = '0');
CREATE STREAM Out (id LONG, qty INT)
  WITH (type = 'sink', extension = 'tcp', "tcp.port" = '${EF_TEST_DEAD_PORT}', "on.error" = 'fault');
CREATE STREAM Web (id LONG, qty INT)
  WITH (type = 'sink', extension = 'http', "http.url" = 'http://127.0.0.1:${EF_TEST_DEAD_PORT}/in',
        "on.error" = 'fault');
CREATE STREAM !Out WITH (type = 'sink', extension = 'file', "file.path" = '${EF_TEST_DEAD_LETTERS}');
INSERT INTO Out SELECT id, qty FROM In;
INSERT INTO Web SELECT id, qty FROM In WHERE qty > 10;
CREATE STREAM WebFaults (id LONG, qty INT, _error STRING)
  WITH (type = 'sink', extension = 'file', "file.path" = '${EF_TEST_WEB_FAULTS}');
INSERT INTO WebFaults SELECT id, qty, _error FROM !Web;
"#;

/// A dead peer (nothing listens on the port): the tcp sink's rows reach the dead-letter
/// file as `!Out` events, the http sink's rows the query over `!Web`; nothing is lost.
#[test]
fn undeliverable_rows_of_tcp_and_http_sinks_go_to_their_fault_streams() {
    let bin = build(FAULT_APP, "sink_fault_app");
    let dead_port = support::free_port();
    let letters = dir().join("sink-dead-letters.jsonl");
    let web_faults = dir().join("web-faults.jsonl");
    let _ = std::fs::remove_file(&letters);
    let _ = std::fs::remove_file(&web_faults);
    let (child, err) = start(
        &bin,
        &[
            ("EF_TEST_DEAD_PORT", dead_port.to_string()),
            ("EF_TEST_DEAD_LETTERS", letters.display().to_string()),
            ("EF_TEST_WEB_FAULTS", web_faults.display().to_string()),
        ],
    );
    let mut log = Vec::new();
    let addr = listening_on(&err, &mut log, "tcp source", "In");
    let mut client = TcpStream::connect(addr).expect("connect");
    client
        .write_all(
            b"{\"ts\": 1000, \"data\": {\"id\": 1, \"qty\": 5}}\n\
              {\"ts\": 2000, \"data\": {\"id\": 2, \"qty\": 50}}\n\
              {\"ts\": 3000, \"data\": {\"id\": 3, \"qty\": 500}}\n",
        )
        .expect("write");
    let wait_lines = |path: &Path, n: usize, log: &[String]| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if text.lines().count() >= n {
                break text;
            }
            assert!(
                Instant::now() < deadline,
                "{path:?} so far: {text:?}\n{log:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let text = wait_lines(&letters, 3, &log);
    let web_text = wait_lines(&web_faults, 2, &log);
    drop(client);
    stop(child, &err, &mut log);
    let dead: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert!(dead.iter().all(|v| v["stream"] == "!Out"), "{dead:?}");
    let rows: Vec<(i64, i64, i64)> = dead
        .iter()
        .map(|v| {
            (
                v["ts"].as_i64().unwrap_or(-1),
                v["data"]["id"].as_i64().unwrap_or(-1),
                v["data"]["qty"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(rows, vec![(1000, 1, 5), (2000, 2, 50), (3000, 3, 500)]);
    assert!(
        dead.iter().all(|v| v["data"]["_error"]
            .as_str()
            .is_some_and(|e| e.contains("not delivered"))),
        "{dead:?}"
    );
    let web: Vec<i64> = web_text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON line"))
        .filter_map(|v| v["data"]["id"].as_i64())
        .collect();
    assert_eq!(web, vec![2, 3], "{web_text}\n{log:?}");
    assert!(
        log.iter().any(|l| l.contains("sent to the fault stream")),
        "{log:?}"
    );
}

const FILE_NATS_FAULT_APP: &str = r#"
CREATE STREAM In (id LONG, qty INT)
  WITH (type = 'source', extension = 'tcp', "tcp.port" = '0');
CREATE STREAM Full (id LONG, qty INT)
  WITH (type = 'sink', extension = 'file', "file.path" = '/dev/full', "on.error" = 'fault');
CREATE STREAM Bus (id LONG, qty INT)
  WITH (type = 'sink', extension = 'nats', "nats.url" = 'nats://127.0.0.1:${EF_TEST_DEAD_PORT}',
        "nats.subject" = 'out', "on.error" = 'fault');
INSERT INTO Full SELECT id, qty FROM In;
INSERT INTO Bus SELECT id, qty FROM In WHERE qty > 10;
CREATE STREAM Faults (src STRING, id LONG, qty INT, _error STRING)
  WITH (type = 'sink', extension = 'file', "file.path" = '${EF_TEST_FAULTS}');
INSERT INTO Faults SELECT 'Full' AS src, id, qty, _error FROM !Full;
INSERT INTO Faults SELECT 'Bus' AS src, id, qty, _error FROM !Bus;
"#;

/// [`support::faults::undeliverable`] on `app` built as `name`.
fn undeliverable(app: &str, name: &str, lines: usize) -> (String, Vec<String>) {
    let faults = dir().join(format!("{name}-faults.jsonl"));
    support::faults::undeliverable(&build(app, name), &faults, lines)
}

/// A full disk (`/dev/full`: every write fails with ENOSPC) under a file sink and a dead
/// NATS server under a nats sink, both with `'on.error' = 'fault'`: every row either sink
/// could not deliver reaches a query over its fault stream with the reason in `_error`.
#[test]
fn undeliverable_rows_of_file_and_nats_sinks_go_to_their_fault_streams() {
    let (text, log) = undeliverable(FILE_NATS_FAULT_APP, "file_nats_fault_app", 3);
    let mut rows: Vec<(String, i64, i64, i64, String)> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON line"))
        .map(|v| {
            (
                v["data"]["src"].as_str().unwrap_or("").to_string(),
                v["ts"].as_i64().unwrap_or(-1),
                v["data"]["id"].as_i64().unwrap_or(-1),
                v["data"]["qty"].as_i64().unwrap_or(-1),
                v["data"]["_error"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    rows.sort();
    let keys: Vec<(&str, i64, i64, i64)> = rows
        .iter()
        .map(|(s, ts, id, qty, _)| (s.as_str(), *ts, *id, *qty))
        .collect();
    assert_eq!(
        keys,
        vec![
            ("Bus", 2000, 2, 50),
            ("Full", 1000, 1, 5),
            ("Full", 2000, 2, 50)
        ],
        "{text}\n{log:?}"
    );
    assert!(
        rows[0].4.contains("not delivered") && rows[0].4.contains("cannot connect"),
        "{rows:?}"
    );
    assert!(
        rows[1..]
            .iter()
            .all(|r| r.4.contains("write failed") && r.4.contains("No space left")),
        "{rows:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.contains("file sink `Full`") && l.contains("sent to the fault stream")),
        "{log:?}"
    );
}

const RABBIT_FAULT_APP: &str = r#"
CREATE STREAM In (id LONG, qty INT)
  WITH (type = 'source', extension = 'tcp', "tcp.port" = '0');
CREATE STREAM Rabbit (id LONG, qty INT)
  WITH (type = 'sink', extension = 'rabbitmq', "rabbitmq.url" = 'amqp://127.0.0.1:${EF_TEST_DEAD_PORT}/%2f',
        "rabbitmq.routing.key" = 'out', "on.error" = 'fault');
INSERT INTO Rabbit SELECT id, qty FROM In;
CREATE STREAM !Rabbit WITH (type = 'sink', extension = 'file', "file.path" = '${EF_TEST_FAULTS}');
"#;

/// A rabbitmq sink whose broker is down (nothing listens on its port) with
/// `'on.error' = 'fault'`: its rows reach the dead-letter file of `!Rabbit`.
#[test]
fn undeliverable_rows_of_a_rabbitmq_sink_go_to_its_fault_stream() {
    let (text, _) = undeliverable(RABBIT_FAULT_APP, "rabbit_fault_app", 2);
    assert_dead_letters(&text, "!Rabbit");
}

const GRPC_FAULT_APP: &str = r#"
CREATE STREAM In (id LONG, qty INT)
  WITH (type = 'source', extension = 'tcp', "tcp.port" = '0');
CREATE STREAM Up (id LONG, qty INT)
  WITH (type = 'sink', extension = 'grpc', "grpc.url" = 'http://127.0.0.1:${EF_TEST_DEAD_PORT}',
        "retry.max" = '1', "retry.backoff" = '10', "on.error" = 'fault');
INSERT INTO Up SELECT id, qty FROM In;
CREATE STREAM !Up WITH (type = 'sink', extension = 'file', "file.path" = '${EF_TEST_FAULTS}');
"#;

/// A grpc sink whose upstream service is down (nothing listens on its port) with
/// `'on.error' = 'fault'`: its rows reach the dead-letter file of `!Up`.
#[test]
fn undeliverable_rows_of_a_grpc_sink_go_to_its_fault_stream() {
    let (text, _) = undeliverable(GRPC_FAULT_APP, "grpc_fault_app", 2);
    assert_dead_letters(&text, "!Up");
}

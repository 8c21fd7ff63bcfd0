//! Broker connectors end to end through a real standalone binary (`eventflux build --debug`)
//! against real servers that `.ci/run` starts on 127.0.0.1 (DESIGN 8.1, 8.4):
//! `EVENTFLUX_TEST_NATS=nats://127.0.0.1:PORT` (`nats-server -js`). A test whose server is
//! not given is skipped outside CI and fails under CI (`CI` set). Option checks by
//! `eventflux check` need no server.
//!
//! The tests talk to the servers with a few lines of their wire protocols (no client crate).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod support;

fn dir() -> PathBuf {
    support::temp_dir("broker-tests")
}

fn build(app: &str, name: &str) -> PathBuf {
    support::build_featured(&dir(), app, name, support::BACKENDS)
}

/// The server URL in `var`, or `None` (skip) outside CI.
fn server(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{var} must be set under CI (.ci/run starts the server)"
            );
            eprintln!("skipped {test}: {var} is not set");
            None
        }
    }
}

/// `eventflux check` on `app`: (success, stderr).
fn check(app: &str, name: &str) -> (bool, String) {
    let path = dir().join(format!("{name}.eventflux"));
    std::fs::write(&path, app).expect("write app");
    let out = support::eventflux()
        .arg("check")
        .arg(&path)
        .output()
        .expect("run eventflux check");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn nats_options_are_checked() {
    let good = r#"
CREATE STREAM Orders (id LONG, qty INT)
  WITH (type = 'source', extension = 'nats', "nats.url" = '${NATS_URL:-nats://127.0.0.1:4222}',
        "nats.stream" = 'ORDERS', "nats.subject" = 'orders.*', "nats.consumer" = 'ef',
        "nats.ack.wait" = '30 s', "nats.max.ack.pending" = '5000');
CREATE STREAM Big (id LONG, qty INT)
  WITH (type = 'sink', extension = 'nats', "nats.subject" = 'big', "nats.stream" = 'BIG');
INSERT INTO Big SELECT id, qty FROM Orders WHERE qty > 10;
"#;
    let (ok, err) = check(good, "nats-good");
    assert!(ok, "{err}");
    let cases = [
        (
            r#""nats.url" = 'http://x:4222'"#,
            "is not a nats:// or tls:// URL",
        ),
        (r#""nats.consumer" = 'e.f'"#, "cannot contain"),
        (r#""nats.max.ack.pending" = '0'"#, "at least 1"),
        (r#""nats.ack.wait" = 'soon'"#, "is not a duration"),
        (r#""nats.bogus" = '1'"#, "nats.bogus"),
    ];
    for (option, expected) in cases {
        let app = format!(
            "CREATE STREAM Orders (id LONG) WITH (type = 'source', extension = 'nats', \
             \"nats.stream\" = 'S', \"nats.subject\" = 's', {option});\n\
             INSERT INTO Out SELECT id FROM Orders;\n"
        );
        let (ok, err) = check(&app, "nats-bad");
        assert!(!ok && err.contains(expected), "{option}: {err}");
    }
    let missing = "CREATE STREAM Orders (id LONG) WITH (type = 'source', extension = 'nats', \
                   \"nats.subject\" = 's');\nINSERT INTO Out SELECT id FROM Orders;\n";
    let (ok, err) = check(missing, "nats-missing");
    assert!(!ok && err.contains("nats.stream"), "{err}");
    let wildcard = "CREATE STREAM Out (id LONG) WITH (type = 'sink', extension = 'nats', \
                    \"nats.subject\" = 'out.>');\nCREATE STREAM In (id LONG);\n\
                    INSERT INTO Out SELECT id FROM In;\n";
    let (ok, err) = check(wildcard, "nats-wildcard");
    assert!(!ok && err.contains("no wildcards"), "{err}");
}

#[test]
fn postgres_options_are_checked() {
    let (ok, err) = check(POSTGRES_APP, "postgres-good");
    assert!(ok, "{err}");
    let cases = [
        (
            r#""postgres.url" = 'mysql://x/db', "postgres.table" = 't'"#,
            "is not a postgres:// URL",
        ),
        (
            r#""postgres.url" = 'postgres://x/db', "postgres.table" = 't; DROP'"#,
            "is not a table name",
        ),
        (r#""postgres.url" = 'postgres://x/db'"#, "postgres.table"),
    ];
    for (option, expected) in cases {
        let app = format!(
            "CREATE STREAM S (id LONG) WITH (type = 'sink', extension = 'postgres', {option});\n\
             CREATE STREAM T (id LONG);\nINSERT INTO S SELECT id FROM T;\n"
        );
        let (ok, err) = check(&app, "postgres-bad");
        assert!(!ok && err.contains(expected), "{option}: {err}");
    }
    let source = "CREATE STREAM S (id LONG) WITH (type = 'source', extension = 'postgres', \
                  \"postgres.url\" = 'postgres://x/db', \"postgres.table\" = 't');\n\
                  INSERT INTO O SELECT id FROM S;\n";
    let (ok, err) = check(source, "postgres-source");
    assert!(!ok && err.contains("cannot be a source"), "{err}");
}

#[test]
fn mqtt_options_are_checked() {
    let (ok, err) = check(MQTT_APP, "mqtt-good");
    assert!(ok, "{err}");
    let cases = [
        (
            "source",
            r#""mqtt.url" = 'http://x:1883'"#,
            "is not an mqtt://host:port URL",
        ),
        (
            "source",
            r#""mqtt.url" = 'mqtt://x:port'"#,
            "is not an mqtt://host:port URL",
        ),
        ("sink", r#""mqtt.topic" = 'a/#'"#, "no wildcards"),
        ("source", r#""mqtt.qos" = '2'"#, "mqtt.qos"),
    ];
    for (kind, option, expected) in cases {
        let app = format!(
            "CREATE STREAM S (id LONG) WITH (type = '{kind}', extension = 'mqtt', {option});\n\
             CREATE STREAM T (id LONG);\nINSERT INTO S SELECT id FROM T;\n"
        );
        let (ok, err) = check(&app, "mqtt-bad");
        assert!(!ok && err.contains(expected), "{option}: {err}");
    }
}

/// A minimal NATS client: requests with replies (JetStream's API and acknowledged
/// publishes).
struct Nats {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    /// This connection's reply subjects: `<inbox>.<n>` (tests run side by side, each with
    /// a connection of its own, and must not read each other's replies).
    inbox: String,
    next: u64,
}

impl Nats {
    fn connect(url: &str) -> Nats {
        let addr = url.trim_start_matches("nats://");
        let writer = TcpStream::connect(addr).expect("connect to nats");
        writer
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut reader = BufReader::new(writer.try_clone().expect("clone"));
        let mut info = String::new();
        reader.read_line(&mut info).expect("INFO");
        static CONNECTIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = CONNECTIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let inbox = format!("_T{}_{n}", std::process::id());
        let mut nats = Nats {
            writer,
            reader,
            inbox,
            next: 0,
        };
        let hello = format!(
            "CONNECT {{\"verbose\":false,\"headers\":true}}\r\nSUB {}.* 1\r\n",
            nats.inbox
        );
        nats.writer.write_all(hello.as_bytes()).expect("CONNECT");
        nats
    }

    fn request(&mut self, subject: &str, payload: &str) -> serde_json::Value {
        self.next += 1;
        let reply = format!("{}.{}", self.inbox, self.next);
        let head = format!("PUB {subject} {reply} {}\r\n", payload.len());
        self.writer
            .write_all(format!("{head}{payload}\r\n").as_bytes())
            .expect("PUB");
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).expect("read reply");
            if line.starts_with("PING") {
                self.writer.write_all(b"PONG\r\n").expect("PONG");
                continue;
            }
            let parts: Vec<&str> = line.split_whitespace().collect();
            if !(parts.first() == Some(&"MSG") || parts.first() == Some(&"HMSG")) {
                assert!(!line.starts_with("-ERR"), "nats: {line}");
                continue;
            }
            let len: usize = parts.last().and_then(|n| n.parse().ok()).expect("length");
            let mut body = vec![0u8; len + 2];
            self.reader.read_exact(&mut body).expect("body");
            if parts[0] == "MSG" && parts[1] == reply {
                body.truncate(len);
                return serde_json::from_slice(&body).expect("JSON reply");
            }
        }
    }

    fn create_stream(&mut self, name: &str, subject: &str) {
        let config = serde_json::json!({"name": name, "subjects": [subject]});
        let r = self.request(
            &format!("$JS.API.STREAM.CREATE.{name}"),
            &config.to_string(),
        );
        assert!(r.get("error").is_none(), "{r}");
    }

    fn publish(&mut self, subject: &str, payload: &str) {
        let ack = self.request(subject, payload);
        assert!(ack.get("seq").is_some(), "{ack}");
    }

    /// Messages in stream `name` (0 when it does not exist yet). Asked again when the
    /// server answers with another error (a busy JetStream API under load).
    fn count(&mut self, name: &str) -> u64 {
        let mut info = serde_json::Value::Null;
        for _ in 0..50 {
            info = self.request(&format!("$JS.API.STREAM.INFO.{name}"), "");
            if let Some(n) = info["state"]["messages"].as_u64() {
                return n;
            }
            if info["error"]["err_code"].as_u64() == Some(10059) {
                return 0;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("stream `{name}`: no stream info from the server: {info}");
    }

    /// The payloads of stream `name`, in order.
    fn contents(&mut self, name: &str) -> Vec<String> {
        let info = self.request(&format!("$JS.API.STREAM.INFO.{name}"), "");
        let first = info["state"]["first_seq"].as_u64().unwrap_or(1);
        let last = info["state"]["last_seq"].as_u64().unwrap_or(0);
        (first..=last)
            .map(|seq| {
                let m = self.request(
                    &format!("$JS.API.STREAM.MSG.GET.{name}"),
                    &format!("{{\"seq\":{seq}}}"),
                );
                let data = m["message"]["data"].as_str().unwrap_or_default();
                String::from_utf8(base64(data)).expect("UTF-8 payload")
            })
            .collect()
    }
}

fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let digits: Vec<u8> = text.bytes().filter(|&c| c != b'=').map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let mut n = 0u32;
        for (i, d) in chunk.iter().enumerate() {
            n |= u32::from(*d) << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

const NATS_APP: &str = r#"
CREATE STREAM Orders (id LONG, sym STRING, qty INT)
  WITH (type = 'source', extension = 'nats', "nats.url" = '${NATS_URL}',
        "nats.stream" = '${IN_STREAM}', "nats.subject" = '${IN_SUBJECT}');
CREATE STREAM Totals (sym STRING, total LONG, n LONG)
  WITH (type = 'sink', extension = 'nats', "nats.url" = '${NATS_URL}',
        "nats.subject" = '${OUT_SUBJECT}', "nats.stream" = '${OUT_STREAM}');
INSERT INTO Totals SELECT sym, sum(qty) AS total, count() AS n FROM Orders GROUP BY sym;
"#;

const EVENTS: u64 = 4000;

/// Run `tag`'s input stream holding `events` orders, and no state directory yet.
fn fresh_run(nats: &mut Nats, tag: &str, events: u64) {
    let _ = std::fs::remove_dir_all(dir().join(format!("state-{tag}")));
    nats.create_stream(&format!("IN_{tag}"), &format!("in.{tag}"));
    for i in 0..events {
        let event = format!(
            r#"{{"ts": {}, "data": {{"id": {i}, "sym": "S{}", "qty": {}}}}}"#,
            1000 + i,
            i % 7,
            i % 13
        );
        nats.publish(&format!("in.{tag}"), &event);
    }
}

/// Starts the binary on run `tag`'s subjects with its state directory.
fn start(bin: &Path, url: &str, tag: &str) -> Child {
    start_with(bin, url, tag, &[])
}

/// [`start`] with `extra` options.
fn start_with(bin: &Path, url: &str, tag: &str, extra: &[&str]) -> Child {
    Command::new(bin)
        .args(extra)
        .args(["--checkpoint-every", "50ms", "--state-dir"])
        .arg(dir().join(format!("state-{tag}")))
        .env("NATS_URL", url)
        .env("IN_STREAM", format!("IN_{tag}"))
        .env("IN_SUBJECT", format!("in.{tag}"))
        .env("OUT_STREAM", format!("OUT_{tag}"))
        .env("OUT_SUBJECT", format!("out.{tag}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the app")
}

/// Waits until stream `name` holds `n` messages, then a little more (nothing else may
/// come), and returns how long the first part took.
fn wait_for(nats: &mut Nats, name: &str, n: u64) -> Duration {
    let begun = Instant::now();
    while nats.count(name) < n {
        assert!(
            begun.elapsed() < Duration::from_secs(120),
            "{name}: {} of {n} messages",
            nats.count(name)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = begun.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    took
}

fn terminate(mut child: Child) -> String {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("wait");
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert!(status.success(), "exit {status}: {err}");
    err
}

/// The kill -9 contract with a JetStream source and sink: a run killed several times
/// mid-stream and restarted leaves the sink's stream exactly as an uninterrupted run does
/// (the source resumes from the checkpointed stream sequence, the sink's replays carry the
/// same Nats-Msg-Id and JetStream drops them).
#[test]
fn nats_kill_and_restart_equals_an_uninterrupted_run() {
    let Some(url) = server("EVENTFLUX_TEST_NATS", "nats_kill_and_restart") else {
        return;
    };
    let bin = build(NATS_APP, "nats-app");
    let mut nats = Nats::connect(&url);
    // A fresh tag per test run: streams are never reused.
    let run = std::process::id();
    let tags = [format!("R{run}"), format!("K{run}")];
    for tag in &tags {
        fresh_run(&mut nats, tag, EVENTS);
    }
    // The uninterrupted run.
    let child = start(&bin, &url, &tags[0]);
    let took = wait_for(&mut nats, &format!("OUT_{}", tags[0]), EVENTS);
    terminate(child);
    eprintln!(
        "nats: {EVENTS} events through a debug binary in {:.2} s",
        took.as_secs_f64()
    );
    let expected = nats.contents(&format!("OUT_{}", tags[0]));
    assert_eq!(expected.len() as u64, EVENTS);
    // Killed with SIGKILL at several moments, then run to the end.
    for pause in [150, 300, 250, 400] {
        let mut child = start(&bin, &url, &tags[1]);
        std::thread::sleep(Duration::from_millis(pause));
        child.kill().expect("kill -9");
        let _ = child.wait();
    }
    let child = start(&bin, &url, &tags[1]);
    wait_for(&mut nats, &format!("OUT_{}", tags[1]), EVENTS);
    let err = terminate(child);
    let got = nats.contents(&format!("OUT_{}", tags[1]));
    assert_eq!(got.len(), expected.len(), "{err}");
    assert!(got == expected, "the outputs differ");
    // Started again: everything was processed, nothing is sent again.
    let child = start(&bin, &url, &tags[1]);
    std::thread::sleep(Duration::from_millis(500));
    let err = terminate(child);
    assert!(err.contains(&format!("at sequence {EVENTS}")), "{err}");
    assert_eq!(nats.count(&format!("OUT_{}", tags[1])), EVENTS);
}

/// [`NATS_APP`] with its query inside a partition: on several workers each worker owns
/// some of the symbols and numbers its own sink messages.
const NATS_PARTITIONED_APP: &str = r#"
CREATE STREAM Orders (id LONG, sym STRING, qty INT)
  WITH (type = 'source', extension = 'nats', "nats.url" = '${NATS_URL}',
        "nats.stream" = '${IN_STREAM}', "nats.subject" = '${IN_SUBJECT}');
CREATE STREAM Totals (sym STRING, total LONG, n LONG)
  WITH (type = 'sink', extension = 'nats', "nats.url" = '${NATS_URL}',
        "nats.subject" = '${OUT_SUBJECT}', "nats.stream" = '${OUT_STREAM}');
PARTITION WITH (sym OF Orders)
BEGIN
    INSERT INTO Totals SELECT sym, sum(qty) AS total, count() AS n FROM Orders;
END;
"#;

/// The rows of each symbol in `payloads` (sink messages), in order.
fn per_symbol(payloads: &[String]) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for p in payloads {
        let v: serde_json::Value = serde_json::from_str(p).expect("JSON message");
        let sym = v["data"]["sym"].as_str().unwrap_or_default().to_string();
        out.entry(sym).or_default().push(v["data"].to_string());
    }
    out
}

/// The kill -9 contract on two workers: a JetStream source read by worker 0 and exchanged,
/// a JetStream sink numbered per worker. Killed several times and restarted, the sink's
/// stream holds exactly the rows of a single-worker run, per symbol in the same order.
#[test]
fn nats_on_two_workers_killed_and_restarted_equals_a_single_worker_run() {
    let Some(url) = server("EVENTFLUX_TEST_NATS", "nats_on_two_workers") else {
        return;
    };
    let bin = build(NATS_PARTITIONED_APP, "nats-partitioned-app");
    // Enough events that the kills below come mid-stream.
    let events = 5 * EVENTS;
    let mut nats = Nats::connect(&url);
    let run = std::process::id();
    let tags = [format!("W1{run}"), format!("W2{run}")];
    for tag in &tags {
        fresh_run(&mut nats, tag, events);
    }
    let (expected, got, err) =
        one_worker_then_two_killed(&mut nats, &bin, &url, &tags, events, &[60, 120, 180, 250]);
    assert_eq!(got.len(), expected.len(), "{err}");
    assert!(
        per_symbol(&got) == per_symbol(&expected),
        "the rows of a symbol differ: {err}"
    );
    // Started again: everything was processed and acknowledged, nothing is sent again.
    let child = start_with(&bin, &url, &tags[1], &["--workers", "2"]);
    std::thread::sleep(Duration::from_millis(700));
    terminate(child);
    assert_eq!(nats.count(&format!("OUT_{}", tags[1])), events);
}

/// Runs `bin` on run `tags[0]` on one worker to the end (the rows expected), then on run
/// `tags[1]` on two workers, killed with SIGKILL after each of `pauses` (ms; at least one
/// kill mid-stream) and run to the end, until no more rows come. Returns the rows of both
/// and the last run's stderr (which restored a checkpoint).
fn one_worker_then_two_killed(
    nats: &mut Nats,
    bin: &Path,
    url: &str,
    tags: &[String; 2],
    events: u64,
    pauses: &[u64],
) -> (Vec<String>, Vec<String>, String) {
    let start_on = |tag: &str, workers: &str| start_with(bin, url, tag, &["--workers", workers]);
    let out = |tag: &str| format!("OUT_{tag}");
    let child = start_on(&tags[0], "1");
    wait_for(nats, &out(&tags[0]), events);
    terminate(child);
    let expected = nats.contents(&out(&tags[0]));
    assert_eq!(expected.len() as u64, events);
    let mut counts = Vec::new();
    for &pause in pauses {
        let mut child = start_on(&tags[1], "2");
        std::thread::sleep(Duration::from_millis(pause));
        child.kill().expect("kill -9");
        let _ = child.wait();
        counts.push(nats.count(&out(&tags[1])));
    }
    assert!(
        counts.iter().any(|&n| n < events),
        "no kill came before the end: {counts:?}"
    );
    let child = start_on(&tags[1], "2");
    wait_for(nats, &out(&tags[1]), events);
    // Rows replayed by a sink that delivers at least once count too: until no more come.
    let mut last = 0;
    while nats.count(&out(&tags[1])) != last {
        last = nats.count(&out(&tags[1]));
        std::thread::sleep(Duration::from_millis(1000));
    }
    let err = terminate(child);
    assert!(err.contains("restored checkpoint"), "{err}");
    (expected, nats.contents(&out(&tags[1])), err)
}

/// [`NATS_PARTITIONED_APP`] reading two partitions, subjects `<IN_SUBJECT>.0` and `.1`.
const NATS_SPLIT_APP: &str = r#"
CREATE STREAM Orders (id LONG, sym STRING, qty INT)
  WITH (type = 'source', extension = 'nats', "nats.url" = '${NATS_URL}',
        "nats.stream" = '${IN_STREAM}', "nats.subject" = '${IN_SUBJECT}',
        "nats.partitions" = '2');
CREATE STREAM Totals (sym STRING, total LONG, n LONG)
  WITH (type = 'sink', extension = 'nats', "nats.url" = '${NATS_URL}',
        "nats.subject" = '${OUT_SUBJECT}', "nats.stream" = '${OUT_STREAM}');
PARTITION WITH (sym OF Orders)
BEGIN
    INSERT INTO Totals SELECT sym, sum(qty) AS total, count() AS n FROM Orders;
END;
"#;

/// DESIGN 11: a partitioned NATS source is split across workers by index. Each worker
/// reads one subject and cuts every checkpoint itself; killed several times, the sink's
/// stream holds every row of a single-worker run, per symbol in the same order (a symbol's
/// orders are on one subject). The sink delivers at least once here (a replay may merge
/// the subjects in another order, so it numbers its messages anew at each start:
/// docs/scale-out.md): a row may come twice, never out of its symbol's order, none is lost.
#[test]
fn nats_partitions_split_across_workers_killed_and_restarted_equal_a_single_worker_run() {
    let Some(url) = server("EVENTFLUX_TEST_NATS", "nats_partitions_split") else {
        return;
    };
    let bin = build(NATS_SPLIT_APP, "nats-split-app");
    let events = 5 * EVENTS;
    let mut nats = Nats::connect(&url);
    let run = std::process::id();
    let tags = [format!("P1{run}"), format!("P2{run}")];
    for tag in &tags {
        let _ = std::fs::remove_dir_all(dir().join(format!("state-{tag}")));
        nats.create_stream(&format!("IN_{tag}"), &format!("in.{tag}.*"));
        for i in 0..events {
            let event = format!(
                r#"{{"ts": {}, "data": {{"id": {i}, "sym": "S{}", "qty": {}}}}}"#,
                1000 + i,
                i % 7,
                i % 13
            );
            nats.publish(&format!("in.{tag}.{}", i % 7 % 2), &event);
        }
    }
    let (expected, got, err) =
        one_worker_then_two_killed(&mut nats, &bin, &url, &tags, events, &[60, 150, 200, 250]);
    assert!(
        err.contains("worker 1 reads nats source `Orders`: partition 1"),
        "{err}"
    );
    // Each symbol's rows, a replayed row kept where it first came.
    let mut firsts = per_symbol(&got);
    for rows in firsts.values_mut() {
        let mut seen = std::collections::HashSet::new();
        rows.retain(|r| seen.insert(r.clone()));
    }
    assert!(
        firsts == per_symbol(&expected),
        "the rows of a symbol differ: {err}"
    );
    // Started again: every partition was processed and acknowledged, nothing is sent again.
    let child = start_with(&bin, &url, &tags[1], &["--workers", "2"]);
    std::thread::sleep(Duration::from_millis(700));
    terminate(child);
    assert_eq!(nats.count(&format!("OUT_{}", tags[1])), got.len() as u64);
}

/// A partitioned NATS source over two processes (one worker each, on loopback): each
/// process reads its own subject and sends the rows of its keys to the sink; together
/// every symbol's running totals come once, in order.
#[test]
fn nats_partitions_split_across_two_processes_each_read_their_own_subject() {
    let Some(url) = server("EVENTFLUX_TEST_NATS", "nats_partitions_two_processes") else {
        return;
    };
    let bin = build(NATS_SPLIT_APP, "nats-split-processes-app");
    let events = EVENTS;
    let mut nats = Nats::connect(&url);
    let tag = format!("Q{}", std::process::id());
    let _ = std::fs::remove_dir_all(dir().join(format!("state-{tag}")));
    nats.create_stream(&format!("IN_{tag}"), &format!("in.{tag}.*"));
    let mut expected: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut sums: std::collections::BTreeMap<String, (i64, i64)> = Default::default();
    for i in 0..events {
        let sym = format!("S{}", i % 7);
        let event = format!(
            r#"{{"ts": {}, "data": {{"id": {i}, "sym": "{sym}", "qty": {}}}}}"#,
            1000 + i,
            i % 13
        );
        nats.publish(&format!("in.{tag}.{}", i % 7 % 2), &event);
        let (total, n) = sums.entry(sym.clone()).or_default();
        *total += (i % 13) as i64;
        *n += 1;
        let row = serde_json::json!({"sym": sym, "total": *total, "n": *n});
        expected.entry(sym).or_default().push(row.to_string());
    }
    let hosts_dir = dir().join(format!("hosts-{tag}"));
    std::fs::create_dir_all(&hosts_dir).expect("hosts dir");
    let hosts = support::hosts_file(&hosts_dir, 2);
    let children: Vec<Child> = (0..2)
        .map(|p| {
            let mut cmd = Command::new(&bin);
            support::as_process(&mut cmd, &hosts, 2, p);
            cmd.args(["--checkpoint-every", "50ms", "--state-dir"])
                .arg(dir().join(format!("state-{tag}")))
                .env("NATS_URL", &url)
                .env("IN_STREAM", format!("IN_{tag}"))
                .env("IN_SUBJECT", format!("in.{tag}"))
                .env("OUT_STREAM", format!("OUT_{tag}"))
                .env("OUT_SUBJECT", format!("out.{tag}"))
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start a process")
        })
        .collect();
    wait_for(&mut nats, &format!("OUT_{tag}"), events);
    let errs: Vec<String> = children.into_iter().map(terminate).collect();
    assert!(
        errs[1].contains("worker 1 reads nats source `Orders`: partition 1"),
        "{}",
        errs[1]
    );
    assert!(!errs[0].contains("partition 1"), "{}", errs[0]);
    let got = nats.contents(&format!("OUT_{tag}"));
    assert_eq!(got.len() as u64, events, "{errs:?}");
    assert!(per_symbol(&got) == expected, "the rows of a symbol differ");
}

/// A minimal MQTT 3.1.1 client: QoS 1 publishes and a QoS 1 subscription.
struct Mqtt {
    stream: TcpStream,
    next: u16,
}

fn mqtt_packet(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    let mut len = body.len();
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if len == 0 {
            break;
        }
    }
    out.extend_from_slice(body);
    out
}

fn mqtt_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

impl Mqtt {
    fn connect(url: &str, client_id: &str) -> Mqtt {
        let addr = url.trim_start_matches("mqtt://");
        let stream = TcpStream::connect(addr).expect("connect to mqtt");
        let mut body = Vec::new();
        mqtt_str(&mut body, "MQTT");
        body.extend_from_slice(&[4, 0x02, 0, 60]);
        mqtt_str(&mut body, client_id);
        let mut m = Mqtt { stream, next: 0 };
        m.stream
            .write_all(&mqtt_packet(0x10, &body))
            .expect("CONNECT");
        let (kind, _) = m.read();
        assert_eq!(kind >> 4, 2, "CONNACK");
        m
    }

    fn read(&mut self) -> (u8, Vec<u8>) {
        let mut head = [0u8; 1];
        self.stream.read_exact(&mut head).expect("packet");
        let (mut len, mut shift) = (0usize, 0);
        loop {
            let mut b = [0u8; 1];
            self.stream.read_exact(&mut b).expect("length");
            len |= usize::from(b[0] & 0x7f) << shift;
            shift += 7;
            if b[0] & 0x80 == 0 {
                break;
            }
        }
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body).expect("body");
        (head[0], body)
    }

    /// Publishes every payload with QoS 1 and waits for all acknowledgements.
    fn publish_all(&mut self, topic: &str, payloads: &[String]) {
        for chunk in payloads.chunks(100) {
            for p in chunk {
                self.next = self.next % 60000 + 1;
                let mut body = Vec::new();
                mqtt_str(&mut body, topic);
                body.extend_from_slice(&self.next.to_be_bytes());
                body.extend_from_slice(p.as_bytes());
                self.stream
                    .write_all(&mqtt_packet(0x32, &body))
                    .expect("PUBLISH");
            }
            for _ in chunk {
                let (kind, _) = self.read();
                assert_eq!(kind >> 4, 4, "PUBACK");
            }
        }
    }

    /// Subscribes `topic` (QoS 1) on a thread that sends each payload on.
    fn subscribe(mut self, topic: &str) -> std::sync::mpsc::Receiver<String> {
        let mut body = vec![0, 1];
        mqtt_str(&mut body, topic);
        body.push(1);
        self.stream
            .write_all(&mqtt_packet(0x82, &body))
            .expect("SUBSCRIBE");
        let (kind, _) = self.read();
        assert_eq!(kind >> 4, 9, "SUBACK");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || loop {
            let (kind, body) = self.read();
            if kind >> 4 != 3 {
                continue;
            }
            let tlen = usize::from(u16::from_be_bytes([body[0], body[1]]));
            let mut at = 2 + tlen;
            if (kind >> 1) & 3 > 0 {
                let ack = mqtt_packet(0x40, &body[at..at + 2]);
                at += 2;
                if self.stream.write_all(&ack).is_err() {
                    return;
                }
            }
            let text = String::from_utf8_lossy(&body[at..]).into_owned();
            if tx.send(text).is_err() {
                return;
            }
        });
        rx
    }
}

const MQTT_APP: &str = r#"
CREATE STREAM Orders (id LONG, sym STRING, qty INT)
  WITH (type = 'source', extension = 'mqtt', "mqtt.url" = '${MQTT_URL}',
        "mqtt.topic" = '${IN_TOPIC}', "mqtt.client.id" = '${CLIENT_ID}');
CREATE STREAM Big (id LONG, qty INT)
  WITH (type = 'sink', extension = 'mqtt', "mqtt.url" = '${MQTT_URL}', "mqtt.topic" = '${OUT_TOPIC}');
INSERT INTO Big SELECT id, qty FROM Orders;
"#;

fn start_mqtt(bin: &Path, url: &str, tag: &str) -> Child {
    start_mqtt_every(bin, url, tag, "50ms")
}

fn start_mqtt_every(bin: &Path, url: &str, tag: &str, every: &str) -> Child {
    Command::new(bin)
        .args(["--checkpoint-every", every, "--state-dir"])
        .arg(dir().join(format!("state-{tag}")))
        .env("MQTT_URL", url)
        .env("IN_TOPIC", format!("in/{tag}"))
        .env("OUT_TOPIC", format!("out/{tag}"))
        .env("CLIENT_ID", format!("ef-{tag}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the app")
}

/// QoS 1 in and out, at-least-once: a run killed with SIGKILL while messages arrive and
/// restarted (same persistent session) loses none of them; duplicates are allowed.
#[test]
fn mqtt_kill_and_restart_loses_nothing() {
    let Some(url) = server("EVENTFLUX_TEST_MQTT", "mqtt_kill_and_restart") else {
        return;
    };
    let bin = build(MQTT_APP, "mqtt-app");
    let tag = format!("m{}", std::process::id());
    let _ = std::fs::remove_dir_all(dir().join(format!("state-{tag}")));
    let out = Mqtt::connect(&url, &format!("reader-{tag}")).subscribe(&format!("out/{tag}"));
    let events = 4000u64;
    let payloads: Vec<String> = (0..events)
        .map(|i| {
            format!(
                r#"{{"ts": {}, "data": {{"id": {i}, "sym": "S", "qty": {}}}}}"#,
                1000 + i,
                i % 13
            )
        })
        .collect();
    // The first run subscribes (the persistent session then keeps what arrives).
    let child = start_mqtt(&bin, &url, &tag);
    let begun = Instant::now();
    let mut seen = std::collections::BTreeMap::<u64, u32>::new();
    let mut publisher = Mqtt::connect(&url, &format!("writer-{tag}"));
    std::thread::sleep(Duration::from_millis(500));
    publisher.publish_all(&format!("in/{tag}"), &payloads[..1000]);
    let took = Instant::now();
    let collect = |seen: &mut std::collections::BTreeMap<u64, u32>, until: u64, limit: Duration| {
        let start = Instant::now();
        while (seen.len() as u64) < until && start.elapsed() < limit {
            if let Ok(line) = out.recv_timeout(Duration::from_millis(100)) {
                let v: serde_json::Value = serde_json::from_str(&line).expect("JSON");
                *seen
                    .entry(v["data"]["id"].as_u64().expect("id"))
                    .or_default() += 1;
            }
        }
    };
    collect(&mut seen, 1000, Duration::from_secs(60));
    eprintln!(
        "mqtt: 1000 events through a debug binary in {:.2} s (started {:.2} s before)",
        took.elapsed().as_secs_f64(),
        begun.elapsed().as_secs_f64()
    );
    let mut child = child;
    // Killed while the rest arrives, several times.
    let feeder = {
        let url = url.clone();
        let tag = tag.clone();
        let rest = payloads[1000..].to_vec();
        std::thread::spawn(move || {
            let mut p = Mqtt::connect(&url, &format!("writer2-{tag}"));
            for chunk in rest.chunks(500) {
                p.publish_all(&format!("in/{tag}"), chunk);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    for pause in [200, 350, 250] {
        std::thread::sleep(Duration::from_millis(pause));
        child.kill().expect("kill -9");
        let _ = child.wait();
        child = start_mqtt(&bin, &url, &tag);
    }
    feeder.join().expect("feeder");
    collect(&mut seen, events, Duration::from_secs(60));
    terminate(child);
    let missing: Vec<u64> = (0..events).filter(|i| !seen.contains_key(i)).collect();
    assert!(
        missing.is_empty(),
        "lost {} events, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let repeated = seen.values().filter(|&&n| n > 1).count();
    eprintln!("mqtt: {repeated} of {events} events delivered more than once");
}

/// A clean stop (SIGTERM) with only the final checkpoint: the source stops after it and
/// acknowledges everything it covers, so a restart gets nothing again.
#[test]
fn mqtt_clean_stop_acknowledges_everything() {
    let Some(url) = server("EVENTFLUX_TEST_MQTT", "mqtt_clean_stop") else {
        return;
    };
    let bin = build(MQTT_APP, "mqtt-app-stop");
    let tag = format!("ms{}", std::process::id());
    let _ = std::fs::remove_dir_all(dir().join(format!("state-{tag}")));
    let out = Mqtt::connect(&url, &format!("reader-{tag}")).subscribe(&format!("out/{tag}"));
    let payloads: Vec<String> = (0..500)
        .map(|i| {
            format!(
                r#"{{"ts": {}, "data": {{"id": {i}, "sym": "S", "qty": 1}}}}"#,
                1000 + i
            )
        })
        .collect();
    let child = start_mqtt_every(&bin, &url, &tag, "1h");
    std::thread::sleep(Duration::from_millis(500));
    Mqtt::connect(&url, &format!("writer-{tag}")).publish_all(&format!("in/{tag}"), &payloads);
    let begun = Instant::now();
    let mut got = 0;
    while got < payloads.len() && begun.elapsed() < Duration::from_secs(60) {
        got += usize::from(out.recv_timeout(Duration::from_millis(100)).is_ok());
    }
    assert_eq!(got, payloads.len());
    terminate(child);
    let child = start_mqtt_every(&bin, &url, &tag, "1h");
    std::thread::sleep(Duration::from_millis(1500));
    terminate(child);
    let again = out.try_iter().count();
    assert_eq!(again, 0, "events redelivered after a clean stop");
}

/// `psql` against the test server: the rows, one per line, fields separated by `|`.
fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-Atq", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const POSTGRES_APP: &str = r#"
CREATE STREAM Orders (id LONG, sym STRING, qty INT);
CREATE STREAM Totals (sym STRING, total LONG, n LONG)
  WITH (type = 'sink', extension = 'postgres', "postgres.url" = '${PG_URL}', "postgres.table" = '${PG_TABLE}');
INSERT INTO Totals SELECT sym, sum(qty) AS total, count() AS n FROM Orders GROUP BY sym;
"#;

fn run_postgres(bin: &Path, url: &str, table: &str, input: &Path) -> Child {
    Command::new(bin)
        .arg("--input")
        .arg(input)
        .args([
            "--output",
            "/dev/null",
            "--checkpoint-every",
            "20ms",
            "--state-dir",
        ])
        .arg(dir().join(format!("state-{table}")))
        .env("PG_URL", url)
        .env("PG_TABLE", table)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the app")
}

/// The kill -9 contract with a PostgreSQL sink: rows are committed with the sink's progress
/// once per checkpoint, so a run killed several times and restarted leaves the table as an
/// uninterrupted run does.
#[test]
fn postgres_kill_and_restart_equals_an_uninterrupted_run() {
    let Some(url) = server("EVENTFLUX_TEST_POSTGRES", "postgres_kill_and_restart") else {
        return;
    };
    let bin = build(POSTGRES_APP, "postgres-app");
    let input = dir().join("postgres-input.jsonl");
    let events = 20_000u64;
    let lines: String = (0..events)
        .map(|i| {
            format!(
                "{{\"stream\": \"Orders\", \"ts\": {}, \"data\": {{\"id\": {i}, \"sym\": \"S{}\", \"qty\": {}}}}}\n",
                1000 + i,
                i % 7,
                i % 13
            )
        })
        .collect();
    std::fs::write(&input, lines).expect("write input");
    let run = std::process::id();
    let tables = [format!("totals_r{run}"), format!("totals_k{run}")];
    for t in &tables {
        let _ = std::fs::remove_dir_all(dir().join(format!("state-{t}")));
        psql(
            &url,
            &format!("CREATE TABLE {t} (sym TEXT, total BIGINT, n BIGINT)"),
        );
    }
    let begun = Instant::now();
    let err = terminate_at_end(run_postgres(&bin, &url, &tables[0], &input));
    eprintln!(
        "postgres: {events} events through a debug binary in {:.2} s",
        begun.elapsed().as_secs_f64()
    );
    let query = |t: &str| psql(&url, &format!("SELECT * FROM {t} ORDER BY sym, n"));
    let expected = query(&tables[0]);
    assert_eq!(expected.lines().count() as u64, events, "{err}");
    for pause in [100, 250, 50, 300] {
        let mut child = run_postgres(&bin, &url, &tables[1], &input);
        std::thread::sleep(Duration::from_millis(pause));
        let _ = child.kill();
        let _ = child.wait();
    }
    let err = terminate_at_end(run_postgres(&bin, &url, &tables[1], &input));
    let got = query(&tables[1]);
    assert_eq!(got.lines().count(), expected.lines().count(), "{err}");
    assert!(got == expected, "the tables differ");
    let progress = psql(
        &url,
        &format!(
            "SELECT lines FROM eventflux_sink_progress WHERE sink = '{}:Totals'",
            tables[1]
        ),
    );
    assert_eq!(progress.trim(), events.to_string());
}

/// Waits for a run over a file to end by itself (exit 0).
fn terminate_at_end(mut child: Child) -> String {
    let status = child.wait().expect("wait");
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert!(status.success(), "exit {status}: {err}");
    err
}

/// Waits until a server the test started accepts connections on `port`.
fn wait_listening(port: u16, what: &str) {
    let begun = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            begun.elapsed() < Duration::from_secs(10),
            "{what} did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `nats-server -js` of the test's own on a free port (so it can be stopped and started
/// again), keeping its streams in `store`.
fn own_nats_server(port: u16, store: &Path) -> Child {
    let child = Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nats-server");
    wait_listening(port, "nats-server");
    child
}

/// Messages the broker returns (no queue bound to the routing key yet) fail their
/// pipelined confirmations; under `on.error = 'wait'` the sink publishes what was not
/// confirmed again until a queue takes it, and the run ends only once everything was
/// confirmed.
#[test]
fn rabbitmq_sink_publishes_returned_messages_again() {
    let Some((url, api)) = rabbitmq_server("rabbitmq_sink_returned") else {
        return;
    };
    let app = r#"
CREATE STREAM In (id LONG, sym STRING, qty INT);
CREATE STREAM Out (id LONG, qty INT)
  WITH (type = 'sink', extension = 'rabbitmq', "rabbitmq.url" = '${AMQP_URL}',
        "rabbitmq.routing.key" = '${OUT_QUEUE}', "retry.backoff" = '20 ms');
INSERT INTO Out SELECT id, qty FROM In;
"#;
    let bin = build(app, "rabbitmq-returned");
    let input = dir().join("rabbitmq-returned.jsonl");
    let lines: String = rabbitmq_payloads(0..3000)
        .iter()
        .map(|p| p.replacen('{', "{\"stream\": \"In\", ", 1) + "\n")
        .collect();
    std::fs::write(&input, lines).expect("write input");
    let queue = format!("out-returned-{}", std::process::id());
    let mut child = Command::new(&bin)
        .arg("--input")
        .arg(&input)
        .env("AMQP_URL", &url)
        .env("OUT_QUEUE", &queue)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the app");
    // The first failure is reported on stderr; the queue is declared only after it.
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut err = String::new();
    while !err.contains("retrying") {
        let mut line = String::new();
        if stderr.read_line(&mut line).expect("read stderr") == 0 {
            break;
        }
        err.push_str(&line);
    }
    assert!(err.contains("a message was returned"), "{err}");
    api.declare(&queue);
    let mut rest = String::new();
    let _ = stderr.read_to_string(&mut rest);
    let status = child.wait().expect("wait");
    err.push_str(&rest);
    assert!(status.success(), "exit {status}: {err}");
    assert!(err.contains("delivered again"), "{err}");
    let mut seen = std::collections::BTreeMap::<u64, u32>::new();
    api.collect(&queue, &mut seen, 3000, Duration::from_secs(60));
    let missing: Vec<u64> = (0..3000).filter(|i| !seen.contains_key(i)).collect();
    assert!(
        missing.is_empty(),
        "lost {:?}: {err}",
        &missing[..missing.len().min(5)]
    );
}

/// A dead and restarted server: the source and the sink reconnect and nothing is lost or
/// repeated (every event's output arrives once, in order).
#[test]
fn nats_server_restart_loses_nothing() {
    if server("EVENTFLUX_TEST_NATS", "nats_server_restart").is_none() {
        return;
    }
    // Its own copy of the binary: the other test may be running `nats-app` meanwhile.
    let bin = build(NATS_APP, "nats-app-restart");
    let port = support::free_port();
    let store = dir().join(format!("nats-store-{port}"));
    let _ = std::fs::remove_dir_all(&store);
    let url = format!("nats://127.0.0.1:{port}");
    let mut server = own_nats_server(port, &store);
    let tag = "RESTART";
    let _ = std::fs::remove_dir_all(dir().join(format!("state-{tag}")));
    let mut nats = Nats::connect(&url);
    nats.create_stream(&format!("IN_{tag}"), &format!("in.{tag}"));
    let publish = |nats: &mut Nats, range: std::ops::Range<u64>| {
        for i in range {
            let event = format!(
                r#"{{"ts": {}, "data": {{"id": {i}, "sym": "S{}", "qty": {}}}}}"#,
                1000 + i,
                i % 7,
                i % 13
            );
            nats.publish(&format!("in.{tag}"), &event);
        }
    };
    let app = start(&bin, &url, tag);
    publish(&mut nats, 0..1000);
    wait_for(&mut nats, &format!("OUT_{tag}"), 1000);
    let _ = server.kill();
    let _ = server.wait();
    std::thread::sleep(Duration::from_millis(1500));
    let mut server = own_nats_server(port, &store);
    let mut nats = Nats::connect(&url);
    publish(&mut nats, 1000..2000);
    wait_for(&mut nats, &format!("OUT_{tag}"), 2000);
    let err = terminate(app);
    let got = nats.contents(&format!("OUT_{tag}"));
    let ts: Vec<u64> = got
        .iter()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("JSON");
            v["ts"].as_u64().expect("ts")
        })
        .collect();
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&store);
    assert_eq!(ts, (1000..3000).collect::<Vec<u64>>(), "{err}");
}

/// The RabbitMQ management API (plain HTTP/1.0, as the `guest` user): declares queues,
/// publishes the input and takes the output, independently of the connectors under test.
struct RabbitApi {
    addr: String,
}

impl RabbitApi {
    /// `addr` is `host:port` of the management listener.
    fn new(addr: &str) -> RabbitApi {
        RabbitApi {
            addr: addr.trim_start_matches("http://").to_string(),
        }
    }

    /// (status, body) of one request; `None` when the API cannot be reached.
    fn try_call(&self, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
        let mut s = TcpStream::connect(&self.addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
        let request = format!(
            "{method} {path} HTTP/1.0\r\nHost: {}\r\nAuthorization: Basic Z3Vlc3Q6Z3Vlc3Q=\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        s.write_all(request.as_bytes()).ok()?;
        let mut response = String::new();
        s.read_to_string(&mut response).ok()?;
        let status = response.split_whitespace().nth(1)?.parse().ok()?;
        let body = response.split_once("\r\n\r\n")?.1.to_string();
        Some((status, body))
    }

    fn call(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        self.try_call(method, path, body)
            .unwrap_or_else(|| panic!("rabbitmq management API at {}: no answer", self.addr))
    }

    /// Declares a durable queue.
    fn declare(&self, queue: &str) {
        let (status, body) = self.call(
            "PUT",
            &format!("/api/queues/%2f/{queue}"),
            r#"{"durable": true}"#,
        );
        assert!(
            status == 201 || status == 204,
            "declare {queue}: {status} {body}"
        );
    }

    /// Publishes each payload (persistent) to `queue` through the default exchange.
    fn publish(&self, queue: &str, payloads: &[String]) {
        for p in payloads {
            let body = serde_json::json!({
                "properties": {"delivery_mode": 2},
                "routing_key": queue,
                "payload": p,
                "payload_encoding": "string",
            });
            let (status, reply) = self.call(
                "POST",
                "/api/exchanges/%2f/amq.default/publish",
                &body.to_string(),
            );
            assert!(
                status == 200 && reply.contains("\"routed\":true"),
                "publish: {status} {reply}"
            );
        }
    }

    /// Takes (acknowledges) up to `max` messages waiting in `queue`.
    fn take(&self, queue: &str, max: usize) -> Vec<String> {
        let body =
            format!(r#"{{"count": {max}, "ackmode": "ack_requeue_false", "encoding": "auto"}}"#);
        let (status, reply) = self.call("POST", &format!("/api/queues/%2f/{queue}/get"), &body);
        assert_eq!(status, 200, "get {queue}: {reply}");
        let messages: Vec<serde_json::Value> = serde_json::from_str(&reply).expect("JSON");
        messages
            .iter()
            .map(|m| m["payload"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Takes messages from `queue` until `seen` (id -> times) holds every id below `until`
    /// or `limit` passed; checks each message's fields.
    fn collect(
        &self,
        queue: &str,
        seen: &mut std::collections::BTreeMap<u64, u32>,
        until: u64,
        limit: Duration,
    ) {
        let start = Instant::now();
        while (seen.len() as u64) < until && start.elapsed() < limit {
            let got = self.take(queue, 5000);
            if got.is_empty() {
                std::thread::sleep(Duration::from_millis(50));
            }
            for line in got {
                let v: serde_json::Value = serde_json::from_str(&line).expect("JSON");
                let id = v["data"]["id"].as_u64().expect("id");
                assert_eq!(v["data"]["qty"].as_u64(), Some(id % 13), "{line}");
                assert_eq!(v["ts"].as_u64(), Some(1000 + id), "{line}");
                *seen.entry(id).or_default() += 1;
            }
        }
    }
}

const RABBITMQ_APP: &str = r#"
CREATE STREAM Orders (id LONG, sym STRING, qty INT)
  WITH (type = 'source', extension = 'rabbitmq', "rabbitmq.url" = '${AMQP_URL}',
        "rabbitmq.queue" = '${IN_QUEUE}', "rabbitmq.prefetch" = '2000');
CREATE STREAM Big (id LONG, qty INT)
  WITH (type = 'sink', extension = 'rabbitmq', "rabbitmq.url" = '${AMQP_URL}',
        "rabbitmq.routing.key" = '${OUT_QUEUE}');
INSERT INTO Big SELECT id, qty FROM Orders;
"#;

fn rabbitmq_payloads(range: std::ops::Range<u64>) -> Vec<String> {
    range
        .map(|i| {
            format!(
                r#"{{"ts": {}, "data": {{"id": {i}, "sym": "S{}", "qty": {}}}}}"#,
                1000 + i,
                i % 7,
                i % 13
            )
        })
        .collect()
}

fn start_rabbitmq(bin: &Path, url: &str, tag: &str) -> Child {
    start_rabbitmq_every(bin, url, tag, "50ms")
}

fn start_rabbitmq_every(bin: &Path, url: &str, tag: &str, every: &str) -> Child {
    Command::new(bin)
        .args(["--checkpoint-every", every, "--state-dir"])
        .arg(dir().join(format!("state-{tag}")))
        .env("AMQP_URL", url)
        .env("IN_QUEUE", format!("in-{tag}"))
        .env("OUT_QUEUE", format!("out-{tag}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the app")
}

/// The shared server's AMQP URL and management API, or `None` (skip) outside CI.
fn rabbitmq_server(test: &str) -> Option<(String, RabbitApi)> {
    let url = server("EVENTFLUX_TEST_RABBITMQ", test)?;
    let api = std::env::var("EVENTFLUX_TEST_RABBITMQ_API")
        .expect("EVENTFLUX_TEST_RABBITMQ_API is set with EVENTFLUX_TEST_RABBITMQ");
    Some((url, RabbitApi::new(&api)))
}

#[test]
fn rabbitmq_options_are_checked() {
    let (ok, err) = check(RABBITMQ_APP, "rabbitmq-good");
    assert!(ok, "{err}");
    let cases = [
        (
            "source",
            r#""rabbitmq.queue" = 'q', "rabbitmq.url" = 'http://x:5672'"#,
            "is not an amqp://host:port/vhost URL",
        ),
        (
            "source",
            r#""rabbitmq.queue" = 'q', "rabbitmq.url" = 'amqp://u:secret@x:port/%2f'"#,
            "amqp://u:***@x:port/%2f",
        ),
        (
            "source",
            r#""rabbitmq.queue" = 'q', "rabbitmq.prefetch" = '0'"#,
            "from 1 to 65535",
        ),
        ("source", r#""rabbitmq.queue" = ' '"#, "is empty"),
        ("source", r#""rabbitmq.url" = 'amqp://x'"#, "rabbitmq.queue"),
        (
            "sink",
            r#""rabbitmq.exchange" = 'x'"#,
            "rabbitmq.routing.key",
        ),
        (
            "sink",
            r#""rabbitmq.routing.key" = 'k', "rabbitmq.queue" = 'q'"#,
            "rabbitmq.queue",
        ),
    ];
    for (kind, option, expected) in cases {
        let app = format!(
            "CREATE STREAM S (id LONG) WITH (type = '{kind}', extension = 'rabbitmq', {option});\n\
             CREATE STREAM T (id LONG);\nINSERT INTO S SELECT id FROM T;\n"
        );
        let (ok, err) = check(&app, "rabbitmq-bad");
        assert!(!ok && err.contains(expected), "{option}: {err}");
    }
}

/// A round trip (queue -> app -> queue, every event once and intact), then at-least-once
/// across kill -9: the app killed several times while messages arrive and restarted loses
/// none of them (unacknowledged messages are requeued; duplicates are allowed).
#[test]
fn rabbitmq_round_trip_and_kill_loses_nothing() {
    let Some((url, api)) = rabbitmq_server("rabbitmq_round_trip_and_kill") else {
        return;
    };
    let bin = build(RABBITMQ_APP, "rabbitmq-app");
    let tag = format!("rk{}", std::process::id());
    let _ = std::fs::remove_dir_all(dir().join(format!("state-{tag}")));
    let (input, output) = (format!("in-{tag}"), format!("out-{tag}"));
    api.declare(&input);
    api.declare(&output);
    let events = 3000u64;
    api.publish(&input, &rabbitmq_payloads(0..1000));
    let child = start_rabbitmq(&bin, &url, &tag);
    let begun = Instant::now();
    let mut seen = std::collections::BTreeMap::<u64, u32>::new();
    api.collect(&output, &mut seen, 1000, Duration::from_secs(60));
    eprintln!(
        "rabbitmq: 1000 events through a debug binary in {:.2} s (with its start)",
        begun.elapsed().as_secs_f64()
    );
    assert_eq!(seen.len(), 1000);
    assert!(
        seen.values().all(|&n| n == 1),
        "an uninterrupted run repeats nothing"
    );
    let mut child = child;
    let feeder = {
        let addr = api.addr.clone();
        let input = input.clone();
        std::thread::spawn(move || {
            let api = RabbitApi::new(&addr);
            for chunk in rabbitmq_payloads(1000..events).chunks(250) {
                api.publish(&input, chunk);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    for pause in [200, 350, 250, 400] {
        std::thread::sleep(Duration::from_millis(pause));
        child.kill().expect("kill -9");
        let _ = child.wait();
        child = start_rabbitmq(&bin, &url, &tag);
    }
    feeder.join().expect("feeder");
    api.collect(&output, &mut seen, events, Duration::from_secs(60));
    let err = terminate(child);
    let missing: Vec<u64> = (0..events).filter(|i| !seen.contains_key(i)).collect();
    assert!(
        missing.is_empty(),
        "lost {} events, e.g. {:?}: {err}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let repeated = seen.values().filter(|&&n| n > 1).count();
    eprintln!("rabbitmq: {repeated} of {events} events delivered more than once");
}

/// A clean stop (SIGTERM) with only the final checkpoint: the source stops after it and
/// acknowledges everything it covers, so a restart gets nothing again.
#[test]
fn rabbitmq_clean_stop_acknowledges_everything() {
    let Some((url, api)) = rabbitmq_server("rabbitmq_clean_stop") else {
        return;
    };
    let bin = build(RABBITMQ_APP, "rabbitmq-app-stop");
    let tag = format!("rs{}", std::process::id());
    let _ = std::fs::remove_dir_all(dir().join(format!("state-{tag}")));
    let (input, output) = (format!("in-{tag}"), format!("out-{tag}"));
    api.declare(&input);
    api.declare(&output);
    api.publish(&input, &rabbitmq_payloads(0..500));
    let child = start_rabbitmq_every(&bin, &url, &tag, "1h");
    let mut seen = std::collections::BTreeMap::<u64, u32>::new();
    api.collect(&output, &mut seen, 500, Duration::from_secs(60));
    assert_eq!(seen.len(), 500);
    terminate(child);
    let child = start_rabbitmq_every(&bin, &url, &tag, "1h");
    std::thread::sleep(Duration::from_millis(1500));
    terminate(child);
    let again = api.take(&output, 5000);
    assert!(
        again.is_empty(),
        "{} event(s) repeated after a clean stop",
        again.len()
    );
}

/// A RabbitMQ node of the test's own (so it can be killed and started again): its own
/// epmd, ports and database directory. Dropping it stops both.
struct RabbitServer {
    epmd: Child,
    node: Option<Child>,
    dir: PathBuf,
    env: Vec<(String, String)>,
}

impl RabbitServer {
    /// Starts a node; returns it with its AMQP URL and management API.
    fn start(dir: &Path) -> (RabbitServer, String, RabbitApi) {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).expect("server dir");
        let [amqp, api, dist, epmd] = [
            support::free_port(),
            support::free_port(),
            support::free_port(),
            support::free_port(),
        ];
        std::fs::write(dir.join("enabled_plugins"), "[rabbitmq_management].\n").expect("plugins");
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!(
                "listeners.tcp.default = 127.0.0.1:{amqp}\nmanagement.tcp.ip = 127.0.0.1\n\
                 management.tcp.port = {api}\n"
            ),
        )
        .expect("config");
        let d = |name: &str| dir.join(name).display().to_string();
        let env: Vec<(String, String)> = [
            ("HOME", d("")),
            ("RABBITMQ_NODENAME", format!("ef{amqp}@localhost")),
            ("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1".to_string()),
            ("RABBITMQ_NODE_PORT", amqp.to_string()),
            ("RABBITMQ_DIST_PORT", dist.to_string()),
            ("ERL_EPMD_PORT", epmd.to_string()),
            ("RABBITMQ_MNESIA_BASE", d("mnesia")),
            ("RABBITMQ_LOG_BASE", d("log")),
            ("RABBITMQ_ENABLED_PLUGINS_FILE", d("enabled_plugins")),
            ("RABBITMQ_CONFIG_FILE", d("rabbitmq")),
            ("RABBITMQ_PID_FILE", d("pid")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let epmd = Command::new("epmd")
            .args(["-port", &epmd.to_string(), "-address", "127.0.0.1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start epmd");
        let mut server = RabbitServer {
            epmd,
            node: None,
            dir: dir.to_path_buf(),
            env,
        };
        server.boot();
        let api = RabbitApi::new(&format!("127.0.0.1:{api}"));
        server.wait_ready(&api);
        (
            server,
            format!("amqp://guest:guest@127.0.0.1:{amqp}/%2f"),
            api,
        )
    }

    fn boot(&mut self) {
        let node = Command::new("/usr/lib/rabbitmq/bin/rabbitmq-server")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start rabbitmq-server");
        self.node = Some(node);
    }

    fn wait_ready(&self, api: &RabbitApi) {
        let begun = Instant::now();
        while api
            .try_call("GET", "/api/overview", "")
            .is_none_or(|(status, _)| status != 200)
        {
            assert!(
                begun.elapsed() < Duration::from_secs(60),
                "rabbitmq-server did not start (see {})",
                self.dir.join("log").display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the node (SIGKILL to its Erlang VM and its start script).
    fn kill(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("pid")) {
            let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
        }
        if let Some(mut node) = self.node.take() {
            let _ = node.kill();
            let _ = node.wait();
        }
        let _ = std::fs::remove_file(self.dir.join("pid"));
    }
}

impl Drop for RabbitServer {
    fn drop(&mut self) {
        self.kill();
        let _ = self.epmd.kill();
        let _ = self.epmd.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A dead and restarted server: the source and the sink reconnect and nothing is lost
/// (messages confirmed before the crash are kept on disk; what was delivered but not
/// acknowledged is delivered again).
#[test]
fn rabbitmq_server_restart_loses_nothing() {
    if rabbitmq_server("rabbitmq_server_restart").is_none() {
        return;
    }
    let bin = build(RABBITMQ_APP, "rabbitmq-app-restart");
    let (mut server, url, api) = RabbitServer::start(&dir().join("rabbitmq-own"));
    let tag = "rrestart";
    let _ = std::fs::remove_dir_all(dir().join(format!("state-{tag}")));
    let (input, output) = (format!("in-{tag}"), format!("out-{tag}"));
    api.declare(&input);
    api.declare(&output);
    let app = start_rabbitmq(&bin, &url, tag);
    api.publish(&input, &rabbitmq_payloads(0..1000));
    let mut seen = std::collections::BTreeMap::<u64, u32>::new();
    api.collect(&output, &mut seen, 1000, Duration::from_secs(60));
    server.kill();
    std::thread::sleep(Duration::from_millis(1500));
    server.boot();
    server.wait_ready(&api);
    api.publish(&input, &rabbitmq_payloads(1000..2000));
    api.collect(&output, &mut seen, 2000, Duration::from_secs(90));
    let err = terminate(app);
    let missing: Vec<u64> = (0..2000).filter(|i| !seen.contains_key(i)).collect();
    assert!(
        missing.is_empty(),
        "lost {} events, e.g. {:?}: {err}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(err.contains("reconnecting"), "{err}");
}

const KAFKA_APP: &str = r#"
CREATE STREAM Orders (id LONG, sym STRING, qty INT)
  WITH (type = 'source', extension = 'kafka', "kafka.bootstrap.servers" = '${KAFKA_SERVERS}',
        "kafka.topic" = '${IN_TOPIC}', "kafka.group.id" = '${GROUP}');
CREATE STREAM Totals (sym STRING, total LONG, n LONG)
  WITH (type = 'sink', extension = 'kafka', "kafka.bootstrap.servers" = '${KAFKA_SERVERS}',
        "kafka.topic" = '${OUT_TOPIC}');
INSERT INTO Totals SELECT sym, sum(qty) AS total, count() AS n FROM Orders GROUP BY sym;
"#;

#[test]
fn kafka_options_are_checked() {
    let (ok, err) = check(KAFKA_APP, "kafka-good");
    assert!(ok, "{err}");
    let cases = [
        (
            "source",
            r#""kafka.topic" = 't', "kafka.bootstrap.servers" = 'localhost'"#,
            "is not a list of host:port",
        ),
        (
            "source",
            r#""kafka.topic" = 'a b'"#,
            "is not a Kafka topic name",
        ),
        (
            "sink",
            r#""kafka.topic" = 't', "kafka.partition" = '-1'"#,
            "partition number",
        ),
        (
            "source",
            r#""kafka.topic" = 't', "kafka.partition" = '1'"#,
            "kafka.partition",
        ),
        (
            "sink",
            r#""kafka.bootstrap.servers" = 'k:9092'"#,
            "kafka.topic",
        ),
        (
            "sink",
            r#""kafka.topic" = 't', "kafka.message.timeout.ms" = '5'"#,
            "must be 10 to 2147483647 milliseconds",
        ),
        (
            "source",
            r#""kafka.topic" = 't', "kafka.message.timeout.ms" = '1000'"#,
            "kafka.message.timeout.ms",
        ),
    ];
    for (kind, option, expected) in cases {
        let app = format!(
            "CREATE STREAM S (id LONG) WITH (type = '{kind}', extension = 'kafka', {option});\n\
             CREATE STREAM T (id LONG);\nINSERT INTO S SELECT id FROM T;\n"
        );
        let (ok, err) = check(&app, "kafka-bad");
        assert!(!ok && err.contains(expected), "{option}: {err}");
    }
}

const KAFKA_FAULT_APP: &str = r#"
CREATE STREAM In (id LONG, qty INT)
  WITH (type = 'source', extension = 'tcp', "tcp.port" = '0');
CREATE STREAM Out (id LONG, qty INT)
  WITH (type = 'sink', extension = 'kafka', "kafka.bootstrap.servers" = '127.0.0.1:${EF_TEST_DEAD_PORT}',
        "kafka.topic" = 'out', "kafka.message.timeout.ms" = '1000', "on.error" = 'fault');
INSERT INTO Out SELECT id, qty FROM In;
CREATE STREAM !Out WITH (type = 'sink', extension = 'file', "file.path" = '${EF_TEST_FAULTS}');
"#;

/// A kafka sink whose broker is dead (nothing listens on its port) with
/// `'on.error' = 'fault'` and `"kafka.message.timeout.ms"` of one second: librdkafka gives
/// the messages up after that second and the rows reach the dead-letter file of `!Out`,
/// with librdkafka's reason in `_error`.
#[test]
fn undeliverable_rows_of_a_kafka_sink_go_to_its_fault_stream() {
    let bin = build(KAFKA_FAULT_APP, "kafka-fault-app");
    let (text, _) = support::faults::undeliverable(&bin, &dir().join("kafka-faults.jsonl"), 2);
    support::faults::assert_dead_letters(&text, "!Out");
    let got: Vec<(i64, i64)> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON line"))
        .map(|v| {
            (
                v["ts"].as_i64().unwrap_or(-1),
                v["data"]["qty"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(got, vec![(1000, 5), (2000, 50)], "{text}");
    assert!(
        text.lines().all(|l| l.contains("timed out")),
        "librdkafka's reason: {text}"
    );
}

/// librdkafka's mock cluster in this process (no Kafka server package exists here): the
/// standalone binaries reach it through its bootstrap servers.
struct Kafka {
    cluster: rdkafka::mocking::MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
    servers: String,
}

impl Kafka {
    fn start() -> Kafka {
        let cluster = rdkafka::mocking::MockCluster::new(1).expect("mock cluster");
        let servers = cluster.bootstrap_servers();
        Kafka { cluster, servers }
    }

    /// Produces `events` orders to `topic`, keyed by symbol (so each symbol's orders stay
    /// in one partition, in order).
    fn produce(&self, topic: &str, events: std::ops::Range<u64>) {
        kafka_produce(&self.servers, topic, events);
    }
}

/// Produces `events` orders to `topic` at `servers` (see [`Kafka::produce`]).
fn kafka_produce(servers: &str, topic: &str, events: std::ops::Range<u64>) {
    {
        use rdkafka::producer::{BaseRecord, Producer};
        let producer: rdkafka::producer::BaseProducer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", servers)
            .create()
            .expect("producer");
        for i in events {
            let sym = format!("S{}", i % 7);
            let payload = format!(
                r#"{{"ts": {}, "data": {{"id": {i}, "sym": "{sym}", "qty": {}}}}}"#,
                1000 + i,
                i % 13
            );
            let mut record = BaseRecord::to(topic).key(&sym).payload(&payload);
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((_, back)) => {
                        record = back;
                        producer.poll(Duration::from_millis(10));
                    }
                }
            }
        }
        producer.flush(Duration::from_secs(30)).expect("flush");
    }
}

impl Kafka {
    /// Messages in partition 0 of `topic`.
    fn count(&self, topic: &str) -> i64 {
        use rdkafka::consumer::Consumer;
        let consumer: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &self.servers)
            .create()
            .expect("consumer");
        consumer
            .fetch_watermarks(topic, 0, Duration::from_secs(10))
            .map_or(0, |(low, high)| high - low)
    }

    /// The payloads of partition 0 of `topic`, in order.
    fn contents(&self, topic: &str) -> Vec<String> {
        use rdkafka::consumer::Consumer;
        use rdkafka::Message;
        let n = self.count(topic);
        let consumer: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &self.servers)
            .set("group.id", "test-reader")
            .create()
            .expect("consumer");
        let mut list = rdkafka::TopicPartitionList::new();
        list.add_partition_offset(topic, 0, rdkafka::Offset::Beginning)
            .expect("partition");
        consumer.assign(&list).expect("assign");
        let mut out = Vec::new();
        let begun = Instant::now();
        while (out.len() as i64) < n && begun.elapsed() < Duration::from_secs(60) {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
            }
        }
        out
    }

    /// The `Totals` rows in partition 0 of `topic` as (symbol, total, count), sorted by
    /// symbol and count (compare with [`kafka_totals`]).
    fn totals(&self, topic: &str) -> Vec<(String, i64, i64)> {
        let mut rows: Vec<(String, i64, i64)> = self
            .contents(topic)
            .iter()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
                let d = &v["data"];
                (
                    d["sym"].as_str().unwrap_or_default().to_string(),
                    d["total"].as_i64().unwrap_or(-1),
                    d["n"].as_i64().unwrap_or(-1),
                )
            })
            .collect();
        rows.sort_by(|a, b| (&a.0, a.2).cmp(&(&b.0, b.2)));
        rows
    }

    /// Waits until partition 0 of `topic` holds `n` messages, then a little more.
    fn wait_for(&self, topic: &str, n: i64) -> Duration {
        let begun = Instant::now();
        while self.count(topic) < n {
            assert!(
                begun.elapsed() < Duration::from_secs(120),
                "{topic}: {} of {n} messages",
                self.count(topic)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let took = begun.elapsed();
        std::thread::sleep(Duration::from_millis(500));
        took
    }
}

fn start_kafka(bin: &Path, servers: &str, tag: &str) -> Child {
    start_kafka_with(bin, servers, tag, &[])
}

/// [`start_kafka`] with `extra` options.
fn start_kafka_with(bin: &Path, servers: &str, tag: &str, extra: &[&str]) -> Child {
    Command::new(bin)
        .args(extra)
        .args(["--checkpoint-every", "50ms", "--state-dir"])
        .arg(dir().join(format!("state-kafka-{tag}")))
        .env("KAFKA_SERVERS", servers)
        .env("IN_TOPIC", format!("in-{tag}"))
        .env("OUT_TOPIC", format!("out-{tag}"))
        .env("GROUP", format!("group-{tag}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the app")
}

/// The kill -9 contract with a Kafka source (3 partitions, a consumer group) and sink: a
/// run killed several times mid-stream and restarted leaves the output topic exactly as an
/// uninterrupted run does (the source resumes from its checkpointed offsets, the sink skips
/// the replayed lines the topic holds already, matching them by their bytes because the
/// three input partitions come back in another interleaving after a restart).
#[test]
fn kafka_kill_and_restart_equals_an_uninterrupted_run() {
    let kafka = Kafka::start();
    let bin = build(KAFKA_APP, "kafka-app");
    let events = 4000u64;
    let tags = ["r", "k"];
    for tag in tags {
        let _ = std::fs::remove_dir_all(dir().join(format!("state-kafka-{tag}")));
        kafka
            .cluster
            .create_topic(&format!("in-{tag}"), 3, 1)
            .expect("topic");
        kafka
            .cluster
            .create_topic(&format!("out-{tag}"), 1, 1)
            .expect("topic");
    }
    kafka.produce("in-r", 0..events);
    let child = start_kafka(&bin, &kafka.servers, tags[0]);
    let took = kafka.wait_for("out-r", events as i64);
    terminate(child);
    eprintln!(
        "kafka: {events} events through a debug binary in {:.2} s",
        took.as_secs_f64()
    );
    let mut expected = kafka.contents("out-r");
    assert_eq!(expected.len() as u64, events);
    // The input arrives over time; the binary is killed with SIGKILL once the output reached
    // each mark (mid-stream), then run to the end.
    let feeder = {
        let servers = kafka.servers.clone();
        std::thread::spawn(move || {
            for start in (0..events).step_by(250) {
                kafka_produce(&servers, "in-k", start..(start + 250).min(events));
                std::thread::sleep(Duration::from_millis(300));
            }
        })
    };
    for mark in [300i64, 1200, 2500] {
        let mut child = start_kafka(&bin, &kafka.servers, tags[1]);
        let begun = Instant::now();
        while kafka.count("out-k") < mark && begun.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(10));
        }
        child.kill().expect("kill -9");
        let _ = child.wait();
        eprintln!(
            "kafka: killed at {} of {events} output lines",
            kafka.count("out-k")
        );
    }
    feeder.join().expect("feeder");
    let child = start_kafka(&bin, &kafka.servers, tags[1]);
    kafka.wait_for("out-k", events as i64);
    let err = terminate(child);
    eprintln!("kafka: the last run's stderr:\n{err}");
    let mut got = kafka.contents("out-k");
    // Partitions interleave differently from run to run; each symbol's lines are in order.
    let by_sym = |lines: &mut Vec<String>| {
        lines.sort_by_key(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
            (
                v["data"]["sym"].as_str().unwrap_or_default().to_string(),
                v["data"]["n"].as_u64().unwrap_or(0),
            )
        });
    };
    by_sym(&mut expected);
    by_sym(&mut got);
    assert_eq!(got.len(), expected.len(), "{err}");
    assert!(got == expected, "the outputs differ");
}

/// [`KAFKA_APP`] with its query inside a partition, so that it runs on several workers.
const KAFKA_PARTITIONED_APP: &str = r#"
CREATE STREAM Orders (id LONG, sym STRING, qty INT)
  WITH (type = 'source', extension = 'kafka', "kafka.bootstrap.servers" = '${KAFKA_SERVERS}',
        "kafka.topic" = '${IN_TOPIC}', "kafka.group.id" = '${GROUP}');
CREATE STREAM Totals (sym STRING, total LONG, n LONG)
  WITH (type = 'sink', extension = 'kafka', "kafka.bootstrap.servers" = '${KAFKA_SERVERS}',
        "kafka.topic" = '${OUT_TOPIC}');
PARTITION WITH (sym OF Orders)
BEGIN
    INSERT INTO Totals SELECT sym, sum(qty) AS total, count() AS n FROM Orders;
END;
"#;

/// DESIGN 11: a Kafka source's partitions are split across workers by index (3 partitions
/// over 2 workers). Fed over time and killed with SIGKILL several times, the output topic
/// ends holding exactly the rows of the running totals, each once (the sink matches replayed
/// lines by their bytes).
#[test]
fn kafka_partitions_split_across_workers_killed_and_restarted_lose_and_repeat_nothing() {
    let kafka = Kafka::start();
    let bin = build(KAFKA_PARTITIONED_APP, "kafka-split-app");
    let events = 4000u64;
    let tag = "split";
    let _ = std::fs::remove_dir_all(dir().join(format!("state-kafka-{tag}")));
    for topic in ["in", "out"] {
        let partitions = if topic == "in" { 3 } else { 1 };
        kafka
            .cluster
            .create_topic(&format!("{topic}-{tag}"), partitions, 1)
            .expect("topic");
    }
    let feeder = {
        let servers = kafka.servers.clone();
        std::thread::spawn(move || {
            for start in (0..events).step_by(250) {
                kafka_produce(&servers, "in-split", start..(start + 250).min(events));
                std::thread::sleep(Duration::from_millis(300));
            }
        })
    };
    let start = || start_kafka_with(&bin, &kafka.servers, tag, &["--workers", "2"]);
    for mark in [300i64, 1200, 2500] {
        let mut child = start();
        let begun = Instant::now();
        while kafka.count("out-split") < mark && begun.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(10));
        }
        child.kill().expect("kill -9");
        let _ = child.wait();
    }
    feeder.join().expect("feeder");
    let child = start();
    kafka.wait_for("out-split", events as i64);
    let err = terminate(child);
    assert!(err.contains("restored checkpoint"), "{err}");
    assert!(
        err.contains("worker 1 reads kafka source `Orders`"),
        "{err}"
    );
    let got = kafka.totals("out-split");
    let expected = kafka_totals(events);
    assert_eq!(got.len(), expected.len(), "{err}");
    assert!(got == expected, "the rows differ: {err}");
}

/// The running totals `Totals` must hold for orders `0..events` (see [`kafka_produce`]),
/// sorted by symbol and count.
fn kafka_totals(events: u64) -> Vec<(String, i64, i64)> {
    let mut sums: std::collections::BTreeMap<String, (i64, i64)> = Default::default();
    let mut rows = Vec::new();
    for i in 0..events {
        let sym = format!("S{}", i % 7);
        let (total, n) = sums.entry(sym.clone()).or_default();
        *total += i64::try_from(i % 13).expect("small");
        *n += 1;
        rows.push((sym, *total, *n));
    }
    rows.sort_by(|a, b| (&a.0, a.2).cmp(&(&b.0, b.2)));
    rows
}

/// A broker that goes down mid-run and comes back: the source and the sink reconnect and
/// nothing is lost or repeated (the sink waits, `on.error` `wait`, while the broker is away).
#[test]
fn kafka_broker_down_and_back_loses_nothing() {
    let kafka = Kafka::start();
    let bin = build(KAFKA_APP, "kafka-app");
    let tag = "down";
    let _ = std::fs::remove_dir_all(dir().join(format!("state-kafka-{tag}")));
    kafka
        .cluster
        .create_topic(&format!("in-{tag}"), 3, 1)
        .expect("topic");
    kafka
        .cluster
        .create_topic(&format!("out-{tag}"), 1, 1)
        .expect("topic");
    kafka.produce("in-down", 0..2000);
    let child = start_kafka(&bin, &kafka.servers, tag);
    // Down as soon as output arrives: mid-stream if the app is not done with the first half.
    kafka.wait_for("out-down", 1);
    kafka.cluster.broker_down(1).expect("broker down");
    std::thread::sleep(Duration::from_secs(3));
    kafka.cluster.broker_up(1).expect("broker up");
    kafka.produce("in-down", 2000..4000);
    kafka.wait_for("out-down", 4000);
    let err = terminate(child);
    eprintln!("kafka: the app's stderr:\n{err}");
    let got = kafka.totals("out-down");
    assert_eq!(got.len(), 4000, "{err}");
    assert!(got == kafka_totals(4000), "the totals differ: {err}");
}

/// Throughput of a release binary from a Kafka topic (3 partitions) through the totals
/// query to a Kafka topic, on librdkafka's mock cluster (in this process): a measurement
/// for BENCHMARKS.md, not a check. Run it on a quiet machine with
/// `cargo test --release -p eventflux-compiler --test brokers -- --ignored kafka_throughput --nocapture`.
#[test]
#[ignore = "a measurement: release build, 20,000 events"]
fn kafka_throughput() {
    let kafka = Kafka::start();
    let bin = support::build_with(&dir(), KAFKA_APP, "kafka-bench", &["build"]);
    let events = 20_000u64;
    for run in 0..3 {
        let tag = format!("bench{run}");
        let _ = std::fs::remove_dir_all(dir().join(format!("state-kafka-{tag}")));
        kafka
            .cluster
            .create_topic(&format!("in-{tag}"), 3, 1)
            .expect("topic");
        kafka
            .cluster
            .create_topic(&format!("out-{tag}"), 1, 1)
            .expect("topic");
        kafka.produce(&format!("in-{tag}"), 0..events);
        use rdkafka::consumer::Consumer;
        let watcher: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &kafka.servers)
            .create()
            .expect("consumer");
        let out = format!("out-{tag}");
        let count = || {
            watcher
                .fetch_watermarks(&out, 0, Duration::from_secs(10))
                .map_or(0, |(low, high)| high - low)
        };
        let begun = Instant::now();
        let child = start_kafka(&bin, &kafka.servers, &tag);
        let mut first = None;
        while count() < events as i64 {
            if first.is_none() && count() > 0 {
                first = Some(begun.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let took = begun.elapsed();
        terminate(child);
        let first = first.unwrap_or_default();
        eprintln!(
            "kafka run {run}: {events} events in {:.2} s from the binary's start ({:.0} events/s); \
             the first output after {:.2} s ({:.0} events/s after it)",
            took.as_secs_f64(),
            events as f64 / took.as_secs_f64(),
            first.as_secs_f64(),
            events as f64 / (took - first).as_secs_f64().max(1e-9),
        );
    }
}

/// A mosquitto of the test's own on `port` (persistence off: a restart forgets sessions).
fn own_mosquitto(port: u16, dir: &Path) -> Child {
    std::fs::create_dir_all(dir).expect("mosquitto dir");
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
             max_inflight_messages 0\nmax_queued_messages 0\n"
        ),
    )
    .expect("mosquitto.conf");
    let child = Command::new("mosquitto")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mosquitto");
    wait_listening(port, "mosquitto");
    child
}

/// A dead and restarted MQTT server (one that forgets sessions): the source reconnects and
/// subscribes again, the sink reconnects, and every event published after the restart comes
/// out (at least once).
#[test]
fn mqtt_server_restart_loses_nothing() {
    if server("EVENTFLUX_TEST_MQTT", "mqtt_server_restart").is_none() {
        return;
    }
    let bin = build(MQTT_APP, "mqtt-app-restart");
    let port = support::free_port();
    let home = dir().join(format!("mosquitto-{port}"));
    let url = format!("mqtt://127.0.0.1:{port}");
    let mut server = own_mosquitto(port, &home);
    let tag = format!("r{}", std::process::id());
    let _ = std::fs::remove_dir_all(dir().join(format!("state-{tag}")));
    let payloads: Vec<String> = (0..1000u64)
        .map(|i| {
            format!(
                r#"{{"ts": {}, "data": {{"id": {i}, "sym": "S", "qty": 1}}}}"#,
                1000 + i
            )
        })
        .collect();
    let ids = |out: &std::sync::mpsc::Receiver<String>, want: &std::ops::Range<u64>| {
        let mut seen = std::collections::BTreeSet::new();
        let begun = Instant::now();
        while !want.clone().all(|i| seen.contains(&i)) && begun.elapsed() < Duration::from_secs(60)
        {
            if let Ok(line) = out.recv_timeout(Duration::from_millis(100)) {
                let v: serde_json::Value = serde_json::from_str(&line).expect("JSON");
                seen.insert(v["data"]["id"].as_u64().expect("id"));
            }
        }
        want.clone().filter(|i| !seen.contains(i)).count()
    };
    let app = start_mqtt(&bin, &url, &tag);
    let out = Mqtt::connect(&url, &format!("reader-{tag}")).subscribe(&format!("out/{tag}"));
    std::thread::sleep(Duration::from_millis(500));
    Mqtt::connect(&url, &format!("writer-{tag}"))
        .publish_all(&format!("in/{tag}"), &payloads[..500]);
    assert_eq!(ids(&out, &(0..500)), 0, "events lost before the restart");
    let _ = server.kill();
    let _ = server.wait();
    std::thread::sleep(Duration::from_millis(1000));
    let mut server = own_mosquitto(port, &home);
    let out = Mqtt::connect(&url, &format!("reader2-{tag}")).subscribe(&format!("out/{tag}"));
    // The app reconnects with backoff and subscribes again before the rest is published.
    std::thread::sleep(Duration::from_millis(3000));
    Mqtt::connect(&url, &format!("writer2-{tag}"))
        .publish_all(&format!("in/{tag}"), &payloads[500..]);
    let lost = ids(&out, &(500..1000));
    let err = terminate(app);
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&home);
    assert_eq!(
        lost, 0,
        "events published after the restart were lost: {err}"
    );
}

//! `async` pipelines (DESIGN 8.2) end to end through a real standalone binary on 127.0.0.1:
//! `block` slows a TCP client when the app's sink peer does not read (bytes accepted stay
//! far below bytes offered, memory stays bounded, nothing is lost once the peer reads);
//! `drop` keeps the client going and counts the drops in /metrics; the input read by two
//! decoding workers gives exactly the synchronous result, bad lines reported at their
//! line numbers.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod support;

fn dir() -> PathBuf {
    support::temp_dir("pipeline-tests")
}

fn build(app: &str, name: &str) -> PathBuf {
    support::build_in(&dir(), app, name)
}

fn listening(line: &str, stream: &str) -> Option<SocketAddr> {
    let rest = line.strip_prefix(&format!("eventflux: tcp source `{stream}` listening on "))?;
    rest.trim().parse().ok()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// `n` JSON lines of events `first..first + n` (about 40 bytes each).
fn lines(first: u64, n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for i in first..first + n {
        writeln!(out, "{{\"id\": {i}, \"qty\": {}}}", i % 1000).expect("write");
    }
    out
}

/// Writes `data` until it is all written or the peer stops taking bytes for three write
/// timeouts in a row; returns the bytes written.
fn write_until_blocked(conn: &mut TcpStream, data: &[u8]) -> usize {
    conn.set_write_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let (mut at, mut stuck) = (0, 0);
    while at < data.len() && stuck < 3 {
        match conn.write(&data[at..(at + 64 * 1024).min(data.len())]) {
            Ok(n) => {
                at += n;
                stuck = 0;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => stuck += 1,
            Err(e) => panic!("write failed: {e}"),
        }
    }
    at
}

const APP: &str = r#"
CREATE STREAM Orders (id LONG, qty INT)
  WITH (type = 'source', extension = 'tcp', "tcp.port" = '0',
        async = 'true', buffer = '1000', backpressure = 'block', workers = '2', "batch.max" = '100');
@async(buffer.size = '50', workers = '1', batch.size.max = '10')
CREATE STREAM Fast (id LONG, qty INT)
  WITH (type = 'source', extension = 'tcp', "tcp.port" = '0', backpressure = 'drop');
CREATE STREAM Out (id LONG, qty INT)
  WITH (type = 'sink', extension = 'tcp', "tcp.port" = '${EF_TEST_PEER_PORT}');
INSERT INTO Out SELECT id, qty FROM Orders;
INSERT INTO Out SELECT id, qty FROM Fast;
"#;

/// The sink's peer does not read: the app's sink queue, the driver and the `block` queue of
/// Orders fill, the tcp source stops reading and the client's writes block. A client of the
/// `drop` stream Fast meanwhile writes everything (its events beyond the queue are dropped,
/// counted). Once the peer reads, every Orders event arrives, in order.
#[test]
fn block_slows_a_tcp_client_and_drop_counts_in_metrics() {
    let bin = build(APP, "pipeline_app");
    let peer = TcpListener::bind("127.0.0.1:0").expect("bind");
    let peer_port = peer.local_addr().expect("addr").port();
    let mut child = support::Killed(
        Command::new(&bin)
            .env("EF_TEST_PEER_PORT", peer_port.to_string())
            .args(["--metrics", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the binary"),
    );
    let pid = child.0.id();
    let err_rx = support::stderr_lines(&mut child.0);
    let (mut orders, mut fast, mut metrics) = (None, None, None);
    let mut log = Vec::new();
    while orders.is_none() || fast.is_none() || metrics.is_none() {
        let line = err_rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("the binary did not start: {log:?}"));
        orders = orders.or(listening(&line, "Orders"));
        fast = fast.or(listening(&line, "Fast"));
        if let Some(rest) = line.split("metrics at http://").nth(1) {
            metrics = rest
                .split('/')
                .next()
                .and_then(|a| a.parse::<SocketAddr>().ok());
        }
        log.push(line);
    }
    let (orders, fast, metrics) = (
        orders.expect("orders"),
        fast.expect("fast"),
        metrics.expect("metrics"),
    );
    // The sink's peer takes the connection (made at the first delivery) but reads nothing
    // until `go`; then it collects every Orders event.
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let total: u64 = 1_500_000; // ~ 40 MB
    let reader = std::thread::spawn(move || {
        let (peer_conn, _) = peer.accept().expect("the sink connects");
        let _ = go_rx.recv();
        let mut ids = Vec::new();
        for line in BufReader::new(peer_conn).lines().map_while(Result::ok) {
            let v: serde_json::Value = serde_json::from_str(&line).expect("JSON line");
            let id = v["data"]["id"].as_u64().expect("id");
            if id < 10_000_000 {
                ids.push(id);
                if ids.len() as u64 == total {
                    break;
                }
            }
        }
        ids
    });
    let data = lines(0, total);
    let mut client = TcpStream::connect(orders).expect("connect");
    let accepted = write_until_blocked(&mut client, &data);
    let rss = rss_kib(pid);
    assert!(
        accepted < data.len() / 2,
        "the source took {accepted} of {} bytes while nothing was delivered",
        data.len()
    );
    // Bounded memory: not the 40 MB offered (the debug binary itself takes some).
    assert!(rss < 200 * 1024, "RSS {rss} KiB");
    // `drop`: the Fast client is never held up, and the drops are counted.
    let fast_data = lines(10_000_000, 200_000);
    let mut fast_client = TcpStream::connect(fast).expect("connect");
    assert_eq!(
        write_until_blocked(&mut fast_client, &fast_data),
        fast_data.len()
    );
    drop(fast_client);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = support::metrics_text(metrics);
        let dropped = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("eventflux_dropped_events_total{stream=\"Fast\",reason=\"drop\"} ")
            })
            .and_then(|v| v.trim().parse::<u64>().ok());
        if dropped.is_some_and(|d| d > 0) {
            break;
        }
        assert!(Instant::now() < deadline, "no drops counted:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The peer reads now: everything of Orders arrives, in order; the client finishes.
    go_tx.send(()).expect("go");
    client.set_write_timeout(None).expect("no timeout any more");
    client.write_all(&data[accepted..]).expect("write the rest");
    drop(client);
    let ids = reader.join().expect("reader");
    assert_eq!(ids.len() as u64, total);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "out of order");
}

const FILE_APP: &str = r#"
CREATE STREAM Trades (id LONG, qty INT)
  WITH (type = 'source', extension = 'file', "file.path" = '${EF_TEST_IN}',
        async = 'true', workers = '2', buffer = '4096', "batch.max" = '256');
INSERT INTO Big SELECT id, qty FROM Trades WHERE qty >= 500;
"#;

/// Two decoding workers on the input: the output is that of the synchronous reader, in
/// order, bad lines reported with their line numbers and skipped.
#[test]
fn two_decoding_workers_keep_the_input_order() {
    let bin = build(FILE_APP, "pipeline_file_app");
    let input = dir().join("pipeline-input.jsonl");
    let mut text = String::new();
    let mut expected = Vec::new();
    let mut bad = Vec::new();
    for i in 0..300_000u64 {
        let line_no = i + 1;
        if i % 50_000 == 7 {
            text.push_str("{\"stream\": \"Trades\", \"data\": {\"id\": \"x\"}}\n");
            bad.push(line_no);
            continue;
        }
        let qty = (i * 7919) % 1000;
        text.push_str(&format!(
            "{{\"stream\": \"Trades\", \"ts\": {i}, \"data\": {{\"id\": {i}, \"qty\": {qty}}}}}\n"
        ));
        if qty >= 500 {
            expected.push(i);
        }
    }
    std::fs::write(&input, text).expect("write input");
    let out = Command::new(&bin)
        .env("EF_TEST_IN", &input)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let ids: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON line");
            v["data"]["id"].as_u64().expect("id")
        })
        .collect();
    assert_eq!(ids, expected);
    for line_no in bad {
        assert!(stderr.contains(&format!("line {line_no}:")), "{stderr}");
    }
}

const SINK_APP: &str = r#"
CREATE STREAM In (id LONG, qty INT)
  WITH (type = 'source', extension = 'tcp', "tcp.port" = '0');
CREATE STREAM Out (id LONG, qty INT)
  WITH (type = 'sink', extension = 'tcp', "tcp.port" = '${EF_TEST_PEER_PORT}',
        async = 'true', buffer = '1000', backpressure = 'block', "batch.max" = '100');
CREATE STREAM Lossy (id LONG, qty INT)
  WITH (type = 'sink', extension = 'tcp', "tcp.port" = '${EF_TEST_DEAD_PORT}', "on.error" = 'wait',
        async = 'true', buffer = '100', backpressure = 'drop');
INSERT INTO Out SELECT id, qty FROM In WHERE id < 10000000;
INSERT INTO Lossy SELECT id, qty FROM In WHERE id >= 10000000;
"#;

/// The `dropped_events_total` of `stream` for `reason` in a metrics exposition.
fn dropped(text: &str, stream: &str, reason: &str) -> Option<u64> {
    let prefix =
        format!("eventflux_dropped_events_total{{stream=\"{stream}\",reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.trim().parse().ok())
}

/// Pipelines on sink streams. `drop`: the sink of Lossy never delivers (nothing listens on
/// its port, `'wait'`), its queue fills and the rows beyond it are dropped and counted, while
/// the queries go on. `block`: the peer of Out does not read; Out's queue, the sink and the
/// driver fill, the queries wait, the tcp source stops reading and the client's writes
/// block (memory bounded); once the peer reads, every row arrives, in order.
#[test]
fn sink_pipelines_block_the_queries_or_drop_and_count() {
    let bin = build(SINK_APP, "sink_pipeline_app");
    let peer = TcpListener::bind("127.0.0.1:0").expect("bind");
    let peer_port = peer.local_addr().expect("addr").port();
    let dead_port = support::free_port();
    let mut child = support::Killed(
        Command::new(&bin)
            .env("EF_TEST_PEER_PORT", peer_port.to_string())
            .env("EF_TEST_DEAD_PORT", dead_port.to_string())
            .args(["--metrics", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the binary"),
    );
    let pid = child.0.id();
    let err_rx = support::stderr_lines(&mut child.0);
    let (mut input, mut metrics) = (None, None);
    let mut log = Vec::new();
    while input.is_none() || metrics.is_none() {
        let line = err_rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("the binary did not start: {log:?}"));
        input = input.or(listening(&line, "In"));
        if let Some(rest) = line.split("metrics at http://").nth(1) {
            metrics = rest
                .split('/')
                .next()
                .and_then(|a| a.parse::<SocketAddr>().ok());
        }
        log.push(line);
    }
    let (input, metrics) = (input.expect("input"), metrics.expect("metrics"));
    let mut client = TcpStream::connect(input).expect("connect");
    // `drop`: 50,000 rows for Lossy go through the queries without holding them up.
    let lossy = lines(10_000_000, 50_000);
    assert_eq!(write_until_blocked(&mut client, &lossy), lossy.len());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = support::metrics_text(metrics);
        if dropped(&text, "Lossy", "drop").is_some_and(|d| d > 0) {
            break;
        }
        assert!(Instant::now() < deadline, "no drops counted:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // `block`: the peer of Out takes the connection but reads nothing until `go`.
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let total: u64 = 1_500_000; // ~ 40 MB
    let reader = std::thread::spawn(move || {
        let (peer_conn, _) = peer.accept().expect("the sink connects");
        let _ = go_rx.recv();
        let mut ids = Vec::new();
        for line in BufReader::new(peer_conn).lines().map_while(Result::ok) {
            let v: serde_json::Value = serde_json::from_str(&line).expect("JSON line");
            ids.push(v["data"]["id"].as_u64().expect("id"));
            if ids.len() as u64 == total {
                break;
            }
        }
        ids
    });
    let data = lines(0, total);
    let accepted = write_until_blocked(&mut client, &data);
    let rss = rss_kib(pid);
    assert!(
        accepted < data.len() / 2,
        "the source took {accepted} of {} bytes while Out delivered nothing",
        data.len()
    );
    assert!(rss < 200 * 1024, "RSS {rss} KiB");
    go_tx.send(()).expect("go");
    client.set_write_timeout(None).expect("no timeout any more");
    client.write_all(&data[accepted..]).expect("write the rest");
    let ids = reader.join().expect("reader");
    assert_eq!(ids.len() as u64, total);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "out of order");
    // Nothing of Out was dropped.
    let text = support::metrics_text(metrics);
    assert_eq!(dropped(&text, "Out", "drop"), None, "{text}");
    drop(client);
}

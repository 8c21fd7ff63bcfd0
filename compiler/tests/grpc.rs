//! The app's gRPC service end to end (DESIGN 8.3): a standalone binary built with
//! `eventflux build --grpc` serves `Send` and `Subscribe` on a free port of 127.0.0.1, driven
//! by a client that Python's stock generator (grpcio-tools) made from `eventflux proto`'s
//! output; the rows it receives are those of the same app run on a file. Bad messages and
//! calls without the token are answered, counted and reported, never processed; the token
//! is never printed. Skipped with a message when grpcio-tools is not installed (`.ci/run`
//! installs it).

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::eventflux;
use support::Killed as Running;

const APP: &str = r#"
CREATE STREAM Trades (sym STRING, qty INT, price DOUBLE, note STRING);
CREATE STREAM Quotes (sym STRING, bid DOUBLE, live BOOL, size LONG NOT NULL, f FLOAT);
INSERT INTO Big SELECT sym, qty, price * qty AS value, note FROM Trades WHERE qty > 10;
INSERT INTO Totals SELECT sym, sum(qty) AS total, count() AS n FROM Trades WINDOW length(3) GROUP BY sym;
INSERT INTO Wide SELECT sym, bid, live, size, f FROM Quotes WHERE bid > 1.0;
"#;

const INPUT: &str = r#"{"stream":"Trades","ts":1,"data":{"sym":"A","qty":5,"price":2.5,"note":null}}
{"stream":"Trades","ts":2,"data":{"sym":"B","qty":20,"price":1.25,"note":"big \"one\""}}
{"stream":"Quotes","ts":3,"data":{"sym":"A","bid":0.5,"live":true,"size":1,"f":0.5}}
{"stream":"Quotes","ts":4,"data":{"sym":"B","bid":3.75,"live":false,"size":-9000000000,"f":-2.25}}
{"stream":"Trades","ts":5,"data":{"sym":"A","qty":-7,"price":-1.5,"note":"ünï"}}
{"stream":"Trades","ts":6,"data":{"sym":"A","qty":11,"price":0.1,"note":null}}
{"stream":"Quotes","ts":7,"data":{"sym":"C","bid":2.0,"live":null,"size":0,"f":null}}
{"stream":"Trades","ts":8,"data":{"sym":"B","qty":2147483647,"price":1e10,"note":""}}
"#;

/// The stock client: sends `input.jsonl` through `Send` (with the token when given) and
/// prints the reply, then the rows `Subscribe` streams as JSON lines like the app's own.
/// Before that: a call without the token (when one is wanted), a Subscribe naming an
/// unknown stream, and a `Send` of undecodable messages.
const CLIENT: &str = r#"
import json, sys
import grpc
import app_pb2 as pb
import app_pb2_grpc as rpc

port, expected, token = sys.argv[1], int(sys.argv[2]), sys.argv[3]
auth = [("authorization", "Bearer " + token)] if token else None
channel = grpc.insecure_channel("127.0.0.1:" + port)
grpc.channel_ready_future(channel).result(timeout=60)
stub = rpc.AppStub(channel)

if token:
    try:
        stub.Send(iter([pb.Event(ts=1, trades=pb.Trades(sym="X", qty=99))]))
        print("UNEXPECTED: a Send without the token was answered")
    except grpc.RpcError as e:
        print("refused:", e.code().name)
try:
    next(iter(stub.Subscribe(pb.SubscribeRequest(streams=["Nope"]), metadata=auth)))
except grpc.RpcError as e:
    print("subscribe:", e.code().name, e.details())

# Undecodable messages: raw bytes through the same method.
raw = channel.stream_unary("/eventflux.app.App/Send", request_serializer=lambda b: b,
                           response_deserializer=pb.SendReply.FromString)
reply = raw(iter([b"\xff", b"\x12\x03\x10\x01", bytes([0x12, 0x03, 0x12, 0x01, 0x78])]), metadata=auth)
print("bad send accepted:", reply.accepted)

subscription = stub.Subscribe(pb.SubscribeRequest(), metadata=auth, timeout=60)
subscription.initial_metadata()

def events():
    for line in open("input.jsonl"):
        e = json.loads(line)
        ev = pb.Event(ts=e["ts"])
        msg = getattr(pb, e["stream"])(**{k: v for k, v in e["data"].items() if v is not None})
        getattr(ev, e["stream"].lower()).CopyFrom(msg)
        yield ev

reply = stub.Send(events(), metadata=auth)
print("accepted:", reply.accepted)
rows = 0
for out in subscription:
    which = out.WhichOneof("event")
    msg = getattr(out, which)
    data = {}
    for f in msg.DESCRIPTOR.fields:
        data[f.name] = getattr(msg, f.name) if msg.HasField(f.name) else None
    kind = "expired" if out.kind == pb.Output.EXPIRED else "current"
    print("row:", json.dumps({"stream": type(msg).__name__, "ts": out.ts, "kind": kind, "data": data}))
    rows += 1
    if rows == expected:
        break
"#;

fn dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("grpc-tests");
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn has_grpc_tools() -> bool {
    let probe = Command::new("python3")
        .args(["-c", "import grpc_tools.protoc, grpc"])
        .output();
    probe.is_ok_and(|o| o.status.success())
}

/// Builds the app with its gRPC service and writes the Python stubs next to it (once for
/// every test of this file).
fn build() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(build_once).clone()
}

fn build_once() -> PathBuf {
    let bin = support::build_with(&dir(), APP, "app", &["build", "--debug", "--grpc"]);
    let app = dir().join("app.eventflux");
    let out = eventflux()
        .arg("proto")
        .arg(&app)
        .arg("-o")
        .arg(dir().join("app.proto"))
        .output()
        .expect("run eventflux proto");
    assert!(out.status.success());
    let out = Command::new("python3")
        .args(["-m", "grpc_tools.protoc", "-I."])
        .args(["--python_out=.", "--grpc_python_out=.", "app.proto"])
        .current_dir(dir())
        .output()
        .expect("run protoc");
    assert!(
        out.status.success(),
        "protoc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(dir().join("input.jsonl"), INPUT).expect("write input");
    bin
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn sigterm(pid: u32) {
    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
}

#[test]
fn a_stock_python_client_sends_and_subscribes() {
    if !has_grpc_tools() {
        eprintln!("skipped: python3 grpc_tools (grpcio-tools) is not installed");
        return;
    }
    let bin = build();
    // The same app on the file: the rows to expect.
    let out = Command::new(&bin)
        .arg("--input")
        .arg(dir().join("input.jsonl"))
        .output()
        .expect("run on the file");
    assert!(out.status.success());
    let expected = json_lines(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(expected.len(), 10, "{expected:?}");

    let token = "gr9c-t0ken-not-to-be-printed";
    let mut child = Running(
        Command::new(&bin)
            .args(["--grpc", "127.0.0.1:0", "--metrics", "127.0.0.1:0"])
            .env("EVENTFLUX_GRPC_TOKEN", token)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the binary"),
    );
    let err_rx = support::stderr_lines(&mut child.0);
    let mut log = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut addr, mut metrics): (Option<SocketAddr>, Option<SocketAddr>) = (None, None);
    while addr.is_none() || metrics.is_none() {
        let line = err_rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("the binary did not start its service: {log:?}"));
        addr = addr.or_else(|| {
            line.strip_prefix("eventflux: grpc service listening on ")
                .and_then(|a| a.trim().parse().ok())
        });
        metrics = metrics.or_else(|| {
            let at = line.find("metrics at http://")? + "metrics at http://".len();
            line[at..].trim().trim_end_matches("/metrics").parse().ok()
        });
        log.push(line);
    }
    let (addr, metrics) = (addr.expect("address"), metrics.expect("metrics"));
    assert!(addr.ip().is_loopback());
    let out = Command::new("python3")
        .arg("-c")
        .arg(CLIENT)
        .arg(addr.port().to_string())
        .arg(expected.len().to_string())
        .arg(token)
        .current_dir(dir())
        .output()
        .expect("run the client");
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "client: {said}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("refused: UNAUTHENTICATED"), "{said}");
    assert!(
        said.contains("subscribe: INVALID_ARGUMENT `Nope` is not an output stream"),
        "{said}"
    );
    assert!(said.contains("bad send accepted: 0"), "{said}");
    assert!(said.contains("accepted: 8"), "{said}");
    let rows: String = said
        .lines()
        .filter_map(|l| l.strip_prefix("row: "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(json_lines(&rows), expected, "{said}");

    // The service's counts in the metrics: events in per stream, bad messages under their
    // stream when it could be read, the refused call.
    let page = {
        use std::io::Write;
        let mut conn = std::net::TcpStream::connect(metrics).expect("connect to metrics");
        conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect("ask for metrics");
        let mut page = String::new();
        conn.read_to_string(&mut page).expect("read metrics");
        page
    };
    for line in [
        "eventflux_events_in_total{stream=\"Trades\"} 5",
        "eventflux_events_in_total{stream=\"Quotes\"} 3",
        "eventflux_bad_events_total{stream=\"Trades\"} 1",
        "eventflux_bad_events_total{stream=\"_grpc\"} 2",
        "eventflux_unauthorized_requests_total 1",
    ] {
        assert!(page.contains(line), "{line} not in\n{page}");
    }
    assert!(!page.contains(token), "{page}");
    let rows = support::faults::stop(child, &err_rx, &mut log);
    let log = log.join("\n");
    // The app prints its rows as usual too; the refused event never reached it.
    assert_eq!(rows, expected, "{log}");
    // Each undecodable message was reported with where it was, and the token never printed.
    for n in 1..=3 {
        assert!(
            log.contains(&format!("grpc Send `Event` (connection 1) line {n}")),
            "{log}"
        );
    }
    assert!(log.contains("qty"), "{log}");
    assert!(!log.contains(token), "{log}");
}

#[test]
fn a_binary_without_the_service_says_how_to_get_it() {
    let app = dir().join("plain.eventflux");
    std::fs::write(
        &app,
        "CREATE STREAM S (x INT); INSERT INTO T SELECT x FROM S;",
    )
    .expect("write app");
    let bin_err = {
        let bin = dir().join("plain");
        let built = eventflux()
            .args(["build", "--debug"])
            .arg(&app)
            .arg("-o")
            .arg(&bin)
            .output()
            .expect("build");
        assert!(built.status.success());
        let out = Command::new(&bin)
            .args(["--grpc", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .output()
            .expect("run the binary");
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    assert!(bin_err.contains("eventflux build --grpc"), "{bin_err}");
}

/// An upstream app whose `Trades` rows go to the service's `Send` through a `grpc` sink.
const UPSTREAM: &str = r#"
CREATE STREAM Raw (sym STRING, qty INT, price DOUBLE, note STRING);
CREATE STREAM Trades (sym STRING, qty INT, price DOUBLE, note STRING)
  WITH (type = 'sink', extension = 'grpc', "grpc.url" = '${EF_GRPC_URL}', "auth.token" = '${EF_GRPC_TOKEN}',
        "tls.ca" = '${EF_GRPC_CA:-}', "retry.max" = '1', "retry.backoff" = '10');
INSERT INTO Trades SELECT * FROM Raw WHERE qty > 0;
"#;

/// Builds the upstream app once.
fn build_upstream() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| support::build_in(&dir(), UPSTREAM, "upstream"))
        .clone()
}

/// Starts the service binary with `args`; returns it and its address.
fn serve(bin: &Path, args: &[&str]) -> (Running, SocketAddr) {
    serving(Command::new(bin).args(["--grpc", "127.0.0.1:0"]).args(args))
}

/// Starts `cmd` (a binary serving the gRPC service) with piped stdout and stderr; returns
/// it and the address its log says the service listens on (the rest of the log is read
/// and dropped).
fn serving(cmd: &mut Command) -> (Running, SocketAddr) {
    let mut child = Running(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the service binary"),
    );
    let mut stderr = BufReader::new(child.0.stderr.take().expect("stderr"));
    let addr: SocketAddr = loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).expect("stderr") > 0,
            "no address"
        );
        if let Some(a) = line.strip_prefix("eventflux: grpc service listening on ") {
            break a.trim().parse().expect("address");
        }
    };
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
    });
    (child, addr)
}

/// A CA and a server certificate for 127.0.0.1 signed by it (openssl): (ca, cert, key).
fn certificates() -> Option<(PathBuf, PathBuf, PathBuf)> {
    let d = dir().join("tls");
    std::fs::create_dir_all(&d).expect("tls dir");
    std::fs::write(
        d.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write ext");
    let steps: [&[&str]; 3] = [
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=EventFlux Test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    ];
    for step in steps {
        let ok = Command::new("openssl")
            .args(step)
            .current_dir(&d)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            return None;
        }
    }
    Some((d.join("ca.pem"), d.join("server.pem"), d.join("server.key")))
}

#[test]
fn a_tls_service_and_a_sink_that_verifies_it() {
    if !has_grpc_tools() {
        eprintln!("skipped: python3 grpc_tools (grpcio-tools) is not installed");
        return;
    }
    let Some((ca, cert, key)) = certificates() else {
        eprintln!("skipped: openssl cannot make test certificates");
        return;
    };
    let bin = build();
    let up = build_upstream();
    let raw = r#"{"stream":"Raw","ts":1,"data":{"sym":"T","qty":12,"price":2.0,"note":"tls"}}
"#;
    std::fs::write(dir().join("tls-raw.jsonl"), raw).expect("write");
    let (cert, key) = (cert.to_string_lossy(), key.to_string_lossy());
    let token = "tls-t0ken";
    let (mut down, addr) = serve(
        &bin,
        &[
            "--grpc-tls-cert",
            &cert,
            "--grpc-tls-key",
            &key,
            "--grpc-token",
            token,
        ],
    );
    let upstream = |ca: Option<&Path>| {
        let mut cmd = Command::new(&up);
        cmd.arg("--input")
            .arg(dir().join("tls-raw.jsonl"))
            .env("EF_GRPC_URL", format!("https://{addr}"))
            .env("EF_GRPC_TOKEN", token);
        if let Some(ca) = ca {
            cmd.env("EF_GRPC_CA", ca);
        }
        let out = cmd.output().expect("run the upstream binary");
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!err.contains(token), "{err}");
        (out.status.success(), err)
    };
    // Without the CA the server's certificate is not trusted: nothing is delivered.
    let (_, err) = upstream(None);
    assert!(err.contains("grpc sink `Trades`"), "{err}");
    assert!(err.contains("cannot connect"), "{err}");
    // With it, the row arrives.
    let (ok, err) = upstream(Some(&ca));
    assert!(ok, "{err}");
    let mut stdout = BufReader::new(down.0.stdout.take().expect("stdout"));
    let mut first = String::new();
    assert!(stdout.read_line(&mut first).expect("stdout") > 0);
    assert!(
        first.contains("\"sym\":\"T\"") && first.contains("\"value\":24.0"),
        "{first}"
    );
    sigterm(down.0.id());
    assert!(down.0.wait().expect("wait").success());
}

#[test]
fn two_binaries_chained_by_a_grpc_sink() {
    if !has_grpc_tools() {
        eprintln!("skipped: python3 grpc_tools (grpcio-tools) is not installed");
        return;
    }
    let bin = build();
    let up = build_upstream();
    // The upstream's input: the Trades of INPUT as `Raw`; what reaches the downstream app is
    // its rows with qty > 0, so the downstream prints what it prints on those.
    let raw: String = INPUT
        .lines()
        .filter(|l| l.contains("\"Trades\""))
        .map(|l| format!("{}\n", l.replace("\"Trades\"", "\"Raw\"")))
        .collect();
    std::fs::write(dir().join("raw.jsonl"), &raw).expect("write");
    let passed: String = INPUT
        .lines()
        .filter(|l| l.contains("\"Trades\"") && !l.contains("\"qty\":-"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir().join("passed.jsonl"), &passed).expect("write");
    let out = Command::new(&bin)
        .arg("--input")
        .arg(dir().join("passed.jsonl"))
        .output()
        .expect("run on the file");
    let expected = json_lines(&String::from_utf8_lossy(&out.stdout));
    assert!(!expected.is_empty());

    let token = "ch4in-t0ken";
    let (mut down, addr) = serve(&bin, &["--grpc-token", token]);
    let mut stdout = BufReader::new(down.0.stdout.take().expect("stdout"));
    let up_out = Command::new(&up)
        .arg("--input")
        .arg(dir().join("raw.jsonl"))
        .env("EF_GRPC_URL", format!("http://{addr}"))
        .env("EF_GRPC_TOKEN", token)
        .output()
        .expect("run the upstream binary");
    let up_err = String::from_utf8_lossy(&up_out.stderr).to_string();
    assert!(up_out.status.success(), "{up_err}");
    assert!(!up_err.contains(token), "{up_err}");
    // The downstream prints the same rows as on the file (its clock is the events' ts).
    let mut got = Vec::new();
    while got.len() < expected.len() {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).expect("stdout") > 0, "{got:?}");
        got.push(serde_json::from_str::<serde_json::Value>(&line).expect("JSON line"));
    }
    assert_eq!(got, expected);
    sigterm(down.0.id());
    assert!(down.0.wait().expect("wait").success());
}

/// An app whose stream declares a `grpc` source: it serves the service without `--grpc`.
const WITH_SOURCE: &str = r#"
CREATE STREAM Trades (sym STRING, qty INT, price DOUBLE, note STRING)
  WITH (type = 'source', extension = 'grpc', "grpc.port" = '0', "auth.token" = '${EF_SOURCE_TOKEN}');
INSERT INTO Seen SELECT sym, qty FROM Trades;
"#;

#[test]
fn a_grpc_source_serves_without_the_flag() {
    let bin = support::build_in(&dir(), WITH_SOURCE, "with_source");
    let token = "s0urce-t0ken";
    let (mut child, addr) = serving(Command::new(&bin).env("EF_SOURCE_TOKEN", token));
    assert!(addr.ip().is_loopback());
    std::fs::write(
        dir().join("source-raw.jsonl"),
        "{\"stream\":\"Raw\",\"ts\":3,\"data\":{\"sym\":\"S\",\"qty\":4,\"price\":1.0,\"note\":null}}\n",
    )
    .expect("write");
    let out = Command::new(build_upstream())
        .arg("--input")
        .arg(dir().join("source-raw.jsonl"))
        .env("EF_GRPC_URL", format!("http://{addr}"))
        .env("EF_GRPC_TOKEN", token)
        .output()
        .expect("run the upstream binary");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut stdout = BufReader::new(child.0.stdout.take().expect("stdout"));
    let mut line = String::new();
    assert!(stdout.read_line(&mut line).expect("stdout") > 0);
    assert_eq!(
        line.trim(),
        r#"{"stream":"Seen","ts":3,"kind":"current","data":{"sym":"S","qty":4}}"#
    );
    sigterm(child.0.id());
    assert!(child.0.wait().expect("wait").success());
}

/// A partitioned app fed by its gRPC service (a `grpc` source): per key, a running sum
/// over a length window.
const KEYED: &str = r#"
CREATE STREAM Trades (sym STRING, qty INT, price DOUBLE, note STRING)
  WITH (type = 'source', extension = 'grpc', "grpc.port" = '0');
PARTITION WITH (sym OF Trades)
BEGIN
    INSERT INTO Running SELECT sym, qty, sum(qty) AS total, count() AS n FROM Trades WINDOW length(3);
END;
"#;

/// Subscribes to every output stream with raw bytes (no generated stubs), says so, and
/// prints how many `Output` messages came once `expected` did.
const SUBSCRIBER: &str = r#"
import sys
import grpc
port, expected = sys.argv[1], int(sys.argv[2])
channel = grpc.insecure_channel("127.0.0.1:" + port)
grpc.channel_ready_future(channel).result(timeout=60)
subscribe = channel.unary_stream("/eventflux.App/Subscribe", request_serializer=lambda b: b,
                                 response_deserializer=lambda b: b)
outputs = subscribe(b"", timeout=60)
outputs.initial_metadata()
print("subscribed", flush=True)
n = 0
for message in outputs:
    n += 1
    if n == expected:
        break
print("outputs:", n, flush=True)
"#;

/// Runs the keyed binary with `args` (`--workers 2`, ...) as a service, sends the `Raw`
/// rows of `raw` through the upstream app's `grpc` sink, and returns the `n` rows it
/// printed, or (with `other`, the output file of a second process) the rows both wrote;
/// with Python's grpcio and one process, a `Subscribe` during the run sees every row too.
fn keyed_run(
    bin: &Path,
    args: &[&str],
    raw: &Path,
    n: usize,
    other: Option<&Path>,
) -> Vec<serde_json::Value> {
    let (mut child, addr) = serving(Command::new(bin).args(args));
    let rows = support::stdout_lines(&mut child.0);
    let subscriber = (has_grpc_tools() && other.is_none()).then(|| {
        let mut sub = Running(
            Command::new("python3")
                .args(["-c", SUBSCRIBER, &addr.port().to_string(), &n.to_string()])
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start the subscriber"),
        );
        let mut out = BufReader::new(sub.0.stdout.take().expect("stdout"));
        let mut line = String::new();
        out.read_line(&mut line).expect("subscriber");
        assert_eq!(line.trim(), "subscribed");
        (sub, out)
    });
    let up = Command::new(build_upstream())
        .arg("--input")
        .arg(raw)
        .env("EF_GRPC_URL", format!("http://{addr}"))
        .env("EF_GRPC_TOKEN", "")
        .output()
        .expect("run the upstream binary");
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let mut got = Vec::new();
    let theirs = || {
        other.map_or_else(Vec::new, |p| {
            json_lines(&std::fs::read_to_string(p).unwrap_or_default())
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.len() + theirs().len() < n {
        assert!(Instant::now() < deadline, "rows held back: {got:?}");
        match rows.recv_timeout(Duration::from_millis(100)) {
            // Timely's own line on stdout while the processes connect.
            Ok(line) if line.starts_with("awaiting connections") => {}
            Ok(line) => {
                got.push(serde_json::from_str::<serde_json::Value>(&line).expect("JSON line"))
            }
            Err(_) => {}
        }
    }
    got.extend(theirs());
    if let Some((mut sub, mut out)) = subscriber {
        let mut line = String::new();
        out.read_line(&mut line).expect("subscriber");
        assert_eq!(line.trim(), format!("outputs: {n}"), "{args:?}");
        assert!(sub.0.wait().expect("wait").success());
    }
    sigterm(child.0.id());
    assert!(child.0.wait().expect("wait").success());
    got
}

/// Rows grouped by their `sym`, each group in its order.
fn per_sym(
    rows: &[serde_json::Value],
) -> std::collections::BTreeMap<String, Vec<serde_json::Value>> {
    let mut out: std::collections::BTreeMap<String, Vec<serde_json::Value>> = Default::default();
    for r in rows {
        let sym = r["data"]["sym"].as_str().unwrap_or_default().to_string();
        out.entry(sym).or_default().push(r.clone());
    }
    out
}

/// The app's gRPC service under `--workers 2`, and on two processes of two workers each:
/// served by worker 0 of process 0, its `Send` events exchanged by key; per key the rows
/// are those of a single-worker run, and `Subscribe` streams the rows of process 0's
/// workers.
#[test]
fn the_grpc_service_runs_under_workers_and_processes() {
    let bin = support::build_in(&dir(), KEYED, "keyed");
    let n = 40;
    let raw: String = (0..n)
        .map(|i| {
            format!(
                "{{\"stream\":\"Raw\",\"ts\":{i},\"data\":{{\"sym\":\"s{}\",\"qty\":{},\"price\":1.0,\"note\":null}}}}\n",
                i % 5,
                i + 1
            )
        })
        .collect();
    let raw_path = dir().join("keyed-raw.jsonl");
    std::fs::write(&raw_path, raw).expect("write");
    let one = keyed_run(&bin, &[], &raw_path, n, None);
    assert_eq!(per_sym(&one).len(), 5);
    let two = keyed_run(&bin, &["--workers", "2"], &raw_path, n, None);
    assert_eq!(per_sym(&two), per_sym(&one));
    // Two processes of two workers: process 1 writes its rows to a file of its own.
    let hosts = support::hosts_file(&dir(), 2);
    let theirs = dir().join("keyed-process-1.jsonl");
    let _ = std::fs::remove_file(&theirs);
    let mut second = Running(
        support::as_process(&mut Command::new(&bin), &hosts, 2, 1)
            .args(["--workers", "2", "--output"])
            .arg(&theirs)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start process 1"),
    );
    let hosts_arg = hosts.display().to_string();
    let first = [
        "--processes",
        "2",
        "--process",
        "0",
        "--hosts",
        hosts_arg.as_str(),
        "--workers",
        "2",
    ];
    let both = keyed_run(&bin, &first, &raw_path, n, Some(&theirs));
    assert_eq!(per_sym(&both), per_sym(&one));
    assert!(second.0.wait().expect("wait").success());
}

//! Standalone binaries as durable services (DESIGN 8.4): killed with SIGKILL at random
//! moments and started again with the same command, a binary ends with the output file of an
//! uninterrupted run, byte for byte. Also SIGTERM, falling back past a corrupt checkpoint,
//! restoring across rebuilds, the Redis store, `eventflux checkpoints` and `build --docker`.
//!
//! The input is generated (`EVENTFLUX_CRASH_EVENTS` events, default 200 000; a few million
//! by hand) and the binary is killed `EVENTFLUX_CRASH_KILLS` times (default 4) after a random
//! 30-250 ms each (`EVENTFLUX_CRASH_SEED` fixes the moments; the seed is printed).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn eventflux() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eventflux"));
    // The same cache as tests/cli.rs: the runtime is compiled once for both.
    cmd.env(
        "EVENTFLUX_CACHE",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("eventflux-cache"),
    );
    cmd
}

fn dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("durability")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create test dir");
    d
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("start");
    assert!(
        out.status.success(),
        "failed ({:?}): {}\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

/// Builds `app` (text) into `dir/name` with `eventflux build --debug`.
fn build(dir: &Path, name: &str, app: &str) -> PathBuf {
    let src = dir.join(format!("{name}.eventflux"));
    std::fs::write(&src, app).expect("write app");
    let bin = dir.join(name);
    run_ok(
        eventflux()
            .args(["build", "--debug"])
            .arg(&src)
            .arg("-o")
            .arg(&bin),
    );
    bin
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `n` trades and quotes over 200 symbols, time moving 0-3 ms per event.
fn write_input(path: &Path, n: u64, seed: u64) {
    let mut rng = Rng(seed | 1);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("input"));
    let mut ts = 0;
    for _ in 0..n {
        ts += rng.below(4);
        let sym = rng.below(200);
        if rng.below(10) < 7 {
            let price = 90.0 + rng.below(2000) as f64 / 100.0;
            let qty = 1 + rng.below(100);
            writeln!(
                out,
                r#"{{"stream":"Trades","ts":{ts},"data":{{"sym":"S{sym}","price":{price:.2},"qty":{qty}}}}}"#
            )
        } else {
            let bid = 90.0 + rng.below(1020) as f64 / 100.0;
            writeln!(
                out,
                r#"{{"stream":"Quotes","ts":{ts},"data":{{"sym":"S{sym}","bid":{bid:.2}}}}}"#
            )
        }
        .expect("write input");
    }
    out.flush().expect("flush input");
}

const APP: &str = include_str!("durability/app.eventflux");

/// A test's directory with `app` built into it, `events` generated events and the output of
/// an uninterrupted run: (directory, binary, input, expected output).
fn prepare(name: &str, app: &str, events: u64, seed: u64) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    let d = dir(name);
    let bin = build(&d, "app", app);
    let input = d.join("in.jsonl");
    write_input(&input, events, seed);
    let expected = d.join("expected.jsonl");
    run_ok(
        Command::new(&bin)
            .arg("--input")
            .arg(&input)
            .arg("--output")
            .arg(&expected),
    );
    (d, bin, input, expected)
}

fn service(bin: &Path, input: &Path, output: &Path, state: &str) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg("--input")
        .arg(input)
        .arg("--output")
        .arg(output)
        .args(["--state-dir", state, "--checkpoint-every", "20ms"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Starts `cmd` `kills` times and SIGKILLs it after a random moment each time (unless it
/// ended first), then lets it finish; returns the stderr of the finishing run and how many
/// kills hit a running process.
fn crash_and_finish(mut cmd: impl FnMut() -> Command, kills: u64, rng: &mut Rng) -> (String, u64) {
    let mut hit = 0;
    for _ in 0..kills {
        let mut child: Child = cmd().spawn().expect("start binary");
        std::thread::sleep(Duration::from_millis(30 + rng.below(220)));
        if child.try_wait().expect("poll").is_none() {
            child.kill().expect("SIGKILL");
            hit += 1;
        }
        let out = child.wait_with_output().expect("wait");
        if out.status.success() {
            break;
        }
    }
    let last = run_ok(&mut cmd());
    (text(&last.stderr), hit)
}

#[test]
fn sigkill_at_random_moments_changes_no_output_byte() {
    let events = env_or("EVENTFLUX_CRASH_EVENTS", 200_000);
    let kills = env_or("EVENTFLUX_CRASH_KILLS", 4);
    let seed = env_or(
        "EVENTFLUX_CRASH_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |t| t.as_nanos() as u64),
    );
    eprintln!("EVENTFLUX_CRASH_SEED={seed} events={events} kills={kills}");
    let (d, bin, input, expected) = prepare("kill9", APP, events, 42);
    let out = d.join("out.jsonl");
    let state = d.join("state").display().to_string();
    let mut rng = Rng(seed | 1);
    let (stderr, hit) = crash_and_finish(|| service(&bin, &input, &out, &state), kills, &mut rng);
    assert!(hit > 0, "no kill hit a running binary (input too short?)");
    assert!(stderr.contains("restored checkpoint"), "{stderr}");
    let (want, got) = (
        std::fs::read(&expected).expect("expected"),
        std::fs::read(&out).expect("out"),
    );
    assert!(
        want == got,
        "output differs after {hit} kill(s) (seed {seed}): {} vs {} bytes",
        got.len(),
        want.len()
    );

    // Started again once finished: nothing more is read or written.
    let again = run_ok(&mut service(&bin, &input, &out, &state));
    assert!(text(&again.stderr).contains("restored checkpoint"));
    assert_eq!(std::fs::read(&out).expect("out"), want);

    // The newest checkpoint cut in half: reported, and the one before it is used.
    let listing = run_ok(eventflux().arg("checkpoints").arg(&state));
    let listing = text(&listing.stdout);
    assert!(listing.contains("checkpoint(s) in"), "{listing}");
    assert!(listing.contains("full"), "{listing}");
    assert!(listing.contains("file:"), "{listing}");
    assert!(listing.contains("output "), "{listing}");
    let ckpts = checkpoint_files(Path::new(&state));
    assert!(!ckpts.is_empty() && ckpts.len() <= 3 + 10, "{ckpts:?}");
    // Take a few checkpoints mid-run, then damage the newest and finish.
    let out2 = d.join("out2.jsonl");
    let state2 = d.join("state2").display().to_string();
    let mut child = service(&bin, &input, &out2, &state2)
        .arg("--full-every")
        .arg("1")
        .spawn()
        .expect("start");
    // Once two checkpoints are there (the one before the damaged one is then used), or the
    // run has ended.
    let begun = Instant::now();
    while checkpoint_files(Path::new(&state2)).len() < 2
        && begun.elapsed() < Duration::from_secs(30)
        && child.try_wait().expect("poll").is_none()
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    let files = checkpoint_files(Path::new(&state2));
    if let (true, Some(newest)) = (files.len() > 1, files.last()) {
        let bytes = std::fs::read(newest).expect("read checkpoint");
        std::fs::write(newest, &bytes[..bytes.len() / 2]).expect("cut checkpoint");
        let last = run_ok(&mut service(&bin, &input, &out2, &state2));
        let stderr = text(&last.stderr);
        assert!(stderr.contains("warning: checkpoint"), "{stderr}");
        assert!(stderr.contains("cut short"), "{stderr}");
        assert!(std::fs::read(&out2).expect("out2") == want);
    }
}

fn checkpoint_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "efc"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn sigterm_takes_a_final_checkpoint_and_exits_0() {
    let (d, bin, input, expected) = prepare("sigterm", APP, 150_000, 7);
    let out = d.join("out.jsonl");
    let state = d.join("state").display().to_string();
    // No periodic checkpoints: all of the progress is in the final one.
    let start = || {
        let mut cmd = Command::new(&bin);
        cmd.arg("--input")
            .arg(&input)
            .arg("--output")
            .arg(&out)
            .args(["--state-dir", &state])
            .stderr(Stdio::piped());
        cmd
    };
    let child = start().spawn().expect("start");
    std::thread::sleep(Duration::from_millis(120));
    let pid = child.id().to_string();
    let sent = Instant::now();
    run_ok(Command::new("kill").args(["-TERM", &pid]));
    let out_term = child.wait_with_output().expect("wait");
    let took = sent.elapsed();
    let stderr = text(&out_term.stderr);
    assert_eq!(out_term.status.code(), Some(0), "{stderr}");
    if stderr.contains("stopped by a signal") {
        eprintln!("stopped {took:?} after SIGTERM");
        let listing = run_ok(eventflux().arg("checkpoints").arg(&state));
        assert!(text(&listing.stdout).contains("1 checkpoint(s)"));
    }
    let last = run_ok(&mut start());
    assert!(text(&last.stderr).contains("restored checkpoint"));
    assert!(std::fs::read(&out).expect("out") == std::fs::read(&expected).expect("expected"));
}

/// A first version of a small app, and a second that changes one query's state and adds a
/// query: the second restores the first's checkpoint for the unchanged query only.
const V1: &str = "CREATE STREAM Trades (sym STRING, price DOUBLE, qty INT);
CREATE STREAM Quotes (sym STRING, bid DOUBLE);
@info(name = 'totals')
INSERT INTO Totals SELECT sym, sum(qty) AS total FROM Trades GROUP BY sym;
@info(name = 'prices')
INSERT INTO Prices SELECT sym, avg(price) AS p FROM Trades WINDOW('length', 10) GROUP BY sym;
";

const V2_EXTRA: &str = "@info(name = 'bids')
INSERT INTO Bids SELECT sym, count() AS n FROM Quotes GROUP BY sym;
";

#[test]
fn a_rebuilt_app_restores_unchanged_queries_and_names_the_others() {
    let d = dir("rebuild");
    let v1 = build(&d, "v1", V1);
    let v2_app = format!(
        "{}{V2_EXTRA}",
        V1.replace("avg(price) AS p", "max(qty) AS p")
    );
    let v2 = build(&d, "v2", &v2_app);
    let (first, second, whole) = (d.join("a.jsonl"), d.join("b.jsonl"), d.join("ab.jsonl"));
    write_input(&whole, 20_000, 3);
    let all = std::fs::read_to_string(&whole).expect("input");
    let lines: Vec<&str> = all.lines().collect();
    std::fs::write(&first, lines[..10_000].join("\n")).expect("a");
    std::fs::write(&second, lines[10_000..].join("\n")).expect("b");
    let state = d.join("state").display().to_string();
    let totals = |out: &Output| -> Vec<String> {
        text(&out.stdout)
            .lines()
            .filter(|l| l.contains("\"Totals\""))
            .map(str::to_owned)
            .collect()
    };
    let a = run_ok(
        Command::new(&v1)
            .arg("--input")
            .arg(&first)
            .args(["--state-dir", &state]),
    );
    let b = run_ok(
        Command::new(&v2)
            .arg("--input")
            .arg(&second)
            .args(["--state-dir", &state]),
    );
    let stderr = text(&b.stderr);
    assert!(stderr.contains("start empty"), "{stderr}");
    assert!(stderr.contains("prices"), "{stderr}");
    assert!(stderr.contains("bids"), "{stderr}");
    assert!(!stderr.contains("totals"), "{stderr}");
    let whole_run = run_ok(Command::new(&v2).arg("--input").arg(&whole));
    let mut got = totals(&a);
    got.extend(totals(&b));
    assert_eq!(got, totals(&whole_run));
}

#[test]
fn a_wall_clock_app_recovers_when_its_result_does_not_depend_on_time() {
    let d = dir("wall");
    let bin = build(&d, "app", V1);
    let input = d.join("in.jsonl");
    write_input(&input, 150_000, 11);
    let expected = d.join("expected.jsonl");
    run_ok(
        Command::new(&bin)
            .args(["--clock", "wall", "--input"])
            .arg(&input)
            .arg("--output")
            .arg(&expected),
    );
    let out = d.join("out.jsonl");
    let state = d.join("state").display().to_string();
    let mut rng = Rng(99);
    let (_, _) = crash_and_finish(
        || {
            let mut cmd = service(&bin, &input, &out, &state);
            cmd.args(["--clock", "wall"]);
            cmd
        },
        3,
        &mut rng,
    );
    // Output times are arrival times: compare the rows without them.
    let rows = |p: &Path| -> Vec<String> {
        std::fs::read_to_string(p)
            .expect("output")
            .lines()
            .map(|l| {
                // `{"stream":"S","ts":123,"kind":...}` without `"ts":123,`.
                let at = l.find(",\"ts\":").expect("ts") + 1;
                let len = l[at + 5..].find(',').expect("after ts") + 6;
                format!("{}{}", &l[..at], &l[at + len..])
            })
            .collect()
    };
    assert_eq!(rows(&out), rows(&expected));
}

#[test]
fn checkpoints_in_redis() {
    let Ok(url) = std::env::var("EVENTFLUX_TEST_REDIS") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "EVENTFLUX_TEST_REDIS must be set in CI"
        );
        eprintln!("skipped: EVENTFLUX_TEST_REDIS is not set");
        return;
    };
    let (d, bin, input, expected) = prepare("redis", V1, 150_000, 5);
    let out = d.join("out.jsonl");
    let state = format!("{url}/ef-durability-{}", std::process::id());
    let mut rng = Rng(5);
    let (stderr, _) = crash_and_finish(|| service(&bin, &input, &out, &state), 3, &mut rng);
    assert!(stderr.contains("restored checkpoint"), "{stderr}");
    assert!(std::fs::read(&out).expect("out") == std::fs::read(&expected).expect("expected"));
    let listing = run_ok(eventflux().arg("checkpoints").arg(&state));
    let listing = text(&listing.stdout);
    assert!(listing.contains("checkpoint(s) in redis://"), "{listing}");
    // At most --keep-checkpoints (3) and the chains they extend.
    let ids = listing
        .lines()
        .filter(|l| l.contains("\tfull") || l.contains("\tincremental"))
        .count();
    assert!((1..=13).contains(&ids), "{listing}");
}

#[test]
fn build_docker_writes_a_two_stage_dockerfile_and_its_context() {
    let d = dir("docker");
    let src = d.join("svc.eventflux");
    std::fs::write(&src, V1).expect("app");
    let bin = d.join("svc");
    run_ok(
        eventflux()
            .arg("build")
            .arg(&src)
            .arg("-o")
            .arg(&bin)
            .arg("--docker"),
    );
    let dockerfile = std::fs::read_to_string(d.join("svc.Dockerfile")).expect("Dockerfile");
    assert_eq!(dockerfile.matches("\nFROM ").count() + 1, 3, "{dockerfile}");
    assert!(dockerfile.contains("AS build"), "{dockerfile}");
    assert!(dockerfile.contains("ENTRYPOINT [\"/usr/local/bin/svc\"]"));
    let manifest = std::fs::read_to_string(d.join("svc-src/app/Cargo.toml")).expect("manifest");
    assert!(manifest.contains("path = \"../runtime\""), "{manifest}");
    assert!(d.join("svc-src/app/src/app.rs").exists());
    assert!(d.join("svc-src/runtime/src/lib.rs").exists());
    assert!(d.join("svc-src/runtime/Cargo.toml").exists());
}

#[test]
fn bad_state_flags_are_usage_errors() {
    let d = dir("flags");
    let bin = build(&d, "app", V1);
    for (args, needle) in [
        (vec!["--restore-from", "3"], "needs --state-dir"),
        (
            vec!["--state-dir", "x", "--no-restore", "--restore-from", "2"],
            "exclude each other",
        ),
        (
            vec!["--state-dir", "x", "--keep-checkpoints", "0"],
            "positive",
        ),
        (
            vec!["--state-dir", "x", "--restore-from", "abc"],
            "checkpoint id",
        ),
    ] {
        let out = Command::new(&bin).args(&args).output().expect("start");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains(needle),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let state = d.join("state");
    let out = Command::new(&bin)
        .args(["--restore-from", "7", "--state-dir"])
        .arg(&state)
        .stdin(Stdio::null())
        .output()
        .expect("start");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no checkpoint 7"),
        "{}",
        text(&out.stderr)
    );
}

/// `GET path` on 127.0.0.1:`port`, the whole response.
fn http_get(port: u16, path: &str, token: Option<&str>) -> String {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n").expect("request");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("response");
    out
}

#[test]
fn metrics_config_and_json_logs_through_the_binary() {
    use std::io::BufRead;
    let d = dir("metrics");
    let bin = build(&d, "app", V1);
    let config = d.join("svc.toml");
    let state = d.join("state");
    let out = d.join("out.jsonl");
    std::fs::write(
        &config,
        format!(
            "# a service's settings\nstate-dir = \"{}\"\noutput = \"${{EF_TEST_OUT:-{}}}\"\nmetrics = \"127.0.0.1:0\"\nlog-format = \"json\"\n",
            state.display(),
            out.display()
        ),
    )
    .expect("config");
    let mut child = Command::new(&bin)
        .arg("--config")
        .arg(&config)
        .args(["--metrics-token", "t0ken"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start");
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut first = String::new();
    stderr.read_line(&mut first).expect("first log line");
    // {"time":"...","level":"info","message":"metrics at http://127.0.0.1:PORT/metrics"}
    assert!(first.starts_with("{\"time\":\""), "{first}");
    assert!(first.contains("\"level\":\"info\""), "{first}");
    let port: u16 = first
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("port in the log line");
    let mut stdin = child.stdin.take().expect("stdin");
    for i in 0..10 {
        writeln!(
            stdin,
            r#"{{"stream":"Trades","ts":{i},"data":{{"sym":"A","price":1.5,"qty":{i}}}}}"#
        )
        .expect("event");
    }
    writeln!(
        stdin,
        r#"{{"stream":"Trades","ts":11,"data":{{"sym":"A","price":"x"}}}}"#
    )
    .expect("bad");
    stdin.flush().expect("flush");
    let deadline = Instant::now() + Duration::from_secs(20);
    let page = loop {
        let page = http_get(port, "/metrics", Some("t0ken"));
        if page.contains("eventflux_events_out_total{stream=\"Totals\"} 10")
            || Instant::now() > deadline
        {
            break page;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    for want in [
        "HTTP/1.1 200 OK",
        "eventflux_events_in_total{stream=\"Trades\"} 10",
        "eventflux_events_out_total{stream=\"Totals\"} 10",
        "eventflux_bad_events_total{stream=\"Trades\"} 1",
        "eventflux_queue_depth{stream=\"_input\"} 0",
        "eventflux_event_lag_seconds",
        "eventflux_checkpoint_seconds_count",
    ] {
        assert!(page.contains(want), "{want}\n{page}");
    }
    assert!(!page.contains("t0ken"));
    assert!(http_get(port, "/metrics", None).starts_with("HTTP/1.1 401"));
    assert!(http_get(port, "/health", Some("t0ken")).starts_with("HTTP/1.1 200"));
    drop(stdin);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).expect("stderr");
    assert!(child.wait().expect("wait").success(), "{rest}");
    // The bad line as a JSON record with its number.
    assert!(rest.contains("\"level\":\"warn\",\"line\":11,"), "{rest}");
    assert_eq!(
        std::fs::read_to_string(&out)
            .expect("output")
            .lines()
            .count(),
        20,
        "Totals and Prices, 10 each"
    );
    assert_eq!(checkpoint_files(&state).len(), 1);

    // The endpoint over TLS (a test CA's certificate), read by curl, which verifies it.
    let tls = concat!(env!("CARGO_MANIFEST_DIR"), "/../runtime/tests/data/tls");
    let mut child = Command::new(&bin)
        .args(["--metrics", "127.0.0.1:0", "--output", "/dev/null"])
        .args(["--metrics-tls-cert", &format!("{tls}/server.pem")])
        .args(["--metrics-tls-key", &format!("{tls}/server.key")])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start");
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut first = String::new();
    stderr.read_line(&mut first).expect("first log line");
    assert!(first.contains("metrics at https://127.0.0.1:"), "{first}");
    let port: u16 = first
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("port in the log line");
    // Plain HTTP gets no page (at most a TLS alert).
    {
        use std::io::Read;
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        write!(s, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n").expect("request");
        let mut bytes = Vec::new();
        let _ = s.read_to_end(&mut bytes);
        assert!(!String::from_utf8_lossy(&bytes).contains("200 OK"));
    }
    match Command::new("curl")
        .args(["-sS", "--cacert", &format!("{tls}/ca.pem")])
        .arg(format!("https://localhost:{port}/health"))
        .output()
    {
        Ok(got) => assert_eq!(text(&got.stdout), "ok\n", "{}", text(&got.stderr)),
        Err(e) => eprintln!("skipped the https check: no curl ({e})"),
    }
    drop(child.stdin.take());
    assert!(child.wait().expect("wait").success());
    // Half a pair is a usage error.
    let half = Command::new(&bin)
        .args(["--metrics", "127.0.0.1:0", "--metrics-tls-cert", "x.pem"])
        .output()
        .expect("start");
    assert_eq!(half.status.code(), Some(2), "{}", text(&half.stderr));

    // Bad configuration: the file, the line and the key.
    std::fs::write(&config, "strict = true\nkeep-checkpoints = 0\n").expect("config");
    let bad = Command::new(&bin)
        .arg("--config")
        .arg(&config)
        .output()
        .expect("start");
    assert_eq!(bad.status.code(), Some(2));
    let msg = text(&bad.stderr);
    assert!(msg.contains("svc.toml:2: key `keep-checkpoints`"), "{msg}");
    std::fs::write(&config, "[streams.Nope]\n\"file.path\" = \"x\"\n").expect("config");
    let bad = Command::new(&bin)
        .arg("--config")
        .arg(&config)
        .output()
        .expect("start");
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("svc.toml:1: [streams.Nope]"),
        "{}",
        text(&bad.stderr)
    );
}

//! Scale-out (DESIGN 11, docs/scale-out.md): per partition key, the rows of `--workers 2`
//! and `--workers 3` (and of two processes on loopback) are the rows of the single-worker
//! run, in the same order, for every partitioned conformance case and for random
//! partitioned apps. Rows that carry no key are compared as a multiset.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod support;
use support::eventflux;

fn dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("scale_out")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create test dir");
    d
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("start");
    assert!(
        out.status.success(),
        "failed ({:?}): {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Builds `app` into `dir/app` with `eventflux build --debug`.
fn build(dir: &Path, app: &Path) -> PathBuf {
    let bin = dir.join("app");
    run_ok(
        eventflux()
            .args(["build", "--debug"])
            .arg(app)
            .arg("-o")
            .arg(&bin),
    );
    bin
}

/// Output rows per `(stream, key)`, each group in its order.
type Groups = BTreeMap<(String, String), Vec<String>>;

/// Output lines grouped by `(stream, key)`: `key` is the value of the first of `keys`
/// present in the row's data; rows with none of them form one group per stream, sorted.
fn by_key(text: &str, keys: &[&str]) -> Groups {
    let mut groups = Groups::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("output is JSON");
        let stream = v["stream"].as_str().unwrap_or_default().to_string();
        let key = keys
            .iter()
            .find_map(|k| v["data"].get(*k))
            .map(|k| k.to_string());
        match key {
            Some(k) => groups
                .entry((stream, k))
                .or_default()
                .push(line.to_string()),
            None => groups
                .entry((stream, "*".into()))
                .or_default()
                .push(line.to_string()),
        }
    }
    for ((_, k), rows) in groups.iter_mut() {
        if k == "*" {
            rows.sort();
        }
    }
    groups
}

/// Every group of `want` is in `got` with the same rows, and `got` has no other group.
fn assert_same_groups(got: &Groups, want: &Groups, what: &str) {
    for (group, rows) in want {
        assert_eq!(
            got.get(group),
            Some(rows),
            "{what}: group {group:?} differs"
        );
    }
    assert_eq!(got.len(), want.len(), "{what}: other groups");
}

/// The binary on `input` writing `output`, with checkpoints in `state`, on `workers`.
fn checkpointed(bin: &Path, input: &Path, output: &Path, state: &Path, workers: usize) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg("--input")
        .arg(input)
        .arg("--output")
        .arg(output)
        .arg("--state-dir")
        .arg(state)
        .args(["--workers", &workers.to_string()]);
    cmd
}

fn run_workers(bin: &Path, input: &Path, workers: usize) -> String {
    let out = run_ok(
        Command::new(bin)
            .arg("--input")
            .arg(input)
            .args(["--workers", &workers.to_string()]),
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The app at `app` on `input`: 1, 2 and 3 workers agree per key.
fn check(name: &str, app: &Path, input: &Path, keys: &[&str]) -> usize {
    let d = dir(name);
    let bin = build(&d, app);
    let one = run_workers(&bin, input, 1);
    let reference = by_key(&one, keys);
    for workers in [2, 3] {
        let many = run_workers(&bin, input, workers);
        assert_same_groups(
            &by_key(&many, keys),
            &reference,
            &format!("{name}: --workers {workers}"),
        );
    }
    one.lines().count()
}

#[test]
fn partitioned_conformance_cases_agree_per_key_on_two_and_three_workers() {
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/cases");
    let mut names: Vec<String> = std::fs::read_dir(&cases)
        .expect("cases")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("partition_"))
        .collect();
    names.sort();
    assert!(names.len() >= 5, "{names:?}");
    for name in names {
        let case = cases.join(&name);
        let rows = check(
            &name,
            &case.join("app.eventflux"),
            &case.join("input.jsonl"),
            &["k", "symbol", "sym", "sensor", "user"],
        );
        assert!(rows > 0, "{name}: no output");
    }
}

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A random partitioned app (windows, aggregates, filters, patterns with WITHIN, inner
/// streams, `PURGE AFTER`; an unpartitioned query beside) and its input, in time order
/// with runs of equal timestamps and clock-only lines.
fn random_app(seed: u64) -> (String, String) {
    random_app_of(seed, 400)
}

/// [`random_app`] with `events` events (the same app for the same seed).
fn random_app_of(seed: u64, events: usize) -> (String, String) {
    let mut r = Rng(seed);
    let mut app = String::from(
        "CREATE STREAM S (k STRING, v INT, x DOUBLE);\nCREATE STREAM T (k STRING, v INT);\n",
    );
    app.push_str("INSERT INTO Tout SELECT k, v * 2 AS w FROM T WHERE v > 3;\n");
    let purge = if r.below(2) == 0 {
        " PURGE AFTER 40 ms"
    } else {
        ""
    };
    app.push_str(&format!("PARTITION WITH (k OF S){purge}\nBEGIN\n"));
    let windows = [
        "WINDOW('length', 3)",
        "WINDOW('time', 20 ms)",
        "WINDOW('lengthBatch', 2)",
        "WINDOW('timeBatch', 15 ms)",
        "",
    ];
    let n = 3 + r.below(4);
    for q in 0..n {
        match r.below(4) {
            0 | 1 => {
                let w = windows[r.below(windows.len() as u64) as usize];
                let all = if w.is_empty() { "" } else { "ALL EVENTS " };
                app.push_str(&format!(
                    "    INSERT {all}INTO Q{q} SELECT k, sum(v) AS total, count() AS n, max(x) AS top FROM S {w};\n"
                ));
            }
            2 => {
                let within = 10 + r.below(40);
                app.push_str(&format!(
                    "    INSERT INTO Q{q} SELECT e1.k AS k, e1.v AS a, e2.v AS b FROM PATTERN (EVERY e1=S[v > 5] -> e2=S[e2.v > e1.v]) WITHIN {within} ms;\n"
                ));
            }
            _ => {
                app.push_str(&format!(
                    "    INSERT INTO #I{q} SELECT k, v, x FROM S WHERE v > 2;\n    INSERT INTO Q{q} SELECT k, avg(x) AS mean FROM #I{q} WINDOW('length', 2);\n"
                ));
            }
        }
    }
    app.push_str("END;\n");
    let mut input = String::new();
    let mut ts = 0;
    for i in 0..events {
        if r.below(3) != 0 {
            ts += r.below(6);
        }
        if i % 97 == 96 {
            ts += 30;
            input.push_str(&format!("{{\"ts\": {ts}}}\n"));
        }
        let k = r.below(12);
        let v = r.below(10);
        if r.below(8) == 0 {
            input.push_str(&format!(
                "{{\"stream\":\"T\",\"ts\":{ts},\"data\":{{\"k\":\"t{k}\",\"v\":{v}}}}}\n"
            ));
        } else {
            let x = r.below(1000) as f64 / 10.0;
            input.push_str(&format!(
                "{{\"stream\":\"S\",\"ts\":{ts},\"data\":{{\"k\":\"k{k}\",\"v\":{v},\"x\":{x}}}}}\n"
            ));
        }
    }
    (app, input)
}

#[test]
fn random_partitioned_apps_agree_per_key_on_two_and_three_workers() {
    random_apps_agree(1..4);
}

/// The same over more seeds, by hand: `EVENTFLUX_SEEDS=10-40 cargo test -p
/// eventflux-compiler --test scale_out -- --ignored many_random` (about 30 s a seed).
#[test]
#[ignore = "a longer campaign, run by hand"]
fn many_random_partitioned_apps_agree_per_key() {
    random_apps_agree(seeds_from_env("4-12"));
}

/// Random apps stopped halfway with checkpoints (`--state-dir`) on some number of workers
/// and finished on another: per key, the rows of one uninterrupted single-worker run.
#[test]
fn random_partitioned_apps_rescale_from_a_checkpoint() {
    random_apps_rescale(1..3);
}

/// The same over more seeds, by hand (`EVENTFLUX_SEEDS=FROM-TO`, as above).
#[test]
#[ignore = "a longer campaign, run by hand"]
fn many_random_partitioned_apps_rescale() {
    random_apps_rescale(seeds_from_env("4-12"));
}

fn random_apps_rescale(seeds: impl Iterator<Item = u64>) {
    for seed in seeds {
        let (app, input) = random_app(seed);
        let d = dir(&format!("rescale_{seed}"));
        let (a, full) = (d.join("app.eventflux"), d.join("full.jsonl"));
        std::fs::write(&a, &app).expect("write app");
        std::fs::write(&full, &input).expect("write input");
        let bin = build(&d, &a);
        let want = by_key(&run_workers(&bin, &full, 1), &["k"]);
        let half: String = input.lines().take(200).map(|l| format!("{l}\n")).collect();
        let (part, out, state) = (d.join("in.jsonl"), d.join("out.jsonl"), d.join("state"));
        for (before, after) in [(2, 1), (1, 3), (3, 2)] {
            let _ = std::fs::remove_dir_all(&state);
            let _ = std::fs::remove_file(&out);
            let run = |workers| run_ok(&mut checkpointed(&bin, &part, &out, &state, workers));
            std::fs::write(&part, &half).expect("write input");
            run(before);
            std::fs::write(&part, &input).expect("write input");
            let second = run(after);
            let log = String::from_utf8_lossy(&second.stderr);
            assert!(log.contains("restored checkpoint"), "seed {seed}: {log}");
            let text = std::fs::read_to_string(&out).expect("output");
            assert_same_groups(
                &by_key(&text, &["k"]),
                &want,
                &format!("seed {seed}, {before} -> {after} workers\n{app}\n"),
            );
        }
    }
}

/// Random apps on 2 workers with a checkpoint every 20 ms, killed (SIGKILL) three times and
/// run to the end: per key, the rows of one uninterrupted single-worker run. By hand:
/// `EVENTFLUX_SEEDS=FROM-TO cargo test ... -- --ignored many_random_partitioned_apps_killed`.
#[test]
#[ignore = "a longer campaign, run by hand"]
fn many_random_partitioned_apps_killed() {
    for seed in seeds_from_env("1-8") {
        let (app, input) = random_app_of(seed, 40_000);
        let d = dir(&format!("killed_{seed}"));
        let (a, full) = (d.join("app.eventflux"), d.join("full.jsonl"));
        std::fs::write(&a, &app).expect("write app");
        std::fs::write(&full, &input).expect("write input");
        let bin = build(&d, &a);
        let want = by_key(&run_workers(&bin, &full, 1), &["k"]);
        let (out, state) = (d.join("out.jsonl"), d.join("state"));
        let service = || {
            let mut cmd = checkpointed(&bin, &full, &out, &state, 2);
            cmd.args(["--checkpoint-every", "20ms"]);
            cmd
        };
        let mut hit = 0;
        for k in 0..3u64 {
            let mut child = service()
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("start");
            std::thread::sleep(std::time::Duration::from_millis(120 + 45 * k));
            if child.try_wait().expect("poll").is_none() {
                hit += 1;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let last = run_ok(&mut service());
        let restored = String::from_utf8_lossy(&last.stderr).contains("restored checkpoint");
        assert_same_groups(
            &by_key(&std::fs::read_to_string(&out).expect("output"), &["k"]),
            &want,
            &format!("seed {seed} ({hit} kills hit)\n{app}\n"),
        );
        eprintln!("seed {seed}: {hit} kills hit a running binary; restored: {restored}");
    }
}

/// The seeds of `EVENTFLUX_SEEDS` (`FROM-TO`, both included), else of `default`.
fn seeds_from_env(default: &str) -> std::ops::RangeInclusive<u64> {
    let seeds = std::env::var("EVENTFLUX_SEEDS").unwrap_or_else(|_| default.into());
    let (from, to) = seeds
        .split_once('-')
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
        .expect("EVENTFLUX_SEEDS=FROM-TO");
    from..=to
}

fn random_apps_agree(seeds: impl Iterator<Item = u64>) {
    for seed in seeds {
        let (app, input) = random_app(seed);
        let d = dir(&format!("random_src_{seed}"));
        let (a, i) = (d.join("app.eventflux"), d.join("input.jsonl"));
        std::fs::write(&a, &app).expect("write app");
        std::fs::write(&i, &input).expect("write input");
        let rows = check(&format!("random_{seed}"), &a, &i, &["k"]);
        assert!(rows > 0, "seed {seed}: no output\n{app}");
    }
}

#[test]
fn two_processes_on_loopback_write_the_single_process_rows_between_them() {
    two_processes_agree("processes", 7);
}

/// The same over more seeds, by hand (`EVENTFLUX_SEEDS=FROM-TO`).
#[test]
#[ignore = "a longer campaign, run by hand"]
fn many_random_partitioned_apps_on_two_processes() {
    for seed in seeds_from_env("1-8") {
        two_processes_agree(&format!("processes_{seed}"), seed);
    }
}

/// Random app `seed` on two processes of two workers each (loopback): per key, the rows of
/// both outputs are the single-process rows, and no row comes twice.
fn two_processes_agree(name: &str, seed: u64) {
    let d = dir(name);
    let (app, input) = random_app(seed);
    let (a, i) = (d.join("app.eventflux"), d.join("input.jsonl"));
    std::fs::write(&a, &app).expect("write app");
    std::fs::write(&i, &input).expect("write input");
    let bin = build(&d, &a);
    let one = run_workers(&bin, &i, 1);
    let hosts = support::hosts_file(&d, 2);
    let start = |p: usize| {
        support::as_process(&mut Command::new(&bin), &hosts, 2, p)
            .arg("--input")
            .arg(&i)
            .arg("--output")
            .arg(d.join(format!("out{p}.jsonl")))
            .args(["--workers", "2"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start process")
    };
    let (mut p0, mut p1) = (start(0), start(1));
    assert!(p0.wait().expect("wait").success() && p1.wait().expect("wait").success());
    let mut both = String::new();
    for p in 0..2 {
        both.push_str(&std::fs::read_to_string(d.join(format!("out{p}.jsonl"))).expect("output"));
    }
    assert_eq!(by_key(&both, &["k"]), by_key(&one, &["k"]), "seed {seed}");
    assert_eq!(both.lines().count(), one.lines().count());
}

/// A `--workers 2` binary of `app` reading a pipe that stays open (plus `extra` flags), and
/// a channel of its stdout lines.
fn live(
    name: &str,
    app: &str,
    extra: &[&str],
) -> (
    std::process::Child,
    std::sync::mpsc::Receiver<String>,
    PathBuf,
) {
    let d = dir(name);
    let a = d.join("app.eventflux");
    std::fs::write(&a, app).expect("write app");
    let bin = build(&d, &a);
    let mut child = Command::new(&bin)
        .args(["--input", "-", "--workers", "2"])
        .args(extra)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("start app");
    let rx = stdout_lines(&mut child);
    (child, rx, d)
}

/// A channel of `child`'s stdout lines, read on a thread of its own.
fn stdout_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Reads `stderr` up to the line saying where the app's tcp source listens.
fn tcp_source_addr(stderr: &mut impl std::io::BufRead) -> std::net::SocketAddr {
    loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).expect("stderr") > 0,
            "no source started"
        );
        if let Some(rest) = line.split("listening on ").nth(1) {
            return rest.trim().parse().expect("source address");
        }
    }
}

/// Sends 20 events to `addr`: `v` = `ts` = 0..19, key `k` = `k<v % 5>`. The connection is
/// returned open.
fn send_twenty(addr: std::net::SocketAddr) -> std::net::TcpStream {
    use std::io::Write;
    let mut conn = std::net::TcpStream::connect(addr).expect("connect");
    for i in 0..20 {
        writeln!(
            conn,
            "{{\"ts\":{i},\"data\":{{\"k\":\"k{}\",\"v\":{i}}}}}",
            i % 5
        )
        .expect("send");
    }
    conn.flush().expect("flush");
    conn
}

/// `rows` are those of the events of [`send_twenty`], each key's in input order (`check`
/// looks at each row too).
fn assert_twenty_per_key(rows: &[String], check: impl Fn(&str, &serde_json::Value)) {
    let groups = by_key(&rows.join("\n"), &["k"]);
    assert_eq!(groups.len(), 5, "{rows:?}");
    for ((_, k), rows) in &groups {
        let vs: Vec<i64> = rows
            .iter()
            .map(|r| {
                let v: serde_json::Value = serde_json::from_str(r).expect("row");
                check(r, &v);
                v["data"]["v"].as_i64().expect("v")
            })
            .collect();
        let want: Vec<i64> = (0..20)
            .filter(|i| format!("\"k{}\"", i % 5) == *k)
            .collect();
        assert_eq!(vs, want, "key {k}");
    }
}

/// The next `n` rows of stream `stream` (other rows are skipped). The wait is a guard
/// against a hang (rows held back), not a measurement.
fn rows_of(rx: &std::sync::mpsc::Receiver<String>, stream: &str, n: usize) -> Vec<String> {
    let mut got = Vec::new();
    let tag = format!("\"stream\":\"{stream}\"");
    while got.len() < n {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("rows of {stream} held back: got {got:?}"));
        if line.contains(&tag) {
            got.push(line);
        }
    }
    got
}

const LIVE_APP: &str = "CREATE STREAM S (k STRING, v INT);
PARTITION WITH (k OF S)
BEGIN
    INSERT INTO Echo SELECT k, v FROM S;
    INSERT EXPIRED EVENTS INTO Gone SELECT k, v FROM S WINDOW('time', 300);
END;
";

/// One `S` event per key, 10 ms apart, flushed into the binary's open stdin.
fn write_keys(stdin: &mut impl std::io::Write, keys: &[&str]) {
    for (i, k) in keys.iter().enumerate() {
        writeln!(
            stdin,
            "{{\"stream\":\"S\",\"ts\":{},\"data\":{{\"k\":\"{k}\",\"v\":{i}}}}}",
            i * 10
        )
        .expect("write line");
    }
    stdin.flush().expect("flush");
}

#[test]
fn two_workers_run_the_lines_of_a_live_pipe_before_it_has_a_full_batch() {
    use std::io::Write;
    let (mut child, rx, _) = live("live_pipe", LIVE_APP, &[]);
    let mut stdin = child.stdin.take().expect("stdin");
    write_keys(&mut stdin, &["a", "b", "c"]);
    // Three lines, far below a batch of 1,024, and the pipe stays open.
    let mut echo = rows_of(&rx, "Echo", 3);
    echo.sort();
    assert!(
        echo[0].contains("\"k\":\"a\"") && echo[2].contains("\"k\":\"c\""),
        "{echo:?}"
    );
    // A clock line moves every worker's event clock: the windows expire while the pipe is open.
    writeln!(stdin, "{{\"ts\":1000}}").expect("write tick");
    stdin.flush().expect("flush");
    let gone = rows_of(&rx, "Gone", 3);
    assert!(gone.iter().all(|r| r.contains("\"ts\":")), "{gone:?}");
    drop(stdin);
    assert!(child.wait().expect("wait").success());
}

#[test]
fn two_workers_stop_cleanly_on_sigterm_with_what_was_read_delivered() {
    let (mut child, rx, _) = live("live_sigterm", LIVE_APP, &[]);
    let mut stdin = child.stdin.take().expect("stdin");
    write_keys(&mut stdin, &["a", "b", "c", "d"]);
    assert_eq!(rows_of(&rx, "Echo", 4).len(), 4);
    // The pipe stays open: only the signal ends the run, with exit code 0 (DESIGN 8.4).
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let done = child.wait().expect("wait");
    assert!(done.success(), "{done:?}");
    drop(stdin);
}

#[test]
fn two_workers_fire_wall_clock_timers_while_the_input_is_idle() {
    use std::io::Write;
    let (mut child, rx, _) = live("live_wall", LIVE_APP, &["--clock", "wall"]);
    let mut stdin = child.stdin.take().expect("stdin");
    for (i, k) in ["a", "b", "c", "d"].iter().enumerate() {
        // `ts` is ignored with the wall clock: events get their arrival time.
        writeln!(
            stdin,
            "{{\"stream\":\"S\",\"ts\":{i},\"data\":{{\"k\":\"{k}\",\"v\":{i}}}}}"
        )
        .expect("write line");
    }
    stdin.flush().expect("flush");
    let echo = rows_of(&rx, "Echo", 4);
    // No more input: the 300 ms windows of all four keys (on both workers) expire in real
    // time, at least 300 ms after each key's event.
    let gone = rows_of(&rx, "Gone", 4);
    let ts = |row: &str| -> i64 {
        let v: serde_json::Value = serde_json::from_str(row).expect("JSON row");
        v["ts"].as_i64().expect("ts")
    };
    let key = |row: &str| -> String {
        let v: serde_json::Value = serde_json::from_str(row).expect("JSON row");
        v["data"]["k"].to_string()
    };
    for g in &gone {
        let e = echo.iter().find(|e| key(e) == key(g)).expect("echoed key");
        assert!(ts(g) >= ts(e) + 300, "{g} expired before 300 ms after {e}");
        assert!(ts(e) > 1_000_000_000_000, "{e}: not a wall-clock time");
    }
    drop(stdin);
    assert!(child.wait().expect("wait").success());
}

fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").expect("request");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("response");
    out
}

#[test]
fn metrics_of_two_workers_sum_the_rows_of_both() {
    use std::io::{BufRead, Write};
    let d = dir("metrics");
    let a = d.join("app.eventflux");
    std::fs::write(&a, LIVE_APP).expect("write app");
    let bin = build(&d, &a);
    let mut child = Command::new(&bin)
        .args(["--input", "-", "--workers", "2", "--metrics", "127.0.0.1:0"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start app");
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut first = String::new();
    stderr.read_line(&mut first).expect("first log line");
    let port: u16 = first
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("port in the log line: {first}"));
    let mut stdin = child.stdin.take().expect("stdin");
    // 40 keys: both workers own some of them.
    for i in 0..40 {
        writeln!(
            stdin,
            "{{\"stream\":\"S\",\"ts\":{i},\"data\":{{\"k\":\"k{i}\",\"v\":{i}}}}}"
        )
        .expect("write line");
    }
    writeln!(
        stdin,
        "{{\"stream\":\"S\",\"ts\":40,\"data\":{{\"k\":\"k0\",\"v\":\"x\"}}}}"
    )
    .expect("write bad line");
    stdin.flush().expect("flush");
    // The rows come while the pipe is open; poll the page until they are all counted (a
    // guard of 60 s against a hang, not a measurement).
    let want_out = "eventflux_events_out_total{stream=\"Echo\"} 40";
    let mut page = String::new();
    for _ in 0..1200 {
        page = http_get(port, "/metrics");
        if page.contains(want_out) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for want in [
        "HTTP/1.1 200 OK",
        "eventflux_events_in_total{stream=\"S\"} 40",
        want_out,
        "eventflux_bad_events_total{stream=\"S\"} 1",
    ] {
        assert!(page.contains(want), "{want}\n{page}");
    }
    drop(stdin);
    assert!(child.wait().expect("wait").success());
}

#[test]
fn two_workers_read_a_file_source_and_write_file_and_tcp_sinks() {
    use std::io::BufRead;
    let d = dir("endpoints");
    let (src, sunk) = (d.join("in.jsonl"), d.join("echo.jsonl"));
    let mut input = String::new();
    for i in 0..40 {
        input.push_str(&format!(
            "{{\"ts\":{i},\"data\":{{\"k\":\"k{}\",\"v\":{i}}}}}\n",
            i % 10
        ));
    }
    std::fs::write(&src, &input).expect("write source");
    let app = format!(
        "CREATE STREAM S (k STRING, v INT) WITH (type = 'source', extension = 'file', \"file.path\" = '{}');
CREATE STREAM Echo (k STRING, v INT) WITH (type = 'sink', extension = 'file', \"file.path\" = '{}');
CREATE STREAM Big (k STRING, v INT) WITH (type = 'sink', extension = 'tcp', \"tcp.host\" = '127.0.0.1', \"tcp.port\" = '${{EF_TEST_SINK_PORT}}');
PARTITION WITH (k OF S)
BEGIN
    INSERT INTO Echo SELECT k, v FROM S;
    INSERT INTO Big SELECT k, v FROM S WHERE v >= 30;
    INSERT INTO Sums SELECT k, sum(v) AS total FROM S;
END;
",
        src.display(),
        sunk.display()
    );
    let a = d.join("app.eventflux");
    std::fs::write(&a, app).expect("write app");
    let bin = build(&d, &a);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind sink listener");
    let port = listener.local_addr().expect("addr").port();
    let received = std::thread::spawn(move || {
        let (conn, _) = listener.accept().expect("sink connects");
        std::io::BufReader::new(conn)
            .lines()
            .take(10)
            .map(|l| l.expect("sink line"))
            .collect::<Vec<String>>()
    });
    let run = |workers: &str| {
        let out = run_ok(
            Command::new(&bin)
                .args(["--workers", workers])
                .env("EF_TEST_SINK_PORT", port.to_string()),
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let sums = run("2");
    let echo = std::fs::read_to_string(&sunk).expect("file sink");
    let mut big = received.join().expect("sink thread");
    // The single-worker rows, per key in the same order; the sinks get their rows only.
    let reference = |text: &str| by_key(text, &["k"]);
    assert_eq!(echo.lines().count(), 40, "{echo}");
    assert_eq!(sums.lines().count(), 40, "{sums}");
    assert!(
        !sums.contains("\"Echo\"") && !sums.contains("\"Big\""),
        "{sums}"
    );
    big.sort();
    assert_eq!(big.len(), 10);
    assert!(
        big.iter().all(|l| l.contains("\"stream\":\"Big\"")),
        "{big:?}"
    );
    let (one_echo, one_sums) = {
        // The single-worker run, writing its own copy of the file sink.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let drain = std::thread::spawn(move || {
            let (conn, _) = listener.accept().expect("sink connects");
            std::io::BufReader::new(conn).lines().take(10).count()
        });
        let out = run_ok(
            Command::new(&bin)
                .args(["--workers", "1"])
                .env("EF_TEST_SINK_PORT", port.to_string()),
        );
        assert_eq!(drain.join().expect("drain"), 10);
        (
            std::fs::read_to_string(&sunk).expect("file sink"),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    assert_eq!(reference(&echo), reference(&one_echo));
    assert_eq!(reference(&sums), reference(&one_sums));
}

#[test]
fn two_workers_run_the_events_of_a_tcp_source_as_they_come() {
    let d = dir("tcp_source");
    let a = d.join("app.eventflux");
    std::fs::write(
        &a,
        "CREATE STREAM S (k STRING, v INT) WITH (type = 'source', extension = 'tcp', \"tcp.port\" = '0');
PARTITION WITH (k OF S)
BEGIN
    INSERT INTO Echo SELECT k, v FROM S;
END;
",
    )
    .expect("write app");
    let bin = build(&d, &a);
    let mut child = Command::new(&bin)
        .args(["--workers", "2"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start app");
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let addr = tcp_source_addr(&mut stderr);
    let rx = stdout_lines(&mut child);
    let _conn = send_twenty(addr);
    // The connection stays open: the rows come anyway, per key in input order.
    let rows = rows_of(&rx, "Echo", 20);
    assert_twenty_per_key(&rows, |_, _| {});
    // A network source runs until it is stopped.
    child.kill().expect("stop");
    let _ = child.wait();
}

/// An app whose partition feeds queries outside it (rows cross to worker 0): per-key
/// length-window rows and time-window rows (expired ones come from timers) into global
/// aggregates, a filter and a stream also fed by an unpartitioned input. Timestamps are
/// even and distinct and the windows' timers odd, so that the single-worker order of the
/// rows reaching worker 0 is defined (docs/scale-out.md).
const CROSSING_APP: &str = "\
CREATE STREAM S (k STRING, v INT);
CREATE STREAM T (k STRING, v INT);
PARTITION WITH (k OF S)
BEGIN
    INSERT INTO PerKey SELECT k, sum(v) AS total, count() AS n FROM S WINDOW('length', 3);
    INSERT ALL EVENTS INTO Recent SELECT k, count() AS n FROM S WINDOW('time', 25 ms);
    INSERT INTO Mine SELECT k, v FROM S WHERE v > 7;
END;
INSERT INTO Total SELECT count() AS rows, sum(total) AS total FROM PerKey;
INSERT INTO Big SELECT k, total FROM PerKey WHERE total > 20;
INSERT INTO RecentRows SELECT count() AS rows, max(n) AS top FROM Recent;
INSERT INTO Both SELECT k, v FROM T;
INSERT INTO Both SELECT k, CAST(n AS INT) AS v FROM PerKey;
INSERT INTO BothCount SELECT count() AS rows, sum(v) AS v FROM Both;
";

fn crossing_input(seed: u64) -> String {
    let mut r = Rng(seed);
    let mut input = String::new();
    let mut ts = 0;
    for i in 0..1500 {
        ts += 2 * (1 + r.below(4));
        if i % 211 == 210 {
            ts += 60;
            input.push_str(&format!("{{\"ts\": {ts}}}\n"));
            ts += 2;
        }
        let (k, v) = (r.below(23), r.below(10));
        let stream = if r.below(9) == 0 { "T" } else { "S" };
        input.push_str(&format!(
            "{{\"stream\":\"{stream}\",\"ts\":{ts},\"data\":{{\"k\":\"k{k}\",\"v\":{v}}}}}\n"
        ));
    }
    input
}

/// The lines of `streams`, in order.
fn lines_of(text: &str, streams: &[&str]) -> Vec<String> {
    text.lines()
        .filter(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("output is JSON");
            streams.contains(&v["stream"].as_str().unwrap_or_default())
        })
        .map(String::from)
        .collect()
}

const OUTSIDE: [&str; 4] = ["Total", "Big", "RecentRows", "BothCount"];

#[test]
fn rows_from_a_partition_into_queries_outside_it_equal_the_single_worker_rows() {
    let d = dir("crossing_src");
    let (a, i) = (d.join("app.eventflux"), d.join("input.jsonl"));
    std::fs::write(&a, CROSSING_APP).expect("write app");
    std::fs::write(&i, crossing_input(11)).expect("write input");
    // Per key (the partition's rows) as for every partitioned app.
    check("crossing", &a, &i, &["k"]);
    let bin = Path::new(env!("CARGO_TARGET_TMPDIR")).join("scale_out/crossing/app");
    let one = run_workers(&bin, &i, 1);
    let outside = lines_of(&one, &OUTSIDE);
    assert!(outside.len() > 1000, "{}", outside.len());
    for workers in [2, 3] {
        let many = run_workers(&bin, &i, workers);
        // The queries outside the partition see the rows in the single-worker order.
        for stream in OUTSIDE {
            assert_eq!(
                lines_of(&many, &[stream]),
                lines_of(&one, &[stream]),
                "--workers {workers}: the rows of {stream} differ"
            );
        }
        assert_eq!(many.lines().count(), one.lines().count());
    }
    // Two processes: process 0 (worker 0) writes the rows of the queries outside.
    let hosts = support::hosts_file(&d, 2);
    let start = |p: usize| {
        support::as_process(&mut Command::new(&bin), &hosts, 2, p)
            .arg("--input")
            .arg(&i)
            .arg("--output")
            .arg(d.join(format!("out{p}.jsonl")))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start process")
    };
    let (mut p0, mut p1) = (start(0), start(1));
    assert!(p0.wait().expect("wait").success() && p1.wait().expect("wait").success());
    let out0 = std::fs::read_to_string(d.join("out0.jsonl")).expect("output");
    let out1 = std::fs::read_to_string(d.join("out1.jsonl")).expect("output");
    assert_eq!(lines_of(&out0, &OUTSIDE), outside);
    assert!(lines_of(&out1, &OUTSIDE).is_empty());
    let both = format!("{out0}{out1}");
    assert_eq!(by_key(&both, &["k"]), by_key(&one, &["k"]));
    // With checkpoints such an app runs on one worker (the rows in flight to worker 0 are
    // not part of a checkpoint yet), with a note, and writes the single-worker rows.
    let out = run_ok(
        Command::new(&bin)
            .arg("--input")
            .arg(&i)
            .args(["--workers", "2", "--state-dir"])
            .arg(d.join("state")),
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("running it on one worker"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), one);
}

/// `--workers 2` with a tcp sink that cannot deliver (nothing listens on its port) and
/// `'on.error' = 'fault'`: every row comes back as a `!Out` event, which a partition keyed on
/// `!Out` runs on the worker owning its key, as a single-worker run would (per key in order).
#[test]
fn two_workers_send_the_rows_a_sink_could_not_deliver_to_its_fault_stream() {
    use std::io::BufRead;
    let d = dir("sink_faults");
    let a = d.join("app.eventflux");
    std::fs::write(
        &a,
        "CREATE STREAM S (k STRING, v INT) WITH (type = 'source', extension = 'tcp', \"tcp.port\" = '0');
CREATE STREAM Out (k STRING, v INT)
  WITH (type = 'sink', extension = 'tcp', \"tcp.port\" = '${EF_TEST_DEAD_PORT}', \"on.error\" = 'fault');
PARTITION WITH (k OF S)
BEGIN
    INSERT INTO Out SELECT k, v FROM S;
END;
PARTITION WITH (k OF !Out)
BEGIN
    INSERT INTO Dead SELECT k, v, _error FROM !Out;
END;
",
    )
    .expect("write app");
    let bin = build(&d, &a);
    let dead_port = support::free_port();
    let mut child = Command::new(&bin)
        .args(["--workers", "2"])
        .env("EF_TEST_DEAD_PORT", dead_port.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start app");
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let addr = tcp_source_addr(&mut stderr);
    std::thread::spawn(move || {
        // Keeps the pipe drained (the sink reports each failed batch).
        for _ in stderr.lines().map_while(Result::ok) {}
    });
    let rx = stdout_lines(&mut child);
    let _conn = send_twenty(addr);
    let rows = rows_of(&rx, "Dead", 20);
    assert_twenty_per_key(&rows, |r, v| {
        assert!(
            v["data"]["_error"]
                .as_str()
                .is_some_and(|e| e.starts_with("not delivered: ")),
            "{r}"
        );
    });
    child.kill().expect("stop");
    let _ = child.wait();
    // Several processes: refused at start, saying why (only process 0 feeds the dataflow).
    let hosts = d.join("hosts");
    std::fs::write(&hosts, "127.0.0.1:1\n127.0.0.1:2\n").expect("write hosts");
    let out = Command::new(&bin)
        .args(["--processes", "2", "--process", "1", "--hosts"])
        .arg(&hosts)
        .env("EF_TEST_DEAD_PORT", dead_port.to_string())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run app");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("stream `Out`") && err.contains("runs with --workers, not with --processes"),
        "{err}"
    );
}

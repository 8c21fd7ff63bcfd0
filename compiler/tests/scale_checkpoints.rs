//! Checkpoints across workers and rescaling (DESIGN 11 and 8.4, docs/scale-out.md): per
//! partition key, the rows after a restart on another number of workers (2 -> 1, 1 -> 2,
//! 2 -> 3), after SIGKILLs of a `--workers 2` run and of one process of a two-process
//! loopback run (then restarting both), and after a corrupt newest checkpoint, are the rows
//! of an uninterrupted single-worker run; with the wall clock, after SIGKILLs, every row comes
//! once.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

mod support;

const APP: &str = "CREATE STREAM Trades (sym STRING, price DOUBLE, qty LONG);

PARTITION WITH (sym OF Trades)
BEGIN
    INSERT INTO Sums
    SELECT sym, sum(qty) AS total, avg(price) AS mean FROM Trades WINDOW('length', 5);

    INSERT INTO Rises
    SELECT e1.sym AS sym, e1.price AS a, e2.price AS b
    FROM PATTERN (EVERY e1=Trades -> e2=Trades[e2.price > e1.price]) WITHIN 20 ms;

    INSERT INTO Recent
    SELECT sym, count() AS n FROM Trades WINDOW('time', 30 ms);
END;
";

/// Integer keys with `PURGE AFTER` and a range partition, beside each other.
const APP2: &str = "CREATE STREAM Readings (sensor INT, v DOUBLE);
CREATE STREAM Trades (sym STRING, price DOUBLE, qty LONG);

PARTITION WITH (sensor OF Readings) PURGE AFTER 50 ms
BEGIN
    INSERT INTO Avg
    SELECT sensor, avg(v) AS mean, count() AS n FROM Readings WINDOW('time', 20 ms);
END;

PARTITION WITH (price < 100 AS 'low' OR price >= 100 AS 'high' OF Trades)
BEGIN
    INSERT INTO Bands
    SELECT price >= 100 AS high, sym, sum(qty) AS total FROM Trades WINDOW('length', 3);
END;
";

fn root() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("scale_checkpoints")
}

fn dir(name: &str) -> PathBuf {
    let d = root().join(name);
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

/// The app, built once with `eventflux build --debug`.
fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build("bin", APP))
}

/// `app` built with `eventflux build --debug` into test directory `name`.
fn build(name: &str, app_text: &str) -> PathBuf {
    {
        let d = dir(name);
        let app = d.join("app.eventflux");
        std::fs::write(&app, app_text).expect("write app");
        let bin = d.join("app");
        run_ok(
            Command::new(env!("CARGO_BIN_EXE_eventflux"))
                .env(
                    "EVENTFLUX_CACHE",
                    Path::new(env!("CARGO_TARGET_TMPDIR")).join("eventflux-cache"),
                )
                .args(["build", "--debug"])
                .arg(&app)
                .arg("-o")
                .arg(&bin),
        );
        bin
    }
}

/// `n` trades over 200 symbols, time moving 0-3 ms per event (xorshift, seeded).
fn write_input(path: &Path, n: u64, seed: u64) {
    let mut x = seed | 1;
    let mut below = |m: u64| {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d) % m
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("input"));
    let mut ts = 0;
    for _ in 0..n {
        ts += below(4);
        let sym = below(200);
        let price = 90.0 + below(2000) as f64 / 100.0;
        let qty = 1 + below(100);
        writeln!(
            out,
            r#"{{"stream":"Trades","ts":{ts},"data":{{"sym":"S{sym}","price":{price:.2},"qty":{qty}}}}}"#
        )
        .expect("write input");
    }
    out.flush().expect("flush input");
}

/// Output lines grouped by `(stream, sym)`, each group in its order.
fn by_key(text: &str) -> BTreeMap<(String, String), Vec<String>> {
    let mut groups: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("output is JSON");
        let stream = v["stream"].as_str().unwrap_or_default().to_string();
        let data = &v["data"];
        let key = ["sensor", "high", "sym"]
            .iter()
            .find_map(|k| data.get(*k))
            .map(|k| k.to_string())
            .unwrap_or_default();
        groups
            .entry((stream, key))
            .or_default()
            .push(line.to_string());
    }
    groups
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).expect("read output")
}

/// The rows of an uninterrupted single-worker run on `input`.
fn reference(d: &Path, input: &Path) -> String {
    reference_of(binary(), d, input)
}

fn reference_of(bin: &Path, d: &Path, input: &Path) -> String {
    let out = d.join("reference.jsonl");
    run_ok(
        Command::new(bin)
            .arg("--input")
            .arg(input)
            .arg("--output")
            .arg(&out),
    );
    read(&out)
}

/// The binary on `input` writing `output`, with checkpoints in `state`.
fn service(input: &Path, output: &Path, state: &Path, workers: usize) -> Command {
    service_of(binary(), input, output, state, workers)
}

fn service_of(bin: &Path, input: &Path, output: &Path, state: &Path, workers: usize) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg("--input")
        .arg(input)
        .arg("--output")
        .arg(output)
        .arg("--state-dir")
        .arg(state)
        .args(["--workers", &workers.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

fn assert_same_rows(got: &str, want: &str, what: &str) {
    let (got, want) = (by_key(got), by_key(want));
    let differ: Vec<_> = want
        .iter()
        .filter(|(k, rows)| got.get(*k) != Some(rows))
        .map(|(k, _)| k)
        .take(3)
        .collect();
    if let Some(&k) = differ.first() {
        // The first row where the first differing group parts, for the log.
        let (g, w) = (got.get(k).cloned().unwrap_or_default(), &want[k]);
        let at = g.iter().zip(w).take_while(|(a, b)| a == b).count();
        panic!(
            "{what}: groups {differ:?} differ ({} groups differ in all); {k:?} has {} rows, \
             wants {}; from row {at}: got {:?}, want {:?}",
            want.iter()
                .filter(|(k, rows)| got.get(*k) != Some(rows))
                .count(),
            g.len(),
            w.len(),
            &g[at.min(g.len())..(at + 3).min(g.len())],
            &w[at.min(w.len())..(at + 3).min(w.len())],
        );
    }
    assert_eq!(got.len(), want.len(), "{what}: other groups");
}

#[test]
fn a_restart_on_another_number_of_workers_continues_every_key() {
    let d = dir("rescale");
    let full = d.join("full.jsonl");
    write_input(&full, 20_000, 5);
    let want = reference(&d, &full);
    let all = std::fs::read_to_string(&full).expect("input");
    let half: String = all.lines().take(10_000).map(|l| format!("{l}\n")).collect();
    for (before, after) in [(2, 1), (1, 2), (2, 3)] {
        let what = format!("{before} -> {after} workers");
        let (input, out, state) = (d.join("in.jsonl"), d.join("out.jsonl"), d.join("state"));
        let _ = std::fs::remove_dir_all(&state);
        // The first half, then the whole file: the restart resumes at the checkpointed
        // position and cuts the output back to the checkpointed offset.
        std::fs::write(&input, &half).expect("write input");
        run_ok(&mut service(&input, &out, &state, before));
        std::fs::write(&input, &all).expect("write input");
        let second = run_ok(&mut service(&input, &out, &state, after));
        let stderr = text(&second.stderr);
        assert!(stderr.contains("restored checkpoint"), "{what}: {stderr}");
        assert!(stderr.contains("line 10000"), "{what}: {stderr}");
        assert_same_rows(&read(&out), &want, &what);
    }

    // `eventflux checkpoints` lists them, with the input's position.
    let state = d.join("state");
    let listing = run_ok(
        Command::new(env!("CARGO_BIN_EXE_eventflux"))
            .env(
                "EVENTFLUX_CACHE",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("eventflux-cache"),
            )
            .arg("checkpoints")
            .arg(&state),
    );
    let listing = text(&listing.stdout);
    assert!(
        listing.contains("(runs on several workers)") && listing.contains("(line 20000)"),
        "{listing}"
    );

    // The newest checkpoint corrupt: said, and the one before it is used (the output is
    // cut back further and the same rows come again).
    let newest = std::fs::read_dir(state.join("workers"))
        .expect("checkpoints")
        .flatten()
        .map(|e| e.path())
        .max()
        .expect("a checkpoint");
    let snapshot = newest.join("w0.efs");
    let mut bytes = std::fs::read(&snapshot).expect("snapshot");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&snapshot, bytes).expect("corrupt");
    let (input, out) = (d.join("in.jsonl"), d.join("out.jsonl"));
    let again = run_ok(&mut service(&input, &out, &state, 2));
    let stderr = text(&again.stderr);
    assert!(stderr.contains("incomplete or corrupt"), "{stderr}");
    assert!(stderr.contains("restored checkpoint"), "{stderr}");
    assert_same_rows(&read(&out), &want, "after a corrupt checkpoint");

    // `--restore-from` a checkpoint that is not there: a clear error.
    let bad = service(&input, &out, &state, 2)
        .args(["--restore-from", "999"])
        .output()
        .expect("start");
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).contains("--restore-from 999"),
        "{}",
        text(&bad.stderr)
    );
}

/// How many checkpoints (complete or not) a run on several workers has in `state`.
fn checkpoints(state: &Path) -> usize {
    std::fs::read_dir(state.join("workers")).map_or(0, |d| d.count())
}

/// Starts `start()` (a list of processes) `kills` times, SIGKILLs `victim` of them after
/// a checkpoint or two and a moment, and then every other one still running, and finally runs them to the end;
/// returns how many kills hit a running process and the finishing runs' stderr.
fn crash_and_finish(
    state: &Path,
    start: impl Fn() -> Vec<Child>,
    victim: usize,
    kills: u64,
    pause_ms: u64,
) -> (u64, String) {
    let mut hit = 0;
    for k in 0..kills {
        let mut children = start();
        // Once the run has taken a checkpoint or two (or ended).
        let begun = std::time::Instant::now();
        while checkpoints(state) < 2 && begun.elapsed() < Duration::from_secs(20) {
            if children[victim].try_wait().expect("poll").is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(pause_ms + 37 * k));
        if children[victim].try_wait().expect("poll").is_none() {
            children[victim].kill().expect("SIGKILL");
            hit += 1;
        }
        // Fail-stop: the other processes go down too.
        std::thread::sleep(Duration::from_millis(200));
        for c in &mut children {
            let _ = c.kill();
        }
        for c in children {
            let _ = c.wait_with_output();
        }
    }
    let mut stderr = String::new();
    for c in start() {
        let out = c.wait_with_output().expect("wait");
        stderr.push_str(&text(&out.stderr));
        assert!(out.status.success(), "finishing run failed: {stderr}");
    }
    (hit, stderr)
}

#[test]
fn sigkill_of_a_two_worker_run_loses_and_repeats_no_row() {
    let d = dir("kill_workers");
    let input = d.join("in.jsonl");
    write_input(&input, 300_000, 7);
    let want = reference(&d, &input);
    let (out, state) = (d.join("out.jsonl"), d.join("state"));
    let start = || {
        vec![service(&input, &out, &state, 2)
            .args(["--checkpoint-every", "20ms"])
            .spawn()
            .expect("start")]
    };
    let (hit, stderr) = crash_and_finish(&state, start, 0, 3, 40);
    assert!(hit > 0, "no kill hit a running binary");
    assert!(stderr.contains("restored checkpoint"), "{stderr}");
    assert_same_rows(&read(&out), &want, "after kills");
}

#[test]
fn sigkill_of_one_of_two_processes_then_restarting_both_loses_and_repeats_no_row() {
    let d = dir("kill_processes");
    let input = d.join("in.jsonl");
    write_input(&input, 300_000, 9);
    let want = reference(&d, &input);
    let state = d.join("state");
    let hosts = support::hosts_file(&d, 2);
    let outs = [d.join("out0.jsonl"), d.join("out1.jsonl")];
    let start = || {
        (0..2)
            .map(|p| {
                // Process 0 listens first, so that process 1 connects without a retry.
                std::thread::sleep(Duration::from_millis(100 * p as u64));
                support::as_process(&mut service(&input, &outs[p], &state, 2), &hosts, 2, p)
                    .args(["--checkpoint-every", "20ms"])
                    .spawn()
                    .expect("start process")
            })
            .collect()
    };
    let (hit, stderr) = crash_and_finish(&state, start, 1, 3, 40);
    assert!(hit > 0, "no kill hit a running process");
    assert!(stderr.contains("restored checkpoint"), "{stderr}");
    let both = format!("{}{}", read(&outs[0]), read(&outs[1]));
    assert_same_rows(&both, &want, "two processes after a kill");
}

/// A partitioned filter: one row per matching event, whatever the clock.
const APP3: &str = "CREATE STREAM Trades (sym STRING, price DOUBLE, qty LONG);

PARTITION WITH (sym OF Trades)
BEGIN
    INSERT INTO Big
    SELECT sym, qty, price FROM Trades[qty > 30];
END;
";

/// `text`'s lines without their `ts` (which the wall clock sets at arrival).
fn without_ts(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("output is JSON");
            if let Some(o) = v.as_object_mut() {
                o.remove("ts");
            }
            format!("{v}\n")
        })
        .collect()
}

#[test]
fn wall_clock_runs_on_two_workers_resume_after_kills_without_loss_or_repeats() {
    let d = dir("wall_clock");
    let bin = build("bin_wall", APP3);
    let input = d.join("in.jsonl");
    write_input(&input, 200_000, 13);
    let want = reference_of(&bin, &d, &input);
    let (out, state) = (d.join("out.jsonl"), d.join("state"));
    let start = || {
        vec![service_of(&bin, &input, &out, &state, 2)
            .args(["--clock", "wall", "--checkpoint-every", "20ms"])
            .spawn()
            .expect("start")]
    };
    let (hit, stderr) = crash_and_finish(&state, start, 0, 2, 40);
    assert!(hit > 0, "no kill hit a running binary");
    assert!(stderr.contains("restored checkpoint"), "{stderr}");
    assert_same_rows(
        &without_ts(&read(&out)),
        &without_ts(&want),
        "wall clock after kills",
    );
}

#[test]
fn integer_keys_with_purge_and_range_partitions_rescale_too() {
    let d = dir("rescale_int_range");
    let bin = build("bin_int_range", APP2);
    let mut lines = Vec::new();
    let mut x: u64 = 11;
    let mut below = |m: u64| {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d) % m
    };
    let mut ts = 0;
    for _ in 0..6_000 {
        ts += below(5);
        if below(2) == 0 {
            let (sensor, v) = (below(40), below(1000) as f64 / 10.0);
            lines.push(format!(
                r#"{{"stream":"Readings","ts":{ts},"data":{{"sensor":{sensor},"v":{v}}}}}"#
            ));
        } else {
            let (sym, price, qty) = (below(30), 50 + below(100), 1 + below(9));
            lines.push(format!(
                r#"{{"stream":"Trades","ts":{ts},"data":{{"sym":"S{sym}","price":{price}.0,"qty":{qty}}}}}"#
            ));
        }
    }
    let all: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let half: String = lines[..3_000].iter().map(|l| format!("{l}\n")).collect();
    let full = d.join("full.jsonl");
    std::fs::write(&full, &all).expect("write input");
    let want = reference_of(&bin, &d, &full);
    for (before, after) in [(1, 2), (2, 3), (3, 1)] {
        let what = format!("{before} -> {after} workers");
        let (input, out, state) = (d.join("in.jsonl"), d.join("out.jsonl"), d.join("state"));
        let _ = std::fs::remove_dir_all(&state);
        std::fs::write(&input, &half).expect("write input");
        run_ok(&mut service_of(&bin, &input, &out, &state, before));
        std::fs::write(&input, &all).expect("write input");
        let second = run_ok(&mut service_of(&bin, &input, &out, &state, after));
        let stderr = text(&second.stderr);
        assert!(stderr.contains("line 3000"), "{what}: {stderr}");
        assert_same_rows(&read(&out), &want, &what);
    }
}

//! The `eventflux` command end to end: check, emit, run (through the build cache), bench.
//!
//! `run` compiles a real project with cargo; the cache lives in the target directory so
//! repeated test runs reuse the compiled runtime.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn eventflux() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eventflux"));
    cmd.env("EVENTFLUX_CACHE", cache_dir());
    cmd
}

/// Held by every test that runs `eventflux run`: each `run` of an app file creates that file's
/// project in the shared cache, and one test counts those projects.
static RUNS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn runs() -> std::sync::MutexGuard<'static, ()> {
    RUNS.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("eventflux-cache")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("start eventflux");
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

fn temp_file(name: &str, contents: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-tests");
    std::fs::create_dir_all(&dir).expect("create temp dir");
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write temp file");
    path
}

#[test]
fn check_accepts_a_good_app_and_reports_errors_with_location() {
    run_ok(
        eventflux()
            .arg("check")
            .arg(repo().join("examples/trades/app.eventflux")),
    );
    let bad = temp_file(
        "bad.eventflux",
        "CREATE STREAM S (x INT);\nINSERT INTO O SELECT y FROM S;\n",
    );
    let out = eventflux().arg("check").arg(&bad).output().expect("start");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("unknown attribute `y`"), "{err}");
    assert!(err.contains("bad.eventflux:2:22"), "{err}");
}

#[test]
fn check_reports_a_missing_file() {
    let out = eventflux()
        .args(["check", "does/not/exist.eventflux"])
        .output()
        .expect("start");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("does/not/exist.eventflux"));
}

#[test]
fn emit_prints_formatted_rust() {
    let out = run_ok(
        eventflux()
            .arg("emit")
            .arg(repo().join("examples/trades/app.eventflux")),
    );
    let rust = text(&out.stdout);
    assert!(rust.contains("pub struct Trades"));
    assert!(rust.contains("pub fn send_trades"));
}

#[test]
fn explain_prints_the_plan_as_text_or_dot() {
    let app = repo().join("examples/trades/app.eventflux");
    let out = run_ok(eventflux().arg("explain").arg(&app));
    let plan = text(&out.stdout);
    assert!(plan.contains("stream Trades [input]"), "{plan}");
    assert!(plan.contains("  logical:   scan Trades"), "{plan}");
    assert!(plan.contains("  physical:  "), "{plan}");
    assert!(plan.contains("  placement: worker 0"), "{plan}");
    let out = run_ok(
        eventflux()
            .arg("explain")
            .arg(&app)
            .args(["--format", "dot"]),
    );
    let dot = text(&out.stdout);
    assert!(dot.starts_with("digraph eventflux {"), "{dot}");
    assert!(dot.trim_end().ends_with('}'), "{dot}");
    let bad = temp_file(
        "explain_bad.eventflux",
        "INSERT INTO O SELECT x FROM Nowhere;",
    );
    let out = eventflux()
        .arg("explain")
        .arg(&bad)
        .output()
        .expect("start eventflux");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("unknown stream"));
}

#[test]
fn run_executes_the_example_then_reuses_the_cached_binary() {
    let _runs = runs();
    let app = repo().join("examples/trades/app.eventflux");
    let input = repo().join("examples/trades/input.jsonl");
    let first = run_ok(eventflux().arg("run").arg(&app).arg("--input").arg(&input));
    let lines: Vec<String> = text(&first.stdout).lines().map(str::to_owned).collect();
    assert_eq!(
        lines[0],
        r#"{"stream":"Big","ts":1000,"kind":"current","data":{"symbol":"IBM","notional":7550.0}}"#
    );
    assert_eq!(lines.len(), 7, "{lines:?}");
    // A second run of the unchanged app must not invoke cargo: make cargo unusable.
    let second = run_ok(
        eventflux()
            .env("CARGO", "/nonexistent/cargo")
            .arg("run")
            .arg(&app)
            .args(["--output-streams", "Big"])
            .arg("--input")
            .arg(&input),
    );
    assert_eq!(text(&second.stdout).lines().count(), 2);
}

#[test]
fn run_after_an_edit_rebuilds_the_app_in_its_own_project() {
    let _runs = runs();
    let app = temp_file(
        "edit_loop.eventflux",
        "CREATE STREAM S (v INT); INSERT INTO O SELECT v FROM S WHERE v > 1;",
    );
    let input = temp_file(
        "edit_loop.jsonl",
        "{\"stream\":\"S\",\"ts\":1,\"data\":{\"v\":1}}\n{\"stream\":\"S\",\"ts\":2,\"data\":{\"v\":2}}\n",
    );
    let run = || {
        let out = run_ok(eventflux().arg("run").arg(&app).arg("--input").arg(&input));
        text(&out.stdout).lines().count()
    };
    let edit_projects = || {
        std::fs::read_dir(cache_dir().join("projects"))
            .expect("projects")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("edit-"))
            .count()
    };
    assert_eq!(run(), 1);
    let projects = edit_projects();
    std::fs::write(
        &app,
        "CREATE STREAM S (v INT); INSERT INTO O SELECT v FROM S WHERE v > 0;",
    )
    .expect("edit the app");
    assert_eq!(run(), 2);
    // One project for the file, however often it is edited.
    assert_eq!(edit_projects(), projects);
}

#[test]
fn run_reports_bad_lines_and_strict_fails() {
    let _runs = runs();
    let app = repo().join("examples/trades/app.eventflux");
    let input = temp_file(
        "bad.jsonl",
        "{\"stream\": \"Trades\", \"ts\": 1, \"data\": {\"symbol\": \"A\", \"price\": 1.0, \"volume\": 100}}\nnot json\n",
    );
    let out = run_ok(eventflux().arg("run").arg(&app).arg("--input").arg(&input));
    assert!(
        text(&out.stderr).contains("line 2"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout).lines().count(), 2);
    let strict = eventflux()
        .arg("run")
        .arg(&app)
        .arg("--strict")
        .arg("--input")
        .arg(&input)
        .output()
        .expect("start");
    assert_eq!(strict.status.code(), Some(2));
}

/// The one-pass reader of `data` through a real run: the conformance case `decode_one_pass`
/// (every type, any member order, escapes, numbers at their limits, lines serde_json rejects)
/// prints its expected lines byte for byte and reports serde_json's errors.
#[test]
fn run_reads_every_kind_of_data_line_byte_for_byte() {
    let _runs = runs();
    let case = repo().join("tests/cases/decode_one_pass");
    let out = run_ok(
        eventflux()
            .arg("run")
            .arg(case.join("app.eventflux"))
            .arg("--input")
            .arg(case.join("input.jsonl")),
    );
    let expected = std::fs::read_to_string(case.join("expected.jsonl")).expect("expected");
    assert_eq!(text(&out.stdout), expected);
    let errors = std::fs::read_to_string(case.join("expected_errors.txt")).expect("errors");
    for line in errors.lines() {
        assert!(
            text(&out.stderr).contains(line),
            "{line}\n{}",
            text(&out.stderr)
        );
    }
}

#[test]
fn bench_prints_one_json_line() {
    let app = repo().join("examples/trades/app.eventflux");
    let input = repo().join("examples/trades/input.jsonl");
    let out = run_ok(
        eventflux()
            .arg("bench")
            .arg(&app)
            .arg("--input")
            .arg(&input)
            .args(["--repeat", "3"]),
    );
    let line = text(&out.stdout);
    assert!(
        line.contains("\"events\":15") || line.contains("\"events\": 15"),
        "{line}"
    );
    assert!(line.contains("events_per_sec"), "{line}");
}

#[test]
fn build_makes_a_binary_that_persists_state_across_runs() {
    let app = temp_file(
        "counting.eventflux",
        "CREATE STREAM S (k STRING, v INT);\nINSERT INTO Totals SELECT k, sum(v) AS total, count() AS n FROM S WINDOW('length', 3) GROUP BY k;\n",
    );
    let bin = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("cli-tests")
        .join("counting-bin");
    run_ok(eventflux().arg("build").arg(&app).arg("-o").arg(&bin));
    let events: Vec<String> = (1..=6)
        .map(|i| {
            format!(
                "{{\"stream\": \"S\", \"ts\": {i}, \"data\": {{\"k\": \"{}\", \"v\": {i}}}}}",
                if i % 2 == 0 { "a" } else { "b" }
            )
        })
        .collect();
    let whole = temp_file("whole.jsonl", &events.join("\n"));
    let first = temp_file("first.jsonl", &events[..3].join("\n"));
    let second = temp_file("second.jsonl", &events[3..].join("\n"));
    let expected = run_ok(Command::new(&bin).arg("--input").arg(&whole));
    let state = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("cli-tests")
        .join("state");
    let _ = std::fs::remove_dir_all(&state);
    let a = run_ok(
        Command::new(&bin)
            .arg("--input")
            .arg(&first)
            .arg("--state-dir")
            .arg(&state),
    );
    let b = run_ok(
        Command::new(&bin)
            .arg("--input")
            .arg(&second)
            .arg("--state-dir")
            .arg(&state),
    );
    let checkpoints: Vec<_> = std::fs::read_dir(&state)
        .expect("state dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert!(!checkpoints.is_empty());
    assert_eq!(
        format!("{}{}", text(&a.stdout), text(&b.stdout)),
        text(&expected.stdout)
    );
    // Corrupt checkpoints are a clear error, not a panic (nor silently empty state).
    for file in &checkpoints {
        std::fs::write(file, b"garbage").expect("write");
    }
    let out = Command::new(&bin)
        .arg("--input")
        .arg(&second)
        .arg("--state-dir")
        .arg(&state)
        .output()
        .expect("start");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("can be restored"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn stream_sources_and_sinks_replace_input_and_output() {
    let _runs = runs();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("cli-tests")
        .join("endpoints");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let orders = dir.join("orders.jsonl");
    let prices = dir.join("prices.jsonl");
    let alerts = dir.join("alerts.jsonl");
    std::fs::write(
        &orders,
        "{\"ts\": 10, \"data\": {\"id\": 1, \"qty\": 500}}\n{\"ts\": 30, \"data\": [2, 5]}\n",
    )
    .expect("orders");
    std::fs::write(&prices, "{\"ts\": 20, \"data\": {\"p\": 1.5}}\n").expect("prices");
    let app = temp_file(
        "endpoints.eventflux",
        &format!(
            "CREATE STREAM Orders (id INT, qty INT) WITH (type = 'source', extension = 'file', \"file.path\" = '{}');\n\
             CREATE STREAM Prices (p DOUBLE) WITH (type = 'source', extension = 'file', format = 'json', \"file.path\" = '{}');\n\
             CREATE STREAM Alerts (id INT) WITH (type = 'sink', extension = 'file', \"file.path\" = '{}');\n\
             INSERT INTO Alerts SELECT id FROM Orders WHERE qty > 100;\n\
             INSERT INTO Seen SELECT p FROM Prices;\n",
            orders.display(),
            prices.display(),
            alerts.display()
        ),
    );
    let out = run_ok(eventflux().arg("run").arg(&app));
    assert_eq!(
        text(&out.stdout),
        "{\"stream\":\"Seen\",\"ts\":20,\"kind\":\"current\",\"data\":{\"p\":1.5}}\n"
    );
    let sunk = std::fs::read_to_string(&alerts).expect("sink file");
    assert_eq!(
        sunk,
        "{\"stream\":\"Alerts\",\"ts\":10,\"kind\":\"current\",\"data\":{\"id\":1}}\n"
    );
}

//! Redis tables through the real `eventflux run` (the compiled project enables the runtime's
//! `redis` feature).
//!
//! The tests that need a server read `EVENTFLUX_TEST_REDIS=redis://HOST:PORT` (`.ci/run`
//! starts `redis-server` and sets it); without it they print that they are skipped, except
//! under CI (`CI` set), where a missing server fails them. Each test keeps its rows under a
//! key prefix of its own, so the tests run in parallel on one server.

use std::path::{Path, PathBuf};
use std::process::Output;

mod support;

fn case(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/redis")
        .join(name)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn temp_file(name: &str, contents: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("redis-tests");
    std::fs::create_dir_all(&dir).expect("create temp dir");
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write temp file");
    path
}

/// `(host, port)` of the test server, or `None` (after printing why) to skip.
fn server(test: &str) -> Option<(String, String)> {
    let Ok(url) = std::env::var("EVENTFLUX_TEST_REDIS") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "EVENTFLUX_TEST_REDIS must be set under CI (.ci/run starts redis-server)"
        );
        eprintln!("skipped {test}: EVENTFLUX_TEST_REDIS is not set (e.g. redis://127.0.0.1:6399)");
        return None;
    };
    let rest = url.trim_start_matches("redis://").trim_end_matches('/');
    let (host, port) = rest.rsplit_once(':').unwrap_or((rest, "6379"));
    Some((host.to_string(), port.to_string()))
}

fn run(app: &Path, input: &Path) -> Output {
    support::eventflux_with(support::TABLES)
        .args(["run", "--debug"])
        .arg(app)
        .arg("--input")
        .arg(input)
        .output()
        .expect("start eventflux")
}

fn expected(name: &str) -> String {
    std::fs::read_to_string(case(name)).expect("read expected output")
}

/// Enrichment joins (inner and left), `IN`, UPDATE, DELETE, UPSERT, a scan for a non-key
/// condition, a duplicate key, a second table whose Redis is unreachable, and rows that
/// outlive the process: a second run sees the first run's rows.
#[test]
fn run_enriches_from_redis_and_keeps_rows_across_runs() {
    let Some((host, port)) = server("run_enriches_from_redis_and_keeps_rows_across_runs") else {
        return;
    };
    let source = std::fs::read_to_string(case("app.eventflux"))
        .expect("read app")
        .replace("@HOST@", &host)
        .replace("@PORT@", &port);
    let app = temp_file("enrich.eventflux", &source);
    let first = run(&app, &case("input1.jsonl"));
    let stderr = text(&first.stderr);
    assert!(first.status.success(), "{stderr}");
    assert_eq!(text(&first.stdout), expected("expected1.jsonl"), "{stderr}");
    assert!(
        stderr.contains("table `Stock`: a row with the same primary key exists"),
        "{stderr}"
    );
    let lost = "error: table `Lost`: cannot reach Redis at 127.0.0.1:1/0";
    assert_eq!(stderr.matches(lost).count(), 1, "reported once: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let second = run(&app, &case("input2.jsonl"));
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert_eq!(text(&second.stdout), expected("expected2.jsonl"));
}

/// `"redis.on_error" = 'fail'`: the first failure ends the run with a clear error and exit
/// code 1, after the event that met it. Needs no server (nothing listens on port 1).
#[test]
fn fail_mode_stops_the_app_with_an_error() {
    let app = temp_file(
        "fail.eventflux",
        "CREATE STREAM Quotes (symbol STRING, bid DOUBLE);\n\
         CREATE TABLE Stock (symbol STRING PRIMARY KEY, price DOUBLE)\n\
         \x20 WITH (extension = 'redis', \"redis.port\" = 1, \"redis.on_error\" = 'fail');\n\
         INSERT INTO Enriched SELECT q.symbol, s.price FROM Quotes AS q LEFT JOIN Stock AS s \
         ON q.symbol = s.symbol;\n",
    );
    let input = temp_file(
        "fail.jsonl",
        "{\"stream\": \"Quotes\", \"ts\": 1, \"data\": {\"symbol\": \"IBM\", \"bid\": 1.0}}\n\
         {\"stream\": \"Quotes\", \"ts\": 2, \"data\": {\"symbol\": \"ACME\", \"bid\": 2.0}}\n",
    );
    let out = run(&app, &input);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("table `Stock`: cannot reach Redis at 127.0.0.1:1/0"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let stdout = text(&out.stdout);
    assert!(
        !stdout.contains("ACME"),
        "stopped after the first event: {stdout}"
    );
}

//! The table conformance cases (every case of `tests/cases/` with a `CREATE TABLE`) run
//! through the real `eventflux run` with their tables in Redis and in PostgreSQL: each
//! case's app is rewritten to give each table `WITH (extension = ..., ...)` (a key prefix
//! or table name of its own per case and run), and its output must equal the case's
//! `expected.jsonl` (as JSON values, line by line, in order).
//!
//! Needs `EVENTFLUX_TEST_REDIS=redis://HOST:PORT` and
//! `EVENTFLUX_TEST_POSTGRES=postgres://USER@HOST:PORT/DB` (`.ci/run` starts both servers);
//! a backend without its variable is skipped with a message, except under CI (`CI` set),
//! where a missing server fails the test. The apps are compiled and run on two threads.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

mod support;

fn server(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{var} must be set under CI (.ci/run starts the server)"
            );
            eprintln!("skipped: {var} is not set");
            None
        }
    }
}

/// The cases whose app has a `CREATE TABLE`, by name.
fn table_cases() -> Vec<(String, PathBuf)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/cases");
    let mut cases: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .expect("read tests/cases")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            std::fs::read_to_string(p.join("app.eventflux"))
                .is_ok_and(|s| s.to_ascii_uppercase().contains("CREATE TABLE"))
        })
        .map(|p| {
            let name = p
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            (name, p)
        })
        .collect();
    cases.sort();
    cases
}

/// `source` with `with(table)` appended to each `CREATE TABLE` (after its column list).
fn rewrite(source: &str, with: impl Fn(&str) -> String) -> String {
    let upper = source.to_ascii_uppercase();
    let mut out = String::new();
    let mut at = 0;
    while let Some(found) = upper[at..].find("CREATE TABLE") {
        let start = at + found;
        let open = start + source[start..].find('(').expect("a column list");
        let name = source[start + "CREATE TABLE".len()..open].trim();
        let mut depth = 0;
        let mut close = open;
        for (i, c) in source[open..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        close = open + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.push_str(&source[at..=close]);
        out.push_str(&format!(" WITH ({})", with(name)));
        at = close + 1;
    }
    out.push_str(&source[at..]);
    out
}

fn parse(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or(serde_json::Value::String(l.to_string())))
        .collect()
}

/// Runs every table case with its tables put where `with` says; returns the failures.
fn run_cases(backend: &str, with: &(dyn Fn(&str, &str) -> String + Sync)) -> Vec<String> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("table-backends-{backend}"));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    let cases = Mutex::new(table_cases());
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let Some((name, case)) = cases.lock().expect("cases").pop() else {
                    return;
                };
                let source =
                    std::fs::read_to_string(case.join("app.eventflux")).expect("read app");
                let app = dir.join(format!("{name}.eventflux"));
                std::fs::write(&app, rewrite(&source, |table| with(&name, table)))
                    .expect("write app");
                let out = support::eventflux_with(support::TABLES)
                    .args(["run", "--debug"])
                    .arg(&app)
                    .arg("--input")
                    .arg(case.join("input.jsonl"))
                    .output()
                    .expect("start eventflux");
                let expected =
                    std::fs::read_to_string(case.join("expected.jsonl")).unwrap_or_default();
                let actual = String::from_utf8_lossy(&out.stdout);
                if !out.status.success() || parse(&actual) != parse(&expected) {
                    failures.lock().expect("failures").push(format!(
                        "{backend} {name}: {}\n--- expected\n{expected}--- actual\n{actual}--- stderr\n{}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
            });
        }
    });
    failures.into_inner().expect("failures")
}

/// A name unique to this run (tables and key prefixes of earlier runs stay apart).
fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{}{nanos}", std::process::id())
}

#[test]
fn table_cases_give_the_same_output_with_tables_in_redis_and_postgres() {
    let mut failures = Vec::new();
    let id = run_id();
    if let Some(url) = server("EVENTFLUX_TEST_REDIS") {
        let rest = url.trim_start_matches("redis://").trim_end_matches('/');
        let (host, port) = rest.rsplit_once(':').unwrap_or((rest, "6379"));
        let with = |case: &str, _table: &str| {
            format!(
                "extension = 'redis', \"redis.host\" = '{host}', \"redis.port\" = '{port}', \
                 \"redis.prefix\" = 'ef{id}_{case}'"
            )
        };
        failures.extend(run_cases("redis", &with));
    }
    if let Some(url) = server("EVENTFLUX_TEST_POSTGRES") {
        let with = |case: &str, table: &str| {
            format!(
                "extension = 'postgres', \"postgres.url\" = '{url}', \
                 \"postgres.table\" = 'ef{id}_{case}_{}'",
                table.to_ascii_lowercase()
            )
        };
        failures.extend(run_cases("postgres", &with));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn rewrite_puts_options_after_each_column_list() {
    let app = "CREATE TABLE T (a STRING, PRIMARY KEY (a));\ncreate table U (b INT);";
    assert_eq!(
        rewrite(app, |t| format!("x = '{t}'")),
        "CREATE TABLE T (a STRING, PRIMARY KEY (a)) WITH (x = 'T');\ncreate table U (b INT) WITH (x = 'U');"
    );
}

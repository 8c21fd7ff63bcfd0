//! PostgreSQL tables (`CREATE TABLE ... WITH (extension = 'postgres', ...)`) end to end
//! through real binaries (`eventflux build --debug`, the runtime's `postgres` feature).
//!
//! Option checks need no server. The live tests run when `EVENTFLUX_TEST_POSTGRES` is set
//! (`.ci/run` sets it; under CI (`CI` set) they fail without it, elsewhere they are
//! skipped) and start PostgreSQL clusters of their own (Debian's `initdb` and `pg_ctl`, as
//! the `postgres` user) so they can stop, restart and configure them: a server restart in
//! the middle of a run, and kill -9 of the binary against an uninterrupted run.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod support;

fn dir() -> PathBuf {
    support::temp_dir("postgres-table-tests")
}

fn build(app: &str, name: &str) -> PathBuf {
    support::build_featured(&dir(), app, name, support::BACKENDS)
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
fn postgres_table_options_are_checked() {
    let good = "CREATE STREAM In (k STRING, v LONG);\n\
        CREATE TABLE T (k STRING PRIMARY KEY, v LONG, INDEX (v)) WITH (extension = 'postgres', \
        \"postgres.url\" = 'postgres://app:${PGPASSWORD}@127.0.0.1:5432/db', \
        \"postgres.table\" = 'public.t', \"postgres.cache\" = 100, \"on.error\" = 'log');\n\
        INSERT INTO T SELECT k, v FROM In;\n";
    let (ok, err) = check(good, "pg-table-good");
    assert!(ok, "{err}");
    let cases = [
        (
            r#""postgres.url" = 'mysql://u:secret@x/db', "postgres.table" = 't'"#,
            "`mysql://u:***@x/db` is not a postgres:// URL",
        ),
        (
            r#""postgres.url" = 'postgres://x/db', "postgres.table" = 't; DROP'"#,
            "`t; DROP` is not a table name",
        ),
        (
            r#""postgres.url" = 'postgres://x/db', "postgres.table" = '${1X}'"#,
            "does not name an environment variable",
        ),
        (
            r#""postgres.url" = 'postgres://x/db', "postgres.table" = 't', "postgres.cache" = -1"#,
            "expected a number of cached rows",
        ),
        (
            r#""postgres.url" = 'postgres://x/db', "postgres.table" = 't', "on.error" = 'drop'"#,
            "unknown error mode `drop`",
        ),
        (
            r#""postgres.url" = 'postgres://x/db', "postgres.table" = 't', "postgres.bogus" = 1"#,
            "unknown table option `postgres.bogus`",
        ),
        (
            r#""postgres.url" = 'postgres://x/db'"#,
            "needs \"postgres.table\"",
        ),
    ];
    for (options, expected) in cases {
        let app = format!(
            "CREATE STREAM In (k STRING);\nCREATE TABLE T (k STRING PRIMARY KEY) WITH (extension = 'postgres', {options});\n\
             INSERT INTO T SELECT k FROM In;\n"
        );
        let (ok, err) = check(&app, "pg-table-bad");
        assert!(!ok && err.contains(expected), "{options}: {err}");
        // The message never shows the password (the source line under it is the user's).
        let message = err.lines().next().unwrap_or_default();
        assert!(!message.contains("secret"), "{err}");
        // The diagnostic points into the line with the options.
        assert!(err.contains(":2:"), "{options}: {err}");
    }
}

/// Whether the live tests run (`EVENTFLUX_TEST_POSTGRES` set); outside CI a missing
/// variable skips them.
fn live(test: &str) -> bool {
    if std::env::var_os("EVENTFLUX_TEST_POSTGRES").is_some() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "EVENTFLUX_TEST_POSTGRES must be set under CI (.ci/run starts PostgreSQL)"
    );
    eprintln!("skipped {test}: EVENTFLUX_TEST_POSTGRES is not set");
    false
}

/// A PostgreSQL cluster of the test's own, in a temp dir, on a free port.
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
}

impl Cluster {
    fn new(name: &str) -> Cluster {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is installed under /usr/lib/postgresql")
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .filter(|b| b.join("initdb").exists())
            .max()
            .expect("an initdb");
        let root = std::env::temp_dir().join(format!("ef-pg-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("cluster dir");
        let data = root.join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        for (path, mode) in [(&root, "755"), (&data, "700")] {
            let ok = Command::new("chmod").arg(mode).arg(path).status();
            assert!(ok.is_ok_and(|s| s.success()));
        }
        let ok = Command::new("chown").arg("postgres").arg(&data).status();
        assert!(ok.is_ok_and(|s| s.success()), "chown postgres");
        let port = support::free_port();
        let cluster = Cluster { bin, data, port };
        let out = cluster.as_postgres("initdb", &["-A", "trust", "-U", "postgres"], true);
        assert!(out, "initdb failed");
        cluster.start();
        cluster
    }

    fn as_postgres(&self, tool: &str, args: &[&str], with_data: bool) -> bool {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(self.bin.join(tool));
        if with_data {
            cmd.arg("-D").arg(&self.data);
        }
        cmd.args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn start(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_prepared_transactions=10",
            self.port,
            self.data.display()
        );
        let log = self.data.join("log");
        let ok = self.as_postgres(
            "pg_ctl",
            &["-w", "-l", &log.to_string_lossy(), "-o", &opts, "start"],
            true,
        );
        assert!(ok, "pg_ctl start failed");
    }

    fn stop(&self) {
        let ok = self.as_postgres("pg_ctl", &["-w", "-m", "fast", "stop"], true);
        assert!(ok, "pg_ctl stop failed");
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn psql(&self, sql: &str) -> String {
        let out = Command::new("psql")
            .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.url())
            .arg("-c")
            .arg(sql)
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.as_postgres("pg_ctl", &["-w", "-m", "immediate", "stop"], true);
        if let Some(root) = self.data.parent() {
            let _ = std::fs::remove_dir_all(root);
        }
    }
}

const SEEN_APP: &str = r#"
CREATE STREAM Ev (id LONG, k STRING);
CREATE TABLE Seen (id LONG PRIMARY KEY, k STRING)
  WITH (extension = 'postgres', "postgres.url" = '${PG_URL}', "postgres.table" = '${PG_TABLE}');
INSERT INTO Seen SELECT id, k FROM Ev;
INSERT INTO Prev SELECT e.id AS id, s.k AS k FROM Ev AS e JOIN Seen AS s ON s.id = e.id - 1;
"#;

fn events(from: u64, to: u64) -> String {
    (from..to)
        .map(|i| {
            format!(
                "{{\"stream\": \"Ev\", \"ts\": {}, \"data\": {{\"id\": {i}, \"k\": \"k{i}\"}}}}\n",
                1000 + i
            )
        })
        .collect()
}

/// Waits until `cond` holds (the server's answers, not time, decide; a generous bound).
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let begun = Instant::now();
    while !cond() {
        assert!(begun.elapsed() < Duration::from_secs(60), "never: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The server stops in the middle of a run and comes back: the table's writes wait
/// (`on.error` 'wait', the default), reconnect with backoff, and nothing is lost; with
/// and without checkpoints (whose open transaction is redone after the reconnection).
#[test]
fn postgres_table_survives_a_server_restart() {
    if !live("postgres_table_survives_a_server_restart") {
        return;
    }
    let bin = build(SEEN_APP, "pg-table-seen");
    let pg = Cluster::new("restart");
    for (n, extra) in [
        ("plain", Vec::new()),
        (
            "checkpointed",
            vec!["--checkpoint-every", "50ms", "--state-dir"],
        ),
    ] {
        let table = format!("seen_{n}");
        let mut cmd = Command::new(&bin);
        cmd.args(["--input", "-"]).args(&extra);
        if !extra.is_empty() {
            let state = dir().join(format!("state-restart-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&state);
            cmd.arg(state);
        }
        let mut child = cmd
            .env("PG_URL", pg.url())
            .env("PG_TABLE", &table)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the app");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(events(0, 100).as_bytes()).expect("write");
        stdin.flush().expect("flush");
        if extra.is_empty() {
            wait_until("the first rows are in the table", || {
                pg.psql(&format!(
                    "SELECT count(*) FROM pg_tables WHERE tablename = '{table}'"
                ))
                .trim()
                    == "1"
                    && pg.psql(&format!("SELECT count(*) FROM {table}")).trim() == "100"
            });
        } else {
            // The first checkpoint's transaction is committed (prepared, then committed).
            wait_until("a checkpoint committed rows", || {
                pg.psql(&format!(
                    "SELECT count(*) FROM pg_tables WHERE tablename = '{table}'"
                ))
                .trim()
                    == "1"
                    && pg.psql(&format!("SELECT count(*) FROM {table}")).trim() != "0"
            });
        }
        pg.stop();
        stdin.write_all(events(100, 200).as_bytes()).expect("write");
        stdin.flush().expect("flush");
        std::thread::sleep(Duration::from_millis(500));
        pg.start();
        stdin.write_all(events(200, 300).as_bytes()).expect("write");
        drop(stdin);
        let mut out = String::new();
        child
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut out)
            .expect("read");
        let mut err = String::new();
        child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut err)
            .expect("read");
        let status = child.wait().expect("wait");
        assert!(status.success(), "{n}: exit {status}: {err}");
        assert_eq!(
            pg.psql(&format!("SELECT count(*), min(id), max(id) FROM {table}"))
                .trim(),
            "300|0|299",
            "{n}: {err}"
        );
        assert_eq!(out.lines().count(), 299, "{n}: {out}\n{err}");
        assert!(err.contains("retrying"), "{n}: {err}");
        assert!(err.contains("reconnected"), "{n}: {err}");
        assert!(!err.contains("postgres:***") || !err.contains("secret"));
    }
}

const TOTALS_APP: &str = r#"
CREATE STREAM Trades (id LONG, symbol STRING, volume INT);
CREATE TABLE Totals (symbol STRING PRIMARY KEY, n LONG, vol LONG)
  WITH (extension = 'postgres', "postgres.url" = '${PG_URL}', "postgres.table" = '${PG_TABLE}');
UPSERT INTO Totals
SELECT symbol, count() AS n, sum(volume) AS vol FROM Trades GROUP BY symbol
ON Totals.symbol = symbol;
DELETE FROM Totals USING Trades AS t WHERE Totals.symbol = t.symbol AND t.volume = 0;
INSERT INTO Seen
SELECT t.id AS id, s.n AS n, s.vol AS vol
FROM Trades AS t LEFT OUTER JOIN Totals AS s ON s.symbol = t.symbol;
"#;

/// The kill -9 contract with a PostgreSQL table: its writes since the last checkpoint are
/// one transaction, prepared before the checkpoint is saved and committed after it, so a
/// run killed several times and restarted leaves the table, and writes the output, as an
/// uninterrupted run does.
#[test]
fn postgres_table_kill_and_restart_equals_an_uninterrupted_run() {
    if !live("postgres_table_kill_and_restart") {
        return;
    }
    let bin = build(TOTALS_APP, "pg-table-totals");
    let pg = Cluster::new("kill");
    let input = dir().join("pg-table-trades.jsonl");
    let n = 4000u64;
    let lines: String = (0..n)
        .map(|i| {
            format!(
                "{{\"stream\": \"Trades\", \"ts\": {}, \"data\": {{\"id\": {i}, \"symbol\": \"S{}\", \"volume\": {}}}}}\n",
                1000 + i,
                i % 11,
                i % 17
            )
        })
        .collect();
    std::fs::write(&input, lines).expect("write input");
    let run = |table: &str| -> Child {
        Command::new(&bin)
            .arg("--input")
            .arg(&input)
            .arg("--output")
            .arg(dir().join(format!("{table}.jsonl")))
            .args(["--checkpoint-every", "20ms", "--state-dir"])
            .arg(dir().join(format!("state-{table}")))
            .env("PG_URL", pg.url())
            .env("PG_TABLE", table)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the app")
    };
    let finish = |mut child: Child| {
        let status = child.wait().expect("wait");
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        assert!(status.success(), "exit {status}: {err}");
    };
    let tables = ["totals_whole", "totals_killed"];
    for t in tables {
        let _ = std::fs::remove_dir_all(dir().join(format!("state-{t}")));
        let _ = std::fs::remove_file(dir().join(format!("{t}.jsonl")));
    }
    finish(run(tables[0]));
    for pause in [150, 400, 80, 600, 250] {
        let mut child = run(tables[1]);
        std::thread::sleep(Duration::from_millis(pause));
        let _ = child.kill();
        let _ = child.wait();
    }
    finish(run(tables[1]));
    let contents = |t: &str| pg.psql(&format!("SELECT symbol, n, vol FROM {t} ORDER BY symbol"));
    let whole = contents(tables[0]);
    // One row per symbol, less those whose last trade (volume 0) deleted them.
    assert!(whole.lines().count() >= 9, "{whole}");
    assert_eq!(contents(tables[1]), whole);
    let output =
        |t: &str| std::fs::read_to_string(dir().join(format!("{t}.jsonl"))).expect("read output");
    let expected = output(tables[0]);
    assert_eq!(expected.lines().count() as u64, n);
    assert!(output(tables[1]) == expected, "the outputs differ");
    assert_eq!(
        pg.psql("SELECT count(*) FROM pg_prepared_xacts").trim(),
        "0",
        "no prepared transaction is left behind"
    );
}

const SINK_APP: &str = r#"
CREATE STREAM Ev (id LONG, k STRING);
CREATE STREAM Rows (id LONG, k STRING)
  WITH (type = 'sink', extension = 'postgres', "postgres.url" = '${PG_URL}', "postgres.table" = '${PG_TABLE}');
INSERT INTO Rows SELECT id, k FROM Ev;
"#;

/// The server of a postgres **sink** stops in the middle of a run and comes back: the
/// sink's transaction waits (`on.error` 'wait', the default), reconnects with backoff and
/// is redone, and the table ends with every row exactly once.
#[test]
fn postgres_sink_survives_a_server_restart() {
    if !live("postgres_sink_survives_a_server_restart") {
        return;
    }
    let bin = build(SINK_APP, "pg-sink-rows");
    let pg = Cluster::new("sink-restart");
    let table = "sink_rows";
    pg.psql(&format!("CREATE TABLE {table} (id BIGINT, k TEXT)"));
    let state = dir().join(format!("state-sink-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let mut child = Command::new(&bin)
        .args(["--input", "-", "--checkpoint-every", "50ms", "--state-dir"])
        .arg(&state)
        .env("PG_URL", pg.url())
        .env("PG_TABLE", table)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the app");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(events(0, 100).as_bytes()).expect("write");
    stdin.flush().expect("flush");
    wait_until("a checkpoint committed rows", || {
        pg.psql(&format!("SELECT count(*) FROM {table}")).trim() != "0"
    });
    pg.stop();
    stdin.write_all(events(100, 200).as_bytes()).expect("write");
    stdin.flush().expect("flush");
    std::thread::sleep(Duration::from_millis(500));
    pg.start();
    stdin.write_all(events(200, 300).as_bytes()).expect("write");
    drop(stdin);
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read");
    let status = child.wait().expect("wait");
    assert!(status.success(), "exit {status}: {err}");
    assert_eq!(
        pg.psql(&format!(
            "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM {table}"
        ))
        .trim(),
        "300|300|0|299",
        "{err}"
    );
}

const INDEX_APP: &str = r#"
CREATE STREAM Adds (id LONG, sector STRING, qty INT);
CREATE STREAM Q (sector STRING);
CREATE TABLE T (id LONG PRIMARY KEY, sector STRING, qty INT, INDEX (sector))
  WITH (extension = 'postgres', "postgres.url" = '${PG_URL}', "postgres.table" = 'by_sector');
INSERT INTO T SELECT id, sector, qty FROM Adds;
INSERT INTO Found SELECT q.sector AS sector, t.id AS id, t.qty AS qty
  FROM Q AS q JOIN T AS t ON t.sector == q.sector;
UPDATE T SET qty = T.qty + 1 FROM Q AS q WHERE T.sector == q.sector;
"#;

/// A join and an update whose condition fixes an `INDEX` column: PostgreSQL finds the rows
/// through its index (its statistics count the index scans), and the rows, NULLs, order
/// and updates are those of the same app with an in-memory table.
#[test]
fn postgres_table_lookups_by_index_use_the_index_and_match_an_in_memory_table() {
    if !live("postgres_table_lookups_by_index") {
        return;
    }
    let pg = Cluster::new("index");
    let in_memory = INDEX_APP.replace(
        "\n  WITH (extension = 'postgres', \"postgres.url\" = '${PG_URL}', \"postgres.table\" = 'by_sector')",
        "",
    );
    assert_ne!(in_memory, INDEX_APP);
    let (pg_bin, mem_bin) = (
        build(INDEX_APP, "pg-table-index"),
        build(&in_memory, "mem-table-index"),
    );
    // 3,000 rows over 100 sectors (every 37th without one), then queries of a sector,
    // of one no row has, of a NULL sector, and of a sector again after its update.
    let mut lines: String = (0..3000u64)
        .map(|i| {
            let sector = if i % 37 == 0 {
                "null".to_string()
            } else {
                format!("\"s{}\"", i % 100)
            };
            format!(
                "{{\"stream\": \"Adds\", \"ts\": {}, \"data\": {{\"id\": {i}, \"sector\": {sector}, \"qty\": {}}}}}\n",
                1000 + i,
                i % 7
            )
        })
        .collect();
    for sector in ["\"s7\"", "\"none\"", "null", "\"s7\"", "\"s42\""] {
        lines.push_str(&format!(
            "{{\"stream\": \"Q\", \"ts\": 5000, \"data\": {{\"sector\": {sector}}}}}\n"
        ));
    }
    let input = dir().join("pg-table-index.jsonl");
    std::fs::write(&input, lines).expect("write input");
    let run = |bin: &PathBuf| {
        let out = Command::new(bin)
            .arg("--input")
            .arg(&input)
            .env("PG_URL", pg.url())
            .output()
            .expect("run the app");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let (from_pg, from_memory) = (run(&pg_bin), run(&mem_bin));
    // s7 twice (the second time after its update) and s42: 29 rows each time.
    assert_eq!(from_pg.lines().count(), 3 * 29, "{from_pg}");
    assert_eq!(from_pg, from_memory);
    wait_until("PostgreSQL counts scans of the table's index", || {
        let scans = pg.psql(
            "SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_user_indexes \
             WHERE relname = 'by_sector' AND indexrelname LIKE '%ef_idx0'",
        );
        scans.trim().parse::<i64>().is_ok_and(|n| n >= 4)
    });
}

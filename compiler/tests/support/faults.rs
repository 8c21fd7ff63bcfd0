//! Standalone binaries with a tcp source, started and stopped by the tests of sinks'
//! `'on.error' = 'fault'` (tls_faults.rs, and brokers.rs with the broker features).

use std::io::Read;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::Killed;

/// Waits for the log line saying where `what` of `stream` listens (e.g. "tcp source",
/// "In") and returns that address; the lines before it are kept in `log`.
pub fn listening_on(
    err: &mpsc::Receiver<String>,
    log: &mut Vec<String>,
    what: &str,
    stream: &str,
) -> SocketAddr {
    let prefix = format!("eventflux: {what} `{stream}` listening on ");
    loop {
        let line = err
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("the binary did not start its source: {log:?}"));
        if let Some(addr) = line
            .strip_prefix(&prefix)
            .and_then(|rest| rest.trim().parse().ok())
        {
            return addr;
        }
        log.push(line);
    }
}

/// Starts `bin` with `envs`; returns the child and its stderr lines.
pub fn start(bin: &Path, envs: &[(&str, String)]) -> (Killed, mpsc::Receiver<String>) {
    let mut cmd = Command::new(bin);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = Killed(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the binary"),
    );
    let err = super::stderr_lines(&mut child.0);
    (child, err)
}

/// SIGTERM, then the JSON lines the binary printed and its stderr; asserts exit 0.
pub fn stop(
    mut child: Killed,
    err: &mpsc::Receiver<String>,
    log: &mut Vec<String>,
) -> Vec<serde_json::Value> {
    sigterm_and_wait(&mut child.0, err, log)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

/// SIGTERM to `child`, then what it printed on stdout (read to the end), with the rest of
/// its stderr (`err`) added to `log`; asserts exit 0.
pub fn sigterm_and_wait(
    child: &mut Child,
    err: &mpsc::Receiver<String>,
    log: &mut Vec<String>,
) -> String {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout)
        .expect("read stdout");
    let status = child.wait().expect("wait");
    while let Ok(line) = err.recv_timeout(Duration::from_millis(500)) {
        log.push(line);
    }
    assert!(status.success(), "exit {status:?}\n{log:?}");
    stdout
}

/// Starts `bin` with `EF_TEST_DEAD_PORT` (a port nothing listens on) and `EF_TEST_FAULTS`
/// (`faults`, removed first); sends two events to its tcp source `In` and waits until the
/// fault file holds `lines` lines. The file's text and the binary's log.
pub fn undeliverable(bin: &Path, faults: &Path, lines: usize) -> (String, Vec<String>) {
    let _ = std::fs::remove_file(faults);
    let (child, err) = start(
        bin,
        &[
            ("EF_TEST_DEAD_PORT", super::free_port().to_string()),
            ("EF_TEST_FAULTS", faults.display().to_string()),
        ],
    );
    let mut log = Vec::new();
    let addr = listening_on(&err, &mut log, "tcp source", "In");
    let mut client = TcpStream::connect(addr).expect("connect");
    client
        .write_all(
            b"{\"ts\": 1000, \"data\": {\"id\": 1, \"qty\": 5}}\n\
              {\"ts\": 2000, \"data\": {\"id\": 2, \"qty\": 50}}\n",
        )
        .expect("write");
    let deadline = Instant::now() + Duration::from_secs(60);
    let text = loop {
        while let Ok(line) = err.try_recv() {
            log.push(line);
        }
        let text = std::fs::read_to_string(faults).unwrap_or_default();
        if text.lines().count() >= lines {
            break text;
        }
        assert!(Instant::now() < deadline, "so far: {text:?}\n{log:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(client);
    stop(child, &err, &mut log);
    (text, log)
}

/// `text` (a dead-letter file) holds the two events [`undeliverable`] sent, as rows of the
/// fault stream `stream`, each with a "not delivered: ..." `_error`.
pub fn assert_dead_letters(text: &str, stream: &str) {
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let ids: Vec<i64> = rows
        .iter()
        .filter_map(|v| v["data"]["id"].as_i64())
        .collect();
    assert_eq!(ids, vec![1, 2], "{text}");
    assert!(
        rows.iter().all(|v| v["stream"] == stream
            && v["data"]["_error"]
                .as_str()
                .is_some_and(|e| e.starts_with("not delivered: "))),
        "{text}"
    );
}

//! What the end-to-end test files share: the `eventflux` command with the tests' app cache,
//! a temporary directory per file, debug builds of apps, and children killed when a test
//! ends. Each test file is its own crate and uses part of this.
#![allow(dead_code)]

pub mod faults;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// The `eventflux` command, compiling apps in the tests' shared cache.
pub fn eventflux() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eventflux"));
    cmd.env(
        "EVENTFLUX_CACHE",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("eventflux-cache"),
    );
    cmd
}

/// Runtime features the broker and PostgreSQL tests build every app with (as
/// `EVENTFLUX_FEATURES`, docs/running.md): their apps, each with other connectors, then share
/// one build of the runtime in the tests' cache instead of one build per connector.
pub const BACKENDS: &str = "redis,tls,nats,mqtt,postgres,rabbitmq,kafka";

/// The same for the tests that run apps with Redis and PostgreSQL tables.
pub const TABLES: &str = "redis,postgres";

/// [`eventflux`] building every app with the runtime `features` too.
pub fn eventflux_with(features: &str) -> Command {
    let mut cmd = eventflux();
    cmd.env("EVENTFLUX_FEATURES", features);
    cmd
}

/// The directory `name` under the tests' temporary directory (created).
pub fn temp_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Writes `app` to `dir/name.eventflux` and builds it (`eventflux build --debug`) into the
/// binary `dir/name`.
pub fn build_in(dir: &Path, app: &str, name: &str) -> PathBuf {
    build_with(dir, app, name, &["build", "--debug"])
}

/// [`build_in`] with the runtime `features` too (see [`BACKENDS`]).
pub fn build_featured(dir: &Path, app: &str, name: &str, features: &str) -> PathBuf {
    build_by(
        eventflux_with(features),
        dir,
        app,
        name,
        &["build", "--debug"],
    )
}

/// [`build_in`] with the command's arguments before the app (`["build"]`: a release build).
pub fn build_with(dir: &Path, app: &str, name: &str, command: &[&str]) -> PathBuf {
    build_by(eventflux(), dir, app, name, command)
}

fn build_by(
    mut eventflux: Command,
    dir: &Path,
    app: &str,
    name: &str,
    command: &[&str],
) -> PathBuf {
    let path = dir.join(format!("{name}.eventflux"));
    std::fs::write(&path, app).expect("write app");
    let bin = dir.join(name);
    let out = eventflux
        .args(command)
        .arg(&path)
        .arg("-o")
        .arg(&bin)
        .output()
        .expect("run eventflux build");
    assert!(
        out.status.success(),
        "build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}

/// A child process killed when the test ends (also when it fails half way).
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The text of `GET /metrics` at `addr` (with the HTTP head).
pub fn metrics_text(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).expect("connect to metrics");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("request");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text
}

/// A hosts file for `processes` processes on loopback (`dir/hosts.txt`), on ports the system
/// has just handed out as free (each bound to port 0, then released).
pub fn hosts_file(dir: &Path, processes: usize) -> PathBuf {
    let listeners: Vec<std::net::TcpListener> = (0..processes)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port"))
        .collect();
    let mut text = String::new();
    for l in &listeners {
        let port = l.local_addr().expect("local address").port();
        text.push_str(&format!("127.0.0.1:{port}\n"));
    }
    drop(listeners);
    let path = dir.join("hosts.txt");
    std::fs::write(&path, text).expect("write hosts file");
    path
}

/// `cmd` as process `process` of `processes` on the hosts of `hosts` (the caller adds the
/// input, output and other options).
pub fn as_process<'a>(
    cmd: &'a mut Command,
    hosts: &Path,
    processes: usize,
    process: usize,
) -> &'a mut Command {
    cmd.args(["--processes", &processes.to_string()])
        .args(["--process", &process.to_string()])
        .arg("--hosts")
        .arg(hosts)
}

/// A loopback port nothing listens on: the system's pick, bound and released at once (for a
/// dead peer, or a server of a test's own).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A channel of the lines `child` writes to its stderr (taken; read on a thread of its own).
pub fn stderr_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// A channel of the lines `child` writes to its stdout (taken; read on a thread of its own).
pub fn stdout_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

//! The `tcp` transport (std threads, no feature): a source listening for JSON lines from any
//! number of clients, and a sink connecting to a peer, reconnecting with backoff.
//!
//! Source: each client gets a thread that reads lines and sends them in batches on a bounded
//! channel; a full channel blocks the thread, which stops reading, so TCP flow control slows
//! the client (`block` backpressure). A line over [`MAX_LINE`] bytes, or an unterminated line
//! when the client disconnects, is reported as [`SourceEvent::Bad`] and the connection (or the
//! listener) goes on.

use super::sink::{deliver_rows, LineSender, OnError, SinkStats};
use super::source::{Batch, SourceEvent, MAX_LINE};
use super::{ConnectError, ConnectorConfig};
use crossbeam_channel::{Receiver, Sender};
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often blocked reads and accepts look at the stop flag.
const POLL: Duration = Duration::from_millis(100);

/// A listening `tcp` source.
pub struct TcpSource {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    clients: Arc<AtomicU64>,
}

impl TcpSource {
    /// Binds `"tcp.host"` (default 127.0.0.1) : `"tcp.port"` and starts accepting; lines go to
    /// `tx` in batches of at most `batch_max`.
    pub fn start(
        cfg: &ConnectorConfig,
        tx: Sender<SourceEvent>,
        batch_max: usize,
    ) -> Result<TcpSource, ConnectError> {
        let addr = cfg.address("tcp")?;
        let listener =
            TcpListener::bind(&addr).map_err(|e| cfg.io(format!("listen on {addr}"), e))?;
        let local = listener
            .local_addr()
            .map_err(|e| cfg.io("read the listening address", e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| cfg.io("configure the listener", e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let clients = Arc::new(AtomicU64::new(0));
        let stream = cfg.stream.clone();
        let accept = {
            let (stop, clients) = (Arc::clone(&stop), Arc::clone(&clients));
            std::thread::Builder::new()
                .name(format!("ef-tcp-{stream}"))
                .spawn(move || accept_loop(listener, stream, tx, batch_max.max(1), stop, clients))
                .map_err(|e| cfg.io("start the listener thread", e))?
        };
        Ok(TcpSource {
            addr: local,
            stop,
            accept: Some(accept),
            clients,
        })
    }

    /// The bound address (the real port when `"tcp.port"` was 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn clients(&self) -> u64 {
        self.clients.load(Ordering::Relaxed)
    }

    /// Stops accepting and reading (lines already read are still delivered).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

impl Drop for TcpSource {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(
    listener: TcpListener,
    stream: String,
    tx: Sender<SourceEvent>,
    batch_max: usize,
    stop: Arc<AtomicBool>,
    clients: Arc<AtomicU64>,
) {
    let mut readers: Vec<JoinHandle<()>> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((conn, _peer)) => {
                let origin = clients.fetch_add(1, Ordering::Relaxed) + 1;
                let (tx, stop, name) = (tx.clone(), Arc::clone(&stop), stream.clone());
                let spawned = std::thread::Builder::new()
                    .name(format!("ef-tcp-{stream}-{origin}"))
                    .spawn(move || read_client(conn, &name, origin, &tx, batch_max, &stop));
                match spawned {
                    Ok(h) => readers.push(h),
                    Err(e) => {
                        eprintln!("eventflux: tcp source `{stream}`: cannot start a reader: {e}")
                    }
                }
                readers.retain(|h| !h.is_finished());
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                std::thread::sleep(POLL / 4);
            }
            Err(e) => {
                eprintln!("eventflux: tcp source `{stream}`: accept failed: {e}");
                std::thread::sleep(POLL);
            }
        }
    }
    // Readers end on their own: at the stop flag, or when the receiver is gone (one blocked
    // on a full channel must not hold the shutdown).
    drop(readers);
}

/// Reads one client's lines until it disconnects or the source stops.
fn read_client(
    conn: TcpStream,
    stream: &str,
    origin: u64,
    tx: &Sender<SourceEvent>,
    batch_max: usize,
    stop: &AtomicBool,
) {
    if conn.set_nonblocking(false).is_err() || conn.set_read_timeout(Some(POLL)).is_err() {
        return;
    }
    let mut reader = BufReader::with_capacity(64 * 1024, conn);
    let mut line: Vec<u8> = Vec::new();
    let mut skipping = false;
    let mut number = 0u64;
    let mut batch = Batch::new(stream);
    let bad = |number: u64, reason: String| SourceEvent::Bad {
        stream: stream.to_string(),
        position: number,
        origin,
        reason,
    };
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let buf = match reader.fill_buf() {
            Ok(b) => b,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                // Idle: hand over what is complete.
                if !flush(tx, stream, &mut batch) {
                    return;
                }
                continue;
            }
            Err(e) => {
                let _ = tx.send(bad(number + 1, format!("connection error: {e}")));
                break;
            }
        };
        if buf.is_empty() {
            // The client closed the connection.
            if !line.is_empty() || skipping {
                number += 1;
                let event = bad(
                    number,
                    "the connection closed in the middle of a line".to_string(),
                );
                if !flush(tx, stream, &mut batch) || tx.send(event).is_err() {
                    return;
                }
            }
            break;
        }
        let (used, complete) = match memchr::memchr(b'\n', buf) {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if !skipping {
            let take = if complete { used - 1 } else { used };
            line.extend_from_slice(&buf[..take]);
        }
        reader.consume(used);
        if !skipping && line.len() > MAX_LINE {
            skipping = true;
            line.clear();
        }
        if !complete {
            continue;
        }
        number += 1;
        if skipping {
            skipping = false;
            let event = bad(number, format!("line longer than {MAX_LINE} bytes"));
            if !flush(tx, stream, &mut batch) || tx.send(event).is_err() {
                return;
            }
            continue;
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            line.clear();
            continue;
        }
        let text = std::str::from_utf8(&line);
        match text {
            Ok(text) => {
                batch.push(text, number, origin);
                line.clear();
            }
            Err(_) => {
                line.clear();
                if !flush(tx, stream, &mut batch)
                    || tx.send(bad(number, "not UTF-8".into())).is_err()
                {
                    return;
                }
            }
        }
        // Hand over a full batch, or what is complete when no more bytes are buffered.
        if (batch.len() >= batch_max || reader.buffer().is_empty())
            && !flush(tx, stream, &mut batch)
        {
            return;
        }
    }
    let _ = flush(tx, stream, &mut batch);
}

/// Sends the batch (blocking while the channel is full); `false` when the receiver is gone.
fn flush(tx: &Sender<SourceEvent>, stream: &str, batch: &mut Batch) -> bool {
    if batch.is_empty() {
        return true;
    }
    let full = std::mem::replace(batch, Batch::new(stream));
    tx.send(SourceEvent::Batch(full)).is_ok()
}

/// A `tcp` sink: a thread that writes each batch of encoded JSON lines to `"tcp.host"`:
/// `"tcp.port"`, connecting lazily and reconnecting with exponential backoff. `on.error`
/// defaults to `wait` (hold the batch until the peer is back).
pub struct TcpSink {
    tx: Option<Sender<(u64, Vec<u8>)>>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<SinkStats>,
    stop: Arc<AtomicBool>,
}

impl TcpSink {
    /// Starts the sink; batches are queued up to `buffer` (then the app waits).
    pub fn start(cfg: &ConnectorConfig, buffer: usize) -> Result<TcpSink, ConnectError> {
        let host = cfg.option("tcp.host").unwrap_or("127.0.0.1").to_string();
        let port: u16 = cfg.number("tcp.port", 0)?;
        if port == 0 {
            return Err(cfg.bad("tcp.port", "a sink needs a port to connect to"));
        }
        let policy = OnError::of(
            cfg,
            OnError::Wait {
                backoff: Duration::from_millis(100),
            },
        )?;
        let (tx, rx) = crossbeam_channel::bounded(buffer.max(1));
        let stats = Arc::new(SinkStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let label = format!("tcp sink `{}` to {host}:{port}", cfg.stream);
        let thread = {
            let (stats, stop) = (Arc::clone(&stats), Arc::clone(&stop));
            std::thread::Builder::new()
                .name(format!("ef-tcp-sink-{}", cfg.stream))
                .spawn(move || sink_loop(&host, port, rx, policy, &label, &stats, &stop))
                .map_err(|e| cfg.io("start the sink thread", e))?
        };
        Ok(TcpSink {
            tx: Some(tx),
            thread: Some(thread),
            stats,
            stop,
        })
    }

    /// Queues `bytes` (`events` complete JSON lines); waits while the queue is full.
    /// `false` when the sink has stopped.
    pub fn send(&self, events: u64, bytes: Vec<u8>) -> bool {
        self.tx
            .as_ref()
            .is_some_and(|tx| tx.send((events, bytes)).is_ok())
    }

    /// The sink's counters.
    pub fn stats(&self) -> &Arc<SinkStats> {
        &self.stats
    }

    /// Delivers what is queued (a `wait` policy gives up once `give_up_after` passed) and
    /// stops the thread.
    pub fn finish(mut self, give_up_after: Duration) -> Arc<SinkStats> {
        self.close(give_up_after);
        Arc::clone(&self.stats)
    }

    fn close(&mut self, give_up_after: Duration) {
        super::sink::close_sender_thread(&mut self.tx, &mut self.thread, &self.stop, give_up_after);
    }
}

impl LineSender for TcpSink {
    fn send_lines(&self, events: u64, bytes: Vec<u8>) -> bool {
        self.send(events, bytes)
    }

    fn stats(&self) -> &Arc<SinkStats> {
        &self.stats
    }
}

impl Drop for TcpSink {
    fn drop(&mut self) {
        self.close(Duration::from_secs(5));
    }
}

fn sink_loop(
    host: &str,
    port: u16,
    rx: Receiver<(u64, Vec<u8>)>,
    policy: OnError,
    label: &str,
    stats: &Arc<SinkStats>,
    stop: &AtomicBool,
) {
    let mut conn: Option<TcpStream> = None;
    for (events, bytes) in rx {
        deliver_rows(
            policy,
            label,
            events,
            stats,
            stop,
            || {
                if conn.is_none() {
                    let c = TcpStream::connect((host, port))
                        .map_err(|e| format!("cannot connect: {e}"))?;
                    let _ = c.set_nodelay(true);
                    conn = Some(c);
                }
                let Some(c) = conn.as_mut() else {
                    return Err("not connected".to_string());
                };
                match c.write_all(&bytes).and_then(|()| c.flush()) {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        conn = None;
                        Err(format!("write failed: {e}"))
                    }
                }
            },
            || std::borrow::Cow::Borrowed(&bytes[..]),
        );
        if stats.failed.load(Ordering::Relaxed) {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Direction;
    use super::*;
    use std::io::Read;

    fn cfg(options: &[(&str, String)]) -> ConnectorConfig {
        ConnectorConfig {
            stream: "S".into(),
            direction: Direction::Source,
            extension: "tcp".into(),
            options: options
                .iter()
                .map(|(k, v)| ((*k).to_string(), v.clone()))
                .collect(),
        }
    }

    fn collect(
        rx: &Receiver<SourceEvent>,
        lines: usize,
        bad: usize,
    ) -> (Vec<(u64, u64, String)>, Vec<String>) {
        let (mut good, mut errors) = (Vec::new(), Vec::new());
        while good.len() < lines || errors.len() < bad {
            match rx
                .recv_timeout(Duration::from_secs(10))
                .expect("source events")
            {
                SourceEvent::Batch(b) => {
                    assert_eq!(b.stream, "S");
                    good.extend(b.iter().map(|(t, l)| (l.origin, l.position, t.to_string())));
                }
                SourceEvent::Bad {
                    reason, position, ..
                } => errors.push(format!("{position}: {reason}")),
                SourceEvent::Proto(_) | SourceEvent::Closed { .. } => {}
            }
        }
        (good, errors)
    }

    #[test]
    fn source_reads_lines_from_many_clients_and_survives_bad_ones() {
        let (tx, rx) = crossbeam_channel::bounded(16);
        let src = TcpSource::start(&cfg(&[("tcp.port", "0".into())]), tx, 64).unwrap();
        let addr = src.local_addr();
        assert!(addr.ip().is_loopback());
        let mut a = TcpStream::connect(addr).unwrap();
        let mut b = TcpStream::connect(addr).unwrap();
        a.write_all(b"{\"x\": 1}\r\n\n{\"x\": 2}\n").unwrap();
        b.write_all(b"{\"y\": 1}\n{\"y\": 2, \"cut").unwrap();
        drop(b); // disconnects in the middle of its second line
        let (good, bad) = collect(&rx, 3, 1);
        let mut from_a: Vec<_> = good
            .iter()
            .filter(|g| g.2.contains('x'))
            .map(|g| g.1)
            .collect();
        from_a.sort_unstable();
        assert_eq!(from_a, vec![1, 3], "{good:?}");
        assert!(good.iter().any(|g| g.2 == "{\"y\": 1}"));
        assert_eq!(
            bad,
            vec!["2: the connection closed in the middle of a line".to_string()]
        );
        // An oversized line is reported and the connection goes on.
        let big = vec![b'a'; MAX_LINE + 10];
        a.write_all(&big).unwrap();
        a.write_all(b"\n{\"x\": 3}\n").unwrap();
        let (good, bad) = collect(&rx, 1, 1);
        assert_eq!(good[0].2, "{\"x\": 3}");
        assert_eq!(good[0].1, 5);
        assert!(bad[0].starts_with("4: line longer"), "{bad:?}");
        drop(a);
        // More clients can still connect.
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(b"[1]\n").unwrap();
        let (good, _) = collect(&rx, 1, 0);
        assert_eq!(good[0].2, "[1]");
        assert_eq!(src.clients(), 3);
    }

    #[test]
    fn full_channel_stops_reading_so_the_client_is_slowed() {
        // A channel of one batch that nobody reads: the reader blocks, the socket buffers fill
        // and the client's writes stop completing, instead of memory growing.
        let (tx, rx) = crossbeam_channel::bounded(1);
        let src = TcpSource::start(&cfg(&[("tcp.port", "0".into())]), tx, 1).unwrap();
        let mut client = TcpStream::connect(src.local_addr()).unwrap();
        client
            .set_write_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let line = b"{\"payload\": \"0123456789012345678901234567890123456789\"}\n";
        let mut written = 0usize;
        let blocked = loop {
            match client.write(line) {
                Ok(n) => written += n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    break true
                }
                Err(e) => panic!("{e}"),
            }
            if written > 512 << 20 {
                break false;
            }
        };
        assert!(
            blocked,
            "the client was never slowed ({written} bytes accepted)"
        );
        // Once the app reads again the client's lines all arrive.
        let mut lines = 0usize;
        while let Ok(ev) = rx.recv_timeout(Duration::from_millis(300)) {
            if let SourceEvent::Batch(b) = ev {
                lines += b.lines.len();
            }
        }
        assert!(lines > 0);
        assert!(lines * line.len() <= written);
    }

    #[test]
    fn sink_sends_lines_and_reconnects() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut c = cfg(&[
            ("tcp.port", port.to_string()),
            ("retry.backoff", "10".into()),
        ]);
        c.direction = Direction::Sink;
        let sink = TcpSink::start(&c, 8).unwrap();
        assert!(sink.send(1, b"{\"a\":1}\n".to_vec()));
        let (mut peer, _) = listener.accept().unwrap();
        let mut buf = [0u8; 8];
        peer.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"{\"a\":1}\n");
        // The peer goes away; the sink reconnects and the next line arrives.
        drop(peer);
        std::thread::sleep(Duration::from_millis(50));
        let mut got = Vec::new();
        for i in 0..3 {
            assert!(sink.send(1, format!("{{\"b\":{i}}}\n").into_bytes()));
        }
        let (mut peer, _) = listener.accept().unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut chunk = [0u8; 64];
        while !String::from_utf8_lossy(&got).contains("{\"b\":2}") {
            let n = peer.read(&mut chunk).unwrap();
            assert!(n > 0);
            got.extend_from_slice(&chunk[..n]);
        }
        let stats = sink.finish(Duration::from_secs(5));
        assert!(stats.sent() >= 2, "{stats:?}");
    }

    #[test]
    fn sink_with_log_policy_drops_when_nobody_listens() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let mut c = cfg(&[("tcp.port", port.to_string()), ("on.error", "drop".into())]);
        c.direction = Direction::Sink;
        let sink = TcpSink::start(&c, 8).unwrap();
        assert!(sink.send(2, b"1\n2\n".to_vec()));
        let stats = sink.finish(Duration::from_secs(5));
        assert_eq!(stats.dropped(), 2);
        assert_eq!(stats.sent(), 0);
    }
}

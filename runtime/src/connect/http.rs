//! The `http` transport (feature `http`): a source serving `POST /streams/<Stream>` and
//! `GET /health` (axum on a tokio runtime of its own thread), and a sink POSTing each batch
//! of JSON lines to `"http.url"` (ureq; HTTPS verifies the server's certificate).
//!
//! A request body is one JSON event (the envelope `{"ts": N, "data": {...}}` or the bare
//! `data`), an array of events, or JSON lines. The answer is 202 `{"accepted": n}`, or 400
//! `{"accepted": n, "errors": [{"line": k, "error": "..."}]}` when some lines are bad: the
//! good lines of the body are delivered all the same. With `"auth.token"` a request without
//! `Authorization: Bearer <token>` gets 401, is counted and is never processed.

use super::sink::{deliver_rows, LineSender, OnError, SinkStats};
use super::source::{split_message, Batch, SourceEvent};
use super::{ConnectError, ConnectorConfig};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use crossbeam_channel::{Receiver, Sender};
use serde_json::value::RawValue;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Checks that a message's `data` decodes for the stream (the app's decoder).
pub type Validate = Arc<dyn Fn(&str, &str) -> Result<(), String> + Send + Sync>;

/// The largest request body accepted.
const MAX_BODY: usize = 16 << 20;

/// Counters of an HTTP source.
#[derive(Debug, Default)]
pub struct HttpStats {
    /// Events accepted.
    pub accepted: AtomicU64,
    /// Bad lines reported.
    pub bad: AtomicU64,
    /// Requests refused for a missing or wrong token.
    pub unauthorized: AtomicU64,
}

struct Shared {
    stream: String,
    csv: bool,
    token: Option<String>,
    tx: Sender<SourceEvent>,
    validate: Validate,
    stats: Arc<HttpStats>,
    requests: AtomicU64,
    /// The app's metrics (`--metrics`), which count refused requests too.
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

/// A running HTTP source.
pub struct HttpSource {
    addr: SocketAddr,
    stats: Arc<HttpStats>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl HttpSource {
    /// Binds `"http.host"` (default 127.0.0.1) : `"http.port"` and serves until stopped.
    pub fn start(
        cfg: &ConnectorConfig,
        tx: Sender<SourceEvent>,
        validate: Validate,
        metrics: Option<Arc<crate::metrics::Metrics>>,
    ) -> Result<HttpSource, ConnectError> {
        let tls = match (cfg.option("tls.cert"), cfg.option("tls.key")) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(
                crate::metrics::Tls::from_pem_files(cert, key)
                    .map_err(|e| cfg.bad("tls.cert", e))?,
            ),
            (Some(_), None) => return Err(cfg.bad("tls.key", "is required with \"tls.cert\"")),
            (None, Some(_)) => return Err(cfg.bad("tls.cert", "is required with \"tls.key\"")),
        };
        let addr = cfg.address("http")?;
        let listener = std::net::TcpListener::bind(&addr)
            .map_err(|e| cfg.io(format!("listen on {addr}"), e))?;
        let local = listener
            .local_addr()
            .map_err(|e| cfg.io("read the listening address", e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| cfg.io("configure the listener", e))?;
        let stats = Arc::new(HttpStats::default());
        let shared = Arc::new(Shared {
            stream: cfg.stream.clone(),
            csv: cfg.csv()?,
            token: cfg
                .option("auth.token")
                .filter(|t| !t.is_empty())
                .map(str::to_string),
            tx,
            validate,
            stats: Arc::clone(&stats),
            requests: AtomicU64::new(0),
            metrics,
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| cfg.io("start the HTTP runtime", e))?;
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = Router::new()
            .route("/health", get(|| async { "OK" }))
            .route("/streams/{stream}", post(receive))
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(shared);
        let label = format!("http source `{}`", cfg.stream);
        let thread = std::thread::Builder::new()
            .name(format!("ef-http-{}", cfg.stream))
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            eprintln!("eventflux: {label}: {e}");
                            return;
                        }
                    };
                    let stopped = async {
                        let _ = stopped.await;
                    };
                    let served = match tls {
                        None => {
                            axum::serve(listener, app)
                                .with_graceful_shutdown(stopped)
                                .await
                        }
                        #[cfg(feature = "tls")]
                        Some(tls) => {
                            axum::serve(TlsListener::new(listener, tls.server_config()), app)
                                .with_graceful_shutdown(stopped)
                                .await
                        }
                        #[cfg(not(feature = "tls"))]
                        Some(_) => Ok(()),
                    };
                    if let Err(e) = served {
                        eprintln!("eventflux: {label}: {e}");
                    }
                });
            })
            .map_err(|e| cfg.io("start the HTTP thread", e))?;
        Ok(HttpSource {
            addr: local,
            stats,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The bound address (the real port when `"http.port"` was 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The source's counters.
    pub fn stats(&self) -> &Arc<HttpStats> {
        &self.stats
    }

    /// Stops serving (requests in progress finish).
    pub fn stop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        if let Some(h) = self.thread.take() {
            if h.is_finished() {
                let _ = h.join();
            }
        }
    }
}

impl Drop for HttpSource {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How long a client may take for its TLS handshake.
#[cfg(feature = "tls")]
const HANDSHAKE: Duration = Duration::from_secs(10);

/// A listener handing axum the connections whose TLS handshake succeeded: each handshake
/// runs in a task of its own (a slow or plain-HTTP client holds up nobody), and one that
/// fails is dropped, nothing of it processed.
#[cfg(feature = "tls")]
struct TlsListener {
    ready: tokio::sync::mpsc::Receiver<(
        tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        SocketAddr,
    )>,
    addr: std::io::Result<SocketAddr>,
}

#[cfg(feature = "tls")]
impl TlsListener {
    fn new(listener: tokio::net::TcpListener, config: Arc<rustls::ServerConfig>) -> TlsListener {
        let addr = listener.local_addr();
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let (tx, ready) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(c) => c,
                    Err(_) => {
                        // Out of descriptors and the like: try again shortly.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, ready) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    if let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE, acceptor.accept(tcp)).await
                    {
                        let _ = ready.send((tls, peer)).await;
                    }
                });
                if tx.is_closed() {
                    return;
                }
            }
        });
        TlsListener { ready, addr }
    }
}

#[cfg(feature = "tls")]
impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match &self.addr {
            Ok(a) => Ok(*a),
            Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
        }
    }
}

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    Path(stream): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(token) = &shared.token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(token.as_str()) {
            shared.stats.unauthorized.fetch_add(1, Ordering::Relaxed);
            if let Some(m) = &shared.metrics {
                m.add_unauthorized();
            }
            return json(
                StatusCode::UNAUTHORIZED,
                serde_json::json!({"error": "missing or wrong bearer token"}),
            );
        }
    }
    if stream != shared.stream {
        return json(
            StatusCode::NOT_FOUND,
            serde_json::json!({"error": format!("this endpoint takes events of stream `{}`", shared.stream)}),
        );
    }
    let request = shared.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let (good, errors) = if shared.csv {
        split_csv(&stream, &body, &shared.validate)
    } else {
        split_body(&stream, &body, &shared.validate)
    };
    let accepted = good.len();
    shared
        .stats
        .accepted
        .fetch_add(accepted as u64, Ordering::Relaxed);
    shared
        .stats
        .bad
        .fetch_add(errors.len() as u64, Ordering::Relaxed);
    if !good.is_empty() {
        let mut batch = Batch::new(&stream);
        for (n, text) in &good {
            batch.push(text, *n, request);
        }
        // A full queue blocks this (single-threaded) server: backpressure on the clients.
        let sent = shared.tx.send(SourceEvent::Batch(batch));
        if sent.is_err() {
            return json(
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({"error": "the app is stopping"}),
            );
        }
    }
    if errors.is_empty() {
        json(
            StatusCode::ACCEPTED,
            serde_json::json!({"accepted": accepted}),
        )
    } else {
        let list: Vec<serde_json::Value> = errors
            .into_iter()
            .map(|(line, error)| serde_json::json!({"line": line, "error": error}))
            .collect();
        json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"accepted": accepted, "errors": list}),
        )
    }
}

/// A body split into good messages `(line number, text)` and bad ones `(line, reason)`.
pub type Split = (Vec<(u64, String)>, Vec<(u64, String)>);

/// Splits a body into good messages `(line number, text)` and bad ones `(line, reason)`.
/// One JSON event, an array of events (elements all objects or arrays), or JSON lines.
pub fn split_body(stream: &str, body: &str, validate: &Validate) -> Split {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    let mut check = |n: u64, text: &str| match split_message(stream, text)
        .and_then(|(_, data)| validate(stream, data))
    {
        Ok(()) => good.push((n, text.trim().to_string())),
        Err(e) => bad.push((n, e)),
    };
    let trimmed = body.trim();
    if trimmed.starts_with('[') {
        if let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(trimmed) {
            let events = !items.is_empty()
                && items
                    .iter()
                    .all(|v| v.get().starts_with('{') || v.get().starts_with('['));
            if events {
                for (i, v) in items.iter().enumerate() {
                    check(i as u64 + 1, v.get());
                }
                return (good, bad);
            }
        }
    }
    if trimmed.starts_with('{') && serde_json::from_str::<&RawValue>(trimmed).is_ok() {
        // One (possibly pretty-printed) event.
        check(1, trimmed);
        return (good, bad);
    }
    for (i, line) in body.lines().enumerate() {
        if !line.trim().is_empty() {
            check(i as u64 + 1, line);
        }
    }
    (good, bad)
}

/// A CSV body: every non-empty line is a record, checked whole by `validate`.
fn split_csv(stream: &str, body: &str, validate: &Validate) -> Split {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in body.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match validate(stream, line) {
            Ok(()) => good.push((i as u64 + 1, line.to_string())),
            Err(e) => bad.push((i as u64 + 1, e)),
        }
    }
    (good, bad)
}

/// An `http` sink: a thread POSTing each batch of JSON lines to `"http.url"`
/// (`Content-Type: application/x-ndjson`, `Authorization: Bearer` with `"auth.token"`).
/// `on.error` defaults to `retry` (`"retry.max"` 3, from 100 ms).
pub struct HttpSink {
    tx: Option<Sender<(u64, Vec<u8>)>>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<SinkStats>,
    stop: Arc<AtomicBool>,
}

impl HttpSink {
    /// Starts the sink; batches are queued up to `buffer` (then the app waits).
    pub fn start(cfg: &ConnectorConfig, buffer: usize) -> Result<HttpSink, ConnectError> {
        let url = cfg.required("http.url")?.to_string();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(cfg.bad("http.url", "not an http:// or https:// URL"));
        }
        let token = cfg
            .option("auth.token")
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        let timeout = cfg
            .option("http.timeout")
            .map(|v| {
                super::sink::parse_millis(v)
                    .ok_or_else(|| cfg.bad("http.timeout", "not a duration"))
            })
            .transpose()?
            .unwrap_or(10_000);
        let policy = OnError::of(
            cfg,
            OnError::Retry {
                max: 3,
                backoff: Duration::from_millis(100),
            },
        )?;
        let (tx, rx) = crossbeam_channel::bounded(buffer.max(1));
        let stats = Arc::new(SinkStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let label = format!("http sink `{}`", cfg.stream);
        let thread = {
            let (stats, stop) = (Arc::clone(&stats), Arc::clone(&stop));
            std::thread::Builder::new()
                .name(format!("ef-http-sink-{}", cfg.stream))
                .spawn(move || {
                    post_loop(
                        &url,
                        token.as_deref(),
                        timeout,
                        rx,
                        policy,
                        &label,
                        &stats,
                        &stop,
                    )
                })
                .map_err(|e| cfg.io("start the sink thread", e))?
        };
        Ok(HttpSink {
            tx: Some(tx),
            thread: Some(thread),
            stats,
            stop,
        })
    }

    /// Delivers what is queued (giving up on retries after `give_up_after`) and stops.
    pub fn finish(mut self, give_up_after: Duration) -> Arc<SinkStats> {
        self.close(give_up_after);
        Arc::clone(&self.stats)
    }

    fn close(&mut self, give_up_after: Duration) {
        super::sink::close_sender_thread(&mut self.tx, &mut self.thread, &self.stop, give_up_after);
    }
}

impl LineSender for HttpSink {
    fn send_lines(&self, events: u64, bytes: Vec<u8>) -> bool {
        self.tx
            .as_ref()
            .is_some_and(|tx| tx.send((events, bytes)).is_ok())
    }

    fn stats(&self) -> &Arc<SinkStats> {
        &self.stats
    }
}

impl Drop for HttpSink {
    fn drop(&mut self) {
        self.close(Duration::from_secs(10));
    }
}

#[allow(clippy::too_many_arguments)]
fn post_loop(
    url: &str,
    token: Option<&str>,
    timeout_ms: u64,
    rx: Receiver<(u64, Vec<u8>)>,
    policy: OnError,
    label: &str,
    stats: &Arc<SinkStats>,
    stop: &AtomicBool,
) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_millis(timeout_ms)))
        .http_status_as_error(false)
        .build()
        .into();
    let bearer = token.map(|t| format!("Bearer {t}"));
    for (events, bytes) in rx {
        deliver_rows(
            policy,
            label,
            events,
            stats,
            stop,
            || {
                let mut request = agent
                    .post(url)
                    .header("Content-Type", "application/x-ndjson");
                if let Some(b) = &bearer {
                    request = request.header("Authorization", b);
                }
                match request.send(&bytes[..]) {
                    Ok(response) if response.status().is_success() => Ok(()),
                    Ok(response) => Err(format!("the server answered {}", response.status())),
                    // Never the URL (it may hold credentials): only what went wrong.
                    Err(e) => Err(describe(&e)),
                }
            },
            || std::borrow::Cow::Borrowed(&bytes[..]),
        );
        if stats.failed.load(Ordering::Relaxed) {
            break;
        }
    }
}

/// A ureq error without the URL.
fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Io(io) => format!("cannot reach the server: {}", io.kind()),
        ureq::Error::Timeout(_) => "the request timed out".to_string(),
        ureq::Error::HostNotFound => "the host was not found".to_string(),
        ureq::Error::ConnectionFailed => "the connection failed".to_string(),
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => {
            "TLS failed (is the server's certificate valid?)".to_string()
        }
        _ => "the request failed".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Direction;
    use super::*;
    use std::io::{Read, Write};

    fn validate() -> Validate {
        Arc::new(|_stream: &str, data: &str| {
            let v: serde_json::Value = serde_json::from_str(data).map_err(|e| e.to_string())?;
            match v.get("x") {
                Some(x) if !x.is_i64() => Err("x is not an integer".to_string()),
                _ => Ok(()),
            }
        })
    }

    fn source(options: Vec<(&str, &str)>) -> (HttpSource, Receiver<SourceEvent>) {
        let mut opts: Vec<(String, String)> = vec![("http.port".into(), "0".into())];
        opts.extend(
            options
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let cfg = ConnectorConfig {
            stream: "S".into(),
            direction: Direction::Source,
            extension: "http".into(),
            options: opts,
        };
        let (tx, rx) = crossbeam_channel::bounded(16);
        (HttpSource::start(&cfg, tx, validate(), None).unwrap(), rx)
    }

    /// A raw HTTP/1.1 request; returns (status, body).
    fn request(
        addr: SocketAddr,
        method: &str,
        path: &str,
        headers: &str,
        body: &str,
    ) -> (u16, String) {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n{headers}\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let status = text[9..12].parse().unwrap();
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
        (status, body)
    }

    fn lines(rx: &Receiver<SourceEvent>) -> Vec<String> {
        match rx.recv_timeout(Duration::from_secs(5)).unwrap() {
            SourceEvent::Batch(b) => b.texts(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn one_event_array_and_lines_with_bad_ones_kept_apart() {
        let (src, rx) = source(vec![]);
        let addr = src.local_addr();
        assert_eq!(request(addr, "GET", "/health", "", ""), (200, "OK".into()));
        let (status, body) = request(
            addr,
            "POST",
            "/streams/S",
            "",
            "{\n \"ts\": 5,\n \"data\": {\"x\": 1}\n}",
        );
        assert_eq!((status, body.as_str()), (202, r#"{"accepted":1}"#));
        assert_eq!(lines(&rx), vec!["{\n \"ts\": 5,\n \"data\": {\"x\": 1}\n}"]);
        let (status, _) = request(
            addr,
            "POST",
            "/streams/S",
            "",
            r#"[{"x": 2}, {"data": {"x": 3}}]"#,
        );
        assert_eq!(status, 202);
        assert_eq!(lines(&rx), vec![r#"{"x": 2}"#, r#"{"data": {"x": 3}}"#]);
        let body = "{\"x\": 4}\nnot json\n{\"x\": \"five\"}\n{\"x\": 6}\n";
        let (status, answer) = request(addr, "POST", "/streams/S", "", body);
        assert_eq!(status, 400);
        let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["accepted"], 2);
        assert_eq!(answer["errors"][0]["line"], 2);
        assert_eq!(answer["errors"][1]["line"], 3);
        assert!(answer["errors"][1]["error"]
            .as_str()
            .unwrap()
            .contains("not an integer"));
        assert_eq!(lines(&rx), vec![r#"{"x": 4}"#, r#"{"x": 6}"#]);
        let (status, _) = request(addr, "POST", "/streams/Other", "", "{}");
        assert_eq!(status, 404);
        assert_eq!(src.stats().accepted.load(Ordering::Relaxed), 5);
    }

    #[test]
    fn a_token_is_required_when_configured() {
        let (src, rx) = source(vec![("auth.token", "s3cret")]);
        let addr = src.local_addr();
        let (status, body) = request(addr, "POST", "/streams/S", "", r#"{"x": 1}"#);
        assert_eq!(status, 401);
        assert!(!body.contains("s3cret"));
        let (status, _) = request(
            addr,
            "POST",
            "/streams/S",
            "Authorization: Bearer nope\r\n",
            r#"{"x": 1}"#,
        );
        assert_eq!(status, 401);
        assert!(
            rx.try_recv().is_err(),
            "an unauthorized request was processed"
        );
        let (status, _) = request(
            addr,
            "POST",
            "/streams/S",
            "Authorization: Bearer s3cret\r\n",
            r#"{"x": 1}"#,
        );
        assert_eq!(status, 202);
        assert_eq!(lines(&rx), vec![r#"{"x": 1}"#]);
        assert_eq!(src.stats().unauthorized.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn sink_posts_batches_and_retries() {
        // A tiny server: the first request gets 503, the next ones 200; bodies are kept.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let mut bodies = Vec::new();
            for (i, conn) in listener.incoming().take(3).enumerate() {
                let mut conn = conn.unwrap();
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let body = loop {
                    let n = conn.read(&mut chunk).unwrap();
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len: usize = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length: ")
                                    .map(|v| v.trim().parse().unwrap())
                            })
                            .unwrap_or(0);
                        if body.len() >= len {
                            assert!(head.contains("Bearer tok"), "{head}");
                            break body.to_string();
                        }
                    }
                };
                let status = if i == 0 { "503 Busy" } else { "200 OK" };
                write!(
                    conn,
                    "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                .unwrap();
                bodies.push(body);
            }
            bodies
        });
        let cfg = ConnectorConfig {
            stream: "Out".into(),
            direction: Direction::Sink,
            extension: "http".into(),
            options: vec![
                (
                    "http.url".into(),
                    format!("http://127.0.0.1:{port}/streams/Out"),
                ),
                ("auth.token".into(), "tok".into()),
                ("retry.backoff".into(), "5".into()),
            ],
        };
        let sink = HttpSink::start(&cfg, 4).unwrap();
        assert!(sink.send_lines(2, b"{\"a\":1}\n{\"a\":2}\n".to_vec()));
        assert!(sink.send_lines(1, b"{\"a\":3}\n".to_vec()));
        let stats = sink.finish(Duration::from_secs(10));
        let bodies = server.join().unwrap();
        assert_eq!(
            bodies,
            vec![
                "{\"a\":1}\n{\"a\":2}\n",
                "{\"a\":1}\n{\"a\":2}\n",
                "{\"a\":3}\n"
            ]
        );
        assert_eq!(stats.sent(), 3);
        assert_eq!(stats.dropped(), 0);
    }
}

//! Metrics of a running app in the Prometheus text format, and the small HTTP endpoint that
//! serves them (`--metrics ADDR`: `/metrics` and `/health`; docs/operations.md#metrics).
//!
//! The event path never touches these counters: the driver counts in plain integers and
//! publishes them here after each batch, so scraping costs the queries nothing.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds (seconds) of the checkpoint duration histogram's buckets.
const BUCKETS: [f64; 10] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// A counter per name (stream).
#[derive(Debug, Default)]
struct Family {
    values: Mutex<Vec<(String, u64)>>,
}

impl Family {
    fn set(&self, name: &str, value: u64) {
        if let Ok(mut v) = self.values.lock() {
            match v.iter_mut().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = value,
                None => v.push((name.to_owned(), value)),
            }
        }
    }

    fn add(&self, name: &str, by: u64) {
        if let Ok(mut v) = self.values.lock() {
            match v.iter_mut().find(|(n, _)| n == name) {
                Some(slot) => slot.1 += by,
                None => v.push((name.to_owned(), by)),
            }
        }
    }

    fn snapshot(&self) -> Vec<(String, u64)> {
        self.values.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// The metrics of one app (DESIGN 8.5).
#[derive(Debug, Default)]
pub struct Metrics {
    events_in: Family,
    events_out: Family,
    bad_events: Family,
    /// `stream\u{0}reason`.
    dropped: Family,
    queue_depth: Family,
    unauthorized: AtomicU64,
    checkpoint: Mutex<Histogram>,
    checkpoint_bytes: AtomicU64,
    /// Milliseconds since the epoch; 0 before the first checkpoint.
    last_checkpoint_ms: AtomicU64,
    /// The newest event time (ms), as `i64` bits; `i64::MIN` before the first.
    newest_event_ms: AtomicU64,
}

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    /// Empty metrics.
    pub fn new() -> Self {
        let m = Metrics::default();
        m.newest_event_ms.store(i64::MIN as u64, Ordering::Relaxed);
        m
    }

    /// Sets the total of events read for `stream`.
    pub fn set_events_in(&self, stream: &str, total: u64) {
        self.events_in.set(stream, total);
    }

    /// Counts `n` more events read for `stream` (a source that counts its own, like the gRPC
    /// service; the driver's input reader sets totals instead).
    pub fn add_events_in(&self, stream: &str, n: u64) {
        self.events_in.add(stream, n);
    }

    /// Sets the total of events written for `stream`.
    pub fn set_events_out(&self, stream: &str, total: u64) {
        self.events_out.set(stream, total);
    }

    /// Counts `n` bad events (undecodable, unknown stream) for `stream`.
    pub fn add_bad(&self, stream: &str, n: u64) {
        self.bad_events.add(stream, n);
    }

    /// Counts `n` events of `stream` dropped for `reason` (a full queue, a cycle, ...).
    pub fn add_dropped(&self, stream: &str, reason: &str, n: u64) {
        self.dropped.add(&format!("{stream}\u{0}{reason}"), n);
    }

    /// Sets how many events wait in the queue feeding `stream`.
    pub fn set_queue_depth(&self, stream: &str, depth: u64) {
        self.queue_depth.set(stream, depth);
    }

    /// Counts a request refused for a missing or wrong token.
    pub fn add_unauthorized(&self) {
        self.unauthorized.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a checkpoint that took `seconds` and wrote `bytes`, at `now_ms`.
    pub fn checkpoint_taken(&self, seconds: f64, bytes: u64, now_ms: i64) {
        if let Ok(mut h) = self.checkpoint.lock() {
            for (i, bound) in BUCKETS.iter().enumerate() {
                if seconds <= *bound {
                    h.counts[i] += 1;
                }
            }
            h.count += 1;
            h.sum += seconds;
        }
        self.checkpoint_bytes.store(bytes, Ordering::Relaxed);
        self.last_checkpoint_ms
            .store(u64::try_from(now_ms).unwrap_or(0), Ordering::Relaxed);
    }

    /// Sets the newest event time seen (ms).
    pub fn set_newest_event(&self, ts: i64) {
        self.newest_event_ms.store(ts as u64, Ordering::Relaxed);
    }

    /// The metrics in the Prometheus text format, with event lag relative to `now_ms`.
    pub fn render(&self, now_ms: i64) -> String {
        let mut out = String::new();
        let counters = [
            (
                "eventflux_events_in_total",
                "Events read from inputs, per stream.",
                &self.events_in,
            ),
            (
                "eventflux_events_out_total",
                "Events written to outputs, per stream.",
                &self.events_out,
            ),
            (
                "eventflux_bad_events_total",
                "Input events that could not be decoded, per stream.",
                &self.bad_events,
            ),
        ];
        for (name, help, family) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (stream, v) in family.snapshot() {
                let _ = writeln!(out, "{name}{{stream=\"{}\"}} {v}", escape(&stream));
            }
        }
        let name = "eventflux_dropped_events_total";
        let _ = writeln!(
            out,
            "# HELP {name} Events dropped, per stream and reason.\n# TYPE {name} counter"
        );
        for (key, v) in self.dropped.snapshot() {
            let (stream, reason) = key.split_once('\u{0}').unwrap_or((&key, ""));
            let _ = writeln!(
                out,
                "{name}{{stream=\"{}\",reason=\"{}\"}} {v}",
                escape(stream),
                escape(reason)
            );
        }
        let name = "eventflux_queue_depth";
        let _ = writeln!(
            out,
            "# HELP {name} Events waiting in a queue, per stream (`_input`: the input queue of every stream).\n# TYPE {name} gauge"
        );
        for (stream, v) in self.queue_depth.snapshot() {
            let _ = writeln!(out, "{name}{{stream=\"{}\"}} {v}", escape(&stream));
        }
        let name = "eventflux_unauthorized_requests_total";
        let _ = writeln!(
            out,
            "# HELP {name} Requests refused for a missing or wrong token.\n# TYPE {name} counter\n{name} {}",
            self.unauthorized.load(Ordering::Relaxed)
        );
        let name = "eventflux_checkpoint_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time to take a checkpoint.\n# TYPE {name} histogram"
        );
        if let Ok(h) = self.checkpoint.lock() {
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {}", h.counts[i]);
            }
            let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "{name}_sum {}\n{name}_count {}", h.sum, h.count);
        }
        let name = "eventflux_checkpoint_bytes";
        let _ = writeln!(
            out,
            "# HELP {name} Size of the last checkpoint.\n# TYPE {name} gauge\n{name} {}",
            self.checkpoint_bytes.load(Ordering::Relaxed)
        );
        let last = self.last_checkpoint_ms.load(Ordering::Relaxed);
        let name = "eventflux_last_checkpoint_timestamp_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} When the last checkpoint was taken (0: none yet).\n# TYPE {name} gauge\n{name} {}",
            last as f64 / 1000.0
        );
        let newest = self.newest_event_ms.load(Ordering::Relaxed) as i64;
        let lag = if newest == i64::MIN {
            0.0
        } else {
            (now_ms.saturating_sub(newest)) as f64 / 1000.0
        };
        let name = "eventflux_event_lag_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Wall clock minus the newest event time.\n# TYPE {name} gauge\n{name} {lag}"
        );
        out
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Why the metrics endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[error("--metrics {addr}: {message}")]
pub struct MetricsError {
    addr: String,
    message: String,
}

/// TLS for the metrics endpoint: the server's certificate chain and private key.
pub struct Tls {
    #[cfg(feature = "tls")]
    config: Arc<rustls::ServerConfig>,
    #[cfg(not(feature = "tls"))]
    never: std::convert::Infallible,
}

impl Tls {
    /// Reads a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1 or SEC1).
    #[cfg(feature = "tls")]
    pub fn from_pem_files(cert: &str, key: &str) -> Result<Tls, String> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("cannot read the certificate chain `{cert}`: {e}"))?;
        if chain.is_empty() {
            return Err(format!("`{cert}` holds no PEM certificate"));
        }
        let private = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| format!("cannot read the private key `{key}`: {e}"))?;
        // ring's provider, named explicitly: the process may link more than one. (Deprecated
        // in rustls 0.23.48 for lacking post-quantum key exchange, which a metrics scrape
        // does not need.)
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(chain, private))
            .map_err(|e| format!("`{cert}` and `{key}`: {e}"))?;
        Ok(Tls {
            config: Arc::new(config),
        })
    }

    /// The rustls server configuration (also serves the `http` source).
    #[cfg(feature = "tls")]
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        Arc::clone(&self.config)
    }

    /// Without the `tls` feature there is no TLS: says how to get it.
    #[cfg(not(feature = "tls"))]
    pub fn from_pem_files(_cert: &str, _key: &str) -> Result<Tls, String> {
        Err("this binary was built without TLS (the runtime's `tls` feature; `eventflux build` has it)".into())
    }
}

/// Serves `metrics` on `addr` (`host:port`, or `:port` for 127.0.0.1) from a thread of its
/// own: `GET /metrics` and `GET /health` (200 `ok`), over TLS when `tls` is given. With
/// `token`, both want `Authorization: Bearer <token>` (otherwise 401, counted). Returns the
/// bound address.
pub fn serve(
    addr: &str,
    metrics: Arc<Metrics>,
    token: Option<String>,
    tls: Option<Tls>,
) -> Result<std::net::SocketAddr, MetricsError> {
    let fail = |message: String| MetricsError {
        addr: addr.to_owned(),
        message,
    };
    let full = if addr.starts_with(':') {
        format!("127.0.0.1{addr}")
    } else {
        addr.to_owned()
    };
    let target = full
        .to_socket_addrs()
        .map_err(|e| fail(e.to_string()))?
        .next()
        .ok_or_else(|| fail("no address".into()))?;
    let listener = TcpListener::bind(target).map_err(|e| fail(e.to_string()))?;
    let bound = listener.local_addr().map_err(|e| fail(e.to_string()))?;
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            if stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .is_err()
            {
                continue;
            }
            let _ = match &tls {
                None => answer(stream, &metrics, token.as_deref()),
                #[cfg(feature = "tls")]
                Some(tls) => match rustls::ServerConnection::new(Arc::clone(&tls.config)) {
                    Ok(conn) => answer(
                        rustls::StreamOwned::new(conn, stream),
                        &metrics,
                        token.as_deref(),
                    ),
                    Err(_) => Ok(()),
                },
                #[cfg(not(feature = "tls"))]
                Some(tls) => match tls.never {},
            };
        }
    });
    Ok(bound)
}

/// Answers one HTTP/1.x request and closes the connection.
fn answer<S: Read + Write>(
    mut stream: S,
    metrics: &Metrics,
    token: Option<&str>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(&mut stream);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    let mut authorized = token.is_none();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let (Some(want), Some((name, value))) = (token, header.split_once(':')) {
            if name.trim().eq_ignore_ascii_case("authorization")
                && value.trim().strip_prefix("Bearer ") == Some(want)
            {
                authorized = true;
            }
        }
    }
    let mut parts = request.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, kind, body) = if !authorized {
        metrics.add_unauthorized();
        (
            "401 Unauthorized",
            "text/plain",
            "unauthorized\n".to_owned(),
        )
    } else {
        match (method, path) {
            ("GET", "/metrics") => (
                "200 OK",
                "text/plain; version=0.0.4",
                metrics.render(crate::functions::now_millis()),
            ),
            ("GET", "/health") => ("200 OK", "text/plain", "ok\n".to_owned()),
            ("GET", _) => ("404 Not Found", "text/plain", "not found\n".to_owned()),
            _ => (
                "405 Method Not Allowed",
                "text/plain",
                "method not allowed\n".to_owned(),
            ),
        }
    };
    drop(reader);
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream;

    fn get(addr: std::net::SocketAddr, path: &str, token: Option<&str>) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn renders_every_series_and_serves_them() {
        let m = Arc::new(Metrics::new());
        m.set_events_in("Trades", 10);
        m.set_events_out("Big \"x\"", 3);
        m.add_bad("Trades", 2);
        m.add_dropped("Trades", "queue_full", 4);
        m.set_queue_depth("_input", 7);
        m.checkpoint_taken(0.02, 1234, 5_000);
        m.set_newest_event(1_000);
        let text = m.render(3_500);
        for want in [
            "eventflux_events_in_total{stream=\"Trades\"} 10",
            "eventflux_events_out_total{stream=\"Big \\\"x\\\"\"} 3",
            "eventflux_bad_events_total{stream=\"Trades\"} 2",
            "eventflux_dropped_events_total{stream=\"Trades\",reason=\"queue_full\"} 4",
            "eventflux_queue_depth{stream=\"_input\"} 7",
            "eventflux_checkpoint_seconds_bucket{le=\"0.01\"} 0",
            "eventflux_checkpoint_seconds_bucket{le=\"0.05\"} 1",
            "eventflux_checkpoint_seconds_count 1",
            "eventflux_checkpoint_bytes 1234",
            "eventflux_last_checkpoint_timestamp_seconds 5",
            "eventflux_event_lag_seconds 2.5",
        ] {
            assert!(text.contains(want), "{want}\n{text}");
        }
        let addr = serve("127.0.0.1:0", Arc::clone(&m), None, None).unwrap();
        let page = get(addr, "/metrics", None);
        assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
        assert!(page.contains("eventflux_events_in_total"), "{page}");
        assert!(get(addr, "/health", None).starts_with("HTTP/1.1 200 OK"));
        assert!(get(addr, "/nope", None).starts_with("HTTP/1.1 404"));
    }

    #[cfg(feature = "tls")]
    #[test]
    fn served_over_tls_to_a_client_that_verifies_the_certificate() {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, ServerName};
        let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tls");
        let tls = Tls::from_pem_files(&format!("{data}/server.pem"), &format!("{data}/server.key"))
            .unwrap();
        let m = Arc::new(Metrics::new());
        m.add_events_in("Trades", 3);
        let addr = serve("127.0.0.1:0", Arc::clone(&m), Some("t0k".into()), Some(tls)).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_file_iter(format!("{data}/ca.pem")).unwrap() {
            roots.add(ca.unwrap()).unwrap();
        }
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let mut s = rustls::StreamOwned::new(conn, TcpStream::connect(addr).unwrap());
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0k\r\n\r\n"
        )
        .unwrap();
        let mut page = String::new();
        let _ = s.read_to_string(&mut page);
        assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
        assert!(
            page.contains("eventflux_events_in_total{stream=\"Trades\"} 3"),
            "{page}"
        );
        // A plain-text request gets no page.
        let mut plain = TcpStream::connect(addr).unwrap();
        write!(
            plain,
            "GET /metrics HTTP/1.1\r\nAuthorization: Bearer t0k\r\n\r\n"
        )
        .unwrap();
        let mut bytes = Vec::new();
        let _ = plain.read_to_end(&mut bytes);
        assert!(!String::from_utf8_lossy(&bytes).contains("eventflux_events_in_total"));
        // Files that are not PEM are refused with their names.
        let bad = Tls::from_pem_files(&format!("{data}/ca.pem"), "/nonexistent/key.pem");
        assert!(bad.err().unwrap().contains("/nonexistent/key.pem"));
    }

    #[test]
    fn a_token_is_required_when_set() {
        let m = Arc::new(Metrics::new());
        let addr = serve(":0", Arc::clone(&m), Some("s3cret".into()), None).unwrap();
        assert!(addr.ip().is_loopback());
        assert!(get(addr, "/metrics", None).starts_with("HTTP/1.1 401"));
        assert!(get(addr, "/metrics", Some("wrong")).starts_with("HTTP/1.1 401"));
        let ok = get(addr, "/metrics", Some("s3cret"));
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(
            ok.contains("eventflux_unauthorized_requests_total 2"),
            "{ok}"
        );
        assert!(!ok.contains("s3cret"));
    }
}

//! The app's gRPC service (feature `grpc`, DESIGN 8.3): tonic on a tokio runtime of its own
//! threads, with a byte codec; the messages are read and written by [`super::protobuf`] from
//! the app's [`ProtoSchema`], so no per-app protobuf code is generated or compiled.
//!
//! `Send(stream Event) returns (SendReply)`: each event is checked
//! ([`super::protobuf::check_event`]) and its stream message appended to a [`ProtoBatch`]
//! of its input stream, which the driver's decoder thread turns into the app's events
//! straight from protobuf (the generated `decode_proto`); a message that cannot be read is
//! counted and reported ([`SourceEvent::Bad`]) and the call goes on. `Subscribe(SubscribeRequest) returns (stream Output)`: the [`Hub`] gets every
//! output line from the app's writer ([`HubWriter`]) and streams it to the subscribers that
//! asked for its stream. With `"auth.token"` (or `--grpc-token`), a call without
//! `authorization: Bearer <token>` metadata is answered UNAUTHENTICATED, counted, and never
//! processed.

use super::protobuf::ProtoSchema;
use super::protobuf::{
    check_event, decode_send_reply, decode_streams_reply, decode_subscribe, encode_event_line,
    encode_output_line, encode_send_reply, encode_streams_reply, event_stream, RemoteStream,
};
use super::sink::{deliver_rows, LineSender, OnError, SinkStats};
use super::source::{ProtoBatch, SourceEvent};
use super::{ConnectError, ConnectorConfig};
use bytes::{Buf, BufMut};
use crossbeam_channel::Sender;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http;
use tonic::{Request, Response, Status, Streaming};

/// Events of one `Send` call handed over together at most.
const BATCH: usize = 4096;
/// The HTTP/2 flow-control window of a call (bytes the client may send ahead).
const STREAM_WINDOW: u32 = 4 << 20;
/// Output messages queued for one subscriber; a subscriber that falls further behind is
/// dropped (its stream ends) so that it cannot stall the app.
const SUBSCRIBER_QUEUE: usize = 65_536;

/// A codec passing message bytes through unchanged.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawCodec;

/// The encoder and decoder of [`RawCodec`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Raw;

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = bytes::Bytes;
    type Error = Status;

    /// The message's bytes, without a copy (a view of the received frame).
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<bytes::Bytes>, Status> {
        let n = src.remaining();
        Ok(Some(src.copy_to_bytes(n)))
    }
}

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = bytes::Bytes;
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Raw {
        Raw
    }

    fn decoder(&mut self) -> Raw {
        Raw
    }
}

/// Counters of the gRPC service.
#[derive(Debug, Default)]
pub struct GrpcStats {
    /// Events accepted by `Send`.
    pub accepted: AtomicU64,
    /// `Send` messages that could not be read.
    pub bad: AtomicU64,
    /// Calls refused for a missing or wrong token.
    pub unauthorized: AtomicU64,
    /// Subscribers dropped because they fell behind.
    pub slow_subscribers: AtomicU64,
}

struct Subscriber {
    wants: Vec<bool>,
    tx: tokio::sync::mpsc::Sender<Result<Vec<u8>, Status>>,
}

/// The output side: every output line of the app, streamed to the subscribers.
pub struct Hub {
    schema: &'static ProtoSchema,
    subscribers: Mutex<Vec<Subscriber>>,
    active: AtomicUsize,
    stats: Arc<GrpcStats>,
}

impl Hub {
    /// A hub for an app's service.
    pub fn new(schema: &'static ProtoSchema) -> Arc<Hub> {
        Arc::new(Hub {
            schema,
            subscribers: Mutex::new(Vec::new()),
            active: AtomicUsize::new(0),
            stats: Arc::new(GrpcStats::default()),
        })
    }

    /// The service's counters.
    pub fn stats(&self) -> &Arc<GrpcStats> {
        &self.stats
    }

    /// Streams one output line (`{"stream":..,"ts":..,"kind":..,"data":..}`) to the
    /// subscribers of its stream.
    pub fn publish(&self, line: &[u8]) {
        if self.active.load(Ordering::Relaxed) == 0 {
            return;
        }
        let (index, bytes) = match encode_output_line(self.schema, line) {
            Ok(Some(x)) => x,
            Ok(None) => return,
            Err(e) => {
                eprintln!("eventflux: grpc Subscribe: cannot encode an output row: {e}");
                return;
            }
        };
        let Ok(mut subs) = self.subscribers.lock() else {
            return;
        };
        let stats = &self.stats;
        subs.retain(|s| {
            if !s.wants.get(index).copied().unwrap_or(false) {
                return !s.tx.is_closed();
            }
            match s.tx.try_send(Ok(bytes.clone())) {
                Ok(()) => true,
                Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                    stats.slow_subscribers.fetch_add(1, Ordering::Relaxed);
                    eprintln!(
                        "eventflux: grpc Subscribe: a subscriber fell {SUBSCRIBER_QUEUE} rows behind and was dropped"
                    );
                    false
                }
                Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        self.active.store(subs.len(), Ordering::Relaxed);
    }

    fn subscribe(
        &self,
        names: &[String],
    ) -> Result<tokio::sync::mpsc::Receiver<Result<Vec<u8>, Status>>, Status> {
        let mut wants = vec![names.is_empty(); self.schema.outputs.len()];
        for name in names {
            match self.schema.output(name) {
                Some(i) => wants[i] = true,
                None => {
                    let list: Vec<&str> = self.schema.outputs.iter().map(|s| s.name).collect();
                    return Err(Status::invalid_argument(format!(
                        "`{name}` is not an output stream of this app (its output streams: {})",
                        list.join(", ")
                    )));
                }
            }
        }
        let (tx, rx) = tokio::sync::mpsc::channel(SUBSCRIBER_QUEUE);
        let mut subs = self
            .subscribers
            .lock()
            .map_err(|_| Status::internal("the subscriber list is unavailable"))?;
        subs.push(Subscriber { wants, tx });
        self.active.store(subs.len(), Ordering::Relaxed);
        Ok(rx)
    }
}

/// The app's output writer's tap into a [`Hub`]: takes JSON lines, publishes each.
pub struct HubWriter {
    hub: Arc<Hub>,
    pending: Vec<u8>,
}

impl HubWriter {
    /// A writer publishing to `hub`.
    pub fn new(hub: Arc<Hub>) -> HubWriter {
        HubWriter {
            hub,
            pending: Vec::new(),
        }
    }
}

impl std::io::Write for HubWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        let mut start = 0;
        while let Some(n) = memchr::memchr(b'\n', &self.pending[start..]) {
            self.hub.publish(&self.pending[start..start + n]);
            start += n + 1;
        }
        self.pending.drain(..start);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Shared {
    schema: &'static ProtoSchema,
    tx: Sender<SourceEvent>,
    hub: Arc<Hub>,
    token: Option<String>,
    calls: AtomicU64,
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

#[derive(Clone)]
struct Service(Arc<Shared>);

impl tonic::codegen::Service<http::Request<axum::body::Body>> for Service {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<axum::body::Body>) -> Self::Future {
        let shared = Arc::clone(&self.0);
        Box::pin(async move {
            if let Some(token) = &shared.token {
                let given = req
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "));
                if given != Some(token.as_str()) {
                    shared
                        .hub
                        .stats
                        .unauthorized
                        .fetch_add(1, Ordering::Relaxed);
                    if let Some(m) = &shared.metrics {
                        m.add_unauthorized();
                    }
                    return Ok(Status::unauthenticated("missing or wrong bearer token").into_http());
                }
            }
            let path = req.uri().path().to_string();
            let mut grpc = tonic::server::Grpc::new(RawCodec);
            let response = if path.ends_with("/Send") {
                grpc.client_streaming(SendMethod(shared), req).await
            } else if path.ends_with("/Subscribe") {
                grpc.server_streaming(SubscribeMethod(shared), req).await
            } else if path.ends_with("/Streams") {
                grpc.unary(StreamsMethod(shared), req).await
            } else {
                Status::unimplemented(format!("no method {path}")).into_http()
            };
            Ok(response)
        })
    }
}

struct SendMethod(Arc<Shared>);

impl tonic::server::ClientStreamingService<bytes::Bytes> for SendMethod {
    type Response = Vec<u8>;
    type Future = BoxFuture<Result<Response<Vec<u8>>, Status>>;

    fn call(&mut self, request: Request<Streaming<bytes::Bytes>>) -> Self::Future {
        let shared = Arc::clone(&self.0);
        Box::pin(async move {
            let call = shared.calls.fetch_add(1, Ordering::Relaxed) + 1;
            let mut messages = request.into_inner();
            let mut batch: Option<ProtoBatch> = None;
            let mut accepted = 0u64;
            let mut n = 0u64;
            let stats = &shared.hub.stats;
            let schema = shared.schema;
            let send = |ev: SourceEvent| -> Result<(), Status> {
                if let (Some(m), SourceEvent::Proto(b)) = (&shared.metrics, &ev) {
                    m.add_events_in(schema.inputs[b.stream].name, b.len() as u64);
                }
                tokio::task::block_in_place(|| shared.tx.send(ev))
                    .map_err(|_| Status::unavailable("the app is stopping"))
            };
            while let Some(message) = messages.message().await? {
                n += 1;
                match check_event(schema, &message) {
                    Ok((stream, ts, body)) => {
                        if batch
                            .as_ref()
                            .is_some_and(|b| b.stream != stream || b.len() >= BATCH)
                        {
                            if let Some(b) = batch.take() {
                                send(SourceEvent::Proto(b))?;
                            }
                        }
                        batch
                            .get_or_insert_with(|| ProtoBatch::new(stream, call, BATCH))
                            .push(&body, ts, n);
                        accepted += 1;
                    }
                    Err(reason) => {
                        stats.bad.fetch_add(1, Ordering::Relaxed);
                        if let Some(m) = &shared.metrics {
                            let stream = event_stream(schema, &message)
                                .map_or("_grpc", |i| schema.inputs[i].name);
                            m.add_bad(stream, 1);
                        }
                        if let Some(b) = batch.take() {
                            send(SourceEvent::Proto(b))?;
                        }
                        send(SourceEvent::Bad {
                            stream: "Event".to_string(),
                            position: n,
                            origin: call,
                            reason: format!("undecodable Event message: {reason}"),
                        })?;
                    }
                }
            }
            if let Some(b) = batch.take() {
                send(SourceEvent::Proto(b))?;
            }
            stats.accepted.fetch_add(accepted, Ordering::Relaxed);
            Ok(Response::new(encode_send_reply(accepted)))
        })
    }
}

/// `Streams`: the input streams' layout (for the `grpc` sink of another app).
struct StreamsMethod(Arc<Shared>);

impl tonic::server::UnaryService<bytes::Bytes> for StreamsMethod {
    type Response = Vec<u8>;
    type Future = BoxFuture<Result<Response<Vec<u8>>, Status>>;

    fn call(&mut self, _request: Request<bytes::Bytes>) -> Self::Future {
        let reply = encode_streams_reply(self.0.schema);
        Box::pin(async move { Ok(Response::new(reply)) })
    }
}

struct SubscribeMethod(Arc<Shared>);

impl tonic::server::ServerStreamingService<bytes::Bytes> for SubscribeMethod {
    type Response = Vec<u8>;
    type ResponseStream = tokio_stream::wrappers::ReceiverStream<Result<Vec<u8>, Status>>;
    type Future = BoxFuture<Result<Response<Self::ResponseStream>, Status>>;

    fn call(&mut self, request: Request<bytes::Bytes>) -> Self::Future {
        let shared = Arc::clone(&self.0);
        Box::pin(async move {
            let names = decode_subscribe(request.get_ref())
                .map_err(|e| Status::invalid_argument(format!("bad SubscribeRequest: {e}")))?;
            let rx = shared.hub.subscribe(&names)?;
            Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(
                rx,
            )))
        })
    }
}

/// A running gRPC service.
pub struct GrpcServer {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[error("grpc service on {addr}: {what}: {source}")]
pub struct StartError {
    addr: String,
    what: &'static str,
    source: std::io::Error,
}

impl GrpcServer {
    /// Binds `addr` and serves the app's service until stopped: events of `Send` go to
    /// `tx`, `Subscribe` reads `hub`. With `tls` (PEM certificate chain and key), only TLS.
    pub fn start(
        addr: &str,
        schema: &'static ProtoSchema,
        tx: Sender<SourceEvent>,
        hub: Arc<Hub>,
        token: Option<String>,
        tls: Option<(Vec<u8>, Vec<u8>)>,
        metrics: Option<Arc<crate::metrics::Metrics>>,
    ) -> Result<GrpcServer, StartError> {
        let fail = |what: &'static str| {
            let addr = addr.to_string();
            move |source| StartError { addr, what, source }
        };
        let listener = std::net::TcpListener::bind(addr).map_err(fail("listen"))?;
        let local = listener.local_addr().map_err(fail("read the address"))?;
        listener
            .set_nonblocking(true)
            .map_err(fail("configure the listener"))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ef-grpc")
            .enable_io()
            .enable_time()
            .build()
            .map_err(fail("start the runtime"))?;
        let shared = Arc::new(Shared {
            schema,
            tx,
            hub,
            token: token.filter(|t| !t.is_empty()),
            calls: AtomicU64::new(0),
            metrics,
        });
        // Flow-control windows far over HTTP/2's 64 KiB: a `Send` call streams without
        // waiting for a window update every ~2,000 events.
        let mut builder = tonic::transport::Server::builder()
            .initial_stream_window_size(STREAM_WINDOW)
            .initial_connection_window_size(2 * STREAM_WINDOW);
        if let Some((cert, key)) = tls {
            let identity = tonic::transport::Identity::from_pem(cert, key);
            builder = builder
                .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
                .map_err(|e| StartError {
                    addr: addr.to_string(),
                    what: "configure TLS",
                    source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()),
                })?;
        }
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let router = axum::Router::new().fallback_service(Service(shared));
        let thread = std::thread::Builder::new()
            .name("ef-grpc-server".to_string())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            eprintln!("eventflux: grpc service: {e}");
                            return;
                        }
                    };
                    let incoming = tonic::transport::server::TcpIncoming::from(listener);
                    let served = builder
                        .add_routes(tonic::service::Routes::from(router))
                        .serve_with_incoming_shutdown(incoming, async {
                            let _ = stopped.await;
                        });
                    if let Err(e) = served.await {
                        eprintln!("eventflux: grpc service: {e}");
                    }
                });
            })
            .map_err(fail("start the thread"))?;
        Ok(GrpcServer {
            addr: local,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving.
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

impl Drop for GrpcServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A `grpc` sink: a thread calling `Send` of another app's service at `"grpc.url"` with
/// each batch of this stream's rows, as events of the target's input stream of the same
/// name (or `"grpc.stream"`). It asks the target's `Streams` for that stream's place and
/// attributes when it connects. `on.error` defaults to `retry` (`"retry.max"` 3, from
/// 100 ms); `"auth.token"` is sent as `authorization: Bearer`.
pub struct GrpcSink {
    tx: Option<Sender<(u64, Vec<u8>)>>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<SinkStats>,
    stop: Arc<AtomicBool>,
}

/// Where a sink sends, once connected.
struct Target {
    client: tonic::client::Grpc<tonic::transport::Channel>,
    index: usize,
    stream: RemoteStream,
}

impl GrpcSink {
    /// Starts the sink; batches are queued up to `buffer` (then the app waits).
    pub fn start(cfg: &ConnectorConfig, buffer: usize) -> Result<GrpcSink, ConnectError> {
        let url = cfg.required("grpc.url")?.to_string();
        let https = url.starts_with("https://");
        if !https && !url.starts_with("http://") {
            return Err(cfg.bad(
                "grpc.url",
                "not an http:// or https:// URL (e.g. 'http://127.0.0.1:50051')",
            ));
        }
        let mut endpoint = tonic::transport::Endpoint::from_shared(url)
            .map_err(|_| cfg.bad("grpc.url", "not a valid URL"))?
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(std::time::Duration::from_secs(30));
        let ca = cfg.option("tls.ca").filter(|p| !p.is_empty());
        if https {
            // The server's certificate is verified against `"tls.ca"` (PEM); without it no
            // root is trusted and every server is refused.
            let mut tls = tonic::transport::ClientTlsConfig::new();
            if let Some(path) = ca {
                let pem = std::fs::read(path)
                    .map_err(|e| cfg.io(format!("read \"tls.ca\" `{path}`"), e))?;
                tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
            }
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|_| cfg.bad("tls.ca", "cannot configure TLS with it"))?;
        } else if ca.is_some() {
            return Err(cfg.bad("tls.ca", "needs an https:// \"grpc.url\""));
        }
        let token = match cfg.option("auth.token").filter(|t| !t.is_empty()) {
            Some(t) => Some(
                tonic::metadata::MetadataValue::try_from(format!("Bearer {t}"))
                    .map_err(|_| cfg.bad("auth.token", "not a valid header value"))?,
            ),
            None => None,
        };
        let target_stream = cfg.option("grpc.stream").unwrap_or(&cfg.stream).to_string();
        let policy = OnError::of(
            cfg,
            OnError::Retry {
                max: 3,
                backoff: std::time::Duration::from_millis(100),
            },
        )?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| cfg.io("start the gRPC runtime", e))?;
        let (tx, rx) = crossbeam_channel::bounded::<(u64, Vec<u8>)>(buffer.max(1));
        let stats = Arc::new(SinkStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let label = format!("grpc sink `{}`", cfg.stream);
        let thread = {
            let (stats, stop) = (Arc::clone(&stats), Arc::clone(&stop));
            std::thread::Builder::new()
                .name(format!("ef-grpc-sink-{}", cfg.stream))
                .spawn(move || {
                    let mut target: Option<Target> = None;
                    for (events, bytes) in rx {
                        deliver_rows(
                            policy,
                            &label,
                            events,
                            &stats,
                            &stop,
                            || {
                                runtime.block_on(send_batch(
                                    &endpoint,
                                    &mut target,
                                    &target_stream,
                                    token.as_ref(),
                                    &bytes,
                                    &label,
                                ))
                            },
                            || std::borrow::Cow::Borrowed(&bytes[..]),
                        );
                        if stats.failed.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                })
                .map_err(|e| cfg.io("start the sink thread", e))?
        };
        Ok(GrpcSink {
            tx: Some(tx),
            thread: Some(thread),
            stats,
            stop,
        })
    }

    /// Delivers what is queued (giving up on retries after `give_up_after`) and stops.
    pub fn finish(mut self, give_up_after: std::time::Duration) -> Arc<SinkStats> {
        self.close(give_up_after);
        Arc::clone(&self.stats)
    }

    fn close(&mut self, give_up_after: std::time::Duration) {
        super::sink::close_sender_thread(&mut self.tx, &mut self.thread, &self.stop, give_up_after);
    }
}

impl LineSender for GrpcSink {
    fn send_lines(&self, events: u64, bytes: Vec<u8>) -> bool {
        self.tx
            .as_ref()
            .is_some_and(|tx| tx.send((events, bytes)).is_ok())
    }

    fn stats(&self) -> &Arc<SinkStats> {
        &self.stats
    }
}

impl Drop for GrpcSink {
    fn drop(&mut self) {
        self.close(std::time::Duration::from_secs(10));
    }
}

/// Connects (when not connected), learns the target stream's place, and sends the lines as
/// one `Send` call. An error drops the connection, so the next attempt starts afresh; the
/// error never holds the URL.
async fn send_batch(
    endpoint: &tonic::transport::Endpoint,
    target: &mut Option<Target>,
    stream: &str,
    token: Option<&tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
    bytes: &[u8],
    label: &str,
) -> Result<(), String> {
    let result = try_send(endpoint, target, stream, token, bytes, label).await;
    if result.is_err() {
        *target = None;
    }
    result
}

async fn try_send(
    endpoint: &tonic::transport::Endpoint,
    target: &mut Option<Target>,
    stream: &str,
    token: Option<&tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
    bytes: &[u8],
    label: &str,
) -> Result<(), String> {
    fn request<T>(
        body: T,
        token: Option<&tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
    ) -> Request<T> {
        let mut r = Request::new(body);
        if let Some(t) = token {
            r.metadata_mut().insert("authorization", t.clone());
        }
        r
    }
    if target.is_none() {
        let channel = endpoint
            .connect()
            .await
            .map_err(|_| "cannot connect to the target service".to_string())?;
        let mut client = tonic::client::Grpc::new(channel);
        client
            .ready()
            .await
            .map_err(|_| "the target service is not ready".to_string())?;
        let reply = client
            .unary(
                request(Vec::new(), token),
                http::uri::PathAndQuery::from_static("/eventflux.App/Streams"),
                RawCodec,
            )
            .await
            .map_err(|s| format!("the target's Streams failed: {}", describe(&s)))?;
        let streams = decode_streams_reply(reply.get_ref())?;
        let index = streams
            .iter()
            .position(|s| s.name == stream)
            .ok_or_else(|| format!("the target app has no input stream `{stream}`"))?;
        *target = Some(Target {
            client,
            index,
            stream: streams[index].clone(),
        });
    }
    let Some(t) = target.as_mut() else {
        return Err("not connected".to_string());
    };
    let attrs: Vec<(&str, &str, bool)> = t
        .stream
        .attrs
        .iter()
        .map(|(n, ty, null)| (n.as_str(), ty.as_str(), *null))
        .collect();
    let mut messages = Vec::new();
    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        match encode_event_line(&attrs, t.index, line) {
            Ok(m) => messages.push(m),
            // Not retried: the row does not fit the target's stream.
            Err(e) => eprintln!("eventflux: {label}: a row does not fit the target stream: {e}"),
        }
    }
    let n = messages.len() as u64;
    if n == 0 {
        return Ok(());
    }
    t.client
        .ready()
        .await
        .map_err(|_| "the target service is not ready".to_string())?;
    let reply = t
        .client
        .client_streaming(
            request(tokio_stream::iter(messages), token),
            http::uri::PathAndQuery::from_static("/eventflux.App/Send"),
            RawCodec,
        )
        .await
        .map_err(|s| format!("Send failed: {}", describe(&s)))?;
    let accepted = decode_send_reply(reply.get_ref())?;
    if accepted != n {
        return Err(format!("the target accepted {accepted} of {n} events"));
    }
    Ok(())
}

/// A status without anything the peer might echo back of our request.
fn describe(s: &Status) -> String {
    format!("{:?}: {}", s.code(), s.message())
}

//! The app's gRPC service in the standalone driver (DESIGN 8.3): `--grpc ADDR` and the
//! streams declared `WITH (type = 'source', extension = 'grpc', "grpc.port" = ...)` each
//! serve the whole service (every input stream's events through `Send`, every output
//! stream through `Subscribe`). Events go through a decoder thread like any source's (from
//! protobuf, not JSON). Under `--workers`, process 0 serves it (`super::scale`).

use crossbeam_channel::Sender;

use super::args::Args;
use super::erased::AppInfo;
use super::reader::Msg;
use super::Failure;
use crate::connect::Direction;
use crate::io::JsonLinesWriter;

/// Whether `A` serves gRPC in this run.
pub(super) fn wanted(app: &AppInfo, args: &Args) -> bool {
    args.grpc.is_some()
        || app
            .connectors
            .iter()
            .any(|c| c.direction == Direction::Source && c.extension == "grpc")
}

/// `host:port`, or `:port` for 127.0.0.1.
fn address(addr: &str) -> String {
    match addr.strip_prefix(':') {
        Some(port) => format!("127.0.0.1:{port}"),
        None => addr.to_string(),
    }
}

/// Where to serve, with which token, and TLS certificate and key files.
type Endpoint = (String, Option<String>, Option<(String, String)>);

/// Both of a certificate and key, or neither.
fn pair(
    cert: Option<&str>,
    key: Option<&str>,
    names: (&str, &str),
) -> Result<Option<(String, String)>, Failure> {
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(c), Some(k)) => Ok(Some((c.to_string(), k.to_string()))),
        _ => Err(Failure::usage(format!(
            "{} and {} go together (a PEM certificate chain and its private key)",
            names.0, names.1
        ))),
    }
}

/// Where to serve, with which token and TLS: `--grpc` and every `grpc` source.
fn endpoints(app: &AppInfo, args: &Args) -> Result<Vec<Endpoint>, Failure> {
    let mut out: Vec<Endpoint> = Vec::new();
    if let Some(addr) = &args.grpc {
        let tls = pair(
            args.grpc_tls.0.as_deref(),
            args.grpc_tls.1.as_deref(),
            ("--grpc-tls-cert", "--grpc-tls-key"),
        )?;
        out.push((address(addr), args.grpc_token.clone(), tls));
    }
    for cfg in super::connectors::resolved(app, Direction::Source, &args.overrides)?
        .into_iter()
        .filter(|c| c.extension == "grpc")
    {
        let addr = cfg
            .address("grpc")
            .map_err(|e| Failure::runtime(e.to_string()))?;
        if !out.iter().any(|(a, _, _)| *a == addr) {
            let token = cfg.option("auth.token").map(str::to_string);
            let tls = pair(
                cfg.option("tls.cert"),
                cfg.option("tls.key"),
                ("\"tls.cert\"", "\"tls.key\""),
            )
            .map_err(|f| Failure::usage(format!("stream `{}`: {}", cfg.stream, f.message)))?;
            out.push((addr, token.or_else(|| args.grpc_token.clone()), tls));
        }
    }
    Ok(out)
}

/// The running service; dropping it stops it.
pub(super) struct Grpc {
    #[cfg(feature = "grpc")]
    hub: std::sync::Arc<crate::connect::grpc::Hub>,
    #[cfg(feature = "grpc")]
    servers: Vec<crate::connect::grpc::GrpcServer>,
}

/// Sets the service up when `A` serves gRPC: `Subscribe` taps every output line of
/// `writer`.
pub(super) fn prepare(
    app: &AppInfo,
    args: &Args,
    writer: &mut JsonLinesWriter,
) -> Result<Option<Grpc>, Failure> {
    let grpc = new(app, args)?;
    if let Some(g) = &grpc {
        g.taps().tap(writer);
    }
    Ok(grpc)
}

/// The service when `A` serves gRPC in this run (not started, tapping no writer yet).
#[cfg(feature = "grpc")]
pub(super) fn new(app: &AppInfo, args: &Args) -> Result<Option<Grpc>, Failure> {
    if !wanted(app, args) {
        return Ok(None);
    }
    let schema = app.proto_schema.ok_or_else(|| {
        Failure::usage("--grpc: this binary was built without its gRPC service (build it with `eventflux build --grpc`)")
    })?;
    Ok(Some(Grpc {
        hub: crate::connect::grpc::Hub::new(schema),
        servers: Vec::new(),
    }))
}

/// Without the `grpc` feature: an error when the run asks for the service.
#[cfg(not(feature = "grpc"))]
pub(super) fn new(app: &AppInfo, args: &Args) -> Result<Option<Grpc>, Failure> {
    if wanted(app, args) {
        return Err(Failure::usage(
            "--grpc: this binary was built without its gRPC service (build it with `eventflux build --grpc`)",
        ));
    }
    Ok(None)
}

/// What lets `Subscribe` see the lines of more writers (the workers' of a run on several
/// workers, each its own).
#[derive(Clone)]
pub(super) struct Taps {
    #[cfg(feature = "grpc")]
    hub: std::sync::Arc<crate::connect::grpc::Hub>,
}

impl Taps {
    /// Makes `Subscribe` stream `writer`'s output lines too.
    pub(super) fn tap(&self, writer: &mut JsonLinesWriter) {
        #[cfg(feature = "grpc")]
        writer.tap(Box::new(crate::connect::grpc::HubWriter::new(
            std::sync::Arc::clone(&self.hub),
        )));
        #[cfg(not(feature = "grpc"))]
        let _ = writer;
    }
}

impl Grpc {
    /// The taps of this service's `Subscribe`.
    pub(super) fn taps(&self) -> Taps {
        Taps {
            #[cfg(feature = "grpc")]
            hub: std::sync::Arc::clone(&self.hub),
        }
    }

    /// Starts serving; `Send`'s events go to `tx` through a decoder thread; refused calls
    /// are counted in `metrics` (`eventflux_unauthorized_requests_total`).
    #[cfg(feature = "grpc")]
    pub(super) fn start(
        &mut self,
        app: &AppInfo,
        args: &Args,
        tx: &Sender<Msg>,
        metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
    ) -> Result<(), Failure> {
        let Some(schema) = app.proto_schema else {
            return Ok(());
        };
        for (addr, token, tls) in endpoints(app, args)? {
            let tls = match tls {
                None => None,
                Some((cert, key)) => {
                    let read = |path: &str| {
                        std::fs::read(path).map_err(|e| {
                            Failure::runtime(format!(
                                "grpc service: cannot read TLS file `{path}`: {e}"
                            ))
                        })
                    };
                    Some((read(&cert)?, read(&key)?))
                }
            };
            // Up to 4 hand-overs of 4096 events wait for the decoder thread.
            let (stx, srx) = crossbeam_channel::bounded(4);
            let server = crate::connect::grpc::GrpcServer::start(
                &addr,
                schema,
                stx,
                std::sync::Arc::clone(&self.hub),
                token,
                tls,
                metrics.clone(),
            )
            .map_err(|e| Failure::runtime(e.to_string()))?;
            super::log::log(
                super::log::Level::Info,
                &format!(
                    "eventflux: grpc service listening on {}",
                    server.local_addr()
                ),
            );
            self.servers.push(server);
            let tx = tx.clone();
            let app = app.clone();
            std::thread::Builder::new()
                .name("ef-decode-grpc".to_string())
                .spawn(move || {
                    super::connectors::bridge(
                        &app,
                        &srx,
                        &tx,
                        "grpc Send",
                        super::connectors::OnBad::Log,
                        false,
                        None,
                        // The service counts its own events in and bad messages.
                        None,
                    );
                })
                .map_err(|e| Failure::runtime(format!("cannot start a decoder thread: {e}")))?;
        }
        Ok(())
    }

    /// Without the `grpc` feature there is never a service to start.
    #[cfg(not(feature = "grpc"))]
    pub(super) fn start(
        &mut self,
        app: &AppInfo,
        args: &Args,
        _tx: &Sender<Msg>,
        _metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
    ) -> Result<(), Failure> {
        endpoints(app, args).map(|_| ())
    }
}

impl Drop for Grpc {
    fn drop(&mut self) {
        #[cfg(feature = "grpc")]
        for s in &mut self.servers {
            s.stop();
        }
    }
}

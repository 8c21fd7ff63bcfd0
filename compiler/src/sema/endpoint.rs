//! Sources, sinks and pipeline options declared on streams (DESIGN 8.1, 8.2;
//! docs/connectors.md): `WITH (type = 'source' | 'sink', extension = '...', ...)`, further
//! lists with `AND WITH (...)`, Siddhi's `@source(type = 'tcp', ...)` / `@sink(...)` /
//! `@async(...)` annotations, and `async`/`buffer`/`backpressure`/`workers`/`"batch.max"`.
//!
//! Every option is checked here with a diagnostic at the option's span; values holding
//! `${VAR}` are checked when the binary starts (the runtime substitutes them then).

use super::Analysis;
use crate::diagnostic::Diagnostic;
use crate::syntax::ast::Span;
use crate::syntax::ast::{self, Literal};

/// A file (or stdin/stdout) source or sink of one stream, read by the plain JSON-lines driver.
#[derive(Clone, Debug, PartialEq)]
pub struct Endpoint {
    /// The stream.
    pub stream: String,
    /// `true` for a source, `false` for a sink.
    pub source: bool,
    /// The file, or `-` for stdin / stdout.
    pub path: String,
}

/// One source or sink of a stream, with every option as written (raw values).
#[derive(Clone, Debug, PartialEq)]
pub struct Connector {
    /// The stream.
    pub stream: String,
    /// `true` for a source, `false` for a sink.
    pub source: bool,
    /// The extension, lower case (`file`, `tcp`, `http`, ...).
    pub extension: String,
    /// Every other option: key (lower case) and raw value, in written order.
    pub options: Vec<(String, String)>,
}

/// The `async` pipeline of a stream (DESIGN 8.2).
#[derive(Clone, Debug, PartialEq)]
pub struct Pipeline {
    /// The stream.
    pub stream: String,
    /// Queue capacity in events.
    pub buffer: u64,
    /// `block`, `drop`, `drop_oldest` or `backoff`.
    pub backpressure: String,
    /// Decoding workers.
    pub workers: u64,
    /// Largest batch handed to the app at once.
    pub batch_max: u64,
}

/// The extensions sources and sinks may name, and where they are allowed.
const EXTENSIONS: &[(&str, bool, bool)] = &[
    // (name, as a source, as a sink)
    ("file", true, true),
    ("stdin", true, false),
    ("stdout", false, true),
    ("log", false, true),
    ("tcp", true, true),
    ("http", true, true),
    ("nats", true, true),
    ("mqtt", true, true),
    ("postgres", false, true),
    ("grpc", true, true),
    ("rabbitmq", true, true),
    ("kafka", true, true),
];

/// Keys every source and sink takes.
const COMMON_KEYS: &[&str] = &[
    "type",
    "extension",
    "format",
    "map.type",
    "on.error",
    "retry.max",
    "retry.backoff",
];

/// The sinks that hand undelivered rows to the fault stream (`'on.error' = 'fault'`).
const FAULT_SINKS: &[&str] = &["file", "tcp", "http", "grpc", "nats", "rabbitmq", "kafka"];

/// Keys of the stream's pipeline, allowed in any of its lists.
const PIPELINE_KEYS: &[&str] = &["async", "buffer", "backpressure", "workers", "batch.max"];

/// The keys an extension takes (besides the common ones) and those it requires.
fn extension_keys(
    extension: &str,
    source: bool,
) -> (&'static [&'static str], &'static [&'static str]) {
    match (extension, source) {
        ("file", true) => (&["file.path", "path", "file.follow"], &[]),
        ("file", false) => (&["file.path", "path"], &[]),
        ("tcp", _) => (&["tcp.host", "tcp.port"], &["tcp.port"]),
        ("http", true) => (
            &[
                "http.host",
                "http.port",
                "auth.token",
                "tls.cert",
                "tls.key",
            ],
            &["http.port"],
        ),
        ("http", false) => (&["http.url", "auth.token", "http.timeout"], &["http.url"]),
        ("grpc", true) => (
            &[
                "grpc.host",
                "grpc.port",
                "auth.token",
                "tls.cert",
                "tls.key",
            ],
            &["grpc.port"],
        ),
        ("grpc", false) => (
            &["grpc.url", "grpc.stream", "auth.token", "tls.ca"],
            &["grpc.url"],
        ),
        ("nats", true) => (
            &[
                "nats.url",
                "nats.stream",
                "nats.subject",
                "nats.consumer",
                "nats.ack.wait",
                "nats.max.ack.pending",
                "nats.partitions",
            ],
            &["nats.stream", "nats.subject"],
        ),
        ("nats", false) => (
            &["nats.url", "nats.subject", "nats.stream"],
            &["nats.subject"],
        ),
        ("mqtt", _) => (
            &["mqtt.url", "mqtt.topic", "mqtt.client.id"],
            &["mqtt.topic"],
        ),
        ("postgres", _) => (
            &["postgres.url", "postgres.table"],
            &["postgres.url", "postgres.table"],
        ),
        ("rabbitmq", true) => (
            &["rabbitmq.url", "rabbitmq.queue", "rabbitmq.prefetch"],
            &["rabbitmq.queue"],
        ),
        ("rabbitmq", false) => (
            &["rabbitmq.url", "rabbitmq.exchange", "rabbitmq.routing.key"],
            &["rabbitmq.routing.key"],
        ),
        ("kafka", true) => (
            &["kafka.bootstrap.servers", "kafka.topic", "kafka.group.id"],
            &["kafka.topic"],
        ),
        ("kafka", false) => (
            &[
                "kafka.bootstrap.servers",
                "kafka.topic",
                "kafka.partition",
                "kafka.message.timeout.ms",
            ],
            &["kafka.topic"],
        ),
        _ => (&[], &[]),
    }
}

/// One option with its key lower-cased and its value as text.
struct Opt<'a> {
    key: String,
    value: String,
    kv: &'a ast::OptionKv,
}

impl Opt<'_> {
    fn key_span(&self) -> Span {
        self.kv.key.as_ref().map_or(self.kv.value_span, |k| k.span)
    }
    fn span(&self) -> Span {
        self.kv
            .key
            .as_ref()
            .map_or(self.kv.value_span, |k| k.span.to(self.kv.value_span))
    }
    /// `true` when the value is replaced from the environment at start.
    fn deferred(&self) -> bool {
        self.value.contains("${")
    }
}

/// Binds every source, sink and pipeline option a stream definition declares into `a`;
/// problems become diagnostics.
pub fn bind_stream_options(a: &mut Analysis, def: &ast::StreamDef) {
    let mut pipeline = PipelineOpts::default();
    for list in def.with_lists() {
        bind_list(a, def, list, None, &mut pipeline);
    }
    for ann in &def.annotations {
        match ann.name.name.to_ascii_lowercase().as_str() {
            "source" => bind_list(a, def, &ann.args, Some((true, ann.span)), &mut pipeline),
            "sink" => bind_list(a, def, &ann.args, Some((false, ann.span)), &mut pipeline),
            "async" => bind_async_annotation(a, ann, &mut pipeline),
            _ => {}
        }
    }
    if let Some(p) = pipeline.finish(a, def) {
        a.pipelines.push(p);
    }
}

/// The pipeline options seen so far on one stream.
#[derive(Default)]
struct PipelineOpts {
    enabled: Option<(bool, Span)>,
    buffer: Option<(u64, Span)>,
    backpressure: Option<(String, Span)>,
    workers: Option<(u64, Span)>,
    batch_max: Option<(u64, Span)>,
}

impl PipelineOpts {
    fn finish(self, a: &mut Analysis, def: &ast::StreamDef) -> Option<Pipeline> {
        let enabled = self.enabled.is_some_and(|(on, _)| on);
        if !enabled {
            let spans = [
                self.buffer.map(|x| x.1),
                self.backpressure.as_ref().map(|x| x.1),
                self.workers.map(|x| x.1),
                self.batch_max.map(|x| x.1),
            ];
            if let Some(span) = spans.into_iter().flatten().next() {
                a.diagnostics.push(
                    Diagnostic::warning("this option has no effect without `async = 'true'`", span)
                        .with_help("add async = 'true' to feed the stream through a queue"),
                );
            }
            return None;
        }
        Some(Pipeline {
            stream: def.name.name.clone(),
            buffer: self.buffer.map_or(65536, |x| x.0),
            backpressure: self
                .backpressure
                .map_or_else(|| "block".to_string(), |x| x.0),
            workers: self.workers.map_or(1, |x| x.0),
            batch_max: self.batch_max.map_or(1024, |x| x.0),
        })
    }
}

/// The option values of one list as text; numbers and booleans are accepted as written.
fn options<'l>(a: &mut Analysis, list: &'l [ast::OptionKv]) -> Vec<Opt<'l>> {
    let mut out: Vec<Opt<'l>> = Vec::new();
    for kv in list {
        let Some(key) = &kv.key else {
            a.diagnostics.push(
                Diagnostic::error("an option needs a name (`key = 'value'`)", kv.value_span)
                    .with_help("e.g. type = 'tcp'"),
            );
            continue;
        };
        let value = match &kv.value {
            Literal::String(v) => v.clone(),
            Literal::Int(n) => n.to_string(),
            Literal::Long(n) => n.to_string(),
            Literal::Bool(b) => b.to_string(),
            _ => {
                a.diagnostics.push(
                    Diagnostic::error("option values are strings here", kv.value_span)
                        .with_help("write the value in quotes"),
                );
                continue;
            }
        };
        let key = key.name.to_ascii_lowercase();
        if let Some(prev) = out.iter().find(|o| o.key == key) {
            let d = Diagnostic::error(format!("option `{key}` is given twice"), kv.value_span)
                .with_secondary(prev.span(), "first given here");
            a.diagnostics.push(d);
            continue;
        }
        if let Err(message) = check_substitution(&value) {
            a.diagnostics
                .push(Diagnostic::error(message, kv.value_span).with_help(
                    "write ${VAR} or ${VAR:-default}; the variable is read when the app starts",
                ));
            continue;
        }
        out.push(Opt { key, value, kv });
    }
    out
}

/// Checks the `${VAR}` / `${VAR:-default}` references of a value (the runtime replaces them).
pub(crate) fn check_substitution(value: &str) -> Result<(), String> {
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err("`${` without a closing `}`".to_string());
        };
        let inner = &after[..end];
        let name = inner.split_once(":-").map_or(inner, |(n, _)| n);
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(format!(
                "`${{{inner}}}` does not name an environment variable"
            ));
        }
        rest = &after[end + 1..];
    }
    Ok(())
}

/// Binds one `WITH` list or `@source`/`@sink` annotation. `implied` is the direction of an
/// annotation (whose `type` names the extension) with its span.
fn bind_list(
    a: &mut Analysis,
    def: &ast::StreamDef,
    list: &[ast::OptionKv],
    implied: Option<(bool, Span)>,
    pipeline: &mut PipelineOpts,
) {
    let opts = options(a, list);
    let list_span = list
        .first()
        .map(|kv| kv.key.as_ref().map_or(kv.value_span, |k| k.span))
        .map_or(def.name.span, |first| {
            list.last().map_or(first, |last| first.to(last.value_span))
        });
    let mut source = implied.map(|(s, _)| s);
    let mut extension: Option<(String, Span)> = None;
    let mut has_connector_key = false;
    for o in &opts {
        let lower = o.value.to_ascii_lowercase();
        match o.key.as_str() {
            "type" if implied.is_some() => extension = Some((lower, o.kv.value_span)),
            "type" if lower == "source" || lower == "sink" => source = Some(lower == "source"),
            "type" => a.diagnostics.push(
                Diagnostic::error(
                    format!("unknown stream type `{}`", o.value),
                    o.kv.value_span,
                )
                .with_help("type is 'source' or 'sink'"),
            ),
            "extension" if implied.is_some() => a.diagnostics.push(
                Diagnostic::error("in an annotation, `type` names the extension", o.key_span())
                    .with_help("e.g. @source(type = 'tcp', \"tcp.port\" = '7001')"),
            ),
            "extension" => extension = Some((lower, o.kv.value_span)),
            key if PIPELINE_KEYS.contains(&key) => bind_pipeline(a, o, pipeline),
            _ => has_connector_key = true,
        }
    }
    let Some(source) = source else {
        if extension.is_some() || has_connector_key {
            a.diagnostics.push(
                Diagnostic::error(
                    "stream options need `type = 'source'` or `type = 'sink'`",
                    list_span,
                )
                .with_help(
                    "e.g. WITH (type = 'source', extension = 'file', \"file.path\" = 'in.jsonl')",
                ),
            );
        }
        return;
    };
    let (extension, ext_span) = match extension {
        Some(e) => e,
        None if implied.is_some() => {
            let span = implied.map_or(list_span, |(_, s)| s);
            a.diagnostics.push(
                Diagnostic::error("this annotation needs `type = '<extension>'`", span)
                    .with_help("e.g. @source(type = 'tcp', \"tcp.port\" = '7001')"),
            );
            return;
        }
        // `WITH (type = 'source')` alone: stdin / stdout, as before.
        None => (
            if source { "stdin" } else { "stdout" }.to_string(),
            list_span,
        ),
    };
    let Some(&(_, as_source, as_sink)) = EXTENSIONS.iter().find(|e| e.0 == extension) else {
        let d = Diagnostic::error(format!("unknown extension `{extension}`"), ext_span);
        a.diagnostics.push(d.with_help(
            "the extensions are 'file', 'stdin', 'stdout', 'log', 'tcp', 'http', 'grpc', 'nats', 'mqtt', 'postgres', 'rabbitmq', 'kafka'",
        ));
        return;
    };
    if (source && !as_source) || (!source && !as_sink) {
        let what = if source { "source" } else { "sink" };
        a.diagnostics.push(Diagnostic::error(
            format!("`{extension}` cannot be a {what}"),
            ext_span,
        ));
        return;
    }
    let (keys, required) = extension_keys(&extension, source);
    let mut ok = true;
    let mut options = Vec::new();
    for o in &opts {
        let key = o.key.as_str();
        if key == "type" || key == "extension" || PIPELINE_KEYS.contains(&key) {
            continue;
        }
        if !COMMON_KEYS.contains(&key) && !keys.contains(&key) {
            let mut known: Vec<&str> = keys.to_vec();
            known.extend(&COMMON_KEYS[2..]);
            a.diagnostics.push(
                Diagnostic::error(
                    format!(
                        "unknown option `{key}` for a `{extension}` {}",
                        kind(source)
                    ),
                    o.key_span(),
                )
                .with_help(format!("its options are {}", quote_list(&known))),
            );
            ok = false;
            continue;
        }
        if !o.deferred() {
            let checked = if extension == "grpc" && key.starts_with("tls.") {
                // PEM file paths, read when the binary starts.
                Ok(())
            } else {
                check_value(key, &o.value, source)
            };
            if let Err((message, help)) = checked {
                let mut d = Diagnostic::error(message, o.kv.value_span);
                if !help.is_empty() {
                    d = d.with_help(help);
                }
                a.diagnostics.push(d);
                ok = false;
                continue;
            }
        }
        let key = if key == "path" { "file.path" } else { key };
        let key = if key == "map.type" { "format" } else { key };
        options.push((key.to_string(), o.value.clone()));
    }
    let mut required: Vec<&str> = required.to_vec();
    if extension == "file" {
        required.push("file.path");
    }
    for need in required {
        if !options.iter().any(|(k, _)| k == need) && ok {
            a.diagnostics.push(
                Diagnostic::error(
                    format!("a `{extension}` {} needs \"{need}\"", kind(source)),
                    ext_span,
                )
                .with_help(example(&extension, source)),
            );
            ok = false;
        }
    }
    // A sink hands undelivered rows to its fault stream only where it gives rows up (the
    // runtime's `connect::sink::FAULT_SINKS`): mqtt and postgres sinks retry until the row
    // is delivered, stdout and log write to the process's own output.
    if !source && !FAULT_SINKS.contains(&extension.as_str()) {
        let fault = opts
            .iter()
            .find(|o| o.key == "on.error" && o.value.eq_ignore_ascii_case("fault"));
        if let Some(o) = fault {
            a.diagnostics.push(
                Diagnostic::error(
                    format!("'fault' is not supported on a `{extension}` sink"),
                    o.kv.value_span,
                )
                .with_help(format!(
                    "{} sinks send undelivered rows to the fault stream; a `{extension}` sink never gives a row up{}",
                    FAULT_SINKS.join(", "),
                    if matches!(extension.as_str(), "mqtt" | "postgres") {
                        " (it retries until the row is delivered)"
                    } else {
                        ""
                    }
                )),
            );
            ok = false;
        }
    }
    let has = |k: &str| options.iter().any(|(key, _)| key == k);
    if has("tls.cert") != has("tls.key") && ok {
        a.diagnostics.push(Diagnostic::error(
            "TLS needs both \"tls.cert\" and \"tls.key\"",
            list_span,
        ));
        ok = false;
    }
    // A secret written into the app ends up in the binary and in `eventflux emit`.
    for o in &opts {
        let secret = o.key == "auth.token" || (o.key.ends_with(".url") && has_password(&o.value));
        if secret && !o.deferred() && !o.value.is_empty() {
            a.diagnostics.push(
                Diagnostic::warning(
                    "a credential written into the app is compiled into the binary",
                    o.kv.value_span,
                )
                .with_help("read it from the environment when the app starts: '${MY_TOKEN}'"),
            );
        }
    }
    if !ok {
        return;
    }
    let stream = def.name.name.clone();
    match extension.as_str() {
        "stdin" | "stdout" | "log" => a.endpoints.push(Endpoint {
            stream: stream.clone(),
            source,
            path: "-".to_string(),
        }),
        "file" => {
            let follow = options
                .iter()
                .any(|(k, v)| k == "file.follow" && v == "true");
            let csv = options
                .iter()
                .any(|(k, v)| k == "format" && v.eq_ignore_ascii_case("csv"));
            // A sink with `on.error` runs on a thread of its own under that policy.
            let policy = !source && options.iter().any(|(k, _)| k == "on.error");
            if !follow && !csv && !policy {
                let path = options
                    .iter()
                    .find(|(k, _)| k == "file.path")
                    .map_or_else(String::new, |(_, v)| v.clone());
                a.endpoints.push(Endpoint {
                    stream: stream.clone(),
                    source,
                    path,
                });
            }
        }
        _ => {}
    }
    a.connectors.push(Connector {
        stream,
        source,
        extension,
        options,
    });
}

fn kind(source: bool) -> &'static str {
    if source {
        "source"
    } else {
        "sink"
    }
}

fn quote_list(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| {
            if k.contains('.') {
                format!("\"{k}\"")
            } else {
                (*k).to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn example(extension: &str, source: bool) -> &'static str {
    match (extension, source) {
        ("file", _) => "e.g. \"file.path\" = 'events.jsonl'",
        ("tcp", true) => "e.g. \"tcp.port\" = '7001' (\"tcp.host\" defaults to 127.0.0.1)",
        ("tcp", false) => "e.g. \"tcp.host\" = '127.0.0.1', \"tcp.port\" = '7001'",
        ("http", true) => "e.g. \"http.port\" = '8080' (\"http.host\" defaults to 127.0.0.1)",
        ("http", false) => "e.g. \"http.url\" = 'http://127.0.0.1:8080/streams/Orders'",
        ("grpc", true) => "e.g. \"grpc.port\" = '50051' (\"grpc.host\" defaults to 127.0.0.1)",
        ("grpc", false) => "e.g. \"grpc.url\" = 'http://127.0.0.1:50051'",
        ("nats", true) => "e.g. \"nats.stream\" = 'ORDERS', \"nats.subject\" = 'orders'",
        ("nats", false) => "e.g. \"nats.subject\" = 'alerts'",
        ("mqtt", _) => "e.g. \"mqtt.topic\" = 'sensors/readings'",
        ("postgres", _) => {
            "e.g. \"postgres.url\" = 'postgres://app@127.0.0.1/db', \"postgres.table\" = 'alerts'"
        }
        ("rabbitmq", true) => "e.g. \"rabbitmq.queue\" = 'orders'",
        ("kafka", _) => {
            "e.g. \"kafka.bootstrap.servers\" = '127.0.0.1:9092', \"kafka.topic\" = 'orders'"
        }
        ("rabbitmq", false) => {
            "e.g. \"rabbitmq.exchange\" = 'alerts', \"rabbitmq.routing.key\" = 'high'"
        }
        _ => "",
    }
}

/// Checks one connector option's value (not holding `${...}`); `Err((message, help))`.
fn check_value(key: &str, value: &str, source: bool) -> Result<(), (String, String)> {
    let bad = |m: String, h: &str| Err((m, h.to_string()));
    match key {
        "format" | "map.type" => match value.to_ascii_lowercase().as_str() {
            "json" | "csv" => Ok(()),
            _ => bad(
                format!("unknown format `{value}`"),
                "format is 'json' (JSON lines) or 'csv'",
            ),
        },
        "on.error" => {
            let allowed: &[&str] = if source {
                &["log", "drop", "fault", "fail"]
            } else {
                &["log", "drop", "retry", "wait", "fault", "fail"]
            };
            let lower = value.to_ascii_lowercase();
            if allowed.contains(&lower.as_str()) {
                Ok(())
            } else if ["retry", "wait"].contains(&lower.as_str()) {
                bad(
                    format!(
                        "'{lower}' is for sinks; a source takes 'log', 'drop', 'fault' or 'fail'"
                    ),
                    "",
                )
            } else {
                bad(
                    format!("unknown 'on.error' value `{value}`"),
                    &format!("on.error is one of {}", allowed.join(", ")),
                )
            }
        }
        "retry.max" => value
            .trim()
            .parse::<u32>()
            .map(|_| ())
            .or_else(|_| bad(format!("\"retry.max\" must be a count, not `{value}`"), "")),
        "nats.url" => {
            let ok = value.split(',').all(|u| {
                ["nats://", "tls://"]
                    .iter()
                    .any(|s| u.trim().starts_with(s))
            });
            if ok {
                Ok(())
            } else {
                bad(
                    format!("`{}` is not a nats:// or tls:// URL", redact(value)),
                    "e.g. 'nats://127.0.0.1:4222'",
                )
            }
        }
        "nats.subject" | "nats.stream" | "nats.consumer" => {
            let wildcard_ok = key == "nats.subject" && source;
            if value.trim().is_empty() || value.contains(char::is_whitespace) {
                bad(format!("\"{key}\" must be a name without spaces"), "")
            } else if key != "nats.subject" && value.contains(['.', '*', '>']) {
                bad(
                    format!("\"{key}\" cannot contain '.', '*' or '>'"),
                    "JetStream stream and consumer names are plain names, e.g. 'ORDERS'",
                )
            } else if !wildcard_ok && value.contains(['*', '>']) {
                bad(
                    "a sink publishes to one subject: no wildcards".to_string(),
                    "",
                )
            } else {
                Ok(())
            }
        }
        "mqtt.url" => {
            let rest = value
                .strip_prefix("mqtt://")
                .or_else(|| value.strip_prefix("tcp://"));
            let host_port = rest.map(|r| r.rsplit_once('@').map_or(r, |(_, h)| h));
            let ok = host_port.is_some_and(|hp| {
                let hp = hp.trim_end_matches('/');
                match hp.rsplit_once(':') {
                    Some((h, p)) => !h.is_empty() && p.parse::<u16>().is_ok(),
                    None => !hp.is_empty(),
                }
            });
            if ok {
                Ok(())
            } else {
                bad(
                    format!("`{}` is not an mqtt://host:port URL", redact(value)),
                    "e.g. 'mqtt://127.0.0.1:1883'",
                )
            }
        }
        "postgres.url" => {
            if value.starts_with("postgres://") || value.starts_with("postgresql://") {
                Ok(())
            } else {
                bad(
                    format!("`{}` is not a postgres:// URL", redact(value)),
                    "e.g. 'postgres://app:${PGPASSWORD}@127.0.0.1:5432/db'",
                )
            }
        }
        "postgres.table" => {
            let part = |p: &str| {
                !p.is_empty()
                    && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !p.starts_with(|c: char| c.is_ascii_digit())
            };
            let ok = match value.split_once('.') {
                Some((schema, table)) => part(schema) && part(table),
                None => part(value),
            };
            if ok {
                Ok(())
            } else {
                bad(
                    format!("`{value}` is not a table name"),
                    "a table name is letters, digits and `_`, optionally `schema.table`",
                )
            }
        }
        "rabbitmq.url" => {
            let rest = value
                .strip_prefix("amqp://")
                .or_else(|| value.strip_prefix("amqps://"));
            let authority = rest.map(|r| {
                let host = r.split('/').next().unwrap_or("");
                host.rsplit_once('@').map_or(host, |(_, h)| h)
            });
            let ok = authority.is_some_and(|hp| match hp.rsplit_once(':') {
                Some((h, p)) => !h.is_empty() && p.parse::<u16>().is_ok(),
                None => !hp.is_empty(),
            });
            if ok {
                Ok(())
            } else {
                bad(
                    format!("`{}` is not an amqp://host:port/vhost URL", redact(value)),
                    "e.g. 'amqp://guest:guest@127.0.0.1:5672/%2f'",
                )
            }
        }
        "rabbitmq.queue" | "rabbitmq.routing.key" if value.trim().is_empty() => {
            bad(format!("\"{key}\" is empty"), "")
        }
        "kafka.bootstrap.servers" => {
            let ok = value.split(',').all(|server| {
                let server = server.trim();
                server
                    .rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
            });
            if ok {
                Ok(())
            } else {
                bad(
                    format!("`{value}` is not a list of host:port"),
                    "e.g. '127.0.0.1:9092' or 'k1:9092,k2:9092'",
                )
            }
        }
        "kafka.topic" => {
            let ok = !value.is_empty()
                && value.len() <= 249
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if ok {
                Ok(())
            } else {
                bad(
                    format!("`{value}` is not a Kafka topic name"),
                    "a topic name is letters, digits, '.', '_' and '-'",
                )
            }
        }
        "kafka.group.id" if value.trim().is_empty() => {
            bad("\"kafka.group.id\" is empty".to_string(), "")
        }
        "kafka.partition" => match value.trim().parse::<i32>() {
            Ok(n) if n >= 0 => Ok(()),
            _ => bad(
                format!("\"kafka.partition\" must be a partition number, not `{value}`"),
                "",
            ),
        },
        "kafka.message.timeout.ms" => match value.trim().parse::<i32>() {
            Ok(n) if n >= 10 => Ok(()),
            _ => bad(
                format!("\"{key}\" must be 10 to 2147483647 milliseconds, not `{value}`"),
                "how long the producer tries to deliver a message before `on.error` applies",
            ),
        },
        "rabbitmq.prefetch" => match value.trim().parse::<u16>() {
            Ok(n) if n >= 1 => Ok(()),
            _ => bad(
                format!("\"{key}\" must be a count from 1 to 65535, not `{value}`"),
                "the unacknowledged messages the broker sends ahead",
            ),
        },
        "mqtt.topic" if value.is_empty() => bad("the topic is empty".to_string(), ""),
        "mqtt.topic" if !source && value.contains(['+', '#']) => bad(
            "a sink publishes to one topic: no wildcards".to_string(),
            "",
        ),
        "nats.max.ack.pending" => match value.trim().parse::<i64>() {
            Ok(n) if n >= 1 => Ok(()),
            _ => bad(
                format!("\"{key}\" must be a count of at least 1, not `{value}`"),
                "",
            ),
        },
        "nats.partitions" => match value.trim().parse::<u16>() {
            Ok(n) if n >= 1 => Ok(()),
            _ => bad(
                format!("\"nats.partitions\" must be a count from 1 to 65535, not `{value}`"),
                "the source reads subjects `<nats.subject>.0` to `<nats.subject>.<N-1>`",
            ),
        },
        "nats.ack.wait" => match parse_millis(value) {
            Ok(ms) if ms > 0 => Ok(()),
            _ => bad(
                format!("`{value}` is not a duration"),
                "write milliseconds ('30000') or a duration ('30 s', '5 min')",
            ),
        },
        "retry.backoff" | "http.timeout" => parse_millis(value).map(|_| ()).or_else(|_| {
            bad(
                format!("`{value}` is not a duration"),
                "write milliseconds ('100') or a duration ('100 ms', '2 s')",
            )
        }),
        "file.follow" => bool_value(value)
            .map(|_| ())
            .or_else(|_| bad(format!("\"{key}\" is 'true' or 'false', not `{value}`"), "")),
        "tcp.port" | "http.port" | "grpc.port" => match value.trim().parse::<u16>() {
            Ok(0) if !source => bad("port 0 cannot be connected to".to_string(), ""),
            Ok(_) => Ok(()),
            Err(_) => bad(
                format!("`{value}` is not a port"),
                "a port is a number from 0 to 65535",
            ),
        },
        "tcp.host" | "http.host" | "grpc.host" if value.trim().is_empty() => {
            bad("the host is empty".to_string(), "e.g. '127.0.0.1'")
        }
        "file.path" | "path" if value.is_empty() => bad("the path is empty".to_string(), ""),
        "tls.cert" | "tls.key" if value.trim().is_empty() => bad(
            "the path is empty".to_string(),
            "a PEM file, e.g. 'server.pem'",
        ),
        "http.url" => {
            if value.starts_with("http://") || value.starts_with("https://") {
                Ok(())
            } else {
                bad(
                    format!("`{}` is not an http:// or https:// URL", redact(value)),
                    "e.g. 'http://127.0.0.1:8080/streams/Orders'",
                )
            }
        }
        "grpc.url" => {
            if value.starts_with("http://") || value.starts_with("https://") {
                Ok(())
            } else {
                bad(
                    format!("`{}` is not an http:// or https:// URL", redact(value)),
                    "e.g. 'http://127.0.0.1:50051' (the other app's `--grpc` address)",
                )
            }
        }
        _ => Ok(()),
    }
}

/// Whether a URL holds `user:password@`.
fn has_password(value: &str) -> bool {
    match (value.find("://"), value.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => value[scheme + 3..at].contains(':'),
        _ => false,
    }
}

/// A URL with its password (`user:password@`) replaced by `***`, for messages.
pub(crate) fn redact(value: &str) -> String {
    match (value.find("://"), value.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &value[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &value[..scheme + 3], &value[at..]),
                None => value.to_string(),
            }
        }
        _ => value.to_string(),
    }
}

fn bool_value(value: &str) -> Result<bool, ()> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(()),
    }
}

/// `'100'` (ms), `'100 ms'`, `'2 s'`, `'1 min'`.
fn parse_millis(value: &str) -> Result<u64, ()> {
    let v = value.trim();
    let digits = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let n: u64 = v[..digits].parse().map_err(|_| ())?;
    let unit = v[digits..].trim().to_ascii_lowercase();
    let factor = match unit.as_str() {
        "" | "ms" | "millisecond" | "milliseconds" => 1,
        "s" | "sec" | "second" | "seconds" => 1000,
        "min" | "minute" | "minutes" => 60_000,
        _ => return Err(()),
    };
    n.checked_mul(factor).ok_or(())
}

/// A pipeline option (`async`, `buffer`, `backpressure`, `workers`, `"batch.max"`).
fn bind_pipeline(a: &mut Analysis, o: &Opt<'_>, p: &mut PipelineOpts) {
    let span = o.kv.value_span;
    if o.deferred() {
        a.diagnostics.push(
            Diagnostic::error("pipeline options cannot use ${...}", span)
                .with_help("they shape the compiled app; write the value"),
        );
        return;
    }
    let count = |a: &mut Analysis, max: u64| -> Option<u64> {
        match o.value.trim().parse::<u64>() {
            Ok(n) if n >= 1 && n <= max => Some(n),
            _ => {
                a.diagnostics.push(Diagnostic::error(
                    format!(
                        "\"{}\" must be a number from 1 to {max}, not `{}`",
                        o.key, o.value
                    ),
                    span,
                ));
                None
            }
        }
    };
    match o.key.as_str() {
        "async" => match bool_value(&o.value) {
            Ok(on) => p.enabled = Some((on, span)),
            Err(()) => a.diagnostics.push(Diagnostic::error(
                format!("async is 'true' or 'false', not `{}`", o.value),
                span,
            )),
        },
        "buffer" => p.buffer = count(a, 1 << 26).map(|n| (n, span)),
        "workers" => p.workers = count(a, 256).map(|n| (n, span)),
        "batch.max" => p.batch_max = count(a, 1 << 20).map(|n| (n, span)),
        "backpressure" => {
            let lower = o.value.to_ascii_lowercase();
            if ["block", "drop", "drop_oldest", "backoff"].contains(&lower.as_str()) {
                p.backpressure = Some((lower, span));
            } else {
                a.diagnostics.push(
                    Diagnostic::error(format!("unknown backpressure `{}`", o.value), span)
                        .with_help("backpressure is 'block', 'drop', 'drop_oldest' or 'backoff'"),
                );
            }
        }
        _ => {}
    }
}

/// `@async(buffer.size = '...', workers = '...', batch.size.max = '...')`.
fn bind_async_annotation(a: &mut Analysis, ann: &ast::Annotation, p: &mut PipelineOpts) {
    p.enabled = Some((true, ann.span));
    let opts = options(a, &ann.args);
    for o in &opts {
        let renamed = match o.key.as_str() {
            "buffer.size" => "buffer",
            "workers" => "workers",
            "batch.size.max" => "batch.max",
            other => {
                a.diagnostics.push(
                    Diagnostic::error(format!("unknown @async option `{other}`"), o.key_span())
                        .with_help("@async takes \"buffer.size\", workers, \"batch.size.max\""),
                );
                continue;
            }
        };
        let o = Opt {
            key: renamed.to_string(),
            value: o.value.clone(),
            kv: o.kv,
        };
        bind_pipeline(a, &o, p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution_syntax() {
        assert!(check_substitution("plain").is_ok());
        assert!(check_substitution("${A}:${B_2:-x}").is_ok());
        assert!(check_substitution("${A").is_err());
        assert!(check_substitution("${}").is_err());
        assert!(check_substitution("${1A}").is_err());
        assert!(check_substitution("${A-B}").is_err());
    }

    #[test]
    fn durations_and_redaction() {
        assert_eq!(parse_millis("100"), Ok(100));
        assert_eq!(parse_millis("2 s"), Ok(2000));
        assert_eq!(parse_millis("5ms"), Ok(5));
        assert!(parse_millis("soon").is_err());
        assert_eq!(
            redact("http://user:secret@host/x"),
            "http://user:***@host/x"
        );
        assert_eq!(redact("http://host/x"), "http://host/x");
    }
}

#[cfg(test)]
mod grpc_tests {
    /// The messages of `eventflux check` on `source`, or none.
    fn errors(source: &str) -> String {
        match crate::check(source) {
            Ok(_) => String::new(),
            Err(e) => e.render("app.eventflux", source),
        }
    }

    #[test]
    fn grpc_options_are_checked() {
        let ok = "CREATE STREAM S (x INT) WITH (type = 'source', extension = 'grpc', \"grpc.port\" = '0', \
                  \"tls.cert\" = 'c.pem', \"tls.key\" = 'k.pem');\n\
                  CREATE STREAM T (x INT) WITH (type = 'sink', extension = 'grpc', \
                  \"grpc.url\" = 'https://h:1', \"tls.ca\" = 'ca.pem', \"grpc.stream\" = 'In');\n\
                  INSERT INTO T SELECT x FROM S;";
        assert_eq!(errors(ok), "");
        let text = errors(
            "CREATE STREAM T (x INT) WITH (type = 'sink', extension = 'grpc', \"grpc.url\" = 'ftp://h:1');\n\
             CREATE STREAM S (x INT) WITH (type = 'source', extension = 'grpc');\n\
             CREATE STREAM U (x INT) WITH (type = 'source', extension = 'grpc', \"grpc.port\" = 'x', \"tls.ca\" = 'a');\n\
             INSERT INTO T SELECT x FROM S;",
        );
        assert!(text.contains("is not an http:// or https:// URL"), "{text}");
        assert!(text.contains("needs \"grpc.port\""), "{text}");
        assert!(text.contains("is not a port"), "{text}");
        assert!(text.contains("unknown option `tls.ca`"), "{text}");
    }
}

//! Sources and sinks declared on streams (docs/running.md#sources-and-sinks):
//! `WITH (type = 'source' | 'sink', extension = 'file' | 'stdin' | 'stdout', format = 'json',
//! "file.path" = '...')`. The standalone binary reads a stream's source instead of `--input`
//! and writes a stream's sink instead of `--output`.

use super::Analysis;
use crate::diagnostic::Diagnostic;
use crate::syntax::ast::{self, Literal};

/// A source or sink of one stream.
#[derive(Clone, Debug, PartialEq)]
pub struct Endpoint {
    /// The stream.
    pub stream: String,
    /// `true` for a source, `false` for a sink.
    pub source: bool,
    /// The file, or `-` for stdin / stdout.
    pub path: String,
}

/// The endpoint a stream definition declares, if any; problems become diagnostics.
pub fn bind_endpoint(a: &mut Analysis, def: &ast::StreamDef) -> Option<Endpoint> {
    if def.with.is_empty() {
        return None;
    }
    let mut kind = None;
    let mut extension = None;
    let mut path = None;
    for kv in &def.with {
        let key = kv
            .key
            .as_ref()
            .map(|k| k.name.to_ascii_lowercase())
            .unwrap_or_default();
        let value = match &kv.value {
            Literal::String(v) => v.clone(),
            _ => {
                a.diagnostics.push(Diagnostic::error(
                    "option values are strings here",
                    kv.value_span,
                ));
                continue;
            }
        };
        let lower = value.to_ascii_lowercase();
        match key.as_str() {
            "type" if lower == "source" || lower == "sink" => kind = Some(lower == "source"),
            "type" => a.diagnostics.push(
                Diagnostic::error(format!("unknown stream type `{value}`"), kv.value_span)
                    .with_help("type is 'source' or 'sink'"),
            ),
            "extension" if ["file", "stdin", "stdout", "log"].contains(&lower.as_str()) => {
                extension = Some(lower)
            }
            "extension" => a.diagnostics.push(
                Diagnostic::unsupported(format!("`{value}` sources and sinks"), kv.value_span)
                    .with_help("supported extensions: 'file', 'stdin', 'stdout'"),
            ),
            "format" | "map.type" if lower == "json" => {}
            "format" | "map.type" => a.diagnostics.push(
                Diagnostic::unsupported(format!("format `{value}`"), kv.value_span)
                    .with_help("the supported format is 'json' (JSON lines)"),
            ),
            "file.path" | "path" => path = Some(value),
            "async" | "buffer" | "backpressure" | "on.error" => a.diagnostics.push(
                Diagnostic::unsupported(format!("stream option `{key}`"), kv.value_span),
            ),
            _ => a.diagnostics.push(
                Diagnostic::error(format!("unknown stream option `{key}`"), kv.value_span)
                    .with_help("options are type, extension, format, \"file.path\""),
            ),
        }
    }
    let Some(source) = kind else {
        a.diagnostics.push(Diagnostic::error(
            "stream options need `type = 'source'` or `type = 'sink'`",
            def.name.span,
        ));
        return None;
    };
    let path = match extension.as_deref() {
        Some("stdin") | Some("stdout") | Some("log") => "-".to_string(),
        _ => match path {
            Some(p) => p,
            None => {
                a.diagnostics.push(
                    Diagnostic::error("a file source or sink needs \"file.path\"", def.name.span)
                        .with_help("e.g. WITH (type = 'source', extension = 'file', \"file.path\" = 'in.jsonl')"),
                );
                return None;
            }
        },
    };
    Some(Endpoint {
        stream: def.name.name.clone(),
        source,
        path,
    })
}

//! Connectors: the sources and sinks declared on streams (DESIGN 8.1, 8.2).
//!
//! A compiled app lists its connectors as [`ConnectorDesc`]s (raw option values, as written)
//! and its `async` streams as [`PipelineDesc`]s. At start the driver resolves each descriptor
//! with [`ConnectorDesc::resolve`], which replaces `${VAR}` / `${VAR:-default}` from the
//! environment ([`substitute`]), and starts the transport. Transports are self-contained:
//! sources push [`Batch`]es of raw lines (with their positions) into a bounded crossbeam
//! channel from their own threads; sinks take encoded lines from one.

pub mod csv;
pub mod fault;
pub mod file;
#[cfg(feature = "grpc")]
pub mod grpc;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "mqtt")]
pub mod mqtt;
#[cfg(feature = "nats")]
pub mod nats;
pub mod pipeline;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod protobuf;
#[cfg(feature = "rabbitmq")]
pub mod rabbitmq;
pub mod sink;
pub mod source;
pub mod tcp;
pub mod tracked;

pub use source::{Batch, Line, SourceEvent};

/// Whether a connector feeds a stream or carries its output away.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Events come in.
    Source,
    /// Events go out.
    Sink,
}

/// One source or sink of a stream as compiled: option values are raw (`${VAR}` not yet
/// replaced).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectorDesc {
    /// The stream.
    pub stream: &'static str,
    /// Source or sink.
    pub direction: Direction,
    /// `file`, `stdin`, `stdout`, `log`, `tcp`, `http`, ...
    pub extension: &'static str,
    /// Every other option (key lower case, `map.type` given as `format`), in written order.
    pub options: &'static [(&'static str, &'static str)],
}

/// How a full `async` queue treats a new event (DESIGN 8.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backpressure {
    /// The producer waits (a source stops reading).
    Block,
    /// The new event is dropped (counted).
    Drop,
    /// The oldest queued event is dropped (counted).
    DropOldest,
    /// Retries with exponential backoff, then blocks.
    Backoff,
}

/// The `async` pipeline of a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PipelineDesc {
    /// The stream.
    pub stream: &'static str,
    /// Queue capacity in events.
    pub buffer: usize,
    /// What a full queue does.
    pub backpressure: Backpressure,
    /// Decoding workers.
    pub workers: usize,
    /// Largest batch handed to the app at once.
    pub batch_max: usize,
}

/// A connector with its options resolved against the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectorConfig {
    /// The stream.
    pub stream: String,
    /// Source or sink.
    pub direction: Direction,
    /// The extension.
    pub extension: String,
    /// Resolved options.
    pub options: Vec<(String, String)>,
}

/// Why a connector could not be configured or started.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// `${VAR}` names a variable that is not set and has no default.
    #[error("stream `{stream}`: option \"{key}\" uses ${{{var}}}, which is not set (write ${{{var}:-default}} for a default)")]
    UnsetVariable {
        /// The stream.
        stream: String,
        /// The option.
        key: String,
        /// The variable.
        var: String,
    },
    /// `${` without `}` or with a bad name.
    #[error("stream `{stream}`: option \"{key}\": {message}")]
    BadSubstitution {
        /// The stream.
        stream: String,
        /// The option.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// An option's value (after substitution) is not valid.
    #[error("stream `{stream}`: option \"{key}\": {message}")]
    BadOption {
        /// The stream.
        stream: String,
        /// The option.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A socket or file could not be opened.
    #[error("stream `{stream}`: {what}: {source}")]
    Io {
        /// The stream.
        stream: String,
        /// What was being done (never holds credentials).
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The extension is not compiled into this runtime (missing cargo feature).
    #[error(
        "stream `{stream}`: the `{extension}` connector needs the runtime feature `{extension}`"
    )]
    NotCompiled {
        /// The stream.
        stream: String,
        /// The extension.
        extension: String,
    },
}

/// Why [`substitute`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubstError {
    /// The variable is not set and has no default.
    #[error("${{{0}}} is not set")]
    Unset(String),
    /// Malformed reference.
    #[error("{0}")]
    Malformed(String),
}

/// Replaces every `${VAR}` and `${VAR:-default}` in `value` using `lookup` (the environment
/// in practice). An unset variable without a default is an error naming it; `$` not
/// followed by `{` is kept as is.
pub fn substitute(
    value: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, SubstError> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| SubstError::Malformed("`${` without a closing `}`".to_string()))?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(SubstError::Malformed(format!(
                "`${{{inner}}}` does not name an environment variable"
            )));
        }
        match (lookup(name), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => return Err(SubstError::Unset(name.to_string())),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Reads an environment variable for [`substitute`] (unset or not UTF-8: `None`).
pub fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl ConnectorDesc {
    /// The raw value of an option.
    pub fn option(&self, key: &str) -> Option<&'static str> {
        self.options
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }

    /// The connector with `${VAR}` references replaced using `lookup`.
    pub fn resolve(
        &self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<ConnectorConfig, ConnectError> {
        let mut options = Vec::with_capacity(self.options.len());
        for (key, raw) in self.options {
            let value = substitute(raw, &lookup).map_err(|e| match e {
                SubstError::Unset(var) => ConnectError::UnsetVariable {
                    stream: self.stream.to_string(),
                    key: (*key).to_string(),
                    var,
                },
                SubstError::Malformed(message) => ConnectError::BadSubstitution {
                    stream: self.stream.to_string(),
                    key: (*key).to_string(),
                    message,
                },
            })?;
            options.push(((*key).to_string(), value));
        }
        Ok(ConnectorConfig {
            stream: self.stream.to_string(),
            direction: self.direction,
            extension: self.extension.to_string(),
            options,
        })
    }
}

impl ConnectorConfig {
    /// The value of an option.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// An option that must be present.
    pub fn required(&self, key: &str) -> Result<&str, ConnectError> {
        self.option(key).ok_or_else(|| self.bad(key, "is required"))
    }

    /// A `ConnectError::BadOption` for this connector.
    pub fn bad(&self, key: &str, message: impl Into<String>) -> ConnectError {
        ConnectError::BadOption {
            stream: self.stream.clone(),
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// A numeric option, or `default` when absent.
    pub fn number<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T, ConnectError> {
        match self.option(key) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| self.bad(key, format!("`{v}` is not a valid number here"))),
        }
    }

    /// A `'true'`/`'false'` option, `false` when absent.
    pub fn flag(&self, key: &str) -> Result<bool, ConnectError> {
        match self.option(key).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(false),
            Some(v) if v == "true" => Ok(true),
            Some(v) if v == "false" => Ok(false),
            Some(v) => Err(self.bad(key, format!("`{v}` is not 'true' or 'false'"))),
        }
    }

    /// `host:port` from `<prefix>.host` (default 127.0.0.1) and `<prefix>.port`.
    pub fn address(&self, prefix: &str) -> Result<String, ConnectError> {
        let host_key = format!("{prefix}.host");
        let port_key = format!("{prefix}.port");
        let host = self.option(&host_key).unwrap_or("127.0.0.1");
        let port: u16 = self.number(&port_key, 0)?;
        if self.option(&port_key).is_none() {
            return Err(self.bad(&port_key, "is required"));
        }
        Ok(if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        })
    }

    /// The `format` option: `true` for CSV, `false` for JSON (the default).
    pub fn csv(&self) -> Result<bool, ConnectError> {
        match self
            .option("format")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("json") => Ok(false),
            Some("csv") => Ok(true),
            Some(other) => Err(self.bad("format", format!("unknown format `{other}`"))),
        }
    }

    /// An I/O error of this connector.
    pub fn io(&self, what: impl Into<String>, source: std::io::Error) -> ConnectError {
        ConnectError::Io {
            stream: self.stream.clone(),
            what: what.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("example.org".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn substitutes_variables_and_defaults() {
        assert_eq!(substitute("plain $x", env).as_deref(), Ok("plain $x"));
        assert_eq!(substitute("${HOST}", env).as_deref(), Ok("example.org"));
        assert_eq!(
            substitute("http://${HOST}:${PORT:-80}/a", env).as_deref(),
            Ok("http://example.org:80/a")
        );
        assert_eq!(substitute("${EMPTY:-d}", env).as_deref(), Ok(""));
        assert_eq!(substitute("${NOPE:-}", env).as_deref(), Ok(""));
        assert_eq!(
            substitute("${NOPE}", env),
            Err(SubstError::Unset("NOPE".into()))
        );
        assert!(matches!(
            substitute("${HOST", env),
            Err(SubstError::Malformed(_))
        ));
        assert!(matches!(
            substitute("${9X}", env),
            Err(SubstError::Malformed(_))
        ));
    }

    #[test]
    fn resolve_names_the_unset_variable() {
        let desc = ConnectorDesc {
            stream: "Orders",
            direction: Direction::Source,
            extension: "tcp",
            options: &[("tcp.host", "${HOST}"), ("tcp.port", "${ORDERS_PORT}")],
        };
        let err = desc.resolve(env).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("ORDERS_PORT") && text.contains("Orders"),
            "{text}"
        );
        let desc = ConnectorDesc {
            options: &[("tcp.host", "${HOST}"), ("tcp.port", "${P:-7001}")],
            ..desc
        };
        let cfg = desc.resolve(env).unwrap();
        assert_eq!(cfg.address("tcp").unwrap(), "example.org:7001");
        assert_eq!(cfg.option("tcp.host"), Some("example.org"));
    }

    #[test]
    fn typed_options() {
        let cfg = ConnectorConfig {
            stream: "S".into(),
            direction: Direction::Sink,
            extension: "tcp".into(),
            options: vec![
                ("retry.max".into(), "x".into()),
                ("file.follow".into(), "TRUE".into()),
                ("format".into(), "CSV".into()),
            ],
        };
        assert!(cfg.number::<u32>("retry.max", 3).is_err());
        assert_eq!(cfg.number::<u32>("other", 3).unwrap(), 3);
        assert!(cfg.flag("file.follow").unwrap());
        assert!(cfg.csv().unwrap());
        assert!(cfg.address("tcp").is_err());
    }
}

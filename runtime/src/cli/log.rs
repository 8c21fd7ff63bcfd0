//! What a standalone binary says on stderr: plain lines, or with `--log-format json` one
//! JSON object per line (`{"time": "...", "level": "warn", "message": "..."}`, plus `line`
//! for a bad input line), for log collectors.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static JSON: AtomicBool = AtomicBool::new(false);

/// Switches every later message to JSON records.
pub(super) fn use_json(json: bool) {
    JSON.store(json, Ordering::Relaxed);
}

/// How serious a message is.
#[derive(Clone, Copy)]
pub(super) enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// Writes `message` to stderr (plain: as it is; JSON: as a record).
pub(super) fn log(level: Level, message: &str) {
    let _ = io::stderr()
        .lock()
        .write_all(record(level, message).as_bytes());
}

/// The text [`log`] writes, ending in a newline.
fn record(level: Level, message: &str) -> String {
    if !JSON.load(Ordering::Relaxed) {
        return format!("{message}\n");
    }
    let mut out = format!(
        "{{\"time\":\"{}\",\"level\":\"{}\"",
        crate::state::format_utc(crate::functions::now_millis()),
        level.as_str()
    );
    // Bad input lines (`line N: ...`) keep their number as a field.
    let message = match message
        .strip_prefix("line ")
        .and_then(|m| m.split_once(": "))
    {
        Some((n, rest)) if n.parse::<u64>().is_ok() => {
            out.push_str(&format!(",\"line\":{n}"));
            rest
        }
        _ => message,
    };
    out.push_str(",\"message\":");
    out.push_str(&serde_json::to_string(message).unwrap_or_else(|_| "\"\"".into()));
    out.push_str("}\n");
    out
}

/// The driver's report of bad lines, line by line, as [`log`] records.
pub(super) struct LogLines {
    pending: Vec<u8>,
}

impl LogLines {
    pub(super) fn new() -> Self {
        LogLines {
            pending: Vec::new(),
        }
    }
}

impl Write for LogLines {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            log(Level::Warn, String::from_utf8_lossy(&line).trim_end());
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_records_keep_the_line_number() {
        use_json(true);
        let r = record(Level::Warn, "line 12: bad data for stream `S`: \"x\"");
        use_json(false);
        assert!(r.contains("\"level\":\"warn\",\"line\":12,\"message\":\"bad data for stream `S`: \\\"x\\\"\"}"), "{r}");
        assert!(r.starts_with("{\"time\":\""), "{r}");
        assert_eq!(record(Level::Error, "plain"), "plain\n");
    }
}

//! Output sinks: JSON lines to a writer, into memory, or only counted.

use std::collections::HashSet;
use std::io::{self, BufWriter, Write};

use super::{format_event_line, EventSink};
use crate::EventKind;

/// Which streams a sink keeps: all of them, or the named ones.
///
/// The answer for each `&'static str` stream name is cached by address, so the per-event
/// check is a short pointer comparison instead of a hash lookup.
#[derive(Debug, Default)]
struct StreamFilter {
    allowed: Option<HashSet<String>>,
    cache: Vec<(&'static str, bool)>,
}

impl StreamFilter {
    fn new(allowed: Option<HashSet<String>>) -> Self {
        StreamFilter {
            allowed,
            cache: Vec::new(),
        }
    }

    #[inline]
    fn allows(&mut self, stream: &'static str) -> bool {
        let Some(allowed) = &self.allowed else {
            return true;
        };
        for &(name, ok) in &self.cache {
            if std::ptr::eq(name, stream) {
                return ok;
            }
        }
        let ok = allowed.contains(stream);
        self.cache.push((stream, ok));
        ok
    }
}

/// Prints output events as JSON lines (docs/running.md#json-lines) to any writer, buffered.
///
/// Write errors never panic: the first one is remembered (see [`error`](Self::error)) and
/// every later event is dropped, so a closed pipe stops the output quietly.
pub struct JsonLinesWriter {
    out: BufWriter<Box<dyn Write + Send>>,
    /// Streams with a sink of their own (`WITH (type = 'sink', ...)`), each to its writer.
    routes: Vec<(String, BufWriter<Box<dyn Write + Send>>)>,
    filter: StreamFilter,
    line: Vec<u8>,
    error: Option<io::Error>,
    written: u64,
    /// Lines written per stream (for metrics), looked up by the name's address.
    counts: Vec<(&'static str, u64)>,
    /// Also gets every line of every stream, routed or filtered out or not (the gRPC
    /// service's `Subscribe`).
    tap: Option<BufWriter<Box<dyn Write + Send>>>,
}

impl JsonLinesWriter {
    /// A writer printing to `out`. `filter` = the names of the streams to print, `None` for
    /// every stream (the driver passes the app's output streams or `--output-streams`).
    pub fn new(out: Box<dyn Write + Send>, filter: Option<HashSet<String>>) -> Self {
        JsonLinesWriter {
            out: BufWriter::with_capacity(64 * 1024, out),
            routes: Vec::new(),
            filter: StreamFilter::new(filter),
            line: Vec::with_capacity(256),
            error: None,
            written: 0,
            counts: Vec::new(),
            tap: None,
        }
    }

    /// Sends every event of `stream` to `out` instead (a stream's own sink); such events are
    /// not filtered.
    pub fn route(&mut self, stream: &str, out: Box<dyn Write + Send>) {
        self.routes.push((stream.to_owned(), BufWriter::new(out)));
    }

    /// Also hands every line of every stream to `out` (not counted, not filtered).
    pub fn tap(&mut self, out: Box<dyn Write + Send>) {
        self.tap = Some(BufWriter::new(out));
    }

    /// A writer printing every stream to standard output.
    pub fn stdout() -> Self {
        Self::new(Box::new(io::stdout()), None)
    }

    /// Writes out the buffered lines; returns (and remembers) the first error, if any.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.error.is_none() {
            let routed = self.routes.iter_mut().try_for_each(|(_, w)| w.flush());
            if let Some(tap) = &mut self.tap {
                // The tap never fails (a subscriber that goes away is only dropped).
                let _ = tap.flush();
            }
            if let Err(e) = self.out.flush().and(routed) {
                self.error = Some(e);
            }
        }
        match &self.error {
            None => Ok(()),
            Some(e) => Err(io::Error::new(e.kind(), e.to_string())),
        }
    }

    /// The first write (or serialization) error; events after it were dropped.
    pub fn error(&self) -> Option<&io::Error> {
        self.error.as_ref()
    }

    /// Takes the first error out, leaving none.
    pub fn take_error(&mut self) -> Option<io::Error> {
        self.error.take()
    }

    /// How many lines were handed to the writer (printed or still buffered).
    pub fn lines_written(&self) -> u64 {
        self.written
    }

    /// How many lines were handed to the writer per stream.
    pub fn lines_per_stream(&self) -> &[(&'static str, u64)] {
        &self.counts
    }
}

impl std::fmt::Debug for JsonLinesWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonLinesWriter")
            .field("filter", &self.filter.allowed)
            .field("error", &self.error)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl EventSink for JsonLinesWriter {
    fn emit<T: serde::Serialize>(
        &mut self,
        stream: &'static str,
        ts: i64,
        kind: EventKind,
        event: &T,
    ) {
        if self.error.is_some() {
            return;
        }
        let route = self.routes.iter().position(|(name, _)| name == stream);
        let printed = route.is_some() || self.filter.allows(stream);
        if !printed && self.tap.is_none() {
            return;
        }
        self.line.clear();
        if let Err(e) = format_event_line(&mut self.line, stream, ts, kind, event) {
            self.error = Some(io::Error::new(io::ErrorKind::InvalidData, e));
            return;
        }
        self.line.push(b'\n');
        if let Some(tap) = &mut self.tap {
            let _ = tap.write_all(&self.line);
        }
        if !printed {
            return;
        }
        let out = match route {
            Some(i) => &mut self.routes[i].1,
            None => &mut self.out,
        };
        match out.write_all(&self.line) {
            Ok(()) => {
                self.written += 1;
                match self
                    .counts
                    .iter_mut()
                    .find(|(s, _)| std::ptr::eq(*s, stream))
                {
                    Some(count) => count.1 += 1,
                    None => self.counts.push((stream, 1)),
                }
            }
            Err(e) => self.error = Some(e),
        }
    }
}

impl Drop for JsonLinesWriter {
    fn drop(&mut self) {
        // Best effort; callers that care about errors call `flush` themselves.
        let _ = self.flush();
    }
}

/// Counts output events without serializing them (for benchmarks).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CountingSink {
    /// Events emitted so far, all streams and kinds.
    pub events: u64,
}

impl CountingSink {
    /// A sink with a zero count.
    pub fn new() -> Self {
        Self::default()
    }
}

impl EventSink for CountingSink {
    #[inline]
    fn emit<T: serde::Serialize>(
        &mut self,
        _stream: &'static str,
        _ts: i64,
        _kind: EventKind,
        _event: &T,
    ) {
        self.events += 1;
    }
}

/// Keeps output lines in memory, formatted exactly like [`JsonLinesWriter`] prints them
/// (without the newline). Meant for tests.
#[derive(Debug, Default)]
pub struct CollectingSink {
    /// The lines emitted so far, in emission order.
    pub lines: Vec<String>,
    filter: StreamFilter,
}

impl CollectingSink {
    /// A sink keeping every stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// A sink keeping only the named streams (`None`: every stream).
    pub fn with_filter(filter: Option<HashSet<String>>) -> Self {
        CollectingSink {
            lines: Vec::new(),
            filter: StreamFilter::new(filter),
        }
    }
}

impl EventSink for CollectingSink {
    fn emit<T: serde::Serialize>(
        &mut self,
        stream: &'static str,
        ts: i64,
        kind: EventKind,
        event: &T,
    ) {
        if !self.filter.allows(stream) {
            return;
        }
        let mut line = Vec::new();
        let text = match format_event_line(&mut line, stream, ts, kind, event) {
            // serde_json writes only valid UTF-8.
            Ok(()) => String::from_utf8_lossy(&line).into_owned(),
            Err(e) => format!("<serialization error: {e}>"),
        };
        self.lines.push(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(serde::Serialize)]
    struct Out {
        symbol: &'static str,
        price: f64,
        n: i64,
    }

    /// A `Write` whose bytes can be read back after the writer is gone.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    struct Broken;

    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::BrokenPipe, "pipe closed"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::new(io::ErrorKind::BrokenPipe, "pipe closed"))
        }
    }

    fn set(names: &[&str]) -> Option<HashSet<String>> {
        Some(names.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn writer_prints_exact_lines_and_filters() {
        let buf = Shared::default();
        let mut w = JsonLinesWriter::new(Box::new(buf.clone()), set(&["Out"]));
        w.emit(
            "Out",
            1000,
            EventKind::Current,
            &Out {
                symbol: "IBM",
                price: 1.0,
                n: 3,
            },
        );
        w.emit(
            "Other",
            1000,
            EventKind::Current,
            &Out {
                symbol: "X",
                price: 2.0,
                n: 4,
            },
        );
        w.emit(
            "Out",
            2000,
            EventKind::Expired,
            &Out {
                symbol: "IBM",
                price: 75.5,
                n: -1,
            },
        );
        w.flush().unwrap();
        assert_eq!(w.lines_written(), 2);
        assert!(w.error().is_none());
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"{"stream":"Out","ts":1000,"kind":"current","data":{"symbol":"IBM","price":1.0,"n":3}}"#,
                "\n",
                r#"{"stream":"Out","ts":2000,"kind":"expired","data":{"symbol":"IBM","price":75.5,"n":-1}}"#,
                "\n"
            )
        );
    }

    #[test]
    fn writer_without_filter_prints_everything() {
        let buf = Shared::default();
        let mut w = JsonLinesWriter::new(Box::new(buf.clone()), None);
        w.emit("A", 1, EventKind::Current, &[1, 2]);
        w.emit("B", 2, EventKind::Current, &"x");
        drop(w); // flushes
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "{\"stream\":\"A\",\"ts\":1,\"kind\":\"current\",\"data\":[1,2]}\n\
             {\"stream\":\"B\",\"ts\":2,\"kind\":\"current\",\"data\":\"x\"}\n"
        );
    }

    #[test]
    fn write_errors_are_remembered_not_panics() {
        let mut w = JsonLinesWriter::new(Box::new(Broken), None);
        for i in 0..10_000 {
            w.emit(
                "Out",
                i,
                EventKind::Current,
                &Out {
                    symbol: "IBM",
                    price: 1.5,
                    n: i,
                },
            );
        }
        let err = w.flush().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(w.error().unwrap().kind(), io::ErrorKind::BrokenPipe);
        assert!(w.take_error().is_some());
        assert!(w.error().is_none());
    }

    #[test]
    fn counting_sink_counts_all_streams() {
        let mut s = CountingSink::new();
        s.emit("A", 1, EventKind::Current, &1);
        s.emit("B", 1, EventKind::Expired, &2);
        assert_eq!(s.events, 2);
    }

    #[test]
    fn collecting_sink_formats_like_the_writer_and_filters() {
        let mut s = CollectingSink::with_filter(set(&["B"]));
        s.emit(
            "A",
            1,
            EventKind::Current,
            &Out {
                symbol: "A",
                price: 0.0,
                n: 0,
            },
        );
        s.emit(
            "B",
            7,
            EventKind::Current,
            &Out {
                symbol: "B",
                price: -0.25,
                n: 0,
            },
        );
        s.emit(
            "B",
            8,
            EventKind::Current,
            &Out {
                symbol: "B",
                price: 1e300,
                n: 0,
            },
        );
        assert_eq!(
            s.lines,
            [
                r#"{"stream":"B","ts":7,"kind":"current","data":{"symbol":"B","price":-0.25,"n":0}}"#,
                r#"{"stream":"B","ts":8,"kind":"current","data":{"symbol":"B","price":1e+300,"n":0}}"#,
            ]
        );
    }

    #[test]
    fn filter_cache_matches_by_content_too() {
        // Two distinct `&'static str` with the same text must get the same answer.
        let a: &'static str = "Out";
        let b: &'static str = Box::leak(String::from("Out").into_boxed_str());
        let mut f = StreamFilter::new(set(&["Out"]));
        assert!(f.allows(a));
        assert!(f.allows(b));
        assert!(!f.allows("Nope"));
        assert!(!f.allows("Nope"));
    }
}

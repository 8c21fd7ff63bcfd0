//! Reading input events from JSON lines (docs/running.md#json-lines).

use std::borrow::Cow;
use std::io::{self, BufRead};

use serde::Deserialize;
use serde_json::value::RawValue;

/// One meaningful input line, owned (see [`LineRef`] for the borrowed form).
#[derive(Debug, Clone)]
pub enum Line {
    /// `{"stream": "Trades", "ts": 1000, "data": {...}}` (`ts` optional, `data` an object or
    /// an array in attribute order).
    Event {
        /// 1-based line number in the input.
        line_no: u64,
        /// The stream named by the line (not checked here: the app's `decode` does).
        stream: String,
        /// The event time, when the line gives one.
        ts: Option<i64>,
        /// The JSON text of `data` (an object or an array), still undecoded: the app's
        /// `decode` checks it.
        data: String,
    },
    /// `{"ts": 5000}`: only advances the clock.
    Tick {
        /// 1-based line number in the input.
        line_no: u64,
        /// The new time.
        ts: i64,
    },
}

impl Line {
    /// The 1-based line number of this line.
    pub fn line_no(&self) -> u64 {
        match self {
            Line::Event { line_no, .. } | Line::Tick { line_no, .. } => *line_no,
        }
    }
}

/// One meaningful input line, borrowed from the reader's buffer: [`Line`] without the
/// copies, valid until the next read.
#[derive(Debug, Clone)]
pub enum LineRef<'a> {
    /// An event line (see [`Line::Event`]).
    Event {
        /// 1-based line number in the input.
        line_no: u64,
        /// The stream named by the line (owned only when it contains escapes).
        stream: Cow<'a, str>,
        /// The event time, when the line gives one.
        ts: Option<i64>,
        /// The JSON text of `data` (an object or an array), still undecoded: the app's
        /// `decode` checks it.
        data: &'a str,
    },
    /// `{"ts": 5000}` (see [`Line::Tick`]).
    Tick {
        /// 1-based line number in the input.
        line_no: u64,
        /// The new time.
        ts: i64,
    },
}

impl LineRef<'_> {
    /// The owned copy.
    pub fn into_owned(self) -> Line {
        match self {
            LineRef::Event {
                line_no,
                stream,
                ts,
                data,
            } => Line::Event {
                line_no,
                stream: stream.into_owned(),
                ts,
                data: data.to_owned(),
            },
            LineRef::Tick { line_no, ts } => Line::Tick { line_no, ts },
        }
    }
}

/// A non-blank line's number and text, trimmed, not parsed yet
/// ([`JsonLinesReader::next_text_at`]); `Err` when it is not UTF-8.
pub type LineText<'a> = Result<(u64, &'a str), InputError>;

/// A line that is not a valid envelope; the driver reports it as `line N: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line_no}: {message}")]
pub struct InputError {
    /// 1-based line number in the input.
    pub line_no: u64,
    /// What is wrong with the line.
    pub message: String,
}

/// A stream name, borrowed from the line unless it contains escapes. (serde borrows a
/// `Cow<str>` only when it is the field's whole type, not inside an `Option`.)
#[derive(Deserialize)]
struct Name<'a>(#[serde(borrow)] Cow<'a, str>);

/// The envelope of a line.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    stream: Option<Name<'a>>,
    #[serde(borrow, default)]
    ts: Option<&'a RawValue>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

/// Splits JSON-lines input into lines, skipping blank ones.
///
/// It is an iterator of `Result<Line, InputError>`; [`next_line`](Self::next_line) gives
/// the same lines borrowed, without copying. A bad line is an `Err` and reading goes on
/// with the next line. An I/O error while reading ends the input; it is kept in
/// [`io_error`](Self::io_error). Unknown envelope keys (such as the `kind` of output lines)
/// are ignored, so output can be fed back as input.
///
/// ```
/// use eventflux_runtime::io::{JsonLinesReader, Line};
///
/// let input = "{\"stream\":\"In\",\"ts\":5,\"data\":[1]}\n\n{\"ts\":9}\n";
/// let lines: Vec<Line> = JsonLinesReader::new(input.as_bytes()).map(Result::unwrap).collect();
/// assert!(matches!(&lines[0], Line::Event { line_no: 1, ts: Some(5), data, .. } if data == "[1]"));
/// assert!(matches!(lines[1], Line::Tick { line_no: 3, ts: 9 }));
/// ```
#[derive(Debug)]
pub struct JsonLinesReader<R: BufRead> {
    input: R,
    /// The last line read, when it did not lie whole in `input`'s buffer.
    buf: Vec<u8>,
    /// The last line read lies in `input`'s buffer, its first `pending` bytes (consumed
    /// before the next read), rather than in `buf`.
    pending: usize,
    line_no: u64,
    /// Bytes consumed from `input` (plus the starting offset).
    offset: u64,
    io_error: Option<io::Error>,
    done: bool,
}

impl<R: BufRead> JsonLinesReader<R> {
    /// A reader over `input`.
    pub fn new(input: R) -> Self {
        JsonLinesReader {
            input,
            buf: Vec::with_capacity(512),
            pending: 0,
            line_no: 0,
            offset: 0,
            io_error: None,
            done: false,
        }
    }

    /// A reader over `input` that continues a reading which stopped after `line_no` lines
    /// and `offset` bytes (after a restart from a checkpoint): line numbers and offsets go on
    /// from there.
    pub fn resume(input: R, line_no: u64, offset: u64) -> Self {
        let mut reader = Self::new(input);
        reader.line_no = line_no;
        reader.offset = offset;
        reader
    }

    /// The bytes consumed up to the end of the last line read (the position to resume at).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The underlying reader. (The last line returned may still be in its buffer: see
    /// [`nothing_buffered`](JsonLinesReader::nothing_buffered).)
    pub fn get_ref(&self) -> &R {
        &self.input
    }

    /// The number of the last line read (0 before the first).
    pub fn line_no(&self) -> u64 {
        self.line_no
    }

    /// The I/O error that ended the input early, if any.
    pub fn io_error(&self) -> Option<&io::Error> {
        self.io_error.as_ref()
    }

    /// Takes the I/O error out, leaving none.
    pub fn take_io_error(&mut self) -> Option<io::Error> {
        self.io_error.take()
    }

    /// The next non-blank line, borrowed; `None` at the end of the input (or at an I/O
    /// error, see [`io_error`](Self::io_error)).
    pub fn next_line(&mut self) -> Option<Result<LineRef<'_>, InputError>> {
        self.next_line_at().map(|(line, _)| line)
    }

    /// [`next_line`](Self::next_line) with the byte offset the line ends at (see
    /// [`offset`](Self::offset)).
    pub fn next_line_at(&mut self) -> Option<(Result<LineRef<'_>, InputError>, u64)> {
        let (text, offset) = self.next_text_at()?;
        Some((
            text.and_then(|(line_no, text)| parse_line(line_no, text)),
            offset,
        ))
    }

    /// The next non-blank line's number and text, trimmed, not parsed yet (see
    /// [`parse_line`]; [`fast::decode_line`](super::fast::decode_line) reads common event
    /// lines in one pass), with the byte offset it ends at; `Err` when it is not UTF-8.
    pub fn next_text_at(&mut self) -> Option<(LineText<'_>, u64)> {
        let (start, end) = self.read_non_blank()?;
        let offset = self.offset;
        let line_no = self.line_no;
        let bytes = if self.pending > 0 {
            // Still in the input's buffer (not consumed: `fill_buf` returns it again).
            self.input
                .fill_buf()
                .map_or(&[][..], |b| b.get(..self.pending).unwrap_or(&[]))
        } else {
            &self.buf[..]
        };
        let bytes = bytes.get(start..end).unwrap_or(&[]);
        let line = match std::str::from_utf8(bytes) {
            Ok(text) => Ok((line_no, text)),
            Err(_) => Err(InputError {
                line_no,
                message: "not valid UTF-8".into(),
            }),
        };
        Some((line, offset))
    }

    /// Reads up to a non-blank line: in the input's buffer when it lies there whole (then
    /// `pending` is its length), else copied into `buf`. Returns its trimmed byte range,
    /// without a UTF-8 byte order mark on the first line.
    fn read_non_blank(&mut self) -> Option<(usize, usize)> {
        while !self.done {
            self.input.consume(std::mem::take(&mut self.pending));
            self.buf.clear();
            let whole = match self.input.fill_buf() {
                Ok(b) => memchr::memchr(b'\n', b).map(|i| i + 1),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.io_error = Some(e);
                    self.done = true;
                    continue;
                }
            };
            let n = match whole {
                Some(n) => {
                    self.pending = n;
                    n
                }
                None => match self.input.read_until(b'\n', &mut self.buf) {
                    Ok(0) => {
                        self.done = true;
                        continue;
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.io_error = Some(e);
                        self.done = true;
                        continue;
                    }
                },
            };
            self.line_no += 1;
            self.offset += n as u64;
            let line = if self.pending > 0 {
                match self.input.fill_buf() {
                    Ok(b) => b.get(..n).unwrap_or(&[]),
                    Err(_) => &[],
                }
            } else {
                &self.buf[..]
            };
            // A UTF-8 byte order mark (from some Windows tools) is not part of the first line.
            let bom = if self.line_no == 1 && line.starts_with(b"\xEF\xBB\xBF") {
                3
            } else {
                0
            };
            let is_text = |b: &u8| !b.is_ascii_whitespace();
            if let Some(start) = line[bom..].iter().position(is_text) {
                let end = line.iter().rposition(is_text).map_or(start, |e| e + 1);
                return Some((bom + start, end));
            }
        }
        None
    }
}

impl<T: io::Read> JsonLinesReader<io::BufReader<T>> {
    /// Whether the input holds nothing buffered beyond the lines returned so far (a reader
    /// batching lines stops there, so that a quiet producer's lines are not held back).
    pub fn nothing_buffered(&self) -> bool {
        self.input.buffer().len() <= self.pending
    }
}

impl<R: BufRead> Iterator for JsonLinesReader<R> {
    type Item = Result<Line, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_line().map(|line| line.map(LineRef::into_owned))
    }
}

/// Parses one non-blank line (already trimmed): `line_no` is its number, for errors.
pub fn parse_line(line_no: u64, text: &str) -> Result<LineRef<'_>, InputError> {
    let bad = |message: String| InputError { line_no, message };
    if !text.starts_with('{') {
        return Err(bad("expected a JSON object".into()));
    }
    if let Some(line) = common_event(line_no, text) {
        return Ok(line);
    }
    parse_envelope(line_no, text)
}

/// [`parse_line`] through serde: any key order, escapes, and every error.
fn parse_envelope(line_no: u64, text: &str) -> Result<LineRef<'_>, InputError> {
    let bad = |message: String| InputError { line_no, message };
    let env: Envelope<'_> =
        serde_json::from_str(text).map_err(|e| bad(format!("invalid JSON envelope: {e}")))?;
    let ts = match env.ts {
        None => None,
        Some(raw) => Some(
            serde_json::from_str::<i64>(raw.get())
                .map_err(|_| bad(format!("`ts` must be an integer (ms), got {}", raw.get())))?,
        ),
    };
    match (env.stream, env.data) {
        (Some(Name(stream)), Some(data)) => {
            if !matches!(data.get().as_bytes().first(), Some(b'{' | b'[')) {
                return Err(bad(format!(
                    "`data` must be an object or an array, got {}",
                    data.get()
                )));
            }
            Ok(LineRef::Event {
                line_no,
                stream,
                ts,
                data: data.get(),
            })
        }
        (Some(_), None) => Err(bad("`data` is missing".into())),
        (None, Some(_)) => Err(bad("`stream` is missing".into())),
        (None, None) => match ts {
            Some(ts) => Ok(LineRef::Tick { line_no, ts }),
            None => Err(bad("a line needs `stream` and `data`, or only `ts`".into())),
        },
    }
}

/// The common event line, `{"stream": "S", "ts": 1000, "data": {...}}` (`ts` optional, the
/// keys in this order, no escape in the stream's name, nothing after `data`), read without
/// serde so that `data` is parsed once, by the app's `decode`, instead of also being
/// skipped here. `None` for any other line, which [`parse_envelope`] reads in full (and
/// whose errors it reports). What this accepts, serde reads alike, unless `data` itself is
/// malformed, which `decode` then reports for the line.
fn common_event(line_no: u64, text: &str) -> Option<LineRef<'_>> {
    let b = text.as_bytes();
    let mut at = 1;
    let ws = |at: &mut usize| {
        while matches!(b.get(*at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            *at += 1;
        }
    };
    let key = |at: &mut usize, name: &[u8]| -> bool {
        ws(at);
        let found = b.get(*at..*at + name.len()) == Some(name);
        if found {
            *at += name.len();
            ws(at);
            if b.get(*at) != Some(&b':') {
                return false;
            }
            *at += 1;
            ws(at);
        }
        found
    };
    let comma = |at: &mut usize| -> bool {
        ws(at);
        let found = b.get(*at) == Some(&b',');
        *at += 1;
        found
    };
    if !key(&mut at, b"\"stream\"") || b.get(at) != Some(&b'"') {
        return None;
    }
    let start = at + 1;
    // An escape or a control character (invalid in JSON strings) goes the general way.
    let len = b
        .get(start..)?
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
    if b[start + len] != b'"' {
        return None;
    }
    let stream = text.get(start..start + len)?;
    at = start + len + 1;
    if !comma(&mut at) {
        return None;
    }
    let mut ts = None;
    if key(&mut at, b"\"ts\"") {
        // JSON integers only (no leading zero, no fraction or exponent, not `-0`, which
        // serde_json reads as a float); the rest is read (and reported) by `parse_line`.
        let negative = b.get(at) == Some(&b'-');
        let start = at + usize::from(negative);
        let mut end = start;
        let mut magnitude: u64 = 0;
        while let Some(c @ b'0'..=b'9') = b.get(end) {
            magnitude = magnitude
                .checked_mul(10)?
                .checked_add(u64::from(c - b'0'))?;
            end += 1;
        }
        let digits = end - start;
        if digits == 0
            || (digits > 1 && b[start] == b'0')
            || matches!(b.get(end), Some(b'.' | b'e' | b'E' | b'-'))
            || (negative && magnitude == 0)
        {
            return None;
        }
        ts = Some(if negative {
            i64::try_from(-i128::from(magnitude)).ok()?
        } else {
            i64::try_from(magnitude).ok()?
        });
        at = end;
        if !comma(&mut at) {
            return None;
        }
    }
    if !key(&mut at, b"\"data\"") || !matches!(b.get(at), Some(b'{' | b'[')) {
        return None;
    }
    // `data` runs to the line's closing brace, if that is where its value ends.
    let data = text.get(at..text.len() - 1)?.trim_end();
    if !text.ends_with('}') || value_len(data.as_bytes()) != Some(data.len()) {
        return None;
    }
    Some(LineRef::Event {
        line_no,
        stream: Cow::Borrowed(stream),
        ts,
        data,
    })
}

/// The length of the JSON object or array `bytes` starts with, found by its brackets
/// (strings skipped); `None` when it does not end. Checks nothing else: the decoder does.
fn value_len(bytes: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut at = 0;
    while let Some(&c) = bytes.get(at) {
        match c {
            b'"' => {
                at += 1;
                loop {
                    match bytes.get(at)? {
                        b'"' => break,
                        b'\\' => at += 2,
                        _ => at += 1,
                    }
                }
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(at + 1);
                }
            }
            _ => {}
        }
        at += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &str) -> Vec<Result<Line, InputError>> {
        JsonLinesReader::new(input.as_bytes()).collect()
    }

    fn err(input: &str) -> InputError {
        let mut all = read(input);
        assert_eq!(all.len(), 1, "{input}");
        all.pop().unwrap().unwrap_err()
    }

    #[test]
    fn events_ticks_and_blank_lines() {
        let input = "\n{\"stream\": \"Trades\", \"ts\": 1000, \"data\": {\"symbol\": \"IBM\", \"price\": 75.5}}\r\n\
                     \n   \n\
                     {\"stream\":\"Trades\",\"data\":[\"MSFT\",null]}\n\
                     {\"ts\": 5000}\n\
                     {\"stream\":\"Out\",\"ts\":7,\"kind\":\"current\",\"data\":{}}";
        let lines: Vec<Line> = read(input).into_iter().map(Result::unwrap).collect();
        assert_eq!(lines.len(), 4);
        match &lines[0] {
            Line::Event {
                line_no,
                stream,
                ts,
                data,
            } => {
                assert_eq!((*line_no, stream.as_str(), *ts), (2, "Trades", Some(1000)));
                assert_eq!(data, "{\"symbol\": \"IBM\", \"price\": 75.5}");
            }
            other => panic!("{other:?}"),
        }
        match &lines[1] {
            Line::Event {
                line_no, ts, data, ..
            } => {
                assert_eq!((*line_no, *ts, data.as_str()), (5, None, "[\"MSFT\",null]"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            lines[2],
            Line::Tick {
                line_no: 6,
                ts: 5000
            }
        ));
        assert_eq!(lines[3].line_no(), 7);
    }

    /// What the common-line reader accepts, serde reads alike (or finds malformed, and then
    /// so is `data`, which `decode` rejects); what it declines, serde reads. Whether it
    /// accepted.
    fn same_as_serde(text: &str) -> bool {
        let fast = common_event(1, text);
        let general = parse_envelope(1, text);
        match (&fast, &general) {
            (None, _) => {}
            (
                Some(LineRef::Event {
                    stream, ts, data, ..
                }),
                Ok(LineRef::Event {
                    stream: s,
                    ts: t,
                    data: d,
                    ..
                }),
            ) => assert_eq!((stream, ts, data), (s, t, d), "{text}"),
            // Serde finds the line malformed: then so is `data`, which `decode` rejects.
            (Some(LineRef::Event { data, .. }), Err(_)) => assert!(
                serde_json::from_str::<&RawValue>(data).is_err(),
                "{text}: {fast:?} against {general:?}"
            ),
            _ => panic!("{text}: {fast:?} against {general:?}"),
        }
        fast.is_some()
    }

    #[test]
    fn common_lines_read_as_serde_reads_them() {
        for text in [
            r#"{"stream": "Trades", "ts": 1000, "data": {"symbol": "IBM", "price": 75.5}}"#,
            r#"{"stream":"T","data":["a}\"]",{"x":[1,2]}]}"#,
            r#"{ "stream" : "T" , "ts" : -5 , "data" : { } }"#,
            r#"{"stream":"T","ts":0,"data":{}}"#,
            r#"{"stream":"T","ts":9223372036854775807,"data":{}}"#,
            r#"{"stream":"T","ts":-9223372036854775808,"data":{}}"#,
        ] {
            assert!(same_as_serde(text), "{text}");
        }
        for text in [
            r#"{"stream":"T","ts":01,"data":{}}"#,
            r#"{"stream":"T","ts":1.5,"data":{}}"#,
            r#"{"stream":"T","ts":1e3,"data":{}}"#,
            r#"{"stream":"T","ts":-,"data":{}}"#,
            r#"{"stream":"T","ts":-0,"data":{}}"#,
            r#"{"stream":"T","ts":1-2,"data":{}}"#,
            r#"{"stream":"T","ts":-9223372036854775809,"data":{}}"#,
            r#"{"stream":"T","ts":9223372036854775808,"data":{}}"#,
            r#"{"stream":"T","ts":null,"data":{}}"#,
            r#"{"stream":"T\n","data":{}}"#,
            "{\"stream\":\"T\u{1}\",\"data\":{}}",
            r#"{"stream":"T","data":{},"kind":"current"}"#,
            r#"{"stream":"T","data":{},"stream":"U"}"#,
            r#"{"stream":"T","data":{}"#,
            r#"{"stream":"T","data":{}}}"#,
            r#"{"stream":"T","data":5}"#,
            r#"{"ts":5,"stream":"T","data":{}}"#,
            r#"{"stream":"T","kind":"current","data":{}}"#,
        ] {
            assert!(!same_as_serde(text), "{text}");
        }
    }

    proptest::proptest! {
        /// Lines built of pieces, well formed or not: the common-line reader never reads a
        /// line otherwise than serde does.
        #[test]
        fn common_lines_never_differ_from_serde(
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                "{", "}", "[", "]", ",", ":", " ", "\"", "\\", "\"stream\"", "\"ts\"",
                "\"data\"", "\"T\"", "1", "-", "0", ".5", "e3", "null", "\"a}\"", "\"x\\\"\"",
            ]), 0..24),
        ) {
            let text = format!("{{\"stream\":\"T\",\"ts\":1,\"data\":{}}}", pieces.concat());
            same_as_serde(&text);
            let text = format!("{{{}}}", pieces.concat());
            same_as_serde(&text);
        }
    }

    #[test]
    fn next_line_borrows_and_skips_a_byte_order_mark() {
        let input =
            "\u{feff}{\"stream\":\"In\",\"data\":{\"a\":1}}\n{\"stream\":\"I\\n\",\"data\":[]}\n";
        let mut r = JsonLinesReader::new(input.as_bytes());
        match r.next_line() {
            Some(Ok(LineRef::Event {
                line_no: 1,
                stream: Cow::Borrowed("In"),
                ts: None,
                data,
            })) => {
                assert_eq!(data, "{\"a\":1}");
            }
            other => panic!("{other:?}"),
        }
        match r.next_line() {
            Some(Ok(LineRef::Event {
                stream: Cow::Owned(s),
                ..
            })) => assert_eq!(s, "I\n"),
            other => panic!("{other:?}"),
        }
        assert!(r.next_line().is_none());
        assert!(r.io_error().is_none());
    }

    /// Lines are the same, with the same numbers and offsets, whether they lie whole in the
    /// input's buffer or across its refills (copied); `nothing_buffered` only once every
    /// byte read belongs to a returned line.
    #[test]
    fn lines_across_buffer_refills() {
        let input = "\u{feff}{\"ts\":1}\r\n\n  \n{\"stream\":\"In\",\"data\":{\"a\":\"x y\"}}\n\t{\"ts\":22}  \n{\"ts\":3}";
        let all = |capacity: usize| {
            let mut r =
                JsonLinesReader::new(io::BufReader::with_capacity(capacity, input.as_bytes()));
            let mut lines = Vec::new();
            while let Some((text, end)) = r.next_text_at() {
                let (no, text) = text.unwrap();
                lines.push((no, text.to_owned(), end));
            }
            assert!(r.nothing_buffered());
            lines
        };
        let whole = all(1 << 16);
        assert_eq!(
            whole
                .iter()
                .map(|(n, t, _)| (*n, t.as_str()))
                .collect::<Vec<_>>(),
            [
                (1, "{\"ts\":1}"),
                (4, "{\"stream\":\"In\",\"data\":{\"a\":\"x y\"}}"),
                (5, "{\"ts\":22}"),
                (6, "{\"ts\":3}")
            ]
        );
        assert_eq!(whole.last().map(|l| l.2), Some(input.len() as u64));
        for capacity in 1..12 {
            assert_eq!(all(capacity), whole, "capacity {capacity}");
        }
        // A line returned while the next one is buffered: not everything is handed out yet.
        let mut r = JsonLinesReader::new(io::BufReader::new(input.as_bytes()));
        assert!(r.next_text_at().is_some());
        assert!(!r.nothing_buffered());
    }

    #[test]
    fn escaped_stream_names_and_null_ts() {
        let lines = read("{\"stream\":\"A\\u0042\",\"ts\":null,\"data\":{}}");
        match &lines[0] {
            Ok(Line::Event {
                stream, ts: None, ..
            }) => assert_eq!(stream, "AB"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_lines_are_reported_with_their_number_and_reading_goes_on() {
        let input = "{\"ts\":1}\nnot json\n{\"ts\":2}\n";
        let all = read(input);
        assert_eq!(all.len(), 3);
        let e = all[1].clone().unwrap_err();
        assert_eq!(e.line_no, 2);
        assert!(e.to_string().starts_with("line 2: "), "{e}");
        assert!(matches!(all[2], Ok(Line::Tick { line_no: 3, ts: 2 })));
    }

    #[test]
    fn each_kind_of_bad_line() {
        assert!(err("{\"stream\":\"In\",\"data\":{}")
            .message
            .contains("invalid JSON"));
        assert!(err("[1,2]").message.contains("JSON object"));
        assert!(err("42").message.contains("JSON object"));
        assert!(err("{\"ts\":1,\"data\":{}}")
            .message
            .contains("`stream` is missing"));
        assert!(err("{\"stream\":\"In\",\"ts\":1}")
            .message
            .contains("`data` is missing"));
        assert!(err("{}").message.contains("or only `ts`"));
        assert!(err("{\"ts\":1.5}")
            .message
            .contains("`ts` must be an integer"));
        assert!(err("{\"ts\":\"5\"}")
            .message
            .contains("`ts` must be an integer"));
        assert!(err("{\"stream\":\"In\",\"ts\":1e3,\"data\":{}}")
            .message
            .contains("`ts`"));
        assert!(err("{\"stream\":\"In\",\"data\":5}")
            .message
            .contains("object or an array"));
        assert!(err("{\"stream\":\"In\",\"data\":\"x\"}")
            .message
            .contains("object or an array"));
        assert!(err("{\"stream\":5,\"data\":{}}")
            .message
            .contains("invalid JSON"));
        assert!(err("{\"stream\":\"In\",\"data\":{},\"stream\":\"B\"}")
            .message
            .contains("duplicate"));
    }

    #[test]
    fn invalid_utf8_is_a_bad_line() {
        let input: &[u8] = b"{\"ts\":1}\n{\"stream\":\"\xff\",\"data\":{}}\n{\"ts\":2}\n";
        let all: Vec<_> = JsonLinesReader::new(input).collect();
        assert_eq!(all.len(), 3);
        assert_eq!(all[1].clone().unwrap_err().line_no, 2);
    }

    #[test]
    fn io_errors_end_the_iteration_and_are_kept() {
        struct Failing;
        impl io::Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk gone"))
            }
        }
        let mut r = JsonLinesReader::new(io::BufReader::new(Failing));
        assert!(r.next().is_none());
        assert_eq!(r.io_error().unwrap().to_string(), "disk gone");
        assert!(r.take_io_error().is_some());
        assert_eq!(r.line_no(), 0);
    }
}

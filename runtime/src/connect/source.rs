//! What sources hand to the app: batches of raw lines with their positions, and the
//! one-event message forms of DESIGN 8.1 (the envelope `{"ts": N, "data": {...}}` or the bare
//! `data` object).

use serde::Deserialize;
use serde_json::value::RawValue;

/// Where one raw message of a [`Batch`] is and came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line {
    /// Its end in [`Batch::text`] (it starts where the previous line ends).
    pub end: usize,
    /// Where it came from: 1-based line number within its connection or request body, or
    /// the byte offset after it for a file source (what a checkpoint records).
    pub position: u64,
    /// Which client or connection sent it (0 when there is only one).
    pub origin: u64,
}

/// Lines a source read together, for one stream: their text in one buffer (one allocation
/// per batch, not per line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// The stream the lines are events of.
    pub stream: String,
    /// Every line's text (one JSON event, or one CSV record, without the line break), one
    /// after another.
    pub text: String,
    /// The lines, in arrival order.
    pub lines: Vec<Line>,
}

impl Batch {
    /// An empty batch of `stream`.
    pub fn new(stream: &str) -> Batch {
        Batch {
            stream: stream.to_string(),
            text: String::new(),
            lines: Vec::new(),
        }
    }

    /// Appends a line.
    pub fn push(&mut self, text: &str, position: u64, origin: u64) {
        self.text.push_str(text);
        self.lines.push(Line {
            end: self.text.len(),
            position,
            origin,
        });
    }

    /// The number of lines.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether there is no line.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Each line's text with where it came from.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Line)> {
        let mut start = 0;
        self.lines.iter().map(move |l| {
            let text = self.text.get(start..l.end).unwrap_or("");
            start = l.end;
            (text, l)
        })
    }

    /// The lines' texts (for tests and tools).
    pub fn texts(&self) -> Vec<String> {
        self.iter().map(|(t, _)| t.to_string()).collect()
    }
}

/// Stream messages of one input stream of an app's gRPC service (DESIGN 8.3), each
/// checked by [`crate::connect::protobuf::check_event`], one after another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtoBatch {
    /// The input stream's index in the app's [`crate::connect::protobuf::ProtoSchema`].
    pub stream: usize,
    /// Every event's stream message, one after another.
    pub bytes: Vec<u8>,
    /// Each event's end in `bytes`, its `ts` when given, and its number in its call.
    pub events: Vec<(usize, Option<i64>, u64)>,
    /// Which call.
    pub origin: u64,
}

impl ProtoBatch {
    /// An empty batch of input stream `stream`.
    pub fn new(stream: usize, origin: u64, capacity: usize) -> ProtoBatch {
        ProtoBatch {
            stream,
            bytes: Vec::with_capacity(capacity * 32),
            events: Vec::with_capacity(capacity),
            origin,
        }
    }

    /// Appends an event.
    pub fn push(&mut self, message: &[u8], ts: Option<i64>, position: u64) {
        self.bytes.extend_from_slice(message);
        self.events.push((self.bytes.len(), ts, position));
    }

    /// The number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether there is no event.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Each event's stream message, `ts` and number.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Option<i64>, u64)> {
        let mut start = 0;
        self.events.iter().map(move |&(end, ts, position)| {
            let bytes = self.bytes.get(start..end).unwrap_or(&[]);
            start = end;
            (bytes, ts, position)
        })
    }
}

/// What a source thread sends on its channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceEvent {
    /// Lines to decode.
    Batch(Batch),
    /// A message that could not even be read (for example a line over the size limit); the
    /// source went on after it.
    Bad {
        /// The stream.
        stream: String,
        /// Where (as in [`Line::position`]).
        position: u64,
        /// Which connection.
        origin: u64,
        /// Why.
        reason: String,
    },
    /// Protobuf events of the app's gRPC service, checked and decoded into the app's events
    /// without a JSON text between (`connect::grpc`).
    Proto(ProtoBatch),
    /// The source ended (end of a file without follow, or shutdown).
    Closed {
        /// The stream.
        stream: String,
    },
}

/// The longest line a network source accepts (longer ones are reported and skipped).
pub const MAX_LINE: usize = 1 << 20;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default)]
    stream: Option<&'a str>,
    #[serde(default)]
    ts: Option<i64>,
    #[serde(borrow)]
    data: &'a RawValue,
}

/// One message of a stream-bound source: `(ts, data JSON)`. Accepts the envelope
/// `{"ts": N, "data": {...}}` (a `stream` key, if present, must name `stream`) or the bare
/// `data` object or array (then `ts` is `None`: the arrival time).
pub fn split_message<'a>(stream: &str, text: &'a str) -> Result<(Option<i64>, &'a str), String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("empty message".to_string());
    }
    if trimmed.starts_with('{') && trimmed.contains("\"data\"") {
        if let Ok(env) = serde_json::from_str::<Envelope<'a>>(trimmed) {
            let data = env.data.get();
            if data.starts_with('{') || data.starts_with('[') {
                if let Some(named) = env.stream {
                    if named != stream {
                        return Err(format!(
                            "the message names stream `{named}`, this source feeds `{stream}`"
                        ));
                    }
                }
                return Ok((env.ts, data));
            }
        }
    }
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        Ok((None, trimmed))
    } else {
        Err("not a JSON object or array".to_string())
    }
}

/// Decodes one CSV record of a stream-bound source (see [`super::csv`]) into an event
/// (arrival time); `Ok(None)` for a header record.
pub fn decode_csv<I>(
    stream: &str,
    text: &str,
    schema: &[(&str, &str)],
    decode: impl FnOnce(&str, &str) -> Result<I, crate::DecodeError>,
) -> Result<Option<I>, String> {
    match super::csv::to_json(text, schema)? {
        None => Ok(None),
        Some(json) => decode(stream, &json).map(Some).map_err(|e| e.to_string()),
    }
}

/// Decodes one message of a stream-bound source into `(ts, event)` with the app's decoder
/// (see [`split_message`]); `Err` holds the reason.
pub fn decode_message<I>(
    stream: &str,
    text: &str,
    decode: impl FnOnce(&str, &str) -> Result<I, crate::DecodeError>,
) -> Result<(Option<i64>, I), String> {
    let (ts, data) = split_message(stream, text)?;
    decode(stream, data)
        .map(|event| (ts, event))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_or_bare_data() {
        assert_eq!(
            split_message("S", r#"{"ts": 5, "data": {"a": 1}}"#),
            Ok((Some(5), r#"{"a": 1}"#))
        );
        assert_eq!(
            split_message("S", r#"{"stream":"S","data":[1,2]}"#),
            Ok((None, "[1,2]"))
        );
        assert_eq!(
            split_message("S", r#" {"a": 1} "#),
            Ok((None, r#"{"a": 1}"#))
        );
        // An attribute called `data` that is not an object stays bare data.
        assert_eq!(
            split_message("S", r#"{"data": "x", "b": 2}"#),
            Ok((None, r#"{"data": "x", "b": 2}"#))
        );
        assert!(split_message("S", r#"{"stream":"T","data":{}}"#).is_err());
        assert!(split_message("S", "hello").is_err());
        assert!(split_message("S", "  ").is_err());
    }
}

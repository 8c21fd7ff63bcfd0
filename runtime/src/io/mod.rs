//! JSON-lines input and output (docs/running.md#json-lines).
//!
//! Input lines are read by [`JsonLinesReader`], which parses only the envelope
//! (`stream`, `ts`) and hands the `data` over as raw JSON text, so the generated
//! [`Application::decode`](crate::Application::decode) parses it once, straight into typed
//! events. Output events go to an [`EventSink`]: [`JsonLinesWriter`] prints them,
//! [`CollectingSink`] keeps the lines in memory (tests) and [`CountingSink`] only counts them
//! (benchmarks).
//!
//! ```
//! use eventflux_runtime::io::{CollectingSink, EventSink};
//! use eventflux_runtime::EventKind;
//!
//! #[derive(serde::Serialize)]
//! struct Out { symbol: &'static str, avg_price: f64 }
//!
//! let mut sink = CollectingSink::new();
//! sink.emit("Out", 1000, EventKind::Current, &Out { symbol: "IBM", avg_price: 75.0 });
//! assert_eq!(
//!     sink.lines,
//!     [r#"{"stream":"Out","ts":1000,"kind":"current","data":{"symbol":"IBM","avg_price":75.0}}"#]
//! );
//! ```

pub mod fast;
mod input;
mod output;

pub use input::{parse_line, InputError, JsonLinesReader, Line, LineRef, LineText};
pub use output::{CollectingSink, CountingSink, JsonLinesWriter};

use crate::EventKind;

/// Where a compiled app sends its output events.
///
/// Generated code implements its `Output` trait for every `S: EventSink` and calls
/// [`emit`](EventSink::emit) once per output event, in emission order.
pub trait EventSink {
    /// Takes one output event of `stream`, at time `ts` (ms), of the given kind.
    fn emit<T: serde::Serialize>(
        &mut self,
        stream: &'static str,
        ts: i64,
        kind: EventKind,
        event: &T,
    );
}

/// Appends one output line, without its newline, to `out`:
/// `{"stream":"Out","ts":1000,"kind":"current","data":{...}}`.
///
/// `data` is `event` serialized by serde_json: integers print as JSON integers, `f32`/`f64`
/// always with a decimal point (`1.0`), NaN and infinities as `null`, `None` as `null`.
/// On error `out` may hold a partial line; callers truncate it.
pub fn format_event_line<T: serde::Serialize + ?Sized>(
    out: &mut Vec<u8>,
    stream: &str,
    ts: i64,
    kind: EventKind,
    event: &T,
) -> serde_json::Result<()> {
    out.extend_from_slice(b"{\"stream\":");
    if stream.bytes().all(|c| c >= 0x20 && c != b'"' && c != b'\\') {
        // Nothing to escape (the usual name): as serde_json prints it.
        out.push(b'"');
        out.extend_from_slice(stream.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(&mut *out, stream)?;
    }
    out.extend_from_slice(b",\"ts\":");
    serde_json::to_writer(&mut *out, &ts)?;
    out.extend_from_slice(match kind {
        EventKind::Current => b",\"kind\":\"current\",\"data\":",
        EventKind::Expired => b",\"kind\":\"expired\",\"data\":",
    });
    serde_json::to_writer(&mut *out, event)?;
    out.push(b'}');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct Row {
        id: i32,
        big: i64,
        price: f64,
        ratio: f32,
        name: Option<std::sync::Arc<str>>,
        ok: bool,
    }

    fn line<T: serde::Serialize>(stream: &str, ts: i64, kind: EventKind, event: &T) -> String {
        let mut out = Vec::new();
        format_event_line(&mut out, stream, ts, kind, event).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn floats_keep_a_decimal_point_and_nulls_print() {
        let row = Row {
            id: 1,
            big: 1 << 40,
            price: 1.0,
            ratio: 2.5,
            name: None,
            ok: true,
        };
        assert_eq!(
            line("Out", 1000, EventKind::Current, &row),
            r#"{"stream":"Out","ts":1000,"kind":"current","data":{"id":1,"big":1099511627776,"price":1.0,"ratio":2.5,"name":null,"ok":true}}"#
        );
    }

    #[test]
    fn non_finite_floats_are_null_and_strings_are_escaped() {
        let row = Row {
            id: -3,
            big: 0,
            price: f64::NAN,
            ratio: f32::INFINITY,
            name: Some("a\"b\n".into()),
            ok: false,
        };
        assert_eq!(
            line("S\"x", -5, EventKind::Expired, &row),
            r#"{"stream":"S\"x","ts":-5,"kind":"expired","data":{"id":-3,"big":0,"price":null,"ratio":null,"name":"a\"b\n","ok":false}}"#
        );
    }

    /// The line as serde_json alone prints it (the format before the direct writer).
    fn by_serde<T: serde::Serialize>(stream: &str, ts: i64, kind: EventKind, event: &T) -> String {
        format!(
            "{{\"stream\":{},\"ts\":{},\"kind\":{},\"data\":{}}}",
            serde_json::to_string(stream).unwrap(),
            serde_json::to_string(&ts).unwrap(),
            serde_json::to_string(kind.as_str()).unwrap(),
            serde_json::to_string(event).unwrap()
        )
    }

    proptest::proptest! {
        /// Byte for byte what serde_json prints, whatever the names and values (NaN and
        /// infinities included).
        #[test]
        fn lines_are_what_serde_json_prints(
            stream in proptest::prop_oneof!["[A-Za-z_][A-Za-z0-9_]{0,12}", ".{0,8}"],
            ts in proptest::num::i64::ANY,
            expired in proptest::bool::ANY,
            id in proptest::num::i32::ANY,
            big in proptest::num::i64::ANY,
            price in proptest::num::f64::ANY,
            ratio in proptest::num::f32::ANY,
            name in proptest::option::of(".{0,10}"),
            ok in proptest::bool::ANY,
        ) {
            let kind = if expired { EventKind::Expired } else { EventKind::Current };
            let row = Row { id, big, price, ratio, name: name.map(Into::into), ok };
            proptest::prop_assert_eq!(line(&stream, ts, kind, &row), by_serde(&stream, ts, kind, &row));
        }
    }
}

//! The protobuf wire form of an app's gRPC messages (DESIGN 8.3), driven by the stream
//! schemas instead of per-app generated message types.
//!
//! `eventflux proto` prints the schema; the compiled app carries the same layout as a
//! [`ProtoSchema`] (streams in the `.proto`'s order, attributes in field order), and this
//! module checks an `Event` ([`check_event`]) and hands its stream message to the app's
//! serde `Deserialize` as a [`ProtoData`] (the service's path; [`decode_event`] makes the
//! JSON array of its attributes instead), and writes an output line as an `Output`. Field numbers: attribute `i` of a stream message is field `i + 1`;
//! `Event` has `ts` = 1 and input stream `i` = `2 + i`; `Output` has `ts` = 1, `kind` = 2
//! and output stream `i` = `3 + i`.

use std::fmt::Write as _;

/// One stream of the service: its name and attributes `(name, type, nullable)`, with the
/// type named as in the language (`INT`, `LONG`, `FLOAT`, `DOUBLE`, `STRING`, `BOOL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtoStream {
    /// The stream's name in the app.
    pub name: &'static str,
    /// The attributes in field order.
    pub attrs: &'static [(&'static str, &'static str, bool)],
}

/// The layout of an app's service: `Event`'s input streams and `Output`'s output streams,
/// in the order of the printed `.proto`. (The server answers `Send` and `Subscribe` under
/// any package and service name: only the method name is matched.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtoSchema {
    /// The input streams (oneof fields 2, 3, ... of `Event`).
    pub inputs: &'static [ProtoStream],
    /// The output streams (oneof fields 3, 4, ... of `Output`).
    pub outputs: &'static [ProtoStream],
}

impl ProtoSchema {
    /// The index of an output stream by name.
    pub fn output(&self, name: &str) -> Option<usize> {
        self.outputs.iter().position(|s| s.name == name)
    }

    /// The index of an input stream by name.
    pub fn input(&self, name: &str) -> Option<usize> {
        self.inputs.iter().position(|s| s.name == name)
    }
}

/// A protobuf reader over a message's bytes.
struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

/// A field's value as read.
#[derive(Clone, Copy, Debug)]
enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, at: 0 }
    }

    #[inline]
    fn varint(&mut self) -> Result<u64, String> {
        // Most varints (keys, lengths, small numbers) are one byte.
        if let Some(&byte) = self.buf.get(self.at) {
            if byte < 0x80 {
                self.at += 1;
                return Ok(u64::from(byte));
            }
        }
        let mut out = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = *self
                .buf
                .get(self.at)
                .ok_or_else(|| "truncated varint".to_string())?;
            self.at += 1;
            if shift == 63 && byte > 1 {
                return Err("varint too long".to_string());
            }
            out |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(out);
            }
        }
        Err("varint too long".to_string())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| "truncated field".to_string())?;
        let out = &self.buf[self.at..end];
        self.at = end;
        Ok(out)
    }

    /// The next `(field number, value)`, `None` at the end.
    #[inline]
    fn field(&mut self) -> Result<Option<(u64, Value<'a>)>, String> {
        if self.at >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = key >> 3;
        if number == 0 {
            return Err("field number 0".to_string());
        }
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Value::Fixed64(u64::from_le_bytes(a))
            }
            2 => {
                let n = usize::try_from(self.varint()?)
                    .map_err(|_| "length out of range".to_string())?;
                Value::Bytes(self.take(n)?)
            }
            5 => {
                let b = self.take(4)?;
                let mut a = [0u8; 4];
                a.copy_from_slice(b);
                Value::Fixed32(u32::from_le_bytes(a))
            }
            w => return Err(format!("unsupported wire type {w}")),
        };
        Ok(Some((number, value)))
    }
}

/// One decoded `Event`: its `ts` (when given), the input stream's index and the event's
/// attributes as a JSON array in attribute order (what the app's decoder takes).
#[derive(Clone, Debug, PartialEq)]
pub struct DecodedEvent {
    /// `ts` when present.
    pub ts: Option<i64>,
    /// The index into [`ProtoSchema::inputs`].
    pub stream: usize,
    /// `[v1, v2, ...]`.
    pub data: String,
}

/// The envelope of an `Event` message: the input stream's index, `ts` when given, and the
/// stream message's bytes. Unknown fields are skipped (protobuf's rule); an event without a
/// stream, or a value of the wrong wire type, is an error naming it.
fn envelope<'a>(
    schema: &ProtoSchema,
    bytes: &'a [u8],
) -> Result<(usize, Option<i64>, &'a [u8]), String> {
    let mut r = Reader::new(bytes);
    let mut ts = None;
    let mut chosen: Option<(usize, &[u8])> = None;
    while let Some((number, value)) = r.field()? {
        match (number, value) {
            (1, Value::Varint(v)) => ts = Some(v as i64),
            (1, _) => return Err("`ts` is not a varint".to_string()),
            (n, Value::Bytes(b)) if n >= 2 && ((n - 2) as usize) < schema.inputs.len() => {
                // A later member of a oneof replaces an earlier one.
                chosen = Some(((n - 2) as usize, b));
            }
            (n, _) if n >= 2 && ((n - 2) as usize) < schema.inputs.len() => {
                return Err(format!(
                    "the field of stream `{}` is not a message",
                    schema.inputs[(n - 2) as usize].name
                ))
            }
            _ => {}
        }
    }
    let (stream, body) = chosen.ok_or_else(|| "the event names no input stream".to_string())?;
    Ok((stream, ts, body))
}

/// Reads an `Event` message and its stream message as JSON.
pub fn decode_event(schema: &ProtoSchema, bytes: &[u8]) -> Result<DecodedEvent, String> {
    let (stream, ts, body) = envelope(schema, bytes)?;
    let data = stream_json(&schema.inputs[stream], body)?;
    Ok(DecodedEvent { ts, stream, data })
}

/// Whether `value` is of the wire type of an attribute of type `ty`.
fn fits(ty: &str, value: &Value<'_>) -> bool {
    matches!(
        (ty, value),
        ("INT" | "LONG" | "BOOL", Value::Varint(_))
            | ("FLOAT", Value::Fixed32(_))
            | ("DOUBLE", Value::Fixed64(_))
            | ("STRING", Value::Bytes(_))
    )
}

/// A value that the app cannot take: a string that is not UTF-8 or a float that is not
/// finite.
fn bad_value(name: &str, value: Value<'_>) -> Option<String> {
    match value {
        Value::Bytes(b) if std::str::from_utf8(b).is_err() => {
            Some(format!("attribute `{name}`: the string is not UTF-8"))
        }
        Value::Fixed32(v) if !f32::from_bits(v).is_finite() => Some(format!(
            "attribute `{name}`: {} is not a finite number",
            f32::from_bits(v)
        )),
        Value::Fixed64(v) if !f64::from_bits(v).is_finite() => Some(format!(
            "attribute `{name}`: {} is not a finite number",
            f64::from_bits(v)
        )),
        _ => None,
    }
}

/// Writes `value` as field `number`.
fn put_field(out: &mut Vec<u8>, number: u64, value: Value<'_>) {
    match value {
        Value::Varint(v) => {
            put_key(out, number, 0);
            put_varint(out, v);
        }
        Value::Fixed64(v) => {
            put_key(out, number, 1);
            out.extend_from_slice(&v.to_le_bytes());
        }
        Value::Bytes(b) => {
            put_key(out, number, 2);
            put_varint(out, b.len() as u64);
            out.extend_from_slice(b);
        }
        Value::Fixed32(v) => {
            put_key(out, number, 5);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// Checks a stream message's fields against the stream's attributes. Returns the message
/// as it is when its attributes' fields come in field order, once each, and no other field
/// (what every encoder writes); otherwise the same event written so (the last of a repeated
/// field wins, unknown fields are dropped), which [`ProtoData`] reads.
fn check_stream<'a>(
    stream: &ProtoStream,
    bytes: &'a [u8],
) -> Result<std::borrow::Cow<'a, [u8]>, String> {
    let mut r = Reader::new(bytes);
    let mut last = 0u64;
    let mut ordered = true;
    while let Some((number, value)) = r.field()? {
        let known = usize::try_from(number)
            .ok()
            .and_then(|n| stream.attrs.get(n - 1));
        let Some((name, ty, _)) = known else {
            ordered = false;
            continue;
        };
        if !fits(ty, &value) {
            return Err(format!("attribute `{name}` ({ty}): wrong wire type"));
        }
        if let Some(reason) = bad_value(name, value) {
            return Err(reason);
        }
        ordered &= number > last;
        last = number;
    }
    if ordered {
        return Ok(std::borrow::Cow::Borrowed(bytes));
    }
    let mut values: Vec<Option<Value<'a>>> = vec![None; stream.attrs.len()];
    let mut r = Reader::new(bytes);
    while let Some((number, value)) = r.field()? {
        if let Some(slot) = usize::try_from(number)
            .ok()
            .and_then(|n| values.get_mut(n - 1))
        {
            *slot = Some(value);
        }
    }
    let mut out = Vec::with_capacity(bytes.len());
    for (i, value) in values.into_iter().enumerate() {
        if let Some(v) = value {
            put_field(&mut out, i as u64 + 1, v);
        }
    }
    Ok(std::borrow::Cow::Owned(out))
}

/// An `Event` as [`check_event`] found it: the input stream's index, `ts` when given, and
/// the stream message's bytes in field order.
pub type CheckedEvent<'a> = (usize, Option<i64>, std::borrow::Cow<'a, [u8]>);

/// One `Event` checked without decoding it: the input stream's index, `ts` when given, and
/// the stream message's bytes (in field order, see `check_stream`), which [`ProtoData`]
/// then turns into the app's event. Every error [`ProtoData`] could meet is found here.
pub fn check_event<'a>(schema: &ProtoSchema, bytes: &'a [u8]) -> Result<CheckedEvent<'a>, String> {
    let (stream, ts, body) = envelope(schema, bytes)?;
    let body = check_stream(&schema.inputs[stream], body)?;
    Ok((stream, ts, body))
}

/// Why a stream message does not fit the app's event (see [`ProtoData`]).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProtoError(String);

impl serde::de::Error for ProtoError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        ProtoError(msg.to_string())
    }
}

/// A stream message of an `Event` as a serde [`serde::Deserializer`]: a sequence of its
/// attributes in field order, each typed as the stream declares it (an absent field is
/// protobuf's default, `None` for a nullable attribute). The generated `decode_proto` of
/// an app with a gRPC service reads its input events from it, without a JSON text between.
/// The message is one that [`check_event`] returned (its fields in field order, once each;
/// another is an error, never a wrong event).
pub struct ProtoData<'a> {
    stream: &'static ProtoStream,
    bytes: &'a [u8],
}

impl<'a> ProtoData<'a> {
    /// The message `bytes` of `stream`.
    pub fn new(stream: &'static ProtoStream, bytes: &'a [u8]) -> ProtoData<'a> {
        ProtoData { stream, bytes }
    }
}

/// Decodes an input event of `stream` (the generated struct `T`) from its stream message.
pub fn decode<'a, T: serde::Deserialize<'a>>(
    stream: &str,
    data: ProtoData<'a>,
) -> Result<T, crate::app::DecodeError> {
    T::deserialize(data).map_err(|e| crate::app::DecodeError::Data {
        stream: stream.to_owned(),
        message: e.0,
    })
}

impl<'de> serde::Deserializer<'de> for ProtoData<'de> {
    type Error = ProtoError;

    fn deserialize_any<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, ProtoError> {
        visitor.visit_seq(Attrs {
            attrs: self.stream.attrs,
            reader: Reader::new(self.bytes),
            ahead: None,
            last: 0,
            next: 0,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

/// The attributes of a [`ProtoData`], one after another, read in one pass.
struct Attrs<'a> {
    attrs: &'static [(&'static str, &'static str, bool)],
    reader: Reader<'a>,
    /// The next field, read ahead.
    ahead: Option<(u64, Value<'a>)>,
    /// The number of the last field read.
    last: u64,
    next: usize,
}

impl<'a> Attrs<'a> {
    /// The value of field `number` (`None`: absent), the fields coming in field order.
    fn value(&mut self, number: u64) -> Result<Option<Value<'a>>, ProtoError> {
        if self.ahead.is_none() && self.last < number {
            self.ahead = self.reader.field().map_err(ProtoError)?;
            if let Some((n, _)) = self.ahead {
                if n <= self.last {
                    return Err(ProtoError(
                        "the message's fields are not in field order".to_string(),
                    ));
                }
                self.last = n;
            }
        }
        match self.ahead {
            Some((n, v)) if n == number => {
                self.ahead = None;
                Ok(Some(v))
            }
            _ => Ok(None),
        }
    }
}

impl<'de> serde::de::SeqAccess<'de> for Attrs<'de> {
    type Error = ProtoError;

    fn next_element_seed<T: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ProtoError> {
        let Some(&(name, ty, nullable)) = self.attrs.get(self.next) else {
            return Ok(None);
        };
        let value = self.value(self.next as u64 + 1)?;
        self.next += 1;
        if self.next == self.attrs.len() {
            // The rest must come after in field order too (else a field was passed over).
            while let Some((n, _)) = self.reader.field().map_err(ProtoError)? {
                if n <= self.last {
                    return Err(ProtoError(
                        "the message's fields are not in field order".to_string(),
                    ));
                }
                self.last = n;
            }
        }
        seed.deserialize(Attr {
            name,
            ty,
            nullable,
            value,
        })
        .map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.attrs.len() - self.next)
    }
}

/// One attribute's value.
struct Attr<'a> {
    name: &'static str,
    ty: &'static str,
    nullable: bool,
    value: Option<Value<'a>>,
}

impl<'de> serde::Deserializer<'de> for Attr<'de> {
    type Error = ProtoError;

    fn deserialize_any<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, ProtoError> {
        if let Some(reason) = self.value.and_then(|v| bad_value(self.name, v)) {
            return Err(ProtoError(reason));
        }
        match (self.value, self.ty) {
            (None, _) if self.nullable => visitor.visit_none(),
            (None, "STRING") => visitor.visit_borrowed_str(""),
            (None, "BOOL") => visitor.visit_bool(false),
            (None, "FLOAT") => visitor.visit_f32(0.0),
            (None, "DOUBLE") => visitor.visit_f64(0.0),
            (None, "INT") => visitor.visit_i32(0),
            (None, _) => visitor.visit_i64(0),
            (Some(Value::Varint(v)), "INT") => visitor.visit_i32(v as i64 as i32),
            (Some(Value::Varint(v)), "LONG") => visitor.visit_i64(v as i64),
            (Some(Value::Varint(v)), "BOOL") => visitor.visit_bool(v != 0),
            (Some(Value::Fixed32(v)), "FLOAT") => visitor.visit_f32(f32::from_bits(v)),
            (Some(Value::Fixed64(v)), "DOUBLE") => visitor.visit_f64(f64::from_bits(v)),
            (Some(Value::Bytes(b)), "STRING") => match std::str::from_utf8(b) {
                Ok(s) => visitor.visit_borrowed_str(s),
                Err(_) => Err(ProtoError(format!(
                    "attribute `{}`: the string is not UTF-8",
                    self.name
                ))),
            },
            _ => Err(ProtoError(format!(
                "attribute `{}` ({}): wrong wire type",
                self.name, self.ty
            ))),
        }
    }

    fn deserialize_option<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, ProtoError> {
        if self.value.is_none() && self.nullable {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

/// The input stream an `Event` names, when that much of it can be read (for counting a bad
/// event under its stream).
pub fn event_stream(schema: &ProtoSchema, bytes: &[u8]) -> Option<usize> {
    let mut r = Reader::new(bytes);
    let mut found = None;
    while let Ok(Some((number, _))) = r.field() {
        if number >= 2 && ((number - 2) as usize) < schema.inputs.len() {
            found = Some((number - 2) as usize);
        }
    }
    found
}

/// A stream message as a JSON array in attribute order (absent fields: protobuf's default,
/// or `null` for a nullable attribute).
fn stream_json(stream: &ProtoStream, bytes: &[u8]) -> Result<String, String> {
    let mut values: Vec<Option<Value<'_>>> = (0..stream.attrs.len()).map(|_| None).collect();
    let mut r = Reader::new(bytes);
    while let Some((number, value)) = r.field()? {
        if let Some(slot) = usize::try_from(number)
            .ok()
            .and_then(|n| values.get_mut(n - 1))
        {
            *slot = Some(value);
        }
    }
    let mut out = String::with_capacity(16 * values.len() + 2);
    out.push('[');
    for (i, ((name, ty, nullable), value)) in stream.attrs.iter().zip(values).enumerate() {
        if i > 0 {
            out.push(',');
        }
        let wrong = || format!("attribute `{name}` ({ty}): wrong wire type");
        match (value, *ty) {
            (None, _) if *nullable => out.push_str("null"),
            (None, "STRING") => out.push_str("\"\""),
            (None, "BOOL") => out.push_str("false"),
            (None, "FLOAT" | "DOUBLE") => out.push_str("0.0"),
            (None, _) => out.push('0'),
            (Some(Value::Varint(v)), "INT") => {
                let _ = write!(out, "{}", v as i64 as i32);
            }
            (Some(Value::Varint(v)), "LONG") => {
                let _ = write!(out, "{}", v as i64);
            }
            (Some(Value::Varint(v)), "BOOL") => out.push_str(if v != 0 { "true" } else { "false" }),
            (Some(Value::Fixed32(v)), "FLOAT") => {
                float(&mut out, f64::from(f32::from_bits(v)), name)?
            }
            (Some(Value::Fixed64(v)), "DOUBLE") => float(&mut out, f64::from_bits(v), name)?,
            (Some(Value::Bytes(b)), "STRING") => {
                let s = std::str::from_utf8(b)
                    .map_err(|_| format!("attribute `{name}`: the string is not UTF-8"))?;
                serde_json::to_writer(StringSink(&mut out), s).map_err(|e| e.to_string())?;
            }
            _ => return Err(wrong()),
        }
    }
    out.push(']');
    Ok(out)
}

fn float(out: &mut String, v: f64, name: &str) -> Result<(), String> {
    if !v.is_finite() {
        return Err(format!("attribute `{name}`: {v} is not a finite number"));
    }
    // `{:?}` prints the shortest text that reads back to the same value.
    let mut b = format!("{v:?}");
    if !b.contains(['.', 'e', 'E']) {
        b.push_str(".0");
    }
    out.push_str(&b);
    Ok(())
}

/// `io::Write` into a `String` for serde_json's string escaping (it writes valid UTF-8).
struct StringSink<'a>(&'a mut String);

impl std::io::Write for StringSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let s = std::str::from_utf8(buf)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        self.0.push_str(s);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_key(out: &mut Vec<u8>, number: u64, wire: u64) {
    put_varint(out, (number << 3) | wire);
}

/// Writes one attribute's JSON value as field `number` of type `ty`; `null` is left out.
fn put_value(
    out: &mut Vec<u8>,
    number: u64,
    name: &str,
    ty: &str,
    value: &serde_json::Value,
) -> Result<(), String> {
    let wrong = || format!("attribute `{name}` ({ty}): `{value}` does not fit");
    match (ty, value) {
        (_, serde_json::Value::Null) => {}
        ("INT" | "LONG", v) => {
            let n = v.as_i64().ok_or_else(wrong)?;
            put_key(out, number, 0);
            put_varint(out, n as u64);
        }
        ("BOOL", serde_json::Value::Bool(b)) => {
            put_key(out, number, 0);
            put_varint(out, u64::from(*b));
        }
        ("FLOAT", v) => {
            let f = v.as_f64().ok_or_else(wrong)?;
            put_key(out, number, 5);
            out.extend_from_slice(&(f as f32).to_bits().to_le_bytes());
        }
        ("DOUBLE", v) => {
            let f = v.as_f64().ok_or_else(wrong)?;
            put_key(out, number, 1);
            out.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        ("STRING", serde_json::Value::String(s)) => {
            put_key(out, number, 2);
            put_varint(out, s.len() as u64);
            out.extend_from_slice(s.as_bytes());
        }
        _ => return Err(wrong()),
    }
    Ok(())
}

/// A stream message from an event's JSON `data` (an object by attribute name, or an array in
/// attribute order).
fn stream_message(
    attrs: &[(&str, &str, bool)],
    data: &serde_json::Value,
) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(8 * attrs.len());
    for (i, (name, ty, _)) in attrs.iter().enumerate() {
        let value = match data {
            serde_json::Value::Object(map) => map.get(*name),
            serde_json::Value::Array(list) => list.get(i),
            _ => return Err("the event is not an object or an array".to_string()),
        };
        if let Some(v) = value {
            put_value(&mut out, i as u64 + 1, name, ty, v)?;
        }
    }
    Ok(out)
}

/// The `Output` message of one output line (`{"stream":..,"ts":..,"kind":..,"data":{..}}`):
/// `(index of the output stream, message bytes)`; `None` for a stream the service does not
/// carry.
pub fn encode_output_line(
    schema: &ProtoSchema,
    line: &[u8],
) -> Result<Option<(usize, Vec<u8>)>, String> {
    #[derive(serde::Deserialize)]
    struct Line<'a> {
        #[serde(borrow)]
        stream: std::borrow::Cow<'a, str>,
        ts: i64,
        kind: std::borrow::Cow<'a, str>,
        data: serde_json::Value,
    }
    let line: Line<'_> = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    let Some(index) = schema.output(&line.stream) else {
        return Ok(None);
    };
    let body = stream_message(schema.outputs[index].attrs, &line.data)?;
    let mut out = Vec::with_capacity(body.len() + 16);
    put_key(&mut out, 1, 0);
    put_varint(&mut out, line.ts as u64);
    if line.kind == "expired" {
        put_key(&mut out, 2, 0);
        put_varint(&mut out, 1);
    }
    put_key(&mut out, index as u64 + 3, 2);
    put_varint(&mut out, body.len() as u64);
    out.extend_from_slice(&body);
    Ok(Some((index, out)))
}

/// The `Event` message for input stream `index` (attributes `attrs`) of another app's
/// service, from one output line of ours (the `grpc` sink): its `ts` and `data`.
pub fn encode_event_line(
    attrs: &[(&str, &str, bool)],
    index: usize,
    line: &[u8],
) -> Result<Vec<u8>, String> {
    #[derive(serde::Deserialize)]
    struct Line {
        #[serde(default)]
        ts: Option<i64>,
        data: serde_json::Value,
    }
    let line: Line = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    let body = stream_message(attrs, &line.data)?;
    let mut out = Vec::with_capacity(body.len() + 16);
    if let Some(ts) = line.ts {
        put_key(&mut out, 1, 0);
        put_varint(&mut out, ts as u64);
    }
    put_key(&mut out, index as u64 + 2, 2);
    put_varint(&mut out, body.len() as u64);
    out.extend_from_slice(&body);
    Ok(out)
}

/// The reply of the service's `Streams` method (an EventFlux extension beside the printed
/// `.proto`, which the `grpc` sink asks): field 1 repeated, one JSON text per input stream
/// in `Event`'s oneof order, `{"name": .., "attrs": [[name, type, nullable], ..]}`.
pub fn encode_streams_reply(schema: &ProtoSchema) -> Vec<u8> {
    let mut out = Vec::new();
    for s in schema.inputs {
        let text = serde_json::json!({"name": s.name, "attrs": s.attrs}).to_string();
        put_key(&mut out, 1, 2);
        put_varint(&mut out, text.len() as u64);
        out.extend_from_slice(text.as_bytes());
    }
    out
}

/// One input stream of another app, as its `Streams` reply describes it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct RemoteStream {
    /// The stream's name.
    pub name: String,
    /// `(name, type, nullable)` in field order.
    pub attrs: Vec<(String, String, bool)>,
}

/// Reads a `Streams` reply.
pub fn decode_streams_reply(bytes: &[u8]) -> Result<Vec<RemoteStream>, String> {
    decode_subscribe(bytes)?
        .iter()
        .map(|t| serde_json::from_str(t).map_err(|e| format!("a bad stream description: {e}")))
        .collect()
}

/// The stream names of a `SubscribeRequest` (`repeated string streams = 1`).
pub fn decode_subscribe(bytes: &[u8]) -> Result<Vec<String>, String> {
    let mut r = Reader::new(bytes);
    let mut out = Vec::new();
    while let Some((number, value)) = r.field()? {
        match (number, value) {
            (1, Value::Bytes(b)) => out.push(
                std::str::from_utf8(b)
                    .map_err(|_| "a stream name is not UTF-8".to_string())?
                    .to_string(),
            ),
            (1, _) => return Err("`streams` is not a string".to_string()),
            _ => {}
        }
    }
    Ok(out)
}

/// A `SendReply` with `accepted`.
pub fn encode_send_reply(accepted: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(11);
    if accepted > 0 {
        put_key(&mut out, 1, 0);
        put_varint(&mut out, accepted);
    }
    out
}

/// `accepted` of a `SendReply`.
pub fn decode_send_reply(bytes: &[u8]) -> Result<u64, String> {
    let mut r = Reader::new(bytes);
    let mut accepted = 0;
    while let Some((number, value)) = r.field()? {
        if let (1, Value::Varint(v)) = (number, value) {
            accepted = v;
        }
    }
    Ok(accepted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TRADE: ProtoStream = ProtoStream {
        name: "Trades",
        attrs: &[
            ("sym", "STRING", false),
            ("qty", "INT", false),
            ("price", "DOUBLE", false),
            ("note", "STRING", true),
            ("ok", "BOOL", false),
            ("big", "LONG", false),
            ("f", "FLOAT", false),
        ],
    };
    const SCHEMA: ProtoSchema = ProtoSchema {
        inputs: &[
            ProtoStream {
                name: "Other",
                attrs: &[("x", "INT", false)],
            },
            TRADE,
        ],
        outputs: &[TRADE],
    };

    #[test]
    fn event_round_trip_and_defaults() {
        let line = br#"{"ts":7,"data":{"sym":"A\"b","qty":-3,"price":2.5,"note":null,"ok":true,"big":9000000000,"f":1.5}}"#;
        let bytes = encode_event_line(TRADE.attrs, 1, line).unwrap();
        let ev = decode_event(&SCHEMA, &bytes).unwrap();
        assert_eq!(ev.ts, Some(7));
        assert_eq!(ev.stream, 1);
        assert_eq!(ev.data, r#"["A\"b",-3,2.5,null,true,9000000000,1.5]"#);
        // Every field absent: protobuf defaults, null for the nullable one.
        let empty = [(3 << 3) | 2, 0];
        let ev = decode_event(&SCHEMA, &empty).unwrap();
        assert_eq!(ev.ts, None);
        assert_eq!(ev.data, r#"["",0,0.0,null,false,0,0.0]"#);
    }

    #[test]
    fn bad_events_are_errors() {
        assert!(decode_event(&SCHEMA, &[])
            .unwrap_err()
            .contains("no input stream"));
        assert!(decode_event(&SCHEMA, &[0x12, 5, 1]).is_err());
        assert!(decode_event(&SCHEMA, &[0xff]).is_err());
        // `qty` sent as a string.
        let bad = [(3 << 3) | 2, 3, (2 << 3) | 2, 1, b'x'];
        assert!(decode_event(&SCHEMA, &bad).unwrap_err().contains("qty"));
        assert_eq!(event_stream(&SCHEMA, &bad), Some(1));
        assert_eq!(event_stream(&SCHEMA, &[0xff]), None);
    }

    #[test]
    fn output_lines() {
        let line = br#"{"stream":"Trades","ts":5,"kind":"expired","data":{"sym":"A","qty":1,"price":1.0,"note":"n","ok":false,"big":2,"f":0.5}}"#;
        let (i, bytes) = encode_output_line(&SCHEMA, line).unwrap().unwrap();
        assert_eq!(i, 0);
        assert_eq!(&bytes[..4], &[0x08, 5, 0x10, 1]);
        let other = br#"{"stream":"Nope","ts":5,"kind":"current","data":{}}"#;
        assert_eq!(encode_output_line(&SCHEMA, other).unwrap(), None);
        assert_eq!(decode_subscribe(&[0x0a, 1, b'A']).unwrap(), vec!["A"]);
        assert_eq!(decode_send_reply(&encode_send_reply(300)).unwrap(), 300);
        let streams = decode_streams_reply(&encode_streams_reply(&SCHEMA)).unwrap();
        assert_eq!(streams[1].name, "Trades");
        assert_eq!(
            streams[1].attrs[3],
            ("note".to_string(), "STRING".to_string(), true)
        );
    }

    /// A struct as the compiler generates for `Trades` (fields in attribute order).
    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct TradeEvent {
        sym: std::sync::Arc<str>,
        qty: i32,
        price: f64,
        #[serde(default)]
        note: Option<std::sync::Arc<str>>,
        ok: bool,
        big: i64,
        f: f32,
    }

    static TRADE_STREAM: ProtoStream = TRADE;

    fn typed(bytes: &[u8]) -> Result<TradeEvent, String> {
        let (stream, _, body) = check_event(&SCHEMA, bytes)?;
        assert_eq!(stream, 1);
        decode::<TradeEvent>("Trades", ProtoData::new(&TRADE_STREAM, &body))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn events_decode_straight_into_the_apps_struct() {
        let line = br#"{"ts":7,"data":{"sym":"A\"b","qty":-3,"price":2.5,"note":"n","ok":true,"big":9000000000,"f":1.5}}"#;
        let bytes = encode_event_line(TRADE.attrs, 1, line).unwrap();
        assert_eq!(check_event(&SCHEMA, &bytes).unwrap().1, Some(7));
        let ev = typed(&bytes).unwrap();
        assert_eq!(
            ev,
            TradeEvent {
                sym: "A\"b".into(),
                qty: -3,
                price: 2.5,
                note: Some("n".into()),
                ok: true,
                big: 9_000_000_000,
                f: 1.5,
            }
        );
        // Every field absent: protobuf defaults, `None` for the nullable one.
        let ev = typed(&[(3 << 3) | 2, 0]).unwrap();
        assert_eq!((&*ev.sym, ev.qty, ev.note, ev.f), ("", 0, None, 0.0));
        // Wrong wire type, bad UTF-8 and a NaN are found by the check.
        let bad = [(3 << 3) | 2, 3, (2 << 3) | 2, 1, b'x'];
        assert!(check_event(&SCHEMA, &bad).unwrap_err().contains("qty"));
        let bad = [(3 << 3) | 2, 3, (1 << 3) | 2, 1, 0xff];
        assert!(check_event(&SCHEMA, &bad).unwrap_err().contains("UTF-8"));
        let mut bad = vec![(3 << 3) | 2, 9, (3 << 3) | 1];
        bad.extend_from_slice(&f64::NAN.to_bits().to_le_bytes());
        assert!(check_event(&SCHEMA, &bad).unwrap_err().contains("finite"));
        assert!(check_event(&SCHEMA, &[])
            .unwrap_err()
            .contains("no input stream"));
    }

    #[test]
    fn fields_out_of_order_repeated_or_unknown_are_put_in_order() {
        // qty = 2, an unknown field 40, sym = "x", qty = 7 (the last wins).
        let body = [
            (2 << 3),
            2,
            (40 << 3),
            1,
            (1 << 3) | 2,
            1,
            b'x',
            (2 << 3),
            7,
        ];
        let mut event = vec![(3 << 3) | 2, body.len() as u8];
        event.extend_from_slice(&body);
        let (_, _, ordered) = check_event(&SCHEMA, &event).unwrap();
        assert_eq!(&ordered[..], &[(1 << 3) | 2, 1, b'x', (2 << 3), 7]);
        let ev = typed(&event).unwrap();
        assert_eq!((&*ev.sym, ev.qty), ("x", 7));
        // A message not from `check_event` with its fields out of order: an error.
        let err = decode::<TradeEvent>("Trades", ProtoData::new(&TRADE_STREAM, &body));
        assert!(err.unwrap_err().to_string().contains("field order"));
    }

    proptest! {
        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_event(&SCHEMA, &bytes);
            if let Ok((1, _, body)) = check_event(&SCHEMA, &bytes) {
                prop_assert!(decode::<TradeEvent>("Trades", ProtoData::new(&TRADE_STREAM, &body)).is_ok());
            }
            let _ = decode_subscribe(&bytes);
        }

        #[test]
        fn values_round_trip(sym in ".{0,8}", qty in any::<i32>(), big in any::<i64>(), quarters in -4_000_000i64..4_000_000) {
            // Quarters: exact in binary and in short decimal text (serde_json's default float
            // parsing may be off by one unit in the last place on long fractions).
            let price = quarters as f64 / 4.0;
            let data = serde_json::json!({"sym": sym, "qty": qty, "price": price, "note": null, "ok": true, "big": big, "f": 0.25});
            let line = serde_json::json!({"ts": 1, "data": data}).to_string();
            let ev = decode_event(&SCHEMA, &encode_event_line(TRADE.attrs, 1, line.as_bytes()).unwrap()).unwrap();
            let back: serde_json::Value = serde_json::from_str(&ev.data).unwrap();
            prop_assert_eq!(back, serde_json::json!([sym, qty, price, null, true, big, 0.25]));
        }
    }
}

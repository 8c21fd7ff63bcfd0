//! `format = 'csv'` on a source: one record per line, fields in attribute order (RFC 4180
//! quoting: `"a, b"`, `""` for a quote). A record becomes the JSON array the app decodes:
//! STRING fields as JSON strings, numbers and `true`/`false` as written, an empty field as
//! NULL. A first record that lists the attribute names is a header and is skipped.

/// Splits one CSV record into its fields.
pub fn fields(record: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = record.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    field.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            ',' => {
                out.push(std::mem::take(&mut field));
                was_quoted = false;
            }
            '"' if field.is_empty() && !was_quoted => {
                quoted = true;
                was_quoted = true;
            }
            '"' => return Err("a quote inside an unquoted field".to_string()),
            _ if was_quoted => return Err("text after the closing quote of a field".to_string()),
            _ => field.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is not closed".to_string());
    }
    out.push(field);
    Ok(out)
}

/// The record as a JSON array for `schema` (attribute name, type name), or `None` when it is
/// the header (its fields are the attribute names).
pub fn to_json(record: &str, schema: &[(&str, &str)]) -> Result<Option<String>, String> {
    let values = fields(record.trim_end_matches(['\r', '\n']))?;
    if values.len() != schema.len() {
        return Err(format!(
            "{} field(s), the stream has {} attribute(s)",
            values.len(),
            schema.len()
        ));
    }
    if values
        .iter()
        .zip(schema)
        .all(|(v, (name, _))| v.trim() == *name)
    {
        return Ok(None);
    }
    let mut json = String::with_capacity(record.len() + 8);
    json.push('[');
    for (i, (value, (name, ty))) in values.iter().zip(schema).enumerate() {
        if i > 0 {
            json.push(',');
        }
        if *ty == "STRING" {
            if value.is_empty() {
                json.push_str("null");
            } else {
                json.push_str(&serde_json::to_string(value).map_err(|e| e.to_string())?);
            }
            continue;
        }
        let v = value.trim();
        if v.is_empty() {
            json.push_str("null");
            continue;
        }
        let ok = match *ty {
            "BOOL" => {
                let lower = v.to_ascii_lowercase();
                if lower == "true" || lower == "false" {
                    json.push_str(&lower);
                    continue;
                }
                false
            }
            "INT" | "LONG" => v.parse::<i64>().is_ok(),
            _ => v.parse::<f64>().is_ok_and(f64::is_finite),
        };
        if !ok {
            return Err(format!("`{name}`: `{v}` is not a {ty}"));
        }
        json.push_str(v);
    }
    json.push(']');
    Ok(Some(json))
}

/// One output line (DESIGN 5: `{"stream":..,"ts":..,"kind":..,"data":{...}}`) as a CSV
/// record of its `data` values in attribute order, appended to `out` with its newline:
/// numbers as in the JSON line (a FLOAT or DOUBLE keeps its decimal point), `true`/`false`,
/// NULL as an empty field, strings quoted when they hold a comma, a quote, a line break or
/// surrounding spaces, or are empty (so an empty string differs from NULL).
pub fn record_of_line(line: &str, out: &mut Vec<u8>) -> Result<(), String> {
    #[derive(serde::Deserialize)]
    struct Line<'a> {
        #[serde(borrow)]
        data: &'a serde_json::value::RawValue,
    }
    let parsed: Line<'_> = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let values: Ordered = serde_json::from_str(parsed.data.get()).map_err(|e| e.to_string())?;
    for (i, value) in values.0.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match value {
            serde_json::Value::Null => {}
            serde_json::Value::String(text) => {
                let quote = text.is_empty()
                    || text.contains([',', '"', '\n', '\r'])
                    || text.starts_with(' ')
                    || text.ends_with(' ');
                if quote {
                    out.push(b'"');
                    out.extend_from_slice(text.replace('"', "\"\"").as_bytes());
                    out.push(b'"');
                } else {
                    out.extend_from_slice(text.as_bytes());
                }
            }
            other => out.extend_from_slice(other.to_string().as_bytes()),
        }
    }
    out.push(b'\n');
    Ok(())
}

/// The values of a JSON object, in written order.
struct Ordered(Vec<serde_json::Value>);

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<Ordered, M::Error> {
                let mut values = Vec::new();
                while let Some((_, v)) =
                    map.next_entry::<serde::de::IgnoredAny, serde_json::Value>()?
                {
                    values.push(v);
                }
                Ok(Ordered(values))
            }
            fn visit_seq<S: serde::de::SeqAccess<'de>>(
                self,
                mut seq: S,
            ) -> Result<Ordered, S::Error> {
                let mut values = Vec::new();
                while let Some(v) = seq.next_element()? {
                    values.push(v);
                }
                Ok(Ordered(values))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// A `Write` taking output JSON lines (what the driver writes to a sink) and passing each
/// on to `inner` as a CSV record (`format = 'csv'` on a sink; see [`record_of_line`]).
pub struct CsvWriter<W: std::io::Write> {
    inner: W,
    pending: Vec<u8>,
    record: Vec<u8>,
}

impl<W: std::io::Write> CsvWriter<W> {
    /// A writer converting lines for `inner`.
    pub fn new(inner: W) -> Self {
        CsvWriter {
            inner,
            pending: Vec::new(),
            record: Vec::new(),
        }
    }
}

impl<W: std::io::Write> std::io::Write for CsvWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(bytes);
        let Some(last) = self.pending.iter().rposition(|&b| b == b'\n') else {
            return Ok(bytes.len());
        };
        let rest = self.pending.split_off(last + 1);
        let lines = std::mem::replace(&mut self.pending, rest);
        self.record.clear();
        for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let line = std::str::from_utf8(line).map_err(std::io::Error::other)?;
            record_of_line(line, &mut self.record).map_err(std::io::Error::other)?;
        }
        self.inner.write_all(&self.record)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_lines_become_records() {
        let mut out = Vec::new();
        record_of_line(
            r#"{"stream":"Out","ts":1,"kind":"current","data":{"z":1,"a":2.0,"s":"x, \"y\"","n":null,"e":"","b":true,"p":" pad"}}"#,
            &mut out,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "1,2.0,\"x, \"\"y\"\"\",,\"\",true,\" pad\"\n"
        );
        let mut w = CsvWriter::new(Vec::new());
        use std::io::Write;
        w.write_all(b"{\"stream\":\"O\",\"ts\":1,\"kind\":\"current\",\"data\":{\"a\":1}}\n{\"stream\":\"O\",")
            .unwrap();
        w.write_all(b"\"ts\":2,\"kind\":\"expired\",\"data\":{\"a\":-5}}\n")
            .unwrap();
        assert_eq!(w.inner, b"1\n-5\n");
        assert!(w.write_all(b"not json\n").is_err());
    }

    const SCHEMA: &[(&str, &str)] = &[
        ("sym", "STRING"),
        ("price", "DOUBLE"),
        ("qty", "INT"),
        ("ok", "BOOL"),
    ];

    #[test]
    fn records_become_json_arrays() {
        assert_eq!(
            to_json("IBM,75.5,100,true", SCHEMA).unwrap().unwrap(),
            r#"["IBM",75.5,100,true]"#
        );
        assert_eq!(
            to_json("\"A, \"\"B\"\"\",1e3,-2,FALSE\r\n", SCHEMA)
                .unwrap()
                .unwrap(),
            r#"["A, \"B\"",1e3,-2,false]"#
        );
        assert_eq!(
            to_json(",,,", SCHEMA).unwrap().unwrap(),
            "[null,null,null,null]"
        );
        assert_eq!(to_json("sym,price,qty,ok", SCHEMA).unwrap(), None);
    }

    #[test]
    fn bad_records_say_why() {
        assert!(to_json("IBM,x,1,true", SCHEMA)
            .unwrap_err()
            .contains("`price`"));
        assert!(to_json("IBM,1", SCHEMA).unwrap_err().contains("2 field(s)"));
        assert!(to_json("\"IBM,1,2,true", SCHEMA).is_err());
        assert!(to_json("I\"BM,1,2,true", SCHEMA).is_err());
        assert!(to_json("IBM,1,2,maybe", SCHEMA).is_err());
    }
}

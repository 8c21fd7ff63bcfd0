//! The app's own sources (`WITH (type = 'source', extension = 'file', "file.path" = ...)`):
//! each file holds the events of one stream, one per line — either a full envelope
//! (`{"ts": 1000, "data": {...}}`, the `stream` key optional) or just the data (an object or
//! an array in attribute order). The files are merged by time into one JSON-lines input.

use std::io::{BufRead, BufReader, Cursor, Read};

use serde_json::value::RawValue;

use super::Failure;

#[derive(serde::Deserialize)]
struct Envelope<'a> {
    ts: Option<i64>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

/// Reads every source and merges their events by `ts` (stable: within one time, sources in
/// declaration order, lines in file order). A line without `ts` takes the previous line's.
pub(super) fn merge(sources: &[(&str, &str)]) -> Result<Box<dyn Read + Send>, Failure> {
    let mut events: Vec<(i64, usize, String)> = Vec::new();
    for (stream, path) in sources {
        let reader = super::args::open_input(path)?;
        let mut last_ts = 0;
        for (n, line) in BufReader::new(reader).lines().enumerate() {
            let line = line.map_err(|e| Failure::runtime(format!("cannot read `{path}`: {e}")))?;
            if line.trim().is_empty() {
                continue;
            }
            let (ts, data) = match serde_json::from_str::<Envelope<'_>>(&line) {
                Ok(Envelope {
                    ts,
                    data: Some(data),
                }) => (ts, data.get().to_owned()),
                _ => (None, line.trim().to_owned()),
            };
            let ts = ts.unwrap_or(last_ts);
            last_ts = ts;
            let stream = serde_json::to_string(stream).unwrap_or_default();
            let envelope = format!("{{\"stream\":{stream},\"ts\":{ts},\"data\":{data}}}");
            events.push((ts, n, envelope));
        }
    }
    events.sort_by_key(|(ts, _, _)| *ts);
    let mut text = String::new();
    for (_, _, line) in events {
        text.push_str(&line);
        text.push('\n');
    }
    Ok(Box::new(Cursor::new(text.into_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn merges_sources_by_time() {
        let dir = std::env::temp_dir().join(format!("ef-sources-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let a = dir.join("a.jsonl");
        let b = dir.join("b.jsonl");
        std::fs::write(
            &a,
            "{\"ts\": 10, \"data\": {\"x\": 1}}\n{\"ts\": 30, \"data\": [2]}\n",
        )
        .expect("a");
        std::fs::write(&b, "{\"ts\": 20, \"data\": {\"y\": 1}}\n{\"y\": 5}\n").expect("b");
        let (a, b) = (a.display().to_string(), b.display().to_string());
        let mut merged = String::new();
        merge(&[("A", &a), ("B", &b)])
            .expect("merge")
            .read_to_string(&mut merged)
            .expect("read");
        let lines: Vec<&str> = merged.lines().collect();
        assert_eq!(
            lines,
            [
                r#"{"stream":"A","ts":10,"data":{"x": 1}}"#,
                r#"{"stream":"B","ts":20,"data":{"y": 1}}"#,
                r#"{"stream":"B","ts":20,"data":{"y": 5}}"#,
                r#"{"stream":"A","ts":30,"data":[2]}"#,
            ]
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}

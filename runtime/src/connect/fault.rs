//! Fault streams (DESIGN 8.2): with `'on.error' = 'fault'` on a source of stream `Name`, a
//! message the app cannot decode becomes an event of `!Name` — `Name`'s attributes, those
//! that could be decoded with their values and the rest NULL, then `_error STRING` with the
//! reason. Queries read `!Name` like any stream; a sink on it is a dead-letter queue.
//!
//! ```
//! use eventflux_runtime::connect::fault::fault_data;
//!
//! let schema = [("id", "LONG"), ("sym", "STRING"), ("qty", "INT")];
//! assert_eq!(
//!     fault_data(r#"{"id": 7, "sym": 3, "qty": 5}"#, false, &schema, "`sym`: not a STRING"),
//!     r#"[7,null,5,"`sym`: not a STRING"]"#
//! );
//! ```

use serde_json::Value;

/// The name of the fault stream of `stream`.
pub fn fault_stream(stream: &str) -> String {
    format!("!{stream}")
}

/// Whether `value` fits an attribute of type `ty` (a type name: `INT`, `LONG`, ...).
fn fits(value: &Value, ty: &str) -> bool {
    match ty {
        "INT" => value.as_i64().is_some_and(|v| i32::try_from(v).is_ok()),
        "LONG" | "TIMESTAMP" => value.as_i64().is_some(),
        "FLOAT" | "DOUBLE" => value.is_number(),
        "STRING" => value.is_string(),
        "BOOL" => value.is_boolean(),
        _ => false,
    }
}

/// One CSV field as the JSON value of an attribute of type `ty`, `None` when it is not one.
fn csv_value(field: &str, ty: &str) -> Option<Value> {
    if ty == "STRING" {
        return (!field.is_empty()).then(|| Value::String(field.to_owned()));
    }
    let v = field.trim();
    match ty {
        "BOOL" => match v.to_ascii_lowercase().as_str() {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        "INT" | "LONG" | "TIMESTAMP" => v.parse::<i64>().ok().map(Value::from),
        _ => v
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
    }
    .filter(|value| fits(value, ty))
}

/// The data of the `!Name` event for a message of a stream with attributes `schema` (name,
/// type name) that could not be decoded: a JSON array in attribute order holding each
/// attribute the message gives with a value of the right type (others NULL), then `reason`.
/// `message` is the message's data (a JSON object or array), or a CSV record when `csv`;
/// anything else leaves every attribute NULL.
pub fn fault_data(message: &str, csv: bool, schema: &[(&str, &str)], reason: &str) -> String {
    let mut values: Vec<Value> = vec![Value::Null; schema.len()];
    if csv {
        if let Ok(fields) = super::csv::fields(message.trim_end_matches(['\r', '\n'])) {
            for ((slot, (_, ty)), field) in values.iter_mut().zip(schema).zip(&fields) {
                if let Some(v) = csv_value(field, ty) {
                    *slot = v;
                }
            }
        }
    } else {
        match serde_json::from_str::<Value>(message) {
            Ok(Value::Object(map)) => {
                for (slot, (name, ty)) in values.iter_mut().zip(schema) {
                    if let Some(v) = map.get(*name).filter(|v| fits(v, ty)) {
                        *slot = v.clone();
                    }
                }
            }
            Ok(Value::Array(items)) => {
                for ((slot, (_, ty)), v) in values.iter_mut().zip(schema).zip(&items) {
                    if fits(v, ty) {
                        *slot = v.clone();
                    }
                }
            }
            _ => {}
        }
    }
    values.push(Value::String(reason.to_owned()));
    Value::Array(values).to_string()
}

/// The `!Name` event for an undecodable message of `stream` (see [`fault_data`]), decoded
/// by the app's `decode`; when a kept value still does not decode (say, a number too large
/// for a FLOAT), every attribute is NULL. `None` when the app has no fault stream for `stream`.
pub fn fault_event<I>(
    stream: &str,
    message: &str,
    csv: bool,
    schema: &[(&str, &str)],
    reason: &str,
    mut decode: impl FnMut(&str, &str) -> Result<I, crate::DecodeError>,
) -> Option<I> {
    if schema.is_empty() {
        return None;
    }
    let name = fault_stream(stream);
    decode(&name, &fault_data(message, csv, schema, reason))
        .or_else(|_| decode(&name, &fault_data("", false, schema, reason)))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &[(&str, &str)] = &[
        ("id", "LONG"),
        ("sym", "STRING"),
        ("qty", "INT"),
        ("price", "DOUBLE"),
        ("ok", "BOOL"),
    ];

    #[test]
    fn keeps_what_decodes_from_objects_and_arrays() {
        assert_eq!(
            fault_data(
                r#"{"id": 1, "sym": "A", "qty": 3000000000, "price": "x", "ok": true}"#,
                false,
                SCHEMA,
                "bad"
            ),
            r#"[1,"A",null,null,true,"bad"]"#
        );
        assert_eq!(
            fault_data(r#"[2, null, 4, 1.5]"#, false, SCHEMA, "r"),
            r#"[2,null,4,1.5,null,"r"]"#
        );
    }

    #[test]
    fn garbage_leaves_every_attribute_null() {
        assert_eq!(
            fault_data("not json {", false, SCHEMA, "oops \"q\""),
            r#"[null,null,null,null,null,"oops \"q\""]"#
        );
        assert_eq!(fault_data("", false, &[], "r"), r#"["r"]"#);
    }

    #[test]
    fn csv_records_keep_their_good_fields() {
        assert_eq!(
            fault_data("5,\"B, C\",x,2.5,maybe", true, SCHEMA, "r"),
            r#"[5,"B, C",null,2.5,null,"r"]"#
        );
        assert_eq!(
            fault_data("\"unclosed,1", true, SCHEMA, "r"),
            r#"[null,null,null,null,null,"r"]"#
        );
    }
}

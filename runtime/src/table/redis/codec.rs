//! How a row and its primary key become Redis data, and back.
//!
//! A row is a hash with one field per column whose value is not NULL (a NULL column is an
//! absent field). Values are text: a STRING as it is, a number in Rust's shortest
//! round-tripping form (`75.5`, `100`), a BOOL as `true` / `false`. Reading a hash back
//! parses each field as its column's type (the generated row struct's `Deserialize` asks
//! for the type it needs), so a hash written by another program with the same columns reads
//! back too.
//!
//! The key of a row is `<prefix>:<table>:<key part>[:<key part>...]`, one part per
//! primary-key column, each written like a field value with `\` escaped as `\\` and `:` as
//! `\:`; a NULL part is `\N`. Float parts come already normalised (`-0.0` as `0.0`) from the
//! generated key.

use serde::de::value::{Error as ValueError, MapDeserializer};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::Serialize;
use serde_json::Value;

/// The fields of `row` (a struct serialized as a map), NULL columns left out.
pub(super) fn encode_row<R: Serialize>(row: &R) -> Result<Vec<(String, String)>, String> {
    match serde_json::to_value(row).map_err(|e| e.to_string())? {
        Value::Object(map) => Ok(map
            .into_iter()
            .filter_map(|(k, v)| field_text(&v).map(|t| (k, t)))
            .collect()),
        other => Err(format!("a row must be a struct, not `{other}`")),
    }
}

/// The text of one value; `None` for NULL.
fn field_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

/// The key suffix (after `<prefix>:<table>:`) of primary key `key`.
pub(super) fn encode_key<K: Serialize>(key: &K) -> Result<String, String> {
    let value = serde_json::to_value(key).map_err(|e| e.to_string())?;
    let parts = match value {
        Value::Array(parts) => parts,
        single => vec![single],
    };
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        match field_text(part) {
            None => out.push_str("\\N"),
            Some(text) => {
                for c in text.chars() {
                    if c == '\\' || c == ':' {
                        out.push('\\');
                    }
                    out.push(c);
                }
            }
        }
    }
    Ok(out)
}

/// `text` with the glob characters of Redis `MATCH` patterns escaped.
pub(super) fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The row stored in the fields `fields` of a hash.
pub(super) fn decode_row<R: DeserializeOwned>(fields: &[(String, String)]) -> Result<R, String> {
    let map = MapDeserializer::<_, ValueError>::new(
        fields
            .iter()
            .map(|(k, v)| (k.as_str(), FieldText(v.as_str()))),
    );
    R::deserialize(map).map_err(|e| e.to_string())
}

/// The text of one hash field, deserialized as whatever type the row's column has.
struct FieldText<'a>(&'a str);

impl<'a> IntoDeserializer<'a, ValueError> for FieldText<'a> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl FieldText<'_> {
    fn parse<T: std::str::FromStr>(&self, what: &str) -> Result<T, ValueError> {
        self.0
            .trim()
            .parse()
            .map_err(|_| de::Error::custom(format_args!("`{}` is not {what}", self.0)))
    }
}

/// One `deserialize_<int>` method parsing the text as that type.
macro_rules! parse_as {
    ($($method:ident => $visit:ident: $ty:ty, $what:literal;)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
            visitor.$visit(self.parse::<$ty>($what)?)
        })*
    };
}

impl<'de> de::Deserializer<'de> for FieldText<'de> {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_borrowed_str(self.0)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.0.trim() {
            "true" | "TRUE" | "True" | "1" => visitor.visit_bool(true),
            "false" | "FALSE" | "False" | "0" => visitor.visit_bool(false),
            _ => Err(de::Error::custom(format_args!(
                "`{}` is not a BOOL",
                self.0
            ))),
        }
    }

    parse_as! {
        deserialize_i8 => visit_i8: i8, "an integer";
        deserialize_i16 => visit_i16: i16, "an integer";
        deserialize_i32 => visit_i32: i32, "an INT";
        deserialize_i64 => visit_i64: i64, "a LONG";
        deserialize_u8 => visit_u8: u8, "an integer";
        deserialize_u16 => visit_u16: u16, "an integer";
        deserialize_u32 => visit_u32: u32, "an integer";
        deserialize_u64 => visit_u64: u64, "an integer";
        deserialize_f32 => visit_f32: f32, "a FLOAT";
        deserialize_f64 => visit_f64: f64, "a DOUBLE";
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        i128 u128 char str string bytes byte_buf unit unit_struct seq tuple tuple_struct map
        struct enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Row {
        #[serde(default)]
        symbol: Option<Arc<str>>,
        #[serde(default)]
        price: Option<f64>,
        volume: i64,
        #[serde(default)]
        live: Option<bool>,
    }

    #[test]
    fn rows_round_trip_with_nulls_left_out() {
        let row = Row {
            symbol: Some("12".into()),
            price: None,
            volume: -3,
            live: Some(true),
        };
        let mut fields = encode_row(&row).unwrap();
        fields.sort();
        assert_eq!(
            fields,
            [
                ("live".to_string(), "true".to_string()),
                ("symbol".into(), "12".into()),
                ("volume".into(), "-3".into()),
            ]
        );
        assert_eq!(decode_row::<Row>(&fields).unwrap(), row);
    }

    #[test]
    fn bad_field_text_is_an_error_naming_the_value() {
        let fields = [("volume".to_string(), "many".to_string())];
        let err = decode_row::<Row>(&fields).unwrap_err();
        assert!(err.contains("`many` is not a LONG"), "{err}");
        let missing = decode_row::<Row>(&[]).unwrap_err();
        assert!(missing.contains("volume"), "{missing}");
    }

    #[test]
    fn keys_escape_separators_and_mark_null() {
        let key: (Option<Arc<str>>, Option<f64>, Option<i32>) =
            (Some("a:b\\c".into()), Some(1.5), None);
        assert_eq!(encode_key(&key).unwrap(), "a\\:b\\\\c:1.5:\\N");
        assert_eq!(encode_key(&(Some(7i64),)).unwrap(), "7");
        assert_eq!(glob_escape("p*:T[1]"), "p\\*:T\\[1\\]");
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

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

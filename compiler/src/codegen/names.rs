//! Rust names for streams, attributes and queries.

use proc_macro2::{Ident, Span};

/// Rust keywords that cannot be plain identifiers.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "static", "struct", "trait", "true", "type", "unsafe", "use", "where",
    "while", "abstract", "become", "box", "do", "final", "gen", "macro", "override", "priv", "try",
    "typeof", "unsized", "virtual", "yield",
];

/// `avgPrice` -> `avg_price`, `HTTPCode` -> `http_code`.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if i > 0
                && (prev_lower || (next_lower && chars[i - 1].is_uppercase()))
                && !out.ends_with('_')
            {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else if c.is_alphanumeric() || c == '_' {
            out.push(c);
        } else {
            out.push('_');
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// `trades` -> `Trades`, `big_trades` -> `BigTrades`.
pub fn camel_case(name: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in name.chars() {
        if c == '_' || !c.is_alphanumeric() {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'S');
    }
    out
}

/// An identifier, raw (`r#type`) when `name` is a keyword.
pub fn ident(name: &str) -> Ident {
    if KEYWORDS.contains(&name) {
        Ident::new_raw(name, Span::call_site())
    } else {
        Ident::new(name, Span::call_site())
    }
}

/// Names that the generated module defines itself; a stream struct may not take them.
const RESERVED_TYPES: &[&str] = &["App", "Output", "Input", "Self", "Option", "Some", "None"];

/// Unique Rust names for a list of source names, made by `convert` and de-duplicated with a
/// numeric suffix.
pub fn unique(names: &[&str], convert: fn(&str) -> String, reserved: &[&str]) -> Vec<String> {
    let mut taken: Vec<String> = reserved.iter().map(|s| s.to_string()).collect();
    names
        .iter()
        .map(|n| {
            let base = convert(n);
            let mut candidate = base.clone();
            let mut i = 2;
            while taken.contains(&candidate) {
                candidate = format!("{base}{i}");
                i += 1;
            }
            taken.push(candidate.clone());
            candidate
        })
        .collect()
}

/// Struct names for streams.
pub fn struct_names(streams: &[&str]) -> Vec<String> {
    unique(streams, camel_case, RESERVED_TYPES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_cases() {
        assert_eq!(snake_case("avgPrice"), "avg_price");
        assert_eq!(snake_case("HTTPCode"), "http_code");
        assert_eq!(snake_case("price2"), "price2");
        assert_eq!(snake_case("Big"), "big");
        assert_eq!(camel_case("big_trades"), "BigTrades");
        assert_eq!(struct_names(&["App", "app"]), vec!["App2", "App3"]);
        assert_eq!(ident("type").to_string(), "r#type");
    }
}

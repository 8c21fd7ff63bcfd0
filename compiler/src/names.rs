//! Rust names for streams, attributes, queries and pattern aliases.
//!
//! Users may name things anything (`"quoted"` identifiers are any text): every name maps to
//! a Rust identifier that is valid, warning-free (ASCII, snake_case or CamelCase as its
//! place wants) and cannot collide with what the generated code declares itself:
//! - generated locals start with `__ef_`, generated types and generic parameters with `__Ef`;
//!   user names never map to a name starting with two underscores;
//! - attribute fields are snake_case, raw (`r#type`) when a keyword, with a `_` suffix when
//!   the keyword cannot be raw (`self_`, `Self` -> `self_`, `super_`, `crate_`, `_` -> `__`);
//! - stream structs are CamelCase and avoid the generated `App`, `Input`, `Output` and the
//!   prelude's names (`Option`, `Vec`, ... get a numeric suffix);
//! - names that collide after conversion (`avgPrice` and `avg_price`) get numeric suffixes.
//!
//! JSON field names stay the user's (`#[serde(rename)]` where they differ), and the `Output`
//! trait's methods are `on_<snake_case stream name>`.

use proc_macro2::{Ident, Span};

/// Rust keywords (strict and reserved, every edition) that can be raw identifiers.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "dyn", "else", "enum", "extern", "false",
    "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref",
    "return", "static", "struct", "trait", "true", "type", "unsafe", "use", "where", "while",
    "abstract", "become", "box", "do", "final", "gen", "macro", "override", "priv", "try",
    "typeof", "unsized", "virtual", "yield",
];

/// Keywords that cannot be raw identifiers (`r#self` is rejected): they get a `_` suffix.
const NOT_RAW: &[&str] = &["self", "Self", "super", "crate", "_"];

/// Names that the generated module defines or uses unqualified, and the prelude's names
/// (a struct named `Vec` or `Option` would shadow them): a stream struct may not take them.
const RESERVED_TYPES: &[&str] = &[
    "App",
    "Output",
    "Input",
    "Self",
    "Option",
    "Some",
    "None",
    "Result",
    "Ok",
    "Err",
    "Vec",
    "String",
    "Box",
    "ToString",
    "ToOwned",
    "Clone",
    "Copy",
    "Send",
    "Sync",
    "Sized",
    "Unpin",
    "Drop",
    "Fn",
    "FnMut",
    "FnOnce",
    "PartialEq",
    "PartialOrd",
    "Eq",
    "Ord",
    "AsRef",
    "AsMut",
    "Into",
    "From",
    "Default",
    "Iterator",
    "IntoIterator",
    "Extend",
    "DoubleEndedIterator",
    "ExactSizeIterator",
    "TryFrom",
    "TryInto",
    "FromIterator",
    "Debug",
    "Hash",
    "Serialize",
    "Deserialize",
];

/// Appends the ASCII form of `c` to `out`: itself when ASCII, else `u<hex code>` (Rust
/// accepts some non-ASCII identifiers, but lints warn on them and some are invalid).
fn push_ascii(out: &mut String, c: char) {
    if c.is_ascii() {
        out.push(c);
    } else {
        out.push_str(&format!("u{:x}", c as u32));
    }
}

/// `avgPrice` -> `avg_price`, `HTTPCode` -> `http_code`: ASCII lowercase letters, digits and
/// single underscores (a leading one kept: `_id` stays `_id`, `__x` becomes `_x`), never
/// starting with a digit (`1x` -> `_1x`), never empty (`""` -> `_`). Other characters
/// become `_`, non-ASCII letters `u<hex code>`.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if i > 0 && (prev_lower || (next_lower && chars[i - 1].is_uppercase())) {
                out.push('_');
            }
            for l in c.to_lowercase() {
                push_ascii(&mut out, l);
            }
        } else if c.is_alphanumeric() {
            push_ascii(&mut out, c);
        } else {
            out.push('_');
        }
    }
    // Single underscores only: rustc's snake_case lint rejects `a__b`.
    let mut collapsed = String::with_capacity(out.len());
    for c in out.chars() {
        if !(c == '_' && collapsed.ends_with('_')) {
            collapsed.push(c);
        }
    }
    if collapsed.is_empty() || collapsed.starts_with(|c: char| c.is_ascii_digit()) {
        collapsed.insert(0, '_');
    }
    collapsed
}

/// `trades` -> `Trades`, `big_trades` -> `BigTrades`: ASCII letters and digits, starting
/// with an uppercase letter (`1x` -> `S1x`, `""` -> `S`).
pub fn camel_case(name: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in name.chars() {
        if c == '_' || !c.is_alphanumeric() {
            upper = true;
        } else if upper {
            for u in c.to_uppercase() {
                push_ascii(&mut out, u);
            }
            upper = false;
        } else {
            push_ascii(&mut out, c);
        }
    }
    if out.is_empty() || !out.starts_with(|c: char| c.is_ascii_uppercase()) {
        out.insert(0, 'S');
    }
    out
}

/// An identifier for `name` (which must be an identifier or a keyword): raw (`r#type`) when
/// `name` is a keyword, `name_` when it is one that cannot be raw (`self_`). Never panics:
/// anything else that is not an identifier is first made one by [`snake_case`].
pub fn ident(name: &str) -> Ident {
    if NOT_RAW.contains(&name) {
        Ident::new(&format!("{name}_"), Span::call_site())
    } else if KEYWORDS.contains(&name) {
        Ident::new_raw(name, Span::call_site())
    } else if is_ident(name) {
        Ident::new(name, Span::call_site())
    } else {
        ident(&snake_case(name))
    }
}

/// `true` when `s` is an ASCII identifier (`[A-Za-z_][A-Za-z0-9_]*`, not `_`).
fn is_ident(s: &str) -> bool {
    s != "_"
        && s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The field name of an attribute (or pattern alias): [`snake_case`], with a `_` suffix for
/// the keywords that cannot be raw (the raw prefix of other keywords comes with [`ident`]).
pub fn field_name(name: &str) -> String {
    let s = snake_case(name);
    if NOT_RAW.contains(&s.as_str()) {
        format!("{s}_")
    } else {
        s
    }
}

/// Field identifiers for the attributes `names` of one struct: [`field_name`], made unique.
pub fn field_idents(names: &[&str]) -> Vec<Ident> {
    unique(names, field_name, &[])
        .iter()
        .map(|f| ident(f))
        .collect()
}

/// The snake_case base of the methods named after a stream (`send_<base>`, `on_<base>`):
/// [`snake_case`] without leading or trailing underscores (`x` for a name without letters or
/// digits), so that `on_<base>` keeps single underscores.
pub fn method_base(name: &str) -> String {
    let s = snake_case(name);
    let s = s.trim_matches('_');
    if s.is_empty() {
        "x".to_string()
    } else {
        s.to_string()
    }
}

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

/// The bases of the query names (`query_<base>`, `query_<base>_window`, type
/// `__EfQuery<Base>Event`, ...): [`method_base`] of each query's name, chosen so that no name
/// derived from one query can equal one derived from another: the bases differ, none is
/// another's followed by `_` (`a` and `a_owned` would both give `query_a_owned`), and likewise
/// for their CamelCase forms (`a1` and `a_1` are both `QueryA1`). A base that would break the
/// rule loses its underscores and takes a numeric suffix (`a_owned` -> `aowned2`).
pub fn query_bases(names: &[&str]) -> Vec<String> {
    let camel = |b: &str| camel_case(&format!("query_{b}"));
    let clash = |a: &str, b: &str| {
        let (ca, cb) = (camel(a), camel(b));
        let prefixed =
            |x: &str, y: &str| x.strip_prefix(y).is_some_and(|rest| rest.starts_with('_'));
        let camel_prefixed = |x: &str, y: &str| {
            x.strip_prefix(y)
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()))
        };
        a == b
            || ca == cb
            || prefixed(a, b)
            || prefixed(b, a)
            || camel_prefixed(&ca, &cb)
            || camel_prefixed(&cb, &ca)
    };
    let mut taken: Vec<String> = Vec::new();
    for n in names {
        let base = method_base(n);
        let mut candidate = base.clone();
        let squashed: String = base.chars().filter(|&c| c != '_').collect();
        let mut i = 2;
        while taken.iter().any(|t| clash(t, &candidate)) {
            candidate = format!("{squashed}{i}");
            i += 1;
        }
        taken.push(candidate);
    }
    taken
}

/// The name of a type generated for query method `method` (`query_a` -> `__EfQueryA`), to
/// which the generator appends its own suffix (`Event`, `Aggregates`, ...). No stream struct
/// starts with an underscore, so none can equal it.
pub fn generated_type(method: &str) -> String {
    format!("__Ef{}", camel_case(method))
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

    #[test]
    fn snake_case_is_ascii_single_underscored_and_never_empty() {
        assert_eq!(snake_case(""), "_");
        assert_eq!(snake_case("_"), "_");
        assert_eq!(snake_case("__ef_group"), "_ef_group");
        assert_eq!(snake_case("a__b"), "a_b");
        assert_eq!(snake_case("a b-c"), "a_b_c");
        assert_eq!(snake_case("1x"), "_1x");
        assert_eq!(snake_case("_id"), "_id");
        assert_eq!(snake_case("é"), "ue9");
        assert_eq!(snake_case("名前"), "u540du524d");
        assert_eq!(snake_case("x²"), "xub2");
        assert_eq!(snake_case("Self"), "self");
    }

    #[test]
    fn keywords_become_raw_or_suffixed() {
        for k in KEYWORDS {
            assert_eq!(ident(k).to_string(), format!("r#{k}"));
        }
        assert_eq!(ident("self").to_string(), "self_");
        assert_eq!(ident("Self").to_string(), "Self_");
        assert_eq!(ident("crate").to_string(), "crate_");
        assert_eq!(ident("super").to_string(), "super_");
        assert_eq!(ident("_").to_string(), "__");
        assert_eq!(field_name("self"), "self_");
        assert_eq!(field_name("Self"), "self_");
        assert_eq!(field_name("_"), "__");
        assert_eq!(field_name("crate"), "crate_");
        assert_eq!(field_name("type"), "type");
    }

    #[test]
    fn ident_never_panics() {
        let hostile = [
            "",
            " ",
            "_",
            "__",
            "1",
            "1a",
            "a b",
            "é",
            "名前",
            "x²",
            "r#x",
            "a-b",
            "'",
            "\"",
            "::",
            "self",
            "Self",
            "crate",
            "super",
            "fn",
            "match",
            "async",
            "type",
            "ref",
            "impl",
            "mod",
            "partition",
            "\u{0}",
            "🦀",
            "A\u{301}",
        ];
        for h in hostile {
            let i = ident(h);
            // The identifier parses back as one (syn rejects invalid identifiers).
            syn::parse_str::<syn::Ident>(&i.to_string())
                .unwrap_or_else(|e| panic!("{h:?} -> {i}: {e}"));
            let _ = field_idents(&[h, h]);
            let _ = ident(&camel_case(h));
            let _ = ident(&format!("on_{}", method_base(h)));
        }
    }

    #[test]
    fn fields_collide_only_with_suffixes() {
        let f = field_idents(&["avgPrice", "avg_price", "AvgPrice", "self", "Self", "self_"]);
        let f: Vec<String> = f.iter().map(|i| i.to_string()).collect();
        assert_eq!(
            f,
            [
                "avg_price",
                "avg_price2",
                "avg_price3",
                "self_",
                "self_2",
                "self_3"
            ]
        );
    }

    #[test]
    fn struct_names_avoid_generated_and_prelude_names() {
        let names = struct_names(&[
            "O", "S", "Input", "Output", "App", "Event", "Self", "Option", "Some", "None", "Vec",
            "String", "Box", "Result", "Ok", "Err", "",
        ]);
        assert_eq!(
            names,
            [
                "O", "S", "Input2", "Output2", "App2", "Event", "Self2", "Option2", "Some2",
                "None2", "Vec2", "String2", "Box2", "Result2", "Ok2", "Err2", "S2"
            ]
        );
        for n in names {
            assert!(!n.starts_with('_'), "{n}");
        }
    }

    #[test]
    fn method_bases_keep_single_underscores() {
        assert_eq!(method_base("_x"), "x");
        assert_eq!(method_base("x_"), "x");
        assert_eq!(method_base("_"), "x");
        assert_eq!(method_base("avgPrice"), "avg_price");
        assert_eq!(method_base("Self"), "self");
    }

    #[test]
    fn query_bases_derive_disjoint_names() {
        let b = query_bases(&["a", "a_owned", "a1", "a_1", "A", "", "_", "x y", "query_1"]);
        assert_eq!(
            b,
            ["a", "aowned2", "a1", "a12", "a2", "x", "x2", "xy2", "query_1"]
        );
        // No derived method or type name of one query equals another's.
        let suffixes = ["", "_owned", "_window", "_input_0", "_advance"];
        let mut seen = std::collections::HashSet::new();
        for base in &b {
            for s in suffixes {
                assert!(seen.insert(format!("query_{base}{s}")), "{base}{s}");
            }
            for s in ["Event", "Aggregates", "Pattern"] {
                assert!(
                    seen.insert(format!("{}{s}", generated_type(&format!("query_{base}")))),
                    "{base}{s}"
                );
            }
        }
    }
}

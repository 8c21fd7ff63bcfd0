//! Scalar functions called by generated code (docs/functions.md#scalar-functions).
//!
//! Conventions: every argument is an `Option` taken by value and every result is an
//! `Option`; a NULL argument gives a NULL result (docs/semantics.md#null). String arguments are generic
//! (`Option<&str>`, `Option<Arc<str>>`, ...: anything `AsRef<str>`), string results are
//! `Option<Arc<str>>`. Function names are the SQL names in lower case; where one SQL name
//! has several Rust forms the others carry a suffix (`substring_from`, `round_f32`).
//!
//! ```
//! use std::sync::Arc;
//! use eventflux_runtime::functions::{concat, like, round, upper};
//!
//! let sym: Option<Arc<str>> = Some("ibm".into());
//! assert_eq!(upper(sym.clone()).as_deref(), Some("IBM"));
//! assert_eq!(concat(sym, Some("-x")).as_deref(), Some("ibm-x"));
//! assert_eq!(upper(None::<&str>), None);
//! assert_eq!(like(Some("IBM"), Some("I%")), Some(true));
//! assert_eq!(round(Some(-2.5)), Some(-2));
//! ```

mod convert;
mod like;
mod math;
mod string;

pub use convert::{
    f32_to_i32, f32_to_i64, f32_to_string, f64_to_i32, f64_to_i64, f64_to_string, parse_bool,
    parse_f32, parse_f64, parse_i32, parse_i64, to_string_display,
};
pub use like::{like, not_like, LikePattern};
pub use math::{
    abs, acos, asin, atan, ceil, cos, exp, floor, ln, log10, power, round, round_f32, signum, sin,
    sqrt, tan, Abs,
};
pub use string::{
    concat, left, length, lower, lpad, position, replace, reverse, right, rpad, substring,
    substring_from, trim, upper,
};

use std::collections::hash_map::RandomState;
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// 64 pseudo-random bits: SipHash, keyed randomly once per process, of a global counter.
fn random_u64() -> u64 {
    static KEYS: OnceLock<RandomState> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = KEYS.get_or_init(RandomState::new).build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// `uuid()`: a random (version 4) UUID such as `1b4e28ba-2fa1-41d2-883f-0016d3cca427`.
///
/// The bits come from the standard library's randomly keyed SipHash over a counter: unique
/// and unpredictable enough for identifiers, not for cryptography. Never NULL.
pub fn uuid() -> Option<Arc<str>> {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&random_u64().to_le_bytes());
    bytes[8..].copy_from_slice(&random_u64().to_le_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
    let mut s = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        // Writing into a String cannot fail.
        let _ = write!(s, "{b:02x}");
    }
    Some(s.into())
}

/// The wall-clock time in milliseconds since the Unix epoch (`now()` and the wall clock).
pub fn now_millis() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn uuids_are_v4_and_distinct() {
        let ids: Vec<Arc<str>> = (0..1000).map(|_| uuid().unwrap()).collect();
        for id in &ids {
            assert_eq!(id.len(), 36);
            let parts: Vec<&str> = id.split('-').collect();
            assert_eq!(
                parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12]
            );
            assert!(id
                .chars()
                .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
            assert_eq!(&parts[2][..1], "4");
            assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "{id}");
        }
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());
    }

    #[test]
    fn now_is_after_2020_and_monotonic_enough() {
        let a = now_millis();
        let b = now_millis();
        assert!(a > 1_577_836_800_000, "{a}");
        assert!(b >= a);
    }
}

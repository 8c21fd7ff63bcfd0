//! A 6-field cron expression (`sec min hour day-of-month month day-of-week`, UTC) and its
//! next fire time, for `WINDOW('cron', ...)` and `CREATE TRIGGER ... AT CRON`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a cron expression was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    /// Not exactly six whitespace-separated fields.
    #[error(
        "a cron expression has 6 fields (sec min hour day-of-month month day-of-week), found {0}"
    )]
    FieldCount(usize),
    /// A field that does not parse or is out of range.
    #[error("bad {field} field `{text}`: {reason}")]
    Field {
        /// Which field (`second`, `minute`, ...).
        field: &'static str,
        /// The field's text.
        text: String,
        /// What is wrong.
        reason: String,
    },
}

/// One field's allowed values as a bit set (bit `v` set when `v` matches).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Bits(u64);

impl Bits {
    fn has(self, v: u32) -> bool {
        v < 64 && self.0 & (1 << v) != 0
    }
    /// The smallest allowed value `>= v`.
    fn next_from(self, v: u32) -> Option<u32> {
        if v >= 64 {
            return None;
        }
        let rest = self.0 >> v;
        (rest != 0).then(|| v + rest.trailing_zeros())
    }
}

/// `(name, min, max, names)` of each field, in order.
const FIELDS: [(&str, u32, u32, &[&str]); 6] = [
    ("second", 0, 59, &[]),
    ("minute", 0, 59, &[]),
    ("hour", 0, 23, &[]),
    ("day-of-month", 1, 31, &[]),
    (
        "month",
        1,
        12,
        &[
            "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
        ],
    ),
    (
        "day-of-week",
        1,
        7,
        &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    ),
];

/// A parsed cron schedule. Fields accept `*`, `?` (same as `*`), numbers, names (`JAN`..`DEC`,
/// `SUN`..`SAT`), ranges `a-b`, steps `*/n` and `a-b/n` and `a/n`, and lists `a,b,...`.
/// Day-of-week follows Quartz (which Siddhi uses): 1 = Sunday ... 7 = Saturday. When both
/// day fields are restricted a day matching either fires (classic cron). Times are UTC.
///
/// ```
/// use eventflux_runtime::window::CronSchedule;
/// let every_5s = CronSchedule::parse("*/5 * * * * ?").unwrap();
/// assert_eq!(every_5s.next_after(12_300), Some(15_000));
/// assert_eq!(every_5s.next_after(15_000), Some(20_000));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CronSchedule {
    source: String,
    fields: [Bits; 6],
    /// Whether day-of-month / day-of-week were restricted (not `*` or `?`).
    dom_restricted: bool,
    dow_restricted: bool,
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl CronSchedule {
    /// Parses a 6-field expression.
    pub fn parse(expr: &str) -> Result<Self, CronError> {
        let parts: Vec<&str> = expr.split_whitespace().collect();
        if parts.len() != 6 {
            return Err(CronError::FieldCount(parts.len()));
        }
        let mut fields = [Bits(0); 6];
        for (i, text) in parts.iter().enumerate() {
            fields[i] = parse_field(text, FIELDS[i]).map_err(|reason| CronError::Field {
                field: FIELDS[i].0,
                text: text.to_string(),
                reason,
            })?;
        }
        let restricted = |t: &str| t != "*" && t != "?";
        Ok(CronSchedule {
            source: expr.trim().to_string(),
            fields,
            dom_restricted: restricted(parts[3]),
            dow_restricted: restricted(parts[5]),
        })
    }

    /// Parses `expr`, or gives a schedule that never fires when it does not parse (the
    /// compiler has checked the expression's shape; this keeps generated code panic-free).
    pub fn parse_or_never(expr: &str) -> Self {
        Self::parse(expr).unwrap_or_else(|_| CronSchedule {
            source: String::new(),
            fields: [Bits(0); 6],
            dom_restricted: false,
            dow_restricted: false,
        })
    }

    /// Whether the schedule fires at the whole second `secs` (since the epoch).
    pub fn matches(&self, secs: i64) -> bool {
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400) as u32;
        let (_, month, day) = civil_from_days(days);
        self.fields[4].has(month)
            && self.day_ok(days, day)
            && self.fields[2].has(sod / 3600)
            && self.fields[1].has(sod / 60 % 60)
            && self.fields[0].has(sod % 60)
    }

    fn day_ok(&self, days: i64, day: u32) -> bool {
        let dow = (days + 4).rem_euclid(7) as u32 + 1; // 1970-01-01 was a Thursday (5)
        let dom_ok = self.fields[3].has(day);
        let dow_ok = self.fields[5].has(dow);
        match (self.dom_restricted, self.dow_restricted) {
            (true, true) => dom_ok || dow_ok,
            (true, false) => dom_ok,
            (false, true) => dow_ok,
            (false, false) => true,
        }
    }

    /// The first fire time (ms) strictly after `ms`; `None` if none within 30 years (e.g.
    /// `0 0 0 31 2 ?`).
    pub fn next_after(&self, ms: i64) -> Option<i64> {
        if self.fields.iter().any(|f| f.0 == 0) {
            return None;
        }
        let mut s = ms.div_euclid(1000) + 1;
        let limit = s + 30 * 366 * 86_400;
        while s < limit {
            let days = s.div_euclid(86_400);
            let sod = s.rem_euclid(86_400);
            let (y, m, d) = civil_from_days(days);
            if !self.fields[4].has(m) {
                let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                s = days_from_civil(y, m, 1) * 86_400;
                continue;
            }
            if !self.day_ok(days, d) {
                s = (days + 1) * 86_400;
                continue;
            }
            let day_start = days * 86_400;
            let (h, mi, sec) = (
                (sod / 3600) as u32,
                (sod / 60 % 60) as u32,
                (sod % 60) as u32,
            );
            let Some(nh) = self.fields[2].next_from(h) else {
                s = day_start + 86_400;
                continue;
            };
            if nh != h {
                s = day_start + i64::from(nh) * 3600;
                continue;
            }
            let Some(nmi) = self.fields[1].next_from(mi) else {
                s = day_start + i64::from(h + 1) * 3600;
                continue;
            };
            if nmi != mi {
                s = day_start + i64::from(h) * 3600 + i64::from(nmi) * 60;
                continue;
            }
            match self.fields[0].next_from(sec) {
                Some(ns) => return Some((s + i64::from(ns - sec)) * 1000),
                None => s = day_start + i64::from(h) * 3600 + i64::from(mi + 1) * 60,
            }
        }
        None
    }
}

/// Parses one field into a bit set.
fn parse_field(
    text: &str,
    (_, min, max, names): (&str, u32, u32, &[&str]),
) -> Result<Bits, String> {
    let value = |s: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(min + i as u32);
        }
        let v: u32 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
        if v < min || v > max {
            return Err(format!("{v} is outside {min}-{max}"));
        }
        Ok(v)
    };
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s.parse().map_err(|_| format!("bad step `{s}`"))?;
                if step == 0 {
                    return Err("step 0".into());
                }
                (r, step)
            }
            None => (part, 1),
        };
        let (lo, hi) = match range {
            "*" | "?" => (min, max),
            r => match r.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                None if step > 1 => (value(r)?, max),
                None => {
                    let v = value(r)?;
                    (v, v)
                }
            },
        };
        if lo > hi {
            return Err(format!("range {lo}-{hi} is empty"));
        }
        for v in (lo..=hi).step_by(step as usize) {
            bits |= 1 << v;
        }
    }
    Ok(Bits(bits))
}

/// `(year, month 1-12, day 1-31)` of a day number since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Day number since 1970-01-01 of a civil date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

crate::state::persist::persist_fields!(Bits { 0 });
crate::state::persist::persist_fields!(CronSchedule {
    source,
    fields,
    dom_restricted,
    dow_restricted
});

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// 2024-03-15T10:20:30Z (a Friday) in ms.
    const T0: i64 = 1_710_498_030_000;

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_797), (2024, 3, 15));
        for d in -800_000..800_000i64 {
            if d % 997 == 0 {
                let (y, m, dd) = civil_from_days(d);
                assert_eq!(days_from_civil(y, m, dd), d);
            }
        }
    }

    #[test]
    fn next_fire_times() {
        let at = |e: &str| CronSchedule::parse(e).unwrap().next_after(T0);
        assert_eq!(at("* * * * * *"), Some(T0 + 1000));
        assert_eq!(at("0 * * * * *"), Some(T0 + 30_000));
        assert_eq!(
            at("0 0 12 * * ?"),
            Some(T0 + (3600 - 20 * 60 - 30) * 1000 + 3_600_000)
        );
        // Next Monday (2024-03-18) at midnight.
        assert_eq!(at("0 0 0 ? * MON"), Some(1_710_720_000_000));
        // 1st of April 00:00.
        assert_eq!(at("0 0 0 1 4 ?"), Some(1_711_929_600_000));
        // Leap day: next is 2028-02-29.
        assert_eq!(at("0 0 0 29 2 ?"), Some(1_835_395_200_000));
        assert_eq!(at("0 0 0 31 2 ?"), None);
        // Minutes 5-6 of 10h are past today: next Friday (22nd) counts (dom OR dow).
        assert_eq!(at("0,30 5-6/1 10 15 MAR FRI"), Some(1_711_101_900_000));
    }

    #[test]
    fn rejects_bad_expressions() {
        assert_eq!(
            CronSchedule::parse("* * * * *"),
            Err(CronError::FieldCount(5))
        );
        assert!(CronSchedule::parse("60 * * * * *").is_err());
        assert!(CronSchedule::parse("*/0 * * * * *").is_err());
        assert!(CronSchedule::parse("* * * 0 * *").is_err());
        assert!(CronSchedule::parse("* * * * FOO *").is_err());
        let e = CronSchedule::parse("5-1 * * * * *").unwrap_err();
        assert!(e.to_string().contains("second"));
    }

    fn field() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("*".to_string()),
            (1u32..20).prop_map(|n| format!("*/{n}")),
            (0u32..10, 0u32..10).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b) + 1)),
            (0u32..10, 1u32..5).prop_map(|(a, s)| format!("{a}/{s}")),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// `next_after` equals the first matching second found by scanning.
        #[test]
        fn next_after_matches_scan(
            sec in field(), min in field(), hour in prop_oneof![Just("*".to_string()), (0u32..24).prop_map(|h| h.to_string())],
            start in 0i64..4_000_000_000_000,
        ) {
            let c = CronSchedule::parse(&format!("{sec} {min} {hour} * * ?")).unwrap();
            let got = c.next_after(start);
            let mut s = start.div_euclid(1000) + 1;
            let want = loop {
                if c.matches(s) {
                    break s * 1000;
                }
                s += 1;
            };
            prop_assert_eq!(got, Some(want));
        }
    }
}

//! Where a table's rows live: in memory (no `WITH` options), or in Redis with
//! `CREATE TABLE ... WITH (extension = 'redis', ...)`.
//!
//! | option | value | default |
//! |---|---|---|
//! | `extension` | `'redis'` | (required) |
//! | `"redis.host"` | host name or address | `'127.0.0.1'` |
//! | `"redis.port"` | 1 to 65535 | `6379` |
//! | `"redis.db"` | database number, 0 or more | `0` |
//! | `"redis.password"` | the server's password | none |
//! | `"redis.prefix"` | first part of every key: `<prefix>:<table>:<primary key>` | `'eventflux'` |
//! | `"redis.on_error"` | `'log'` (print, find no row, reconnect) or `'fail'` (stop the app) | `'log'` |
//! | `"redis.timeout"` | connect/read/write timeout: ms, or a duration (`500 MS`) | `2000` |
//!
//! A table in PostgreSQL (`extension = 'postgres'`, runtime `table::PgTable`):
//!
//! | option | value | default |
//! |---|---|---|
//! | `"postgres.url"` | `postgres://user:password@host:port/db` | (required) |
//! | `"postgres.table"` | the PostgreSQL table, optionally `schema.table` | (required) |
//! | `"postgres.cache"` | rows of the primary-key cache (0: none) | `10000` |
//! | `"on.error"` | `'wait'` (retry until back), `'log'` or `'fail'` | `'wait'` |
//!
//! The URL and table may use `${VAR}` (replaced when the app starts).
//!
//! `"on.error"` is accepted for `"redis.on_error"`. Numbers may be written as numbers or strings (`"redis.port" = 6380` or `'6380'`). A Redis
//! table needs a primary key: it is the row's Redis key.

use super::Analysis;
use crate::diagnostic::Diagnostic;
use crate::syntax::ast::{self, Literal, Span};

/// A table kept in Redis, with its connection options (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisStore {
    /// Server host.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Database number.
    pub db: i64,
    /// Password, if any.
    pub password: Option<String>,
    /// Key prefix.
    pub prefix: String,
    /// `"redis.on_error" = 'fail'`: a Redis failure stops the app.
    pub fail: bool,
    /// Timeout in ms.
    pub timeout_ms: u64,
}

impl Default for RedisStore {
    fn default() -> Self {
        RedisStore {
            host: "127.0.0.1".into(),
            port: 6379,
            db: 0,
            password: None,
            prefix: "eventflux".into(),
            fail: false,
            timeout_ms: 2000,
        }
    }
}

const OPTIONS_HELP: &str = "table options are extension = 'redis', \"redis.host\", \
    \"redis.port\", \"redis.db\", \"redis.password\", \"redis.prefix\", \"redis.on_error\", \
    \"redis.timeout\"";

/// A table kept in PostgreSQL, with its options (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgStore {
    /// The URL as written (`${VAR}` replaced at start).
    pub url: String,
    /// The PostgreSQL table as written.
    pub table: String,
    /// Entries of the primary-key cache.
    pub cache: u64,
    /// `"on.error"`: `wait`, `log` or `fail`.
    pub on_error: String,
}

/// Where a table's rows live, when not in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Store {
    /// In Redis.
    Redis(RedisStore),
    /// In PostgreSQL.
    Postgres(PgStore),
}

const PG_HELP: &str = "PostgreSQL table options are extension = 'postgres', \"postgres.url\", \
    \"postgres.table\", \"postgres.cache\", \"on.error\"";

/// The store `def`'s `WITH` options declare (`None`: in memory); problems become
/// diagnostics at the option they concern.
pub fn bind_store(a: &mut Analysis, def: &ast::TableDef, has_primary_key: bool) -> Option<Store> {
    let postgres = def.with.iter().any(|kv| {
        kv.key
            .as_ref()
            .is_some_and(|k| k.name.eq_ignore_ascii_case("extension"))
            && matches!(&kv.value, Literal::String(v) if v.eq_ignore_ascii_case("postgres"))
    });
    if postgres {
        return bind_pg(a, def).map(Store::Postgres);
    }
    bind_redis(a, def, has_primary_key).map(Store::Redis)
}

/// The options of a table in PostgreSQL.
fn bind_pg(a: &mut Analysis, def: &ast::TableDef) -> Option<PgStore> {
    let mut store = PgStore {
        url: String::new(),
        table: String::new(),
        cache: 10_000,
        on_error: "wait".into(),
    };
    let (mut url, mut table) = (false, false);
    let mut ok = true;
    for kv in &def.with {
        let Some(key) = &kv.key else {
            a.diagnostics.push(
                Diagnostic::error("a table option needs a name", kv.value_span).with_help(PG_HELP),
            );
            ok = false;
            continue;
        };
        let mut bad = |a: &mut Analysis, message: String, help: &str| {
            a.diagnostics
                .push(Diagnostic::error(message, kv.value_span).with_help(help.to_string()));
            ok = false;
        };
        match key.name.to_ascii_lowercase().as_str() {
            "extension" => {}
            "postgres.url" => {
                url = true;
                let Some(v) = text(a, kv) else { continue };
                if let Err(e) = super::endpoint::check_substitution(&v) {
                    bad(a, e, "write ${VAR} or ${VAR:-default}");
                } else if !v.contains("${")
                    && !v.starts_with("postgres://")
                    && !v.starts_with("postgresql://")
                {
                    let shown = super::endpoint::redact(&v);
                    bad(
                        a,
                        format!("`{shown}` is not a postgres:// URL"),
                        "e.g. 'postgres://app:${PGPASSWORD}@127.0.0.1:5432/db'",
                    );
                }
                store.url = v;
            }
            "postgres.table" => {
                table = true;
                let Some(v) = text(a, kv) else { continue };
                let part = |p: &str| {
                    !p.is_empty()
                        && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        && !p.starts_with(|c: char| c.is_ascii_digit())
                };
                let valid = match v.split_once('.') {
                    Some((schema, t)) => part(schema) && part(t),
                    None => part(&v),
                };
                if let Err(e) = super::endpoint::check_substitution(&v) {
                    bad(a, e, "write ${VAR} or ${VAR:-default}");
                } else if !v.contains("${") && !valid {
                    bad(
                        a,
                        format!("`{v}` is not a table name"),
                        "a table name is letters, digits and `_`, optionally `schema.table`",
                    );
                }
                store.table = v;
            }
            "postgres.cache" => {
                match number(a, kv, 0, 100_000_000, "a number of cached rows (0 or more)") {
                    Some(n) => store.cache = u64::try_from(n).unwrap_or(store.cache),
                    None => ok = false,
                }
            }
            "on.error" | "postgres.on_error" => match text(a, kv) {
                Some(v) if ["wait", "log", "fail"].contains(&v.to_ascii_lowercase().as_str()) => {
                    store.on_error = v.to_ascii_lowercase();
                }
                Some(v) => bad(
                    a,
                    format!("unknown error mode `{v}`"),
                    "\"on.error\" of a PostgreSQL table is 'wait', 'log' or 'fail'",
                ),
                None => ok = false,
            },
            _ => {
                a.diagnostics.push(
                    Diagnostic::error(format!("unknown table option `{}`", key.name), key.span)
                        .with_help(PG_HELP),
                );
                ok = false;
            }
        }
    }
    for (given, name) in [(url, "postgres.url"), (table, "postgres.table")] {
        if !given {
            let span = def.with.first().map_or(def.name.span, option_span);
            a.diagnostics.push(
                Diagnostic::error(format!("a PostgreSQL table needs \"{name}\""), span)
                    .with_help(PG_HELP),
            );
            ok = false;
        }
    }
    ok.then_some(store)
}

/// The options of a table in Redis (or an unknown extension, reported).
fn bind_redis(a: &mut Analysis, def: &ast::TableDef, has_primary_key: bool) -> Option<RedisStore> {
    if def.with.is_empty() {
        return None;
    }
    let mut store = RedisStore::default();
    // `Some(true)` for 'redis'; `Some(false)` for another extension (already reported).
    let mut extension = None;
    for kv in &def.with {
        let Some(key) = &kv.key else {
            a.diagnostics.push(
                Diagnostic::error("a table option needs a name", kv.value_span)
                    .with_help(OPTIONS_HELP),
            );
            continue;
        };
        let name = key.name.to_ascii_lowercase();
        match name.as_str() {
            "extension" => match text(a, kv) {
                Some(v) if v.eq_ignore_ascii_case("redis") => extension = Some(true),
                Some(v) => {
                    extension = Some(false);
                    a.diagnostics.push(
                        Diagnostic::unsupported(format!("`{v}` tables"), kv.value_span)
                            .with_help("the supported table extensions are 'redis' and 'postgres'"),
                    );
                }
                None => extension = Some(false),
            },
            "redis.host" => {
                if let Some(v) = text(a, kv) {
                    if v.is_empty() {
                        a.diagnostics
                            .push(Diagnostic::error("the host is empty", kv.value_span));
                    }
                    store.host = v;
                }
            }
            "redis.port" => {
                if let Some(n) = number(a, kv, 1, 65535, "a port from 1 to 65535") {
                    store.port = u16::try_from(n).unwrap_or(store.port);
                }
            }
            "redis.db" => {
                if let Some(n) = number(
                    a,
                    kv,
                    0,
                    i64::from(i32::MAX),
                    "a database number (0 or more)",
                ) {
                    store.db = n;
                }
            }
            "redis.password" => store.password = text(a, kv),
            "redis.prefix" => {
                if let Some(v) = text(a, kv) {
                    if v.is_empty() {
                        a.diagnostics.push(
                            Diagnostic::error("the key prefix is empty", kv.value_span).with_help(
                                "leave \"redis.prefix\" out for the default 'eventflux'",
                            ),
                        );
                    }
                    store.prefix = v;
                }
            }
            "redis.on_error" | "on.error" => match text(a, kv) {
                Some(v) if v.eq_ignore_ascii_case("log") => store.fail = false,
                Some(v) if v.eq_ignore_ascii_case("fail") => store.fail = true,
                Some(v) => a.diagnostics.push(
                    Diagnostic::error(format!("unknown error mode `{v}`"), kv.value_span)
                        .with_help("\"redis.on_error\" is 'log' or 'fail'"),
                ),
                None => {}
            },
            "redis.timeout" => {
                if let Some(n) = number(a, kv, 1, 3_600_000, "a timeout in ms (1 ms to 1 hour)") {
                    store.timeout_ms = u64::try_from(n).unwrap_or(store.timeout_ms);
                }
            }
            _ => a.diagnostics.push(
                Diagnostic::error(format!("unknown table option `{}`", key.name), key.span)
                    .with_help(OPTIONS_HELP),
            ),
        }
    }
    match extension {
        Some(true) => {}
        Some(false) => return None,
        None => {
            let span = def.with.first().map_or(def.name.span, option_span);
            a.diagnostics.push(
                Diagnostic::error("table options need `extension = 'redis'`", span)
                    .with_help("a table without WITH options is kept in memory"),
            );
            return None;
        }
    }
    if !has_primary_key {
        a.diagnostics.push(
            Diagnostic::error(
                format!("Redis table `{}` needs a primary key", def.name.name),
                def.name.span,
            )
            .with_label("no PRIMARY KEY")
            .with_help("the primary key is the row's Redis key: mark a column `PRIMARY KEY` or add `PRIMARY KEY (...)`"),
        );
        return None;
    }
    if let Some(first) = def.indexes.iter().flatten().next() {
        a.diagnostics.push(
            Diagnostic::warning("Redis tables keep no secondary index", first.span)
                .with_label("this INDEX is not used")
                .with_help(
                    "conditions that do not give the whole primary key scan the table's keys",
                ),
        );
    }
    Some(store)
}

/// The span of a whole option, `key = value`.
fn option_span(kv: &ast::OptionKv) -> Span {
    kv.key
        .as_ref()
        .map_or(kv.value_span, |k| k.span.to(kv.value_span))
}

/// The option's value as text (strings, or numbers written as numbers).
fn text(a: &mut Analysis, kv: &ast::OptionKv) -> Option<String> {
    match &kv.value {
        Literal::String(s) => Some(s.clone()),
        Literal::Int(n) => Some(n.to_string()),
        Literal::Long(n) => Some(n.to_string()),
        _ => {
            a.diagnostics.push(Diagnostic::error(
                "this option's value is a string",
                kv.value_span,
            ));
            None
        }
    }
}

/// The option's value as a number in `min..=max` (a number, a duration in ms, or a string
/// holding a number).
fn number(a: &mut Analysis, kv: &ast::OptionKv, min: i64, max: i64, what: &str) -> Option<i64> {
    let n = match &kv.value {
        Literal::Int(n) => Some(i64::from(*n)),
        Literal::Long(n) | Literal::Duration(n) => Some(*n),
        Literal::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    match n {
        Some(n) if (min..=max).contains(&n) => Some(n),
        _ => {
            a.diagnostics.push(
                Diagnostic::error(format!("expected {what}"), kv.value_span)
                    .with_label("not valid here"),
            );
            None
        }
    }
}

//! Random valid EventFlux apps and their inputs, from a seed (used by `build.rs`).
//!
//! An app has input streams shared by many queries and streams read by one query (whose
//! queries take their events by value), hostile names everywhere (Rust keywords, generated
//! names, prelude names, names equal after snake_case), and queries mixing windows, GROUP BY
//! keys, aggregates, output kinds, joins (stream-stream, stream-table), patterns, sequences,
//! partitions, tables, rate limits and chains (queries reading other queries' output).
//! Its input mixes NULLs, omitted attributes, clock-only lines and lines without `ts`.

use std::fmt::Write as _;

/// SplitMix64: tiny, deterministic, good enough for test generation.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as i64
    }

    /// `true` with probability `pct`%.
    pub fn chance(&mut self, pct: usize) -> bool {
        self.below(100) < pct
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    pub fn pick_str(&mut self, xs: &[&'static str]) -> &'static str {
        xs[self.below(xs.len())]
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Ty {
    Int,
    Long,
    Float,
    Double,
    Str,
    Bool,
}

impl Ty {
    fn sql(self) -> &'static str {
        match self {
            Ty::Int => "INT",
            Ty::Long => "LONG",
            Ty::Float => "FLOAT",
            Ty::Double => "DOUBLE",
            Ty::Str => "STRING",
            Ty::Bool => "BOOL",
        }
    }

    fn numeric(self) -> bool {
        matches!(self, Ty::Int | Ty::Long | Ty::Float | Ty::Double)
    }
}

#[derive(Clone, Debug)]
pub struct Attr {
    pub name: String,
    pub ty: Ty,
    pub not_null: bool,
}

#[derive(Clone, Debug)]
pub struct Stream {
    pub name: String,
    pub attrs: Vec<Attr>,
}

/// One generated app.
pub struct App {
    pub text: String,
    pub input: String,
    /// Output streams that must receive at least one row from the input.
    pub must_output: Vec<String>,
}

/// Stream (and table) names: generated names, prelude names, keywords, look-alikes.
const STREAM_NAMES: &[&str] = &[
    "O",
    "S",
    "Input",
    "Output",
    "App",
    "Event",
    "Self",
    "Option",
    "Some",
    "None",
    "Vec",
    "String",
    "Box",
    "Result",
    "Ok",
    "Err",
    "Trades",
    "trades",
    "my stream",
    "__ef_x",
    "Ünï",
    "a1",
    "a_1",
    "Query1Event",
    "Partition0State",
    "type",
    "self",
    "crate",
    "_",
    "IndexKey",
    "Captures",
    "Pattern",
    "send",
    "emit",
    "swap",
    "active",
    "next",
    "purge",
    "Output2",
];

/// Attribute and output names.
const ATTR_NAMES: &[&str] = &[
    "type",
    "ref",
    "self",
    "Self",
    "crate",
    "super",
    "fn",
    "match",
    "async",
    "mod",
    "impl",
    "partition",
    "_",
    "avgPrice",
    "avg_price",
    "AvgPrice",
    "k",
    "v",
    "x",
    "price",
    "__ef_group",
    "a b",
    "é",
    "1st",
    "value",
    "key",
    "index",
    "first",
    "last",
    "ts",
    "event",
    "data",
    "kind",
    "stream",
    "loop",
    "yield",
    "dyn",
    "r#x",
    "Ok",
    "None",
    "String",
    "agg_0",
    "__ef_slot",
    "ts_",
    "now",
];

/// Pattern aliases.
const ALIASES: &[&str] = &[
    "e1", "e2", "self", "Self", "pattern", "captures", "type", "fn", "e_1", "E1", "event_0",
    "__ef_m", "match",
];

/// Words that are keywords of the language wherever they appear (must be quoted as names).
const HARD_KEYWORDS: &[&str] = &[
    "and",
    "as",
    "begin",
    "between",
    "bigint",
    "bool",
    "boolean",
    "case",
    "cast",
    "create",
    "define",
    "delete",
    "distinct",
    "double",
    "else",
    "end",
    "false",
    "float",
    "from",
    "group",
    "having",
    "insert",
    "int",
    "integer",
    "into",
    "is",
    "join",
    "like",
    "long",
    "not",
    "null",
    "on",
    "or",
    "order",
    "primary",
    "select",
    "string",
    "then",
    "timestamp",
    "true",
    "update",
    "upsert",
    "varchar",
    "when",
    "where",
    "with",
    "within",
    "events",
    "partition",
    "every",
];

/// A name as written in the app: bare when it can be, else (or at random) `"quoted"`.
fn q(rng: &mut Rng, name: &str) -> String {
    let simple = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !HARD_KEYWORDS.contains(&name.to_ascii_lowercase().as_str());
    // Duration units and the like are words too: quote the short ones.
    let risky = name.len() <= 3 && name.chars().all(|c| c.is_ascii_alphabetic());
    if name == "partition" && rng.chance(70) {
        // `partition` is a soft keyword: written bare to exercise the grammar.
        name.to_string()
    } else if simple && !risky && !rng.chance(15) {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

struct Gen<'r> {
    rng: &'r mut Rng,
    /// Every stream and table name used so far.
    names: Vec<String>,
    /// Input streams (defined).
    inputs: Vec<Stream>,
    /// Shared input streams (indexes into `inputs`).
    shared: Vec<usize>,
    /// Output streams whose schema is known (chainable), with their rows' source input.
    chainable: Vec<Stream>,
    tables: Vec<Stream>,
    stmts: Vec<String>,
    must_output: Vec<String>,
    queries: usize,
}

impl Gen<'_> {
    fn fresh_name(&mut self, pool: &[&str]) -> String {
        for _ in 0..8 {
            let n = self.rng.pick(pool).to_string();
            if !self.names.contains(&n) {
                self.names.push(n.clone());
                return n;
            }
        }
        let base = self.rng.pick(pool).to_string();
        let mut i = 2;
        loop {
            let n = format!("{base}{i}");
            if !self.names.contains(&n) {
                self.names.push(n.clone());
                return n;
            }
            i += 1;
        }
    }

    /// Distinct attribute names.
    fn attr_names(&mut self, n: usize) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        while out.len() < n {
            let c = self.rng.pick(ATTR_NAMES).to_string();
            if !out.contains(&c) {
                out.push(c);
            }
        }
        out
    }

    /// A new input stream: at least one STRING and one numeric attribute.
    fn new_input(&mut self) -> usize {
        let name = self.fresh_name(STREAM_NAMES);
        let n = 2 + self.rng.below(4);
        let names = self.attr_names(n);
        let mut attrs = Vec::new();
        for (i, a) in names.into_iter().enumerate() {
            let ty = match i {
                0 => Ty::Str,
                1 => *self.rng.pick(&[Ty::Int, Ty::Double, Ty::Long]),
                _ => *self
                    .rng
                    .pick(&[Ty::Int, Ty::Long, Ty::Float, Ty::Double, Ty::Str, Ty::Bool]),
            };
            attrs.push(Attr {
                name: a,
                ty,
                not_null: self.rng.chance(15),
            });
        }
        // Shuffle so the STRING attribute is not always first.
        for i in (1..attrs.len()).rev() {
            let j = self.rng.below(i + 1);
            attrs.swap(i, j);
        }
        let defs: Vec<String> = attrs
            .iter()
            .map(|a| {
                format!(
                    "{} {}{}",
                    q(self.rng, &a.name),
                    a.ty.sql(),
                    if a.not_null { " NOT NULL" } else { "" }
                )
            })
            .collect();
        let sname = q(self.rng, &name);
        self.stmts
            .push(format!("CREATE STREAM {sname} ({});", defs.join(", ")));
        self.inputs.push(Stream { name, attrs });
        self.inputs.len() - 1
    }

    /// The input of a query: a shared stream, or a new one only it reads.
    fn pick_input(&mut self) -> Stream {
        if !self.shared.is_empty() && self.rng.chance(55) {
            let i = *self.rng.pick(&self.shared.clone());
            self.inputs[i].clone()
        } else {
            let i = self.new_input();
            self.inputs[i].clone()
        }
    }

    fn attr_of<'s>(&mut self, s: &'s Stream, pred: impl Fn(&Attr) -> bool) -> Option<&'s Attr> {
        let c: Vec<&Attr> = s.attrs.iter().filter(|a| pred(a)).collect();
        if c.is_empty() {
            None
        } else {
            Some(c[self.rng.below(c.len())])
        }
    }

    fn literal(&mut self, ty: Ty) -> String {
        match ty {
            Ty::Int => self.rng.range(-2, 6).to_string(),
            Ty::Long => format!("{}L", self.rng.range(-2, 6)),
            Ty::Float => format!("{}.5f", self.rng.range(-2, 5)),
            Ty::Double => format!("{}.5", self.rng.range(-2, 5)),
            Ty::Str => format!("'{}'", self.rng.pick(&["a", "b", "c", "", "it''s"])),
            Ty::Bool => self.rng.pick(&["true", "false"]).to_string(),
        }
    }

    /// A condition over stream `s` (attributes read through `prefix`, e.g. `e1.`).
    fn condition(&mut self, s: &Stream, prefix: &str) -> String {
        let a = s.attrs[self.rng.below(s.attrs.len())].clone();
        let name = format!("{prefix}{}", q(self.rng, &a.name));
        let base = match a.ty {
            t if t.numeric() => match self.rng.below(8) {
                0 => format!("{name} BETWEEN {} AND {}", self.literal(t), self.literal(t)),
                1 => format!("{name} IN ({}, {})", self.literal(t), self.literal(t)),
                _ => {
                    let op = *self.rng.pick(&[">", ">=", "<", "!=", "==", "<>"]);
                    format!("{name} {op} {}", self.literal(t))
                }
            },
            Ty::Str => match self.rng.below(6) {
                0 => format!("{name} LIKE '{}%'", self.rng.pick(&["a", "", "b"])),
                1 => format!("{name} NOT IN ('a', 'c')"),
                _ => {
                    let op = *self.rng.pick(&["==", "!="]);
                    format!("{name} {op} {}", self.literal(Ty::Str))
                }
            },
            _ => name.clone(),
        };
        match self.rng.below(6) {
            0 => format!("({base} OR {name} IS NULL)"),
            1 => format!("NOT ({base})"),
            _ => base,
        }
    }

    /// A scalar expression over `s` and its type.
    fn scalar(&mut self, s: &Stream, prefix: &str) -> (String, Ty) {
        let a = s.attrs[self.rng.below(s.attrs.len())].clone();
        let name = format!("{prefix}{}", q(self.rng, &a.name));
        match (a.ty, self.rng.below(8)) {
            (t, 5) if t.numeric() => (format!("abs({name})"), t),
            (t, 6) if t.numeric() => (format!("CAST({name} AS STRING)"), Ty::Str),
            (Ty::Str, 5) => (format!("length({name})"), Ty::Int),
            (Ty::Str, 6) => (format!("coalesce({name}, 'none')"), Ty::Str),
            (t, 7) => (format!("coalesce({name}, {})", self.literal(t)), t),
            (t, 0) if t.numeric() => (format!("{name} * 2 + 1"), t),
            (t, 1) if t.numeric() => (format!("{name} / {}", self.rng.range(0, 3)), t),
            (Ty::Str, 0) => (format!("upper({name})"), Ty::Str),
            (Ty::Str, 1) => (format!("concat({name}, '-')"), Ty::Str),
            (t, 2) => (
                format!(
                    "CASE WHEN {name} IS NULL THEN {} ELSE {name} END",
                    self.literal(t)
                ),
                t,
            ),
            (t, _) => (name, t),
        }
    }

    fn is_input(&self, s: &Stream) -> bool {
        self.inputs.iter().any(|i| i.name == s.name)
    }

    fn out_names(&mut self, n: usize) -> Vec<String> {
        self.attr_names(n)
    }

    fn duration(&mut self) -> &'static str {
        self.rng.pick_str(&["300 ms", "1 sec", "2 sec", "700 ms"])
    }

    /// A window over `s` and whether it is sliding with the arrival as its current event
    /// (so that every arrival gives a current row).
    fn window(&mut self, s: &Stream) -> (String, bool) {
        let str_attr = self.attr_of(s, |a| a.ty == Ty::Str).map(|a| a.name.clone());
        let num_attr = self.attr_of(s, |a| a.ty.numeric()).map(|a| a.name.clone());
        let long_attr = self
            .attr_of(s, |a| a.ty == Ty::Long)
            .map(|a| a.name.clone());
        let key = str_attr.clone().unwrap_or_default();
        let key = q(self.rng, &key);
        let n = self.rng.range(1, 4);
        let d = self.duration();
        let d2 = self.duration();
        loop {
            let w = match self.rng.below(16) {
                0 => (format!("WINDOW('length', {n})"), true),
                1 => (format!("WINDOW('time', {d})"), true),
                2 => (format!("WINDOW('timeLength', {d}, {n})"), true),
                3 => match &long_attr {
                    // Not counted on for output: its time attribute may be NULL.
                    Some(l) => (
                        format!("WINDOW('externalTime', {}, {d})", q(self.rng, l)),
                        false,
                    ),
                    None => continue,
                },
                4 => match &num_attr {
                    Some(a) => {
                        let dir = *self.rng.pick(&["", " DESC", " ASC"]);
                        (
                            format!("WINDOW('sort', {n}, {}{dir})", q(self.rng, a)),
                            false,
                        )
                    }
                    None => continue,
                },
                5 | 6 | 9 | 14 if str_attr.is_none() => continue,
                5 => (format!("WINDOW('unique', {key})"), true),
                6 => (format!("WINDOW('firstUnique', {key})"), false),
                7 => (format!("WINDOW('delay', {d})"), false),
                8 => (format!("WINDOW('expression', 'count() <= {n}')"), true),
                9 => (format!("WINDOW('frequent', {n}, {key})"), false),
                10 => ("WINDOW('lossyFrequent', 0.3, 0.1)".to_string(), false),
                11 => (format!("WINDOW('lengthBatch', {n})"), false),
                12 => (format!("WINDOW('timeBatch', {d})"), false),
                13 => (format!("WINDOW('hop', {d}, {d2})"), false),
                14 => (format!("WINDOW('session', {d}, {key})"), false),
                _ => match &long_attr {
                    Some(l) => (
                        format!("WINDOW('externalTimeBatch', {}, {d})", q(self.rng, l)),
                        false,
                    ),
                    None => continue,
                },
            };
            return w;
        }
    }

    /// An aggregate over `s` (attributes through `prefix`) and whether it may be NULL.
    fn aggregate(&mut self, s: &Stream, prefix: &str) -> String {
        let num = self.attr_of(s, |a| a.ty.numeric()).map(|a| a.name.clone());
        let any = s.attrs[self.rng.below(s.attrs.len())].name.clone();
        let boolean = self
            .attr_of(s, |a| a.ty == Ty::Bool)
            .map(|a| a.name.clone());
        let p = |g: &mut Self, a: &str| format!("{prefix}{}", q(g.rng, a));
        let Some(num) = num else {
            return match self.rng.below(3) {
                0 => "count()".to_string(),
                1 => format!("count({})", p(self, &any)),
                _ => format!("last({})", p(self, &any)),
            };
        };
        match self.rng.below(14) {
            0 => "count()".to_string(),
            1 => format!("count({})", p(self, &any)),
            2 => format!("sum({})", p(self, &num)),
            3 => format!("avg({})", p(self, &num)),
            4 => format!("min({})", p(self, &num)),
            5 => format!("max({})", p(self, &num)),
            6 => format!("minForever({})", p(self, &num)),
            7 => format!("maxForever({})", p(self, &num)),
            8 => format!("distinctCount({})", p(self, &any)),
            9 => format!("stdDev({})", p(self, &num)),
            10 => format!("first({})", p(self, &any)),
            11 => format!("last({})", p(self, &any)),
            12 => format!("count(DISTINCT {})", p(self, &any)),
            _ => match boolean {
                Some(b) => format!("{}({})", self.rng.pick(&["and", "or"]), p(self, &b)),
                None => "count()".to_string(),
            },
        }
    }

    fn kind(&mut self) -> (&'static str, bool) {
        match self.rng.below(5) {
            0 => ("INSERT EXPIRED EVENTS INTO", false),
            1 => ("INSERT ALL EVENTS INTO", true),
            2 => ("INSERT CURRENT EVENTS INTO", true),
            _ => ("INSERT INTO", true),
        }
    }

    fn annotation(&mut self) -> String {
        self.queries += 1;
        if self.rng.chance(40) {
            let n = *self.rng.pick(&[
                "Self", "a", "a_owned", "a1", "a_1", "", "x y", "query_1", "_", "fn", "名前",
                "q_window", "q",
            ]);
            // Query names must be unique in the app.
            format!("@info(name='{n}-{}') ", self.queries)
        } else {
            String::new()
        }
    }

    /// `SELECT a, b*2 AS x FROM S [WHERE ...]`; chainable when it only copies attributes.
    fn filter_query(&mut self, s: &Stream, in_partition: bool) -> String {
        let target = self.fresh_name(STREAM_NAMES);
        let sname = q(self.rng, &s.name);
        let has_where = self.rng.chance(40);
        let filter = if has_where {
            format!(" WHERE {}", self.condition(s, ""))
        } else {
            String::new()
        };
        let ann = self.annotation();
        if self.rng.chance(15) {
            if !in_partition {
                self.chainable.push(Stream {
                    name: target.clone(),
                    attrs: s
                        .attrs
                        .iter()
                        .map(|a| Attr {
                            not_null: false,
                            ..a.clone()
                        })
                        .collect(),
                });
                if !has_where && self.is_input(s) {
                    self.must_output.push(target.clone());
                }
            }
            return format!(
                "{ann}INSERT INTO {} SELECT * FROM {sname}{filter};",
                q(self.rng, &target)
            );
        }
        let n = 1 + self.rng.below(3);
        let outs = self.out_names(n);
        let mut cols = Vec::new();
        let mut attrs = Vec::new();
        let mut plain = true;
        for o in &outs {
            let (e, ty) = if self.rng.chance(50) {
                let a = s.attrs[self.rng.below(s.attrs.len())].clone();
                (q(self.rng, &a.name), a.ty)
            } else {
                plain = false;
                self.scalar(s, "")
            };
            cols.push(format!("{e} AS {}", q(self.rng, o)));
            attrs.push(Attr {
                name: o.clone(),
                ty,
                not_null: false,
            });
        }
        let rate = if self.rng.chance(15) {
            plain = false;
            format!(
                " OUTPUT {} EVERY {}",
                self.rng.pick(&["ALL", "FIRST", "LAST"]),
                self.rng.pick(&["2 EVENTS", "1 sec"])
            )
        } else {
            String::new()
        };
        if !in_partition {
            if plain {
                self.chainable.push(Stream {
                    name: target.clone(),
                    attrs,
                });
            }
            if !has_where && rate.is_empty() && self.is_input(s) {
                self.must_output.push(target.clone());
            }
        }
        let distinct = if rate.is_empty() && self.rng.chance(10) {
            "DISTINCT "
        } else {
            ""
        };
        format!(
            "{ann}INSERT INTO {} SELECT {distinct}{} FROM {sname}{filter}{rate};",
            q(self.rng, &target),
            cols.join(", ")
        )
    }

    /// A windowed (or windowless) aggregation, grouped or not.
    fn window_query(&mut self, s: &Stream, in_partition: bool) -> String {
        let target = self.fresh_name(STREAM_NAMES);
        let sname = q(self.rng, &s.name);
        let (kind, current) = self.kind();
        let (window, sliding) = if self.rng.chance(85) {
            self.window(s)
        } else {
            (String::new(), true)
        };
        let kind = if window.is_empty() && kind.contains("EXPIRED") {
            "INSERT INTO"
        } else {
            kind
        };
        let has_where = self.rng.chance(25);
        let filter = if has_where {
            format!(" WHERE {}", self.condition(s, ""))
        } else {
            String::new()
        };
        let grouped = self.rng.chance(60);
        let aggregates = self.rng.chance(80) || window.is_empty();
        let mut cols = Vec::new();
        let mut group = String::new();
        let n_out = 1 + self.rng.below(3) + usize::from(grouped);
        let outs = self.out_names(n_out);
        let mut outs = outs.into_iter();
        if grouped {
            let n_keys = 1 + usize::from(self.rng.chance(25));
            let mut keys = Vec::new();
            for _ in 0..n_keys {
                let k = self
                    .attr_of(s, |_| true)
                    .map(|a| a.name.clone())
                    .unwrap_or_else(|| s.attrs[0].name.clone());
                let k = q(self.rng, &k);
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
            for k in &keys {
                if let Some(o) = outs.next() {
                    cols.push(format!("{k} AS {}", q(self.rng, &o)));
                }
            }
            group = format!(" GROUP BY {}", keys.join(", "));
        }
        let mut agg_outs = Vec::new();
        for o in outs {
            let o = q(self.rng, &o);
            if aggregates {
                let agg = self.aggregate(s, "");
                cols.push(format!("{agg} AS {o}"));
                agg_outs.push(agg);
            } else {
                let a = s.attrs[self.rng.below(s.attrs.len())].clone();
                cols.push(format!("{} AS {o}", q(self.rng, &a.name)));
            }
        }
        if !aggregates {
            group.clear();
        }
        let having = if aggregates && !agg_outs.is_empty() && self.rng.chance(20) {
            format!(" HAVING {} IS NOT NULL", agg_outs[0])
        } else {
            String::new()
        };
        // ORDER BY names an output attribute (the first column's).
        let first_expr = cols
            .first()
            .and_then(|c| c.rsplit_once(" AS ").map(|(_, o)| o.to_string()));
        let tail = match self.rng.below(10) {
            0 => format!(" LIMIT {}", self.rng.range(1, 3)),
            2 if first_expr.is_some() => format!(
                " ORDER BY {}{}",
                first_expr.clone().unwrap_or_default(),
                self.rng.pick(&["", " DESC", " ASC"])
            ),
            1 => format!(
                " OUTPUT {} EVERY {}",
                self.rng.pick(&["ALL", "FIRST", "LAST", "SNAPSHOT"]),
                self.rng.pick(&["3 EVENTS", "1 sec"])
            ),
            _ => String::new(),
        };
        // SNAPSHOT needs a time period.
        let tail = if tail.contains("SNAPSHOT") && tail.contains("EVENTS") {
            String::new()
        } else {
            tail
        };
        let ann = self.annotation();
        if !in_partition
            && self.is_input(s)
            && sliding
            && current
            && !has_where
            && having.is_empty()
            && tail.is_empty()
        {
            self.must_output.push(target.clone());
        }
        format!(
            "{ann}{kind} {} SELECT {} FROM {sname}{}{filter}{group}{having}{tail};",
            q(self.rng, &target),
            cols.join(", "),
            if window.is_empty() {
                String::new()
            } else {
                format!(" {window}")
            },
        )
    }

    fn join_window(&mut self, s: &Stream) -> String {
        let n = self.rng.range(1, 3);
        let d = self.duration();
        match self.rng.below(12) {
            0 => String::new(),
            1 => format!(" WINDOW('length', {n})"),
            2 => format!(" WINDOW('time', {d})"),
            3 => format!(" WINDOW('lengthBatch', {n})"),
            4 => format!(" WINDOW('timeBatch', {d})"),
            7 => format!(" WINDOW('timeLength', {d}, {n})"),
            8 => format!(" WINDOW('expression', 'count() <= {n}')"),
            9 => match self.attr_of(s, |a| a.ty.numeric()).map(|a| a.name.clone()) {
                Some(k) => format!(" WINDOW('sort', {n}, {} DESC)", q(self.rng, &k)),
                None => String::new(),
            },
            10 => match self
                .attr_of(s, |a| a.ty == Ty::Long)
                .map(|a| a.name.clone())
            {
                Some(k) => format!(" WINDOW('externalTime', {}, {d})", q(self.rng, &k)),
                None => String::new(),
            },
            5 => match self.attr_of(s, |a| a.ty == Ty::Str).map(|a| a.name.clone()) {
                Some(k) => format!(" WINDOW('unique', {})", q(self.rng, &k)),
                None => String::new(),
            },
            _ => format!(" WINDOW('length', {n})"),
        }
    }

    /// A stream-stream join (or stream-table join when a table exists).
    /// An input for a join or pattern: usually an input stream, sometimes another query's
    /// output.
    fn pick_any(&mut self) -> Stream {
        if !self.chainable.is_empty() && self.rng.chance(20) {
            self.chainable[self.rng.below(self.chainable.len())].clone()
        } else {
            self.pick_input()
        }
    }

    /// A join; inside a partition (`fixed`), a self-join of the partitioned stream.
    fn join_query(&mut self, fixed: Option<&Stream>) -> String {
        let left = match fixed {
            Some(s) => s.clone(),
            None => self.pick_any(),
        };
        let with_table = fixed.is_none() && !self.tables.is_empty() && self.rng.chance(35);
        let right = if let Some(s) = fixed {
            s.clone()
        } else if with_table {
            self.tables[self.rng.below(self.tables.len())].clone()
        } else if self.rng.chance(20) {
            left.clone()
        } else {
            self.pick_any()
        };
        let (la, ra) = (
            self.rng.pick(&["l", "self", "a", "type", "L"]).to_string(),
            self.rng.pick(&["r", "Self", "b", "fn", "R"]).to_string(),
        );
        let lw = self.join_window(&left);
        let rw = if with_table {
            String::new()
        } else {
            self.join_window(&right)
        };
        let join = if with_table {
            *self.rng.pick(&["JOIN", "LEFT OUTER JOIN"])
        } else {
            *self.rng.pick(&[
                "JOIN",
                "LEFT OUTER JOIN",
                "RIGHT OUTER JOIN",
                "FULL OUTER JOIN",
                "INNER JOIN",
            ])
        };
        let lk = self
            .attr_of(&left, |a| a.ty == Ty::Str)
            .map(|a| a.name.clone());
        let rk = self
            .attr_of(&right, |a| a.ty == Ty::Str)
            .map(|a| a.name.clone());
        let (lq, rq) = (q(self.rng, &la), q(self.rng, &ra));
        let on = match (lk, rk) {
            (Some(l), Some(r)) => {
                format!(" ON {lq}.{} == {rq}.{}", q(self.rng, &l), q(self.rng, &r))
            }
            _ => String::new(),
        };
        let target = self.fresh_name(STREAM_NAMES);
        let (kind, _) = self.kind();
        let n = 2 + self.rng.below(2);
        let outs = self.out_names(n);
        let mut cols = Vec::new();
        let grouped = self.rng.chance(25);
        for (i, o) in outs.iter().enumerate() {
            let (side, alias) = if i % 2 == 0 {
                (&left, &lq)
            } else {
                (&right, &rq)
            };
            let a = side.attrs[self.rng.below(side.attrs.len())].name.clone();
            if grouped && i > 0 {
                let agg = self.aggregate(side, &format!("{alias}."));
                cols.push(format!("{agg} AS {}", q(self.rng, o)));
            } else {
                cols.push(format!("{alias}.{} AS {}", q(self.rng, &a), q(self.rng, o)));
            }
        }
        let group = if grouped {
            // Group by the first column's expression.
            let first = cols[0].split(" AS ").next().unwrap_or_default().to_string();
            format!(" GROUP BY {first}")
        } else {
            String::new()
        };
        let uni = if !with_table && self.rng.chance(15) {
            " UNIDIRECTIONAL"
        } else {
            ""
        };
        // Sometimes a third stream, joined on the first's key.
        let third = if !with_table && fixed.is_none() && self.rng.chance(15) {
            let t = self.pick_input();
            let tk = t
                .attrs
                .iter()
                .find(|a| a.ty == Ty::Str)
                .map(|a| a.name.clone());
            let lk = left
                .attrs
                .iter()
                .find(|a| a.ty == Ty::Str)
                .map(|a| a.name.clone());
            let ta = self.rng.pick(&["t", "crate", "T", "e3"]).to_string();
            let ta = q(self.rng, &ta);
            let tw = self.join_window(&t);
            let on3 = match (lk, tk) {
                (Some(l), Some(k)) => {
                    format!(" ON {lq}.{} == {ta}.{}", q(self.rng, &l), q(self.rng, &k))
                }
                _ => String::new(),
            };
            let j = *self
                .rng
                .pick(&["JOIN", "LEFT OUTER JOIN", "FULL OUTER JOIN"]);
            format!(" {j} {} AS {ta}{tw}{on3}", q(self.rng, &t.name))
        } else {
            String::new()
        };
        let ann = self.annotation();
        format!(
            "{ann}{kind} {} SELECT {} FROM {} AS {lq}{lw}{uni} {join} {} AS {rq}{rw}{on}{third}{group};",
            q(self.rng, &target),
            cols.join(", "),
            q(self.rng, &left.name),
            q(self.rng, &right.name),
        )
    }

    /// A pattern or sequence over one or two streams.
    fn pattern_query(&mut self, fixed: Option<&Stream>) -> String {
        let a = match fixed {
            Some(s) => s.clone(),
            None => self.pick_any(),
        };
        let b = if fixed.is_some() || self.rng.chance(50) {
            a.clone()
        } else {
            self.pick_any()
        };
        let mut aliases = Vec::new();
        while aliases.len() < 3 {
            let x = self.rng.pick(ALIASES).to_string();
            if !aliases.contains(&x) {
                aliases.push(x);
            }
        }
        let (e1, e2) = (q(self.rng, &aliases[0]), q(self.rng, &aliases[1]));
        let (an, bn) = (q(self.rng, &a.name), q(self.rng, &b.name));
        let c1 = self.condition(&a, "");
        let num_a = self.attr_of(&a, |x| x.ty.numeric()).map(|x| x.name.clone());
        let num_b = self.attr_of(&b, |x| x.ty.numeric()).map(|x| x.name.clone());
        // `c2` may read `e1`; `plain` does not (for `AND`/`OR` siblings and `e1+`).
        let plain = self.condition(&b, "");
        let c2 = match (&num_a, &num_b) {
            (Some(x), Some(y)) if self.rng.chance(50) => {
                format!("{} > {e1}.{}", q(self.rng, y), q(self.rng, x))
            }
            _ => plain.clone(),
        };
        let sequence = self.rng.chance(30);
        // Elements that collect several events are read by index.
        let (mut e1_many, mut e2_many) = (false, false);
        let every = if self.rng.chance(80) { "EVERY " } else { "" };
        let body = if sequence {
            let quant = *self.rng.pick(&["", "+", "*", "?"]);
            // `*` and `?` elements cannot end a sequence: a third element follows them.
            if quant == "*" || quant == "?" {
                e2_many = quant == "*";
                format!(
                    "{every}{e1}={an}[{c1}], {e2}={bn}{quant}, {}={an}",
                    q(self.rng, &aliases[2])
                )
            } else {
                e1_many = !quant.is_empty();
                let c = if quant.is_empty() { &c2 } else { &plain };
                format!("{every}{e1}={an}[{c1}]{quant}, {e2}={bn}[{c}]")
            }
        } else {
            match self.rng.below(5) {
                0 => format!("{every}{e1}={an}[{c1}] -> {e2}={bn}[{c2}]"),
                1 => format!("{every}{e1}={an}{{2,3}} -> {e2}={bn}"),
                2 => format!("{every}({e1}={an}[{c1}] AND {e2}={bn})"),
                3 => format!("{every}({e1}={an} OR {e2}={bn}[{plain}])"),
                _ => format!(
                    "{every}{e1}={an} -> NOT {bn}[{c2}] FOR {} -> {e2}={bn}",
                    self.duration()
                ),
            }
        };
        let counted = body.contains("{2,3}") || e1_many;
        let target = self.fresh_name(STREAM_NAMES);
        let outs = self.out_names(2);
        let a1 = a.attrs[self.rng.below(a.attrs.len())].name.clone();
        let b1 = b.attrs[self.rng.below(b.attrs.len())].name.clone();
        let first = if counted {
            format!("{e1}[0].{}", q(self.rng, &a1))
        } else {
            format!("{e1}.{}", q(self.rng, &a1))
        };
        let second = if e2_many {
            format!("{e2}[last].{}", q(self.rng, &b1))
        } else {
            format!("{e2}.{}", q(self.rng, &b1))
        };
        let ann = self.annotation();
        format!(
            "{ann}INSERT INTO {} SELECT {first} AS {}, {second} AS {} FROM {} ({body}) WITHIN {};",
            q(self.rng, &target),
            q(self.rng, &outs[0]),
            q(self.rng, &outs[1]),
            if sequence { "SEQUENCE" } else { "PATTERN" },
            self.rng.pick(&["1 sec", "3 sec", "10 sec"]),
        )
    }

    /// A table fed by a stream, and its writers.
    fn table(&mut self) {
        let s = self.pick_input();
        let name = self.fresh_name(STREAM_NAMES);
        let key = s
            .attrs
            .iter()
            .find(|a| a.ty == Ty::Str)
            .cloned()
            .unwrap_or_else(|| s.attrs[0].clone());
        let val = s
            .attrs
            .iter()
            .find(|a| a.name != key.name)
            .cloned()
            .unwrap_or_else(|| key.clone());
        let cols = [key.clone(), val.clone()];
        let tname = q(self.rng, &name);
        let cols_sql: Vec<String> = cols
            .iter()
            .enumerate()
            .map(|(i, a)| {
                format!(
                    "{} {}{}",
                    q(self.rng, &a.name),
                    a.ty.sql(),
                    if i == 0 { " PRIMARY KEY" } else { "" }
                )
            })
            .collect();
        self.stmts
            .push(format!("CREATE TABLE {tname} ({});", cols_sql.join(", ")));
        let (kq, vq, sq) = (
            q(self.rng, &key.name),
            q(self.rng, &val.name),
            q(self.rng, &s.name),
        );
        let ann = self.annotation();
        if self.rng.chance(50) {
            self.stmts.push(format!(
                "{ann}INSERT INTO {tname} SELECT {kq}, {vq} FROM {sq};"
            ));
        } else {
            self.stmts.push(format!(
                "{ann}UPSERT INTO {tname} SELECT {kq}, {vq} FROM {sq} ON {tname}.{kq} == {sq}.{kq};"
            ));
        }
        // Another writer, from a stream with a STRING attribute.
        let other = self.pick_input();
        if let Some(ok) = other.attrs.iter().find(|a| a.ty == Ty::Str).cloned() {
            let oq = q(self.rng, &other.name);
            let okq = q(self.rng, &ok.name);
            let mut alias = self.rng.pick(&["u", "self", "type", "x"]).to_string();
            if alias == name || alias == other.name {
                // An alias equal to the table's (or stream's) name would be ambiguous.
                alias = "u".to_string();
            }
            let alias = q(self.rng, &alias);
            let ann = self.annotation();
            if self.rng.chance(50) && key.ty == Ty::Str {
                self.stmts.push(format!(
                    "{ann}DELETE FROM {tname} USING {oq} AS {alias} WHERE {tname}.{kq} == {alias}.{okq};"
                ));
            } else if let Some(v) = other.attrs.iter().find(|a| a.ty == val.ty).cloned() {
                if key.ty == Ty::Str {
                    self.stmts.push(format!(
                        "{ann}UPDATE {tname} SET {vq} = {alias}.{} FROM {oq} AS {alias} WHERE {tname}.{kq} == {alias}.{okq};",
                        q(self.rng, &v.name)
                    ));
                }
            }
            // A reader through `IN`.
            if key.ty == Ty::Str {
                let target = self.fresh_name(STREAM_NAMES);
                let ann = self.annotation();
                let o = self.out_names(1);
                self.stmts.push(format!(
                    "{ann}INSERT INTO {} SELECT {okq} AS {} FROM {oq} WHERE {okq} IN {tname};",
                    q(self.rng, &target),
                    q(self.rng, &o[0])
                ));
            }
        }
        self.tables.push(Stream {
            name,
            attrs: cols.to_vec(),
        });
    }

    fn partition(&mut self) -> String {
        let s = self.pick_input();
        let sq = q(self.rng, &s.name);
        let keys = if self.rng.chance(70) {
            let k = self
                .attr_of(&s, |a| a.ty == Ty::Str || a.ty == Ty::Int)
                .map(|a| a.name.clone())
                .unwrap_or_else(|| s.attrs[0].name.clone());
            format!("{} OF {sq}", q(self.rng, &k))
        } else {
            match self.attr_of(&s, |a| a.ty.numeric()).cloned() {
                Some(a) => {
                    let an = q(self.rng, &a.name);
                    let lit = self.literal(a.ty);
                    format!("{an} < {lit} AS 'low' OR {an} >= {lit} AS 'high' OF {sq}")
                }
                None => format!("{} OF {sq}", q(self.rng, &s.attrs[0].name)),
            }
        };
        let purge = if self.rng.chance(30) {
            format!(" PURGE AFTER {}", self.duration())
        } else {
            String::new()
        };
        let mut body = Vec::new();
        for _ in 0..1 + self.rng.below(2) {
            match self.rng.below(10) {
                0..=3 => body.push(self.filter_query(&s, true)),
                4 => {
                    // Through an inner stream.
                    let inner = format!("#{}", self.fresh_name(STREAM_NAMES));
                    let k = s.attrs[self.rng.below(s.attrs.len())].clone();
                    let o = self.out_names(1);
                    let ann = self.annotation();
                    body.push(format!(
                        "{ann}INSERT INTO {} SELECT {} AS {} FROM {sq};",
                        inner.replace('#', "#\"").to_string() + "\"",
                        q(self.rng, &k.name),
                        q(self.rng, &o[0])
                    ));
                    let inner_stream = Stream {
                        name: inner.clone(),
                        attrs: vec![Attr {
                            name: o[0].clone(),
                            ty: k.ty,
                            not_null: false,
                        }],
                    };
                    let inner_q = inner.replace('#', "#\"") + "\"";
                    let q2 = self.window_query(&inner_stream, true);
                    body.push(q2.replace(
                        &format!("FROM {}", q(self.rng, &inner)),
                        &format!("FROM {inner_q}"),
                    ));
                }
                5 => body.push(self.join_query(Some(&s))),
                6 => body.push(self.pattern_query(Some(&s))),
                _ => body.push(self.window_query(&s, true)),
            }
        }
        format!(
            "PARTITION WITH ({keys}){purge} BEGIN\n    {}\nEND;",
            body.join("\n    ")
        )
    }

    /// A trigger and a query reading it.
    fn trigger(&mut self) -> String {
        let name = self.fresh_name(STREAM_NAMES);
        let at = *self.rng.pick(&["EVERY 1 sec", "EVERY 700 ms", "START"]);
        let tq = q(self.rng, &name);
        self.stmts.push(format!("CREATE TRIGGER {tq} AT {at};"));
        let target = self.fresh_name(STREAM_NAMES);
        let o = self.out_names(1);
        let ann = self.annotation();
        if at != "START" {
            self.must_output.push(target.clone());
        }
        format!(
            "{ann}INSERT INTO {} SELECT triggered_time AS {} FROM {tq};",
            q(self.rng, &target),
            q(self.rng, &o[0])
        )
    }

    fn query(&mut self) -> String {
        if self.rng.chance(4) {
            return self.trigger();
        }
        match self.rng.below(20) {
            0..=3 => {
                // Chains read other queries' output when there is some.
                if !self.chainable.is_empty() && self.rng.chance(50) {
                    let s = self.chainable[self.rng.below(self.chainable.len())].clone();
                    if self.rng.chance(50) {
                        self.filter_query(&s, false)
                    } else {
                        self.window_query(&s, false)
                    }
                } else {
                    let s = self.pick_input();
                    self.filter_query(&s, false)
                }
            }
            4..=10 => {
                let s = self.pick_input();
                self.window_query(&s, false)
            }
            11..=13 => self.join_query(None),
            14..=16 => self.pattern_query(None),
            17 => {
                self.table();
                String::new()
            }
            _ => self.partition(),
        }
    }
}

/// Generates app number `index` of seed `seed`.
pub fn app(seed: u64, index: u64) -> App {
    let mut rng = Rng::new(seed.wrapping_mul(0x100_0000_01B3).wrapping_add(index));
    let mut g = Gen {
        rng: &mut rng,
        names: Vec::new(),
        inputs: Vec::new(),
        shared: Vec::new(),
        chainable: Vec::new(),
        tables: Vec::new(),
        stmts: Vec::new(),
        must_output: Vec::new(),
        queries: 0,
    };
    for _ in 0..1 + g.rng.below(2) {
        let i = g.new_input();
        g.shared.push(i);
    }
    if g.rng.chance(30) {
        g.table();
    }
    let n = 3 + g.rng.below(6);
    for _ in 0..n {
        let s = g.query();
        if !s.is_empty() {
            g.stmts.push(s);
        }
    }
    let text = format!(
        "-- Random app {index} of seed {seed} (tests/random_apps).\n{}\n",
        g.stmts.join("\n")
    );
    let input = input(g.rng, &g.inputs);
    let must_output = g.must_output.clone();
    App {
        text,
        input,
        must_output,
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn value(rng: &mut Rng, a: &Attr, ts: i64) -> String {
    match a.ty {
        Ty::Int => rng.range(-3, 9).to_string(),
        Ty::Long => {
            // Event-time attributes (externalTime) mostly move forward.
            if rng.chance(70) {
                (ts + rng.range(-200, 200)).to_string()
            } else {
                rng.range(-3, 9).to_string()
            }
        }
        Ty::Float | Ty::Double => format!("{}.{}", rng.range(-3, 9), rng.pick(&["0", "5", "25"])),
        Ty::Str => json_string(rng.pick_str(&[
            "a",
            "b",
            "c",
            "",
            "ü",
            "a key longer than twenty-four bytes",
        ])),
        Ty::Bool => rng.pick(&["true", "false"]).to_string(),
    }
}

/// Random input for `streams`: every stream gets events (NULLs and omitted attributes
/// included), with clock-only lines, lines without `ts` and a final jump of the clock.
fn input(rng: &mut Rng, streams: &[Stream]) -> String {
    let mut out = String::new();
    let mut ts = 1000i64;
    let n = 30 + rng.below(40);
    for i in 0..n {
        ts += *rng.pick(&[0, 0, 50, 100, 250, 400, 900, 1500]);
        if i >= streams.len() && rng.chance(8) {
            let _ = writeln!(out, "{{\"ts\": {ts}}}");
            continue;
        }
        // Every stream gets an event early on.
        let s = if i < streams.len() {
            &streams[i]
        } else {
            &streams[rng.below(streams.len())]
        };
        let mut fields = Vec::new();
        for a in &s.attrs {
            if !a.not_null && rng.chance(15) {
                if rng.chance(50) {
                    fields.push(format!("{}: null", json_string(&a.name)));
                }
                continue;
            }
            fields.push(format!("{}: {}", json_string(&a.name), value(rng, a, ts)));
        }
        let time = if rng.chance(7) && i > 0 {
            String::new()
        } else {
            format!("\"ts\": {ts}, ")
        };
        let _ = writeln!(
            out,
            "{{\"stream\": {}, {time}\"data\": {{{}}}}}",
            json_string(&s.name),
            fields.join(", ")
        );
    }
    let _ = writeln!(out, "{{\"ts\": {}}}", ts + 20_000);
    out
}

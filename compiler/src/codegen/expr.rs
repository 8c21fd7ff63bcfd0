//! Typed expressions. Every generated expression evaluates to an `Option<T>` (`None` is
//! NULL); STRING values are any `S: AsRef<str>` so attributes are compared without cloning,
//! and become `Option<Arc<str>>` only where a value must be owned.

use super::stream::{field, value_type};
use super::Ctx;
use crate::sema::ir::{ArithOp, CmpOp, ExprKind, Func, Lit, TExpr};
use crate::sema::{Attribute, Type};
use crate::syntax::ast::EventIndex;
use proc_macro2::{Literal, TokenStream};
use quote::quote;
use std::cell::Cell;

pub(crate) mod lookup;

/// What an expression can read: its inputs (an access path and a stream index each) and the
/// values of its query's aggregates.
pub(crate) struct ExprEnv<'a> {
    pub ctx: &'a Ctx<'a>,
    /// Per input: the tokens naming the event (e.g. `event`), and its stream.
    pub inputs: Vec<(TokenStream, usize)>,
    /// Per aggregate: tokens of its current value (an `Option<T>`).
    pub aggregates: Vec<TokenStream>,
    /// Tokens reading the app's clock (for `now()`).
    pub now: TokenStream,
    /// Per input, `true` when its access tokens name an `Option<&Event>` (the padded side
    /// of an outer join: `None` reads every attribute as NULL). Missing entries are `false`.
    pub optional: Vec<bool>,
    /// Attributes read from somewhere else than their input: `(input, attr)` and the path of
    /// an `Option<T>` holding the value (a grouped query reads its GROUP BY attributes from
    /// the group's key, so its window need not keep them).
    pub keys: Vec<((usize, usize), TokenStream)>,
    /// What the expressions generated so far read, for the caller to bind
    /// ([`ExprEnv::uses`]); starts empty.
    pub used: Cell<Uses>,
}

/// What generated code reads of what the code around it binds: which inputs of an
/// expression environment (a bit per input index), the event's timestamp `ts`, the clock
/// (`now()`), the app's tables (`IN table`, through `self`), a group's key `__ef_key`,
/// the arriving event `__ef_arrival`, the sink `__ef_out` and the row buffer `__ef_rows`.
/// Expressions report theirs through [`ExprEnv::uses`]; generators combine them with what
/// their own code reads (`|`), and bind exactly these instead of searching their output
/// for the names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Uses {
    /// A bit per input read (see [`Uses::input`]).
    pub inputs: u64,
    /// `ts` is read.
    pub ts: bool,
    /// The clock tokens of [`ExprEnv::now`] are read.
    pub now: bool,
    /// A table of the app is read (through `self`).
    pub tables: bool,
    /// The group key is read (a path of [`ExprEnv::keys`], which name `__ef_key` where a
    /// generator binds it; or the generator's own code reads `__ef_key`).
    pub key: bool,
    /// The arriving event `__ef_arrival` is read.
    pub arrival: bool,
    /// Rows go to the sink `__ef_out`.
    pub out: bool,
    /// Rows go to the row buffer `__ef_rows`.
    pub rows: bool,
}

impl Uses {
    /// Nothing is read.
    pub(crate) const NONE: Uses = Uses {
        inputs: 0,
        ts: false,
        now: false,
        tables: false,
        key: false,
        arrival: false,
        out: false,
        rows: false,
    };

    /// These uses without the inputs (the code reads its inputs under other names).
    pub(crate) fn without_inputs(self) -> Uses {
        Uses { inputs: 0, ..self }
    }

    /// Whether input `input` is read.
    pub(crate) fn input(&self, input: usize) -> bool {
        input < 64 && self.inputs & (1 << input) != 0
    }

    /// Input `input` only.
    pub(crate) fn of_input(input: usize) -> Uses {
        Uses {
            inputs: if input < 64 { 1 << input } else { 0 },
            ..Uses::NONE
        }
    }

    /// `ts` only.
    pub(crate) const TS: Uses = Uses {
        ts: true,
        ..Uses::NONE
    };

    /// `__ef_key` only.
    pub(crate) const KEY: Uses = Uses {
        key: true,
        ..Uses::NONE
    };

    /// These uses, with input `input` read when `read`.
    pub(crate) fn with_input(self, input: usize, read: bool) -> Uses {
        if read {
            self | Uses::of_input(input)
        } else {
            self
        }
    }

    /// These uses when `on`, else none.
    pub(crate) fn when(self, on: bool) -> Uses {
        if on {
            self
        } else {
            Uses::NONE
        }
    }
}

impl std::ops::BitOr for Uses {
    type Output = Uses;
    fn bitor(self, o: Uses) -> Uses {
        Uses {
            inputs: self.inputs | o.inputs,
            ts: self.ts || o.ts,
            now: self.now || o.now,
            tables: self.tables || o.tables,
            key: self.key || o.key,
            arrival: self.arrival || o.arrival,
            out: self.out || o.out,
            rows: self.rows || o.rows,
        }
    }
}

impl std::ops::BitOrAssign for Uses {
    fn bitor_assign(&mut self, o: Uses) {
        *self = *self | o;
    }
}

/// Generated code with what it reads ([`Uses`]), for the code around it to bind.
#[derive(Clone, Debug, Default)]
pub(crate) struct Code {
    pub tokens: TokenStream,
    pub uses: Uses,
}

impl Code {
    pub(crate) fn new(tokens: TokenStream, uses: Uses) -> Code {
        Code { tokens, uses }
    }

    /// Code that reads nothing.
    pub(crate) fn plain(tokens: TokenStream) -> Code {
        Code::new(tokens, Uses::NONE)
    }
}

impl quote::ToTokens for Code {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        self.tokens.to_tokens(tokens);
    }
}

impl ExprEnv<'_> {
    /// What the expressions generated by this environment so far read.
    pub(crate) fn uses(&self) -> Uses {
        self.used.get()
    }

    /// Runs `f` (which generates expressions of this environment) and returns its result
    /// with what those expressions read alone; they still count for [`ExprEnv::uses`].
    pub(crate) fn track<T>(&self, f: impl FnOnce() -> T) -> (T, Uses) {
        let before = self.used.replace(Uses::NONE);
        let out = f();
        let read = self.used.get();
        self.used.set(before | read);
        (out, read)
    }

    /// Adds what `inner` read (an environment made for a sub-expression over the first
    /// `shared` inputs of this one) to what this one read.
    pub(crate) fn absorb(&self, inner: Uses, shared: usize) {
        let mask = if shared >= 64 {
            u64::MAX
        } else {
            (1u64 << shared) - 1
        };
        let inner = Uses {
            inputs: inner.inputs & mask,
            ..inner
        };
        self.used.set(self.used.get() | inner);
    }

    /// The tokens reading the app's clock ([`ExprEnv::now`]), counted as a read of it.
    pub(crate) fn clock(&self) -> TokenStream {
        self.use_now();
        self.now.clone()
    }

    fn use_input(&self, input: usize) {
        let mut u = self.used.get();
        if input < 64 {
            u.inputs |= 1 << input;
        }
        self.used.set(u);
    }

    fn use_ts(&self) {
        let mut u = self.used.get();
        u.ts = true;
        self.used.set(u);
    }

    fn use_now(&self) {
        let mut u = self.used.get();
        u.now = true;
        self.used.set(u);
    }

    /// The path of attribute `attr` of input `input` (e.g. `event.price`) and its schema.
    pub(crate) fn attr_path(&self, input: usize, attr: usize) -> (TokenStream, &Attribute) {
        self.attr(input, attr)
    }

    fn attr(&self, input: usize, attr: usize) -> (TokenStream, &Attribute) {
        self.use_input(input);
        let (access, stream) = &self.inputs[input];
        let f = field(self.ctx, *stream, attr);
        (
            quote!(#access.#f),
            &self.ctx.plan.streams[*stream].attrs[attr],
        )
    }

    /// The path of the `Option<T>` holding attribute `attr` of input `input`, when the
    /// attribute is read from a group key (see [`ExprEnv::keys`]).
    fn key_path(&self, input: usize, attr: usize) -> Option<&TokenStream> {
        self.keys
            .iter()
            .find(|(at, _)| *at == (input, attr))
            .map(|(_, path)| path)
    }

    /// [`ExprEnv::key_path`], counted as a read of the group key.
    fn read_key(&self, input: usize, attr: usize) -> Option<&TokenStream> {
        let path = self.key_path(input, attr)?;
        self.used.set(self.used.get() | Uses::KEY);
        Some(path)
    }

    fn is_optional(&self, input: usize) -> bool {
        self.optional.get(input).copied().unwrap_or(false)
    }

    /// Attribute `attr` of optional input `input` (an `Option<&Event>`), NULL when the input
    /// is absent; `owned` clones STRING values.
    fn optional_attr(&self, input: usize, attr: usize, owned: bool) -> TokenStream {
        self.use_input(input);
        let (access, stream) = &self.inputs[input];
        self.attr_of_optional(access, *stream, attr, owned)
    }

    /// Event `index` of counted pattern input `input` (its access tokens name a
    /// `runtime::pattern::Collect`), NULL when there is no such event.
    fn indexed_attr(
        &self,
        input: usize,
        index: EventIndex,
        attr: usize,
        owned: bool,
    ) -> TokenStream {
        self.use_input(input);
        let (access, stream) = &self.inputs[input];
        let event = match index {
            EventIndex::At(k) => quote!(#access.at(#k)),
            EventIndex::Last(k) => quote!(#access.last(#k)),
        };
        self.attr_of_optional(&event, *stream, attr, owned)
    }

    /// Attribute `attr` of the `Option<&Event>` of stream `stream` that `access` names.
    fn attr_of_optional(
        &self,
        access: &TokenStream,
        stream: usize,
        attr: usize,
        owned: bool,
    ) -> TokenStream {
        let f = field(self.ctx, stream, attr);
        let a = &self.ctx.plan.streams[stream].attrs[attr];
        let string = a.ty == Type::String;
        match (a.nullable, string && owned, string) {
            (true, true, _) => quote!(#access.and_then(|__ef_e| __ef_e.#f.clone())),
            (true, false, true) => quote!(#access.and_then(|__ef_e| __ef_e.#f.as_ref())),
            (true, false, false) => quote!(#access.and_then(|__ef_e| __ef_e.#f)),
            (false, true, _) => quote!(#access.map(|__ef_e| __ef_e.#f.clone())),
            (false, false, true) => quote!(#access.map(|__ef_e| &__ef_e.#f)),
            (false, false, false) => quote!(#access.map(|__ef_e| __ef_e.#f)),
        }
    }

    /// The expression as an `Option<T>`.
    pub fn gen(&self, e: &TExpr) -> TokenStream {
        let rt = self.ctx.rt;
        match &e.kind {
            ExprKind::Lit(lit) => {
                let v = literal(lit);
                quote!(::core::option::Option::Some(#v))
            }
            ExprKind::Null => {
                let ty = match e.ty {
                    Type::String | Type::Null => quote!(&'static str),
                    t => value_type(rt, t),
                };
                quote!(::core::option::Option::None::<#ty>)
            }
            ExprKind::Attr { input, attr, .. } if self.key_path(*input, *attr).is_some() => {
                let path = self.read_key(*input, *attr);
                if e.ty == Type::String {
                    quote!(#path.as_ref())
                } else {
                    quote!(#path)
                }
            }
            ExprKind::Attr { input, attr, .. } if self.is_optional(*input) => {
                self.optional_attr(*input, *attr, false)
            }
            ExprKind::IndexedAttr {
                input, index, attr, ..
            } => self.indexed_attr(*input, *index, *attr, false),
            ExprKind::Attr { input, attr, .. } => {
                let (path, a) = self.attr(*input, *attr);
                match (a.nullable, a.ty == Type::String) {
                    (true, true) => quote!(#path.as_ref()),
                    (true, false) => quote!(#path),
                    (false, true) => quote!(::core::option::Option::Some(&#path)),
                    (false, false) => quote!(::core::option::Option::Some(#path)),
                }
            }
            ExprKind::Widen(inner) => self.widen(inner, e.ty),
            ExprKind::Neg(x) => {
                let x = self.gen(x);
                quote!(#rt::expr::neg(#x))
            }
            ExprKind::Not(x) => {
                let x = self.gen(x);
                quote!(#rt::expr::not(#x))
            }
            ExprKind::Arith(op, a, b) => {
                let f = match op {
                    ArithOp::Add => quote!(add),
                    ArithOp::Sub => quote!(sub),
                    ArithOp::Mul => quote!(mul),
                    ArithOp::Div => quote!(div),
                    ArithOp::Rem => quote!(rem),
                };
                let (a, b) = (self.gen(a), self.gen(b));
                quote!(#rt::expr::#f(#a, #b))
            }
            ExprKind::Cmp(op, a, b) => self.compare(*op, a, b),
            ExprKind::And(a, b) => {
                let (a, b) = (self.gen(a), self.gen(b));
                quote!(#rt::expr::and(#a, || #b))
            }
            ExprKind::Or(a, b) => {
                let (a, b) = (self.gen(a), self.gen(b));
                quote!(#rt::expr::or(#a, || #b))
            }
            ExprKind::IsNull(x, negated) => {
                let x = self.gen(x);
                if *negated {
                    quote!(::core::option::Option::Some((#x).is_some()))
                } else {
                    quote!(::core::option::Option::Some((#x).is_none()))
                }
            }
            ExprKind::InList(x, list, negated) => self.in_list(x, list, *negated),
            // The negated forms are false with a NULL operand, as `NOT IN` (never NOT of a
            // false `BETWEEN`/`LIKE`).
            ExprKind::Between(x, lo, hi, negated) => {
                let f = match (x.ty == Type::String, *negated) {
                    (true, false) => quote!(str_between),
                    (true, true) => quote!(str_not_between),
                    (false, false) => quote!(between),
                    (false, true) => quote!(not_between),
                };
                let (x, lo, hi) = (self.gen(x), self.gen(lo), self.gen(hi));
                quote!(#rt::expr::#f(#x, #lo, #hi))
            }
            ExprKind::Like(x, p, negated) => {
                let (x, p) = (self.gen(x), self.gen(p));
                if *negated {
                    quote!(#rt::functions::not_like(#x, #p))
                } else {
                    quote!(#rt::functions::like(#x, #p))
                }
            }
            ExprKind::Case(whens, else_) => {
                let branches = whens.iter().map(|(c, v)| {
                    let (c, v) = (self.gen(c), self.owned(v));
                    quote!(if #rt::expr::holds(#c) { #v })
                });
                let else_ = match else_ {
                    Some(x) => self.owned(x),
                    None => quote!(::core::option::Option::None),
                };
                quote!(#(#branches else)* { #else_ })
            }
            ExprKind::Cast(x) => self.cast(x, e.ty),
            ExprKind::Call(func, args) => self.call(*func, args),
            ExprKind::Agg(i) => self.aggregates[*i].clone(),
            ExprKind::InTable { table, row, cond } => lookup::in_table(self, table, *row, cond),
        }
    }

    /// The expression with STRING values owned (`Option<Arc<str>>`), so branches of a CASE or
    /// a coalesce share one type; other types are unchanged.
    pub fn owned(&self, e: &TExpr) -> TokenStream {
        if e.ty != Type::String {
            return self.gen(e);
        }
        let rt = self.ctx.rt;
        if let ExprKind::IndexedAttr {
            input, index, attr, ..
        } = &e.kind
        {
            return self.indexed_attr(*input, *index, *attr, true);
        }
        if let ExprKind::Attr { input, attr, .. } = &e.kind {
            if let Some(path) = self.read_key(*input, *attr) {
                return quote!(#path.clone());
            }
            if self.is_optional(*input) {
                return self.optional_attr(*input, *attr, true);
            }
            let (path, a) = self.attr(*input, *attr);
            return if a.nullable {
                quote!(#path.clone())
            } else {
                quote!(::core::option::Option::Some(#path.clone()))
            };
        }
        let x = self.gen(e);
        quote!(#rt::expr::to_arc(#x))
    }

    fn widen(&self, inner: &TExpr, to: Type) -> TokenStream {
        let rt = self.ctx.rt;
        let x = self.gen(inner);
        match to {
            Type::Long => quote!(#rt::expr::to_i64(#x)),
            Type::Float => quote!(#rt::expr::to_f32(#x)),
            Type::Double => quote!(#rt::expr::to_f64(#x)),
            _ => x,
        }
    }

    fn compare(&self, op: CmpOp, a: &TExpr, b: &TExpr) -> TokenStream {
        let rt = self.ctx.rt;
        let name = match op {
            CmpOp::Eq => "eq",
            CmpOp::Ne => "ne",
            CmpOp::Lt => "lt",
            CmpOp::Le => "le",
            CmpOp::Gt => "gt",
            CmpOp::Ge => "ge",
        };
        let f = if a.ty == Type::String {
            quote::format_ident!("str_{}", name)
        } else {
            quote::format_ident!("{}", name)
        };
        let (a, b) = (self.gen(a), self.gen(b));
        quote!(#rt::expr::#f(#a, #b))
    }

    fn in_list(&self, x: &TExpr, list: &[TExpr], negated: bool) -> TokenStream {
        let rt = self.ctx.rt;
        let string = x.ty == Type::String;
        let value = if string {
            let v = self.owned(x);
            quote!(let __ef_value = #v;)
        } else {
            let v = self.gen(x);
            quote!(let __ef_value = #v;)
        };
        let tests = list.iter().map(|item| {
            let item = self.gen(item);
            if string {
                quote!(#rt::expr::holds(#rt::expr::str_eq(__ef_value.as_deref(), #item)))
            } else {
                quote!(#rt::expr::holds(#rt::expr::eq(__ef_value, #item)))
            }
        });
        let result = if negated {
            quote!(__ef_value.is_some() && !(#(#tests)||*))
        } else {
            quote!(#(#tests)||*)
        };
        quote!({
            #value
            ::core::option::Option::Some(#result)
        })
    }

    fn cast(&self, x: &TExpr, to: Type) -> TokenStream {
        let rt = self.ctx.rt;
        let from = x.ty;
        let v = self.gen(x);
        let f = |name: &str| {
            let f = quote::format_ident!("{}", name);
            quote!(#rt::functions::#f(#v))
        };
        match (from, to) {
            (Type::String, Type::Int) => f("parse_i32"),
            (Type::String, Type::Long) => f("parse_i64"),
            (Type::String, Type::Float) => f("parse_f32"),
            (Type::String, Type::Double) => f("parse_f64"),
            (Type::String, Type::Bool) => f("parse_bool"),
            (Type::Double, Type::Int) => f("f64_to_i32"),
            (Type::Double, Type::Long) => f("f64_to_i64"),
            (Type::Float, Type::Int) => f("f32_to_i32"),
            (Type::Float, Type::Long) => f("f32_to_i64"),
            (Type::Double, Type::String) => f("f64_to_string"),
            (Type::Float, Type::String) => f("f32_to_string"),
            (_, Type::String) => f("to_string_display"),
            (Type::Long, Type::Int) => quote!((#v).map(|__ef_v| __ef_v as i32)),
            (Type::Double, Type::Float) => quote!((#v).map(|__ef_v| __ef_v as f32)),
            (Type::Bool, Type::Bool) | (_, Type::Null) => v,
            (_, to) => {
                // Widening casts (INT to DOUBLE, ...).
                let inner = TExpr::new(x.kind.clone(), from, x.span);
                self.widen(&inner, to)
            }
        }
    }

    fn call(&self, func: Func, args: &[TExpr]) -> TokenStream {
        let rt = self.ctx.rt;
        let simple = |name: &str| {
            let f = quote::format_ident!("{}", name);
            let args = args.iter().map(|a| self.gen(a));
            quote!(#rt::functions::#f(#(#args),*))
        };
        match func {
            Func::Upper => simple("upper"),
            Func::Lower => simple("lower"),
            Func::Length => simple("length"),
            Func::Replace => simple("replace"),
            Func::Trim => simple("trim"),
            Func::Substring if args.len() == 2 => simple("substring_from"),
            Func::Substring => simple("substring"),
            Func::Left => simple("left"),
            Func::Right => simple("right"),
            Func::Reverse => simple("reverse"),
            Func::Lpad => simple("lpad"),
            Func::Rpad => simple("rpad"),
            Func::Position => simple("position"),
            Func::Abs => simple("abs"),
            Func::Ceil => simple("ceil"),
            Func::Floor => simple("floor"),
            Func::Round => simple("round"),
            Func::Sqrt => simple("sqrt"),
            Func::Power => simple("power"),
            Func::Exp => simple("exp"),
            Func::Ln => simple("ln"),
            Func::Log10 => simple("log10"),
            Func::Sin => simple("sin"),
            Func::Cos => simple("cos"),
            Func::Tan => simple("tan"),
            Func::Asin => simple("asin"),
            Func::Acos => simple("acos"),
            Func::Atan => simple("atan"),
            Func::Signum => simple("signum"),
            Func::Uuid => simple("uuid"),
            Func::Now => {
                self.use_now();
                let now = &self.now;
                quote!(::core::option::Option::Some(#now))
            }
            Func::EventTimestamp => {
                self.use_ts();
                quote!(::core::option::Option::Some(ts))
            }
            Func::Concat => {
                let mut parts = args.iter().map(|a| self.gen(a));
                let first = parts
                    .next()
                    .unwrap_or_else(|| quote!(::core::option::Option::Some("")));
                parts.fold(
                    quote!(#rt::expr::to_arc(#first)),
                    |acc, p| quote!(#rt::functions::concat(#acc, #p)),
                )
            }
            Func::Coalesce => {
                let mut parts = args.iter().map(|a| self.owned(a));
                let first = parts
                    .next()
                    .unwrap_or_else(|| quote!(::core::option::Option::None));
                parts.fold(first, |acc, p| quote!(#acc.or_else(|| #p)))
            }
            Func::Maximum | Func::Minimum => {
                let f = if func == Func::Maximum {
                    quote!(maximum)
                } else {
                    quote!(minimum)
                };
                let mut parts = args.iter().map(|a| self.gen(a));
                let first = parts
                    .next()
                    .unwrap_or_else(|| quote!(::core::option::Option::None));
                parts.fold(first, |acc, p| quote!(#rt::expr::#f(#acc, #p)))
            }
            Func::NullIf => {
                let a = self.owned(&args[0]);
                let b = self.gen(&args[1]);
                let eq = if args[0].ty == Type::String {
                    quote!(#rt::expr::str_eq(__ef_value.as_deref(), #b))
                } else {
                    quote!(#rt::expr::eq(__ef_value, #b))
                };
                quote!({
                    let __ef_value = #a;
                    if #rt::expr::holds(#eq) { ::core::option::Option::None } else { __ef_value }
                })
            }
            Func::IfThenElse => {
                let (c, a, b) = (
                    self.gen(&args[0]),
                    self.owned(&args[1]),
                    self.owned(&args[2]),
                );
                quote!(if #rt::expr::holds(#c) { #a } else { #b })
            }
        }
    }
}

/// A typed Rust literal.
fn literal(lit: &Lit) -> TokenStream {
    match lit {
        Lit::Int(v) => {
            let l = Literal::i32_suffixed(*v);
            quote!(#l)
        }
        Lit::Long(v) => {
            let l = Literal::i64_suffixed(*v);
            quote!(#l)
        }
        Lit::Float(v) => {
            let l = Literal::f32_suffixed(*v);
            quote!(#l)
        }
        Lit::Double(v) => {
            let l = Literal::f64_suffixed(*v);
            quote!(#l)
        }
        Lit::String(s) => {
            let l = Literal::string(s);
            quote!(#l)
        }
        Lit::Bool(b) => quote!(#b),
    }
}

#[cfg(test)]
mod uses_tests {
    use super::Uses;

    #[test]
    fn uses_combine_and_drop_inputs() {
        let a = Uses::of_input(2) | Uses::TS;
        let b = Uses::KEY.with_input(0, true).with_input(5, false);
        let both = a | b;
        assert!(both.input(0) && both.input(2) && !both.input(5) && !both.input(64));
        assert!(both.ts && both.key && !both.now);
        let none = both.without_inputs();
        assert!(!none.input(0) && !none.input(2) && none.ts && none.key);
        assert_eq!(Uses::KEY.when(false), Uses::NONE);
        assert_eq!(Uses::KEY.when(true), Uses::KEY);
        let mut acc = Uses::NONE;
        acc |= Uses::of_input(64);
        assert_eq!(acc, Uses::NONE);
    }
}

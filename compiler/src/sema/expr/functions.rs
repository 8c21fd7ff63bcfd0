//! Signatures of the scalar functions: arity, argument types and result type.

use super::{type_error, Binder, Reported};
use crate::diagnostic::Diagnostic;
use crate::sema::ir::{ExprKind, Func, TExpr};
use crate::sema::types::Type;
use crate::syntax::ast::{Ident, Span};

/// Checks a call of `func` with already-bound `args`, coercing them to the function's
/// parameter types.
pub fn check_call(
    b: &mut Binder<'_>,
    func: Func,
    name: &Ident,
    args: Vec<TExpr>,
    span: Span,
) -> Result<TExpr, Reported> {
    use Type::*;
    let arity = |min: usize, max: usize| (min..=max).contains(&args.len());
    let (params, result): (Vec<Type>, Type) = match func {
        Func::Upper | Func::Lower | Func::Trim | Func::Reverse if arity(1, 1) => {
            (vec![String], String)
        }
        Func::Length if arity(1, 1) => (vec![String], Int),
        Func::Concat if !args.is_empty() => (vec![String; args.len()], String),
        Func::Replace if arity(3, 3) => (vec![String; 3], String),
        Func::Substring if arity(2, 3) => {
            let mut p = vec![String, Int];
            p.truncate(args.len());
            if args.len() == 3 {
                p.push(Int);
            }
            (p, String)
        }
        Func::Left | Func::Right if arity(2, 2) => (vec![String, Int], String),
        Func::Lpad | Func::Rpad if arity(3, 3) => (vec![String, Int, String], String),
        Func::Position if arity(2, 2) => (vec![String, String], Int),
        Func::Abs if arity(1, 1) && numeric_or_null(&args[0]) => {
            let t = num(args[0].ty);
            (vec![t], t)
        }
        Func::Round if arity(1, 1) && numeric_or_null(&args[0]) => (vec![Double], Long),
        Func::Signum if arity(1, 1) && numeric_or_null(&args[0]) => (vec![Double], Double),
        Func::Ceil
        | Func::Floor
        | Func::Sqrt
        | Func::Exp
        | Func::Ln
        | Func::Log10
        | Func::Sin
        | Func::Cos
        | Func::Tan
        | Func::Asin
        | Func::Acos
        | Func::Atan
            if arity(1, 1) =>
        {
            (vec![Double], Double)
        }
        Func::Power if arity(2, 2) => (vec![Double, Double], Double),
        Func::Uuid if arity(0, 0) => (vec![], String),
        Func::Now | Func::EventTimestamp if arity(0, 0) => (vec![], Long),
        Func::Coalesce if !args.is_empty() => {
            let t = common(b, &args)?;
            (vec![t; args.len()], t)
        }
        Func::Maximum | Func::Minimum if !args.is_empty() && args.iter().all(numeric_or_null) => {
            let t = num(common(b, &args)?);
            (vec![t; args.len()], t)
        }
        Func::NullIf if arity(2, 2) => {
            let t = common(b, &args)?;
            (vec![t, t], t)
        }
        Func::IfThenElse if arity(3, 3) => {
            let t = common(b, &args[1..])?;
            (vec![Bool, t, t], t)
        }
        _ => {
            return b.fail(
                Diagnostic::error(
                    format!("wrong number of arguments for `{}`", name.name),
                    span,
                )
                .with_label(format!("{} argument(s) given", args.len())),
            )
        }
    };
    let mut coerced = Vec::with_capacity(args.len());
    for (arg, ty) in args.into_iter().zip(params) {
        if arg.ty.assignable_to(ty) {
            coerced.push(arg.widen_to(ty));
        } else {
            let msg = format!("`{}` expects {ty} here, found {}", name.name, arg.ty);
            return b.fail(type_error(&msg, &arg));
        }
    }
    Ok(TExpr::new(ExprKind::Call(func, coerced), result, span))
}

fn numeric_or_null(e: &TExpr) -> bool {
    e.ty.is_numeric() || e.ty == Type::Null
}

fn num(t: Type) -> Type {
    if t == Type::Null {
        Type::Double
    } else {
        t
    }
}

fn common(b: &mut Binder<'_>, args: &[TExpr]) -> Result<Type, Reported> {
    let mut ty = Type::Null;
    for a in args {
        ty = match Type::unify(ty, a.ty) {
            Some(t) => t,
            None => return b.fail(type_error("arguments must have one common type", a)),
        };
    }
    Ok(if ty == Type::Null { Type::String } else { ty })
}

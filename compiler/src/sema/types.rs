//! The value types of the language and their rules (docs/language.md#types, docs/functions.md#operators).

use std::fmt;

/// A value type. `TIMESTAMP` is LONG epoch milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Type {
    /// 32-bit integer.
    Int,
    /// 64-bit integer.
    Long,
    /// 32-bit float.
    Float,
    /// 64-bit float.
    Double,
    /// UTF-8 string.
    String,
    /// Boolean.
    Bool,
    /// The type of a bare `NULL` literal before context gives it one.
    Null,
}

impl Type {
    /// Resolves a type name as written in a definition or a CAST (case-insensitive).
    pub fn from_name(name: &str) -> Option<Type> {
        Some(match name.to_ascii_uppercase().as_str() {
            "INT" | "INTEGER" => Type::Int,
            "LONG" | "BIGINT" | "TIMESTAMP" => Type::Long,
            "FLOAT" | "REAL" => Type::Float,
            "DOUBLE" => Type::Double,
            "STRING" | "VARCHAR" | "TEXT" => Type::String,
            "BOOL" | "BOOLEAN" => Type::Bool,
            _ => return None,
        })
    }

    /// `true` for INT, LONG, FLOAT and DOUBLE.
    pub fn is_numeric(self) -> bool {
        matches!(self, Type::Int | Type::Long | Type::Float | Type::Double)
    }

    /// `true` for INT and LONG.
    pub fn is_integer(self) -> bool {
        matches!(self, Type::Int | Type::Long)
    }

    fn rank(self) -> u8 {
        match self {
            Type::Int => 0,
            Type::Long => 1,
            Type::Float => 2,
            Type::Double => 3,
            _ => 4,
        }
    }

    /// The wider of two numeric types (INT < LONG < FLOAT < DOUBLE).
    pub fn widest(a: Type, b: Type) -> Type {
        if a.rank() >= b.rank() {
            a
        } else {
            b
        }
    }

    /// The common type two values can be brought to, if any (NULL fits anything).
    pub fn unify(a: Type, b: Type) -> Option<Type> {
        match (a, b) {
            (Type::Null, t) | (t, Type::Null) => Some(t),
            (a, b) if a == b => Some(a),
            (a, b) if a.is_numeric() && b.is_numeric() => Some(Type::widest(a, b)),
            _ => None,
        }
    }

    /// `true` when a value of `self` can be stored in an attribute of type `to` without a
    /// CAST (same type, numeric widening, or NULL).
    pub fn assignable_to(self, to: Type) -> bool {
        self == to
            || self == Type::Null
            || (self.is_numeric() && to.is_numeric() && self.rank() <= to.rank())
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Type::Int => "INT",
            Type::Long => "LONG",
            Type::Float => "FLOAT",
            Type::Double => "DOUBLE",
            Type::String => "STRING",
            Type::Bool => "BOOL",
            Type::Null => "NULL",
        })
    }
}

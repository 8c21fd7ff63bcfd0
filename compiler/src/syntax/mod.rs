//! Lexer, LALRPOP grammar and AST.

pub mod ast;

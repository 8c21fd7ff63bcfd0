//! # eventflux-compiler
//!
//! Compiles EventFlux streaming SQL into Rust: `syntax` (lexer, LALRPOP grammar, AST) ->
//! `sema` (catalog, names, types, diagnostics) -> `plan` (logical plan per query) ->
//! `codegen` (plan to `quote!` tokens, formatted with prettyplease). `build` holds the
//! `configure()` builder for build.rs and the standalone project generator used by the
//! `eventflux` command.

pub mod build;
pub mod codegen;
pub mod diagnostic;
pub mod plan;
pub mod sema;
pub mod syntax;

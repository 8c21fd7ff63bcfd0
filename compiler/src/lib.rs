//! # eventflux-compiler
//!
//! Compiles EventFlux streaming SQL into Rust: `syntax` (lexer, LALRPOP grammar, AST) ->
//! `sema` (catalog, names, types, diagnostics) -> `plan` (logical plan per query) ->
//! `codegen` (plan to `quote!` tokens, formatted with prettyplease). `build` holds the
//! `configure()` builder for build.rs and the standalone project generator used by the
//! `eventflux` command.
//!
//! ```
//! let source = "CREATE STREAM Trades (symbol STRING, price DOUBLE);
//!               INSERT INTO Big SELECT symbol FROM Trades WHERE price > 100.0;";
//! let compiled = eventflux_compiler::compile(source, &Default::default()).unwrap();
//! assert!(compiled.rust.contains("pub struct Big"));
//! ```

pub mod build;
pub mod codegen;
pub mod diagnostic;
pub mod plan;
pub mod proto;
pub mod sema;
pub mod syntax;

pub use build::{configure, Builder};
pub use codegen::Options;
pub use diagnostic::Diagnostic;

/// A successfully compiled application.
#[derive(Debug)]
pub struct Compiled {
    /// The generated items, formatted.
    pub rust: String,
    /// The generated items as tokens (what the proc-macro expands to).
    pub tokens: proc_macro2::TokenStream,
    /// The logical plan.
    pub plan: plan::AppPlan,
    /// Warnings (compilation succeeded).
    pub warnings: Vec<Diagnostic>,
}

/// Every diagnostic of a failed compilation (errors and warnings, in source order).
#[derive(Debug, thiserror::Error)]
#[error("{} error(s) in the application", .0.iter().filter(|d| d.is_error()).count())]
pub struct CompileError(pub Vec<Diagnostic>);

impl CompileError {
    /// All diagnostics rendered rustc-style against `source`.
    pub fn render(&self, file_name: &str, source: &str) -> String {
        self.0
            .iter()
            .map(|d| d.render(file_name, source))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Parses and analyses `source`, returning the analysis or every diagnostic.
pub fn check(source: &str) -> Result<sema::Analysis, CompileError> {
    let (mut app, mut diagnostics) = syntax::parse(source);
    syntax::name_comments::apply(source, &mut app);
    let mut analysis = sema::analyze(&app);
    diagnostics.append(&mut analysis.diagnostics);
    diagnostics.sort_by_key(|d| d.span.start);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(CompileError(diagnostics));
    }
    analysis.diagnostics = diagnostics;
    Ok(analysis)
}

/// The plan of `source` (which must compile) in `format`: one block per query with its
/// logical operators and physical choices, or one Graphviz digraph (`eventflux explain`).
pub fn explain(source: &str, format: plan::explain::Format) -> Result<String, CompileError> {
    let analysis = check(source)?;
    let plan = plan::plan(&analysis);
    Ok(match format {
        plan::explain::Format::Text => plan::explain::text(&plan, source),
        plan::explain::Format::Dot => plan::explain::dot(&plan, source),
    })
}

/// Compiles `source` into Rust items.
pub fn compile(source: &str, options: &Options) -> Result<Compiled, CompileError> {
    let analysis = check(source)?;
    let plan = plan::plan(&analysis);
    let tokens = codegen::generate_tokens(&plan, options);
    let rust = codegen::format(&tokens);
    Ok(Compiled {
        rust,
        tokens,
        plan,
        warnings: analysis.diagnostics,
    })
}

/// The app's gRPC service as `.proto` text (DESIGN 8.3). The app's name is that of
/// `@app:name('...')` when written, else `default_name` (the file's stem).
pub fn proto(source: &str, default_name: &str) -> Result<String, CompileError> {
    let (app, _) = syntax::parse(source);
    let analysis = check(source)?;
    let named = app.statements.iter().find_map(|stmt| {
        let annotations = match stmt {
            syntax::ast::Statement::Stream(s) => &s.annotations,
            syntax::ast::Statement::Table(t) => &t.annotations,
            syntax::ast::Statement::Query(q) => &q.annotations,
            syntax::ast::Statement::Update(u) => &u.annotations,
            syntax::ast::Statement::Delete(d) => &d.annotations,
            syntax::ast::Statement::Partition(p) => &p.annotations,
            _ => return None,
        };
        annotations
            .iter()
            .filter(|a| a.name.name.eq_ignore_ascii_case("app:name"))
            .find_map(|a| match a.args.first().map(|kv| &kv.value) {
                Some(syntax::ast::Literal::String(name)) => Some(name.clone()),
                _ => None,
            })
    });
    let plan = plan::plan(&analysis);
    Ok(proto::render(
        &plan,
        named.as_deref().unwrap_or(default_name),
    ))
}

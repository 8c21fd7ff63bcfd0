//! Diagnostics: user mistakes reported with a primary span, labels, notes and help, rendered
//! rustc-style (file:line:col, the source line and a caret) by codespan-reporting.

use crate::syntax::ast::Span;
use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, termcolor::NoColor};

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Compilation fails.
    Error,
    /// Compilation goes on; the user is told.
    Warning,
}

/// One problem found in an application's source.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The headline, e.g. "unknown stream `Trade`".
    pub message: String,
    /// Where the problem is.
    pub span: Span,
    /// Text under the primary caret.
    pub label: Option<String>,
    /// Secondary spans with their text.
    pub labels: Vec<(Span, String)>,
    /// `note:` lines.
    pub notes: Vec<String>,
    /// A `help:` line.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(message: impl Into<String>, span: Span) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span,
            label: None,
            labels: Vec::new(),
            notes: Vec::new(),
            help: None,
        }
    }

    /// A warning at `span`.
    pub fn warning(message: impl Into<String>, span: Span) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(message, span)
        }
    }

    /// The `not supported yet: <feature>` error for a construct later stages cannot compile.
    pub fn unsupported(feature: impl std::fmt::Display, span: Span) -> Self {
        Diagnostic::error(format!("not supported yet: {feature}"), span)
    }

    /// Sets the text under the primary caret.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Adds a secondary span.
    pub fn with_secondary(mut self, span: Span, label: impl Into<String>) -> Self {
        self.labels.push((span, label.into()));
        self
    }

    /// Adds a note.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Sets the help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// `true` for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// 1-based line and column of the primary span's start in `source`.
    pub fn line_col(&self, source: &str) -> (usize, usize) {
        line_col(source, self.span.start)
    }

    /// The rustc-style rendering: `error: msg`, `--> file:line:col`, the line and a caret.
    pub fn render(&self, file_name: &str, source: &str) -> String {
        let file = SimpleFile::new(file_name, source);
        let clamp = |s: Span| {
            let start = s.start.min(source.len());
            start..s.end.clamp(start, source.len())
        };
        let mut primary = Label::primary((), clamp(self.span));
        if let Some(label) = &self.label {
            primary = primary.with_message(label);
        }
        let mut labels = vec![primary];
        for (span, text) in &self.labels {
            labels.push(Label::secondary((), clamp(*span)).with_message(text));
        }
        let mut notes = self.notes.clone();
        if let Some(help) = &self.help {
            notes.push(format!("help: {help}"));
        }
        let cs = match self.severity {
            Severity::Error => CsDiagnostic::error(),
            Severity::Warning => CsDiagnostic::warning(),
        }
        .with_message(&self.message)
        .with_labels(labels)
        .with_notes(notes);
        let mut out = NoColor::new(Vec::new());
        let config = term::Config::default();
        if term::emit(&mut out, &config, &file, &cs).is_err() {
            let (line, col) = self.line_col(source);
            return format!("error: {}\n --> {file_name}:{line}:{col}\n", self.message);
        }
        String::from_utf8_lossy(&out.into_inner()).into_owned()
    }

    /// A one-line form: `file:line:col: error: message`.
    pub fn short(&self, file_name: &str, source: &str) -> String {
        let (line, col) = self.line_col(source);
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        format!("{file_name}:{line}:{col}: {kind}: {}", self.message)
    }
}

/// 1-based line and column (in characters) of byte `offset` in `source`.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

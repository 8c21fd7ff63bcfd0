//! `-- name: <query name>` comments (docs/language.md#query-names): a comment line of that form right before
//! a query names it, like `@info(name = '...')` does (an annotation wins over the comment).

use super::ast::{Annotation, App, Ident, Literal, OptionKv, Span, Statement};

/// Gives each query preceded by a `-- name: x` comment the annotation `@info(name = 'x')`.
pub fn apply(source: &str, app: &mut App) {
    let mut previous_end = 0;
    for stmt in &mut app.statements {
        match stmt {
            Statement::Query(q) => {
                name_query(source, previous_end, q);
                previous_end = q.span.end;
            }
            Statement::Partition(p) => {
                // Queries inside a partition: scan between their own neighbours.
                let mut inner_end = previous_end;
                for inner in &mut p.statements {
                    if let Statement::Query(q) = inner {
                        name_query(source, inner_end, q);
                    }
                    inner_end = span_end(inner).unwrap_or(inner_end);
                }
                previous_end = p.span.end;
            }
            other => previous_end = span_end(other).unwrap_or(previous_end),
        }
    }
}

fn span_end(s: &Statement) -> Option<usize> {
    Some(match s {
        Statement::Stream(d) => d.span.end,
        Statement::Table(t) => t.span.end,
        Statement::Trigger(t) => t.span.end,
        Statement::Update(u) => u.span.end,
        Statement::Delete(d) => d.span.end,
        Statement::Query(q) => q.span.end,
        Statement::Partition(p) => p.span.end,
        Statement::Error(span) => span.end,
    })
}

fn name_query(source: &str, from: usize, q: &mut super::ast::Query) {
    if q.annotations
        .iter()
        .any(|a| a.name.name.eq_ignore_ascii_case("info"))
    {
        return;
    }
    let Some(gap) = source.get(from.min(q.span.start)..q.span.start) else {
        return;
    };
    let mut offset = from.min(q.span.start);
    let mut found = None;
    for line in gap.split_inclusive('\n') {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("--") {
            if let Some(name) = rest.trim().strip_prefix("name:") {
                let name = name.trim();
                if !name.is_empty() {
                    let at = offset + line.find("name:").unwrap_or(0);
                    found = Some((name.to_string(), Span::new(at, at + trimmed.len())));
                }
            }
        }
        offset += line.len();
    }
    if let Some((name, span)) = found {
        q.annotations.push(Annotation {
            name: Ident::new("info", span),
            args: vec![OptionKv {
                key: Some(Ident::new("name", span)),
                value: Literal::String(name),
                value_span: span,
            }],
            span,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_queries_from_comments() {
        let src =
            "CREATE STREAM S (x INT);\n-- name: doubled\nINSERT INTO A SELECT x * 2 AS y FROM S;\n\
                   -- just a comment\nINSERT INTO B SELECT x FROM S;\n";
        let (mut app, diags) = crate::syntax::parse(src);
        assert!(diags.is_empty(), "{diags:?}");
        apply(src, &mut app);
        let names: Vec<Option<String>> = app
            .statements
            .iter()
            .filter_map(|s| match s {
                Statement::Query(q) => {
                    Some(q.annotations.first().and_then(|a| match &a.args[0].value {
                        Literal::String(n) => Some(n.clone()),
                        _ => None,
                    }))
                }
                _ => None,
            })
            .collect();
        assert_eq!(names, vec![Some("doubled".to_string()), None]);
    }
}

//! The examples of the user documentation (`docs/*.md`, `docs/connectors/*.md`) are real
//! applications.
//!
//! Every ```` ```sql ```` fenced block is a complete app and must compile. The ```` ```jsonl ````
//! blocks that follow a `sql` block (before any other fenced block) belong to it: lines that
//! have a `"kind"` are the output it prints, the others its input. An example with input is
//! run through `eventflux run --strict`, and what it prints must be the shown output, line for
//! line (nothing, when no output is shown).
//!
//! Failures name the file and line of the block; diagnostics are rendered against the
//! Markdown file itself, so their line numbers are the file's.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One example: a `sql` block and the `jsonl` blocks after it.
struct Example {
    /// `docs/<file>.md`, for messages.
    file: String,
    /// Line (1-based) of the first line of the SQL, in the Markdown file.
    line: usize,
    sql: String,
    input: Vec<String>,
    output: Vec<String>,
}

impl Example {
    fn at(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }

    /// The app padded with empty lines, so that positions in it are the Markdown file's.
    fn padded_source(&self) -> String {
        format!("{}{}", "\n".repeat(self.line - 1), self.sql)
    }
}

/// One fenced block: its info string, first content line and text.
struct Block {
    lang: String,
    line: usize,
    text: String,
}

fn docs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs")
}

fn fenced_blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in markdown.lines().enumerate() {
        let fence = line.trim_start().starts_with("```");
        match open.take() {
            Some(block) if fence => blocks.push(block),
            Some(mut block) => {
                block.text.push_str(line);
                block.text.push('\n');
                open = Some(block);
            }
            None if fence => {
                let info = line.trim_start().trim_start_matches('`').trim();
                open = Some(Block {
                    lang: info.split_whitespace().next().unwrap_or("").to_string(),
                    line: i + 2,
                    text: String::new(),
                });
            }
            None => {}
        }
    }
    assert!(open.is_none(), "a fenced block is not closed");
    blocks
}

fn examples() -> Vec<Example> {
    // docs/*.md and the pages one level down (docs/connectors/*.md).
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(docs_dir()).expect("read docs/") {
        let path = entry.expect("docs/ entry").path();
        if path.is_dir() {
            files.extend(
                std::fs::read_dir(&path)
                    .expect("read a docs/ directory")
                    .map(|e| e.expect("docs/ entry").path()),
            );
        } else {
            files.push(path);
        }
    }
    files.retain(|p| p.extension().is_some_and(|x| x == "md"));
    files.sort();
    let mut examples = Vec::new();
    for path in files {
        let markdown = std::fs::read_to_string(&path).expect("read a docs file");
        let file = format!(
            "docs/{}",
            path.strip_prefix(docs_dir())
                .unwrap_or(&path)
                .to_string_lossy()
        );
        let mut current: Option<Example> = None;
        for block in fenced_blocks(&markdown) {
            match block.lang.as_str() {
                "jsonl" => {
                    if let Some(example) = current.as_mut() {
                        for line in block.text.lines().filter(|l| !l.trim().is_empty()) {
                            if line.contains("\"kind\"") {
                                example.output.push(line.trim().to_string());
                            } else {
                                example.input.push(line.trim().to_string());
                            }
                        }
                    }
                }
                lang => {
                    examples.extend(current.take());
                    if lang == "sql" {
                        current = Some(Example {
                            file: file.clone(),
                            line: block.line,
                            sql: block.text,
                            input: Vec::new(),
                            output: Vec::new(),
                        });
                    }
                }
            }
        }
        examples.extend(current);
    }
    examples
}

#[test]
fn every_sql_block_of_the_docs_compiles() {
    let examples = examples();
    assert!(
        examples.len() >= 50,
        "only {} examples found",
        examples.len()
    );
    let mut failures = Vec::new();
    for ex in &examples {
        let source = ex.padded_source();
        if let Err(e) = eventflux_compiler::compile(&source, &Default::default()) {
            failures.push(format!(
                "{}: the example does not compile\n{}",
                ex.at(),
                e.render(&ex.file, &source)
            ));
        }
        if !ex.output.is_empty() && ex.input.is_empty() {
            failures.push(format!("{}: output shown without input", ex.at()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_shown_output_is_what_eventflux_run_prints() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("docs-examples");
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    let mut failures = Vec::new();
    for ex in examples().iter().filter(|ex| !ex.input.is_empty()) {
        let stem = ex.at().replace(['/', ':', '.'], "_");
        let app = dir.join(format!("{stem}.eventflux"));
        let input = dir.join(format!("{stem}.jsonl"));
        std::fs::write(&app, &ex.sql).expect("write the app");
        std::fs::write(&input, ex.input.join("\n") + "\n").expect("write the input");
        let out = Command::new(env!("CARGO_BIN_EXE_eventflux"))
            .env(
                "EVENTFLUX_CACHE",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("eventflux-cache"),
            )
            .args(["run", "--debug", "--strict", "--input"])
            .arg(&input)
            .arg(&app)
            .output()
            .expect("start eventflux");
        let printed = String::from_utf8_lossy(&out.stdout);
        let printed: Vec<&str> = printed.lines().collect();
        if !out.status.success() {
            failures.push(format!(
                "{}: eventflux run failed:\n{}",
                ex.at(),
                String::from_utf8_lossy(&out.stderr)
            ));
        } else if printed != ex.output {
            failures.push(format!(
                "{}: the shown output differs from what eventflux run prints:\n{}",
                ex.at(),
                printed.join("\n")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Whether `sql` (lower case) calls `name` (`name(` not preceded by a name character).
fn calls(sql: &str, name: &str) -> bool {
    let call = format!("{name}(");
    sql.match_indices(&call).any(|(i, _)| {
        !sql[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
    })
}

#[test]
fn every_function_window_and_statement_has_an_example() {
    let sql: String = examples()
        .iter()
        .map(|ex| {
            ex.sql
                .to_lowercase()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut missing = Vec::new();
    for (name, _) in eventflux_compiler::sema::expr::FUNCTIONS {
        if !calls(&sql, name) {
            missing.push(format!("function `{name}`"));
        }
    }
    for name in eventflux_compiler::sema::expr::AGGREGATES {
        if !calls(&sql, name) {
            missing.push(format!("aggregate `{name}`"));
        }
    }
    let windows = [
        "length",
        "lengthbatch",
        "time",
        "timebatch",
        "tumbling",
        "hop",
        "sliding",
        "timelength",
        "externaltime",
        "externaltimebatch",
        "session",
        "sort",
        "unique",
        "firstunique",
        "delay",
        "expression",
        "frequent",
        "lossyfrequent",
        "cron",
    ];
    for name in windows {
        let quoted = format!("window('{name}'");
        let bare = format!("window {name}(");
        if !sql.contains(&quoted) && !sql.contains(&bare) {
            missing.push(format!("window `{name}`"));
        }
    }
    let syntax = [
        "create stream",
        "define stream",
        "create table",
        "define table",
        "primary key (",
        "index (",
        "not null",
        "create trigger",
        "at start",
        "at every",
        "at cron",
        "extension = 'file'",
        "extension = 'stdin'",
        "extension = 'stdout'",
        "extension = 'redis'",
        "insert into",
        "insert current events into",
        "insert expired events into",
        "insert all events into",
        "select distinct",
        "select *",
        "where",
        "group by",
        "having",
        "order by",
        " desc",
        "limit",
        "offset",
        "output every",
        "output all every",
        "output first every",
        "output last every",
        "output snapshot every",
        " events;",
        " join ",
        "inner join",
        "left outer join",
        "right join",
        "full outer join",
        "unidirectional",
        "update ",
        "delete from",
        "upsert into",
        "partition with",
        "purge after",
        " as 'low' or",
        "insert into #",
        "pattern (",
        "sequence (",
        "within",
        "every",
        "->",
        "+,",
        "*,",
        "?,",
        "not ",
        " for ",
        "[last]",
        "[0]",
        " in (",
        " in stock",
        "between",
        "like",
        "case when",
        "case a when",
        "cast(",
        "is null",
        "is not null",
        "@info(",
        "-- name:",
        "/*",
        "10l",
        "1.5f",
        "''",
        "500ms",
        "1500 ms",
    ];
    for text in syntax {
        if !sql.contains(text) {
            missing.push(format!("`{text}`"));
        }
    }
    assert!(
        missing.is_empty(),
        "no example in docs/*.md uses: {}",
        missing.join(", ")
    );
}

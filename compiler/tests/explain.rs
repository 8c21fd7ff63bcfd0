//! `explain`: the physical plan of every conformance app as an insta snapshot (a changed
//! decision shows up as a plan diff), and the dot form a well-formed Graphviz digraph.

use eventflux_compiler::explain;
use eventflux_compiler::plan::explain::Format;
use std::path::{Path, PathBuf};

#[test]
fn physical_plans_of_the_conformance_apps() {
    insta::glob!("../../tests/cases", "*/app.eventflux", |path| {
        let source = std::fs::read_to_string(path).expect("read app");
        let text = explain(&source, Format::Text)
            .unwrap_or_else(|e| panic!("{}", e.render(&path.display().to_string(), &source)));
        insta::assert_snapshot!(text);
    });
}

/// Every `tests/cases/*/app.eventflux`.
fn case_apps() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/cases");
    let mut apps: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read tests/cases")
        .flatten()
        .map(|e| e.path().join("app.eventflux"))
        .filter(|p| p.exists())
        .collect();
    apps.sort();
    apps
}

/// The statements of a digraph body, checked for what dot needs: every line is a node,
/// an edge, an attribute or a subgraph bracket; quotes and braces balance; every edge's
/// endpoints are declared nodes.
fn check_digraph(dot: &str) -> Result<(), String> {
    let body = dot
        .strip_prefix("digraph eventflux {\n")
        .and_then(|b| b.strip_suffix("}\n"))
        .ok_or("not `digraph eventflux { ... }`")?;
    let mut nodes = Vec::new();
    let mut depth = 0i32;
    for line in body.lines() {
        let line = line.trim();
        // Quotes balance (escaped ones aside), and no brace hides inside a label.
        let mut quoted = false;
        let mut escaped = false;
        let mut outside = String::new();
        for c in line.chars() {
            match c {
                '\\' if quoted && !escaped => escaped = true,
                '"' if !escaped => quoted = !quoted,
                _ if !quoted => {
                    outside.push(c);
                    escaped = false
                }
                _ => escaped = false,
            }
        }
        if quoted {
            return Err(format!("unbalanced quote: {line}"));
        }
        if outside.starts_with("subgraph cluster_") && outside.ends_with('{') {
            depth += 1;
            continue;
        }
        if outside == "}" {
            depth -= 1;
            if depth < 0 {
                return Err("unbalanced `}`".into());
            }
            continue;
        }
        let stmt = outside.strip_suffix(';').ok_or(format!("no `;`: {line}"))?;
        let head = stmt.split('[').next().unwrap_or("").trim();
        if let Some((from, to)) = head.split_once("->") {
            for end in [from.trim(), to.trim()] {
                if !nodes.iter().any(|n| n == end) {
                    return Err(format!("edge to an undeclared node `{end}`: {line}"));
                }
            }
        } else if head.contains('=') {
            // An attribute (`rankdir=LR`, a cluster's `label=...`).
        } else if !head.is_empty() && head.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            if stmt.contains('[') {
                nodes.push(head.to_string());
            } else if !nodes.iter().any(|n| n == head) {
                return Err(format!("cluster member `{head}` is no node"));
            }
        } else {
            return Err(format!("not a statement: {line}"));
        }
    }
    if depth != 0 {
        return Err("unbalanced subgraph".into());
    }
    Ok(())
}

#[test]
fn dot_output_is_a_valid_digraph() {
    let graphviz = std::process::Command::new("dot")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    for app in case_apps() {
        let source = std::fs::read_to_string(&app).expect("read app");
        let dot = explain(&source, Format::Dot).expect("compiles");
        if let Err(e) = check_digraph(&dot) {
            panic!("{}: {e}\n{dot}", app.display());
        }
        if graphviz {
            use std::io::Write;
            let mut child = std::process::Command::new("dot")
                .arg("-Tsvg")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start dot");
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(dot.as_bytes())
                .expect("write to dot");
            let out = child.wait_with_output().expect("run dot");
            assert!(
                out.status.success() && out.stdout.starts_with(b"<?xml"),
                "{}: dot -Tsvg failed: {}\n{dot}",
                app.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn the_checker_rejects_broken_graphs() {
    assert!(check_digraph("digraph eventflux {\n  s0 [label=\"a\"];\n}\n").is_ok());
    assert!(check_digraph("digraph eventflux {\n  s0 -> q0;\n}\n").is_err());
    assert!(check_digraph("digraph eventflux {\n  s0 [label=\"a];\n}\n").is_err());
    assert!(check_digraph("digraph eventflux {\n  subgraph cluster_p {\n}\n").is_err());
    assert!(check_digraph("graph x {\n}\n").is_err());
}

#[test]
fn queries_are_named_by_their_name_or_position_and_line() {
    let source = "CREATE STREAM S (k STRING, v INT);\n\
                  @info(name = 'big') INSERT INTO Big SELECT k FROM S WHERE v > 10;\n\
                  -- name: small\n\
                  INSERT INTO Small SELECT k FROM S WHERE v < 10;\n\
                  INSERT INTO Other SELECT k, sum(v) AS total FROM S WINDOW LENGTH(2) GROUP BY k;\n";
    let text = explain(source, Format::Text).expect("compiles");
    assert!(text.contains("\nquery 'big' (line 2)\n"), "{text}");
    assert!(text.contains("\nquery 'small' (line 4)\n"), "{text}");
    assert!(text.contains("\nquery 3 (line 5)\n"), "{text}");
    assert!(!text.contains("query_"), "{text}");
    assert!(text.contains("aggregation slotted"), "{text}");
}

//! The compiler's passes import one another one way: inside `sema`, `plan` and `codegen`
//! the modules (a module with its children counts as one) form no import circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The modules of `src/<dir>` and, per module, the sibling modules its files name
/// (`super::x`, `crate::<dir>::x`), comments left out.
fn graph(dir: &str) -> BTreeMap<String, BTreeSet<String>> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(dir);
    let mut texts: BTreeMap<String, String> = BTreeMap::new();
    let mut stack = vec![base.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&base).expect("under base");
            let top = rel
                .components()
                .next()
                .map(|c| {
                    c.as_os_str()
                        .to_string_lossy()
                        .trim_end_matches(".rs")
                        .to_string()
                })
                .unwrap_or_default();
            if top == "mod" || top == "tests" {
                continue;
            }
            let text: String = std::fs::read_to_string(&path)
                .expect("read source")
                .lines()
                .map(|l| l.split("//").next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n");
            texts.entry(top).or_default().push_str(&text);
        }
    }
    let names: BTreeSet<String> = texts.keys().cloned().collect();
    let crate_prefix = format!("crate::{dir}::");
    texts
        .iter()
        .map(|(m, text)| {
            let mut uses = BTreeSet::new();
            for prefix in ["super::", crate_prefix.as_str()] {
                for (i, _) in text.match_indices(prefix) {
                    let rest = &text[i + prefix.len()..];
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                        .collect();
                    if names.contains(&name) && &name != m {
                        uses.insert(name);
                    }
                }
            }
            (m.clone(), uses)
        })
        .collect()
}

/// A module reachable from itself, with the path back, if any.
fn circle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    for start in g.keys() {
        // Depth-first search for a path start -> ... -> start.
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            for next in &g[&node] {
                if next == start {
                    let mut p = path.clone();
                    p.push(next.clone());
                    return Some(p);
                }
                if seen.insert(next.clone()) {
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((next.clone(), p));
                }
            }
        }
    }
    None
}

#[test]
fn sema_plan_and_codegen_have_no_import_circles() {
    for dir in ["sema", "plan", "codegen"] {
        let g = graph(dir);
        assert!(g.len() > 2, "{dir}: modules found: {g:?}");
        if let Some(c) = circle(&g) {
            panic!("{dir}: import circle {}", c.join(" -> "));
        }
    }
}

#[test]
fn the_circle_finder_finds_circles() {
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(m, us)| (m.to_string(), us.into_iter().map(String::from).collect()))
    .collect();
    assert!(circle(&g).is_some());
    let mut acyclic = g.clone();
    acyclic.insert("c".into(), BTreeSet::new());
    assert!(circle(&acyclic).is_none());
}

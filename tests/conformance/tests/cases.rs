//! Runs every conformance case of `tests/cases/` and compares the output with
//! `expected.jsonl` as JSON values (so `1.0` and `1` differ). Set `EVENTFLUX_BLESS=1` to
//! rewrite the expected files from the actual output.

use std::path::Path;

fn parse_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

#[test]
fn conformance_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cases");
    let bless = std::env::var_os("EVENTFLUX_BLESS").is_some();
    let mut failures = Vec::new();
    assert!(
        !eventflux_conformance::CASES.is_empty(),
        "no cases found in {}",
        dir.display()
    );
    for (name, runner) in eventflux_conformance::CASES {
        let case = dir.join(name);
        let runner = match runner {
            Ok(r) => r,
            Err(message) => {
                failures.push(format!("{name}: app does not compile:\n{message}"));
                continue;
            }
        };
        let input = std::fs::read_to_string(case.join("input.jsonl")).unwrap_or_default();
        let (lines, errors) = (runner.whole)(&input);
        let actual = lines.join("\n");
        if bless {
            let text = if lines.is_empty() {
                String::new()
            } else {
                format!("{actual}\n")
            };
            std::fs::write(case.join("expected.jsonl"), text).expect("write expected.jsonl");
            continue;
        }
        let expected = std::fs::read_to_string(case.join("expected.jsonl")).unwrap_or_default();
        if parse_lines(&actual) != parse_lines(&expected) {
            failures.push(format!(
                "{name}: output differs\n--- expected\n{expected}\n--- actual\n{actual}\n--- errors\n{errors}"
            ));
        }
        let (split, split_errors) = (runner.split)(&input);
        if split != lines {
            failures.push(format!(
                "{name}: snapshot/restore half way changes the output\n--- whole\n{actual}\n--- split\n{}\n--- errors\n{split_errors}",
                split.join("\n")
            ));
        }
        if let Ok(wanted) = std::fs::read_to_string(case.join("expected_errors.txt")) {
            for line in wanted.lines().filter(|l| !l.trim().is_empty()) {
                if !errors.contains(line) {
                    failures.push(format!(
                        "{name}: error output lacks {line:?}; got:\n{errors}"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

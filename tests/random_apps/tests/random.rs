//! Runs every generated app (see `src/lib.rs`) on its random input.

use std::panic::{catch_unwind, AssertUnwindSafe};

#[test]
fn random_apps_run_without_panics() {
    let seed = eventflux_random_apps::SEED;
    let mut failures = Vec::new();
    let (mut rows, mut checked) = (0, 0);
    for app in eventflux_random_apps::APPS {
        let i = app.index;
        let whole = match catch_unwind(AssertUnwindSafe(|| (app.whole)(app.input))) {
            Ok(r) => r,
            Err(_) => {
                failures.push(format!("app {i} (seed {seed}) panicked:\n{}", app.text));
                continue;
            }
        };
        let (lines, errors) = whole;
        if !errors.is_empty() {
            failures.push(format!(
                "app {i} (seed {seed}) reported errors on valid input:\n{errors}\n{}",
                app.text
            ));
        }
        let streams: Vec<String> = lines
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["stream"].as_str().map(str::to_string))
            .collect();
        rows += lines.len();
        checked += app.must_output.len();
        for s in app.must_output {
            if !streams.iter().any(|x| x == s) {
                failures.push(format!(
                    "app {i} (seed {seed}): no rows in `{s}`:\n{}\n--- input\n{}",
                    app.text, app.input
                ));
            }
        }
        match catch_unwind(AssertUnwindSafe(|| (app.split)(app.input))) {
            Ok((split, split_errors)) => {
                if split != lines {
                    failures.push(format!(
                        "app {i} (seed {seed}): snapshot/restore half way changes the output\n{}\n--- whole\n{}\n--- split\n{}\n{split_errors}",
                        app.text,
                        lines.join("\n"),
                        split.join("\n")
                    ));
                }
            }
            Err(_) => failures.push(format!(
                "app {i} (seed {seed}) panicked around snapshot/restore:\n{}",
                app.text
            )),
        }
    }
    eprintln!(
        "{} random apps (seed {seed}): {rows} rows, {checked} output streams checked for rows",
        eventflux_random_apps::APPS.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} random apps failed:\n\n{}",
        failures.len(),
        eventflux_random_apps::APPS.len(),
        failures.join("\n\n")
    );
}

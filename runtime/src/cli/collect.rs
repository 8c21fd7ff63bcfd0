//! Running JSON lines through an app into a [`CollectingSink`]: in one go, or split by a
//! snapshot restored into a fresh app half way (what the conformance cases and the random
//! apps check; also a way for users to test that their app's state survives a restart).

use std::collections::HashSet;

use super::{run, RunOptions};
use crate::app::Application;
use crate::io::CollectingSink;

/// Runs `input` (JSON lines) through a fresh `A` with the event clock, keeping the output
/// lines of the streams `filter` names (all when `None`); returns them with the error text.
pub fn run_collected<A: Application<Sink = CollectingSink> + 'static>(
    input: &str,
    filter: Option<HashSet<String>>,
) -> (Vec<String>, String) {
    let mut app = A::with_sink(CollectingSink::with_filter(filter));
    let mut errors = Vec::new();
    let input = std::io::Cursor::new(input.to_owned());
    if let Err(e) = run(&mut app, input, &RunOptions::default(), &mut errors) {
        errors.extend_from_slice(format!("{e}\n").as_bytes());
    }
    let lines = std::mem::take(&mut app.sink_mut().lines);
    (lines, String::from_utf8_lossy(&errors).into_owned())
}

/// [`run_collected`] in two halves: the first half of `input`, a snapshot, a restore into a
/// fresh `A`, the second half there. The split falls before a line that carries its own
/// `ts`, so no event loses its time; the output must equal [`run_collected`]'s.
pub fn run_collected_split<A: Application<Sink = CollectingSink> + 'static>(
    input: &str,
    filter: Option<HashSet<String>>,
) -> (Vec<String>, String) {
    let lines: Vec<&str> = input.lines().collect();
    let mut at = lines.len() / 2;
    while at < lines.len() && !lines[at].contains("\"ts\"") {
        at += 1;
    }
    let (first, second) = (lines[..at].join("\n"), lines[at..].join("\n"));
    let mut errors = Vec::new();
    let mut app = A::with_sink(CollectingSink::with_filter(filter.clone()));
    let _ = run(
        &mut app,
        std::io::Cursor::new(first),
        &RunOptions::default(),
        &mut errors,
    );
    let bytes = app.snapshot();
    let mut out = std::mem::take(&mut app.sink_mut().lines);
    let mut fresh = A::with_sink(CollectingSink::with_filter(filter));
    if let Err(e) = fresh.restore(&bytes) {
        errors.extend_from_slice(format!("restore failed: {e}\n").as_bytes());
    }
    let _ = run(
        &mut fresh,
        std::io::Cursor::new(second),
        &RunOptions::default(),
        &mut errors,
    );
    out.append(&mut fresh.sink_mut().lines);
    (out, String::from_utf8_lossy(&errors).into_owned())
}

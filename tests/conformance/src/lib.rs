//! The conformance cases of `tests/cases/`, compiled into this crate by its build script.
//!
//! Each case is a directory with `app.eventflux`, `input.jsonl` and `expected.jsonl` (and
//! optionally `expected_errors.txt`, lines that must appear in the error output). The test in
//! `tests/cases.rs` runs every case through its compiled app with the event clock and
//! compares the JSON lines.

use eventflux::runtime::cli::{run_collected, run_collected_split};
use eventflux::runtime::io::CollectingSink;
use eventflux::runtime::Application;

/// Runs one case's input; returns the output lines and the error text.
pub type CaseRunner = fn(&str) -> (Vec<String>, String);

/// The two ways a case is run.
pub struct Runners {
    /// In one go.
    pub whole: CaseRunner,
    /// First half, snapshot, restore into a fresh app, second half.
    pub split: CaseRunner,
}

/// Runs `input` (JSON lines) through a fresh `A` with the event clock.
pub fn run_case<A: Application<Sink = CollectingSink> + 'static>(
    input: &str,
) -> (Vec<String>, String) {
    run_collected::<A>(input, Some(outputs::<A>()))
}

/// Runs the first half of `input`, takes a snapshot, restores it into a fresh `A` and runs
/// the second half there: the output must be the same as [`run_case`]'s.
pub fn run_case_split<A: Application<Sink = CollectingSink> + 'static>(
    input: &str,
) -> (Vec<String>, String) {
    run_collected_split::<A>(input, Some(outputs::<A>()))
}

/// The output streams of `A` (what a case compares).
fn outputs<A: Application>() -> std::collections::HashSet<String> {
    A::output_streams().iter().map(|s| s.to_string()).collect()
}

#[allow(missing_docs, clippy::all)] // generated code; clippy runs on it in the compiler's tests
#[deny(warnings)] // generated code must compile warning-free
pub mod registry {
    include!(concat!(env!("OUT_DIR"), "/registry.rs"));
}

pub use registry::CASES;

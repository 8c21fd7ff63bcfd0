//! trybuild compile-fail tests: the `eventflux!` macro reports application errors with
//! line:col and the offending snippet.

#[test]
fn macro_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}

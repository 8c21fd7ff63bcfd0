//! Golden tests: generated code and plans for the apps in `tests/codegen/`, and rendered
//! diagnostics for the apps in `tests/diagnostics/`.

use eventflux_compiler::{compile, Options};

#[test]
fn generated_code() {
    insta::glob!("codegen/*.eventflux", |path| {
        let source = std::fs::read_to_string(path).expect("read app");
        let compiled = compile(&source, &Options::standalone())
            .unwrap_or_else(|e| panic!("{}", e.render(&path.display().to_string(), &source)));
        insta::assert_snapshot!(compiled.rust);
    });
}

#[test]
fn plans() {
    insta::glob!("codegen/*.eventflux", |path| {
        let source = std::fs::read_to_string(path).expect("read app");
        let compiled = compile(&source, &Options::standalone()).expect("compiles");
        insta::assert_snapshot!(compiled.plan.explain());
    });
}

#[test]
fn diagnostics() {
    insta::glob!("diagnostics/*.eventflux", |path| {
        let source = std::fs::read_to_string(path).expect("read app");
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let err = compile(&source, &Options::standalone()).expect_err("the app has errors");
        insta::assert_snapshot!(err.render(&name, &source));
    });
}

/// The generated code of `source` (standalone).
fn rust_of(source: &str) -> String {
    compile(source, &Options::standalone())
        .unwrap_or_else(|e| panic!("{}", e.render("app", source)))
        .rust
}

#[test]
fn methods_bind_only_what_their_code_reads() {
    // `count()` over a window reads nothing of the event; the clock is bound where `now()`
    // is read.
    let rust = rust_of(
        "CREATE STREAM S (k STRING, v INT);\n\
         INSERT INTO C SELECT count() AS n FROM S WINDOW LENGTH(2);\n\
         INSERT INTO N SELECT k, now() AS t FROM S WINDOW LENGTH(2);\n",
    );
    assert!(
        rust.contains("fn query_query_1(&mut self, ts: i64, _event: &S)"),
        "{rust}"
    );
    assert!(
        rust.contains("fn query_query_2(&mut self, ts: i64, event: &S)"),
        "{rust}"
    );
    assert_eq!(
        rust.matches("let __ef_now = self.now;").count(),
        1,
        "{rust}"
    );
    // A join side that triggers nothing (the other side is UNIDIRECTIONAL) reads neither
    // its event nor the time; the triggering side binds the clock its WHERE reads.
    let rust = rust_of(
        "CREATE STREAM A (k STRING, v INT);\n\
         CREATE STREAM B (k STRING, w INT);\n\
         INSERT INTO J SELECT A.k, B.w FROM A UNIDIRECTIONAL JOIN B WINDOW LENGTH(3) ON A.k = B.k \
         WHERE now() > 0;\n",
    );
    assert!(rust.contains("let __ef_now = self.now;"), "{rust}");
    assert!(!rust.contains("__ef_in1 = event"), "{rust}");
}

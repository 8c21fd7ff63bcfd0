//! # EventFlux
//!
//! Streaming SQL (streams, windows, aggregations, joins, patterns) compiled into native Rust.
//! This facade re-exports the runtime and the two ways of compiling an application into your
//! crate: the [`eventflux!`] macro and, from a build script, `eventflux_compiler::configure()`
//! together with [`include_app!`].
//!
//! ```
//! mod trading {
//!     eventflux::eventflux!(r#"
//!         CREATE STREAM Trades (symbol STRING, price DOUBLE);
//!         INSERT INTO Big SELECT symbol, price FROM Trades WHERE price > 100.0;
//!     "#);
//! }
//!
//! let mut app = trading::App::new(eventflux::runtime::io::CollectingSink::default());
//! app.send_trades(1000, trading::Trades { symbol: Some("IBM".into()), price: Some(120.0) });
//! assert_eq!(app.output().lines.len(), 1);
//! ```

pub use eventflux_macros::eventflux;
/// The runtime crate: what generated code calls.
pub use eventflux_runtime as runtime;

/// Includes an application compiled by `eventflux_compiler::configure()` in build.rs:
/// `eventflux::include_app!("app")` pulls in `$OUT_DIR/app.rs`.
#[macro_export]
macro_rules! include_app {
    ($name:literal) => {
        include!(concat!(env!("OUT_DIR"), "/", $name, ".rs"));
    };
}

//! # eventflux-runtime
//!
//! The building blocks that EventFlux-generated code calls: NULL-aware expression helpers,
//! scalar functions, windows, aggregators, JSON-lines input and output, the command-line
//! driver of compiled apps, and state snapshots. Generated code names these items by absolute
//! paths; nothing here knows about the compiler.
//!
//! ```
//! use eventflux_runtime::expr;
//! assert_eq!(expr::add(Some(2i64), Some(3)), Some(5));
//! assert_eq!(expr::div(Some(7i32), Some(0)), None);
//! ```

pub mod aggregate;
pub mod app;
pub mod cli;
pub mod connect;
pub mod expr;
pub mod functions;
pub mod io;
pub mod join;
pub mod metrics;
pub mod partition;
pub mod pattern;
pub mod rate;
pub mod scale;
pub mod state;
pub mod table;
pub mod window;

pub use app::{Application, DecodeError, EventKind};

/// Re-exported so generated code can derive serde traits through this crate.
pub use serde;
/// Re-exported so generated code can decode JSON through this crate.
pub use serde_json;

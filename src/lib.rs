//! EventFlux facade.
pub use eventflux_runtime as runtime;

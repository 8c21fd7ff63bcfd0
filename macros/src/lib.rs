//! Proc-macros of EventFlux (thin shim over eventflux-compiler).

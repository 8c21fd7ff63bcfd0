//! Building applications: the [`Builder`] for build.rs (the `configure()` entry point, in the
//! manner of tonic-build) and, in [`project`], the standalone projects and the build cache
//! used by the `eventflux` command.

pub mod project;

use crate::codegen::Options;
use std::path::{Path, PathBuf};

/// Why a build step failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The application has errors; `rendered` holds the diagnostics, rustc-style.
    #[error("{rendered}")]
    Compile {
        /// The application file.
        path: PathBuf,
        /// The rendered diagnostics.
        rendered: String,
    },
    /// `OUT_DIR` is not set and no output directory was given.
    #[error("OUT_DIR is not set: call .out_dir(..) or run from a build script")]
    NoOutDir,
    /// cargo failed to build the generated project.
    #[error("cargo failed to build the generated project (status {0})")]
    Cargo(String),
}

/// Compiles `.eventflux` files from a build script into `$OUT_DIR/<name>.rs`.
///
/// ```no_run
/// // build.rs
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     eventflux_compiler::configure().compile(&["queries/app.eventflux"])?;
///     Ok(())
/// }
/// // src/main.rs: mod app { eventflux::include_app!("app"); }
/// ```
#[derive(Clone, Debug, Default)]
pub struct Builder {
    out_dir: Option<PathBuf>,
    options: Options,
    emit_rerun: bool,
}

/// A [`Builder`] with the defaults: output to `$OUT_DIR`, runtime reached through the
/// `eventflux` facade crate, `cargo:rerun-if-changed` lines printed.
pub fn configure() -> Builder {
    Builder {
        out_dir: None,
        options: Options::facade(),
        emit_rerun: true,
    }
}

impl Builder {
    /// Writes the generated files into `dir` instead of `$OUT_DIR`.
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// Sets the path of the runtime crate in generated code (default `::eventflux::runtime`;
    /// use `::eventflux_runtime` when depending on the runtime crate directly).
    pub fn runtime_path(mut self, path: syn::Path) -> Self {
        self.options.runtime = path;
        self
    }

    /// Leaves out the app's `snapshot()` and `restore()` (and the serde code of its state,
    /// more than half of its build time), for apps that never persist state.
    pub fn without_state(mut self) -> Self {
        self.options = self.options.without_state();
        self
    }

    /// Whether to print `cargo:rerun-if-changed` lines (default true).
    pub fn emit_rerun_if_changed(mut self, yes: bool) -> Self {
        self.emit_rerun = yes;
        self
    }

    /// Compiles each file to `<out_dir>/<file stem>.rs`; stops at the first failing file.
    pub fn compile(&self, files: &[impl AsRef<Path>]) -> Result<(), BuildError> {
        let out_dir = match &self.out_dir {
            Some(d) => d.clone(),
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or(BuildError::NoOutDir)?,
        };
        for file in files {
            let path = file.as_ref();
            if self.emit_rerun {
                println!("cargo:rerun-if-changed={}", path.display());
            }
            let rust = compile_file(path, &self.options)?;
            let stem = path.file_stem().unwrap_or_default().to_string_lossy();
            let out = out_dir.join(format!("{stem}.rs"));
            std::fs::write(&out, rust).map_err(|source| BuildError::Io { path: out, source })?;
        }
        Ok(())
    }
}

/// Reads and compiles one application file into formatted Rust.
pub fn compile_file(path: &Path, options: &Options) -> Result<String, BuildError> {
    let source = std::fs::read_to_string(path).map_err(|source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    crate::compile(&source, options)
        .map(|c| c.rust)
        .map_err(|e| BuildError::Compile {
            path: path.to_path_buf(),
            rendered: e.render(&path.display().to_string(), &source),
        })
}

#[cfg(test)]
mod tests {
    use super::configure;

    #[test]
    fn without_state_leaves_out_snapshot_and_restore() {
        let dir = std::env::temp_dir().join(format!("eventflux-builder-{}", std::process::id()));
        let app = dir.join("app.eventflux");
        std::fs::create_dir_all(&dir).expect("create temp dir");
        std::fs::write(
            &app,
            "CREATE STREAM S (v INT); INSERT INTO O SELECT sum(v) AS t FROM S WINDOW LENGTH(2);",
        )
        .expect("write app");
        let build = |b: super::Builder| {
            b.out_dir(&dir)
                .emit_rerun_if_changed(false)
                .compile(&[&app])
                .expect("compiles");
            std::fs::read_to_string(dir.join("app.rs")).expect("read app.rs")
        };
        assert!(build(configure()).contains("pub fn snapshot("));
        let without = build(configure().without_state());
        assert!(!without.contains("pub fn snapshot("));
        assert!(!without.contains("pub fn restore("));
        assert!(without.contains("pub fn send_s("));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

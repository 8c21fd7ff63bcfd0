//! The `eventflux` command: check, emit, build, run and bench EventFlux applications.

use clap::{Parser, Subcommand, ValueEnum};
use eventflux_compiler::build::project::{self, Profile};
use eventflux_compiler::build::BuildError;
use eventflux_compiler::{compile, Compiled, Options};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

#[derive(Parser)]
#[command(
    name = "eventflux",
    version,
    about = "Streaming SQL compiled to native code"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Clock {
    Event,
    Wall,
}

#[derive(Clone, Copy, ValueEnum)]
enum ExplainFormat {
    Text,
    Dot,
}

#[derive(Subcommand)]
enum Cmd {
    /// Check an application: exit 0, or print diagnostics and exit 1.
    Check { app: PathBuf },
    /// Print the generated Rust, formatted.
    Emit {
        app: PathBuf,
        /// Write to this file instead of stdout.
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
        /// Emit the standalone flavour (paths to `eventflux_runtime` instead of the facade).
        #[arg(long)]
        standalone: bool,
    },
    /// Print the plan: per query its logical operators and physical choices, or a Graphviz
    /// digraph of streams, tables and queries (`--format dot`).
    Explain {
        app: PathBuf,
        /// `text` (one block per query) or `dot` (Graphviz).
        #[arg(long, value_enum, default_value = "text")]
        format: ExplainFormat,
    },
    /// Print the app's gRPC service (`.proto`).
    Proto {
        app: PathBuf,
        /// Write to this file instead of stdout.
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
    },
    /// Build a standalone binary.
    Build {
        app: PathBuf,
        /// Where to put the binary (default: the app's file stem).
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
        /// Build without optimisations (faster to compile).
        #[arg(long)]
        debug: bool,
        /// Also write a Dockerfile next to the binary (two stages: build, then a slim image).
        #[arg(long)]
        docker: bool,
        /// Compile the app's gRPC service in (the binary then takes `--grpc ADDR`).
        #[arg(long)]
        grpc: bool,
    },
    /// List the checkpoints in a store (a `--state-dir` directory or redis://host:port/prefix).
    Checkpoints { store: String },
    /// Compile (cached) and run an application on JSON-lines input.
    Run {
        app: PathBuf,
        /// Input file, or `-` for stdin (default: the app's own sources, else stdin).
        #[arg(long)]
        input: Option<String>,
        /// Output file, or `-` for stdout.
        #[arg(long, default_value = "-")]
        output: String,
        /// Event clock (the events' `ts`) or wall clock.
        #[arg(long, value_enum, default_value = "event")]
        clock: Clock,
        /// Make the first bad input line fatal (exit 2).
        #[arg(long)]
        strict: bool,
        /// Print only these streams (comma-separated).
        #[arg(long)]
        output_streams: Option<String>,
        /// Build without optimisations.
        #[arg(long)]
        debug: bool,
        /// Worker threads for partitioned queries (docs/scale-out.md).
        #[arg(long, default_value_t = 1)]
        workers: usize,
        /// Processes running the app together (with --process and --hosts).
        #[arg(long, default_value_t = 1)]
        processes: usize,
        /// This process's index, 0 to N-1.
        #[arg(long, default_value_t = 0)]
        process: usize,
        /// One host:port per process and line.
        #[arg(long)]
        hosts: Option<String>,
        /// Serve the app's gRPC service (`eventflux proto`) at host:port (or :port).
        #[arg(long)]
        grpc: Option<String>,
    },
    /// Measure events/s of the compiled app alone on decoded input.
    Bench {
        app: PathBuf,
        /// Input file (JSON lines).
        #[arg(long)]
        input: PathBuf,
        /// How many times to replay the input.
        #[arg(long, default_value_t = 10)]
        repeat: u32,
        /// Worker threads for partitioned queries (docs/scale-out.md).
        #[arg(long, default_value_t = 1)]
        workers: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(1)
        }
    }
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map_err(|e| format!("error: cannot read `{}`: {e}", path.display()))
}

fn run(cmd: Cmd) -> Result<ExitCode, String> {
    match cmd {
        Cmd::Check { app } => {
            let source = read(&app)?;
            let name = app.display().to_string();
            match eventflux_compiler::check(&source) {
                Ok(analysis) => {
                    for w in &analysis.diagnostics {
                        eprint!("{}", w.render(&name, &source));
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprint!("{}", e.render(&name, &source));
                    Ok(ExitCode::from(1))
                }
            }
        }
        Cmd::Emit {
            app,
            output,
            standalone,
        } => {
            let options = if standalone {
                Options::standalone()
            } else {
                Options::facade()
            };
            let rust = compile_app(&app, &options)?.rust;
            match output {
                Some(path) => std::fs::write(&path, rust)
                    .map_err(|e| format!("error: cannot write `{}`: {e}", path.display()))?,
                None => print!("{rust}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Explain { app, format } => {
            let source = read(&app)?;
            let format = match format {
                ExplainFormat::Text => eventflux_compiler::plan::explain::Format::Text,
                ExplainFormat::Dot => eventflux_compiler::plan::explain::Format::Dot,
            };
            match eventflux_compiler::explain(&source, format) {
                Ok(text) => {
                    print!("{text}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprint!("{}", e.render(&app.display().to_string(), &source));
                    Ok(ExitCode::from(1))
                }
            }
        }
        Cmd::Proto { app, output } => {
            let source = read(&app)?;
            let stem = app
                .file_stem()
                .map_or_else(|| "app".to_string(), |s| s.to_string_lossy().into_owned());
            let text = eventflux_compiler::proto(&source, &stem)
                .map_err(|e| e.render(&app.display().to_string(), &source))?;
            match output {
                Some(path) => std::fs::write(&path, text)
                    .map_err(|e| format!("error: cannot write `{}`: {e}", path.display()))?,
                None => print!("{text}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Build {
            app,
            output,
            debug,
            docker,
            grpc,
        } => {
            let profile = if debug {
                Profile::Debug
            } else {
                Profile::Release
            };
            eprintln!("eventflux: compiling {}", app.display());
            let (options, extra): (Options, &[&'static str]) = if grpc {
                (Options::standalone().with_grpc(), &["redis", "tls", "grpc"])
            } else {
                (Options::standalone(), SERVICE)
            };
            let (binary, project) = build_binary(&app, profile, false, options, extra)?;
            let out = output.unwrap_or_else(|| PathBuf::from(app.file_stem().unwrap_or_default()));
            place_binary(&binary, &out)
                .map_err(|e| format!("error: cannot write `{}`: {e}", out.display()))?;
            eprintln!("eventflux: built {}", out.display());
            if docker {
                let file = project::write_dockerfile(&project, &out).map_err(|e| e.to_string())?;
                eprintln!("eventflux: wrote {}", file.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Checkpoints { store } => {
            // Listing needs the runtime's checkpoint reader, which the compiler does not
            // link: any standalone binary lists a store, so a minimal one is built (cached).
            let binary = tool_binary()?;
            let mut cmd = Command::new(binary);
            cmd.arg("--list-checkpoints").arg(&store);
            exec(cmd)
        }
        Cmd::Run {
            app,
            input,
            output,
            clock,
            strict,
            output_streams,
            debug,
            workers,
            processes,
            process,
            hosts,
            grpc,
        } => {
            let profile = if debug {
                Profile::Debug
            } else {
                Profile::Incremental
            };
            let (options, extra): (Options, &[&'static str]) = match grpc {
                Some(_) => (Options::standalone().without_state().with_grpc(), &["grpc"]),
                None => (Options::standalone().without_state(), &[]),
            };
            let (binary, _) = build_binary(&app, profile, true, options, extra)?;
            let mut cmd = Command::new(binary);
            if let Some(addr) = &grpc {
                cmd.args(["--grpc", addr]);
            }
            if let Some(input) = &input {
                cmd.args(["--input", input]);
            }
            cmd.args(["--output", &output]);
            cmd.args([
                "--clock",
                match clock {
                    Clock::Event => "event",
                    Clock::Wall => "wall",
                },
            ]);
            if strict {
                cmd.arg("--strict");
            }
            if let Some(streams) = output_streams {
                cmd.args(["--output-streams", &streams]);
            }
            cmd.args(["--workers", &workers.to_string()]);
            if processes > 1 {
                cmd.args(["--processes", &processes.to_string()]);
                cmd.args(["--process", &process.to_string()]);
            }
            if let Some(hosts) = &hosts {
                cmd.args(["--hosts", hosts]);
            }
            exec(cmd)
        }
        Cmd::Bench {
            app,
            input,
            repeat,
            workers,
        } => {
            let (binary, _) = build_binary(
                &app,
                Profile::Bench,
                true,
                Options::standalone().without_state(),
                &[],
            )?;
            let mut cmd = Command::new(binary);
            cmd.arg("--bench").arg("--input").arg(&input);
            cmd.args(["--repeat", &repeat.to_string()]);
            cmd.args(["--workers", &workers.to_string()]);
            exec(cmd)
        }
    }
}

fn compile_app(app: &Path, options: &Options) -> Result<Compiled, String> {
    let source = read(app)?;
    match compile(&source, options) {
        Ok(c) => {
            for w in &c.warnings {
                eprint!("{}", w.render(&app.display().to_string(), &source));
            }
            Ok(c)
        }
        Err(e) => Err(e.render(&app.display().to_string(), &source)),
    }
}

/// Runtime features of `eventflux build`'s service binaries beyond the app's own: checkpoints
/// may go to Redis (`--state-dir redis://...`), metrics may be served over TLS.
const SERVICE: &[&str] = &["redis", "tls"];

/// A minimal standalone binary, for what any of them can do (`--list-checkpoints`).
fn tool_binary() -> Result<PathBuf, String> {
    let source = "CREATE STREAM Unused (x INT);";
    let compiled =
        compile(source, &Options::standalone()).map_err(|e| e.render("<tool>", source))?;
    let project = project::write_project(&compiled.rust, SERVICE, Profile::Release, None)
        .map_err(|e| e.to_string())?;
    project
        .build(true)
        .map_err(|e: BuildError| format!("error: {e}"))
}

/// The runtime's optional features (runtime/Cargo.toml).
const RUNTIME_FEATURES: &[&str] = &[
    "scale", "tls", "redis", "http", "grpc", "nats", "mqtt", "postgres", "rabbitmq", "kafka",
];

/// Runtime features every app is built with beyond its own, from `EVENTFLUX_FEATURES`
/// (comma-separated): apps with different connectors built with the same list share one
/// build of the runtime in the cache (docs/running.md).
fn env_features() -> Result<Vec<&'static str>, String> {
    let Some(list) = std::env::var_os("EVENTFLUX_FEATURES") else {
        return Ok(Vec::new());
    };
    list.to_string_lossy()
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(|f| {
            RUNTIME_FEATURES
                .iter()
                .find(|known| **known == f)
                .copied()
                .ok_or_else(|| {
                    format!(
                        "error: EVENTFLUX_FEATURES: `{f}` is not a runtime feature (one of: {})",
                        RUNTIME_FEATURES.join(", ")
                    )
                })
        })
        .collect()
}

/// Puts the cached `binary` at `out`: a hard link to the cache's file where both are on one
/// file system (as cargo links `target/debug/<bin>`), else a copy; written under a temporary
/// name beside `out` and renamed over it, so a failure leaves an existing `out` as it was
/// and a running `out` is replaced, not overwritten.
fn place_binary(binary: &Path, out: &Path) -> std::io::Result<()> {
    let name = out.file_name().unwrap_or_default().to_string_lossy();
    let tmp = out.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    if std::fs::hard_link(binary, &tmp).is_err() {
        std::fs::copy(binary, &tmp)?;
    }
    let renamed = std::fs::rename(&tmp, out);
    // Also after a success: renaming a link over another link of the same file (`out` from
    // an earlier build of the same app) leaves both names.
    let _ = std::fs::remove_file(&tmp);
    renamed
}

/// Compiles the app with `options`, writes its project into the cache and builds it (unless
/// cached), enabling the app's runtime features plus `extra`. `eventflux run` and `bench`
/// leave snapshots out (`Options::without_state`): they never persist state, and the
/// snapshot code is more than half of the build.
fn build_binary(
    app: &Path,
    profile: Profile,
    quiet: bool,
    options: Options,
    extra: &[&'static str],
) -> Result<(PathBuf, project::Project), String> {
    let compiled = compile_app(app, &options)?;
    let mut features = compiled.plan.runtime_features();
    for feature in extra.iter().chain(&env_features()?) {
        if !features.contains(feature) {
            features.push(feature);
        }
    }
    features.sort_unstable();
    let project = project::write_project(&compiled.rust, &features, profile, Some(app))
        .map_err(|e| e.to_string())?;
    if !project.cached_binary().exists() && quiet {
        eprintln!(
            "eventflux: compiling {} (cached for later runs)",
            app.display()
        );
    }
    let binary = project
        .build(quiet)
        .map_err(|e: BuildError| format!("error: {e}"))?;
    Ok((binary, project))
}

/// Runs the compiled binary with stdio inherited and returns its exit code.
fn exec(mut cmd: Command) -> Result<ExitCode, String> {
    let status = cmd
        .status()
        .map_err(|e| format!("error: cannot start the compiled app: {e}"))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::from(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_known_runtime_features_are_those_of_the_runtime_manifest() {
        let manifest = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime/Cargo.toml"),
        )
        .expect("read runtime/Cargo.toml");
        let section = manifest
            .split("[features]")
            .nth(1)
            .and_then(|rest| rest.split("\n[").next())
            .expect("a [features] section");
        let mut declared: Vec<&str> = section
            .lines()
            .filter_map(|l| l.split_once(" = ").map(|(name, _)| name.trim()))
            .filter(|name| !name.starts_with('#') && *name != "default")
            .collect();
        let mut known = RUNTIME_FEATURES.to_vec();
        declared.sort_unstable();
        known.sort_unstable();
        assert_eq!(known, declared);
    }
}

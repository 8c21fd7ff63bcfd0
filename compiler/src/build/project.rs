//! Standalone projects and the build cache (docs/running.md#the-eventflux-command).
//!
//! A project is the `templates/` skeleton (Cargo.toml, main.rs) plus the generated `app.rs`.
//! Projects live in `$EVENTFLUX_CACHE` (default `~/.cache/eventflux`) under
//! `projects/<hash>/`, and all of them share `target/`, so the runtime is compiled once per
//! cache. The hash covers the generated source, the templates, the profile and the runtime's
//! sources; a built binary is kept as `bin/<hash>`, so running an unchanged app again starts
//! it without invoking cargo at all.
//!
//! `eventflux run` builds with [`Profile::Incremental`]: one project per app *file*
//! (`projects/edit-<hash of its path>/`, a package name of its own), compiled incrementally
//! in many codegen units, so running the app again after an edit recompiles only the code
//! that changed (a one-query edit of a 20-query app: about 1 s instead of 4 to 8 s). A lock
//! file keeps two runs of the same file from building it at the same time.

use super::BuildError;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

const CARGO_TEMPLATE: &str = include_str!("../../../templates/Cargo.toml");
const MAIN_TEMPLATE: &str = include_str!("../../../templates/main.rs");

/// The cache directory: `$EVENTFLUX_CACHE`, else `~/.cache/eventflux`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("EVENTFLUX_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache").join("eventflux")
}

/// The runtime crate generated projects depend on: `$EVENTFLUX_RUNTIME_PATH`, else the copy
/// next to this compiler's sources.
pub fn runtime_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("EVENTFLUX_RUNTIME_PATH") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("runtime")
}

/// How to build a project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// Optimised (the default).
    Release,
    /// Fast to compile, slow to run (`--debug`).
    Debug,
    /// Optimised, with the `--bench` mode (`eventflux bench`).
    Bench,
    /// Optimised, built incrementally in a project kept per app file (`eventflux run`): an
    /// edit recompiles what changed. The app's code is split into many codegen units (fewer
    /// cross-query inlining chances than [`Profile::Release`]'s one unit).
    Incremental,
}

/// The per-package profile of the app in the template (one codegen unit).
const APP_PROFILE: &str = "[profile.release.package.@PACKAGE_NAME@]\ncodegen-units = 1\n";

/// The same for [`Profile::Incremental`]: rustc's incremental codegen units, reused after
/// an edit.
const APP_PROFILE_INCREMENTAL: &str =
    "[profile.release.package.@PACKAGE_NAME@]\ncodegen-units = 256\nincremental = true\n";

/// Removes cargo's own copy of binary `name` in `deps` (`<name with _>-<hash>`, the file
/// cargo links into the profile directory): the cache keeps the binary under `bin/`, so a
/// second copy per app would only double the cache's size. Cargo links the binary again
/// the next time the same project is built. Best effort: a file left behind costs space,
/// nothing else.
fn remove_dep_links(deps: &Path, name: &str) {
    let prefix = format!("{}-", name.replace('-', "_"));
    let Ok(entries) = std::fs::read_dir(deps) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(file) = file.to_str() else {
            continue;
        };
        let is_binary = Path::new(file)
            .extension()
            .is_none_or(|ext| ext == std::env::consts::EXE_EXTENSION);
        if file.starts_with(&prefix) && is_binary {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// A generated project on disk.
#[derive(Clone, Debug)]
pub struct Project {
    /// The project directory.
    pub dir: PathBuf,
    /// Content hash (the cache key).
    pub hash: String,
    /// Build profile.
    pub profile: Profile,
    /// Package (and binary) name.
    pub name: String,
    /// The lock held on an incremental project while it is written and built.
    _lock: Option<std::sync::Arc<std::fs::File>>,
    /// The `Cargo.lock` of the last project built with the same runtime features: a new
    /// project starts from a copy, so cargo resolves nothing (no registry index update,
    /// about a second of a new app's build).
    lock_seed: PathBuf,
}

/// Writes the project for `app_rs` (generated with `Options::standalone()`) into the cache;
/// its runtime dependency enables `features` (see `AppPlan::runtime_features`). With
/// [`Profile::Incremental`], `app_file` (the app's path) names the project kept for it.
pub fn write_project(
    app_rs: &str,
    features: &[&str],
    profile: Profile,
    app_file: Option<&Path>,
) -> Result<Project, BuildError> {
    write_project_in(&cache_dir(), app_rs, features, profile, app_file)
}

/// [`write_project`] into the cache `cache`.
fn write_project_in(
    cache: &Path,
    app_rs: &str,
    features: &[&str],
    profile: Profile,
    app_file: Option<&Path>,
) -> Result<Project, BuildError> {
    let runtime = runtime_dir();
    let runtime = runtime.canonicalize().unwrap_or(runtime);
    let seed_key: String = Sha256::digest(features.join(",").as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    let lock_seed = cache.join("locks").join(format!("{seed_key}.lock"));
    let features = if features.is_empty() {
        String::new()
    } else {
        let quoted: Vec<String> = features.iter().map(|f| format!("{f:?}")).collect();
        format!(", features = [{}]", quoted.join(", "))
    };
    let mut template = CARGO_TEMPLATE
        .replace("@RUNTIME_PATH@", &runtime.display().to_string())
        .replace("@RUNTIME_FEATURES@", &features);
    if profile == Profile::Incremental {
        template = template.replace(APP_PROFILE, APP_PROFILE_INCREMENTAL);
    }
    let mut hasher = Sha256::new();
    for part in [
        template.as_str(),
        MAIN_TEMPLATE,
        app_rs,
        env!("CARGO_PKG_VERSION"),
    ] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher.update(format!("{profile:?}"));
    hash_sources(&runtime, &mut hasher);
    let hash: String = hasher
        .finalize()
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect();
    // Each project gets its own package (and binary) name: builds of different apps share
    // the target directory, and must not overwrite each other's binary. An incremental
    // project is named after its app file, so the next build of the file reuses it.
    let key = match (profile, app_file) {
        (Profile::Incremental, Some(file)) => {
            let file = file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
            let digest = Sha256::digest(file.to_string_lossy().as_bytes());
            let path_hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
            format!("edit-{path_hash}")
        }
        _ => hash.clone(),
    };
    let name = package_name(&key);
    let cargo_toml = template.replace("@PACKAGE_NAME@", &name);
    let dir = cache.join("projects").join(&key);
    let src = dir.join("src");
    std::fs::create_dir_all(&src).map_err(|source| io(&src, source))?;
    // An incremental project is shared by the runs of its file: write and build it under
    // its lock (released when the project is dropped).
    let lock = if profile == Profile::Incremental {
        let path = dir.join(".lock");
        let file = std::fs::File::create(&path).map_err(|source| io(&path, source))?;
        file.lock().map_err(|source| io(&path, source))?;
        Some(std::sync::Arc::new(file))
    } else {
        None
    };
    for (path, text) in [
        (dir.join("Cargo.toml"), cargo_toml.as_str()),
        (src.join("main.rs"), MAIN_TEMPLATE),
        (src.join("app.rs"), app_rs),
    ] {
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text) {
            std::fs::write(&path, text).map_err(|source| io(&path, source))?;
        }
    }
    let lockfile = dir.join("Cargo.lock");
    if !lockfile.exists() {
        // Without a seed cargo resolves the dependencies itself, as before.
        let _ = std::fs::copy(&lock_seed, &lockfile);
    }
    Ok(Project {
        dir,
        hash,
        profile,
        name,
        _lock: lock,
        lock_seed,
    })
}

/// The package (and binary) name of the project with content hash `hash`.
fn package_name(hash: &str) -> String {
    format!("eventflux-app-{hash}")
}

fn io(path: &Path, source: std::io::Error) -> BuildError {
    BuildError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Feeds the runtime's Cargo.toml and `src/` files (sorted) into the hash.
fn hash_sources(dir: &Path, hasher: &mut Sha256) {
    let mut files = Vec::new();
    collect_files(&dir.join("src"), &mut files);
    files.push(dir.join("Cargo.toml"));
    files.sort();
    for f in files {
        if let Ok(bytes) = std::fs::read(&f) {
            hasher.update(f.to_string_lossy().as_bytes());
            hasher.update(&bytes);
        }
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

impl Project {
    /// Where the cached binary of this project is kept.
    pub fn cached_binary(&self) -> PathBuf {
        cache_dir().join("bin").join(&self.hash)
    }

    /// Builds the project unless its binary is already cached; returns the binary's path.
    /// `quiet` hides cargo's progress output.
    pub fn build(&self, quiet: bool) -> Result<PathBuf, BuildError> {
        let cached = self.cached_binary();
        if cached.exists() {
            return Ok(cached);
        }
        let target = cache_dir().join("target");
        let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.arg("build")
            .arg("--manifest-path")
            .arg(self.dir.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target);
        match self.profile {
            Profile::Release | Profile::Incremental => {
                cmd.arg("--release");
            }
            Profile::Bench => {
                cmd.args(["--release", "--features", "bench"]);
            }
            Profile::Debug => {}
        }
        if quiet {
            cmd.arg("--quiet");
        }
        // The user's own RUSTFLAGS (e.g. -D warnings from CI) must not change how the cached
        // runtime is built; target-cpu is left at the default so binaries stay portable.
        cmd.env_remove("RUSTFLAGS").env_remove("CARGO_TARGET_DIR");
        let status = cmd
            .status()
            .map_err(|source| io(Path::new("cargo"), source))?;
        if !status.success() {
            return Err(BuildError::Cargo(status.to_string()));
        }
        let profile_dir = match self.profile {
            Profile::Release | Profile::Bench | Profile::Incremental => "release",
            Profile::Debug => "debug",
        };
        let built =
            target
                .join(profile_dir)
                .join(format!("{}{}", self.name, std::env::consts::EXE_SUFFIX));
        self.keep_lock_seed();
        let bin_dir = cache_dir().join("bin");
        std::fs::create_dir_all(&bin_dir).map_err(|source| io(&bin_dir, source))?;
        // Moved (not copied) under a temporary name, then renamed, so a concurrent run never
        // sees half a file and the cache holds one copy of each binary, not two.
        let tmp = bin_dir.join(format!("{}.tmp{}", self.hash, std::process::id()));
        if std::fs::rename(&built, &tmp).is_err() {
            // Another run of the same project may have moved it first; else the target is
            // on another file system than the cache, and the binary is copied.
            if cached.exists() {
                return Ok(cached);
            }
            std::fs::copy(&built, &tmp).map_err(|source| io(&built, source))?;
        }
        std::fs::rename(&tmp, &cached).map_err(|source| io(&cached, source))?;
        remove_dep_links(&target.join(profile_dir).join("deps"), &self.name);
        Ok(cached)
    }

    /// Keeps this project's `Cargo.lock` as the seed of the next new project with the same
    /// runtime features (best effort: without it the next build resolves again).
    fn keep_lock_seed(&self) {
        let Some(locks) = self.lock_seed.parent() else {
            return;
        };
        if std::fs::create_dir_all(locks).is_err() {
            return;
        }
        // Copied under a temporary name, then renamed: a concurrent build never reads half.
        let tmp = locks.join(format!("{}.tmp{}", self.hash, std::process::id()));
        if std::fs::copy(self.dir.join("Cargo.lock"), &tmp).is_ok()
            && std::fs::rename(&tmp, &self.lock_seed).is_err()
        {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

/// Writes, next to the built binary `out`, a two-stage `<out>.Dockerfile` and its build
/// context `<out>-src/` (the generated project and a copy of the runtime crate): the first
/// stage compiles the project with the official Rust image, the second copies the binary
/// into a slim Debian image. Build it from `out`'s directory:
/// `docker build -f app.Dockerfile -t app .`. Returns the Dockerfile's path.
pub fn write_dockerfile(project: &Project, out: &Path) -> Result<PathBuf, BuildError> {
    let name = out
        .file_name()
        .map_or_else(|| "app".to_owned(), |n| n.to_string_lossy().into_owned());
    let parent = out.parent().unwrap_or(Path::new("")).to_path_buf();
    let context = parent.join(format!("{name}-src"));
    let _ = std::fs::remove_dir_all(&context);
    let runtime = runtime_dir();
    let mut files = Vec::new();
    collect_files(&runtime.join("src"), &mut files);
    files.push(runtime.join("Cargo.toml"));
    for file in files {
        let Ok(rel) = file.strip_prefix(&runtime) else {
            continue;
        };
        let to = context.join("runtime").join(rel);
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir).map_err(|source| io(dir, source))?;
        }
        std::fs::copy(&file, &to).map_err(|source| io(&file, source))?;
    }
    let app_dir = context.join("app");
    std::fs::create_dir_all(app_dir.join("src")).map_err(|source| io(&app_dir, source))?;
    let manifest = std::fs::read_to_string(project.dir.join("Cargo.toml"))
        .map_err(|source| io(&project.dir, source))?;
    // The runtime dependency points at the copy in the context.
    let manifest: String = manifest
        .lines()
        .map(|line| match line.split_once("path = \"") {
            Some((head, rest)) if line.starts_with("eventflux-runtime") => {
                let tail = rest.split_once('"').map_or("", |(_, t)| t);
                format!("{head}path = \"../runtime\"{tail}\n")
            }
            _ => format!("{line}\n"),
        })
        .collect();
    for (path, text) in [
        (app_dir.join("Cargo.toml"), manifest),
        (
            app_dir.join("src").join("main.rs"),
            MAIN_TEMPLATE.to_owned(),
        ),
        (
            app_dir.join("src").join("app.rs"),
            std::fs::read_to_string(project.dir.join("src").join("app.rs"))
                .map_err(|source| io(&project.dir, source))?,
        ),
    ] {
        std::fs::write(&path, text).map_err(|source| io(&path, source))?;
    }
    if let Ok(lock) = std::fs::read(project.dir.join("Cargo.lock")) {
        let path = app_dir.join("Cargo.lock");
        std::fs::write(&path, lock).map_err(|source| io(&path, source))?;
    }
    let package = &project.name;
    let dockerfile = parent.join(format!("{name}.Dockerfile"));
    let text = format!(
        "# Generated by `eventflux build --docker`. Build from this directory:\n\
         #   docker build -f {name}.Dockerfile -t {name} .\n\
         # and run with the binary's flags, e.g.:\n\
         #   docker run -v $PWD/data:/data {name} --input /data/in.jsonl --state-dir /data/state\n\
         FROM rust:1-bookworm AS build\n\
         WORKDIR /build\n\
         COPY {name}-src/ ./\n\
         RUN cargo build --release --manifest-path app/Cargo.toml --target-dir target\n\
         \n\
         FROM debian:bookworm-slim\n\
         COPY --from=build /build/target/release/{package} /usr/local/bin/{name}\n\
         ENTRYPOINT [\"/usr/local/bin/{name}\"]\n"
    );
    std::fs::write(&dockerfile, text).map_err(|source| io(&dockerfile, source))?;
    Ok(dockerfile)
}

#[cfg(test)]
mod tests {
    use super::{remove_dep_links, write_project_in, Profile};

    #[test]
    fn only_the_built_binary_leaves_deps() {
        let deps = std::env::temp_dir().join(format!("eventflux-deps-{}", std::process::id()));
        std::fs::create_dir_all(&deps).expect("create deps");
        let files = [
            "eventflux_app_1f-0b62",
            "eventflux_app_1f-0b62.d",
            "eventflux_app_1f2-9c8e",
            "libeventflux_runtime-4a1b.rlib",
        ];
        for file in files {
            std::fs::write(deps.join(file), b"x").expect("write file");
        }
        remove_dep_links(&deps, "eventflux-app-1f");
        let mut left: Vec<String> = std::fs::read_dir(&deps)
            .expect("read deps")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, &files[1..]);
        std::fs::remove_dir_all(&deps).expect("remove deps");
    }

    #[test]
    fn new_projects_start_from_the_last_lockfile_of_their_features() {
        let cache = std::env::temp_dir().join(format!("eventflux-locks-{}", std::process::id()));
        std::fs::create_dir_all(&cache).expect("create cache");
        let write = |rs: &str, features: &[&str]| {
            write_project_in(&cache, rs, features, Profile::Release, None).expect("write project")
        };
        let first = write("// one", &[]);
        assert!(!first.dir.join("Cargo.lock").exists(), "no seed yet");
        // What cargo would leave after building it.
        std::fs::write(first.dir.join("Cargo.lock"), "# lock one\n").expect("write lock");
        first.keep_lock_seed();
        let second = write("// two", &[]);
        let lock = std::fs::read_to_string(second.dir.join("Cargo.lock")).expect("seeded lock");
        assert_eq!(lock, "# lock one\n");
        // Other runtime features: other dependencies, no seed.
        let redis = write("// three", &["redis"]);
        assert!(!redis.dir.join("Cargo.lock").exists());
        // A project's own lock is never replaced by the seed.
        std::fs::write(second.dir.join("Cargo.lock"), "# lock two\n").expect("write lock");
        let again = write("// two", &[]);
        let lock = std::fs::read_to_string(again.dir.join("Cargo.lock")).expect("own lock");
        assert_eq!(lock, "# lock two\n");
        let _ = std::fs::remove_dir_all(&cache);
    }

    #[test]
    fn incremental_projects_are_kept_per_app_file() {
        let cache = std::env::temp_dir().join(format!("eventflux-projects-{}", std::process::id()));
        let app = cache.join("app.eventflux");
        let other = cache.join("other.eventflux");
        std::fs::create_dir_all(&cache).expect("create cache");
        let write = |rs: &str, profile, file: &std::path::Path| {
            write_project_in(&cache, rs, &[], profile, Some(file)).expect("write project")
        };
        let a = write("// one", Profile::Incremental, &app);
        let toml = std::fs::read_to_string(a.dir.join("Cargo.toml")).expect("Cargo.toml");
        assert!(
            toml.contains("codegen-units = 256\nincremental = true"),
            "{toml}"
        );
        drop(a);
        // An edit of the same file: the same project (and package), a new cache key.
        let (a1, h1) = {
            let p = write("// one", Profile::Incremental, &app);
            (p.dir.clone(), p.hash.clone())
        };
        let p2 = write("// two", Profile::Incremental, &app);
        assert_eq!(p2.dir, a1);
        assert_ne!(p2.hash, h1);
        let name = p2.name.clone();
        drop(p2);
        let o = write("// one", Profile::Incremental, &other);
        assert_ne!(o.dir, a1);
        assert_ne!(o.name, name);
        drop(o);
        // Other profiles: one project per content, one codegen unit, not incremental.
        let r = write("// one", Profile::Release, &app);
        let toml = std::fs::read_to_string(r.dir.join("Cargo.toml")).expect("Cargo.toml");
        assert!(toml.contains("codegen-units = 1\n"), "{toml}");
        assert!(!toml.contains("incremental = true"), "{toml}");
        assert_ne!(r.dir, a1);
        assert_ne!(r.hash, h1);
        let _ = std::fs::remove_dir_all(&cache);
    }
}

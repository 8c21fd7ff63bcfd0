//! Checkpoints of a run on several workers (DESIGN 11, docs/scale-out.md): in
//! `STATE_DIR/workers/<id>/`, each worker writes its app's snapshot (`w<index>.efs`, its keys'
//! state; worker 0's also holds what runs on worker 0) and each process, once all of its
//! workers have written theirs, a part of its own (`p<index>.json`: the number of workers and
//! processes, process 0's input position and the process's output offsets). A checkpoint is
//! complete when every process has written its part; a restart loads the newest complete one,
//! every worker taking the keys it owns from all the snapshots, so the number of workers and
//! processes may change (rescaling). Each file is written to a temporary name, synced and
//! renamed; a snapshot carries its checksum.

// Without the `scale` feature only the listing (`eventflux checkpoints`) is used.
#![cfg_attr(not(feature = "scale"), allow(dead_code))]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::log::{log, Level};
use crate::state::{CheckpointInfo, Checkpointer, DirStore, Positions, Snapshot};

/// A process's part of a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ProcessPart {
    /// Workers over all processes when the checkpoint was taken.
    pub workers: usize,
    /// Processes when the checkpoint was taken.
    pub processes: usize,
    /// Process 0: the input's position; every process: its output files' offsets.
    pub positions: Positions,
}

/// A checkpoint to resume from.
pub(super) struct Loaded {
    pub id: u64,
    /// Every worker's snapshot, in worker order.
    pub snapshots: Vec<Vec<u8>>,
    /// Process 0's input position and every process's output offsets.
    pub positions: Positions,
    /// Where it came from, for the log.
    pub from: String,
}

/// The checkpoints of runs on several workers under a state directory.
pub(super) struct WorkerStore {
    dir: PathBuf,
}

impl WorkerStore {
    /// The store under `state_dir` (a directory; Redis is not supported with workers).
    pub fn open(state_dir: &str) -> Result<WorkerStore, String> {
        if state_dir.contains("://") {
            return Err(format!(
                "--state-dir `{state_dir}`: with --workers/--processes checkpoints go to a \
                 directory (shared by the processes), not to Redis"
            ));
        }
        let dir = Path::new(state_dir).join("workers");
        fs::create_dir_all(&dir).map_err(|e| {
            format!(
                "cannot create checkpoint directory `{}`: {e}",
                dir.display()
            )
        })?;
        Ok(WorkerStore { dir })
    }

    /// Whether `state_dir` holds checkpoints of a run on several workers (a later run on one
    /// worker then resumes from them too).
    pub fn used(state_dir: &str) -> bool {
        fs::read_dir(Path::new(state_dir).join("workers"))
            .is_ok_and(|mut entries| entries.next().is_some())
    }

    fn at(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:010}"))
    }

    /// The checkpoint ids present (complete or not), ascending.
    pub fn ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        ids.sort_unstable();
        ids
    }

    /// Whether every one of `processes` processes wrote its part of checkpoint `id` (each
    /// writes its part after its workers' snapshots).
    pub fn complete(&self, id: u64, processes: usize) -> bool {
        let dir = self.at(id);
        (0..processes).all(|p| dir.join(format!("p{p}.json")).is_file())
    }

    /// Writes `bytes` as `name` of checkpoint `id`, atomically.
    fn write(&self, id: u64, name: &str, bytes: &[u8]) -> Result<(), String> {
        let dir = self.at(id);
        let tmp = dir.join(format!(".{name}.tmp"));
        let done = (|| {
            fs::create_dir_all(&dir)?;
            let mut f = fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, dir.join(name))?;
            fs::File::open(&dir)?.sync_all()
        })();
        done.map_err(|e| format!("cannot write checkpoint {id} ({name}): {e}"))
    }

    /// Writes worker `index`'s snapshot of checkpoint `id`.
    pub fn write_worker(&self, id: u64, index: usize, snapshot: &[u8]) -> Result<(), String> {
        self.write(id, &format!("w{index}.efs"), snapshot)
    }

    /// Writes process `index`'s part of checkpoint `id` (after its workers' snapshots).
    pub fn write_process(&self, id: u64, index: usize, part: &ProcessPart) -> Result<(), String> {
        let json = serde_json::to_vec(part).map_err(|e| e.to_string())?;
        self.write(id, &format!("p{index}.json"), &json)
    }

    /// Checkpoint `id` whole and checked, or why it cannot be used.
    fn read(
        &self,
        id: u64,
        app_hash_of: &dyn Fn(&[u8]) -> Result<(), String>,
    ) -> Result<Loaded, String> {
        let dir = self.at(id);
        let part = |p: usize| -> Result<ProcessPart, String> {
            let path = dir.join(format!("p{p}.json"));
            let bytes = fs::read(&path).map_err(|e| format!("process {p}'s part: {e}"))?;
            serde_json::from_slice(&bytes)
                .map_err(|e| format!("process {p}'s part is corrupt: {e}"))
        };
        let first = part(0)?;
        let mut positions = first.positions.clone();
        for p in 1..first.processes {
            let other = part(p)?;
            if (other.workers, other.processes) != (first.workers, first.processes) {
                return Err(format!(
                    "process {p}'s part names another number of workers"
                ));
            }
            positions.sinks.extend(other.positions.sinks);
            positions.sources.extend(other.positions.sources);
        }
        let mut snapshots = Vec::with_capacity(first.workers);
        for w in 0..first.workers {
            let path = dir.join(format!("w{w}.efs"));
            let bytes = fs::read(&path).map_err(|e| format!("worker {w}'s snapshot: {e}"))?;
            app_hash_of(&bytes).map_err(|e| format!("worker {w}'s snapshot: {e}"))?;
            snapshots.push(bytes);
        }
        Ok(Loaded {
            id,
            snapshots,
            positions,
            from: format!(
                "{} ({} worker(s) in {} process(es))",
                dir.display(),
                first.workers,
                first.processes
            ),
        })
    }

    /// The newest complete checkpoint (or checkpoint `from`), falling back to older ones when
    /// one is incomplete or corrupt (said on stderr); `check` validates a snapshot.
    pub fn newest(
        &self,
        from: Option<u64>,
        check: &dyn Fn(&[u8]) -> Result<(), String>,
    ) -> Result<Option<Loaded>, String> {
        if let Some(id) = from {
            return self
                .read(id, check)
                .map(Some)
                .map_err(|e| format!("--restore-from {id}: checkpoint {id} cannot be used: {e}"));
        }
        for id in self.ids().into_iter().rev() {
            match self.read(id, check) {
                Ok(loaded) => return Ok(Some(loaded)),
                Err(e) => log(
                    Level::Warn,
                    &format!(
                        "warning: checkpoint {id} in {} is incomplete or corrupt ({e}); \
                         trying an older checkpoint",
                        self.dir.display()
                    ),
                ),
            }
        }
        Ok(None)
    }

    /// Every checkpoint present, ascending, as `eventflux checkpoints` lists them: complete
    /// ones with their positions, the others with why they cannot be used.
    pub fn list(&self, check: &dyn Fn(&[u8]) -> Result<(), String>) -> Vec<CheckpointInfo> {
        self.ids()
            .into_iter()
            .map(|id| {
                let dir = self.at(id);
                let files: Vec<fs::Metadata> = fs::read_dir(&dir)
                    .map(|entries| {
                        entries
                            .flatten()
                            .filter_map(|e| e.metadata().ok())
                            .collect()
                    })
                    .unwrap_or_default();
                let bytes = files.iter().map(|m| m.len() as usize).sum();
                // When the newest of its files was written.
                let time_ms = files
                    .iter()
                    .filter_map(|m| m.modified().ok())
                    .max()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .and_then(|d| i64::try_from(d.as_millis()).ok());
                let (positions, error) = match self.read(id, check) {
                    Ok(loaded) => (Some(loaded.positions), None),
                    Err(e) => (None, Some(e)),
                };
                CheckpointInfo {
                    id,
                    time_ms,
                    bytes,
                    base: None,
                    positions,
                    error,
                }
            })
            .collect()
    }

    /// The store's directory, for messages.
    pub fn describe(&self) -> String {
        self.dir.display().to_string()
    }

    /// Keeps the newest `keep` complete checkpoints and whatever is newer; removes the rest.
    pub fn prune(&self, keep: usize, check: &dyn Fn(&[u8]) -> Result<(), String>) {
        let ids = self.ids();
        let mut complete = 0;
        for (i, &id) in ids.iter().enumerate().rev() {
            if self.read(id, check).is_ok() {
                complete += 1;
                if complete >= keep.max(1) {
                    for &old in &ids[..i] {
                        if let Err(e) = fs::remove_dir_all(self.at(old)) {
                            log(
                                Level::Warn,
                                &format!("warning: cannot remove checkpoint {old}: {e}"),
                            );
                        }
                    }
                    return;
                }
            }
        }
    }
}

/// The newest checkpoint of a single-worker run in `state_dir` (the plain format of
/// `crate::state::Checkpointer`), as the checkpoint of one worker: a first run on several
/// workers resumes from it (rescaling 1 -> N).
pub(super) fn single_worker(state_dir: &str, from: Option<u64>) -> Result<Option<Loaded>, String> {
    let store = DirStore::open(state_dir).map_err(|e| e.to_string())?;
    let mut cp = Checkpointer::new(Box::new(store));
    let restored = cp.restore(from).map_err(|e| e.to_string())?;
    Ok(restored.map(|r| {
        for reason in &r.skipped {
            log(
                Level::Warn,
                &format!("warning: {reason}; trying an older checkpoint"),
            );
        }
        Loaded {
            id: r.id,
            snapshots: vec![r.snapshot],
            positions: r.positions,
            from: format!("{state_dir} (a run on one worker)"),
        }
    }))
}

/// Checks that `bytes` is an intact snapshot.
pub(super) fn intact(bytes: &[u8]) -> Result<(), String> {
    Snapshot::decode_any(bytes)
        .map(drop)
        .map_err(|e| e.to_string())
}

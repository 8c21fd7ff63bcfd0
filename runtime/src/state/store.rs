//! Where checkpoints live: a directory, Redis, or (in tests) memory.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::checkpoint::CheckpointError;

/// A place that keeps checkpoints by id. Writes are atomic: a checkpoint is either all there
/// or not at all.
pub trait Store: Send {
    /// The store, for messages (never with credentials).
    fn describe(&self) -> String;
    /// The ids of the stored checkpoints, ascending.
    fn list(&mut self) -> Result<Vec<u64>, CheckpointError>;
    /// The bytes of checkpoint `id`.
    fn read(&mut self, id: u64) -> Result<Vec<u8>, CheckpointError>;
    /// Stores checkpoint `id` atomically.
    fn write(&mut self, id: u64, bytes: &[u8]) -> Result<(), CheckpointError>;
    /// Removes checkpoint `id`.
    fn delete(&mut self, id: u64) -> Result<(), CheckpointError>;
}

/// Opens the store `--state-dir` names: `redis://host:port/prefix` (with the `redis`
/// feature) or a directory.
pub fn open_store(location: &str) -> Result<Box<dyn Store>, CheckpointError> {
    if location.starts_with("redis://") || location.starts_with("rediss://") {
        #[cfg(feature = "redis")]
        {
            return Ok(Box::new(RedisStore::open(location)?));
        }
        #[cfg(not(feature = "redis"))]
        {
            return Err(CheckpointError::Store {
                store: redact(location),
                message: "this binary was built without Redis support".into(),
            });
        }
    }
    Ok(Box::new(DirStore::open(Path::new(location))?))
}

/// `location` without a password (`redis://user:secret@host` -> `redis://user:***@host`).
pub(crate) fn redact(location: &str) -> String {
    let Some((scheme, rest)) = location.split_once("://") else {
        return location.to_owned();
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return location.to_owned();
    };
    let user = userinfo.split(':').next().unwrap_or("");
    let slash = if rest.contains('/') { "/" } else { "" };
    format!("{scheme}://{user}:***@{host}{slash}{path}")
}

/// Checkpoints as files `checkpoint-<id>.efc` in a directory: written to a temporary file,
/// synced, renamed into place, and the directory synced.
pub struct DirStore {
    dir: PathBuf,
}

impl DirStore {
    /// Opens (creating it if needed) the directory `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<DirStore, CheckpointError> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| CheckpointError::Store {
            store: dir.display().to_string(),
            message: format!("cannot create the directory: {e}"),
        })?;
        Ok(DirStore { dir })
    }

    fn path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("checkpoint-{id:010}.efc"))
    }

    fn fail(&self, what: &str, e: std::io::Error) -> CheckpointError {
        CheckpointError::Store {
            store: self.dir.display().to_string(),
            message: format!("{what}: {e}"),
        }
    }
}

impl Store for DirStore {
    fn describe(&self) -> String {
        self.dir.display().to_string()
    }

    fn list(&mut self) -> Result<Vec<u64>, CheckpointError> {
        let entries = fs::read_dir(&self.dir).map_err(|e| self.fail("cannot list", e))?;
        let mut ids: Vec<u64> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name();
                let name = name.to_str()?;
                name.strip_prefix("checkpoint-")?
                    .strip_suffix(".efc")?
                    .parse()
                    .ok()
            })
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    fn read(&mut self, id: u64) -> Result<Vec<u8>, CheckpointError> {
        fs::read(self.path(id)).map_err(|e| self.fail(&format!("cannot read checkpoint {id}"), e))
    }

    fn write(&mut self, id: u64, bytes: &[u8]) -> Result<(), CheckpointError> {
        let tmp = self.dir.join(format!(".checkpoint-{id:010}.tmp"));
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, self.path(id))?;
            // The rename itself is durable once the directory is synced.
            File::open(&self.dir)?.sync_all()
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            self.fail(&format!("cannot write checkpoint {id}"), e)
        })
    }

    fn delete(&mut self, id: u64) -> Result<(), CheckpointError> {
        match fs::remove_file(self.path(id)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.fail(&format!("cannot remove checkpoint {id}"), e)),
        }
    }
}

/// Checkpoints in Redis under `<prefix>:checkpoint:<id>`, their ids in the sorted set
/// `<prefix>:checkpoints`; a checkpoint and its id are written in one transaction.
#[cfg(feature = "redis")]
pub struct RedisStore {
    location: String,
    prefix: String,
    client: redis::Client,
    connection: Option<redis::Connection>,
}

#[cfg(feature = "redis")]
impl RedisStore {
    /// Opens `redis://[user:password@]host:port/prefix` (prefix default `eventflux`).
    pub fn open(location: &str) -> Result<RedisStore, CheckpointError> {
        let fail = |message: String| CheckpointError::Store {
            store: redact(location),
            message,
        };
        let (scheme, rest) = location
            .split_once("://")
            .ok_or_else(|| fail("not a redis:// URL".into()))?;
        let (authority, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/');
        let prefix = if prefix.is_empty() {
            "eventflux"
        } else {
            prefix
        };
        let client = redis::Client::open(format!("{scheme}://{authority}"))
            .map_err(|e| fail(format!("bad URL: {e}")))?;
        Ok(RedisStore {
            location: redact(location),
            prefix: prefix.to_owned(),
            client,
            connection: None,
        })
    }

    fn with<T>(
        &mut self,
        op: impl FnOnce(&mut redis::Connection, &str) -> redis::RedisResult<T>,
    ) -> Result<T, CheckpointError> {
        if self.connection.is_none() {
            let timeout = std::time::Duration::from_secs(5);
            let c = self
                .client
                .get_connection_with_timeout(timeout)
                .map_err(|e| CheckpointError::Store {
                    store: self.location.clone(),
                    message: format!("cannot connect: {e}"),
                })?;
            self.connection = Some(c);
        }
        let Some(connection) = self.connection.as_mut() else {
            return Err(CheckpointError::Store {
                store: self.location.clone(),
                message: "not connected".into(),
            });
        };
        op(connection, &self.prefix).map_err(|e| {
            // Reconnect at the next operation.
            self.connection = None;
            CheckpointError::Store {
                store: self.location.clone(),
                message: e.to_string(),
            }
        })
    }
}

#[cfg(feature = "redis")]
impl Store for RedisStore {
    fn describe(&self) -> String {
        self.location.clone()
    }

    fn list(&mut self) -> Result<Vec<u64>, CheckpointError> {
        self.with(|c, prefix| {
            redis::cmd("ZRANGE")
                .arg(format!("{prefix}:checkpoints"))
                .arg(0)
                .arg(-1)
                .query(c)
        })
    }

    fn read(&mut self, id: u64) -> Result<Vec<u8>, CheckpointError> {
        let bytes: Option<Vec<u8>> = self.with(|c, prefix| {
            redis::cmd("GET")
                .arg(format!("{prefix}:checkpoint:{id}"))
                .query(c)
        })?;
        bytes.ok_or_else(|| CheckpointError::Store {
            store: self.location.clone(),
            message: format!("checkpoint {id} is listed but missing"),
        })
    }

    fn write(&mut self, id: u64, bytes: &[u8]) -> Result<(), CheckpointError> {
        self.with(|c, prefix| {
            redis::pipe()
                .atomic()
                .cmd("SET")
                .arg(format!("{prefix}:checkpoint:{id}"))
                .arg(bytes)
                .ignore()
                .cmd("ZADD")
                .arg(format!("{prefix}:checkpoints"))
                .arg(id)
                .arg(id)
                .ignore()
                .query::<()>(c)
        })
    }

    fn delete(&mut self, id: u64) -> Result<(), CheckpointError> {
        self.with(|c, prefix| {
            redis::pipe()
                .atomic()
                .cmd("ZREM")
                .arg(format!("{prefix}:checkpoints"))
                .arg(id)
                .ignore()
                .cmd("DEL")
                .arg(format!("{prefix}:checkpoint:{id}"))
                .ignore()
                .query::<()>(c)
        })
    }
}

/// Checkpoints in memory, shared between clones (tests).
#[cfg(test)]
#[derive(Clone, Default)]
pub(crate) struct MemStore {
    map: std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<u64, Vec<u8>>>>,
}

#[cfg(test)]
impl MemStore {
    pub(crate) fn ids(&self) -> Vec<u64> {
        self.map
            .lock()
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default()
    }

    pub(crate) fn corrupt(&self, id: u64, f: impl FnOnce(&mut Vec<u8>)) {
        if let Ok(mut m) = self.map.lock() {
            if let Some(b) = m.get_mut(&id) {
                f(b);
            }
        }
    }
}

#[cfg(test)]
impl Store for MemStore {
    fn describe(&self) -> String {
        "memory".into()
    }

    fn list(&mut self) -> Result<Vec<u64>, CheckpointError> {
        Ok(self.ids())
    }

    fn read(&mut self, id: u64) -> Result<Vec<u8>, CheckpointError> {
        self.map
            .lock()
            .ok()
            .and_then(|m| m.get(&id).cloned())
            .ok_or(CheckpointError::Missing(id))
    }

    fn write(&mut self, id: u64, bytes: &[u8]) -> Result<(), CheckpointError> {
        if let Ok(mut m) = self.map.lock() {
            m.insert(id, bytes.to_vec());
        }
        Ok(())
    }

    fn delete(&mut self, id: u64) -> Result<(), CheckpointError> {
        if let Ok(mut m) = self.map.lock() {
            m.remove(&id);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_store_round_trip_and_listing() {
        let dir = std::env::temp_dir().join(format!("ef-dirstore-{}", std::process::id()));
        let mut s = DirStore::open(&dir).unwrap();
        s.write(2, b"two").unwrap();
        s.write(10, b"ten").unwrap();
        fs::write(dir.join("unrelated.txt"), "x").unwrap();
        assert_eq!(s.list().unwrap(), vec![2, 10]);
        assert_eq!(s.read(10).unwrap(), b"ten");
        s.delete(2).unwrap();
        s.delete(2).unwrap();
        assert_eq!(s.list().unwrap(), vec![10]);
        assert!(s.read(2).unwrap_err().to_string().contains("checkpoint 2"));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn credentials_are_redacted() {
        assert_eq!(
            redact("redis://app:s3cret@10.0.0.1:6379/ckpt"),
            "redis://app:***@10.0.0.1:6379/ckpt"
        );
        assert_eq!(
            redact("redis://127.0.0.1:6379/x"),
            "redis://127.0.0.1:6379/x"
        );
        assert_eq!(redact("/var/lib/app"), "/var/lib/app");
    }

    #[cfg(feature = "redis")]
    #[test]
    fn redis_store_round_trip() {
        let Ok(url) = std::env::var("EVENTFLUX_TEST_REDIS") else {
            assert!(
                std::env::var_os("CI").is_none(),
                "EVENTFLUX_TEST_REDIS must be set in CI"
            );
            eprintln!("skipped: EVENTFLUX_TEST_REDIS is not set");
            return;
        };
        let location = format!("{url}/ef-test-store-{}", std::process::id());
        let mut s = RedisStore::open(&location).unwrap();
        for id in s.list().unwrap() {
            s.delete(id).unwrap();
        }
        s.write(3, b"three").unwrap();
        s.write(1, &[0, 255, 7]).unwrap();
        assert_eq!(s.list().unwrap(), vec![1, 3]);
        assert_eq!(s.read(1).unwrap(), vec![0, 255, 7]);
        s.delete(1).unwrap();
        s.delete(3).unwrap();
        assert!(s.list().unwrap().is_empty());
    }
}

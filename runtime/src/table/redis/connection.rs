//! The connection of a Redis table: connecting on demand, reconnecting after a failure, and
//! what a failure does ([`super::OnError`]).

use std::collections::HashMap;
use std::time::Duration;

use redis::{Connection, ConnectionLike, IntoConnectionInfo, RedisConnectionInfo, RedisError};

use super::{OnError, RedisOptions, RedisTableError};

/// The fields of one hash, sorted by name.
pub(super) type Fields = Vec<(String, String)>;

/// Keys read per `SCAN` step, hashes per pipeline and keys per script.
const BATCH: usize = 512;

/// The connection state of one table.
#[derive(Default)]
pub(super) struct Link {
    connection: Option<Connection>,
    /// The setup of [`Link::run`] has run on the connection.
    set_up: bool,
    /// An outage was reported and the table has not reconnected since: later errors of the
    /// same outage are not printed again.
    down: bool,
    /// With [`OnError::Fail`]: the failure that stopped the table.
    failure: Option<RedisTableError>,
}

/// The commands a table sends, over an open connection.
pub(super) struct Session<'a> {
    connection: &'a mut Connection,
}

impl Link {
    pub(super) fn failure(&self) -> Option<&RedisTableError> {
        self.failure.as_ref()
    }

    /// Runs `op` over the connection, connecting first when there is none and running
    /// `setup` first when it has not yet succeeded on the connection; a failure is reported
    /// and gives `None`. After a failure with [`OnError::Fail`] nothing runs.
    pub(super) fn run<T>(
        &mut self,
        options: &RedisOptions,
        setup: impl FnOnce(&mut Session<'_>) -> Result<(), RedisError>,
        op: impl FnOnce(&mut Session<'_>) -> Result<T, RedisError>,
    ) -> Option<T> {
        if self.failure.is_some() {
            return None;
        }
        let connection = match self.connection.take() {
            Some(c) => c,
            None => match connect(options) {
                Ok(c) => {
                    self.set_up = false;
                    if self.down {
                        self.down = false;
                        eprintln!(
                            "info: table `{}`: reconnected to Redis at {}",
                            options.table,
                            options.server()
                        );
                    }
                    c
                }
                Err(e) => {
                    self.report(options, connection_error(options, &e));
                    return None;
                }
            },
        };
        let mut connection = connection;
        let mut session = Session {
            connection: &mut connection,
        };
        let set_up = if self.set_up {
            Ok(())
        } else {
            setup(&mut session)
        };
        let result = set_up.and_then(|()| {
            self.set_up = true;
            op(&mut session)
        });
        match result {
            Ok(value) => {
                self.connection = Some(connection);
                Some(value)
            }
            Err(e) => {
                let lost = e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_unrecoverable_error()
                    || !connection.is_open();
                if lost {
                    self.report(options, connection_error(options, &e));
                } else {
                    // The server answered with an error: the connection is still good.
                    self.connection = Some(connection);
                    self.report(
                        options,
                        RedisTableError::Command {
                            table: options.table.clone(),
                            server: options.server(),
                            message: e.to_string(),
                        },
                    );
                }
                None
            }
        }
    }

    /// Prints `error` (once per outage for connection errors), or keeps it as the table's
    /// failure with [`OnError::Fail`].
    pub(super) fn report(&mut self, options: &RedisOptions, error: RedisTableError) {
        if options.on_error == OnError::Fail {
            self.failure.get_or_insert(error);
            return;
        }
        if matches!(error, RedisTableError::Connection { .. }) {
            if self.down {
                return;
            }
            self.down = true;
            eprintln!(
                "error: {error}; lookups find no row and writes are dropped until Redis \
                 is back (reconnecting at the next operation)"
            );
        } else {
            eprintln!("error: {error}");
        }
    }
}

fn connection_error(options: &RedisOptions, e: &RedisError) -> RedisTableError {
    RedisTableError::Connection {
        table: options.table.clone(),
        server: options.server(),
        message: e.to_string(),
    }
}

/// Opens a connection with the options' address, database, password and timeouts.
fn connect(options: &RedisOptions) -> Result<Connection, RedisError> {
    let mut settings = RedisConnectionInfo::default()
        .set_db(options.db)
        .set_skip_set_lib_name();
    if let Some(password) = &options.password {
        settings = settings.set_password(password);
    }
    let info = (options.host.as_str(), options.port)
        .into_connection_info()?
        .set_redis_settings(settings);
    let timeout = Duration::from_millis(options.timeout_ms.max(1));
    let client = redis::Client::open(info)?;
    let connection = client.get_connection_with_timeout(timeout)?;
    connection.set_read_timeout(Some(timeout))?;
    connection.set_write_timeout(Some(timeout))?;
    Ok(connection)
}

impl Session<'_> {
    /// The fields of hash `key` (empty when there is no such key).
    pub(super) fn hgetall(&mut self, key: &str) -> Result<Fields, RedisError> {
        let map: HashMap<String, String> = redis::cmd("HGETALL").arg(key).query(self.connection)?;
        Ok(sorted(map))
    }

    /// Sends any command (tests).
    #[cfg(test)]
    pub(super) fn query<T: redis::FromRedisValue>(
        &mut self,
        cmd: &redis::Cmd,
    ) -> Result<T, RedisError> {
        cmd.query(self.connection)
    }

    /// Sends a pipeline, ignoring its replies (tests).
    #[cfg(test)]
    pub(super) fn query_pipe(&mut self, pipe: &redis::Pipeline) -> Result<(), RedisError> {
        pipe.query(self.connection)
    }

    /// Whether `key` exists.
    pub(super) fn exists(&mut self, key: &str) -> Result<bool, RedisError> {
        redis::cmd("EXISTS").arg(key).query(self.connection)
    }

    /// Runs a Lua `script` over `keys` with the fields as its `ARGV` (field, value, ...).
    pub(super) fn script(
        &mut self,
        script: &str,
        keys: &[&str],
        fields: &[(String, String)],
    ) -> Result<i64, RedisError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(script).arg(keys.len()).arg(keys);
        for (field, value) in fields {
            cmd.arg(field).arg(value);
        }
        cmd.query(self.connection)
    }

    /// The members of sorted set `order` with their hashes' fields, in score order; runs
    /// `prune` (a script over `order` and keys) over the members whose hash is gone.
    pub(super) fn ordered_hashes(
        &mut self,
        order: &str,
        prune: &str,
    ) -> Result<Vec<(String, Fields)>, RedisError> {
        let keys = self.members(order)?;
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH) {
            let mut pipe = redis::pipe();
            for key in chunk {
                pipe.cmd("HGETALL").arg(key);
            }
            let maps: Vec<HashMap<String, String>> = pipe.query(self.connection)?;
            out.extend(chunk.iter().cloned().zip(maps.into_iter().map(sorted)));
        }
        let gone: Vec<&str> = out
            .iter()
            .filter(|(_, fields)| fields.is_empty())
            .map(|(key, _)| key.as_str())
            .collect();
        for chunk in gone.chunks(BATCH) {
            let mut names = vec![order];
            names.extend_from_slice(chunk);
            self.script(prune, &names, &[])?;
        }
        Ok(out)
    }

    /// Runs `remove` (a script over `order` and keys) over every member of sorted set
    /// `order`.
    pub(super) fn remove_ordered(&mut self, order: &str, remove: &str) -> Result<(), RedisError> {
        let keys = self.members(order)?;
        for chunk in keys.chunks(BATCH) {
            let mut names = vec![order];
            names.extend(chunk.iter().map(String::as_str));
            self.script(remove, &names, &[])?;
        }
        Ok(())
    }

    /// Runs `adopt` (a script over `order` and keys, returning a count) over every key
    /// matching `pattern`, in key order; returns the sum of its counts.
    pub(super) fn adopt(
        &mut self,
        pattern: &str,
        order: &str,
        adopt: &str,
    ) -> Result<i64, RedisError> {
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(BATCH)
                .query(self.connection)?;
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        // SCAN may return a key twice.
        keys.sort();
        keys.dedup();
        let mut adopted = 0;
        for chunk in keys.chunks(BATCH) {
            let mut names = vec![order];
            names.extend(chunk.iter().map(String::as_str));
            adopted += self.script(adopt, &names, &[])?;
        }
        Ok(adopted)
    }

    /// The members of sorted set `key`, in score order.
    fn members(&mut self, key: &str) -> Result<Vec<String>, RedisError> {
        redis::cmd("ZRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .query(self.connection)
    }
}

fn sorted(map: HashMap<String, String>) -> Fields {
    let mut fields: Fields = map.into_iter().collect();
    fields.sort();
    fields
}

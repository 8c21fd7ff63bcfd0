//! The `postgres` sink (DESIGN 8.1, 8.4): output rows inserted into `"postgres.table"` at
//! `"postgres.url"`, exactly once across crashes.
//!
//! Rows are buffered and committed in one transaction per checkpoint (without checkpoints:
//! per batch of output). The transaction also records the sink's progress in the table
//! `eventflux_sink_progress` (sink, epoch, lines): how many of the sink's lines are in the
//! table. The epoch and the sink's line count are kept in checkpoints; after a crash the
//! lines replayed from the checkpoint that the table already holds (per its progress row)
//! are skipped. Each row is the event's `data` object, inserted with
//! `json_populate_recordset`, so the table's own columns and types decide (attributes
//! without a column are ignored, columns without an attribute get NULL).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::sink::{LineSender, SinkStats, MAX_BACKOFF};
use super::tracked::{self, Participant};
use super::{ConnectError, ConnectorConfig};

/// Rows a sink without checkpoints commits at most in one transaction.
const MAX_ROWS: usize = 10_000;

/// A batch for the sink thread: the number of its first line and the lines.
type Lines = (u64, Vec<u8>);

struct Shared {
    stream: String,
    /// (epoch, lines numbered so far).
    ids: Mutex<(u64, u64)>,
    /// Lines handed over.
    handed: AtomicU64,
    /// Lines committed (or skipped as committed before).
    done: AtomicU64,
    /// Commit everything up to this many lines (set by a checkpoint).
    flush_to: AtomicU64,
    gone: AtomicBool,
}

impl Participant for Shared {
    fn before_checkpoint(&self) -> Result<(), String> {
        let target = self.handed.load(Ordering::Acquire);
        self.flush_to.fetch_max(target, Ordering::AcqRel);
        super::tracked::wait_delivered(
            target,
            &self.done,
            &self.gone,
            &format!("postgres sink `{}`", self.stream),
        )
    }

    fn positions(&self) -> Vec<(String, u64)> {
        super::tracked::numbered_positions("postgres", &self.stream, &self.ids)
    }
}

/// A PostgreSQL sink.
pub struct PostgresSink {
    tx: Option<Sender<Lines>>,
    stats: Arc<SinkStats>,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Whether `name` is a plain (optionally schema-qualified) SQL identifier.
pub fn valid_table(name: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !p.starts_with(|c: char| c.is_ascii_digit())
    };
    match name.split_once('.') {
        Some((schema, table)) => part(schema) && part(table),
        None => part(name),
    }
}

/// The URL without its password, for messages.
fn shown(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            let user = creds.split_once(':').map_or(creds, |(u, _)| u);
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

impl PostgresSink {
    /// Starts the sink for `cfg` (a `postgres` sink); connects in the background, retrying.
    pub fn start(cfg: &ConnectorConfig, queue: usize) -> Result<PostgresSink, ConnectError> {
        let url = cfg.required("postgres.url")?.to_string();
        let table = cfg.required("postgres.table")?.to_string();
        if !valid_table(&table) {
            return Err(cfg.bad("postgres.table", "is not a table name"));
        }
        let ids = tracked::numbered_ids("postgres", &cfg.stream);
        let checkpointing = tracked::checkpointing();
        let shared = Arc::new(Shared {
            stream: cfg.stream.clone(),
            ids: Mutex::new(ids),
            handed: AtomicU64::new(ids.1),
            done: AtomicU64::new(ids.1),
            flush_to: AtomicU64::new(0),
            gone: AtomicBool::new(false),
        });
        tracked::register_sink(Arc::clone(&shared) as Arc<dyn Participant>);
        let stats = Arc::new(SinkStats::default());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| cfg.io("cannot start the postgres client", e))?;
        let (tx, rx) = crossbeam_channel::bounded::<Lines>(queue.max(1));
        let worker = Worker {
            url,
            table,
            sink: format!(
                "{}:{}",
                cfg.option("postgres.table").unwrap_or(""),
                cfg.stream
            ),
            label: format!("postgres sink `{}`", cfg.stream),
            epoch: ids.0,
            checkpointing,
            shared: Arc::clone(&shared),
            stats: Arc::clone(&stats),
            client: None,
            committed: ids.1,
            rows: Vec::new(),
            next: ids.1,
        };
        let thread = std::thread::Builder::new()
            .name(format!("ef-postgres-{}", cfg.stream))
            .spawn(move || {
                let mut worker = worker;
                rt.block_on(worker.run(&rx));
                worker.shared.gone.store(true, Ordering::Release);
            })
            .map_err(|e| cfg.io("cannot start a sink thread", e))?;
        Ok(PostgresSink {
            tx: Some(tx),
            stats,
            shared,
            thread: Some(thread),
        })
    }
}

struct Worker {
    url: String,
    table: String,
    /// The key of the progress row.
    sink: String,
    label: String,
    epoch: u64,
    checkpointing: bool,
    shared: Arc<Shared>,
    stats: Arc<SinkStats>,
    client: Option<tokio_postgres::Client>,
    /// Lines in the table (numbered below this).
    committed: u64,
    /// Buffered rows (`data` objects as JSON text) numbered from `committed`.
    rows: Vec<String>,
    /// The number of the next line to come.
    next: u64,
}

impl Worker {
    async fn run(&mut self, rx: &Receiver<Lines>) {
        self.connect().await;
        loop {
            match rx.recv_timeout(Duration::from_millis(5)) {
                Ok((first, bytes)) => {
                    self.take(first, &bytes);
                    if !self.checkpointing || self.rows.len() >= MAX_ROWS * 10 {
                        self.commit_all().await;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.commit_all().await;
                    return;
                }
            }
            if self.shared.flush_to.load(Ordering::Acquire) > self.committed {
                self.commit_all().await;
            }
        }
    }

    /// Buffers the `data` of each line (lines the table holds already are skipped).
    fn take(&mut self, first: u64, bytes: &[u8]) {
        let mut n = first;
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            if n >= self.committed + self.rows.len() as u64 {
                let data = serde_json::from_slice::<serde_json::Value>(line)
                    .ok()
                    .and_then(|mut v| v.get_mut("data").map(serde_json::Value::take))
                    .unwrap_or(serde_json::Value::Null);
                self.rows.push(data.to_string());
            }
            n += 1;
        }
        self.next = n;
    }

    /// Connects (retrying with backoff), creates the progress table, and skips what the
    /// table holds already.
    async fn connect(&mut self) {
        let mut pause = Duration::from_millis(100);
        let mut warned = false;
        loop {
            match self.try_connect().await {
                Ok(()) => {
                    if warned {
                        eprintln!("eventflux: {}: connected", self.label);
                    }
                    return;
                }
                Err(e) => {
                    if !warned {
                        eprintln!(
                            "eventflux: {}: {} ({}); retrying",
                            self.label,
                            e,
                            shown(&self.url)
                        );
                        warned = true;
                    }
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_BACKOFF);
        }
    }

    async fn try_connect(&mut self) -> Result<(), tokio_postgres::Error> {
        let (client, connection) =
            tokio_postgres::connect(&self.url, tokio_postgres::NoTls).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS eventflux_sink_progress \
                 (sink TEXT PRIMARY KEY, epoch BIGINT NOT NULL, lines BIGINT NOT NULL)",
            )
            .await?;
        let row = client
            .query_opt(
                "SELECT epoch, lines FROM eventflux_sink_progress WHERE sink = $1",
                &[&self.sink],
            )
            .await?;
        if let Some(row) = row {
            let (epoch, lines): (i64, i64) = (row.get(0), row.get(1));
            let lines = u64::try_from(lines).unwrap_or(0);
            if u64::try_from(epoch).ok() == Some(self.epoch) && lines > self.committed {
                // The table holds lines beyond ours: those replayed are skipped.
                let skip = usize::try_from(lines - self.committed)
                    .unwrap_or(usize::MAX)
                    .min(self.rows.len());
                self.rows.drain(..skip);
                self.committed = lines;
                self.shared.done.fetch_max(lines, Ordering::AcqRel);
            }
        }
        self.client = Some(client);
        Ok(())
    }

    /// Commits every buffered row with the progress, retrying until it is done.
    async fn commit_all(&mut self) {
        while !self.rows.is_empty() || self.shared.done.load(Ordering::Acquire) < self.next {
            if self.rows.is_empty() {
                self.shared.done.fetch_max(self.next, Ordering::AcqRel);
                return;
            }
            match self.commit().await {
                Ok(()) => {}
                Err(e) => {
                    eprintln!("eventflux: {}: {e}; retrying", self.label);
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    self.client = None;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    // Reconnecting also learns whether the failed commit went through.
                    self.connect().await;
                }
            }
        }
    }

    async fn commit(&mut self) -> Result<(), tokio_postgres::Error> {
        let Some(client) = self.client.as_mut() else {
            return Ok(());
        };
        let tx = client.transaction().await?;
        let insert = format!(
            "INSERT INTO {t} SELECT * FROM json_populate_recordset(NULL::{t}, $1::text::json)",
            t = self.table
        );
        for chunk in self.rows.chunks(MAX_ROWS) {
            let json = format!("[{}]", chunk.join(","));
            tx.execute(insert.as_str(), &[&json]).await?;
        }
        let lines = self.committed + self.rows.len() as u64;
        let (epoch, total) = (
            i64::try_from(self.epoch).unwrap_or(i64::MAX),
            i64::try_from(lines).unwrap_or(i64::MAX),
        );
        tx.execute(
            "INSERT INTO eventflux_sink_progress (sink, epoch, lines) VALUES ($1, $2, $3) \
             ON CONFLICT (sink) DO UPDATE SET epoch = EXCLUDED.epoch, lines = EXCLUDED.lines",
            &[&self.sink, &epoch, &total],
        )
        .await?;
        tx.commit().await?;
        self.stats
            .sent
            .fetch_add(self.rows.len() as u64, Ordering::Relaxed);
        self.rows.clear();
        self.committed = lines;
        self.shared.done.fetch_max(lines, Ordering::AcqRel);
        Ok(())
    }
}

impl LineSender for PostgresSink {
    fn send_lines(&self, _events: u64, bytes: Vec<u8>) -> bool {
        let Some(tx) = &self.tx else {
            return false;
        };
        let count = bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count() as u64;
        let first = {
            let mut ids = self
                .shared
                .ids
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let first = ids.1;
            ids.1 += count;
            first
        };
        self.shared.handed.fetch_add(count, Ordering::Release);
        tx.send((first, bytes)).is_ok()
    }

    fn stats(&self) -> &Arc<SinkStats> {
        &self.stats
    }
}

impl Drop for PostgresSink {
    fn drop(&mut self) {
        // Commits what was handed over, then ends the thread.
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_and_shown_urls() {
        assert!(valid_table("orders") && valid_table("public.orders_2"));
        assert!(!valid_table("1x") && !valid_table("a;b") && !valid_table("a.b.c"));
        assert_eq!(
            shown("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
    }
}

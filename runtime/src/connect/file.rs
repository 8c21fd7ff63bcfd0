//! File sources read on a thread of their own: with `"file.follow" = 'true'` the file is
//! tailed (like `tail -f`), each complete line handed over as it is written (a line still
//! being written waits for its end); without, the file is read to its end (a CSV file
//! source), and the source then ends.

use super::source::{Batch, SourceEvent, MAX_LINE};
use super::{ConnectError, ConnectorConfig};
use crossbeam_channel::Sender;
use std::io::{BufRead, BufReader, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often an idle file is looked at again.
const POLL: Duration = Duration::from_millis(50);

/// A running tail of one file.
pub struct FollowSource {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FollowSource {
    /// Opens `"file.path"` (which must exist) and starts reading it from its start.
    pub fn start(
        cfg: &ConnectorConfig,
        tx: Sender<SourceEvent>,
        batch_max: usize,
    ) -> Result<FollowSource, ConnectError> {
        let path = cfg.required("file.path")?.to_string();
        let file = std::fs::File::open(&path).map_err(|e| cfg.io(format!("open `{path}`"), e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stream = cfg.stream.clone();
        let tail = cfg.flag("file.follow")?;
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name(format!("ef-file-{stream}"))
                .spawn(move || follow(file, &stream, &tx, batch_max.max(1), &stop, tail))
                .map_err(|e| cfg.io("start the file thread", e))?
        };
        Ok(FollowSource {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops tailing.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.thread.take() {
            // A thread blocked on a full channel ends when the receiver goes away.
            if h.is_finished() {
                let _ = h.join();
            }
        }
    }
}

impl Drop for FollowSource {
    fn drop(&mut self) {
        self.stop();
    }
}

fn follow(
    file: std::fs::File,
    stream: &str,
    tx: &Sender<SourceEvent>,
    batch_max: usize,
    stop: &AtomicBool,
    tail: bool,
) {
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut line: Vec<u8> = Vec::new();
    let mut number = 0u64;
    let mut offset = 0u64;
    let mut batch = Batch::new(stream);
    while !stop.load(Ordering::Relaxed) {
        let n = match reader.read_until(b'\n', &mut line) {
            Ok(n) => n,
            Err(e) => {
                let _ = tx.send(SourceEvent::Bad {
                    stream: stream.to_string(),
                    position: number + 1,
                    origin: 0,
                    reason: format!("cannot read: {e}"),
                });
                return;
            }
        };
        offset += n as u64;
        if line.last() != Some(&b'\n') {
            // End of what is written so far: hand over what is complete and wait for more.
            if !send(tx, stream, &mut batch) {
                return;
            }
            if !tail {
                // The end of a file that is not followed; a last line without a line break
                // still counts.
                if !line.iter().all(u8::is_ascii_whitespace) {
                    let text = String::from_utf8_lossy(&line).trim_end().to_string();
                    batch.push(&text, offset, 0);
                    send(tx, stream, &mut batch);
                }
                let _ = tx.send(SourceEvent::Closed {
                    stream: stream.to_string(),
                });
                return;
            }
            if line.len() > MAX_LINE {
                line.clear();
            }
            std::thread::sleep(POLL);
            continue;
        }
        number += 1;
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let text = String::from_utf8_lossy(&line).into_owned();
        line.clear();
        if text.trim().is_empty() {
            continue;
        }
        batch.push(&text, offset, 0);
        if (batch.len() >= batch_max || reader.buffer().is_empty()) && !send(tx, stream, &mut batch)
        {
            return;
        }
    }
}

fn send(tx: &Sender<SourceEvent>, stream: &str, batch: &mut Batch) -> bool {
    if batch.is_empty() {
        return true;
    }
    let full = std::mem::replace(batch, Batch::new(stream));
    tx.send(SourceEvent::Batch(full)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::super::Direction;
    use super::*;
    use std::io::Write;

    #[test]
    fn follows_a_growing_file() {
        let dir = std::env::temp_dir().join(format!("ef-follow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("in.jsonl");
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(b"{\"a\":1}\n{\"a\":").unwrap();
        f.flush().unwrap();
        let cfg = ConnectorConfig {
            stream: "S".into(),
            direction: Direction::Source,
            extension: "file".into(),
            options: vec![
                ("file.path".into(), path.display().to_string()),
                ("file.follow".into(), "true".into()),
            ],
        };
        let (tx, rx) = crossbeam_channel::bounded(4);
        let mut src = FollowSource::start(&cfg, tx, 16).unwrap();
        let mut got = Vec::new();
        let next = |got: &mut Vec<String>| match rx.recv_timeout(Duration::from_secs(10)).unwrap() {
            SourceEvent::Batch(b) => got.extend(b.texts()),
            other => panic!("{other:?}"),
        };
        next(&mut got);
        assert_eq!(got, vec!["{\"a\":1}"]);
        // The half-written line completes later; more lines follow.
        f.write_all(b"2}\n{\"a\":3}\n").unwrap();
        f.flush().unwrap();
        while got.len() < 3 {
            next(&mut got);
        }
        assert_eq!(got, vec!["{\"a\":1}", "{\"a\":2}", "{\"a\":3}"]);
        src.stop();
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[cfg(test)]
mod read_to_end_tests {
    use super::super::Direction;
    use super::*;

    #[test]
    fn a_file_that_is_not_followed_ends() {
        let dir = std::env::temp_dir().join(format!("ef-file-end-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("in.csv");
        std::fs::write(&path, "a,b\n\n1,2\n3,4").unwrap();
        let cfg = ConnectorConfig {
            stream: "S".into(),
            direction: Direction::Source,
            extension: "file".into(),
            options: vec![("file.path".into(), path.display().to_string())],
        };
        let (tx, rx) = crossbeam_channel::bounded(4);
        let _src = FollowSource::start(&cfg, tx, 16).unwrap();
        let mut lines = Vec::new();
        let mut closed = false;
        for ev in rx.iter() {
            match ev {
                SourceEvent::Batch(b) => {
                    lines.extend(b.iter().map(|(t, l)| (t.to_string(), l.position)))
                }
                SourceEvent::Closed { .. } => closed = true,
                other => panic!("{other:?}"),
            }
        }
        assert!(closed);
        assert_eq!(
            lines,
            vec![
                ("a,b".to_string(), 4),
                ("1,2".to_string(), 9),
                ("3,4".to_string(), 12)
            ]
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A file sink with `'on.error'` (DESIGN 8.2): appends each batch of lines to
/// `"file.path"` (`-`: stdout) on a thread of its own, under the sink's policy (default
/// `fail`, as a plain file sink, which stops the app when a write fails). A write that fails
/// (a full disk, a file made unwritable) is retried on a reopened file under `retry`/`wait`,
/// and its rows go to the fault stream `!Name` under `fault`.
pub struct FileSink {
    tx: Option<Sender<(u64, Vec<u8>)>>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<super::sink::SinkStats>,
    stop: Arc<AtomicBool>,
}

impl FileSink {
    /// Opens (creates, appends to) `"file.path"` and starts the sink; `buffer` batches wait
    /// at most (then the app waits).
    pub fn start(cfg: &ConnectorConfig, buffer: usize) -> Result<FileSink, ConnectError> {
        use super::sink::OnError;
        let path = cfg
            .option("file.path")
            .or(cfg.option("path"))
            .unwrap_or("-")
            .to_string();
        let policy = OnError::of(cfg, OnError::Fail)?;
        let open = |path: &str| -> std::io::Result<Box<dyn std::io::Write + Send>> {
            if path == "-" {
                return Ok(Box::new(std::io::stdout()));
            }
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            Ok(Box::new(file))
        };
        let mut out = Some(open(&path).map_err(|e| cfg.io(format!("cannot open `{path}`"), e))?);
        let (tx, rx) = crossbeam_channel::bounded::<(u64, Vec<u8>)>(buffer.max(1));
        let stats = Arc::new(super::sink::SinkStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let label = format!("file sink `{}`", cfg.stream);
        let thread = {
            let (stats, stop) = (Arc::clone(&stats), Arc::clone(&stop));
            std::thread::Builder::new()
                .name(format!("ef-file-sink-{}", cfg.stream))
                .spawn(move || {
                    for (events, bytes) in rx {
                        super::sink::deliver_rows(
                            policy,
                            &label,
                            events,
                            &stats,
                            &stop,
                            || {
                                if out.is_none() {
                                    out =
                                        Some(open(&path).map_err(|e| format!("cannot open: {e}"))?);
                                }
                                let Some(w) = out.as_mut() else {
                                    return Err("not open".to_string());
                                };
                                w.write_all(&bytes).and_then(|()| w.flush()).map_err(|e| {
                                    out = None;
                                    format!("write failed: {e}")
                                })
                            },
                            || std::borrow::Cow::Borrowed(&bytes[..]),
                        );
                        if stats.failed.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                })
                .map_err(|e| cfg.io("start the sink thread", e))?
        };
        Ok(FileSink {
            tx: Some(tx),
            thread: Some(thread),
            stats,
            stop,
        })
    }
}

impl super::sink::LineSender for FileSink {
    fn send_lines(&self, events: u64, bytes: Vec<u8>) -> bool {
        self.tx
            .as_ref()
            .is_some_and(|tx| tx.send((events, bytes)).is_ok())
    }

    fn stats(&self) -> &Arc<super::sink::SinkStats> {
        &self.stats
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        super::sink::close_sender_thread(
            &mut self.tx,
            &mut self.thread,
            &self.stop,
            Duration::from_secs(5),
        );
    }
}

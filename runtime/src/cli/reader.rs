//! The input thread of the driver: reads JSON lines, decodes them into the app's typed
//! events and hands them over in batches through a bounded channel, so decoding runs beside
//! the queries instead of before them. Every item carries the line number and byte offset
//! it ends at: the position a checkpoint taken after it resumes from.

use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use crate::connect::PipelineDesc;
use crate::io::{JsonLinesReader, LineRef};
use crate::metrics::Metrics;

use super::connectors::OnBad;
use super::erased::{AppInfo, Codec, Events, One};

/// Items per batch at most (a batch also ends when the input has nothing buffered, so a
/// quiet producer's lines are not held back).
const BATCH: usize = 1024;
/// Batches in flight between the reader and the queries.
const QUEUE: usize = 16;

/// One input line, decoded.
pub(super) enum Item {
    /// An event (the next of its batch's events); `ts` when the line gave one.
    Event {
        line_no: u64,
        end: u64,
        ts: Option<i64>,
    },
    /// A clock-only line.
    Tick { line_no: u64, end: u64, ts: i64 },
    /// A line its source's `'on.error' = 'drop'` skips: only its position counts.
    Skipped { line_no: u64, end: u64 },
    /// A bad line, with what is wrong with it.
    Bad {
        line_no: u64,
        end: u64,
        message: String,
    },
    /// An event from a network or tailing source (`cli/connectors.rs`): not replayable, so
    /// it has no position and leaves the input's position as it is. Its event is the next
    /// of its batch's events.
    Remote { ts: Option<i64> },
    /// A bad message from such a source; `message` says where it came from. `fatal` when
    /// the source has `'on.error' = 'fail'` (the run ends with exit code 1).
    RemoteBad { message: String, fatal: bool },
    /// A tracked source (a broker) handed over everything up to `position`: once the items
    /// before this one are processed, a checkpoint covers it (`connect::tracked`).
    Mark {
        cell: Arc<crate::connect::tracked::SourceCell>,
        position: u64,
    },
}

impl Item {
    /// The line number and byte offset of the input this item ends at (`None` for items of
    /// other sources).
    pub(super) fn position(&self) -> Option<(u64, u64)> {
        match self {
            Item::Event { line_no, end, .. }
            | Item::Tick { line_no, end, .. }
            | Item::Skipped { line_no, end }
            | Item::Bad { line_no, end, .. } => Some((*line_no, *end)),
            Item::Remote { .. } | Item::RemoteBad { .. } | Item::Mark { .. } => None,
        }
    }
}

/// Items in order, and the typed events of their `Event` and `Remote` items, in order.
pub(super) struct Batch {
    pub items: Vec<Item>,
    pub events: Events,
}

/// What the reader sends.
pub(super) enum Msg {
    Batch(Batch),
    /// Reading failed: the input ends here.
    Failed(io::Error),
}

/// Where reading starts: the input, and the line number and byte offset already behind it.
pub(super) struct Input {
    pub read: Box<dyn Read + Send>,
    pub line_no: u64,
    pub offset: u64,
}

/// What the reader tells the rest of the binary: items queued for the queries, and (with
/// `--metrics`) events and bad lines per stream.
#[derive(Default)]
pub(super) struct Counters {
    /// Items sent and not yet taken by the driver.
    pub queued: AtomicU64,
    pub metrics: Option<Arc<Metrics>>,
}

/// Counts per stream on the reader thread, published once per batch.
struct Tally {
    events: Vec<(String, u64)>,
    bad: Vec<(String, u64)>,
    last: usize,
}

impl Tally {
    fn count(list: &mut Vec<(String, u64)>, last: &mut usize, stream: &str) {
        if list.get(*last).is_some_and(|(n, _)| n == stream) {
            list[*last].1 += 1;
            return;
        }
        match list.iter().position(|(n, _)| n == stream) {
            Some(i) => {
                list[i].1 += 1;
                *last = i;
            }
            None => {
                list.push((stream.to_owned(), 1));
                *last = list.len() - 1;
            }
        }
    }

    fn publish(&mut self, metrics: &Metrics) {
        // Added, not set: other sources (tcp, http, gRPC) count into the same series.
        for (stream, n) in self.events.iter_mut() {
            metrics.add_events_in(stream, std::mem::take(n));
        }
        for (stream, n) in self.bad.iter_mut() {
            metrics.add_bad(stream, std::mem::take(n));
        }
    }
}

/// Starts the reader thread. It ends at the end of the input, at a read error, when `stop`
/// is set (checked between batches) or when the receiver is gone. Detached: a reader
/// blocked on an idle pipe ends with the process. With a `pipeline` (an `async` stream fed
/// by the input, DESIGN 8.2) the lines are decoded by its workers and queued under its
/// backpressure (see [`read_async`]).
pub(super) fn spawn(
    input: Input,
    codec: Arc<dyn Codec>,
    faults: Faults,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    tx: Sender<Msg>,
    pipeline: Option<PipelineDesc>,
) {
    std::thread::spawn(move || match pipeline {
        Some(p) => read_async(input, codec, faults, &stop, counters, &tx, p),
        None => read(input, &*codec, &faults, &stop, &counters, &tx),
    });
}

/// A run of whole lines of the input, with the line number and byte offset before it.
struct Chunk {
    text: Vec<u8>,
    line_no: u64,
    offset: u64,
}

/// The input read through an `async` pipeline: this thread cuts the input into runs of
/// whole lines, `workers` threads decode them (`connect::pipeline::ordered_map`: in input
/// order, so results and checkpoint positions are those of the plain reader), and the items
/// go through a queue of `buffer` events under the pipeline's backpressure (`drop` and
/// `drop_oldest` drop events only, never ticks or bad-line reports) to a thread handing
/// batches of at most `"batch.max"` to the driver.
fn read_async(
    input: Input,
    codec: Arc<dyn Codec>,
    faults: Faults,
    stop: &AtomicBool,
    counters: Arc<Counters>,
    tx: &Sender<Msg>,
    p: PipelineDesc,
) {
    use crate::connect::pipeline;
    let (qtx, qrx) = pipeline::queue::<Queued>(p.buffer, p.backpressure);
    let forwarder = {
        let tx = tx.clone();
        let codec = Arc::clone(&codec);
        std::thread::Builder::new()
            .name(format!("ef-queue-{}", p.stream))
            .spawn(move || {
                let wrap = |queued| Msg::Batch(rebatch(&*codec, queued));
                pipeline::forward(&qrx, p.batch_max, &tx, wrap, |_| {})
            })
    };
    let forwarder = match forwarder {
        Ok(f) => f,
        Err(e) => {
            let _ = tx.send(Msg::Failed(e));
            return;
        }
    };
    let (ctx, crx) = crossbeam_channel::bounded::<Chunk>(2 * p.workers.max(1));
    let faults = Arc::new(faults);
    let work = {
        let counters = Arc::clone(&counters);
        let codec = Arc::clone(&codec);
        move |chunk: Chunk| {
            let mut reader = JsonLinesReader::resume(&chunk.text[..], chunk.line_no, chunk.offset);
            let mut tally = Tally {
                events: Vec::new(),
                bad: Vec::new(),
                last: 0,
            };
            let counting = counters.metrics.is_some();
            let mut items = Vec::with_capacity(1024);
            let mut events = codec.events(1024);
            while let Some((text, end)) = reader.next_text_at() {
                items.push(text_item(
                    text,
                    end,
                    &*codec,
                    &mut events,
                    &faults,
                    &counters,
                    &mut tally,
                    counting,
                ));
            }
            if let Some(m) = &counters.metrics {
                tally.publish(m);
            }
            unbatch(&*codec, Batch { items, events })
        }
    };
    let emit = {
        let counters = Arc::clone(&counters);
        let reason = super::connectors::drop_reason(p.backpressure);
        move |items: Vec<Queued>| {
            let n = items.len() as u64;
            let pushed = count_pushed(&counters.queued, n, || {
                qtx.push(items, |(i, _)| matches!(i, Item::Event { .. }))
            });
            match pushed {
                Ok(dropped) => {
                    if dropped > 0 {
                        if let Some(m) = &counters.metrics {
                            m.add_dropped(p.stream, reason, dropped);
                        }
                    }
                    true
                }
                Err(_) => false,
            }
        }
    };
    let handles = match pipeline::ordered_map(p.stream, crx, p.workers, work, emit) {
        Ok(h) => h,
        Err(e) => {
            let _ = tx.send(Msg::Failed(e));
            return;
        }
    };
    let mut read = BufReader::with_capacity(128 * 1024, input.read);
    let (mut line_no, mut offset) = (input.line_no, input.offset);
    let mut pending: Vec<u8> = Vec::new();
    let mut failed = None;
    loop {
        if stop.load(Ordering::Relaxed) {
            pending.clear();
            break;
        }
        let buf = match read.fill_buf() {
            Ok([]) => break,
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                failed = Some(e);
                break;
            }
        };
        let n = buf.len();
        // Hand over every whole line read so far: the rest waits for its end.
        let text = match memchr::memrchr(b'\n', buf) {
            Some(last) => {
                let mut text = std::mem::take(&mut pending);
                text.extend_from_slice(&buf[..=last]);
                pending.extend_from_slice(&buf[last + 1..]);
                Some(text)
            }
            None => {
                pending.extend_from_slice(buf);
                None
            }
        };
        read.consume(n);
        if let Some(text) = text {
            let lines = memchr::memchr_iter(b'\n', &text).count() as u64;
            let chunk = Chunk {
                line_no,
                offset,
                text,
            };
            line_no += lines;
            offset += chunk.text.len() as u64;
            if ctx.send(chunk).is_err() {
                break;
            }
        }
    }
    if !pending.is_empty() {
        let _ = ctx.send(Chunk {
            text: pending,
            line_no,
            offset,
        });
    }
    drop(ctx);
    // Every item is queued and handed over before a read error ends the input.
    for h in handles {
        let _ = h.join();
    }
    let _ = forwarder.join();
    if let Some(e) = failed {
        let _ = tx.send(Msg::Failed(e));
    }
}

/// What an undecodable line of the input becomes, per stream with a declared source (its
/// `'on.error'`: DESIGN 8.2; a file or stdin source's wins over the stream's other sources),
/// and the app's schemas of the streams (for fault events).
pub(super) struct Faults {
    pub policies: Vec<(String, OnBad)>,
    pub schema: fn(&str) -> &'static [(&'static str, &'static str)],
}

impl Faults {
    /// The policies of the app's declared sources.
    pub(super) fn of(app: &AppInfo) -> Faults {
        let mut policies: Vec<(String, OnBad)> = Vec::new();
        let sources = app
            .connectors
            .iter()
            .filter(|c| c.direction == crate::connect::Direction::Source);
        for c in sources {
            let Some(policy) = OnBad::of(c.option("on.error")) else {
                continue;
            };
            let local = matches!(c.extension, "file" | "stdin");
            match policies.iter_mut().find(|(s, _)| s == c.stream) {
                Some(entry) if local => entry.1 = policy,
                Some(_) => {}
                None => policies.push((c.stream.to_owned(), policy)),
            }
        }
        Faults {
            policies,
            schema: app.schema,
        }
    }

    /// What an undecodable line of `stream` becomes (`log` when nothing says otherwise).
    fn policy(&self, stream: &str) -> OnBad {
        self.policies
            .iter()
            .find(|(s, _)| s == stream)
            .map_or(OnBad::Log, |(_, p)| *p)
    }
}

/// Both ends of the channel the driver reads.
pub(super) type Channel = (Sender<Msg>, Receiver<Msg>);

/// The channel between the input thread (and any other source) and the queries.
pub(super) fn channel() -> Channel {
    crossbeam_channel::bounded(QUEUE)
}

/// The driver item for one line of the input, as [`line_item`]: a common event line read in
/// one pass ([`Codec::decode_line`]), any other line parsed and decoded the general way.
#[allow(clippy::too_many_arguments)]
#[inline]
fn text_item(
    text: crate::io::LineText<'_>,
    end: u64,
    codec: &dyn Codec,
    events: &mut Events,
    faults: &Faults,
    counters: &Counters,
    tally: &mut Tally,
    counting: bool,
) -> Item {
    let line = match text {
        Ok((line_no, text)) => match codec.decode_line(text, events) {
            Some((stream, ts)) => {
                if counting {
                    Tally::count(&mut tally.events, &mut tally.last, stream);
                }
                return Item::Event { line_no, end, ts };
            }
            None => crate::io::parse_line(line_no, text),
        },
        Err(e) => Err(e),
    };
    line_item(line, end, codec, events, faults, counters, tally, counting)
}

/// The driver item for one line of the input (counted in `tally` when counting); its event
/// (also a fault event) is appended to `events`.
#[allow(clippy::too_many_arguments)]
fn line_item(
    line: Result<LineRef<'_>, crate::io::InputError>,
    end: u64,
    codec: &dyn Codec,
    events: &mut Events,
    faults: &Faults,
    counters: &Counters,
    tally: &mut Tally,
    counting: bool,
) -> Item {
    match line {
        Ok(LineRef::Event {
            line_no,
            stream,
            ts,
            data,
        }) => match codec.decode_into(&stream, data, events) {
            Ok(()) => {
                if counting {
                    Tally::count(&mut tally.events, &mut tally.last, &stream);
                }
                Item::Event { line_no, end, ts }
            }
            Err(e) => {
                let mut at = 0;
                Tally::count(&mut tally.bad, &mut at, &stream);
                let policy = faults.policy(&stream);
                let fault = match policy {
                    OnBad::Fault => {
                        let schema = (faults.schema)(&stream);
                        let reason = e.to_string();
                        crate::connect::fault::fault_event(
                            &stream,
                            data,
                            false,
                            schema,
                            &reason,
                            |s: &str, d: &str| codec.decode_into(s, d, events),
                        )
                    }
                    _ => None,
                };
                match (fault, policy) {
                    (Some(()), _) => Item::Event { line_no, end, ts },
                    (None, OnBad::Drop) => {
                        // Skipped silently, counted among the dropped events.
                        if let Some(m) = &counters.metrics {
                            m.add_dropped(&stream, "undecodable", 1);
                        }
                        Item::Skipped { line_no, end }
                    }
                    (None, OnBad::Fail) => Item::RemoteBad {
                        message: format!("line {line_no}: {e}"),
                        fatal: true,
                    },
                    (None, _) => Item::Bad {
                        line_no,
                        end,
                        message: e.to_string(),
                    },
                }
            }
        },
        Ok(LineRef::Tick { line_no, ts }) => Item::Tick { line_no, end, ts },
        Err(e) => {
            let mut at = 0;
            Tally::count(&mut tally.bad, &mut at, "_unparsed");
            Item::Bad {
                line_no: e.line_no,
                end,
                message: e.message,
            }
        }
    }
}

fn read(
    input: Input,
    codec: &dyn Codec,
    faults: &Faults,
    stop: &AtomicBool,
    counters: &Counters,
    tx: &Sender<Msg>,
) {
    let buffered = BufReader::with_capacity(256 * 1024, input.read);
    let mut reader = JsonLinesReader::resume(buffered, input.line_no, input.offset);
    let new_batch = || Batch {
        items: Vec::with_capacity(BATCH),
        events: codec.events(BATCH),
    };
    let mut batch = new_batch();
    let mut tally = Tally {
        events: Vec::new(),
        bad: Vec::new(),
        last: 0,
    };
    let counting = counters.metrics.is_some();
    let send = |batch: Batch, tally: &mut Tally| {
        if let Some(m) = &counters.metrics {
            tally.publish(m);
        }
        counters
            .queued
            .fetch_add(batch.items.len() as u64, Ordering::Relaxed);
        tx.send(Msg::Batch(batch)).is_ok()
    };
    while let Some((text, end)) = reader.next_text_at() {
        let item = text_item(
            text,
            end,
            codec,
            &mut batch.events,
            faults,
            counters,
            &mut tally,
            counting,
        );
        batch.items.push(item);
        if batch.items.len() >= BATCH || reader.nothing_buffered() {
            let full = std::mem::replace(&mut batch, new_batch());
            if !send(full, &mut tally) || stop.load(Ordering::Relaxed) {
                return;
            }
        }
    }
    if !batch.items.is_empty() && !send(batch, &mut tally) {
        return;
    }
    if let Some(e) = reader.take_io_error() {
        let _ = tx.send(Msg::Failed(e));
    }
}

/// An item as an `async` pipeline's queue holds it: with its event, if it has one.
pub(super) type Queued = (Item, Option<One>);

/// The items of `batch`, each with its event.
pub(super) fn unbatch(codec: &dyn Codec, batch: Batch) -> Vec<Queued> {
    let mut events = codec.split(batch.events).into_iter();
    batch
        .items
        .into_iter()
        .map(|item| {
            let event = match item {
                Item::Event { .. } | Item::Remote { .. } => events.next(),
                _ => None,
            };
            (item, event)
        })
        .collect()
}

/// Counts `n` items into `queued` around `push` (which returns how many items it dropped:
/// new ones under `drop`, queued ones under `drop_oldest`, all counted). They are counted
/// before the push, as the driver may take them (and uncount them) before it returns: the
/// queue-depth gauge never goes below zero.
fn count_pushed<E>(
    queued: &AtomicU64,
    n: u64,
    push: impl FnOnce() -> Result<u64, E>,
) -> Result<u64, E> {
    queued.fetch_add(n, Ordering::Relaxed);
    let result = push();
    let uncount = match &result {
        Ok(dropped) => *dropped,
        Err(_) => n,
    };
    queued.fetch_sub(uncount, Ordering::Relaxed);
    result
}

/// The batch of `queued` items (the inverse of [`unbatch`]).
pub(super) fn rebatch(codec: &dyn Codec, queued: Vec<Queued>) -> Batch {
    let mut events = codec.events(queued.len());
    let items = queued
        .into_iter()
        .map(|(item, event)| {
            if let Some(event) = event {
                codec.push_one(&mut events, event);
            }
            item
        })
        .collect();
    Batch { items, events }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The driver takes (and uncounts) the items while the push is still running, or the
    /// push drops some: the count never wraps below zero and ends right.
    #[test]
    fn items_are_counted_before_the_push_that_hands_them_over() {
        let queued = AtomicU64::new(3);
        let taken = count_pushed::<()>(&queued, 5, || {
            // The driver takes the five new items at once.
            let before = queued.fetch_sub(5, Ordering::Relaxed);
            assert!(before >= 5, "the gauge went below zero");
            Ok(0)
        });
        assert_eq!((taken, queued.load(Ordering::Relaxed)), (Ok(0), 3));
        // `drop_oldest`: the two new items push out four queued ones.
        let queued = AtomicU64::new(4);
        assert_eq!(count_pushed::<()>(&queued, 2, || Ok(4)), Ok(4));
        assert_eq!(queued.load(Ordering::Relaxed), 2);
        // A closed queue: nothing was handed over.
        assert_eq!(count_pushed(&queued, 7, || Err("closed")), Err("closed"));
        assert_eq!(queued.load(Ordering::Relaxed), 2);
    }
}

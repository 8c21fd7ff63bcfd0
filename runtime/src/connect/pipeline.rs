//! `async` pipelines (DESIGN 8.2): the building blocks the driver puts between a stream's
//! sources and the queries when the stream says `WITH (async = 'true', ...)`.
//!
//! - [`queue`]: a queue bounded in events (`buffer`), filled in batches, whose full state is
//!   handled by the stream's [`Backpressure`]: `block` makes the producer wait (a source
//!   stops reading, so TCP flow control reaches its clients), `drop` drops the new event,
//!   `drop_oldest` the oldest queued one, `backoff` retries with growing sleeps and then
//!   blocks. Drops are counted. The consumer takes batches of at most `"batch.max"` events.
//! - [`ordered_map`]: `workers` threads applying a function (decoding) to the items of one
//!   channel in parallel, handing the results on in the order the items came: the events of
//!   one source (and so of each partition key) keep their order.
//!
//! ```
//! use eventflux_runtime::connect::pipeline::{queue, Recv};
//! use eventflux_runtime::connect::Backpressure;
//!
//! let (tx, rx) = queue::<u32>(3, Backpressure::Drop);
//! assert_eq!(tx.push(vec![1, 2, 3, 4, 5], |_| true), Ok(2)); // 4 and 5 dropped
//! assert_eq!(rx.recv_batch(2, std::time::Duration::ZERO), Recv::Items(vec![1, 2]));
//! ```

use super::Backpressure;
use crossbeam_channel::{Receiver, Sender};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// The first pause of `backoff`; it doubles up to [`BACKOFF_MAX`].
pub const BACKOFF_FIRST: Duration = Duration::from_millis(1);
/// The longest pause of `backoff`.
pub const BACKOFF_MAX: Duration = Duration::from_millis(100);
/// Attempts `backoff` makes for one event before it blocks like `block`.
pub const BACKOFF_TRIES: u32 = 10;

struct State<T> {
    items: VecDeque<T>,
    senders: usize,
    receiver: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    not_full: Condvar,
    not_empty: Condvar,
    capacity: usize,
    backpressure: Backpressure,
    dropped: AtomicU64,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panicking holder cannot leave the queue inconsistent (every change is one call).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The producing end of a [`queue`] (cloneable: several sources of one stream).
pub struct QueueSender<T> {
    shared: Arc<Shared<T>>,
}

/// The consuming end of a [`queue`].
pub struct QueueReceiver<T> {
    shared: Arc<Shared<T>>,
}

/// The receiver of a [`queue`] is gone: nothing more will be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the queue's consumer is gone")]
pub struct Disconnected;

/// What [`QueueReceiver::recv_batch`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recv<T> {
    /// One to `max` items, oldest first.
    Items(Vec<T>),
    /// Nothing arrived in time.
    Timeout,
    /// Empty, and every sender is gone.
    Closed,
}

/// A queue of at most `capacity` (at least 1) droppable items, full according to
/// `backpressure`.
pub fn queue<T>(capacity: usize, backpressure: Backpressure) -> (QueueSender<T>, QueueReceiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            senders: 1,
            receiver: true,
        }),
        not_full: Condvar::new(),
        not_empty: Condvar::new(),
        capacity: capacity.max(1),
        backpressure,
        dropped: AtomicU64::new(0),
    });
    (
        QueueSender {
            shared: Arc::clone(&shared),
        },
        QueueReceiver { shared },
    )
}

impl<T> QueueSender<T> {
    /// Queues `items` in order. Items for which `droppable` is false (markers, error
    /// reports) are never dropped: under `drop`/`drop_oldest` they are queued even when the
    /// queue is full. Returns how many items were dropped by this call (`drop`: new ones,
    /// `drop_oldest`: queued ones); waits while full under `block` and `backoff`.
    pub fn push(
        &self,
        items: impl IntoIterator<Item = T>,
        droppable: impl Fn(&T) -> bool,
    ) -> Result<u64, Disconnected> {
        let shared = &*self.shared;
        let mut dropped = 0u64;
        let mut state = shared.lock();
        for item in items {
            let mut tries = 0u32;
            let mut pause = BACKOFF_FIRST;
            loop {
                if !state.receiver {
                    return Err(Disconnected);
                }
                if state.items.len() < shared.capacity {
                    state.items.push_back(item);
                    break;
                }
                match shared.backpressure {
                    Backpressure::Drop if droppable(&item) => {
                        dropped += 1;
                        break;
                    }
                    Backpressure::Drop => {
                        state.items.push_back(item);
                        break;
                    }
                    Backpressure::DropOldest => {
                        if let Some(i) = state.items.iter().position(&droppable) {
                            state.items.remove(i);
                            dropped += 1;
                        }
                        state.items.push_back(item);
                        break;
                    }
                    Backpressure::Backoff if tries < BACKOFF_TRIES => {
                        // Let the consumer in while sleeping.
                        shared.not_empty.notify_one();
                        drop(state);
                        std::thread::sleep(pause);
                        pause = (pause * 2).min(BACKOFF_MAX);
                        tries += 1;
                        state = shared.lock();
                    }
                    Backpressure::Block | Backpressure::Backoff => {
                        shared.not_empty.notify_one();
                        state = shared
                            .not_full
                            .wait(state)
                            .unwrap_or_else(PoisonError::into_inner);
                    }
                }
            }
        }
        drop(state);
        shared.not_empty.notify_one();
        shared.dropped.fetch_add(dropped, Ordering::Relaxed);
        Ok(dropped)
    }

    /// Items queued now.
    pub fn len(&self) -> usize {
        self.shared.lock().items.len()
    }

    /// Whether nothing is queued now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Items dropped so far (by every sender).
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

impl<T> Clone for QueueSender<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        QueueSender {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Drop for QueueSender<T> {
    fn drop(&mut self) {
        self.shared.lock().senders -= 1;
        self.shared.not_empty.notify_all();
    }
}

impl<T> QueueReceiver<T> {
    /// Takes up to `max` (at least 1) items, waiting up to `wait` for the first.
    pub fn recv_batch(&self, max: usize, wait: Duration) -> Recv<T> {
        let shared = &*self.shared;
        let mut state = shared.lock();
        if state.items.is_empty() && state.senders > 0 && !wait.is_zero() {
            state = shared
                .not_empty
                .wait_timeout_while(state, wait, |s| s.items.is_empty() && s.senders > 0)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        if state.items.is_empty() {
            return if state.senders == 0 {
                Recv::Closed
            } else {
                Recv::Timeout
            };
        }
        let n = max.max(1).min(state.items.len());
        let batch: Vec<T> = state.items.drain(..n).collect();
        drop(state);
        shared.not_full.notify_all();
        Recv::Items(batch)
    }

    /// Items queued now.
    pub fn len(&self) -> usize {
        self.shared.lock().items.len()
    }

    /// Whether nothing is queued now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Items dropped so far.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

impl<T> Drop for QueueReceiver<T> {
    fn drop(&mut self) {
        self.shared.lock().receiver = false;
        self.shared.not_full.notify_all();
    }
}

/// Runs `f` over the items of `input` on `workers` threads (at least 1) and calls `emit`
/// with the results in input order, on a thread of its own, until `input` ends (every
/// sender gone) or `emit` returns `false`. At most `4 * workers` items are in flight, so a
/// slow `emit` slows the reading of `input` (backpressure). Returns the threads' handles
/// (they end on their own).
pub fn ordered_map<I, O, F, E>(
    name: &str,
    input: Receiver<I>,
    workers: usize,
    f: F,
    mut emit: E,
) -> std::io::Result<Vec<std::thread::JoinHandle<()>>>
where
    I: Send + 'static,
    O: Send + 'static,
    F: Fn(I) -> O + Send + Sync + 'static,
    E: FnMut(O) -> bool + Send + 'static,
{
    let workers = workers.max(1);
    let window = 4 * workers;
    let (work_tx, work_rx) = crossbeam_channel::bounded::<(u64, I)>(window);
    let (done_tx, done_rx) = crossbeam_channel::bounded::<(u64, O)>(window);
    // One token per item in flight: taken by the dispatcher, given back once it is emitted.
    let (token_tx, token_rx) = crossbeam_channel::bounded::<()>(window);
    for _ in 0..window {
        let _ = token_tx.send(());
    }
    let mut handles = Vec::with_capacity(workers + 2);
    handles.push(
        std::thread::Builder::new()
            .name(format!("ef-dispatch-{name}"))
            .spawn(move || {
                for (seq, item) in (0u64..).zip(input.iter()) {
                    if token_rx.recv().is_err() || work_tx.send((seq, item)).is_err() {
                        return;
                    }
                }
            })?,
    );
    let f = Arc::new(f);
    for w in 0..workers {
        let (work_rx, done_tx, f) = (work_rx.clone(), done_tx.clone(), Arc::clone(&f));
        handles.push(
            std::thread::Builder::new()
                .name(format!("ef-work-{name}-{w}"))
                .spawn(move || {
                    for (seq, item) in work_rx.iter() {
                        if done_tx.send((seq, f(item))).is_err() {
                            return;
                        }
                    }
                })?,
        );
    }
    drop(done_tx);
    handles.push(
        std::thread::Builder::new()
            .name(format!("ef-order-{name}"))
            .spawn(move || {
                let mut next = 0u64;
                let mut early: BTreeMap<u64, O> = BTreeMap::new();
                for (seq, out) in done_rx.iter() {
                    early.insert(seq, out);
                    while let Some(out) = early.remove(&next) {
                        next += 1;
                        if !emit(out) {
                            return;
                        }
                        let _ = token_tx.send(());
                    }
                }
            })?,
    );
    Ok(handles)
}

/// Fills `tx` from `rx` in batches of at most `batch_max`, until either end is gone: the
/// stage between a stream's queue and the channel the queries read. `depth` is told the
/// queue's length after each batch (metrics).
pub fn forward<T, M>(
    rx: &QueueReceiver<T>,
    batch_max: usize,
    tx: &Sender<M>,
    wrap: impl Fn(Vec<T>) -> M,
    depth: impl Fn(usize),
) {
    loop {
        match rx.recv_batch(batch_max, Duration::from_millis(100)) {
            Recv::Items(batch) => {
                depth(rx.len());
                if tx.send(wrap(batch)).is_err() {
                    return;
                }
            }
            Recv::Timeout => depth(0),
            Recv::Closed => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn drain<T>(rx: &QueueReceiver<T>) -> Vec<T> {
        let mut out = Vec::new();
        while let Recv::Items(b) = rx.recv_batch(7, Duration::ZERO) {
            out.extend(b);
        }
        out
    }

    proptest! {
        /// `drop` keeps the first `capacity` events of a burst and drops the rest, counted.
        #[test]
        fn drop_keeps_the_oldest(cap in 1usize..20, n in 0u32..60) {
            let (tx, rx) = queue::<u32>(cap, Backpressure::Drop);
            let dropped = tx.push(0..n, |_| true).unwrap();
            let kept = drain(&rx);
            let expect: Vec<u32> = (0..n).take(cap).collect();
            prop_assert_eq!(&kept, &expect);
            prop_assert_eq!(dropped as usize, n as usize - kept.len());
            prop_assert_eq!(rx.dropped(), dropped);
        }

        /// `drop_oldest` keeps the newest `capacity` events, in order.
        #[test]
        fn drop_oldest_keeps_the_newest(cap in 1usize..20, n in 0u32..60) {
            let (tx, rx) = queue::<u32>(cap, Backpressure::DropOldest);
            let dropped = tx.push(0..n, |_| true).unwrap();
            let kept = drain(&rx);
            let skip = (n as usize).saturating_sub(cap);
            let expect: Vec<u32> = (0..n).skip(skip).collect();
            prop_assert_eq!(&kept, &expect);
            prop_assert_eq!(dropped as usize, skip);
        }

        /// Items that are not droppable survive any strategy, in order with the kept ones.
        #[test]
        fn markers_are_never_dropped(cap in 1usize..8, n in 0u32..40, oldest in any::<bool>()) {
            let bp = if oldest { Backpressure::DropOldest } else { Backpressure::Drop };
            let (tx, rx) = queue::<u32>(cap, bp);
            tx.push(0..n, |x| !x.is_multiple_of(5)).unwrap();
            let kept = drain(&rx);
            let markers: Vec<u32> = kept.iter().copied().filter(|x| x.is_multiple_of(5)).collect();
            prop_assert_eq!(markers, (0..n).filter(|x| x.is_multiple_of(5)).collect::<Vec<_>>());
            prop_assert!(kept.windows(2).all(|w| w[0] < w[1]));
        }

        /// `block` and `backoff` lose nothing and keep the order while a slow consumer
        /// takes batches of at most `batch.max`, and never hold more than `capacity`.
        #[test]
        fn block_and_backoff_lose_nothing(
            cap in 1usize..16,
            n in 0u32..300,
            batch_max in 1usize..10,
            backoff in any::<bool>(),
        ) {
            let bp = if backoff { Backpressure::Backoff } else { Backpressure::Block };
            let (tx, rx) = queue::<u32>(cap, bp);
            let producer = std::thread::spawn(move || {
                for chunk in (0..n).collect::<Vec<_>>().chunks(5) {
                    tx.push(chunk.iter().copied(), |_| true).unwrap();
                }
            });
            let mut got = Vec::new();
            loop {
                prop_assert!(rx.len() <= cap);
                match rx.recv_batch(batch_max, Duration::from_millis(50)) {
                    Recv::Items(b) => {
                        prop_assert!(b.len() <= batch_max);
                        got.extend(b);
                    }
                    Recv::Timeout => {}
                    Recv::Closed => break,
                }
            }
            producer.join().unwrap();
            prop_assert_eq!(got, (0..n).collect::<Vec<_>>());
            prop_assert_eq!(rx.dropped(), 0);
        }

        /// `ordered_map` hands results on in input order whatever the workers' speed.
        #[test]
        fn ordered_map_keeps_the_order(n in 0u64..200, workers in 1usize..5) {
            let (in_tx, in_rx) = crossbeam_channel::bounded::<u64>(4);
            let (out_tx, out_rx) = crossbeam_channel::unbounded::<u64>();
            ordered_map("t", in_rx, workers, |x: u64| {
                if x.is_multiple_of(7) {
                    std::thread::sleep(Duration::from_micros(200));
                }
                x * 2
            }, move |x| out_tx.send(x).is_ok()).unwrap();
            for i in 0..n {
                in_tx.send(i).unwrap();
            }
            drop(in_tx);
            let got: Vec<u64> = out_rx.iter().collect();
            prop_assert_eq!(got, (0..n).map(|x| x * 2).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_gone_receiver_unblocks_the_producer() {
        let (tx, rx) = queue::<u32>(1, Backpressure::Block);
        tx.push([1], |_| true).unwrap();
        let producer = std::thread::spawn(move || tx.push([2], |_| true));
        std::thread::sleep(Duration::from_millis(20));
        drop(rx);
        assert_eq!(producer.join().unwrap(), Err(Disconnected));
    }

    #[test]
    fn block_waits_for_room() {
        let (tx, rx) = queue::<u32>(2, Backpressure::Block);
        let pushed = Arc::new(AtomicU64::new(0));
        let seen = Arc::clone(&pushed);
        let producer = std::thread::spawn(move || {
            for i in 0..5 {
                tx.push([i], |_| true).unwrap();
                seen.fetch_add(1, Ordering::SeqCst);
            }
        });
        // The producer never gets more than the capacity ahead.
        std::thread::sleep(Duration::from_millis(50));
        assert!(pushed.load(Ordering::SeqCst) <= 2);
        assert!(rx.len() <= 2);
        let mut got = Vec::new();
        loop {
            match rx.recv_batch(10, Duration::from_millis(50)) {
                Recv::Items(b) => got.extend(b),
                Recv::Closed => break,
                Recv::Timeout => {}
            }
        }
        producer.join().unwrap();
        assert_eq!(got, vec![0, 1, 2, 3, 4]);
    }
}

//! `WINDOW('lengthBatch', n)`.

use serde::{Deserialize, Serialize};

use super::batch::BatchBuffer;
use super::{Insert, Window, WindowEvent};

/// `lengthBatch(n)`: a tumbling window of `n` events.
///
/// Siddhi (`LengthBatchWindowProcessor`): arrivals are held; the `n`-th arrival closes the
/// batch, at its own timestamp `t`, emitting the previous batch as expired (stamped `t`),
/// `Reset`, the `n` events as current, then `Flush`. Nothing happens on time.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LengthBatchWindow<E> {
    size: usize,
    batch: BatchBuffer<E>,
}

impl<E> LengthBatchWindow<E> {
    /// Batches of `n` events (`n = 0` behaves as 1).
    pub fn new(n: usize) -> Self {
        LengthBatchWindow {
            size: n.max(1),
            batch: BatchBuffer::new(),
        }
    }

    /// Whether closed batches are kept to be emitted as expired at the next close (default
    /// true). Turn off when the query emits no expired events and nothing joins the window.
    pub fn with_expired(mut self, keep: bool) -> Self {
        self.batch.set_keep_expired(keep);
        self
    }

    /// `event` arrives at `ts`; when it is the `n`-th of its batch, the batch closes.
    #[inline]
    pub fn insert(&mut self, ts: i64, event: E, mut out: impl FnMut(WindowEvent<'_, E>)) {
        self.batch.current.push((ts, event));
        if self.batch.current.len() >= self.size {
            self.batch.close(ts, &mut out);
        }
    }
}

impl<E> Window<E> for LengthBatchWindow<E> {
    const IS_BATCH: bool = true;

    fn advance(&mut self, _now: i64, _out: impl FnMut(WindowEvent<'_, E>)) {}

    fn next_deadline(&self) -> Option<i64> {
        None
    }

    fn iter<'a>(&'a self) -> impl Iterator<Item = (i64, &'a E)>
    where
        E: 'a,
    {
        self.batch.previous.iter().map(|(t, e)| (*t, e))
    }

    fn len(&self) -> usize {
        self.batch.previous.len()
    }
}

impl<E> Insert<E> for LengthBatchWindow<E> {
    fn insert(&mut self, ts: i64, event: E, out: impl FnMut(WindowEvent<'_, E>)) {
        LengthBatchWindow::insert(self, ts, event, out)
    }
}

crate::state::persist::persist_fields!(LengthBatchWindow<E> { size, batch });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::testkit::{check_restore, chunks, rec, timestamps, Rec};
    use proptest::prelude::*;

    #[test]
    fn emits_expired_reset_current_flush() {
        let mut w = LengthBatchWindow::new(2);
        let mut log = Vec::new();
        for (ts, v) in [(1, 'a'), (2, 'b'), (3, 'c'), (4, 'd'), (5, 'e')] {
            w.insert(ts, v, rec(&mut log));
        }
        use Rec::*;
        assert_eq!(
            log,
            vec![
                Reset(2),
                Cur(1, 'a'),
                Cur(2, 'b'),
                Flush(2, true),
                Exp(4, 'a'),
                Exp(4, 'b'),
                Reset(4),
                Cur(3, 'c'),
                Cur(4, 'd'),
                Flush(4, true),
            ]
        );
        assert!(w.is_batch());
        assert_eq!(w.iter().map(|(_, e)| *e).collect::<String>(), "cd");
        let mut w = LengthBatchWindow::new(1).with_expired(false);
        let mut log = Vec::new();
        w.insert(1, 'a', rec(&mut log));
        w.insert(2, 'b', rec(&mut log));
        assert_eq!(
            log,
            vec![
                Reset(1),
                Cur(1, 'a'),
                Flush(1, true),
                Reset(2),
                Cur(2, 'b'),
                Flush(2, true)
            ]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn matches_naive_chunking(ts in timestamps(3000, 3, 0), n in 1usize..40, keep in any::<bool>()) {
            let steps: Vec<(i64, usize)> = ts.iter().copied().zip(0..).collect();
            let log = check_restore(
                || LengthBatchWindow::new(n).with_expired(keep),
                &steps,
                |w, (t, i), log| w.insert(*t, *i, rec(log)),
                |_, _| {},
            );
            let got = chunks(&log);
            let full: Vec<&[(i64, usize)]> = steps.chunks_exact(n).collect();
            prop_assert_eq!(got.len(), full.len());
            for (k, c) in got.iter().enumerate() {
                prop_assert_eq!(&c.current[..], full[k]);
                prop_assert_eq!(c.at, full[k][n - 1].0);
                let want_exp: Vec<usize> = if keep && k > 0 {
                    full[k - 1].iter().map(|s| s.1).collect()
                } else {
                    Vec::new()
                };
                prop_assert_eq!(&c.expired, &want_exp);
            }
        }
    }
}

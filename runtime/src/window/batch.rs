//! The batch bookkeeping shared by every batch window.

use serde::{Deserialize, Serialize};

use super::WindowEvent;

/// The open batch and the last closed one.
///
/// Closing emits, as Siddhi's batch windows do: the previous batch as expired (stamped with
/// the close time), `Reset`, the closing batch as current (each with its own timestamp), then
/// `Flush` — each part only when non-empty, and nothing at all for an empty close. With
/// `keep_expired` off, the previous batch is dropped at close instead (no expired events and
/// nothing to join with): the choice for queries that only insert current events.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct BatchBuffer<E> {
    /// Events of the open batch, in arrival order.
    pub(crate) current: Vec<(i64, E)>,
    /// Events of the last closed batch (empty unless `keep_expired`).
    pub(crate) previous: Vec<(i64, E)>,
    /// Whether closed batches are kept to be emitted as expired at the next close.
    pub(crate) keep_expired: bool,
}

impl<E> BatchBuffer<E> {
    pub(crate) fn new() -> Self {
        BatchBuffer {
            current: Vec::new(),
            previous: Vec::new(),
            keep_expired: true,
        }
    }

    /// Whether a close now would emit anything.
    #[inline]
    pub(crate) fn has_pending(&self) -> bool {
        !self.current.is_empty() || !self.previous.is_empty()
    }

    /// Closes the open batch at `at` (see the type's doc for what is emitted).
    pub(crate) fn close(&mut self, at: i64, out: &mut impl FnMut(WindowEvent<'_, E>)) {
        emit_chunk(at, &self.previous, &[], &self.current, out);
        self.previous.clear();
        if self.keep_expired {
            std::mem::swap(&mut self.previous, &mut self.current);
        } else {
            self.current.clear();
        }
    }

    /// Drops the kept previous batch when expired events get disabled.
    pub(crate) fn set_keep_expired(&mut self, keep: bool) {
        self.keep_expired = keep;
        if !keep {
            self.previous.clear();
        }
    }
}

/// Emits one batch chunk at `at`: `expired` as expired, `Reset`, then `resent` and `current`
/// as current, `Flush`. Returns whether anything was emitted.
pub(crate) fn emit_chunk<E>(
    at: i64,
    expired: &[(i64, E)],
    resent: &[(i64, E)],
    current: &[(i64, E)],
    out: &mut impl FnMut(WindowEvent<'_, E>),
) -> bool {
    for (_, e) in expired {
        out(WindowEvent::Expired { ts: at, event: e });
    }
    let has_current = !resent.is_empty() || !current.is_empty();
    if has_current {
        out(WindowEvent::Reset { ts: at });
        for (t, e) in resent.iter().chain(current) {
            out(WindowEvent::Current { ts: *t, event: e });
        }
    }
    let any = has_current || !expired.is_empty();
    if any {
        out(WindowEvent::Flush {
            ts: at,
            has_current,
        });
    }
    any
}

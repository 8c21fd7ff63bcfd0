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
pub struct BatchBuffer<E> {
    /// Events of the open batch, in arrival order.
    pub(crate) current: Vec<(i64, E)>,
    /// Events of the last closed batch (empty unless `keep_expired`).
    pub(crate) previous: Vec<(i64, E)>,
    /// Whether closed batches are kept to be emitted as expired at the next close.
    pub(crate) keep_expired: bool,
}

impl<E> Default for BatchBuffer<E> {
    fn default() -> Self {
        Self::new()
    }
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

/// What a batch window keeps of its batches: the events ([`BatchBuffer`], the default), or
/// only how many arrived ([`BatchCount`]).
pub trait BatchStore<E>: Default {
    /// `event` joins the open batch.
    fn push(&mut self, ts: i64, event: E);

    /// Whether a close now would emit anything.
    fn has_pending(&self) -> bool;

    /// Closes the open batch at `at`, emitting what the store keeps of it.
    fn close(&mut self, at: i64, out: &mut impl FnMut(WindowEvent<'_, E>));

    /// Whether closed batches are kept to be emitted as expired at the next close.
    fn set_keep_expired(&mut self, keep: bool);

    /// The last closed batch, if kept (the window's contents).
    fn previous(&self) -> &[(i64, E)];
}

impl<E> BatchStore<E> for BatchBuffer<E> {
    #[inline]
    fn push(&mut self, ts: i64, event: E) {
        self.current.push((ts, event));
    }

    #[inline]
    fn has_pending(&self) -> bool {
        BatchBuffer::has_pending(self)
    }

    fn close(&mut self, at: i64, out: &mut impl FnMut(WindowEvent<'_, E>)) {
        BatchBuffer::close(self, at, out)
    }

    fn set_keep_expired(&mut self, keep: bool) {
        BatchBuffer::set_keep_expired(self, keep)
    }

    fn previous(&self) -> &[(i64, E)] {
        &self.previous
    }
}

/// A batch store that counts the events of the open batch and keeps none: a close emits
/// `Reset` and `Flush { has_current: true }` when the batch had events, nothing otherwise,
/// and never `Current` or `Expired` events. For queries that aggregate each event as it
/// arrives and emit only current rows (the window then only tells when a batch closes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchCount {
    /// Events in the open batch.
    open: u64,
}

impl<E> BatchStore<E> for BatchCount {
    #[inline]
    fn push(&mut self, _ts: i64, _event: E) {
        self.open += 1;
    }

    #[inline]
    fn has_pending(&self) -> bool {
        self.open > 0
    }

    fn close(&mut self, at: i64, out: &mut impl FnMut(WindowEvent<'_, E>)) {
        if self.open > 0 {
            self.open = 0;
            out(WindowEvent::Reset { ts: at });
            out(WindowEvent::Flush {
                ts: at,
                has_current: true,
            });
        }
    }

    fn set_keep_expired(&mut self, _keep: bool) {}

    fn previous(&self) -> &[(i64, E)] {
        &[]
    }
}

crate::state::persist::persist_fields!(BatchBuffer<E> { current, previous, keep_expired });
crate::state::persist::persist_fields!(BatchCount { open });

//! Bounded typed storage for the events of a counted pattern element (`e=A{2,}`).

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// The events captured by a counted element, of which only the ones a query can read are
/// kept: the first `H` (for `e[0]` .. `e[H - 1]`) and the last `T` (for `e[last]` ..
/// `e[last - (T - 1)]`). The compiler derives `H` and `T` from the indexes the query uses, so
/// an unbounded `A{2,}` holds a fixed number of events however many it counts.
///
/// ```
/// use eventflux_runtime::pattern::Collect;
/// let mut c: Collect<i32, 1, 2> = Collect::default();
/// for x in [10, 20, 30, 40] {
///     c.push(x);
/// }
/// assert_eq!(c.len(), 4);
/// assert_eq!(c.at(0), Some(&10));
/// assert_eq!(c.at(1), None); // counted, but no index of the query reads it
/// assert_eq!(c.last(0), Some(&40));
/// assert_eq!(c.last(1), Some(&30));
/// assert_eq!(c.at(3), Some(&40));
/// assert_eq!(c.last(4), None);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Collect<E, const H: usize, const T: usize> {
    head: Vec<E>,
    tail: VecDeque<E>,
    len: u32,
}

impl<E, const H: usize, const T: usize> Default for Collect<E, H, T> {
    fn default() -> Self {
        Collect {
            head: Vec::new(),
            tail: VecDeque::new(),
            len: 0,
        }
    }
}

impl<E, const H: usize, const T: usize> Collect<E, H, T> {
    /// Adds the next event.
    pub fn push(&mut self, event: E) {
        self.len = self.len.saturating_add(1);
        if self.head.len() < H {
            self.head.push(event);
        } else if T > 0 {
            if self.tail.len() == T {
                self.tail.pop_front();
            }
            self.tail.push_back(event);
        }
    }

    /// How many events were pushed (kept or not).
    pub fn len(&self) -> u32 {
        self.len
    }

    /// `true` when nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets every event.
    pub fn clear(&mut self) {
        self.head.clear();
        self.tail.clear();
        self.len = 0;
    }

    /// Event `k` (`e[k]`), if it was pushed and kept.
    pub fn at(&self, k: u32) -> Option<&E> {
        if k >= self.len {
            return None;
        }
        let k = k as usize;
        if k < self.head.len() {
            return self.head.get(k);
        }
        // The tail holds the events `len - tail.len() .. len`.
        let first_in_tail = self.len as usize - self.tail.len();
        k.checked_sub(first_in_tail).and_then(|i| self.tail.get(i))
    }

    /// Event `last - k` (`e[last]` for `k = 0`), if it was pushed and kept.
    pub fn last(&self, k: u32) -> Option<&E> {
        self.len.checked_sub(k + 1).and_then(|i| self.at(i))
    }
}

impl<E: crate::state::persist::Save, const H: usize, const T: usize> crate::state::persist::Save
    for Collect<E, H, T>
{
    fn save(&self, w: &mut crate::state::persist::Writer) {
        self.head.save(w);
        self.tail.save(w);
        self.len.save(w);
    }
}

impl<E: crate::state::persist::Load, const H: usize, const T: usize> crate::state::persist::Load
    for Collect<E, H, T>
{
    fn load(r: &mut crate::state::persist::Reader<'_>) -> Result<Self, crate::state::StateError> {
        use crate::state::persist::Load;
        Ok(Collect {
            head: Load::load(r)?,
            tail: Load::load(r)?,
            len: Load::load(r)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check<const H: usize, const T: usize>(n: u32) {
        let mut c: Collect<u32, H, T> = Collect::default();
        for x in 0..n {
            c.push(x);
        }
        assert_eq!(c.len(), n);
        for k in 0..n + 2 {
            let kept_head = (k as usize) < H;
            let kept_tail = n > k && ((n - k - 1) as usize) < T;
            let expected = (k < n && (kept_head || kept_tail)).then_some(k);
            assert_eq!(
                c.at(k).copied(),
                expected,
                "at({k}) of {n} with H={H} T={T}"
            );
            let expected_last = n.checked_sub(k + 1).and_then(|i| c.at(i).copied());
            assert_eq!(c.last(k).copied(), expected_last);
        }
    }

    proptest! {
        #[test]
        fn keeps_first_and_last(n in 0u32..12) {
            check::<0, 0>(n);
            check::<1, 0>(n);
            check::<0, 1>(n);
            check::<2, 3>(n);
            check::<5, 5>(n);
        }
    }

    #[test]
    fn clear_and_roundtrip() {
        let mut c: Collect<String, 1, 1> = Collect::default();
        c.push("a".into());
        c.push("b".into());
        c.push("c".into());
        let back: Collect<String, 1, 1> =
            serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.at(0).map(String::as_str), Some("a"));
        assert_eq!(back.last(0).map(String::as_str), Some("c"));
        c.clear();
        assert!(c.is_empty());
        assert_eq!(c.at(0), None);
    }
}

//! Test support: random add/remove/reset scripts checked against a naive recomputation.

use std::fmt::Debug;

use proptest::prelude::*;

use super::Aggregator;

/// One step of a random script.
#[derive(Clone, Debug)]
pub enum Op<T> {
    /// A value enters.
    Add(Option<T>),
    /// The oldest value still in leaves (FIFO expiry, as in length/time windows).
    RemoveOldest,
    /// The value at this position (modulo the size) leaves (unique/sort windows).
    RemoveAt(usize),
    /// Batch reset.
    Reset,
    /// Serialize and restore the aggregator mid-stream.
    Snapshot,
}

/// Scripts over values drawn from `value` (with NULLs); `fifo` limits removals to the oldest.
pub fn ops<S>(value: S, fifo: bool) -> impl Strategy<Value = Vec<Op<S::Value>>>
where
    S: Strategy + Clone + 'static,
    S::Value: Clone + Debug,
{
    let remove_at = if fifo { 0usize..1 } else { 0usize..1000 };
    let op = prop_oneof![
        8 => proptest::option::weighted(0.85, value).prop_map(Op::Add),
        4 => Just(Op::RemoveOldest),
        2 => remove_at.prop_map(move |i| if fifo { Op::RemoveOldest } else { Op::RemoveAt(i) }),
        1 => Just(Op::Reset),
        1 => Just(Op::Snapshot),
    ];
    proptest::collection::vec(op, 1..2000)
}

/// Runs `ops` on `A` and on a plain list of the values currently in; after every step the
/// aggregator's value must equal `naive(list)` under `same`.
pub fn check_against_naive<T, A, O>(
    ops: &[Op<T>],
    naive: impl Fn(&[Option<T>]) -> Option<O>,
    same: impl Fn(&Option<O>, &Option<O>) -> bool,
) where
    T: Clone + Debug,
    A: Aggregator<T, Output = O>,
    O: Debug,
{
    let mut agg = A::default();
    let mut live: Vec<Option<T>> = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Add(v) => {
                live.push(v.clone());
                agg.add(v.clone());
            }
            Op::RemoveOldest if !live.is_empty() => agg.remove(live.remove(0)),
            Op::RemoveAt(i) if !live.is_empty() => {
                let i = i % live.len();
                agg.remove(live.remove(i));
            }
            Op::RemoveOldest | Op::RemoveAt(_) => {}
            Op::Reset => {
                live.clear();
                agg.reset();
            }
            Op::Snapshot => {
                let json = serde_json::to_string(&agg).expect("serialize");
                agg = serde_json::from_str(&json).expect("deserialize");
            }
        }
        let (got, want) = (agg.value(), naive(&live));
        assert!(
            same(&got, &want),
            "step {step} ({op:?}): got {got:?}, want {want:?}"
        );
    }
}

/// Float equality up to a relative tolerance (incremental sums drift from recomputation).
pub fn close(a: &Option<f64>, b: &Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => {
            (x - y).abs() <= 1e-6 * (1.0 + x.abs().max(y.abs())) || (x.is_nan() && y.is_nan())
        }
        _ => false,
    }
}

//! Scale-out (DESIGN 11): one app on several workers, on timely dataflow.
//!
//! Every worker thread owns a whole generated `App` (the plain single-threaded app, nothing
//! changed on its event path). What routing needs the app tells through
//! [`Application::route`](crate::Application::route): an event of a stream that a partition
//! splits by key goes to the worker owning the key (the key's [`key_hash`] modulo the
//! number of workers), every other event to worker 0, so partitioned queries run on every
//! worker, each with its own keys, and every other query on worker 0. Only apps whose
//! partitions are closed (see [`Application::SCALABLE`](crate::Application::SCALABLE)) are
//! split; any other app runs whole on one worker.
//!
//! Rows from a partition into queries outside it
//! ([`Application::CROSSING`](crate::Application::CROSSING)): every worker's app hands
//! them over instead of running those queries; they travel to worker 0 with their time (the
//! clock of the message that made them, or a timer's deadline), where an app of their own
//! runs the queries outside partitions on them, and on worker 0's events of streams read
//! only outside partitions, in time order once the frontier has passed each (a worker holds
//! a capability at its earliest pending message or timer, and fires the timers due before
//! the frontier as soon as it passes them).
//!
//! Time: every message carries the event clock of its source (the running maximum of `ts`)
//! and travels at a timely time at or below it (a source moves its timely time once per batch
//! of 1,024 events, so that progress tracking costs little per event). A worker runs the
//! messages whose clock the frontier (the minimum over all workers and sources) has passed,
//! in clock order, moving its app's clock to each message's clock first. Every source also
//! sends each worker a clock tick at the end of each batch and of its input, so that a worker
//! whose keys are idle still fires their timers. Per key the rows are those of the
//! single-worker run in the same order, for input in time order (an event older than the
//! clock may see its own timers fire at a different point).
//!
//! The driver (`execute`) needs the runtime's `scale` feature (the `timely` dependency);
//! [`Route`] and [`key_hash`] do not, as generated code always names them.

use std::hash::{Hash, Hasher};

#[cfg(feature = "scale")]
mod driver;
#[cfg(feature = "scale")]
pub use driver::{execute, execute_with, Batch, Checkpoints, Source, Workers};

/// Where one input event goes when the app runs on several workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// To worker 0 (queries outside partitions).
    Worker0,
    /// To the owner of a partition key.
    Key {
        /// The partition (index in source order).
        partition: usize,
        /// [`key_hash`] of the key.
        hash: u64,
    },
}

/// The hash that places a partition key on a worker: FxHash with a final avalanche, so that
/// its low bits (timely takes the hash modulo the number of workers) are well mixed. Stable
/// across processes of the same binary.
#[inline]
pub fn key_hash<T: Hash + ?Sized>(key: &T) -> u64 {
    let mut h = crate::aggregate::FxHasher::default();
    key.hash(&mut h);
    let mut x = h.finish();
    // fmix64 of MurmurHash3.
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// What the scale-out driver needs of an app's input events: with the `scale` feature, that
/// they can cross threads and processes (`serde`); without it, nothing.
#[cfg(feature = "scale")]
pub trait ScaleInput:
    serde::Serialize + serde::de::DeserializeOwned + Clone + Send + 'static
{
}
#[cfg(feature = "scale")]
impl<T: serde::Serialize + serde::de::DeserializeOwned + Clone + Send + 'static> ScaleInput for T {}

/// What the scale-out driver needs of an app's input events: with the `scale` feature, that
/// they can cross threads and processes (`serde`); without it, nothing.
#[cfg(not(feature = "scale"))]
pub trait ScaleInput {}
#[cfg(not(feature = "scale"))]
impl<T> ScaleInput for T {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_hash_spreads_small_integers_over_two_and_three_workers() {
        for n in [2u64, 3] {
            let mut counts = vec![0u32; n as usize];
            for k in 0..1000i64 {
                counts[(key_hash(&Some(k)) % n) as usize] += 1;
            }
            let fair = 1000 / n as u32;
            assert!(counts.iter().all(|&c| c > fair * 8 / 10), "{counts:?}");
        }
    }

    #[test]
    fn key_hash_of_a_string_key_is_that_of_its_borrowed_form() {
        let owned: Option<std::sync::Arc<str>> = Some("IBM".into());
        assert_eq!(key_hash(&owned.as_deref()), key_hash(&Some("IBM")),);
    }
}

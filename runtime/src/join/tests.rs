//! The join index against the windows it mirrors, and indexed joins against nested loops.

use super::*;
use crate::window::{
    ExternalTimeBatchWindow, ExternalTimeWindow, FirstUniqueWindow, HopWindow, Insert,
    LengthBatchWindow, LengthWindow, SessionWindow, TimeBatchWindow, TimeLengthWindow, TimeWindow,
    UniqueWindow, Window, WindowEvent,
};
use proptest::prelude::*;
use std::collections::VecDeque;

/// An event of a join side: its key and a distinguishing value.
type Ev = (u8, u32);

fn key(e: &Ev) -> u64 {
    key_hash(&(e.0,))
}

/// Keeps `index` in step with a window's emissions (what the generated code does).
fn mirror(index: &mut JoinIndex<Ev>) -> impl FnMut(WindowEvent<'_, Ev>) + '_ {
    move |e| match e {
        WindowEvent::Current { ts, event } => index.insert(key(event), ts, *event),
        WindowEvent::Expired { event, .. } => {
            index.remove(key(event), event);
        }
        WindowEvent::Reset { .. } | WindowEvent::Flush { .. } => {}
    }
}

/// After every step, each key's indexed events equal the window's events with that key, in
/// the window's order, so an indexed probe returns what a nested loop over the window does.
fn check_mirrors<W: Window<Ev>>(
    mut window: W,
    steps: &[(i64, Ev)],
    mut insert: impl FnMut(&mut W, i64, Ev, &mut JoinIndex<Ev>),
) -> Result<(), TestCaseError> {
    let mut index = JoinIndex::new();
    for &(ts, ev) in steps {
        window.advance(ts, mirror(&mut index));
        insert(&mut window, ts, ev, &mut index);
        prop_assert_eq!(index.len(), window.len());
        for key in 0..4u8 {
            let naive: Vec<(i64, &Ev)> = window.iter().filter(|(_, e)| e.0 == key).collect();
            let indexed: Vec<(i64, &Ev)> = index.get(key_hash(&(key,))).collect();
            prop_assert_eq!(naive, indexed, "key {} at ts {}", key, ts);
        }
    }
    Ok(())
}

fn steps() -> impl Strategy<Value = Vec<(i64, Ev)>> {
    proptest::collection::vec((0i64..400, 0u8..4), 1..120).prop_map(|gaps| {
        let mut ts = 0;
        gaps.into_iter()
            .enumerate()
            .map(|(i, (gap, key))| {
                // Several events often share a timestamp.
                ts += if gap < 150 { 0 } else { gap };
                (ts, (key, i as u32))
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn index_mirrors_sliding_windows(steps in steps(), n in 1usize..6, d in 1i64..900) {
        check_mirrors(LengthWindow::new(n), &steps, |w, t, e, i| w.insert(t, e, mirror(i)))?;
        check_mirrors(TimeWindow::new(d), &steps, |w, t, e, i| w.insert(t, e, mirror(i)))?;
        check_mirrors(TimeLengthWindow::new(d, n), &steps, |w, t, e, i| {
            w.insert(t, e, mirror(i))
        })?;
        check_mirrors(ExternalTimeWindow::new(d), &steps, |w, t, e, i| {
            w.insert(t, t, e, mirror(i))
        })?;
        // A window key other than the join key too.
        for wk in [|e: &Ev| u32::from(e.0), |e: &Ev| e.1 % 3] {
            check_mirrors(FirstUniqueWindow::new(), &steps, |w, t, e, i| {
                w.insert(t, wk(&e), e, mirror(i))
            })?;
        }
        // Sessions keyed by the join key or by something else.
        for wk in [|e: &Ev| u32::from(e.0 % 2), |e: &Ev| e.1 % 3] {
            check_mirrors(SessionWindow::new(d), &steps, |w, t, e, i| {
                w.insert(t, wk(&e), e, mirror(i))
            })?;
        }
        // `unique` keeps a replaced event's place: the index matches it only when the
        // window's key is the join key (so the generated code scans `unique` windows).
        check_mirrors(UniqueWindow::new(), &steps, |w, t, e, i| {
            w.insert(t, e.0, e, mirror(i))
        })?;
    }

    #[test]
    fn index_mirrors_batch_windows(steps in steps(), n in 1usize..6, d in 1i64..900) {
        check_mirrors(LengthBatchWindow::new(n).with_expired(true), &steps, |w, t, e, i| {
            Insert::insert(w, t, e, mirror(i))
        })?;
        check_mirrors(TimeBatchWindow::new(d).with_expired(true), &steps, |w, t, e, i| {
            Insert::insert(w, t, e, mirror(i))
        })?;
        check_mirrors(HopWindow::new(d, (d / 2).max(1)).with_expired(true), &steps, |w, t, e, i| {
            Insert::insert(w, t, e, mirror(i))
        })?;
        check_mirrors(ExternalTimeBatchWindow::new(d).with_expired(true), &steps, |w, t, e, i| {
            w.insert(t, t, e, mirror(i))
        })?;
    }

    /// A two-sided equi-join over length windows: probing the other side's index gives the
    /// same joined rows, in the same order, as a nested loop over its window.
    #[test]
    fn indexed_join_matches_nested_loop(
        arrivals in proptest::collection::vec((any::<bool>(), 0u8..5, 0u8..3), 1..200),
        n in 1usize..8,
    ) {
        let mut windows = [LengthWindow::<Ev>::new(n), LengthWindow::new(n)];
        let mut indexes = [JoinIndex::<Ev>::new(), JoinIndex::new()];
        for (i, &(right, k, extra)) in arrivals.iter().enumerate() {
            let (side, other) = if right { (1, 0) } else { (0, 1) };
            let event: Ev = (k, i as u32);
            let ts = i as i64;
            // Nested loop: every event of the other window, filtered by the condition
            // `key = key AND extra-condition`.
            let cond = |o: &Ev| o.0 == event.0 && o.1 % 3 != u32::from(extra);
            let mut naive = Vec::new();
            let mut indexed = Vec::new();
            let [w0, w1] = &mut windows;
            let (own, theirs) = if side == 0 { (w0, &*w1) } else { (w1, &*w0) };
            let [i0, i1] = &mut indexes;
            let (own_index, their_index) = if side == 0 { (i0, &*i1) } else { (i1, &*i0) };
            own.insert(ts, event, |e| {
                if let WindowEvent::Current { event: cur, .. } = e {
                    naive.extend(theirs.iter().filter(|(_, o)| cond(o)).map(|(_, o)| (*cur, *o)));
                    indexed.extend(
                        their_index.get(key(cur)).filter(|(_, o)| cond(o)).map(|(_, o)| (*cur, *o)),
                    );
                }
                mirror(own_index)(e);
            });
            prop_assert_eq!(&naive, &indexed);
            let _ = other;
        }
    }
}

#[test]
fn removes_the_equal_event_else_the_oldest() {
    let mut index: JoinIndex<(u8, f64)> = JoinIndex::new();
    index.insert(1, 10, (1, 1.0));
    index.insert(1, 11, (1, f64::NAN));
    index.insert(1, 12, (1, 3.0));
    assert_eq!(index.remove(1, &(1, 3.0)), Some((12, (1, 3.0))));
    // NaN is not equal to itself: the oldest entry of the key goes.
    assert_eq!(index.remove(1, &(1, f64::NAN)).map(|r| r.0), Some(10));
    assert_eq!(index.len(), 1);
    assert_eq!(index.remove(2, &(2, 0.0)), None);
    index.remove(1, &(1, 0.5));
    assert!(index.is_empty());
    assert_eq!(index.keys(), 0);
    // Emptied buckets are reused, and swept once they are most of the table.
    for k in 0..200u64 {
        index.insert(k, 0, (0, 0.0));
        index.remove(k, &(0, 0.0));
    }
    assert!(index.buckets.len() < 200);
    index.insert(7, 1, (7, 7.0));
    assert_eq!(index.get(7).count(), 1);
}

#[test]
fn hashes_keys_by_value() {
    use std::sync::Arc;
    let owned: Arc<str> = Arc::from("IBM");
    assert_eq!(key_hash(&("IBM",)), key_hash(&(&owned,)));
    assert_eq!(key_hash(&(Some(1i64), "a")), key_hash(&(Some(1i64), "a")));
    assert_ne!(key_hash(&(1i64, 2i64)), key_hash(&(2i64, 1i64)));
}

#[test]
fn round_trips_through_serde() {
    let mut index: JoinIndex<String> = JoinIndex::new();
    index.insert(3, 5, "a".into());
    index.insert(9, 6, "b".into());
    index.insert(3, 7, "c".into());
    let json = serde_json::to_string(&index).unwrap();
    let back: JoinIndex<String> = serde_json::from_str(&json).unwrap();
    let hits: Vec<_> = back.get(3).collect();
    assert_eq!(hits, vec![(5, &"a".to_string()), (7, &"c".to_string())]);
    assert_eq!(back.len(), 3);
    let mut cleared = back.clone();
    cleared.clear();
    assert!(cleared.is_empty());
}

/// `key_hash` gives the values of the Fx hash it replaced (snapshots of join indexes hold
/// key hashes), whatever the length of a string's tail.
#[test]
fn key_hash_matches_the_fx_hash_it_replaced() {
    use std::hash::Hasher;
    /// The Fx hasher as it was when join indexes first stored key hashes.
    #[derive(Default)]
    struct OldFx(u64);
    impl OldFx {
        fn add(&mut self, word: u64) {
            self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    impl Hasher for OldFx {
        fn write(&mut self, bytes: &[u8]) {
            let mut chunks = bytes.chunks_exact(8);
            for c in &mut chunks {
                let mut w = [0u8; 8];
                w.copy_from_slice(c);
                self.add(u64::from_le_bytes(w));
            }
            let rest = chunks.remainder();
            if !rest.is_empty() {
                let mut w = [0u8; 8];
                w[..rest.len()].copy_from_slice(rest);
                self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 56));
            }
        }
        fn write_u8(&mut self, i: u8) {
            self.add(u64::from(i));
        }
        fn write_u16(&mut self, i: u16) {
            self.add(u64::from(i));
        }
        fn write_u32(&mut self, i: u32) {
            self.add(u64::from(i));
        }
        fn write_u64(&mut self, i: u64) {
            self.add(i);
        }
        fn write_usize(&mut self, i: usize) {
            self.add(i as u64);
        }
        fn finish(&self) -> u64 {
            self.0
        }
    }
    fn fx<K: TotalOrd + ?Sized>(key: &K) -> u64 {
        let mut h = OldFx::default();
        key.hash_total(&mut h);
        h.finish().rotate_left(26)
    }
    let text = "S0001-abcdefghijklmnopqrstuvwxyz";
    for n in 0..text.len() {
        let s = &text[..n];
        assert_eq!(key_hash(&(s,)), fx(&(s,)), "{s:?}");
        assert_eq!(key_hash(&(Some(s), n as i64)), fx(&(Some(s), n as i64)));
    }
    assert_eq!(key_hash(&(1.5f64, 7i32, true)), fx(&(1.5f64, 7i32, true)));
}

/// Reads the events of a handle window's emissions from `store` into `got`.
fn through<'a>(
    store: &'a mut JoinStore<Ev>,
    got: &'a mut Vec<(bool, Ev)>,
) -> impl FnMut(WindowEvent<'_, JoinHandle>) + 'a {
    move |e| match e {
        WindowEvent::Current { event, .. } => got.push((true, *store.event(*event).unwrap())),
        WindowEvent::Expired { event, .. } => got.push((false, store.take(*event).unwrap().1)),
        _ => {}
    }
}

/// A window of handles over a `JoinStore` (what the generated code keeps for `length` and
/// `time` sides) against a window of the events themselves: after every step, each key's
/// stored events are the window's events with that key, in order; the current emission
/// reads the arriving event, the expired ones hand back the leaving events in order.
fn check_store<W: Window<Ev>, H: Window<JoinHandle>>(
    mut window: W,
    mut handles: H,
    steps: &[(i64, Ev)],
    insert: impl Fn(&mut W, i64, Ev, &mut dyn FnMut(WindowEvent<'_, Ev>)),
    insert_handle: impl Fn(&mut H, i64, JoinHandle, &mut dyn FnMut(WindowEvent<'_, JoinHandle>)),
) -> Result<(), TestCaseError> {
    let mut store: JoinStore<Ev> = JoinStore::new();
    for &(ts, ev) in steps {
        // Keys 0..3; key 3 stands for a NULL key.
        let key = (ev.0 != 3).then(|| key_hash(&(ev.0,)));
        let (mut want, mut got) = (Vec::new(), Vec::new());
        let mut naive = |e: WindowEvent<'_, Ev>| match e {
            WindowEvent::Current { event, .. } => want.push((true, *event)),
            WindowEvent::Expired { event, .. } => want.push((false, *event)),
            _ => {}
        };
        window.advance(ts, &mut naive);
        insert(&mut window, ts, ev, &mut naive);
        handles.advance(ts, &mut through(&mut store, &mut got));
        let handle = store.add(key, ts, ev);
        insert_handle(&mut handles, ts, handle, &mut through(&mut store, &mut got));
        prop_assert_eq!(&got, &want);
        prop_assert_eq!(store.len(), window.len());
        for k in 0..3u8 {
            let naive: Vec<(i64, &Ev)> = window.iter().filter(|(_, e)| e.0 == k).collect();
            let kept: Vec<(i64, &Ev)> = store.get(key_hash(&(k,))).collect();
            prop_assert_eq!(naive, kept, "key {} at ts {}", k, ts);
        }
    }
    let bytes = serde_json::to_string(&store).unwrap();
    let back: JoinStore<Ev> = serde_json::from_str(&bytes).unwrap();
    prop_assert_eq!(back.len(), store.len());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn store_mirrors_length_and_time_windows(steps in steps(), n in 1usize..6, d in 1i64..900) {
        check_store(
            LengthWindow::new(n),
            LengthWindow::new(n),
            &steps,
            |w, t, e, f| w.insert(t, e, f),
            |w, t, h, f| w.insert(t, h, f),
        )?;
        check_store(
            TimeWindow::new(d),
            TimeWindow::new(d),
            &steps,
            |w, t, e, f| w.insert(t, e, f),
            |w, t, h, f| w.insert(t, h, f),
        )?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Many keys through a short window (buckets go idle, are recycled and reused), with a
    /// snapshot round trip of the store and the window's handles midway: the store keeps
    /// exactly the window's events per key, and hands each back when it leaves.
    #[test]
    fn store_recycles_buckets_of_many_keys(
        keys in proptest::collection::vec(0u16..400, 1..1500),
        n in 1usize..8,
        cut in any::<proptest::sample::Index>(),
    ) {
        let cut = cut.index(keys.len());
        let mut store: JoinStore<(u16, usize)> = JoinStore::new();
        let mut window: VecDeque<JoinHandle> = VecDeque::new();
        let mut naive: VecDeque<(u16, usize)> = VecDeque::new();
        for (i, &k) in keys.iter().enumerate() {
            if i == cut {
                let bytes = serde_json::to_string(&(&store, &window)).unwrap();
                (store, window) = serde_json::from_str(&bytes).unwrap();
            }
            let key = (k % 97 != 0).then(|| key_hash(&(k,)));
            window.push_back(store.add(key, i as i64, (k, i)));
            naive.push_back((k, i));
            prop_assert_eq!(store.event(*window.back().unwrap()), Some(&(k, i)));
            if window.len() > n {
                let gone = window.pop_front().map(|h| store.take(h));
                prop_assert_eq!(gone.flatten().map(|(_, e)| e), naive.pop_front());
            }
            prop_assert_eq!(store.len(), naive.len());
            let kept: Vec<&(u16, usize)> = store.get(key_hash(&(k,))).map(|(_, e)| e).collect();
            let want: Vec<&(u16, usize)> = naive.iter().filter(|e| e.0 == k && k % 97 != 0).collect();
            prop_assert_eq!(kept, want);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Both sides of a join through one `JoinPair`, each side's window a short FIFO of
    /// handles, against a naive list per side: each bucket holds exactly the windows'
    /// events with its key, per side and in order; leaving events come back; NULL keys
    /// match nothing; buckets are recycled across many keys; a snapshot round trip midway.
    #[test]
    fn pair_mirrors_two_windows(
        steps in proptest::collection::vec((any::<bool>(), 0u16..300), 1..1500),
        n in 1usize..6,
        cut in any::<proptest::sample::Index>(),
    ) {
        let cut = cut.index(steps.len());
        let mut pair: JoinPair<(u16, usize), (u16, usize)> = JoinPair::new();
        let mut windows: [VecDeque<PairHandle>; 2] = [VecDeque::new(), VecDeque::new()];
        let mut naive: [VecDeque<(u16, usize)>; 2] = [VecDeque::new(), VecDeque::new()];
        for (i, &(right, k)) in steps.iter().enumerate() {
            if i == cut {
                let bytes = serde_json::to_string(&(&pair, &windows)).unwrap();
                (pair, windows) = serde_json::from_str(&bytes).unwrap();
            }
            let s = usize::from(right);
            let key = (k % 89 != 0).then(|| key_hash(&(k,)));
            let bucket = pair.bucket(key);
            // The probe of the other side sees its events with this key, oldest first.
            let seen: Vec<&(u16, usize)> = if right {
                pair.left().get(bucket).map(|(_, e)| e).collect()
            } else {
                pair.right().get(bucket).map(|(_, e)| e).collect()
            };
            let want: Vec<&(u16, usize)> =
                naive[1 - s].iter().filter(|e| e.0 == k && key.is_some()).collect();
            prop_assert_eq!(seen, want);
            let handle = if right {
                pair.add_right(bucket, i as i64, (k, i))
            } else {
                pair.add_left(bucket, i as i64, (k, i))
            };
            windows[s].push_back(handle);
            naive[s].push_back((k, i));
            if windows[s].len() > n {
                let h = windows[s].pop_front().unwrap();
                let gone = if right { pair.take_right(h) } else { pair.take_left(h) };
                prop_assert_eq!(gone.map(|(_, e)| e), naive[s].pop_front());
            }
            prop_assert_eq!(pair.len(), naive[0].len() + naive[1].len());
        }
    }
}

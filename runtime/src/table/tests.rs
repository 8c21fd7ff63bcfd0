//! The table against a naive model: a list of rows in insertion order.

use super::*;
use proptest::prelude::*;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Row {
    /// Primary key part 1.
    site: u8,
    /// Primary key part 2.
    sensor: Option<u8>,
    /// Indexed.
    level: u8,
    val: i32,
}

crate::state::persist::persist_fields!(Row {
    site,
    sensor,
    level,
    val
});

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Idx {
    Level(u8),
    SiteLevel(u8, u8),
}

impl TableRow for Row {
    type Key = (u8, Option<u8>);
    type IndexKey = Idx;
    fn primary_key(&self) -> Option<Self::Key> {
        Some((self.site, self.sensor))
    }
    fn index_keys(&self, mut out: impl FnMut(Idx)) {
        out(Idx::Level(self.level));
        out(Idx::SiteLevel(self.site, self.level));
    }
}

#[derive(Clone, Debug)]
enum Op {
    Insert(Row),
    /// Update the n-th row (mod len) to these values.
    Update(usize, Row),
    Remove(usize),
    /// An UPSERT on the primary-key equality (a NULL `sensor` equals nothing).
    Upsert(Row),
    Roundtrip,
}

fn row() -> impl Strategy<Value = Row> {
    (0u8..3, proptest::option::of(0u8..3), 0u8..3, -50i32..50).prop_map(
        |(site, sensor, level, val)| Row {
            site,
            sensor,
            level,
            val,
        },
    )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => row().prop_map(Op::Insert),
        2 => (any::<usize>(), row()).prop_map(|(i, r)| Op::Update(i, r)),
        1 => any::<usize>().prop_map(Op::Remove),
        2 => row().prop_map(Op::Upsert),
        1 => Just(Op::Roundtrip),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn matches_an_insertion_ordered_list(ops in proptest::collection::vec(op(), 1..80)) {
        let mut table: Table<Row> = Table::new();
        let mut model: Vec<(RowId, Row)> = Vec::new();
        for op in ops {
            match op {
                Op::Insert(r) => {
                    let dup = model.iter().any(|(_, m)| m.primary_key() == r.primary_key());
                    let got = table.insert(r.clone());
                    prop_assert_eq!(got.is_err(), dup);
                    if let Ok(id) = got {
                        prop_assert_eq!(table.get(id), Some(&r));
                        model.push((id, r));
                    }
                }
                Op::Update(i, r) if !model.is_empty() => {
                    let at = i % model.len();
                    let id = model[at].0;
                    let dup = model
                        .iter()
                        .any(|(other, m)| *other != id && m.primary_key() == r.primary_key());
                    prop_assert_eq!(table.update(id, r.clone()).is_err(), dup);
                    if !dup {
                        model[at].1 = r;
                    }
                }
                Op::Remove(i) if !model.is_empty() => {
                    let (id, r) = model.remove(i % model.len());
                    prop_assert_eq!(table.remove(id), Some(r));
                    prop_assert_eq!(table.remove(id), None);
                }
                Op::Upsert(r) => {
                    let hash = r.sensor.map(|_| hashed(&r.primary_key().unwrap()));
                    let same = model
                        .iter()
                        .position(|(_, m)| m.primary_key() == r.primary_key());
                    let got = table.replace_or_insert(&r, hash);
                    match (same, hash) {
                        (Some(at), Some(_)) => {
                            prop_assert!(got.is_ok());
                            model[at].1 = r;
                        }
                        (Some(_), None) => prop_assert!(got.is_err()),
                        (None, _) => {
                            prop_assert!(got.is_ok());
                            let id = table.iter().last().map(|(id, _)| id).unwrap();
                            model.push((id, r));
                        }
                    }
                }
                Op::Roundtrip => {
                    let json = serde_json::to_string(&table).unwrap();
                    table = serde_json::from_str(&json).unwrap();
                    table = crate::state::persist::testkit::same_after_persist(&table);
                }
                Op::Update(..) | Op::Remove(..) => {}
            }
            // Rows in insertion order; ids increasing (an insert or a restore may renumber
            // them: the model takes the table's ids).
            let rows: Vec<&Row> = table.iter().map(|(_, r)| r).collect();
            let expected: Vec<&Row> = model.iter().map(|(_, r)| r).collect();
            prop_assert_eq!(rows, expected);
            let ids: Vec<RowId> = table.iter().map(|(id, _)| id).collect();
            prop_assert!(ids.windows(2).all(|w| w[0] < w[1]));
            for ((id, _), new) in model.iter_mut().zip(ids) {
                *id = new;
            }
            prop_assert_eq!(table.len(), model.len());
            for (id, r) in &model {
                let key = r.primary_key().unwrap();
                prop_assert_eq!(table.find(&key), Some((*id, r)));
                prop_assert!(table.contains_key(&key));
                prop_assert_eq!(table.get(*id), Some(r));
            }
            for level in 0..3 {
                for site in 0..3 {
                    for key in [Idx::Level(level), Idx::SiteLevel(site, level)] {
                        let got: Vec<RowId> = table.lookup(&key).map(|(id, _)| id).collect();
                        let mut want = Vec::new();
                        for (id, r) in &model {
                            let mut keys = Vec::new();
                            r.index_keys(|k| keys.push(k));
                            if keys.contains(&key) {
                                want.push(*id);
                            }
                        }
                        prop_assert_eq!(got, want);
                    }
                }
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Plain(i32);

crate::state::persist::persist_fields!(Plain { 0 });

impl TableRow for Plain {
    type Key = ();
    type IndexKey = ();
    fn primary_key(&self) -> Option<()> {
        None
    }
    fn index_keys(&self, _: impl FnMut(())) {}
}

#[test]
fn a_table_without_keys_takes_duplicates_and_keeps_its_order_after_restore() {
    let mut t = Table::new();
    let a = t.insert(Plain(1)).unwrap();
    t.insert(Plain(1)).unwrap();
    let c = t.insert(Plain(2)).unwrap();
    t.remove(c);
    t.update(a, Plain(5)).unwrap();
    t.update(99, Plain(7)).unwrap();
    assert_eq!(format!("{t:?}"), "[Plain(5), Plain(1)]");
    let json = serde_json::to_string(&t).unwrap();
    let mut back: Table<Plain> = serde_json::from_str(&json).unwrap();
    assert_eq!(
        format!(
            "{:?}",
            crate::state::persist::testkit::same_after_persist(&t)
        ),
        "[Plain(5), Plain(1)]"
    );
    // Ids keep growing after a restore, so insertion order survives it.
    let d = back.insert(Plain(3)).unwrap();
    assert!(back.iter().all(|(id, _)| id <= d));
    let rows: Vec<i32> = back.iter().map(|(_, r)| r.0).collect();
    assert_eq!(rows, [5, 1, 3]);
    back.clear();
    assert!(back.is_empty() && back.lookup(&()).next().is_none());
}

/// A table whose rows come and go keeps few empty places, and its keys follow renumbering.
#[test]
fn removed_rows_places_are_reclaimed() {
    let mut t: Table<Row> = Table::new();
    let row = |i: u8| Row {
        site: i,
        sensor: Some(i / 3),
        level: i % 2,
        val: i32::from(i),
    };
    for round in 0..20u8 {
        for i in 0..200u8 {
            if i % 7 != round % 7 {
                t.insert(row(i)).unwrap();
            }
        }
        let ids: Vec<RowId> = t
            .iter()
            .filter(|(_, r)| !r.site.is_multiple_of(3))
            .map(|(id, _)| id)
            .collect();
        for id in ids {
            assert!(t.remove(id).is_some());
        }
        let keep: Vec<RowId> = t.iter().map(|(id, _)| id).collect();
        for id in keep {
            t.remove(id);
        }
        assert!(t.is_empty());
    }
    assert!(t.order.len() <= 200, "{} places", t.order.len());
    for i in (0..200u8).filter(|i| i.is_multiple_of(5)) {
        t.insert(row(i)).unwrap();
    }
    for i in (0..200u8).filter(|i| i.is_multiple_of(10)) {
        let (id, _) = t.find(&(i, Some(i / 3))).unwrap();
        t.remove(id);
    }
    let odd = |i: &u8| i % 2 == 1 && !i.is_multiple_of(5);
    for i in (0..200u8).filter(odd) {
        t.insert(row(i)).unwrap();
    }
    let sites: Vec<u8> = t.iter().map(|(_, r)| r.site).collect();
    let mut want: Vec<u8> = (0..200u8)
        .filter(|i| i.is_multiple_of(5) && !i.is_multiple_of(10))
        .collect();
    want.extend((0..200u8).filter(odd));
    assert_eq!(sites, want);
    assert!(t.order.len() < 2 * t.len() + 65);
    for (id, r) in t.iter() {
        assert_eq!(t.find(&r.primary_key().unwrap()).map(|(i, _)| i), Some(id));
    }
    let level1: Vec<u8> = t.lookup(&Idx::Level(1)).map(|(_, r)| r.site).collect();
    assert_eq!(
        level1,
        want.iter()
            .copied()
            .filter(|s| s % 2 == 1)
            .collect::<Vec<_>>()
    );
}

/// A key whose hash ignores its value: every key collides with every other (and it writes
/// too much to be packed whole into its hash, which would make the hashes exact).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Colliding(u8);

impl std::hash::Hash for Colliding {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write(&[7; 16]);
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct CRow(u8, i32);

impl TableRow for CRow {
    type Key = Colliding;
    type IndexKey = ();
    fn primary_key(&self) -> Option<Colliding> {
        Some(Colliding(self.0))
    }
    fn index_keys(&self, _: impl FnMut(())) {}
}

#[test]
fn keys_with_equal_hashes_are_all_found() {
    let mut t: Table<CRow> = Table::new();
    for k in 0..100u8 {
        t.insert(CRow(k, i32::from(k))).unwrap();
    }
    assert!(t.insert(CRow(5, 0)).is_err());
    let check = |t: &Table<CRow>, want: &[(u8, i32)]| {
        for &(k, v) in want {
            assert_eq!(t.find(&Colliding(k)).map(|(_, r)| r.1), Some(v), "key {k}");
        }
        assert_eq!(t.len(), want.len());
        let h = t.rows.iter().next().map(|s| s.hash).unwrap();
        assert_eq!(t.find_by_hash(h).count(), want.len());
        for &(k, v) in want {
            assert_eq!(t.get_by_hash(h, |r| r.0 == k).map(|r| r.1), Some(v));
        }
        assert!(t.get_by_hash(h, |r| r.0 == 255).is_none());
    };
    // The row holding the table's entry goes; another takes it.
    let (first, _) = t.find(&Colliding(0)).unwrap();
    t.remove(first);
    for k in (2..100u8).step_by(3) {
        let (id, _) = t.find(&Colliding(k)).unwrap();
        t.remove(id);
    }
    let (id, _) = t.find(&Colliding(1)).unwrap();
    assert!(t.update(id, CRow(4, 0)).is_err());
    t.update(id, CRow(200, -1)).unwrap();
    let mut want: Vec<(u8, i32)> = (1..100u8)
        .filter(|k| k % 3 != 2)
        .map(|k| if k == 1 { (200, -1) } else { (k, i32::from(k)) })
        .collect();
    check(&t, &want);
    assert!(t.find(&Colliding(1)).is_none());
    // Renumbering on insert and a restore keep every key findable.
    for k in 0..150u8 {
        if let Some((id, _)) = t.find(&Colliding(k)) {
            if k.is_multiple_of(2) {
                t.remove(id);
            }
        }
    }
    want.retain(|(k, _)| k % 2 == 1 || *k >= 150);
    t.insert(CRow(250, 9)).unwrap();
    want.push((250, 9));
    check(&t, &want);
    let back: Table<CRow> = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
    check(&back, &want);
    // An upsert by key finds its row among the colliding ones, or appends.
    let h = hashed(&Colliding(0));
    t.replace_or_insert(CRow(3, 33), Some(h)).unwrap();
    t.replace_or_insert(CRow(251, 1), Some(h)).unwrap();
    for w in want.iter_mut().filter(|w| w.0 == 3) {
        w.1 = 33;
    }
    want.push((251, 1));
    check(&t, &want);
}

/// A row keyed by a string, as the generated rows are (a `Total` key).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct SRow {
    code: Option<std::sync::Arc<str>>,
    val: i32,
}

impl TableRow for SRow {
    type Key = crate::aggregate::Total<(Option<std::sync::Arc<str>>,)>;
    type IndexKey = ();
    fn primary_key(&self) -> Option<Self::Key> {
        Some(crate::aggregate::Total((self.code.clone(),)))
    }
    fn index_keys(&self, _: impl FnMut(())) {}
}

proptest! {
    /// Probes and upserts by key find the row with the key, by short keys (packed whole
    /// into their hashes: no compare) and long ones, before and after the table holds a
    /// long key; NULL keys are found by nothing.
    #[test]
    fn probes_by_short_and_long_keys(ops in proptest::collection::vec(
        (proptest::option::of(prop_oneof!["[ab]{0,3}", "[ab]{6,8}"]), -5i32..5, any::<bool>()),
        1..200,
    )) {
        let mut table: Table<SRow> = Table::new();
        let mut model: Vec<SRow> = Vec::new();
        for (code, val, upsert) in ops {
            let probed = probe(&(code.as_deref(),));
            if upsert {
                let r = SRow { code: code.as_deref().map(Into::into), val };
                let got = table.replace_or_insert(&r, probed);
                let null_held = model.iter().any(|m| m.code.is_none());
                match model.iter_mut().find(|m| m.code.is_some() && m.code == r.code) {
                    Some(m) => {
                        prop_assert!(got.is_ok());
                        *m = r;
                    }
                    None if r.code.is_none() && null_held => {
                        prop_assert!(got.is_err());
                    }
                    None => {
                        prop_assert!(got.is_ok());
                        model.push(r);
                    }
                }
            }
            let want = model.iter().find(|m| m.code.is_some() && m.code.as_deref() == code.as_deref());
            let got = probed.and_then(|k| {
                table.get_by_key(k, |r| r.code.as_deref() == code.as_deref())
            });
            prop_assert_eq!(got, want);
            prop_assert_eq!(table.len(), model.len());
        }
        let all: Vec<&SRow> = table.iter().map(|(_, r)| r).collect();
        prop_assert_eq!(all, model.iter().collect::<Vec<_>>());
    }
}

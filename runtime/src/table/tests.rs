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
                Op::Roundtrip => {
                    let json = serde_json::to_string(&table).unwrap();
                    table = serde_json::from_str(&json).unwrap();
                }
                Op::Update(..) | Op::Remove(..) => {}
            }
            let rows: Vec<(RowId, &Row)> = table.iter().collect();
            let expected: Vec<(RowId, &Row)> = model.iter().map(|(id, r)| (*id, r)).collect();
            prop_assert_eq!(rows, expected);
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

impl TableRow for Plain {
    type Key = ();
    type IndexKey = ();
    fn primary_key(&self) -> Option<()> {
        None
    }
    fn index_keys(&self, _: impl FnMut(())) {}
}

#[test]
fn a_table_without_keys_takes_duplicates_and_keeps_ids_after_restore() {
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
    // Ids keep growing after a restore, so insertion order survives it.
    let d = back.insert(Plain(3)).unwrap();
    assert!(d > c);
    let rows: Vec<i32> = back.iter().map(|(_, r)| r.0).collect();
    assert_eq!(rows, [5, 1, 3]);
    back.clear();
    assert!(back.is_empty() && back.lookup(&()).next().is_none());
}

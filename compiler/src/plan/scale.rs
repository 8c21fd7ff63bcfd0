//! Whether an app runs on several workers (DESIGN 11): the placement of its queries is
//! [`Placement`](super::physical::Placement) (partitioned queries on every worker, the
//! others on worker 0); this module decides whether that placement can be carried out with
//! every event going to exactly one worker, which is what `--workers N` implements today.
//!
//! An app is split across workers when it has a partition and, for every stream, the
//! queries that read it and those that write it are all in the same partition or all outside
//! partitions, each input stream read by a partition is one of its key streams, the key
//! streams of a partition have keys of one type, and the app has no tables and no triggers.
//! A stream written by one partition's queries may also be read by queries outside
//! partitions ([`crossing`]): its rows cross to worker 0, which runs those queries on them
//! in timestamp order. Rows from outside into a partition, tables shared by the keys of
//! several workers and triggers are not split yet: such an app runs whole on one worker,
//! whatever `--workers` says.

use super::AppPlan;
use crate::sema::ir::PartitionBy;

/// `Ok(())` when `--workers N` splits the app, else why it runs on one worker.
pub fn scalable(plan: &AppPlan) -> Result<(), String> {
    if plan.partitions.is_empty() {
        return Err("no partition".into());
    }
    if let Some(s) = plan.streams.iter().find(|s| s.table.is_some()) {
        return Err(format!(
            "table `{}` (tables are not shared across workers yet)",
            s.name
        ));
    }
    if let Some(s) = plan.streams.iter().find(|s| s.trigger.is_some()) {
        return Err(format!("trigger `{}` (triggers run on one worker)", s.name));
    }
    for (i, s) in plan.streams.iter().enumerate() {
        let readers = s.consumers.iter().map(|&(q, _)| plan.queries[q].partition);
        let writers = plan
            .queries
            .iter()
            .filter(|q| q.target == i)
            .map(|q| q.partition);
        let mut sides: Vec<Option<usize>> = Vec::new();
        for p in readers.clone().chain(writers) {
            if !sides.contains(&p) {
                sides.push(p);
            }
        }
        if s.consumers.is_empty() {
            continue;
        }
        if sides.len() > 1 && !crosses(plan, i) {
            return Err(format!(
                "stream `{}` is read or written both inside and outside a partition (or by two partitions)",
                s.name
            ));
        }
        if let Some(Some(p)) = sides.first() {
            if s.input && !plan.partitions[*p].keys.iter().any(|(k, _)| *k == i) {
                return Err(format!(
                    "stream `{}` is read inside a partition without being partitioned",
                    s.name
                ));
            }
        }
    }
    for p in &plan.partitions {
        let mut tys = p.keys.iter().map(|(_, by)| match by {
            PartitionBy::Value(e) => Some(e.ty),
            PartitionBy::Range(_) => None,
        });
        let first = tys.next().flatten();
        if tys.any(|t| t != first) {
            return Err("a partition's keys differ in type".into());
        }
    }
    Ok(())
}

/// Whether stream `stream` carries rows from a partition to queries outside partitions: it
/// is written by queries of one partition only, and read by queries of that partition and by
/// queries outside partitions (at least one).
pub fn crosses(plan: &AppPlan, stream: usize) -> bool {
    let s = &plan.streams[stream];
    if s.input || s.table.is_some() || s.trigger.is_some() {
        return false;
    }
    let mut writers = plan
        .queries
        .iter()
        .filter(|q| q.target == stream)
        .map(|q| q.partition);
    let Some(Some(p)) = writers.next() else {
        return false;
    };
    if writers.any(|w| w != Some(p)) {
        return false;
    }
    let readers = || s.consumers.iter().map(|&(q, _)| plan.queries[q].partition);
    readers().all(|r| r.is_none() || r == Some(p)) && readers().any(|r| r.is_none())
}

/// The streams whose rows cross from a partition to worker 0 ([`crosses`]) when the app is
/// split across workers; none when it is not.
pub fn crossing(plan: &AppPlan) -> Vec<usize> {
    if scalable(plan).is_err() {
        return Vec::new();
    }
    (0..plan.streams.len())
        .filter(|&i| crosses(plan, i))
        .collect()
}

//! The physical plan: how each query of the logical plan runs.
//!
//! Computed once, after the logical plan ([`super::plan`]), and read by codegen, which makes
//! no decision of its own: per query an [`Operator`] (filter/project, window aggregate,
//! join, pattern, table statement) wrapping a struct of the same name with its choices (the
//! window's kind and the selector's [`Mode`], the store of each join side, chain or NFA,
//! which inputs take their events by value), whether its rows go straight to the sink, and
//! its [`Placement`] on workers; per stream the query, if any, that takes its events by
//! value and whether what is inserted into it only goes to the sink.

use super::keys::{equi_pairs, table_lookup, Lookup};
use super::{AppPlan, QueryPlan};
use crate::sema::ir::BoundJoin;
use crate::sema::ir::TableOp;
use crate::sema::ir::{BoundPattern, PatternNode};
use crate::sema::ir::{BoundWindow, ExprKind, QueryKind, TExpr, WindowCondition, WindowKind};
use crate::sema::Type;
use crate::syntax::ast::{OutputEvents, RateMode};

/// The physical plan of an application, parallel to the logical [`AppPlan`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PhysicalPlan {
    /// Per stream of [`AppPlan::streams`].
    pub streams: Vec<StreamPhysical>,
    /// Per query of [`AppPlan::queries`].
    pub queries: Vec<PhysicalQuery>,
}

/// How the events of one stream are delivered.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamPhysical {
    /// The query that takes the events sent to this input stream by value (the stream's
    /// only reader, able to use owned events): `send_<stream>` hands them to it.
    pub owner: Option<usize>,
    /// Rows inserted into the stream only go to the output sink (an output stream no query
    /// reads, in an app without cycles): a query may call the sink directly.
    pub sink_only: bool,
    /// Something reaches the stream's readers through `consume_<stream>` (a query or a
    /// trigger inserts into it, or no query takes its sent events by value).
    pub consumed: bool,
}

/// How one query runs.
#[derive(Clone, Debug, PartialEq)]
pub struct PhysicalQuery {
    /// The operator.
    pub operator: Operator,
    /// Its rows go straight to the sink: no output shaping, no table, and the target only
    /// goes to the sink ([`StreamPhysical::sink_only`]).
    pub direct: bool,
    /// Where it runs.
    pub placement: Placement,
}

/// Where a query runs (DESIGN section 11 makes this a decision of its own; today every
/// query runs on one worker and a partitioned query's keys on every worker of its partition).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// On this worker.
    Worker(usize),
    /// On every worker, each with its own keys (partitioned queries).
    EveryWorker,
}

/// The operator of one query.
#[derive(Clone, Debug, PartialEq)]
pub enum Operator {
    /// Nothing runs: a stateless query that only asks for expired events.
    Silent,
    /// A stateless single-stream query: filter, then project (into a stream, or INSERT or
    /// UPSERT into a table).
    FilterProject(FilterProject),
    /// A single-stream query with state: filter, window, aggregation, output clauses.
    WindowAggregate(WindowAggregate),
    /// A join of streams and tables.
    Join(Join),
    /// A pattern or sequence.
    Pattern(Pattern),
    /// An UPDATE or DELETE statement, run for each event of its stream.
    TableStatement(TableStatement),
}

/// A stateless filter and projection.
#[derive(Clone, Debug, PartialEq)]
pub struct FilterProject {
    /// The query takes its events by value ([`StreamPhysical::owner`]).
    pub takes_events: bool,
    /// Attributes its rows can move out of an owned event ([`movable`]).
    pub movable: Vec<usize>,
}

/// A window (or none) with aggregation and the output clauses.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowAggregate {
    /// The window's kind, if any.
    pub window: Option<WindowKind>,
    /// How the selector runs over it.
    pub mode: Mode,
    /// The query takes its events by value (it is its stream's owner and has a use for it:
    /// [`can_take_events`]).
    pub takes_events: bool,
    /// Attributes of the owned arriving event moved rather than cloned: slotted, the STRING
    /// GROUP BY columns move into its current row (the window keeps no copy); on arrival,
    /// the whole event moves into what its group keeps of its last event.
    pub moves: Vec<usize>,
    /// The window's current events are arrivals only (sliding windows other than `delay`,
    /// in sliding or slotted mode): a timer never emits a current row.
    pub current_is_arrival: bool,
    /// Current rows read the arriving event: it is the window's current event (sliding
    /// windows other than `delay` emit a current event only for the arrival, from its
    /// insert), and the row takes no moved attributes.
    pub reads_arrival: bool,
    /// The owned arrival's STRING columns move into its current row (the window's insert
    /// reads nothing else of it).
    pub moves_arrival: bool,
    /// What the window keeps of each event (attribute indexes of the input), when it keeps
    /// a projection of them (not without a window, nor on arrival, which keeps nothing).
    pub keeps: Option<Vec<usize>>,
}

/// The mode of a single-stream selector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One row per current and expired event; groups are looked up by key.
    Sliding,
    /// One row per group per batch, from the events the window replays when a batch closes.
    Batch,
    /// [`Mode::Sliding`] for a grouped query over a sliding window: each windowed event
    /// carries the position of its group, looked up once on arrival, so an expiry reaches
    /// the group without hashing, and GROUP BY attributes are read from the group's key
    /// instead of being kept in the window.
    Slotted,
    /// A batch window whose batches are aggregated as events arrive (no expired events are
    /// read, so the window only marks batch boundaries).
    OnArrival,
}

/// A join.
#[derive(Clone, Debug, PartialEq)]
pub struct Join {
    /// One per input.
    pub sides: Vec<JoinSide>,
    /// Both sides keep their events in one runtime `JoinPair`: an arrival finds its key once
    /// for its probe and for keeping it.
    pub paired: bool,
    /// Attributes of side 0's owned event that move into the joined row (side 0 looks up a
    /// table by primary key, so its event meets at most one row).
    pub moves: Vec<usize>,
}

/// One side of a join.
#[derive(Clone, Debug, PartialEq)]
pub struct JoinSide {
    /// What the side keeps for the other side's probes.
    pub store: SideStore,
    /// The side takes its events by value.
    pub takes_events: bool,
    /// The side's window, if any.
    pub window: Option<WindowKind>,
}

/// What one join side keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SideStore {
    /// Nothing (a side without a window only triggers).
    None,
    /// A table, looked up (by the ON condition) or scanned.
    Table(TableAccess),
    /// A window, scanned.
    Scan,
    /// A window with a key index (`JoinIndex`) from ON's key equalities.
    Index,
    /// An indexed window holding handles into a `JoinStore` that keeps the events once.
    Stored,
}

/// How the rows of a table are found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableAccess {
    /// By primary key.
    Primary,
    /// By a secondary index.
    Index,
    /// Every row.
    Scan,
}

/// A pattern or sequence.
#[derive(Clone, Debug, PartialEq)]
pub struct Pattern {
    /// Chain or NFA.
    pub shape: PatternShape,
    /// Per input, whether it takes its events by value.
    pub takes_events: Vec<bool>,
}

/// How a pattern runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatternShape {
    /// The runtime `pattern::Chain`: one-event elements joined by `->`, `EVERY` on the first.
    Chain,
    /// The general NFA.
    Nfa,
}

/// An UPDATE or DELETE statement.
#[derive(Clone, Debug, PartialEq)]
pub struct TableStatement {
    /// `true` for UPDATE, `false` for DELETE.
    pub update: bool,
}

impl WindowKind {
    /// A batch window: it emits `Reset ... Flush` chunks, and aggregation over it gives one
    /// row per batch (per group).
    pub fn is_batch(self) -> bool {
        use WindowKind::*;
        matches!(
            self,
            LengthBatch | TimeBatch | Hop | ExternalTimeBatch | Cron
        )
    }

    /// Releases, sooner or later, every event it takes as an expired event: `session` drops
    /// an event too late for any session without an expiry, `firstUnique` and `delay` never
    /// expire their events, `frequent`/`lossyFrequent` drop some without an expiry.
    pub fn releases_every_event(self) -> bool {
        use WindowKind::*;
        matches!(
            self,
            Length | Time | TimeLength | ExternalTime | Unique | Sort | Expression | Session
        )
    }

    /// Its emissions mirror its contents first-in-first-out, in the window's order (see the
    /// runtime `join` tests): a hash index of its events can replace a scan. Not `unique` (a
    /// replaced event keeps its place), `sort` (sorted), `frequent` and `lossyFrequent` (an
    /// event replaced silently), `delay` (released as current), nor `expression` and `cron`
    /// (not checked).
    pub fn indexable(self) -> bool {
        use WindowKind::*;
        matches!(
            self,
            Length
                | LengthBatch
                | Time
                | TimeBatch
                | Hop
                | TimeLength
                | ExternalTime
                | ExternalTimeBatch
                | Session
                | FirstUnique
        )
    }

    /// Indexable, emits an event as current as it arrives and as expired as it leaves, and
    /// reads nothing of it: an indexed join side keeps its events once, in a `JoinStore`, and
    /// the window holds handles.
    pub fn storable(self) -> bool {
        matches!(self, WindowKind::Length | WindowKind::Time)
    }

    /// A batch closed by time alone (or by its n-th event, aggregated by then): each event
    /// can be aggregated as it arrives.
    pub fn closes_by_itself(self) -> bool {
        use WindowKind::*;
        matches!(self, TimeBatch | LengthBatch | Cron)
    }

    /// Emits a current event only for the arrival, from its insert (never from a timer):
    /// sliding windows other than `delay`.
    pub fn current_is_arrival(self) -> bool {
        !self.is_batch() && self != WindowKind::Delay
    }

    /// Its current event is the arrival and its insert reads nothing else of it, so the
    /// arrival's strings can move into the current row.
    pub fn lends_arrival(self) -> bool {
        use WindowKind::*;
        matches!(self, Length | Time | TimeLength | Sort | Expression)
    }
}

/// Computes the physical plan of `plan` (whose `physical` field it does not read).
pub fn physical(plan: &AppPlan) -> PhysicalPlan {
    let mut streams: Vec<StreamPhysical> = (0..plan.streams.len())
        .map(|s| StreamPhysical {
            owner: owned_consumer(plan, s),
            sink_only: sink_only(plan, s),
            consumed: false,
        })
        .collect();
    for (s, sp) in streams.iter_mut().enumerate() {
        sp.consumed = produced(plan, s) || (plan.streams[s].input && sp.owner.is_none());
    }
    let queries = plan
        .queries
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let owner_of = |input: usize| streams[q.inputs[input]].owner == Some(i);
            let operator = operator(plan, q, &owner_of);
            PhysicalQuery {
                operator,
                direct: q.output.is_plain() && q.table_op.is_none() && streams[q.target].sink_only,
                placement: match q.partition {
                    Some(_) => Placement::EveryWorker,
                    None => Placement::Worker(0),
                },
            }
        })
        .collect();
    PhysicalPlan { streams, queries }
}

/// The operator of query `i`; `owner_of(input)` tells whether the query owns the stream of
/// its input `input`.
fn operator(plan: &AppPlan, q: &QueryPlan, owner_of: &dyn Fn(usize) -> bool) -> Operator {
    if !emits(q) {
        return Operator::Silent;
    }
    if let Some(op) = q.table_op.as_deref() {
        match op {
            TableOp::Update { .. } => {
                return Operator::TableStatement(TableStatement { update: true })
            }
            TableOp::Delete { .. } => {
                return Operator::TableStatement(TableStatement { update: false })
            }
            TableOp::Insert | TableOp::Upsert { .. } => {}
        }
    }
    match &q.kind {
        QueryKind::Single if !q.is_stateful() => Operator::FilterProject(FilterProject {
            takes_events: owner_of(0),
            movable: movable(plan, q),
        }),
        QueryKind::Single => {
            Operator::WindowAggregate(window_aggregate(plan, q, owner_of(0) && can_take_events(q)))
        }
        QueryKind::Join(join) => {
            let two = q.inputs.len() == 2;
            let keyed = two
                && join
                    .steps
                    .first()
                    .and_then(|s| s.on.as_ref())
                    .is_some_and(|on| !equi_pairs(on, 0, 1).is_empty());
            let sides: Vec<JoinSide> = join
                .sides
                .iter()
                .enumerate()
                .map(|(n, side)| {
                    let window = side.window.as_ref().map(|w| w.kind());
                    let indexed = keyed
                        && n < 2
                        && join.sides[1 - n].triggers
                        && window.is_some_and(WindowKind::indexable);
                    let store = match window {
                        _ if side.table => SideStore::Table(table_access(plan, q, join, n)),
                        None => SideStore::None,
                        Some(w) if indexed && w.storable() => SideStore::Stored,
                        Some(_) if indexed => SideStore::Index,
                        Some(_) => SideStore::Scan,
                    };
                    JoinSide {
                        store,
                        takes_events: two && owner_of(n),
                        window,
                    }
                })
                .collect();
            let paired = two
                && sides
                    .iter()
                    .all(|s| s.takes_events && s.store == SideStore::Stored);
            let moves = if sides.first().is_some_and(|s| s.takes_events)
                && join.sides.get(1).is_some_and(|s| s.table)
            {
                movable(plan, q)
            } else {
                Vec::new()
            };
            Operator::Join(Join {
                sides,
                paired,
                moves,
            })
        }
        QueryKind::Pattern(p) => Operator::Pattern(Pattern {
            shape: if chain_elements(p).is_some() {
                PatternShape::Chain
            } else {
                PatternShape::Nfa
            },
            takes_events: (0..q.inputs.len())
                .map(|n| pattern_takes_events(q, n) && owner_of(n))
                .collect(),
        }),
    }
}

/// The window aggregate of single-stream stateful query `q`, taking its events by value
/// when `owned`.
fn window_aggregate(plan: &AppPlan, q: &QueryPlan, owned: bool) -> WindowAggregate {
    let mode = mode_of(q);
    let n_attrs = plan.streams[q.input].attrs.len();
    let current_is_arrival = matches!(mode, Mode::Sliding | Mode::Slotted)
        && q.window
            .as_ref()
            .is_some_and(|w| w.kind().current_is_arrival());
    // The attributes the window itself reads (its key of `session`, `unique`, ..., the time of
    // `externalTime`, the order of `sort`, what its condition reads as the event enters):
    // it keeps them even when they are GROUP BY attributes, and they never move.
    let window_reads = q
        .window
        .as_ref()
        .map(|w| window_attrs(w, n_attrs))
        .unwrap_or_default();
    let keys: Vec<usize> = key_attrs(q).into_iter().map(|(a, _)| a).collect();
    let moves: Vec<usize> = match mode {
        Mode::Slotted if owned && current_is_arrival && q.events != OutputEvents::Expired => {
            movable(plan, q)
                .into_iter()
                .filter(|a| keys.contains(a) && !window_reads.contains(a))
                .collect()
        }
        Mode::OnArrival if owned => (0..n_attrs).collect(),
        _ => Vec::new(),
    };
    let reads_arrival = current_is_arrival && moves.is_empty();
    // What the window keeps of each event: the attributes read after it (in slotted mode
    // without the GROUP BY attributes, read from the group key).
    let keeps = match (&q.window, mode) {
        (None, _) | (_, Mode::OnArrival) => None,
        (Some(w), _) => {
            let slotted = mode == Mode::Slotted;
            let skip: Vec<usize> = if slotted {
                keys.iter()
                    .copied()
                    .filter(|a| !window_reads.contains(a))
                    .collect()
            } else {
                Vec::new()
            };
            // The row and HAVING read the window's events only for expired rows when current
            // rows read the arrival.
            let rows_read = !reads_arrival || reads_expired(q);
            let row_exprs: Vec<&TExpr> = if rows_read {
                q.columns
                    .iter()
                    .map(|c| &c.expr)
                    .chain(q.having.as_ref())
                    .collect()
            } else {
                Vec::new()
            };
            let exprs = row_exprs
                .into_iter()
                .chain(q.aggregates.iter().filter_map(|a| a.arg.as_ref()))
                .chain(if slotted { &[][..] } else { &q.group_by[..] });
            let mut read = attrs_read(exprs, &skip);
            // What the window itself reads of the events it holds (the sort keys, the
            // condition's attributes), GROUP BY attributes included.
            if w.kind() == WindowKind::Sort || w.condition.is_some() {
                read.extend(window_attrs(w, n_attrs));
                read.sort_unstable();
                read.dedup();
            }
            Some(read)
        }
    };
    WindowAggregate {
        window: q.window.as_ref().map(|w| w.kind()),
        mode,
        takes_events: owned,
        moves,
        current_is_arrival,
        reads_arrival,
        moves_arrival: owned && reads_arrival && owns_arrival(q),
        keeps,
    }
}

/// The GROUP BY keys of `q` that are plain attributes of its (single) input, with their
/// position among the keys: `(attribute, key index)`.
pub fn key_attrs(q: &QueryPlan) -> Vec<(usize, usize)> {
    q.group_by
        .iter()
        .enumerate()
        .filter_map(|(i, g)| match g.kind {
            ExprKind::Attr { input: 0, attr, .. } => Some((attr, i)),
            _ => None,
        })
        .collect()
}

/// The attributes of input 0 that `exprs` read, in order, but those in `skip`.
pub fn attrs_read<'e>(exprs: impl Iterator<Item = &'e TExpr>, skip: &[usize]) -> Vec<usize> {
    let mut read = std::collections::BTreeSet::new();
    for e in exprs {
        e.visit(&mut |x| {
            if let ExprKind::Attr { input: 0, attr, .. } = x.kind {
                if !skip.contains(&attr) {
                    read.insert(attr);
                }
            }
        });
    }
    read.into_iter().collect()
}

/// The attributes of its input (of `n`) that window `w` reads of an arriving event or of
/// the events it holds: its attribute arguments and those its expression condition reads.
fn window_attrs(w: &BoundWindow, n: usize) -> Vec<usize> {
    let mut read = attrs_read(w.attrs.iter(), &[]);
    if let Some(c) = &w.condition {
        read.extend(condition_attrs(c, n));
    }
    read.sort_unstable();
    read.dedup();
    read
}

/// The attributes of the window's events that expression window condition `c` reads (of the
/// newest or the oldest event; `n` is the number of attributes: attribute `n` stands for the
/// timestamp).
fn condition_attrs(c: &WindowCondition, n: usize) -> Vec<usize> {
    let mut read = Vec::new();
    let exprs = std::iter::once(&c.expr).chain(c.aggregates.iter().filter_map(|a| a.arg.as_ref()));
    for e in exprs {
        e.visit(&mut |x| {
            if let ExprKind::Attr { attr, .. } = x.kind {
                if attr < n && !read.contains(&attr) {
                    read.push(attr);
                }
            }
        });
    }
    read
}

/// How join `q` finds the rows of its table side `n`: the cheapest lookup its ON condition
/// allows ([`table_lookup`]).
fn table_access(plan: &AppPlan, q: &QueryPlan, join: &BoundJoin, n: usize) -> TableAccess {
    let on = join.steps.first().and_then(|s| s.on.as_ref());
    let keys = plan.streams[q.inputs[n]].table.as_ref();
    match keys.map(|k| table_lookup(k, on, n)) {
        Some(Lookup::Primary(_)) => TableAccess::Primary,
        Some(Lookup::Index(..)) => TableAccess::Index,
        _ => TableAccess::Scan,
    }
}

/// Whether query `q` emits anything: a stateless query asking only for expired events
/// emits nothing.
pub fn emits(q: &QueryPlan) -> bool {
    q.is_stateful() || q.events != OutputEvents::Expired
}

/// Whether something inserts into `stream` (a query or its trigger).
fn produced(plan: &AppPlan, stream: usize) -> bool {
    plan.streams[stream].trigger.is_some() || plan.queries.iter().any(|q| q.target == stream)
}

/// The query that may take events sent to input stream `stream` by value: the stream's only
/// reader, a stateless single-stream query outside partitions, or a stateful query, join or
/// chain pattern with a use for owned events when nothing else inserts into the stream.
fn owned_consumer(plan: &AppPlan, stream: usize) -> Option<usize> {
    let s = &plan.streams[stream];
    let readers: Vec<usize> = s
        .consumers
        .iter()
        .filter(|(i, _)| emits(&plan.queries[*i]))
        .map(|&(i, _)| i)
        .collect();
    match readers.as_slice() {
        [i] if s.input => {
            let q = &plan.queries[*i];
            let stateless = matches!(q.kind, QueryKind::Single)
                && !q.is_stateful()
                && q.partition.is_none()
                && q.inputs.len() == 1
                // Rows inserted or upserted into a table move into it; UPDATE and DELETE
                // statements read the event.
                && matches!(
                    q.table_op.as_deref(),
                    None | Some(TableOp::Insert | TableOp::Upsert { .. })
                );
            // A stateful query gets only the by-value method, so nothing else may need
            // `consume_<stream>`.
            let produced = produced(plan, stream);
            // A partitioned query takes events of a stream its partition is keyed by.
            let keyed = q
                .partition
                .is_none_or(|p| plan.partitions[p].keys.iter().any(|(k, _)| *k == stream));
            let stateful = !produced && keyed && can_take_events(q);
            // A join taking events by value on the side reading the stream.
            let join = !produced
                && s.consumers
                    .iter()
                    .any(|&(c, input)| c == *i && join_takes_events(plan, q, input));
            // A chain pattern whose first element alone reads the stream.
            let pattern = !produced
                && s.consumers
                    .iter()
                    .any(|&(c, input)| c == *i && pattern_takes_events(q, input));
            (stateless || stateful || join || pattern).then_some(*i)
        }
        _ => None,
    }
}

/// Whether rows inserted into `stream` only go to the output sink.
fn sink_only(plan: &AppPlan, stream: usize) -> bool {
    let s = &plan.streams[stream];
    s.output && !plan.has_cycle && s.consumers.iter().all(|(i, _)| !emits(&plan.queries[*i]))
}

/// Whether join `q` can take the events of its side `side` by value:
/// - side 0, a stream without a window whose arrival meets at most one row (side 1 is an
///   in-memory table the ON condition looks up by primary key): the event's STRING columns
///   move into the row;
/// - either side of a two-stream join on ON's key equalities, when the side keeps its
///   events in a `JoinStore` (a `length` or `time` window): the event moves into the store,
///   after it probed the other side (the query emits current rows only and aggregates
///   nothing, so its own window's expiries emit nothing and the order is unchanged).
///
/// Both only for inner joins without aggregation that emit current rows, outside partitions.
fn join_takes_events(plan: &AppPlan, q: &QueryPlan, side: usize) -> bool {
    let QueryKind::Join(join) = &q.kind else {
        return false;
    };
    let join: &BoundJoin = join;
    let [first, second] = &join.sides[..] else {
        return false;
    };
    let simple = q.inputs[0] != q.inputs[1]
        && !join.optional(0)
        && !join.optional(1)
        && q.aggregates.is_empty()
        && q.group_by.is_empty()
        && q.events == OutputEvents::Current
        && q.partition.is_none();
    let on = join.steps.first().and_then(|s| s.on.as_ref());
    if !simple {
        return false;
    }
    if first.table || second.table {
        let by_key = side == 0
            && second.table
            && plan.streams[q.inputs[1]]
                .table
                .as_ref()
                .is_some_and(|keys| {
                    !keys.external() && matches!(table_lookup(keys, on, 1), Lookup::Primary(_))
                });
        return by_key
            && !first.table
            && first.window.is_none()
            && first.triggers
            && !movable(plan, q).is_empty();
    }
    let keyed = on.is_some_and(|on| !equi_pairs(on, 0, 1).is_empty());
    let own = &join.sides[side];
    keyed
        && own.triggers
        && join.sides[1 - side].triggers
        && own.window.as_ref().is_some_and(|w| w.kind().storable())
}

/// The STRING attributes a row of `q` may move out of its (input 0) event: those it uses
/// exactly once, as a whole column.
pub fn movable(plan: &AppPlan, q: &QueryPlan) -> Vec<usize> {
    let mut uses = vec![0usize; plan.streams[q.input].attrs.len()];
    for c in &q.columns {
        c.expr.visit(&mut |e| {
            if let ExprKind::Attr { input: 0, attr, .. } = e.kind {
                if let Some(u) = uses.get_mut(attr) {
                    *u += 1;
                }
            }
        });
    }
    q.columns
        .iter()
        .filter_map(|c| match c.expr.kind {
            ExprKind::Attr { input: 0, attr, .. }
                if c.expr.ty == Type::String && uses.get(attr) == Some(&1) =>
            {
                Some(attr)
            }
            _ => None,
        })
        .collect()
}

/// Whether `q` reads expired events (directly, or through a snapshot rate limiter, which
/// keeps the latest row and so also needs the rows of leaving events).
pub fn reads_expired(q: &QueryPlan) -> bool {
    q.events != OutputEvents::Current
        || q.output
            .rate
            .as_ref()
            .is_some_and(|r| r.mode == RateMode::Snapshot)
}

/// The mode of single-stream stateful query `q`.
fn mode_of(q: &QueryPlan) -> Mode {
    let grouped = !q.group_by.is_empty();
    let aggregates = !q.aggregates.is_empty();
    match q.window.as_ref().map(|w| w.kind()) {
        None => Mode::Sliding,
        Some(w) if w.is_batch() => {
            // Windows whose batch is closed by time alone (or by its n-th event, which has
            // been aggregated by then) can aggregate each event as it arrives.
            if (grouped || aggregates) && !reads_expired(q) && w.closes_by_itself() {
                Mode::OnArrival
            } else {
                Mode::Batch
            }
        }
        Some(_) if grouped && aggregates => Mode::Slotted,
        Some(_) => Mode::Sliding,
    }
}

/// Whether single-stream stateful query `q` has a use for owning its input events: a
/// slotted window moves the STRING GROUP BY attributes of the arriving event into its row
/// (the window does not keep them), a batch aggregated on arrival moves the last event's, a
/// sliding window moves the arrival's STRING columns into its current row.
fn can_take_events(q: &QueryPlan) -> bool {
    matches!(q.kind, QueryKind::Single)
        && q.table_op.is_none()
        && q.inputs.len() <= 1
        && (matches!(mode_of(q), Mode::Slotted | Mode::OnArrival) || owns_arrival(q))
}

/// Whether query `q` (sliding mode) can move its arriving event's strings into its current
/// row: the row has some, its window's current event is the arrival and the window's insert
/// reads nothing else of it.
fn owns_arrival(q: &QueryPlan) -> bool {
    // Only worth it when the row has a STRING attribute to move.
    let strings = q.columns.iter().any(|c| {
        c.expr.ty == Type::String && matches!(c.expr.kind, ExprKind::Attr { input: 0, .. })
    });
    strings
        && matches!(q.kind, QueryKind::Single)
        && mode_of(q) == Mode::Sliding
        && q.events != OutputEvents::Expired
        && q.window.as_ref().is_some_and(|w| w.kind().lends_arrival())
}

/// The leaves of pattern `p` (of query `q`) reading `stream`: (node index, input,
/// condition).
pub fn leaves_of<'p>(
    q: &QueryPlan,
    p: &'p BoundPattern,
    stream: usize,
) -> Vec<(usize, usize, Option<&'p TExpr>)> {
    p.nodes
        .iter()
        .enumerate()
        .filter_map(|(leaf, n)| match n {
            PatternNode::Stream { input, filter, .. }
            | PatternNode::Absent { input, filter, .. }
                if q.inputs[*input] == stream =>
            {
                Some((leaf, *input, filter.as_ref()))
            }
            _ => None,
        })
        .collect()
}

/// The element nodes of `p` in order when it is a chain, which the runtime's
/// `pattern::Chain` runs (its `fits`): a `PATTERN` of elements of one event each joined by
/// `->`, the first, and only it, under `EVERY`; `None` for other patterns.
fn chain_elements(p: &BoundPattern) -> Option<Vec<usize>> {
    /// The elements under `node` in order, with whether each is under `EVERY`.
    fn leaves(p: &BoundPattern, node: usize, out: &mut Vec<(usize, bool)>) -> bool {
        match p.nodes.get(node) {
            Some(PatternNode::Then(a, b)) => leaves(p, *a, out) && leaves(p, *b, out),
            Some(PatternNode::Stream { .. }) => {
                out.push((node, false));
                true
            }
            Some(PatternNode::Every(inner))
                if matches!(p.nodes.get(*inner), Some(PatternNode::Stream { .. })) =>
            {
                out.push((*inner, true));
                true
            }
            _ => false,
        }
    }
    let mut list = Vec::new();
    let chain = !p.sequence
        && leaves(p, p.root, &mut list)
        && list.iter().enumerate().all(|(i, &(node, every))| {
            every == (i == 0)
                && matches!(
                    p.nodes[node],
                    PatternNode::Stream {
                        min: 1,
                        max: Some(1),
                        ..
                    }
                )
        });
    chain.then(|| list.into_iter().map(|(node, _)| node).collect())
}

/// Whether chain pattern `q` can take the events of its input `input` by value: the input's
/// stream is read by the chain's first element alone (no partial match waits for it), so an
/// event starts at most one partial match, which moves what it keeps out of the event.
/// Outside partitions.
fn pattern_takes_events(q: &QueryPlan, input: usize) -> bool {
    let QueryKind::Pattern(p) = &q.kind else {
        return false;
    };
    let Some(elements) = chain_elements(p) else {
        return false;
    };
    let stream = q.inputs[input];
    let leaves = leaves_of(q, p, stream);
    q.partition.is_none()
        && q.inputs.iter().filter(|&&s| s == stream).count() == 1
        && matches!(leaves.as_slice(), [(leaf, _, _)] if elements.first() == Some(leaf))
}

impl PhysicalPlan {
    /// The join of query `q` (a join query).
    pub fn join(&self, q: usize) -> Option<&Join> {
        match &self.queries.get(q)?.operator {
            Operator::Join(j) => Some(j),
            _ => None,
        }
    }
}

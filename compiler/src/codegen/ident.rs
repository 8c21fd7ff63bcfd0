//! The identifiers generated code declares, made in one place (as askama's generator keeps
//! its buffer and variable names together): methods and fields of the `App` derived from a
//! stream, query or partition, the types generated per query, and the numbered `__ef_`
//! locals. Each takes the converted base name ([`crate::names`]: a stream's snake_case base,
//! a query's method, a generated type's CamelCase prefix), so two generators asking for the
//! same thing get the same identifier, and no two things share one.

use proc_macro2::Ident;
use quote::format_ident;

// Per stream (its snake_case base, `StreamNames::snake`).

/// `send_<stream>`: the app's entry for events of an input stream.
pub(crate) fn send(stream: &str) -> Ident {
    format_ident!("send_{}", stream)
}

/// `consume_<stream>`: hands an event of the stream to the queries reading it.
pub(crate) fn consume(stream: &str) -> Ident {
    format_ident!("consume_{}", stream)
}

/// `cross_<stream>`: hands a row that crossed to worker 0 to the queries outside
/// partitions reading the stream (DESIGN 11).
pub(crate) fn cross(stream: &str) -> Ident {
    format_ident!("cross_{}", stream)
}

/// `on_<stream>`: the `Output` trait's method receiving the stream's events.
pub(crate) fn on(stream: &str) -> Ident {
    format_ident!("on_{}", stream)
}

/// `emit_<stream>`: delivers a row inserted into the stream.
pub(crate) fn emit(stream: &str) -> Ident {
    format_ident!("emit_{}", stream)
}

/// `trigger_<stream>_next`: when the trigger fires next.
pub(crate) fn trigger_next(stream: &str) -> Ident {
    format_ident!("trigger_{}_next", stream)
}

/// `table_<stream>`: the `App` field holding a table.
pub(crate) fn table(stream: &str) -> Ident {
    format_ident!("table_{}", stream)
}

/// `__Ef<Table>IndexKey`: the enum of a table's secondary-index keys.
pub(crate) fn index_key_ty(table_ty: &Ident) -> Ident {
    format_ident!("__Ef{}IndexKey", table_ty)
}

/// `I<n>`: the variant of index `n` in [`index_key_ty`].
pub(crate) fn index_variant(n: usize) -> Ident {
    format_ident!("I{}", n)
}

// Per query (its method, `query_<base>`).

/// `query_<base>`: the query's method.
pub(crate) fn query(base: &str) -> Ident {
    format_ident!("query_{}", base)
}

/// `<query>_input_<n>`: the entry of input `n` of a query reading several.
pub(crate) fn input_entry(query: &Ident, n: usize) -> Ident {
    format_ident!("{}_input_{}", query, n)
}

/// `<entry>_owned`: the entry taking its events by value.
pub(crate) fn owned(entry: &Ident) -> Ident {
    format_ident!("{}_owned", entry)
}

/// `<query>_into_table`: receives the rows a query inserts into a table.
pub(crate) fn into_table(query: &Ident) -> Ident {
    format_ident!("{}_into_table", query)
}

/// `<query>_window`: the query's window.
pub(crate) fn window(query: &Ident) -> Ident {
    format_ident!("{}_window", query)
}

/// `<query>_advance`: fires the query's timers.
pub(crate) fn advance(query: &Ident) -> Ident {
    format_ident!("{}_advance", query)
}

/// `<query>_groups` (grouped, or aggregated on arrival) or `<query>_aggregates`: the
/// aggregation state.
pub(crate) fn aggregation_state(query: &Ident, groups: bool) -> Ident {
    if groups {
        format_ident!("{}_groups", query)
    } else {
        format_ident!("{}_aggregates", query)
    }
}

/// `<query>_rows`: the row buffer kept between calls.
pub(crate) fn rows(query: &Ident) -> Ident {
    format_ident!("{}_rows", query)
}

/// `<query>_rate`: the output rate limiter.
pub(crate) fn rate(query: &Ident) -> Ident {
    format_ident!("{}_rate", query)
}

/// `<query>_rate_advance`: ends the rate limiter's periods.
pub(crate) fn rate_advance(query: &Ident) -> Ident {
    format_ident!("{}_rate_advance", query)
}

/// `<query>_retention`: the policy of an expression window's condition.
pub(crate) fn retention(query: &Ident) -> Ident {
    format_ident!("{}_retention", query)
}

/// `<query>_pattern`: the pattern's state machine.
pub(crate) fn pattern(query: &Ident) -> Ident {
    format_ident!("{}_pattern", query)
}

/// `<query>_partial_matches`: the count of the pattern's partial matches.
pub(crate) fn partial_matches(query: &Ident) -> Ident {
    format_ident!("{}_partial_matches", query)
}

/// `<query>_window_<side>`: a join side's window.
pub(crate) fn side_window(query: &Ident, side: usize) -> Ident {
    format_ident!("{}_window_{}", query, side)
}

/// `<query>_index_<side>`: a join side's key index.
pub(crate) fn side_index(query: &Ident, side: usize) -> Ident {
    format_ident!("{}_index_{}", query, side)
}

/// `<query>_pair`: the `JoinPair` of a join whose sides keep their events together.
pub(crate) fn pair(query: &Ident) -> Ident {
    format_ident!("{}_pair", query)
}

/// `<query>_side_<side>`: the method of one side of a self-join.
pub(crate) fn side_method(query: &Ident, side: usize) -> Ident {
    format_ident!("{}_side_{}", query, side)
}

/// `<query>_advance_<side>`: fires a join side's window timers.
pub(crate) fn side_advance(query: &Ident, side: usize) -> Ident {
    format_ident!("{}_advance_{}", query, side)
}

// Types generated per query (`__EfQuery<Base>`, [`crate::names::generated_type`]).

/// `<Query>Aggregates`: the query's aggregators.
pub(crate) fn aggregates_ty(camel: &str) -> Ident {
    format_ident!("{}Aggregates", camel)
}

/// `<Query>Event`: what the query's window keeps of an event.
pub(crate) fn event_ty(camel: &str) -> Ident {
    format_ident!("{}Event", camel)
}

/// `<Query>Last`: what a batch group keeps of its last event.
pub(crate) fn last_ty(camel: &str) -> Ident {
    format_ident!("{}Last", camel)
}

/// `<Query>Retention`: the policy struct of an expression window's condition.
pub(crate) fn retention_ty(camel: &str) -> Ident {
    format_ident!("{}Retention", camel)
}

/// `<Query>Pattern`: the pattern's description for the runtime.
pub(crate) fn pattern_ty(camel: &str) -> Ident {
    format_ident!("{}Pattern", camel)
}

/// `<Query>Captures`: the events a partial match holds.
pub(crate) fn captures_ty(camel: &str) -> Ident {
    format_ident!("{}Captures", camel)
}

/// `<Query>Input<n>`: what a partial match keeps of an event of input `n`.
pub(crate) fn pattern_input_ty(camel: &str, n: usize) -> Ident {
    format_ident!("{}Input{}", camel, n)
}

/// `agg_<i>`: aggregator `i` in [`aggregates_ty`].
pub(crate) fn aggregator(i: usize) -> Ident {
    format_ident!("agg_{}", i)
}

/// `__ef_v<i>`: the decoded value of attribute `i` while an input event is read.
pub(crate) fn decoded_value(i: usize) -> Ident {
    format_ident!("__ef_v{}", i)
}

// Per partition (its index).

/// `partition_<p>`: the per-key states of a partition.
pub(crate) fn partition(p: usize) -> Ident {
    format_ident!("partition_{}", p)
}

/// `partition_<p>_swap`: swaps a key's state in and out.
pub(crate) fn partition_swap(p: usize) -> Ident {
    format_ident!("partition_{}_swap", p)
}

/// `partition_<p>_active`: the key whose state is in place.
pub(crate) fn partition_active(p: usize) -> Ident {
    format_ident!("partition_{}_active", p)
}

/// `partition_<p>_purge`: drops idle keys.
pub(crate) fn partition_purge(p: usize) -> Ident {
    format_ident!("partition_{}_purge", p)
}

/// `partition_<p>_next`: the next deadline over the partition's keys.
pub(crate) fn partition_next(p: usize) -> Ident {
    format_ident!("partition_{}_next", p)
}

/// `partition_<p>_stream_<stream>`: the partition's entry for a key stream.
pub(crate) fn partition_stream(p: usize, stream: &str) -> Ident {
    format_ident!("partition_{}_stream_{}", p, stream)
}

/// `__EfPartition<p>State`: the state of one key of a partition.
pub(crate) fn partition_state_ty(p: usize) -> Ident {
    format_ident!("__EfPartition{}State", p)
}

// Numbered locals.

/// `__ef_in<n>`: input `n` of a joined row.
pub(crate) fn input(n: usize) -> Ident {
    format_ident!("__ef_in{}", n)
}

/// `__ef_side<n>`: the store of join side `n`.
pub(crate) fn side(n: usize) -> Ident {
    format_ident!("__ef_side{}", n)
}

/// `__ef_k<i>`: part `i` of a join key.
pub(crate) fn key_part(i: usize) -> Ident {
    format_ident!("__ef_k{}", i)
}

/// `__ef_acc<k>`: the rows of an outer join chain after step `k`.
pub(crate) fn joined_rows(k: usize) -> Ident {
    format_ident!("__ef_acc{}", k)
}

/// `__ef_move_<attr>`: an attribute moved out of an owned event.
pub(crate) fn moved(attr: usize) -> Ident {
    format_ident!("__ef_move_{}", attr)
}

/// `__ef_v<i>`: value `i` of a table row's key.
pub(crate) fn value(i: usize) -> Ident {
    format_ident!("__ef_v{}", i)
}

/// `__ef_pending_current` / `__ef_pending_expired`: a batch's pending rows per group.
pub(crate) fn pending(current: bool) -> Ident {
    if current {
        format_ident!("__ef_pending_current")
    } else {
        format_ident!("__ef_pending_expired")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_one_query_differ() {
        let q = query("a");
        let all = [
            input_entry(&q, 0),
            owned(&q),
            into_table(&q),
            window(&q),
            advance(&q),
            aggregation_state(&q, true),
            aggregation_state(&q, false),
            rows(&q),
            rate(&q),
            rate_advance(&q),
            retention(&q),
            pattern(&q),
            partial_matches(&q),
            side_window(&q, 0),
            side_index(&q, 0),
            pair(&q),
            side_method(&q, 0),
            side_advance(&q, 0),
        ];
        let mut names: Vec<String> = all.iter().map(ToString::to_string).collect();
        assert_eq!(names[0], "query_a_input_0");
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all.len());
        assert_eq!(send("s").to_string(), "send_s");
        assert_eq!(pending(true).to_string(), "__ef_pending_current");
    }
}

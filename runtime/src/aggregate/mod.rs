//! Placeholder; filled in by the windows/aggregation work.

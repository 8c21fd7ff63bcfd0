//! What sinks share: the `on.error` policy (DESIGN 8.2) and its delivery loop, and counters.

use super::{ConnectError, ConnectorConfig};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What a sink does when a send fails (`'on.error'`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnError {
    /// Log and skip the batch.
    Log,
    /// Skip the batch silently (counted).
    Drop,
    /// Retry `max` times with exponential backoff from `backoff`, then log and skip.
    Retry {
        /// Attempts after the first.
        max: u32,
        /// The first pause.
        backoff: Duration,
    },
    /// Retry until the peer recovers (the app waits: backpressure).
    Wait {
        /// The first pause (doubles up to 5 s).
        backoff: Duration,
    },
    /// Stop the app.
    Fail,
}

/// The longest pause between attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl OnError {
    /// The policy of a sink; `default` when `on.error` is not given.
    pub fn of(cfg: &ConnectorConfig, default: OnError) -> Result<OnError, ConnectError> {
        let backoff = match cfg.option("retry.backoff") {
            None => Duration::from_millis(100),
            Some(v) => Duration::from_millis(
                parse_millis(v)
                    .ok_or_else(|| cfg.bad("retry.backoff", format!("`{v}` is not a duration")))?,
            ),
        };
        let max = cfg.number("retry.max", 3u32)?;
        Ok(
            match cfg
                .option("on.error")
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                None => default,
                Some("log") => OnError::Log,
                Some("drop") => OnError::Drop,
                Some("retry") => OnError::Retry { max, backoff },
                Some("wait") => OnError::Wait { backoff },
                Some("fail") => OnError::Fail,
                Some(other) => return Err(cfg.bad("on.error", format!("unknown value `{other}`"))),
            },
        )
    }
}

/// `'100'` (ms), `'100 ms'`, `'2 s'`, `'1 min'`.
pub fn parse_millis(value: &str) -> Option<u64> {
    let v = value.trim();
    let digits = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let n: u64 = v[..digits].parse().ok()?;
    let factor = match v[digits..].trim().to_ascii_lowercase().as_str() {
        "" | "ms" | "millisecond" | "milliseconds" => 1,
        "s" | "sec" | "second" | "seconds" => 1000,
        "min" | "minute" | "minutes" => 60_000,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// Counters of one sink, shared with its thread.
#[derive(Debug, Default)]
pub struct SinkStats {
    /// Events delivered.
    pub sent: AtomicU64,
    /// Events given up on (`log`, `drop`, `retry` exhausted).
    pub dropped: AtomicU64,
    /// Failed attempts.
    pub errors: AtomicU64,
    /// Set when `fail` gave up: the app should stop.
    pub failed: AtomicBool,
}

impl SinkStats {
    /// Events delivered so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
    /// Events given up on so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Delivers one batch of `events` events with `attempt` under `policy`; `stop` ends a `wait`.
/// Returns `false` when the batch was not delivered. Never panics; logs on stderr with
/// `label` (which must not hold credentials).
pub fn deliver(
    policy: OnError,
    label: &str,
    events: u64,
    stats: &Arc<SinkStats>,
    stop: &AtomicBool,
    mut attempt: impl FnMut() -> Result<(), String>,
) -> bool {
    let mut pause = match policy {
        OnError::Retry { backoff, .. } | OnError::Wait { backoff } => backoff,
        _ => Duration::from_millis(100),
    };
    let mut tries = 0u32;
    let mut warned = false;
    loop {
        let err = match attempt() {
            Ok(()) => {
                stats.sent.fetch_add(events, Ordering::Relaxed);
                if warned {
                    eprintln!("eventflux: {label}: delivered again");
                }
                return true;
            }
            Err(e) => e,
        };
        stats.errors.fetch_add(1, Ordering::Relaxed);
        let give_up = match policy {
            OnError::Log | OnError::Drop | OnError::Fail => true,
            OnError::Retry { max, .. } => tries >= max,
            OnError::Wait { .. } => stop.load(Ordering::Relaxed),
        };
        if give_up {
            stats.dropped.fetch_add(events, Ordering::Relaxed);
            match policy {
                OnError::Drop => {}
                OnError::Fail => {
                    eprintln!("eventflux: {label}: {err}; stopping (on.error = 'fail')");
                    stats.failed.store(true, Ordering::Relaxed);
                }
                _ => eprintln!("eventflux: {label}: {err}; {events} event(s) not delivered"),
            }
            return false;
        }
        if !warned {
            eprintln!("eventflux: {label}: {err}; retrying");
            warned = true;
        }
        tries += 1;
        std::thread::sleep(pause);
        pause = (pause * 2).min(MAX_BACKOFF);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_gives_up_after_max_and_counts() {
        let stats = Arc::new(SinkStats::default());
        let stop = AtomicBool::new(false);
        let mut calls = 0;
        let policy = OnError::Retry {
            max: 2,
            backoff: Duration::from_millis(1),
        };
        let ok = deliver(policy, "test", 5, &stats, &stop, || {
            calls += 1;
            Err("refused".into())
        });
        assert!(!ok);
        assert_eq!(calls, 3);
        assert_eq!(stats.dropped(), 5);
        let mut calls = 0;
        let ok = deliver(policy, "test", 4, &stats, &stop, || {
            calls += 1;
            if calls < 3 {
                Err("refused".into())
            } else {
                Ok(())
            }
        });
        assert!(ok);
        assert_eq!(stats.sent(), 4);
    }

    #[test]
    fn fail_marks_the_sink() {
        let stats = Arc::new(SinkStats::default());
        let stop = AtomicBool::new(false);
        assert!(!deliver(OnError::Fail, "t", 1, &stats, &stop, || Err(
            "x".into()
        )));
        assert!(stats.failed.load(Ordering::Relaxed));
    }
}

//! The retry policy both HTTP clients share: exponential backoff from a base
//! delay, capped, with a little jitter, honouring a `retry-after` header.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest `retry-after` honoured; a longer one is cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How often and how patiently a client retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (so `max_retries + 1` attempts in all).
    pub max_retries: u32,
    /// The first retry waits about this long; each later one twice as long.
    pub base_delay: Duration,
    /// No backoff waits longer than this.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_retries: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// Attempts in all.
    pub fn attempts(&self) -> u32 {
        self.max_retries.saturating_add(1)
    }

    /// How long to wait before retry number `retry` (1 for the first retry):
    /// the server's `retry-after` when it sent one (at most
    /// [`MAX_RETRY_AFTER`]), else `base × 2^(retry-1)` capped at `max_delay`,
    /// of which the second half is jitter.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(MAX_RETRY_AFTER);
        }
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1).min(20))
            .unwrap_or(u32::MAX);
        let backoff = self
            .base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay);
        let half = backoff / 2;
        half + jitter(backoff - half)
    }
}

/// A pseudo-random duration in `0..=max`, from the clock's nanoseconds (the
/// workspace has no random number crate; this only spreads retries).
fn jitter(max: Duration) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mixed = u64::from(nanos).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    let fraction = mixed as f64 / f64::from(u32::MAX);
    max.mul_f64(fraction.clamp(0.0, 1.0))
}

/// Why one attempt failed.
#[derive(Debug)]
pub(crate) struct Failed<E> {
    pub error: E,
    pub retryable: bool,
    pub retry_after: Option<Duration>,
}

impl<E> Failed<E> {
    pub fn fatal(error: E) -> Failed<E> {
        Failed {
            error,
            retryable: false,
            retry_after: None,
        }
    }

    pub fn retry(error: E, retry_after: Option<Duration>) -> Failed<E> {
        Failed {
            error,
            retryable: true,
            retry_after,
        }
    }
}

/// Runs `op(attempt)` (attempt counts from 1) until it succeeds, fails for
/// good, or the attempts run out; returns the last error. `op` builds its
/// error knowing the attempt number, so an exhausted error can say how many
/// attempts were made.
pub(crate) async fn retrying<T, E, F, Fut>(policy: &RetryPolicy, service: &str, mut op: F) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, Failed<E>>>,
{
    let attempts = policy.attempts();
    let mut attempt = 1;
    loop {
        match op(attempt).await {
            Ok(v) => return Ok(v),
            Err(f) if !f.retryable || attempt >= attempts => return Err(f.error),
            Err(f) => {
                let wait = policy.delay(attempt, f.retry_after);
                tracing::warn!(
                    service,
                    attempt,
                    of = attempts,
                    wait_ms = wait.as_millis() as u64,
                    error = %f.error,
                    "request failed; retrying"
                );
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
        }
    }
}

/// A `retry-after` header in seconds (whole or fractional); an HTTP date or
/// anything else is ignored.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    let secs: f64 = v.parse().ok()?;
    if secs.is_finite() && secs >= 0.0 {
        Some(Duration::from_secs_f64(secs.min(MAX_RETRY_AFTER.as_secs_f64())))
    } else {
        None
    }
}

/// At most `max` characters of `s`, for error messages quoting a body.
pub(crate) fn snippet(s: &str, max: usize) -> String {
    let s = s.trim();
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", s.get(..i).unwrap_or("")),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy {
            max_retries: 10,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(4),
        };
        for (retry, full) in [(1, 500), (2, 1000), (3, 2000), (4, 4000), (5, 4000), (30, 4000)] {
            let d = p.delay(retry, None);
            let full = Duration::from_millis(full);
            assert!(
                d >= full / 2 && d <= full,
                "retry {retry}: {d:?} not in [{:?}, {full:?}]",
                full / 2
            );
        }
    }

    #[test]
    fn retry_after_wins_and_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1, Some(Duration::ZERO)), Duration::ZERO);
        assert_eq!(p.delay(3, Some(Duration::from_secs(7))), Duration::from_secs(7));
        assert_eq!(p.delay(1, Some(Duration::from_secs(3600))), MAX_RETRY_AFTER);
    }

    #[test]
    fn retry_after_header_parses_seconds_only() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(reqwest::header::RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(reqwest::header::RETRY_AFTER, "0.5".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(500)));
        h.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
        h.insert(reqwest::header::RETRY_AFTER, "-3".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn snippets_cut_on_char_boundaries() {
        assert_eq!(snippet("  héllo  ", 10), "héllo");
        assert_eq!(snippet("ééééé", 2), "éé…");
    }
}

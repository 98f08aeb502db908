//! What decides whether a due follow-up goes out now, later or never, and how long a
//! failed attempt waits before the next.

use chrono::Duration;

/// Minutes to wait after the n-th failed attempt: 2, 4, 8 … capped at an hour, with
/// ±25 % jitter so retries of many follow-ups spread out.
pub fn retry_backoff(attempt: u32) -> Duration {
    let base = 2i64.saturating_pow(attempt.clamp(1, 6)).min(60);
    let jitter = fastrand::i64(-(base * 15)..=(base * 15)); // seconds, ±25 % of base minutes
    Duration::minutes(base) + Duration::seconds(jitter)
}

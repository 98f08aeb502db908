//! Time: a clock that tests and local runs can set, and the one timestamp format used
//! in table keys and attributes.

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use std::sync::atomic::{AtomicI64, Ordering};

/// Where "now" comes from.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock set by hand (tests, `dispatch AT=…` runs).
#[derive(Debug)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        FixedClock(AtomicI64::new(at.timestamp_millis()))
    }
    pub fn set(&self, at: DateTime<Utc>) {
        self.0.store(at.timestamp_millis(), Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.0.load(Ordering::SeqCst)).unwrap_or_default()
    }
}

/// UTC, fixed width, millisecond precision (`2008-01-10T16:00:00.000Z`): strings of
/// this form sort in time order, so they can be sort keys.
pub fn utc_key<Tz: chrono::TimeZone>(t: &DateTime<Tz>) -> String {
    t.with_timezone(&Utc)
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses a stored [`utc_key`] (or any RFC 3339 time) back.
pub fn parse_time(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_key_converts_offsets_and_sorts() {
        let a = DateTime::parse_from_rfc3339("2008-01-10T11:00:00-05:00").unwrap();
        let b = DateTime::parse_from_rfc3339("2008-01-10T16:30:00+01:00").unwrap();
        assert_eq!(utc_key(&a), "2008-01-10T16:00:00.000Z");
        assert_eq!(utc_key(&b), "2008-01-10T15:30:00.000Z");
        assert!(utc_key(&b) < utc_key(&a), "15:30Z is before 16:00Z");
    }

    #[test]
    fn fixed_clock_can_be_moved() {
        let t0 = DateTime::parse_from_rfc3339("2026-12-30T10:00:00Z")
            .unwrap()
            .to_utc();
        let c = FixedClock::new(t0);
        assert_eq!(c.now(), t0);
        c.set(t0 + chrono::Duration::hours(1));
        assert_eq!(c.now() - t0, chrono::Duration::hours(1));
    }
}

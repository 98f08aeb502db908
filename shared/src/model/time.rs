//! Time: a clock that tests and local runs can set, and the one timestamp format used
//! in table keys and attributes.

use chrono::{DateTime, Datelike, FixedOffset, SecondsFormat, Utc};
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

/// The planning window, in days (ten years): no follow-up is planned more than this
/// after the time it counts from, or after now (`domain::followup`), and no configured
/// delay may be longer (`config`).
pub const MAX_PLAN_AHEAD_DAYS: i64 = 3_653;

/// The earliest [`utc_key`]: every key has a four-digit year.
pub const MIN_KEY: &str = "0000-01-01T00:00:00.000Z";
/// The latest [`utc_key`]. It sorts after every real time, so a follow-up due then never
/// comes due.
pub const MAX_KEY: &str = "9999-12-31T23:59:59.999Z";

/// UTC, fixed width, millisecond precision (`2008-01-10T16:00:00.000Z`): strings of
/// this form sort in time order, so they can be sort keys.
///
/// The year always has four digits. chrono writes a year past 9999 as `+10000-…` and
/// one before 0 as `-0001-…`, which would sort before `2026-…` and among the past; such
/// a time is written as [`MAX_KEY`] or [`MIN_KEY`] instead, so the order of keys never
/// contradicts the order of times. Times from outside are refused before that
/// (`wire::shopify` accepts 1970–9999) and planned dates are bounded
/// (`domain::followup::MAX_PLAN_AHEAD_DAYS`): this is the last guard, not a rule.
pub fn utc_key<Tz: chrono::TimeZone>(t: &DateTime<Tz>) -> String {
    let t = t.with_timezone(&Utc);
    match t.year() {
        ..=-1 => MIN_KEY.to_owned(),
        10_000.. => MAX_KEY.to_owned(),
        _ => t.to_rfc3339_opts(SecondsFormat::Millis, true),
    }
}

/// Whether `t` has a four-digit year in UTC, so that [`utc_key`] writes it as it is.
pub fn keyable<Tz: chrono::TimeZone>(t: &DateTime<Tz>) -> bool {
    (0..=9999).contains(&t.with_timezone(&Utc).year())
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
    fn utc_key_is_fixed_width_and_sorted_at_the_ends_of_time() {
        // The reported case: a time past 9999 used to be written `+10000-…`, which
        // sorts before `2026-…`.
        let late = DateTime::parse_from_rfc3339("9999-12-31T23:59:59-23:59").unwrap();
        assert_eq!(late.to_utc().year(), 10_000);
        assert!(!keyable(&late));
        assert_eq!(utc_key(&late), MAX_KEY);
        let far = late.to_utc() + chrono::Duration::days(4_000_000);
        assert_eq!(utc_key(&far), MAX_KEY);
        let early = DateTime::parse_from_rfc3339("0000-01-01T00:00:00+23:59").unwrap();
        assert_eq!(early.to_utc().year(), -1);
        assert_eq!(utc_key(&early), MIN_KEY);
        let last = DateTime::parse_from_rfc3339(MAX_KEY).unwrap();
        assert!(keyable(&last));
        assert_eq!(utc_key(&last), MAX_KEY);
        assert_eq!(
            utc_key(&DateTime::parse_from_rfc3339(MIN_KEY).unwrap()),
            MIN_KEY
        );
        let now = utc_key(&Utc::now());
        assert!(MIN_KEY < now.as_str() && now.as_str() < MAX_KEY);
        // Any instant chrono can hold: 24 characters, and keys in time order.
        let mut prev: Option<(DateTime<Utc>, String)> = None;
        for _ in 0..2_000 {
            let secs = fastrand::i64(
                DateTime::<Utc>::MIN_UTC.timestamp()..=DateTime::<Utc>::MAX_UTC.timestamp(),
            );
            let t = DateTime::from_timestamp(secs, 0).unwrap();
            let key = utc_key(&t);
            assert_eq!(key.len(), 24, "{key}");
            assert!(key.ends_with('Z') && key.as_bytes()[4] == b'-', "{key}");
            if let Some((p, pk)) = &prev {
                let (a, b) = if p <= &t { (pk, &key) } else { (&key, pk) };
                assert!(a <= b, "keys out of time order: {a} {b}");
            }
            prev = Some((t, key));
        }
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

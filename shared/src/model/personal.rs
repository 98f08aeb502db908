//! Personal-data rules every layer applies: how long order data is kept, the digest
//! that stands for a customer outside their own partition, and masking for messages
//! that may quote an address.

use crate::model::time::parse_time;
use sha2::{Digest, Sha256};

/// Days order data is kept by default (`[privacy] retention_days`): two years.
pub const DEFAULT_RETENTION_DAYS: u32 = 730;
/// Shorter retention would expire orders before their follow-ups are due.
pub const MIN_RETENTION_DAYS: u32 = 30;
pub const MAX_RETENTION_DAYS: u32 = 36_500;

const SECONDS_PER_DAY: i64 = 86_400;

/// Epoch seconds at which data of an order placed at `at` (a UTC key or any RFC 3339
/// time) expires, `days` later; `None` if `at` is not a time.
pub fn retention_expiry(at: &str, days: u32) -> Option<i64> {
    let t = parse_time(at)?;
    Some(
        t.timestamp()
            .saturating_add(i64::from(days).saturating_mul(SECONDS_PER_DAY)),
    )
}

/// A stable 64-bit digest of a customer id, for keys that live outside the customer's
/// partition (the consent topic's event receipt) and so must not carry the id itself.
pub fn customer_digest(customer_id: u64) -> u64 {
    let d = Sha256::digest(format!("aftercart-customer#{customer_id}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    u64::from_be_bytes(first)
}

/// Replaces anything that looks like an email address with `[address]`.
pub fn mask_addresses(text: &str) -> String {
    text.split(' ')
        .map(|w| if w.contains('@') { "[address]" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Drops the values serde quotes in its messages (`invalid type: string "…"`): they
/// may be personal data.
pub fn elide_quoted(message: &str) -> String {
    message
        .split('"')
        .enumerate()
        .map(|(i, part)| if i % 2 == 1 { "…" } else { part })
        .collect::<Vec<_>>()
        .join("\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::time::utc_key;
    use chrono::DateTime;

    #[test]
    fn retention_adds_whole_days_to_the_order_time() {
        // 2008-01-10T16:00:00Z is 1199980800.
        assert_eq!(
            retention_expiry("2008-01-10T16:00:00.000Z", 730),
            Some(1_199_980_800 + 730 * 86_400)
        );
        // Offsets are honoured: the same instant written in New York time.
        assert_eq!(
            retention_expiry("2008-01-10T11:00:00-05:00", 730),
            retention_expiry("2008-01-10T16:00:00Z", 730)
        );
        assert_eq!(
            retention_expiry("2008-01-10T16:00:00Z", 0),
            Some(1_199_980_800)
        );
    }

    #[test]
    fn retention_counts_days_not_calendar_years() {
        // 730 days after 2024-01-01 is 2025-12-31 (2024 is a leap year).
        let expiry = retention_expiry("2024-01-01T00:00:00Z", 730).unwrap();
        let at = DateTime::from_timestamp(expiry, 0).unwrap();
        assert_eq!(utc_key(&at), "2025-12-31T00:00:00.000Z");
    }

    #[test]
    fn retention_of_an_unreadable_time_is_none_and_huge_values_do_not_overflow() {
        assert_eq!(retention_expiry("yesterday", 730), None);
        assert_eq!(retention_expiry("", 730), None);
        assert!(retention_expiry("2008-01-10T16:00:00Z", u32::MAX).is_some());
    }

    #[test]
    fn customer_digest_is_stable_and_not_the_id() {
        let id = 207_119_551;
        assert_eq!(customer_digest(id), customer_digest(id));
        assert_ne!(customer_digest(id), id);
        assert_ne!(customer_digest(id), customer_digest(id + 1));
        assert!(!customer_digest(id).to_string().contains("207119551"));
    }

    #[test]
    fn addresses_are_masked_in_failure_reasons() {
        assert_eq!(
            mask_addresses("rejected: Email address is not verified: <legal@acme.example>."),
            "rejected: Email address is not verified: [address]"
        );
        assert_eq!(mask_addresses("timeout"), "timeout");
    }
}

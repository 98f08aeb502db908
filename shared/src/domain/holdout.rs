//! Holdout groups (`holdout_percent` per playbook, `docs/replenishment.md`): who is held
//! out, and how the report compares the customers who were sent a playbook's email with
//! those held out of it.
//!
//! Assignment is a stable hash, never a random draw: the same customer is in or out of
//! a playbook's group on every run and every dispatcher, whatever the order the
//! follow-ups come in, and independently for each playbook.

use crate::model::Playbook;
use sha2::{Digest, Sha256};

/// The customer's place in the playbook's 0..100 range: the first eight bytes of
/// SHA-256 of the shop, customer key and playbook name, modulo 100. Stable across
/// builds and platforms (unlike `std`'s `DefaultHasher`).
pub fn bucket(shop: &str, customer_key: &str, playbook: Playbook) -> u32 {
    let mut h = Sha256::new();
    // Each part ends with a byte none holds, so ("ab", "c") and ("a", "bc") differ.
    for part in [
        "aftercart-holdout-v1",
        shop,
        customer_key,
        playbook.as_str(),
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    let d = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    (u64::from_be_bytes(first) % 100) as u32
}

/// Whether the customer is in the playbook's holdout group of `percent` (0 holds out
/// nobody, 100 everybody).
pub fn held_out(shop: &str, customer_key: &str, playbook: Playbook, percent: u32) -> bool {
    percent > 0 && bucket(shop, customer_key, playbook) < percent
}

/// z for a two-sided 95 % interval.
const Z95: f64 = 1.959_963_984_540_054;

/// Wilson's score interval for `x` successes of `n` at `z` (Newcombe 1998, method 3);
/// `None` for an empty group.
pub fn wilson(x: u64, n: u64, z: f64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let (n, p) = (n as f64, x.min(n) as f64 / n as f64);
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// A difference of two proportions with its 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Difference {
    /// `x1/n1 - x2/n2`.
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

impl Difference {
    /// Whether the interval leaves zero out: the data shows a difference.
    pub fn conclusive(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }
}

/// `x1/n1 - x2/n2` with Newcombe's hybrid score interval (Newcombe 1998, method 10),
/// built from each proportion's Wilson interval; `None` while either group is empty.
pub fn newcombe(x1: u64, n1: u64, x2: u64, n2: u64) -> Option<Difference> {
    let (l1, u1) = wilson(x1, n1, Z95)?;
    let (l2, u2) = wilson(x2, n2, Z95)?;
    let p1 = x1.min(n1) as f64 / n1 as f64;
    let p2 = x2.min(n2) as f64 / n2 as f64;
    let d = p1 - p2;
    Some(Difference {
        estimate: d,
        low: d - ((p1 - l1).powi(2) + (u2 - p2).powi(2)).sqrt(),
        high: d + ((u1 - p1).powi(2) + (p2 - l2).powi(2)).sqrt(),
    })
}

/// What the report says while the data cannot tell sent from held out.
pub const NOT_ENOUGH_DATA: &str = "not enough data yet";

/// The report's sentence for a comparison (`None`: a group is empty).
pub fn verdict(d: Option<&Difference>) -> String {
    match d {
        Some(d) if d.conclusive() && d.estimate > 0.0 => {
            "customers sent the email ordered more often than those held out".into()
        }
        Some(d) if d.conclusive() => {
            "customers held out ordered more often than those sent the email".into()
        }
        _ => NOT_ENOUGH_DATA.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOP: &str = "acme.myshopify.com";

    fn keys() -> impl Iterator<Item = String> {
        (0..10_000).map(|i| format!("c{i}"))
    }

    #[test]
    fn assignment_is_stable_across_calls() {
        for key in keys().take(200) {
            let first = bucket(SHOP, &key, Playbook::Replenishment);
            assert!(first < 100);
            assert_eq!(bucket(SHOP, &key, Playbook::Replenishment), first);
            assert_eq!(
                held_out(SHOP, &key, Playbook::Replenishment, 10),
                first < 10
            );
        }
        // Pinned: a change of the hash would move customers between groups.
        assert_eq!(bucket(SHOP, "42", Playbook::Replenishment), 6);
        assert_eq!(bucket(SHOP, "42", Playbook::Loyalty), 0);
        assert_eq!(bucket(SHOP, "c1", Playbook::Replenishment), 53);
        assert_ne!(
            (0..50)
                .map(|i| bucket(SHOP, &i.to_string(), Playbook::Loyalty))
                .collect::<Vec<_>>(),
            (0..50)
                .map(|i| bucket("other.myshopify.com", &i.to_string(), Playbook::Loyalty))
                .collect::<Vec<_>>(),
        );
    }

    #[test]
    fn roughly_the_configured_share_is_held_out() {
        for percent in [5, 10, 25, 50] {
            let n = keys()
                .filter(|k| held_out(SHOP, k, Playbook::Replenishment, percent))
                .count() as f64;
            let expected = 10_000.0 * f64::from(percent) / 100.0;
            // Within 4 standard deviations of the binomial's mean.
            let sd = (expected * (1.0 - f64::from(percent) / 100.0)).sqrt();
            assert!((n - expected).abs() < 4.0 * sd, "{percent} %: {n}");
        }
    }

    #[test]
    fn zero_percent_holds_out_nobody() {
        assert!(!keys().any(|k| held_out(SHOP, &k, Playbook::Loyalty, 0)));
    }

    #[test]
    fn playbooks_are_assigned_independently() {
        let out = |p| -> Vec<bool> { keys().map(|k| held_out(SHOP, &k, p, 50)).collect() };
        let (a, b) = (out(Playbook::Replenishment), out(Playbook::Loyalty));
        let both = a.iter().zip(&b).filter(|(x, y)| **x && **y).count() as f64;
        // Independent halves overlap on about a quarter (sd 43 over 10,000).
        assert!((both - 2_500.0).abs() < 200.0, "{both}");
        assert_ne!(a, b);
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 0.000_05
    }

    #[test]
    fn wilson_matches_newcombes_table_one() {
        // Newcombe (1998) "Two-sided confidence intervals for the single proportion",
        // method 3: 81/263 → 0.2553 to 0.3662; 15/148 → 0.0624 to 0.1605.
        let (l, u) = wilson(81, 263, Z95).unwrap();
        assert!(close(l, 0.2553) && close(u, 0.3662), "{l} {u}");
        let (l, u) = wilson(15, 148, Z95).unwrap();
        assert!(close(l, 0.0624) && close(u, 0.1605), "{l} {u}");
        assert_eq!(wilson(0, 0, Z95), None);
    }

    #[test]
    fn newcombe_hybrid_score_matches_the_published_examples() {
        // Newcombe (1998) "Interval estimation for the difference between independent
        // proportions", Statistics in Medicine 17, table II, method 10.
        for (x1, n1, x2, n2, est, low, high) in [
            (56, 70, 48, 80, 0.2000, 0.0524, 0.3339),
            (9, 10, 3, 10, 0.6000, 0.1705, 0.8090),
            (5, 56, 0, 29, 0.0893, -0.0381, 0.1926),
            (0, 10, 0, 20, 0.0, -0.1611, 0.2775),
            (0, 10, 0, 10, 0.0, -0.2775, 0.2775),
            (10, 10, 0, 20, 1.0, 0.6791, 1.0),
            (10, 10, 0, 10, 1.0, 0.6075, 1.0),
        ] {
            let d = newcombe(x1, n1, x2, n2).unwrap();
            assert!(
                close(d.estimate, est) || (d.estimate - est).abs() < 0.0001,
                "{x1}/{n1} - {x2}/{n2}: {d:?}"
            );
            assert!(
                close(d.low, low) && close(d.high, high),
                "{x1}/{n1} - {x2}/{n2}: {d:?}"
            );
        }
        assert_eq!(newcombe(1, 10, 0, 0), None);
        assert_eq!(newcombe(0, 0, 1, 10), None);
    }

    #[test]
    fn the_verdict_waits_while_the_interval_spans_zero() {
        let spans = newcombe(5, 50, 3, 50).unwrap();
        assert!(!spans.conclusive());
        assert_eq!(verdict(Some(&spans)), NOT_ENOUGH_DATA);
        assert_eq!(verdict(None), NOT_ENOUGH_DATA);
        let lifted = newcombe(56, 70, 48, 80).unwrap();
        assert!(lifted.conclusive());
        assert!(verdict(Some(&lifted)).contains("sent the email ordered more often"));
        let lowered = newcombe(48, 80, 56, 70).unwrap();
        assert!(verdict(Some(&lowered)).contains("held out ordered more often"));
    }
}

//! How long one unit of a product lasts, learned from the store's own repeat purchases.
//!
//! **A sample** is one interval: a customer bought the product at `a` (keeping `u`
//! units) and again at `b`; one unit lasted `(b − a) / u` days. Intervals that say
//! nothing about running out are not samples: the earlier purchase was cancelled or
//! fully refunded (0 units kept), or larger than `bulk_units` (a gift, a stock-up); and
//! once the product has an estimate, a sample outside [estimate / 4, estimate × 4] is
//! refused as an outlier (the customer bought elsewhere meanwhile, gave some away, or
//! stocked up).
//!
//! **The estimator** is the trimmed mean of the log samples: the newest
//! [`MAX_SAMPLES`] kept, the lowest and highest 20 % dropped (none below five
//! samples), the rest averaged on the log scale — consumption is multiplicative (one
//! household uses twice as fast as another), so the log scale makes "twice as fast" and
//! "half as fast" equally far, and the trimming takes the few odd intervals out.
//!
//! **Shrinkage.** The configured `consumption_days` is a prior worth `prior_weight`
//! repeats: with `n` samples the product's figure is
//! `exp((n · mean_log + k · ln prior) / (n + k))`, so it works from the first order and
//! moves toward the data as repeats accumulate. With no prior, a product is not
//! reminded until `min_repeats` samples exist. A customer with their own samples gets
//! their own cadence shrunk toward the product's the same way, with `customer_weight`.

use crate::config::ReplenishmentRule;
use crate::model::cadence::{CadenceRecord, Purchase, MAX_PURCHASES, MAX_SAMPLES};
use crate::model::time::{parse_time, MAX_PLAN_AHEAD_DAYS};

/// A sample this many times above or below the product's estimate is an outlier.
pub const OUTLIER_FACTOR: f64 = 4.0;

/// Share of the samples dropped at each end before averaging.
pub const TRIM: f64 = 0.2;

/// Fewer samples than this are averaged untrimmed.
const TRIM_FROM: usize = 5;

/// Shortest interval per unit taken as a sample, in days: two orders on one day are a
/// correction, not a unit used up.
const MIN_SAMPLE_DAYS: f64 = 0.5;

/// Where a product's figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The configured `consumption_days` alone (no repeats yet, or learning off).
    Configured,
    /// The configured figure and the learned one, blended.
    Blended,
    /// Learned only (no `consumption_days` configured).
    Learned,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Configured => "configured",
            Source::Blended => "blended",
            Source::Learned => "learned",
        }
    }
}

/// A product's days per unit, and what it rests on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub days_per_unit: f64,
    /// Samples it was learned from (the newest [`MAX_SAMPLES`] at most).
    pub samples: usize,
    pub source: Source,
}

/// The mean of the logs of `days` after trimming [`TRIM`] from each end; `None` for no
/// samples (or none positive).
pub fn trimmed_log_mean(days: &[f64]) -> Option<f64> {
    let mut logs: Vec<f64> = days
        .iter()
        .filter(|d| d.is_finite() && **d > 0.0)
        .map(|d| d.ln())
        .collect();
    if logs.is_empty() {
        return None;
    }
    logs.sort_by(f64::total_cmp);
    let cut = if logs.len() >= TRIM_FROM {
        // Truncation intended: 20 % of 7 samples drops one from each end.
        (logs.len() as f64 * TRIM) as usize
    } else {
        0
    };
    let kept = &logs[cut..logs.len() - cut];
    Some(kept.iter().sum::<f64>() / kept.len() as f64)
}

/// The product's figure: its configured `prior` (days per unit) and learned `record`
/// blended per `rule`; `None` when it has neither a prior nor `min_repeats` samples.
pub fn product_estimate(
    prior: Option<u32>,
    record: Option<&CadenceRecord>,
    rule: &ReplenishmentRule,
) -> Option<Estimate> {
    let days = match record {
        Some(r) if rule.learn => r.days(),
        _ => Vec::new(),
    };
    let n = days.len();
    let prior = prior.filter(|d| *d > 0).map(f64::from);
    let Some(mean) = trimmed_log_mean(&days) else {
        return prior.map(|p| Estimate {
            days_per_unit: p,
            samples: 0,
            source: Source::Configured,
        });
    };
    let (log, source) = match prior {
        Some(p) => (shrink(mean, n, p.ln(), rule.prior_weight), Source::Blended),
        None if n >= rule.min_repeats.max(1) as usize => (mean, Source::Learned),
        None => return None,
    };
    Some(Estimate {
        days_per_unit: log.exp(),
        samples: n,
        source,
    })
}

/// The customer's days per unit: their own samples from `purchases`, shrunk toward the
/// product's `estimate` with `rule.customer_weight`.
pub fn customer_days(estimate: &Estimate, purchases: &[Purchase], rule: &ReplenishmentRule) -> f64 {
    if !rule.learn {
        return estimate.days_per_unit;
    }
    let e = estimate.days_per_unit;
    // The customer's own outliers (a purchase elsewhere in between) are left out too.
    let own: Vec<f64> = samples_of(purchases, rule)
        .into_iter()
        .filter(|d| *d <= e * OUTLIER_FACTOR && *d >= e / OUTLIER_FACTOR)
        .collect();
    match trimmed_log_mean(&own) {
        Some(mean) => shrink(
            mean,
            own.len(),
            estimate.days_per_unit.ln(),
            rule.customer_weight,
        )
        .exp(),
        None => estimate.days_per_unit,
    }
}

/// `(n · mean + k · toward) / (n + k)`.
fn shrink(mean: f64, n: usize, toward: f64, k: u32) -> f64 {
    let n = n as f64;
    let k = f64::from(k);
    (n * mean + k * toward) / (n + k)
}

/// The days one unit lasted between two consecutive purchases, if they make a sample.
fn sample(a: &Purchase, b: &Purchase, rule: &ReplenishmentRule) -> Option<f64> {
    if a.units == 0 || a.units > rule.bulk_units {
        return None;
    }
    let secs = parse_time(&b.at)?
        .signed_duration_since(parse_time(&a.at)?)
        .num_seconds();
    let days = secs as f64 / 86_400.0 / f64::from(a.units);
    (MIN_SAMPLE_DAYS..=MAX_PLAN_AHEAD_DAYS as f64)
        .contains(&days)
        .then_some(days)
}

/// A customer's samples: each purchase that kept units to the next one (purchases with
/// no units kept are skipped, so the interval runs from the last one kept).
pub fn samples_of(purchases: &[Purchase], rule: &ReplenishmentRule) -> Vec<f64> {
    let mut out = Vec::new();
    let mut kept = purchases.iter().filter(|p| p.units > 0);
    let Some(mut prev) = kept.next() else {
        return out;
    };
    for p in kept {
        out.extend(sample(prev, p, rule));
        prev = p;
    }
    out
}

/// Adds purchase `p` to a customer's `purchases` (sorted by time, the newest
/// [`MAX_PURCHASES`] kept) and returns the new samples it makes: from the purchase
/// before it, and — when it lands between two (an order arriving late, an import of
/// older orders) — to the one after. A purchase already there (the same order) only
/// updates its units and makes none.
pub fn add_purchase(
    purchases: &mut Vec<Purchase>,
    p: Purchase,
    rule: &ReplenishmentRule,
) -> Vec<f64> {
    if let Some(known) = purchases.iter_mut().find(|q| q.order == p.order) {
        known.units = p.units;
        return Vec::new();
    }
    let at = purchases.partition_point(|q| q.at <= p.at);
    let before = purchases[..at].iter().rev().find(|q| q.units > 0);
    let after = purchases[at..].iter().find(|q| q.units > 0);
    let mut new = Vec::new();
    if p.units > 0 {
        new.extend(before.and_then(|b| sample(b, &p, rule)));
        new.extend(after.and_then(|a| sample(&p, a, rule)));
    }
    purchases.insert(at, p);
    if purchases.len() > MAX_PURCHASES {
        let extra = purchases.len() - MAX_PURCHASES;
        purchases.drain(..extra);
    }
    new
}

/// Learns `samples` into the product's `record` (the newest [`MAX_SAMPLES`] kept),
/// refusing outliers against the estimate before them; true if the record changed.
pub fn learn(
    record: &mut CadenceRecord,
    samples: &[f64],
    prior: Option<u32>,
    rule: &ReplenishmentRule,
) -> bool {
    let mut changed = false;
    for &days in samples {
        changed = true;
        let estimate = product_estimate(prior, Some(record), rule);
        let outlier = estimate.is_some_and(|e| {
            days > e.days_per_unit * OUTLIER_FACTOR || days < e.days_per_unit / OUTLIER_FACTOR
        });
        if outlier {
            record.refused = record.refused.saturating_add(1);
            continue;
        }
        record.repeats = record.repeats.saturating_add(1);
        // Bounded by the sample's range (≤ MAX_PLAN_AHEAD_DAYS × 100).
        record.samples.push((days * 100.0).round() as u32);
        if record.samples.len() > MAX_SAMPLES {
            let extra = record.samples.len() - MAX_SAMPLES;
            record.samples.drain(..extra);
        }
    }
    changed
}

#[cfg(test)]
mod tests;

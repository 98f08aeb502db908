//! The report's "Replenishment timing" section: each configured replenishable product's
//! days per unit as its reminders count from now (`domain::cadence::product_estimate`
//! over its learned item), with what the figure rests on. Current state, not the
//! period's.

use crate::config::{ProductRule, ShopConfig};
use crate::domain::cadence::{product_estimate, Estimate};
use crate::model::cadence::CadenceRecord;
use crate::model::report::{ProductRow, Timing, TimingRow};

/// The section for `shop` from its learned timing items (`records`, any order);
/// `products` (the period's product rows) lend their titles.
pub fn timing(shop: &ShopConfig, records: &[CadenceRecord], products: &[ProductRow]) -> Timing {
    let r = &shop.playbooks.replenishment;
    let mut seen = std::collections::HashSet::new();
    let rows = shop
        .products
        .iter()
        .filter(|rule| seen.insert(rule.timing_key()))
        .filter_map(|rule| {
            let key = rule.timing_key();
            let record = records.iter().find(|c| c.product == key);
            let prior = rule.consumption_days.filter(|d| *d > 0);
            (prior.is_some() || (r.learn && record.is_some())).then(|| {
                let estimate = product_estimate(prior, record, r);
                row(shop, rule, key, record, estimate, products)
            })
        })
        .collect();
    Timing {
        enabled: r.enabled,
        learn: r.learn,
        min_repeats: r.min_repeats.max(1),
        prior_weight: r.prior_weight,
        products: rows,
    }
}

fn row(
    shop: &ShopConfig,
    rule: &ProductRule,
    key: String,
    record: Option<&CadenceRecord>,
    estimate: Option<Estimate>,
    products: &[ProductRow],
) -> TimingRow {
    let r = &shop.playbooks.replenishment;
    let stored = match record {
        Some(c) if r.learn => c.samples.len(),
        _ => 0,
    };
    let title = rule.product_id.and_then(|id| {
        products
            .iter()
            .find(|p| p.product_id == id)
            .and_then(|p| p.title.clone())
            .filter(|t| !t.trim().is_empty())
    });
    let waiting = estimate.is_none().then(|| {
        let needed = r.min_repeats.max(1) as usize;
        u32::try_from(needed.saturating_sub(stored)).unwrap_or(u32::MAX)
    });
    TimingRow {
        product: key,
        product_id: rule.product_id,
        sku: rule.sku.clone(),
        title,
        configured_days: rule.consumption_days.filter(|d| *d > 0),
        days_per_unit: estimate.map(|e| (e.days_per_unit * 10.0).round() / 10.0),
        repeats: record.map_or(0, |c| c.repeats),
        samples: estimate.map_or(stored, |e| e.samples) as u64,
        refused: record.map_or(0, |c| c.refused),
        source: estimate.map_or("waiting", |e| e.source.as_str()).to_owned(),
        waiting_for: waiting,
    }
}

//! What a paid order teaches about how long its products last (`domain::cadence`), and
//! the timing its replenishment reminders count from, fixed on the order when it is
//! paid: later deliveries of the order (shipments, refunds) re-plan with the same
//! figure, and need not read the learned timing again.

use super::{versioned, write, Context, Item, Loaded, Write};
use crate::config::{ProductRule, ShopConfig};
use crate::domain::cadence;
use crate::domain::followup::MAX_REPLENISHMENTS_PER_ORDER;
use crate::model::cadence::{CadenceRecord, Purchase};
use crate::model::time::utc_key;
use crate::model::{keys, OrderRecord, ProfileRecord};
use crate::wire::shopify::{Event, Topic};
use std::collections::BTreeMap;

/// Most products one order learns from (and reads the timing of): keeps a delivery's
/// transaction well inside DynamoDB's 100 items beside its reminders.
pub const MAX_LEARNED_PER_ORDER: usize = 25;

/// The timing keys of the products whose learned timing a delivery of `event` reads:
/// a paid, not cancelled order's replenishable products ([`MAX_LEARNED_PER_ORDER`] at
/// most). Other deliveries read none.
pub fn cadence_keys(rules: Option<&ShopConfig>, event: &Event) -> Vec<String> {
    let (Some(rules), Event::Order(topic, o)) = (rules, event) else {
        return Vec::new();
    };
    let r = &rules.playbooks.replenishment;
    let paid = *topic == Topic::OrdersPaid || o.is_paid();
    if !r.enabled || !r.learn || !paid || o.cancelled_at.is_some() {
        return Vec::new();
    }
    let mut out: Vec<String> = o
        .line_items
        .iter()
        .filter_map(|l| rules.product(l.product_id, l.sku.as_deref()))
        .map(ProductRule::timing_key)
        .collect();
    out.sort();
    out.dedup();
    out.truncate(MAX_LEARNED_PER_ORDER);
    out
}

/// Units of each replenishable product the customer kept from `order`, by timing key.
fn kept_units<'a>(
    order: &OrderRecord,
    rules: &'a ShopConfig,
) -> BTreeMap<String, (u32, &'a ProductRule)> {
    let mut out: BTreeMap<String, (u32, &ProductRule)> = BTreeMap::new();
    for line in &order.lines {
        let Some(rule) = rules.product(line.product_id, line.sku.as_deref()) else {
            continue;
        };
        let kept = line
            .quantity
            .saturating_sub(order.refunded_qty(line.line_item_id));
        let e = out.entry(rule.timing_key()).or_insert((0, rule));
        e.0 = e.0.saturating_add(kept);
    }
    out
}

/// The order `rec` is being paid: adds it to the customer's purchases of each
/// replenishable product, learns the intervals it closes into the products' timing
/// (written beside the order), and fixes on the order the customer's days per unit.
pub(super) fn learn_from_payment(
    ctx: &Context<'_>,
    rec: &mut OrderRecord,
    p: &mut ProfileRecord,
    loaded: &Loaded,
    out: &mut Vec<Write>,
) {
    let Some(rules) = ctx.rules else { return };
    let r = &rules.playbooks.replenishment;
    let Some(created) = rec.created_at.clone() else {
        return;
    };
    if !r.enabled || !r.learn {
        return;
    }
    let units = kept_units(rec, rules);
    for (key, (kept, rule)) in units.into_iter().take(MAX_LEARNED_PER_ORDER) {
        let purchases = p.purchases.entry(key.clone()).or_default();
        let bought = Purchase {
            at: created.clone(),
            order: rec.order_id,
            units: kept,
        };
        let samples = cadence::add_purchase(purchases, bought, r);
        let stored = loaded.cadences.iter().find(|c| c.product == key);
        let (mut learned, expect) = versioned(stored, || CadenceRecord {
            product: key.clone(),
            ..CadenceRecord::default()
        });
        if cadence::learn(&mut learned, &samples, rule.consumption_days, r) {
            learned.updated_at = Some(utc_key(&ctx.now));
            out.push(write(
                keys::cadence(ctx.shop, &key),
                Item::Cadence(learned.clone()),
                expect,
            ));
        }
        let current = if samples.is_empty() {
            stored
        } else {
            Some(&learned)
        };
        if let Some(e) = cadence::product_estimate(rule.consumption_days, current, r) {
            let days = cadence::customer_days(&e, purchases, r);
            rec.timing.insert(key, centidays(days));
        }
    }
}

/// Days as whole hundredths, bounded to the planning window.
fn centidays(days: f64) -> u32 {
    let max = crate::model::time::MAX_PLAN_AHEAD_DAYS as f64 * 100.0;
    // In range by the clamp: the cast cannot truncate.
    (days * 100.0).round().clamp(1.0, max) as u32
}

/// A cancelled order kept nothing: its purchases start no interval.
pub(super) fn forget_units(rec: &OrderRecord, p: &mut ProfileRecord) {
    for q in p.purchases.values_mut().flatten() {
        if q.order == rec.order_id {
            q.units = 0;
        }
    }
}

/// A refund of `order`: the customer's purchases from it keep only the units still
/// kept, so an interval cut short by a return is not learned from. Writes the profile
/// if that changed it.
pub(super) fn refunded_units(
    ctx: &Context<'_>,
    order: &OrderRecord,
    loaded: &Loaded,
    out: &mut Vec<Write>,
) {
    let (Some(rules), Some(current)) = (ctx.rules, loaded.profile.as_ref()) else {
        return;
    };
    if order.customer_key.as_deref() != Some(current.customer_key.as_str()) {
        return;
    }
    let (mut p, expect) = versioned(Some(current), ProfileRecord::default);
    let mut changed = false;
    for (key, (kept, _)) in kept_units(order, rules) {
        let bought = p.purchases.get_mut(&key).into_iter().flatten();
        for q in bought.filter(|q| q.order == order.order_id && q.units != kept) {
            q.units = kept;
            changed = true;
        }
    }
    if changed {
        out.push(write(
            keys::profile(ctx.shop, &current.customer_key),
            Item::Profile(p),
            expect,
        ));
    }
}

// MAX_REPLENISHMENTS_PER_ORDER bounds the reminders; this bounds the reads.
const _: () = assert!(MAX_LEARNED_PER_ORDER <= MAX_REPLENISHMENTS_PER_ORDER);

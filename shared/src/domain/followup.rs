//! Planning follow-ups, as pure logic: from an order's merged state, the shop's rules and
//! the follow-ups already stored, decide which to create, re-time or cancel.
//!
//! Planning is derived from state, not from the event that arrived: a shipment that
//! comes before the payment, a refund before the shipment or a delivery a day late all
//! lead to the same plan once the state is the same. Follow-ups already sent, failed or
//! being sent are never touched; only pending ones move or get cancelled.

use crate::config::ShopConfig;
use crate::model::time::{parse_time, utc_key};
use crate::model::Expect;
use crate::model::{followup_id, FollowUpRecord, FollowUpStatus, OrderRecord, Playbook};
use chrono::Duration;
use std::collections::BTreeMap;

/// Most replenishment reminders planned for one order (keeps a delivery's writes well
/// inside DynamoDB's 100-item transaction limit).
pub const MAX_REPLENISHMENTS_PER_ORDER: usize = 40;

/// What planning needs besides the order.
#[derive(Debug, Clone, Copy)]
pub struct Planner<'a> {
    pub shop: &'a str,
    pub rules: &'a ShopConfig,
    pub shards: u32,
    /// Now, as a [`utc_key`].
    pub now: &'a str,
}

/// Why the order's state changed in this delivery, beyond what the state itself says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Triggers {
    /// This delivery is the first to see the order paid.
    pub newly_paid: bool,
    /// This payment earned the loyalty reward (Nth order or spend threshold).
    pub loyalty: bool,
}

/// One follow-up the order should have: playbook, product, due time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub playbook: Playbook,
    pub product_id: Option<u64>,
    pub due_at: String,
}

/// The follow-ups `order` should have now, per the shop's rules.
pub fn wanted(order: &OrderRecord, rules: &ShopConfig, triggers: Triggers) -> Vec<Wanted> {
    let pb = &rules.playbooks;
    let mut out = Vec::new();
    let mut want = |playbook, product_id, due: Option<String>| {
        if let Some(due_at) = due {
            out.push(Wanted {
                playbook,
                product_id,
                due_at,
            });
        }
    };
    if order.customer_key.is_none() || order.cancelled_at.is_some() || order.fully_refunded() {
        if let Some(refunded) = &order.refunded_at {
            if pb.returns.enabled && order.customer_key.is_some() && order.cancelled_at.is_none() {
                want(
                    Playbook::Returns,
                    None,
                    plus(refunded, Duration::hours(pb.returns.delay_hours.into())),
                );
            }
        }
        return out;
    }
    if pb.thank_you.enabled {
        want(
            Playbook::ThankYou,
            None,
            order
                .paid_at
                .as_deref()
                .and_then(|t| plus(t, Duration::hours(pb.thank_you.delay_hours.into()))),
        );
    }
    if pb.satisfaction.enabled {
        let s = &pb.satisfaction;
        let due = match (&order.delivered_at, &order.fulfilled_at) {
            (Some(d), _) => plus(d, Duration::days(s.days_after_delivery.into())),
            (None, Some(f)) => plus(f, Duration::days(s.days_after_fulfillment.into())),
            (None, None) => None,
        };
        want(Playbook::Satisfaction, None, due);
    }
    if pb.replenishment.enabled {
        if let Some(paid) = &order.paid_at {
            for (product, days) in replenishment_days(order, rules)
                .into_iter()
                .take(MAX_REPLENISHMENTS_PER_ORDER)
            {
                want(
                    Playbook::Replenishment,
                    Some(product),
                    plus(paid, Duration::days(days)),
                );
            }
        }
    }
    if pb.returns.enabled {
        if let Some(refunded) = &order.refunded_at {
            want(
                Playbook::Returns,
                None,
                plus(refunded, Duration::hours(pb.returns.delay_hours.into())),
            );
        }
    }
    if pb.loyalty.enabled && triggers.loyalty {
        if let Some(paid) = &order.paid_at {
            want(
                Playbook::Loyalty,
                None,
                plus(paid, Duration::hours(pb.loyalty.delay_hours.into())),
            );
        }
    }
    out
}

/// Days from payment to the reminder, per product still kept (not refunded):
/// consumption days × quantity − lead days.
fn replenishment_days(order: &OrderRecord, rules: &ShopConfig) -> BTreeMap<u64, i64> {
    let mut units: BTreeMap<u64, (u32, u32, u32)> = BTreeMap::new(); // product -> (qty, days, lead)
    for line in &order.lines {
        let Some(product) = line.product_id else {
            continue;
        };
        let Some(rule) = rules.product(line.product_id, line.sku.as_deref()) else {
            continue;
        };
        let Some(days) = rule.consumption_days else {
            continue;
        };
        let kept = line
            .quantity
            .saturating_sub(order.refunded_qty(line.line_item_id));
        if kept == 0 {
            continue;
        }
        let e = units.entry(product).or_insert((0, days, rule.lead_days));
        e.0 += kept;
    }
    units
        .into_iter()
        .map(|(product, (qty, days, lead))| {
            let total = i64::from(days) * i64::from(qty) - i64::from(lead);
            (product, total.max(1))
        })
        .collect()
}

fn plus(at: &str, d: Duration) -> Option<String> {
    parse_time(at).map(|t| utc_key(&(t + d)))
}

/// The writes that bring the stored follow-ups of `order` (and, on a reorder, the
/// customer's other pending replenishments) in line with [`wanted`].
pub fn reconcile(
    p: &Planner<'_>,
    order: &OrderRecord,
    triggers: Triggers,
    existing: &[FollowUpRecord],
) -> Vec<(FollowUpRecord, Expect)> {
    let Some(customer_key) = order.customer_key.as_deref() else {
        return Vec::new();
    };
    let wanted = wanted(order, p.rules, triggers);
    let mut out = Vec::new();
    schedule_wanted(p, order, customer_key, &wanted, existing, &mut out);
    cancel_unwanted(order, &wanted, existing, &mut out);
    if triggers.newly_paid && order.cancelled_at.is_none() {
        cancel_reordered(order, existing, &mut out);
    }
    out
}

/// Creates each wanted follow-up that is not stored yet, and moves a pending one whose
/// due time changed.
fn schedule_wanted(
    p: &Planner<'_>,
    order: &OrderRecord,
    customer_key: &str,
    wanted: &[Wanted],
    existing: &[FollowUpRecord],
    out: &mut Vec<(FollowUpRecord, Expect)>,
) {
    let by_id: BTreeMap<&str, &FollowUpRecord> =
        existing.iter().map(|f| (f.id.as_str(), f)).collect();
    for w in wanted {
        let id = followup_id(w.playbook, order.order_id, w.product_id);
        match by_id.get(id.as_str()) {
            None => {
                let f = FollowUpRecord::pending(
                    p.shop,
                    customer_key,
                    w.playbook,
                    order.order_id,
                    w.product_id,
                    &w.due_at,
                    p.now,
                    p.shards,
                );
                out.push((f, Expect::Absent));
            }
            Some(f) if f.status == FollowUpStatus::Pending && f.due_at != w.due_at => {
                let mut next = bump(f);
                next.due_at.clone_from(&w.due_at);
                next.index_at(&w.due_at, p.shards);
                out.push((next, Expect::Version(f.v)));
            }
            Some(_) => {}
        }
    }
}

/// Cancels the pending follow-ups of this order that are no longer wanted. Loyalty
/// rewards, recovery emails and satisfaction reminders are planned by their trigger (a
/// paid order, a low rating, a sent satisfaction check), not by the order's state, so
/// they go only with the order itself (a reminder also with any refund).
fn cancel_unwanted(
    order: &OrderRecord,
    wanted: &[Wanted],
    existing: &[FollowUpRecord],
    out: &mut Vec<(FollowUpRecord, Expect)>,
) {
    let gone = order.cancelled_at.is_some() || order.fully_refunded();
    for f in existing
        .iter()
        .filter(|f| f.order_id == order.order_id && f.status == FollowUpStatus::Pending)
    {
        let still_wanted = wanted
            .iter()
            .any(|w| followup_id(w.playbook, order.order_id, w.product_id) == f.id);
        let by_trigger = matches!(f.playbook, Playbook::Loyalty | Playbook::Recovery);
        // The satisfaction reminder is planned by its send (`domain::reminder`); any
        // refund calls it off.
        let reminder = f.playbook == Playbook::SatisfactionReminder && order.refunded_at.is_none();
        let keep = still_wanted || ((by_trigger || reminder) && !gone);
        if !keep {
            let reason = if order.cancelled_at.is_some() {
                "order cancelled"
            } else if gone {
                "order refunded"
            } else {
                "items refunded"
            };
            out.push(cancelled(f, reason));
        }
    }
}

/// A reorder of a product makes the older orders' reminders for it pointless: cancels
/// the customer's pending replenishments of the products `order` bought.
fn cancel_reordered(
    order: &OrderRecord,
    existing: &[FollowUpRecord],
    out: &mut Vec<(FollowUpRecord, Expect)>,
) {
    let bought: Vec<u64> = order.lines.iter().filter_map(|l| l.product_id).collect();
    for f in existing.iter().filter(|f| {
        f.playbook == Playbook::Replenishment
            && f.status == FollowUpStatus::Pending
            && f.order_id != order.order_id
            && f.product_id.is_some_and(|id| bought.contains(&id))
    }) {
        out.push(cancelled(f, "reordered"));
    }
}

fn bump(f: &FollowUpRecord) -> FollowUpRecord {
    let mut next = f.clone();
    next.v = f.v + 1;
    next
}

fn cancelled(f: &FollowUpRecord, reason: &str) -> (FollowUpRecord, Expect) {
    let mut next = bump(f);
    next.status = FollowUpStatus::Cancelled;
    next.reason = Some(reason.to_owned());
    next.unindex();
    (next, Expect::Version(f.v))
}

#[cfg(test)]
mod tests;

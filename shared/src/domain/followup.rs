//! Planning follow-ups, as pure logic: from an order's merged state, the shop's rules and
//! the follow-ups already stored, decide which to create, re-time or cancel.
//!
//! Planning is derived from state, not from the event that arrived: a shipment that
//! comes before the payment, a refund before the shipment or a delivery a day late all
//! lead to the same plan once the state is the same. Follow-ups already sent, failed or
//! being sent are never touched; only pending ones move or get cancelled.

use crate::config::ShopConfig;
use crate::model::time::{keyable, parse_time, utc_key};
use crate::model::Expect;
use crate::model::{followup_id, FollowUpRecord, FollowUpStatus, OrderRecord, Playbook};
use chrono::{DateTime, Duration, FixedOffset};
use std::collections::BTreeMap;

/// Most replenishment reminders planned for one order (keeps a delivery's writes well
/// inside DynamoDB's 100-item transaction limit).
pub const MAX_REPLENISHMENTS_PER_ORDER: usize = 40;

/// The planning window, in days (ten years). A follow-up due more than this after the
/// time it counts from (payment, shipment, delivery, refund), or more than this after
/// now, is not planned: no reminder makes sense that late, and a date past 9999 could
/// not be a sortable key. Offsets are computed with checked arithmetic, so no input can
/// make planning panic.
pub use crate::model::time::MAX_PLAN_AHEAD_DAYS;

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

/// The follow-ups `order` should have at `now` (a [`utc_key`]), per the shop's rules;
/// none due outside the planning window ([`MAX_PLAN_AHEAD_DAYS`]).
pub fn wanted(
    order: &OrderRecord,
    rules: &ShopConfig,
    triggers: Triggers,
    now: &str,
) -> Vec<Wanted> {
    let pb = &rules.playbooks;
    let window = Window::at(now);
    let mut out = Vec::new();
    // Wants `playbook` due `after` the time `from`, if both are known and in the window.
    let mut want = |playbook, product_id, from: Option<&str>, after: Option<Duration>| {
        if let Some(due_at) = from.zip(after).and_then(|(at, d)| window.plus(at, d)) {
            out.push(Wanted {
                playbook,
                product_id,
                due_at,
            });
        }
    };
    let refunded = order.refunded_at.as_deref();
    let returns_delay = hours(pb.returns.delay_hours);
    if order.customer_key.is_none() || order.cancelled_at.is_some() || order.fully_refunded() {
        if pb.returns.enabled && order.customer_key.is_some() && order.cancelled_at.is_none() {
            want(Playbook::Returns, None, refunded, returns_delay);
        }
        return out;
    }
    let paid = order.paid_at.as_deref();
    if pb.thank_you.enabled {
        let delay = hours(pb.thank_you.delay_hours);
        want(Playbook::ThankYou, None, paid, delay);
    }
    if pb.satisfaction.enabled {
        let s = &pb.satisfaction;
        let (from, after) = match (&order.delivered_at, &order.fulfilled_at) {
            (Some(d), _) => (Some(d.as_str()), days(s.days_after_delivery.into())),
            (None, Some(f)) => (Some(f.as_str()), days(s.days_after_fulfillment.into())),
            (None, None) => (None, None),
        };
        want(Playbook::Satisfaction, None, from, after);
    }
    if pb.replenishment.enabled && paid.is_some() {
        for (product, n) in replenishment_days(order, rules)
            .into_iter()
            .take(MAX_REPLENISHMENTS_PER_ORDER)
        {
            want(Playbook::Replenishment, Some(product), paid, days(n));
        }
    }
    if pb.returns.enabled {
        want(Playbook::Returns, None, refunded, returns_delay);
    }
    if pb.loyalty.enabled && triggers.loyalty {
        want(Playbook::Loyalty, None, paid, hours(pb.loyalty.delay_hours));
    }
    out
}

/// Days from payment to the reminder, per product still kept (not refunded): days per
/// unit × quantity − lead days, with the days per unit the order fixed when it was
/// paid (`OrderRecord::timing`, learned) or else the product's `consumption_days`; a
/// product with neither gets no reminder. Units are summed in `u64` and the days
/// computed with saturating arithmetic; a product whose reminder would fall outside the
/// planning window ([`MAX_PLAN_AHEAD_DAYS`]) gets none.
fn replenishment_days(order: &OrderRecord, rules: &ShopConfig) -> BTreeMap<u64, i64> {
    // product -> (qty, hundredths of a day per unit, lead)
    let mut units: BTreeMap<u64, (u64, u64, u32)> = BTreeMap::new();
    for line in &order.lines {
        let Some(product) = line.product_id else {
            continue;
        };
        let Some(rule) = rules.product(line.product_id, line.sku.as_deref()) else {
            continue;
        };
        let learned = order.timing.get(&rule.timing_key()).copied();
        let Some(per_unit) = learned.or(rule.consumption_days.map(|d| d.saturating_mul(100)))
        else {
            continue;
        };
        let kept = line
            .quantity
            .saturating_sub(order.refunded_qty(line.line_item_id));
        if kept == 0 {
            continue;
        }
        let e = units
            .entry(product)
            .or_insert((0, u64::from(per_unit), rule.lead_days));
        e.0 = e.0.saturating_add(u64::from(kept));
    }
    units
        .into_iter()
        .map(|(product, (qty, per_unit, lead))| {
            // Rounded to the nearest day.
            let total = qty.saturating_mul(per_unit).saturating_add(50) / 100;
            let total = i64::try_from(total)
                .unwrap_or(i64::MAX)
                .saturating_sub(i64::from(lead));
            (product, total.max(1))
        })
        .filter(|(_, total)| *total <= MAX_PLAN_AHEAD_DAYS)
        .collect()
}

fn hours(h: u32) -> Option<Duration> {
    Duration::try_hours(h.into())
}

fn days(d: i64) -> Option<Duration> {
    Duration::try_days(d)
}

/// The latest due time planning accepts.
struct Window {
    /// `now` + [`MAX_PLAN_AHEAD_DAYS`]; `None` if `now` is not a time (then only the
    /// offset is bounded).
    latest: Option<DateTime<FixedOffset>>,
}

impl Window {
    fn at(now: &str) -> Window {
        let ahead = Duration::days(MAX_PLAN_AHEAD_DAYS);
        Window {
            latest: parse_time(now).and_then(|t| t.checked_add_signed(ahead)),
        }
    }

    /// `at` + `d` as a [`utc_key`], or `None` when `at` is not a time, `d` is longer
    /// than the window or negative, or the sum is past the window.
    fn plus(&self, at: &str, d: Duration) -> Option<String> {
        if d < Duration::zero() || d > Duration::days(MAX_PLAN_AHEAD_DAYS) {
            return None;
        }
        let due = parse_time(at)?.checked_add_signed(d)?;
        if self.latest.is_some_and(|latest| due > latest) || !keyable(&due) {
            return None;
        }
        Some(utc_key(&due))
    }
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
    let wanted = wanted(order, p.rules, triggers, p.now);
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
            } else if order.refunded_at.is_some() {
                "items refunded"
            } else {
                // An edit dropped the line, or its reminder fell outside the window.
                "no longer planned"
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

//! What decides whether a due follow-up goes out now, later or never, and how long a
//! failed attempt waits before the next.

use crate::config::{Config, ShopConfig};
use crate::domain::reminder::{self, ReminderFacts};
use crate::model::{FollowUpRecord, OrderRecord, Playbook, ProfileRecord};
use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use std::collections::{BTreeMap, HashMap};

/// What a guard decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Send,
    Defer {
        until: DateTime<Utc>,
        reason: String,
    },
    Cancel(String),
}

/// Minutes to wait after the n-th failed attempt: 2, 4, 8 … capped at an hour, with
/// ±25 % jitter so retries of many follow-ups spread out.
pub fn retry_backoff(attempt: u32) -> Duration {
    let base = 2i64.saturating_pow(attempt.clamp(1, 6)).min(60);
    let jitter = fastrand::i64(-(base * 15)..=(base * 15)); // seconds, ±25 % of base minutes
    Duration::minutes(base) + Duration::seconds(jitter)
}

/// Why a follow-up waits while its shop's uninstall is being confirmed.
pub const UNCONFIRMED_REASON: &str = "shop uninstall awaiting confirmation";
/// How long it then waits before the guards look again.
pub const UNCONFIRMED_DEFER_MINUTES: i64 = 10;

/// What the guards look at, read just before sending.
#[derive(Debug, Clone, Default)]
pub struct GuardContext {
    pub order: Option<OrderRecord>,
    pub profile: Option<ProfileRecord>,
    pub uninstalled: bool,
    /// The uninstall is not yet confirmed with the Admin API (it may be forged).
    pub uninstall_unconfirmed: bool,
    /// The suppression reason, if the address is suppressed.
    pub suppression: Option<String>,
    /// For a satisfaction reminder: the satisfaction check it repeats, and its rating.
    pub reminder: Option<ReminderFacts>,
    /// Why the shop's marketing is paused (`domain::reputation`), if it is.
    pub marketing_paused: Option<String>,
}

/// The guards, in order. Pure, so each is tested on its own. The frequency cap is
/// applied after them, atomically on the profile (see `reserve_send_slot`).
pub fn guard(
    config: &Config,
    shop: &ShopConfig,
    f: &FollowUpRecord,
    ctx: &GuardContext,
    now: DateTime<Utc>,
) -> Verdict {
    if ctx.uninstalled && ctx.uninstall_unconfirmed {
        // Stopped, not cancelled: the privacy pass confirms the uninstall (or shows it
        // forged and resumes sends) before a later run.
        return Verdict::Defer {
            until: now + Duration::minutes(UNCONFIRMED_DEFER_MINUTES),
            reason: UNCONFIRMED_REASON.into(),
        };
    }
    if ctx.uninstalled {
        return Verdict::Cancel("shop uninstalled".into());
    }
    let Some(order) = &ctx.order else {
        return Verdict::Cancel("order not found".into());
    };
    if order.cancelled_at.is_some() {
        return Verdict::Cancel("order cancelled".into());
    }
    if f.playbook != Playbook::Returns && order.fully_refunded() {
        return Verdict::Cancel("order refunded".into());
    }
    if order.test && !config.email.dev_mode {
        return Verdict::Cancel("test order (email.dev_mode is off)".into());
    }
    let Some(profile) = &ctx.profile else {
        return Verdict::Cancel("customer not found".into());
    };
    if profile.email.is_none() {
        return Verdict::Cancel("no email address".into());
    }
    if let Some(reason) = &ctx.suppression {
        return Verdict::Cancel(format!("address suppressed ({reason})"));
    }
    if f.playbook.is_marketing() && !profile.allows_marketing() {
        return Verdict::Cancel("no marketing consent".into());
    }
    if f.playbook == Playbook::SatisfactionReminder {
        let rules = &shop.playbooks.satisfaction;
        if let Some(reason) = reminder::stop_reason(rules, order, ctx.reminder.as_ref()) {
            return Verdict::Cancel(reason.into());
        }
    }
    if f.playbook == Playbook::Replenishment {
        let created = order.created_at.as_deref().unwrap_or_default();
        let reordered = f
            .product_id
            .and_then(|p| profile.products.get(&p.to_string()))
            .is_some_and(|last| last.as_str() > created);
        if reordered {
            return Verdict::Cancel("reordered".into());
        }
    }
    let paused = ctx.marketing_paused.as_deref();
    if let Some((until, reason)) = crate::domain::reputation::brake(f.playbook, paused, now) {
        return Verdict::Defer { until, reason };
    }
    if let Some(until) = quiet_until(now, shop) {
        return Verdict::Defer {
            until,
            reason: "quiet hours".into(),
        };
    }
    Verdict::Send
}

/// If `now` falls in the shop's quiet hours (in its time zone), when they end.
pub fn quiet_until(now: DateTime<Utc>, shop: &ShopConfig) -> Option<DateTime<Utc>> {
    let (start, end) = shop.quiet_hours.times()?;
    if start == end {
        return None;
    }
    let tz = shop.tz();
    let local = now.with_timezone(&tz);
    let t = local.time();
    let quiet = if start < end {
        t >= start && t < end
    } else {
        t >= start || t < end
    };
    if !quiet {
        return None;
    }
    // The end is today if it is still ahead, else tomorrow.
    let mut day = local.date_naive();
    if t >= end {
        day = day.succ_opt()?;
    }
    let end_local = local_instant(&tz, day, end)?;
    Some(end_local.to_utc())
}

fn local_instant(
    tz: &chrono_tz::Tz,
    day: chrono::NaiveDate,
    t: NaiveTime,
) -> Option<DateTime<chrono_tz::Tz>> {
    let naive = day.and_time(t);
    // A time skipped by a DST change resolves to the first instant after the gap.
    tz.from_local_datetime(&naive).earliest().or_else(|| {
        tz.from_local_datetime(&(naive + Duration::hours(1)))
            .earliest()
    })
}

/// The order a run sends in: one queue per customer (shop and customer key), sent one
/// after another so the frequency cap goes to the right email; different customers go
/// in parallel. Within a queue, transactional follow-ups come before marketing ones;
/// then the oldest order first, and within one order its lifecycle (thank-you,
/// satisfaction, its reminder, returns, recovery), so a thank-you never follows its own
/// order's satisfaction check or the loyalty mail it triggered. Queues come oldest
/// first.
pub fn send_order(due: Vec<FollowUpRecord>) -> Vec<Vec<FollowUpRecord>> {
    let mut queues: BTreeMap<(String, String), Vec<FollowUpRecord>> = BTreeMap::new();
    for f in due {
        queues
            .entry((f.shop.clone(), f.customer_key.clone()))
            .or_default()
            .push(f);
    }
    let mut out: Vec<Vec<FollowUpRecord>> = queues
        .into_values()
        .map(|mut q| {
            // Each order is placed at its earliest due follow-up.
            let mut anchor: HashMap<u64, String> = HashMap::new();
            for f in &q {
                let at = due_key(f);
                anchor
                    .entry(f.order_id)
                    .and_modify(|a| {
                        if at < *a {
                            *a = at.clone();
                        }
                    })
                    .or_insert(at);
            }
            q.sort_by_cached_key(|f| {
                (
                    f.playbook.is_marketing(),
                    anchor.get(&f.order_id).cloned().unwrap_or_default(),
                    f.order_id,
                    lifecycle_rank(f.playbook),
                    due_key(f),
                )
            });
            q
        })
        .collect();
    out.sort_by_cached_key(|q| q.iter().map(due_key).min().unwrap_or_default());
    out
}

fn due_key(f: &FollowUpRecord) -> String {
    f.due_sk.clone().unwrap_or_else(|| f.due_at.clone())
}

/// Where a playbook falls in an order's life.
fn lifecycle_rank(p: Playbook) -> u8 {
    match p {
        Playbook::ThankYou => 0,
        Playbook::Satisfaction => 1,
        Playbook::SatisfactionReminder => 2,
        Playbook::Returns => 3,
        Playbook::Recovery => 4,
        Playbook::Replenishment => 5,
        Playbook::Loyalty => 6,
    }
}

#[cfg(test)]
mod order_tests {
    use super::*;

    fn f(customer: &str, playbook: Playbook, order_id: u64, due: &str) -> FollowUpRecord {
        let mut f = FollowUpRecord::pending(
            "acme.myshopify.com",
            customer,
            playbook,
            order_id,
            None,
            due,
            "2026-11-01T00:00:00.000Z",
            1,
        );
        f.index_at(due, 1);
        f
    }

    fn ids(q: &[FollowUpRecord]) -> Vec<&str> {
        q.iter().map(|f| f.id.as_str()).collect()
    }

    #[test]
    fn one_queue_per_customer_transactional_first_then_oldest_order_then_its_lifecycle() {
        let due = vec![
            f(
                "42",
                Playbook::Replenishment,
                1000,
                "2026-11-20T08:00:00.000Z",
            ),
            f(
                "42",
                Playbook::Satisfaction,
                1001,
                "2026-11-22T08:00:00.000Z",
            ),
            f("7", Playbook::ThankYou, 2001, "2026-11-21T08:00:00.000Z"),
            // Delivered fast while dispatch was down: its thank-you is due later
            // than its satisfaction check, and still goes first.
            f("42", Playbook::ThankYou, 1001, "2026-11-22T09:00:00.000Z"),
            f("42", Playbook::Loyalty, 1001, "2026-11-22T08:30:00.000Z"),
            f("42", Playbook::Returns, 999, "2026-11-23T08:00:00.000Z"),
        ];
        let queues = send_order(due);
        assert_eq!(queues.len(), 2);
        // Customer 42's oldest follow-up (20 Nov) is older than customer 7's.
        assert_eq!(
            ids(&queues[0]),
            [
                "thank_you#1001#0",
                "satisfaction#1001#0",
                "returns#999#0",
                "replenishment#1000#0",
                "loyalty#1001#0",
            ]
        );
        assert_eq!(ids(&queues[1]), ["thank_you#2001#0"]);
    }

    #[test]
    fn a_satisfaction_reminder_comes_right_after_its_satisfaction_check() {
        let due = vec![
            f("42", Playbook::Returns, 1001, "2026-11-20T08:00:00.000Z"),
            f(
                "42",
                Playbook::SatisfactionReminder,
                1001,
                "2026-11-20T08:00:00.000Z",
            ),
            f(
                "42",
                Playbook::Satisfaction,
                1001,
                "2026-11-20T09:00:00.000Z",
            ),
        ];
        assert_eq!(
            ids(&send_order(due)[0]),
            [
                "satisfaction#1001#0",
                "satisfaction_reminder#1001#0",
                "returns#1001#0"
            ]
        );
    }
}

//! The merchant's report, pure: what each state change adds to the per-day counters
//! ([`of_writes`], [`of_settle`], [`classify`]) and the figures computed from them
//! ([`build`], [`lookup`]). Counts land on the UTC day the change happened; rates are
//! shares of the follow-ups sent in the same period. See `docs/report.md`.

use crate::domain::ingest::{Item, Loaded, Write};
use crate::model::report::*;
use crate::model::Expect;
use crate::model::{
    FeedbackRecord, FollowUpRecord, FollowUpStatus, OrderRecord, Playbook, ReturnReason,
};
use chrono::{Datelike, Duration, NaiveDate};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::str::FromStr;

/// SES reviews an account at a 5 % bounce rate and a 0.1 % complaint rate; Gmail asks
/// bulk senders to stay under 0.3 % spam.
pub const SES_BOUNCE_LINE: f64 = 0.05;
pub const SES_COMPLAINT_LINE: f64 = 0.001;
pub const GMAIL_SPAM_LINE: f64 = 0.003;

/// How an order earns credit (shown on the report as it is).
pub fn attribution_rule(window_days: u32) -> String {
    format!(
        "An order is credited to the follow-up whose discount code it used, else to the follow-up whose reorder or rating link the customer clicked within {window_days} days before ordering (the latest such click). For a playbook with a holdout group, an order placed within {window_days} days after a follow-up was sent or held out is credited to it too when nothing else is (the latest). Opens never earn credit, and an order earns credit once."
    )
}

/// The UTC day (`YYYY-MM-DD`) of a time key.
pub fn day(key: &str) -> String {
    key.chars().take(10).collect()
}

/// The order in the store admin.
pub fn admin_url(shop: &str, order_id: u64) -> String {
    format!("https://{shop}/admin/orders/{order_id}")
}

/// Which report line a follow-up's cancel reason belongs to. The reasons are the
/// guards' and the planner's (`domain::guards`, `domain::followup`, `domain::reminder`).
pub fn classify(reason: &str) -> NotSentReason {
    let r = reason.to_ascii_lowercase();
    if r.contains("marketing consent") {
        NotSentReason::NoConsent
    } else if r.starts_with("address suppressed") {
        NotSentReason::Suppressed
    } else if r.starts_with("reordered") {
        NotSentReason::Reorder
    } else if r.starts_with("order cancelled") {
        NotSentReason::OrderCancelled
    } else if r.starts_with("order refunded") || r.contains("refund") {
        NotSentReason::Refunded
    } else if r.contains("paused") || r.contains("reputation") {
        NotSentReason::Paused
    } else if r.contains("rated") || r.contains("answered") || r.contains("not delivered") {
        NotSentReason::Answered
    } else {
        NotSentReason::Other
    }
}

/// A failure's reason as the report lists it: at most 80 characters, and no word that
/// could be an address (SES names the recipient in some refusals).
pub fn failure_reason(reason: &str) -> String {
    let cleaned: Vec<&str> = reason
        .split_whitespace()
        .map(|w| if w.contains('@') { "[address]" } else { w })
        .collect();
    let joined = cleaned.join(" ");
    let mut out: String = joined.chars().take(80).collect();
    if out.len() < joined.len() {
        out.push('…');
    }
    out
}

/// The playbook a follow-up id (`thank_you#450789469#0`) belongs to.
pub fn playbook_of(followup_id: &str) -> Option<Playbook> {
    let name = followup_id.split('#').next()?;
    Playbook::ALL.into_iter().find(|p| p.as_str() == name)
}

/// A follow-up created pending (by the dispatcher or the settling, not the planner).
pub fn planned(f: &FollowUpRecord, now_key: &str) -> Tally {
    Tally::new(day(now_key), Scope::Playbook(f.playbook)).one(Counter::Planned)
}

/// What a dispatcher's outcome adds: one of sent, held out, not sent (with why), failed,
/// held by the cap.
pub fn of_outcome(before: &FollowUpRecord, after: &FollowUpRecord, now_key: &str) -> Option<Tally> {
    let t = Tally::new(day(now_key), Scope::Playbook(after.playbook));
    let reason = after.reason.as_deref().unwrap_or_default();
    match after.status {
        FollowUpStatus::Sent => {
            let t = t.one(Counter::Sent);
            Some(if before.reason.as_deref() == Some(CAP_REASON) {
                t.one(Counter::SentAfterCap)
            } else {
                t
            })
        }
        FollowUpStatus::HeldOut => Some(t.one(Counter::HeldOut)),
        FollowUpStatus::Cancelled => Some(t.one(Counter::NotSent(classify(reason)))),
        FollowUpStatus::Failed => {
            let mut t = t.one(Counter::Failed);
            t.failed_reason = Some(failure_reason(reason));
            Some(t)
        }
        FollowUpStatus::Pending
            if reason == CAP_REASON && before.reason.as_deref() != Some(CAP_REASON) =>
        {
            Some(t.one(Counter::HeldByCap))
        }
        _ => None,
    }
}

/// The reason the dispatcher writes on a follow-up the frequency cap holds.
pub const CAP_REASON: &str = "frequency cap";

/// What one recorded delivery's writes add: follow-ups planned, cancelled by the
/// planner (reorder, cancellation, refund), orders credited with their value, codes
/// redeemed, and refunds of credited orders.
pub fn of_writes(now_key: &str, loaded: &Loaded, writes: &[Write]) -> Vec<Tally> {
    let today = day(now_key);
    let order = writes
        .iter()
        .find_map(|w| match &w.item {
            Item::Order(o) => Some(o),
            _ => None,
        })
        .or(loaded.order.as_ref());
    let mut out = Vec::new();
    for w in writes {
        match &w.item {
            Item::FollowUp(f) => {
                let before = loaded.followups.iter().find(|s| s.id == f.id);
                out.extend(followup_change(&today, before, f, w.expect, order));
            }
            Item::Discount(d) => {
                let before = loaded.discounts.iter().find(|s| s.followup == d.followup);
                let newly = d.redeemed_order_id.is_some()
                    && before.is_some_and(|b| b.redeemed_order_id.is_none());
                if let (true, Some(p)) = (newly, playbook_of(&d.followup)) {
                    out.push(Tally::new(&today, Scope::Playbook(p)).one(Counter::CodesRedeemed));
                }
            }
            // Once per refund: a redelivery under another webhook id is a duplicate
            // event (its business key) and writes nothing.
            Item::Refund(r) => {
                let credited = loaded
                    .followups
                    .iter()
                    .find(|f| f.tracking.attributed_order_id == Some(r.order_id));
                if let (Some(f), Some(o)) = (credited, order) {
                    if let Some((currency, amount)) = refunded_value(o, r) {
                        out.push(
                            Tally::new(&today, Scope::Playbook(f.playbook))
                                .amount(Counter::Refunded(currency), amount.to_string()),
                        );
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn followup_change(
    today: &str,
    before: Option<&FollowUpRecord>,
    f: &FollowUpRecord,
    expect: Expect,
    order: Option<&OrderRecord>,
) -> Vec<Tally> {
    let t = || Tally::new(today, Scope::Playbook(f.playbook));
    let mut out = Vec::new();
    if expect == Expect::Absent && f.status == FollowUpStatus::Pending {
        out.push(t().one(Counter::Planned));
    }
    if let Some(b) = before {
        if b.status == FollowUpStatus::Pending && f.status == FollowUpStatus::Cancelled {
            let reason = f.reason.as_deref().unwrap_or_default();
            out.push(t().one(Counter::NotSent(classify(reason))));
        }
    }
    let newly_credited = f.tracking.attributed_order_id.is_some()
        && before.is_none_or(|b| b.tracking.attributed_order_id.is_none());
    if newly_credited && f.status == FollowUpStatus::HeldOut {
        // No email earned it: the holdout comparison's, never the credited figures.
        out.push(t().one(Counter::HeldOutOrdered));
    } else if newly_credited {
        let mut credit = t().one(Counter::Ordered);
        let value = order.filter(|o| Some(o.order_id) == f.tracking.attributed_order_id);
        if let Some((Some(cur), Some(total))) = value.map(|o| (&o.currency, o.total_price)) {
            credit = credit.amount(Counter::Revenue(currency_code(cur)), total.to_string());
        }
        out.push(credit);
    }
    out
}

/// The value a refund gave back: each refunded line's unit price × quantity.
fn refunded_value(
    order: &OrderRecord,
    refund: &crate::model::RefundRecord,
) -> Option<(String, Decimal)> {
    let currency = currency_code(order.currency.as_deref()?);
    let mut total = Decimal::ZERO;
    for l in &refund.lines {
        let price = order
            .lines
            .iter()
            .find(|o| o.line_item_id == l.line_item_id)
            .and_then(|o| o.price)
            .unwrap_or_default();
        let line = price.checked_mul(Decimal::from(l.quantity))?;
        total = total.checked_add(line)?;
    }
    (total > Decimal::ZERO).then_some((currency, total))
}

/// A currency code as an attribute-name part: three ASCII letters, else `XXX`.
fn currency_code(c: &str) -> String {
    let c = c.trim().to_ascii_uppercase();
    if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) {
        c
    } else {
        "XXX".into()
    }
}

/// What settling a feedback item adds, given what its counters held before
/// (`counted_score`, `counted_comment`): a first score adds one; a changed score takes
/// one from the old and adds one to the new; the same score adds nothing. Counted on
/// the follow-up's playbook and on each product of the order (`products`: id, title).
/// Returns the tallies and the item's new counted state.
pub fn of_settle(
    item: &FeedbackRecord,
    playbook: Playbook,
    products: &[(u64, String)],
    now_key: &str,
) -> (Vec<Tally>, Option<u8>, bool) {
    let today = day(now_key);
    let counted = item.counts() && item.state == crate::model::FeedbackState::Rated;
    let score = counted.then_some(item.score);
    let comment = counted && item.comment.is_some();
    let reason = item.is_return_reason();
    let counter = |n: u8| {
        if reason {
            ReturnReason::from_number(n).map(Counter::Reason)
        } else {
            (1..=5).contains(&n).then_some(Counter::Score(n))
        }
    };
    let mut adds: Vec<(Counter, i64)> = Vec::new();
    if item.counted_score != score {
        if let Some(c) = item.counted_score.and_then(counter) {
            adds.push((c, -1));
        }
        if let Some(c) = score.and_then(counter) {
            adds.push((c, 1));
        }
    }
    if comment != item.counted_comment {
        adds.push((Counter::Comments, if comment { 1 } else { -1 }));
    }
    if adds.is_empty() {
        return (Vec::new(), item.counted_score, item.counted_comment);
    }
    let tally = |scope: Scope| {
        let mut t = Tally::new(&today, scope);
        t.adds = adds
            .iter()
            .map(|(c, n)| (c.clone(), n.to_string()))
            .collect();
        t
    };
    let mut out = vec![tally(Scope::Playbook(playbook))];
    // Products are counted per ISO week (their items are keyed by its Monday).
    let week = monday(&today).map_or_else(|| today.clone(), |d| d.to_string());
    for (id, title) in products {
        let mut t = tally(Scope::Product(*id));
        t.day.clone_from(&week);
        t.adds.retain(|(c, _)| *c != Counter::Comments);
        t.title = Some(title.clone());
        out.push(t);
    }
    (out, score, comment)
}

/// Tallies of one day and scope merged into one (one write each).
pub fn merge(tallies: Vec<Tally>) -> Vec<Tally> {
    let mut by: BTreeMap<(String, Scope), Tally> = BTreeMap::new();
    for t in tallies {
        let slot = by
            .entry((t.day.clone(), t.scope.clone()))
            .or_insert_with(|| Tally::new(t.day.clone(), t.scope.clone()));
        for (c, n) in t.adds {
            match slot.adds.iter_mut().find(|(x, _)| *x == c) {
                Some((_, total)) => *total = add_decimal(total, &n),
                None => slot.adds.push((c, n)),
            }
        }
        slot.failed_reason = slot.failed_reason.take().or(t.failed_reason);
        slot.title = slot.title.take().or(t.title);
    }
    by.into_values()
        .map(|mut t| {
            t.adds.retain(|(_, n)| n != "0");
            t
        })
        .filter(|t| !t.adds.is_empty() || t.failed_reason.is_some())
        .collect()
}

fn add_decimal(a: &str, b: &str) -> String {
    let (a, b) = (dec(a), dec(b));
    a.checked_add(b).unwrap_or(a).normalize().to_string()
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Building the report

/// A period of `days` whole UTC days ending with `to`, and the one just before it.
pub fn periods(to: NaiveDate, days: u32) -> (Period, Period) {
    let days = days.clamp(1, 3_660);
    let span = |end: NaiveDate| {
        let start = end - Duration::days(i64::from(days) - 1);
        Period {
            from: start.to_string(),
            to: end.to_string(),
            days,
        }
    };
    let current = span(to);
    let previous = span(to - Duration::days(i64::from(days)));
    (current, previous)
}

/// What [`build`] computes from.
pub struct Inputs<'a> {
    pub shop: &'a str,
    pub period: Period,
    pub previous: Period,
    pub generated_at: String,
    pub attribution_window_days: u32,
    /// The stats items of both periods.
    pub rows: &'a [StatsRow],
    /// The settled feedback items with a comment in the period, any order.
    pub comments: &'a [FeedbackRecord],
    /// Whether the comment query stopped at its limit.
    pub comments_capped: bool,
    /// Most comments to list.
    pub max_comments: usize,
    /// Each playbook's `holdout_percent` now (`Playbooks::holdout_percent`; 0 for none).
    pub holdout_percent: &'a dyn Fn(Playbook) -> u32,
}

/// The report, from the counters and the period's comments.
pub fn build(i: &Inputs<'_>) -> Report {
    let since = products_since(&i.period);
    let in_period = |p: &Period, r: &&StatsRow| {
        let from = if r.scope.starts_with("product#") {
            &since
        } else {
            &p.from
        };
        r.day >= *from && r.day <= p.to
    };
    let current: Vec<&StatsRow> = i.rows.iter().filter(|r| in_period(&i.period, r)).collect();
    let previous: Vec<&StatsRow> = i
        .rows
        .iter()
        .filter(|r| in_period(&i.previous, r))
        .collect();
    let playbooks = playbook_rows(&current, &previous, i.holdout_percent);
    let shop_now = sum(&current, |s| s == "shop");
    let total = with_shop_counts(figures(&sum(&current, is_playbook)), &shop_now);
    let total_previous = with_shop_counts(
        figures(&sum(&previous, is_playbook)),
        &sum(&previous, |s| s == "shop"),
    );
    let voice = voice(&current, &previous, &i.period);
    let deliverability = deliverability(&current, &i.period, &total, &shop_now);
    let mut comments = comment_rows(i.shop, i.comments);
    let listed_all = !i.comments_capped && comments.len() <= i.max_comments;
    comments.truncate(i.max_comments);
    let comments_total = count(&sum(&current, is_playbook), "comments").max(comments.len() as u64);
    Report {
        shop: i.shop.to_owned(),
        period: i.period.clone(),
        previous_period: i.previous.clone(),
        generated_at: i.generated_at.clone(),
        attribution_rule: attribution_rule(i.attribution_window_days),
        attribution_window_days: i.attribution_window_days,
        total,
        total_previous,
        playbooks,
        voice,
        deliverability,
        comments_total: if listed_all {
            comments.len() as u64
        } else {
            comments_total
        },
        comments,
        return_reasons: reason_counts(&sum(&current, |s| s == "playbook#returns")),
        products: product_rows(&current),
        products_since: since,
        // Not from the counters: `apps::report` adds it from the learned timing.
        replenishment_timing: Timing::default(),
    }
}

/// The Monday of the period's first week: product counters are weekly.
pub fn products_since(period: &Period) -> String {
    monday(&period.from).map_or_else(|| period.from.clone(), |d| d.to_string())
}

fn is_playbook(scope: &str) -> bool {
    scope.starts_with("playbook#")
}

/// Counters summed over rows whose scope passes `keep`.
#[derive(Default)]
struct Sums {
    counts: BTreeMap<String, Decimal>,
    failed_reasons: Vec<String>,
}

fn sum(rows: &[&StatsRow], keep: impl Fn(&str) -> bool) -> Sums {
    let mut s = Sums::default();
    for r in rows.iter().filter(|r| keep(&r.scope)) {
        for (k, v) in &r.counts {
            let slot = s.counts.entry(k.clone()).or_default();
            *slot = slot.checked_add(dec(v)).unwrap_or(*slot);
        }
        for f in &r.failed_reasons {
            if !s.failed_reasons.contains(f) {
                s.failed_reasons.push(f.clone());
            }
        }
    }
    s.failed_reasons.sort();
    s
}

/// A whole count (negative sums, from a changed score, floor at zero).
fn count(s: &Sums, name: &str) -> u64 {
    use rust_decimal::prelude::ToPrimitive;
    let v = s.counts.get(name).copied().unwrap_or_default();
    v.trunc().to_u64().unwrap_or(0)
}

fn ratio(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

fn figures(s: &Sums) -> Figures {
    let c = |name: &str| count(s, name);
    let sent = c("sent");
    let not_sent = NotSentReason::ALL
        .into_iter()
        .map(|r| (r.as_str().to_owned(), c(&Counter::NotSent(r).name())))
        .collect();
    let issued = c("codes_issued");
    let mut f = Figures {
        planned: c("planned"),
        sent,
        not_sent,
        held_by_cap: c("held_by_cap"),
        sent_after_cap: c("sent_after_cap"),
        failed: c("failed"),
        failed_reasons: s.failed_reasons.clone(),
        delivered: c("delivered"),
        opened: c("opened"),
        clicked: c("clicked"),
        ordered: c("ordered"),
        money: money(s, sent),
        codes_issued: issued,
        codes_redeemed: c("codes_redeemed"),
        bounced: c("bounced"),
        complained: c("complained"),
        unsubscribed: c("unsubscribed"),
        rates: Rates::default(),
    };
    f.rates = rates(&f);
    f
}

fn rates(f: &Figures) -> Rates {
    Rates {
        delivered: ratio(f.delivered, f.sent),
        opened: ratio(f.opened, f.sent),
        clicked: ratio(f.clicked, f.sent),
        ordered: ratio(f.ordered, f.sent),
        bounced: ratio(f.bounced, f.sent),
        complained: ratio(f.complained, f.sent),
        unsubscribed: ratio(f.unsubscribed, f.sent),
        redemption: ratio(f.codes_redeemed, f.codes_issued),
    }
}

/// Unsubscribes not tied to a follow-up's playbook count in the total.
fn with_shop_counts(mut f: Figures, shop: &Sums) -> Figures {
    f.unsubscribed = f.unsubscribed.saturating_add(count(shop, "unsubscribed"));
    f.rates = rates(&f);
    f
}

fn money(s: &Sums, sent: u64) -> Vec<Money> {
    let mut currencies: Vec<&str> = s
        .counts
        .keys()
        .filter_map(|k| k.strip_prefix("revenue_").or(k.strip_prefix("refunded_")))
        .collect();
    currencies.sort_unstable();
    currencies.dedup();
    currencies
        .into_iter()
        .map(|cur| {
            let get = |k: String| s.counts.get(&k).copied().unwrap_or_default();
            let revenue = get(format!("revenue_{cur}"));
            let refunded = get(format!("refunded_{cur}"));
            let net = revenue.checked_sub(refunded).unwrap_or(revenue);
            Money {
                currency: cur.to_owned(),
                revenue: revenue.round_dp(2).to_string(),
                refunded: refunded.round_dp(2).to_string(),
                net: net.round_dp(2).to_string(),
                per_recipient: (sent > 0).then(|| {
                    net.checked_div(Decimal::from(sent))
                        .unwrap_or_default()
                        .round_dp(2)
                        .to_string()
                }),
            }
        })
        .collect()
}

fn playbook_rows(
    current: &[&StatsRow],
    previous: &[&StatsRow],
    holdout_percent: &dyn Fn(Playbook) -> u32,
) -> Vec<PlaybookRow> {
    Playbook::ALL
        .into_iter()
        .filter_map(|p| {
            let scope = Scope::Playbook(p).key();
            let sums = sum(current, |s| s == scope);
            let now = figures(&sums);
            let before = figures(&sum(previous, |s| s == scope));
            let holdout = holdout(&sums, &now, holdout_percent(p));
            let active = |f: &Figures| f.planned + f.sent + f.failed + f.ordered + f.delivered > 0;
            let held = holdout.as_ref().is_some_and(|h| h.held_out > 0);
            (active(&now) || active(&before) || held).then(|| PlaybookRow {
                playbook: p.as_str().to_owned(),
                label: playbook_label(p).to_owned(),
                marketing: p.is_marketing(),
                current: now,
                previous: before,
                holdout,
            })
        })
        .collect()
}

/// A playbook's sent-against-held-out comparison for the period, when its
/// `holdout_percent` is above 0 or it held anyone out: the conversion of each group
/// (orders credited / follow-ups) and their difference with Newcombe's hybrid score
/// interval (`domain::holdout`).
fn holdout(s: &Sums, f: &Figures, percent: u32) -> Option<Holdout> {
    let held_out = count(s, &Counter::HeldOut.name());
    if percent == 0 && held_out == 0 {
        return None;
    }
    let held_out_ordered = count(s, &Counter::HeldOutOrdered.name());
    let d = crate::domain::holdout::newcombe(f.ordered, f.sent, held_out_ordered, held_out);
    Some(Holdout {
        percent: percent.min(100) as u8,
        sent: f.sent,
        sent_ordered: f.ordered,
        held_out,
        held_out_ordered,
        sent_rate: ratio(f.ordered, f.sent),
        held_out_rate: ratio(held_out_ordered, held_out),
        difference: d.map(|d| d.estimate),
        difference_low: d.map(|d| d.low),
        difference_high: d.map(|d| d.high),
        conclusive: d.is_some_and(|d| d.conclusive()),
        verdict: crate::domain::holdout::verdict(d.as_ref()),
    })
}

/// What the merchant calls each playbook.
pub fn playbook_label(p: Playbook) -> &'static str {
    match p {
        Playbook::ThankYou => "Thank-you",
        Playbook::Satisfaction => "Satisfaction check",
        Playbook::Replenishment => "Replenishment reminder",
        Playbook::Loyalty => "Loyalty reward",
        Playbook::Returns => "Returns feedback",
        Playbook::Recovery => "Recovery (apology)",
        Playbook::SatisfactionReminder => "Satisfaction reminder",
    }
}

fn scores(s: &Sums) -> [u64; 5] {
    [1, 2, 3, 4, 5].map(|n| count(s, &format!("score_{n}")))
}

fn csat(scores: &[u64; 5]) -> Option<f64> {
    ratio(scores[3] + scores[4], scores.iter().sum())
}

fn voice(current: &[&StatsRow], previous: &[&StatsRow], period: &Period) -> Voice {
    let rated = sum(current, |s| s == "playbook#satisfaction");
    let s = scores(&rated);
    let responses: u64 = s.iter().sum();
    let before = scores(&sum(previous, |s| s == "playbook#satisfaction"));
    // A reminder asks the same customer again: customers asked are the checks sent.
    let asked = count(&sum(current, |s| s == "playbook#satisfaction"), "sent");
    let recovery = sum(current, |s| s == "playbook#recovery");
    let weighted: u64 = s.iter().zip(1u64..).map(|(n, w)| n * w).sum();
    Voice {
        asked,
        responses,
        response_rate: ratio(responses, asked),
        scores: s,
        csat: csat(&s),
        average: ratio(weighted, responses),
        weeks: weeks(current, period),
        comments: count(&sum(current, is_playbook), "comments"),
        recoveries_sent: count(&recovery, "sent"),
        recoveries_ordered: count(&recovery, "ordered"),
        responses_previous: before.iter().sum(),
        csat_previous: csat(&before),
    }
}

/// Monday of a day's week.
fn monday(day: &str) -> Option<NaiveDate> {
    let d = NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
    Some(d - Duration::days(i64::from(d.weekday().num_days_from_monday())))
}

fn weeks(current: &[&StatsRow], period: &Period) -> Vec<WeekRow> {
    let (Some(first), Some(last)) = (monday(&period.from), monday(&period.to)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut week = first;
    while week <= last && out.len() < 530 {
        let rows: Vec<&StatsRow> = current
            .iter()
            .copied()
            .filter(|r| monday(&r.day) == Some(week) && r.scope == "playbook#satisfaction")
            .collect();
        let s = scores(&sum(&rows, |_| true));
        out.push(WeekRow {
            week: week.to_string(),
            responses: s.iter().sum(),
            csat: csat(&s),
        });
        week += Duration::days(7);
    }
    out
}

fn deliverability(
    current: &[&StatsRow],
    period: &Period,
    total: &Figures,
    shop: &Sums,
) -> Deliverability {
    let mut days = Vec::new();
    if let (Ok(from), Ok(to)) = (
        NaiveDate::parse_from_str(&period.from, "%Y-%m-%d"),
        NaiveDate::parse_from_str(&period.to, "%Y-%m-%d"),
    ) {
        let mut d = from;
        while d <= to && days.len() < 3_660 {
            let key = d.to_string();
            let rows: Vec<&StatsRow> = current.iter().copied().filter(|r| r.day == key).collect();
            let s = sum(&rows, is_playbook);
            days.push(DayRow {
                day: key,
                sent: count(&s, "sent"),
                bounced: count(&s, "bounced"),
                complained: count(&s, "complained"),
            });
            d += Duration::days(1);
        }
    }
    let bounce_rate = ratio(total.bounced, total.sent);
    let complaint_rate = ratio(total.complained, total.sent);
    Deliverability {
        sent: total.sent,
        bounced: total.bounced,
        complained: total.complained,
        bounce_rate,
        complaint_rate,
        unsubscribed: total.unsubscribed,
        suppressions_added: count(shop, "suppressed"),
        ses_bounce_line: SES_BOUNCE_LINE,
        ses_complaint_line: SES_COMPLAINT_LINE,
        gmail_spam_line: GMAIL_SPAM_LINE,
        days,
        warnings: warnings(bounce_rate, complaint_rate),
    }
}

fn warnings(bounce: Option<f64>, complaint: Option<f64>) -> Vec<String> {
    let pct = |x: f64, dp: usize| format!("{:.*} %", dp, x * 100.0);
    let mut out = Vec::new();
    if let Some(b) = bounce.filter(|b| *b >= SES_BOUNCE_LINE) {
        out.push(format!("Bounce rate {} is at or over the 5 % at which Amazon SES reviews an account: check where the addresses come from.", pct(b, 1)));
    } else if let Some(b) = bounce.filter(|b| *b >= SES_BOUNCE_LINE / 2.0) {
        out.push(format!(
            "Bounce rate {} is over half of Amazon SES's 5 % review line.",
            pct(b, 1)
        ));
    }
    if let Some(c) = complaint.filter(|c| *c >= GMAIL_SPAM_LINE) {
        out.push(format!("Complaint rate {} is over Gmail's 0.3 % spam line and Amazon SES's 0.1 % review line: Gmail may send this shop's mail to spam.", pct(c, 2)));
    } else if let Some(c) = complaint.filter(|c| *c >= SES_COMPLAINT_LINE) {
        out.push(format!(
            "Complaint rate {} is at or over the 0.1 % at which Amazon SES reviews an account.",
            pct(c, 2)
        ));
    }
    out
}

fn comment_rows(shop: &str, items: &[FeedbackRecord]) -> Vec<CommentRow> {
    let mut rows: Vec<CommentRow> = items
        .iter()
        .filter_map(|f| {
            let comment = f.comment.clone()?;
            let reason = f.is_return_reason();
            Some(CommentRow {
                at: f.updated_at.clone(),
                playbook: if reason { "returns" } else { "satisfaction" }.into(),
                score: (!reason).then_some(f.score),
                reason: reason
                    .then(|| ReturnReason::from_number(f.score).map(|r| r.label().to_owned()))
                    .flatten(),
                comment,
                order_id: f.order_id,
                order_name: f.order_name.clone(),
                admin_url: admin_url(shop, f.order_id),
            })
        })
        .collect();
    // Low scores first (reasons after ratings), newest first within a score.
    rows.sort_by(|a, b| {
        let rank = |r: &CommentRow| r.score.unwrap_or(6);
        rank(a).cmp(&rank(b)).then(b.at.cmp(&a.at))
    });
    rows.truncate(Report::MAX_COMMENTS);
    rows
}

fn reason_counts(s: &Sums) -> Vec<ReasonCount> {
    let mut out: Vec<ReasonCount> = ReturnReason::ALL
        .into_iter()
        .map(|r| ReasonCount {
            reason: r.as_str().to_owned(),
            label: r.label().to_owned(),
            count: count(s, &Counter::Reason(r).name()),
        })
        .filter(|r| r.count > 0)
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(&b.reason)));
    out
}

fn product_rows(current: &[&StatsRow]) -> Vec<ProductRow> {
    let mut ids: Vec<&str> = current
        .iter()
        .filter_map(|r| r.scope.strip_prefix("product#"))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut out: Vec<ProductRow> = ids
        .into_iter()
        .filter_map(|id| {
            let scope = format!("product#{id}");
            let s = sum(current, |x| x == scope);
            let sc = scores(&s);
            let ratings: u64 = sc.iter().sum();
            let weighted: u64 = sc.iter().zip(1u64..).map(|(n, w)| n * w).sum();
            let reasons = reason_counts(&s);
            let title = current
                .iter()
                .filter(|r| r.scope == scope)
                .find_map(|r| r.title.clone());
            Some(ProductRow {
                product_id: id.parse().ok()?,
                title,
                ratings,
                average: ratio(weighted, ratings),
                returns: reasons.iter().map(|r| r.count).sum(),
                reasons,
            })
        })
        .filter(|p| p.ratings + p.returns > 0)
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.ratings + p.returns));
    out
}

/// Every follow-up planned for one order, with what happened to each.
pub fn lookup(
    shop: &str,
    order: &OrderRecord,
    followups: &[FollowUpRecord],
    feedback: &[FeedbackRecord],
) -> Lookup {
    let mut rows: Vec<LookupRow> = followups
        .iter()
        .filter(|f| f.order_id == order.order_id)
        .map(|f| {
            let t = &f.tracking;
            let mut events: Vec<(String, String)> = [
                ("delivered", &t.delivered_at),
                ("opened", &t.opened_at),
                ("clicked", &t.clicked_at),
                ("bounced", &t.bounced_at),
                ("complained", &t.complained_at),
                ("held_out", &f.held_out_at),
                ("ordered", &t.attributed_at),
            ]
            .into_iter()
            .filter_map(|(what, at)| Some((what.to_owned(), at.clone()?)))
            .collect();
            events.sort_by(|a, b| a.1.cmp(&b.1));
            let fb = feedback.iter().find(|b| b.followup == f.id);
            LookupRow {
                playbook: f.playbook.as_str().to_owned(),
                product_id: f.product_id.filter(|p| *p != 0),
                status: status_name(f.status).to_owned(),
                due_at: f.due_at.clone(),
                planned_at: Some(f.planned_at.clone()),
                sent_at: f.sent_at.clone(),
                reason: f.reason.clone(),
                events,
                score: fb.filter(|b| b.counts()).map(|b| b.score),
                comment: fb.and_then(|b| b.comment.clone()),
            }
        })
        .collect();
    rows.sort_by(|a, b| a.due_at.cmp(&b.due_at));
    Lookup {
        order_id: order.order_id,
        order_name: order.name.clone(),
        admin_url: admin_url(shop, order.order_id),
        followups: rows,
    }
}

fn status_name(s: FollowUpStatus) -> &'static str {
    match s {
        FollowUpStatus::Pending => "pending",
        FollowUpStatus::Sending => "sending",
        FollowUpStatus::Sent => "sent",
        FollowUpStatus::HeldOut => "held_out",
        FollowUpStatus::Cancelled => "cancelled",
        FollowUpStatus::Failed => "failed",
    }
}

mod timing;
pub use timing::timing;

#[cfg(test)]
mod tests;

//! The merchant's report: the per-day counters it is computed from ([`Counter`],
//! [`StatsRow`]) and the figures it shows ([`Report`]), whose JSON field names are
//! stable (documented in `docs/report.md`).
//!
//! Counters live in the `stats` items `SHOP#{shop}#STATS` / `{YYYY-MM-DD}#{scope}`: one
//! per shop, UTC day and scope (a playbook, a product, or the shop as a whole), each
//! number `ADD`ed by the write path that changed the state it counts.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a stats item counts for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// One playbook's follow-ups (`playbook#thank_you`).
    Playbook(super::Playbook),
    /// Ratings and return reasons about one product (`product#632910392`).
    Product(u64),
    /// Shop-wide: unsubscribes and suppressions not tied to a follow-up (`shop`).
    Shop,
}

impl Scope {
    pub fn key(&self) -> String {
        match self {
            Scope::Playbook(p) => format!("playbook#{}", p.as_str()),
            Scope::Product(id) => format!("product#{id}"),
            Scope::Shop => "shop".into(),
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        if s == "shop" {
            return Some(Scope::Shop);
        }
        if let Some(p) = s.strip_prefix("playbook#") {
            return super::Playbook::ALL
                .into_iter()
                .find(|x| x.as_str() == p)
                .map(Scope::Playbook);
        }
        s.strip_prefix("product#")?.parse().ok().map(Scope::Product)
    }
}

/// One number a stats item holds. The attribute name is [`Counter::name`]; money
/// counters are per currency (`revenue_USD`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Counter {
    /// Follow-ups planned (created pending).
    Planned,
    /// Handed to SES and accepted.
    Sent,
    /// Sent after being held by the frequency cap (also counted in `Sent`).
    SentAfterCap,
    /// Held by the frequency cap for the first time (sent or not later).
    HeldByCap,
    /// Not sent, by why (`not_sent_no_consent`, …).
    NotSent(NotSentReason),
    /// Given up on (also listed by reason in the item's `failed_reasons`).
    Failed,
    Delivered,
    /// First open of a follow-up (opens by the same recipient again count once).
    Opened,
    /// First click of a follow-up on any of its links.
    Clicked,
    /// Orders credited to the playbook's sent follow-ups.
    Ordered,
    /// Follow-ups held out (the playbook's holdout group): passed the guards, not sent.
    HeldOut,
    /// Orders credited, by time, to held-out follow-ups (not in `Ordered` or revenue).
    HeldOutOrdered,
    /// Order totals credited, in the order's currency (exact decimal).
    Revenue(String),
    /// Refunded amounts of credited orders, in their currency.
    Refunded(String),
    CodesIssued,
    CodesRedeemed,
    Bounced,
    Complained,
    Unsubscribed,
    /// Addresses newly suppressed (bounce, complaint, unsubscribe).
    Suppressed,
    /// A person's satisfaction score, 1–5 (counted on the follow-up's playbook and on
    /// each product of the order).
    Score(u8),
    /// Ratings or reasons that came with a comment.
    Comments,
    /// A return reason given (1–8, [`super::ReturnReason`]).
    Reason(super::ReturnReason),
}

/// Why a planned follow-up was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotSentReason {
    /// A marketing playbook and the customer did not consent.
    NoConsent,
    /// The address unsubscribed, bounced or complained.
    Suppressed,
    /// The customer ordered the product again before the reminder.
    Reorder,
    /// The order was cancelled.
    OrderCancelled,
    /// The order was refunded.
    Refunded,
    /// Marketing paused by the reputation brake.
    Paused,
    /// A satisfaction reminder no longer needed (rated already, not delivered).
    Answered,
    /// Anything else (no address, test order, shop uninstalled, …).
    Other,
}

impl NotSentReason {
    pub const ALL: [NotSentReason; 8] = [
        NotSentReason::NoConsent,
        NotSentReason::Suppressed,
        NotSentReason::Reorder,
        NotSentReason::OrderCancelled,
        NotSentReason::Refunded,
        NotSentReason::Paused,
        NotSentReason::Answered,
        NotSentReason::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotSentReason::NoConsent => "no_consent",
            NotSentReason::Suppressed => "suppressed",
            NotSentReason::Reorder => "reorder",
            NotSentReason::OrderCancelled => "order_cancelled",
            NotSentReason::Refunded => "refunded",
            NotSentReason::Paused => "paused",
            NotSentReason::Answered => "answered",
            NotSentReason::Other => "other",
        }
    }

    /// What the merchant reads.
    pub fn label(self) -> &'static str {
        match self {
            NotSentReason::NoConsent => "No marketing consent",
            NotSentReason::Suppressed => "Unsubscribed, bounced or complained",
            NotSentReason::Reorder => "Reordered first",
            NotSentReason::OrderCancelled => "Order cancelled",
            NotSentReason::Refunded => "Order refunded",
            NotSentReason::Paused => "Marketing paused (reputation)",
            NotSentReason::Answered => "No longer needed (rated, not delivered)",
            NotSentReason::Other => "Other",
        }
    }
}

impl Counter {
    /// The attribute that holds it.
    pub fn name(&self) -> String {
        match self {
            Counter::Planned => "planned".into(),
            Counter::Sent => "sent".into(),
            Counter::SentAfterCap => "sent_after_cap".into(),
            Counter::HeldByCap => "held_by_cap".into(),
            Counter::NotSent(r) => format!("not_sent_{}", r.as_str()),
            Counter::Failed => "failed".into(),
            Counter::Delivered => "delivered".into(),
            Counter::Opened => "opened".into(),
            Counter::Clicked => "clicked".into(),
            Counter::Ordered => "ordered".into(),
            Counter::HeldOut => "held_out".into(),
            Counter::HeldOutOrdered => "held_out_ordered".into(),
            Counter::Revenue(c) => format!("revenue_{c}"),
            Counter::Refunded(c) => format!("refunded_{c}"),
            Counter::CodesIssued => "codes_issued".into(),
            Counter::CodesRedeemed => "codes_redeemed".into(),
            Counter::Bounced => "bounced".into(),
            Counter::Complained => "complained".into(),
            Counter::Unsubscribed => "unsubscribed".into(),
            Counter::Suppressed => "suppressed".into(),
            Counter::Score(n) => format!("score_{n}"),
            Counter::Comments => "comments".into(),
            Counter::Reason(r) => format!("reason_{}", r.as_str()),
        }
    }
}

/// Report counts gathered over a batch (the ingest consumer's), added once at its end,
/// so a batch's deliveries of one shop, day and scope are one counter write.
#[derive(Debug, Default)]
pub struct Counts(std::sync::Mutex<Vec<(String, Tally)>>);

impl Counts {
    pub fn add(&self, shop: &str, tallies: Vec<Tally>) {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        held.extend(tallies.into_iter().map(|t| (shop.to_owned(), t)));
    }

    /// Every shop's tallies (shops in the order they came), leaving none.
    pub fn take(&self) -> Vec<(String, Vec<Tally>)> {
        let held = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        let mut out: Vec<(String, Vec<Tally>)> = Vec::new();
        for (shop, t) in held {
            match out.iter_mut().find(|(s, _)| *s == shop) {
                Some((_, v)) => v.push(t),
                None => out.push((shop, vec![t])),
            }
        }
        out
    }
}

/// One increment of a stats item: what to add where. Amounts are exact decimals
/// (`"64.87"`), counts whole numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// UTC day, `YYYY-MM-DD`.
    pub day: String,
    pub scope: Scope,
    pub adds: Vec<(Counter, String)>,
    /// A failure's reason, added to the item's `failed_reasons` set (no personal data).
    pub failed_reason: Option<String>,
    /// A product's title, kept on its item (`title`) for the report.
    pub title: Option<String>,
}

impl Tally {
    pub fn new(day: impl Into<String>, scope: Scope) -> Tally {
        Tally {
            day: day.into(),
            scope,
            adds: Vec::new(),
            failed_reason: None,
            title: None,
        }
    }

    /// Adds one to `counter`.
    pub fn one(mut self, counter: Counter) -> Tally {
        self.adds.push((counter, "1".into()));
        self
    }

    pub fn amount(mut self, counter: Counter, amount: impl Into<String>) -> Tally {
        self.adds.push((counter, amount.into()));
        self
    }
}

/// A stats item as read back: its day, scope and every counter by attribute name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatsRow {
    pub day: String,
    pub scope: String,
    /// Attribute name → value, as the exact decimal string DynamoDB returns.
    pub counts: BTreeMap<String, String>,
    pub failed_reasons: Vec<String>,
    pub title: Option<String>,
}

// ---------------------------------------------------------------------------------------
// The report as shown. Field names are the JSON export's (`docs/report.md`): add fields,
// never rename them.

/// What the merchant sees for one shop and period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub shop: String,
    pub period: Period,
    /// The period just before, as long, for comparison.
    pub previous_period: Period,
    /// When the report was computed (UTC key).
    pub generated_at: String,
    /// How an order is credited to a follow-up, in one sentence.
    pub attribution_rule: String,
    pub attribution_window_days: u32,
    /// All playbooks together.
    pub total: Figures,
    pub total_previous: Figures,
    /// One row per playbook that planned or sent anything in either period.
    pub playbooks: Vec<PlaybookRow>,
    pub voice: Voice,
    pub deliverability: Deliverability,
    /// Every comment of the period (low scores first, then newest first), at most
    /// [`Report::MAX_COMMENTS`]; `comments_total` says how many there were.
    pub comments: Vec<CommentRow>,
    pub comments_total: u64,
    /// Return reasons given in the period, most frequent first.
    pub return_reasons: Vec<ReasonCount>,
    /// Ratings and return reasons per product, most responses first. Products are
    /// counted per ISO week: these cover the weeks that overlap the period, from
    /// `products_since` (a Monday) to the period's end.
    pub products: Vec<ProductRow>,
    #[serde(default)]
    pub products_since: String,
    /// Each configured replenishable product's days per unit as reminders use it now:
    /// current state, not the period's.
    #[serde(default)]
    pub replenishment_timing: Timing,
}

impl Report {
    /// Most comments an export lists (`aftercart report`).
    pub const MAX_COMMENTS: usize = 500;
    /// Most comments the page lists (its CSV and JSON exports list up to
    /// [`Report::MAX_COMMENTS`]).
    pub const PAGE_COMMENTS: usize = 200;
}

/// A span of whole UTC days, both ends included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    /// `YYYY-MM-DD`
    pub from: String,
    /// `YYYY-MM-DD`, included.
    pub to: String,
    pub days: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaybookRow {
    /// `thank_you`, `satisfaction`, …
    pub playbook: String,
    /// "Thank-you", "Satisfaction check", …
    pub label: String,
    /// Whether it is a marketing playbook (needs consent, can be paused).
    pub marketing: bool,
    pub current: Figures,
    pub previous: Figures,
    /// Sent against held out, for a playbook with `holdout_percent` above 0 or any
    /// held-out follow-ups in the period; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<Holdout>,
}

/// A playbook's holdout comparison over the period: how often the customers who were
/// sent the follow-up ordered, against the customers held out (`docs/report.md`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Holdout {
    /// The playbook's `holdout_percent` now.
    pub percent: u8,
    pub sent: u64,
    /// Orders credited to the sent follow-ups.
    pub sent_ordered: u64,
    pub held_out: u64,
    /// Orders credited, by time, to the held-out follow-ups.
    pub held_out_ordered: u64,
    /// `sent_ordered / sent`, `held_out_ordered / held_out` (`None` for an empty group).
    pub sent_rate: Option<f64>,
    pub held_out_rate: Option<f64>,
    /// `sent_rate - held_out_rate`, with its 95 % interval (Newcombe's hybrid score
    /// interval from Wilson intervals); `None` while either group is empty.
    pub difference: Option<f64>,
    pub difference_low: Option<f64>,
    pub difference_high: Option<f64>,
    /// Whether the interval excludes zero: a difference the data supports.
    pub conclusive: bool,
    /// What the merchant reads: "not enough data yet" while the interval spans zero
    /// (or a group is empty), else whether sending raised or lowered conversion.
    pub verdict: String,
}

/// The funnel and money of a set of follow-ups.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Figures {
    pub planned: u64,
    pub sent: u64,
    /// Not sent, per reason (every [`NotSentReason`], zeros included).
    pub not_sent: BTreeMap<String, u64>,
    /// Held by the frequency cap (first time), and of those sent later.
    pub held_by_cap: u64,
    pub sent_after_cap: u64,
    pub failed: u64,
    /// Distinct failure reasons seen (no personal data).
    pub failed_reasons: Vec<String>,
    pub delivered: u64,
    pub opened: u64,
    pub clicked: u64,
    /// Orders credited.
    pub ordered: u64,
    /// Per currency: revenue credited, refunds of credited orders, net.
    pub money: Vec<Money>,
    pub codes_issued: u64,
    pub codes_redeemed: u64,
    pub bounced: u64,
    pub complained: u64,
    pub unsubscribed: u64,
    /// Shares of `sent` (`None` when nothing was sent); `redemption` is of codes issued.
    pub rates: Rates,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Rates {
    pub delivered: Option<f64>,
    pub opened: Option<f64>,
    pub clicked: Option<f64>,
    pub ordered: Option<f64>,
    pub bounced: Option<f64>,
    pub complained: Option<f64>,
    pub unsubscribed: Option<f64>,
    pub redemption: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    /// ISO 4217
    pub currency: String,
    /// Exact decimals as strings (`"409.94"`).
    pub revenue: String,
    pub refunded: String,
    /// Revenue minus refunds.
    pub net: String,
    /// Net revenue per follow-up sent, 2 decimals (`None` when nothing was sent).
    pub per_recipient: Option<String>,
}

/// What customers said.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Voice {
    /// Satisfaction checks sent in the period (not their reminders, which ask the same
    /// customers again).
    pub asked: u64,
    /// A person's ratings settled in the period.
    pub responses: u64,
    /// `responses / asked`.
    pub response_rate: Option<f64>,
    /// Ratings 1..=5: `scores[0]` is the count of 1s.
    pub scores: [u64; 5],
    /// Share of 4 and 5.
    pub csat: Option<f64>,
    pub average: Option<f64>,
    /// Per week (Monday, UTC) of the period: responses and CSAT.
    pub weeks: Vec<WeekRow>,
    pub comments: u64,
    /// Recovery (apology) emails sent, and orders credited to them.
    pub recoveries_sent: u64,
    pub recoveries_ordered: u64,
    pub responses_previous: u64,
    pub csat_previous: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeekRow {
    /// Monday, `YYYY-MM-DD` (the period's first week may start before it).
    pub week: String,
    pub responses: u64,
    pub csat: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Deliverability {
    pub sent: u64,
    pub bounced: u64,
    pub complained: u64,
    pub bounce_rate: Option<f64>,
    pub complaint_rate: Option<f64>,
    pub unsubscribed: u64,
    pub suppressions_added: u64,
    /// Amazon SES puts an account under review at a 5 % bounce rate…
    pub ses_bounce_line: f64,
    /// …or a 0.1 % complaint rate; Gmail's bulk-sender guideline is below 0.3 % spam.
    pub ses_complaint_line: f64,
    pub gmail_spam_line: f64,
    /// Per day of the period.
    pub days: Vec<DayRow>,
    /// What the merchant should know ("Complaint rate 0.4 % is over Gmail's 0.3 %").
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayRow {
    pub day: String,
    pub sent: u64,
    pub bounced: u64,
    pub complained: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentRow {
    /// When it was given (UTC key).
    pub at: String,
    /// `satisfaction` or `returns`.
    pub playbook: String,
    /// 1–5 for a rating.
    pub score: Option<u8>,
    /// A return reason's label.
    pub reason: Option<String>,
    pub comment: String,
    pub order_id: u64,
    /// `#1001`, when known.
    pub order_name: Option<String>,
    /// The order in the store admin.
    pub admin_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasonCount {
    /// `size_too_small`, …
    pub reason: String,
    pub label: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductRow {
    pub product_id: u64,
    /// The configured product's title, when the config names it.
    pub title: Option<String>,
    pub ratings: u64,
    pub average: Option<f64>,
    pub returns: u64,
    pub reasons: Vec<ReasonCount>,
}

/// The replenishment timing of the shop's products now (`domain::cadence`): not bound
/// to the report's period.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Timing {
    /// The replenishment playbook is on (`[shop.playbooks.replenishment] enabled`).
    pub enabled: bool,
    /// Timing is learned from repeat purchases (`learn`); off, the configured figures
    /// only.
    pub learn: bool,
    /// Samples a product with no configured figure needs before it is reminded.
    pub min_repeats: u32,
    /// Repeats the configured figure counts as against the learned one.
    pub prior_weight: u32,
    /// One row per `[[shop.product]]` with `consumption_days` or, when learning, with
    /// learned timing stored; in the config's order.
    pub products: Vec<TimingRow>,
}

/// One product's timing now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimingRow {
    /// Its timing key: the product id, or `sku:{sku}`.
    pub product: String,
    pub product_id: Option<u64>,
    pub sku: Option<String>,
    /// Its title from the period's product counters, when it has any.
    pub title: Option<String>,
    /// `consumption_days`: the configured days per unit (the prior).
    pub configured_days: Option<u32>,
    /// The days per unit reminders count from now, to one decimal; `None` while a
    /// product with no configured figure waits for repeats.
    pub days_per_unit: Option<f64>,
    /// Repeat purchases learned from, ever.
    pub repeats: u64,
    /// Samples the figure uses now (the newest 64 at most; 0 when learning is off).
    pub samples: u64,
    /// Intervals refused as outliers, ever.
    pub refused: u64,
    /// `configured`, `blended`, `learned`, or `waiting` (no configured figure and
    /// fewer than `min_repeats` samples).
    pub source: String,
    /// While `waiting`: the samples still needed.
    pub waiting_for: Option<u32>,
}

/// Every follow-up planned for one order, for the lookup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lookup {
    pub order_id: u64,
    pub order_name: Option<String>,
    pub admin_url: String,
    pub followups: Vec<LookupRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct LookupRow {
    pub playbook: String,
    pub product_id: Option<u64>,
    /// `pending`, `sending`, `sent`, `held_out`, `cancelled`, `failed`.
    pub status: String,
    pub due_at: String,
    pub planned_at: Option<String>,
    pub sent_at: Option<String>,
    /// Why it was cancelled, failed or is waiting.
    pub reason: Option<String>,
    /// What happened after the send, in time order: (`delivered`, time), …
    pub events: Vec<(String, String)>,
    pub score: Option<u8>,
    pub comment: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_gathered_from_a_batch_come_back_per_shop_in_order_and_only_once() {
        let counts = Counts::default();
        let t = |c| Tally::new("2026-11-22", Scope::Shop).one(c);
        counts.add("b.myshopify.com", vec![t(Counter::Opened)]);
        counts.add(
            "a.myshopify.com",
            vec![t(Counter::Sent), t(Counter::Opened)],
        );
        counts.add("b.myshopify.com", vec![t(Counter::Clicked)]);
        counts.add("a.myshopify.com", vec![]);
        let taken = counts.take();
        let shops: Vec<(&str, usize)> = taken.iter().map(|(s, v)| (s.as_str(), v.len())).collect();
        assert_eq!(shops, [("b.myshopify.com", 2), ("a.myshopify.com", 2)]);
        assert!(counts.take().is_empty(), "taken once");
    }
}

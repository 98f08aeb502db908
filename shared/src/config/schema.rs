//! The shape of the config file: serde structs, their defaults, and lookups on them.

use super::{DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_DELIVERY_AGE_HOURS};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub webhook: WebhookSettings,
    #[serde(default)]
    pub email: EmailSettings,
    #[serde(default)]
    pub dispatch: DispatchSettings,
    #[serde(default)]
    pub links: LinkSettings,
    #[serde(default)]
    pub privacy: PrivacySettings,
    /// The Shopify Admin GraphQL API (discount codes).
    #[serde(default)]
    pub admin: AdminSettings,
    /// The marketing brake on bounce and complaint rates.
    #[serde(default)]
    pub reputation: super::ReputationSettings,
    /// One `[[shop]]` table per store.
    #[serde(rename = "shop", default)]
    pub shops: Vec<ShopConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Largest accepted body in bytes; larger deliveries get 413.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Time allowed for recording, in milliseconds, before answering 503 so Shopify
    /// retries. Shopify gives up after 5 s; the default leaves room for the rest.
    #[serde(default = "default_store_budget_ms")]
    pub store_budget_ms: u64,
    /// Days a delivery receipt is kept for deduplication (Shopify retries for 4 hours
    /// and may deliver a day late). Correctness never depends on the expiry.
    #[serde(default = "default_receipt_days")]
    pub receipt_days: u32,
    /// Deliveries whose `X-Shopify-Triggered-At` is older than this many hours are
    /// refused (400), so a body captured long ago is not replayed. Shopify retries a
    /// failed delivery for 4 hours and may deliver up to a day late: the default, 28,
    /// is both with no margin to spare; raise it, never lower it below 5.
    #[serde(default = "default_max_delivery_age_hours")]
    pub max_delivery_age_hours: u32,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            max_body_bytes: default_max_body(),
            store_budget_ms: default_store_budget_ms(),
            receipt_days: default_receipt_days(),
            max_delivery_age_hours: default_max_delivery_age_hours(),
        }
    }
}

fn default_max_delivery_age_hours() -> u32 {
    DEFAULT_MAX_DELIVERY_AGE_HOURS
}

fn default_max_body() -> usize {
    DEFAULT_MAX_BODY_BYTES
}
fn default_store_budget_ms() -> u64 {
    2500
}
fn default_receipt_days() -> u32 {
    7
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopConfig {
    /// The shop's permanent domain, as in `X-Shopify-Shop-Domain` (`name.myshopify.com`).
    pub domain: String,
    /// Brand name shown to customers.
    #[serde(default)]
    pub name: Option<String>,
    /// The store's language (`fr`, `fr-CA`), for emails and pages to a customer whose
    /// own language Shopify did not send. English when unset.
    #[serde(default)]
    pub locale: Option<String>,
    /// Environment variable with this shop's webhook secrets (custom apps have one
    /// secret per store). Defaults to `AFTERCART_WEBHOOK_SECRETS`.
    #[serde(default)]
    pub webhook_secrets_env: Option<String>,
    /// Environment variable with this shop's Admin API access token (needed only when a
    /// playbook makes discount codes). Defaults to `AFTERCART_ADMIN_TOKEN`.
    #[serde(default)]
    pub admin_token_env: Option<String>,
    /// Address the follow-ups come from; must be a verified SES identity.
    #[serde(default)]
    pub sender_email: Option<String>,
    /// Display name of the sender (default: `name`).
    #[serde(default)]
    pub sender_name: Option<String>,
    /// Where customers' replies and questions go (also the Reply-To).
    #[serde(default)]
    pub support_email: Option<String>,
    /// The business's postal address, in every email's footer. Required while a
    /// marketing playbook (replenishment, loyalty) is on: CAN-SPAM asks for it in
    /// commercial email.
    #[serde(default)]
    pub postal_address: Option<String>,
    /// How the emails look: logo, colours, sign-off. Every part is optional.
    #[serde(default)]
    pub brand: Brand,
    /// Per playbook (`[shop.emails.thank_you]`, …): preheader and cross-sell block.
    #[serde(default)]
    pub emails: std::collections::BTreeMap<crate::model::Playbook, EmailOptions>,
    /// Where customer data exports (`customers/data_request`) are sent; defaults to
    /// `support_email`.
    #[serde(default)]
    pub privacy_email: Option<String>,
    /// Days order data is kept: `[privacy] retention_days`, copied here at load so the
    /// webhook's planner sees it with the shop's rules.
    #[serde(skip, default = "default_retention_days")]
    pub retention_days: u32,
    /// IANA time zone for quiet hours, e.g. `Europe/Paris`.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// Local hours in which nothing is sent; sends due then wait until `end`.
    #[serde(default)]
    pub quiet_hours: QuietHours,
    /// At most one follow-up per customer in this many hours (later ones wait).
    #[serde(default = "default_frequency_cap_hours")]
    pub frequency_cap_hours: u32,
    /// Where a happy customer can leave a review.
    #[serde(default)]
    pub review_url: Option<String>,
    /// The shop's referral or share page, offered after a high rating (default: the
    /// storefront, `https://{domain}`).
    #[serde(default)]
    pub referral_url: Option<String>,
    /// Who is told about low ratings (default: `support_email`).
    #[serde(default)]
    pub alert_email: Option<String>,
    /// An order within this many days of a reorder or rating click on a follow-up is
    /// credited to that follow-up (a code from a follow-up is credited whenever used).
    #[serde(default = "default_attribution_window_days")]
    pub attribution_window_days: u32,
    /// Directory of template overrides for this shop (`thank_you.html`, …).
    #[serde(default)]
    pub templates_dir: Option<std::path::PathBuf>,
    #[serde(default)]
    pub playbooks: Playbooks,
    /// Per-product rules, matched by `product_id` or `sku`.
    #[serde(rename = "product", default)]
    pub products: Vec<ProductRule>,
    /// The weekly digest and report links.
    #[serde(default)]
    pub report: super::ReportSettings,
}

fn default_attribution_window_days() -> u32 {
    5
}

fn default_time_zone() -> String {
    "UTC".into()
}
fn default_frequency_cap_hours() -> u32 {
    16
}

/// The shop's look in email (`[shop.brand]`). Unset parts fall back to a neutral
/// design: the shop's name as the header, dark blue buttons, "Thanks, {shop}".
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Brand {
    /// An `https://` PNG, JPEG or GIF, shown at most 200 × 60 px at the top; its alt
    /// text is the shop's name.
    #[serde(default)]
    pub logo_url: Option<String>,
    /// `#rrggbb` (or `#rgb`): the header rule and the links.
    #[serde(default)]
    pub color: Option<String>,
    /// `#rrggbb` (or `#rgb`): the buttons. Their text is white or black, whichever
    /// reads better on it.
    #[serde(default)]
    pub accent: Option<String>,
    /// The line under the last paragraph, e.g. "Marie and the Acme team" (one
    /// language: it replaces the built-in "Thanks," sign-off in every locale).
    #[serde(default)]
    pub sign_off: Option<String>,
}

/// One playbook's email options (`[shop.emails.<playbook>]`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EmailOptions {
    /// The preview line inbox lists show after the subject (built-in one per locale
    /// when unset; this one replaces it in every locale).
    #[serde(default)]
    pub preheader: Option<String>,
    /// Show the "You may also like" block (the products' `complementary` links). On by
    /// default in thank-you, replenishment and loyalty; off in the others, which are
    /// apologies or questions.
    #[serde(default)]
    pub cross_sell: Option<bool>,
}

/// Quiet hours as local `HH:MM` times; `start` after `end` spans midnight.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    pub start: String,
    pub end: String,
}

impl Default for QuietHours {
    fn default() -> Self {
        QuietHours {
            start: "21:00".into(),
            end: "08:00".into(),
        }
    }
}

impl QuietHours {
    /// (start, end) as `NaiveTime`; `None` if malformed (validation reports it).
    pub fn times(&self) -> Option<(chrono::NaiveTime, chrono::NaiveTime)> {
        let p = |s: &str| chrono::NaiveTime::parse_from_str(s, "%H:%M").ok();
        Some((p(&self.start)?, p(&self.end)?))
    }
}

/// Per-playbook switches and timing. Every playbook is on by default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Playbooks {
    #[serde(default)]
    pub thank_you: ThankYouRule,
    #[serde(default)]
    pub satisfaction: SatisfactionRule,
    #[serde(default)]
    pub replenishment: ReplenishmentRule,
    #[serde(default)]
    pub loyalty: LoyaltyRule,
    #[serde(default)]
    pub returns: ReturnsRule,
    #[serde(default)]
    pub recovery: RecoveryRule,
}

impl Playbooks {
    /// The names of the enabled playbooks, in [`crate::model::Playbook::ALL`] order.
    pub fn enabled(&self) -> Vec<&'static str> {
        use crate::model::Playbook;
        Playbook::ALL
            .into_iter()
            .filter(|p| match p {
                Playbook::ThankYou => self.thank_you.enabled,
                Playbook::Satisfaction => self.satisfaction.enabled,
                Playbook::Replenishment => self.replenishment.enabled,
                Playbook::Loyalty => self.loyalty.enabled,
                Playbook::Returns => self.returns.enabled,
                Playbook::Recovery => self.recovery.enabled,
                Playbook::SatisfactionReminder => self.satisfaction.reminder_on(),
            })
            .map(Playbook::as_str)
            .collect()
    }

    /// The playbook's `holdout_percent`. The satisfaction reminder has none of its own:
    /// it follows a satisfaction check that was sent, never a held-out one.
    pub fn holdout_percent(&self, p: crate::model::Playbook) -> u32 {
        use crate::model::Playbook;
        match p {
            Playbook::ThankYou => self.thank_you.holdout_percent,
            Playbook::Satisfaction => self.satisfaction.holdout_percent,
            Playbook::Replenishment => self.replenishment.holdout_percent,
            Playbook::Loyalty => self.loyalty.holdout_percent,
            Playbook::Returns => self.returns.holdout_percent,
            Playbook::Recovery => self.recovery.holdout_percent,
            Playbook::SatisfactionReminder => 0,
        }
    }

    /// The playbooks with a holdout group (`holdout_percent` above 0).
    pub fn with_holdout(&self) -> Vec<crate::model::Playbook> {
        crate::model::Playbook::ALL
            .into_iter()
            .filter(|p| self.holdout_percent(*p) > 0)
            .collect()
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThankYouRule {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Percent (0–50) of customers held out of this playbook: their follow-ups pass the
    /// guards and are recorded `held_out` instead of sent, so the report can compare
    /// conversion with and without the email (`docs/replenishment.md`, Holdout groups).
    #[serde(default)]
    pub holdout_percent: u32,
    /// Hours after payment.
    #[serde(default = "default_thank_you_delay")]
    pub delay_hours: u32,
}
fn default_thank_you_delay() -> u32 {
    1
}
impl Default for ThankYouRule {
    fn default() -> Self {
        ThankYouRule {
            enabled: true,
            holdout_percent: 0,
            delay_hours: default_thank_you_delay(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SatisfactionRule {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Percent (0–50) of customers held out ([`ThankYouRule::holdout_percent`]).
    #[serde(default)]
    pub holdout_percent: u32,
    /// Days after the carrier reports delivery.
    #[serde(default = "default_days_after_delivery")]
    pub days_after_delivery: u32,
    /// Days after fulfillment, when no delivery is ever reported.
    #[serde(default = "default_days_after_fulfillment")]
    pub days_after_fulfillment: u32,
    /// Ratings at or below this alert the merchant and plan the recovery email.
    #[serde(default = "default_low_score")]
    pub low_score: u8,
    /// Ratings at or above this are shown the review link and the referral ask.
    #[serde(default = "default_high_score")]
    pub high_score: u8,
    /// Minutes after the last click on a rating link before the rating takes effect: a
    /// low score's alert waits this long for a comment, and a scanner's burst of clicks
    /// is known by then. A comment sent from the page takes effect at the next dispatch.
    #[serde(default = "default_comment_wait_minutes")]
    pub comment_wait_minutes: u32,
    /// Days after the satisfaction email to send one reminder to a customer who has not
    /// rated (only if that email was delivered); 0 sends none.
    #[serde(default = "default_reminder_days")]
    pub reminder_days: u32,
}
impl SatisfactionRule {
    /// Whether the one reminder is sent: the satisfaction check is on and
    /// `reminder_days` is not 0.
    pub fn reminder_on(&self) -> bool {
        self.enabled && self.reminder_days > 0
    }
}
fn default_reminder_days() -> u32 {
    5
}
fn default_comment_wait_minutes() -> u32 {
    10
}
fn default_low_score() -> u8 {
    2
}
fn default_high_score() -> u8 {
    4
}
fn default_days_after_delivery() -> u32 {
    5
}
fn default_days_after_fulfillment() -> u32 {
    12
}
impl Default for SatisfactionRule {
    fn default() -> Self {
        SatisfactionRule {
            enabled: true,
            holdout_percent: 0,
            days_after_delivery: default_days_after_delivery(),
            days_after_fulfillment: default_days_after_fulfillment(),
            low_score: default_low_score(),
            high_score: default_high_score(),
            comment_wait_minutes: default_comment_wait_minutes(),
            reminder_days: default_reminder_days(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplenishmentRule {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Time reminders from what the store's own customers do (`domain::cadence`), with
    /// a product's `consumption_days` as the prior. Off: the configured days only.
    #[serde(default = "yes")]
    pub learn: bool,
    /// A product with no `consumption_days` is reminded only once this many repeat
    /// purchases of it have been learned.
    #[serde(default = "default_min_repeats")]
    pub min_repeats: u32,
    /// How many repeats the configured `consumption_days` counts as: the learned
    /// figure's weight is repeats / (repeats + prior_weight).
    #[serde(default = "default_prior_weight")]
    pub prior_weight: u32,
    /// How many repeats the product's figure counts as against a customer's own:
    /// their weight is own repeats / (own repeats + customer_weight).
    #[serde(default = "default_customer_weight")]
    pub customer_weight: u32,
    /// A purchase of more units than this (a gift, a stock-up for a business) starts
    /// no interval to learn from.
    #[serde(default = "default_bulk_units")]
    pub bulk_units: u32,
    /// Percent (0–50) of customers held out ([`ThankYouRule::holdout_percent`]).
    #[serde(default)]
    pub holdout_percent: u32,
}
impl Default for ReplenishmentRule {
    fn default() -> Self {
        ReplenishmentRule {
            enabled: true,
            learn: true,
            min_repeats: default_min_repeats(),
            prior_weight: default_prior_weight(),
            customer_weight: default_customer_weight(),
            bulk_units: default_bulk_units(),
            holdout_percent: 0,
        }
    }
}

fn default_min_repeats() -> u32 {
    5
}
fn default_prior_weight() -> u32 {
    5
}
fn default_customer_weight() -> u32 {
    2
}
fn default_bulk_units() -> u32 {
    12
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoyaltyRule {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Percent (0–50) of customers held out ([`ThankYouRule::holdout_percent`]).
    #[serde(default)]
    pub holdout_percent: u32,
    /// Reward the customer's Nth paid order (and every Nth after it).
    #[serde(default = "default_nth_order")]
    pub nth_order: u32,
    /// Reward once when lifetime paid spend first reaches this amount.
    #[serde(default)]
    pub spend_threshold: Option<rust_decimal::Decimal>,
    /// Hours after the qualifying payment.
    #[serde(default = "default_loyalty_delay")]
    pub delay_hours: u32,
    /// The reward: a unique single-use code made in the store. Without it the loyalty
    /// email thanks the customer and carries no code.
    #[serde(default)]
    pub discount: Option<DiscountRule>,
}
fn default_nth_order() -> u32 {
    3
}
fn default_loyalty_delay() -> u32 {
    24
}
impl Default for LoyaltyRule {
    fn default() -> Self {
        LoyaltyRule {
            enabled: true,
            holdout_percent: 0,
            nth_order: default_nth_order(),
            spend_threshold: None,
            delay_hours: default_loyalty_delay(),
            discount: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnsRule {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Percent (0–50) of customers held out ([`ThankYouRule::holdout_percent`]).
    #[serde(default)]
    pub holdout_percent: u32,
    /// Hours after the refund.
    #[serde(default = "default_returns_delay")]
    pub delay_hours: u32,
    /// The merchant is alerted when this many returns of one product give the same
    /// reason within `reason_alert_days` (0: never).
    #[serde(default = "default_reason_alert_count")]
    pub reason_alert_count: u32,
    #[serde(default = "default_reason_alert_days")]
    pub reason_alert_days: u32,
}
fn default_returns_delay() -> u32 {
    24
}
fn default_reason_alert_count() -> u32 {
    3
}
fn default_reason_alert_days() -> u32 {
    30
}
impl Default for ReturnsRule {
    fn default() -> Self {
        ReturnsRule {
            enabled: true,
            holdout_percent: 0,
            delay_hours: default_returns_delay(),
            reason_alert_count: default_reason_alert_count(),
            reason_alert_days: default_reason_alert_days(),
        }
    }
}

/// The apology after a low rating (planned by the `links` function).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoveryRule {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Percent (0–50) of customers held out ([`ThankYouRule::holdout_percent`]).
    #[serde(default)]
    pub holdout_percent: u32,
    /// Hours after the low rating.
    #[serde(default = "default_recovery_delay")]
    pub delay_hours: u32,
    /// A code to make amends with (none by default).
    #[serde(default)]
    pub discount: Option<DiscountRule>,
}
fn default_recovery_delay() -> u32 {
    2
}
impl Default for RecoveryRule {
    fn default() -> Self {
        RecoveryRule {
            enabled: true,
            holdout_percent: 0,
            delay_hours: default_recovery_delay(),
            discount: None,
        }
    }
}

/// A discount code a playbook gives (loyalty; reusable by any playbook that carries a
/// code): exactly one of `percentage` or `amount`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DiscountRule {
    /// Percent off the order's items, 1–100 (e.g. 15 for 15 %).
    #[serde(default)]
    pub percentage: Option<rust_decimal::Decimal>,
    /// A fixed amount off, in the shop's currency (e.g. "10.00").
    #[serde(default)]
    pub amount: Option<rust_decimal::Decimal>,
    /// With `amount`: take it off each item rather than once across the order.
    #[serde(default)]
    pub applies_on_each_item: bool,
    /// Days the code stays valid after it is made.
    #[serde(default = "default_days_valid")]
    pub days_valid: u32,
    /// Which other discount classes the code combines with.
    #[serde(default)]
    pub combines_with: CombinesWith,
    /// Readable start of every code (`THANKS-7KQ9-M2XP-4RTD`): A–Z and 2–9, 1–12 characters.
    #[serde(default = "default_code_prefix")]
    pub prefix: String,
    /// The discount's name in the Shopify admin (and at checkout); default
    /// "{shop name} loyalty reward".
    #[serde(default)]
    pub title: Option<String>,
}
fn default_days_valid() -> u32 {
    30
}
fn default_code_prefix() -> String {
    "THANKS".into()
}

/// `combinesWith` of the discount: order, product and shipping discounts.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CombinesWith {
    #[serde(default)]
    pub order: bool,
    #[serde(default)]
    pub product: bool,
    #[serde(default = "yes")]
    pub shipping: bool,
}
impl Default for CombinesWith {
    fn default() -> Self {
        CombinesWith {
            order: false,
            product: false,
            shipping: true,
        }
    }
}

/// What the playbooks know about one product.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductRule {
    #[serde(default)]
    pub product_id: Option<u64>,
    #[serde(default)]
    pub sku: Option<String>,
    /// Days one unit lasts; enables the replenishment reminder.
    #[serde(default)]
    pub consumption_days: Option<u32>,
    /// Days before running out to send the reminder (shipping time).
    #[serde(default)]
    pub lead_days: u32,
    #[serde(default)]
    pub care_url: Option<String>,
    #[serde(default)]
    pub how_to_url: Option<String>,
    /// An `https://` picture of the product (e.g. its Shopify CDN image, sized about
    /// 160 px), shown beside its lines.
    #[serde(default)]
    pub image_url: Option<String>,
    /// Products to suggest beside this one.
    #[serde(default)]
    pub complementary: Vec<Complementary>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Complementary {
    pub title: String,
    pub url: String,
}

impl ProductRule {
    /// The key its learned timing is stored under: the product id, else `sku:{sku}`
    /// (the order export, read by `aftercart import-orders`, names SKUs only).
    pub fn timing_key(&self) -> String {
        match (self.product_id, &self.sku) {
            (Some(id), _) => id.to_string(),
            (None, Some(sku)) => format!("sku:{sku}"),
            (None, None) => String::new(),
        }
    }
}

impl ShopConfig {
    /// The rule for a line item: by product id first, else by SKU.
    pub fn product(&self, product_id: Option<u64>, sku: Option<&str>) -> Option<&ProductRule> {
        self.products
            .iter()
            .find(|p| p.product_id.is_some() && p.product_id == product_id)
            .or_else(|| {
                self.products
                    .iter()
                    .find(|p| p.sku.is_some() && p.sku.as_deref() == sku)
            })
    }

    /// The brand name shown to customers.
    pub fn brand(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.domain)
    }

    /// Whether `playbook`'s email carries the "You may also like" block.
    pub fn cross_sell(&self, playbook: crate::model::Playbook) -> bool {
        self.emails
            .get(&playbook)
            .and_then(|o| o.cross_sell)
            .unwrap_or(playbook.cross_sells_by_default())
    }

    /// The shop's own preheader for `playbook`, if it set one.
    pub fn preheader(&self, playbook: crate::model::Playbook) -> Option<&str> {
        self.emails.get(&playbook)?.preheader.as_deref()
    }

    /// Where merchant notices go (`alert_email`, else `support_email`), when the shop can
    /// send them at all (it has a `sender_email`).
    pub fn merchant_contact(&self) -> Option<&str> {
        self.sender_email.as_ref()?;
        self.alert_email
            .as_deref()
            .or(self.support_email.as_deref())
    }

    /// The shop's time zone (validated at load, so this never falls back in practice).
    pub fn tz(&self) -> chrono_tz::Tz {
        self.time_zone.parse().unwrap_or(chrono_tz::UTC)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    /// SES configuration set whose event destination feeds `mail-events`.
    #[serde(default)]
    pub configuration_set: Option<String>,
    /// Emails per second when SES `GetAccount` cannot tell (e.g. locally).
    #[serde(default = "default_max_send_rate")]
    pub max_send_rate: f64,
    /// Send follow-ups for test orders (dev stores). Off in production.
    #[serde(default)]
    pub dev_mode: bool,
}
fn default_max_send_rate() -> f64 {
    1.0
}
impl Default for EmailSettings {
    fn default() -> Self {
        EmailSettings {
            configuration_set: None,
            max_send_rate: default_max_send_rate(),
            dev_mode: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchSettings {
    /// Partitions of the due index; more spread the load, each costs a query a run.
    #[serde(default = "default_shards")]
    pub shards: u32,
    /// Seconds a claimed follow-up stays with its dispatcher before others may retry it.
    #[serde(default = "default_lease_seconds")]
    pub lease_seconds: u32,
    /// Sending attempts before a follow-up is marked failed.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Stop claiming when fewer than this many milliseconds of the invocation remain.
    #[serde(default = "default_deadline_margin_ms")]
    pub deadline_margin_ms: u64,
}
fn default_shards() -> u32 {
    4
}
fn default_lease_seconds() -> u32 {
    120
}
fn default_max_attempts() -> u32 {
    5
}
fn default_deadline_margin_ms() -> u64 {
    5_000
}
impl Default for DispatchSettings {
    fn default() -> Self {
        DispatchSettings {
            shards: default_shards(),
            lease_seconds: default_lease_seconds(),
            max_attempts: default_max_attempts(),
            deadline_margin_ms: default_deadline_margin_ms(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacySettings {
    /// Days order data (orders, shipments, refunds, order history) is kept after the
    /// order was placed; DynamoDB TTL then removes it.
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
}
fn default_retention_days() -> u32 {
    crate::model::personal::DEFAULT_RETENTION_DAYS
}
impl Default for PrivacySettings {
    fn default() -> Self {
        PrivacySettings {
            retention_days: default_retention_days(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSettings {
    /// Public base URL of the `links` function.
    #[serde(default = "default_links_base")]
    pub base_url: String,
    /// Days customer links stay valid.
    #[serde(default = "default_link_ttl_days")]
    pub ttl_days: u32,
    /// Clicks on two different scores of one email within this many seconds are a mail
    /// scanner's, not a person's: neither counts.
    #[serde(default = "default_scanner_burst_seconds")]
    pub scanner_burst_seconds: u32,
}
fn default_scanner_burst_seconds() -> u32 {
    10
}
fn default_links_base() -> String {
    "http://127.0.0.1:9000/lambda-url/links".into()
}
fn default_link_ttl_days() -> u32 {
    60
}
impl Default for LinkSettings {
    fn default() -> Self {
        LinkSettings {
            base_url: default_links_base(),
            ttl_days: default_link_ttl_days(),
            scanner_burst_seconds: default_scanner_burst_seconds(),
        }
    }
}

/// The Shopify Admin GraphQL API client.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// The pinned API version (`YYYY-MM`); from 2025-10 codes are tied to the customer
    /// through `context`, before through `customerSelection`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// Time allowed for one HTTP request, in milliseconds.
    #[serde(default = "default_admin_timeout_ms")]
    pub timeout_ms: u64,
    /// Requests per call before giving up on throttling, 5xx answers and timeouts
    /// (the follow-up is then retried by the dispatcher later).
    #[serde(default = "default_admin_attempts")]
    pub max_attempts: u32,
    /// First backoff between those attempts, in milliseconds (doubles each time).
    #[serde(default = "default_admin_retry_base_ms")]
    pub retry_base_ms: u64,
    /// Base URL replacing `https://{shop}` (local fakes and tests). Plain http only on
    /// a loopback address.
    #[serde(default)]
    pub endpoint: Option<String>,
}
fn default_api_version() -> String {
    "2025-10".into()
}
fn default_admin_timeout_ms() -> u64 {
    10_000
}
fn default_admin_attempts() -> u32 {
    4
}
fn default_admin_retry_base_ms() -> u64 {
    500
}
impl Default for AdminSettings {
    fn default() -> Self {
        AdminSettings {
            api_version: default_api_version(),
            timeout_ms: default_admin_timeout_ms(),
            max_attempts: default_admin_attempts(),
            retry_base_ms: default_admin_retry_base_ms(),
            endpoint: None,
        }
    }
}

impl Config {
    pub fn shop(&self, domain: &str) -> Option<&ShopConfig> {
        self.shops.iter().find(|s| s.domain == domain)
    }
}

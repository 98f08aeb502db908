//! The merchant configuration file (TOML) and the secrets it refers to.
//!
//! The file is read once at start and validated; every error names the field and the
//! fix. Secrets never live in the file: it names the environment variables that hold
//! them (filled from SSM Parameter Store in production, from `.env` locally), and they
//! are wrapped in [`SecretString`] so they cannot be printed by accident.

use secrecy::SecretString;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Default cap on a webhook body: 1 MiB. Shopify's largest order payloads (250 line
/// items with all their fields) stay well below it.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Environment variable holding the webhook secrets, comma-separated, newest first.
pub const DEFAULT_SECRETS_ENV: &str = "AFTERCART_WEBHOOK_SECRETS";
/// Environment variable holding the link-signing keys (`VERSION:SECRET,…`, newest first).
pub const LINK_KEYS_VAR: &str = "AFTERCART_LINK_KEYS";
/// Environment variable holding a shop's Shopify Admin API access token.
pub const DEFAULT_ADMIN_TOKEN_ENV: &str = "AFTERCART_ADMIN_TOKEN";
/// Environment variable that, when set (`true` or `false`), overrides `email.dev_mode`
/// for the process: local runs turn dev mode on in `.env` while the deployed file keeps
/// it off.
pub const DEV_MODE_ENV: &str = "AFTERCART_DEV_MODE";
/// Longest URL the email builder accepts (see `email::check_url`).
const MAX_URL_LEN: usize = 2000;
/// Longest `links.base_url`: the unsubscribe URL built on it (base, path and a signed
/// token of about 300 characters) goes into the `List-Unsubscribe` header, capped at 900.
const MAX_LINKS_BASE_LEN: usize = 500;

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

/// Shopify's retry horizon (4 h) plus the day a delivery may be late.
pub const DEFAULT_MAX_DELIVERY_AGE_HOURS: u32 = 28;

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
            })
            .map(Playbook::as_str)
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
            delay_hours: default_thank_you_delay(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SatisfactionRule {
    #[serde(default = "yes")]
    pub enabled: bool,
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
            days_after_delivery: default_days_after_delivery(),
            days_after_fulfillment: default_days_after_fulfillment(),
            low_score: default_low_score(),
            high_score: default_high_score(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplenishmentRule {
    #[serde(default = "yes")]
    pub enabled: bool,
}
impl Default for ReplenishmentRule {
    fn default() -> Self {
        ReplenishmentRule { enabled: true }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoyaltyRule {
    #[serde(default = "yes")]
    pub enabled: bool,
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
    /// Hours after the refund.
    #[serde(default = "default_returns_delay")]
    pub delay_hours: u32,
}
fn default_returns_delay() -> u32 {
    24
}
impl Default for ReturnsRule {
    fn default() -> Self {
        ReturnsRule {
            enabled: true,
            delay_hours: default_returns_delay(),
        }
    }
}

/// The apology after a low rating (planned by the `links` function).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoveryRule {
    #[serde(default = "yes")]
    pub enabled: bool,
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

/// A configuration problem, phrased as what is wrong and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Syntax { path: String, message: String },
    #[error("{field}: {problem}. Fix: {fix}")]
    Invalid {
        field: String,
        problem: String,
        fix: String,
    },
}

impl Config {
    /// Reads and validates the file at `path`, then applies the process's overrides
    /// ([`DEV_MODE_ENV`]).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with_env(path, |var| std::env::var(var).ok())
    }

    /// As [`Config::load`], reading the overrides through `lookup`.
    pub fn load_with_env(
        path: &Path,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut config = Config::parse(&text, &path.display().to_string())?;
        config.apply_env(lookup)?;
        Ok(config)
    }

    /// Settings the environment may override: only `email.dev_mode` (from
    /// [`DEV_MODE_ENV`]), so local runs can send for a development store's test orders
    /// without a file that would be unsafe to deploy.
    pub fn apply_env(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        if let Some(value) = lookup(DEV_MODE_ENV) {
            self.email.dev_mode = match value.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" | "" => false,
                _ => {
                    return Err(ConfigError::Invalid {
                        field: format!("{DEV_MODE_ENV} (overrides email.dev_mode)"),
                        problem: format!("{value:?} is not true or false"),
                        fix: format!(
                            "set {DEV_MODE_ENV}=true or {DEV_MODE_ENV}=false, or unset it"
                        ),
                    })
                }
            };
        }
        Ok(())
    }

    /// Parses and validates TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: origin.to_owned(),
            message: e.to_string(),
        })?;
        config.validate()?;
        for shop in &mut config.shops {
            shop.retention_days = config.privacy.retention_days;
        }
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: String, problem: &str, fix: &str| ConfigError::Invalid {
            field,
            problem: problem.to_owned(),
            fix: fix.to_owned(),
        };
        if self.shops.is_empty() {
            return Err(invalid(
                "shop".into(),
                "no shop is configured",
                "add a [[shop]] table with domain = \"your-store.myshopify.com\"",
            ));
        }
        if self.webhook.max_body_bytes < 1024 {
            return Err(invalid(
                "webhook.max_body_bytes".into(),
                "is below 1024 bytes, too small for any Shopify payload",
                "remove it to use the 1 MiB default",
            ));
        }
        if !(100..=4500).contains(&self.webhook.store_budget_ms) {
            return Err(invalid(
                "webhook.store_budget_ms".into(),
                "must be between 100 and 4500 (Shopify waits 5 s in total)",
                "remove it to use the 2500 ms default",
            ));
        }
        if !(5..=24 * 30).contains(&self.webhook.max_delivery_age_hours) {
            return Err(invalid(
                "webhook.max_delivery_age_hours".into(),
                "must be between 5 (Shopify retries for 4 hours) and 720 (30 days)",
                "remove it to use the 28-hour default",
            ));
        }
        self.validate_settings()?;
        let mut seen = HashMap::new();
        for (i, shop) in self.shops.iter().enumerate() {
            let field = format!("shop[{i}].domain");
            let d = &shop.domain;
            if !crate::wire::shopify::is_shop_domain(d) {
                return Err(invalid(
                    field,
                    &format!("{d:?} is not a shop domain"),
                    "use the permanent lowercase domain, e.g. \"acme.myshopify.com\", without https://",
                ));
            }
            if let Some(prev) = seen.insert(d.clone(), i) {
                return Err(invalid(
                    field,
                    &format!("{d:?} is configured twice (also shop[{prev}])"),
                    "keep one [[shop]] table per domain",
                ));
            }
            validate_shop(i, shop)?;
            if let Some(var) = &shop.webhook_secrets_env {
                if var.is_empty()
                    || !var
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
                {
                    return Err(invalid(
                        format!("shop[{i}].webhook_secrets_env"),
                        &format!("{var:?} is not an environment variable name"),
                        "use upper-case letters, digits and _, e.g. \"ACME_WEBHOOK_SECRETS\"",
                    ));
                }
            }
            if let Some(var) = &shop.admin_token_env {
                if !is_env_var_name(var) {
                    return Err(invalid(
                        format!("shop[{i}].admin_token_env"),
                        &format!("{var:?} is not an environment variable name"),
                        "use upper-case letters, digits and _, e.g. \"ACME_ADMIN_TOKEN\"",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Validations that only make sense once the file parsed.
    fn validate_settings(&self) -> Result<(), ConfigError> {
        if !(self.email.max_send_rate > 0.0 && self.email.max_send_rate <= 10_000.0) {
            return Err(invalid_field(
                "email.max_send_rate",
                "must be a positive number of emails per second",
                "use your SES account's maximum send rate (1 in the SES sandbox)",
            ));
        }
        if !(1..=64).contains(&self.dispatch.shards) {
            return Err(invalid_field(
                "dispatch.shards",
                "must be between 1 and 64",
                "remove it to use 4",
            ));
        }
        if self.dispatch.max_attempts == 0 {
            return Err(invalid_field(
                "dispatch.max_attempts",
                "must be at least 1",
                "remove it to use 5",
            ));
        }
        if !(crate::model::personal::MIN_RETENTION_DAYS
            ..=crate::model::personal::MAX_RETENTION_DAYS)
            .contains(&self.privacy.retention_days)
        {
            return Err(invalid_field(
                "privacy.retention_days",
                &format!(
                    "must be between {} and {} days (order data older than this expires)",
                    crate::model::personal::MIN_RETENTION_DAYS,
                    crate::model::personal::MAX_RETENTION_DAYS
                ),
                "remove it to keep order data for 730 days (2 years)",
            ));
        }
        if let Err(problem) = check_links_base(&self.links.base_url) {
            return Err(invalid_field(
                "links.base_url",
                &format!("{:?} {problem}: every email's unsubscribe link is built on it", self.links.base_url),
                "use the LinksUrl output of the stack, e.g. \"https://abc.execute-api.eu-west-1.amazonaws.com/links\" (plain http only for a local 127.0.0.1 or localhost URL)",
            ));
        }
        if let Some(set) = &self.email.configuration_set {
            let valid = !set.is_empty()
                && set.len() <= 64
                && set
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                return Err(invalid_field(
                    "email.configuration_set",
                    &format!("{set:?} is not an SES configuration set name, so SES would refuse every send"),
                    "use the name of the stack's configuration set (1–64 letters, digits, - and _), or remove it",
                ));
            }
        }
        validate_admin(&self.admin)
    }

    pub fn shop(&self, domain: &str) -> Option<&ShopConfig> {
        self.shops.iter().find(|s| s.domain == domain)
    }
}

/// `[admin]`: a pinned `YYYY-MM` (or `unstable`) version, sane timeouts, and an endpoint
/// override that never sends a token in clear text off the machine.
fn validate_admin(a: &AdminSettings) -> Result<(), ConfigError> {
    let v = a.api_version.as_bytes();
    let dated = v.len() == 7
        && v[4] == b'-'
        && v[..4].iter().chain(&v[5..]).all(u8::is_ascii_digit)
        && matches!(&a.api_version[5..], "01" | "04" | "07" | "10");
    if !(dated || a.api_version == "unstable") {
        return Err(invalid_field(
            "admin.api_version",
            &format!("{:?} is not a Shopify API version", a.api_version),
            "use a quarterly version such as \"2025-10\" (YYYY-01, -04, -07 or -10)",
        ));
    }
    if !(100..=30_000).contains(&a.timeout_ms) {
        return Err(invalid_field(
            "admin.timeout_ms",
            "must be between 100 and 30000",
            "remove it to use 10000 (10 s)",
        ));
    }
    if !(1..=10).contains(&a.max_attempts) {
        return Err(invalid_field(
            "admin.max_attempts",
            "must be between 1 and 10",
            "remove it to use 4",
        ));
    }
    if a.retry_base_ms > 10_000 {
        return Err(invalid_field(
            "admin.retry_base_ms",
            "must be at most 10000",
            "remove it to use 500",
        ));
    }
    if let Some(endpoint) = &a.endpoint {
        if let Err(problem) = check_admin_endpoint(endpoint) {
            return Err(invalid_field(
                "admin.endpoint",
                &format!("{endpoint:?} {problem}"),
                "remove it to call https://{shop}/admin/api/…, or use a local fake such as \"http://127.0.0.1:5112\"",
            ));
        }
    }
    Ok(())
}

/// An Admin API base URL override: https anywhere, plain http only on a loopback host,
/// no path, query or credentials.
pub fn check_admin_endpoint(endpoint: &str) -> Result<reqwest::Url, &'static str> {
    let url = reqwest::Url::parse(endpoint).map_err(|_| "is not a URL")?;
    let host = url.host_str().ok_or("has no host")?;
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(
                "is plain http off this machine: the access token would travel in clear text",
            )
        }
        _ => return Err("must be an http(s) URL"),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials");
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err("must be a base URL without a path or query");
    }
    Ok(url)
}

fn is_env_var_name(var: &str) -> bool {
    !var.is_empty()
        && var
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// A discount rule at `field` (e.g. `shop[0].playbooks.loyalty.discount`): one of
/// percentage or amount, a sensible validity, a readable prefix.
pub fn validate_discount(field: &str, d: &DiscountRule) -> Result<(), ConfigError> {
    let f = |name: &str| format!("{field}.{name}");
    let bad = |name: &str, problem: String, fix: &str| ConfigError::Invalid {
        field: f(name),
        problem,
        fix: fix.to_owned(),
    };
    match (d.percentage, d.amount) {
        (Some(_), Some(_)) => {
            return Err(bad(
                "amount",
                "both percentage and amount are set".into(),
                "keep one: percentage = 15 (percent off) or amount = \"10.00\" (fixed amount off)",
            ))
        }
        (None, None) => {
            return Err(bad(
                "percentage",
                "the discount has no value".into(),
                "add percentage = 15 (percent off) or amount = \"10.00\" (fixed amount off)",
            ))
        }
        (Some(p), None) => {
            // Below 1 % is almost surely a fraction meant as a percentage (0.15 for 15).
            if p < rust_decimal::Decimal::ONE || p > rust_decimal::Decimal::ONE_HUNDRED {
                return Err(bad(
                    "percentage",
                    format!("{p} is not between 1 and 100"),
                    "write the percent off as a number such as 15 (not 0.15)",
                ));
            }
        }
        (None, Some(a)) => {
            if a <= rust_decimal::Decimal::ZERO {
                return Err(bad(
                    "amount",
                    format!("{a} is not a positive amount"),
                    "use the amount off in the shop's currency, e.g. amount = \"10.00\"",
                ));
            }
        }
    }
    if d.applies_on_each_item && d.amount.is_none() {
        return Err(bad(
            "applies_on_each_item",
            "only applies to a fixed amount".into(),
            "remove it, or use amount instead of percentage",
        ));
    }
    if !(1..=365).contains(&d.days_valid) {
        return Err(bad(
            "days_valid",
            format!("{} is not between 1 and 365 days", d.days_valid),
            "use e.g. days_valid = 30",
        ));
    }
    let p = d.prefix.as_bytes();
    if p.is_empty()
        || p.len() > 12
        || !p
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Err(bad(
            "prefix",
            format!("{:?} is not 1–12 upper-case letters or digits", d.prefix),
            "use e.g. prefix = \"THANKS\"",
        ));
    }
    if let Some(t) = &d.title {
        if t.trim().is_empty() || t.chars().count() > 255 || t.chars().any(char::is_control) {
            return Err(bad(
                "title",
                "must be 1–255 characters on one line".into(),
                "use e.g. title = \"Loyalty reward\", or remove it",
            ));
        }
    }
    Ok(())
}

fn invalid_field(field: &str, problem: &str, fix: &str) -> ConfigError {
    ConfigError::Invalid {
        field: field.to_owned(),
        problem: problem.to_owned(),
        fix: fix.to_owned(),
    }
}

/// An address the email builder will accept as a mailbox: plain ASCII `user@domain`
/// (with a dot in the domain), as `lettre` parses it when a message is built.
fn is_sendable_address(s: &str) -> bool {
    s.is_ascii()
        && !s.contains(char::is_whitespace)
        && s.split_once('@')
            .is_some_and(|(local, host)| !local.is_empty() && host.contains('.'))
        && s.parse::<lettre::Address>().is_ok()
}

/// An absolute http(s) URL the email builder will accept.
fn is_web_url(u: &str) -> bool {
    (u.starts_with("https://") || u.starts_with("http://"))
        && u.len() > "https://".len()
        && u.len() <= MAX_URL_LEN
        && !u
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"'))
}

/// `links.base_url`: the base of every customer link and of the `List-Unsubscribe`
/// header, so what RFC 8058 and the email builder accept there: https (plain http only
/// on a loopback host, for local runs), ASCII, short enough for the header.
fn check_links_base(u: &str) -> Result<(), &'static str> {
    if !is_web_url(u) {
        return Err("is not an http(s) URL");
    }
    if !u.is_ascii() {
        return Err("is not ASCII (percent-encode it)");
    }
    if u.len() > MAX_LINKS_BASE_LEN {
        return Err("is longer than 500 characters");
    }
    if let Some(rest) = u.strip_prefix("http://") {
        // The loopback hosts the email builder allows plain http for.
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = if authority.starts_with('[') {
            authority.split_inclusive(']').next().unwrap_or_default()
        } else {
            authority.split(':').next().unwrap_or_default()
        };
        let loopback = !authority.contains('@')
            && (host.eq_ignore_ascii_case("localhost")
                || host == "[::1]"
                || host
                    .parse::<std::net::Ipv4Addr>()
                    .is_ok_and(|ip| ip.is_loopback()));
        if !loopback {
            return Err(
                "is plain http off this machine, and one-click unsubscribe (RFC 8058) needs https",
            );
        }
    }
    Ok(())
}

fn validate_shop(i: usize, shop: &ShopConfig) -> Result<(), ConfigError> {
    let field = |name: &str| format!("shop[{i}].{name}");
    let bad = |name: &str, problem: String, fix: &str| ConfigError::Invalid {
        field: field(name),
        problem,
        fix: fix.to_owned(),
    };
    for (name, value) in [
        ("sender_email", &shop.sender_email),
        ("support_email", &shop.support_email),
        ("alert_email", &shop.alert_email),
        ("privacy_email", &shop.privacy_email),
    ] {
        if let Some(v) = value {
            if !is_sendable_address(v) {
                return Err(bad(
                    name,
                    format!("{v:?} is not a plain ASCII email address, so every email using it would fail when built"),
                    "use an address such as \"hello@your-store.com\" (write an internationalised domain in its xn-- form)",
                ));
            }
        }
    }
    if let Some(locale) = &shop.locale {
        if crate::model::locale::locale_chain(Some(locale)).is_empty() {
            return Err(bad(
                "locale",
                format!("{locale:?} is not a language tag"),
                "use a tag such as \"fr\" or \"fr-CA\", or remove it for English",
            ));
        }
    }
    if shop.time_zone.parse::<chrono_tz::Tz>().is_err() {
        return Err(bad(
            "time_zone",
            format!("{:?} is not an IANA time zone", shop.time_zone),
            "use a name such as \"Europe/Paris\" or \"America/New_York\"",
        ));
    }
    if shop.quiet_hours.times().is_none() {
        return Err(bad(
            "quiet_hours",
            format!(
                "{:?}–{:?} are not HH:MM times",
                shop.quiet_hours.start, shop.quiet_hours.end
            ),
            "write them as quiet_hours = { start = \"21:00\", end = \"08:00\" }",
        ));
    }
    let urls =
        shop.review_url
            .iter()
            .map(|u| ("review_url".to_owned(), u))
            .chain(
                shop.referral_url
                    .iter()
                    .map(|u| ("referral_url".to_owned(), u)),
            )
            .chain(shop.products.iter().enumerate().flat_map(|(j, p)| {
                p.care_url
                    .iter()
                    .map(move |u| (format!("product[{j}].care_url"), u))
                    .chain(
                        p.how_to_url
                            .iter()
                            .map(move |u| (format!("product[{j}].how_to_url"), u)),
                    )
                    .chain(p.complementary.iter().enumerate().map(move |(k, c)| {
                        (format!("product[{j}].complementary[{k}].url"), &c.url)
                    }))
            }));
    for (name, url) in urls {
        if !is_web_url(url) {
            return Err(bad(
                &name,
                format!("{url:?} is not a web address"),
                "use a full http(s) URL without spaces, e.g. \"https://your-store.com/care\"",
            ));
        }
    }
    if shop.frequency_cap_hours > 24 * 30 {
        return Err(bad(
            "frequency_cap_hours",
            "is more than 30 days".into(),
            "use a number of hours such as 16",
        ));
    }
    let sat = &shop.playbooks.satisfaction;
    if !(1..=5).contains(&sat.low_score)
        || !(1..=5).contains(&sat.high_score)
        || sat.low_score >= sat.high_score
    {
        return Err(bad(
            "playbooks.satisfaction.low_score",
            format!(
                "low_score {} and high_score {} must be 1–5 with low_score below high_score",
                sat.low_score, sat.high_score
            ),
            "use e.g. low_score = 2 and high_score = 4",
        ));
    }
    if shop.attribution_window_days == 0 || shop.attribution_window_days > 90 {
        return Err(bad(
            "attribution_window_days",
            format!("{} is outside 1–90", shop.attribution_window_days),
            "use a number of days such as 5",
        ));
    }
    if shop.playbooks.loyalty.nth_order == 0 {
        return Err(bad(
            "playbooks.loyalty.nth_order",
            "must be at least 1".into(),
            "use e.g. 3 for every third order",
        ));
    }
    if let Some(d) = &shop.playbooks.loyalty.discount {
        validate_discount(&field("playbooks.loyalty.discount"), d)?;
    }
    if let Some(d) = &shop.playbooks.recovery.discount {
        validate_discount(&field("playbooks.recovery.discount"), d)?;
    }
    for (j, p) in shop.products.iter().enumerate() {
        let pf = |name: &str| format!("product[{j}].{name}");
        if p.product_id.is_none() && p.sku.is_none() {
            return Err(bad(
                &pf("product_id"),
                "a product rule needs product_id or sku".into(),
                "add product_id = 1234 (the Shopify product id) or sku = \"ABC-1\"",
            ));
        }
        if let Some(days) = p.consumption_days {
            if days == 0 || p.lead_days >= days {
                return Err(bad(
                    &pf("lead_days"),
                    format!(
                        "lead_days ({}) must be less than consumption_days ({days})",
                        p.lead_days
                    ),
                    "lower lead_days or raise consumption_days",
                ));
            }
        }
    }
    let enabled = shop.playbooks.enabled();
    if shop.sender_email.is_none() && !enabled.is_empty() {
        return Err(bad(
            "sender_email",
            format!(
                "is missing, but playbooks {} are enabled: every follow-up would fail when sent",
                enabled.join(", ")
            ),
            "add sender_email = \"hello@your-store.com\" (an address or domain verified in SES), or set enabled = false in each [shop.playbooks.<name>]",
        ));
    }
    Ok(())
}

/// Webhook secrets per shop domain, loaded once at start.
#[derive(Clone, Default)]
pub struct WebhookSecrets(HashMap<String, Arc<[SecretString]>>);

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.0
                    .iter()
                    .map(|(k, v)| (k, format!("{} secret(s)", v.len()))),
            )
            .finish()
    }
}

impl WebhookSecrets {
    /// Reads each shop's secrets from its environment variable through `lookup`
    /// (`std::env::var` in production). A variable may hold several comma-separated
    /// secrets: during a rotation, list the new one first and keep the old one for an hour.
    pub fn load(
        config: &Config,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut map = HashMap::new();
        for (i, shop) in config.shops.iter().enumerate() {
            let var = shop
                .webhook_secrets_env
                .as_deref()
                .unwrap_or(DEFAULT_SECRETS_ENV);
            let secrets: Vec<SecretString> = lookup(var)
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| SecretString::from(s.to_owned()))
                .collect();
            if secrets.is_empty() {
                return Err(ConfigError::Invalid {
                    field: format!("shop[{i}] ({})", shop.domain),
                    problem: format!("environment variable {var} holds no webhook secret"),
                    fix: format!(
                        "set {var} to the app's client secret (comma-separated during a rotation)"
                    ),
                });
            }
            map.insert(shop.domain.clone(), Arc::from(secrets));
        }
        Ok(WebhookSecrets(map))
    }

    /// From explicit values (tests, tools).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a [&'a str])>) -> Self {
        WebhookSecrets(
            pairs
                .into_iter()
                .map(|(shop, secrets)| {
                    let v: Vec<SecretString> = secrets
                        .iter()
                        .map(|s| SecretString::from((*s).to_owned()))
                        .collect();
                    (shop.to_owned(), Arc::from(v))
                })
                .collect(),
        )
    }

    pub fn for_shop(&self, domain: &str) -> Option<&[SecretString]> {
        self.0.get(domain).map(|v| &v[..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[webhook]
max_body_bytes = 2097152

[[shop]]
domain = "acme.myshopify.com"
name = "Acme"
sender_email = "hello@acme.example"

[[shop]]
domain = "beta.myshopify.com"
webhook_secrets_env = "BETA_SECRETS"
sender_email = "hello@beta.example"
"#;

    /// A minimal valid shop table (playbooks on by default, so it needs a sender).
    const SHOP_A: &str =
        "[[shop]]\ndomain = \"a.myshopify.com\"\nsender_email = \"hello@a.example\"\n";

    #[test]
    fn parses_a_valid_file_with_defaults() {
        let c = Config::parse(GOOD, "test").unwrap();
        assert_eq!(c.webhook.max_body_bytes, 2 * 1024 * 1024);
        assert_eq!(c.webhook.store_budget_ms, 2500);
        assert_eq!(c.shops.len(), 2);
        assert_eq!(
            c.shop("acme.myshopify.com").unwrap().name.as_deref(),
            Some("Acme")
        );
    }

    #[test]
    fn unknown_field_is_named() {
        let e = Config::parse("[[shop]]\ndomian = \"a.myshopify.com\"\n", "t").unwrap_err();
        assert!(e.to_string().contains("domian"), "{e}");
    }

    #[test]
    fn bad_domain_names_field_and_fix() {
        let e =
            Config::parse("[[shop]]\ndomain = \"https://Acme.myshopify.com\"\n", "t").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("shop[0].domain") && msg.contains("Fix:"),
            "{msg}"
        );
    }

    #[test]
    fn duplicate_shop_is_rejected() {
        let e = Config::parse(
            "[[shop]]\ndomain=\"a.b.com\"\nsender_email=\"s@b.com\"\n[[shop]]\ndomain=\"a.b.com\"\n",
            "t",
        )
        .unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
    }

    #[test]
    fn no_shop_is_rejected() {
        let e = Config::parse("", "t").unwrap_err();
        assert!(e.to_string().contains("[[shop]]"), "{e}");
    }

    #[test]
    fn secrets_are_split_for_rotation_and_never_printed() {
        let c = Config::parse(GOOD, "test").unwrap();
        let s = WebhookSecrets::load(&c, |var| match var {
            "AFTERCART_WEBHOOK_SECRETS" => Some("new-one, old-one".into()),
            "BETA_SECRETS" => Some("beta".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(s.for_shop("acme.myshopify.com").unwrap().len(), 2);
        assert_eq!(s.for_shop("beta.myshopify.com").unwrap().len(), 1);
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("new-one") && !shown.contains("beta\""),
            "{shown}"
        );
    }

    #[test]
    fn product_urls_are_checked_at_load() {
        let e = Config::parse(
            "[[shop]]\ndomain = \"a.myshopify.com\"\n[[shop.product]]\nproduct_id = 1\ncare_url = \"www.example.com/care me\"\n",
            "t",
        )
        .unwrap_err();
        assert!(e.to_string().contains("shop[0].product[0].care_url"), "{e}");
    }

    #[test]
    fn bad_time_zone_and_quiet_hours_name_the_field() {
        let e = Config::parse(
            "[[shop]]\ndomain = \"a.myshopify.com\"\ntime_zone = \"Mars/Olympus\"\n",
            "t",
        )
        .unwrap_err();
        assert!(e.to_string().contains("shop[0].time_zone"), "{e}");
        let e = Config::parse(
            "[[shop]]\ndomain = \"a.myshopify.com\"\nquiet_hours = { start = \"9pm\", end = \"08:00\" }\n",
            "t",
        )
        .unwrap_err();
        assert!(e.to_string().contains("shop[0].quiet_hours"), "{e}");
    }

    #[test]
    fn replenishment_needs_lead_days_below_consumption_days() {
        let e = Config::parse(
            "[[shop]]\ndomain = \"a.myshopify.com\"\n[[shop.product]]\nsku = \"X\"\nconsumption_days = 5\nlead_days = 5\n",
            "t",
        )
        .unwrap_err();
        assert!(e.to_string().contains("product[0].lead_days"), "{e}");
    }

    #[test]
    fn the_sample_config_in_infra_is_valid() {
        Config::parse(
            include_str!("../../../infra/aftercart.toml"),
            "infra/aftercart.toml",
        )
        .unwrap();
    }

    fn with_loyalty(discount: &str) -> Result<Config, ConfigError> {
        Config::parse(
            &format!("{SHOP_A}[shop.playbooks.loyalty]\ndiscount = {discount}\n"),
            "t",
        )
    }

    #[test]
    fn admin_settings_default_to_a_pinned_version_and_no_override() {
        let c = Config::parse(GOOD, "test").unwrap();
        assert_eq!(c.admin.api_version, "2025-10");
        assert_eq!(c.admin.timeout_ms, 10_000);
        assert_eq!(c.admin.endpoint, None);
        assert_eq!(c.shops[0].admin_token_env, None);
        assert_eq!(c.shops[0].playbooks.loyalty.discount, None);
    }

    #[test]
    fn a_loyalty_discount_rule_parses_with_defaults() {
        let c = with_loyalty(
            "{ percentage = 15, combines_with = { order = true, product = false, shipping = true } }",
        )
        .unwrap();
        let d = c.shops[0].playbooks.loyalty.discount.clone().unwrap();
        assert_eq!(d.percentage, Some(rust_decimal::Decimal::from(15)));
        assert_eq!((d.days_valid, d.prefix.as_str()), (30, "THANKS"));
        assert!(d.combines_with.order && !d.combines_with.product && d.combines_with.shipping);
        let d =
            with_loyalty("{ amount = \"10.00\", applies_on_each_item = true, prefix = \"VIP\" }")
                .unwrap()
                .shops[0]
                .playbooks
                .loyalty
                .discount
                .clone()
                .unwrap();
        assert_eq!(d.amount, Some("10.00".parse().unwrap()));
        assert_eq!(d.combines_with, CombinesWith::default());
    }

    #[test]
    fn bad_discount_rules_name_the_field_and_the_fix() {
        for (rule, field) in [
            ("{ days_valid = 30 }", "discount.percentage"),
            ("{ percentage = 10, amount = 5 }", "discount.amount"),
            ("{ percentage = 0.15 }", "discount.percentage"),
            ("{ percentage = 150 }", "discount.percentage"),
            ("{ amount = -1 }", "discount.amount"),
            (
                "{ percentage = 10, applies_on_each_item = true }",
                "applies_on_each_item",
            ),
            ("{ percentage = 10, days_valid = 0 }", "discount.days_valid"),
            (
                "{ percentage = 10, prefix = \"thanks-10\" }",
                "discount.prefix",
            ),
            (
                "{ percentage = 10, combines_with = { orders = true } }",
                "orders",
            ),
        ] {
            match with_loyalty(rule) {
                Ok(_) => panic!("{rule} was accepted"),
                Err(e) => {
                    let msg = e.to_string();
                    assert!(msg.contains(field), "{rule}: {msg}");
                    if field.starts_with("discount.") || field == "applies_on_each_item" {
                        assert!(
                            msg.contains("shop[0].playbooks.loyalty.discount")
                                && msg.contains("Fix:"),
                            "{rule}: {msg}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn admin_endpoint_override_refuses_clear_text_off_the_machine() {
        let parse = |endpoint: &str| {
            Config::parse(
                &format!("[admin]\nendpoint = \"{endpoint}\"\n{SHOP_A}"),
                "t",
            )
        };
        for ok in [
            "http://127.0.0.1:5112",
            "http://localhost:8080/",
            "http://[::1]:9000",
            "https://admin-proxy.example.com",
        ] {
            parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "http://admin-proxy.example.com",
            "http://10.0.0.5:80",
            "ftp://127.0.0.1",
            "https://127.0.0.1/admin/api",
            "https://user:pw@example.com",
            "not a url",
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(
                e.contains("admin.endpoint") && e.contains("Fix:"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn admin_version_and_token_variable_are_checked() {
        for (toml, field) in [
            ("[admin]\napi_version = \"2025-11\"\n", "admin.api_version"),
            ("[admin]\napi_version = \"latest\"\n", "admin.api_version"),
            ("[admin]\ntimeout_ms = 60000\n", "admin.timeout_ms"),
            ("[admin]\nmax_attempts = 0\n", "admin.max_attempts"),
        ] {
            let e = Config::parse(&format!("{toml}{SHOP_A}"), "t").unwrap_err();
            assert!(e.to_string().contains(field), "{e}");
        }
        Config::parse(
            &format!("[admin]\napi_version = \"2024-07\"\n{SHOP_A}"),
            "t",
        )
        .unwrap();
        let e =
            Config::parse(&format!("{SHOP_A}admin_token_env = \"acme-token\"\n"), "t").unwrap_err();
        assert!(e.to_string().contains("shop[0].admin_token_env"), "{e}");
    }

    #[test]
    fn retention_defaults_to_two_years_and_reaches_every_shop() {
        let c = Config::parse(GOOD, "test").unwrap();
        assert_eq!(c.privacy.retention_days, 730);
        let c = Config::parse(&format!("[privacy]\nretention_days = 400\n{GOOD}"), "t").unwrap();
        assert!(c.shops.iter().all(|s| s.retention_days == 400));
    }

    #[test]
    fn retention_out_of_range_names_the_field() {
        for days in [0, 29, 36_501] {
            let e = Config::parse(&format!("[privacy]\nretention_days = {days}\n{GOOD}"), "t")
                .unwrap_err();
            assert!(e.to_string().contains("privacy.retention_days"), "{e}");
        }
    }

    #[test]
    fn privacy_email_must_be_an_address() {
        let e = Config::parse(
            "[[shop]]\ndomain = \"a.myshopify.com\"\nprivacy_email = \"legal team\"\n",
            "t",
        )
        .unwrap_err();
        assert!(e.to_string().contains("shop[0].privacy_email"), "{e}");
    }

    #[test]
    fn a_shop_with_playbooks_on_but_no_sender_is_refused_naming_the_field_and_the_fix() {
        // Every playbook is on by default: before this check such a file loaded, and
        // every follow-up failed when dispatch came to send it.
        let e = Config::parse("[[shop]]\ndomain = \"a.myshopify.com\"\n", "t")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("shop[0].sender_email: is missing")
                && e.contains("thank_you, satisfaction, replenishment, loyalty, returns, recovery")
                && e.contains("Fix: add sender_email = "),
            "{e}"
        );
        // Named per shop, and only the playbooks that are on.
        let off = |names: &[&str]| {
            names
                .iter()
                .map(|n| format!("[shop.playbooks.{n}]\nenabled = false\n"))
                .collect::<String>()
        };
        let all_but_returns = off(&[
            "thank_you",
            "satisfaction",
            "replenishment",
            "loyalty",
            "recovery",
        ]);
        let e = Config::parse(
            &format!("{SHOP_A}[[shop]]\ndomain = \"b.myshopify.com\"\n{all_but_returns}"),
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("shop[1].sender_email") && e.contains("playbooks returns are enabled"),
            "{e}"
        );
        // A shop that only records (every playbook off) needs no sender.
        let c = Config::parse(
            &format!(
                "[[shop]]\ndomain = \"b.myshopify.com\"\n{all_but_returns}{}",
                off(&["returns"])
            ),
            "t",
        )
        .unwrap();
        assert!(c.shops[0].playbooks.enabled().is_empty());
    }

    #[test]
    fn addresses_the_email_builder_refuses_are_refused_at_load() {
        // Each passed the earlier check (an @ and a dot), then failed every send.
        for field in [
            "sender_email",
            "support_email",
            "alert_email",
            "privacy_email",
        ] {
            for bad in [
                "héllo@a.example",
                "Shop <hello@a.example>",
                "hello@@a.example",
                "hello@a.example,b@a.example",
            ] {
                let sender = if field == "sender_email" {
                    String::new()
                } else {
                    "sender_email = \"hello@a.example\"\n".to_owned()
                };
                let toml = format!(
                    "[[shop]]\ndomain = \"a.myshopify.com\"\n{sender}{field} = \"{bad}\"\n"
                );
                match Config::parse(&toml, "t") {
                    Ok(_) => panic!("{field} = {bad:?} accepted"),
                    Err(e) => assert!(e.to_string().contains(&format!("shop[0].{field}: ")), "{e}"),
                }
            }
        }
    }

    #[test]
    fn urls_longer_than_the_email_builder_takes_are_refused() {
        let long = format!("https://a.example/{}", "r".repeat(2000));
        let e = Config::parse(&format!("{SHOP_A}review_url = \"{long}\"\n"), "t").unwrap_err();
        assert!(e.to_string().contains("shop[0].review_url"), "{e}");
        let long_base = format!("https://links.example.com/{}", "l".repeat(480));
        let e = Config::parse(
            &format!("[links]\nbase_url = \"{long_base}\"\n{SHOP_A}"),
            "t",
        )
        .unwrap_err();
        assert!(e.to_string().contains("links.base_url"), "{e}");
    }

    #[test]
    fn a_configuration_set_ses_would_refuse_is_refused_at_load() {
        let parse = |set: &str| {
            Config::parse(
                &format!("[email]\nconfiguration_set = \"{set}\"\n{SHOP_A}"),
                "t",
            )
        };
        for ok in ["aftercart", "aftercart-events_prod-2"] {
            parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in ["", "aftercart events", "aftercart.events", &"x".repeat(65)] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(
                e.contains("email.configuration_set") && e.contains("Fix:"),
                "{bad:?}: {e}"
            );
        }
    }

    #[test]
    fn the_environment_can_turn_dev_mode_on_for_a_local_run_only() {
        let mut c = Config::parse(SHOP_A, "t").unwrap();
        assert!(!c.email.dev_mode, "off by default");
        c.apply_env(|_| None).unwrap();
        assert!(!c.email.dev_mode, "untouched without the variable");
        c.apply_env(|v| (v == DEV_MODE_ENV).then(|| "true".into()))
            .unwrap();
        assert!(c.email.dev_mode);
        c.apply_env(|v| (v == DEV_MODE_ENV).then(|| "0".into()))
            .unwrap();
        assert!(
            !c.email.dev_mode,
            "and off again, over a file that has it on"
        );
        let e = c
            .apply_env(|v| (v == DEV_MODE_ENV).then(|| "maybe".into()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("AFTERCART_DEV_MODE") && e.contains("Fix:"),
            "{e}"
        );
    }

    #[test]
    fn the_sample_config_is_safe_to_deploy() {
        // `make deploy` ships infra/aftercart.toml unless told otherwise.
        let c = Config::parse(
            include_str!("../../../infra/aftercart.toml"),
            "infra/aftercart.toml",
        )
        .unwrap();
        assert!(
            !c.email.dev_mode,
            "the sample must not send for test orders"
        );
        assert!(c.shops.iter().all(|s| s.sender_email.is_some()));
    }

    #[test]
    fn missing_secret_variable_is_named() {
        let c = Config::parse(GOOD, "test").unwrap();
        let e = WebhookSecrets::load(&c, |_| None).unwrap_err();
        assert!(e.to_string().contains("AFTERCART_WEBHOOK_SECRETS"), "{e}");
    }
}

//! Every check run on the file at load, each error naming the field and the fix.

use super::{AdminSettings, Config, ConfigError, DiscountRule, ShopConfig, WebhookSettings};
use crate::model::time::MAX_PLAN_AHEAD_DAYS;
use std::collections::HashMap;

/// Longest URL the email builder accepts (see `email::check_url`).
const MAX_URL_LEN: usize = 2000;
/// Longest `links.base_url`: the unsubscribe URL built on it (base, path and a signed
/// token of about 300 characters) goes into the `List-Unsubscribe` header, capped at 900.
const MAX_LINKS_BASE_LEN: usize = 500;

impl Config {
    /// The whole file, in this order: at least one shop, `[webhook]`, the other
    /// settings, then each shop.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.shops.is_empty() {
            return Err(invalid_field(
                "shop",
                "no shop is configured",
                "add a [[shop]] table with domain = \"your-store.myshopify.com\"",
            ));
        }
        validate_webhook(&self.webhook)?;
        self.validate_settings()?;
        validate_shops(&self.shops)
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
        if !(1..=300).contains(&self.links.scanner_burst_seconds) {
            return Err(invalid_field(
                "links.scanner_burst_seconds",
                &format!(
                    "{} is outside 1–300: mail scanners open every rating link within seconds",
                    self.links.scanner_burst_seconds
                ),
                "remove it to use 10 seconds",
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
        self.reputation.validate()?;
        validate_admin(&self.admin)
    }
}

/// `[webhook]`: a body cap, a recording budget and a delivery age Shopify can live with.
fn validate_webhook(w: &WebhookSettings) -> Result<(), ConfigError> {
    if w.max_body_bytes < 1024 {
        return Err(invalid_field(
            "webhook.max_body_bytes",
            "is below 1024 bytes, too small for any Shopify payload",
            "remove it to use the 1 MiB default",
        ));
    }
    if !(100..=4500).contains(&w.store_budget_ms) {
        return Err(invalid_field(
            "webhook.store_budget_ms",
            "must be between 100 and 4500 (Shopify waits 5 s in total)",
            "remove it to use the 2500 ms default",
        ));
    }
    if !(5..=24 * 30).contains(&w.max_delivery_age_hours) {
        return Err(invalid_field(
            "webhook.max_delivery_age_hours",
            "must be between 5 (Shopify retries for 4 hours) and 720 (30 days)",
            "remove it to use the 28-hour default",
        ));
    }
    Ok(())
}

/// Each `[[shop]]` in turn: a shop domain configured once, the table itself, then the
/// names of its secret variables.
fn validate_shops(shops: &[ShopConfig]) -> Result<(), ConfigError> {
    let mut seen = HashMap::new();
    for (i, shop) in shops.iter().enumerate() {
        let field = format!("shop[{i}].domain");
        let d = &shop.domain;
        if !crate::wire::shopify::is_shop_domain(d) {
            return Err(invalid_field(
                &field,
                &format!("{d:?} is not a shop domain"),
                "use the permanent lowercase domain, e.g. \"acme.myshopify.com\", without https://",
            ));
        }
        if let Some(prev) = seen.insert(d.clone(), i) {
            return Err(invalid_field(
                &field,
                &format!("{d:?} is configured twice (also shop[{prev}])"),
                "keep one [[shop]] table per domain",
            ));
        }
        validate_shop(i, shop)?;
        if let Some(var) = &shop.webhook_secrets_env {
            if !is_env_var_name(var) {
                return Err(invalid_field(
                    &format!("shop[{i}].webhook_secrets_env"),
                    &format!("{var:?} is not an environment variable name"),
                    "use upper-case letters, digits and _, e.g. \"ACME_WEBHOOK_SECRETS\"",
                ));
            }
        }
        if let Some(var) = &shop.admin_token_env {
            if !is_env_var_name(var) {
                return Err(invalid_field(
                    &format!("shop[{i}].admin_token_env"),
                    &format!("{var:?} is not an environment variable name"),
                    "use upper-case letters, digits and _, e.g. \"ACME_ADMIN_TOKEN\"",
                ));
            }
        }
    }
    Ok(())
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
pub fn check_admin_endpoint(endpoint: &str) -> Result<url::Url, &'static str> {
    let url = url::Url::parse(endpoint).map_err(|_| "is not a URL")?;
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

/// The fields of one table of the file (`shop[0]`, `shop[0].playbooks.loyalty.discount`),
/// to name them in errors.
#[derive(Clone, Copy)]
struct Table<'a>(&'a str);

impl Table<'_> {
    /// `name` inside the table, e.g. `shop[0].time_zone`.
    fn field(self, name: &str) -> String {
        format!("{}.{name}", self.0)
    }

    /// The error for `name` inside the table.
    fn bad(self, name: &str, problem: String, fix: &str) -> ConfigError {
        ConfigError::Invalid {
            field: self.field(name),
            problem,
            fix: fix.to_owned(),
        }
    }
}

/// A discount rule at `field` (e.g. `shop[0].playbooks.loyalty.discount`): one of
/// percentage or amount, a sensible validity, a readable prefix.
pub fn validate_discount(field: &str, d: &DiscountRule) -> Result<(), ConfigError> {
    let at = Table(field);
    check_discount_value(at, d)?;
    check_discount_code(at, d)
}

/// Exactly one of a percentage (1–100) or a positive amount; `applies_on_each_item`
/// only with an amount.
fn check_discount_value(at: Table<'_>, d: &DiscountRule) -> Result<(), ConfigError> {
    match (d.percentage, d.amount) {
        (Some(_), Some(_)) => {
            return Err(at.bad(
                "amount",
                "both percentage and amount are set".into(),
                "keep one: percentage = 15 (percent off) or amount = \"10.00\" (fixed amount off)",
            ))
        }
        (None, None) => {
            return Err(at.bad(
                "percentage",
                "the discount has no value".into(),
                "add percentage = 15 (percent off) or amount = \"10.00\" (fixed amount off)",
            ))
        }
        (Some(p), None) => {
            // Below 1 % is almost surely a fraction meant as a percentage (0.15 for 15).
            if p < rust_decimal::Decimal::ONE || p > rust_decimal::Decimal::ONE_HUNDRED {
                return Err(at.bad(
                    "percentage",
                    format!("{p} is not between 1 and 100"),
                    "write the percent off as a number such as 15 (not 0.15)",
                ));
            }
        }
        (None, Some(a)) => {
            if a <= rust_decimal::Decimal::ZERO {
                return Err(at.bad(
                    "amount",
                    format!("{a} is not a positive amount"),
                    "use the amount off in the shop's currency, e.g. amount = \"10.00\"",
                ));
            }
        }
    }
    if d.applies_on_each_item && d.amount.is_none() {
        return Err(at.bad(
            "applies_on_each_item",
            "only applies to a fixed amount".into(),
            "remove it, or use amount instead of percentage",
        ));
    }
    Ok(())
}

/// The code's validity in days, its prefix and its title.
fn check_discount_code(at: Table<'_>, d: &DiscountRule) -> Result<(), ConfigError> {
    if !(1..=365).contains(&d.days_valid) {
        return Err(at.bad(
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
        return Err(at.bad(
            "prefix",
            format!("{:?} is not 1–12 upper-case letters or digits", d.prefix),
            "use e.g. prefix = \"THANKS\"",
        ));
    }
    if let Some(t) = &d.title {
        if t.trim().is_empty() || t.chars().count() > 255 || t.chars().any(char::is_control) {
            return Err(at.bad(
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

/// One `[[shop]]` table, its domain and secret variables aside (`Config::validate`
/// checks those): addresses, language and hours, links, playbook rules, products, and a
/// sender whenever a playbook is on, in that order.
fn validate_shop(i: usize, shop: &ShopConfig) -> Result<(), ConfigError> {
    let table = format!("shop[{i}]");
    let at = Table(&table);
    check_shop_addresses(at, shop)?;
    check_shop_locale_and_hours(at, shop)?;
    check_shop_urls(at, shop)?;
    check_shop_playbook_rules(at, shop)?;
    check_shop_holdouts(at, shop)?;
    check_shop_products(at, shop)?;
    check_shop_brand(at, shop)?;
    shop.report.validate(i)?;
    check_shop_sender(at, shop)
}

/// The sender, support, alert and privacy addresses, as the email builder parses them.
fn check_shop_addresses(at: Table<'_>, shop: &ShopConfig) -> Result<(), ConfigError> {
    for (name, value) in [
        ("sender_email", &shop.sender_email),
        ("support_email", &shop.support_email),
        ("alert_email", &shop.alert_email),
        ("privacy_email", &shop.privacy_email),
    ] {
        if let Some(v) = value {
            if !is_sendable_address(v) {
                return Err(at.bad(
                    name,
                    format!("{v:?} is not a plain ASCII email address, so every email using it would fail when built"),
                    "use an address such as \"hello@your-store.com\" (write an internationalised domain in its xn-- form)",
                ));
            }
        }
    }
    Ok(())
}

/// The language tag, the time zone and the quiet hours.
fn check_shop_locale_and_hours(at: Table<'_>, shop: &ShopConfig) -> Result<(), ConfigError> {
    if let Some(locale) = &shop.locale {
        if crate::model::locale::locale_chain(Some(locale)).is_empty() {
            return Err(at.bad(
                "locale",
                format!("{locale:?} is not a language tag"),
                "use a tag such as \"fr\" or \"fr-CA\", or remove it for English",
            ));
        }
    }
    if shop.time_zone.parse::<chrono_tz::Tz>().is_err() {
        return Err(at.bad(
            "time_zone",
            format!("{:?} is not an IANA time zone", shop.time_zone),
            "use a name such as \"Europe/Paris\" or \"America/New_York\"",
        ));
    }
    if shop.quiet_hours.times().is_none() {
        return Err(at.bad(
            "quiet_hours",
            format!(
                "{:?}–{:?} are not HH:MM times",
                shop.quiet_hours.start, shop.quiet_hours.end
            ),
            "write them as quiet_hours = { start = \"21:00\", end = \"08:00\" }",
        ));
    }
    Ok(())
}

/// Every link the shop's emails carry: review, referral and each product's pages.
fn check_shop_urls(at: Table<'_>, shop: &ShopConfig) -> Result<(), ConfigError> {
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
            return Err(at.bad(
                &name,
                format!("{url:?} is not a web address"),
                "use a full http(s) URL without spaces, e.g. \"https://your-store.com/care\"",
            ));
        }
    }
    Ok(())
}

/// Longest postal address, sign-off and preheader: one line each in an email.
const MAX_BRAND_TEXT_CHARS: usize = 200;

/// The brand's colours, pictures and texts, and the postal address marketing email must
/// carry.
fn check_shop_brand(at: Table<'_>, shop: &ShopConfig) -> Result<(), ConfigError> {
    let brand = &shop.brand;
    for (name, value) in [
        ("brand.color", &brand.color),
        ("brand.accent", &brand.accent),
    ] {
        if let Some(v) = value {
            if crate::model::color::Rgb::parse(v).is_none() {
                return Err(at.bad(
                    name,
                    format!("{v:?} is not a hex colour"),
                    "write it as \"#rrggbb\", e.g. \"#1a5fb4\"",
                ));
            }
        }
    }
    let images = brand
        .logo_url
        .iter()
        .map(|u| ("brand.logo_url".to_owned(), u))
        .chain(shop.products.iter().enumerate().flat_map(|(j, p)| {
            p.image_url
                .iter()
                .map(move |u| (format!("product[{j}].image_url"), u))
        }));
    for (name, url) in images {
        if !(url.starts_with("https://") && is_web_url(url)) {
            return Err(at.bad(
                &name,
                format!("{url:?} is not an https:// address"),
                "use the image's https URL, e.g. from the Shopify admin's Files page (mail clients block images over plain http)",
            ));
        }
    }
    let texts = [
        ("postal_address".to_owned(), shop.postal_address.as_ref()),
        ("brand.sign_off".to_owned(), brand.sign_off.as_ref()),
    ]
    .into_iter()
    .chain(shop.emails.iter().map(|(p, o)| {
        (
            format!("emails.{}.preheader", p.as_str()),
            o.preheader.as_ref(),
        )
    }));
    for (name, text) in texts {
        let Some(text) = text else { continue };
        if text.trim().is_empty()
            || text.chars().count() > MAX_BRAND_TEXT_CHARS
            || text.chars().any(char::is_control)
        {
            return Err(at.bad(
                &name,
                format!("must be one line of 1–{MAX_BRAND_TEXT_CHARS} characters"),
                "write it on one line, or remove it",
            ));
        }
    }
    let marketing: Vec<&str> = crate::model::Playbook::ALL
        .into_iter()
        .filter(|p| p.is_marketing() && shop.playbooks.enabled().contains(&p.as_str()))
        .map(crate::model::Playbook::as_str)
        .collect();
    if !marketing.is_empty() && shop.postal_address.is_none() {
        return Err(at.bad(
            "postal_address",
            format!(
                "is missing, and {} email is marketing, which must show where the business is (CAN-SPAM)",
                marketing.join(" and ")
            ),
            "add postal_address = \"12 Market Street, Springfield, IL 62701, USA\" to the [[shop]], or turn those playbooks off",
        ));
    }
    Ok(())
}

/// The frequency cap, the satisfaction scores, the attribution window and the loyalty
/// and recovery rules (their discounts included).
fn check_shop_playbook_rules(at: Table<'_>, shop: &ShopConfig) -> Result<(), ConfigError> {
    if shop.frequency_cap_hours > 24 * 30 {
        return Err(at.bad(
            "frequency_cap_hours",
            "is more than 30 days".into(),
            "use a number of hours such as 16",
        ));
    }
    check_shop_delays(at, shop)?;
    let sat = &shop.playbooks.satisfaction;
    if !(1..=5).contains(&sat.low_score)
        || !(1..=5).contains(&sat.high_score)
        || sat.low_score >= sat.high_score
    {
        return Err(at.bad(
            "playbooks.satisfaction.low_score",
            format!(
                "low_score {} and high_score {} must be 1–5 with low_score below high_score",
                sat.low_score, sat.high_score
            ),
            "use e.g. low_score = 2 and high_score = 4",
        ));
    }
    if sat.reminder_days > 30 {
        return Err(at.bad(
            "playbooks.satisfaction.reminder_days",
            format!("{} is more than 30 days", sat.reminder_days),
            "use a number of days such as 5, or 0 for no reminder",
        ));
    }
    if sat.comment_wait_minutes > 24 * 60 {
        return Err(at.bad(
            "playbooks.satisfaction.comment_wait_minutes",
            format!("{} is more than a day", sat.comment_wait_minutes),
            "use a few minutes, e.g. 10",
        ));
    }
    let returns = &shop.playbooks.returns;
    if returns.reason_alert_days == 0 || returns.reason_alert_days > 365 {
        return Err(at.bad(
            "playbooks.returns.reason_alert_days",
            format!("{} is outside 1–365", returns.reason_alert_days),
            "use a number of days such as 30",
        ));
    }
    if returns.reason_alert_count > crate::model::ReasonTallyRecord::MAX_RETURNS as u32 {
        return Err(at.bad(
            "playbooks.returns.reason_alert_count",
            format!(
                "{} is more returns than a tally keeps",
                returns.reason_alert_count
            ),
            "use a small count such as 3, or 0 for no alert",
        ));
    }
    if shop.attribution_window_days == 0 || shop.attribution_window_days > 90 {
        return Err(at.bad(
            "attribution_window_days",
            format!("{} is outside 1–90", shop.attribution_window_days),
            "use a number of days such as 5",
        ));
    }
    if shop.playbooks.loyalty.nth_order == 0 {
        return Err(at.bad(
            "playbooks.loyalty.nth_order",
            "must be at least 1".into(),
            "use e.g. 3 for every third order",
        ));
    }
    if let Some(d) = &shop.playbooks.loyalty.discount {
        validate_discount(&at.field("playbooks.loyalty.discount"), d)?;
    }
    if let Some(d) = &shop.playbooks.recovery.discount {
        validate_discount(&at.field("playbooks.recovery.discount"), d)?;
    }
    Ok(())
}

/// Most of a playbook's customers a holdout group may take: above half, the email
/// would reach fewer customers than the comparison holds out.
pub const MAX_HOLDOUT_PERCENT: u32 = 50;

/// Each playbook's `holdout_percent`, 0–50.
fn check_shop_holdouts(at: Table<'_>, shop: &ShopConfig) -> Result<(), ConfigError> {
    for p in crate::model::Playbook::ALL {
        let percent = shop.playbooks.holdout_percent(p);
        if percent > MAX_HOLDOUT_PERCENT {
            return Err(at.bad(
                &format!("playbooks.{}.holdout_percent", p.as_str()),
                format!("{percent} is outside 0–{MAX_HOLDOUT_PERCENT} (a percent of the playbook's customers)"),
                "use e.g. 10 to hold out one customer in ten, or 0 (the default) for no holdout group",
            ));
        }
    }
    Ok(())
}

/// Every playbook delay inside the planning window (a follow-up due later is never
/// planned, so a longer delay is a mistake to name at load).
fn check_shop_delays(at: Table<'_>, shop: &ShopConfig) -> Result<(), ConfigError> {
    let pb = &shop.playbooks;
    let max_hours = MAX_PLAN_AHEAD_DAYS * 24;
    for (name, hours) in [
        ("playbooks.thank_you.delay_hours", pb.thank_you.delay_hours),
        ("playbooks.loyalty.delay_hours", pb.loyalty.delay_hours),
        ("playbooks.returns.delay_hours", pb.returns.delay_hours),
        ("playbooks.recovery.delay_hours", pb.recovery.delay_hours),
    ] {
        if i64::from(hours) > max_hours {
            return Err(at.bad(
                name,
                format!("{hours} hours is more than 10 years ({max_hours} hours)"),
                "use a delay in hours such as 24",
            ));
        }
    }
    for (name, days) in [
        (
            "playbooks.satisfaction.days_after_delivery",
            pb.satisfaction.days_after_delivery,
        ),
        (
            "playbooks.satisfaction.days_after_fulfillment",
            pb.satisfaction.days_after_fulfillment,
        ),
    ] {
        if i64::from(days) > MAX_PLAN_AHEAD_DAYS {
            return Err(at.bad(
                name,
                format!("{days} days is more than 10 years ({MAX_PLAN_AHEAD_DAYS} days)"),
                "use a number of days such as 7",
            ));
        }
    }
    Ok(())
}

/// Each product rule: matched by product id or SKU, a lead time below its consumption.
fn check_shop_products(at: Table<'_>, shop: &ShopConfig) -> Result<(), ConfigError> {
    for (j, p) in shop.products.iter().enumerate() {
        let pf = |name: &str| format!("product[{j}].{name}");
        if p.product_id.is_none() && p.sku.is_none() {
            return Err(at.bad(
                &pf("product_id"),
                "a product rule needs product_id or sku".into(),
                "add product_id = 1234 (the Shopify product id) or sku = \"ABC-1\"",
            ));
        }
        if let Some(days) = p.consumption_days {
            if i64::from(days) > MAX_PLAN_AHEAD_DAYS {
                return Err(at.bad(
                    &pf("consumption_days"),
                    format!("{days} is more than {MAX_PLAN_AHEAD_DAYS} days (10 years): no reminder would ever be planned"),
                    "use the days one unit lasts, e.g. 30",
                ));
            }
            if days == 0 || p.lead_days >= days {
                return Err(at.bad(
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
    Ok(())
}

/// A sender address whenever any playbook is on (every follow-up needs one).
fn check_shop_sender(at: Table<'_>, shop: &ShopConfig) -> Result<(), ConfigError> {
    let enabled = shop.playbooks.enabled();
    if shop.sender_email.is_none() && !enabled.is_empty() {
        return Err(at.bad(
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

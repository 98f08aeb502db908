//! Signed deliveries that Aftercart refused, and the merchant's daily alert about them.
//!
//! A valid signature proves only that Shopify once signed the body: the topic, webhook
//! id and timestamps travel in unsigned headers. So a delivery whose body does not fit
//! its topic, names another shop, is older than Shopify's retry horizon, or asks for a
//! destructive change that the Admin API shows to be forged, is refused and counted
//! here (`SHOP#{shop}` / `REFUSED#{day}`, see `docs/security.md`). The dispatcher tells
//! the merchant once per UTC day on which any occurred.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Days a day's count is kept (DynamoDB TTL).
pub const RETENTION_DAYS: u32 = 90;

/// Why a signed delivery was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalKind {
    /// The body is not the shape its topic requires (a body of another topic, or
    /// malformed): 400, nothing stored.
    WrongShape,
    /// A domain in the body is not the `X-Shopify-Shop-Domain` it came with: 400.
    OtherShop,
    /// `X-Shopify-Triggered-At` is older than `webhook.max_delivery_age_hours`: 400.
    Stale,
    /// `app/uninstalled` while the shop's Admin API token still works: sends resumed.
    ForgedUninstall,
    /// `shop/redact` while the shop's Admin API token still works: nothing erased.
    ForgedShopRedact,
}

impl RefusalKind {
    pub const ALL: [RefusalKind; 5] = [
        RefusalKind::WrongShape,
        RefusalKind::OtherShop,
        RefusalKind::Stale,
        RefusalKind::ForgedUninstall,
        RefusalKind::ForgedShopRedact,
    ];

    /// The name used in logs and alerts.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalKind::WrongShape => "wrong_shape",
            RefusalKind::OtherShop => "other_shop",
            RefusalKind::Stale => "stale",
            RefusalKind::ForgedUninstall => "forged_uninstall",
            RefusalKind::ForgedShopRedact => "forged_shop_redact",
        }
    }

    /// The attribute of [`RefusalsRecord`] that counts this kind.
    pub fn counter(self) -> &'static str {
        match self {
            RefusalKind::WrongShape => "n_wrong_shape",
            RefusalKind::OtherShop => "n_other_shop",
            RefusalKind::Stale => "n_stale",
            RefusalKind::ForgedUninstall => "n_forged_uninstall",
            RefusalKind::ForgedShopRedact => "n_forged_shop_redact",
        }
    }

    /// What the merchant reads in the alert.
    pub fn describe(self) -> &'static str {
        match self {
            RefusalKind::WrongShape => "signed deliveries whose body did not fit their topic",
            RefusalKind::OtherShop => "signed deliveries whose body named another shop",
            RefusalKind::Stale => "signed deliveries older than Shopify's retry horizon",
            RefusalKind::ForgedUninstall => {
                "uninstall notices while the store still accepted the app's token (sends resumed)"
            }
            RefusalKind::ForgedShopRedact => {
                "shop erasure requests while the store still accepted the app's token (nothing erased)"
            }
        }
    }
}

/// One shop's refusals on one UTC day.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RefusalsRecord {
    /// `YYYY-MM-DD`.
    pub day: String,
    #[serde(default)]
    pub total: u64,
    #[serde(default)]
    pub n_wrong_shape: u64,
    #[serde(default)]
    pub n_other_shop: u64,
    #[serde(default)]
    pub n_stale: u64,
    #[serde(default)]
    pub n_forged_uninstall: u64,
    #[serde(default)]
    pub n_forged_shop_redact: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_at: Option<String>,
    /// When the merchant was told (once per day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerted_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl crate::model::Record for RefusalsRecord {
    const KIND: &'static str = "refusals";
}

impl RefusalsRecord {
    pub fn count(&self, kind: RefusalKind) -> u64 {
        match kind {
            RefusalKind::WrongShape => self.n_wrong_shape,
            RefusalKind::OtherShop => self.n_other_shop,
            RefusalKind::Stale => self.n_stale,
            RefusalKind::ForgedUninstall => self.n_forged_uninstall,
            RefusalKind::ForgedShopRedact => self.n_forged_shop_redact,
        }
    }
}

/// The UTC day of `t`, as `YYYY-MM-DD`.
pub fn day_of(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// The alert's subject and plain text: what was refused, what it means, what to do.
pub fn alert_text(shop: &crate::config::ShopConfig, day: &RefusalsRecord) -> (String, String) {
    use std::fmt::Write as _;
    let brand = shop.brand();
    let subject = format!(
        "Security notice: Aftercart refused {} webhook deliveries for {brand} on {}",
        day.total, day.day
    );
    let mut text = format!(
        "Hello,\n\nOn {} (UTC) Aftercart refused {} webhook deliveries for {brand} ({}) \
         that carried a valid Shopify signature but could not be genuine as sent:\n\n",
        day.day, day.total, shop.domain
    );
    for kind in RefusalKind::ALL {
        let n = day.count(kind);
        if n > 0 {
            let _ = writeln!(text, "  {n:>5}  {}", kind.describe());
        }
    }
    let _ = write!(
        text,
        "\nFirst at {}, last (so far) at {}.\n\n\
         Nothing was recorded or erased because of them (an uninstall notice stops sends \
         only until the store confirms it). A valid signature on the wrong body usually means \
         that someone who saw one of your store's webhook deliveries (in a log, a proxy or a \
         relay) is sending it again, or that a relay between Shopify and Aftercart rewrites \
         deliveries.\n\n\
         What to do: search the webhook function's logs of that day for \"webhook rejected\" \
         (each line gives the topic, the webhook id and a digest of the body, never the body) \
         and look the webhook ids up in your Shopify admin. If the deliveries did not come \
         from Shopify, rotate the app's client secret in its Shopify settings and give \
         Aftercart the new one (AFTERCART_WEBHOOK_SECRETS; docs/security.md, \"Rotating \
         secrets\").\n\n\
         You get at most one such notice a day.\n\n-- Aftercart\n",
        day.first_at.as_deref().unwrap_or("?"),
        day.last_at.as_deref().unwrap_or("?"),
    );
    (subject, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop() -> crate::config::ShopConfig {
        let config = crate::config::Config::parse(
            "[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"acme.myshopify.com\"\nname = \"Acme\"\nsender_email = \"shop@acme.example\"\n",
            "test",
        )
        .unwrap();
        config.shops[0].clone()
    }

    #[test]
    fn the_alert_lists_each_kind_that_occurred_and_nothing_else() {
        let day = RefusalsRecord {
            day: "2026-11-22".into(),
            total: 5,
            n_wrong_shape: 3,
            n_forged_uninstall: 2,
            first_at: Some("2026-11-22T08:01:00.000Z".into()),
            last_at: Some("2026-11-22T09:15:00.000Z".into()),
            ..RefusalsRecord::default()
        };
        let (subject, text) = alert_text(&shop(), &day);
        assert_eq!(
            subject,
            "Security notice: Aftercart refused 5 webhook deliveries for Acme on 2026-11-22"
        );
        assert!(text.contains(&format!("    3  {}", RefusalKind::WrongShape.describe())));
        assert!(text.contains(&format!(
            "    2  {}",
            RefusalKind::ForgedUninstall.describe()
        )));
        for absent in [
            RefusalKind::OtherShop,
            RefusalKind::Stale,
            RefusalKind::ForgedShopRedact,
        ] {
            assert!(!text.contains(absent.describe()), "{}", absent.as_str());
        }
        assert!(text.contains(
            "First at 2026-11-22T08:01:00.000Z, last (so far) at 2026-11-22T09:15:00.000Z"
        ));
        assert!(text.contains("docs/security.md"));
    }

    #[test]
    fn every_kind_has_its_own_counter_attribute() {
        let counters: std::collections::HashSet<_> =
            RefusalKind::ALL.iter().map(|k| k.counter()).collect();
        assert_eq!(counters.len(), RefusalKind::ALL.len());
        for kind in RefusalKind::ALL {
            assert_eq!(kind.counter(), format!("n_{}", kind.as_str()));
            // The record reads back what the counter attribute holds.
            let item = serde_json::json!({ "day": "2026-11-22", kind.counter(): 7 });
            let rec: RefusalsRecord = serde_json::from_value(item).unwrap();
            assert_eq!(rec.count(kind), 7, "{}", kind.as_str());
        }
    }

    #[test]
    fn days_are_utc() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-22T23:30:00-05:00")
            .unwrap()
            .to_utc();
        assert_eq!(day_of(t), "2026-11-23");
    }
}

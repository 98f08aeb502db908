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

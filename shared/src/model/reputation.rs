//! A shop's sending reputation: the per-day counts its bounce and complaint rates are
//! computed from, and the marketing pause kept on its shop item (see
//! `domain::reputation` for the rule and `docs/deliverability.md`).
//!
//! Two items per shop and UTC day, in a partition of their own (a shop item, so
//! `shop/redact` erases them with the rest):
//! - `SHOP#{shop}#REPUTATION` / `{day}#sent` — emails SES accepted (`sent`), one `ADD`
//!   by the dispatcher per follow-up sent;
//! - `SHOP#{shop}#REPUTATION` / `{day}#events` — permanent bounces (`bounced`) and
//!   complaints (`complained`), one `ADD` in the same transaction as the SES event's
//!   receipt, so an event redelivered or arriving by two routes counts once.
//!
//! They are two items so the dispatcher's plain `UpdateItem` never meets a mail-events
//! transaction on the same item (DynamoDB would cancel one of them).

use super::Key;
use serde::{Deserialize, Serialize};

/// Days a day's counts are kept (DynamoDB TTL): longer than the longest window.
pub const RETENTION_DAYS: i64 = 40;

/// The partition of a shop's day items.
pub fn days_pk(shop: &str) -> String {
    format!("{}#REPUTATION", super::keys::shop(shop).pk)
}

/// The item counting sends of `day` (`YYYY-MM-DD`).
pub fn sent_key(shop: &str, day: &str) -> Key {
    Key {
        pk: days_pk(shop),
        sk: format!("{day}#sent"),
    }
}

/// The item counting permanent bounces and complaints of `day` (`YYYY-MM-DD`).
pub fn events_key(shop: &str, day: &str) -> Key {
    Key {
        pk: days_pk(shop),
        sk: format!("{day}#events"),
    }
}

/// One of a day's count items as stored (either kind: the other's counters are 0).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ReputationDay {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    #[serde(default)]
    pub sent: u64,
    /// Permanent bounces (what SES's bounce rate counts).
    #[serde(default)]
    pub bounced: u64,
    #[serde(default)]
    pub complained: u64,
}
impl super::Record for ReputationDay {
    const KIND: &'static str = "reputation_day";
}

/// The counts over a window of days.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Figures {
    pub sent: u64,
    pub bounced: u64,
    pub complained: u64,
    /// The window's length in days.
    pub window_days: u32,
}

impl Figures {
    /// Permanent bounces per email sent (0 when nothing was sent).
    pub fn bounce_rate(&self) -> f64 {
        ratio(self.bounced, self.sent)
    }
    /// Complaints per email sent (0 when nothing was sent).
    pub fn complaint_rate(&self) -> f64 {
        ratio(self.complained, self.sent)
    }
}

fn ratio(n: u64, d: u64) -> f64 {
    if d == 0 {
        0.0
    } else {
        n as f64 / d as f64
    }
}

/// The shop's marketing brake, on its shop item (`ShopRecord::reputation`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ReputationState {
    /// When marketing was paused; `None` while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_at: Option<String>,
    /// Why, as follow-ups and the report show it
    /// (`marketing paused: complaint rate 0.12 % over 7 days`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_reason: Option<String>,
    /// The figures of the latest change (pause or resume).
    #[serde(default)]
    pub figures: Figures,
    /// When the state last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<String>,
    /// When the merchant was told of the current pause (or the latest resume): the
    /// notice goes once per change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notified_at: Option<String>,
    /// Set by an operator's resume (`aftercart reputation --resume`): the pause does
    /// not come back on the events counted before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_resume: Option<OperatorResume>,
}

/// An operator's resume: the window's bad counts when it was made, and until when it
/// holds whatever they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct OperatorResume {
    pub at: String,
    /// The window's permanent bounces and complaints at the resume.
    pub bounced: u64,
    pub complained: u64,
    /// `window_days` after the resume: every event counted before it has left the
    /// window by then.
    pub until: String,
}

impl ReputationState {
    /// The reason a marketing follow-up waits, while paused.
    pub fn pause_reason(&self) -> Option<&str> {
        self.paused_at
            .as_ref()
            .map(|_| self.paused_reason.as_deref().unwrap_or("marketing paused"))
    }
}

//! The Shopify Admin API as the apps speak to it: the discount a playbook creates, the
//! one found under a code, and the errors the store answers with. The GraphQL documents
//! and the HTTP client are in [`crate::adapters::shopify_admin`].

use crate::config::CombinesWith;
use rust_decimal::Decimal;

/// What a discount takes off.
#[derive(Debug, Clone, PartialEq)]
pub enum DiscountValue {
    /// Percent off, 1–100 (sent to Shopify as a fraction, 15 → 0.15).
    Percentage(Decimal),
    /// A fixed amount in the shop's currency, once per order or on each item.
    Amount { amount: Decimal, each_item: bool },
}

/// One unique, single-use code for one customer.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDiscount {
    pub title: String,
    pub code: String,
    pub starts_at: String,
    pub ends_at: Option<String>,
    /// `gid://shopify/Customer/{id}`.
    pub customer_gid: String,
    pub value: DiscountValue,
    pub combines_with: CombinesWith,
}

/// The discount a code belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundDiscount {
    pub id: String,
    pub title: Option<String>,
}

/// One entry of `userErrors`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct UserError {
    #[serde(default)]
    pub field: Option<Vec<String>>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: String,
}

impl std::fmt::Display for UserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.code.as_deref().unwrap_or("ERROR"))?;
        if let Some(field) = self.field.as_ref().filter(|p| !p.is_empty()) {
            write!(f, " at {}", field.join("."))?;
        }
        // Messages name fields and rules, not people; keep them short for the logs.
        let message: String = self.message.chars().take(200).collect();
        write!(f, ": {message}")
    }
}

/// Why an Admin API call did not give what was asked. Messages carry no token, no
/// request body and no personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// No token was configured for the shop.
    #[error("no Admin API access token is configured for this shop")]
    NoToken,
    /// 401/403 or `ACCESS_DENIED`: the token is wrong, revoked or lacks a scope.
    #[error("the Admin API refused the access token ({0})")]
    Auth(String),
    /// 5xx, timeouts, connection failures or throttling that outlasted the retries.
    #[error("the Admin API is unavailable for now ({0})")]
    Transient(String),
    /// The store already has a discount with this code.
    #[error("the discount code is already taken in the store")]
    CodeTaken,
    /// `userErrors`: the store refuses this discount as configured.
    #[error("the store rejected the discount: {}", join(.0))]
    Rejected(Vec<UserError>),
    /// Anything else: a 4xx, a query the pinned version does not know, an answer of an
    /// unknown shape.
    #[error("Admin API error: {0}")]
    Api(String),
}

fn join(errors: &[UserError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl AdminError {
    /// Worth trying again later (the dispatcher reschedules the follow-up).
    pub fn is_transient(&self) -> bool {
        matches!(self, AdminError::Transient(_))
    }

    /// The merchant must act on the token (the dispatcher alerts them once).
    pub fn is_auth(&self) -> bool {
        matches!(self, AdminError::Auth(_))
    }
}

//! What a store's own repeat purchases teach about how long a product lasts: each
//! customer's recent purchases of a replenishable product (on their profile) and the
//! product's learned days-per-unit samples (one item per shop and product). The
//! estimator that reads them is `domain::cadence`.

use super::Record;
use serde::{Deserialize, Serialize};

/// Most purchases kept per customer and product (the newest): enough for a customer's
/// own cadence, bounded so a profile stays small.
pub const MAX_PURCHASES: usize = 8;

/// Most samples kept per product (the newest): the estimate follows the store as its
/// customers' habits change, and the item stays under 1 KB.
pub const MAX_SAMPLES: usize = 64;

/// One purchase of a replenishable product by one customer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Purchase {
    /// The order's creation time, a `utc_key`.
    pub at: String,
    pub order: u64,
    /// Units of the product the customer kept (bought less refunded); 0 once the order
    /// is cancelled or the product fully refunded, and then the purchase starts no
    /// interval.
    pub units: u32,
}

/// A product's learned timing in one shop (`SHOP#{shop}` / `CADENCE#{product}`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CadenceRecord {
    pub v: u64,
    /// The product's timing key (`ProductRule::timing_key`): its id, or `sku:{sku}`.
    pub product: String,
    /// The newest samples, oldest first: days one unit lasted, in hundredths of a day.
    #[serde(default)]
    pub samples: Vec<u32>,
    /// Repeat purchases learned from, ever.
    #[serde(default)]
    pub repeats: u64,
    /// Intervals refused as outliers (a gift, a purchase elsewhere, a bulk order).
    #[serde(default)]
    pub refused: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}
impl Record for CadenceRecord {
    const KIND: &'static str = "cadence";
}

impl CadenceRecord {
    /// The samples in days.
    pub fn days(&self) -> Vec<f64> {
        self.samples.iter().map(|&c| f64::from(c) / 100.0).collect()
    }
}

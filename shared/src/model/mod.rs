//! What is stored, item by item. `docs/data-model.md` documents the same keys and
//! access patterns; every item lives in the one table defined in [`crate::adapters::dynamo::table`].
//!
//! Personal data is kept only where a playbook needs it: the customer's email, first
//! name and locale, on the customer's profile item and nowhere else. Orders, shipments
//! and refunds name the customer only by its key, so erasure touches one partition.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Partition and sort key of an item.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

pub mod cadence;
pub mod color;
pub mod locale;
pub mod money;
pub mod personal;
pub mod report;
pub mod reputation;
pub mod time;
pub mod tokens;

/// What a write expects of the item already stored under its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// No item yet.
    Absent,
    /// The item still has this version.
    Version(u64),
    /// Anything: the write is idempotent (immutable facts).
    Any,
}

pub mod keys {
    //! Key layout. `{shop}` is the shop's myshopify domain.
    use super::Key;

    /// A delivery already processed: `X-Shopify-Webhook-Id`.
    pub fn delivery(shop: &str, webhook_id: &str) -> Key {
        Key {
            pk: format!("DELIVERY#{shop}#{webhook_id}"),
            sk: "DELIVERY".into(),
        }
    }

    /// A resource state already processed: topic, resource id and its version.
    pub fn event(shop: &str, topic: &str, resource_id: u64, version: &str) -> Key {
        Key {
            pk: format!("EVENT#{shop}#{topic}#{resource_id}#{version}"),
            sk: "EVENT".into(),
        }
    }

    pub fn order_pk(shop: &str, order_id: u64) -> String {
        format!("SHOP#{shop}#ORDER#{order_id}")
    }

    pub fn order(shop: &str, order_id: u64) -> Key {
        Key {
            pk: order_pk(shop, order_id),
            sk: "ORDER".into(),
        }
    }

    pub fn fulfillment(shop: &str, order_id: u64, fulfillment_id: u64) -> Key {
        Key {
            pk: order_pk(shop, order_id),
            sk: format!("FULFILLMENT#{fulfillment_id}"),
        }
    }

    pub fn refund(shop: &str, order_id: u64, refund_id: u64) -> Key {
        Key {
            pk: order_pk(shop, order_id),
            sk: format!("REFUND#{refund_id}"),
        }
    }

    pub fn customer_pk(shop: &str, customer_key: &str) -> String {
        format!("SHOP#{shop}#CUSTOMER#{customer_key}")
    }

    pub fn profile(shop: &str, customer_key: &str) -> Key {
        Key {
            pk: customer_pk(shop, customer_key),
            sk: "PROFILE".into(),
        }
    }

    /// One entry of the customer's order history, sorted by order time.
    pub fn history(shop: &str, customer_key: &str, created_at: &str, order_id: u64) -> Key {
        Key {
            pk: customer_pk(shop, customer_key),
            sk: format!("ORDER#{created_at}#{order_id}"),
        }
    }

    /// A follow-up lives in its customer's partition; its id is deterministic
    /// (`{playbook}#{order_id}#{product_id or 0}`), so one is planned at most once.
    pub fn followup(shop: &str, customer_key: &str, id: &str) -> Key {
        Key {
            pk: customer_pk(shop, customer_key),
            sk: format!("{FOLLOWUP_PREFIX}{id}"),
        }
    }

    pub const FOLLOWUP_PREFIX: &str = "FOLLOWUP#";

    /// The customer's rating (and comment) for one satisfaction follow-up.
    pub fn feedback(shop: &str, customer_key: &str, followup_id: &str) -> Key {
        Key {
            pk: customer_pk(shop, customer_key),
            sk: format!("{FEEDBACK_PREFIX}{followup_id}"),
        }
    }

    pub const FEEDBACK_PREFIX: &str = "FEEDBACK#";

    /// A quarantined delivery, in the partition `pk` of what it is about.
    pub fn quarantine(pk: &str, webhook_id: &str) -> Key {
        Key {
            pk: pk.to_owned(),
            sk: format!("{QUARANTINE_PREFIX}{webhook_id}"),
        }
    }

    pub const QUARANTINE_PREFIX: &str = "QUARANTINE#";

    /// How many returns of one product gave one reason lately (no customer in it).
    pub fn reason_tally(shop: &str, product_id: u64, reason: super::ReturnReason) -> Key {
        Key {
            pk: format!("SHOP#{shop}#PRODUCT#{product_id}"),
            sk: format!("REASON#{}", reason.as_str()),
        }
    }

    /// The discount code issued for one follow-up (loyalty, recovery).
    pub fn discount(shop: &str, customer_key: &str, followup_id: &str) -> Key {
        Key {
            pk: customer_pk(shop, customer_key),
            sk: format!("{DISCOUNT_PREFIX}{followup_id}"),
        }
    }

    pub const DISCOUNT_PREFIX: &str = "DISCOUNT#";

    /// An address that must not be mailed again (unsubscribed, bounced, complained),
    /// keyed by the address's hash so the opt-out outlives erasure.
    pub fn suppression(shop: &str, email_hash: &str) -> Key {
        Key {
            pk: format!("SUPPRESS#{shop}#{email_hash}"),
            sk: "SUPPRESSION".into(),
        }
    }

    pub fn privacy_request(shop: &str, received_at: &str, webhook_id: &str) -> Key {
        Key {
            pk: format!("SHOP#{shop}#PRIVACY"),
            sk: format!("{received_at}#{webhook_id}"),
        }
    }

    pub fn shop(shop: &str) -> Key {
        Key {
            pk: format!("SHOP#{shop}"),
            sk: "SHOP".into(),
        }
    }

    /// The count of signed deliveries refused on one UTC day (`day` is `YYYY-MM-DD`):
    /// wrong shape for the topic, another shop's domain, too old, or a destructive
    /// request the Admin API showed to be forged.
    pub fn refusals(shop: &str, day: &str) -> Key {
        Key {
            pk: format!("SHOP#{shop}"),
            sk: format!("{REFUSALS_PREFIX}{day}"),
        }
    }

    /// A product's learned replenishment timing (`model::cadence::CadenceRecord`).
    pub fn cadence(shop: &str, product: &str) -> Key {
        Key {
            pk: format!("SHOP#{shop}"),
            sk: format!("{CADENCE_PREFIX}{product}"),
        }
    }

    /// The sort-key prefix of [`cadence`] items.
    pub const CADENCE_PREFIX: &str = "CADENCE#";

    /// The sort-key prefix of [`refusals`] items.
    pub const REFUSALS_PREFIX: &str = "REFUSED#";
}

/// How a customer is identified within a shop: the Shopify customer id, or for a guest
/// checkout a hash of the lower-cased email (so guests' orders still group together).
pub fn customer_key(customer_id: Option<u64>, email: Option<&str>) -> Option<String> {
    match (customer_id, email) {
        (Some(id), _) => Some(id.to_string()),
        (None, Some(e)) if !e.trim().is_empty() => Some(format!("guest-{}", email_hash(e))),
        _ => None,
    }
}

/// SHA-256 of the trimmed, lower-cased address, hex, first 32 characters: enough to
/// match an address without storing it (suppression lists, guest keys, logs).
pub fn email_hash(email: &str) -> String {
    let digest = Sha256::digest(email.trim().to_lowercase().as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// The follow-up emails Aftercart sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Playbook {
    /// Thanks after payment, with care and how-to links per product.
    ThankYou,
    /// Rating request some days after delivery (or after fulfillment as a fallback).
    Satisfaction,
    /// Reorder reminder when a product is about to run out.
    Replenishment,
    /// Reward code on the Nth paid order or past a lifetime-spend threshold.
    Loyalty,
    /// A note after a refund, asking what went wrong.
    Returns,
    /// An apology after a low rating (planned by the `links` function, not by orders).
    Recovery,
    /// One reminder of the satisfaction check to a customer who has not rated, planned
    /// by the dispatcher when the satisfaction email is sent (`domain::reminder`).
    SatisfactionReminder,
}

impl Playbook {
    pub const ALL: [Playbook; 7] = [
        Playbook::ThankYou,
        Playbook::Satisfaction,
        Playbook::Replenishment,
        Playbook::Loyalty,
        Playbook::Returns,
        Playbook::Recovery,
        Playbook::SatisfactionReminder,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Playbook::ThankYou => "thank_you",
            Playbook::Satisfaction => "satisfaction",
            Playbook::Replenishment => "replenishment",
            Playbook::Loyalty => "loyalty",
            Playbook::Returns => "returns",
            Playbook::Recovery => "recovery",
            Playbook::SatisfactionReminder => "satisfaction_reminder",
        }
    }

    pub fn parse(s: &str) -> Option<Playbook> {
        Playbook::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Marketing mail needs the customer's marketing consent; the others relate to a
    /// purchase the customer made (they still honour unsubscribes and suppressions).
    /// Recovery answers the customer's own low rating, so it is not marketing.
    pub fn is_marketing(self) -> bool {
        matches!(self, Playbook::Replenishment | Playbook::Loyalty)
    }

    /// Whether its email shows the "You may also like" block unless the shop says
    /// otherwise: the ones that thank or remind, never an apology or a question.
    pub fn cross_sells_by_default(self) -> bool {
        matches!(
            self,
            Playbook::ThankYou | Playbook::Replenishment | Playbook::Loyalty
        )
    }
}

/// Marker for item types so the adapter can tell what it writes.
pub trait Record: Serialize {
    const KIND: &'static str;
}

/// Receipt of one delivery (`DELIVERY#…`) or of one resource state (`EVENT#…`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Receipt {
    pub topic: String,
    pub webhook_id: String,
    pub received_at: String,
    /// Epoch seconds; DynamoDB TTL deletes the receipt some time after.
    pub expires_at: i64,
    /// Random token of the call that wrote it. When an SDK retry of a transaction that
    /// had already committed finds the receipt, the token tells "written by me" from
    /// "a real duplicate".
    #[serde(default)]
    pub writer: String,
}
impl Record for Receipt {
    const KIND: &'static str = "receipt";
}

/// A line of an order, as the playbooks need it.
///
/// Stored under short attribute names ([`OrderLine::STORED_NAMES`]): an order item
/// carries every line, and DynamoDB bills an item's attribute names with its values, so
/// the long names were about 55 of a line's 150 bytes (a 250-line order was 37.5 KB).
/// The long names are still read (`alias`), so lines stored before are decoded as they
/// are; the privacy export shows the long names again.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrderLine {
    #[serde(rename = "id", alias = "line_item_id")]
    pub line_item_id: u64,
    #[serde(
        rename = "pid",
        alias = "product_id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub product_id: Option<u64>,
    #[serde(
        rename = "vid",
        alias = "variant_id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub variant_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(rename = "t", alias = "title")]
    pub title: String,
    #[serde(
        rename = "vt",
        alias = "variant_title",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub variant_title: Option<String>,
    #[serde(rename = "q", alias = "quantity")]
    pub quantity: u32,
    #[serde(
        rename = "p",
        alias = "price",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub price: Option<Decimal>,
}

impl OrderLine {
    /// (stored name, full name) of every field, for readers of raw items (the privacy
    /// export) that show the full names.
    pub const STORED_NAMES: [(&'static str, &'static str); 8] = [
        ("id", "line_item_id"),
        ("pid", "product_id"),
        ("vid", "variant_id"),
        ("sku", "sku"),
        ("t", "title"),
        ("vt", "variant_title"),
        ("q", "quantity"),
        ("p", "price"),
    ];
}

/// The order's current state (`SHOP#…#ORDER#id` / `ORDER`). Shipments and refunds may
/// arrive before the order itself: then the item exists with only those fields set.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct OrderRecord {
    /// Optimistic-concurrency version: every write expects the version it read.
    pub v: u64,
    pub order_id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Shopify's `updated_at` of the state stored here; older deliveries don't overwrite it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_updated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_price: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_discounts: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub financial_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fulfillment_status: Option<String>,
    #[serde(default)]
    pub test: bool,
    #[serde(default)]
    pub buyer_accepts_marketing: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_locale: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discount_codes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<OrderLine>,
    /// First time the order was seen paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<String>,
    /// Earliest fulfillment (shipment) time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fulfilled_at: Option<String>,
    /// Earliest carrier-reported delivery time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<String>,
    /// Latest refund time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refunded_at: Option<String>,
    /// Refunds already counted into `refunded`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refunds_applied: Vec<u64>,
    /// Quantities refunded so far, by line item id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub refunded: BTreeMap<String, u32>,
    /// Replenishable product's timing key → days one unit lasts for this customer, in
    /// hundredths of a day, fixed when the order was paid (`domain::cadence`); the
    /// reminder counts from it. A product missing here uses its `consumption_days`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub timing: BTreeMap<String, u32>,
    /// Recorded by the history import (`aftercart import-orders`): a past order, for
    /// which no follow-up is ever planned, whatever deliveries of it come later.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub imported: bool,
    /// Whether this order has been added to the customer's profile and history.
    #[serde(default)]
    pub counted: bool,
    /// Whether this order's total has been added to the customer's paid spend.
    #[serde(default)]
    pub spend_counted: bool,
    /// The amount that was added (totals change when an order is edited, so a
    /// cancellation must take back exactly this, not the total it has by then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counted_spend: Option<Decimal>,
    /// Epoch seconds: order time + `privacy.retention_days`; DynamoDB TTL removes the
    /// item some time after (it can lag up to 48 h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// The receipts of the order topics' deliveries recorded on this order, by
    /// `{version}#{topic}`: kept here, in the item each of them writes, rather than as
    /// `EVENT#…` items of their own (`domain::ingest::receipts`). At most
    /// [`FOLDED_RECEIPTS_MAX`], the newest states.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub receipts: BTreeMap<String, FoldedReceipt>,
}
impl Record for OrderRecord {
    const KIND: &'static str = "order";
}

impl OrderRecord {
    /// Units of a line refunded so far.
    pub fn refunded_qty(&self, line_item_id: u64) -> u32 {
        self.refunded
            .get(&line_item_id.to_string())
            .copied()
            .unwrap_or(0)
    }

    /// Every unit of every line has been refunded.
    pub fn fully_refunded(&self) -> bool {
        !self.lines.is_empty()
            && self
                .lines
                .iter()
                .all(|l| self.refunded_qty(l.line_item_id) >= l.quantity)
    }

    /// The units of each line the customer kept (ordered minus refunded), of `product`'s
    /// lines only when set; lines with nothing kept are left out.
    pub fn kept_lines(&self, product: Option<u64>) -> Vec<LineUnits<'_>> {
        self.lines
            .iter()
            .filter(|l| product.is_none() || l.product_id == product)
            .map(|line| LineUnits {
                line,
                quantity: line
                    .quantity
                    .saturating_sub(self.refunded_qty(line.line_item_id)),
            })
            .filter(|u| u.quantity > 0)
            .collect()
    }

    /// What a reorder cart for `product` (or the whole order) holds: the kept units per
    /// variant, lines of one variant merged under the first one's title; lines without
    /// a variant (custom items) can't be reordered and are left out.
    pub fn reorder_items(&self, product: Option<u64>) -> Vec<LineUnits<'_>> {
        let mut items: Vec<LineUnits<'_>> = Vec::new();
        for kept in self.kept_lines(product) {
            let Some(variant) = kept.line.variant_id else {
                continue;
            };
            match items
                .iter_mut()
                .find(|u| u.line.variant_id == Some(variant))
            {
                // Saturating: lines of one variant can sum past `u32` (issue 17).
                Some(u) => u.quantity = u.quantity.saturating_add(kept.quantity),
                None => items.push(kept),
            }
        }
        items
    }

    /// The units refunded so far, per line (what a returns email is about).
    pub fn refunded_lines(&self) -> Vec<LineUnits<'_>> {
        self.lines
            .iter()
            .map(|line| LineUnits {
                line,
                quantity: self.refunded_qty(line.line_item_id).min(line.quantity),
            })
            .filter(|u| u.quantity > 0)
            .collect()
    }
}

/// An order line with the units an email or a cart counts of it (kept, refunded).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineUnits<'a> {
    pub line: &'a OrderLine,
    pub quantity: u32,
}

/// A shipment of (part of) an order (`SHOP#…#ORDER#id` / `FULFILLMENT#fid`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FulfillmentRecord {
    pub v: u64,
    pub fulfillment_id: u64,
    pub order_id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipment_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fulfillment_updated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub line_item_ids: Vec<u64>,
    /// Epoch seconds: order time + `privacy.retention_days`; DynamoDB TTL removes the
    /// item some time after (it can lag up to 48 h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// The receipts of the tracking events (`fulfillment_events/create`) recorded on
    /// this shipment, by event id: kept here, in the item each of them changes, rather
    /// than as `EVENT#…` items of their own (`domain::ingest::receipts`). At most
    /// [`FOLDED_RECEIPTS_MAX`], the newest event ids.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub receipts: BTreeMap<String, FoldedReceipt>,
}

/// How many folded receipts an item keeps (about 90 bytes each): the newest, so a
/// shipment with many tracking events stays within 1 KB. An older event delivered again
/// after its receipt was dropped is planned again against the stored state, as after a
/// receipt item's expiry: `delivered_at` keeps the earliest time, and before delivery
/// the shipment's `shipment_status` takes that event's status again. An order's older
/// state delivered again is planned against the newer one stored, which it does not
/// replace (`order_updated_at`); its one-way facts (paid, fulfilled) are set already.
pub const FOLDED_RECEIPTS_MAX: usize = 8;

/// A receipt kept inside the item its delivery changed ([`Receipt`]'s two fields that
/// tell a duplicate apart).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FoldedReceipt {
    pub webhook_id: String,
    /// Random token of the call that wrote it (an SDK retry of our own commit).
    pub writer: String,
}
impl Record for FulfillmentRecord {
    const KIND: &'static str = "fulfillment";
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RefundLine {
    pub line_item_id: u64,
    pub quantity: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant_id: Option<u64>,
}

/// A refund (`SHOP#…#ORDER#id` / `REFUND#rid`); refunds never change once made.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RefundRecord {
    pub refund_id: u64,
    pub order_id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    pub restock: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<RefundLine>,
    /// Epoch seconds: order time + `privacy.retention_days`; DynamoDB TTL removes the
    /// item some time after (it can lag up to 48 h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}
impl Record for RefundRecord {
    const KIND: &'static str = "refund";
}

/// The customer's profile (`SHOP#…#CUSTOMER#key` / `PROFILE`): the only item holding
/// personal data.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ProfileRecord {
    pub v: u64,
    pub customer_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Orders recorded (any state).
    #[serde(default)]
    pub orders_count: u32,
    /// Orders seen paid.
    #[serde(default)]
    pub paid_orders_count: u32,
    /// Sum of paid orders' totals, exact, in `currency`.
    #[serde(default)]
    pub total_spent: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_order_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_order_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_order_id: Option<u64>,
    /// Product id → time of the latest order containing it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub products: BTreeMap<String, String>,
    /// Timing key of each replenishable product → the customer's newest purchases of
    /// it, oldest first (`model::cadence`): their own cadence.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub purchases: BTreeMap<String, Vec<cadence::Purchase>>,
    /// When the last follow-up was sent (or is being sent): the frequency cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_email_at: Option<String>,
    /// Which follow-up holds that slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_email_by: Option<String>,
    /// `buyer_accepts_marketing` of the latest order.
    #[serde(default)]
    pub accepts_marketing_at_checkout: bool,
    /// Email-marketing consent state from `customers_email_marketing_consent/update`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_updated_at: Option<String>,
}
impl Record for ProfileRecord {
    const KIND: &'static str = "profile";
}

impl ProfileRecord {
    /// Whether marketing mail may be sent: explicit consent wins; without any consent
    /// record, the checkout opt-in of the latest order counts.
    pub fn allows_marketing(&self) -> bool {
        match self.consent_state.as_deref() {
            Some(state) => state == "subscribed",
            None => self.accepts_marketing_at_checkout,
        }
    }
}

/// One entry of the customer's order history (`SHOP#…#CUSTOMER#key` / `ORDER#time#id`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HistoryRecord {
    pub order_id: u64,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_price: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub product_ids: Vec<u64>,
    /// Epoch seconds: order time + `privacy.retention_days`; DynamoDB TTL removes the
    /// item some time after (it can lag up to 48 h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}
impl Record for HistoryRecord {
    const KIND: &'static str = "history";
}

/// Where a follow-up is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowUpStatus {
    /// Waiting for its due time (in the due index).
    Pending,
    /// Claimed by a dispatcher until `lease_until` (still in the due index at its due
    /// time; runs pass it over until the lease ends, then another dispatcher takes it
    /// over if this one died: [`FollowUpRecord::leased_at`]).
    Sending,
    Sent,
    Cancelled,
    Failed,
    /// In the playbook's holdout group (`holdout_percent`): it passed every guard and
    /// was recorded instead of sent, at `held_out_at` (no email, no code, no send slot).
    /// Final, like `Sent`.
    HeldOut,
}

impl FollowUpStatus {
    /// Whether nothing more happens to it: sent, held out, cancelled or failed.
    pub fn is_final(self) -> bool {
        !matches!(self, FollowUpStatus::Pending | FollowUpStatus::Sending)
    }
}

/// A planned email (`SHOP#…#CUSTOMER#key` / `FOLLOWUP#{playbook}#{order}#{product}`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FollowUpRecord {
    pub v: u64,
    pub id: String,
    pub shop: String,
    pub customer_key: String,
    pub playbook: Playbook,
    pub order_id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<u64>,
    pub status: FollowUpStatus,
    pub due_at: String,
    /// Due-index keys; present only while pending or sending (the index is sparse).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_sk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<String>,
    /// Send attempts: claims that reached SES, or ended without an outcome (a crash).
    /// Store trouble gives its claim's attempt back.
    #[serde(default)]
    pub attempts: u32,
    /// Store failures met so far (unavailable, timed out, contended): they set the
    /// backoff of the next try, never fail the follow-up.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub store_retries: u32,
    /// Why it is waiting, was cancelled or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ses_message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
    /// When a held-out follow-up would have been sent (it passed every guard then):
    /// the start of its attribution window. Set only with `HeldOut`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_out_at: Option<String>,
    pub planned_at: String,
    /// [`email_hash`] of the customer's address when this was planned: the dispatcher
    /// reads the address's suppression together with the order and the profile, and
    /// reads it again on its own only if the profile's address has changed since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_hash: Option<String>,
    /// What happened after sending (SES events, clicks, orders). These attributes are
    /// set with UpdateItem `SET` (never bumping `v`) by `mail-events`, `links` and
    /// attribution; they are never needed to decide a send.
    #[serde(flatten)]
    pub tracking: Tracking,
}
impl Record for FollowUpRecord {
    const KIND: &'static str = "followup";
}

impl FollowUpRecord {
    /// A new pending follow-up, in the due index at `due_at`.
    #[allow(clippy::too_many_arguments)]
    pub fn pending(
        shop: &str,
        customer_key: &str,
        playbook: Playbook,
        order_id: u64,
        product_id: Option<u64>,
        due_at: &str,
        now: &str,
        shards: u32,
    ) -> FollowUpRecord {
        let mut f = FollowUpRecord {
            v: 1,
            id: followup_id(playbook, order_id, product_id),
            shop: shop.to_owned(),
            customer_key: customer_key.to_owned(),
            playbook,
            order_id,
            product_id,
            status: FollowUpStatus::Pending,
            due_at: due_at.to_owned(),
            due_pk: None,
            due_sk: None,
            lease_owner: None,
            lease_until: None,
            attempts: 0,
            store_retries: 0,
            reason: None,
            ses_message_id: None,
            sent_at: None,
            held_out_at: None,
            planned_at: now.to_owned(),
            email_hash: None,
            tracking: Tracking::default(),
        };
        f.index_at(due_at, shards);
        f
    }

    pub fn key(&self) -> Key {
        keys::followup(&self.shop, &self.customer_key, &self.id)
    }

    /// Whether a claim's lease holds the follow-up at `now_key` (a UTC key): sending,
    /// and the lease not yet over. The dispatcher passes such a follow-up over.
    pub fn leased_at(&self, now_key: &str) -> bool {
        self.status == FollowUpStatus::Sending
            && self
                .lease_until
                .as_deref()
                .is_some_and(|until| until >= now_key)
    }

    /// Puts the follow-up in the due index at `at` (pending, or sending until `at`).
    pub fn index_at(&mut self, at: &str, shards: u32) {
        let key = self.key();
        self.due_pk = Some(due_shard(&key, shards));
        self.due_sk = Some(format!("{at}#{}#{}", key.pk, key.sk));
    }

    /// The follow-up whose feedback item this one's rating links write: a satisfaction
    /// check's own id, and for its reminder the satisfaction check's (one rating per
    /// order, whichever email it came from); `None` for the other playbooks.
    pub fn rating_target(&self) -> Option<String> {
        match self.playbook {
            Playbook::Satisfaction => Some(self.id.clone()),
            Playbook::SatisfactionReminder => Some(followup_id(
                Playbook::Satisfaction,
                self.order_id,
                self.product_id,
            )),
            _ => None,
        }
    }

    /// Takes the follow-up out of the due index (sent, cancelled, failed).
    pub fn unindex(&mut self) {
        self.due_pk = None;
        self.due_sk = None;
        self.lease_owner = None;
        self.lease_until = None;
    }
}

/// After-send facts of a follow-up, for the merchant's report and attribution.
/// Times are UTC keys (`time::utc_key`); counts only ever grow.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Tracking {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_at: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub opens: u32,
    /// First click on a link in the email (SES click tracking or the `links` function).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clicked_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_clicked_at: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub clicks: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounced_at: Option<String>,
    /// `permanent` or `transient`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounce_type: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub transient_bounces: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complained_at: Option<String>,
    /// The order this follow-up led to (reorder click, rating click, or its code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributed_order_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributed_at: Option<String>,
    /// `code`, `reorder_click` or `rating_click`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributed_by: Option<String>,
    /// SES events applied to this follow-up, by event id, with the token of the call
    /// that applied them: `mail-events`' receipts folded into the item they change
    /// (`adapters::dynamo::mail_events`), at most [`Tracking::MAX_FOLDED_EVENTS`].
    /// Written (empty) with every full write of the follow-up, so the map exists for
    /// those updates to add to.
    #[serde(default)]
    pub mail_events: std::collections::BTreeMap<String, String>,
}

impl Tracking {
    /// Events kept on the follow-up itself; later ones get a receipt item of their own,
    /// so the follow-up stays within one write unit (1 KB).
    pub const MAX_FOLDED_EVENTS: usize = 6;
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A customer's rating of one satisfaction follow-up, or return reason for one returns
/// follow-up (`SHOP#…#CUSTOMER#key` / `FEEDBACK#{followup id}`): one item per follow-up,
/// a second click updates it. For a return reason, `score` is the reason's number
/// ([`ReturnReason::number`]).
///
/// A click on a rating link is only a candidate: mail scanners open every link of an
/// email within seconds. The item keeps the recent clicks; the `dispatch` function
/// settles it ([`FeedbackState`]) a few minutes after the last one, when a burst of
/// different scores is known for a scanner's and anything else for a person's. A
/// comment posted from the page is a person's at once.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FeedbackRecord {
    pub v: u64,
    /// The shop and customer the item belongs to, so the dispatcher can settle it from
    /// the index (empty on items written before they were stored).
    #[serde(default)]
    pub shop: String,
    #[serde(default)]
    pub customer_key: String,
    pub followup: String,
    pub order_id: u64,
    /// 1–5: the person's score, or 1–8 a return reason (for a [`FeedbackState::Scanner`]
    /// item, the last one clicked, which counts for nothing).
    pub score: u8,
    /// Free text from the comment form, at most `links::MAX_COMMENT_CHARS` characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub first_at: String,
    pub updated_at: String,
    /// How many times a score was submitted.
    pub submissions: u32,
    /// Whose score this is. Items from before scanners were told apart are ratings.
    #[serde(default)]
    pub state: FeedbackState,
    /// The latest clicks on the rating links, oldest first (at most
    /// [`FeedbackRecord::MAX_CLICKS`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clicks: Vec<ScoreClick>,
    /// When the merchant was alerted about a low score (once per follow-up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerted_at: Option<String>,
    /// When the comment was passed on to the merchant (once per follow-up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_sent_at: Option<String>,
    /// When the dispatcher last settled the item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_at: Option<String>,
    /// For a return reason: the reason the product tallies count it under (a changed
    /// reason moves it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tallied: Option<ReturnReason>,
    /// The score (or reason number) the report's counters hold for this item, and
    /// whether they count its comment: set in the settling write, so a changed score
    /// moves the count instead of adding one (`domain::report::of_settle`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counted_score: Option<u8>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub counted_comment: bool,
    /// The order's name (`#1001`), kept when settled for the report's comment list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_name: Option<String>,
    /// In the due index (partition `SETTLE#n`) while the dispatcher has something to do
    /// with the item: settle a click, pass on a comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_sk: Option<String>,
}
impl Record for FeedbackRecord {
    const KIND: &'static str = "feedback";
}

/// Whose score a feedback item holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackState {
    /// Clicked, not settled yet: a person's unless a burst of other scores shows
    /// otherwise before the dispatcher settles it.
    Pending,
    /// A person's rating: a click that was not part of a burst, or the page's form.
    #[default]
    Rated,
    /// Only a scanner's burst of clicks: no rating.
    Scanner,
}

/// One GET of a rating link, or one submission of the rating page's form.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScoreClick {
    pub score: u8,
    /// UTC key.
    pub at: String,
    /// Sent with the rating page's form rather than a link: always a person.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_form: bool,
}

impl FeedbackRecord {
    /// Clicks kept on the item (a burst needs two).
    pub const MAX_CLICKS: usize = 10;

    /// Whether this item is a customer's rating (what the satisfaction reminder, the
    /// report and the merchant's notices count), as opposed to clicks a mail scanner made.
    /// A pending click counts: it is a person's unless a burst follows within seconds.
    pub fn counts(&self) -> bool {
        self.state != FeedbackState::Scanner
    }

    pub fn key(&self) -> Key {
        keys::feedback(&self.shop, &self.customer_key, &self.followup)
    }

    /// Whether the item is a return reason (of a returns follow-up) rather than a rating.
    pub fn is_return_reason(&self) -> bool {
        self.followup
            .starts_with(&format!("{}#", Playbook::Returns.as_str()))
    }

    /// The return reason a person gave, for a return-reason item that counts.
    pub fn return_reason(&self) -> Option<ReturnReason> {
        (self.is_return_reason() && self.counts())
            .then(|| ReturnReason::from_number(self.score))
            .flatten()
    }

    /// Puts the item in the due index at `at`, for the dispatcher to settle.
    pub fn index_at(&mut self, at: &str, shards: u32) {
        let key = self.key();
        let n = due_shard(&key, shards);
        self.due_pk = Some(format!("{SETTLE_PREFIX}{}", &n[DUE_PREFIX.len()..]));
        self.due_sk = Some(format!("{at}#{}#{}", key.pk, key.sk));
    }

    /// Takes the item out of the due index.
    pub fn unindex(&mut self) {
        self.due_pk = None;
        self.due_sk = None;
    }

    /// A settled item with a comment is listed in the report: the due index's
    /// partition `VOICE#{shop}`, sorted by when it was last changed (pattern 28), so a
    /// period's comments are one query per shop and erasing the item erases the entry.
    pub fn index_voice(&mut self) {
        if self.due_pk.is_some() || self.state != FeedbackState::Rated || self.comment.is_none() {
            return;
        }
        let key = self.key();
        self.due_pk = Some(format!("{VOICE_PREFIX}{}", self.shop));
        self.due_sk = Some(format!("{}#{}#{}", self.updated_at, key.pk, key.sk));
    }
}

/// Due-index partition of a shop's settled comments (`VOICE#{shop}`).
pub const VOICE_PREFIX: &str = "VOICE#";

/// A correctly signed delivery that could not be recorded for a reason no retry can
/// fix ([`crate::ports::store::StoreError::is_permanent`]: an item over DynamoDB's
/// 400 KB, data it refuses), kept so it is not lost while Shopify is told 200, and
/// recorded by `aftercart replay` after a fix. It lives in the partition of the order
/// or customer it is about (`QUARANTINE#{webhook id}`), so the privacy worker erases
/// it with them, and expires after [`QuarantineRecord::KEEP_DAYS`]. The body is the
/// delivery as Shopify sent it, gzipped and base64-encoded ([`QuarantineRecord::pack`]);
/// it is never logged.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct QuarantineRecord {
    pub shop: String,
    pub topic: String,
    pub webhook_id: String,
    /// UTC key.
    pub received_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggered_at: Option<String>,
    /// Why recording failed (the store's message; no value from the body).
    pub error: String,
    /// The raw body, gzipped, base64 (standard alphabet).
    pub body_gzip: String,
    /// Epoch seconds: DynamoDB TTL.
    pub expires_at: i64,
}
impl Record for QuarantineRecord {
    const KIND: &'static str = "quarantine";
}

impl QuarantineRecord {
    /// How long a quarantined delivery is kept for a replay.
    pub const KEEP_DAYS: i64 = 14;
    /// The largest packed body kept (with room for the rest under DynamoDB's 400 KB).
    pub const MAX_PACKED: usize = 350_000;

    /// `body` gzipped and base64-encoded, or `None` when that is over [`Self::MAX_PACKED`].
    pub fn pack(body: &[u8]) -> Option<String> {
        pack_body(body, Self::MAX_PACKED)
    }

    /// The body as Shopify sent it, or `None` if the stored one does not unpack.
    pub fn unpack(&self) -> Option<Vec<u8>> {
        unpack_body(&self.body_gzip)
    }
}

/// Why a customer sent something back: Shopify's standard return reasons, as the
/// returns email offers them (one link each). Stored on the returns follow-up's feedback
/// item as its `score`, the reason's [`ReturnReason::number`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReturnReason {
    SizeTooSmall,
    SizeTooLarge,
    NotAsDescribed,
    Defective,
    ArrivedLate,
    WrongItem,
    Unwanted,
    Other,
}

impl ReturnReason {
    /// In the order the email lists them.
    pub const ALL: [ReturnReason; 8] = [
        ReturnReason::SizeTooSmall,
        ReturnReason::SizeTooLarge,
        ReturnReason::NotAsDescribed,
        ReturnReason::Defective,
        ReturnReason::ArrivedLate,
        ReturnReason::WrongItem,
        ReturnReason::Unwanted,
        ReturnReason::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReturnReason::SizeTooSmall => "size_too_small",
            ReturnReason::SizeTooLarge => "size_too_large",
            ReturnReason::NotAsDescribed => "not_as_described",
            ReturnReason::Defective => "defective",
            ReturnReason::ArrivedLate => "arrived_late",
            ReturnReason::WrongItem => "wrong_item",
            ReturnReason::Unwanted => "unwanted",
            ReturnReason::Other => "other",
        }
    }

    /// What the merchant reads (notices are in English).
    pub fn label(self) -> &'static str {
        match self {
            ReturnReason::SizeTooSmall => "Too small",
            ReturnReason::SizeTooLarge => "Too large",
            ReturnReason::NotAsDescribed => "Not as described",
            ReturnReason::Defective => "Defective or damaged",
            ReturnReason::ArrivedLate => "Arrived late",
            ReturnReason::WrongItem => "Wrong item",
            ReturnReason::Unwanted => "Changed my mind",
            ReturnReason::Other => "Other",
        }
    }

    /// 1–8, as the link token carries it.
    pub fn number(self) -> u8 {
        ReturnReason::ALL
            .iter()
            .position(|r| *r == self)
            .map_or(0, |i| i as u8 + 1)
    }

    pub fn from_number(n: u8) -> Option<ReturnReason> {
        ReturnReason::ALL
            .get(usize::from(n).checked_sub(1)?)
            .copied()
    }
}

/// The returns of one product that gave one reason lately
/// (`SHOP#{shop}#PRODUCT#{product}` / `REASON#{reason}`): the merchant is alerted when
/// they reach `reason_alert_count` within `reason_alert_days`. Holds order ids and times,
/// nothing about the customers.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ReasonTallyRecord {
    pub v: u64,
    pub product_id: u64,
    pub reason: Option<ReturnReason>,
    /// The returns follow-up of each order that gave this reason, and when (UTC key);
    /// entries older than the window are dropped on each write.
    #[serde(default)]
    pub returns: BTreeMap<String, String>,
    /// When the merchant was last alerted (again only once the window has passed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerted_at: Option<String>,
}
impl Record for ReasonTallyRecord {
    const KIND: &'static str = "reason_tally";
}

impl ReasonTallyRecord {
    /// Most returns one tally keeps (the newest).
    pub const MAX_RETURNS: usize = 500;
}

/// The due index partitions of feedback waiting to be settled: `SETTLE#{shard}`.
pub const SETTLE_PREFIX: &str = "SETTLE#";
/// The due index partitions of follow-ups: `DUE#{shard}`.
pub const DUE_PREFIX: &str = "DUE#";

/// Where an issued discount code is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscountStatus {
    /// The code is chosen and recorded; the store may or may not have it yet.
    Reserved,
    /// The store confirmed it (`discountCodeBasicCreate` returned it).
    Created,
    /// The store refused it for good (reason on the record).
    Failed,
}

/// A discount code issued for one follow-up
/// (`SHOP#…#CUSTOMER#key` / `DISCOUNT#{followup id}`). It is written before the store is
/// asked to create it, so a retried dispatch reuses the code instead of making another.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DiscountRecord {
    pub v: u64,
    pub followup: String,
    pub code: String,
    pub status: DiscountStatus,
    pub reserved_at: String,
    /// The Shopify customer the code is tied to (`gid://shopify/Customer/…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_gid: Option<String>,
    /// Validity, fixed at reservation so every attempt sends the same variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    /// Codes tried before this one that the store said were taken by another discount.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaced: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// `gid://shopify/DiscountCodeNode/…` as the store returned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The order that used the code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redeemed_order_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redeemed_at: Option<String>,
}
impl Record for DiscountRecord {
    const KIND: &'static str = "discount";
}

/// The follow-up's id: one per playbook, order and product.
pub fn followup_id(playbook: Playbook, order_id: u64, product_id: Option<u64>) -> String {
    format!(
        "{}#{order_id}#{}",
        playbook.as_str(),
        product_id.unwrap_or(0)
    )
}

/// `DUE#{n}`: a stable hash of the key spreads follow-ups over `shards` partitions.
pub fn due_shard(key: &Key, shards: u32) -> String {
    let digest = Sha256::digest(format!("{}|{}", key.pk, key.sk).as_bytes());
    let n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % shards.max(1);
    format!("{DUE_PREFIX}{n}")
}

/// A suppressed address (`SUPPRESS#{shop}#{hash}` / `SUPPRESSION`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SuppressionRecord {
    pub email_hash: String,
    /// `unsubscribed`, `bounced` or `complained`.
    pub reason: String,
    pub at: String,
}
impl Record for SuppressionRecord {
    const KIND: &'static str = "suppression";
}

/// A compliance request waiting to be carried out (`SHOP#…#PRIVACY` / `time#webhook`).
/// It holds the customer id and a hash of the address, never the address itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PrivacyRequestRecord {
    pub topic: String,
    pub received_at: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub order_ids: Vec<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_request_id: Option<u64>,
}
impl Record for PrivacyRequestRecord {
    const KIND: &'static str = "privacy_request";
}

/// The shop's installation state (`SHOP#…` / `SHOP`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ShopRecord {
    pub v: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shop_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uninstalled_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redact_requested_at: Option<String>,
    /// When an uninstall notice (`app/uninstalled`, `shop/redact`) arrived that the
    /// dispatcher has not yet confirmed with the Admin API: until it has, due follow-ups
    /// wait instead of being cancelled, so a forged notice loses no email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uninstall_unconfirmed_at: Option<String>,
    /// When the merchant was told the Admin API refused our access token (once, until
    /// a code is created again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_auth_alerted_at: Option<String>,
    /// The marketing brake on bounce and complaint rates (`model::reputation`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reputation: Option<reputation::ReputationState>,
}
impl Record for ShopRecord {
    const KIND: &'static str = "shop";
}

/// `body` gzipped and base64-encoded, or `None` when that is over `max` characters
/// (a quarantined delivery, a queued one).
pub fn pack_body(body: &[u8], max: usize) -> Option<String> {
    use base64::Engine as _;
    use std::io::Write as _;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body).ok()?;
    let packed = base64::engine::general_purpose::STANDARD.encode(gz.finish().ok()?);
    (packed.len() <= max).then_some(packed)
}

/// What [`pack_body`] packed, or `None` if `packed` is not base64 gzip (at most 16 MiB
/// unpacked).
pub fn unpack_body(packed: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    use std::io::Read as _;
    let gz = base64::engine::general_purpose::STANDARD
        .decode(packed)
        .ok()?;
    let mut body = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .take(16 << 20)
        .read_to_end(&mut body)
        .ok()?;
    Some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_lines_are_stored_under_short_names_and_lines_stored_before_still_read() {
        let line = OrderLine {
            line_item_id: 1,
            product_id: Some(2),
            variant_id: Some(3),
            sku: Some("S".into()),
            title: "T".into(),
            variant_title: Some("V".into()),
            quantity: 4,
            price: Some(Decimal::new(450, 2)),
        };
        let stored = serde_json::to_value(&line).unwrap();
        let stored = stored.as_object().unwrap();
        let mut names: Vec<&str> = stored.keys().map(String::as_str).collect();
        let mut short: Vec<&str> = OrderLine::STORED_NAMES.iter().map(|(s, _)| *s).collect();
        names.sort_unstable();
        short.sort_unstable();
        assert_eq!(names, short, "every field under its listed stored name");
        // The same line under the listed full names (as stored before) reads the same.
        let before: serde_json::Map<String, serde_json::Value> = OrderLine::STORED_NAMES
            .iter()
            .map(|(s, full)| ((*full).to_owned(), stored[*s].clone()))
            .collect();
        let read = |m: serde_json::Map<_, _>| serde_json::from_value::<OrderLine>(m.into());
        assert_eq!(read(before).unwrap(), line);
        assert_eq!(read(stored.clone()).unwrap(), line);
    }

    #[test]
    fn customer_key_prefers_id_then_hashes_guest_email() {
        assert_eq!(customer_key(Some(42), Some("a@b.c")).as_deref(), Some("42"));
        let g = customer_key(None, Some(" Bob@Example.com ")).unwrap();
        assert_eq!(g, customer_key(None, Some("bob@example.com")).unwrap());
        assert!(g.starts_with("guest-") && !g.contains("bob"));
        assert_eq!(customer_key(None, Some("  ")), None);
        assert_eq!(customer_key(None, None), None);
    }

    #[test]
    fn due_shard_spreads_follow_ups_over_every_shard_and_is_deterministic() {
        // 100 follow-ups as the planner names them: 25 customers, 4 playbooks each.
        let keys: Vec<Key> = (0..100u64)
            .map(|i| {
                let customer = (207_119_551 + i / 4).to_string();
                let id = followup_id(Playbook::ALL[(i % 4) as usize], 450_789_469 + i, None);
                keys::followup("acme.myshopify.com", &customer, &id)
            })
            .collect();
        for shards in [4u32, 8, 16] {
            let mut counts = vec![0u32; shards as usize];
            for key in &keys {
                let shard = due_shard(key, shards);
                assert_eq!(
                    shard,
                    due_shard(key, shards),
                    "the same key, the same shard"
                );
                let n: usize = shard
                    .strip_prefix("DUE#")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("{shard} is not DUE#n"));
                counts[n] += 1;
            }
            let expected = 100 / shards;
            assert!(
                counts.iter().all(|&c| c >= 1 && c <= 3 * expected),
                "{shards} shards, every one used, none with over 3x its share: {counts:?}"
            );
        }
        // One shard (or a zero that validation refuses anyway) puts everything on DUE#0.
        assert!(keys.iter().all(|k| due_shard(k, 1) == "DUE#0"));
        assert_eq!(due_shard(&keys[0], 0), "DUE#0");
    }

    #[test]
    fn email_hash_is_stable_and_opaque() {
        // printf '%s' 'bob@example.com' | sha256sum | cut -c1-32
        assert_eq!(
            email_hash("Bob@Example.com"),
            "5ff860bf1190596c7188ab851db691f0"
        );
    }
}

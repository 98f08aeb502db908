//! Typed webhook payloads: only the fields the playbooks use. Unknown fields are
//! ignored and optional ones may be missing or `null`; ids are `u64`, money is an exact
//! [`Decimal`], timestamps keep their UTC offset.

use super::de;
use chrono::{DateTime, FixedOffset};
use rust_decimal::Decimal;
use serde::Deserialize;

/// A timestamp as Shopify sends it (RFC 3339 with the shop's offset).
pub type Timestamp = DateTime<FixedOffset>;

/// Declares a payload struct and, for each `field = "key"` under `foreign`, a hidden
/// `bool` set when the body has that top-level key: a key of another topic's body,
/// which the shape check ([`super::shape`]) refuses. They are seen in the same pass as
/// the typed fields, so telling one topic's body from another's costs no second parse.
macro_rules! payload {
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $($fields:tt)* }
        foreign { $($seen:ident = $key:literal),* $(,)? }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $($fields)*
            $(
                #[doc(hidden)]
                #[serde(default, rename = $key, deserialize_with = "de::present")]
                $seen: bool,
            )*
        }

        impl $name {
            /// The keys of other topics' bodies, which this topic's body must not have.
            pub(crate) const FOREIGN: super::shape::Keys = super::shape::Keys::of(&[$($key),*]);

            /// The keys of other topics' bodies that this body has.
            pub(crate) fn foreign_keys(&self) -> super::shape::Keys {
                let mut keys = super::shape::Keys::default();
                $(
                    if self.$seen {
                        keys = keys.with($key);
                    }
                )*
                keys
            }
        }
    };
}

payload! {
    /// `orders/create`, `orders/paid`, `orders/fulfilled`, `orders/cancelled`.
    #[derive(Debug, Clone, Deserialize)]
    pub struct Order {
        #[serde(deserialize_with = "de::id")]
        pub id: u64,
        #[serde(default)]
        pub admin_graphql_api_id: Option<String>,
        /// The order's display name, e.g. `#1001`.
        #[serde(default)]
        pub name: Option<String>,
        #[serde(default)]
        pub email: Option<String>,
        #[serde(default)]
        pub contact_email: Option<String>,
        #[serde(deserialize_with = "de::timestamp")]
        pub created_at: Timestamp,
        #[serde(default, deserialize_with = "de::opt_timestamp")]
        pub updated_at: Option<Timestamp>,
        #[serde(default, deserialize_with = "de::opt_timestamp")]
        pub processed_at: Option<Timestamp>,
        #[serde(default, deserialize_with = "de::opt_timestamp")]
        pub cancelled_at: Option<Timestamp>,
        #[serde(default)]
        pub cancel_reason: Option<String>,
        #[serde(default)]
        pub currency: Option<String>,
        #[serde(default, deserialize_with = "de::opt_money")]
        pub total_price: Option<Decimal>,
        #[serde(default, deserialize_with = "de::opt_money")]
        pub subtotal_price: Option<Decimal>,
        #[serde(default, deserialize_with = "de::opt_money")]
        pub total_discounts: Option<Decimal>,
        #[serde(default)]
        pub financial_status: Option<String>,
        #[serde(default)]
        pub fulfillment_status: Option<String>,
        #[serde(default, deserialize_with = "de::null_default")]
        pub test: bool,
        #[serde(default, deserialize_with = "de::null_default")]
        pub buyer_accepts_marketing: bool,
        #[serde(default)]
        pub customer_locale: Option<String>,
        #[serde(default, deserialize_with = "de::null_default")]
        pub discount_codes: Vec<DiscountCode>,
        /// Cart attributes; a reorder link's cart carries `aftercart_followup`.
        #[serde(default, deserialize_with = "de::null_default")]
        pub note_attributes: Vec<NoteAttribute>,
        /// Required: every order has its lines (a body without them is not an order).
        #[serde(deserialize_with = "de::null_default")]
        pub line_items: Vec<LineItem>,
        /// Absent for guest checkouts.
        #[serde(default)]
        pub customer: Option<Customer>,
    }
    foreign {
        seen_order_id = "order_id",
        seen_fulfillment_id = "fulfillment_id",
        seen_refund_line_items = "refund_line_items",
        seen_customer_id = "customer_id",
        seen_email_marketing_consent = "email_marketing_consent",
        seen_shop_domain = "shop_domain",
        seen_orders_to_redact = "orders_to_redact",
        seen_orders_requested = "orders_requested",
        seen_data_request = "data_request",
        seen_myshopify_domain = "myshopify_domain",
    }
}

impl Order {
    /// The address to write to: the customer's, else the order's contact address.
    pub fn recipient_email(&self) -> Option<&str> {
        [
            self.customer.as_ref().and_then(|c| c.email.as_deref()),
            self.email.as_deref(),
            self.contact_email.as_deref(),
        ]
        .into_iter()
        .flatten()
        .find(|e| !e.trim().is_empty())
    }

    /// The version Shopify gives this state of the order.
    pub fn version_time(&self) -> Timestamp {
        self.updated_at.unwrap_or(self.created_at)
    }

    /// Whether the payment has been captured (fully or in part) by this state.
    pub fn is_paid(&self) -> bool {
        matches!(
            self.financial_status.as_deref(),
            Some("paid" | "partially_paid" | "partially_refunded" | "refunded")
        )
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct DiscountCode {
    #[serde(default)]
    pub code: String,
    #[serde(default, deserialize_with = "de::opt_money")]
    pub amount: Option<Decimal>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NoteAttribute {
    #[serde(default)]
    pub name: String,
    /// Usually a string; anything else is kept as JSON and never matches.
    #[serde(default)]
    pub value: Option<serde_json::Value>,
}

impl Order {
    /// The value of the cart attribute `name`, when it is a string.
    pub fn note_attribute(&self, name: &str) -> Option<&str> {
        self.note_attributes
            .iter()
            .find(|a| a.name == name)
            .and_then(|a| a.value.as_ref())
            .and_then(|v| v.as_str())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct LineItem {
    #[serde(deserialize_with = "de::id")]
    pub id: u64,
    /// `None` for custom line items that are not a catalogue product.
    #[serde(default, deserialize_with = "de::opt_id")]
    pub product_id: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_id")]
    pub variant_id: Option<u64>,
    #[serde(default)]
    pub sku: Option<String>,
    #[serde(default, deserialize_with = "de::null_default")]
    pub title: String,
    #[serde(default)]
    pub variant_title: Option<String>,
    #[serde(default, deserialize_with = "de::quantity")]
    pub quantity: u32,
    #[serde(default, deserialize_with = "de::opt_money")]
    pub price: Option<Decimal>,
    #[serde(default, deserialize_with = "de::null_default")]
    pub gift_card: bool,
}

/// The customer as embedded in an order. Only what the playbooks need is kept.
#[derive(Debug, Clone, Deserialize)]
pub struct Customer {
    #[serde(deserialize_with = "de::id")]
    pub id: u64,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub locale: Option<String>,
}

payload! {
    /// `fulfillments/create`, `fulfillments/update`.
    #[derive(Debug, Clone, Deserialize)]
    pub struct Fulfillment {
        #[serde(deserialize_with = "de::id")]
        pub id: u64,
        #[serde(deserialize_with = "de::id")]
        pub order_id: u64,
        #[serde(deserialize_with = "Option::deserialize")]
        pub status: Option<String>,
        /// Carrier status (`delivered`, `in_transit`, …) where a carrier integration reports it.
        #[serde(default)]
        pub shipment_status: Option<String>,
        #[serde(default, deserialize_with = "de::opt_timestamp")]
        pub created_at: Option<Timestamp>,
        #[serde(default, deserialize_with = "de::opt_timestamp")]
        pub updated_at: Option<Timestamp>,
        #[serde(default, deserialize_with = "de::null_default")]
        pub line_items: Vec<LineItemRef>,
    }
    foreign {
        seen_fulfillment_id = "fulfillment_id",
        seen_refund_line_items = "refund_line_items",
        seen_financial_status = "financial_status",
        seen_customer_id = "customer_id",
        seen_email_marketing_consent = "email_marketing_consent",
        seen_shop_domain = "shop_domain",
        seen_orders_to_redact = "orders_to_redact",
        seen_orders_requested = "orders_requested",
        seen_data_request = "data_request",
        seen_myshopify_domain = "myshopify_domain",
    }
}

/// A line item as referenced from a fulfillment or a refund.
#[derive(Debug, Clone, Deserialize)]
pub struct LineItemRef {
    #[serde(deserialize_with = "de::id")]
    pub id: u64,
    #[serde(default, deserialize_with = "de::opt_id")]
    pub product_id: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_id")]
    pub variant_id: Option<u64>,
    #[serde(default, deserialize_with = "de::quantity")]
    pub quantity: u32,
}

payload! {
    /// `fulfillment_events/create`: carrier tracking events; `status: "delivered"` marks delivery.
    #[derive(Debug, Clone, Deserialize)]
    pub struct FulfillmentEvent {
        #[serde(deserialize_with = "de::id")]
        pub id: u64,
        #[serde(deserialize_with = "de::id")]
        pub fulfillment_id: u64,
        #[serde(deserialize_with = "de::id")]
        pub order_id: u64,
        /// Required (`delivered`, `in_transit`, …); `null` reads as empty.
        #[serde(deserialize_with = "de::null_default")]
        pub status: String,
        #[serde(default, deserialize_with = "de::opt_timestamp")]
        pub happened_at: Option<Timestamp>,
        #[serde(default, deserialize_with = "de::opt_timestamp")]
        pub created_at: Option<Timestamp>,
    }
    foreign {
        seen_line_items = "line_items",
        seen_refund_line_items = "refund_line_items",
        seen_financial_status = "financial_status",
        seen_customer_id = "customer_id",
        seen_email_marketing_consent = "email_marketing_consent",
        seen_shop_domain = "shop_domain",
        seen_orders_to_redact = "orders_to_redact",
        seen_orders_requested = "orders_requested",
        seen_data_request = "data_request",
        seen_myshopify_domain = "myshopify_domain",
    }
}

impl FulfillmentEvent {
    /// Whether this event is the shipment's delivery (the only tracking event that
    /// changes the order and its follow-ups).
    pub fn is_delivery(&self) -> bool {
        self.status == "delivered"
    }
}

payload! {
    /// `refunds/create`.
    #[derive(Debug, Clone, Deserialize)]
    pub struct Refund {
        #[serde(deserialize_with = "de::id")]
        pub id: u64,
        #[serde(deserialize_with = "de::id")]
        pub order_id: u64,
        #[serde(default, deserialize_with = "de::opt_timestamp")]
        pub created_at: Option<Timestamp>,
        #[serde(default, deserialize_with = "de::null_default")]
        pub restock: bool,
        /// Required (may be empty, for a refund of shipping only).
        #[serde(deserialize_with = "de::null_default")]
        pub refund_line_items: Vec<RefundLineItem>,
    }
    foreign {
        seen_fulfillment_id = "fulfillment_id",
        seen_line_items = "line_items",
        seen_financial_status = "financial_status",
        seen_status = "status",
        seen_customer_id = "customer_id",
        seen_email_marketing_consent = "email_marketing_consent",
        seen_shop_domain = "shop_domain",
        seen_orders_to_redact = "orders_to_redact",
        seen_orders_requested = "orders_requested",
        seen_data_request = "data_request",
        seen_myshopify_domain = "myshopify_domain",
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct RefundLineItem {
    #[serde(deserialize_with = "de::id")]
    pub line_item_id: u64,
    #[serde(default, deserialize_with = "de::quantity")]
    pub quantity: u32,
    #[serde(default)]
    pub line_item: Option<LineItemRef>,
}

payload! {
    /// `customers_email_marketing_consent/update`.
    #[derive(Debug, Clone, Deserialize)]
    pub struct ConsentUpdate {
        #[serde(deserialize_with = "de::id")]
        pub customer_id: u64,
        #[serde(default)]
        pub email_address: Option<String>,
        #[serde(deserialize_with = "Option::deserialize")]
        pub email_marketing_consent: Option<EmailConsent>,
    }
    foreign {
        seen_id = "id",
        seen_line_items = "line_items",
        seen_order_id = "order_id",
        seen_financial_status = "financial_status",
        seen_shop_domain = "shop_domain",
        seen_orders_to_redact = "orders_to_redact",
        seen_orders_requested = "orders_requested",
        seen_data_request = "data_request",
        seen_myshopify_domain = "myshopify_domain",
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct EmailConsent {
    /// `subscribed`, `not_subscribed`, `unsubscribed`, `pending`, `redacted`, `invalid`.
    pub state: String,
    #[serde(default)]
    pub opt_in_level: Option<String>,
    #[serde(default, deserialize_with = "de::opt_timestamp")]
    pub consent_updated_at: Option<Timestamp>,
}

impl EmailConsent {
    /// Whether this state allows marketing mail.
    pub fn allows_marketing(&self) -> bool {
        self.state == "subscribed"
    }
}

/// The customer named by a compliance webhook. `id` must be there; it is `null` for a
/// guest, who is then found by the address.
#[derive(Debug, Clone, Deserialize)]
pub struct CustomerRef {
    #[serde(deserialize_with = "de::opt_id")]
    pub id: Option<u64>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
}

payload! {
    /// `customers/data_request`.
    #[derive(Debug, Clone, Deserialize)]
    pub struct DataRequest {
        #[serde(default, deserialize_with = "de::opt_id")]
        pub shop_id: Option<u64>,
        #[serde(deserialize_with = "Option::deserialize")]
        pub shop_domain: Option<String>,
        pub customer: CustomerRef,
        #[serde(default, deserialize_with = "de::ids")]
        pub orders_requested: Vec<u64>,
        pub data_request: DataRequestId,
    }
    foreign {
        seen_id = "id",
        seen_line_items = "line_items",
        seen_order_id = "order_id",
        seen_financial_status = "financial_status",
        seen_customer_id = "customer_id",
        seen_email_marketing_consent = "email_marketing_consent",
        seen_orders_to_redact = "orders_to_redact",
        seen_myshopify_domain = "myshopify_domain",
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct DataRequestId {
    #[serde(deserialize_with = "de::id")]
    pub id: u64,
}

payload! {
    /// `customers/redact`.
    #[derive(Debug, Clone, Deserialize)]
    pub struct CustomerRedact {
        #[serde(default, deserialize_with = "de::opt_id")]
        pub shop_id: Option<u64>,
        #[serde(deserialize_with = "Option::deserialize")]
        pub shop_domain: Option<String>,
        pub customer: CustomerRef,
        #[serde(deserialize_with = "de::ids")]
        pub orders_to_redact: Vec<u64>,
    }
    foreign {
        seen_id = "id",
        seen_line_items = "line_items",
        seen_order_id = "order_id",
        seen_financial_status = "financial_status",
        seen_customer_id = "customer_id",
        seen_email_marketing_consent = "email_marketing_consent",
        seen_orders_requested = "orders_requested",
        seen_data_request = "data_request",
        seen_myshopify_domain = "myshopify_domain",
    }
}

payload! {
    /// `shop/redact`.
    #[derive(Debug, Clone, Deserialize)]
    pub struct ShopRedact {
        #[serde(deserialize_with = "de::opt_id")]
        pub shop_id: Option<u64>,
        #[serde(deserialize_with = "Option::deserialize")]
        pub shop_domain: Option<String>,
    }
    foreign {
        seen_id = "id",
        seen_created_at = "created_at",
        seen_line_items = "line_items",
        seen_financial_status = "financial_status",
        seen_customer = "customer",
        seen_order_id = "order_id",
        seen_fulfillment_id = "fulfillment_id",
        seen_status = "status",
        seen_refund_line_items = "refund_line_items",
        seen_customer_id = "customer_id",
        seen_email_marketing_consent = "email_marketing_consent",
        seen_orders_to_redact = "orders_to_redact",
        seen_orders_requested = "orders_requested",
        seen_data_request = "data_request",
        seen_myshopify_domain = "myshopify_domain",
    }
}

payload! {
    /// `app/uninstalled`: the shop resource.
    #[derive(Debug, Clone, Deserialize)]
    pub struct AppUninstalled {
        #[serde(deserialize_with = "de::opt_id")]
        pub id: Option<u64>,
        #[serde(deserialize_with = "Option::deserialize")]
        pub myshopify_domain: Option<String>,
    }
    foreign {
        seen_line_items = "line_items",
        seen_financial_status = "financial_status",
        seen_customer = "customer",
        seen_order_id = "order_id",
        seen_fulfillment_id = "fulfillment_id",
        seen_refund_line_items = "refund_line_items",
        seen_customer_id = "customer_id",
        seen_email_marketing_consent = "email_marketing_consent",
        seen_shop_domain = "shop_domain",
        seen_orders_to_redact = "orders_to_redact",
        seen_orders_requested = "orders_requested",
        seen_data_request = "data_request",
    }
}

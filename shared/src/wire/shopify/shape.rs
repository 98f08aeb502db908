//! Which body belongs to which topic. Shopify signs the body but not the
//! `X-Shopify-Topic` header, so a captured body resent under another topic verifies. Each
//! topic therefore accepts only bodies of its own resource: the top-level keys that mark
//! its resource must be there, and those that mark another topic's resource must not.
//! (Field types are checked by the typed payloads; this adds what serde's lenient
//! parsing of unknown and optional fields cannot see.)

use super::payload::{
    AppUninstalled, ConsentUpdate, CustomerRedact, DataRequest, Fulfillment, FulfillmentEvent,
    Order, Refund, ShopRedact,
};
use super::Topic;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::fmt;

/// The top-level keys that tell the resources apart.
const MARKERS: [&str; 16] = [
    "id",
    "created_at",
    "line_items",
    "financial_status",
    "customer",
    "order_id",
    "fulfillment_id",
    "status",
    "refund_line_items",
    "customer_id",
    "email_marketing_consent",
    "shop_id",
    "shop_domain",
    "orders_to_redact",
    "orders_requested",
    "data_request",
];
/// `myshopify_domain` is the 17th marker; kept apart so the array above reads as a table.
pub const MYSHOPIFY_DOMAIN: &str = "myshopify_domain";

/// A set of markers, one bit each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Keys(u32);

impl Keys {
    fn bit(name: &str) -> Option<u32> {
        if name == MYSHOPIFY_DOMAIN {
            return Some(1 << MARKERS.len());
        }
        MARKERS.iter().position(|m| *m == name).map(|i| 1 << i)
    }

    pub const fn of(names: &[&str]) -> Keys {
        let mut bits = 0u32;
        let mut i = 0;
        while i < names.len() {
            bits |= const_bit(names[i]);
            i += 1;
        }
        Keys(bits)
    }

    pub fn union(a: Keys, b: Keys) -> Keys {
        Keys(a.0 | b.0)
    }

    /// These keys and `name` (a marker key; any other name adds nothing).
    pub fn with(self, name: &str) -> Keys {
        Keys(self.0 | Keys::bit(name).unwrap_or(0))
    }

    pub fn names(self) -> impl Iterator<Item = &'static str> {
        MARKERS
            .iter()
            .copied()
            .chain(std::iter::once(MYSHOPIFY_DOMAIN))
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, n)| n)
    }
}

const fn const_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The bit of a marker, at compile time; a name that is not a marker fails the build.
const fn const_bit(name: &str) -> u32 {
    if const_eq(name, MYSHOPIFY_DOMAIN) {
        return 1 << MARKERS.len();
    }
    let mut i = 0;
    while i < MARKERS.len() {
        if const_eq(MARKERS[i], name) {
            return 1 << i;
        }
        i += 1;
    }
    panic!("not a marker key")
}

/// What a topic's body must and must not carry at its top level. The typed payloads
/// require the `required` keys (a unit test checks that they do) and note each
/// `forbidden` one they see.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// The resource, as the error message names it.
    pub resource: &'static str,
    pub required: Keys,
    pub forbidden: Keys,
}

// What each topic's body must not have is declared once, with its payload
// (`payload!` in `payload.rs`): the payload notes those keys as it parses.
const ORDER: Shape = Shape {
    resource: "an order",
    required: Keys::of(&["id", "created_at", "line_items"]),
    forbidden: Order::FOREIGN,
};
const FULFILLMENT: Shape = Shape {
    resource: "a fulfillment",
    required: Keys::of(&["id", "order_id", "status"]),
    forbidden: Fulfillment::FOREIGN,
};
const FULFILLMENT_EVENT: Shape = Shape {
    resource: "a fulfillment event",
    required: Keys::of(&["id", "fulfillment_id", "order_id", "status"]),
    forbidden: FulfillmentEvent::FOREIGN,
};
const REFUND: Shape = Shape {
    resource: "a refund",
    required: Keys::of(&["id", "order_id", "refund_line_items"]),
    forbidden: Refund::FOREIGN,
};
const CONSENT: Shape = Shape {
    resource: "a marketing consent update",
    required: Keys::of(&["customer_id", "email_marketing_consent"]),
    forbidden: ConsentUpdate::FOREIGN,
};
const DATA_REQUEST: Shape = Shape {
    resource: "a customer data request",
    required: Keys::of(&["shop_domain", "customer", "data_request"]),
    forbidden: DataRequest::FOREIGN,
};
const CUSTOMER_REDACT: Shape = Shape {
    resource: "a customer erasure request",
    required: Keys::of(&["shop_domain", "customer", "orders_to_redact"]),
    forbidden: CustomerRedact::FOREIGN,
};
const SHOP_REDACT: Shape = Shape {
    resource: "a shop erasure request",
    required: Keys::of(&["shop_id", "shop_domain"]),
    forbidden: ShopRedact::FOREIGN,
};
const SHOP: Shape = Shape {
    resource: "a shop",
    required: Keys::of(&["id", MYSHOPIFY_DOMAIN]),
    forbidden: AppUninstalled::FOREIGN,
};

/// The shape `topic`'s body must have.
pub fn of(topic: Topic) -> Shape {
    match topic {
        Topic::OrdersCreate
        | Topic::OrdersPaid
        | Topic::OrdersFulfilled
        | Topic::OrdersCancelled => ORDER,
        Topic::FulfillmentsCreate | Topic::FulfillmentsUpdate => FULFILLMENT,
        Topic::FulfillmentEventsCreate => FULFILLMENT_EVENT,
        Topic::RefundsCreate => REFUND,
        Topic::EmailConsentUpdate => CONSENT,
        Topic::CustomersDataRequest => DATA_REQUEST,
        Topic::CustomersRedact => CUSTOMER_REDACT,
        Topic::ShopRedact => SHOP_REDACT,
        Topic::AppUninstalled => SHOP,
    }
}

impl Shape {
    /// `Err` names the first missing or foreign key.
    pub fn check(&self, present: Keys) -> Result<(), String> {
        let missing = Keys(self.required.0 & !present.0);
        if let Some(name) = missing.names().next() {
            return Err(format!(
                "missing field `{name}`, which {} body always has",
                self.resource
            ));
        }
        let foreign = Keys(self.forbidden.0 & present.0);
        if let Some(name) = foreign.names().next() {
            return Err(format!(
                "field `{name}` is not part of {} body: this is the body of another topic",
                self.resource
            ));
        }
        Ok(())
    }
}

/// The markers among the top-level keys of a JSON object body. Values are skipped
/// without being stored; a body that is not an object is an error.
pub fn top_level_keys(body: &[u8]) -> Result<Keys, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let keys = (&mut de).deserialize_map(KeysVisitor)?;
    de.end()?;
    Ok(keys)
}

struct KeysVisitor;

impl<'de> Visitor<'de> for KeysVisitor {
    type Value = Keys;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
        let mut keys = Keys::default();
        while let Some(bit) = map.next_key_seed(KeySeed)? {
            keys.0 |= bit;
            map.next_value::<IgnoredAny>()?;
        }
        Ok(keys)
    }
}

/// Reads one key as its marker bit (0 for any other key), without allocating for
/// keys that need no unescaping.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = u32;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u32, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = u32;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<u32, E> {
        Ok(Keys::bit(v).unwrap_or(0))
    }
}

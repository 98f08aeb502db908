//! The Shopify delivery contract: headers, topics and typed payloads.

mod de;
pub mod eventbridge;
pub mod include_fields;
pub use de::plain_decimal;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod payload;
pub mod shape;

use shape::Keys;

/// Cart attribute that carries the follow-up id into the order (`note_attributes`).
pub const ATTRIBUTION_ATTRIBUTE: &str = "aftercart_followup";

pub use de::{check_time, MAX_MONEY, MAX_QUANTITY};
pub use payload::*;

use crate::model::personal::elide_quoted;
use lambda_http::http::HeaderMap;

pub const HEADER_TOPIC: &str = "x-shopify-topic";
pub const HEADER_HMAC: &str = "x-shopify-hmac-sha256";
pub const HEADER_SHOP: &str = "x-shopify-shop-domain";
pub const HEADER_WEBHOOK_ID: &str = "x-shopify-webhook-id";
pub const HEADER_EVENT_ID: &str = "x-shopify-event-id";
pub const HEADER_API_VERSION: &str = "x-shopify-api-version";
pub const HEADER_TRIGGERED_AT: &str = "x-shopify-triggered-at";

/// Longest webhook id, topic or shop domain accepted; they become parts of table keys.
const MAX_HEADER_ID_LEN: usize = 255;

/// The delivery metadata Shopify sends in headers. `http` header names are
/// case-insensitive, so `X-Shopify-Topic` and `x-shopify-topic` are the same header.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub topic: &'a str,
    pub shop: &'a str,
    pub webhook_id: &'a str,
    pub event_id: Option<&'a str>,
    pub api_version: Option<&'a str>,
    pub triggered_at: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("the {0} header is missing")]
    Missing(&'static str),
    #[error("the {0} header has an invalid value")]
    Invalid(&'static str),
}

impl<'a> Delivery<'a> {
    /// Reads the delivery headers (not the signature, which the verifier reads).
    pub fn from_headers(headers: &'a HeaderMap) -> Result<Self, HeaderError> {
        let topic = required(headers, HEADER_TOPIC, "X-Shopify-Topic", is_topic)?;
        let shop = required(
            headers,
            HEADER_SHOP,
            "X-Shopify-Shop-Domain",
            is_shop_domain,
        )?;
        let webhook_id = required(headers, HEADER_WEBHOOK_ID, "X-Shopify-Webhook-Id", is_id)?;
        Ok(Delivery {
            topic,
            shop,
            webhook_id,
            event_id: optional(headers, HEADER_EVENT_ID).filter(|v| is_id(v)),
            api_version: optional(headers, HEADER_API_VERSION),
            triggered_at: optional(headers, HEADER_TRIGGERED_AT),
        })
    }
}

/// The `X-Shopify-Hmac-Sha256` header, if present and readable.
pub fn signature_header(headers: &HeaderMap) -> Option<&str> {
    optional(headers, HEADER_HMAC)
}

fn optional<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn required<'a>(
    headers: &'a HeaderMap,
    name: &str,
    display: &'static str,
    valid: fn(&str) -> bool,
) -> Result<&'a str, HeaderError> {
    if !headers.contains_key(name) {
        return Err(HeaderError::Missing(display));
    }
    match optional(headers, name) {
        Some(v) if v.len() <= MAX_HEADER_ID_LEN && valid(v) => Ok(v),
        _ => Err(HeaderError::Invalid(display)),
    }
}

fn is_id(v: &str) -> bool {
    v.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn is_topic(v: &str) -> bool {
    v.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'/' | b'_'))
}

/// A lowercase host name with at least two non-empty labels.
pub fn is_shop_domain(v: &str) -> bool {
    let mut labels = 0;
    let valid = v.split('.').all(|l| {
        labels += 1;
        !l.is_empty()
            && !l.starts_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    });
    valid && labels >= 2
}

/// The topics Aftercart acts on. Anything else is acknowledged and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    OrdersCreate,
    OrdersPaid,
    OrdersFulfilled,
    OrdersCancelled,
    FulfillmentsCreate,
    FulfillmentsUpdate,
    FulfillmentEventsCreate,
    RefundsCreate,
    EmailConsentUpdate,
    CustomersDataRequest,
    CustomersRedact,
    ShopRedact,
    AppUninstalled,
}

impl Topic {
    pub const ALL: [Topic; 13] = [
        Topic::OrdersCreate,
        Topic::OrdersPaid,
        Topic::OrdersFulfilled,
        Topic::OrdersCancelled,
        Topic::FulfillmentsCreate,
        Topic::FulfillmentsUpdate,
        Topic::FulfillmentEventsCreate,
        Topic::RefundsCreate,
        Topic::EmailConsentUpdate,
        Topic::CustomersDataRequest,
        Topic::CustomersRedact,
        Topic::ShopRedact,
        Topic::AppUninstalled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Topic::OrdersCreate => "orders/create",
            Topic::OrdersPaid => "orders/paid",
            Topic::OrdersFulfilled => "orders/fulfilled",
            Topic::OrdersCancelled => "orders/cancelled",
            Topic::FulfillmentsCreate => "fulfillments/create",
            Topic::FulfillmentsUpdate => "fulfillments/update",
            Topic::FulfillmentEventsCreate => "fulfillment_events/create",
            Topic::RefundsCreate => "refunds/create",
            Topic::EmailConsentUpdate => "customers_email_marketing_consent/update",
            Topic::CustomersDataRequest => "customers/data_request",
            Topic::CustomersRedact => "customers/redact",
            Topic::ShopRedact => "shop/redact",
            Topic::AppUninstalled => "app/uninstalled",
        }
    }

    pub fn parse(s: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// A parsed, typed webhook payload.
#[derive(Debug, Clone)]
pub enum Event {
    Order(Topic, Box<Order>),
    Fulfillment(Topic, Fulfillment),
    FulfillmentEvent(FulfillmentEvent),
    Refund(Refund),
    Consent(ConsentUpdate),
    DataRequest(DataRequest),
    CustomerRedact(CustomerRedact),
    ShopRedact(ShopRedact),
    AppUninstalled(AppUninstalled),
}

/// A body that is not valid JSON of the shape its topic requires. The message names
/// the field and the problem (`line_items[2].quantity: invalid type: …`), never a value
/// from the body beyond what serde quotes of the offending token. A value outside its
/// bound ([`MAX_QUANTITY`], [`MAX_MONEY`], times in 1970–9999 UTC) is refused the
/// same way (`total_price: out of range: …`), the amount or time not quoted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("body is not a valid {topic} payload: {message}")]
pub struct ParseError {
    pub topic: &'static str,
    pub message: String,
    pub kind: ParseErrorKind,
}

/// Why a signed body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// Not JSON, or a field of the wrong type (`line_items[3].quantity: invalid type`).
    Malformed,
    /// The body of another resource than the topic's (a field that marks another
    /// topic's body, one that the topic's body always has missing), or a state the topic
    /// contradicts: the signature of a replay under another topic.
    Shape,
    /// A domain in the body is not the shop the delivery came from.
    OtherShop,
}

impl ParseError {
    fn new(topic: Topic, message: String, kind: ParseErrorKind) -> Self {
        ParseError {
            topic: topic.as_str(),
            message,
            kind,
        }
    }
}

/// Parses `body` as the payload of `topic`: the typed payload, then the checks that tell
/// one topic's body from another's ([`shape`]), so that a signed body resent under
/// another topic is refused.
pub fn parse_event(topic: Topic, body: &[u8]) -> Result<Event, ParseError> {
    let shape = shape::of(topic);
    let event = match typed(topic, body) {
        Ok(event) => event,
        Err(malformed) => {
            // The slow path, for refused bodies only: another topic's body usually lacks
            // a field this topic's has; tell that apart from a broken body by its keys.
            if let Ok(keys) = shape::top_level_keys(body) {
                shape
                    .check(keys)
                    .map_err(|message| ParseError::new(topic, message, ParseErrorKind::Shape))?;
            }
            return Err(malformed);
        }
    };
    // The typed parse has seen every required key, and noted the keys of other topics'
    // bodies as it skipped them.
    shape
        .check(Keys::union(shape.required, event.foreign_keys()))
        .and_then(|()| event.check_state())
        .map_err(|message| ParseError::new(topic, message, ParseErrorKind::Shape))?;
    Ok(event)
}

fn typed(topic: Topic, body: &[u8]) -> Result<Event, ParseError> {
    Ok(match topic {
        Topic::OrdersCreate
        | Topic::OrdersPaid
        | Topic::OrdersFulfilled
        | Topic::OrdersCancelled => Event::Order(topic, Box::new(parse(topic, body)?)),
        Topic::FulfillmentsCreate | Topic::FulfillmentsUpdate => {
            Event::Fulfillment(topic, parse(topic, body)?)
        }
        Topic::FulfillmentEventsCreate => Event::FulfillmentEvent(parse(topic, body)?),
        Topic::RefundsCreate => Event::Refund(parse(topic, body)?),
        Topic::EmailConsentUpdate => Event::Consent(parse(topic, body)?),
        Topic::CustomersDataRequest => Event::DataRequest(parse(topic, body)?),
        Topic::CustomersRedact => Event::CustomerRedact(parse(topic, body)?),
        Topic::ShopRedact => Event::ShopRedact(parse(topic, body)?),
        Topic::AppUninstalled => Event::AppUninstalled(parse(topic, body)?),
    })
}

/// Parses a delivery's body for `topic` ([`parse_event`]) and checks that every shop
/// domain the body names is `shop`, the `X-Shopify-Shop-Domain` it came with.
pub fn parse_delivery(topic: Topic, shop: &str, body: &[u8]) -> Result<Event, ParseError> {
    let event = parse_event(topic, body)?;
    event.check_shop(shop).map_err(|message| ParseError {
        topic: topic.as_str(),
        message,
        kind: ParseErrorKind::OtherShop,
    })?;
    Ok(event)
}

fn parse<T: serde::de::DeserializeOwned>(topic: Topic, body: &[u8]) -> Result<T, ParseError> {
    // The fast path has no overhead; only a failing body is parsed a second time to
    // find the path of the offending field for the error message.
    serde_json::from_slice(body).map_err(|plain| {
        let mut de = serde_json::Deserializer::from_slice(body);
        let message = match serde_path_to_error::deserialize::<_, T>(&mut de) {
            Err(e) if e.path().iter().next().is_some() => format!("{}: {}", e.path(), e.inner()),
            _ => plain.to_string(),
        };
        ParseError::new(topic, elide_quoted(&message), ParseErrorKind::Malformed)
    })
}

impl Event {
    /// The keys of other topics' bodies that this body had at its top level.
    fn foreign_keys(&self) -> Keys {
        match self {
            Event::Order(_, o) => o.foreign_keys(),
            Event::Fulfillment(_, f) => f.foreign_keys(),
            Event::FulfillmentEvent(e) => e.foreign_keys(),
            Event::Refund(r) => r.foreign_keys(),
            Event::Consent(c) => c.foreign_keys(),
            Event::DataRequest(d) => d.foreign_keys(),
            Event::CustomerRedact(r) => r.foreign_keys(),
            Event::ShopRedact(s) => s.foreign_keys(),
            Event::AppUninstalled(a) => a.foreign_keys(),
        }
    }

    /// What the topic says of the resource's state, which its body must agree with: an
    /// `orders/cancelled` body is of a cancelled order, an `orders/fulfilled` one of a
    /// fulfilled order, and a shop erasure or uninstall names the shop's id.
    fn check_state(&self) -> Result<(), String> {
        match self {
            Event::Order(Topic::OrdersCancelled, o) if o.cancelled_at.is_none() => {
                Err("`cancelled_at` is null: an orders/cancelled body is of a cancelled order".into())
            }
            Event::Order(Topic::OrdersFulfilled, o)
                if o.fulfillment_status.as_deref() != Some("fulfilled") =>
            {
                Err("`fulfillment_status` is not \"fulfilled\": an orders/fulfilled body is of a fulfilled order".into())
            }
            Event::ShopRedact(s) if s.shop_id.is_none() => {
                Err("`shop_id` is null: a shop erasure request names the shop".into())
            }
            Event::AppUninstalled(s) if s.id.is_none() => {
                Err("`id` is null: an app/uninstalled body is the shop, with its id".into())
            }
            _ => Ok(()),
        }
    }

    /// Every shop domain in the body must be `shop` (compared without regard to case).
    fn check_shop(&self, shop: &str) -> Result<(), String> {
        let (field, named) = match self {
            Event::DataRequest(d) => ("shop_domain", d.shop_domain.as_deref()),
            Event::CustomerRedact(r) => ("shop_domain", r.shop_domain.as_deref()),
            Event::ShopRedact(s) => ("shop_domain", s.shop_domain.as_deref()),
            Event::AppUninstalled(s) => ("myshopify_domain", s.myshopify_domain.as_deref()),
            _ => return Ok(()),
        };
        match named {
            Some(d) if d.trim().eq_ignore_ascii_case(shop) => Ok(()),
            Some(_) => Err(format!(
                "`{field}` names another shop than the X-Shopify-Shop-Domain header"
            )),
            None => Err(format!("`{field}` is null: it must name the shop")),
        }
    }

    pub fn topic(&self) -> Topic {
        match self {
            Event::Order(t, _) | Event::Fulfillment(t, _) => *t,
            Event::FulfillmentEvent(_) => Topic::FulfillmentEventsCreate,
            Event::Refund(_) => Topic::RefundsCreate,
            Event::Consent(_) => Topic::EmailConsentUpdate,
            Event::DataRequest(_) => Topic::CustomersDataRequest,
            Event::CustomerRedact(_) => Topic::CustomersRedact,
            Event::ShopRedact(_) => Topic::ShopRedact,
            Event::AppUninstalled(_) => Topic::AppUninstalled,
        }
    }

    /// The business identity of this state of the resource, `(resource id, version)`:
    /// the same state delivered under a new webhook id has the same key. `None` where
    /// the payload carries no version; the delivery id then deduplicates alone.
    pub fn business_key(&self) -> Option<(u64, String)> {
        fn ts(t: &Timestamp) -> String {
            crate::model::time::utc_key(t)
        }
        match self {
            Event::Order(_, o) => Some((o.id, ts(&o.version_time()))),
            Event::Fulfillment(_, f) => f.updated_at.or(f.created_at).map(|t| (f.id, ts(&t))),
            // Tracking events and refunds are immutable: the id is the version.
            Event::FulfillmentEvent(e) => Some((e.id, String::new())),
            Event::Refund(r) => Some((r.id, String::new())),
            // The receipt's key carries a digest of the customer id, not the id: receipts
            // live outside the customer's partition, and erasure must leave none naming them.
            Event::Consent(c) => c
                .email_marketing_consent
                .as_ref()
                .and_then(|m| m.consent_updated_at)
                .map(|t| {
                    (
                        crate::model::personal::customer_digest(c.customer_id),
                        ts(&t),
                    )
                }),
            Event::DataRequest(d) => Some((d.data_request.id, String::new())),
            Event::CustomerRedact(_) | Event::ShopRedact(_) | Event::AppUninstalled(_) => None,
        }
    }
}

#[cfg(test)]
mod tests;

//! The ingest queue's message: one Shopify delivery, verified (HTTPS) or accepted
//! (EventBridge), as the `ingest` consumer records it. It carries the delivery's ids
//! and its body gzipped and base64-encoded (JSON shrinks 5–10×; an SQS message holds
//! 256 KiB of text), never anything the consumer would have to trust beyond that.
//!
//! The message group ([`group_id`]) is chosen by the caller from the parsed delivery
//! (`domain::ingest::group`); the deduplication id ([`dedup_id`]) is a digest of the
//! shop and webhook id, so Shopify's own retry inside SQS's five-minute window is
//! dropped by the queue, and any later one by the table's receipts.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The largest message body SQS accepts (256 KiB).
pub const MAX_MESSAGE_BYTES: usize = 262_144;

/// How the delivery reached Aftercart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// Shopify's HTTPS POST, HMAC-verified by the webhook function.
    Https,
    /// Shopify's Amazon EventBridge partner event source.
    Eventbridge,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Https => "https",
            Via::Eventbridge => "eventbridge",
        }
    }
}

/// One queued delivery. Version 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub v: u8,
    pub via: Via,
    pub shop: String,
    pub topic: String,
    pub webhook_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggered_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Triggered over a minute before it was accepted: most likely a retry, so the
    /// recorder checks its receipt alone first (`domain::ingest::Context::redelivery`).
    #[serde(default)]
    pub redelivery: bool,
    /// The body as received, gzipped, base64.
    pub body: String,
}

/// Why a queue message is not a delivery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the message is not a queued delivery: {0}")]
    Format(String),
    #[error("the message has version {0}, this build reads version 1")]
    Version(u8),
    #[error("the message's body does not unpack (not base64 gzip)")]
    Body,
}

impl Envelope {
    /// The message text, or `None` when it would exceed [`MAX_MESSAGE_BYTES`] (the
    /// caller records such a delivery at once instead).
    pub fn encode(&self) -> Option<String> {
        serde_json::to_string(self)
            .ok()
            .filter(|s| s.len() <= MAX_MESSAGE_BYTES)
    }

    pub fn decode(text: &str) -> Result<Envelope, EnvelopeError> {
        let env: Envelope =
            serde_json::from_str(text).map_err(|e| EnvelopeError::Format(e.to_string()))?;
        if env.v != 1 {
            return Err(EnvelopeError::Version(env.v));
        }
        Ok(env)
    }

    /// The body as Shopify sent it.
    pub fn unpack(&self) -> Result<Vec<u8>, EnvelopeError> {
        crate::model::unpack_body(&self.body).ok_or(EnvelopeError::Body)
    }
}

/// The deduplication id of `webhook_id` of `shop`: 64 hex digits (SQS allows 128).
pub fn dedup_id(shop: &str, webhook_id: &str) -> String {
    hex(&Sha256::digest(format!("{shop}\n{webhook_id}")))
}

/// A message group id for `parts` (shop, kind, id): 40 hex digits, so no customer id
/// or address digest appears in the queue's metadata as it is.
pub fn group_id(parts: &[&str]) -> String {
    let digest = Sha256::digest(parts.join("\n"));
    hex(&digest[..20])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Envelope {
        Envelope {
            v: 1,
            via: Via::Https,
            shop: "a.myshopify.com".into(),
            topic: "orders/paid".into(),
            webhook_id: "w-1".into(),
            event_id: Some("e-1".into()),
            triggered_at: None,
            api_version: Some("2025-10".into()),
            redelivery: false,
            body: crate::model::pack_body(br#"{"id":1}"#, usize::MAX).expect("packs"),
        }
    }

    #[test]
    fn an_envelope_round_trips_with_its_body() {
        let env = sample();
        let text = env.encode().expect("small");
        let back = Envelope::decode(&text).expect("decodes");
        assert_eq!(back, env);
        assert_eq!(back.unpack().expect("unpacks"), br#"{"id":1}"#);
    }

    #[test]
    fn a_foreign_message_a_newer_version_or_a_broken_body_is_named() {
        assert!(matches!(
            Envelope::decode("{\"hello\":1}"),
            Err(EnvelopeError::Format(_))
        ));
        let mut env = sample();
        env.v = 2;
        let text = serde_json::to_string(&env).expect("json");
        assert_eq!(Envelope::decode(&text), Err(EnvelopeError::Version(2)));
        env.v = 1;
        env.body = "not base64!".into();
        assert_eq!(env.unpack(), Err(EnvelopeError::Body));
    }

    #[test]
    fn an_envelope_over_the_queue_limit_is_not_encoded() {
        let mut env = sample();
        env.body = "A".repeat(MAX_MESSAGE_BYTES);
        assert_eq!(env.encode(), None);
    }

    #[test]
    fn ids_are_fixed_width_hex_and_stable() {
        let d = dedup_id("a.myshopify.com", "w-1");
        assert_eq!(d.len(), 64);
        assert_eq!(d, dedup_id("a.myshopify.com", "w-1"));
        assert_ne!(d, dedup_id("a.myshopify.com", "w-2"));
        let g = group_id(&["a.myshopify.com", "customer", "42"]);
        assert_eq!(g.len(), 40);
        assert!(g.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(g, group_id(&["a.myshopify.com", "order", "42"]));
    }
}

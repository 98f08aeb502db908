//! Shopify's Amazon EventBridge delivery: an event from the partner event source
//! (`source` = `aws.partner/shopify.com/{app id}/{name}`) whose `detail.metadata`
//! holds the delivery headers — `X-Shopify-Topic`, `X-Shopify-Shop-Domain`,
//! `X-Shopify-Webhook-Id`, `X-Shopify-Event-Id`, `X-Shopify-Triggered-At`,
//! `X-Shopify-API-Version`, in whatever case Shopify writes them — and whose
//! `detail.payload` is the body an HTTPS delivery would carry. Nothing is signed on this
//! path: the event bus only takes events from the associated partner source, and the
//! consumer accepts only the configured source and configured shops.

use lambda_http::http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::Value;

/// A Shopify event as EventBridge hands it to a rule's target.
#[derive(Debug)]
pub struct BridgeEvent {
    /// The partner event source the event came from.
    pub source: String,
    /// EventBridge's id of the event.
    pub id: String,
    /// `detail.metadata` as headers (names are case-insensitive there).
    pub headers: HeaderMap,
    /// `detail.payload`, serialised again: the delivery's body.
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BridgeError {
    #[error("not an EventBridge event: {0}")]
    Envelope(String),
    #[error("detail.metadata.{0} is not a string")]
    Header(String),
    #[error("detail.payload is missing or not a JSON object")]
    Payload,
}

#[derive(Deserialize)]
struct Raw {
    source: String,
    #[serde(default)]
    id: String,
    detail: Detail,
}

#[derive(Deserialize)]
struct Detail {
    #[serde(default)]
    metadata: serde_json::Map<String, Value>,
    #[serde(default)]
    payload: Value,
}

/// Reads one EventBridge event (`value`, as the Lambda runtime passes it).
pub fn parse(value: Value) -> Result<BridgeEvent, BridgeError> {
    let raw: Raw =
        serde_json::from_value(value).map_err(|e| BridgeError::Envelope(e.to_string()))?;
    let mut headers = HeaderMap::new();
    for (name, v) in &raw.detail.metadata {
        // Only Shopify's own headers are read; anything else in the metadata is ignored.
        if !name.to_ascii_lowercase().starts_with("x-shopify-") {
            continue;
        }
        let Value::String(s) = v else {
            return Err(BridgeError::Header(name.chars().take(64).collect()));
        };
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| BridgeError::Header(name.chars().take(64).collect()))?;
        let value = HeaderValue::from_str(s)
            .map_err(|_| BridgeError::Header(name.chars().take(64).collect()))?;
        headers.insert(header, value);
    }
    if !raw.detail.payload.is_object() {
        return Err(BridgeError::Payload);
    }
    let body = serde_json::to_vec(&raw.detail.payload).map_err(|_| BridgeError::Payload)?;
    Ok(BridgeEvent {
        source: raw.source,
        id: raw.id,
        headers,
        body,
    })
}

/// Whether `value` looks like an EventBridge event (rather than an SQS batch).
pub fn is_event(value: &Value) -> bool {
    value.get("detail-type").is_some() && value.get("detail").is_some()
}

/// `body` of `topic` for `shop` as Shopify's EventBridge delivery would carry it, with
/// `event_source` as its source: for `make sample VIA=eventbridge` and the tests.
pub fn sample_event(
    event_source: &str,
    shop: &str,
    topic: &str,
    webhook_id: &str,
    triggered_at: &str,
    body: &[u8],
) -> Result<Value, serde_json::Error> {
    let payload: Value = serde_json::from_slice(body)?;
    Ok(serde_json::json!({
        "version": "0",
        "id": format!("eb-{webhook_id}"),
        "detail-type": "shopifyWebhook",
        "source": event_source,
        "account": "000000000000",
        "time": triggered_at,
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "metadata": {
                "Content-Type": "application/json",
                "X-Shopify-Topic": topic,
                "X-Shopify-API-Version": "2025-10",
                "X-Shopify-Shop-Domain": shop,
                "X-Shopify-Webhook-Id": webhook_id,
                "X-Shopify-Event-Id": format!("ev-{webhook_id}"),
                "X-Shopify-Triggered-At": triggered_at,
            },
            "payload": payload,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::shopify::Delivery;

    #[test]
    fn headers_are_read_in_any_case_and_the_payload_is_the_body() {
        let mut event = sample_event(
            "aws.partner/shopify.com/1/aftercart",
            "a.myshopify.com",
            "orders/paid",
            "w-1",
            "2026-11-22T08:00:00Z",
            br#"{"id":7}"#,
        )
        .expect("json");
        // Shopify has written these names in several cases.
        let meta = event["detail"]["metadata"].as_object_mut().expect("object");
        let topic = meta.remove("X-Shopify-Topic").expect("present");
        meta.insert("x-shopify-topic".into(), topic);
        assert!(is_event(&event));
        let parsed = parse(event).expect("parses");
        let d = Delivery::from_headers(&parsed.headers).expect("headers");
        assert_eq!(d.topic, "orders/paid");
        assert_eq!(d.shop, "a.myshopify.com");
        assert_eq!(d.webhook_id, "w-1");
        assert_eq!(d.event_id, Some("ev-w-1"));
        assert_eq!(parsed.source, "aws.partner/shopify.com/1/aftercart");
        assert_eq!(parsed.body, br#"{"id":7}"#);
    }

    #[test]
    fn a_broken_event_is_named() {
        assert!(matches!(
            parse(serde_json::json!({"x": 1})),
            Err(BridgeError::Envelope(_))
        ));
        let no_payload =
            serde_json::json!({"source": "s", "detail-type": "t", "detail": {"metadata": {}}});
        assert_eq!(parse(no_payload).err(), Some(BridgeError::Payload));
        let bad_header = serde_json::json!({"source": "s", "detail": {"metadata": {"X-Shopify-Topic": 5}, "payload": {}}});
        assert_eq!(
            parse(bad_header).err(),
            Some(BridgeError::Header("X-Shopify-Topic".into()))
        );
    }
}

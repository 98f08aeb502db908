//! The `mail-events` function: SES bounce, complaint, delivery, open and click events.
//!
//! SES publishes an event for every message sent through the configuration set
//! (`email.configuration_set`) to its event destination: an SNS topic the function
//! subscribes to, or the default EventBridge bus with a rule targeting the function.
//! Both shapes are read here ([`parse_payload`]); the SES event inside is the same.
//!
//! What an event does ([`plan`], pure):
//! - permanent bounce → every bounced address is suppressed for the shop (`bounced`);
//! - complaint → every complaining address is suppressed (`complained`);
//! - transient (or undetermined) bounce → counted on the follow-up and per address,
//!   never suppressed;
//! - delivery, open, click → the follow-up's tracking fields for the report;
//! - send, reject, delivery delay, rendering failure, subscription → accepted, ignored.
//!
//! The message tags dispatch sets (`shop`, `playbook`, `followup`, `customer`) map an
//! event back to its shop and follow-up. Every event is applied exactly once: its effects
//! and a receipt (`MAILEVENT#{shop}#{event id}`) are written in one transaction that
//! fails if the receipt exists (see [`crate::store::mail_events`]).
//!
//! Addresses never appear in logs or errors: they are [`Address`]es, whose `Debug` shows
//! only a hash, and errors name the field that is wrong, never its value.

use crate::model::{email_hash, followup_id, keys, Key, Playbook};
use crate::store::{DynamoStore, StoreError};
use crate::time::{utc_key, Clock};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// SES sends a message to at most 50 recipients; an event naming more is not from SES.
pub const MAX_RECIPIENTS: usize = 50;
/// How long an event's receipt is kept: SNS and EventBridge stop retrying within a day.
pub const RECEIPT_TTL: Duration = Duration::from_secs(14 * 86_400);
/// How long a per-address transient-bounce count lives after its latest bounce.
pub const TRANSIENT_TTL: Duration = Duration::from_secs(90 * 86_400);

/// Sample events (SNS and EventBridge shapes) as SES publishes them for a follow-up
/// dispatch sent: unit tests, integration tests and local runs use them.
pub mod fixtures {
    pub const SNS_BOUNCE_PERMANENT: &[u8] =
        include_bytes!("../fixtures/ses/sns_bounce_permanent.json");
    pub const SNS_BOUNCE_TRANSIENT: &[u8] =
        include_bytes!("../fixtures/ses/sns_bounce_transient.json");
    pub const SNS_COMPLAINT: &[u8] = include_bytes!("../fixtures/ses/sns_complaint.json");
    pub const SNS_DELIVERY: &[u8] = include_bytes!("../fixtures/ses/sns_delivery.json");
    pub const SNS_OPEN: &[u8] = include_bytes!("../fixtures/ses/sns_open.json");
    pub const SNS_CLICK: &[u8] = include_bytes!("../fixtures/ses/sns_click.json");
    pub const SNS_SEND: &[u8] = include_bytes!("../fixtures/ses/sns_send.json");
    pub const EB_BOUNCE_PERMANENT: &[u8] =
        include_bytes!("../fixtures/ses/eventbridge_bounce_permanent.json");
    pub const EB_BOUNCE_TRANSIENT: &[u8] =
        include_bytes!("../fixtures/ses/eventbridge_bounce_transient.json");
    pub const EB_COMPLAINT: &[u8] = include_bytes!("../fixtures/ses/eventbridge_complaint.json");
    pub const EB_DELIVERY: &[u8] = include_bytes!("../fixtures/ses/eventbridge_delivery.json");
    pub const EB_OPEN: &[u8] = include_bytes!("../fixtures/ses/eventbridge_open.json");
    pub const EB_CLICK: &[u8] = include_bytes!("../fixtures/ses/eventbridge_click.json");

    /// Every fixture, by file name.
    pub const ALL: [(&str, &[u8]); 13] = [
        ("sns_bounce_permanent", SNS_BOUNCE_PERMANENT),
        ("sns_bounce_transient", SNS_BOUNCE_TRANSIENT),
        ("sns_complaint", SNS_COMPLAINT),
        ("sns_delivery", SNS_DELIVERY),
        ("sns_open", SNS_OPEN),
        ("sns_click", SNS_CLICK),
        ("sns_send", SNS_SEND),
        ("eventbridge_bounce_permanent", EB_BOUNCE_PERMANENT),
        ("eventbridge_bounce_transient", EB_BOUNCE_TRANSIENT),
        ("eventbridge_complaint", EB_COMPLAINT),
        ("eventbridge_delivery", EB_DELIVERY),
        ("eventbridge_open", EB_OPEN),
        ("eventbridge_click", EB_CLICK),
    ];
}

// ---------------------------------------------------------------------------------------
// Errors

/// Why an event cannot be used. Retrying cannot fix any of these, so the handler logs
/// and skips the event. Messages name the field, never its value (no addresses).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error(
        "payload is neither an SNS event (Records[].Sns) nor an EventBridge event (source, detail)"
    )]
    UnknownShape,
    #[error("EventBridge event comes from source \"{0}\", not aws.ses")]
    NotFromSes(String),
    #[error("{shape} event has no {field}")]
    MissingEnvelopeField {
        shape: &'static str,
        field: &'static str,
    },
    #[error("SNS record {index}: {problem}")]
    SnsRecord { index: usize, problem: &'static str },
    #[error("SNS record {index} is a {kind} message, not a Notification")]
    SnsType { index: usize, kind: String },
    #[error("the SES event is not valid JSON ({0})")]
    NotJson(String),
    #[error("the SES event has no eventType (nor notificationType)")]
    MissingEventType,
    #[error("unknown SES event type \"{0}\"")]
    UnknownEventType(String),
    #[error("EventBridge detail-type \"{detail_type}\" does not match eventType {event_type}")]
    DetailTypeMismatch {
        detail_type: String,
        event_type: &'static str,
    },
    #[error("the SES event does not match its schema at {path}: {problem}")]
    Schema { path: String, problem: String },
    #[error("{0} is not an RFC 3339 time")]
    BadTime(&'static str),
    #[error("the {0} object is missing for this event type")]
    MissingDetail(&'static str),
    #[error("the message has no `{0}` tag (was it sent by dispatch with the configuration set?)")]
    MissingTag(&'static str),
    #[error("the `{tag}` tag is not valid: {problem}")]
    BadTag {
        tag: &'static str,
        problem: &'static str,
    },
    #[error("{0} names no recipient")]
    NoRecipients(&'static str),
    #[error("{field}[{index}] is not an email address")]
    NotAnAddress { field: &'static str, index: usize },
    #[error("{count} recipients, more than SES sends one message to ({MAX_RECIPIENTS})")]
    TooManyRecipients { count: usize },
}

/// A value from the event shown in an error: short, printable, never an address.
fn shown(s: &str) -> String {
    s.chars()
        .take(48)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '_' | '-' | ':' | '/') {
                c
            } else {
                '?'
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Addresses

/// An email address from an event. `Debug` and `Display` show only its hash, so an
/// address can't reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Address(String);

impl Address {
    /// Reads `addr` or `Name <addr>`; `None` if it is not an address.
    pub fn parse(raw: &str) -> Option<Address> {
        let s = raw.trim();
        let s = match (s.rfind('<'), s.ends_with('>')) {
            (Some(start), true) => &s[start + 1..s.len() - 1],
            _ => s,
        };
        let (local, domain) = s.split_once('@')?;
        let ok = !local.is_empty()
            && !domain.is_empty()
            && !domain.contains('@')
            && s.len() <= 320
            && !s.chars().any(|c| c.is_whitespace() || c.is_control());
        ok.then(|| Address(s.to_owned()))
    }

    /// The address's hash ([`email_hash`]): how suppressions are keyed.
    pub fn hash(&self) -> String {
        email_hash(&self.0)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", self.hash())
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "address {}", self.hash())
    }
}

// ---------------------------------------------------------------------------------------
// The SES event

/// SES event types (`eventType`; `notificationType` in identity notifications).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Bounce,
    Complaint,
    Delivery,
    Send,
    Reject,
    Open,
    Click,
    DeliveryDelay,
    RenderingFailure,
    Subscription,
    /// SES's test message when an SNS topic is first attached.
    SnsSubscriptionSucceeded,
}

impl EventType {
    pub fn parse(s: &str) -> Option<EventType> {
        Some(match s {
            "Bounce" => EventType::Bounce,
            "Complaint" => EventType::Complaint,
            "Delivery" => EventType::Delivery,
            "Send" => EventType::Send,
            "Reject" => EventType::Reject,
            "Open" => EventType::Open,
            "Click" => EventType::Click,
            "DeliveryDelay" => EventType::DeliveryDelay,
            // SNS and Firehose spell it with a space, the API enum without.
            "Rendering Failure" | "RenderingFailure" => EventType::RenderingFailure,
            "Subscription" => EventType::Subscription,
            "AmazonSnsSubscriptionSucceeded" => EventType::SnsSubscriptionSucceeded,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Bounce => "Bounce",
            EventType::Complaint => "Complaint",
            EventType::Delivery => "Delivery",
            EventType::Send => "Send",
            EventType::Reject => "Reject",
            EventType::Open => "Open",
            EventType::Click => "Click",
            EventType::DeliveryDelay => "DeliveryDelay",
            EventType::RenderingFailure => "RenderingFailure",
            EventType::Subscription => "Subscription",
            EventType::SnsSubscriptionSucceeded => "AmazonSnsSubscriptionSucceeded",
        }
    }

    /// The EventBridge `detail-type` SES gives this event type.
    pub fn detail_type(self) -> Option<&'static str> {
        Some(match self {
            EventType::Bounce => "Email Bounced",
            EventType::Complaint => "Email Complaint Received",
            EventType::Delivery => "Email Delivered",
            EventType::Send => "Email Sent",
            EventType::Reject => "Email Rejected",
            EventType::Open => "Email Opened",
            EventType::Click => "Email Clicked",
            EventType::DeliveryDelay => "Email Delivery Delayed",
            EventType::RenderingFailure => "Email Rendering Failed",
            EventType::Subscription => "Email Subscribed",
            EventType::SnsSubscriptionSucceeded => return None,
        })
    }

    const ALL: [EventType; 11] = [
        EventType::Bounce,
        EventType::Complaint,
        EventType::Delivery,
        EventType::Send,
        EventType::Reject,
        EventType::Open,
        EventType::Click,
        EventType::DeliveryDelay,
        EventType::RenderingFailure,
        EventType::Subscription,
        EventType::SnsSubscriptionSucceeded,
    ];
}

/// How SES classified a bounce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BounceKind {
    /// The address does not exist (or is on a suppression list): never mail it again.
    Permanent,
    /// Mailbox full, message too large, … after SES gave up retrying.
    Transient,
    /// SES could not tell; handled like a transient bounce.
    Undetermined,
}

/// The message tags dispatch sets, as SES reports them (`mail.tags`, first value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags {
    pub shop: Option<String>,
    pub playbook: Option<String>,
    pub followup: Option<String>,
    pub customer: Option<String>,
}

/// What happened, with the time SES reports for it.
#[derive(Debug, Clone, PartialEq)]
pub enum What {
    Bounce {
        kind: BounceKind,
        recipients: Vec<Address>,
        at: DateTime<Utc>,
    },
    Complaint {
        recipients: Vec<Address>,
        at: DateTime<Utc>,
    },
    Delivery {
        at: DateTime<Utc>,
    },
    Open {
        at: DateTime<Utc>,
    },
    Click {
        at: DateTime<Utc>,
    },
}

/// An SES event Aftercart acts on.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackedEvent {
    pub event_type: EventType,
    /// SES's message id (`mail.messageId`).
    pub message_id: String,
    pub tags: Tags,
    /// The addresses the message was sent to (`mail.destination`).
    pub destination: Vec<Address>,
    pub what: What,
    /// Identifies this event whatever the route it came by (see [`fingerprint`]).
    pub event_id: String,
}

/// A parsed SES event.
#[derive(Debug, Clone, PartialEq)]
pub enum SesEvent {
    /// Accepted, nothing to do (send, reject, delivery delay, rendering failure,
    /// subscription, SNS test message).
    Ignored(EventType),
    Tracked(Box<TrackedEvent>),
}

impl SesEvent {
    pub fn event_type(&self) -> EventType {
        match self {
            SesEvent::Ignored(t) => *t,
            SesEvent::Tracked(e) => e.event_type,
        }
    }
}

// Wire shapes (only the fields used; SES adds fields over time and they are ignored).

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMail {
    message_id: String,
    #[serde(default)]
    destination: Vec<String>,
    #[serde(default)]
    tags: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRecipient {
    email_address: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBounce {
    bounce_type: String,
    #[serde(default)]
    bounced_recipients: Vec<RawRecipient>,
    timestamp: String,
    #[serde(default)]
    feedback_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawComplaint {
    #[serde(default)]
    complained_recipients: Vec<RawRecipient>,
    timestamp: String,
    #[serde(default)]
    feedback_id: Option<String>,
}

#[derive(Deserialize)]
struct RawTimed {
    timestamp: String,
    #[serde(default)]
    link: Option<String>,
}

#[derive(Deserialize)]
struct RawTracked {
    mail: RawMail,
    #[serde(default)]
    bounce: Option<RawBounce>,
    #[serde(default)]
    complaint: Option<RawComplaint>,
    #[serde(default)]
    delivery: Option<RawTimed>,
    #[serde(default)]
    open: Option<RawTimed>,
    #[serde(default)]
    click: Option<RawTimed>,
}

/// Reads one SES event object (what SNS carries as `Message`, EventBridge as `detail`).
pub fn parse_ses_event(v: &Value) -> Result<SesEvent, EventError> {
    let type_str = v
        .get("eventType")
        .or_else(|| v.get("notificationType"))
        .and_then(Value::as_str)
        .ok_or(EventError::MissingEventType)?;
    let event_type =
        EventType::parse(type_str).ok_or_else(|| EventError::UnknownEventType(shown(type_str)))?;
    if !matches!(
        event_type,
        EventType::Bounce
            | EventType::Complaint
            | EventType::Delivery
            | EventType::Open
            | EventType::Click
    ) {
        return Ok(SesEvent::Ignored(event_type));
    }
    let raw: RawTracked = serde_path_to_error::deserialize(v).map_err(schema_error)?;
    let mail = raw.mail;
    let destination = mail
        .destination
        .iter()
        .enumerate()
        .map(|(index, a)| {
            Address::parse(a).ok_or(EventError::NotAnAddress {
                field: "mail.destination",
                index,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if destination.len() > MAX_RECIPIENTS {
        return Err(EventError::TooManyRecipients {
            count: destination.len(),
        });
    }
    let first = |name: &str| {
        mail.tags
            .get(name)
            .and_then(|values| values.first())
            .cloned()
    };
    let tags = Tags {
        shop: first("shop"),
        playbook: first("playbook"),
        followup: first("followup"),
        customer: first("customer"),
    };
    // The parts that tell two events apart: the same SES event reaching us by SNS and by
    // EventBridge, or redelivered, has the same parts.
    let (what, stamp, extra) = match event_type {
        EventType::Bounce => {
            let b = raw.bounce.ok_or(EventError::MissingDetail("bounce"))?;
            let kind = match b.bounce_type.as_str() {
                "Permanent" => BounceKind::Permanent,
                "Transient" => BounceKind::Transient,
                "Undetermined" => BounceKind::Undetermined,
                _ => {
                    return Err(EventError::Schema {
                        path: "bounce.bounceType".into(),
                        problem: "expected Permanent, Transient or Undetermined".into(),
                    })
                }
            };
            let recipients = recipients(&b.bounced_recipients, "bounce.bouncedRecipients")?;
            let at = time(&b.timestamp, "bounce.timestamp")?;
            let what = What::Bounce {
                kind,
                recipients,
                at,
            };
            (what, b.timestamp, b.feedback_id.unwrap_or_default())
        }
        EventType::Complaint => {
            let c = raw
                .complaint
                .ok_or(EventError::MissingDetail("complaint"))?;
            let recipients =
                recipients(&c.complained_recipients, "complaint.complainedRecipients")?;
            let at = time(&c.timestamp, "complaint.timestamp")?;
            let what = What::Complaint { recipients, at };
            (what, c.timestamp, c.feedback_id.unwrap_or_default())
        }
        EventType::Delivery => {
            let d = raw.delivery.ok_or(EventError::MissingDetail("delivery"))?;
            let at = time(&d.timestamp, "delivery.timestamp")?;
            (What::Delivery { at }, d.timestamp, String::new())
        }
        EventType::Open => {
            let o = raw.open.ok_or(EventError::MissingDetail("open"))?;
            let at = time(&o.timestamp, "open.timestamp")?;
            (What::Open { at }, o.timestamp, String::new())
        }
        EventType::Click => {
            let c = raw.click.ok_or(EventError::MissingDetail("click"))?;
            let link = c.link.unwrap_or_default();
            if is_customer_link(&link) {
                // The `links` function counts clicks on its own links when it serves
                // them; counting SES's copy too would count each click twice.
                return Ok(SesEvent::Ignored(event_type));
            }
            let at = time(&c.timestamp, "click.timestamp")?;
            (What::Click { at }, c.timestamp, link)
        }
        other => return Ok(SesEvent::Ignored(other)),
    };
    let event_id = fingerprint(event_type, &mail.message_id, &stamp, &extra);
    Ok(SesEvent::Tracked(Box::new(TrackedEvent {
        event_type,
        message_id: mail.message_id,
        tags,
        destination,
        what,
        event_id,
    })))
}

/// Whether `link` is one of Aftercart's signed customer links (`…/rate?t=v…`,
/// `…/unsubscribe?t=v…`, `…/reorder?t=v…`), which the `links` function tracks itself.
pub fn is_customer_link(link: &str) -> bool {
    let Some((path, query)) = link.split_once('?') else {
        return false;
    };
    let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    matches!(last, "rate" | "unsubscribe" | "resubscribe" | "reorder")
        && query.split('&').any(|kv| kv.starts_with("t=v"))
}

/// The event's identity: SHA-256 (first 32 hex digits) of its type, SES message id, the
/// event's own timestamp and its feedback id (bounces, complaints) or link (clicks).
///
/// SNS message ids and EventBridge ids name one *delivery* of an event; this names the
/// event itself, so a redelivery, an SES duplicate, or the same event arriving through
/// both an SNS and an EventBridge destination is recognised and applied once.
pub fn fingerprint(
    event_type: EventType,
    message_id: &str,
    timestamp: &str,
    extra: &str,
) -> String {
    let digest = Sha256::digest(
        format!(
            "{}\n{message_id}\n{timestamp}\n{extra}",
            event_type.as_str()
        )
        .as_bytes(),
    );
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

fn recipients(raw: &[RawRecipient], field: &'static str) -> Result<Vec<Address>, EventError> {
    if raw.len() > MAX_RECIPIENTS {
        return Err(EventError::TooManyRecipients { count: raw.len() });
    }
    raw.iter()
        .enumerate()
        .map(|(index, r)| {
            Address::parse(&r.email_address).ok_or(EventError::NotAnAddress { field, index })
        })
        .collect()
}

fn time(s: &str, field: &'static str) -> Result<DateTime<Utc>, EventError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.to_utc())
        .map_err(|_| EventError::BadTime(field))
}

/// serde's messages quote the offending value (`invalid type: string "…"`), which may be
/// an address: keep the path and the kind of problem only.
fn schema_error(e: serde_path_to_error::Error<serde_json::Error>) -> EventError {
    let message = e.inner().to_string();
    let problem = if let Some(rest) = message.strip_prefix("missing field ") {
        format!(
            "missing field {}",
            rest.split(" at ").next().unwrap_or(rest)
        )
    } else if let Some((_, expected)) = message.split_once(", expected ") {
        format!(
            "wrong type, expected {}",
            shown(expected.split(" at ").next().unwrap_or(expected))
        )
    } else {
        "invalid value".to_owned()
    };
    EventError::Schema {
        path: shown(&e.path().to_string()),
        problem,
    }
}

// ---------------------------------------------------------------------------------------
// The two envelopes

/// Which route the event came by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Sns,
    EventBridge,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Sns => "sns",
            Source::EventBridge => "eventbridge",
        }
    }
}

/// One delivery of one SES event.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    pub source: Source,
    /// `Records[].Sns.MessageId` or the EventBridge event's `id` (for logs and receipts).
    pub delivery_id: String,
    pub event: Result<SesEvent, EventError>,
}

/// Reads a Lambda payload: an SNS event (one SES event per record) or an EventBridge
/// event. `Err` when the payload as a whole has neither shape; a record that can't be
/// read is an `Incoming` with an error, so the others still count.
pub fn parse_payload(payload: &Value) -> Result<Vec<Incoming>, EventError> {
    if let Some(records) = payload.get("Records").and_then(Value::as_array) {
        return Ok(records
            .iter()
            .enumerate()
            .map(|(index, r)| sns_record(index, r))
            .collect());
    }
    if payload.get("detail").is_some() || payload.get("detail-type").is_some() {
        return eventbridge(payload).map(|i| vec![i]);
    }
    Err(EventError::UnknownShape)
}

fn sns_record(index: usize, record: &Value) -> Incoming {
    let sns = record.get("Sns");
    let delivery_id = sns
        .and_then(|s| s.get("MessageId"))
        .and_then(Value::as_str)
        .map(shown)
        .unwrap_or_default();
    let event = (|| {
        let sns = sns.ok_or(EventError::SnsRecord {
            index,
            problem: "has no Sns object",
        })?;
        if let Some(kind) = sns.get("Type").and_then(Value::as_str) {
            if kind != "Notification" {
                return Err(EventError::SnsType {
                    index,
                    kind: shown(kind),
                });
            }
        }
        if delivery_id.is_empty() {
            return Err(EventError::SnsRecord {
                index,
                problem: "has no Sns.MessageId",
            });
        }
        let message = sns
            .get("Message")
            .and_then(Value::as_str)
            .ok_or(EventError::SnsRecord {
                index,
                problem: "has no Sns.Message string",
            })?;
        let inner: Value = serde_json::from_str(message)
            .map_err(|e| EventError::NotJson(format!("line {} column {}", e.line(), e.column())))?;
        parse_ses_event(&inner)
    })();
    Incoming {
        source: Source::Sns,
        delivery_id,
        event,
    }
}

fn eventbridge(payload: &Value) -> Result<Incoming, EventError> {
    let missing = |field| EventError::MissingEnvelopeField {
        shape: "EventBridge",
        field,
    };
    let source = payload
        .get("source")
        .and_then(Value::as_str)
        .ok_or(missing("source"))?;
    if source != "aws.ses" {
        return Err(EventError::NotFromSes(shown(source)));
    }
    let delivery_id = payload
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(shown)
        .ok_or(missing("id"))?;
    let detail_type = payload.get("detail-type").and_then(Value::as_str);
    let event = payload
        .get("detail")
        .filter(|d| d.is_object())
        .ok_or(missing("detail object"))
        .and_then(parse_ses_event)
        .and_then(|event| {
            let t = event.event_type();
            // A detail-type SES uses for another event type means a mis-routed or
            // hand-made event; an unknown one (a future SES name) is let through.
            match detail_type {
                Some(dt)
                    if t.detail_type() != Some(dt)
                        && EventType::ALL.iter().any(|o| o.detail_type() == Some(dt)) =>
                {
                    Err(EventError::DetailTypeMismatch {
                        detail_type: shown(dt),
                        event_type: t.as_str(),
                    })
                }
                _ => Ok(event),
            }
        });
    Ok(Incoming {
        source: Source::EventBridge,
        delivery_id,
        event,
    })
}

// ---------------------------------------------------------------------------------------
// Planning

/// The follow-up an event belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUpRef {
    pub customer_key: String,
    /// The real id (`thank_you#450789469#0`), rebuilt from the sanitised tag.
    pub id: String,
}

impl FollowUpRef {
    pub fn key(&self, shop: &str) -> Key {
        keys::followup(shop, &self.customer_key, &self.id)
    }
}

/// Why an address is suppressed. A complaint outranks the others (see
/// [`crate::store::mail_events`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuppressReason {
    Bounced,
    Complained,
}

impl SuppressReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SuppressReason::Bounced => "bounced",
            SuppressReason::Complained => "complained",
        }
    }
}

/// A change to the follow-up's tracking fields (`model::Tracking`). Times are
/// [`utc_key`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackingUpdate {
    /// `delivered_at` (first).
    Delivered { at: String },
    /// `opened_at` (first), `opens` + 1.
    Opened { at: String },
    /// `clicked_at` (first), `clicks` + 1.
    Clicked { at: String },
    /// `bounced_at` (first), `bounce_type = permanent`.
    PermanentBounce { at: String },
    /// `bounced_at` (first), `bounce_type = transient` unless already permanent,
    /// `transient_bounces` + 1.
    TransientBounce { at: String },
    /// `complained_at` (first).
    Complained { at: String },
}

/// What one event changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub shop: String,
    pub event_id: String,
    pub event_type: EventType,
    pub message_id: String,
    /// The follow-up to update (with `tracking`), when the tags name one.
    pub followup: Option<FollowUpRef>,
    pub tracking: Option<TrackingUpdate>,
    /// Address hashes to suppress, each once.
    pub suppress: Vec<(String, SuppressReason)>,
    /// Address hashes whose transient-bounce count grows by one.
    pub transient: Vec<String>,
    /// When the event happened (SES's time), as a [`utc_key`].
    pub at: String,
    /// Tags that could not be used (the rest of the event still applies).
    pub notes: Vec<EventError>,
}

impl Plan {
    /// Nothing to write (e.g. an open of a message no follow-up tag names).
    pub fn is_empty(&self) -> bool {
        self.tracking.is_none() && self.suppress.is_empty() && self.transient.is_empty()
    }
}

/// Turns one SES event into its effects. Pure.
///
/// The addresses acted on are the recipients SES names (bounced or complaining) and,
/// for a message sent to exactly one address (every follow-up is), that address too:
/// a bounce reported for a forwarding target must still stop mail to the address the
/// profile holds, which is the one the dispatch guard checks.
pub fn plan(event: &TrackedEvent) -> Result<Plan, EventError> {
    let shop = event
        .tags
        .shop
        .clone()
        .ok_or(EventError::MissingTag("shop"))?;
    if !crate::shopify::is_shop_domain(&shop) || shop.len() > 255 {
        return Err(EventError::BadTag {
            tag: "shop",
            problem: "not a shop domain",
        });
    }
    let mut notes = Vec::new();
    let followup = match followup_ref(&event.tags) {
        Ok(f) => f,
        Err(e) => {
            notes.push(e);
            None
        }
    };
    let addresses = |recipients: &[Address], what: &'static str| {
        let mut hashes: Vec<String> = Vec::new();
        let single = (event.destination.len() == 1).then(|| &event.destination[0]);
        for a in recipients.iter().chain(single) {
            let h = a.hash();
            if !hashes.contains(&h) {
                hashes.push(h);
            }
        }
        if hashes.is_empty() {
            Err(EventError::NoRecipients(what))
        } else {
            Ok(hashes)
        }
    };
    let mut suppress = Vec::new();
    let mut transient = Vec::new();
    let (tracking, at) = match &event.what {
        What::Bounce {
            kind,
            recipients,
            at,
        } => {
            let hashes = addresses(recipients, "the bounce")?;
            let at = utc_key(at);
            match kind {
                BounceKind::Permanent => {
                    suppress = hashes
                        .into_iter()
                        .map(|h| (h, SuppressReason::Bounced))
                        .collect();
                    (TrackingUpdate::PermanentBounce { at: at.clone() }, at)
                }
                BounceKind::Transient | BounceKind::Undetermined => {
                    transient = hashes;
                    (TrackingUpdate::TransientBounce { at: at.clone() }, at)
                }
            }
        }
        What::Complaint { recipients, at } => {
            let hashes = addresses(recipients, "the complaint")?;
            suppress = hashes
                .into_iter()
                .map(|h| (h, SuppressReason::Complained))
                .collect();
            let at = utc_key(at);
            (TrackingUpdate::Complained { at: at.clone() }, at)
        }
        What::Delivery { at } => {
            let at = utc_key(at);
            (TrackingUpdate::Delivered { at: at.clone() }, at)
        }
        What::Open { at } => {
            let at = utc_key(at);
            (TrackingUpdate::Opened { at: at.clone() }, at)
        }
        What::Click { at } => {
            let at = utc_key(at);
            (TrackingUpdate::Clicked { at: at.clone() }, at)
        }
    };
    Ok(Plan {
        shop,
        event_id: event.event_id.clone(),
        event_type: event.event_type,
        message_id: event.message_id.clone(),
        tracking: followup.is_some().then_some(tracking),
        followup,
        suppress,
        transient,
        at,
        notes,
    })
}

/// The follow-up named by the `followup` and `customer` tags; `None` when the message
/// carries neither.
pub fn followup_ref(tags: &Tags) -> Result<Option<FollowUpRef>, EventError> {
    let (tag, customer) = match (&tags.followup, &tags.customer) {
        (None, None) => return Ok(None),
        (Some(_), None) => return Err(EventError::MissingTag("customer")),
        (None, Some(_)) => return Err(EventError::MissingTag("followup")),
        (Some(f), Some(c)) => (f, c),
    };
    if customer.is_empty()
        || customer.len() > 128
        || !customer
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(EventError::BadTag {
            tag: "customer",
            problem: "not a customer key",
        });
    }
    let (playbook, order_id, product_id) = followup_from_tag(tag)?;
    if let Some(p) = &tags.playbook {
        if p != playbook.as_str() {
            return Err(EventError::BadTag {
                tag: "playbook",
                problem: "does not match the followup tag",
            });
        }
    }
    Ok(Some(FollowUpRef {
        customer_key: customer.clone(),
        id: followup_id(playbook, order_id, (product_id != 0).then_some(product_id)),
    }))
}

/// Reads a sanitised follow-up id (`thank_you_450789469_0`: SES tags can't hold `#`)
/// from the right: product id, order id, then the playbook (which may contain `_`).
pub fn followup_from_tag(tag: &str) -> Result<(Playbook, u64, u64), EventError> {
    let bad = |problem| EventError::BadTag {
        tag: "followup",
        problem,
    };
    let mut parts = tag.rsplitn(3, '_');
    let (Some(product), Some(order), Some(playbook)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("expected {playbook}_{order id}_{product id}"));
    };
    let number = |s: &str, problem| {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(problem));
        }
        s.parse::<u64>().map_err(|_| bad(problem))
    };
    let product = number(product, "product id is not a number")?;
    let order = number(order, "order id is not a number")?;
    let playbook = Playbook::parse(playbook).ok_or(bad("unknown playbook"))?;
    Ok((playbook, order, product))
}

// ---------------------------------------------------------------------------------------
// Storage port and the handler

/// Receipt of one applied event (`MAILEVENT#{shop}#{event id}` / `MAILEVENT`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MailEventReceipt {
    pub event_type: String,
    /// `sns` or `eventbridge`: the route of the delivery that applied it.
    pub source: String,
    /// That delivery's SNS message id or EventBridge event id.
    pub delivery_id: String,
    pub ses_message_id: String,
    pub received_at: String,
    /// Epoch seconds; DynamoDB TTL deletes the receipt some time after.
    pub expires_at: i64,
}
impl crate::model::Record for MailEventReceipt {
    const KIND: &'static str = "mail_event";
}

/// An address's transient bounces in one shop
/// (`SUPPRESS#{shop}#{email_hash}` / `TRANSIENT_BOUNCES`). Counting only: nothing
/// suppresses on it. It expires [`TRANSIENT_TTL`] after the latest bounce, so `count`
/// is the number of transient bounces since the address last went that long without one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TransientBounceRecord {
    pub email_hash: String,
    pub count: u32,
    pub first_at: String,
    pub last_at: String,
    pub expires_at: i64,
}
impl crate::model::Record for TransientBounceRecord {
    const KIND: &'static str = "transient_bounces";
}

pub fn receipt_key(shop: &str, event_id: &str) -> Key {
    Key {
        pk: format!("MAILEVENT#{shop}#{event_id}"),
        sk: "MAILEVENT".into(),
    }
}

pub fn transient_key(shop: &str, email_hash: &str) -> Key {
    Key {
        pk: keys::suppression(shop, email_hash).pk,
        sk: "TRANSIENT_BOUNCES".into(),
    }
}

/// What applying an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Written, receipt included. `followup_found` is false when the follow-up the tags
    /// name no longer exists (erased): then only the receipt and address items were.
    Written { followup_found: bool },
    /// Already applied (the receipt exists): nothing written.
    Duplicate,
}

/// The delivery an event came in.
#[derive(Debug, Clone)]
pub struct DeliveryInfo<'a> {
    pub source: Source,
    pub delivery_id: &'a str,
    pub now: DateTime<Utc>,
}

/// The port the handler applies plans through.
pub trait MailEventStore: Send + Sync {
    fn apply(
        &self,
        plan: &Plan,
        delivery: &DeliveryInfo<'_>,
    ) -> impl Future<Output = Result<Applied, StoreError>> + Send;
}

/// What one invocation did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// SES events in the payload.
    pub events: u32,
    pub applied: u32,
    pub duplicates: u32,
    /// Accepted with nothing to do.
    pub ignored: u32,
    /// Malformed: logged and dropped (retrying cannot fix them).
    pub skipped: u32,
}

/// The function's handler, built once per cold start.
pub struct MailEventsApp<S> {
    pub store: S,
    pub clock: Arc<dyn Clock>,
}

impl<S: MailEventStore> MailEventsApp<S> {
    /// Handles one Lambda payload. `Err` only when the store fails, so Lambda retries
    /// the payload (events already applied are then recognised by their receipts).
    pub async fn handle(&self, payload: Value) -> Result<Summary, StoreError> {
        let mut summary = Summary::default();
        let incoming = match parse_payload(&payload) {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(error = %e, outcome = "skipped", "mail event payload not understood");
                summary.events = 1;
                summary.skipped = 1;
                return Ok(summary);
            }
        };
        for i in incoming {
            summary.events += 1;
            let source = i.source.as_str();
            let delivery_id = i.delivery_id.as_str();
            let event = match i.event {
                Ok(SesEvent::Tracked(e)) => e,
                Ok(SesEvent::Ignored(t)) => {
                    summary.ignored += 1;
                    tracing::info!(
                        source,
                        delivery_id,
                        event_type = t.as_str(),
                        outcome = "ignored",
                        "mail event"
                    );
                    continue;
                }
                Err(e) => {
                    summary.skipped += 1;
                    tracing::warn!(source, delivery_id, error = %e, outcome = "skipped", "mail event not usable");
                    continue;
                }
            };
            let plan = match plan(&event) {
                Ok(p) => p,
                Err(e) => {
                    summary.skipped += 1;
                    tracing::warn!(source, delivery_id, event_type = event.event_type.as_str(), error = %e, outcome = "skipped", "mail event not usable");
                    continue;
                }
            };
            for note in &plan.notes {
                tracing::warn!(source, delivery_id, shop = %plan.shop, error = %note, "mail event: follow-up not identified; addresses still handled");
            }
            let followup = plan.followup.as_ref().map(|f| f.id.as_str());
            if plan.is_empty() {
                summary.ignored += 1;
                tracing::info!(
                    source,
                    delivery_id,
                    shop = %plan.shop,
                    event_type = plan.event_type.as_str(),
                    outcome = "ignored",
                    "mail event names no follow-up"
                );
                continue;
            }
            let delivery = DeliveryInfo {
                source: i.source,
                delivery_id,
                now: self.clock.now(),
            };
            let outcome = match self.store.apply(&plan, &delivery).await {
                Ok(Applied::Written { followup_found }) => {
                    summary.applied += 1;
                    if plan.followup.is_some() && !followup_found {
                        "applied_followup_gone"
                    } else {
                        "applied"
                    }
                }
                Ok(Applied::Duplicate) => {
                    summary.duplicates += 1;
                    "duplicate"
                }
                Err(e) => {
                    tracing::error!(source, delivery_id, shop = %plan.shop, event_id = %plan.event_id, error = %e, "mail event not recorded; the invocation fails so it is retried");
                    return Err(e);
                }
            };
            tracing::info!(
                source,
                delivery_id,
                shop = %plan.shop,
                event_type = plan.event_type.as_str(),
                event_id = %plan.event_id,
                followup,
                suppressed = plan.suppress.len(),
                transient = plan.transient.len(),
                outcome,
                "mail event"
            );
        }
        Ok(summary)
    }
}

impl MailEventsApp<DynamoStore> {
    /// Builds the handler once per cold start: the table name and a DynamoDB client.
    pub async fn from_env() -> Result<Self, crate::env::StartupError> {
        let table = crate::env::table_name()?;
        let client = crate::store::dynamo_client().await;
        Ok(MailEventsApp {
            store: DynamoStore::new(client, table, RECEIPT_TTL),
            clock: Arc::new(crate::time::SystemClock),
        })
    }
}

#[cfg(test)]
mod tests;

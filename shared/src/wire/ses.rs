//! SES events as they arrive: through an SNS topic the function subscribes to, or the
//! default EventBridge bus with a rule targeting the function. Both shapes are read
//! here ([`parse_payload`]); the SES event inside is the same.
//!
//! Addresses never appear in logs or errors: they are [`Address`]es, whose `Debug` shows
//! only a hash, and errors name the field that is wrong, never its value.

use crate::model::email_hash;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;

/// SES sends a message to at most 50 recipients; an event naming more is not from SES.
pub const MAX_RECIPIENTS: usize = 50;

/// Sample events (SNS and EventBridge shapes) as SES publishes them for a follow-up
/// dispatch sent: unit tests, integration tests and local runs use them.
pub mod fixtures {
    pub const SNS_BOUNCE_PERMANENT: &[u8] =
        include_bytes!("../../fixtures/ses/sns_bounce_permanent.json");
    pub const SNS_BOUNCE_TRANSIENT: &[u8] =
        include_bytes!("../../fixtures/ses/sns_bounce_transient.json");
    pub const SNS_COMPLAINT: &[u8] = include_bytes!("../../fixtures/ses/sns_complaint.json");
    pub const SNS_DELIVERY: &[u8] = include_bytes!("../../fixtures/ses/sns_delivery.json");
    pub const SNS_OPEN: &[u8] = include_bytes!("../../fixtures/ses/sns_open.json");
    pub const SNS_CLICK: &[u8] = include_bytes!("../../fixtures/ses/sns_click.json");
    pub const SNS_SEND: &[u8] = include_bytes!("../../fixtures/ses/sns_send.json");
    pub const EB_BOUNCE_PERMANENT: &[u8] =
        include_bytes!("../../fixtures/ses/eventbridge_bounce_permanent.json");
    pub const EB_BOUNCE_TRANSIENT: &[u8] =
        include_bytes!("../../fixtures/ses/eventbridge_bounce_transient.json");
    pub const EB_COMPLAINT: &[u8] = include_bytes!("../../fixtures/ses/eventbridge_complaint.json");
    pub const EB_DELIVERY: &[u8] = include_bytes!("../../fixtures/ses/eventbridge_delivery.json");
    pub const EB_OPEN: &[u8] = include_bytes!("../../fixtures/ses/eventbridge_open.json");
    pub const EB_CLICK: &[u8] = include_bytes!("../../fixtures/ses/eventbridge_click.json");
    /// A batch from the mail-events queue: `EB_DELIVERY`, `EB_OPEN` and `EB_CLICK`, each
    /// the `body` of an SQS record (not in [`ALL`], whose fixtures hold one event each).
    pub const SQS_BATCH: &[u8] = include_bytes!("../../fixtures/ses/sqs_batch.json");

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
        "payload is neither an SNS event (Records[].Sns), an SQS batch (Records[].body) nor an EventBridge event (source, detail)"
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
    #[error("SQS record {index}: {problem}")]
    SqsRecord { index: usize, problem: &'static str },
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
    let event_type = event_type(v)?;
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
    let destination = destination(&mail)?;
    let tags = tags(&mail);
    let detail = match event_type {
        EventType::Bounce => bounce(raw.bounce)?,
        EventType::Complaint => complaint(raw.complaint)?,
        EventType::Delivery => timed(raw.delivery, "delivery", "delivery.timestamp")
            .map(|(at, stamp)| Detail::new(What::Delivery { at }, stamp, String::new()))?,
        EventType::Open => timed(raw.open, "open", "open.timestamp")
            .map(|(at, stamp)| Detail::new(What::Open { at }, stamp, String::new()))?,
        EventType::Click => match click(raw.click)? {
            Some(detail) => detail,
            None => return Ok(SesEvent::Ignored(event_type)),
        },
        other => return Ok(SesEvent::Ignored(other)),
    };
    let event_id = fingerprint(event_type, &mail.message_id, &detail.stamp, &detail.extra);
    Ok(SesEvent::Tracked(Box::new(TrackedEvent {
        event_type,
        message_id: mail.message_id,
        tags,
        destination,
        what: detail.what,
        event_id,
    })))
}

/// The event's type (`eventType`, or `notificationType` in the older SNS format).
fn event_type(v: &Value) -> Result<EventType, EventError> {
    let type_str = v
        .get("eventType")
        .or_else(|| v.get("notificationType"))
        .and_then(Value::as_str)
        .ok_or(EventError::MissingEventType)?;
    EventType::parse(type_str).ok_or_else(|| EventError::UnknownEventType(shown(type_str)))
}

/// The addresses the message was sent to: each a valid address, at most
/// [`MAX_RECIPIENTS`].
fn destination(mail: &RawMail) -> Result<Vec<Address>, EventError> {
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
    Ok(destination)
}

/// The message tags dispatch set (the first value of each).
fn tags(mail: &RawMail) -> Tags {
    let first = |name: &str| {
        mail.tags
            .get(name)
            .and_then(|values| values.first())
            .cloned()
    };
    Tags {
        shop: first("shop"),
        playbook: first("playbook"),
        followup: first("followup"),
        customer: first("customer"),
    }
}

/// What happened, with the parts that tell two events apart: the same SES event
/// reaching us by SNS and by EventBridge, or redelivered, has the same parts.
struct Detail {
    what: What,
    /// The event's own timestamp, as SES wrote it.
    stamp: String,
    /// The feedback id (bounces, complaints) or link (clicks); empty otherwise.
    extra: String,
}

impl Detail {
    fn new(what: What, stamp: String, extra: String) -> Detail {
        Detail { what, stamp, extra }
    }
}

fn bounce(raw: Option<RawBounce>) -> Result<Detail, EventError> {
    let b = raw.ok_or(EventError::MissingDetail("bounce"))?;
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
    Ok(Detail::new(
        what,
        b.timestamp,
        b.feedback_id.unwrap_or_default(),
    ))
}

fn complaint(raw: Option<RawComplaint>) -> Result<Detail, EventError> {
    let c = raw.ok_or(EventError::MissingDetail("complaint"))?;
    let recipients = recipients(&c.complained_recipients, "complaint.complainedRecipients")?;
    let at = time(&c.timestamp, "complaint.timestamp")?;
    let what = What::Complaint { recipients, at };
    Ok(Detail::new(
        what,
        c.timestamp,
        c.feedback_id.unwrap_or_default(),
    ))
}

/// A delivery's or open's time, parsed and as SES wrote it.
fn timed(
    raw: Option<RawTimed>,
    detail: &'static str,
    field: &'static str,
) -> Result<(DateTime<Utc>, String), EventError> {
    let t = raw.ok_or(EventError::MissingDetail(detail))?;
    let at = time(&t.timestamp, field)?;
    Ok((at, t.timestamp))
}

/// A click, or `None` for a click on one of Aftercart's customer links: the `links`
/// function counts clicks on its own links when it serves them; counting SES's copy
/// too would count each click twice.
fn click(raw: Option<RawTimed>) -> Result<Option<Detail>, EventError> {
    let c = raw.ok_or(EventError::MissingDetail("click"))?;
    let link = c.link.unwrap_or_default();
    if is_customer_link(&link) {
        return Ok(None);
    }
    let at = time(&c.timestamp, "click.timestamp")?;
    Ok(Some(Detail::new(What::Click { at }, c.timestamp, link)))
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
    /// An EventBridge event the rule put on the mail-events queue, in a batch.
    Sqs,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Sns => "sns",
            Source::EventBridge => "eventbridge",
            Source::Sqs => "sqs",
        }
    }
}

/// One delivery of one SES event.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    pub source: Source,
    /// `Records[].Sns.MessageId`, the EventBridge event's `id` or, from the queue,
    /// `Records[].messageId` (for logs, receipts and the batch's failures).
    pub delivery_id: String,
    pub event: Result<SesEvent, EventError>,
}

/// Reads a Lambda payload: an SNS event (one SES event per record), a batch from the
/// SQS queue (one EventBridge event per record's `body`) or an EventBridge event. `Err`
/// when the payload as a whole has none of these shapes; a record that can't be read is
/// an `Incoming` with an error, so the others still count.
pub fn parse_payload(payload: &Value) -> Result<Vec<Incoming>, EventError> {
    if let Some(records) = payload.get("Records").and_then(Value::as_array) {
        return Ok(records
            .iter()
            .enumerate()
            .map(|(index, r)| {
                if r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs") {
                    sqs_record(index, r)
                } else {
                    sns_record(index, r)
                }
            })
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

/// A record of the mail-events queue: its `body` is the EventBridge event the rule put
/// there. The record's `messageId` names the delivery (the batch's failures list it).
fn sqs_record(index: usize, record: &Value) -> Incoming {
    let delivery_id = record
        .get("messageId")
        .and_then(Value::as_str)
        .map(shown)
        .unwrap_or_default();
    let problem = |problem| EventError::SqsRecord { index, problem };
    let event = if delivery_id.is_empty() {
        Err(problem("has no messageId"))
    } else {
        record
            .get("body")
            .and_then(Value::as_str)
            .ok_or(problem("has no body string"))
            .and_then(|body| {
                serde_json::from_str::<Value>(body)
                    .map_err(|_| problem("body is not a JSON EventBridge event"))
            })
            .and_then(|inner| eventbridge(&inner))
            .and_then(|inner| inner.event)
    };
    Incoming {
        source: Source::Sqs,
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

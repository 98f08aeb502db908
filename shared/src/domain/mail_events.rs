//! What an SES event does ([`plan`], pure):
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
//! fails if the receipt exists (see [`crate::adapters::dynamo::mail_events`]).

use crate::model::time::utc_key;
use crate::model::{followup_id, keys, Key, Playbook};
use crate::wire::ses::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long an event's receipt is kept: SNS and EventBridge stop retrying within a day.
pub const RECEIPT_TTL: Duration = Duration::from_secs(14 * 86_400);
/// How long a per-address transient-bounce count lives after its latest bounce.
pub const TRANSIENT_TTL: Duration = Duration::from_secs(90 * 86_400);

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
/// [`crate::adapters::dynamo::mail_events`]).
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
    let shop = shop_tag(&event.tags)?;
    let mut notes = Vec::new();
    let followup = match followup_ref(&event.tags) {
        Ok(f) => f,
        Err(e) => {
            notes.push(e);
            None
        }
    };
    let Effects {
        tracking,
        at,
        suppress,
        transient,
    } = effects(event)?;
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

/// The shop the `shop` tag names; an event without a valid one cannot be applied.
fn shop_tag(tags: &Tags) -> Result<String, EventError> {
    let shop = tags.shop.clone().ok_or(EventError::MissingTag("shop"))?;
    if !crate::wire::shopify::is_shop_domain(&shop) || shop.len() > 255 {
        return Err(EventError::BadTag {
            tag: "shop",
            problem: "not a shop domain",
        });
    }
    Ok(shop)
}

/// What an event's kind changes, before the tags decide whether a follow-up takes the
/// tracking update.
struct Effects {
    tracking: TrackingUpdate,
    at: String,
    suppress: Vec<(String, SuppressReason)>,
    transient: Vec<String>,
}

impl Effects {
    /// Just the tracking update `tracking` makes of the time `at`; no addresses.
    fn tracking(tracking: fn(String) -> TrackingUpdate, at: &DateTime<Utc>) -> Effects {
        let at = utc_key(at);
        Effects {
            tracking: tracking(at.clone()),
            at,
            suppress: Vec::new(),
            transient: Vec::new(),
        }
    }
}

/// The effects of the event's kind: a permanent bounce or a complaint suppresses the
/// addresses, a transient (or undetermined) bounce counts them, and every kind updates
/// the tracking fields.
fn effects(event: &TrackedEvent) -> Result<Effects, EventError> {
    Ok(match &event.what {
        What::Bounce {
            kind,
            recipients,
            at,
        } => {
            let hashes = addresses(event, recipients, "the bounce")?;
            match kind {
                BounceKind::Permanent => Effects {
                    suppress: suppressed(hashes, SuppressReason::Bounced),
                    ..Effects::tracking(|at| TrackingUpdate::PermanentBounce { at }, at)
                },
                BounceKind::Transient | BounceKind::Undetermined => Effects {
                    transient: hashes,
                    ..Effects::tracking(|at| TrackingUpdate::TransientBounce { at }, at)
                },
            }
        }
        What::Complaint { recipients, at } => {
            let hashes = addresses(event, recipients, "the complaint")?;
            Effects {
                suppress: suppressed(hashes, SuppressReason::Complained),
                ..Effects::tracking(|at| TrackingUpdate::Complained { at }, at)
            }
        }
        What::Delivery { at } => Effects::tracking(|at| TrackingUpdate::Delivered { at }, at),
        What::Open { at } => Effects::tracking(|at| TrackingUpdate::Opened { at }, at),
        What::Click { at } => Effects::tracking(|at| TrackingUpdate::Clicked { at }, at),
    })
}

/// The hashes of the addresses an event acts on (`what` names it in the error): the
/// `recipients` and, for a message sent to one address, that address; each once.
fn addresses(
    event: &TrackedEvent,
    recipients: &[Address],
    what: &'static str,
) -> Result<Vec<String>, EventError> {
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
}

/// Each address hash, to be suppressed for `reason`.
fn suppressed(hashes: Vec<String>, reason: SuppressReason) -> Vec<(String, SuppressReason)> {
    hashes.into_iter().map(|h| (h, reason)).collect()
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
    /// A random token of the call that wrote it: an SDK retry of a transaction that
    /// had already committed finds its own token and counts as applied, not duplicate.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub writer: String,
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Written, receipt included. `followup_found` is false when the follow-up the tags
    /// name no longer exists (erased): then only the receipt and address items were.
    /// `tallies`: what the report's day counters are to count for it, added by the
    /// handler once per invocation ([`crate::ports::mail_events::MailEventStore::count`]),
    /// so a batch's events of one day and playbook are one counter write.
    Written {
        followup_found: bool,
        tallies: Vec<crate::model::report::Tally>,
    },
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

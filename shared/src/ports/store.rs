//! The webhook records deliveries through [`Recorder`]; every store port fails with a
//! [`StoreError`].

use crate::domain::ingest::Context;
use crate::domain::refusals::RefusalKind;
use crate::wire::shopify::Event;
use chrono::{DateTime, Utc};
use std::future::Future;

/// The result of a conditional write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cas {
    Done,
    /// The condition failed: someone else changed the item first.
    Lost,
}

/// What recording a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Written: this many items (receipts included).
    Recorded { items: usize },
    /// Already recorded: the same delivery (`delivery`) or the same resource state
    /// under another delivery id (`event`). Nothing was written.
    Duplicate { of: DuplicateOf },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DuplicateOf {
    Delivery,
    Event,
}

/// What a stored receipt says of a call recording delivery `webhook_id` with token
/// `writer`: `found` is the stored receipt's writer token and webhook id. Written by
/// this call (an SDK retry after our own commit, of `items` items): recorded; by the
/// same delivery: a duplicate delivery; by another delivery of the same state: a
/// duplicate event; no receipt: `None`, not seen yet.
pub fn seen_receipt(
    found: Option<(&str, &str)>,
    writer: &str,
    webhook_id: &str,
    items: usize,
) -> Option<Outcome> {
    let (found_writer, found_webhook) = found?;
    Some(if found_writer == writer {
        Outcome::Recorded { items }
    } else if found_webhook == webhook_id {
        Outcome::Duplicate {
            of: DuplicateOf::Delivery,
        }
    } else {
        Outcome::Duplicate {
            of: DuplicateOf::Event,
        }
    })
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Recorded { .. } => "recorded",
            Outcome::Duplicate {
                of: DuplicateOf::Delivery,
            } => "duplicate_delivery",
            Outcome::Duplicate {
                of: DuplicateOf::Event,
            } => "duplicate_event",
        }
    }
}

/// Recording failed; the delivery must be retried. Messages carry no personal data.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DynamoDB {operation} failed: {message}")]
    Unavailable {
        operation: &'static str,
        message: String,
    },
    #[error("stored item {key} cannot be read: {message}")]
    Corrupt { key: String, message: String },
    #[error(
        "gave up after {attempts} attempts: concurrent deliveries kept changing the same items"
    )]
    Contention { attempts: u32 },
    /// DynamoDB refused the request for what it holds (`ValidationException`: an item
    /// over 400 KB, an attribute it cannot store). Sending it again changes nothing.
    #[error("DynamoDB refused {operation} for good: {message}")]
    Refused {
        operation: &'static str,
        message: String,
    },
}

impl StoreError {
    /// Whether retrying the same request can never succeed (the data, not the store, is
    /// the problem).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            StoreError::Corrupt { .. } | StoreError::Refused { .. }
        )
    }
}

/// The port the webhook handler records through.
pub trait Recorder: Send + Sync {
    fn record(
        &self,
        ctx: &Context<'_>,
        event: &Event,
    ) -> impl Future<Output = Result<Outcome, StoreError>> + Send;

    /// Keeps a delivery that can never be recorded as it is (see
    /// [`StoreError::is_permanent`]) at `key`, for `aftercart replay`. A delivery already
    /// kept (Shopify retrying it) is left as it is.
    fn quarantine(
        &self,
        key: &crate::model::Key,
        record: &crate::model::QuarantineRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The customer key of order `order_id` as stored, if the order is (an eventually
    /// consistent read of one attribute): which message group a shipment or refund of
    /// it joins ([`crate::domain::ingest::group`]). `None` by default.
    fn customer_of_order(
        &self,
        _shop: &str,
        _order_id: u64,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send {
        async { Ok(None) }
    }

    /// Adds `tallies` to `shop`'s report counters (merged: one write per day and scope;
    /// best effort): what a batch gathered in [`Context::counts`]. Nothing by default
    /// (a recorder that keeps no report).
    fn count(
        &self,
        _shop: &str,
        _tallies: Vec<crate::model::report::Tally>,
    ) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Counts a signed delivery that was refused (see [`crate::domain::refusals`]).
    fn count_refusal(
        &self,
        shop: &str,
        kind: RefusalKind,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_receipt_tells_our_own_commit_from_a_retry_and_from_another_delivery() {
        assert_eq!(seen_receipt(None, "t1", "wh-1", 3), None);
        assert_eq!(
            seen_receipt(Some(("t1", "wh-1")), "t1", "wh-1", 3),
            Some(Outcome::Recorded { items: 3 }),
            "the SDK retried our own committed transaction"
        );
        assert_eq!(
            seen_receipt(Some(("t0", "wh-1")), "t1", "wh-1", 3),
            Some(Outcome::Duplicate {
                of: DuplicateOf::Delivery
            })
        );
        assert_eq!(
            seen_receipt(Some(("t0", "wh-0")), "t1", "wh-1", 3),
            Some(Outcome::Duplicate {
                of: DuplicateOf::Event
            })
        );
    }
}

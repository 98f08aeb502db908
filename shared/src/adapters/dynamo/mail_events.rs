//! DynamoDB writes of the `mail-events` function: one write per SES event.
//!
//! **Delivery, open and click** of a follow-up (most events, none of which suppress
//! or count for the reputation brake) are one `UpdateItem` of the follow-up: its
//! tracking fields and, in the same write, the event's id in its `mail_events` map
//! (with this call's token), conditioned on the id's absence. The receipt lives in the
//! item it guards: 1 write unit instead of a 2-item transaction's 4. The map holds at
//! most [`Tracking::MAX_FOLDED_EVENTS`] events; an event beyond that, on a follow-up
//! written before the map existed, or one that does more, takes the transaction below.
//! A redelivered event is recognised either way: the folded write's failure returns
//! the item, whose map names the event (the transaction's receipt then isn't needed).
//!
//! Otherwise the event is one transaction, holding in this order:
//! 1. the event's receipt `MAILEVENT#{shop}#{event id}` / `MAILEVENT` — a Put with
//!    `attribute_not_exists(pk)`, so a redelivered event cancels the whole transaction
//!    and changes nothing (the counts below use `ADD`, so this matters);
//! 2. the follow-up's tracking fields — an Update (`SET`/`ADD`, never `v`, never the
//!    whole item) with `attribute_exists(pk)`: if the follow-up was erased, the
//!    transaction is sent again without it;
//! 3. per suppressed address, `SUPPRESS#{shop}#{hash}` / `SUPPRESSION` — an Update
//!    without condition (a failed condition would cancel the transaction). A bounce
//!    keeps an existing record as it is (`if_not_exists`); a complaint sets the reason
//!    to `complained` whatever it was (`unsubscribed`, `bounced`): the send is blocked
//!    either way, and complaints are what mailbox providers hold against the sender,
//!    so the merchant's report must show them. `at` stays the time the address was
//!    first suppressed;
//! 4. per transiently bounced address, `SUPPRESS#{shop}#{hash}` / `TRANSIENT_BOUNCES` —
//!    `ADD count 1`, first and latest time, TTL refreshed;
//! 5. for a permanent bounce or a complaint of a follow-up, the shop's day count
//!    `SHOP#{shop}#REPUTATION` / `{day}#events` — `ADD bounced|complained 1` (see
//!    [`crate::adapters::dynamo::reputation`]): counted once, with the receipt.

use super::{key_attrs, table, unavailable, Attrs, DynamoStore, StoreError};
use crate::domain::mail_events::{
    transient_key, Applied, DeliveryInfo, MailEventReceipt, Plan, SuppressReason, TrackingUpdate,
    TransientBounceRecord, TRANSIENT_TTL,
};
use crate::model::time::utc_key;
use crate::model::{keys, Key, Record, SuppressionRecord, Tracking};
use crate::ports::mail_events::MailEventStore;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use std::collections::HashMap;
use std::time::Duration;

/// Transactions cancelled by a concurrent write (`TransactionConflict`) are sent again
/// this many times in all before the invocation fails (and Lambda retries it).
const MAX_ATTEMPTS: u32 = 5;

enum Sent {
    Written,
    ReceiptExists,
    FollowUpGone,
    Conflict,
}

/// What the folded write (one `UpdateItem` of the follow-up) did.
enum Folded {
    /// Applied (by this call, or by the SDK's retry of it); `first` as it was counted.
    Applied { first: bool },
    /// The follow-up's map names the event: applied before.
    Duplicate,
    /// No such follow-up.
    Gone,
    /// Not for the folded write (no map yet, or a full one): use the transaction.
    Transaction,
}

impl MailEventStore for DynamoStore {
    async fn apply(&self, plan: &Plan, delivery: &DeliveryInfo<'_>) -> Result<Applied, StoreError> {
        let mut with_followup = plan.tracking.is_some() && plan.followup.is_some();
        // The first delivery, open, click, bounce or complaint of a follow-up is counted
        // for the report: tried first with the field's absence as a condition.
        let mut first = with_followup && plan.tracking.as_ref().and_then(first_field).is_some();
        let writer = format!("{:016x}", fastrand::u64(..));
        // Deliveries, opens and clicks: no address to suppress, nothing for the brake.
        let foldable = with_followup
            && plan.suppress.is_empty()
            && plan.transient.is_empty()
            && matches!(
                plan.tracking,
                Some(
                    TrackingUpdate::Delivered { .. }
                        | TrackingUpdate::Opened { .. }
                        | TrackingUpdate::Clicked { .. }
                )
            );
        if foldable {
            match self.apply_folded(plan, first, &writer).await? {
                Folded::Applied { first } => {
                    return Ok(Applied::Written {
                        followup_found: true,
                        tallies: report_tallies(plan, first),
                    });
                }
                Folded::Duplicate => return Ok(Applied::Duplicate),
                Folded::Gone => with_followup = false,
                Folded::Transaction => {}
            }
        }
        for attempt in 1..=MAX_ATTEMPTS {
            let mut items = self.mail_event_items(plan, delivery, with_followup, first, &writer)?;
            items.extend(self.reputation_event_item(plan)?);
            let sent = match self.send_mail_event(items, with_followup).await? {
                // The SDK sent our transaction again after it had committed: applied.
                Sent::ReceiptExists if self.receipt_writer(plan).await? == writer => Sent::Written,
                sent => sent,
            };
            match sent {
                Sent::Written => {
                    return Ok(Applied::Written {
                        followup_found: with_followup,
                        tallies: report_tallies(plan, with_followup && first),
                    });
                }
                Sent::ReceiptExists => return Ok(Applied::Duplicate),
                // Not the first of its kind, or the follow-up is gone: find out which.
                Sent::FollowUpGone if first => first = false,
                Sent::FollowUpGone => with_followup = false,
                Sent::Conflict => {
                    let cap = 8u64 << attempt.min(4);
                    tokio::time::sleep(Duration::from_millis(fastrand::u64(1..=cap))).await;
                }
            }
        }
        Err(StoreError::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }

    async fn count(&self, shop: &str, tallies: Vec<crate::model::report::Tally>) {
        DynamoStore::add_tallies(self, shop, tallies).await;
    }
}

impl DynamoStore {
    /// The event as one `UpdateItem` of its follow-up (see the module's doc).
    async fn apply_folded(
        &self,
        plan: &Plan,
        mut first: bool,
        writer: &str,
    ) -> Result<Folded, StoreError> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
        let (Some(f), Some(t)) = (&plan.followup, &plan.tracking) else {
            return Ok(Folded::Transaction);
        };
        let key = f.key(&plan.shop);
        // At most twice: as the first of its kind, then (that field set) as a later one.
        for _ in 0..2 {
            let mut expr = tracking_update(t);
            expr.expression = expr
                .expression
                .replacen("SET ", "SET #events.#event = :writer, ", 1);
            expr = expr
                .name("#events", "mail_events")
                .name("#event", &plan.event_id)
                .s(":writer", writer)
                .n(":max", Tracking::MAX_FOLDED_EVENTS as i64);
            // `attribute_exists(#events)` before `size`: moto fails on the size of a
            // missing attribute (DynamoDB just finds the condition false).
            let mut condition = [
                "attribute_exists(pk)",
                "attribute_exists(#events)",
                "attribute_not_exists(#events.#event)",
                "size(#events) < :max",
            ]
            .join(" AND ");
            if let (true, Some(field)) = (first, first_field(t)) {
                expr = expr.name("#first", field);
                condition.push_str(" AND attribute_not_exists(#first)");
            }
            let out = self
                .update_item(&key)
                .update_expression(expr.expression)
                .set_expression_attribute_names(Some(expr.names))
                .set_expression_attribute_values(Some(expr.values))
                .condition_expression(condition)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            let item = match out {
                Ok(_) => return Ok(Folded::Applied { first }),
                Err(e) => match e.into_service_error() {
                    UpdateItemError::ConditionalCheckFailedException(c) => {
                        c.item.unwrap_or_default()
                    }
                    // No map to add to (a follow-up written before it existed).
                    e if e.meta().code() == Some(super::VALIDATION) => {
                        return Ok(Folded::Transaction)
                    }
                    e => return Err(unavailable("UpdateItem", &e)),
                },
            };
            match refused(&item, &plan.event_id, writer, first, t) {
                Some(folded) => return Ok(folded),
                None => first = false,
            }
        }
        Ok(Folded::Transaction)
    }

    fn mail_event_items(
        &self,
        plan: &Plan,
        delivery: &DeliveryInfo<'_>,
        with_followup: bool,
        first: bool,
        writer: &str,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let now = utc_key(&delivery.now);
        let mut items = Vec::new();

        items.push(self.receipt_item(plan, delivery, &now, writer)?);

        if let (true, Some(f), Some(t)) = (with_followup, &plan.followup, &plan.tracking) {
            items.push(self.tracking_item(&f.key(&plan.shop), t, first)?);
        }

        for (hash, reason) in &plan.suppress {
            let reason_value = match reason {
                SuppressReason::Bounced => "if_not_exists(#reason, :reason)",
                SuppressReason::Complained => ":reason",
            };
            let u = Expr::new(format!(
                "SET #email_hash = :hash, #reason = {reason_value}, #at = if_not_exists(#at, :at), #entity = :entity"
            ))
            .name("#email_hash", "email_hash")
            .name("#reason", "reason")
            .name("#at", "at")
            .name("#entity", table::ENTITY)
            .s(":hash", hash)
            .s(":reason", reason.as_str())
            .s(":at", &plan.at)
            .s(":entity", SuppressionRecord::KIND);
            items.push(self.update(&keys::suppression(&plan.shop, hash), u, None)?);
        }

        let expires_at = delivery.now.timestamp() + TRANSIENT_TTL.as_secs() as i64;
        for hash in &plan.transient {
            let u = Expr::new(
                "SET #email_hash = :hash, #first_at = if_not_exists(#first_at, :at), #last_at = :at, \
                 #expires_at = :expires, #entity = :entity ADD #count :one"
                    .into(),
            )
            .name("#email_hash", "email_hash")
            .name("#first_at", "first_at")
            .name("#last_at", "last_at")
            .name("#expires_at", table::TTL_ATTRIBUTE)
            .name("#entity", table::ENTITY)
            .name("#count", "count")
            .s(":hash", hash)
            .s(":at", &plan.at)
            .n(":expires", expires_at)
            .s(":entity", TransientBounceRecord::KIND)
            .n(":one", 1);
            items.push(self.update(&transient_key(&plan.shop, hash), u, None)?);
        }
        Ok(items)
    }

    /// The event's receipt: a Put that fails if the event was applied before.
    /// The writer token on the event's receipt (empty when there is none).
    async fn receipt_writer(&self, plan: &Plan) -> Result<String, StoreError> {
        let key = crate::domain::mail_events::receipt_key(&plan.shop, &plan.event_id);
        let receipt: Option<MailEventReceipt> = self.get(&key).await?;
        Ok(receipt.map(|r| r.writer).unwrap_or_default())
    }

    fn receipt_item(
        &self,
        plan: &Plan,
        delivery: &DeliveryInfo<'_>,
        now: &str,
        writer: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        let receipt_key = crate::domain::mail_events::receipt_key(&plan.shop, &plan.event_id);
        let receipt = MailEventReceipt {
            event_type: plan.event_type.as_str().to_owned(),
            source: delivery.source.as_str().to_owned(),
            delivery_id: delivery.delivery_id.to_owned(),
            ses_message_id: plan.message_id.clone(),
            received_at: now.to_owned(),
            expires_at: delivery.now.timestamp() + self.receipt_ttl.as_secs() as i64,
            writer: writer.to_owned(),
        };
        let mut item: Attrs = serde_dynamo::to_item(&receipt).map_err(|e| StoreError::Corrupt {
            key: format!("{}/{}", receipt_key.pk, receipt_key.sk),
            message: e.to_string(),
        })?;
        item.extend(key_attrs(&receipt_key));
        item.insert(
            table::ENTITY.into(),
            AttributeValue::S(MailEventReceipt::KIND.into()),
        );
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| unavailable("TransactWriteItems", &e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The follow-up's tracking update; for the first event of its kind (`first`),
    /// conditioned on the field's absence so the report counts it once.
    fn tracking_item(
        &self,
        key: &Key,
        t: &TrackingUpdate,
        first: bool,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut expr = tracking_update(t);
        let condition = match first_field(t) {
            Some(field) if first => {
                expr = expr.name("#first", field);
                if matches!(t, TrackingUpdate::PermanentBounce { .. }) {
                    expr = expr.s(":permanent", "permanent");
                    "attribute_exists(pk) AND (attribute_not_exists(#first) OR #first <> :permanent)"
                } else {
                    "attribute_exists(pk) AND attribute_not_exists(#first)"
                }
            }
            _ => "attribute_exists(pk)",
        };
        self.update(key, expr, Some(condition))
    }

    fn update(
        &self,
        key: &Key,
        expr: Expr,
        condition: Option<&str>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut u = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .update_expression(expr.expression)
            .set_expression_attribute_names(Some(expr.names))
            .set_expression_attribute_values(Some(expr.values));
        if let Some(c) = condition {
            u = u.condition_expression(c);
        }
        let u = u
            .build()
            .map_err(|e| unavailable("TransactWriteItems", &e))?;
        Ok(TransactWriteItem::builder().update(u).build())
    }

    async fn send_mail_event(
        &self,
        items: Vec<TransactWriteItem>,
        with_followup: bool,
    ) -> Result<Sent, StoreError> {
        let out = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let Err(codes) = super::transact(out)? else {
            return Ok(Sent::Written);
        };
        let failed = |i: usize| codes.get(i).map(String::as_str) == Some("ConditionalCheckFailed");
        if failed(0) {
            Ok(Sent::ReceiptExists)
        } else if with_followup && failed(1) {
            Ok(Sent::FollowUpGone)
        } else if codes.iter().any(|c| c == "TransactionConflict") {
            Ok(Sent::Conflict)
        } else {
            Err(super::cancelled(&codes))
        }
    }
}

/// What a refused folded write (`item`: the follow-up as it was, empty if none) means
/// for event `event_id`; `None`: not the first of its kind, try again as a later one.
fn refused(
    item: &Attrs,
    event_id: &str,
    writer: &str,
    first: bool,
    t: &TrackingUpdate,
) -> Option<Folded> {
    if item.is_empty() {
        return Some(Folded::Gone);
    }
    let Some(AttributeValue::M(events)) = item.get("mail_events") else {
        return Some(Folded::Transaction);
    };
    match events.get(event_id) {
        // The SDK sent our write again after it had committed.
        Some(AttributeValue::S(w)) if w == writer => return Some(Folded::Applied { first }),
        Some(_) => return Some(Folded::Duplicate),
        None if events.len() >= Tracking::MAX_FOLDED_EVENTS => return Some(Folded::Transaction),
        None => {}
    }
    match first_field(t) {
        Some(field) if first && item.contains_key(field) => None,
        _ => Some(Folded::Transaction),
    }
}

/// The field whose absence makes an event the first of its kind on a follow-up (for
/// a permanent bounce, `bounce_type`: a soft bounce may have set `bounced_at`).
fn first_field(t: &TrackingUpdate) -> Option<&'static str> {
    match t {
        TrackingUpdate::Delivered { .. } => Some("delivered_at"),
        TrackingUpdate::Opened { .. } => Some("opened_at"),
        TrackingUpdate::Clicked { .. } => Some("clicked_at"),
        TrackingUpdate::PermanentBounce { .. } => Some("bounce_type"),
        TrackingUpdate::Complained { .. } => Some("complained_at"),
        TrackingUpdate::TransientBounce { .. } => None,
    }
}

/// The report's counters an applied event adds: the follow-up's first delivery, open,
/// click, permanent bounce or complaint (on its playbook, the day SES saw it), and each
/// address it suppressed (shop-wide).
fn report_tallies(plan: &Plan, first: bool) -> Vec<crate::model::report::Tally> {
    use crate::model::report::{Counter, Scope, Tally};
    let day = crate::domain::report::day(&plan.at);
    let mut out = Vec::new();
    let playbook = plan
        .followup
        .as_ref()
        .and_then(|f| crate::domain::report::playbook_of(&f.id));
    let counter = match plan.tracking.as_ref() {
        Some(TrackingUpdate::Delivered { .. }) => Some(Counter::Delivered),
        Some(TrackingUpdate::Opened { .. }) => Some(Counter::Opened),
        Some(TrackingUpdate::Clicked { .. }) => Some(Counter::Clicked),
        Some(TrackingUpdate::PermanentBounce { .. }) => Some(Counter::Bounced),
        Some(TrackingUpdate::Complained { .. }) => Some(Counter::Complained),
        _ => None,
    };
    if let (true, Some(p), Some(c)) = (first, playbook, counter) {
        out.push(Tally::new(&day, Scope::Playbook(p)).one(c));
    }
    for _ in &plan.suppress {
        out.push(Tally::new(&day, Scope::Shop).one(Counter::Suppressed));
    }
    out
}

/// The update expression for a follow-up's tracking fields (`model::Tracking`). First
/// times are kept (`if_not_exists`); counts only grow (`ADD`).
fn tracking_update(t: &TrackingUpdate) -> Expr {
    let first = |field: &'static str, at: &str| {
        Expr::new("SET #f = if_not_exists(#f, :at)".into())
            .name("#f", field)
            .s(":at", at)
    };
    let first_and_count = |field: &'static str, count: &'static str, at: &str| {
        Expr::new("SET #f = if_not_exists(#f, :at) ADD #c :one".into())
            .name("#f", field)
            .name("#c", count)
            .s(":at", at)
            .n(":one", 1)
    };
    match t {
        TrackingUpdate::Delivered { at } => first("delivered_at", at),
        TrackingUpdate::Complained { at } => first("complained_at", at),
        TrackingUpdate::Opened { at } => first_and_count("opened_at", "opens", at),
        TrackingUpdate::Clicked { at } => first_and_count("clicked_at", "clicks", at),
        TrackingUpdate::PermanentBounce { at } => {
            Expr::new("SET #f = if_not_exists(#f, :at), #t = :type".into())
                .name("#f", "bounced_at")
                .name("#t", "bounce_type")
                .s(":at", at)
                .s(":type", "permanent")
        }
        TrackingUpdate::TransientBounce { at } => Expr::new(
            "SET #f = if_not_exists(#f, :at), #t = if_not_exists(#t, :type) ADD #c :one".into(),
        )
        .name("#f", "bounced_at")
        .name("#t", "bounce_type")
        .name("#c", "transient_bounces")
        .s(":at", at)
        .s(":type", "transient")
        .n(":one", 1),
    }
}

/// An update expression with its names and values.
struct Expr {
    expression: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    fn new(expression: String) -> Expr {
        Expr {
            expression,
            names: HashMap::new(),
            values: HashMap::new(),
        }
    }
    fn name(mut self, placeholder: &str, attribute: &str) -> Expr {
        self.names.insert(placeholder.into(), attribute.into());
        self
    }
    fn s(mut self, placeholder: &str, value: &str) -> Expr {
        self.values
            .insert(placeholder.into(), AttributeValue::S(value.into()));
        self
    }
    fn n(mut self, placeholder: &str, value: i64) -> Expr {
        self.values
            .insert(placeholder.into(), AttributeValue::N(value.to_string()));
        self
    }
}

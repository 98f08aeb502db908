//! DynamoDB adapter: records webhooks exactly once, all of a delivery's writes in one
//! transaction.

pub mod discounts;
pub mod dispatch;
pub mod links;
pub mod mail_events;
pub mod privacy;
pub mod quarantine;
pub mod refusals;
pub mod report;
pub mod reputation;
pub mod table;

use crate::domain::ingest::receipts::Home;
use crate::domain::ingest::{self, Context, Item, Loaded, Needs, Write};
use crate::model::time::utc_key;
use crate::model::Expect;
use crate::model::{keys, DiscountRecord, FoldedReceipt, FollowUpRecord, Key, Receipt, Record};
use crate::ports::store::{seen_receipt, Cas, DuplicateOf, Outcome, Recorder, StoreError};
use crate::wire::shopify::Event;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Get, Put, TransactGetItem, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::time::Duration;

pub type Attrs = HashMap<String, AttributeValue>;

/// Records into the DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    receipt_ttl: Duration,
}

/// Most optimistic-concurrency rounds one delivery tries. In practice the webhook's
/// time budget (`webhook.store_budget_ms`) ends a contended delivery first; this bound
/// only keeps a caller without a deadline from looping for ever.
const MAX_ATTEMPTS: u32 = 64;

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>, receipt_ttl: Duration) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            receipt_ttl,
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// An `UpdateItem` of `shop`'s installation record (`SHOP#{shop}` / `SHOP`), for the
    /// caller to give its expressions.
    pub(crate) fn update_shop(
        &self,
        shop: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.update_item(&crate::model::keys::shop(shop))
    }

    /// An `UpdateItem` of the item at `key`, to be given its expressions.
    pub(crate) fn update_item(
        &self,
        key: &Key,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
    }

    async fn read(
        &self,
        receipts: &[Key],
        needs: &Needs,
        shop: &str,
    ) -> Result<(Vec<Found>, Loaded), StoreError> {
        let mut wanted: Vec<Key> = receipts.to_vec();
        let order = needs.order.map(|id| keys::order(shop, id));
        let fulfillment = needs
            .fulfillment
            .map(|(o, f)| keys::fulfillment(shop, o, f));
        let profile = needs.profile.as_deref().map(|c| keys::profile(shop, c));
        let shop_key = needs.shop.then(|| keys::shop(shop));
        wanted.extend(
            [&order, &fulfillment, &profile, &shop_key]
                .into_iter()
                .flatten()
                .cloned(),
        );
        let cadences: Vec<Key> = needs
            .cadences
            .iter()
            .map(|p| keys::cadence(shop, p))
            .collect();
        wanted.extend(cadences.iter().cloned());

        let mut req = self.client.transact_get_items();
        for k in &wanted {
            req = req.transact_items(
                TransactGetItem::builder()
                    .get(
                        Get::builder()
                            .table_name(&self.table)
                            .set_key(Some(key_attrs(k)))
                            .build()
                            .map_err(|e| unavailable("TransactGetItems", &e))?,
                    )
                    .build(),
            );
        }
        let out = req
            .send()
            .await
            .map_err(|e| unavailable("TransactGetItems", &e))?;
        let mut found: HashMap<Key, Attrs> = HashMap::new();
        for (k, resp) in wanted.iter().zip(out.responses()) {
            if let Some(item) = resp.item() {
                if !item.is_empty() {
                    found.insert(k.clone(), item.clone());
                }
            }
        }
        // For each receipt: its writer token and webhook id when it exists.
        let present = receipts
            .iter()
            .map(|k| found.get(k).map(receipt_found))
            .collect();
        // Follow-ups and codes come from a Query (`plans_of`), run beside this read.
        let mut loaded = Loaded {
            order: decode(order.as_ref(), &mut found)?,
            fulfillment: decode(fulfillment.as_ref(), &mut found)?,
            profile: decode(profile.as_ref(), &mut found)?,
            shop: decode(shop_key.as_ref(), &mut found)?,
            followups: Vec::new(),
            discounts: Vec::new(),
            cadences: Vec::new(),
        };
        for k in &cadences {
            loaded.cadences.extend(decode(Some(k), &mut found)?);
        }
        Ok((present, loaded))
    }

    /// Writes the delivery's receipt items and `writes`, all or nothing: one
    /// `TransactWriteItems`, or, when the plan is a single item (a tracking event before
    /// delivery, an order edit that changes no follow-up), one conditional `PutItem`,
    /// which is as atomic and costs half the write units.
    async fn write(
        &self,
        receipts: Vec<(Key, Receipt)>,
        writes: &[Write],
    ) -> Result<WriteResult, StoreError> {
        let n_receipts = receipts.len();
        let mut puts = Vec::with_capacity(n_receipts + writes.len());
        for (key, receipt) in receipts {
            puts.push(self.put(&key, Receipt::KIND, &receipt, Expect::Absent)?);
        }
        for w in writes {
            puts.push(match &w.item {
                Item::Order(r) => self.put(&w.key, kind_of(r), r, w.expect),
                Item::Fulfillment(r) => self.put(&w.key, kind_of(r), r, w.expect),
                Item::Refund(r) => self.put(&w.key, kind_of(r), r, w.expect),
                Item::Profile(r) => self.put(&w.key, kind_of(r), r, w.expect),
                Item::History(r) => self.put(&w.key, kind_of(r), r, w.expect),
                Item::Privacy(r) => self.put(&w.key, kind_of(r), r, w.expect),
                Item::Shop(r) => self.put(&w.key, kind_of(r), r, w.expect),
                Item::FollowUp(r) => self.put(&w.key, kind_of(r), r, w.expect),
                Item::Discount(r) => self.put(&w.key, kind_of(r), r, w.expect),
                Item::Cadence(r) => self.put(&w.key, kind_of(r), r, w.expect),
            }?);
        }
        if puts.len() == 1 {
            let Some(only) = puts.pop() else {
                return Ok(WriteResult::Written);
            };
            return self.put_alone(only, n_receipts == 1).await;
        }
        let mut req = self.client.transact_write_items();
        for put in puts {
            req = req.transact_items(TransactWriteItem::builder().put(put).build());
        }
        let Err(codes) = transact(req.send().await)? else {
            return Ok(WriteResult::Written);
        };
        let failed = |c: &String| c == "ConditionalCheckFailed";
        if codes.iter().take(n_receipts).any(failed) {
            Ok(WriteResult::ReceiptExists)
        } else if codes
            .iter()
            .any(|c| failed(c) || c == "TransactionConflict")
        {
            Ok(WriteResult::Conflict)
        } else {
            Err(cancelled(&codes))
        }
    }

    /// A plan's only item as a conditional `PutItem`: its failed condition is the
    /// receipt found (`is_receipt`) or a lost version race, like the same item's reason
    /// code in a transaction; so is a transaction in progress on the item.
    async fn put_alone(&self, put: Put, is_receipt: bool) -> Result<WriteResult, StoreError> {
        let Put {
            item,
            condition_expression,
            expression_attribute_names,
            expression_attribute_values,
            ..
        } = put;
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition_expression)
            .set_expression_attribute_names(expression_attribute_names)
            .set_expression_attribute_values(expression_attribute_values)
            .send()
            .await;
        if matches!(&out, Err(SdkError::ServiceError(se))
            if se.err().code() == Some("TransactionConflictException"))
        {
            return Ok(WriteResult::Conflict);
        }
        Ok(match cas("PutItem", out)? {
            Cas::Done => WriteResult::Written,
            Cas::Lost if is_receipt => WriteResult::ReceiptExists,
            Cas::Lost => WriteResult::Conflict,
        })
    }

    /// A customer's follow-ups and the discount codes issued to them, in one strongly
    /// consistent query over the sort-key range `DISCOUNT#` … `FOLLOWUP#…` (feedback
    /// items in between are skipped); empty when there is no customer.
    pub async fn plans_of(
        &self,
        shop: &str,
        customer_key: Option<&str>,
    ) -> Result<(Vec<FollowUpRecord>, Vec<DiscountRecord>), StoreError> {
        let Some(customer_key) = customer_key else {
            return Ok((Vec::new(), Vec::new()));
        };
        let pk = keys::customer_pk(shop, customer_key);
        let items: Vec<Attrs> = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
            .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
            .expression_attribute_values(":lo", AttributeValue::S(keys::DISCOUNT_PREFIX.into()))
            // `$` sorts right after `#`: the upper bound closes the `FOLLOWUP#` range.
            .expression_attribute_values(":hi", AttributeValue::S("FOLLOWUP$".into()))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| unavailable("Query", &e))?;
        let (mut followups, mut discounts) = (Vec::new(), Vec::new());
        for item in items {
            let sk = match item.get(table::SK) {
                Some(AttributeValue::S(sk)) => sk.clone(),
                _ => continue,
            };
            if sk.starts_with(keys::FOLLOWUP_PREFIX) {
                followups.push(decode_item(item, &format!("{pk}/{sk}"))?);
            } else if sk.starts_with(keys::DISCOUNT_PREFIX) {
                discounts.push(decode_item(item, &format!("{pk}/{sk}"))?);
            }
        }
        Ok((followups, discounts))
    }

    fn put<T: Record>(
        &self,
        key: &Key,
        entity: &str,
        record: &T,
        expect: Expect,
    ) -> Result<Put, StoreError> {
        let mut item: Attrs = serde_dynamo::to_item(record).map_err(|e| StoreError::Corrupt {
            key: format!("{}/{}", key.pk, key.sk),
            message: e.to_string(),
        })?;
        item.extend(key_attrs(key));
        item.insert(table::ENTITY.into(), AttributeValue::S(entity.into()));
        let mut put = Put::builder().table_name(&self.table).set_item(Some(item));
        match expect {
            Expect::Absent => put = put.condition_expression("attribute_not_exists(pk)"),
            Expect::Version(v) => {
                put = put
                    .condition_expression("v = :expected")
                    .expression_attribute_values(":expected", AttributeValue::N(v.to_string()))
            }
            Expect::Any => {}
        }
        put.build()
            .map_err(|e| unavailable("TransactWriteItems", &e))
    }
}

enum WriteResult {
    Written,
    ReceiptExists,
    Conflict,
}

impl Recorder for DynamoStore {
    async fn quarantine(
        &self,
        key: &Key,
        record: &crate::model::QuarantineRecord,
    ) -> Result<(), StoreError> {
        let mut item: Attrs = serde_dynamo::to_item(record).map_err(|e| StoreError::Corrupt {
            key: format!("{}/{}", key.pk, key.sk),
            message: e.to_string(),
        })?;
        item.extend(key_attrs(key));
        item.insert(
            table::ENTITY.into(),
            AttributeValue::S(crate::model::QuarantineRecord::KIND.into()),
        );
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        // Lost: Shopify retried a delivery already kept.
        cas("PutItem", out).map(|_| ())
    }

    async fn customer_of_order(
        &self,
        shop: &str,
        order_id: u64,
    ) -> Result<Option<String>, StoreError> {
        let key = keys::order(shop, order_id);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(&key)))
            .projection_expression("customer_key")
            .send()
            .await
            .map_err(|e| unavailable("GetItem", &e))?;
        Ok(out
            .item
            .and_then(|i| i.get("customer_key").and_then(|v| v.as_s().ok()).cloned()))
    }

    async fn count_refusal(
        &self,
        shop: &str,
        kind: crate::domain::refusals::RefusalKind,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        DynamoStore::count_refusal(self, shop, kind, now).await
    }

    async fn count(&self, shop: &str, tallies: Vec<crate::model::report::Tally>) {
        self.add_tallies(shop, tallies).await;
    }

    async fn record(&self, ctx: &Context<'_>, event: &Event) -> Result<Outcome, StoreError> {
        let topic = event.topic().as_str();
        let receipt = Receipt {
            topic: topic.to_owned(),
            webhook_id: ctx.webhook_id.to_owned(),
            received_at: utc_key(&ctx.now),
            expires_at: ctx.now.timestamp() + self.receipt_ttl.as_secs() as i64,
            writer: format!("{:016x}", fastrand::u64(..)),
        };
        // Items of the last transaction this call sent, and what it planned from.
        let mut items = 0;
        let mut last: Option<(Loaded, Vec<Write>)> = None;
        // The receipt: an item of its own, or folded into the item the delivery changes.
        let home = ingest::receipts::home(ctx, event);
        let receipt_keys: Vec<Key> = home.item_key().into_iter().cloned().collect();
        let seen = |present: &[Found], loaded: &Loaded, items| {
            let found = stored_receipt(present, &home, loaded);
            seen_receipt(found, &receipt.writer, ctx.webhook_id, items)
        };
        let mut first = ingest::needs(event);
        first.cadences = ingest::cadence_keys(ctx.rules, event);
        // A likely retry: its receipt alone first (≈ 1 RRU), not the full read (≈ 9).
        if ctx.redelivery {
            if let Some(seen) = self.receipt_alone(ctx, &home, &receipt).await? {
                return Ok(seen);
            }
        }
        for attempt in 1..=MAX_ATTEMPTS {
            let (present, loaded) = self
                .read_for_plan(&receipt_keys, &first, event, ctx.shop)
                .await?;
            if let Some(seen) = seen(&present, &loaded, items) {
                // A folded receipt of ours: the SDK retried our committed transaction,
                // which then lost on the version it had itself changed.
                if let (Outcome::Recorded { .. }, Some((loaded, writes))) = (&seen, &last) {
                    self.after_commit(ctx, loaded, writes).await;
                }
                return Ok(seen);
            }
            let writes = plan_with_receipt(ctx, event, &loaded, &receipt, &home)?;
            items = receipt_keys.len() + writes.len();
            let receipts = receipt_keys
                .iter()
                .map(|k| (k.clone(), receipt.clone()))
                .collect();
            match self.write(receipts, &writes).await? {
                WriteResult::Written => {
                    self.after_commit(ctx, &loaded, &writes).await;
                    return Ok(Outcome::Recorded { items });
                }
                // Another delivery of the same webhook or state won the race, or the
                // SDK retried our own transaction after it had committed.
                WriteResult::ReceiptExists => {
                    let (present, _) = self
                        .read(&receipt_keys, &Needs::default(), ctx.shop)
                        .await?;
                    let seen = seen(&present, &Loaded::default(), items);
                    if let Some(Outcome::Recorded { .. }) = seen {
                        self.after_commit(ctx, &loaded, &writes).await;
                    }
                    return Ok(seen.unwrap_or(Outcome::Duplicate {
                        of: DuplicateOf::Event,
                    }));
                }
                WriteResult::Conflict => {
                    last = Some((loaded, writes));
                    continue_after_backoff(attempt).await
                }
            }
        }
        Err(StoreError::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }
}

impl DynamoStore {
    /// What the receipt alone says (one small read): its receipt item, or the shipment
    /// or order item it is folded into.
    async fn receipt_alone(
        &self,
        ctx: &Context<'_>,
        home: &Home,
        receipt: &Receipt,
    ) -> Result<Option<Outcome>, StoreError> {
        // A receipt item is read as such; a folded one in the item that holds it.
        let mut present = Vec::new();
        let mut loaded = Loaded::default();
        match home {
            Home::Item(key) => {
                let stored = self.get::<Receipt>(key).await?;
                present.push(stored.map(|r| (r.writer, r.webhook_id)));
            }
            Home::Shipment { item, .. } => loaded.fulfillment = self.get(item).await?,
            Home::Order { item, .. } => loaded.order = self.get(item).await?,
        }
        let found = stored_receipt(&present, home, &loaded);
        Ok(seen_receipt(found, &receipt.writer, ctx.webhook_id, 0))
    }

    /// The receipts (`present`, in `receipt_keys` order) and the items `event`'s plan
    /// depends on, with the customer's follow-ups and discount codes.
    async fn read_for_plan(
        &self,
        receipt_keys: &[Key],
        first: &Needs,
        event: &Event,
        shop: &str,
    ) -> Result<(Vec<Found>, Loaded), StoreError> {
        let ((mut present, mut loaded), (followups, discounts)) = tokio::try_join!(
            self.read(receipt_keys, first, shop),
            self.plans_of(shop, first.followups_of.as_deref()),
        )?;
        loaded.followups = followups;
        loaded.discounts = discounts;
        // The stored order may name another customer than the payload (or the only
        // one, for shipments and refunds): read again just what that changes.
        let refined = ingest::needs_after(event, first, &loaded);
        if refined.profile != first.profile {
            let followups = std::mem::take(&mut loaded.followups);
            let discounts = std::mem::take(&mut loaded.discounts);
            (present, loaded) = self.read(receipt_keys, &refined, shop).await?;
            loaded.followups = followups;
            loaded.discounts = discounts;
        }
        if refined.followups_of != first.followups_of {
            (loaded.followups, loaded.discounts) =
                self.plans_of(shop, refined.followups_of.as_deref()).await?;
        }
        Ok((present, loaded))
    }
}

/// The stored receipt's writer token and webhook id: the receipt item's (`present`),
/// or a folded receipt's, from the items as read.
fn stored_receipt<'a>(
    present: &'a [Found],
    home: &Home,
    loaded: &'a Loaded,
) -> Option<(&'a str, &'a str)> {
    match home.holder() {
        None => present
            .first()?
            .as_ref()
            .map(|(w, id)| (w.as_str(), id.as_str())),
        Some(_) => ingest::receipts::found(home, loaded)
            .map(|r| (r.writer.as_str(), r.webhook_id.as_str())),
    }
}

/// The plan of `event`, with its receipt folded into the item that holds it (`home`).
fn plan_with_receipt(
    ctx: &Context<'_>,
    event: &Event,
    loaded: &Loaded,
    receipt: &Receipt,
    home: &Home,
) -> Result<Vec<Write>, StoreError> {
    let mut writes = ingest::plan(ctx, event, loaded);
    if let Some(item) = home.holder() {
        let mine = FoldedReceipt {
            webhook_id: ctx.webhook_id.to_owned(),
            writer: receipt.writer.clone(),
        };
        if !ingest::receipts::fold(home, &mut writes, mine) {
            return Err(StoreError::Corrupt {
                key: format!("{}/{}", item.pk, item.sk),
                message: "the plan does not write the item that holds its receipt".into(),
            });
        }
    }
    Ok(writes)
}

/// A receipt as read: its writer token and webhook id, if it exists.
type Found = Option<(String, String)>;

fn receipt_found(item: &Attrs) -> (String, String) {
    let text = |name: &str| text(item, name).unwrap_or_default().to_owned();
    (text("writer"), text("webhook_id"))
}

/// The string attribute `name` of `item`.
fn text<'a>(item: &'a Attrs, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(s)) => Some(s),
        _ => None,
    }
}

async fn continue_after_backoff(attempt: u32) {
    // Full jitter so that concurrent writers spread out instead of colliding again.
    let cap = 4u64 << attempt.min(4);
    tokio::time::sleep(Duration::from_millis(fastrand::u64(1..=cap))).await;
}

fn kind_of<T: Record>(_: &T) -> &'static str {
    T::KIND
}

pub fn key_attrs(k: &Key) -> Attrs {
    HashMap::from([
        (table::PK.to_owned(), AttributeValue::S(k.pk.clone())),
        (table::SK.to_owned(), AttributeValue::S(k.sk.clone())),
    ])
}

fn decode<T: DeserializeOwned>(
    key: Option<&Key>,
    found: &mut HashMap<Key, Attrs>,
) -> Result<Option<T>, StoreError> {
    match key.and_then(|k| found.remove(k).map(|item| (k, item))) {
        Some((k, item)) => decode_item(item, &format!("{}/{}", k.pk, k.sk)).map(Some),
        None => Ok(None),
    }
}

/// Reads a stored item into its record; `what` names it in the error.
fn decode_item<T: DeserializeOwned>(item: Attrs, what: &str) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt {
        key: what.to_owned(),
        message: e.to_string(),
    })
}

/// The outcome of a TransactWriteItems call: `Ok(Ok(()))` when it committed,
/// `Ok(Err(codes))` when DynamoDB cancelled it (one reason code per item, in order:
/// `ConditionalCheckFailed`, `TransactionConflict`, `None`, …), an error otherwise.
pub(crate) fn transact<O>(
    out: Result<O, SdkError<TransactWriteItemsError, aws_sdk_dynamodb::config::http::HttpResponse>>,
) -> Result<Result<(), Vec<String>>, StoreError> {
    match out {
        Ok(_) => Ok(Ok(())),
        Err(SdkError::ServiceError(se)) => match se.err() {
            TransactWriteItemsError::TransactionCanceledException(c) => Ok(Err(c
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None").to_owned())
                .collect())),
            other if other.code() == Some(VALIDATION) => Err(StoreError::Refused {
                operation: "TransactWriteItems",
                message: other.message().unwrap_or("ValidationException").to_owned(),
            }),
            other => Err(StoreError::Unavailable {
                operation: "TransactWriteItems",
                message: DisplayErrorContext(other).to_string(),
            }),
        },
        Err(e) => Err(unavailable("TransactWriteItems", &e)),
    }
}

/// DynamoDB's code for a request it refuses for what it holds (its message says what,
/// e.g. "Item size has exceeded the maximum allowed size", and quotes no value).
const VALIDATION: &str = "ValidationException";

/// A cancellation no retry of the same plan can fix.
pub(crate) fn cancelled(codes: &[String]) -> StoreError {
    StoreError::Unavailable {
        operation: "TransactWriteItems",
        message: format!("transaction cancelled: {codes:?}"),
    }
}

/// The outcome of a conditional write: `Lost` when its condition failed (someone else
/// changed the item first), an error for anything else.
pub(crate) fn cas<O, E>(
    operation: &'static str,
    out: Result<O, SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>>,
) -> Result<Cas, StoreError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    match out {
        Ok(_) => Ok(Cas::Done),
        Err(SdkError::ServiceError(se))
            if se.err().code() == Some("ConditionalCheckFailedException") =>
        {
            Ok(Cas::Lost)
        }
        Err(SdkError::ServiceError(se)) if se.err().code() == Some(VALIDATION) => {
            Err(StoreError::Refused {
                operation,
                message: se
                    .err()
                    .message()
                    .unwrap_or("ValidationException")
                    .to_owned(),
            })
        }
        Err(e) => Err(unavailable(operation, &e)),
    }
}

fn unavailable(operation: &'static str, e: &(dyn std::error::Error + 'static)) -> StoreError {
    StoreError::Unavailable {
        operation,
        message: DisplayErrorContext(e).to_string(),
    }
}

/// How long a function may wait on DynamoDB: each function's client gets the budget of
/// its caller's patience.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// The webhook answers well inside Shopify's 5 s: each attempt may take 800 ms, the
    /// whole call 2 s, three attempts with short backoff.
    Webhook,
    /// A customer's click (`links`): an attempt may take 1 s, the call 3 s.
    Interactive,
    /// The dispatcher: nobody waits on a send, but its run has a deadline and a send
    /// rate to keep — an attempt may take 1.5 s, the call 4 s, four attempts with
    /// backoff up to 1 s. A store that is slower still is not a send attempt: the
    /// follow-up waits it out (`apps::dispatch`).
    Dispatch,
    /// Work nobody waits on (`mail-events`, the privacy worker, the CLI): a slow
    /// store is waited out rather than failed — 3 s per attempt, 10 s per call, five
    /// attempts with backoff up to 2 s.
    Background,
}

impl Budget {
    /// The SDK's timeout and retry settings for this budget.
    pub fn sdk_config(
        self,
    ) -> (
        aws_config::timeout::TimeoutConfig,
        aws_config::retry::RetryConfig,
    ) {
        let ms = Duration::from_millis;
        let (connect, attempt, total, attempts, first, max) = match self {
            Budget::Webhook => (ms(500), ms(800), ms(2000), 3, ms(25), ms(250)),
            Budget::Interactive => (ms(500), ms(1000), ms(3000), 3, ms(25), ms(250)),
            Budget::Dispatch => (ms(500), ms(1500), ms(4000), 4, ms(50), ms(1000)),
            Budget::Background => (ms(1000), ms(3000), ms(10_000), 5, ms(100), ms(2000)),
        };
        (
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(connect)
                .operation_attempt_timeout(attempt)
                .operation_timeout(total)
                .build(),
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(attempts)
                .with_initial_backoff(first)
                .with_max_backoff(max),
        )
    }
}

/// A DynamoDB client for the Lambda environment (or `AWS_ENDPOINT_URL` locally).
pub async fn dynamo_client(budget: Budget) -> Client {
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    dynamo_client_with(&shared, budget)
}

/// A DynamoDB client from an already loaded SDK config, with the webhook's timeouts.
pub fn dynamo_client_from(shared: &aws_config::SdkConfig) -> Client {
    dynamo_client_with(shared, Budget::Webhook)
}

/// A DynamoDB client from an already loaded SDK config, with `budget`'s timeouts.
pub fn dynamo_client_with(shared: &aws_config::SdkConfig, budget: Budget) -> Client {
    let (timeouts, retries) = budget.sdk_config();
    Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(shared)
            .timeout_config(timeouts)
            .retry_config(retries)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn background_clients_wait_longer_than_the_webhook_and_retry_more() {
        let (web, web_retries) = Budget::Webhook.sdk_config();
        for budget in [Budget::Interactive, Budget::Background] {
            let (t, r) = budget.sdk_config();
            assert!(
                t.operation_timeout() > web.operation_timeout(),
                "{budget:?}"
            );
            assert!(r.max_attempts() >= web_retries.max_attempts(), "{budget:?}");
        }
        let (t, r) = Budget::Background.sdk_config();
        assert_eq!(t.operation_timeout(), Some(Duration::from_secs(10)));
        assert_eq!(r.max_attempts(), 5);
    }

    #[test]
    fn the_webhook_client_carries_its_timeouts_and_retry_limit() {
        let shared = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build();
        let client = dynamo_client_from(&shared);
        let conf = client.config();
        let timeouts = conf.timeout_config().expect("timeouts set");
        assert_eq!(timeouts.connect_timeout(), Some(Duration::from_millis(500)));
        assert_eq!(
            timeouts.operation_attempt_timeout(),
            Some(Duration::from_millis(800))
        );
        assert_eq!(
            timeouts.operation_timeout(),
            Some(Duration::from_millis(2000))
        );
        let retries = conf.retry_config().expect("retries set");
        assert_eq!(retries.max_attempts(), 3);
        assert_eq!(retries.initial_backoff(), Duration::from_millis(25));
        assert_eq!(retries.max_backoff(), Duration::from_millis(250));
        // The whole call ends before the webhook's own store budget (default 2.5 s),
        // which ends well before Shopify's 5 s.
        let budget = crate::config::WebhookSettings::default().store_budget_ms;
        assert!(timeouts.operation_timeout().unwrap() < Duration::from_millis(budget));
    }
}

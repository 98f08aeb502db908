//! DynamoDB operations of the dispatcher: find due follow-ups, claim them, record the
//! outcome, and reserve a customer's send slot (the frequency cap).
//!
//! Every state change is a conditional write on the follow-up's version `v`, so two
//! dispatchers never both act on one follow-up, and the webhook's planner never
//! overwrites a follow-up a dispatcher has just changed (or the other way round).

use super::{decode_item, key_attrs, table, text, unavailable, Attrs, DynamoStore, StoreError};
use crate::model::{
    keys, FollowUpRecord, Key, OrderRecord, ProfileRecord, Record, ShopRecord, SuppressionRecord,
};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;

use crate::model::{DiscountRecord, FeedbackRecord};
use crate::ports::dispatch::{DiscountStore, FollowUpStore, HandOver, SendReads, Slot};
use crate::ports::store::Cas;

impl DynamoStore {
    /// Follow-ups of the due-index shards `shards` due at or before `now_key`, earliest
    /// first.
    pub async fn due(
        &self,
        shards: &[String],
        now_key: &str,
        limit: i32,
    ) -> Result<Vec<FollowUpRecord>, StoreError> {
        self.due_items(shards, now_key, limit).await
    }

    /// Items of the due-index partitions `shards` (`DUE#n` follow-ups, `SETTLE#n`
    /// feedback) due at or before `now_key`, at most `limit` from each, earliest first.
    ///
    /// The index keeps keys only ([`table::projection`]), so a write that leaves an
    /// item's due key as it was (a claim, a hand-over mark, an SES event on a follow-up
    /// still due) costs the index nothing. The items themselves come from one strongly
    /// consistent `BatchGetItem` per 100 found (not one per partition), which also
    /// drops an entry the eventually consistent index still shows but the item has
    /// left: a follow-up sent, cancelled or moved to a later time since.
    pub(super) async fn due_items<T: DeserializeOwned>(
        &self,
        shards: &[String],
        now_key: &str,
        limit: i32,
    ) -> Result<Vec<T>, StoreError> {
        // `{due_at}#{pk}#{sk}`: every key of a time up to now sorts below `{now}#~`.
        let upper = format!("{now_key}#~");
        let queries = shards.iter().map(|shard| {
            self.client
                .query()
                .table_name(&self.table)
                .index_name(table::DUE_INDEX.name)
                .key_condition_expression("#pk = :shard AND #sk <= :upper")
                .expression_attribute_names("#pk", table::DUE_INDEX.pk)
                .expression_attribute_names("#sk", table::DUE_INDEX.sk)
                .expression_attribute_values(":shard", AttributeValue::S(shard.clone()))
                .expression_attribute_values(":upper", AttributeValue::S(upper.clone()))
                .limit(limit)
                .send()
        });
        let pages = futures::future::try_join_all(queries)
            .await
            .map_err(|e| unavailable("Query", &e))?;
        let wanted: Vec<Key> = pages
            .iter()
            .flat_map(|page| page.items())
            .filter_map(super::privacy::key_of)
            .collect();
        // By key: an item the index shows twice (see `get_many`) is handled once.
        let mut found = std::collections::HashMap::with_capacity(wanted.len());
        for chunk in wanted.chunks(100) {
            found.extend(self.get_many(chunk).await?);
        }
        let mut due: Vec<(String, Attrs)> = found
            .into_values()
            .filter_map(|item| Some((still_due(&item, shards, &upper)?, item)))
            .collect();
        due.sort_by(|a, b| a.0.cmp(&b.0));
        due.into_iter()
            .map(|(_, item)| decode_item(item, "due item"))
            .collect()
    }

    /// Writes `next` if the stored follow-up still has version `expected` and, for a
    /// claim, is still claimable (`claimable_at`: pending, or a lease that ended).
    pub async fn save_followup(
        &self,
        next: &FollowUpRecord,
        expected: u64,
        claimable_at: Option<&str>,
    ) -> Result<Cas, StoreError> {
        let w = followup_write(next, expected, claimable_at)?;
        let req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(w.item))
            .condition_expression(w.condition)
            .set_expression_attribute_names(w.names)
            .set_expression_attribute_values(Some(w.values));
        super::cas("PutItem", req.send().await)
    }

    /// [`followup_write`] as one item of a transaction.
    fn followup_put(
        &self,
        next: &FollowUpRecord,
        expected: u64,
        claimable_at: Option<&str>,
    ) -> Result<aws_sdk_dynamodb::types::Put, StoreError> {
        let w = followup_write(next, expected, claimable_at)?;
        aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(w.item))
            .condition_expression(w.condition)
            .set_expression_attribute_names(w.names)
            .set_expression_attribute_values(Some(w.values))
            .build()
            .map_err(|e| unavailable("TransactWriteItems", &e))
    }

    /// The hand-over mark and, with `slot`, the customer's send slot and, with
    /// `planned`, a satisfaction check's reminder in one `TransactWriteItems` (a plain
    /// conditional `PutItem` with neither). The reminder is created if absent; if it
    /// exists, the mark is written again without it.
    pub async fn hand_over(
        &self,
        next: &FollowUpRecord,
        expected: u64,
        claimable_at: Option<&str>,
        slot: Option<Slot<'_>>,
        planned: Option<&FollowUpRecord>,
    ) -> Result<HandOver, StoreError> {
        use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
        if slot.is_none() && planned.is_none() {
            return Ok(self
                .save_followup(next, expected, claimable_at)
                .await?
                .into());
        }
        let built = |e: aws_sdk_dynamodb::error::BuildError| unavailable("TransactWriteItems", &e);
        let mut req = self.client.transact_write_items().transact_items(
            TransactWriteItem::builder()
                .put(self.followup_put(next, expected, claimable_at)?)
                .build(),
        );
        if let Some(slot) = slot {
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key_attrs(&keys::profile(
                    &next.shop,
                    &next.customer_key,
                ))))
                .update_expression(SLOT_UPDATE)
                .condition_expression(SLOT_FREE)
                .set_expression_attribute_values(Some(slot_write(slot)))
                .build()
                .map_err(built)?;
            req = req.transact_items(TransactWriteItem::builder().update(update).build());
        }
        if let Some(p) = planned {
            req = req.transact_items(
                TransactWriteItem::builder()
                    .put(self.planned_put(p)?)
                    .build(),
            );
        }
        // A retry of an attempt that committed passes the mark's and the slot's
        // conditions again (same version and owner; the slot already names this
        // follow-up), and then the reminder's fails: it is written again without it.
        let slot_at = slot.map(|_| 1);
        let planned_at = planned.map(|_| 1 + usize::from(slot.is_some()));
        let failed = |codes: &[String], i: Option<usize>| {
            i.and_then(|i| codes.get(i))
                .is_some_and(|c| c == CONDITION_FAILED)
        };
        match super::transact(req.send().await)? {
            Ok(()) => Ok(HandOver::Done {
                planned: planned.is_some(),
            }),
            Err(codes) if failed(&codes, Some(0)) => Ok(HandOver::Lost),
            Err(codes) if failed(&codes, slot_at) => Ok(HandOver::CapHeld),
            // The reminder exists (an earlier attempt of this check made it): the mark
            // without it.
            Err(codes) if failed(&codes, planned_at) => {
                Box::pin(self.hand_over(next, expected, claimable_at, slot, None)).await
            }
            Err(codes) => Err(super::cancelled(&codes)),
        }
    }

    /// The creation of `planned` (a reminder) in a transaction, if absent.
    fn planned_put(
        &self,
        planned: &FollowUpRecord,
    ) -> Result<aws_sdk_dynamodb::types::Put, StoreError> {
        aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(followup_write(planned, 0, None)?.item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| unavailable("TransactWriteItems", &e))
    }

    /// The outcome `next` and the creation of `planned` in one `TransactWriteItems`;
    /// the outcome alone if `planned` exists already.
    pub async fn save_followup_planning(
        &self,
        next: &FollowUpRecord,
        expected: u64,
        claimable_at: Option<&str>,
        planned: &FollowUpRecord,
    ) -> Result<(Cas, bool), StoreError> {
        use aws_sdk_dynamodb::types::TransactWriteItem;
        let outcome = self.followup_put(next, expected, claimable_at)?;
        let create = self.planned_put(planned)?;
        let out = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(outcome).build())
            .transact_items(TransactWriteItem::builder().put(create).build())
            .send()
            .await;
        match super::transact(out)? {
            Ok(()) => Ok((Cas::Done, true)),
            Err(codes) if codes.first().is_some_and(|c| c == CONDITION_FAILED) => {
                Ok((Cas::Lost, false))
            }
            // Planned before (a re-run, a retaken claim): the outcome alone.
            Err(codes) if codes.get(1).is_some_and(|c| c == CONDITION_FAILED) => Ok((
                self.save_followup(next, expected, claimable_at).await?,
                false,
            )),
            Err(codes) => Err(super::cancelled(&codes)),
        }
    }

    pub async fn get_order(
        &self,
        shop: &str,
        order_id: u64,
    ) -> Result<Option<OrderRecord>, StoreError> {
        self.get(&keys::order(shop, order_id)).await
    }

    pub async fn get_profile(
        &self,
        shop: &str,
        customer_key: &str,
    ) -> Result<Option<ProfileRecord>, StoreError> {
        self.get(&keys::profile(shop, customer_key)).await
    }

    pub async fn get_shop(&self, shop: &str) -> Result<Option<ShopRecord>, StoreError> {
        self.get(&keys::shop(shop)).await
    }

    pub async fn get_suppression(
        &self,
        shop: &str,
        email_hash: &str,
    ) -> Result<Option<SuppressionRecord>, StoreError> {
        self.get(&keys::suppression(shop, email_hash)).await
    }

    /// What a send of `f` reads ([`SendReads`]), in one strongly consistent
    /// `BatchGetItem` (asking again for any keys DynamoDB leaves unprocessed).
    pub async fn get_for_send(&self, f: &FollowUpRecord) -> Result<SendReads, StoreError> {
        let (shop, customer) = (f.shop.as_str(), f.customer_key.as_str());
        let suppression = f.email_hash.as_deref().map(|h| keys::suppression(shop, h));
        let target = crate::ports::dispatch::reminder_target(f);
        let satisfaction = target.as_deref().map(|t| keys::followup(shop, customer, t));
        let feedback = target.as_deref().map(|t| keys::feedback(shop, customer, t));
        let order = keys::order(shop, f.order_id);
        let profile = keys::profile(shop, customer);
        let shop_key = keys::shop(shop);
        let mut wanted = vec![order.clone(), profile.clone(), shop_key.clone()];
        wanted.extend(
            [&suppression, &satisfaction, &feedback]
                .into_iter()
                .flatten()
                .cloned(),
        );
        let mut found = self.get_many(&wanted).await?;
        let mut take = |k: Option<&Key>| -> Option<Attrs> {
            k.and_then(|k| found.remove(&(k.pk.clone(), k.sk.clone())))
        };
        fn read<T: DeserializeOwned>(
            item: Option<Attrs>,
            what: &str,
        ) -> Result<Option<T>, StoreError> {
            item.map(|i| decode_item(i, what)).transpose()
        }
        Ok(SendReads {
            order: read(take(Some(&order)), &order.pk)?,
            profile: read(take(Some(&profile)), &profile.pk)?,
            shop: read(take(Some(&shop_key)), &shop_key.pk)?,
            suppression: read(take(suppression.as_ref()), "suppression")?,
            satisfaction: read(take(satisfaction.as_ref()), "satisfaction follow-up")?,
            feedback: read(take(feedback.as_ref()), "feedback")?,
        })
    }

    /// The items at `wanted` (at most 100), strongly consistent, by (pk, sk). A key
    /// named twice is asked for once: `BatchGetItem` refuses a request with duplicate
    /// keys, and the eventually consistent index can show an item whose due key just
    /// moved under both keys for a moment.
    pub(super) async fn get_many(
        &self,
        wanted: &[Key],
    ) -> Result<std::collections::HashMap<(String, String), Attrs>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut found = std::collections::HashMap::new();
        let distinct: std::collections::BTreeSet<&Key> = wanted.iter().collect();
        let mut keys: Vec<Attrs> = distinct.into_iter().map(key_attrs).collect();
        // DynamoDB may leave keys unprocessed under load: ask again, a few times, after
        // a short, growing pause.
        for attempt in 0..5u32 {
            if keys.is_empty() {
                break;
            }
            if attempt > 0 {
                let pause = 20u64 << attempt;
                tokio::time::sleep(std::time::Duration::from_millis(fastrand::u64(1..=pause)))
                    .await;
            }
            let request = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(|e| unavailable("BatchGetItem", &e))?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| unavailable("BatchGetItem", &e))?;
            for item in out
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default()
            {
                let key = |name: &str| text(&item, name).unwrap_or_default().to_owned();
                found.insert((key(table::PK), key(table::SK)), item);
            }
            keys = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .map(|k| k.keys)
                .unwrap_or_default();
        }
        if !keys.is_empty() {
            return Err(StoreError::Unavailable {
                operation: "BatchGetItem",
                message: format!("{} keys left unprocessed", keys.len()),
            });
        }
        Ok(found)
    }

    /// Reads one item (strongly consistent).
    pub async fn get<T: DeserializeOwned>(&self, key: &Key) -> Result<Option<T>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem", &e))?;
        out.item.map(|i| decode_item(i, &key.pk)).transpose()
    }

    /// Takes the customer's send slot at `now` for follow-up `by` unless another
    /// follow-up went out after `cap_start` (the frequency cap). A slot `by` already
    /// holds is taken again: an SDK retry after a timed-out attempt that did land, or a
    /// new claim of a follow-up whose earlier claim never gave the slot back (a slot
    /// given back names its previous holder again, see `release_send_slot`). Bumps the
    /// profile's version so a concurrent webhook re-reads instead of writing back an
    /// older `last_email_at`.
    pub async fn reserve_send_slot(
        &self,
        shop: &str,
        customer_key: &str,
        by: &str,
        now: &str,
        cap_start: &str,
    ) -> Result<Cas, StoreError> {
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(&keys::profile(shop, customer_key))))
            .update_expression(SLOT_UPDATE)
            .condition_expression(SLOT_FREE)
            .set_expression_attribute_values(Some(slot_write(Slot { by, now, cap_start })));
        super::cas("UpdateItem", req.send().await)
    }

    /// Gives back the slot follow-up `by` took at `reserved` when the send did not
    /// happen, restoring the previous holder (`previous_at`, `previous_by`), if nothing
    /// else took the slot since.
    pub async fn release_send_slot(
        &self,
        shop: &str,
        customer_key: &str,
        by: &str,
        reserved: &str,
        previous_at: Option<&str>,
        previous_by: Option<&str>,
    ) -> Result<Cas, StoreError> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(&keys::profile(shop, customer_key))))
            .condition_expression("last_email_at = :reserved AND last_email_by = :by")
            .expression_attribute_values(":reserved", AttributeValue::S(reserved.to_owned()))
            .expression_attribute_values(":by", AttributeValue::S(by.to_owned()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()));
        let mut set = vec!["v = v + :one"];
        let mut remove = Vec::new();
        match previous_at {
            Some(p) => {
                set.push("last_email_at = :prev_at");
                req = req.expression_attribute_values(":prev_at", AttributeValue::S(p.to_owned()));
            }
            None => remove.push("last_email_at"),
        }
        match previous_by {
            Some(p) => {
                set.push("last_email_by = :prev_by");
                req = req.expression_attribute_values(":prev_by", AttributeValue::S(p.to_owned()));
            }
            None => remove.push("last_email_by"),
        }
        let mut update = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            update.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        super::cas("UpdateItem", req.update_expression(update).send().await)
    }
}

/// DynamoDB's reason code for a transaction item whose condition failed.
const CONDITION_FAILED: &str = "ConditionalCheckFailed";

/// Takes the send slot: the update and its condition (the frequency cap).
const SLOT_UPDATE: &str = "SET last_email_at = :now, last_email_by = :by, v = v + :one";
const SLOT_FREE: &str = "attribute_exists(pk) AND (attribute_not_exists(last_email_at) \
                         OR last_email_at <= :cap OR last_email_by = :by)";

fn slot_write(slot: Slot<'_>) -> Attrs {
    Attrs::from([
        (":now".to_owned(), AttributeValue::S(slot.now.to_owned())),
        (":by".to_owned(), AttributeValue::S(slot.by.to_owned())),
        (
            ":cap".to_owned(),
            AttributeValue::S(slot.cap_start.to_owned()),
        ),
        (":one".to_owned(), AttributeValue::N("1".into())),
    ])
}

/// A follow-up's conditional put: its item and the condition on the version read.
struct FollowUpWrite {
    item: Attrs,
    condition: &'static str,
    names: Option<std::collections::HashMap<String, String>>,
    values: Attrs,
}

/// `next` if the stored follow-up still has version `expected` and, for a claim, is
/// still claimable at `claimable_at` (pending, or a lease that ended). Either condition
/// also accepts the exact write already applied (same owner and version), so an SDK
/// retry of a timed-out attempt that did land succeeds.
fn followup_write(
    next: &FollowUpRecord,
    expected: u64,
    claimable_at: Option<&str>,
) -> Result<FollowUpWrite, StoreError> {
    let mut item: Attrs = serde_dynamo::to_item(next).map_err(|e| StoreError::Corrupt {
        key: next.id.clone(),
        message: e.to_string(),
    })?;
    item.extend(key_attrs(&next.key()));
    item.insert(
        table::ENTITY.into(),
        AttributeValue::S(FollowUpRecord::KIND.into()),
    );
    let mut values = Attrs::from([
        (":v".to_owned(), AttributeValue::N(expected.to_string())),
        (":next".to_owned(), AttributeValue::N(next.v.to_string())),
        (
            ":owner".to_owned(),
            AttributeValue::S(next.lease_owner.clone().unwrap_or_default()),
        ),
    ]);
    let Some(now) = claimable_at else {
        return Ok(FollowUpWrite {
            item,
            condition: "v = :v OR (v = :next AND lease_owner = :owner)",
            names: None,
            values,
        });
    };
    values.extend([
        (":pending".to_owned(), AttributeValue::S("pending".into())),
        (":sending".to_owned(), AttributeValue::S("sending".into())),
        (":now".to_owned(), AttributeValue::S(now.to_owned())),
    ]);
    Ok(FollowUpWrite {
        item,
        condition: "(v = :v AND (#st = :pending OR (#st = :sending AND lease_until < :now))) \
                    OR (v = :next AND lease_owner = :owner)",
        names: Some([("#st".to_owned(), "status".to_owned())].into()),
        values,
    })
}

impl FollowUpStore for DynamoStore {
    async fn count(&self, shop: &str, tallies: Vec<crate::model::report::Tally>) {
        if !tallies.is_empty() {
            self.add_tallies(shop, tallies).await;
        }
    }

    async fn due(
        &self,
        shards: &[String],
        now_key: &str,
        limit: i32,
    ) -> Result<Vec<FollowUpRecord>, StoreError> {
        DynamoStore::due(self, shards, now_key, limit).await
    }
    async fn save_followup(
        &self,
        next: &FollowUpRecord,
        expected: u64,
        claimable_at: Option<&str>,
    ) -> Result<Cas, StoreError> {
        DynamoStore::save_followup(self, next, expected, claimable_at).await
    }
    async fn save_followup_planning(
        &self,
        next: &FollowUpRecord,
        expected: u64,
        claimable_at: Option<&str>,
        planned: &FollowUpRecord,
    ) -> Result<(Cas, bool), StoreError> {
        DynamoStore::save_followup_planning(self, next, expected, claimable_at, planned).await
    }
    async fn get_followup(
        &self,
        shop: &str,
        customer_key: &str,
        id: &str,
    ) -> Result<Option<FollowUpRecord>, StoreError> {
        DynamoStore::get_followup(self, shop, customer_key, id).await
    }
    async fn create_followup(&self, f: &FollowUpRecord) -> Result<Cas, StoreError> {
        DynamoStore::create_followup(self, f).await
    }
    async fn get_feedback(
        &self,
        shop: &str,
        customer_key: &str,
        followup: &str,
    ) -> Result<Option<FeedbackRecord>, StoreError> {
        DynamoStore::get_feedback(self, shop, customer_key, followup).await
    }
    async fn get_order(
        &self,
        shop: &str,
        order_id: u64,
    ) -> Result<Option<OrderRecord>, StoreError> {
        DynamoStore::get_order(self, shop, order_id).await
    }
    async fn get_profile(
        &self,
        shop: &str,
        customer_key: &str,
    ) -> Result<Option<ProfileRecord>, StoreError> {
        DynamoStore::get_profile(self, shop, customer_key).await
    }
    async fn get_for_send(&self, f: &FollowUpRecord) -> Result<SendReads, StoreError> {
        DynamoStore::get_for_send(self, f).await
    }
    async fn get_shop(&self, shop: &str) -> Result<Option<ShopRecord>, StoreError> {
        DynamoStore::get_shop(self, shop).await
    }
    async fn get_suppression(
        &self,
        shop: &str,
        email_hash: &str,
    ) -> Result<Option<SuppressionRecord>, StoreError> {
        DynamoStore::get_suppression(self, shop, email_hash).await
    }
    async fn count_sent(
        &self,
        shop: &str,
        now: chrono::DateTime<chrono::Utc>,
        sent: u64,
    ) -> Result<(), StoreError> {
        DynamoStore::count_sent(self, shop, now, sent).await
    }
    async fn reserve_send_slot(
        &self,
        shop: &str,
        customer_key: &str,
        by: &str,
        now: &str,
        cap_start: &str,
    ) -> Result<Cas, StoreError> {
        DynamoStore::reserve_send_slot(self, shop, customer_key, by, now, cap_start).await
    }
    async fn hand_over(
        &self,
        next: &FollowUpRecord,
        expected: u64,
        claimable_at: Option<&str>,
        slot: Option<Slot<'_>>,
        planned: Option<&FollowUpRecord>,
    ) -> Result<HandOver, StoreError> {
        DynamoStore::hand_over(self, next, expected, claimable_at, slot, planned).await
    }
    async fn release_send_slot(
        &self,
        shop: &str,
        customer_key: &str,
        by: &str,
        reserved: &str,
        previous_at: Option<&str>,
        previous_by: Option<&str>,
    ) -> Result<Cas, StoreError> {
        DynamoStore::release_send_slot(
            self,
            shop,
            customer_key,
            by,
            reserved,
            previous_at,
            previous_by,
        )
        .await
    }
}

impl DiscountStore for DynamoStore {
    async fn get_discount(
        &self,
        shop: &str,
        customer_key: &str,
        followup: &str,
    ) -> Result<Option<DiscountRecord>, StoreError> {
        DynamoStore::get_discount(self, shop, customer_key, followup).await
    }
    async fn reserve_discount(
        &self,
        shop: &str,
        customer_key: &str,
        rec: &DiscountRecord,
    ) -> Result<Cas, StoreError> {
        DynamoStore::reserve_discount(self, shop, customer_key, rec).await
    }
    async fn save_discount(
        &self,
        shop: &str,
        customer_key: &str,
        next: &DiscountRecord,
        expected: u64,
    ) -> Result<Cas, StoreError> {
        DynamoStore::save_discount(self, shop, customer_key, next, expected).await
    }
    async fn mark_discount_created(
        &self,
        shop: &str,
        customer_key: &str,
        rec: &DiscountRecord,
        discount_id: Option<String>,
        now: &str,
    ) -> Result<(DiscountRecord, Cas), StoreError> {
        DynamoStore::mark_discount_created(self, shop, customer_key, rec, discount_id, now).await
    }
    async fn mark_discount_failed(
        &self,
        shop: &str,
        customer_key: &str,
        rec: &DiscountRecord,
        reason: &str,
    ) -> Result<(DiscountRecord, Cas), StoreError> {
        DynamoStore::mark_discount_failed(self, shop, customer_key, rec, reason).await
    }
    async fn claim_admin_alert(&self, shop: &str, now: &str) -> Result<Cas, StoreError> {
        DynamoStore::claim_admin_alert(self, shop, now).await
    }
    async fn release_admin_alert(&self, shop: &str, at: &str) -> Result<Cas, StoreError> {
        DynamoStore::release_admin_alert(self, shop, at).await
    }
    async fn clear_admin_alert(&self, shop: &str) -> Result<Cas, StoreError> {
        DynamoStore::clear_admin_alert(self, shop).await
    }
}

/// The due key of `item` as read now, if it is still in one of the index partitions
/// `shards` at or before `upper`: an entry the eventually consistent index still shows
/// for an item sent, cancelled, moved to a later time or to another partition since
/// gives `None`.
fn still_due(item: &Attrs, shards: &[String], upper: &str) -> Option<String> {
    let pk = text(item, table::DUE_INDEX.pk)?;
    let sk = text(item, table::DUE_INDEX.sk)?;
    (shards.iter().any(|s| s == pk) && sk <= upper).then(|| sk.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(due: Option<(&str, &str)>) -> Attrs {
        let mut i = Attrs::from([(table::PK.to_owned(), AttributeValue::S("P".into()))]);
        if let Some((pk, sk)) = due {
            i.insert(table::DUE_INDEX.pk.into(), AttributeValue::S(pk.into()));
            i.insert(table::DUE_INDEX.sk.into(), AttributeValue::S(sk.into()));
        }
        i
    }

    #[test]
    fn an_entry_whose_item_has_left_the_index_or_moved_is_dropped() {
        let shards = ["DUE#0".to_owned(), "DUE#1".to_owned()];
        let upper = "2026-11-22T09:00:00.000Z#~";
        let at = "2026-11-22T08:00:00.000Z#P#S";
        assert_eq!(
            still_due(&item(Some(("DUE#1", at))), &shards, upper).as_deref(),
            Some(at)
        );
        // Sent or cancelled since: no due key any more.
        assert_eq!(still_due(&item(None), &shards, upper), None);
        // Moved to a later time (deferred by the cap or quiet hours).
        let later = item(Some(("DUE#1", "2026-11-23T08:00:00.000Z#P#S")));
        assert_eq!(still_due(&later, &shards, upper), None);
        // In a partition this read did not ask for.
        assert_eq!(still_due(&item(Some(("DUE#7", at))), &shards, upper), None);
    }
}

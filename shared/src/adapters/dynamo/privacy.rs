//! DynamoDB operations of privacy compliance (`crate::apps::privacy`): the open requests of a
//! shop and their state changes, whole-partition reads, batched deletes, and the scan
//! that erases a shop.
//!
//! IAM actions used here: `Query`, `PutItem`, `UpdateItem`, `BatchWriteItem`, `Scan` (plus `GetItem`
//! through [`DynamoStore::get`]).

use super::{key_attrs, table, unavailable, Attrs, DynamoStore, StoreError};
use crate::model::personal::elide_quoted;
use crate::model::{Key, Record, ShopRecord};
use crate::ports::privacy::{status, Item, PrivacyStore, RequestCondition, ScanPage};
use crate::ports::store::Cas;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

/// Tries BatchWriteItem makes to have DynamoDB take every item before giving up.
const BATCH_ATTEMPTS: u32 = 8;
/// BatchWriteItem's limit.
const BATCH_SIZE: usize = 25;

impl DynamoStore {
    /// Compliance requests of `shop` whose status is one of `statuses`, oldest first, as
    /// stored.
    pub async fn privacy_requests_in(
        &self,
        shop: &str,
        statuses: &[&str],
    ) -> Result<Vec<(Key, Attrs)>, StoreError> {
        let pk = format!("SHOP#{shop}#PRIVACY");
        let names: Vec<String> = (0..statuses.len()).map(|i| format!(":st{i}")).collect();
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("#pk = :pk")
            .filter_expression(format!("#st IN ({})", names.join(", ")))
            .expression_attribute_names("#pk", table::PK)
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":pk", AttributeValue::S(pk));
        for (name, value) in names.iter().zip(statuses) {
            query = query.expression_attribute_values(name, AttributeValue::S((*value).into()));
        }
        let items: Vec<Attrs> = query
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| unavailable("Query", &e))?;
        Ok(items
            .into_iter()
            .filter_map(|item| Some((key_of(&item)?, item)))
            .collect())
    }

    /// Writes a request's new state (`state`, serialised whole) if `condition` holds.
    pub async fn put_privacy_request<T: serde::Serialize>(
        &self,
        key: &Key,
        state: &T,
        condition: RequestCondition<'_>,
    ) -> Result<Cas, StoreError> {
        let mut item: Attrs = serde_dynamo::to_item(state).map_err(|e| StoreError::Corrupt {
            key: format!("{}/{}", key.pk, key.sk),
            message: e.to_string(),
        })?;
        item.extend(key_attrs(key));
        item.insert(
            table::ENTITY.into(),
            AttributeValue::S(
                <crate::model::PrivacyRequestRecord as crate::model::Record>::KIND.into(),
            ),
        );
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":working", AttributeValue::S(status::IN_PROGRESS.into()));
        req = match condition {
            RequestCondition::Claimable {
                now,
                owner,
                lease_until,
            } => req
                .condition_expression(
                    "#st = :pending OR (#st = :working AND lease_until < :now) \
                     OR (#st = :working AND lease_owner = :owner AND lease_until = :until)",
                )
                .expression_attribute_values(":pending", AttributeValue::S(status::PENDING.into()))
                .expression_attribute_values(":now", AttributeValue::S(now.to_owned()))
                .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned()))
                .expression_attribute_values(":until", AttributeValue::S(lease_until.to_owned())),
            RequestCondition::HeldBy { owner } => req
                .condition_expression("#st = :working AND lease_owner = :owner")
                .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned())),
            RequestCondition::Awaiting => req
                .condition_expression("#st = :awaiting")
                .expression_attribute_values(
                    ":awaiting",
                    AttributeValue::S(status::AWAITING_CONFIRMATION.into()),
                ),
        };
        super::cas("PutItem", req.send().await)
    }

    /// Lifts the stop an uninstall notice put on the shop's sends, once the Admin API
    /// showed the notice forged: removes `uninstalled_at`, `redact_requested_at` and
    /// `uninstall_unconfirmed_at` from the installation record if it still has version `v` (`Lost` otherwise: re-read).
    pub async fn resume_sends(&self, shop: &str, v: u64) -> Result<Cas, StoreError> {
        let req = self
            .update_shop(shop)
            .update_expression(
                "REMOVE uninstalled_at, redact_requested_at, uninstall_unconfirmed_at SET v = :next",
            )
            .condition_expression("v = :v")
            .expression_attribute_values(":v", AttributeValue::N(v.to_string()))
            .expression_attribute_values(":next", AttributeValue::N((v + 1).to_string()));
        super::cas("UpdateItem", req.send().await)
    }

    /// Marks the shop uninstalled as of `at` (and, for a shop erasure, its erasure
    /// requested) where the installation record does not say so already, and the
    /// uninstall as no longer awaiting confirmation (due follow-ups are then cancelled):
    /// once the Admin API confirmed it, or could not tell, the uninstall stays in force,
    /// even if a forged notice's check lifted the stop meanwhile. Bumps the version, so a
    /// webhook writing the record concurrently re-reads.
    pub async fn confirm_uninstalled(
        &self,
        shop: &str,
        at: &str,
        redact: bool,
    ) -> Result<(), StoreError> {
        let mut set = String::from(
            "SET uninstalled_at = if_not_exists(uninstalled_at, :at), #entity = :kind, \
             v = if_not_exists(v, :zero) + :one",
        );
        if redact {
            set.push_str(", redact_requested_at = if_not_exists(redact_requested_at, :at)");
        }
        set.push_str(" REMOVE uninstall_unconfirmed_at");
        self.update_shop(shop)
            .update_expression(set)
            .expression_attribute_names("#entity", table::ENTITY)
            .expression_attribute_values(":at", AttributeValue::S(at.to_owned()))
            .expression_attribute_values(":kind", AttributeValue::S(ShopRecord::KIND.into()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await
            .map_err(|e| unavailable("UpdateItem", &e))?;
        Ok(())
    }

    /// Every item of partition `pk` (strongly consistent, all pages).
    pub async fn partition_items(&self, pk: &str) -> Result<Vec<Attrs>, StoreError> {
        self.client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", table::PK)
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| unavailable("Query", &e))
    }

    /// Deletes the items under `keys` (absent ones are no-ops) with BatchWriteItem, 25
    /// at a time, sending again what DynamoDB leaves unprocessed (throttling) with
    /// growing jittered pauses. Returns how many keys were deleted.
    pub async fn delete_keys(&self, keys: &[Key]) -> Result<usize, StoreError> {
        let mut unique: Vec<&Key> = keys.iter().collect();
        unique.sort();
        unique.dedup();
        for chunk in unique.chunks(BATCH_SIZE) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|k| {
                    DeleteRequest::builder()
                        .set_key(Some(key_attrs(k)))
                        .build()
                        .map(|d| WriteRequest::builder().delete_request(d).build())
                        .map_err(|e| unavailable("BatchWriteItem", &e))
                })
                .collect::<Result<_, _>>()?;
            let mut attempt = 0;
            while !requests.is_empty() {
                attempt += 1;
                if attempt > BATCH_ATTEMPTS {
                    return Err(StoreError::Unavailable {
                        operation: "BatchWriteItem",
                        message: format!(
                            "{} deletes still unprocessed after {BATCH_ATTEMPTS} attempts (throttled)",
                            requests.len()
                        ),
                    });
                }
                if attempt > 1 {
                    let cap = 25u64 << (attempt - 1).min(6);
                    tokio::time::sleep(Duration::from_millis(fastrand::u64(cap / 2..=cap))).await;
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(self.table.clone(), std::mem::take(&mut requests))
                    .send()
                    .await
                    .map_err(|e| unavailable("BatchWriteItem", &e))?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut left: HashMap<String, Vec<WriteRequest>>| {
                        left.remove(&self.table)
                    })
                    .unwrap_or_default();
            }
        }
        Ok(unique.len())
    }

    /// One page of a Scan for the items of `shop` (every item whose `pk` contains
    /// `#{shop}#`; only keys are read), starting after `start`. At most `limit` items
    /// are read per page.
    pub async fn scan_shop_page(
        &self,
        shop: &str,
        start: Option<&Key>,
        limit: i32,
    ) -> Result<ScanPage, StoreError> {
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .limit(limit)
            .set_exclusive_start_key(start.map(key_attrs))
            .filter_expression("contains(#pk, :segment)")
            .projection_expression("#pk, #sk")
            .expression_attribute_names("#pk", table::PK)
            .expression_attribute_names("#sk", table::SK)
            .expression_attribute_values(":segment", AttributeValue::S(format!("#{shop}#")))
            .send()
            .await
            .map_err(|e| unavailable("Scan", &e))?;
        Ok(ScanPage {
            keys: out.items().iter().filter_map(key_of).collect(),
            next: out.last_evaluated_key().and_then(key_of),
            scanned: out.scanned_count(),
        })
    }
}

/// The key of a stored item (or of a `LastEvaluatedKey`).
pub fn key_of(item: &Attrs) -> Option<Key> {
    Some(Key {
        pk: super::text(item, table::PK)?.to_owned(),
        sk: super::text(item, table::SK)?.to_owned(),
    })
}

/// A stored item as the privacy port hands it out ([`Item`]): every attribute as JSON.
pub fn item_of(attrs: &Attrs) -> Item {
    attrs
        .iter()
        .map(|(k, v)| (k.clone(), attribute_json(v)))
        .collect()
}

fn attribute_json(v: &AttributeValue) -> Value {
    match v {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => number_json(n),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::M(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), attribute_json(v)))
                .collect::<serde_json::Map<_, _>>(),
        ),
        AttributeValue::L(l) => Value::Array(l.iter().map(attribute_json).collect()),
        AttributeValue::Ss(l) => Value::Array(l.iter().cloned().map(Value::String).collect()),
        AttributeValue::Ns(l) => Value::Array(l.iter().map(|n| number_json(n)).collect()),
        AttributeValue::B(b) => Value::String(base64_of(b.as_ref())),
        AttributeValue::Bs(l) => Value::Array(
            l.iter()
                .map(|b| Value::String(base64_of(b.as_ref())))
                .collect(),
        ),
        _ => Value::Null,
    }
}

fn number_json(n: &str) -> Value {
    if let Ok(u) = n.parse::<u64>() {
        Value::from(u)
    } else if let Ok(i) = n.parse::<i64>() {
        Value::from(i)
    } else {
        // Fractions stay exact as text.
        Value::String(n.to_owned())
    }
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl PrivacyStore for DynamoStore {
    async fn privacy_requests_in<T: serde::de::DeserializeOwned + Send>(
        &self,
        shop: &str,
        statuses: &[&str],
    ) -> Result<Vec<(Key, Result<T, String>)>, StoreError> {
        let stored = DynamoStore::privacy_requests_in(self, shop, statuses).await?;
        Ok(stored
            .into_iter()
            .map(|(key, item)| {
                let state = serde_dynamo::from_item(item).map_err(|e| elide_quoted(&e.to_string()));
                (key, state)
            })
            .collect())
    }

    async fn put_privacy_request<T: serde::Serialize + Sync>(
        &self,
        key: &Key,
        state: &T,
        condition: RequestCondition<'_>,
    ) -> Result<Cas, StoreError> {
        DynamoStore::put_privacy_request(self, key, state, condition).await
    }

    async fn get_shop(&self, shop: &str) -> Result<Option<ShopRecord>, StoreError> {
        DynamoStore::get_shop(self, shop).await
    }

    async fn resume_sends(&self, shop: &str, v: u64) -> Result<Cas, StoreError> {
        DynamoStore::resume_sends(self, shop, v).await
    }

    async fn confirm_uninstalled(
        &self,
        shop: &str,
        at: &str,
        redact: bool,
    ) -> Result<(), StoreError> {
        DynamoStore::confirm_uninstalled(self, shop, at, redact).await
    }

    async fn partition_items(&self, pk: &str) -> Result<Vec<Item>, StoreError> {
        let items = DynamoStore::partition_items(self, pk).await?;
        Ok(items.iter().map(item_of).collect())
    }

    async fn delete_keys(&self, keys: &[Key]) -> Result<usize, StoreError> {
        DynamoStore::delete_keys(self, keys).await
    }

    async fn scan_shop_page(
        &self,
        shop: &str,
        start: Option<&Key>,
        limit: i32,
    ) -> Result<ScanPage, StoreError> {
        DynamoStore::scan_shop_page(self, shop, start, limit).await
    }

    async fn count_refusal(
        &self,
        shop: &str,
        kind: crate::domain::refusals::RefusalKind,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        crate::ports::store::Recorder::count_refusal(self, shop, kind, now).await
    }
}

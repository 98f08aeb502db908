//! DynamoDB operations of the reputation brake (`model::reputation`,
//! `domain::reputation`):
//! - the dispatcher's `ADD sent 1` on `SHOP#{shop}#REPUTATION` / `{day}#sent` after SES
//!   accepted an email;
//! - mail-events' `ADD bounced|complained 1` on `SHOP#{shop}#REPUTATION` / `{day}#events`,
//!   an item of the event's transaction ([`DynamoStore::reputation_event_item`]);
//! - one Query over the window's day items;
//! - the shop item's `reputation` state, written conditioned on its version `v`.

use super::{table, unavailable, DynamoStore, StoreError};
use crate::domain::mail_events::Plan;
use crate::domain::reputation::{counter_of, day_of};
use crate::model::reputation::{
    days_pk, events_key, sent_key, ReputationDay, ReputationState, RETENTION_DAYS,
};
use crate::model::{keys, Record, ShopRecord};
use crate::ports::store::Cas;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

/// The expiry of a day item: [`RETENTION_DAYS`] after `at`.
fn expiry(at: DateTime<Utc>) -> AttributeValue {
    AttributeValue::N((at.timestamp() + RETENTION_DAYS * 86_400).to_string())
}

impl DynamoStore {
    /// Counts `sent` emails SES accepted for `shop`, on the UTC day of `now`.
    pub async fn count_sent(
        &self,
        shop: &str,
        now: DateTime<Utc>,
        sent: u64,
    ) -> Result<(), StoreError> {
        let day = day_of(now);
        self.update_item(&sent_key(shop, &day))
            .update_expression(
                "ADD sent :one SET #day = :day, #entity = :entity, #ttl = if_not_exists(#ttl, :exp)",
            )
            .expression_attribute_names("#day", "day")
            .expression_attribute_names("#entity", table::ENTITY)
            .expression_attribute_names("#ttl", table::TTL_ATTRIBUTE)
            .expression_attribute_values(":one", AttributeValue::N(sent.to_string()))
            .expression_attribute_values(":day", AttributeValue::S(day))
            .expression_attribute_values(":entity", AttributeValue::S(ReputationDay::KIND.into()))
            .expression_attribute_values(":exp", expiry(now))
            .send()
            .await
            .map_err(|e| unavailable("UpdateItem", &e))?;
        Ok(())
    }

    /// The transaction item counting `plan`'s event (a permanent bounce or a complaint
    /// of follow-up mail) on the UTC day SES reports for it; `None` for other events.
    pub(super) fn reputation_event_item(
        &self,
        plan: &Plan,
    ) -> Result<Option<TransactWriteItem>, StoreError> {
        let Some(counter) = counter_of(plan) else {
            return Ok(None);
        };
        let at = crate::model::time::parse_time(&plan.at)
            .map(|t| t.to_utc())
            .unwrap_or_else(Utc::now);
        let day = day_of(at);
        let u = Update::builder()
            .table_name(&self.table)
            .set_key(Some(super::key_attrs(&events_key(&plan.shop, &day))))
            .update_expression(
                "ADD #n :one SET #day = :day, #entity = :entity, #ttl = if_not_exists(#ttl, :exp)",
            )
            .expression_attribute_names("#n", counter)
            .expression_attribute_names("#day", "day")
            .expression_attribute_names("#entity", table::ENTITY)
            .expression_attribute_names("#ttl", table::TTL_ATTRIBUTE)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":day", AttributeValue::S(day))
            .expression_attribute_values(":entity", AttributeValue::S(ReputationDay::KIND.into()))
            .expression_attribute_values(":exp", expiry(at))
            .build()
            .map_err(|e| unavailable("TransactWriteItems", &e))?;
        Ok(Some(TransactWriteItem::builder().update(u).build()))
    }

    /// The shop's day items from `first_day` to `last_day` (`YYYY-MM-DD`), both kinds:
    /// one Query (a window is at most 60 small items, one page).
    pub async fn reputation_days(
        &self,
        shop: &str,
        first_day: &str,
        last_day: &str,
    ) -> Result<Vec<ReputationDay>, StoreError> {
        let pk = days_pk(shop);
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                .expression_attribute_values(":from", AttributeValue::S(first_day.to_owned()))
                // `~` sorts after `#events` and `#sent`.
                .expression_attribute_values(":to", AttributeValue::S(format!("{last_day}~")))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| unavailable("Query", &e))?;
            for item in page.items() {
                out.push(super::decode_item(item.clone(), &pk)?);
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(out),
            }
        }
    }

    /// The shop item's version (`None` if there is no shop item yet) and its
    /// reputation state.
    pub async fn shop_reputation(
        &self,
        shop: &str,
    ) -> Result<(Option<u64>, Option<ReputationState>), StoreError> {
        let rec: Option<ShopRecord> = self.get(&keys::shop(shop)).await?;
        Ok(match rec {
            Some(r) => (Some(r.v), r.reputation),
            None => (None, None),
        })
    }

    /// Writes the shop's reputation state if its item is still at version `expected`
    /// (`None`: no item yet), bumping the version so a webhook writing the item
    /// concurrently re-reads. `Lost` when someone else wrote first.
    pub async fn save_reputation(
        &self,
        shop: &str,
        state: &ReputationState,
        expected: Option<u64>,
    ) -> Result<Cas, StoreError> {
        let value: AttributeValue =
            serde_dynamo::to_attribute_value(state).map_err(|e| StoreError::Corrupt {
                key: keys::shop(shop).pk,
                message: e.to_string(),
            })?;
        let mut req = self
            .update_shop(shop)
            .update_expression(
                "SET reputation = :state, #entity = :kind, v = if_not_exists(v, :zero) + :one",
            )
            .expression_attribute_names("#entity", table::ENTITY)
            .expression_attribute_values(":state", value)
            .expression_attribute_values(":kind", AttributeValue::S(ShopRecord::KIND.into()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()));
        req = match expected {
            None => req.condition_expression("attribute_not_exists(pk)"),
            Some(v) => req
                .condition_expression("v = :v")
                .expression_attribute_values(":v", AttributeValue::N(v.to_string())),
        };
        super::cas("UpdateItem", req.send().await)
    }
}

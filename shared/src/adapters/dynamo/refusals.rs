//! DynamoDB operations for the per-shop, per-day count of refused signed deliveries
//! (`SHOP#{shop}` / `REFUSED#{day}`): one atomic `ADD` per refusal, and the "merchant
//! told today" flag the dispatcher takes before it sends the daily alert.

use super::{table, unavailable, DynamoStore, StoreError};
use crate::domain::refusals::{RefusalKind, RefusalsRecord, RETENTION_DAYS};
use crate::model::{keys, Record};
use crate::ports::store::Cas;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

impl DynamoStore {
    /// Counts one refusal of `kind` for `shop` on the UTC day of `now`: `total` and the
    /// kind's own counter go up by one, atomically, whatever else counts at the same time.
    pub async fn count_refusal(
        &self,
        shop: &str,
        kind: RefusalKind,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let day = crate::domain::refusals::day_of(now);
        let at = crate::model::time::utc_key(&now);
        let expires = now.timestamp() + i64::from(RETENTION_DAYS) * 86_400;
        self.update_item(&keys::refusals(shop, &day))
            .update_expression(
                "ADD #total :one, #n :one \
                 SET #day = :day, first_at = if_not_exists(first_at, :at), last_at = :at, \
                 #entity = :entity, #ttl = if_not_exists(#ttl, :exp)",
            )
            .expression_attribute_names("#total", "total")
            .expression_attribute_names("#n", kind.counter())
            .expression_attribute_names("#day", "day")
            .expression_attribute_names("#entity", table::ENTITY)
            .expression_attribute_names("#ttl", table::TTL_ATTRIBUTE)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":day", AttributeValue::S(day))
            .expression_attribute_values(":at", AttributeValue::S(at))
            .expression_attribute_values(":entity", AttributeValue::S(RefusalsRecord::KIND.into()))
            .expression_attribute_values(":exp", AttributeValue::N(expires.to_string()))
            .send()
            .await
            .map_err(|e| unavailable("UpdateItem", &e))?;
        Ok(())
    }

    /// The shop's refusal counts of `since_day` (`YYYY-MM-DD`) and later, oldest first.
    pub async fn refusals_since(
        &self,
        shop: &str,
        since_day: &str,
    ) -> Result<Vec<RefusalsRecord>, StoreError> {
        let first = keys::refusals(shop, since_day);
        // `~` sorts after every digit, so the range holds every later day.
        let last = keys::refusals(shop, "~");
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", AttributeValue::S(first.pk.clone()))
                .expression_attribute_values(":from", AttributeValue::S(first.sk.clone()))
                .expression_attribute_values(":to", AttributeValue::S(last.sk.clone()))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| unavailable("Query", &e))?;
            for item in page.items() {
                let rec: RefusalsRecord =
                    serde_dynamo::from_item(item.clone()).map_err(|e| StoreError::Corrupt {
                        key: format!("{}/{}", first.pk, text(item.get(table::SK))),
                        message: e.to_string(),
                    })?;
                out.push(rec);
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(out),
            }
        }
    }

    /// Takes the right to alert the merchant about `day`'s refusals: `Done` for exactly
    /// one caller, until [`DynamoStore::release_refusal_alert`].
    pub async fn claim_refusal_alert(
        &self,
        shop: &str,
        day: &str,
        now: &str,
    ) -> Result<Cas, StoreError> {
        self.alert_mark(
            shop,
            day,
            "SET alerted_at = :t",
            "attribute_exists(pk) AND attribute_not_exists(alerted_at)",
            now,
        )
        .await
    }

    /// Gives the claim made at `at` back after the alert could not be sent.
    pub async fn release_refusal_alert(
        &self,
        shop: &str,
        day: &str,
        at: &str,
    ) -> Result<Cas, StoreError> {
        self.alert_mark(shop, day, "REMOVE alerted_at", "alerted_at = :t", at)
            .await
    }

    /// One conditional change of the day's `alerted_at`, with `:t` bound to `t`.
    async fn alert_mark(
        &self,
        shop: &str,
        day: &str,
        update: &str,
        condition: &str,
        t: &str,
    ) -> Result<Cas, StoreError> {
        let req = self
            .update_item(&keys::refusals(shop, day))
            .update_expression(update)
            .condition_expression(condition)
            .expression_attribute_values(":t", AttributeValue::S(t.to_owned()));
        super::cas("UpdateItem", req.send().await)
    }
}

fn text(v: Option<&AttributeValue>) -> &str {
    match v {
        Some(AttributeValue::S(s)) => s,
        _ => "",
    }
}

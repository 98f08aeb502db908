//! DynamoDB operations of the `links` function: ratings, clicks, unsubscribes and the
//! recovery follow-up a low rating plans.
//!
//! Ratings are one item per follow-up, written with a version condition (create if
//! absent, else update the version read), so two clicks at once still leave one item.
//! Clicks are counted with `ADD` on the follow-up's tracking attributes, never touching
//! its version, so they cannot disturb a dispatcher's claim.

use super::{key_attrs, table, Attrs, DynamoStore, StoreError};
use crate::model::report::{Counter, Scope, Tally};
use crate::model::{
    keys, FeedbackRecord, FollowUpRecord, Key, ReasonTallyRecord, Record, ReturnReason,
    SuppressionRecord,
};
use crate::ports::links::LinkStore;
use crate::ports::store::Cas;
use aws_sdk_dynamodb::types::AttributeValue;

pub use crate::ports::links::SELF_SERVICE_REASON;

impl DynamoStore {
    /// The feedback item of a follow-up (strongly consistent).
    pub async fn get_feedback(
        &self,
        shop: &str,
        customer_key: &str,
        followup: &str,
    ) -> Result<Option<FeedbackRecord>, StoreError> {
        self.get(&keys::feedback(shop, customer_key, followup))
            .await
    }

    /// The follow-up a link names (strongly consistent).
    pub async fn get_followup(
        &self,
        shop: &str,
        customer_key: &str,
        id: &str,
    ) -> Result<Option<FollowUpRecord>, StoreError> {
        self.get(&keys::followup(shop, customer_key, id)).await
    }

    /// Writes `next` if the stored feedback still has version `expected` (`None`: if
    /// there is none yet).
    pub async fn save_feedback(
        &self,
        shop: &str,
        customer_key: &str,
        next: &FeedbackRecord,
        expected: Option<u64>,
    ) -> Result<Cas, StoreError> {
        let key = keys::feedback(shop, customer_key, &next.followup);
        self.put_versioned(&key, next, expected).await
    }

    /// The tally of one product's returns that gave `reason` (strongly consistent).
    pub async fn get_reason_tally(
        &self,
        shop: &str,
        product_id: u64,
        reason: ReturnReason,
    ) -> Result<Option<ReasonTallyRecord>, StoreError> {
        self.get(&keys::reason_tally(shop, product_id, reason))
            .await
    }

    /// Writes a tally if it still has version `expected` (`None`: if there is none yet).
    pub async fn save_reason_tally(
        &self,
        shop: &str,
        reason: ReturnReason,
        next: &ReasonTallyRecord,
        expected: Option<u64>,
    ) -> Result<Cas, StoreError> {
        let key = keys::reason_tally(shop, next.product_id, reason);
        self.put_versioned(&key, next, expected).await
    }

    /// Feedback items of the `SETTLE#n` partitions `shards` of the due index due at or
    /// before `now_key`, earliest first.
    pub async fn due_feedback(
        &self,
        shards: &[String],
        now_key: &str,
        limit: i32,
    ) -> Result<Vec<FeedbackRecord>, StoreError> {
        self.due_items(shards, now_key, limit).await
    }

    /// Counts a click on a link of the follow-up and keeps the first click's time. A
    /// follow-up that no longer exists (erased) is left alone.
    pub async fn record_click(&self, key: &Key, now_key: &str) -> Result<Cas, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .update_expression(
                "SET clicked_at = if_not_exists(clicked_at, :now), last_clicked_at = :now \
                 ADD clicks :one",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", AttributeValue::S(now_key.to_owned()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedOld)
            .send()
            .await;
        // The follow-up's first click is counted for the report (UPDATED_OLD holds
        // `clicked_at` when it was set before).
        let first = out
            .as_ref()
            .is_ok_and(|o| o.attributes().is_none_or(|a| !a.contains_key("clicked_at")));
        let cas = super::cas("UpdateItem", out)?;
        let playbook = key
            .sk
            .strip_prefix("FOLLOWUP#")
            .and_then(crate::domain::report::playbook_of);
        if let (Cas::Done, true, Some(p), Some(shop)) = (cas, first, playbook, shop_of(key)) {
            let day = crate::domain::report::day(now_key);
            let tally = Tally::new(day, Scope::Playbook(p)).one(Counter::Clicked);
            self.add_tallies(shop, vec![tally]).await;
        }
        Ok(cas)
    }

    /// Suppresses an address for the shop. An existing suppression is kept as it is (a
    /// bounce or complaint must not turn into a liftable unsubscribe).
    pub async fn suppress(&self, shop: &str, record: &SuppressionRecord) -> Result<(), StoreError> {
        let key = keys::suppression(shop, &record.email_hash);
        let req = self
            .put_record(&key, record)?
            .condition_expression("attribute_not_exists(pk)");
        match super::cas("PutItem", req.send().await)? {
            // A new unsubscribe: counted for the report, shop-wide.
            Cas::Done => {
                let day = crate::domain::report::day(&record.at);
                let tally = Tally::new(day, Scope::Shop)
                    .one(Counter::Unsubscribed)
                    .one(Counter::Suppressed);
                self.add_tallies(shop, vec![tally]).await;
                Ok(())
            }
            Cas::Lost => Ok(()),
        }
    }

    /// Lifts a suppression the customer made themselves (`unsubscribed`); others stay.
    /// `Lost` when there was nothing to lift.
    pub async fn unsuppress_self_service(
        &self,
        shop: &str,
        email_hash: &str,
    ) -> Result<Cas, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(&keys::suppression(shop, email_hash))))
            .condition_expression("reason = :reason")
            .expression_attribute_values(":reason", AttributeValue::S(SELF_SERVICE_REASON.into()))
            .send()
            .await;
        super::cas("DeleteItem", out)
    }

    /// Creates a follow-up unless one with its id exists (plans are made once).
    pub async fn create_followup(&self, f: &FollowUpRecord) -> Result<Cas, StoreError> {
        let req = self
            .put_record(&f.key(), f)?
            .condition_expression("attribute_not_exists(pk)");
        super::cas("PutItem", req.send().await)
    }

    /// Puts `record` at `key` if the stored one still has version `expected` (`None`: if
    /// there is none yet); `Lost` otherwise.
    async fn put_versioned<T: Record>(
        &self,
        key: &Key,
        record: &T,
        expected: Option<u64>,
    ) -> Result<Cas, StoreError> {
        let req = self.put_record(key, record)?;
        let req = match expected {
            None => req.condition_expression("attribute_not_exists(pk)"),
            Some(v) => req
                .condition_expression("v = :expected")
                .expression_attribute_values(":expected", AttributeValue::N(v.to_string())),
        };
        super::cas("PutItem", req.send().await)
    }

    fn put_record<T: Record>(
        &self,
        key: &Key,
        record: &T,
    ) -> Result<aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder, StoreError>
    {
        let mut item: Attrs = serde_dynamo::to_item(record).map_err(|e| StoreError::Corrupt {
            key: format!("{}/{}", key.pk, key.sk),
            message: e.to_string(),
        })?;
        item.extend(key_attrs(key));
        item.insert(table::ENTITY.into(), AttributeValue::S(T::KIND.into()));
        Ok(self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item)))
    }
}

/// The links app's port, over the methods above (`get_followup`, `get_feedback` and
/// `create_followup` belong to [`crate::ports::dispatch::FollowUpStore`], in `dispatch.rs`).
impl LinkStore for DynamoStore {
    async fn save_feedback(
        &self,
        shop: &str,
        customer_key: &str,
        next: &FeedbackRecord,
        expected: Option<u64>,
    ) -> Result<Cas, StoreError> {
        DynamoStore::save_feedback(self, shop, customer_key, next, expected).await
    }

    async fn due_feedback(
        &self,
        shards: &[String],
        now_key: &str,
        limit: i32,
    ) -> Result<Vec<FeedbackRecord>, StoreError> {
        DynamoStore::due_feedback(self, shards, now_key, limit).await
    }

    async fn record_click(&self, key: &Key, now_key: &str) -> Result<Cas, StoreError> {
        DynamoStore::record_click(self, key, now_key).await
    }

    async fn suppress(&self, shop: &str, record: &SuppressionRecord) -> Result<(), StoreError> {
        DynamoStore::suppress(self, shop, record).await
    }

    async fn unsuppress_self_service(
        &self,
        shop: &str,
        email_hash: &str,
    ) -> Result<Cas, StoreError> {
        DynamoStore::unsuppress_self_service(self, shop, email_hash).await
    }

    async fn get_reason_tally(
        &self,
        shop: &str,
        product_id: u64,
        reason: ReturnReason,
    ) -> Result<Option<ReasonTallyRecord>, StoreError> {
        DynamoStore::get_reason_tally(self, shop, product_id, reason).await
    }

    async fn save_reason_tally(
        &self,
        shop: &str,
        reason: ReturnReason,
        next: &ReasonTallyRecord,
        expected: Option<u64>,
    ) -> Result<Cas, StoreError> {
        DynamoStore::save_reason_tally(self, shop, reason, next, expected).await
    }
}

/// The shop of a customer-partition key (`SHOP#{shop}#CUSTOMER#{key}`).
fn shop_of(key: &Key) -> Option<&str> {
    let rest = key.pk.strip_prefix("SHOP#")?;
    rest.split_once("#CUSTOMER#").map(|(shop, _)| shop)
}

//! DynamoDB operations for discount codes: the code chosen for a follow-up is recorded
//! before the store is asked to create it (so a retried dispatch reuses it), then marked
//! created or failed; and the shop's "merchant told about a refused Admin API token" flag.
//!
//! Every write is conditional: a reservation only if none exists, a state change only on
//! the version read, the alert flag only if not already set.

use super::{key_attrs, table, Attrs, DynamoStore, StoreError};
use crate::model::{keys, DiscountRecord, DiscountStatus, Record, ShopRecord};
use crate::ports::store::Cas;
use aws_sdk_dynamodb::types::AttributeValue;

impl DynamoStore {
    /// The code recorded for follow-up `followup` of a customer, if any.
    pub async fn get_discount(
        &self,
        shop: &str,
        customer_key: &str,
        followup: &str,
    ) -> Result<Option<DiscountRecord>, StoreError> {
        self.get(&keys::discount(shop, customer_key, followup))
            .await
    }

    /// Records `rec` (version 1, `Reserved`) unless the follow-up already has a code:
    /// `Lost` means one exists (read it and use that one).
    pub async fn reserve_discount(
        &self,
        shop: &str,
        customer_key: &str,
        rec: &DiscountRecord,
    ) -> Result<Cas, StoreError> {
        let req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(discount_item(shop, customer_key, rec)?))
            .condition_expression("attribute_not_exists(pk)");
        super::cas("PutItem", req.send().await)
    }

    /// Writes `next` if the stored record still has version `expected`. Also accepts the
    /// exact write already applied (same version, status and code), so an SDK retry of a
    /// timed-out attempt that did land succeeds.
    pub async fn save_discount(
        &self,
        shop: &str,
        customer_key: &str,
        next: &DiscountRecord,
        expected: u64,
    ) -> Result<Cas, StoreError> {
        let status = serde_json::to_value(next.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(discount_item(shop, customer_key, next)?))
            .condition_expression("v = :v OR (v = :next AND #st = :status AND code = :code)")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":v", AttributeValue::N(expected.to_string()))
            .expression_attribute_values(":next", AttributeValue::N(next.v.to_string()))
            .expression_attribute_values(":status", AttributeValue::S(status))
            .expression_attribute_values(":code", AttributeValue::S(next.code.clone()));
        super::cas("PutItem", req.send().await)
    }

    /// `rec` as created in the store (`discount_id` as Shopify returned it).
    pub async fn mark_discount_created(
        &self,
        shop: &str,
        customer_key: &str,
        rec: &DiscountRecord,
        discount_id: Option<String>,
        now: &str,
    ) -> Result<(DiscountRecord, Cas), StoreError> {
        let mut next = rec.clone();
        next.v = rec.v + 1;
        next.status = DiscountStatus::Created;
        next.created_at = Some(now.to_owned());
        next.discount_id = discount_id;
        next.reason = None;
        let cas = self.save_discount(shop, customer_key, &next, rec.v).await?;
        Ok((next, cas))
    }

    /// `rec` refused by the store for good (`reason` carries no personal data).
    pub async fn mark_discount_failed(
        &self,
        shop: &str,
        customer_key: &str,
        rec: &DiscountRecord,
        reason: &str,
    ) -> Result<(DiscountRecord, Cas), StoreError> {
        let mut next = rec.clone();
        next.v = rec.v + 1;
        next.status = DiscountStatus::Failed;
        next.reason = Some(reason.to_owned());
        let cas = self.save_discount(shop, customer_key, &next, rec.v).await?;
        Ok((next, cas))
    }

    /// Takes the right to tell the merchant their Admin API token was refused: `Done`
    /// for exactly one caller until [`DynamoStore::release_admin_alert`] or
    /// [`DynamoStore::clear_admin_alert`]. Creates the shop item if it does not exist
    /// and bumps its version, so a webhook writing it concurrently re-reads.
    pub async fn claim_admin_alert(&self, shop: &str, now: &str) -> Result<Cas, StoreError> {
        let req = self
            .update_shop(shop)
            .update_expression(
                "SET admin_auth_alerted_at = :now, #entity = :kind, v = if_not_exists(v, :zero) + :one",
            )
            .condition_expression("attribute_not_exists(admin_auth_alerted_at)")
            .expression_attribute_names("#entity", table::ENTITY)
            .expression_attribute_values(":now", AttributeValue::S(now.to_owned()))
            .expression_attribute_values(":kind", AttributeValue::S(ShopRecord::KIND.into()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()));
        super::cas("UpdateItem", req.send().await)
    }

    /// Gives the alert back after the alert email could not be sent (only the claim
    /// made at `at`), so the next refused call tries again.
    pub async fn release_admin_alert(&self, shop: &str, at: &str) -> Result<Cas, StoreError> {
        let req = self
            .update_shop(shop)
            .update_expression("REMOVE admin_auth_alerted_at SET v = v + :one")
            .condition_expression("admin_auth_alerted_at = :at")
            .expression_attribute_values(":at", AttributeValue::S(at.to_owned()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()));
        super::cas("UpdateItem", req.send().await)
    }

    /// Clears the flag once the token works again (a code was created), so a later
    /// refusal alerts the merchant again. `Lost` when it was not set (the usual case).
    pub async fn clear_admin_alert(&self, shop: &str) -> Result<Cas, StoreError> {
        let req = self
            .update_shop(shop)
            .update_expression("REMOVE admin_auth_alerted_at SET v = v + :one")
            .condition_expression("attribute_exists(admin_auth_alerted_at)")
            .expression_attribute_values(":one", AttributeValue::N("1".into()));
        super::cas("UpdateItem", req.send().await)
    }
}

fn discount_item(
    shop: &str,
    customer_key: &str,
    rec: &DiscountRecord,
) -> Result<Attrs, StoreError> {
    let key = keys::discount(shop, customer_key, &rec.followup);
    let mut item: Attrs = serde_dynamo::to_item(rec).map_err(|e| StoreError::Corrupt {
        key: format!("{}/{}", key.pk, key.sk),
        message: e.to_string(),
    })?;
    item.extend(key_attrs(&key));
    item.insert(
        table::ENTITY.into(),
        AttributeValue::S(DiscountRecord::KIND.into()),
    );
    Ok(item)
}

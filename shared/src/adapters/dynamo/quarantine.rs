//! Quarantined deliveries (`QUARANTINE#{webhook id}` in the partition of what they are
//! about): listed and removed by `aftercart replay`. Listing is a Scan: an operator's
//! command after a fix, never on a hot path.

use super::{decode_item, key_attrs, table, unavailable, DynamoStore, StoreError};
use crate::model::{keys, Key, QuarantineRecord};
use aws_sdk_dynamodb::types::AttributeValue;

impl DynamoStore {
    /// Every quarantined delivery of `shop`, oldest first.
    pub async fn quarantined(
        &self,
        shop: &str,
    ) -> Result<Vec<(Key, QuarantineRecord)>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .filter_expression("begins_with(#sk, :prefix) AND #shop = :shop")
                .expression_attribute_names("#sk", table::SK)
                .expression_attribute_names("#shop", "shop")
                .expression_attribute_values(
                    ":prefix",
                    AttributeValue::S(keys::QUARANTINE_PREFIX.into()),
                )
                .expression_attribute_values(":shop", AttributeValue::S(shop.to_owned()))
                .send()
                .await
                .map_err(|e| unavailable("Scan", &e))?;
            for item in page.items() {
                let Some(key) = super::privacy::key_of(item) else {
                    continue;
                };
                let record: QuarantineRecord = decode_item(item.clone(), "quarantined delivery")?;
                out.push((key, record));
            }
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        out.sort_by(|a, b| a.1.received_at.cmp(&b.1.received_at));
        Ok(out)
    }

    /// Removes a quarantined delivery once it is recorded.
    pub async fn release_quarantined(&self, key: &Key) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .send()
            .await
            .map_err(|e| unavailable("DeleteItem", &e))?;
        Ok(())
    }
}

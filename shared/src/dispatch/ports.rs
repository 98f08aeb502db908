//! The ports the dispatcher's state machine runs over: its follow-up store, the discount
//! codes' store and the Shopify Admin API. DynamoDB ([`DynamoStore`]) and the Admin
//! GraphQL client ([`AdminClient`]) implement them by delegating to their own methods;
//! the in-memory doubles in `dispatch::memory` implement them for the unit tests.
//!
//! Every write that can lose a race returns [`Cas`]: `Lost` when the condition (the
//! version read, a lease that ended, a free send slot …) no longer holds.

use crate::admin::graphql::{FoundDiscount, NewDiscount};
use crate::admin::{AdminClient, AdminError};
use crate::model::SuppressionRecord;
use crate::model::{DiscountRecord, FollowUpRecord, OrderRecord, ProfileRecord, ShopRecord};
use crate::store::dispatch::Cas;
use crate::store::{DynamoStore, StoreError};
use std::future::Future;

/// Follow-ups, and what the guards and the frequency cap read and write around them.
pub trait FollowUpStore: Send + Sync {
    /// Follow-ups of one due-index shard due at or before `now_key`, earliest first.
    fn due(
        &self,
        shard: &str,
        now_key: &str,
        limit: i32,
    ) -> impl Future<Output = Result<Vec<FollowUpRecord>, StoreError>> + Send;

    /// Writes `next` if the stored follow-up still has version `expected` and, for a
    /// claim, is still claimable at `claimable_at` (pending, or a lease that ended).
    /// Also accepts the exact write already applied (same version and lease owner).
    fn save_followup(
        &self,
        next: &FollowUpRecord,
        expected: u64,
        claimable_at: Option<&str>,
    ) -> impl Future<Output = Result<Cas, StoreError>> + Send;

    fn get_order(
        &self,
        shop: &str,
        order_id: u64,
    ) -> impl Future<Output = Result<Option<OrderRecord>, StoreError>> + Send;

    fn get_profile(
        &self,
        shop: &str,
        customer_key: &str,
    ) -> impl Future<Output = Result<Option<ProfileRecord>, StoreError>> + Send;

    fn get_shop(
        &self,
        shop: &str,
    ) -> impl Future<Output = Result<Option<ShopRecord>, StoreError>> + Send;

    fn get_suppression(
        &self,
        shop: &str,
        email_hash: &str,
    ) -> impl Future<Output = Result<Option<SuppressionRecord>, StoreError>> + Send;

    /// Takes the customer's send slot at `now` for follow-up `by` unless another
    /// follow-up took it after `cap_start` (the frequency cap).
    fn reserve_send_slot(
        &self,
        shop: &str,
        customer_key: &str,
        by: &str,
        now: &str,
        cap_start: &str,
    ) -> impl Future<Output = Result<Cas, StoreError>> + Send;

    /// Gives back the slot `by` took at `reserved`, restoring the previous holder.
    fn release_send_slot(
        &self,
        shop: &str,
        customer_key: &str,
        by: &str,
        reserved: &str,
        previous_at: Option<&str>,
        previous_by: Option<&str>,
    ) -> impl Future<Output = Result<Cas, StoreError>> + Send;
}

/// Discount-code records (reserved before the store is asked to create the code), and
/// the shop's "merchant told about a refused Admin API token" mark.
pub trait DiscountStore: Send + Sync {
    fn get_discount(
        &self,
        shop: &str,
        customer_key: &str,
        followup: &str,
    ) -> impl Future<Output = Result<Option<DiscountRecord>, StoreError>> + Send;

    /// Records `rec` unless the follow-up already has a code (`Lost`).
    fn reserve_discount(
        &self,
        shop: &str,
        customer_key: &str,
        rec: &DiscountRecord,
    ) -> impl Future<Output = Result<Cas, StoreError>> + Send;

    /// Writes `next` if the stored record still has version `expected`.
    fn save_discount(
        &self,
        shop: &str,
        customer_key: &str,
        next: &DiscountRecord,
        expected: u64,
    ) -> impl Future<Output = Result<Cas, StoreError>> + Send;

    fn mark_discount_created(
        &self,
        shop: &str,
        customer_key: &str,
        rec: &DiscountRecord,
        discount_id: Option<String>,
        now: &str,
    ) -> impl Future<Output = Result<(DiscountRecord, Cas), StoreError>> + Send;

    fn mark_discount_failed(
        &self,
        shop: &str,
        customer_key: &str,
        rec: &DiscountRecord,
        reason: &str,
    ) -> impl Future<Output = Result<(DiscountRecord, Cas), StoreError>> + Send;

    /// Takes the right to alert the merchant about a refused token (`Done` once).
    fn claim_admin_alert(
        &self,
        shop: &str,
        now: &str,
    ) -> impl Future<Output = Result<Cas, StoreError>> + Send;

    /// Gives back the claim made at `at` (the alert could not be sent).
    fn release_admin_alert(
        &self,
        shop: &str,
        at: &str,
    ) -> impl Future<Output = Result<Cas, StoreError>> + Send;

    /// Clears the mark once the token works again.
    fn clear_admin_alert(&self, shop: &str)
        -> impl Future<Output = Result<Cas, StoreError>> + Send;
}

/// The store's Admin API, as far as discount codes need it: create one, find one by code
/// (to tell our own earlier attempt from someone else's). [`crate::admin::issue`] drives
/// these exactly once per follow-up; [`crate::admin::alert_merchant`] reports a refused
/// token to the merchant through the mailer and [`DiscountStore::claim_admin_alert`].
pub trait StoreAdmin: Send + Sync {
    /// Creates `d` in `shop`: the discount's id and the code the store echoed.
    fn create_discount(
        &self,
        shop: &str,
        d: &NewDiscount,
    ) -> impl Future<Output = Result<(String, Option<String>), AdminError>> + Send;

    /// The discount `code` belongs to in `shop`, if any.
    fn find_by_code(
        &self,
        shop: &str,
        code: &str,
    ) -> impl Future<Output = Result<Option<FoundDiscount>, AdminError>> + Send;
}

impl FollowUpStore for DynamoStore {
    async fn due(
        &self,
        shard: &str,
        now_key: &str,
        limit: i32,
    ) -> Result<Vec<FollowUpRecord>, StoreError> {
        DynamoStore::due(self, shard, now_key, limit).await
    }
    async fn save_followup(
        &self,
        next: &FollowUpRecord,
        expected: u64,
        claimable_at: Option<&str>,
    ) -> Result<Cas, StoreError> {
        DynamoStore::save_followup(self, next, expected, claimable_at).await
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

impl StoreAdmin for AdminClient {
    async fn create_discount(
        &self,
        shop: &str,
        d: &NewDiscount,
    ) -> Result<(String, Option<String>), AdminError> {
        AdminClient::create_discount(self, shop, d).await
    }
    async fn find_by_code(
        &self,
        shop: &str,
        code: &str,
    ) -> Result<Option<FoundDiscount>, AdminError> {
        AdminClient::find_by_code(self, shop, code).await
    }
}

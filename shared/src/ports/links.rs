//! What the `links` function reads and writes: the follow-up a link names, its rating
//! and comment, click counts, suppressions (unsubscribe, resubscribe) and the recovery
//! follow-up a low rating plans; and what the dispatcher needs to settle ratings
//! (`apps::feedback`).

use super::dispatch::FollowUpStore;
use super::store::{Cas, StoreError};
use crate::model::{FeedbackRecord, Key, ReasonTallyRecord, ReturnReason, SuppressionRecord};
use std::future::Future;

/// Suppression reasons a customer may lift by resubscribing. Bounces and complaints
/// stay: the address does not work, or its owner marked us as spam.
pub const SELF_SERVICE_REASON: &str = "unsubscribed";

/// Over the dispatcher's follow-up port ([`FollowUpStore`]: the follow-up, feedback,
/// order, profile and suppression reads, the version-conditioned follow-up write and
/// the create-if-absent), what only the links app does.
pub trait LinkStore: FollowUpStore {
    /// Writes `next` if the stored feedback still has version `expected` (`None`: if
    /// there is none yet).
    fn save_feedback(
        &self,
        shop: &str,
        customer_key: &str,
        next: &FeedbackRecord,
        expected: Option<u64>,
    ) -> impl Future<Output = Result<Cas, StoreError>> + Send;

    /// Feedback items of the `SETTLE#n` partitions `shards` of the due index due at or
    /// before `now_key`, earliest first (at most `limit` from each), as they are now.
    fn due_feedback(
        &self,
        shards: &[String],
        now_key: &str,
        limit: i32,
    ) -> impl Future<Output = Result<Vec<FeedbackRecord>, StoreError>> + Send;

    /// Counts a click on the follow-up at `key` (the first click's time kept); `Lost`
    /// when the follow-up no longer exists.
    fn record_click(
        &self,
        key: &Key,
        now_key: &str,
    ) -> impl Future<Output = Result<Cas, StoreError>> + Send;

    /// Suppresses an address for the shop; an existing suppression is kept as it is.
    fn suppress(
        &self,
        shop: &str,
        record: &SuppressionRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Lifts a suppression the customer made themselves; `Lost` when there was none.
    fn unsuppress_self_service(
        &self,
        shop: &str,
        email_hash: &str,
    ) -> impl Future<Output = Result<Cas, StoreError>> + Send;

    /// The tally of one product's returns that gave `reason` (strongly consistent).
    fn get_reason_tally(
        &self,
        shop: &str,
        product_id: u64,
        reason: ReturnReason,
    ) -> impl Future<Output = Result<Option<ReasonTallyRecord>, StoreError>> + Send;

    /// Writes `next` (of `reason`) if the stored tally still has version `expected`
    /// (`None`: if there is none yet).
    fn save_reason_tally(
        &self,
        shop: &str,
        reason: ReturnReason,
        next: &ReasonTallyRecord,
        expected: Option<u64>,
    ) -> impl Future<Output = Result<Cas, StoreError>> + Send;
}

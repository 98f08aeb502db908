//! What the `links` function reads and writes: the follow-up a link names, its rating
//! and comment, click counts, suppressions (unsubscribe, resubscribe) and the recovery
//! follow-up a low rating plans.

use super::dispatch::FollowUpStore;
use super::store::{Cas, StoreError};
use crate::model::{FeedbackRecord, Key, SuppressionRecord};
use std::future::Future;

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
}

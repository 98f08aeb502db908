//! What the merchant's report reads (`apps::report`): a shop's counters of a period,
//! its settled comments, its products' learned timing, and one order's follow-ups for
//! the lookup. Every read is a
//! query of one partition or a get: no scans (see `docs/report.md`).

use super::store::StoreError;
use crate::model::cadence::CadenceRecord;
use crate::model::report::StatsRow;
use crate::model::{FeedbackRecord, FollowUpRecord, OrderRecord};
use std::future::Future;

pub trait ReportStore: Send + Sync {
    /// The stats items of `shop` from `from_day` to `to_day` (`YYYY-MM-DD`, both
    /// included): of the playbooks and the shop, or (`products`) of the products.
    fn stats(
        &self,
        shop: &str,
        from_day: &str,
        to_day: &str,
        products: bool,
    ) -> impl Future<Output = Result<Vec<StatsRow>, StoreError>> + Send;

    /// Settled feedback items with a comment last changed between the two time keys,
    /// newest first, at most `limit`; `true` when there were more.
    fn comments(
        &self,
        shop: &str,
        from_key: &str,
        to_key: &str,
        limit: usize,
    ) -> impl Future<Output = Result<(Vec<FeedbackRecord>, bool), StoreError>> + Send;

    /// Every product's learned timing in `shop` (`SHOP#{shop}` / `CADENCE#…`, one
    /// query of the shop's partition), any order.
    fn cadences(
        &self,
        shop: &str,
    ) -> impl Future<Output = Result<Vec<CadenceRecord>, StoreError>> + Send;

    /// The order a name (`#1001`) or id stands for.
    fn find_order(
        &self,
        shop: &str,
        name_or_id: &str,
    ) -> impl Future<Output = Result<Option<OrderRecord>, StoreError>> + Send;

    /// A customer's follow-ups and feedback items.
    fn customer_followups(
        &self,
        shop: &str,
        customer_key: &str,
    ) -> impl Future<Output = Result<(Vec<FollowUpRecord>, Vec<FeedbackRecord>), StoreError>> + Send;

    /// Takes the weekly digest's mark for `week` (`2026-W49`): `Lost` when another
    /// dispatcher (or an earlier run) took it, so each shop gets one digest a week.
    fn claim_digest(
        &self,
        shop: &str,
        week: &str,
        now_key: &str,
    ) -> impl Future<Output = Result<super::store::Cas, StoreError>> + Send;

    /// Gives the mark back when the digest could not be sent (the next run tries again).
    fn release_digest(
        &self,
        shop: &str,
        week: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

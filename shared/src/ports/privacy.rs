//! What the privacy worker reads and writes: compliance requests and their state
//! changes, whole partitions (as JSON items, so the worker never sees the store's own
//! types), batched deletes, the shop-erasure scan, and the Admin API access check that
//! confirms an uninstall.

use super::admin::AdminError;
use super::store::{Cas, StoreError};
use crate::domain::refusals::RefusalKind;
use crate::model::{Key, ShopRecord};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;

/// A stored item, attribute by attribute, as JSON: strings, numbers (integers as JSON
/// numbers, fractions as text so no digit is lost), booleans, lists, maps; binary values
/// as base64 text. The key attributes `pk` and `sk` are included.
pub type Item = serde_json::Map<String, serde_json::Value>;

/// Status values of a compliance request (`PrivacyRequestRecord.status`).
pub mod status {
    /// Recorded by the webhook, not yet carried out (or released half done).
    pub const PENDING: &str = "pending";
    /// Claimed by a dispatcher until `lease_until`.
    pub const IN_PROGRESS: &str = "in_progress";
    pub const DONE: &str = "done";
    pub const FAILED: &str = "failed";
    /// A destructive request the Admin API showed to be forged (the store still accepts
    /// the app's token): nothing was erased.
    pub const REFUSED: &str = "refused";
    /// A `shop/redact` the Admin API could not confirm (no token configured): it waits
    /// for `aftercart confirm-redact --shop …`, which sets it back to pending.
    pub const AWAITING_CONFIRMATION: &str = "awaiting_confirmation";
}

/// The condition a request's state change requires.
#[derive(Debug, Clone, Copy)]
pub enum RequestCondition<'a> {
    /// A claim: the request is pending, or its holder's lease ended before `now`. The
    /// exact claim already applied (same `owner` and `lease_until`) also passes, so an
    /// SDK retry of an attempt that did land succeeds.
    Claimable {
        now: &'a str,
        owner: &'a str,
        lease_until: &'a str,
    },
    /// The request is still held by `owner` (nobody took it over).
    HeldBy { owner: &'a str },
    /// The request still awaits an operator's confirmation.
    Awaiting,
}

/// One page of the shop-erasure scan.
#[derive(Debug, Default)]
pub struct ScanPage {
    /// Keys of the items on the page whose `pk` contains `#{shop}#`.
    pub keys: Vec<Key>,
    /// Where the next page starts; `None` at the end of the table.
    pub next: Option<Key>,
    /// Items the page read (matching or not).
    pub scanned: i32,
}

/// A compliance request as stored, or why it cannot be read (the message quotes no
/// value).
pub type Stored<T> = (Key, Result<T, String>);

pub trait PrivacyStore: Send + Sync {
    /// Compliance requests of `shop` whose status is one of `statuses`, oldest first,
    /// each decoded on its own (one unreadable request cannot stop the others).
    fn privacy_requests_in<T: DeserializeOwned + Send>(
        &self,
        shop: &str,
        statuses: &[&str],
    ) -> impl Future<Output = Result<Vec<Stored<T>>, StoreError>> + Send;

    /// Writes a request's new state (`state`, serialised whole) if `condition` holds.
    fn put_privacy_request<T: Serialize + Sync>(
        &self,
        key: &Key,
        state: &T,
        condition: RequestCondition<'_>,
    ) -> impl Future<Output = Result<Cas, StoreError>> + Send;

    fn get_shop(
        &self,
        shop: &str,
    ) -> impl Future<Output = Result<Option<ShopRecord>, StoreError>> + Send;

    /// Lifts the stop a (forged) uninstall notice put on the shop's sends if the
    /// installation record still has version `v`.
    fn resume_sends(
        &self,
        shop: &str,
        v: u64,
    ) -> impl Future<Output = Result<Cas, StoreError>> + Send;

    /// Marks the shop uninstalled as of `at` (and its erasure requested, for a
    /// `shop/redact`), no longer awaiting confirmation.
    fn confirm_uninstalled(
        &self,
        shop: &str,
        at: &str,
        redact: bool,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every item of partition `pk` (strongly consistent).
    fn partition_items(
        &self,
        pk: &str,
    ) -> impl Future<Output = Result<Vec<Item>, StoreError>> + Send;

    /// Deletes the items under `keys` (absent ones are no-ops); how many were deleted.
    fn delete_keys(&self, keys: &[Key]) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// Counts a destructive delivery the Admin API showed to be forged.
    fn count_refusal(
        &self,
        shop: &str,
        kind: RefusalKind,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// One page of the scan for `shop`'s items, after `start`, reading at most `limit`.
    fn scan_shop_page(
        &self,
        shop: &str,
        start: Option<&Key>,
        limit: i32,
    ) -> impl Future<Output = Result<ScanPage, StoreError>> + Send;
}

/// Whether the store still accepts the app's Admin API token (it refuses it once the
/// app is uninstalled).
pub trait AppAccess: Send + Sync {
    fn check_access(&self, shop: &str) -> impl Future<Output = Result<(), AdminError>> + Send;
}

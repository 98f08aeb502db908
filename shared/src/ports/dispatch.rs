//! The ports the dispatcher's state machine runs over: its follow-up store, the discount
//! codes' store and the Shopify Admin API. DynamoDB ([`crate::adapters::dynamo::DynamoStore`]) and the Admin
//! GraphQL client ([`crate::adapters::shopify_admin::AdminClient`]) implement them by delegating to their own methods;
//! the in-memory doubles in `dispatch::memory` implement them for the unit tests.
//!
//! Every write that can lose a race returns [`Cas`]: `Lost` when the condition (the
//! version read, a lease that ended, a free send slot …) no longer holds.

use super::admin::{AdminError, FoundDiscount, NewDiscount};
use super::store::{Cas, StoreError};
use crate::model::SuppressionRecord;
use crate::model::{
    DiscountRecord, FeedbackRecord, FollowUpRecord, OrderRecord, ProfileRecord, ShopRecord,
};
use std::future::Future;

/// What a send reads together ([`FollowUpStore::get_for_send`]).
#[derive(Debug, Default)]
pub struct SendReads {
    pub order: Option<OrderRecord>,
    pub profile: Option<ProfileRecord>,
    pub shop: Option<ShopRecord>,
    /// The suppression of the follow-up's `email_hash` (not read without one).
    pub suppression: Option<SuppressionRecord>,
    /// For a satisfaction reminder: the satisfaction check it repeats and that check's
    /// feedback item (not read for other playbooks).
    pub satisfaction: Option<FollowUpRecord>,
    pub feedback: Option<FeedbackRecord>,
}

/// The customer's send slot a hand-over takes with it: held by follow-up `by` from
/// `now`, free if its last holder took it at or before `cap_start`.
#[derive(Debug, Clone, Copy)]
pub struct Slot<'a> {
    pub by: &'a str,
    pub now: &'a str,
    pub cap_start: &'a str,
}

/// What a hand-over write found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandOver {
    /// Written (and the slot taken): the email may go to SES. `planned`: the follow-up
    /// to plan with it (a satisfaction check's reminder) was created by this write.
    Done { planned: bool },
    /// The follow-up changed or is another dispatcher's: nothing written.
    Lost,
    /// Another follow-up holds the customer's send slot: nothing written.
    CapHeld,
}

/// A hand-over with no slot to take is a plain conditional write.
impl From<Cas> for HandOver {
    fn from(cas: Cas) -> Self {
        match cas {
            Cas::Done => HandOver::Done { planned: false },
            Cas::Lost => HandOver::Lost,
        }
    }
}

/// The satisfaction check a satisfaction reminder repeats (whose follow-up and feedback
/// item its guard reads); `None` for other playbooks.
pub fn reminder_target(f: &FollowUpRecord) -> Option<String> {
    (f.playbook == crate::model::Playbook::SatisfactionReminder)
        .then(|| f.rating_target())
        .flatten()
}

/// Follow-ups, and what the guards and the frequency cap read and write around them.
pub trait FollowUpStore: Send + Sync {
    /// Follow-ups of the due-index shards `shards` due at or before `now_key`, earliest
    /// first (at most `limit` from each shard), as they are now.
    fn due(
        &self,
        shards: &[String],
        now_key: &str,
        limit: i32,
    ) -> impl Future<Output = Result<Vec<FollowUpRecord>, StoreError>> + Send;

    /// Adds to the report's counters, once the write they count has committed. Best
    /// effort: a counter that cannot be written is logged and lost, never retried into
    /// a double count (`adapters::dynamo::report`).
    fn count(
        &self,
        shop: &str,
        tallies: Vec<crate::model::report::Tally>,
    ) -> impl Future<Output = ()> + Send;

    /// Writes `next` if the stored follow-up still has version `expected` and, for a
    /// claim, is still claimable at `claimable_at` (pending, or a lease that ended).
    /// Also accepts the exact write already applied (same version and lease owner).
    fn save_followup(
        &self,
        next: &FollowUpRecord,
        expected: u64,
        claimable_at: Option<&str>,
    ) -> impl Future<Output = Result<Cas, StoreError>> + Send;

    /// Writes `next` as [`Self::save_followup`] does and creates `planned` unless a
    /// follow-up with its id exists: the outcome of a sent satisfaction check and its
    /// reminder. Gives the outcome's [`Cas`] and whether `planned` was created. By
    /// default one write after the other; DynamoDB's store makes them one transaction.
    fn save_followup_planning(
        &self,
        next: &FollowUpRecord,
        expected: u64,
        claimable_at: Option<&str>,
        planned: &FollowUpRecord,
    ) -> impl Future<Output = Result<(Cas, bool), StoreError>> + Send {
        async move {
            if self.save_followup(next, expected, claimable_at).await? == Cas::Lost {
                return Ok((Cas::Lost, false));
            }
            Ok((Cas::Done, self.create_followup(planned).await? == Cas::Done))
        }
    }

    /// One follow-up by id (strongly consistent): the one a link names, or the
    /// satisfaction check a reminder repeats.
    fn get_followup(
        &self,
        shop: &str,
        customer_key: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<FollowUpRecord>, StoreError>> + Send;

    /// Creates a follow-up unless one with its id exists (`Lost` then): a recovery
    /// email, a satisfaction reminder.
    fn create_followup(
        &self,
        f: &FollowUpRecord,
    ) -> impl Future<Output = Result<Cas, StoreError>> + Send;

    /// The feedback item of a follow-up (strongly consistent).
    fn get_feedback(
        &self,
        shop: &str,
        customer_key: &str,
        followup: &str,
    ) -> impl Future<Output = Result<Option<FeedbackRecord>, StoreError>> + Send;

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

    /// Everything a send of `f` reads, together and strongly consistent: its order,
    /// the customer's profile, the shop's record, the suppression of the address it was
    /// planned for (`email_hash`) and, for a satisfaction reminder, the check it repeats
    /// and its feedback. By default reads side by side; DynamoDB's store makes them one
    /// `BatchGetItem`.
    fn get_for_send(
        &self,
        f: &FollowUpRecord,
    ) -> impl Future<Output = Result<SendReads, StoreError>> + Send {
        async move {
            let suppression = async {
                match f.email_hash.as_deref() {
                    Some(h) => self.get_suppression(&f.shop, h).await,
                    None => Ok(None),
                }
            };
            let target = reminder_target(f);
            let satisfaction = async {
                match target.as_deref() {
                    Some(t) => self.get_followup(&f.shop, &f.customer_key, t).await,
                    None => Ok(None),
                }
            };
            let feedback = async {
                match target.as_deref() {
                    Some(t) => self.get_feedback(&f.shop, &f.customer_key, t).await,
                    None => Ok(None),
                }
            };
            let (order, profile, shop, suppression, satisfaction, feedback) = futures::try_join!(
                self.get_order(&f.shop, f.order_id),
                self.get_profile(&f.shop, &f.customer_key),
                self.get_shop(&f.shop),
                suppression,
                satisfaction,
                feedback,
            )?;
            Ok(SendReads {
                order,
                profile,
                shop,
                suppression,
                satisfaction,
                feedback,
            })
        }
    }

    fn get_suppression(
        &self,
        shop: &str,
        email_hash: &str,
    ) -> impl Future<Output = Result<Option<SuppressionRecord>, StoreError>> + Send;

    /// Counts `sent` emails SES accepted for `shop` on the UTC day of `now`: the
    /// reputation brake's denominator (`domain::reputation`). Counts nothing by default
    /// (the in-memory store).
    fn count_sent(
        &self,
        _shop: &str,
        _now: chrono::DateTime<chrono::Utc>,
        _sent: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async { Ok(()) }
    }

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

    /// Writes the hand-over mark `next` as [`Self::save_followup`] does and, with
    /// `slot`, takes the customer's send slot in the same atomic write (the frequency
    /// cap, as [`Self::reserve_send_slot`]): both or neither. A follow-up that carries no
    /// discount code is claimed by this one write, just before its email goes to SES.
    ///
    /// With `planned` (a satisfaction check's reminder), the same write creates it
    /// unless a follow-up with its id exists (an earlier attempt of this check was
    /// handed over, then failed and is retried): then the mark is written without it.
    fn hand_over(
        &self,
        next: &FollowUpRecord,
        expected: u64,
        claimable_at: Option<&str>,
        slot: Option<Slot<'_>>,
        planned: Option<&FollowUpRecord>,
    ) -> impl Future<Output = Result<HandOver, StoreError>> + Send;

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
/// (to tell our own earlier attempt from someone else's). [`crate::adapters::shopify_admin::issue`] drives
/// these exactly once per follow-up; [`crate::adapters::shopify_admin::alert_token_refused`] reports a refused
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

//! In-memory doubles of the dispatcher's ports, for the state-machine tests
//! (`machine_tests.rs`): a store with DynamoDB's conditional-write semantics, a mailer
//! and an Admin API that record what they were asked, each with fault injection. The
//! clock is [`crate::model::time::FixedClock`].
//!
//! Each double is a cheap handle (`Clone`) on shared state, so two dispatchers can share
//! one store and a test can look inside after a run. Every operation yields once before
//! it acts, so dispatchers driven together (`tokio::join!`) interleave as they would
//! against a real table.

use super::admin::{AdminError, FoundDiscount, NewDiscount};
use super::dispatch::{DiscountStore, FollowUpStore, HandOver, Slot, StoreAdmin};
use super::links::LinkStore;
use super::mail::{Mailer, OutgoingEmail, SendError};
use super::store::{Cas, StoreError};
use crate::model::{
    email_hash, keys, DiscountRecord, DiscountStatus, FeedbackRecord, FollowUpRecord,
    FollowUpStatus, Key, OrderRecord, ProfileRecord, ReasonTallyRecord, ReturnReason, ShopRecord,
    SuppressionRecord,
};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

mod recorder;
pub use recorder::{MemoryRecorder, MemoryTable};

/// The store operations faults can be injected into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Due,
    SaveFollowup,
    GetFollowup,
    CreateFollowup,
    GetFeedback,
    GetOrder,
    GetProfile,
    GetShop,
    GetSuppression,
    ReserveSlot,
    /// A hand-over that takes the send slot with it, in one atomic write.
    HandOver,
    ReleaseSlot,
    GetDiscount,
    ReserveDiscount,
    SaveDiscount,
    ClaimAlert,
    ReleaseAlert,
    ClearAlert,
    SaveFeedback,
    DueFeedback,
    RecordClick,
}

/// Faults armed on one operation: let `skip` calls through, then fail `count`.
#[derive(Debug, Clone, Copy)]
struct Fault {
    skip: u32,
    count: u32,
    /// Fail with [`StoreError::Corrupt`] (an item that cannot be read) instead of
    /// [`StoreError::Unavailable`].
    corrupt: bool,
}

#[derive(Debug, Default)]
struct State {
    /// By (pk, sk), like the table.
    followups: BTreeMap<(String, String), FollowUpRecord>,
    orders: HashMap<(String, u64), OrderRecord>,
    profiles: HashMap<(String, String), ProfileRecord>,
    shops: HashMap<String, ShopRecord>,
    suppressions: HashMap<(String, String), SuppressionRecord>,
    discounts: HashMap<(String, String, String), DiscountRecord>,
    /// By (pk, sk), like the table.
    feedback: BTreeMap<(String, String), FeedbackRecord>,
    /// By (pk, sk), like the table.
    tallies: BTreeMap<(String, String), ReasonTallyRecord>,
    /// The report's counters added (`FollowUpStore::count`), in order, merged per
    /// day and scope on each call.
    counts: Vec<(String, crate::model::report::Tally)>,
    /// Products' learned timing, by (shop, timing key).
    cadences: BTreeMap<(String, String), crate::model::cadence::CadenceRecord>,
    /// Weekly digest marks taken, by (shop, week).
    digests: HashSet<(String, String)>,
    faults: HashMap<Op, Fault>,
    calls: HashMap<Op, u32>,
    /// Lose every outcome write of a follow-up once its hand-over mark is written.
    lose_outcomes: bool,
    /// Follow-ups whose outcome writes are being lost.
    losing: HashSet<(String, String)>,
}

impl State {
    /// Counts a call of `op`, failing it if a fault says so.
    fn call(&mut self, op: Op) -> Result<(), StoreError> {
        *self.calls.entry(op).or_default() += 1;
        if let Some(f) = self.faults.get_mut(&op) {
            if f.skip > 0 {
                f.skip -= 1;
            } else if f.count > 0 {
                f.count -= 1;
                if f.corrupt {
                    return Err(StoreError::Corrupt {
                        key: format!("{op:?}"),
                        message: "injected: the item does not decode".into(),
                    });
                }
                return Err(unavailable(op));
            }
        }
        Ok(())
    }
}

fn unavailable(op: Op) -> StoreError {
    StoreError::Unavailable {
        operation: "memory store",
        message: format!("injected fault in {op:?}"),
    }
}

/// Follow-ups, orders, profiles, shops, suppressions, feedback and discount records in
/// memory.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

impl MemoryStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("memory store not poisoned")
    }

    /// Runs `f` on the state after one yield (so concurrent callers interleave), as
    /// operation `op`.
    async fn op<T>(
        &self,
        op: Op,
        f: impl FnOnce(&mut State) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        tokio::task::yield_now().await;
        let mut s = self.lock();
        s.call(op)?;
        f(&mut s)
    }

    /// The total each counter was given, by `{day}#{scope}#{counter}`.
    pub fn counted(&self) -> BTreeMap<String, String> {
        let mut out: BTreeMap<String, String> = BTreeMap::new();
        for (_, t) in &self.lock().counts {
            for (c, n) in &t.adds {
                let key = format!("{}#{}#{}", t.day, t.scope.key(), c.name());
                let total = out
                    .get(&key)
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or(0)
                    + n.parse::<i64>().unwrap_or(0);
                out.insert(key, total.to_string());
            }
        }
        out
    }

    pub fn put_followup(&self, f: FollowUpRecord) {
        let k = f.key();
        self.lock().followups.insert((k.pk, k.sk), f);
    }
    pub fn put_order(&self, shop: &str, o: OrderRecord) {
        self.lock().orders.insert((shop.into(), o.order_id), o);
    }
    /// Stores a product's learned timing in `shop` (under its `product` key).
    pub fn put_cadence(&self, shop: &str, c: crate::model::cadence::CadenceRecord) {
        self.lock()
            .cadences
            .insert((shop.into(), c.product.clone()), c);
    }
    pub fn put_profile(&self, shop: &str, p: ProfileRecord) {
        self.lock()
            .profiles
            .insert((shop.into(), p.customer_key.clone()), p);
    }
    /// Suppresses `email` in `shop` for `reason`.
    pub fn suppress(&self, shop: &str, email: &str, reason: &str) {
        let hash = email_hash(email);
        let rec = SuppressionRecord {
            email_hash: hash.clone(),
            reason: reason.into(),
            at: "2026-01-01T00:00:00.000Z".into(),
        };
        self.lock().suppressions.insert((shop.into(), hash), rec);
    }

    /// Every follow-up, in key order.
    pub fn followups(&self) -> Vec<FollowUpRecord> {
        self.lock().followups.values().cloned().collect()
    }
    pub fn followup(&self, id: &str) -> FollowUpRecord {
        self.followups()
            .into_iter()
            .find(|f| f.id == id)
            .unwrap_or_else(|| panic!("no follow-up {id}"))
    }
    pub fn profile(&self, shop: &str, customer_key: &str) -> Option<ProfileRecord> {
        self.lock()
            .profiles
            .get(&(shop.into(), customer_key.into()))
            .cloned()
    }
    pub fn discounts(&self) -> Vec<DiscountRecord> {
        self.lock().discounts.values().cloned().collect()
    }
    /// Every feedback item, in key order.
    pub fn feedback(&self) -> Vec<FeedbackRecord> {
        self.lock().feedback.values().cloned().collect()
    }
    /// Every return-reason tally, in key order.
    pub fn tallies(&self) -> Vec<ReasonTallyRecord> {
        self.lock().tallies.values().cloned().collect()
    }
    pub fn put_feedback(&self, f: FeedbackRecord) {
        let k = f.key();
        self.lock().feedback.insert((k.pk, k.sk), f);
    }
    /// How many times `op` was called.
    pub fn calls(&self, op: Op) -> u32 {
        self.lock().calls.get(&op).copied().unwrap_or(0)
    }

    /// Fails the next `count` calls of `op` with [`StoreError::Unavailable`].
    pub fn fail_next(&self, op: Op, count: u32) {
        self.fail_after(op, 0, count);
    }
    /// Lets `skip` calls of `op` through, then fails the `count` after them.
    pub fn fail_after(&self, op: Op, skip: u32, count: u32) {
        let fault = Fault {
            skip,
            count,
            corrupt: false,
        };
        self.lock().faults.insert(op, fault);
    }
    /// The next `count` calls of `op` find an item that does not decode.
    pub fn corrupt_next(&self, op: Op, count: u32) {
        let fault = Fault {
            skip: 0,
            count,
            corrupt: true,
        };
        self.lock().faults.insert(op, fault);
    }
    /// From now on, once a follow-up's hand-over mark is written, every later outcome
    /// write of it fails (the store goes away between the SES call and the outcome).
    pub fn lose_outcomes_after_hand_over(&self) {
        self.lock().lose_outcomes = true;
    }
    /// Clears every armed fault.
    pub fn heal(&self) {
        let mut s = self.lock();
        s.faults.clear();
        s.lose_outcomes = false;
        s.losing.clear();
    }
}

/// DynamoDB's condition of `save_followup` (see `store::dispatch`).
fn followup_condition(
    stored: &FollowUpRecord,
    next: &FollowUpRecord,
    expected: u64,
    claimable_at: Option<&str>,
) -> bool {
    let owner = next.lease_owner.clone().unwrap_or_default();
    let already_applied = stored.v == next.v && stored.lease_owner.as_deref() == Some(&owner);
    let claimable = match claimable_at {
        None => true,
        Some(now) => {
            stored.status == FollowUpStatus::Pending
                || (stored.status == FollowUpStatus::Sending
                    && stored.lease_until.as_deref().is_some_and(|l| l < now))
        }
    };
    (stored.v == expected && claimable) || already_applied
}

/// The due index's query over `items`: those in the partitions `shards` due at or
/// before `now_key` (`index` gives an item's `due_pk` and `due_sk`), at most `limit`
/// from each partition, earliest first.
fn due_in<'a, T: Clone + 'a>(
    items: impl Iterator<Item = &'a T> + Clone,
    shards: &[String],
    now_key: &str,
    limit: i32,
    index: impl Fn(&T) -> (Option<&str>, Option<&str>),
) -> Vec<T> {
    let upper = format!("{now_key}#~");
    let mut due: Vec<(String, T)> = Vec::new();
    for shard in shards {
        let mut found: Vec<(String, T)> = items
            .clone()
            .filter_map(|i| match index(i) {
                (Some(pk), Some(sk)) if pk == shard && sk <= upper.as_str() => {
                    Some((sk.to_owned(), i.clone()))
                }
                _ => None,
            })
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found.truncate(limit.max(0) as usize);
        due.extend(found);
    }
    due.sort_by(|a, b| a.0.cmp(&b.0));
    due.into_iter().map(|(_, i)| i).collect()
}

/// Writes `next` under the follow-up's conditions (`FollowUpStore::save_followup`).
fn save_followup_in(
    s: &mut State,
    next: &FollowUpRecord,
    expected: u64,
    claimable_at: Option<&str>,
) -> Result<Cas, StoreError> {
    let k = next.key();
    let key = (k.pk, k.sk);
    if claimable_at.is_none() && s.losing.contains(&key) {
        return Err(unavailable(Op::SaveFollowup));
    }
    let Some(stored) = s.followups.get(&key) else {
        return Ok(Cas::Lost);
    };
    if !followup_condition(stored, next, expected, claimable_at) {
        return Ok(Cas::Lost);
    }
    let hand_over = next.status == FollowUpStatus::Sending
        && next.sent_at.is_some()
        && stored.sent_at.is_none();
    if hand_over && s.lose_outcomes {
        s.losing.insert(key.clone());
    }
    s.followups.insert(key, next.clone());
    Ok(Cas::Done)
}

/// Whether `slot` may be taken on the customer's profile (the frequency cap).
fn slot_free(p: &ProfileRecord, slot: Slot<'_>) -> bool {
    match p.last_email_at.as_deref() {
        None => true,
        Some(at) => at <= slot.cap_start || p.last_email_by.as_deref() == Some(slot.by),
    }
}

impl FollowUpStore for MemoryStore {
    async fn count(&self, shop: &str, tallies: Vec<crate::model::report::Tally>) {
        let merged = crate::domain::report::merge(tallies);
        let mut s = self.lock();
        s.counts
            .extend(merged.into_iter().map(|t| (shop.to_owned(), t)));
    }

    async fn due(
        &self,
        shards: &[String],
        now_key: &str,
        limit: i32,
    ) -> Result<Vec<FollowUpRecord>, StoreError> {
        self.op(Op::Due, |s| {
            Ok(due_in(s.followups.values(), shards, now_key, limit, |f| {
                (f.due_pk.as_deref(), f.due_sk.as_deref())
            }))
        })
        .await
    }

    async fn save_followup(
        &self,
        next: &FollowUpRecord,
        expected: u64,
        claimable_at: Option<&str>,
    ) -> Result<Cas, StoreError> {
        self.op(Op::SaveFollowup, |s| {
            save_followup_in(s, next, expected, claimable_at)
        })
        .await
    }

    async fn hand_over(
        &self,
        next: &FollowUpRecord,
        expected: u64,
        claimable_at: Option<&str>,
        slot: Option<Slot<'_>>,
        planned: Option<&FollowUpRecord>,
    ) -> Result<HandOver, StoreError> {
        if slot.is_none() && planned.is_none() {
            return Ok(self
                .save_followup(next, expected, claimable_at)
                .await?
                .into());
        }
        self.op(Op::HandOver, |s| {
            let k = next.key();
            let ours = s
                .followups
                .get(&(k.pk, k.sk))
                .is_some_and(|stored| followup_condition(stored, next, expected, claimable_at));
            if !ours {
                return Ok(HandOver::Lost);
            }
            let profile = (next.shop.clone(), next.customer_key.clone());
            if let Some(slot) = slot {
                if !s.profiles.get(&profile).is_some_and(|p| slot_free(p, slot)) {
                    return Ok(HandOver::CapHeld);
                }
                if let Some(p) = s.profiles.get_mut(&profile) {
                    p.last_email_at = Some(slot.now.into());
                    p.last_email_by = Some(slot.by.into());
                    p.v += 1;
                }
            }
            save_followup_in(s, next, expected, claimable_at)?;
            let planned = planned.is_some_and(|p| {
                let k = p.key();
                let absent = !s.followups.contains_key(&(k.pk.clone(), k.sk.clone()));
                if absent {
                    s.followups.insert((k.pk, k.sk), p.clone());
                }
                absent
            });
            Ok(HandOver::Done { planned })
        })
        .await
    }

    async fn get_followup(
        &self,
        shop: &str,
        customer_key: &str,
        id: &str,
    ) -> Result<Option<FollowUpRecord>, StoreError> {
        let k = keys::followup(shop, customer_key, id);
        self.op(Op::GetFollowup, |s| {
            Ok(s.followups.get(&(k.pk, k.sk)).cloned())
        })
        .await
    }

    async fn create_followup(&self, f: &FollowUpRecord) -> Result<Cas, StoreError> {
        let k = f.key();
        self.op(Op::CreateFollowup, |s| {
            if s.followups.contains_key(&(k.pk.clone(), k.sk.clone())) {
                return Ok(Cas::Lost);
            }
            s.followups.insert((k.pk, k.sk), f.clone());
            Ok(Cas::Done)
        })
        .await
    }

    async fn get_feedback(
        &self,
        shop: &str,
        customer_key: &str,
        followup: &str,
    ) -> Result<Option<FeedbackRecord>, StoreError> {
        let k = keys::feedback(shop, customer_key, followup);
        self.op(Op::GetFeedback, |s| {
            Ok(s.feedback.get(&(k.pk, k.sk)).cloned())
        })
        .await
    }

    async fn get_order(
        &self,
        shop: &str,
        order_id: u64,
    ) -> Result<Option<OrderRecord>, StoreError> {
        self.op(Op::GetOrder, |s| {
            Ok(s.orders.get(&(shop.into(), order_id)).cloned())
        })
        .await
    }

    async fn get_profile(
        &self,
        shop: &str,
        customer_key: &str,
    ) -> Result<Option<ProfileRecord>, StoreError> {
        self.op(Op::GetProfile, |s| {
            Ok(s.profiles.get(&(shop.into(), customer_key.into())).cloned())
        })
        .await
    }

    async fn get_shop(&self, shop: &str) -> Result<Option<ShopRecord>, StoreError> {
        self.op(Op::GetShop, |s| Ok(s.shops.get(shop).cloned()))
            .await
    }

    async fn get_suppression(
        &self,
        shop: &str,
        email_hash: &str,
    ) -> Result<Option<SuppressionRecord>, StoreError> {
        self.op(Op::GetSuppression, |s| {
            Ok(s.suppressions
                .get(&(shop.into(), email_hash.into()))
                .cloned())
        })
        .await
    }

    async fn reserve_send_slot(
        &self,
        shop: &str,
        customer_key: &str,
        by: &str,
        now: &str,
        cap_start: &str,
    ) -> Result<Cas, StoreError> {
        self.op(Op::ReserveSlot, |s| {
            let Some(p) = s.profiles.get_mut(&(shop.into(), customer_key.into())) else {
                return Ok(Cas::Lost);
            };
            if !slot_free(p, Slot { by, now, cap_start }) {
                return Ok(Cas::Lost);
            }
            p.last_email_at = Some(now.into());
            p.last_email_by = Some(by.into());
            p.v += 1;
            Ok(Cas::Done)
        })
        .await
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
        self.op(Op::ReleaseSlot, |s| {
            let Some(p) = s.profiles.get_mut(&(shop.into(), customer_key.into())) else {
                return Ok(Cas::Lost);
            };
            if p.last_email_at.as_deref() != Some(reserved)
                || p.last_email_by.as_deref() != Some(by)
            {
                return Ok(Cas::Lost);
            }
            p.last_email_at = previous_at.map(str::to_owned);
            p.last_email_by = previous_by.map(str::to_owned);
            p.v += 1;
            Ok(Cas::Done)
        })
        .await
    }
}

fn discount_key(shop: &str, customer_key: &str, followup: &str) -> (String, String, String) {
    (shop.into(), customer_key.into(), followup.into())
}

impl DiscountStore for MemoryStore {
    async fn get_discount(
        &self,
        shop: &str,
        customer_key: &str,
        followup: &str,
    ) -> Result<Option<DiscountRecord>, StoreError> {
        self.op(Op::GetDiscount, |s| {
            Ok(s.discounts
                .get(&discount_key(shop, customer_key, followup))
                .cloned())
        })
        .await
    }

    async fn reserve_discount(
        &self,
        shop: &str,
        customer_key: &str,
        rec: &DiscountRecord,
    ) -> Result<Cas, StoreError> {
        self.op(Op::ReserveDiscount, |s| {
            let key = discount_key(shop, customer_key, &rec.followup);
            if s.discounts.contains_key(&key) {
                return Ok(Cas::Lost);
            }
            s.discounts.insert(key, rec.clone());
            Ok(Cas::Done)
        })
        .await
    }

    async fn save_discount(
        &self,
        shop: &str,
        customer_key: &str,
        next: &DiscountRecord,
        expected: u64,
    ) -> Result<Cas, StoreError> {
        self.op(Op::SaveDiscount, |s| {
            let key = discount_key(shop, customer_key, &next.followup);
            let Some(stored) = s.discounts.get(&key) else {
                return Ok(Cas::Lost);
            };
            let applied =
                stored.v == next.v && stored.status == next.status && stored.code == next.code;
            if stored.v != expected && !applied {
                return Ok(Cas::Lost);
            }
            s.discounts.insert(key, next.clone());
            Ok(Cas::Done)
        })
        .await
    }

    async fn mark_discount_created(
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

    async fn mark_discount_failed(
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

    async fn claim_admin_alert(&self, shop: &str, now: &str) -> Result<Cas, StoreError> {
        self.op(Op::ClaimAlert, |s| {
            let rec = s.shops.entry(shop.into()).or_default();
            if rec.admin_auth_alerted_at.is_some() {
                return Ok(Cas::Lost);
            }
            rec.admin_auth_alerted_at = Some(now.into());
            rec.v += 1;
            Ok(Cas::Done)
        })
        .await
    }

    async fn release_admin_alert(&self, shop: &str, at: &str) -> Result<Cas, StoreError> {
        self.op(Op::ReleaseAlert, |s| match s.shops.get_mut(shop) {
            Some(rec) if rec.admin_auth_alerted_at.as_deref() == Some(at) => {
                rec.admin_auth_alerted_at = None;
                rec.v += 1;
                Ok(Cas::Done)
            }
            _ => Ok(Cas::Lost),
        })
        .await
    }

    async fn clear_admin_alert(&self, shop: &str) -> Result<Cas, StoreError> {
        self.op(Op::ClearAlert, |s| match s.shops.get_mut(shop) {
            Some(rec) if rec.admin_auth_alerted_at.is_some() => {
                rec.admin_auth_alerted_at = None;
                rec.v += 1;
                Ok(Cas::Done)
            }
            _ => Ok(Cas::Lost),
        })
        .await
    }
}

#[derive(Debug, Default)]
struct MailerState {
    sent: Vec<OutgoingEmail>,
    /// Every message the dispatcher tried to send, sent or not.
    attempts: Vec<OutgoingEmail>,
    /// Answers for the next sends, in order.
    script: VecDeque<SendError>,
    /// Answer every send with this once the script is used up.
    always: Option<SendError>,
    /// How long each send takes to answer (tokio time).
    latency: std::time::Duration,
}

/// A mailer that records what it sends and answers with scripted [`SendError`]s.
#[derive(Debug, Clone, Default)]
pub struct MemoryMailer {
    state: Arc<Mutex<MailerState>>,
}

impl MemoryMailer {
    fn lock(&self) -> std::sync::MutexGuard<'_, MailerState> {
        self.state.lock().expect("memory mailer not poisoned")
    }
    /// Answers the next send (after those already scripted) with `e`.
    pub fn fail_next(&self, e: SendError) {
        self.lock().script.push_back(e);
    }
    /// Answers every send with `e` (after the script).
    pub fn fail_always(&self, e: SendError) {
        self.lock().always = Some(e);
    }
    /// Answers each send only after `latency` (tokio time), as SES does.
    pub fn answer_after(&self, latency: std::time::Duration) {
        self.lock().latency = latency;
    }
    /// The messages that went out.
    pub fn sent(&self) -> Vec<OutgoingEmail> {
        self.lock().sent.clone()
    }
    /// Every message handed to the mailer, including those it refused.
    pub fn attempts(&self) -> Vec<OutgoingEmail> {
        self.lock().attempts.clone()
    }
}

impl Mailer for MemoryMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<String, SendError> {
        let latency = self.lock().latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        tokio::task::yield_now().await;
        let mut s = self.lock();
        s.attempts.push(email.clone());
        if let Some(e) = s.script.pop_front().or_else(|| s.always.clone()) {
            return Err(e);
        }
        s.sent.push(email.clone());
        Ok(format!("memory-{}", s.sent.len()))
    }

    async fn max_send_rate(&self) -> Option<f64> {
        Some(50.0)
    }
}

#[derive(Debug, Default)]
struct AdminState {
    /// Discounts created in the store, by code.
    created: BTreeMap<String, (String, NewDiscount)>,
    create_calls: u32,
    script: VecDeque<AdminError>,
}

/// A store's Admin API that creates discounts in memory, refusing a code it already
/// has (`CodeTaken`), with scripted errors.
#[derive(Debug, Clone, Default)]
pub struct MemoryAdmin {
    state: Arc<Mutex<AdminState>>,
}

impl MemoryAdmin {
    fn lock(&self) -> std::sync::MutexGuard<'_, AdminState> {
        self.state.lock().expect("memory admin not poisoned")
    }
    /// Answers the next create call with `e`.
    pub fn fail_next(&self, e: AdminError) {
        self.lock().script.push_back(e);
    }
    /// How many times a discount was asked to be created.
    pub fn create_calls(&self) -> u32 {
        self.lock().create_calls
    }
    /// The codes that exist in the store.
    pub fn codes(&self) -> Vec<String> {
        self.lock().created.keys().cloned().collect()
    }
}

impl StoreAdmin for MemoryAdmin {
    async fn create_discount(
        &self,
        _shop: &str,
        d: &NewDiscount,
    ) -> Result<(String, Option<String>), AdminError> {
        tokio::task::yield_now().await;
        let mut s = self.lock();
        s.create_calls += 1;
        if let Some(e) = s.script.pop_front() {
            return Err(e);
        }
        if s.created.contains_key(&d.code) {
            return Err(AdminError::CodeTaken);
        }
        let id = format!("gid://shopify/DiscountCodeNode/{}", s.created.len() + 1);
        s.created.insert(d.code.clone(), (id.clone(), d.clone()));
        Ok((id, Some(d.code.clone())))
    }

    async fn find_by_code(
        &self,
        _shop: &str,
        code: &str,
    ) -> Result<Option<FoundDiscount>, AdminError> {
        tokio::task::yield_now().await;
        Ok(self.lock().created.get(code).map(|(id, d)| FoundDiscount {
            id: id.clone(),
            title: Some(d.title.clone()),
        }))
    }
}

/// The links app's port (and what the dispatcher settles ratings with).
impl LinkStore for MemoryStore {
    async fn save_feedback(
        &self,
        shop: &str,
        customer_key: &str,
        next: &FeedbackRecord,
        expected: Option<u64>,
    ) -> Result<Cas, StoreError> {
        let k = keys::feedback(shop, customer_key, &next.followup);
        self.op(Op::SaveFeedback, |s| {
            let stored = s.feedback.get(&(k.pk.clone(), k.sk.clone())).map(|f| f.v);
            if stored != expected {
                return Ok(Cas::Lost);
            }
            s.feedback.insert((k.pk, k.sk), next.clone());
            Ok(Cas::Done)
        })
        .await
    }

    async fn due_feedback(
        &self,
        shards: &[String],
        now_key: &str,
        limit: i32,
    ) -> Result<Vec<FeedbackRecord>, StoreError> {
        self.op(Op::DueFeedback, |s| {
            Ok(due_in(s.feedback.values(), shards, now_key, limit, |f| {
                (f.due_pk.as_deref(), f.due_sk.as_deref())
            }))
        })
        .await
    }

    async fn record_click(&self, key: &Key, now_key: &str) -> Result<Cas, StoreError> {
        let key = (key.pk.clone(), key.sk.clone());
        self.op(Op::RecordClick, |s| {
            let Some(f) = s.followups.get_mut(&key) else {
                return Ok(Cas::Lost);
            };
            let t = &mut f.tracking;
            t.clicked_at.get_or_insert_with(|| now_key.to_owned());
            t.last_clicked_at = Some(now_key.to_owned());
            t.clicks += 1;
            Ok(Cas::Done)
        })
        .await
    }

    async fn suppress(&self, shop: &str, record: &SuppressionRecord) -> Result<(), StoreError> {
        self.op(Op::GetSuppression, |s| {
            s.suppressions
                .entry((shop.to_owned(), record.email_hash.clone()))
                .or_insert_with(|| record.clone());
            Ok(())
        })
        .await
    }

    async fn unsuppress_self_service(
        &self,
        shop: &str,
        email_hash: &str,
    ) -> Result<Cas, StoreError> {
        let key = (shop.to_owned(), email_hash.to_owned());
        self.op(Op::GetSuppression, |s| {
            match s.suppressions.get(&key) {
                Some(r) if r.reason == super::links::SELF_SERVICE_REASON => {}
                _ => return Ok(Cas::Lost),
            }
            s.suppressions.remove(&key);
            Ok(Cas::Done)
        })
        .await
    }

    async fn get_reason_tally(
        &self,
        shop: &str,
        product_id: u64,
        reason: ReturnReason,
    ) -> Result<Option<ReasonTallyRecord>, StoreError> {
        let k = keys::reason_tally(shop, product_id, reason);
        self.op(Op::GetFeedback, |s| {
            Ok(s.tallies.get(&(k.pk, k.sk)).cloned())
        })
        .await
    }

    async fn save_reason_tally(
        &self,
        shop: &str,
        reason: ReturnReason,
        next: &ReasonTallyRecord,
        expected: Option<u64>,
    ) -> Result<Cas, StoreError> {
        let k = keys::reason_tally(shop, next.product_id, reason);
        self.op(Op::SaveFeedback, |s| {
            let stored = s.tallies.get(&(k.pk.clone(), k.sk.clone())).map(|t| t.v);
            if stored != expected {
                return Ok(Cas::Lost);
            }
            s.tallies.insert((k.pk, k.sk), next.clone());
            Ok(Cas::Done)
        })
        .await
    }
}

/// The report's reads over what the memory store holds: the counters added through
/// [`FollowUpStore::count`], the feedback items in the `VOICE#{shop}` index partition,
/// the learned timing put with [`MemoryStore::put_cadence`].
impl super::report::ReportStore for MemoryStore {
    async fn stats(
        &self,
        shop: &str,
        from_day: &str,
        to_day: &str,
        products: bool,
    ) -> Result<Vec<crate::model::report::StatsRow>, StoreError> {
        use crate::model::report::StatsRow;
        let mut rows: BTreeMap<(String, String), StatsRow> = BTreeMap::new();
        for (_, t) in self.lock().counts.iter().filter(|(s, _)| s == shop) {
            let product = matches!(t.scope, crate::model::report::Scope::Product(_));
            if t.day.as_str() < from_day || t.day.as_str() > to_day || product != products {
                continue;
            }
            let row = rows
                .entry((t.day.clone(), t.scope.key()))
                .or_insert_with(|| StatsRow {
                    day: t.day.clone(),
                    scope: t.scope.key(),
                    ..StatsRow::default()
                });
            for (c, n) in &t.adds {
                let before: i64 = row
                    .counts
                    .get(&c.name())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let add: i64 = n.parse().unwrap_or(0);
                row.counts.insert(c.name(), (before + add).to_string());
            }
            if let Some(r) = &t.failed_reason {
                if !row.failed_reasons.contains(r) {
                    row.failed_reasons.push(r.clone());
                }
            }
            if t.title.is_some() {
                row.title.clone_from(&t.title);
            }
        }
        Ok(rows.into_values().collect())
    }

    async fn comments(
        &self,
        shop: &str,
        from_key: &str,
        to_key: &str,
        limit: usize,
    ) -> Result<(Vec<FeedbackRecord>, bool), StoreError> {
        let partition = format!("{}{shop}", crate::model::VOICE_PREFIX);
        let upper = format!("{to_key}#~");
        let mut items: Vec<FeedbackRecord> = self
            .lock()
            .feedback
            .values()
            .filter(|f| f.due_pk.as_deref() == Some(partition.as_str()))
            .filter(|f| {
                f.due_sk
                    .as_deref()
                    .is_some_and(|k| k >= from_key && k <= upper.as_str())
            })
            .cloned()
            .collect();
        items.sort_by(|a, b| b.due_sk.cmp(&a.due_sk));
        let more = items.len() > limit;
        items.truncate(limit);
        Ok((items, more))
    }

    async fn cadences(
        &self,
        shop: &str,
    ) -> Result<Vec<crate::model::cadence::CadenceRecord>, StoreError> {
        tokio::task::yield_now().await;
        let s = self.lock();
        let of_shop = s.cadences.iter().filter(|((sh, _), _)| sh == shop);
        Ok(of_shop.map(|(_, c)| c.clone()).collect())
    }

    async fn find_order(
        &self,
        shop: &str,
        name_or_id: &str,
    ) -> Result<Option<OrderRecord>, StoreError> {
        let wanted = name_or_id.trim();
        let s = self.lock();
        let by_name = s.orders.iter().find(|((sh, _), o)| {
            sh == shop
                && o.name
                    .as_deref()
                    .is_some_and(|n| n == wanted || n.trim_start_matches('#') == wanted)
        });
        if let Some((_, o)) = by_name {
            return Ok(Some(o.clone()));
        }
        let id = wanted.trim_start_matches('#').parse::<u64>().ok();
        Ok(id.and_then(|id| s.orders.get(&(shop.to_owned(), id)).cloned()))
    }

    async fn claim_digest(
        &self,
        shop: &str,
        week: &str,
        _now_key: &str,
    ) -> Result<Cas, StoreError> {
        tokio::task::yield_now().await;
        let fresh = self
            .lock()
            .digests
            .insert((shop.to_owned(), week.to_owned()));
        Ok(if fresh { Cas::Done } else { Cas::Lost })
    }

    async fn release_digest(&self, shop: &str, week: &str) -> Result<(), StoreError> {
        self.lock()
            .digests
            .remove(&(shop.to_owned(), week.to_owned()));
        Ok(())
    }

    async fn customer_followups(
        &self,
        shop: &str,
        customer_key: &str,
    ) -> Result<(Vec<FollowUpRecord>, Vec<FeedbackRecord>), StoreError> {
        let s = self.lock();
        let followups = s
            .followups
            .values()
            .filter(|f| f.shop == shop && f.customer_key == customer_key)
            .cloned()
            .collect();
        let feedback = s
            .feedback
            .values()
            .filter(|f| f.shop == shop && f.customer_key == customer_key)
            .cloned()
            .collect();
        Ok((followups, feedback))
    }
}

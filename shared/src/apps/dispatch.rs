//! The `dispatch` function: every minute, find the follow-ups that are due, claim each
//! one, apply the guards, render, send through SES and record the outcome.
//!
//! A follow-up moves pending → sending (claimed with a lease) → sent, or back to
//! pending (deferred by a guard, or a transient failure with backoff), or to cancelled
//! or failed. Each move is a conditional write on the follow-up's version: of two
//! dispatchers running at once, exactly one claims a follow-up; one that dies while
//! sending leaves it in the due index, where a run retakes it once the lease has ended
//! (runs skip follow-ups whose lease is running: [`FollowUpRecord::leased_at`]).
//!
//! Just before the email goes to SES the claim records the hand-over (`sent_at` while
//! still `sending`). A retaken follow-up that carries it may have been sent by a
//! dispatcher that then could not record the outcome: it is marked sent
//! ([`POSSIBLY_SENT`]), never sent twice. Account-level SES refusals
//! ([`SendError::Halt`]) stop the run and leave every follow-up due.

use crate::adapters::dynamo::DynamoStore;
use crate::apps::startup::shop_templates;
use crate::config::{Config, ShopConfig};
use crate::domain::guards::{guard, retry_backoff, send_order, GuardContext, Verdict};
use crate::domain::report::CAP_REASON;
use crate::email::context::email_context;
use crate::email::{self, Templates};
use crate::model::time::{parse_time, utc_key, Clock};
use crate::model::tokens::LinkBuilder;
use crate::model::{
    email_hash, DiscountRecord, FollowUpRecord, FollowUpStatus, OrderRecord, ProfileRecord,
};
use crate::ports::dispatch::{DiscountStore, FollowUpStore, HandOver, Slot, StoreAdmin};
use crate::ports::mail::{Mailer, OutgoingEmail, SendError};
use crate::ports::store::Cas;
use crate::ports::store::StoreError;
use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use tokio::sync::Mutex;

/// How long one email takes from its reads to its outcome's write, allowed for in
/// sizing the sends in flight ([`in_flight`]): in production its reads, the hand-over
/// write, SES's answer and the outcome's write take about 150 ms (10 ms a DynamoDB
/// call, 100 ms SES), more when a function's CPU share runs out; 400 ms leaves room.
const EMAIL_TIME: std::time::Duration = std::time::Duration::from_millis(400);

/// Follow-ups processed at once by one dispatcher at a send rate of `rate` a second:
/// as many as are under way at that rate when each takes [`EMAIL_TIME`] (Little's
/// law), so that the rate, not the services' latency, sets the pace: 8 up to 20 emails
/// a second, 20 at 50/s, at most 32 (80/s, past what a 256 MB function's CPU share
/// sends). The rate still caps the pace (`Pace`); one customer's follow-ups still go
/// one after another.
pub fn in_flight(rate: f64) -> usize {
    let needed = (rate * EMAIL_TIME.as_secs_f64()).ceil();
    // A float to integer `as` saturates (NaN gives 0), and the clamp bounds the rest.
    (needed as usize).clamp(8, 32)
}
/// Due follow-ups read per shard per run.
const BATCH: i32 = 200;

/// The dispatcher over its ports: the follow-up and discount store `S`, the mailer `M`
/// and the Admin API `A`. Production uses DynamoDB and the Admin GraphQL client (the
/// defaults); the unit tests use the in-memory doubles of `ports::memory`.
pub struct Dispatcher<M, S = DynamoStore, A = crate::adapters::shopify_admin::AdminClient> {
    pub config: Arc<Config>,
    pub store: S,
    pub mailer: M,
    pub links: LinkBuilder,
    /// Templates per shop domain (built-in where the shop has no overrides).
    pub templates: HashMap<String, Templates>,
    pub clock: Arc<dyn Clock>,
    /// Who holds the leases this dispatcher takes (the invocation's request id).
    pub owner: String,
    /// The Shopify Admin API, for the discount codes some playbooks carry.
    pub admin: A,
}

/// What one run did.
#[derive(Debug, Default)]
pub struct Report {
    pub due: AtomicU32,
    pub claimed: AtomicU32,
    pub sent: AtomicU32,
    /// Passed every guard and recorded `held_out` instead of sent (the playbook's
    /// holdout group): no email, no code, no send slot.
    pub held_out: AtomicU32,
    pub deferred: AtomicU32,
    pub retried: AtomicU32,
    pub cancelled: AtomicU32,
    pub failed: AtomicU32,
    /// Claims lost to another dispatcher (or to a webhook re-planning).
    pub lost: AtomicU32,
    /// Claimed, then put back unsent at their due time because the run's deadline or a
    /// halt came first: no attempt counted.
    pub put_back: AtomicU32,
    /// Retaken after an earlier claim handed the email to SES and recorded no outcome:
    /// marked sent ([`POSSIBLY_SENT`]) without sending again.
    pub unconfirmed: AtomicU32,
    /// Why SES refused to send anything this run ([`SendError::Halt`]), if it did.
    pub halted: OnceLock<String>,
    /// The ratings this run settled, where it settled any ([`Dispatcher::run`]).
    pub feedback: OnceLock<crate::apps::feedback::Settled>,
    /// Shops whose marketing is paused by the reputation brake, with the reason
    /// ([`reputation`]); unset when the run did not check (`send_due` alone).
    pub marketing_paused: OnceLock<std::collections::BTreeMap<String, String>>,
    /// The weekly digests this run sent ([`crate::apps::report::send_digests`]).
    pub digests: OnceLock<crate::apps::report::Digests>,
}

impl Report {
    pub fn summary(&self) -> serde_json::Value {
        let g = |a: &AtomicU32| a.load(Ordering::Relaxed);
        serde_json::json!({
            "due": g(&self.due), "claimed": g(&self.claimed), "sent": g(&self.sent),
            "held_out": g(&self.held_out),
            "deferred": g(&self.deferred), "retried": g(&self.retried),
            "cancelled": g(&self.cancelled), "failed": g(&self.failed), "lost": g(&self.lost),
            "put_back": g(&self.put_back), "unconfirmed": g(&self.unconfirmed),
            "halted": self.halted.get(),
            "ratings": self.feedback.get().map(|f| serde_json::json!({
                "settled": f.ratings, "scanner_bursts": f.scanner_bursts,
                "merchant_notices": f.notices, "lost": f.lost,
            })),
            "marketing_paused": self.marketing_paused.get(),
            "digests": self.digests.get().map(|d| serde_json::json!({
                "sent": d.sent, "quiet": d.quiet, "failed": d.failed,
            })),
        })
    }
    fn add(a: &AtomicU32) {
        a.fetch_add(1, Ordering::Relaxed);
    }
}

/// The reason recorded on a follow-up that a dispatcher handed to SES without recording
/// the outcome: it is marked sent, never sent a second time.
pub const POSSIBLY_SENT: &str = "possibly sent, outcome not recorded";

/// Spaces sends at most `rate` per second across this dispatcher.
///
/// A send takes its slot ([`Pace::wait_until`]) before its hand-over mark is written,
/// so a crash leaves no marked email waiting for the rate; then, mark written, it
/// passes [`Pace::space_call`], which keeps consecutive SES calls one interval apart
/// however long each mark's write took (it waits only when a slow write was followed
/// by a fast one).
pub struct Pace {
    interval: std::time::Duration,
    next: Mutex<tokio::time::Instant>,
    last_call: Mutex<Option<tokio::time::Instant>>,
}

impl Pace {
    pub fn per_second(rate: f64) -> Pace {
        Pace {
            interval: std::time::Duration::from_secs_f64(1.0 / rate.max(0.001)),
            next: Mutex::new(tokio::time::Instant::now()),
            last_call: Mutex::new(None),
        }
    }

    /// Waits until one interval has passed since the previous SES call, and counts
    /// this one. Calls pass one at a time.
    pub async fn space_call(&self) {
        let mut last = self.last_call.lock().await;
        if let Some(prev) = *last {
            tokio::time::sleep_until(prev + self.interval).await;
        }
        *last = Some(tokio::time::Instant::now());
    }

    /// Waits for the next send slot. Returns `false` at once, taking no slot, when that
    /// slot comes after `cutoff`: the caller must not send.
    pub async fn wait_until(&self, cutoff: Instant) -> bool {
        let cutoff = tokio::time::Instant::from_std(cutoff);
        let at = {
            let mut next = self.next.lock().await;
            let at = (*next).max(tokio::time::Instant::now());
            if at > cutoff {
                return false;
            }
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at).await;
        true
    }
}

/// How long one DynamoDB call may take (the operation timeout of
/// `adapters::dynamo::Budget::Dispatch`, plus a little): a retry starts only if one fits
/// before the invocation's deadline.
const STORE_CALL: std::time::Duration = std::time::Duration::from_millis(4_500);

/// How much of a store error a follow-up's `reason` keeps.
const REASON_CHARS: usize = 300;

/// One run's shared state: what it did and counted, its pace and its deadline.
struct Run<'a> {
    report: &'a Report,
    pace: &'a Pace,
    deadline: Instant,
    margin: std::time::Duration,
    counts: &'a RunCounts,
}

/// Emails SES accepted in a run, by shop and UTC day: (a time of that day, how many).
type SentCounts = std::collections::BTreeMap<(String, String), (DateTime<Utc>, u64)>;

/// The report's counters and the reputation rates' send counts a run adds, kept until
/// its end and then written once per shop, day and scope (`Dispatcher::flush_counts`)
/// instead of once per email: two DynamoDB calls fewer per email in a busy run. A
/// dispatcher killed mid-run loses that run's counts (an undercount, as a lost counter
/// write is), never a send.
#[derive(Default)]
struct RunCounts {
    tallies: std::sync::Mutex<Vec<(String, crate::model::report::Tally)>>,
    /// Emails SES accepted, by shop and UTC day (with a time of that day).
    sent: std::sync::Mutex<SentCounts>,
}

impl RunCounts {
    fn tally(&self, shop: &str, tally: crate::model::report::Tally) {
        if let Ok(mut t) = self.tallies.lock() {
            t.push((shop.to_owned(), tally));
        }
    }

    fn sent(&self, shop: &str, now: DateTime<Utc>) {
        if let Ok(mut s) = self.sent.lock() {
            let day = crate::domain::reputation::day_of(now);
            s.entry((shop.to_owned(), day)).or_insert((now, 0)).1 += 1;
        }
    }

    /// Everything counted, by shop, leaving nothing behind.
    fn take(
        &self,
    ) -> (
        HashMap<String, Vec<crate::model::report::Tally>>,
        SentCounts,
    ) {
        let mut by_shop: HashMap<String, Vec<_>> = HashMap::new();
        if let Ok(mut t) = self.tallies.lock() {
            for (shop, tally) in t.drain(..) {
                by_shop.entry(shop).or_default().push(tally);
            }
        }
        let sent = self.sent.lock().map(|mut s| std::mem::take(&mut *s));
        (by_shop, sent.unwrap_or_default())
    }
}

impl Run<'_> {
    /// Time to stop starting work (claims, sends): the deadline is near or SES halted.
    fn closing(&self) -> bool {
        self.report.halted.get().is_some()
            || self.deadline.saturating_duration_since(Instant::now()) < self.margin
    }

    /// The last moment a send may start.
    fn cutoff(&self) -> Instant {
        self.deadline
            .checked_sub(self.margin)
            .unwrap_or_else(Instant::now)
    }

    /// Whether a store call still fits before the deadline after waiting `wait`.
    fn time_for(&self, wait: std::time::Duration) -> bool {
        self.deadline.saturating_duration_since(Instant::now()) > wait + STORE_CALL
    }

    /// Stops this run's sending; logs why once.
    fn halt(&self, reason: &str) {
        if self.report.halted.set(reason.to_owned()).is_ok() {
            tracing::error!(
                reason,
                "SES refuses to send (account, sender domain, configuration set or credentials): \
                 dispatch stopped; follow-ups stay due and go out once it is fixed"
            );
        }
    }
}

/// A store failure while a claimed follow-up was being handled.
struct Interrupted {
    error: StoreError,
    /// The email had been handed to SES (the follow-up carries the hand-over mark):
    /// nothing may put it back to pending, or it could go out twice.
    handed_over: bool,
}

impl From<StoreError> for Interrupted {
    fn from(error: StoreError) -> Self {
        Interrupted {
            error,
            handed_over: false,
        }
    }
}

/// A follow-up that passed the guards, with what sending it needs.
struct Attempt<'a> {
    shop: &'a ShopConfig,
    order: OrderRecord,
    profile: ProfileRecord,
    to: String,
    from: String,
    now: DateTime<Utc>,
    /// `now` as a key: the send slot's and the hand-over's time.
    now_key: String,
}

/// Why a follow-up that passed the guards still cannot be sent.
enum Unsendable {
    Cancel(&'static str),
    Fail(&'static str),
}

/// The recipient and the sender of a follow-up the guards let through.
fn recipient(
    shop: &ShopConfig,
    ctx: GuardContext,
    now: DateTime<Utc>,
) -> Result<Attempt<'_>, Unsendable> {
    let (Some(order), Some(profile)) = (ctx.order, ctx.profile) else {
        return Err(Unsendable::Cancel("order or customer not found"));
    };
    let Some(to) = profile.email.clone() else {
        return Err(Unsendable::Cancel("no email address"));
    };
    let Some(from) = shop.sender_email.clone() else {
        return Err(Unsendable::Fail("shop has no sender_email configured"));
    };
    Ok(Attempt {
        shop,
        order,
        profile,
        to,
        from,
        now,
        now_key: utc_key(&now),
    })
}

/// The start of the frequency cap's window before this attempt: a slot taken at or
/// before it is free.
fn cap_start(a: &Attempt<'_>) -> String {
    utc_key(&(a.now - Duration::hours(a.shop.frequency_cap_hours.into())))
}

/// `Some(until)` when, on the profile just read, another follow-up holds the customer's
/// send slot: this one waits until it ends.
fn cap_held_by_other(f: &FollowUpRecord, a: &Attempt<'_>) -> Option<DateTime<Utc>> {
    if a.shop.frequency_cap_hours == 0 {
        return None;
    }
    let cap_start = cap_start(a);
    let held_by_other = a.profile.last_email_at.as_deref() > Some(cap_start.as_str())
        && a.profile.last_email_by.as_deref() != Some(f.id.as_str());
    held_by_other.then(|| slot_ends(a, a.profile.last_email_at.as_deref()))
}

/// The reason a held-out follow-up carries (the lookup and the CLI show it).
pub const HELD_OUT_REASON: &str = "holdout group: recorded, not sent, for comparison";

/// When a send slot taken at `last` ends (now if unknown).
fn slot_ends(a: &Attempt<'_>, last: Option<&str>) -> DateTime<Utc> {
    let last = last
        .and_then(parse_time)
        .map(|t| t.to_utc())
        .unwrap_or(a.now);
    last + Duration::hours(a.shop.frequency_cap_hours.into())
}

/// Where a step of [`Dispatcher::send`] leaves the follow-up: go on with what it made,
/// or stop (the step recorded the outcome).
enum Step<T> {
    Next(T),
    Done,
}

/// A store failure after the hand-over mark was written.
fn handed_over(error: StoreError) -> Interrupted {
    Interrupted {
        error,
        handed_over: true,
    }
}

/// A follow-up this run is handling: the record as this run's claim writes it
/// (`sending`, leased, one more attempt) and whether that claim is stored yet.
///
/// A follow-up that carries a discount code is claimed first (`held`), so the code is
/// created once however many dispatchers see it due. Any other is claimed by the write
/// that ends this run's part in it: its hand-over mark just before the SES call (with
/// the customer's send slot in the same write), or the outcome the guards decide. Each
/// of those writes is conditional on the version read from the due index, so of two
/// dispatchers only one acts; that saves a write and a round trip per email.
#[derive(Clone)]
struct Claim {
    record: FollowUpRecord,
    held: bool,
}

impl std::ops::Deref for Claim {
    type Target = FollowUpRecord;
    fn deref(&self) -> &FollowUpRecord {
        &self.record
    }
}

impl std::ops::DerefMut for Claim {
    fn deref_mut(&mut self) -> &mut FollowUpRecord {
        &mut self.record
    }
}

impl<M: Mailer> Dispatcher<M> {
    /// One run: compliance requests and the merchants' refused-deliveries alerts, then
    /// claims and sends what is due until nothing is or `deadline` is near
    /// ([`Dispatcher::send_due`]).
    pub async fn run(&self, deadline: Instant) -> Result<Report, StoreError> {
        // Compliance requests before any send, so a customer erased now is not mailed.
        crate::apps::privacy::carry_out(&self.compliance(), deadline).await?;
        // The merchant hears of refused deliveries once a day; a failure here is logged
        // and never holds up the sends.
        if let Err(e) = alerts::alert_refused_deliveries(
            &self.store,
            &self.mailer,
            &self.config,
            self.clock.now(),
        )
        .await
        {
            tracing::error!(error = %e, "refused-deliveries alerts not checked this run");
        }
        // Ratings take effect (and merchants hear of low scores and comments) before the
        // sends, so an apology planned now can go in this run when it is due.
        let settler = crate::apps::feedback::Settler {
            config: &self.config,
            store: &self.store,
            mailer: &self.mailer,
            clock: &*self.clock,
        };
        let settled = match settler.settle_due(deadline).await {
            Ok(settled) => settled,
            Err(e) => {
                tracing::error!(error = %e, "ratings not settled this run; the next run settles them");
                Default::default()
            }
        };
        // The reputation brake, before any send, so the guards see this run's state.
        let paused =
            reputation::check_shops(&self.store, &self.mailer, &self.config, self.clock.now())
                .await;
        let report = self.send_due(deadline).await?;
        report.feedback.set(settled).ok();
        let _ = report.marketing_paused.set(paused);
        // The merchants' weekly digests, after the sends (they wait for nobody).
        let digests = crate::apps::report::send_digests(
            &self.store,
            &self.mailer,
            &self.config,
            &self.links,
            self.clock.now(),
            deadline,
        )
        .await;
        let _ = report.digests.set(digests);
        Ok(report)
    }

    /// What the privacy worker needs of this dispatcher.
    pub fn compliance(
        &self,
    ) -> crate::apps::privacy::Compliance<
        '_,
        DynamoStore,
        M,
        crate::adapters::shopify_admin::AdminClient,
    > {
        crate::apps::privacy::Compliance {
            config: &self.config,
            store: &self.store,
            mailer: &self.mailer,
            admin: &self.admin,
            clock: &*self.clock,
            owner: &self.owner,
        }
    }
}

impl<M: Mailer, S: FollowUpStore + DiscountStore, A: StoreAdmin> Dispatcher<M, S, A> {
    /// Claims and sends what is due until nothing is or `deadline` is near: the state
    /// machine, over the ports only (no compliance pass, no merchant alerts).
    pub async fn send_due(&self, deadline: Instant) -> Result<Report, StoreError> {
        let report = Report::default();
        // SES's own MaxSendRate where the endpoint tells it, else the configured one.
        let rate = self
            .mailer
            .max_send_rate()
            .await
            .unwrap_or(self.config.email.max_send_rate);
        let pace = Pace::per_second(rate);
        let counts = RunCounts::default();
        let run = Run {
            report: &report,
            pace: &pace,
            deadline,
            margin: std::time::Duration::from_millis(self.config.dispatch.deadline_margin_ms),
            counts: &counts,
        };
        let due = self.due_now().await?;
        report.due.store(due.len() as u32, Ordering::Relaxed);

        let errors = Mutex::new(Vec::new());
        // One customer's follow-ups one after another, in send order; customers in
        // parallel.
        futures::stream::iter(send_order(due))
            .for_each_concurrent(in_flight(rate), |queue| {
                let (run, errors) = (&run, &errors);
                async move {
                    for f in queue {
                        if run.closing() {
                            return; // leave the rest for the next run
                        }
                        if let Err(e) = self.handle(f, run).await {
                            errors.lock().await.push(e);
                        }
                    }
                }
            })
            .await;
        self.flush_counts(&counts).await;
        let errors = errors.into_inner();
        if let Some(e) = errors.first() {
            tracing::error!(error = %e, count = errors.len(), "dispatch: store errors; unfinished follow-ups are retried later");
        }
        Ok(report)
    }

    /// Writes what the run counted: one counter write per shop, day and scope, and one
    /// send count per shop and day, all at once.
    async fn flush_counts(&self, counts: &RunCounts) {
        let (tallies, sent) = counts.take();
        let report = tallies.into_iter().map(|(shop, tallies)| async move {
            self.store
                .count(&shop, crate::domain::report::merge(tallies))
                .await
        });
        tokio::join!(
            futures::future::join_all(report),
            self.count_for_reputation(sent)
        );
    }

    /// What every shard of the due index holds up to now, earliest first, but for the
    /// follow-ups another claim's lease still holds.
    async fn due_now(&self) -> Result<Vec<FollowUpRecord>, StoreError> {
        let now_key = utc_key(&self.clock.now());
        let shards: Vec<String> = (0..self.config.dispatch.shards)
            .map(|shard| format!("DUE#{shard}"))
            .collect();
        let mut due = self.store.due(&shards, &now_key, BATCH).await?;
        due.retain(|f| !f.leased_at(&now_key));
        Ok(due)
    }

    async fn handle(&self, seen: FollowUpRecord, run: &Run<'_>) -> Result<(), StoreError> {
        let now = self.clock.now();
        let now_key = utc_key(&now);
        let lease = Duration::seconds(self.config.dispatch.lease_seconds.into());
        let lease_until = utc_key(&(now + lease));
        let mut claimed = seen.clone();
        claimed.status = FollowUpStatus::Sending;
        claimed.attempts = seen.attempts.saturating_add(1);
        claimed.lease_owner = Some(self.owner.clone());
        claimed.lease_until = Some(lease_until.clone());
        // The due key stays as it is: a claim moving it would be two index writes (a
        // delete and a put) instead of one; runs skip it while the lease runs.
        let carries_code = self.config.shop(&seen.shop).is_some_and(|shop| {
            crate::adapters::shopify_admin::code_rule(shop, seen.playbook).is_some()
        });
        let f = if carries_code && seen.sent_at.is_none() {
            claimed.v = seen.v + 1;
            if self
                .store
                .save_followup(&claimed, seen.v, Some(&now_key))
                .await?
                == Cas::Lost
            {
                Report::add(&run.report.lost);
                return Ok(());
            }
            Report::add(&run.report.claimed);
            Claim {
                record: claimed,
                held: true,
            }
        } else {
            Claim {
                record: claimed,
                held: false,
            }
        };
        // The claim before this one handed the email to SES and recorded no outcome (its
        // dispatcher died, or the store failed after the send): the email may have gone
        // out, so it is never sent again.
        if seen.status == FollowUpStatus::Sending && seen.sent_at.is_some() {
            return self.finish_unconfirmed(f, run).await;
        }
        // Claims that never reached an outcome (a dispatcher or the store failing after
        // the claim) count as attempts too; past the limit the follow-up fails.
        if f.attempts > self.config.dispatch.max_attempts {
            let reason = format!(
                "gave up after {} attempts (last: {})",
                f.attempts - 1,
                seen.reason.as_deref().unwrap_or("no outcome recorded")
            );
            return self.finish_failed(f, &reason, run).await;
        }
        match self.process(f.clone(), now, run).await {
            Ok(()) => Ok(()),
            Err(Interrupted {
                error,
                handed_over: true,
            }) => Err(error),
            Err(Interrupted {
                error,
                handed_over: false,
            }) => self.retry_after(f, error, now, run).await,
        }
    }

    async fn process(
        &self,
        f: Claim,
        now: DateTime<Utc>,
        run: &Run<'_>,
    ) -> Result<(), Interrupted> {
        let Some(shop) = self.config.shop(&f.shop) else {
            return Ok(self.finish_cancelled(f, "shop not configured", run).await?);
        };
        let ctx = self.load(&f).await?;
        match guard(&self.config, shop, &f, &ctx, now) {
            Verdict::Cancel(reason) => Ok(self.finish_cancelled(f, &reason, run).await?),
            Verdict::Defer { until, reason } => {
                Report::add(&run.report.deferred);
                Ok(self.reschedule(f, until, &reason, false, run).await?)
            }
            Verdict::Send => self.send(f, shop, ctx, now, run).await,
        }
    }

    /// A store call failed before anything was handed to SES: record why and try again
    /// later with backoff. Store trouble (unavailable, timed out, contended) is not a send
    /// attempt: the claim's attempt is given back and the follow-up waits out the store,
    /// however long (backoff up to an hour). Data the store cannot give back (a corrupt
    /// item) is: it fails once it has had `max_attempts`. If even that cannot be written,
    /// the claim's lease ends and a later run retakes it.
    async fn retry_after(
        &self,
        f: Claim,
        error: StoreError,
        now: DateTime<Utc>,
        run: &Run<'_>,
    ) -> Result<(), StoreError> {
        if !run.time_for(std::time::Duration::ZERO) {
            return Err(error);
        }
        // The SDK's error text ends in a debug dump of the response: keep the start.
        let full = error.to_string();
        let mut reason: String = full.chars().take(REASON_CHARS).collect();
        if reason.len() < full.len() {
            reason.push('…');
        }
        let store_trouble = !error.is_permanent();
        let recorded = if store_trouble {
            Report::add(&run.report.retried);
            let retries = f.store_retries.saturating_add(1);
            let until = now + retry_backoff(retries);
            let mut f = f;
            f.store_retries = retries;
            self.reschedule(
                f,
                until,
                &format!("store trouble, retrying: {reason}"),
                false,
                run,
            )
            .await
        } else if f.attempts < self.config.dispatch.max_attempts {
            Report::add(&run.report.retried);
            let until = now + retry_backoff(f.attempts);
            self.reschedule(f, until, &format!("retrying: {reason}"), true, run)
                .await
        } else {
            self.finish_failed(f, &reason, run).await
        };
        if let Err(e) = recorded {
            tracing::warn!(error = %e, "the store error could not be recorded either; the lease will end");
        }
        Err(error)
    }

    async fn load(&self, f: &FollowUpRecord) -> Result<GuardContext, StoreError> {
        let reads = self.store.get_for_send(f).await?;
        // The suppression read with the rest is the address's the follow-up was planned
        // for; if the profile's address changed since, the new one's is read.
        let suppression = match reads.profile.as_ref().and_then(|p| p.email.as_deref()) {
            Some(e) => match email_hash(e) {
                h if Some(h.as_str()) == f.email_hash.as_deref() => reads.suppression,
                h => self.store.get_suppression(&f.shop, &h).await?,
            }
            .map(|s| s.reason),
            None => None,
        };
        let reminder = crate::ports::dispatch::reminder_target(f).map(|_| {
            crate::domain::reminder::ReminderFacts {
                satisfaction: reads.satisfaction,
                feedback: reads.feedback,
            }
        });
        let (order, profile, shop_state) = (reads.order, reads.profile, reads.shop);
        Ok(GuardContext {
            order,
            profile,
            uninstalled: shop_state
                .as_ref()
                .is_some_and(|s| s.uninstalled_at.is_some()),
            uninstall_unconfirmed: shop_state
                .as_ref()
                .is_some_and(|s| s.uninstall_unconfirmed_at.is_some()),
            suppression,
            reminder,
            marketing_paused: shop_state
                .as_ref()
                .and_then(|s| s.reputation.as_ref()?.pause_reason().map(str::to_owned)),
        })
    }

    /// A follow-up the guards let through: recipient → frequency-cap slot → discount
    /// code → render → hand over → deliver (which records the outcome). Each step that
    /// ends the attempt records its outcome and gives back the slot it no longer needs.
    async fn send(
        &self,
        f: Claim,
        shop: &ShopConfig,
        ctx: GuardContext,
        now: DateTime<Utc>,
        run: &Run<'_>,
    ) -> Result<(), Interrupted> {
        let a = match recipient(shop, ctx, now) {
            Ok(a) => a,
            Err(Unsendable::Cancel(reason)) => {
                return Ok(self.finish_cancelled(f, reason, run).await?)
            }
            Err(Unsendable::Fail(reason)) => return Ok(self.finish_failed(f, reason, run).await?),
        };
        if self.in_holdout(&f, shop) {
            return Ok(self.hold_out(f, &a, run).await?);
        }
        if let Some(until) = self.take_slot(&f, &a).await? {
            Report::add(&run.report.deferred);
            return Ok(self
                .reschedule(f, until, "frequency cap", false, run)
                .await?);
        }
        let Step::Next(discount) = self.discount_code(&f, &a, run).await? else {
            return Ok(());
        };
        let Step::Next(outgoing) = self.render(&f, &a, discount, run).await? else {
            return Ok(());
        };
        // The send-rate slot before the hand-over mark, and nothing between the mark and
        // SES: a crash leaves at most the one email being sent uncertain.
        let Step::Next(()) = self.pace_step(&f, &a, run).await? else {
            return Ok(());
        };
        let Step::Next(f) = self.hand_over_step(&f, &a, run).await? else {
            return Ok(());
        };
        self.deliver(f, &a, &outgoing, run).await
    }

    /// The frequency cap: `Some(until)` when another follow-up holds the customer's
    /// slot (this one then waits until it ends). A claim already stored takes the slot
    /// now, atomically on the profile; one not stored yet takes it with its hand-over
    /// ([`Self::hand_over`]) and here only checks the profile just read, so a follow-up
    /// the cap holds does not wait for the send rate first.
    async fn take_slot(
        &self,
        f: &Claim,
        a: &Attempt<'_>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let shop = a.shop;
        if shop.frequency_cap_hours == 0 {
            return Ok(None);
        }
        if !f.held {
            return Ok(cap_held_by_other(f, a));
        }
        let cap_start = cap_start(a);
        if self
            .store
            .reserve_send_slot(&f.shop, &f.customer_key, &f.id, &a.now_key, &cap_start)
            .await?
            == Cas::Done
        {
            return Ok(None);
        }
        Ok(Some(self.slot_free_at(f, a).await?))
    }

    /// When the send slot another follow-up holds comes free, from the profile read
    /// again.
    async fn slot_free_at(&self, f: &Claim, a: &Attempt<'_>) -> Result<DateTime<Utc>, StoreError> {
        let last = self
            .store
            .get_profile(&f.shop, &f.customer_key)
            .await?
            .and_then(|p| p.last_email_at);
        Ok(slot_ends(a, last.as_deref()))
    }

    /// A playbook that carries a code gets it now, created in the store exactly once
    /// (a retry of this follow-up reuses it). `Done` when the follow-up was cancelled,
    /// rescheduled or failed instead.
    async fn discount_code(
        &self,
        f: &Claim,
        a: &Attempt<'_>,
        run: &Run<'_>,
    ) -> Result<Step<Option<Box<DiscountRecord>>>, Interrupted> {
        use crate::adapters::shopify_admin::Issued;
        let shop = a.shop;
        let Some(rule) = crate::adapters::shopify_admin::code_rule(shop, f.playbook) else {
            return Ok(Step::Next(None));
        };
        let issued = match crate::adapters::shopify_admin::issue(
            &self.store,
            &self.admin,
            shop,
            rule,
            f,
            a.now,
        )
        .await
        {
            Ok(issued) => issued,
            Err(e) => {
                self.release_quietly(f, &a.profile, &a.now_key, shop).await;
                return Err(e.into());
            }
        };
        let e = match issued {
            Issued::Ready(d) => return Ok(Step::Next(Some(d))),
            Issued::Skip(reason) => {
                self.release(f, &a.profile, &a.now_key, shop).await?;
                self.finish_cancelled(f.clone(), &reason, run).await?;
                return Ok(Step::Done);
            }
            Issued::Refused(e) => e,
        };
        self.release(f, &a.profile, &a.now_key, shop).await?;
        if e.is_auth() {
            crate::adapters::shopify_admin::alert_token_refused(
                &self.store,
                &self.mailer,
                &self.config,
                shop,
                &e,
                a.now,
            )
            .await?;
        }
        if e.is_transient() && f.attempts < self.config.dispatch.max_attempts {
            Report::add(&run.report.retried);
            let until = a.now + retry_backoff(f.attempts);
            tracing::warn!(followup = %f.id, attempts = f.attempts, error = %e, "discount code not created; retrying later");
            let reason = format!("retrying: discount code: {e}");
            self.reschedule(f.clone(), until, &reason, true, run)
                .await?;
        } else {
            self.finish_failed(f.clone(), &format!("discount code: {e}"), run)
                .await?;
        }
        Ok(Step::Done)
    }

    /// The message, rendered with the shop's templates; `Done` (failed, slot given back)
    /// when it cannot be built.
    async fn render(
        &self,
        f: &Claim,
        a: &Attempt<'_>,
        discount: Option<Box<DiscountRecord>>,
        run: &Run<'_>,
    ) -> Result<Step<OutgoingEmail>, Interrupted> {
        let shop = a.shop;
        let mut email_ctx = email_context(
            &self.links,
            f,
            shop,
            &a.order,
            &a.profile,
            &a.to,
            &a.from,
            a.now,
        );
        email_ctx.discount_expires = discount
            .as_ref()
            .and_then(|d| crate::adapters::shopify_admin::expiry_date(d, shop));
        email_ctx.discount_code = discount.map(|d| d.code);
        let builtin;
        let templates = match self.templates.get(&f.shop) {
            Some(t) => t,
            None => {
                builtin = Templates::builtin();
                &builtin
            }
        };
        let raw = templates
            .render(&email_ctx)
            .and_then(|rendered| email::build_mime(&email_ctx, &rendered, a.now));
        let raw = match raw {
            Ok(raw) => raw,
            Err(e) => {
                self.release(f, &a.profile, &a.now_key, shop).await?;
                self.finish_failed(f.clone(), &format!("cannot build the email: {e}"), run)
                    .await?;
                return Ok(Step::Done);
            }
        };
        Ok(Step::Next(OutgoingEmail {
            raw,
            from: a.from.clone(),
            to: a.to.clone(),
            configuration_set: self.config.email.configuration_set.clone(),
            tags: vec![
                ("shop", f.shop.clone()),
                ("playbook", f.playbook.as_str().to_owned()),
                ("followup", f.id.clone()),
                ("customer", f.customer_key.clone()),
            ],
        }))
    }

    /// Marks the hand-over once the send-rate slot has come ([`Self::pace_step`]), just
    /// before the SES call. `Done` when the follow-up is no longer ours, or waits for
    /// the customer's send slot (rescheduled).
    async fn hand_over_step(
        &self,
        f: &Claim,
        a: &Attempt<'_>,
        run: &Run<'_>,
    ) -> Result<Step<Claim>, Interrupted> {
        match self.hand_over(f, a, run).await {
            Ok((_, Some(handed))) => {
                if !f.held {
                    Report::add(&run.report.claimed);
                }
                Ok(Step::Next(handed))
            }
            Ok((HandOver::CapHeld, _)) => {
                let until = self.slot_free_at(f, a).await?;
                Report::add(&run.report.deferred);
                self.reschedule(f.clone(), until, "frequency cap", false, run)
                    .await?;
                Ok(Step::Done)
            }
            Ok(_) => {
                // Our lease ended and another dispatcher holds the follow-up now, or
                // (not claimed before) another dispatcher or the webhook changed it.
                Report::add(&run.report.lost);
                Ok(Step::Done)
            }
            Err(e) => {
                self.release_quietly(f, &a.profile, &a.now_key, a.shop)
                    .await;
                Err(e.into())
            }
        }
    }

    /// Waits for the send rate. It may hold the email past the run's deadline, and SES
    /// may have halted sending meanwhile: then the follow-up goes back, unsent and without
    /// a hand-over mark, for the next run.
    async fn pace_step(
        &self,
        f: &Claim,
        a: &Attempt<'_>,
        run: &Run<'_>,
    ) -> Result<Step<()>, Interrupted> {
        if run.closing() || !run.pace.wait_until(run.cutoff()).await || run.closing() {
            self.release_quietly(f, &a.profile, &a.now_key, a.shop)
                .await;
            Report::add(&run.report.put_back);
            let reason = run.report.halted.get().map(|r| format!("halted: {r}"));
            self.put_back(f.clone(), reason, run).await?;
            return Ok(Step::Done);
        }
        Ok(Step::Next(()))
    }

    /// Hands the email to SES and records the outcome. Every store failure from here on
    /// is `handed_over`: nothing may put the follow-up back.
    async fn deliver(
        &self,
        f: Claim,
        a: &Attempt<'_>,
        outgoing: &OutgoingEmail,
        run: &Run<'_>,
    ) -> Result<(), Interrupted> {
        let report = run.report;
        run.pace.space_call().await;
        let recorded = match self.mailer.send(outgoing).await {
            Ok(message_id) => {
                let mut done = next_version(&f);
                done.status = FollowUpStatus::Sent;
                done.ses_message_id = Some(message_id);
                done.sent_at = Some(a.now_key.clone());
                done.reason = None;
                done.unindex();
                Report::add(&report.sent);
                tracing::info!(followup = %f.id, shop = %f.shop, playbook = f.playbook.as_str(), "sent");
                // Retried until the deadline; if it still fails, the hand-over mark
                // keeps a later claim from sending again. A satisfaction check's
                // reminder was created with the mark.
                let recorded = self.store_outcome(&done, &f, run).await;
                run.counts.sent(&f.shop, a.now);
                recorded
            }
            Err(e) => {
                // SES answered: nothing went out. The outcome clears the hand-over mark.
                self.release_quietly(&f, &a.profile, &a.now_key, a.shop)
                    .await;
                self.not_sent(f, e, a.now, run).await
            }
        };
        recorded.map_err(handed_over)
    }

    /// Records a send SES refused: a halt stops the run and puts the follow-up back, a
    /// transient error retries it with backoff (until `max_attempts`), the rest fail it.
    async fn not_sent(
        &self,
        f: Claim,
        e: SendError,
        now: DateTime<Utc>,
        run: &Run<'_>,
    ) -> Result<(), StoreError> {
        match e {
            SendError::Halt { reason } => {
                run.halt(&reason);
                Report::add(&run.report.put_back);
                self.put_back(f, Some(format!("halted: {reason}")), run)
                    .await
            }
            SendError::Transient(msg) if f.attempts < self.config.dispatch.max_attempts => {
                Report::add(&run.report.retried);
                let until = now + retry_backoff(f.attempts);
                tracing::warn!(followup = %f.id, attempts = f.attempts, error = %msg, "send failed; retrying later");
                self.reschedule(f, until, &format!("retrying: {msg}"), true, run)
                    .await
            }
            other => self.finish_failed(f, &other.to_string(), run).await,
        }
    }

    /// Records, after the send-rate slot and just before the SES call, that this claim
    /// is handing the email over: `sent_at` on a follow-up still `sending`, with the
    /// customer's send slot taken in the same write unless the claim took it already.
    /// Every outcome of this claim replaces it; a later claim that still finds it knows
    /// the email may have gone out.
    async fn hand_over(
        &self,
        f: &Claim,
        a: &Attempt<'_>,
        run: &Run<'_>,
    ) -> Result<(HandOver, Option<Claim>), StoreError> {
        let mut next = next_version(f);
        next.sent_at = Some(a.now_key.clone());
        let cap_start = cap_start(a);
        let slot = (!f.held && a.shop.frequency_cap_hours > 0).then(|| Slot {
            by: &f.id,
            now: &a.now_key,
            cap_start: &cap_start,
        });
        let claimable = (!f.held).then_some(a.now_key.as_str());
        // A satisfaction check's reminder is created with the mark, due `reminder_days`
        // after this send: whether it goes is decided when it is due (its guard reads
        // how the check fared: sent, delivered, not rated).
        let reminder = self.reminder_of(&next);
        let outcome = self
            .store
            .hand_over(&next, f.v, claimable, slot, reminder.as_ref())
            .await?;
        if let (HandOver::Done { planned: true }, Some(r)) = (outcome, &reminder) {
            self.count_planned(r, run);
        }
        let claim = matches!(outcome, HandOver::Done { .. }).then_some(Claim {
            record: next,
            held: true,
        });
        Ok((outcome, claim))
    }

    /// Gives back the customer's send slot after a send that did not happen.
    async fn release(
        &self,
        f: &Claim,
        profile: &ProfileRecord,
        reserved: &str,
        shop: &ShopConfig,
    ) -> Result<(), StoreError> {
        // A claim not stored yet has taken no slot (it is taken with the hand-over).
        if f.held && shop.frequency_cap_hours > 0 {
            self.store
                .release_send_slot(
                    &f.shop,
                    &f.customer_key,
                    &f.id,
                    reserved,
                    profile.last_email_at.as_deref(),
                    profile.last_email_by.as_deref(),
                )
                .await?;
        }
        Ok(())
    }

    /// [`Self::release`] where a failure must not stop what follows: the slot then stays
    /// taken by this follow-up, which takes it again on its next claim.
    async fn release_quietly(
        &self,
        f: &Claim,
        profile: &ProfileRecord,
        reserved: &str,
        shop: &ShopConfig,
    ) {
        if let Err(e) = self.release(f, profile, reserved, shop).await {
            tracing::warn!(followup = %f.id, error = %e, "send slot not given back");
        }
    }

    async fn reschedule(
        &self,
        f: Claim,
        until: DateTime<Utc>,
        reason: &str,
        keep_attempts: bool,
        run: &Run<'_>,
    ) -> Result<(), StoreError> {
        self.pending_at(
            f,
            utc_key(&until),
            Some(reason.to_owned()),
            keep_attempts,
            run,
        )
        .await
    }

    /// Back to pending at its due time, unsent and with no attempt counted. `reason`
    /// replaces the previous one if given.
    async fn put_back(
        &self,
        f: Claim,
        reason: Option<String>,
        run: &Run<'_>,
    ) -> Result<(), StoreError> {
        let due_at = f.due_at.clone();
        let reason = reason.or_else(|| f.reason.clone());
        self.pending_at(f, due_at, reason, false, run).await
    }

    async fn pending_at(
        &self,
        f: Claim,
        due_at: String,
        reason: Option<String>,
        keep_attempts: bool,
        run: &Run<'_>,
    ) -> Result<(), StoreError> {
        let mut next = next_version(&f);
        next.status = FollowUpStatus::Pending;
        next.due_at = due_at;
        next.reason = reason;
        next.lease_owner = None;
        next.lease_until = None;
        next.sent_at = None;
        if !keep_attempts {
            // A deferral is not a failed attempt.
            next.attempts = f.attempts.saturating_sub(1);
        }
        let due_at = next.due_at.clone();
        next.index_at(&due_at, self.config.dispatch.shards);
        self.store_outcome(&next, &f, run).await
    }

    async fn finish_cancelled(
        &self,
        f: Claim,
        reason: &str,
        run: &Run<'_>,
    ) -> Result<(), StoreError> {
        Report::add(&run.report.cancelled);
        let mut next = next_version(&f);
        next.status = FollowUpStatus::Cancelled;
        next.reason = Some(reason.to_owned());
        next.sent_at = None;
        next.unindex();
        self.store_outcome(&next, &f, run).await
    }

    /// Whether the follow-up's customer is in its playbook's holdout group
    /// (`domain::holdout`, the shop's `holdout_percent`).
    fn in_holdout(&self, f: &FollowUpRecord, shop: &ShopConfig) -> bool {
        let percent = shop.playbooks.holdout_percent(f.playbook);
        crate::domain::holdout::held_out(&f.shop, &f.customer_key, f.playbook, percent)
    }

    /// A held-out follow-up that passed the guards: the frequency cap still defers it
    /// (it is decided again later), read from the profile only — it takes no slot, as
    /// no email goes out; else it is recorded `held_out` at the time it would have
    /// been sent, with no discount code, no render and no send.
    async fn hold_out(&self, f: Claim, a: &Attempt<'_>, run: &Run<'_>) -> Result<(), StoreError> {
        if let Some(until) = cap_held_by_other(&f, a) {
            Report::add(&run.report.deferred);
            return self.reschedule(f, until, CAP_REASON, false, run).await;
        }
        Report::add(&run.report.held_out);
        tracing::info!(followup = %f.id, shop = %f.shop, playbook = f.playbook.as_str(), "held out");
        let mut next = next_version(&f);
        next.status = FollowUpStatus::HeldOut;
        next.held_out_at = Some(a.now_key.clone());
        next.reason = Some(HELD_OUT_REASON.to_owned());
        next.sent_at = None;
        next.unindex();
        self.store_outcome(&next, &f, run).await
    }

    async fn finish_failed(&self, f: Claim, reason: &str, run: &Run<'_>) -> Result<(), StoreError> {
        Report::add(&run.report.failed);
        tracing::warn!(followup = %f.id, shop = %f.shop, reason, "follow-up failed");
        let mut next = next_version(&f);
        next.status = FollowUpStatus::Failed;
        next.reason = Some(reason.to_owned());
        next.sent_at = None;
        next.unindex();
        self.store_outcome(&next, &f, run).await
    }

    /// Marks sent, without sending, a follow-up an earlier claim handed to SES without
    /// recording the outcome.
    async fn finish_unconfirmed(&self, f: Claim, run: &Run<'_>) -> Result<(), StoreError> {
        Report::add(&run.report.unconfirmed);
        tracing::warn!(followup = %f.id, shop = %f.shop, handed_over_at = f.sent_at.as_deref().unwrap_or_default(),
            "an earlier claim handed this email to SES and recorded no outcome: marked sent, not sent again");
        let mut done = next_version(&f);
        done.status = FollowUpStatus::Sent;
        done.reason = Some(POSSIBLY_SENT.to_owned());
        done.unindex();
        // Its reminder came with the mark; a mark written before reminders were (an
        // older dispatcher's) has none, so it is planned here if absent. The reminder's
        // guard finds out whether the check was delivered.
        let reminder = self.reminder_of(&done);
        self.store_outcome_planning(&done, &f, reminder.as_ref(), run)
            .await
    }

    /// The report's counters an outcome changes (sent, not sent and why, failed, held
    /// by the cap), and a code it carried to the customer.
    fn count_outcome(&self, before: &FollowUpRecord, next: &FollowUpRecord, run: &Run<'_>) {
        let now_key = utc_key(&self.clock.now());
        let Some(mut tally) = crate::domain::report::of_outcome(before, next, &now_key) else {
            return;
        };
        let carried_code = self.config.shop(&next.shop).is_some_and(|shop| {
            crate::adapters::shopify_admin::code_rule(shop, next.playbook).is_some()
        });
        if next.status == FollowUpStatus::Sent && carried_code {
            tally = tally.one(crate::model::report::Counter::CodesIssued);
        }
        run.counts.tally(&next.shop, tally);
    }

    /// Writes an outcome, conditional on the claim's version, retrying a failing store
    /// with backoff while a call still fits before the invocation's deadline.
    async fn store_outcome(
        &self,
        next: &FollowUpRecord,
        before: &Claim,
        run: &Run<'_>,
    ) -> Result<(), StoreError> {
        self.store_outcome_planning(next, before, None, run).await
    }

    /// [`Self::store_outcome`], creating `planned` (a satisfaction reminder) in the same
    /// write unless it exists already (a re-run, a retaken claim).
    async fn store_outcome_planning(
        &self,
        next: &FollowUpRecord,
        before: &Claim,
        planned: Option<&FollowUpRecord>,
        run: &Run<'_>,
    ) -> Result<(), StoreError> {
        let expected = before.v;
        // A claim not stored yet is made by this write: the follow-up must still be
        // claimable (pending, or a lease that ended) at the version read.
        let claimable = (!before.held).then(|| utc_key(&self.clock.now()));
        let mut wait = std::time::Duration::from_millis(100);
        let mut failed_before = false;
        loop {
            let written = match planned {
                None => self
                    .store
                    .save_followup(next, expected, claimable.as_deref())
                    .await
                    .map(|cas| (cas, false)),
                Some(p) => {
                    self.store
                        .save_followup_planning(next, expected, claimable.as_deref(), p)
                        .await
                }
            };
            match written.map(|(cas, created)| {
                if let (Cas::Done, true, Some(p)) = (cas, created, planned) {
                    self.count_planned(p, run);
                }
                cas
            }) {
                Ok(Cas::Done) => {
                    if !before.held {
                        Report::add(&run.report.claimed);
                    }
                    self.count_outcome(before, next, run);
                    return Ok(());
                }
                Ok(Cas::Lost) if !before.held && !failed_before => {
                    // Another dispatcher, or the webhook re-planning, changed it first.
                    Report::add(&run.report.lost);
                    return Ok(());
                }
                Ok(Cas::Lost) if failed_before => {
                    // An earlier attempt may have landed the outcome without the
                    // reminder (stores that write them one after the other): create it
                    // if still absent.
                    if let Some(p) = planned {
                        if let Ok(Cas::Done) = self.store.create_followup(p).await {
                            self.count_planned(p, run);
                        }
                    }
                    // An earlier attempt may have landed, or the lease passed on.
                    tracing::warn!(followup = %next.id, "outcome already written by an earlier attempt, or the lease passed to another dispatcher");
                    return Ok(());
                }
                Ok(Cas::Lost) => {
                    // Only possible if our lease ended and another dispatcher took over.
                    tracing::warn!(followup = %next.id, "outcome not recorded: the lease had passed to another dispatcher");
                    return Ok(());
                }
                Err(e) => {
                    let jitter = fastrand::u64(..=wait.as_millis() as u64 / 2);
                    let pause = wait + std::time::Duration::from_millis(jitter);
                    if !run.time_for(pause) {
                        return Err(e);
                    }
                    tracing::warn!(followup = %next.id, error = %e, "outcome not recorded yet; retrying");
                    failed_before = true;
                    tokio::time::sleep(pause).await;
                    wait = (wait * 2).min(std::time::Duration::from_secs(2));
                }
            }
        }
    }
}

fn next_version(f: &FollowUpRecord) -> FollowUpRecord {
    let mut n = f.clone();
    n.v = f.v + 1;
    n
}

mod alerts;
#[cfg(test)]
mod machine_tests;
mod reminder;
#[cfg(test)]
mod reminder_tests;
pub mod reputation;
#[cfg(test)]
mod tests;

impl Dispatcher<crate::adapters::ses::SesMailer> {
    /// Builds the dispatcher once per cold start: config, link keys, per-shop templates
    /// (overrides validated now, not at the first send), DynamoDB and SES clients.
    pub async fn from_env(
        clock: Arc<dyn Clock>,
        owner: String,
    ) -> Result<Self, crate::apps::startup::StartupError> {
        let config = Arc::new(crate::apps::startup::load_config()?);
        let table = crate::apps::startup::table_name()?;
        let keys = crate::apps::startup::link_keys().await?;
        let templates = shop_templates(&config)?;
        let admin = crate::apps::startup::admin_client(&config).await?;
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        let dynamo = crate::adapters::dynamo::dynamo_client_with(
            &shared,
            crate::adapters::dynamo::Budget::Dispatch,
        );
        Ok(Dispatcher {
            links: LinkBuilder {
                base_url: config.links.base_url.clone(),
                keys,
                ttl_days: config.links.ttl_days.into(),
            },
            config,
            store: DynamoStore::new(dynamo, table, std::time::Duration::from_secs(7 * 86_400)),
            mailer: crate::adapters::ses::SesMailer::new(aws_sdk_sesv2::Client::new(&shared)),
            templates,
            clock,
            owner,
            admin,
        })
    }
}

/// A lease owner id for this process: one Lambda container runs one invocation at a
/// time, so the container's log stream plus a random suffix identifies it.
pub fn instance_id() -> String {
    let stream = std::env::var("AWS_LAMBDA_LOG_STREAM_NAME").unwrap_or_else(|_| "local".into());
    format!("{stream}-{:08x}", fastrand::u32(..))
}

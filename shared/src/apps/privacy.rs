//! Privacy compliance: customer data export and erasure, shop erasure, and the
//! retention period of order data. `docs/privacy.md` describes the behaviour.
//!
//! The webhook only records each compliance request (`SHOP#{shop}#PRIVACY` /
//! `{received_at}#{webhook_id}`, status `pending`) and answers 200. The dispatcher
//! carries the requests out at the start of every run ([`carry_out`]), before it sends
//! anything, so a customer erased in a minute is not mailed in it:
//!
//! - `customers/redact`: the customer's profile goes first (it holds the address the
//!   dispatcher mails), then the partitions of the customer's orders, then the
//!   customer's partitions (history, follow-ups, feedback, discount codes). Suppressions
//!   stay: they hold only a hash of the address, so the opt-out outlives erasure.
//! - `customers/data_request`: everything held about the customer, as one JSON document
//!   attached to an email to the shop's `privacy_email` (or `support_email`).
//! - `shop/redact`: a Scan deletes every item of the shop except its installation
//!   record (`SHOP#{shop}` / `SHOP`), the tombstone that keeps late webhooks harmless.
//! - `app/uninstalled`: the webhook stopped the shop's sends at once; this confirms it.
//!
//! The HMAC of a webhook covers its body only, not the `X-Shopify-Topic` header, so a
//! genuine signed body could be resent under a destructive topic. `app/uninstalled` and
//! `shop/redact` are therefore confirmed with the Admin API before they act
//! ([`confirmation`]): Shopify revokes the app's access token on uninstall, so a refused
//! token proves the uninstall. A token that still works shows the delivery forged: it
//! is refused (nothing erased, sends resume) and counted. Without a token a shop
//! erasure waits for an operator (`aftercart confirm-redact`, [`confirm_redact`]).
//!
//! Every request is claimed with a lease (as follow-ups are), so two dispatchers never
//! work on one; one that dies leaves it to be retaken when the lease ends, and every
//! step is idempotent, so a request half done is finished by the next run. Done
//! requests keep no customer id, address hash or order id.

use crate::config::{Config, ShopConfig};
use crate::domain::guards::retry_backoff;
use crate::domain::refusals::RefusalKind;
use crate::model::personal::{mask_addresses, retention_expiry};
use crate::model::time::{utc_key, Clock};
use crate::model::{email_hash, keys, Key, PrivacyRequestRecord};
use crate::ports::admin::AdminError;
use crate::ports::mail::{Mailer, OutgoingEmail, SendError};
use crate::ports::privacy::{status, AppAccess, Item, PrivacyStore, RequestCondition, ScanPage};
use crate::ports::store::{Cas, StoreError};
use crate::wire::shopify::Topic;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// A compliance request as the dispatcher tracks it: the record the webhook wrote plus
/// the progress of carrying it out.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RequestState {
    #[serde(flatten)]
    pub request: PrivacyRequestRecord,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<String>,
    /// Claims so far (a data export is given up after `dispatch.max_attempts`).
    #[serde(default)]
    pub attempts: u32,
    /// Not to be retried before this time (after a temporary send failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    /// Why it failed or waits; never personal data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Hashes of further addresses found on the customer's profile (erased first), so
    /// a resumed erasure still finds their guest partitions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_hashes: Vec<String>,
    /// Items deleted so far.
    #[serde(default)]
    pub erased_items: u64,
    /// Where the shop-erasure scan resumes (a key of this shop, or one naming no customer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor_pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor_sk: Option<String>,
    /// Who confirmed a `shop/redact` or `app/uninstalled` ([`CONFIRMED_BY_ADMIN_API`], or
    /// `operator {name}` through `aftercart confirm-redact`), and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_at: Option<String>,
    /// Why an `app/uninstalled` could not be confirmed (it stays in force).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unconfirmed: Option<String>,
    /// The data export's SES message id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ses_message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// A finished request's record expires with the order data (`retention_days`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    CustomerRedact,
    DataRequest,
    ShopRedact,
    /// Confirm an `app/uninstalled` delivery (sends stopped meanwhile).
    Uninstall,
}

impl Kind {
    pub fn of(topic: &str) -> Option<Kind> {
        match Topic::parse(topic)? {
            Topic::CustomersRedact => Some(Kind::CustomerRedact),
            Topic::CustomersDataRequest => Some(Kind::DataRequest),
            Topic::ShopRedact => Some(Kind::ShopRedact),
            Topic::AppUninstalled => Some(Kind::Uninstall),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::CustomerRedact => "customers/redact",
            Kind::DataRequest => "customers/data_request",
            Kind::ShopRedact => "shop/redact",
            Kind::Uninstall => "app/uninstalled",
        }
    }
}

/// What one pass did (logged; no personal data).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub open: u32,
    pub done: u32,
    pub failed: u32,
    /// Shown forged by the Admin API (the store still accepts the app's token).
    pub refused: u32,
    /// Shop erasures that now wait for an operator's confirmation.
    pub awaiting: u32,
    /// Left for the next run (deadline, another dispatcher holds it, or a retry wait).
    pub unfinished: u32,
    pub erased_items: u64,
    pub exports_sent: u32,
}

/// Knobs of a pass; the defaults are what production uses.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Items a shop-erasure Scan page reads.
    pub scan_page: i32,
    /// Scan pages per request per pass (`None`: as many as the deadline allows).
    pub max_scan_pages: Option<u32>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            scan_page: 1000,
            max_scan_pages: None,
        }
    }
}

/// What carrying out compliance requests needs: the config, the store, the mailer (for
/// data exports), the Admin API (to confirm uninstalls), the clock, and who holds the
/// leases taken (the dispatcher's invocation).
pub struct Compliance<'a, S, M, A> {
    pub config: &'a Config,
    pub store: &'a S,
    pub mailer: &'a M,
    pub admin: &'a A,
    pub clock: &'a dyn Clock,
    pub owner: &'a str,
}

/// Carries out the open compliance requests of every configured shop, before
/// `deadline` (less `dispatch.deadline_margin_ms`). Customer requests come first, in
/// the order they arrived; shop erasures get half of the time that is left, so sends
/// are never starved while a large table is scanned.
///
/// A store failure ends the pass with an error (the dispatcher then sends nothing this
/// run); a request that cannot be carried out is marked failed and the rest go on.
pub async fn carry_out<S: PrivacyStore, M: Mailer, A: AppAccess>(
    d: &Compliance<'_, S, M, A>,
    deadline: Instant,
) -> Result<Report, StoreError> {
    carry_out_with(d, deadline, Limits::default()).await
}

/// [`carry_out`] with explicit [`Limits`].
pub async fn carry_out_with<S: PrivacyStore, M: Mailer, A: AppAccess>(
    d: &Compliance<'_, S, M, A>,
    deadline: Instant,
    limits: Limits,
) -> Result<Report, StoreError> {
    let mut report = Report::default();
    let margin = Duration::from_millis(d.config.dispatch.deadline_margin_ms);
    let hard = deadline.checked_sub(margin).unwrap_or_else(Instant::now);

    let mut customer = Vec::new();
    let mut shops = Vec::new();
    for shop in &d.config.shops {
        let open = [status::PENDING, status::IN_PROGRESS];
        for (key, state) in d.store.privacy_requests_in(&shop.domain, &open).await? {
            report.open += 1;
            let state: RequestState = match state {
                Ok(s) => s,
                Err(error) => {
                    report.failed += 1;
                    tracing::error!(shop = %shop.domain, request = %key.sk, error, "privacy request cannot be read; skipped");
                    continue;
                }
            };
            match Kind::of(&state.request.topic) {
                Some(Kind::ShopRedact) => shops.push((shop, key, state)),
                _ => customer.push((shop, key, state)),
            }
        }
    }
    if report.open == 0 {
        return Ok(report);
    }
    customer.sort_by(|a, b| a.1.sk.cmp(&b.1.sk));
    // Customer requests first, until the hard deadline; shop erasures then get half of
    // what is left, so the run keeps time for its sends.
    for (requests, share) in [(customer, 1), (shops, 2)] {
        let now = Instant::now();
        let until = now + hard.saturating_duration_since(now) / share;
        for (shop, key, state) in requests {
            if Instant::now() >= until {
                report.unfinished += 1;
                continue;
            }
            let worker = Worker {
                d,
                shop,
                key: &key,
                until,
                limits,
            };
            worker.run(state, &mut report).await?;
        }
    }
    tracing::info!(
        open = report.open,
        done = report.done,
        failed = report.failed,
        refused = report.refused,
        awaiting = report.awaiting,
        unfinished = report.unfinished,
        erased_items = report.erased_items,
        exports_sent = report.exports_sent,
        "privacy requests"
    );
    Ok(report)
}

/// `confirmed_by` of a request the Admin API confirmed (it refused the app's token).
pub const CONFIRMED_BY_ADMIN_API: &str = "admin_api";

/// The reason on a request the Admin API showed to be forged.
pub const FORGED_REASON: &str = "forged: the store still accepts the app's access token";

/// What the Admin API's answer to the access check says about an uninstall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    /// The store refuses the app's token: Shopify revoked it, the app is uninstalled.
    Confirmed,
    /// The store still accepts the token: the uninstall notice was forged.
    Forged,
    /// Cannot be told (no token configured, or an answer that says nothing about the
    /// token); the reason says which.
    Unknown(String),
    /// Cannot be told for now (5xx, timeout, no connection): ask again later.
    Retry(String),
}

/// Reads the result of [`crate::adapters::shopify_admin::AdminClient::check_access`].
pub fn confirmation(check: &Result<(), AdminError>) -> Confirmation {
    match check {
        Ok(()) => Confirmation::Forged,
        Err(AdminError::Auth(_)) => Confirmation::Confirmed,
        Err(e @ AdminError::Transient(_)) => Confirmation::Retry(e.to_string()),
        Err(e) => Confirmation::Unknown(e.to_string()),
    }
}

/// The command that confirms `shop`'s erasure by hand.
pub fn confirm_command(shop: &str) -> String {
    format!("aftercart confirm-redact --shop {shop}")
}

/// The reason on a `shop/redact` waiting for an operator.
pub fn awaiting_reason(shop: &str, why: &str) -> String {
    format!(
        "the uninstall cannot be confirmed with the Admin API ({why}): check that the app is \
         uninstalled from {shop} (Shopify Partner dashboard), then run `{}`; Shopify expects \
         the shop's data erased within 30 days of the request",
        confirm_command(shop)
    )
}

/// Marks `shop`'s `shop/redact` requests that await confirmation as confirmed by
/// `operator` at `now` and pending again, so the next dispatch erases the shop. Returns
/// the keys of the requests confirmed (none: nothing was waiting).
pub async fn confirm_redact<S: PrivacyStore>(
    store: &S,
    shop: &str,
    operator: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Key>, StoreError> {
    let mut confirmed = Vec::new();
    for (key, state) in store
        .privacy_requests_in::<RequestState>(shop, &[status::AWAITING_CONFIRMATION])
        .await?
    {
        let mut state = state.map_err(|message| StoreError::Corrupt {
            key: format!("{}/{}", key.pk, key.sk),
            message,
        })?;
        if Kind::of(&state.request.topic) != Some(Kind::ShopRedact) {
            continue;
        }
        confirm_by_operator(&mut state, operator, now);
        if store
            .put_privacy_request(&key, &state, RequestCondition::Awaiting)
            .await?
            == Cas::Done
        {
            tracing::warn!(shop, request = %key.sk, operator, "shop/redact confirmed by an operator; the next dispatch erases the shop");
            confirmed.push(key);
        }
    }
    Ok(confirmed)
}

/// A waiting request, confirmed by `operator`: pending again, to be carried out.
pub fn confirm_by_operator(state: &mut RequestState, operator: &str, now: DateTime<Utc>) {
    let operator: String = operator
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    state.request.status = status::PENDING.into();
    let operator = match operator.trim() {
        "" => "(unnamed)",
        name => name,
    };
    state.confirmed_by = Some(format!("operator {operator}"));
    state.confirmed_at = Some(utc_key(&now));
    state.reason = None;
    state.not_before = None;
}

/// How long a data export waits after SES refused the whole account
/// ([`SendError::Halt`]) before it is tried again.
const HALT_RETRY_MINUTES: i64 = 15;

/// How carrying out one request ended.
enum Step {
    Done,
    /// Stopped at the deadline (progress kept); released for the next run.
    Unfinished,
    /// Could not be done; the reason goes on the record and in the log.
    Failed(String),
    /// A temporary failure: try again after `not_before`.
    Retry {
        reason: String,
        not_before: String,
    },
    /// Shown forged by the Admin API: nothing done (the reason says why).
    Refused(String),
    /// Waits for an operator's confirmation (the reason names the command).
    Await(String),
}

struct Worker<'a, S, M, A> {
    d: &'a Compliance<'a, S, M, A>,
    shop: &'a ShopConfig,
    key: &'a Key,
    until: Instant,
    limits: Limits,
}

impl<S: PrivacyStore, M: Mailer, A: AppAccess> Worker<'_, S, M, A> {
    async fn run(&self, seen: RequestState, report: &mut Report) -> Result<(), StoreError> {
        let now = self.d.clock.now();
        let now_key = utc_key(&now);
        if seen
            .not_before
            .as_deref()
            .is_some_and(|t| t > now_key.as_str())
        {
            report.unfinished += 1;
            return Ok(());
        }
        let lease = chrono::Duration::seconds(self.d.config.dispatch.lease_seconds.into());
        let mut state = seen;
        state.request.status = status::IN_PROGRESS.into();
        state.lease_owner = Some(self.d.owner.to_owned());
        state.lease_until = Some(utc_key(&(now + lease)));
        state.attempts += 1;
        state.not_before = None;
        let claim = RequestCondition::Claimable {
            now: &now_key,
            owner: self.d.owner,
            lease_until: state.lease_until.as_deref().unwrap_or_default(),
        };
        if self
            .d
            .store
            .put_privacy_request(self.key, &state, claim)
            .await?
            == Cas::Lost
        {
            // Another dispatcher holds it.
            report.unfinished += 1;
            return Ok(());
        }
        let erased_before = state.erased_items;
        let kind = Kind::of(&state.request.topic);
        let step = match kind {
            None => Step::Failed("not a compliance topic".into()),
            Some(Kind::CustomerRedact) => self.redact_customer(&mut state).await?,
            Some(Kind::DataRequest) => self.export(&mut state, report).await?,
            Some(Kind::ShopRedact) => self.redact_shop(&mut state).await?,
            Some(Kind::Uninstall) => self.confirm_uninstall(&mut state).await?,
        };
        report.erased_items += state.erased_items - erased_before;
        self.finish(state, kind, step, report).await
    }

    /// Records how the request ended (conditional on still holding it).
    async fn finish(
        &self,
        mut state: RequestState,
        kind: Option<Kind>,
        step: Step,
        report: &mut Report,
    ) -> Result<(), StoreError> {
        let is_shop_redact = kind == Some(Kind::ShopRedact);
        let kind = kind.map_or("unknown", Kind::as_str);
        state.lease_owner = None;
        state.lease_until = None;
        if is_shop_redact && matches!(step, Step::Done) {
            return self.finish_shop_erasure(&state, kind, report).await;
        }
        self.settle(&mut state, kind, step, report);
        self.record_outcome(&state, kind).await
    }

    /// The shop's items are gone; its request record goes last, leaving only the
    /// installation record as the tombstone.
    async fn finish_shop_erasure(
        &self,
        state: &RequestState,
        kind: &str,
        report: &mut Report,
    ) -> Result<(), StoreError> {
        self.d
            .store
            .delete_keys(std::slice::from_ref(self.key))
            .await?;
        report.done += 1;
        tracing::info!(
            kind,
            shop = %self.shop.domain,
            erased_items = state.erased_items,
            "privacy request carried out"
        );
        Ok(())
    }

    /// Writes the step's outcome onto the request: its status, reason and times, and
    /// counts and logs it.
    fn settle(&self, state: &mut RequestState, kind: &str, step: Step, report: &mut Report) {
        let now = self.d.clock.now();
        let shop = self.shop.domain.as_str();
        match step {
            Step::Done => {
                forget_customer(state);
                state.request.status = status::DONE.into();
                state.completed_at = Some(utc_key(&now));
                state.reason = None;
                state.expires_at = retention_expiry(&utc_key(&now), self.shop.retention_days);
                report.done += 1;
                tracing::info!(
                    kind,
                    shop,
                    erased_items = state.erased_items,
                    "privacy request carried out"
                );
            }
            Step::Unfinished => {
                state.request.status = status::PENDING.into();
                report.unfinished += 1;
                tracing::info!(
                    kind,
                    shop,
                    erased_items = state.erased_items,
                    "privacy request continues next run"
                );
            }
            Step::Retry { reason, not_before } => {
                state.request.status = status::PENDING.into();
                state.reason = Some(reason.clone());
                state.not_before = Some(not_before);
                report.unfinished += 1;
                tracing::warn!(
                    kind,
                    shop,
                    attempts = state.attempts,
                    reason,
                    "privacy request will be retried"
                );
            }
            Step::Refused(reason) => {
                forget_customer(state);
                state.request.status = status::REFUSED.into();
                state.reason = Some(reason.clone());
                state.completed_at = Some(utc_key(&now));
                state.expires_at = retention_expiry(&utc_key(&now), self.shop.retention_days);
                report.refused += 1;
                tracing::warn!(kind, shop, request = %self.key.sk, reason, "privacy request refused");
            }
            Step::Await(reason) => {
                state.request.status = status::AWAITING_CONFIRMATION.into();
                state.reason = Some(reason.clone());
                report.awaiting += 1;
                // Logged once: a waiting request is not read again until confirmed.
                tracing::error!(
                    kind,
                    shop,
                    request = %self.key.sk,
                    command = %confirm_command(shop),
                    reason,
                    "privacy request awaits an operator's confirmation"
                );
            }
            Step::Failed(reason) => {
                state.request.status = status::FAILED.into();
                state.reason = Some(reason.clone());
                state.completed_at = Some(utc_key(&now));
                report.failed += 1;
                tracing::error!(kind, shop, request = %self.key.sk, reason, "privacy request failed");
            }
        }
    }

    /// Stores the settled request, if this dispatcher still holds its lease.
    async fn record_outcome(&self, state: &RequestState, kind: &str) -> Result<(), StoreError> {
        let held = RequestCondition::HeldBy {
            owner: self.d.owner,
        };
        if self
            .d
            .store
            .put_privacy_request(self.key, state, held)
            .await?
            == Cas::Lost
        {
            tracing::warn!(
                kind,
                shop = %self.shop.domain,
                "privacy request outcome not recorded: the lease had passed to another dispatcher"
            );
        }
        Ok(())
    }

    fn out_of_time(&self) -> bool {
        Instant::now() >= self.until
    }

    /// Erases everything naming the customer: profile first, then the customer's
    /// orders, then the customer's partitions.
    async fn redact_customer(&self, state: &mut RequestState) -> Result<Step, StoreError> {
        let shop = self.shop.domain.as_str();
        let held = gather(self.d, shop, state).await?;
        state.more_hashes = held
            .hashes
            .iter()
            .filter(|h| state.request.email_hash.as_ref() != Some(*h))
            .cloned()
            .collect();
        let profiles: Vec<Key> = held
            .customers
            .iter()
            .filter(|(_, items)| items.iter().any(|i| sk_of(i) == "PROFILE"))
            .map(|(pk, _)| Key {
                pk: pk.clone(),
                sk: "PROFILE".into(),
            })
            .collect();
        state.erased_items += self.d.store.delete_keys(&profiles).await? as u64;
        for items in held.orders.values() {
            if self.out_of_time() {
                return Ok(Step::Unfinished);
            }
            let keys: Vec<Key> = items.iter().filter_map(item_key).collect();
            state.erased_items += self.d.store.delete_keys(&keys).await? as u64;
        }
        let rest: Vec<Key> = held
            .customers
            .values()
            .flatten()
            .filter_map(item_key)
            .filter(|k| k.sk != "PROFILE")
            .collect();
        state.erased_items += self.d.store.delete_keys(&rest).await? as u64;
        Ok(Step::Done)
    }

    /// Sends the customer's data to the shop's privacy contact, once.
    async fn export(
        &self,
        state: &mut RequestState,
        report: &mut Report,
    ) -> Result<Step, StoreError> {
        let shop = self.shop;
        let (to, from) = match export_addresses(shop) {
            Ok(addresses) => addresses,
            Err(step) => return Ok(step),
        };
        let now = self.d.clock.now();
        let raw = match self.export_message(state, &to, &from, now).await? {
            Ok(raw) => raw,
            Err(step) => return Ok(step),
        };
        if self.out_of_time() {
            return Ok(Step::Unfinished);
        }
        let email = OutgoingEmail {
            raw,
            from,
            to,
            configuration_set: None,
            tags: vec![
                ("shop", shop.domain.clone()),
                ("kind", "data_request".to_owned()),
            ],
        };
        Ok(self.send_export(state, &email, now, report).await)
    }

    /// The export email: everything held about the customer as a JSON attachment.
    async fn export_message(
        &self,
        state: &RequestState,
        to: &str,
        from: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<Vec<u8>, Step>, StoreError> {
        let shop = self.shop;
        let held = gather(self.d, &shop.domain, state).await?;
        let mut suppressions = Vec::new();
        for h in &held.hashes {
            let pk = keys::suppression(&shop.domain, h).pk;
            suppressions.extend(self.d.store.partition_items(&pk).await?);
        }
        let document = export_document(
            &shop.domain,
            &state.request,
            &utc_key(&now),
            &held,
            &suppressions,
        );
        let reference = state
            .request
            .data_request_id
            .map_or_else(|| self.key.sk.clone(), |id| id.to_string());
        let body = serde_json::to_vec_pretty(&document).unwrap_or_default();
        let mail = ExportMail {
            from,
            from_name: shop.sender_name.as_deref().unwrap_or(shop.brand()),
            to,
            shop_name: shop.brand(),
            reference: &reference,
            json: &body,
            date: now,
        };
        Ok(export_email(&mail)
            .map_err(|e| Step::Failed(format!("cannot build the export email: {e}"))))
    }

    /// Hands the export to SES; a transient failure retries with backoff, a halt waits
    /// without using an attempt.
    async fn send_export(
        &self,
        state: &mut RequestState,
        email: &OutgoingEmail,
        now: DateTime<Utc>,
        report: &mut Report,
    ) -> Step {
        match self.d.mailer.send(email).await {
            Ok(message_id) => {
                state.ses_message_id = Some(message_id);
                report.exports_sent += 1;
                // Keep to the send rate: follow-ups go out right after this.
                let rate = self.d.config.email.max_send_rate.max(0.001);
                tokio::time::sleep(Duration::from_secs_f64((1.0 / rate).min(1.0))).await;
                Step::Done
            }
            Err(SendError::Transient(msg))
                if state.attempts < self.d.config.dispatch.max_attempts =>
            {
                Step::Retry {
                    reason: format!("retrying: {}", mask_addresses(&msg)),
                    not_before: utc_key(&(now + retry_backoff(state.attempts))),
                }
            }
            Err(SendError::Halt { reason }) => {
                // The account, sender domain or configuration set refuses every email:
                // the export waits for that to be fixed, and the wait is not an attempt.
                state.attempts = state.attempts.saturating_sub(1);
                Step::Retry {
                    reason: format!("halted: {}", mask_addresses(&reason)),
                    not_before: utc_key(&(now + chrono::Duration::minutes(HALT_RETRY_MINUTES))),
                }
            }
            Err(e) => Step::Failed(mask_addresses(&e.to_string())),
        }
    }

    /// Confirms an `app/uninstalled` with the Admin API: a refused token confirms it (sends
    /// stay stopped); a working one shows it forged (sends resume, the refusal is
    /// counted); without a token it stays in force unconfirmed.
    async fn confirm_uninstall(&self, state: &mut RequestState) -> Result<Step, StoreError> {
        Ok(match self.check_uninstall(state, false).await? {
            Confirmation::Confirmed => Step::Done,
            Confirmation::Forged => Step::Refused(FORGED_REASON.into()),
            Confirmation::Unknown(why) => {
                tracing::warn!(shop = %self.shop.domain, request = %self.key.sk, problem = %why, "app/uninstalled cannot be confirmed with the Admin API; the uninstall stays in force");
                state.unconfirmed = Some(why);
                Step::Done
            }
            Confirmation::Retry(why) => self.retry_confirmation(state, &why),
        })
    }

    /// A `shop/redact`: confirmed first (once: a resumed erasure is not checked again),
    /// then the shop is erased. Forged, nothing is erased; without a token it waits for
    /// an operator.
    async fn redact_shop(&self, state: &mut RequestState) -> Result<Step, StoreError> {
        if state.confirmed_at.is_none() {
            match self.check_uninstall(state, true).await? {
                Confirmation::Confirmed => {}
                Confirmation::Forged => return Ok(Step::Refused(FORGED_REASON.into())),
                Confirmation::Unknown(why) => {
                    return Ok(Step::Await(awaiting_reason(&self.shop.domain, &why)))
                }
                Confirmation::Retry(why) => return Ok(self.retry_confirmation(state, &why)),
            }
        }
        self.erase_shop(state).await
    }

    /// Asks the Admin API whether the uninstall behind the request (a shop erasure with
    /// `redact`) is real, and records on the shop what the answer shows: confirmed, or
    /// cannot be told → the uninstall stays in force (due follow-ups are cancelled from
    /// now on); forged → sends resume and the refusal is counted; no answer → nothing
    /// changes (sends stay stopped, follow-ups wait).
    async fn check_uninstall(
        &self,
        state: &mut RequestState,
        redact: bool,
    ) -> Result<Confirmation, StoreError> {
        let shop = self.shop.domain.as_str();
        let found = confirmation(&self.d.admin.check_access(shop).await);
        match &found {
            Confirmation::Confirmed => self.confirmed(state, redact).await?,
            Confirmation::Unknown(_) => {
                self.d
                    .store
                    .confirm_uninstalled(shop, &state.request.received_at, redact)
                    .await?
            }
            Confirmation::Forged => {
                let kind = if redact {
                    RefusalKind::ForgedShopRedact
                } else {
                    RefusalKind::ForgedUninstall
                };
                self.refuse_forged(state, kind).await?
            }
            Confirmation::Retry(_) => {}
        }
        Ok(found)
    }

    /// The Admin API refused the app's token: the uninstall (and, with `redact`, the
    /// erasure request) is confirmed, recorded on the shop and on the request.
    async fn confirmed(&self, state: &mut RequestState, redact: bool) -> Result<(), StoreError> {
        let shop = self.shop.domain.as_str();
        self.d
            .store
            .confirm_uninstalled(shop, &state.request.received_at, redact)
            .await?;
        state.confirmed_by = Some(CONFIRMED_BY_ADMIN_API.into());
        state.confirmed_at = Some(utc_key(&self.d.clock.now()));
        tracing::info!(shop, request = %self.key.sk, topic = %state.request.topic, "uninstall confirmed: the Admin API refuses the app's token");
        Ok(())
    }

    /// The Admin API could not answer: ask again later (sends stay stopped meanwhile).
    /// The wait is not an attempt that could exhaust anything: the request must be
    /// carried out in the end.
    fn retry_confirmation(&self, state: &mut RequestState, why: &str) -> Step {
        let now = self.d.clock.now();
        Step::Retry {
            reason: format!("confirming the uninstall with the Admin API: {why}"),
            not_before: utc_key(&(now + retry_backoff(state.attempts))),
        }
    }

    /// A destructive request the store's working token shows forged: sends resume (the
    /// stop it put on them is lifted) and the refusal is counted; the caller erases
    /// nothing.
    async fn refuse_forged(
        &self,
        state: &RequestState,
        kind: RefusalKind,
    ) -> Result<(), StoreError> {
        let shop = self.shop.domain.as_str();
        let resumed = self.resume_sends(&state.request.received_at).await?;
        // The count feeds the merchant's alert; failing to count must not hold up the
        // refusal (nor, retried for ever, every later dispatch).
        if let Err(e) = self
            .d
            .store
            .count_refusal(shop, kind, self.d.clock.now())
            .await
        {
            tracing::error!(shop, request = %self.key.sk, refusal = kind.as_str(), error = %e, "refusal not counted");
        }
        tracing::warn!(
            shop,
            request = %self.key.sk,
            topic = %state.request.topic,
            refusal = kind.as_str(),
            resumed,
            "forged {}: the store still accepts the app's access token; refused, sends resume",
            state.request.topic
        );
        Ok(())
    }

    /// Lifts the uninstall mark from the installation record, unless a later uninstall
    /// or erasure request (received after `received_at`) set it: that one is confirmed
    /// on its own. Returns whether the mark was lifted.
    async fn resume_sends(&self, received_at: &str) -> Result<bool, StoreError> {
        let shop = self.shop.domain.as_str();
        for _ in 0..RESUME_TRIES {
            let Some(rec) = self.d.store.get_shop(shop).await? else {
                return Ok(false);
            };
            let marks = [
                &rec.uninstalled_at,
                &rec.redact_requested_at,
                &rec.uninstall_unconfirmed_at,
            ];
            if marks.iter().all(|m| m.is_none()) {
                return Ok(false);
            }
            if marks
                .iter()
                .any(|m| m.as_deref().is_some_and(|t| t > received_at))
            {
                tracing::info!(
                    shop,
                    "a later uninstall notice awaits its own confirmation; sends stay stopped"
                );
                return Ok(false);
            }
            if self.d.store.resume_sends(shop, rec.v).await? == Cas::Done {
                return Ok(true);
            }
        }
        Err(StoreError::Unavailable {
            operation: "UpdateItem",
            message: format!(
                "the installation record kept changing; {RESUME_TRIES} tries to resume sends lost"
            ),
        })
    }

    /// Deletes every item of the shop but its installation record, page by page,
    /// saving where it is after each page.
    async fn erase_shop(&self, state: &mut RequestState) -> Result<Step, StoreError> {
        let shop = self.shop.domain.as_str();
        let mut cursor = match (&state.cursor_pk, &state.cursor_sk) {
            (Some(pk), Some(sk)) => Some(Key {
                pk: pk.clone(),
                sk: sk.clone(),
            }),
            _ => None,
        };
        let mut pages = 0u32;
        loop {
            let limited = self.limits.max_scan_pages.is_some_and(|max| pages >= max);
            if self.out_of_time() || limited {
                return Ok(Step::Unfinished);
            }
            let ScanPage { keys, next, .. } = self
                .d
                .store
                .scan_shop_page(shop, cursor.as_ref(), self.limits.scan_page)
                .await?;
            pages += 1;
            let mine: Vec<Key> = keys
                .into_iter()
                .filter(|k| is_shop_item(&k.pk, shop) && k != self.key)
                .collect();
            state.erased_items += self.d.store.delete_keys(&mine).await? as u64;
            let Some(next) = next else {
                return Ok(Step::Done);
            };
            if safe_cursor(&next.pk, shop) {
                state.cursor_pk = Some(next.pk.clone());
                state.cursor_sk = Some(next.sk.clone());
            }
            cursor = Some(next);
            // Save the progress and extend the lease.
            let now = self.d.clock.now();
            let lease = chrono::Duration::seconds(self.d.config.dispatch.lease_seconds.into());
            state.lease_until = Some(utc_key(&(now + lease)));
            let owner = self.d.owner;
            let held = RequestCondition::HeldBy { owner };
            if self
                .d
                .store
                .put_privacy_request(self.key, &*state, held)
                .await?
                == Cas::Lost
            {
                return Ok(Step::Unfinished);
            }
        }
    }
}

/// Tries to lift an uninstall mark while webhooks change the installation record.
const RESUME_TRIES: u32 = 5;

/// Clears what names the customer from a finished request.
fn forget_customer(state: &mut RequestState) {
    state.request.customer_id = None;
    state.request.email_hash = None;
    state.request.order_ids.clear();
    state.more_hashes.clear();
}

/// Everything held about one customer.
#[derive(Debug, Default)]
pub struct Holdings {
    /// The customer's partitions (by customer id, and `guest-{hash}` for each address),
    /// by pk, with their items.
    pub customers: BTreeMap<String, Vec<Item>>,
    /// The customer's orders (order, shipments, refunds), by order id.
    pub orders: BTreeMap<u64, Vec<Item>>,
    /// Hashes of the customer's addresses.
    pub hashes: BTreeSet<String>,
    /// Orders named by the customer's items but stored for another customer.
    pub skipped_orders: usize,
}

/// Reads everything held about the request's customer: the customer-id partition, a
/// guest partition for each known address (the request's and the profile's), and the
/// order partitions they and the request name.
async fn gather<S: PrivacyStore, M, A>(
    d: &Compliance<'_, S, M, A>,
    shop: &str,
    state: &RequestState,
) -> Result<Holdings, StoreError> {
    let req = &state.request;
    let mut held = Holdings::default();
    let mut to_read: Vec<String> = Vec::new();
    if let Some(id) = req.customer_id {
        to_read.push(id.to_string());
    }
    for h in req.email_hash.iter().chain(&state.more_hashes) {
        if held.hashes.insert(h.clone()) {
            to_read.push(format!("guest-{h}"));
        }
    }
    let mut customer_keys: BTreeSet<String> = BTreeSet::new();
    let mut order_ids: BTreeSet<u64> = req.order_ids.iter().copied().collect();
    while let Some(ckey) = to_read.pop() {
        if !customer_keys.insert(ckey.clone()) {
            continue;
        }
        let pk = keys::customer_pk(shop, &ckey);
        let items = d.store.partition_items(&pk).await?;
        let found = scan_customer_items(&items);
        order_ids.extend(found.order_ids);
        for h in found.hashes {
            if held.hashes.insert(h.clone()) {
                to_read.push(format!("guest-{h}"));
            }
        }
        if !items.is_empty() {
            held.customers.insert(pk, items);
        }
    }
    for id in order_ids {
        let items = d.store.partition_items(&keys::order_pk(shop, id)).await?;
        if items.is_empty() {
            continue;
        }
        if order_belongs(&items, &customer_keys, req.order_ids.contains(&id)) {
            held.orders.insert(id, items);
        } else {
            held.skipped_orders += 1;
        }
    }
    Ok(held)
}

/// What a customer partition's items point to.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Found {
    pub order_ids: BTreeSet<u64>,
    /// Hashes of the addresses on the profile.
    pub hashes: BTreeSet<String>,
}

/// The orders (history entries, follow-ups, feedback) and addresses (profile) named by
/// the items of a customer partition.
pub fn scan_customer_items(items: &[Item]) -> Found {
    let mut found = Found::default();
    for item in items {
        let sk = sk_of(item);
        if sk == "PROFILE" {
            if let Some(e) = text(item, "email") {
                if !e.trim().is_empty() {
                    found.hashes.insert(email_hash(e));
                }
            }
        } else if let Some(rest) = sk.strip_prefix("ORDER#") {
            // `ORDER#{created_at}#{order_id}`
            if let Some(id) = rest.rsplit('#').next().and_then(|s| s.parse().ok()) {
                found.order_ids.insert(id);
            }
        } else if sk.starts_with(keys::FOLLOWUP_PREFIX) || sk.starts_with(keys::FEEDBACK_PREFIX) {
            if let Some(id) = number(item, "order_id") {
                found.order_ids.insert(id);
            }
        }
    }
    found
}

/// Whether an order partition belongs to the customer: the request names it, or its
/// order item is the customer's (or names nobody, when only shipments or refunds
/// arrived). An order of another customer (e.g. one that used this customer's code)
/// is left alone.
pub fn order_belongs(items: &[Item], customer_keys: &BTreeSet<String>, requested: bool) -> bool {
    if requested {
        return true;
    }
    let owner = items
        .iter()
        .find(|i| sk_of(i) == "ORDER")
        .and_then(|i| text(i, "customer_key").map(str::to_owned));
    owner.is_none_or(|k| customer_keys.contains(&k))
}

/// Whether `pk` is a key of `shop`'s data: its second `#`-separated segment is the
/// shop (`SHOP#{shop}#…`, `DELIVERY#{shop}#…`, `EVENT#{shop}#…`, `SUPPRESS#{shop}#…`,
/// `MAILEVENT#{shop}#…`). The installation record `SHOP#{shop}` has no third segment
/// and is kept.
pub fn is_shop_item(pk: &str, shop: &str) -> bool {
    let mut parts = pk.splitn(3, '#');
    let (_, second, rest) = (parts.next(), parts.next(), parts.next());
    second == Some(shop) && rest.is_some()
}

/// Whether a Scan position may be stored on the request record: it must not name
/// another shop's customer (this shop's items are being deleted anyway).
pub fn safe_cursor(pk: &str, shop: &str) -> bool {
    is_shop_item(pk, shop) || !pk.contains("#CUSTOMER#")
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(Value::as_str)
}

fn sk_of(item: &Item) -> &str {
    text(item, "sk").unwrap_or_default()
}

fn item_key(item: &Item) -> Option<Key> {
    Some(Key {
        pk: text(item, "pk")?.to_owned(),
        sk: text(item, "sk")?.to_owned(),
    })
}

fn number(item: &Item, name: &str) -> Option<u64> {
    item.get(name).and_then(Value::as_u64)
}

/// Attributes that are table plumbing, not data about the customer.
const PLUMBING: [&str; 8] = [
    "pk",
    "sk",
    "entity",
    "due_pk",
    "due_sk",
    "lease_owner",
    "lease_until",
    "v",
];

/// A stored item as the export shows it: without its table plumbing.
pub fn item_json(item: &Item) -> Value {
    Value::Object(
        item.iter()
            .filter(|(k, _)| !PLUMBING.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

/// The export: everything held about the customer, grouped by kind.
pub fn export_document(
    shop: &str,
    req: &PrivacyRequestRecord,
    generated_at: &str,
    held: &Holdings,
    suppressions: &[Item],
) -> Value {
    let sections = CustomerSections::of(held.customers.values().flatten());
    let orders: Vec<Value> = held
        .orders
        .iter()
        .map(|(id, items)| order_json(*id, items))
        .collect();
    let CustomerSections {
        profiles,
        history,
        followups,
        feedback,
        discounts,
        other,
    } = sections;
    let mut doc = json!({
        "format": "aftercart-customer-data/1",
        "shop": shop,
        "data_request_id": req.data_request_id,
        "customer_id": req.customer_id,
        "received_at": req.received_at,
        "generated_at": generated_at,
        "profiles": profiles,
        "order_history": history,
        "orders": orders,
        "followups": followups,
        "feedback": feedback,
        "discount_codes": discounts,
        "suppressions": suppressions.iter().map(item_json).collect::<Vec<_>>(),
    });
    if !other.is_empty() {
        doc["other"] = Value::Array(other);
    }
    doc
}

/// A customer partition's items, by the export's section.
#[derive(Default)]
struct CustomerSections {
    profiles: Vec<Value>,
    history: Vec<Value>,
    followups: Vec<Value>,
    feedback: Vec<Value>,
    discounts: Vec<Value>,
    other: Vec<Value>,
}

impl CustomerSections {
    fn of<'a>(items: impl Iterator<Item = &'a Item>) -> Self {
        let mut s = CustomerSections::default();
        for item in items {
            let sk = sk_of(item);
            let section = if sk == "PROFILE" {
                &mut s.profiles
            } else if sk.starts_with("ORDER#") {
                &mut s.history
            } else if sk.starts_with(keys::FOLLOWUP_PREFIX) {
                &mut s.followups
            } else if sk.starts_with(keys::FEEDBACK_PREFIX) {
                &mut s.feedback
            } else if sk.starts_with(keys::DISCOUNT_PREFIX) {
                &mut s.discounts
            } else {
                &mut s.other
            };
            section.push(item_json(item));
        }
        s
    }
}

/// One order's partition in the export: the order, its fulfillments and refunds.
fn order_json(id: u64, items: &[Item]) -> Value {
    let mut order = Value::Null;
    let mut fulfillments = Vec::new();
    let mut refunds = Vec::new();
    let mut more = Vec::new();
    for item in items {
        let sk = sk_of(item);
        let json = item_json(item);
        if sk == "ORDER" {
            order = with_full_line_names(json);
        } else if sk.starts_with("FULFILLMENT#") {
            fulfillments.push(json);
        } else if sk.starts_with("REFUND#") {
            refunds.push(json);
        } else {
            more.push(json);
        }
    }
    let mut v = json!({
        "order_id": id,
        "order": order,
        "fulfillments": fulfillments,
        "refunds": refunds,
    });
    if !more.is_empty() {
        v["other"] = Value::Array(more);
    }
    v
}

/// The order item as the export shows it: its lines under their full names (they are
/// stored under short ones, [`crate::model::OrderLine::STORED_NAMES`]).
fn with_full_line_names(mut order: Value) -> Value {
    let Some(lines) = order.get_mut("lines").and_then(Value::as_array_mut) else {
        return order;
    };
    for line in lines.iter_mut().filter_map(Value::as_object_mut) {
        for (stored, full) in crate::model::OrderLine::STORED_NAMES {
            if stored != full {
                if let Some(v) = line.remove(stored) {
                    line.insert(full.to_owned(), v);
                }
            }
        }
    }
    order
}

/// Where a shop's data export goes (`privacy_email`, else `support_email`) and where it
/// comes from (`sender_email`): the request fails, saying what to configure, without.
fn export_addresses(shop: &ShopConfig) -> Result<(String, String), Step> {
    let Some(to) = shop.privacy_email.clone().or(shop.support_email.clone()) else {
        return Err(Step::Failed(format!(
            "shop {} has neither privacy_email nor support_email configured: add privacy_email \
             to its [[shop]] table, deploy, then set this request's status back to pending",
            shop.domain
        )));
    };
    let Some(from) = shop.sender_email.clone() else {
        return Err(Step::Failed(format!(
            "shop {} has no sender_email configured to send the export from",
            shop.domain
        )));
    };
    Ok((to, from))
}

/// The export email's parts.
pub struct ExportMail<'a> {
    pub from: &'a str,
    pub from_name: &'a str,
    pub to: &'a str,
    pub shop_name: &'a str,
    /// The Shopify data request id (names the attachment).
    pub reference: &'a str,
    pub json: &'a [u8],
    pub date: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0} is not a valid email address")]
    Address(&'static str),
    #[error(transparent)]
    Build(crate::email::EmailError),
}

/// The MIME message carrying the export: a short text part and the JSON attachment
/// `customer-data-{reference}.json`, built by [`crate::email::mime::build`].
pub fn export_email(m: &ExportMail<'_>) -> Result<Vec<u8>, ExportError> {
    use crate::email::{mime, EmailError};
    let reference: String = m
        .reference
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    let text = format!(
        "Customer data request {reference} for {shop}\n\n\
         Attached is everything Aftercart holds about the customer named in this Shopify\n\
         data request: the customer's profile, order history, orders with their shipments\n\
         and refunds, follow-up emails, feedback, discount codes and suppressions.\n\n\
         Shopify asks you to provide this data to the customer.\n",
        shop = m.shop_name.replace(|c: char| c.is_control(), " "),
    );
    let subject = format!("Customer data request {reference} – {}", m.shop_name);
    let envelope = mime::Envelope {
        from: (m.from_name, m.from),
        from_field: "sender_email",
        to: m.to,
        to_field: "privacy_email",
        reply_to: None,
        subject: &subject,
        date: m.date,
        unsubscribe_url: None,
    };
    let filename = format!("customer-data-{reference}.json");
    let body = mime::Body::Attached {
        text: &text,
        filename: &filename,
        content_type: "application/json",
        bytes: m.json,
    };
    mime::build(&envelope, body).map_err(|e| match e {
        EmailError::InvalidAddress { field, .. } => ExportError::Address(field),
        other => ExportError::Build(other),
    })
}

#[cfg(test)]
mod tests;

//! Shopify Admin GraphQL client: unique single-use discount codes (issue 5), and the
//! access check that confirms an uninstall ([`AdminClient::check_access`]).
//!
//! - [`code_rule`] is THE place that says which playbooks carry a code and with which
//!   rule.
//! - [`AdminClient`] calls `https://{shop}/admin/api/{version}/graphql.json` with the
//!   shop's `X-Shopify-Access-Token`, request timeouts, cost-bucket throttling (it waits
//!   before the bucket runs empty and after `Throttled`), and retries of 5xx answers and
//!   timeouts; errors are typed ([`AdminError`]). Its requests go through
//!   [`transport`], on the HTTP/TLS stack the AWS SDK already links.
//! - [`issue`] makes the code for one follow-up exactly once: the code is chosen and
//!   recorded in DynamoDB *before* the store is asked to create it, so a retried dispatch
//!   sends the same code again; a `TAKEN` answer is resolved by looking the code up
//!   (our own earlier attempt that landed → adopt it; someone else's → a new code).
//! - [`alert_token_refused`] tells the merchant once when the store refuses the token.
//!
//! See `docs/discounts.md`.

pub mod code;
pub mod graphql;
pub mod transport;

use crate::config::{AdminSettings, Config, ConfigError, DiscountRule, ShopConfig};
use crate::model::time::utc_key;
use crate::model::{DiscountRecord, DiscountStatus, FollowUpRecord, Playbook};
use crate::ports::admin::AdminError;
use crate::ports::admin::{DiscountValue, FoundDiscount, NewDiscount};
use crate::ports::dispatch::{DiscountStore, StoreAdmin};
use crate::ports::mail::{Mailer, OutgoingEmail};
use crate::ports::store::{Cas, StoreError};
use chrono::{DateTime, Duration as Days, Utc};
use graphql::{Bucket, CreateAnswer, TopErrors};
use http::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use transport::{SendError, Transport};

#[cfg(test)]
mod tests;

/// The discount rule of `playbook` in `shop`, or `None` when that playbook's emails
/// carry no code. Every decision "does this email get a code" goes through here.
pub fn code_rule(shop: &ShopConfig, playbook: Playbook) -> Option<&DiscountRule> {
    match playbook {
        Playbook::Loyalty => shop.playbooks.loyalty.discount.as_ref(),
        Playbook::Recovery => shop.playbooks.recovery.discount.as_ref(),
        Playbook::ThankYou
        | Playbook::Satisfaction
        | Playbook::Replenishment
        | Playbook::Returns
        | Playbook::SatisfactionReminder => None,
    }
}

/// Whether emails of `playbook` in `shop` carry a discount code.
pub fn needs_code(shop: &ShopConfig, playbook: Playbook) -> bool {
    code_rule(shop, playbook).is_some()
}

/// Whether any playbook of `shop` makes codes (then it needs an Admin API token).
pub fn shop_makes_codes(shop: &ShopConfig) -> bool {
    Playbook::ALL.into_iter().any(|p| needs_code(shop, p))
}

/// Each shop's Admin API access token, read once at start.
#[derive(Clone, Default)]
pub struct AdminTokens(HashMap<String, SecretString>);

impl std::fmt::Debug for AdminTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl AdminTokens {
    /// Reads each shop's token from its variable (`admin_token_env`, default
    /// `AFTERCART_ADMIN_TOKEN`) through `lookup`. A shop whose playbooks make codes must
    /// have one; other shops may.
    pub fn load(
        config: &Config,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut map = HashMap::new();
        for (i, shop) in config.shops.iter().enumerate() {
            let var = token_var(shop);
            match lookup(var).map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()) {
                Some(token) => {
                    if HeaderValue::from_str(&token).is_err() {
                        return Err(ConfigError::Invalid {
                            field: format!("shop[{i}] ({})", shop.domain),
                            problem: format!("environment variable {var} holds a token with characters not allowed in an HTTP header"),
                            fix: format!("set {var} to the app's Admin API access token exactly as Shopify shows it"),
                        });
                    }
                    map.insert(shop.domain.clone(), SecretString::from(token));
                }
                None if shop_makes_codes(shop) => {
                    return Err(ConfigError::Invalid {
                        field: format!("shop[{i}] ({})", shop.domain),
                        problem: format!(
                            "a playbook makes discount codes but environment variable {var} holds no Admin API token"
                        ),
                        fix: format!(
                            "set {var} to the app's Admin API access token (scope write_discounts), or remove the playbook's discount rule"
                        ),
                    })
                }
                None => {}
            }
        }
        Ok(AdminTokens(map))
    }

    /// From explicit values (tests, tools).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        AdminTokens(
            pairs
                .into_iter()
                .map(|(shop, token)| (shop.to_owned(), SecretString::from(token.to_owned())))
                .collect(),
        )
    }
}

/// The variable holding `shop`'s token.
pub fn token_var(shop: &ShopConfig) -> &str {
    shop.admin_token_env
        .as_deref()
        .unwrap_or(crate::config::DEFAULT_ADMIN_TOKEN_ENV)
}

/// Longest wait for the cost bucket before one request.
const MAX_THROTTLE_WAIT: Duration = Duration::from_secs(10);
/// Longest backoff after a 5xx or a timeout.
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// No new attempt starts after this long in one call, so a call stays well inside the
/// dispatcher's lease (`dispatch.lease_seconds`, 120 s by default).
const CALL_BUDGET: Duration = Duration::from_secs(30);

/// The Admin GraphQL API client, built once per cold start and shared by every send.
pub struct AdminClient {
    http: Transport,
    api_version: String,
    /// Replaces `https://{shop}/` (local fakes).
    endpoint: Option<url::Url>,
    max_attempts: u32,
    retry_base: Duration,
    /// Per shop, the `X-Shopify-Access-Token` value, marked sensitive.
    tokens: HashMap<String, HeaderValue>,
    /// Per shop, our view of the cost bucket.
    buckets: Mutex<HashMap<String, Bucket>>,
    started: Instant,
}

impl std::fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminClient")
            .field("api_version", &self.api_version)
            .field("endpoint", &self.endpoint.as_ref().map(|u| u.as_str()))
            .field("shops_with_token", &self.tokens.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// What one attempt of an Admin API call came to.
enum Attempt {
    Data(Value),
    Failed(AdminError),
    /// Worth another attempt after a pause (the cost bucket's, when `throttled`).
    Again {
        problem: String,
        throttled: bool,
        retry_after: Option<f64>,
    },
}

impl Attempt {
    fn again(problem: impl Into<String>) -> Self {
        Attempt::Again {
            problem: problem.into(),
            throttled: false,
            retry_after: None,
        }
    }

    fn throttled(problem: impl Into<String>, retry_after: Option<f64>) -> Self {
        Attempt::Again {
            problem: problem.into(),
            throttled: true,
            retry_after,
        }
    }
}

/// What a readable 2xx response says: its `data`, or the top-level error it carries.
fn data_answer(json: &Value, retry_after: Option<f64>) -> Attempt {
    match graphql::top_errors(json) {
        TopErrors::None => match json.get("data") {
            Some(data) if data.is_object() => Attempt::Data(data.clone()),
            _ => Attempt::Failed(AdminError::Transient("a response without data".into())),
        },
        TopErrors::Throttled => Attempt::throttled("throttled", retry_after),
        TopErrors::AccessDenied(m) => {
            Attempt::Failed(AdminError::Auth(format!("ACCESS_DENIED: {m}")))
        }
        TopErrors::Internal(m) => Attempt::again(format!("INTERNAL_SERVER_ERROR: {m}")),
        TopErrors::Other(m) => Attempt::Failed(AdminError::Api(m)),
    }
}

impl AdminClient {
    /// A client for `settings` (validated by the config) with these tokens.
    pub fn new(settings: &AdminSettings, tokens: AdminTokens) -> Result<Self, AdminError> {
        let endpoint = match &settings.endpoint {
            Some(e) => Some(
                crate::config::check_admin_endpoint(e)
                    .map_err(|problem| AdminError::Api(format!("admin.endpoint {problem}")))?,
            ),
            None => None,
        };
        let timeout = Duration::from_millis(settings.timeout_ms);
        // Never follows a redirect (it would carry the token elsewhere; Shopify's API
        // never redirects); plain http only to the loopback fake the config allows.
        let https_only = endpoint.as_ref().is_none_or(|u| u.scheme() == "https");
        let http = Transport::new(timeout, https_only)
            .map_err(|e| AdminError::Api(format!("cannot build the HTTP client: {e}")))?;
        let mut headers = HashMap::new();
        for (shop, token) in tokens.0 {
            let mut value = HeaderValue::from_str(token.expose_secret()).map_err(|_| {
                AdminError::Api("an access token has characters not allowed in a header".into())
            })?;
            value.set_sensitive(true);
            headers.insert(shop, value);
        }
        Ok(AdminClient {
            http,
            api_version: settings.api_version.clone(),
            endpoint,
            max_attempts: settings.max_attempts.max(1),
            retry_base: Duration::from_millis(settings.retry_base_ms),
            tokens: headers,
            buckets: Mutex::new(HashMap::new()),
            started: Instant::now(),
        })
    }

    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    /// `https://{shop}/admin/api/{version}/graphql.json` (or under the override).
    pub fn graphql_url(&self, shop: &str) -> String {
        let path = format!("admin/api/{}/graphql.json", self.api_version);
        match &self.endpoint {
            Some(base) => format!("{base}{path}"),
            None => format!("https://{shop}/{path}"),
        }
    }

    /// Creates `d` in `shop`.
    pub async fn create_discount(
        &self,
        shop: &str,
        d: &NewDiscount,
    ) -> Result<(String, Option<String>), AdminError> {
        let variables = graphql::create_variables(d, &self.api_version);
        let data = self
            .call(
                shop,
                graphql::CREATE_DISCOUNT,
                variables,
                graphql::CREATE_COST,
            )
            .await?;
        match graphql::parse_create(&data) {
            CreateAnswer::Created { id, code } => Ok((id, code)),
            CreateAnswer::CodeTaken => Err(AdminError::CodeTaken),
            CreateAnswer::Rejected(errors) => Err(AdminError::Rejected(errors)),
            // The mutation may or may not have run: retrying is safe (same code; TAKEN
            // then finds it), so this counts as transient.
            CreateAnswer::Unexpected(what) => Err(AdminError::Transient(what)),
        }
    }

    /// The discount `code` belongs to in `shop`, if any.
    pub async fn find_by_code(
        &self,
        shop: &str,
        code: &str,
    ) -> Result<Option<FoundDiscount>, AdminError> {
        let data = self
            .call(
                shop,
                graphql::DISCOUNT_BY_CODE,
                json!({ "code": code }),
                graphql::LOOKUP_COST,
            )
            .await?;
        graphql::parse_by_code(&data).map_err(AdminError::Transient)
    }

    /// Whether `shop` still accepts the app's access token: `Ok` when it answers the
    /// cheapest query ([`graphql::ACCESS_CHECK`]); [`AdminError::Auth`] when it refuses
    /// the token (as it does once the app is uninstalled); [`AdminError::NoToken`] when
    /// no token is configured; [`AdminError::Transient`] when it cannot tell for now.
    pub async fn check_access(&self, shop: &str) -> Result<(), AdminError> {
        let data = self
            .call(
                shop,
                graphql::ACCESS_CHECK,
                json!({}),
                graphql::ACCESS_CHECK_COST,
            )
            .await?;
        graphql::parse_access_check(&data)
            .map(|_| ())
            .map_err(AdminError::Transient)
    }

    /// One GraphQL call with throttling and retries; returns `data`.
    async fn call(
        &self,
        shop: &str,
        query: &str,
        variables: Value,
        cost: f64,
    ) -> Result<Value, AdminError> {
        let token = self.tokens.get(shop).ok_or(AdminError::NoToken)?;
        let url = self.graphql_url(shop);
        let body = json!({ "query": query, "variables": variables });
        let mut last = String::new();
        let begun = Instant::now();
        for attempt in 1..=self.max_attempts {
            if attempt > 1 {
                if begun.elapsed() >= CALL_BUDGET {
                    return Err(AdminError::Transient(format!(
                        "{last}, still failing after {} s",
                        CALL_BUDGET.as_secs()
                    )));
                }
                tracing::warn!(shop, attempt, problem = %last, "Admin API: retrying");
            }
            self.take_from_bucket(shop, cost).await;
            match self.attempt(shop, &url, token, &body).await {
                Attempt::Data(data) => return Ok(data),
                Attempt::Failed(e) => return Err(e),
                Attempt::Again {
                    problem,
                    throttled,
                    retry_after,
                } => {
                    last = problem;
                    if throttled {
                        self.after_throttle(shop, attempt, retry_after).await;
                    } else {
                        self.backoff(attempt).await;
                    }
                }
            }
        }
        Err(AdminError::Transient(format!(
            "{last}, after {} attempts",
            self.max_attempts
        )))
    }

    /// One HTTP request of a call, read as far as deciding what to do next.
    async fn attempt(&self, shop: &str, url: &str, token: &HeaderValue, body: &Value) -> Attempt {
        let Ok(body) = serde_json::to_vec(body) else {
            return Attempt::Failed(AdminError::Api("cannot encode the request".into()));
        };
        let headers = [("x-shopify-access-token", token)];
        let resp = match self.http.post_json(url, &headers, body).await {
            Ok(r) => r,
            Err(SendError::TimedOut) => return Attempt::again("timed out"),
            Err(SendError::Connect) => return Attempt::again("cannot connect"),
            Err(SendError::Failed) => return Attempt::again("request failed"),
            Err(SendError::Invalid) => {
                return Attempt::Failed(AdminError::Api(format!(
                    "cannot build a request to {url:?}"
                )))
            }
        };
        let status = resp.status;
        let retry_after = resp
            .headers
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0);
        let Some(bytes) = resp.body else {
            return Attempt::again(format!("HTTP {} with an unreadable body", status.as_u16()));
        };
        let json: Option<Value> = serde_json::from_slice(&bytes).ok();
        if let Some(c) = json.as_ref().and_then(graphql::cost) {
            self.record_cost(shop, c);
        }
        if let Some(answer) = self.status_answer(status, retry_after) {
            return answer;
        }
        match json {
            Some(json) => data_answer(&json, retry_after),
            None => Attempt::again("an unreadable response"),
        }
    }

    /// What an HTTP status other than success says (`None`: read the body).
    fn status_answer(&self, status: http::StatusCode, retry_after: Option<f64>) -> Option<Attempt> {
        let code = status.as_u16();
        Some(match code {
            401 | 403 => Attempt::Failed(AdminError::Auth(format!("HTTP {code}"))),
            429 => Attempt::throttled("throttled (HTTP 429)", retry_after),
            _ if status.is_server_error() => Attempt::again(format!("HTTP {code}")),
            402 => Attempt::Failed(AdminError::Api(
                "HTTP 402: the shop is frozen (unpaid bill)".into(),
            )),
            404 => Attempt::Failed(AdminError::Api(format!(
                "HTTP 404: check the shop domain and admin.api_version {:?}",
                self.api_version
            ))),
            423 => Attempt::Failed(AdminError::Api("HTTP 423: the shop is locked".into())),
            _ if !status.is_success() => Attempt::Failed(AdminError::Api(format!("HTTP {code}"))),
            _ => return None,
        })
    }

    fn now_secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Waits until the shop's bucket holds `cost` points plus the reserve, then takes
    /// them (so concurrent calls queue up instead of all going at once).
    async fn take_from_bucket(&self, shop: &str, cost: f64) {
        let wait = {
            let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
            let Some(bucket) = buckets.get_mut(shop) else {
                return; // nothing known yet: the first answer tells
            };
            let now = self.now_secs();
            let wait = bucket.wait(now, cost, MAX_THROTTLE_WAIT);
            bucket.spend(now + wait.as_secs_f64(), cost);
            wait
        };
        if !wait.is_zero() {
            tracing::info!(
                shop,
                wait_ms = wait.as_millis() as u64,
                "Admin API: waiting for the cost bucket"
            );
            tokio::time::sleep(wait).await;
        }
    }

    fn record_cost(&self, shop: &str, cost: graphql::Cost) {
        if let Some(status) = cost.throttle {
            let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
            buckets.insert(
                shop.to_owned(),
                Bucket {
                    status,
                    at: self.now_secs(),
                },
            );
        }
    }

    /// After `Throttled`: the next `take_from_bucket` waits for the refill the answer
    /// reported; without a status (or with a `Retry-After`), back off instead.
    async fn after_throttle(&self, shop: &str, attempt: u32, retry_after: Option<f64>) {
        if attempt >= self.max_attempts {
            return;
        }
        if let Some(secs) = retry_after {
            tokio::time::sleep(Duration::from_secs_f64(secs).min(MAX_THROTTLE_WAIT)).await;
            return;
        }
        let known = self
            .buckets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(shop);
        if !known {
            self.backoff(attempt).await;
        }
    }

    /// Exponential backoff (retry_base × 2^attempt, capped), randomised between half and
    /// all of it so concurrent retries spread out; none after the last attempt.
    async fn backoff(&self, attempt: u32) {
        if attempt >= self.max_attempts {
            return;
        }
        let cap = self
            .retry_base
            .saturating_mul(1 << attempt.min(10))
            .min(MAX_BACKOFF);
        let wait = Duration::from_millis(fastrand::u64(
            cap.as_millis() as u64 / 2..=cap.as_millis() as u64,
        ));
        tokio::time::sleep(wait).await;
    }
}

/// What [`issue`] came to.
#[derive(Debug)]
pub enum Issued {
    /// The code exists in the store: put it in the email.
    Ready(Box<DiscountRecord>),
    /// No code can be made for this customer (a guest checkout): skip the follow-up.
    Skip(String),
    /// The Admin API did not create it (see [`AdminError::is_transient`] / `is_auth`).
    Refused(AdminError),
}

/// Codes tried for one follow-up when the store says each is already taken.
const MAX_CODES: usize = 3;

/// Why a guest's follow-up gets no code.
pub const GUEST_REASON: &str =
    "guest checkout: no Shopify customer to tie a single-use discount code to";

/// The discount's name in the Shopify admin: the rule's title (or "{shop name}
/// reward") and the follow-up id, which makes it unique in the shop, so a `TAKEN`
/// answer can tell our own earlier attempt from another discount.
pub fn discount_title(shop: &ShopConfig, rule: &DiscountRule, f: &FollowUpRecord) -> String {
    let base = rule
        .title
        .clone()
        .unwrap_or_else(|| format!("{} reward", shop.brand()));
    format!("{} ({})", base.trim(), f.id)
}

/// What to ask the store to create for `rec`.
pub fn new_discount(
    shop: &ShopConfig,
    rule: &DiscountRule,
    f: &FollowUpRecord,
    rec: &DiscountRecord,
    customer_gid: &str,
) -> NewDiscount {
    let value = match (rule.percentage, rule.amount) {
        (Some(p), _) => DiscountValue::Percentage(p),
        (None, Some(amount)) => DiscountValue::Amount {
            amount,
            each_item: rule.applies_on_each_item,
        },
        // Unreachable after config validation; a zero discount would be harmless.
        (None, None) => DiscountValue::Percentage(rust_decimal::Decimal::ZERO),
    };
    NewDiscount {
        title: discount_title(shop, rule, f),
        code: rec.code.clone(),
        starts_at: rec
            .starts_at
            .clone()
            .unwrap_or_else(|| rec.reserved_at.clone()),
        ends_at: rec.ends_at.clone(),
        customer_gid: customer_gid.to_owned(),
        value,
        combines_with: rule.combines_with,
    }
}

/// A fresh reservation for follow-up `f`, valid `rule.days_valid` days from `now`.
pub fn reservation(
    rule: &DiscountRule,
    f: &FollowUpRecord,
    customer_gid: &str,
    now: DateTime<Utc>,
) -> std::io::Result<DiscountRecord> {
    let now_key = utc_key(&now);
    Ok(DiscountRecord {
        v: 1,
        followup: f.id.clone(),
        code: code::new_code(&rule.prefix)?,
        status: DiscountStatus::Reserved,
        reserved_at: now_key.clone(),
        customer_gid: Some(customer_gid.to_owned()),
        starts_at: Some(now_key),
        replaced: Vec::new(),
        created_at: None,
        discount_id: None,
        ends_at: Some(utc_key(&(now + Days::days(rule.days_valid.into())))),
        reason: None,
        redeemed_order_id: None,
        redeemed_at: None,
    })
}

/// The last day a code is valid, in the shop's time zone (`2026-12-22`): what the
/// loyalty templates show as `discount_expires`.
pub fn expiry_date(rec: &DiscountRecord, shop: &ShopConfig) -> Option<String> {
    let ends = crate::model::time::parse_time(rec.ends_at.as_deref()?)?;
    Some(
        ends.with_timezone(&shop.tz())
            .format("%Y-%m-%d")
            .to_string(),
    )
}

/// The code for follow-up `f`, created in the store exactly once: reuses the recorded
/// one, else records a new one first, then creates it. Store failures are returned as
/// errors (the follow-up's lease then ends and it is retried); Admin API outcomes as
/// [`Issued`].
pub async fn issue<S: DiscountStore, A: StoreAdmin>(
    store: &S,
    admin: &A,
    shop: &ShopConfig,
    rule: &DiscountRule,
    f: &FollowUpRecord,
    now: DateTime<Utc>,
) -> Result<Issued, StoreError> {
    let Some(gid) = graphql::customer_gid(&f.customer_key) else {
        return Ok(Issued::Skip(GUEST_REASON.into()));
    };
    let mut rec = recorded_or_reserved(store, rule, f, &gid, now).await?;
    let now_key = utc_key(&now);
    let code = Issuing {
        store,
        admin,
        shop,
        rule,
        f,
        gid: &gid,
        now_key: &now_key,
    };
    for _ in 0..MAX_CODES {
        if let Some(done) = settled(&rec) {
            return Ok(done);
        }
        let (next, cas) = match code.create(&rec).await? {
            Ok(step) => step,
            Err(issued) => return Ok(issued),
        };
        rec = match cas {
            Cas::Done => next,
            // Someone else moved the record on (a concurrent dispatcher): follow it.
            Cas::Lost => reread(store, f).await?,
        };
    }
    match rec.status {
        DiscountStatus::Created => Ok(Issued::Ready(Box::new(rec))),
        _ => Ok(Issued::Refused(AdminError::Api(format!(
            "{MAX_CODES} codes in a row were already taken in the store"
        )))),
    }
}

/// The follow-up's recorded code, else a new one recorded now (before the store is
/// asked to create it, so a retry sends the same code).
async fn recorded_or_reserved<S: DiscountStore>(
    store: &S,
    rule: &DiscountRule,
    f: &FollowUpRecord,
    gid: &str,
    now: DateTime<Utc>,
) -> Result<DiscountRecord, StoreError> {
    if let Some(r) = store.get_discount(&f.shop, &f.customer_key, &f.id).await? {
        return Ok(r);
    }
    let fresh = reservation(rule, f, gid, now).map_err(random_code_failed)?;
    match store
        .reserve_discount(&f.shop, &f.customer_key, &fresh)
        .await?
    {
        Cas::Done => Ok(fresh),
        // Another dispatcher (or our own SDK retry) recorded one first: use it.
        Cas::Lost => reread(store, f).await,
    }
}

/// A code already created, or refused for good: nothing more to do.
fn settled(rec: &DiscountRecord) -> Option<Issued> {
    match rec.status {
        DiscountStatus::Created => Some(Issued::Ready(Box::new(rec.clone()))),
        DiscountStatus::Failed => Some(Issued::Refused(AdminError::Api(format!(
            "the store refused this code earlier: {}",
            rec.reason.as_deref().unwrap_or("no reason recorded")
        )))),
        DiscountStatus::Reserved => None,
    }
}

fn random_code_failed(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable {
        operation: "random code",
        message: e.to_string(),
    }
}

/// One follow-up's code being created in the store.
struct Issuing<'a, S, A> {
    store: &'a S,
    admin: &'a A,
    shop: &'a ShopConfig,
    rule: &'a DiscountRule,
    f: &'a FollowUpRecord,
    gid: &'a str,
    now_key: &'a str,
}

/// The record after one creation attempt and whether its write landed, or the end.
type Created = Result<(DiscountRecord, Cas), Issued>;

impl<S: DiscountStore, A: StoreAdmin> Issuing<'_, S, A> {
    /// Asks the store to create the reserved code `rec`.
    async fn create(&self, rec: &DiscountRecord) -> Result<Created, StoreError> {
        let (domain, ckey) = (&self.f.shop, &self.f.customer_key);
        let wanted = new_discount(self.shop, self.rule, self.f, rec, self.gid);
        match self.admin.create_discount(domain, &wanted).await {
            Ok((id, echoed)) => {
                if echoed.as_deref().is_some_and(|c| c != rec.code) {
                    tracing::warn!(followup = %self.f.id, "Admin API echoed another code than the one sent");
                }
                let done = self
                    .store
                    .mark_discount_created(domain, ckey, rec, Some(id), self.now_key)
                    .await?;
                // The token works: a later refusal should alert the merchant again.
                self.store.clear_admin_alert(domain).await?;
                Ok(Ok(done))
            }
            Err(AdminError::CodeTaken) => self.taken(rec, &wanted.title).await,
            Err(AdminError::Rejected(errors)) => {
                let e = AdminError::Rejected(errors);
                self.store
                    .mark_discount_failed(domain, ckey, rec, &e.to_string())
                    .await?;
                Ok(Err(Issued::Refused(e)))
            }
            // Transient, auth and other failures leave the code reserved for the retry.
            Err(e) => Ok(Err(Issued::Refused(e))),
        }
    }

    /// The store already has a discount with `rec`'s code: ours from an earlier attempt
    /// whose answer was lost (adopt it), or another's (record a new code).
    async fn taken(&self, rec: &DiscountRecord, title: &str) -> Result<Created, StoreError> {
        let (domain, ckey) = (&self.f.shop, &self.f.customer_key);
        match self.admin.find_by_code(domain, &rec.code).await {
            Ok(Some(found)) if found.title.as_deref() == Some(title) => {
                tracing::info!(followup = %self.f.id, "discount code already created by an earlier attempt");
                let done = self
                    .store
                    .mark_discount_created(domain, ckey, rec, Some(found.id), self.now_key)
                    .await?;
                Ok(Ok(done))
            }
            Ok(_) => {
                tracing::warn!(followup = %self.f.id, "discount code taken by another discount; choosing a new one");
                let mut next = rec.clone();
                next.v = rec.v + 1;
                next.replaced.push(rec.code.clone());
                next.code = code::new_code(&self.rule.prefix).map_err(random_code_failed)?;
                let cas = self.store.save_discount(domain, ckey, &next, rec.v).await?;
                Ok(Ok((next, cas)))
            }
            Err(e) => Ok(Err(Issued::Refused(e))),
        }
    }
}

async fn reread<S: DiscountStore>(
    store: &S,
    f: &FollowUpRecord,
) -> Result<DiscountRecord, StoreError> {
    store
        .get_discount(&f.shop, &f.customer_key, &f.id)
        .await?
        .ok_or_else(|| StoreError::Corrupt {
            key: crate::model::keys::discount(&f.shop, &f.customer_key, &f.id).sk,
            message: "the discount record vanished after a conflicting write".into(),
        })
}

/// Tells the merchant (the shop's `support_email`, from its `sender_email`) that the
/// store refused the Admin API token — once per shop: the fact is recorded on the shop
/// item first, and given back if the email cannot be sent. Returns whether an alert
/// went out.
pub async fn alert_token_refused<M: Mailer, S: DiscountStore>(
    store: &S,
    mailer: &M,
    config: &Config,
    shop: &ShopConfig,
    problem: &AdminError,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let (Some(to), Some(from)) = (&shop.support_email, &shop.sender_email) else {
        tracing::error!(shop = %shop.domain, error = %problem, "Admin API token refused; no support_email/sender_email to alert the merchant");
        return Ok(false);
    };
    let at = utc_key(&now);
    if store.claim_admin_alert(&shop.domain, &at).await? == Cas::Lost {
        return Ok(false); // already told
    }
    let raw = match alert_message(shop, from, to, problem, now) {
        Ok(raw) => raw,
        Err(e) => {
            tracing::error!(shop = %shop.domain, error = %e, "cannot build the merchant alert");
            store.release_admin_alert(&shop.domain, &at).await?;
            return Ok(false);
        }
    };
    let email = OutgoingEmail {
        raw,
        from: from.clone(),
        to: to.clone(),
        configuration_set: config.email.configuration_set.clone(),
        tags: vec![
            ("shop", shop.domain.clone()),
            ("alert", "admin_token_refused".into()),
        ],
    };
    match mailer.send(&email).await {
        Ok(_) => {
            tracing::warn!(shop = %shop.domain, error = %problem, "merchant alerted: Admin API token refused");
            Ok(true)
        }
        Err(e) => {
            tracing::error!(shop = %shop.domain, error = %e, "merchant alert not sent; will try again");
            store.release_admin_alert(&shop.domain, &at).await?;
            Ok(false)
        }
    }
}

/// The plain-text alert: what happened, what it stops, how to fix it.
fn alert_message(
    shop: &ShopConfig,
    from: &str,
    to: &str,
    problem: &AdminError,
    now: DateTime<Utc>,
) -> Result<Vec<u8>, String> {
    let brand = shop.brand().replace(['\r', '\n'], " ");
    let var = token_var(shop);
    let text = format!(
        "Hello,\r\n\r\nShopify refused the access token Aftercart uses for {brand} ({domain}): {problem}.\r\n\r\n\
         Until this is fixed, follow-up emails that carry a discount code (loyalty rewards) \
         fail instead of going out, because their codes cannot be created in your store.\r\n\r\n\
         To fix it: in your Shopify admin, check that the Aftercart app is installed and that \
         its Admin API access token has the write_discounts and read_discounts scopes; if you \
         generated a new token, store it in the secret {var} and redeploy. Follow-ups that \
         failed meanwhile are listed with the reason \"discount code\".\r\n\r\n\
         You will not get this message again until codes have been created successfully once more.\r\n\r\n\
         -- Aftercart\r\n",
        domain = shop.domain,
    );
    let subject = format!("Action needed: Aftercart cannot create discount codes for {brand}");
    let envelope = crate::email::mime::Envelope {
        from: ("Aftercart", from),
        from_field: "sender_email",
        to,
        to_field: "support_email",
        reply_to: None,
        subject: &subject,
        date: now,
        unsubscribe_url: None,
    };
    crate::email::mime::build(&envelope, crate::email::mime::Body::Plain(&text))
        .map_err(|e| e.to_string())
}

impl crate::ports::privacy::AppAccess for AdminClient {
    async fn check_access(&self, shop: &str) -> Result<(), AdminError> {
        AdminClient::check_access(self, shop).await
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

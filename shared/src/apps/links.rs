//! The `links` function: what customers click in follow-up emails.
//!
//! | method and path | token purpose | effect |
//! | --- | --- | --- |
//! | `GET /rate?t=` | rate (with a score) | keeps the click on the one feedback item of the follow-up; it takes effect when the dispatcher settles it minutes later, unless it was part of a scanner's burst (see [`crate::domain::feedback`]); every score is offered the same review link (no review gating), a high score also a referral ask |
//! | `POST /rate?t=` | rate | the page's form: a person's rating at once, with the comment (`comment=`) the dispatcher passes on to the merchant |
//! | `GET /unsubscribe?t=` | unsubscribe | a confirmation page with a one-click button; nothing changes |
//! | `POST /unsubscribe?t=` | unsubscribe | suppresses the address for the shop before answering (RFC 8058 one-click, as mail providers send it, or the page's button) |
//! | `POST /resubscribe?t=` | unsubscribe | lifts an unsubscribe the customer made (never a bounce or a complaint) |
//! | `GET /reason?t=` | reason (with the reason's number) | a return reason from the returns email, kept and settled exactly like a rating click (one per returns follow-up; a second click updates it); the page names the reason and offers a comment form |
//! | `POST /reason?t=` | reason | the page's form: a person's reason at once, with the comment passed on to the merchant |
//! | `GET /reorder?t=` | reorder | counts the click and redirects (303) to the store's cart permalink with the reminder's variants and quantities, tagged for attribution |
//!
//! Only the last path segment routes, so the same binary works behind API Gateway
//! (`/rate`) and `cargo lambda watch` (`/lambda-url/links/rate`). Token problems get a
//! friendly page: malformed 400, forged or for another purpose 403, expired 410 (in the
//! shop's brand, offering the storefront for a reorder link and the support address for
//! the others). Pages are small, self-contained HTML (no external assets), escaped, in
//! the shop's brand, rendered from templates in English, French, German and Spanish
//! ([`pages`]): in the customer's locale as emails pick it (the order's, else the
//! profile's), else the shop's default, else English; a refusal, where the customer is
//! unknown, in the shop's default, else the browser's `Accept-Language`, else English.
//! (The built-in emails come in the same four languages.)
//! Nothing personal is logged: shop, follow-up id, purpose, outcome and status only.

use crate::adapters::dynamo::links::SELF_SERVICE_REASON;
use crate::adapters::dynamo::DynamoStore;
use crate::config::{Config, ShopConfig};
use crate::domain::feedback;
use crate::model::time::{utc_key, Clock};
use crate::model::tokens::{self as links, LinkClaims, LinkError, LinkKeys, Purpose};
use crate::model::{
    email_hash, FeedbackRecord, FeedbackState, FollowUpRecord, OrderRecord, ProfileRecord,
    ReturnReason, SuppressionRecord,
};
use crate::ports::links::LinkStore;
use crate::ports::mail::Mailer;
use crate::ports::report::ReportStore;
use crate::ports::store::Cas;
use crate::ports::store::StoreError;
use chrono::Duration;
use lambda_http::http::{header, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, RequestPayloadExt, Response};
use minijinja::context;
use serde::Deserialize;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

mod pages;
mod report;

/// Longest comment kept, in characters; longer ones are cut.
pub const MAX_COMMENT_CHARS: usize = 1000;

use crate::wire::shopify::ATTRIBUTION_ATTRIBUTE;

/// Optimistic-concurrency rounds for a rating before giving up with a 503.
const FEEDBACK_ATTEMPTS: u32 = 5;

pub struct LinksApp<S, M> {
    pub config: Arc<Config>,
    pub keys: LinkKeys,
    pub store: S,
    pub mailer: M,
    pub clock: Arc<dyn Clock>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Rate,
    Comment,
    UnsubscribePage,
    Unsubscribe,
    Resubscribe,
    Reorder,
    /// A return-reason link.
    Reason,
    /// The return-reason page's comment form.
    ReasonComment,
    /// The merchant's report page (`GET /report?t=…`, a shop's `report` token).
    Report,
}

impl Route {
    fn purpose(self) -> Purpose {
        match self {
            Route::Rate | Route::Comment => Purpose::Rate,
            Route::UnsubscribePage | Route::Unsubscribe | Route::Resubscribe => {
                Purpose::Unsubscribe
            }
            Route::Reorder => Purpose::Reorder,
            Route::Reason | Route::ReasonComment => Purpose::Reason,
            Route::Report => Purpose::Report,
        }
    }

    /// Unsubscribing works for as long as the address could receive our mail; rating,
    /// commenting, resubscribing and reordering expire with `links.ttl_days`.
    fn never_expires(self) -> bool {
        matches!(self, Route::UnsubscribePage | Route::Unsubscribe)
    }

    fn as_str(self) -> &'static str {
        match self {
            Route::Rate => "rate",
            Route::Comment => "comment",
            Route::UnsubscribePage => "unsubscribe_page",
            Route::Unsubscribe => "unsubscribe",
            Route::Resubscribe => "resubscribe",
            Route::Reorder => "reorder",
            Route::Reason => "reason",
            Route::ReasonComment => "reason_comment",
            Route::Report => "report",
        }
    }
}

/// Why a click could not be served. Messages are shown to the customer: no internals.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    Method(&'static str),
    #[error("missing token")]
    NoToken,
    #[error(transparent)]
    Token(#[from] LinkError),
    #[error("the rating link has no score")]
    NoScore,
    #[error("shop not configured")]
    UnknownShop,
    #[error("follow-up no longer exists")]
    Gone,
    #[error("the form could not be read")]
    BadForm,
    #[error("the form was not sent as application/x-www-form-urlencoded")]
    NotAForm,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("ratings kept changing under us")]
    Contention,
    #[error("the report could not be rendered")]
    Render,
}

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Refusal::NotFound => StatusCode::NOT_FOUND,
            Refusal::Method(_) => StatusCode::METHOD_NOT_ALLOWED,
            Refusal::NoToken | Refusal::NoScore | Refusal::BadForm => StatusCode::BAD_REQUEST,
            Refusal::NotAForm => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Refusal::Token(LinkError::Malformed) => StatusCode::BAD_REQUEST,
            Refusal::Token(LinkError::Expired) => StatusCode::GONE,
            Refusal::Token(_) => StatusCode::FORBIDDEN,
            Refusal::UnknownShop | Refusal::Gone => StatusCode::GONE,
            Refusal::Store(_) | Refusal::Contention => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::Render => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Refusal::NotFound => "not_found",
            Refusal::Method(_) => "method",
            Refusal::NoToken => "no_token",
            Refusal::Token(LinkError::Malformed) => "malformed_token",
            Refusal::Token(LinkError::Expired) => "expired_token",
            Refusal::Token(LinkError::WrongPurpose { .. }) => "wrong_purpose",
            Refusal::Token(_) => "forged_token",
            Refusal::NoScore => "no_score",
            Refusal::UnknownShop => "unknown_shop",
            Refusal::Gone => "gone",
            Refusal::BadForm => "bad_form",
            Refusal::NotAForm => "not_a_form",
            Refusal::Store(_) => "store_error",
            Refusal::Contention => "contention",
            Refusal::Render => "render_error",
        }
    }

    /// Which explanation the customer gets (`refusal` in `refusal.html`).
    fn page(&self) -> &'static str {
        match self {
            Refusal::NotFound => "not_found",
            Refusal::Method(_) => "method",
            Refusal::NoToken | Refusal::Token(LinkError::Malformed) | Refusal::NoScore => {
                "incomplete"
            }
            Refusal::Token(LinkError::Expired) => "expired",
            Refusal::Token(LinkError::WrongPurpose { .. }) => "wrong_purpose",
            Refusal::Token(_) => "invalid",
            Refusal::UnknownShop | Refusal::Gone => "inactive",
            Refusal::BadForm | Refusal::NotAForm => "bad_form",
            Refusal::Store(_) | Refusal::Contention | Refusal::Render => "server",
        }
    }
}

#[derive(Debug, Deserialize)]
struct CommentForm {
    #[serde(default)]
    comment: String,
}

impl<S: LinkStore + ReportStore, M: Mailer> LinksApp<S, M> {
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let started = Instant::now();
        let route = route(req.method(), req.uri().path());
        let token = req
            .query_string_parameters_ref()
            .and_then(|q| q.first("t").map(str::to_owned));
        let route_name = route.as_ref().map(|r| r.as_str()).unwrap_or("none");
        let served_route = route.as_ref().ok().copied();
        let result = match route {
            Ok(route) => self.serve(route, token.as_deref(), &req).await,
            Err(e) => Err((e, None)),
        };
        let latency_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok((served, response)) => {
                tracing::info!(
                    route = route_name,
                    shop = served.shop,
                    followup = served.followup,
                    outcome = served.outcome,
                    status = response.status().as_u16(),
                    latency_ms,
                    "link served"
                );
                response
            }
            Err((refusal, shop)) => {
                let status = refusal.status();
                if status.is_server_error() {
                    tracing::error!(route = route_name, outcome = refusal.kind(), status = status.as_u16(), latency_ms, error = %refusal, "link failed");
                } else {
                    tracing::warn!(
                        route = route_name,
                        outcome = refusal.kind(),
                        status = status.as_u16(),
                        latency_ms,
                        "link refused"
                    );
                }
                let accept_language = req
                    .headers()
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok());
                let chain =
                    pages::anonymous_chain(shop.and_then(pages::shop_locale), accept_language);
                let mut response = match (&refusal, shop, served_route) {
                    (Refusal::Token(LinkError::Expired), Some(shop), Some(route)) => {
                        expired_page(shop, route, &chain)
                    }
                    _ => refusal_page(&refusal, &chain),
                };
                if let Refusal::Method(allow) = refusal {
                    if let Ok(v) = header::HeaderValue::from_str(allow) {
                        response.headers_mut().insert(header::ALLOW, v);
                    }
                }
                response
            }
        }
    }

    /// The page for a click, or why not (with the shop, once it is known).
    async fn serve(
        &self,
        route: Route,
        token: Option<&str>,
        req: &Request,
    ) -> Result<(Served, Response<Body>), (Refusal, Option<&ShopConfig>)> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or((Refusal::NoToken, None))?;
        let now = self.clock.now();
        // Signature, scope and purpose first: an expired link is still ours, so its page
        // can be in the shop's brand and point somewhere useful.
        let claims = links::verify_lasting(&self.keys, token, route.purpose())
            .map_err(|e| (e.into(), None))?;
        let shop = self
            .config
            .shop(&claims.shop)
            .ok_or((Refusal::UnknownShop, None))?;
        if !route.never_expires() && now.timestamp() > claims.expires_at {
            return Err((Refusal::Token(LinkError::Expired), Some(shop)));
        }
        self.serve_shop(route, token, req, &claims, shop)
            .await
            .map_err(|refusal| (refusal, Some(shop)))
    }

    async fn serve_shop(
        &self,
        route: Route,
        token: &str,
        req: &Request,
        claims: &LinkClaims,
        shop: &ShopConfig,
    ) -> Result<(Served, Response<Body>), Refusal> {
        let mut served = Served {
            shop: claims.shop.clone(),
            followup: claims.followup.clone(),
            outcome: "",
        };
        let response = match route {
            Route::Rate | Route::Reason => {
                self.rate(claims, shop, token, None, &mut served).await?
            }
            Route::Comment | Route::ReasonComment => {
                if !is_form(req) {
                    return Err(Refusal::NotAForm);
                }
                let form: CommentForm = req
                    .payload()
                    .map_err(|_| Refusal::BadForm)?
                    .ok_or(Refusal::BadForm)?;
                let comment = clean_comment(&form.comment);
                self.rate(claims, shop, token, Some(comment), &mut served)
                    .await?
            }
            Route::UnsubscribePage => {
                served.outcome = "confirm";
                let locale = self.customer_locale(claims, None, None).await;
                unsubscribe_page(
                    false,
                    false,
                    shop,
                    token,
                    &pages::customer_chain(locale.as_deref(), pages::shop_locale(shop)),
                )
            }
            Route::Unsubscribe => self.unsubscribe(claims, shop, token, &mut served).await?,
            Route::Resubscribe => self.resubscribe(claims, shop, &mut served).await?,
            Route::Reorder => self.reorder(claims, shop, &mut served).await?,
            Route::Report => self.report(shop, token, req, &mut served).await?,
        };
        Ok((served, response))
    }

    /// Keeps a click on a rating link (or, from the page's form, a person's rating and
    /// comment), then answers by score band. Nothing takes effect here: the dispatcher
    /// settles the item a few minutes later ([`crate::apps::feedback`]), once a
    /// scanner's burst of clicks would be known.
    async fn rate(
        &self,
        claims: &LinkClaims,
        shop: &ShopConfig,
        token: &str,
        comment: Option<String>,
        served: &mut Served,
    ) -> Result<Response<Body>, Refusal> {
        // A rating's score, or a return reason's number.
        let reason = claims.purpose == Purpose::Reason;
        let score = claims
            .score
            .filter(|s| match reason {
                false => (1..=5).contains(s),
                true => ReturnReason::from_number(*s).is_some(),
            })
            .ok_or(Refusal::NoScore)?;
        let followup = self
            .store
            .get_followup(&claims.shop, &claims.customer_key, &claims.followup)
            .await?
            .ok_or(Refusal::Gone)?;
        let commenting = comment.is_some();
        let feedback = self
            .record_feedback(claims, &followup, shop, score, comment.as_deref())
            .await?;
        // For the page's language; not worth a refusal.
        let order = self
            .store
            .get_order(&shop.domain, followup.order_id)
            .await
            .ok()
            .flatten();
        served.outcome = match feedback.state {
            _ if commenting => "commented",
            FeedbackState::Scanner => "scanner_burst",
            _ if feedback.submissions > 1 => "rating_updated",
            _ => "rated",
        };
        let locale = self.customer_locale(claims, order.as_ref(), None).await;
        let chain = pages::customer_chain(locale.as_deref(), pages::shop_locale(shop));
        Ok(match ReturnReason::from_number(score).filter(|_| reason) {
            Some(r) => reason_page(shop, r, token, commenting, &chain),
            None => rating_page(shop, score, token, commenting, &chain),
        })
    }

    /// Creates or updates the one feedback item of this follow-up (retrying when another
    /// request wrote it meanwhile) with a click (`comment` `None`) or the page's form.
    /// Returns it as saved.
    async fn record_feedback(
        &self,
        claims: &LinkClaims,
        followup: &FollowUpRecord,
        shop: &ShopConfig,
        score: u8,
        comment: Option<&str>,
    ) -> Result<FeedbackRecord, Refusal> {
        let target = feedback::Target {
            shop: &claims.shop,
            customer_key: &claims.customer_key,
            followup: &claims.followup,
            order_id: followup.order_id,
        };
        let timing = feedback::Timing {
            burst: Duration::seconds(self.config.links.scanner_burst_seconds.into()),
            wait: Duration::minutes(shop.playbooks.satisfaction.comment_wait_minutes.into()),
            shards: self.config.dispatch.shards,
        };
        for _ in 0..FEEDBACK_ATTEMPTS {
            let current = self
                .store
                .get_feedback(&claims.shop, &claims.customer_key, &claims.followup)
                .await?;
            let expected = current.as_ref().map(|f| f.v);
            let now = self.clock.now();
            let next = match comment {
                None => feedback::clicked(current, &target, score, now, &timing),
                Some(c) => feedback::submitted(current, &target, score, c, now, &timing),
            };
            if self
                .store
                .save_feedback(&claims.shop, &claims.customer_key, &next, expected)
                .await?
                == Cas::Done
            {
                return Ok(next);
            }
        }
        Err(Refusal::Contention)
    }

    async fn unsubscribe(
        &self,
        claims: &LinkClaims,
        shop: &ShopConfig,
        token: &str,
        served: &mut Served,
    ) -> Result<Response<Body>, Refusal> {
        let profile = self
            .store
            .get_profile(&claims.shop, &claims.customer_key)
            .await?;
        let locale = self.customer_locale(claims, None, profile.as_ref()).await;
        let chain = pages::customer_chain(locale.as_deref(), pages::shop_locale(shop));
        // An erased customer has no address left to mail: nothing to record.
        if let Some(address) = profile.and_then(|p| p.email) {
            let record = SuppressionRecord {
                email_hash: email_hash(&address),
                reason: SELF_SERVICE_REASON.into(),
                at: utc_key(&self.clock.now()),
            };
            self.store.suppress(&claims.shop, &record).await?;
        }
        served.outcome = "unsubscribed";
        // Resubscribing is consent given again: offered only while the link is fresh.
        let resubscribe = self.clock.now().timestamp() <= claims.expires_at;
        Ok(unsubscribe_page(true, resubscribe, shop, token, &chain))
    }

    async fn resubscribe(
        &self,
        claims: &LinkClaims,
        shop: &ShopConfig,
        served: &mut Served,
    ) -> Result<Response<Body>, Refusal> {
        let profile = self
            .store
            .get_profile(&claims.shop, &claims.customer_key)
            .await?;
        let locale = self.customer_locale(claims, None, profile.as_ref()).await;
        let chain = pages::customer_chain(locale.as_deref(), pages::shop_locale(shop));
        let Some(address) = profile.and_then(|p| p.email) else {
            return Err(Refusal::Gone);
        };
        let hash = email_hash(&address);
        if self
            .store
            .unsuppress_self_service(&claims.shop, &hash)
            .await?
            == Cas::Done
        {
            served.outcome = "resubscribed";
            return Ok(resubscribe_page(Resubscribed::Now, shop, &chain));
        }
        match self.store.get_suppression(&claims.shop, &hash).await? {
            None => {
                served.outcome = "already_subscribed";
                Ok(resubscribe_page(Resubscribed::Already, shop, &chain))
            }
            Some(_) => {
                served.outcome = "kept_suppressed";
                Ok(resubscribe_page(Resubscribed::Kept, shop, &chain))
            }
        }
    }

    /// The customer's locale as emails pick it: the order's `customer_locale`, else the
    /// profile's (read when not given). A failed read only costs the page its language.
    async fn customer_locale(
        &self,
        claims: &LinkClaims,
        order: Option<&OrderRecord>,
        profile: Option<&ProfileRecord>,
    ) -> Option<String> {
        if let Some(locale) = order.and_then(|o| o.customer_locale.clone()) {
            return Some(locale);
        }
        if let Some(profile) = profile {
            return profile.locale.clone();
        }
        match self
            .store
            .get_profile(&claims.shop, &claims.customer_key)
            .await
        {
            Ok(profile) => profile.and_then(|p| p.locale),
            Err(e) => {
                tracing::warn!(shop = %claims.shop, followup = %claims.followup, error = %e, "profile not read: page in the shop's language");
                None
            }
        }
    }

    async fn reorder(
        &self,
        claims: &LinkClaims,
        shop: &ShopConfig,
        served: &mut Served,
    ) -> Result<Response<Body>, Refusal> {
        let followup = self
            .store
            .get_followup(&claims.shop, &claims.customer_key, &claims.followup)
            .await?
            .ok_or(Refusal::Gone)?;
        let order = self
            .store
            .get_order(&claims.shop, followup.order_id)
            .await?
            .ok_or(Refusal::Gone)?;
        self.store
            .record_click(&followup.key(), &utc_key(&self.clock.now()))
            .await?;
        match cart_permalink(&shop.domain, &order, &followup) {
            Some(url) => {
                served.outcome = "redirected";
                Ok(redirect(&url))
            }
            None => {
                served.outcome = "no_variants";
                let locale = self.customer_locale(claims, Some(&order), None).await;
                let chain = pages::customer_chain(locale.as_deref(), pages::shop_locale(shop));
                Ok(shop_again_page(shop, &chain))
            }
        }
    }
}

/// What the log line says about a served link.
struct Served {
    shop: String,
    followup: String,
    outcome: &'static str,
}

/// Whether the request body is declared as the pages' forms send it
/// (`application/x-www-form-urlencoded`, any parameters), so nothing else is read as one.
fn is_form(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| {
            t.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

fn route(method: &Method, path: &str) -> Result<Route, Refusal> {
    let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    match (last, method) {
        ("rate", &Method::GET) => Ok(Route::Rate),
        ("rate", &Method::POST) => Ok(Route::Comment),
        ("rate", _) => Err(Refusal::Method("GET, POST")),
        ("unsubscribe", &Method::GET) => Ok(Route::UnsubscribePage),
        ("unsubscribe", &Method::POST) => Ok(Route::Unsubscribe),
        ("unsubscribe", _) => Err(Refusal::Method("GET, POST")),
        ("resubscribe", &Method::POST) => Ok(Route::Resubscribe),
        ("resubscribe", _) => Err(Refusal::Method("POST")),
        ("reorder", &Method::GET) => Ok(Route::Reorder),
        ("reorder", _) => Err(Refusal::Method("GET")),
        ("reason", &Method::GET) => Ok(Route::Reason),
        ("reason", &Method::POST) => Ok(Route::ReasonComment),
        ("reason", _) => Err(Refusal::Method("GET, POST")),
        ("report", &Method::GET) => Ok(Route::Report),
        ("report", _) => Err(Refusal::Method("GET")),
        _ => Err(Refusal::NotFound),
    }
}

/// `https://{shop}/cart/{variant}:{qty},…?attributes[aftercart_followup]={id}&ref=aftercart`
/// for the lines the reminder is about (its product, or the whole order), quantities as
/// kept after refunds. `None` when no line has a variant (custom items).
pub fn cart_permalink(
    shop_domain: &str,
    order: &OrderRecord,
    followup: &FollowUpRecord,
) -> Option<String> {
    let items: Vec<(u64, u32)> = order
        .reorder_items(followup.product_id)
        .iter()
        .filter_map(|u| Some((u.line.variant_id?, u.quantity)))
        .collect();
    if items.is_empty() {
        return None;
    }
    let cart: Vec<String> = items.iter().map(|(v, q)| format!("{v}:{q}")).collect();
    Some(format!(
        "https://{shop_domain}/cart/{}?attributes%5B{ATTRIBUTION_ATTRIBUTE}%5D={}&ref=aftercart",
        cart.join(","),
        percent_encode(&followup.id)
    ))
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Trims, drops control characters (newlines and tabs kept) and cuts at
/// [`MAX_COMMENT_CHARS`].
pub fn clean_comment(raw: &str) -> String {
    let kept: String = raw
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect();
    kept.trim().chars().take(MAX_COMMENT_CHARS).collect()
}

fn rating_page(
    shop: &ShopConfig,
    score: u8,
    token: &str,
    commented: bool,
    chain: &[String],
) -> Response<Body> {
    let rules = &shop.playbooks.satisfaction;
    let brand = shop.brand();
    // Whether the merchant hears of the rating and comment: the pages say what happens.
    let told = shop.merchant_contact().is_some();
    if commented {
        return pages::respond(
            StatusCode::OK,
            "commented",
            chain,
            context! { brand, score, told },
        );
    }
    let band = if score <= rules.low_score {
        "low"
    } else if score >= rules.high_score {
        "high"
    } else {
        "middle"
    };
    let referral = shop
        .referral_url
        .clone()
        .unwrap_or_else(|| format!("https://{}", shop.domain));
    pages::respond(
        StatusCode::OK,
        "rated",
        chain,
        context! {
            brand,
            score,
            band,
            token,
            told,
            review_url => shop.review_url.as_deref(),
            referral_url => referral,
            max_comment => MAX_COMMENT_CHARS,
        },
    )
}

/// The return-reason page: the reason chosen and a comment form, or once `commented`
/// the thanks.
fn reason_page(
    shop: &ShopConfig,
    reason: ReturnReason,
    token: &str,
    commented: bool,
    chain: &[String],
) -> Response<Body> {
    pages::respond(
        StatusCode::OK,
        "reason",
        chain,
        context! {
            brand => shop.brand(),
            reason => reason.as_str(),
            token,
            commented,
            told => shop.merchant_contact().is_some(),
            max_comment => MAX_COMMENT_CHARS,
        },
    )
}

/// The confirmation (a button that unsubscribes), or once `done` the answer (a button
/// that resubscribes).
fn unsubscribe_page(
    done: bool,
    resubscribe: bool,
    shop: &ShopConfig,
    token: &str,
    chain: &[String],
) -> Response<Body> {
    let page = if done { "unsubscribed" } else { "unsubscribe" };
    pages::respond(
        StatusCode::OK,
        page,
        chain,
        context! { brand => shop.brand(), token, resubscribe, support_email => shop.support_email.as_deref() },
    )
}

/// How a resubscribe ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resubscribed {
    /// The customer's own unsubscribe was lifted.
    Now,
    /// Nothing was suppressed.
    Already,
    /// A bounce or complaint keeps the address suppressed.
    Kept,
}

fn resubscribe_page(outcome: Resubscribed, shop: &ShopConfig, chain: &[String]) -> Response<Body> {
    let page = match outcome {
        Resubscribed::Now => "resubscribed",
        Resubscribed::Already => "subscribed",
        Resubscribed::Kept => "kept_suppressed",
    };
    pages::respond(
        StatusCode::OK,
        page,
        chain,
        context! { brand => shop.brand(), support_email => shop.support_email.as_deref() },
    )
}

/// The reorder link's answer when the cart cannot be rebuilt: the storefront.
fn shop_again_page(shop: &ShopConfig, chain: &[String]) -> Response<Body> {
    pages::respond(
        StatusCode::OK,
        "shop_again",
        chain,
        context! { brand => shop.brand(), store_url => format!("https://{}", shop.domain) },
    )
}

/// An expired rating, reason or reorder link's page (410), in the shop's brand: the
/// storefront for a reorder, else the support address (or the storefront without one).
fn expired_page(shop: &ShopConfig, route: Route, chain: &[String]) -> Response<Body> {
    pages::respond(
        StatusCode::GONE,
        "expired",
        chain,
        context! {
            brand => shop.brand(),
            reorder => route == Route::Reorder,
            report => route == Route::Report,
            shop_domain => &shop.domain,
            support_email => shop.support_email.as_deref(),
            store_url => format!("https://{}", shop.domain),
        },
    )
}

/// A refusal's page (without the brand: the shop may be unknown), with its status.
fn refusal_page(refusal: &Refusal, chain: &[String]) -> Response<Body> {
    pages::respond(
        refusal.status(),
        "refusal",
        chain,
        context! { brand => None::<&str>, refusal => refusal.page() },
    )
}

fn redirect(url: &str) -> Response<Body> {
    let mut builder = Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::REFERRER_POLICY, "no-referrer");
    if let Ok(v) = header::HeaderValue::from_str(url) {
        builder = builder.header(header::LOCATION, v);
    }
    builder
        .body(Body::Empty)
        .unwrap_or_else(|_| Response::new(Body::Empty))
}

/// The layout around trusted markup (`body`), in English: what every page is framed in.
#[cfg(test)]
fn page(status: StatusCode, brand: Option<&str>, title: &str, body: &str) -> Response<Body> {
    pages::respond(
        status,
        "layout",
        &[],
        context! { brand, title, body => minijinja::Value::from_safe_string(body.to_owned()) },
    )
}

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

impl LinksApp<DynamoStore, crate::adapters::ses::SesMailer> {
    /// Builds the app once per cold start: config, link keys, DynamoDB and SES clients.
    pub async fn from_env(
        clock: Arc<dyn Clock>,
    ) -> Result<Self, crate::apps::startup::StartupError> {
        let config = Arc::new(crate::apps::startup::load_config()?);
        let table = crate::apps::startup::table_name()?;
        let keys = crate::apps::startup::link_keys().await?;
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        Ok(LinksApp {
            config,
            keys,
            store: DynamoStore::new(
                crate::adapters::dynamo::dynamo_client_with(
                    &shared,
                    crate::adapters::dynamo::Budget::Interactive,
                ),
                table,
                std::time::Duration::from_secs(7 * 86_400),
            ),
            mailer: crate::adapters::ses::SesMailer::new(aws_sdk_sesv2::Client::new(&shared)),
            clock,
        })
    }
}

#[cfg(test)]
mod tests;

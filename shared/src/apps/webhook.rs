//! The `webhook` function: verify → deduplicate → record → answer, inside Shopify's 5 s.
//!
//! Every failure maps to a status here and nowhere else:
//! body too large 413; delivery headers missing or malformed 400; shop not configured
//! or signature missing/wrong 401 (nothing stored); triggered longer ago than
//! `webhook.max_delivery_age_hours` 400; body not valid for its topic, or naming another
//! shop, 400; topic not handled 200 (ignored, so Shopify keeps the subscription);
//! recording failed or too slow 503 (Shopify retries, nothing is lost).
//!
//! With a queue (`AFTERCART_QUEUE_URL`, always in the deployed stack) a delivery that
//! passes every check is handed to the SQS FIFO ingest queue and answered 200 at once
//! (`queued`); the `ingest` consumer (`apps::ingest`) records it through
//! [`WebhookApp::record_queued`], one at a time per customer. A failed hand-off is a
//! 503. Without a queue — and for a delivery too large for a queue message even
//! gzipped — it is recorded inline, inside the request, as the consumer would.
//!
//! A signed delivery refused as too old or as the wrong body for its topic is counted
//! per shop and day (`crate::domain::refusals`); the dispatcher alerts the merchant once a day.

use crate::config::{Config, WebhookSecrets};
use crate::domain::ingest::Context;
use crate::domain::refusals::RefusalKind;
use crate::model::report::Counts;
use crate::model::time::Clock;
use crate::ports::store::{Outcome, Recorder, StoreError};
use crate::wire::intake::{Envelope, Via, MAX_MESSAGE_BYTES};
use crate::wire::shopify::{self, Delivery, Topic};
use crate::wire::verify::{verify_webhook, VerifyError};
use chrono::{DateTime, Utc};
use lambda_http::http::{HeaderMap, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Everything the handler needs, built once per cold start.
pub struct WebhookApp<R> {
    pub config: Arc<Config>,
    pub secrets: WebhookSecrets,
    pub recorder: R,
    pub clock: Arc<dyn Clock>,
    /// The ingest queue; `None` records inline.
    pub queue: Option<crate::adapters::sqs::SqsQueue>,
}

/// Why a delivery was not recorded, with the status it gets.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    #[error("{0} is not accepted: Shopify delivers webhooks with POST")]
    Method(String),
    #[error("body of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error(transparent)]
    Header(#[from] shopify::HeaderError),
    #[error("shop is not configured")]
    UnknownShop,
    #[error(transparent)]
    Signature(#[from] VerifyError),
    #[error(
        "the delivery was triggered {age_hours} hours ago (X-Shopify-Triggered-At), \
         longer ago than the {limit_hours}-hour limit: refused as a possible replay"
    )]
    Stale { age_hours: i64, limit_hours: u32 },
    #[error(transparent)]
    Parse(#[from] shopify::ParseError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("recording did not finish within {0} ms")]
    Timeout(u64),
    #[error(transparent)]
    Queue(#[from] crate::adapters::sqs::QueueError),
}

impl Rejection {
    /// Whether trying again later can succeed (the store or the queue was in trouble).
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            Rejection::Store(_) | Rejection::Timeout(_) | Rejection::Queue(_)
        )
    }

    fn status(&self) -> StatusCode {
        match self {
            Rejection::Method(_) => StatusCode::METHOD_NOT_ALLOWED,
            Rejection::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::Header(_) | Rejection::Parse(_) | Rejection::Stale { .. } => {
                StatusCode::BAD_REQUEST
            }
            Rejection::UnknownShop | Rejection::Signature(_) => StatusCode::UNAUTHORIZED,
            Rejection::Store(_) | Rejection::Timeout(_) | Rejection::Queue(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// What the caller is told. Authentication failures say only that: which secret,
    /// which shop or what digest was expected is never revealed.
    fn public_message(&self) -> String {
        match self {
            Rejection::UnknownShop | Rejection::Signature(_) => "invalid webhook signature".into(),
            Rejection::Store(_) | Rejection::Timeout(_) | Rejection::Queue(_) => {
                "temporarily unavailable, retry later".into()
            }
            other => other.to_string(),
        }
    }

    /// The refusal to count, for a signed delivery refused for what it says.
    fn refusal(&self) -> Option<RefusalKind> {
        match self {
            Rejection::Stale { .. } => Some(RefusalKind::Stale),
            Rejection::Parse(e) => match e.kind {
                // A field of the wrong type is a broken body, not another topic's.
                shopify::ParseErrorKind::Malformed => None,
                shopify::ParseErrorKind::Shape => Some(RefusalKind::WrongShape),
                shopify::ParseErrorKind::OtherShop => Some(RefusalKind::OtherShop),
            },
            _ => None,
        }
    }

    /// The outcome's name in the logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Rejection::Method(_) => "method",
            Rejection::TooLarge { .. } => "too_large",
            Rejection::Header(_) => "bad_headers",
            Rejection::UnknownShop => "unknown_shop",
            Rejection::Signature(_) => "bad_signature",
            Rejection::Stale { .. } => "stale",
            Rejection::Parse(e) => match e.kind {
                shopify::ParseErrorKind::Malformed => "bad_body",
                shopify::ParseErrorKind::Shape => "wrong_shape",
                shopify::ParseErrorKind::OtherShop => "other_shop",
            },
            Rejection::Store(_) => "store_error",
            Rejection::Timeout(_) => "store_timeout",
            Rejection::Queue(_) => "queue_error",
        }
    }
}

/// The result of one delivery, as logged and answered.
#[derive(Debug)]
pub enum Answer {
    Recorded(Outcome),
    /// Handed to the ingest queue; the consumer records it.
    Queued,
    Ignored,
    /// Kept for `aftercart replay`: recording failed for good (the error).
    Quarantined(StoreError),
}

impl Answer {
    /// The outcome's name in the logs and the answer's `status`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Answer::Recorded(o) => o.as_str(),
            Answer::Queued => "queued",
            Answer::Ignored => "ignored",
            Answer::Quarantined(_) => "quarantined",
        }
    }
}

impl<R: Recorder> WebhookApp<R> {
    /// Handles one HTTP delivery. Never fails: every outcome is a response.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let started = Instant::now();
        let request_id = req
            .lambda_context_ref()
            .map(|c| c.request_id.clone())
            .unwrap_or_default();
        let headers = req.headers();
        let body: &[u8] = req.body().as_ref();
        let delivery = Delivery::from_headers(headers);
        let result = if req.method() == lambda_http::http::Method::POST {
            self.process(headers, delivery.clone(), body).await
        } else {
            // Nothing is verified, parsed or stored for another method.
            Err(Rejection::Method(
                req.method().as_str().chars().take(16).collect(),
            ))
        };
        let latency_ms = started.elapsed().as_millis() as u64;
        let (topic, shop, webhook_id) = delivery
            .map(|d| (d.topic, d.shop, d.webhook_id))
            .unwrap_or_default();
        match result {
            Ok(Answer::Quarantined(error)) => {
                // The ids name the delivery for `aftercart replay`; the body stays in the
                // table. The log metric `DeliveriesQuarantined` alarms on this line.
                tracing::error!(
                    request_id, topic, shop, webhook_id, outcome = "quarantined", status = 200,
                    latency_ms, error = %error,
                    "delivery quarantined"
                );
                json(
                    StatusCode::OK,
                    serde_json::json!({ "status": "quarantined" }),
                )
            }
            Ok(answer) => {
                let outcome = answer.as_str();
                tracing::info!(
                    request_id,
                    topic,
                    shop,
                    webhook_id,
                    outcome,
                    status = 200,
                    latency_ms,
                    "webhook handled"
                );
                json(StatusCode::OK, serde_json::json!({ "status": outcome }))
            }
            Err(rejection) => {
                let ids = Ids {
                    request_id: &request_id,
                    topic,
                    shop,
                    webhook_id,
                };
                rejected(&rejection, &ids, body, latency_ms)
            }
        }
    }

    async fn process(
        &self,
        headers: &HeaderMap,
        delivery: Result<Delivery<'_>, shopify::HeaderError>,
        body: &[u8],
    ) -> Result<Answer, Rejection> {
        let limit = self.config.webhook.max_body_bytes;
        if body.len() > limit {
            return Err(Rejection::TooLarge {
                size: body.len(),
                limit,
            });
        }
        let delivery = delivery?;
        self.config
            .shop(delivery.shop)
            .ok_or(Rejection::UnknownShop)?;
        let secrets = self
            .secrets
            .for_shop(delivery.shop)
            .ok_or(Rejection::UnknownShop)?;
        verify_webhook(body, shopify::signature_header(headers), secrets)?;
        self.accept(&delivery, body, Via::Https).await
    }

    /// A delivery from a trusted source (HMAC-verified, or the configured EventBridge
    /// partner source) of a configured shop: checked for topic, age and body, then
    /// queued, or recorded inline without a queue.
    pub async fn accept(
        &self,
        delivery: &Delivery<'_>,
        body: &[u8],
        via: Via,
    ) -> Result<Answer, Rejection> {
        // A topic Aftercart does not act on is acknowledged whatever its age or body.
        let Some(topic) = Topic::parse(delivery.topic) else {
            return Ok(Answer::Ignored);
        };
        let now = self.clock.now();
        // The header read once: too old is refused, over a minute a likely retry.
        let age = delivery_age(delivery, now);
        let event = match self
            .check_age(age)
            .and_then(|()| Ok(shopify::parse_delivery(topic, delivery.shop, body)?))
        {
            Ok(event) => event,
            Err(rejection) => {
                self.count(delivery.shop, &rejection, now).await;
                return Err(rejection);
            }
        };
        let redelivery = age.is_some_and(|a| {
            a > chrono::Duration::seconds(crate::domain::ingest::REDELIVERY_AFTER_SECS)
        });
        if let Some(queue) = &self.queue {
            let envelope = Envelope {
                v: 1,
                via,
                shop: delivery.shop.to_owned(),
                topic: delivery.topic.to_owned(),
                webhook_id: delivery.webhook_id.to_owned(),
                event_id: delivery.event_id.map(str::to_owned),
                triggered_at: delivery.triggered_at.map(str::to_owned),
                api_version: delivery.api_version.map(str::to_owned),
                redelivery,
                body: crate::model::pack_body(body, MAX_MESSAGE_BYTES).unwrap_or_default(),
            };
            if let Some(text) = envelope.encode().filter(|_| !envelope.body.is_empty()) {
                let group = self.group(delivery.shop, &event).await?;
                let dedup = crate::wire::intake::dedup_id(delivery.shop, delivery.webhook_id);
                queue.send(&group, &dedup, &text).await?;
                return Ok(Answer::Queued);
            }
            // Too large for a message even gzipped: recorded now, as before the queue.
            tracing::warn!(
                shop = delivery.shop,
                webhook_id = delivery.webhook_id,
                topic = delivery.topic,
                body_bytes = body.len(),
                "delivery too large for the ingest queue; recorded inline"
            );
        }
        let budget = self.config.webhook.store_budget_ms;
        self.record_now(delivery, &event, body, redelivery, budget, None)
            .await
    }

    /// The message group of `event`: for a shipment or refund, its order's stored
    /// customer (one small read) when the order is recorded.
    async fn group(&self, shop: &str, event: &shopify::Event) -> Result<String, Rejection> {
        let stored = match crate::domain::ingest::group_lookup(event) {
            Some(order_id) => self.recorder.customer_of_order(shop, order_id).await?,
            None => None,
        };
        Ok(crate::domain::ingest::group(shop, event, stored.as_deref()))
    }

    /// Records one queued delivery (the `ingest` consumer), with `budget_ms` for the
    /// store; the report counts go to `counts` when given (a batch's, added at its end).
    /// A message that is not a delivery any more (its topic or body) is an `Err` the
    /// consumer cannot fix by retrying; see [`Rejection::retryable`].
    pub async fn record_queued(
        &self,
        envelope: &Envelope,
        budget_ms: u64,
        counts: Option<&Counts>,
    ) -> Result<Answer, Rejection> {
        let delivery = Delivery {
            topic: &envelope.topic,
            shop: &envelope.shop,
            webhook_id: &envelope.webhook_id,
            event_id: envelope.event_id.as_deref(),
            api_version: envelope.api_version.as_deref(),
            triggered_at: envelope.triggered_at.as_deref(),
        };
        let Some(topic) = Topic::parse(&envelope.topic) else {
            return Ok(Answer::Ignored);
        };
        let body = envelope.unpack().map_err(|e| {
            Rejection::Parse(shopify::ParseError {
                topic: topic.as_str(),
                message: e.to_string(),
                kind: shopify::ParseErrorKind::Malformed,
            })
        })?;
        let event = shopify::parse_delivery(topic, &envelope.shop, &body)?;
        let redelivery = envelope.redelivery;
        self.record_now(&delivery, &event, &body, redelivery, budget_ms, counts)
            .await
    }

    /// Records `event` within `budget_ms`, its report counts into `counts` when given
    /// ([`Context::counts`]); a delivery the store refuses for good is quarantined for
    /// `aftercart replay` instead.
    async fn record_now(
        &self,
        delivery: &Delivery<'_>,
        event: &shopify::Event,
        body: &[u8],
        redelivery: bool,
        budget_ms: u64,
        counts: Option<&Counts>,
    ) -> Result<Answer, Rejection> {
        let now = self.clock.now();
        let shop = self
            .config
            .shop(delivery.shop)
            .ok_or(Rejection::UnknownShop)?;
        let ctx = Context {
            shop: delivery.shop,
            webhook_id: delivery.webhook_id,
            now,
            rules: Some(shop),
            shards: self.config.dispatch.shards,
            redelivery,
            import: false,
            counts,
        };
        let recorded = tokio::time::timeout(
            Duration::from_millis(budget_ms),
            self.recorder.record(&ctx, event),
        )
        .await
        .map_err(|_| Rejection::Timeout(budget_ms))?;
        match recorded {
            Ok(outcome) => Ok(Answer::Recorded(outcome)),
            // A retry cannot fix it: keep it for a replay and let Shopify stop retrying
            // (8 failures in a row would delete an Admin API subscription).
            Err(e) if e.is_permanent() => {
                self.quarantine(delivery, event, body, &e, now).await?;
                Ok(Answer::Quarantined(e))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Keeps the delivery in the partition it is about; a failure to keep it is a 503.
    async fn quarantine(
        &self,
        delivery: &Delivery<'_>,
        event: &shopify::Event,
        body: &[u8],
        error: &StoreError,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), Rejection> {
        let Some(body_gzip) = crate::model::QuarantineRecord::pack(body) else {
            // Too big to keep even gzipped: Shopify's retries are all that is left.
            tracing::error!(
                shop = delivery.shop,
                webhook_id = delivery.webhook_id,
                topic = delivery.topic,
                body_bytes = body.len(),
                "delivery refused by the store and too large to quarantine"
            );
            return Err(Rejection::Store(StoreError::Refused {
                operation: "quarantine",
                message: "the body is too large to keep, even compressed".into(),
            }));
        };
        let key = crate::model::keys::quarantine(
            &crate::domain::ingest::quarantine_pk(delivery.shop, event),
            delivery.webhook_id,
        );
        let record = crate::model::QuarantineRecord {
            shop: delivery.shop.to_owned(),
            topic: delivery.topic.to_owned(),
            webhook_id: delivery.webhook_id.to_owned(),
            received_at: crate::model::time::utc_key(&now),
            triggered_at: delivery.triggered_at.map(str::to_owned),
            error: error.to_string(),
            body_gzip,
            expires_at: now.timestamp() + crate::model::QuarantineRecord::KEEP_DAYS * 86_400,
        };
        self.recorder.quarantine(&key, &record).await?;
        Ok(())
    }
}

/// How long ago Shopify says it triggered `delivery` (`X-Shopify-Triggered-At`);
/// `None` without the header or with one that is not a time.
fn delivery_age(delivery: &Delivery<'_>, now: DateTime<Utc>) -> Option<chrono::Duration> {
    delivery
        .triggered_at
        .and_then(crate::model::time::parse_time)
        .map(|at| now.signed_duration_since(at.to_utc()))
}

impl<R: Recorder> WebhookApp<R> {
    /// Refuses a delivery Shopify says it triggered longer ago than the limit. Without
    /// the header (or with one that is not a time) nothing is refused here: the header
    /// is not signed, so it only stops replays that resend it as captured.
    fn check_age(&self, age: Option<chrono::Duration>) -> Result<(), Rejection> {
        let limit_hours = self.config.webhook.max_delivery_age_hours;
        let Some(age) = age else {
            return Ok(());
        };
        if age > chrono::Duration::hours(i64::from(limit_hours)) {
            return Err(Rejection::Stale {
                age_hours: age.num_hours(),
                limit_hours,
            });
        }
        Ok(())
    }

    /// Counts a refused signed delivery, within the store budget. A failure to count is
    /// logged and does not change the answer: the delivery is refused either way.
    async fn count(&self, shop: &str, rejection: &Rejection, now: DateTime<Utc>) {
        let Some(kind) = rejection.refusal() else {
            return;
        };
        let budget = Duration::from_millis(self.config.webhook.store_budget_ms);
        let counted =
            tokio::time::timeout(budget, self.recorder.count_refusal(shop, kind, now)).await;
        match counted {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(shop, refusal = kind.as_str(), error = %e, "refused delivery not counted")
            }
            Err(_) => tracing::error!(
                shop,
                refusal = kind.as_str(),
                "refused delivery not counted: the store did not answer in time"
            ),
        }
    }
}

/// What `aftercart replay` did for one shop.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Replayed {
    /// Recorded now (and removed from quarantine).
    pub recorded: u32,
    /// Already recorded (an earlier replay, or Shopify's own retry): removed.
    pub duplicates: u32,
    /// Still refused for good: kept, with the new error.
    pub still_refused: u32,
    /// No longer readable as a delivery (its topic or body): kept for a look.
    pub unreadable: u32,
}

impl WebhookApp<crate::adapters::dynamo::DynamoStore> {
    /// Records every quarantined delivery of `shop` through the same path as a live
    /// one (its webhook id's receipt makes it exactly once: a replay run twice, or cut
    /// short between recording and removing, records nothing twice). A store outage
    /// stops the replay with the error; what is left stays quarantined.
    pub async fn replay(&self, shop: &str) -> Result<Replayed, StoreError> {
        let mut done = Replayed::default();
        for (key, q) in self.recorder.quarantined(shop).await? {
            let event = match (Topic::parse(&q.topic), q.unpack()) {
                (Some(topic), Some(body)) => shopify::parse_delivery(topic, shop, &body).ok(),
                _ => None,
            };
            let Some(event) = event else {
                done.unreadable += 1;
                tracing::error!(shop, webhook_id = %q.webhook_id, topic = %q.topic, "quarantined delivery cannot be read as one; left in place");
                continue;
            };
            let ctx = Context {
                shop,
                webhook_id: &q.webhook_id,
                now: self.clock.now(),
                rules: self.config.shop(shop),
                shards: self.config.dispatch.shards,
                redelivery: false,
                import: false,
                counts: None,
            };
            match self.recorder.record(&ctx, &event).await {
                Ok(Outcome::Recorded { .. }) => done.recorded += 1,
                Ok(Outcome::Duplicate { .. }) => done.duplicates += 1,
                Err(e) if e.is_permanent() => {
                    done.still_refused += 1;
                    tracing::error!(shop, webhook_id = %q.webhook_id, topic = %q.topic, error = %e, "quarantined delivery still refused; left in place");
                    continue;
                }
                Err(e) => return Err(e),
            }
            self.recorder.release_quarantined(&key).await?;
            tracing::info!(shop, webhook_id = %q.webhook_id, topic = %q.topic, "quarantined delivery replayed");
        }
        Ok(done)
    }
}

/// What names a delivery in the logs.
struct Ids<'a> {
    request_id: &'a str,
    topic: &'a str,
    shop: &'a str,
    webhook_id: &'a str,
}

/// Logs a rejected delivery (ids and a digest, never the body) and answers it.
fn rejected(rejection: &Rejection, ids: &Ids<'_>, body: &[u8], latency_ms: u64) -> Response<Body> {
    let Ids {
        request_id,
        topic,
        shop,
        webhook_id,
    } = *ids;
    let status = rejection.status();
    let body_sha256 = hex_prefix(&Sha256::digest(body));
    if status.is_server_error() {
        tracing::error!(
            request_id, topic, shop, webhook_id, outcome = rejection.kind(),
            status = status.as_u16(), latency_ms, error = %rejection,
            "webhook not recorded; Shopify will retry"
        );
    } else {
        // The ids and a digest identify the delivery in Shopify's admin (where it can be
        // resent); the body itself is never logged.
        tracing::warn!(
            request_id, topic, shop, webhook_id, outcome = rejection.kind(),
            status = status.as_u16(), latency_ms, body_bytes = body.len(),
            body_sha256, error = %rejection,
            "webhook rejected"
        );
    }
    let mut resp = json(
        status,
        serde_json::json!({ "error": rejection.public_message() }),
    );
    if let Rejection::Method(_) = rejection {
        resp.headers_mut().insert(
            lambda_http::http::header::ALLOW,
            lambda_http::http::HeaderValue::from_static("POST"),
        );
    }
    resp
}

fn json(status: StatusCode, value: serde_json::Value) -> Response<Body> {
    let mut resp = Response::new(Body::Text(value.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        lambda_http::http::header::CONTENT_TYPE,
        lambda_http::http::HeaderValue::from_static("application/json"),
    );
    resp
}

fn hex_prefix(digest: &[u8]) -> String {
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;

impl WebhookApp<crate::adapters::dynamo::DynamoStore> {
    /// Builds the app from the environment, once per cold start: the config file named
    /// by `AFTERCART_CONFIG`, secrets from the variables it names, the table named by
    /// `AFTERCART_TABLE`, and one DynamoDB client with the webhook's time budget.
    pub async fn from_env() -> Result<Self, crate::apps::startup::StartupError> {
        let config = Arc::new(crate::apps::startup::load_config()?);
        // Every shop's secrets, resolved together (one SSM call in production).
        let secrets = crate::apps::startup::webhook_secrets(&config).await?;
        let table = crate::apps::startup::table_name()?;
        let receipt_ttl = Duration::from_secs(u64::from(config.webhook.receipt_days) * 86_400);
        // One SDK config (credentials, region) for both clients.
        let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let client = crate::adapters::dynamo::dynamo_client_with(
            &shared,
            crate::adapters::dynamo::Budget::Webhook,
        );
        Ok(WebhookApp {
            config,
            secrets,
            recorder: crate::adapters::dynamo::DynamoStore::new(client, table, receipt_ttl),
            clock: Arc::new(crate::model::time::SystemClock),
            queue: crate::adapters::sqs::from_env(&shared, "AFTERCART_QUEUE_URL"),
        })
    }
}

//! The `ingest` function, on two triggers:
//!
//! - **The ingest queue** (SQS FIFO, a partial batch response): each message is one
//!   accepted delivery ([`crate::wire::intake::Envelope`]), recorded through the
//!   webhook's own path ([`WebhookApp::record_queued`]): the same receipts, the same
//!   transaction. Messages of one group (a customer, or an order) are recorded one
//!   after another in the order the queue hands them over; groups run side by side.
//!   A failed message fails the rest of its group in this batch too, so none is
//!   recorded ahead of an earlier one; the others in the batch are not redone
//!   (`batchItemFailures`). Store trouble backs the message off (30 s, doubling, at
//!   most 2 h: [`back_off`]) instead of spending its receives; a message that can
//!   never be recorded (not a delivery, another build's version) fails until the
//!   queue's `maxReceiveCount` moves it to the dead-letter queue, its ids logged and
//!   never its body; `aftercart redrive` records it after a fix, exactly once.
//! - **Shopify's EventBridge delivery** ([`crate::wire::shopify::eventbridge`]): an
//!   event from the configured partner source (`AFTERCART_EVENT_SOURCE`) for a
//!   configured shop is checked like an HTTPS delivery (topic, age, body) and queued
//!   in its group. A refused event is logged and dropped (EventBridge retrying cannot
//!   change it); a failed hand-off fails the invocation, so EventBridge retries.

use crate::apps::webhook::{Answer, WebhookApp};
use crate::model::report::Counts;
use crate::ports::store::Recorder;
use crate::wire::intake::{Envelope, Via};
use crate::wire::shopify::{eventbridge, Delivery};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

/// The store budget of one queued delivery: the function's 10 s timeout less room for
/// the rest of the batch's bookkeeping.
pub const RECORD_BUDGET_MS: u64 = 8_000;

/// The consumer and router, built once per cold start.
pub struct IngestApp<R> {
    /// The webhook's recorder, config and clock; its `queue` is the ingest queue.
    pub app: WebhookApp<R>,
    /// The one partner event source accepted (`aws.partner/shopify.com/…`); `None`
    /// refuses every EventBridge event.
    pub event_source: Option<String>,
}

/// What one queued delivery came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Recorded, a duplicate, ignored or quarantined: delete it.
    Done,
    /// Store trouble: back off and retry.
    Retry,
    /// Cannot be recorded as it is: retry until the dead-letter queue takes it.
    Poison,
}

#[derive(Debug, Deserialize)]
struct SqsEvent {
    #[serde(rename = "Records")]
    records: Vec<SqsRecord>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SqsRecord {
    message_id: String,
    #[serde(default)]
    receipt_handle: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    attributes: HashMap<String, String>,
}

/// The back-off before the next receive of a message that met store trouble on its
/// `receive_count`-th receive: 30 s, doubling, at most 2 h. With the queue's
/// `maxReceiveCount` of 10 that waits out about 6 h of trouble (each of the 10
/// receives sets its back-off; the 11th moves it) before the dead-letter queue.
pub fn back_off(receive_count: u32) -> Duration {
    let step = receive_count.saturating_sub(1).min(16);
    Duration::from_secs((30u64 << step).min(7_200))
}

impl<R: Recorder> IngestApp<R> {
    /// Handles one invocation: an SQS batch (answered with its `batchItemFailures`) or
    /// an EventBridge event. `Err` fails the invocation (EventBridge retries it).
    pub async fn handle(&self, payload: Value) -> Result<Value, String> {
        if eventbridge::is_event(&payload) {
            return self.route(payload).await.map(|()| serde_json::json!({}));
        }
        let batch: SqsEvent = serde_json::from_value(payload)
            .map_err(|e| format!("neither an SQS batch nor an EventBridge event: {e}"))?;
        let failed = self.consume(batch.records).await;
        Ok(serde_json::json!({
            "batchItemFailures": failed
                .iter()
                .map(|id| serde_json::json!({ "itemIdentifier": id }))
                .collect::<Vec<_>>()
        }))
    }

    /// Records a batch; returns the message ids to retry. The report counts of what it
    /// recorded are added once at the end, merged per shop, day and scope: a batch's
    /// deliveries of one day cost one write of each counter they touch.
    async fn consume(&self, records: Vec<SqsRecord>) -> Vec<String> {
        let counts = Counts::default();
        // Groups in the order their first message came, each in the queue's order.
        let mut groups: Vec<(String, Vec<SqsRecord>)> = Vec::new();
        for r in records {
            let g = r
                .attributes
                .get("MessageGroupId")
                .cloned()
                .unwrap_or_default();
            match groups.iter_mut().find(|(k, _)| *k == g) {
                Some((_, v)) => v.push(r),
                None => groups.push((g, vec![r])),
            }
        }
        let runs = groups
            .into_iter()
            .map(|(_, records)| self.consume_group(records, &counts));
        let failed = futures::future::join_all(runs)
            .await
            .into_iter()
            .flatten()
            .collect();
        let adds = counts
            .take()
            .into_iter()
            .map(|(shop, tallies)| async move { self.app.recorder.count(&shop, tallies).await });
        futures::future::join_all(adds).await;
        failed
    }

    async fn consume_group(&self, records: Vec<SqsRecord>, counts: &Counts) -> Vec<String> {
        let mut failed = Vec::new();
        for r in records {
            if !failed.is_empty() {
                // An earlier message of the group failed: this one waits behind it.
                failed.push(r.message_id);
                continue;
            }
            let receives = r
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
            match self
                .record_message(&r.message_id, &r.body, receives, Some(counts))
                .await
            {
                Fate::Done => {}
                Fate::Retry => {
                    if let Some(queue) = &self.app.queue {
                        if let Err(e) = queue.back_off(&r.receipt_handle, back_off(receives)).await
                        {
                            tracing::warn!(message_id = %r.message_id, error = %e, "back-off not set; the queue's visibility timeout applies");
                        }
                    }
                    failed.push(r.message_id);
                }
                Fate::Poison => failed.push(r.message_id),
            }
        }
        failed
    }

    /// Records one message body and logs what came of it (ids only, never the body);
    /// its report counts go to `counts` when given.
    pub async fn record_message(
        &self,
        message_id: &str,
        body: &str,
        receives: u32,
        counts: Option<&Counts>,
    ) -> Fate {
        let envelope = match Envelope::decode(body) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(message_id, receives, outcome = "poison", error = %e, "queued message is not a delivery; it goes to the dead-letter queue after its last receive");
                return Fate::Poison;
            }
        };
        let (shop, topic, webhook_id) = (&envelope.shop, &envelope.topic, &envelope.webhook_id);
        let via = envelope.via.as_str();
        match self
            .app
            .record_queued(&envelope, RECORD_BUDGET_MS, counts)
            .await
        {
            Ok(answer) => {
                let outcome = answer.as_str();
                if let Answer::Quarantined(e) = &answer {
                    tracing::error!(message_id, shop, topic, webhook_id, via, outcome, error = %e, "delivery quarantined");
                } else {
                    tracing::info!(
                        message_id,
                        shop,
                        topic,
                        webhook_id,
                        via,
                        outcome,
                        receives,
                        "queued delivery handled"
                    );
                }
                Fate::Done
            }
            Err(r) if r.retryable() => {
                tracing::warn!(message_id, shop, topic, webhook_id, via, outcome = r.kind(), receives, error = %r, "queued delivery not recorded; backing off");
                Fate::Retry
            }
            Err(r) => {
                tracing::error!(message_id, shop, topic, webhook_id, via, outcome = r.kind(), receives, error = %r, "queued delivery cannot be recorded; it goes to the dead-letter queue after its last receive");
                Fate::Poison
            }
        }
    }

    /// Accepts one EventBridge event into the queue.
    async fn route(&self, payload: Value) -> Result<(), String> {
        let event = match eventbridge::parse(payload) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(outcome = "bad_event", error = %e, "EventBridge event refused");
                return Ok(());
            }
        };
        if self.event_source.as_deref() != Some(event.source.as_str()) {
            // Not the configured partner source: nothing of it is trusted.
            tracing::warn!(event_id = %event.id, outcome = "unknown_source", "EventBridge event from another source refused");
            return Ok(());
        }
        let delivery = match Delivery::from_headers(&event.headers) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(event_id = %event.id, outcome = "bad_headers", error = %e, "EventBridge event refused");
                return Ok(());
            }
        };
        let (shop, topic, webhook_id) = (delivery.shop, delivery.topic, delivery.webhook_id);
        if self.app.config.shop(shop).is_none() {
            tracing::warn!(event_id = %event.id, shop, topic, webhook_id, outcome = "unknown_shop", "EventBridge event for a shop not in the config refused");
            return Ok(());
        }
        match self
            .app
            .accept(&delivery, &event.body, Via::Eventbridge)
            .await
        {
            Ok(answer) => {
                let outcome = answer.as_str();
                tracing::info!(event_id = %event.id, shop, topic, webhook_id, via = "eventbridge", outcome, "EventBridge event handled");
                Ok(())
            }
            Err(r) if r.retryable() => {
                tracing::error!(event_id = %event.id, shop, topic, webhook_id, outcome = r.kind(), error = %r, "EventBridge event not queued; EventBridge will retry");
                Err(format!("not queued: {}", r.kind()))
            }
            Err(r) => {
                tracing::warn!(event_id = %event.id, shop, topic, webhook_id, outcome = r.kind(), error = %r, "EventBridge event refused");
                Ok(())
            }
        }
    }
}

/// What `aftercart redrive` did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Redriven {
    /// Recorded now, and deleted from the dead-letter queue.
    pub recorded: u32,
    /// Recorded before (Shopify's retry, an earlier redrive): deleted.
    pub duplicates: u32,
    /// Ignored or quarantined (`aftercart replay` takes it from there): deleted.
    pub settled: u32,
    /// Still not recordable, or the store in trouble: left in the dead-letter queue.
    pub failing: u32,
}

impl<R: Recorder> IngestApp<R> {
    /// Records every message in the dead-letter queue `dlq` through the consumer's own
    /// path, after a fix: each delivery's receipts make it exactly once (a redrive run
    /// twice, or cut short between recording and deleting, records nothing twice).
    /// A message that still fails stays (it is hidden for the queue's visibility
    /// timeout, so one run sees each message once).
    pub async fn redrive(
        &self,
        dlq: &crate::adapters::sqs::SqsQueue,
    ) -> Result<Redriven, crate::adapters::sqs::QueueError> {
        let mut done = Redriven::default();
        loop {
            let got = dlq.receive(10, Duration::ZERO).await?;
            if got.is_empty() {
                return Ok(done);
            }
            for m in got {
                let outcome = self.redrive_one(&m.message_id, &m.body).await;
                match outcome {
                    Some(Answer::Recorded(crate::ports::store::Outcome::Recorded { .. })) => {
                        done.recorded += 1
                    }
                    Some(Answer::Recorded(_)) => done.duplicates += 1,
                    Some(_) => done.settled += 1,
                    None => {
                        done.failing += 1;
                        continue;
                    }
                }
                dlq.delete(&m.receipt_handle).await?;
            }
        }
    }

    async fn redrive_one(&self, message_id: &str, body: &str) -> Option<Answer> {
        let envelope = match Envelope::decode(body) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(message_id, error = %e, "dead-lettered message is not a delivery; left in place");
                return None;
            }
        };
        let (shop, topic, webhook_id) = (&envelope.shop, &envelope.topic, &envelope.webhook_id);
        match self
            .app
            .record_queued(&envelope, RECORD_BUDGET_MS, None)
            .await
        {
            Ok(answer) => {
                tracing::info!(
                    message_id,
                    shop,
                    topic,
                    webhook_id,
                    "dead-lettered delivery redriven"
                );
                Some(answer)
            }
            Err(r) => {
                tracing::error!(message_id, shop, topic, webhook_id, outcome = r.kind(), error = %r, "dead-lettered delivery still not recorded; left in place");
                None
            }
        }
    }
}

impl IngestApp<crate::adapters::dynamo::DynamoStore> {
    /// Builds the app from the environment, once per cold start: the config, the table,
    /// a DynamoDB client that waits out a slow store (`Budget::Background`), the queue
    /// (`AFTERCART_QUEUE_URL`) and the partner source (`AFTERCART_EVENT_SOURCE`).
    pub async fn from_env() -> Result<Self, crate::apps::startup::StartupError> {
        let config = std::sync::Arc::new(crate::apps::startup::load_config()?);
        let table = crate::apps::startup::table_name()?;
        let receipt_ttl = Duration::from_secs(u64::from(config.webhook.receipt_days) * 86_400);
        // One SDK config (credentials, region) for both clients.
        let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let client = crate::adapters::dynamo::dynamo_client_with(
            &shared,
            crate::adapters::dynamo::Budget::Background,
        );
        let app = WebhookApp {
            config,
            // Nothing is verified here: HTTPS deliveries were verified by the webhook,
            // EventBridge events are trusted by their source.
            secrets: crate::config::WebhookSecrets::default(),
            recorder: crate::adapters::dynamo::DynamoStore::new(client, table, receipt_ttl),
            clock: std::sync::Arc::new(crate::model::time::SystemClock),
            queue: crate::adapters::sqs::from_env(&shared, "AFTERCART_QUEUE_URL"),
        };
        let event_source = std::env::var("AFTERCART_EVENT_SOURCE")
            .ok()
            .filter(|s| !s.trim().is_empty());
        Ok(IngestApp { app, event_source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_trouble_backs_off_doubling_to_two_hours() {
        let secs: Vec<u64> = (1..=10).map(|n| back_off(n).as_secs()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3840, 7200, 7200]);
        // Each of the 10 receives backs off; the next receive moves it to the DLQ: about 6 h 8 min.
        assert_eq!(secs.iter().sum::<u64>(), 22_050);
        assert_eq!(back_off(0).as_secs(), 30);
        assert_eq!(back_off(u32::MAX).as_secs(), 7200);
    }
}

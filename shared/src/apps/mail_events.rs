//! The `mail-events` function: SES bounce, complaint, delivery, open and click events
//! ([`crate::wire::ses`]) are planned ([`crate::domain::mail_events`]) and applied
//! exactly once through the [`MailEventStore`] port.

use crate::adapters::dynamo::DynamoStore;
use crate::domain::mail_events::{plan, Applied, DeliveryInfo, Plan, RECEIPT_TTL};
use crate::model::report::{Counts, Tally};
use crate::model::time::Clock;
use crate::ports::mail_events::MailEventStore;
use crate::ports::store::StoreError;
use crate::wire::ses::{parse_payload, Incoming, SesEvent, Source};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

/// What one invocation did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// SES events in the payload.
    pub events: u32,
    pub applied: u32,
    pub duplicates: u32,
    /// Accepted with nothing to do.
    pub ignored: u32,
    /// Malformed: logged and dropped (retrying cannot fix them).
    pub skipped: u32,
    /// From a queue batch whose store write failed: that record and the ones after it,
    /// which the SQS trigger (`ReportBatchItemFailures`) hands out again. The records
    /// before it are done.
    #[serde(rename = "batchItemFailures", skip_serializing_if = "Vec::is_empty")]
    pub batch_item_failures: Vec<BatchItemFailure>,
}

/// A queue record to receive again, as Lambda's SQS trigger reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

/// The function's handler, built once per cold start.
pub struct MailEventsApp<S> {
    pub store: S,
    pub clock: Arc<dyn Clock>,
}

impl<S: MailEventStore> MailEventsApp<S> {
    /// Handles one Lambda payload. When the store fails, `Err`, so Lambda retries the
    /// payload (events already applied are then recognised by their receipts); for a
    /// queue batch, `Ok` with the records not done in `batch_item_failures` instead.
    /// The report counters of the events applied are added once at the end, merged per
    /// shop, day and scope, also when the store failed part-way.
    pub async fn handle(&self, payload: Value) -> Result<Summary, StoreError> {
        let mut summary = Summary::default();
        let incoming = match parse_payload(&payload) {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(error = %e, outcome = "skipped", "mail event payload not understood");
                summary.events = 1;
                summary.skipped = 1;
                return Ok(summary);
            }
        };
        summary.events = u32::try_from(incoming.len()).unwrap_or(u32::MAX);
        let counts = Counts::default();
        let mut failed = None;
        for (n, i) in incoming.iter().enumerate() {
            let Some(plan) = usable_plan(i, &mut summary) else {
                continue;
            };
            match self.apply(&plan, i, &mut summary).await {
                Ok(t) => counts.add(&plan.shop, t),
                Err(e) => {
                    failed = Some((n, e));
                    break;
                }
            }
        }
        for (shop, t) in counts.take() {
            self.store.count(&shop, t).await;
        }
        let Some((n, e)) = failed else {
            return Ok(summary);
        };
        if incoming.iter().all(|i| i.source == Source::Sqs) {
            summary.batch_item_failures = incoming[n..]
                .iter()
                .filter(|i| !i.delivery_id.is_empty())
                .map(|i| BatchItemFailure {
                    item_identifier: i.delivery_id.clone(),
                })
                .collect();
            return Ok(summary);
        }
        Err(e)
    }

    /// Applies `plan` exactly once and logs the outcome; the report counters it calls
    /// for, or `Err` (logged) if the store fails.
    async fn apply(
        &self,
        plan: &Plan,
        i: &Incoming,
        summary: &mut Summary,
    ) -> Result<Vec<Tally>, StoreError> {
        let source = i.source.as_str();
        let delivery_id = i.delivery_id.as_str();
        let followup = plan.followup.as_ref().map(|f| f.id.as_str());
        let delivery = DeliveryInfo {
            source: i.source,
            delivery_id,
            now: self.clock.now(),
        };
        let mut counted = Vec::new();
        let outcome = match self.store.apply(plan, &delivery).await {
            Ok(Applied::Written {
                followup_found,
                tallies,
            }) => {
                summary.applied += 1;
                counted = tallies;
                if plan.followup.is_some() && !followup_found {
                    "applied_followup_gone"
                } else {
                    "applied"
                }
            }
            Ok(Applied::Duplicate) => {
                summary.duplicates += 1;
                "duplicate"
            }
            Err(e) => {
                tracing::error!(source, delivery_id, shop = %plan.shop, event_id = %plan.event_id, error = %e, "mail event not recorded; it is retried (the invocation fails, or from the queue, the record and those after it are received again)");
                return Err(e);
            }
        };
        tracing::info!(
            source,
            delivery_id,
            shop = %plan.shop,
            event_type = plan.event_type.as_str(),
            event_id = %plan.event_id,
            followup,
            suppressed = plan.suppress.len(),
            transient = plan.transient.len(),
            outcome,
            "mail event"
        );
        Ok(counted)
    }
}

/// The plan of an incoming event that has something to write; `None` (counted in
/// `summary` and logged) for an event that is ignored, unusable or names nothing to
/// change.
fn usable_plan(i: &Incoming, summary: &mut Summary) -> Option<Plan> {
    let source = i.source.as_str();
    let delivery_id = i.delivery_id.as_str();
    let event = match &i.event {
        Ok(SesEvent::Tracked(e)) => e,
        Ok(SesEvent::Ignored(t)) => {
            summary.ignored += 1;
            tracing::info!(
                source,
                delivery_id,
                event_type = t.as_str(),
                outcome = "ignored",
                "mail event"
            );
            return None;
        }
        Err(e) => {
            summary.skipped += 1;
            tracing::warn!(source, delivery_id, error = %e, outcome = "skipped", "mail event not usable");
            return None;
        }
    };
    let plan = match plan(event) {
        Ok(p) => p,
        Err(e) => {
            summary.skipped += 1;
            tracing::warn!(source, delivery_id, event_type = event.event_type.as_str(), error = %e, outcome = "skipped", "mail event not usable");
            return None;
        }
    };
    for note in &plan.notes {
        tracing::warn!(source, delivery_id, shop = %plan.shop, error = %note, "mail event: follow-up not identified; addresses still handled");
    }
    if plan.is_empty() {
        summary.ignored += 1;
        tracing::info!(
            source,
            delivery_id,
            shop = %plan.shop,
            event_type = plan.event_type.as_str(),
            outcome = "ignored",
            "mail event names no follow-up"
        );
        return None;
    }
    Some(plan)
}

impl MailEventsApp<DynamoStore> {
    /// Builds the handler once per cold start: the table name and a DynamoDB client.
    pub async fn from_env() -> Result<Self, crate::apps::startup::StartupError> {
        let table = crate::apps::startup::table_name()?;
        let client =
            crate::adapters::dynamo::dynamo_client(crate::adapters::dynamo::Budget::Background)
                .await;
        Ok(MailEventsApp {
            store: DynamoStore::new(client, table, RECEIPT_TTL),
            clock: Arc::new(crate::model::time::SystemClock),
        })
    }
}

#[cfg(test)]
mod tests;

//! Lambda entry point for `mail-events`: SES events from the mail-events queue (what
//! the stack deploys: batches from the EventBridge rule), an SNS subscription or an
//! EventBridge rule. Builds the DynamoDB client once; all logic is in
//! `aftercart::apps::mail_events`.
//!
//! A malformed event is logged and skipped (retrying cannot fix it). A store failure
//! fails the invocation, so Lambda retries it and then sends it to the DLQ; from the
//! queue, the answer's `batchItemFailures` names the records to receive again.

use aftercart::apps::mail_events::MailEventsApp;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    aftercart::apps::telemetry::init();
    let app = MailEventsApp::from_env().await?;
    // Built once and borrowed by every invocation.
    let app = &app;
    run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let summary = app.handle(event.payload).await?;
            tracing::info!(
                request_id = %event.context.request_id,
                events = summary.events,
                applied = summary.applied,
                duplicates = summary.duplicates,
                ignored = summary.ignored,
                skipped = summary.skipped,
                returned = summary.batch_item_failures.len(),
                "mail events handled"
            );
            Ok::<_, Error>(serde_json::to_value(&summary)?)
        },
    ))
    .await
}

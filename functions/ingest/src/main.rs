//! Lambda entry point for `ingest`: the ingest queue's consumer (SQS FIFO, partial batch
//! responses) and the router of Shopify's EventBridge events into that queue. All logic
//! is in `aftercart::apps::ingest`.

// The consumer's future (a batch of groups, each recording in turn) nests deeper than
// the default limit of 128 when its layout is computed.
#![recursion_limit = "256"]

use aftercart::apps::ingest::IngestApp;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    aftercart::apps::telemetry::init();
    let app = IngestApp::from_env().await?;
    // Built once and borrowed by every invocation.
    let app = &app;
    run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            app.handle(event.payload).await.map_err(Error::from)
        },
    ))
    .await
}

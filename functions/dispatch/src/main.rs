//! Lambda entry point for `dispatch` (EventBridge Scheduler, every minute): build the
//! dispatcher once, then on each tick send what is due before the invocation's deadline.

use aftercart::apps::dispatch::{instance_id, Dispatcher};
use aftercart::model::time::SystemClock;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

#[tokio::main]
async fn main() -> Result<(), Error> {
    aftercart::apps::telemetry::init();
    let dispatcher = Dispatcher::from_env(Arc::new(SystemClock), instance_id()).await?;
    // Built once and borrowed by every invocation.
    let dispatcher = &dispatcher;
    run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        let left = event
            .context
            .deadline()
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        let report = dispatcher.run(Instant::now() + left).await?;
        let summary = report.summary();
        tracing::info!(request_id = %event.context.request_id, report = %summary, "dispatch run");
        Ok::<_, Error>(summary)
    }))
    .await
}

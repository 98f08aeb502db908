//! The ingest queue from the command line: `setup-local` creates it on moto,
//! `poll-queue` stands in for Lambda's SQS event source mapping under `make dev`,
//! `redrive` records the dead-letter queue after a fix.

use aftercart::adapters::sqs::{Received, SqsQueue};
use aftercart::apps::ingest::{IngestApp, Redriven};
use anyhow::{Context as _, Result};
use aws_sdk_sqs::types::QueueAttributeName as Q;
use std::time::Duration;

/// The local queue's name; its dead-letter queue is `aftercart-ingest-dlq.fifo`.
pub const LOCAL_QUEUE: &str = "aftercart-ingest";

/// Creates the FIFO ingest queue and its dead-letter queue (after 10 receives,
/// visibility 60 s), as the template does; returns their URLs. Safe to run again.
pub async fn create_queues(client: &aws_sdk_sqs::Client, name: &str) -> Result<(String, String)> {
    create_queues_with(client, name, 10, 60).await
}

/// As [`create_queues`], a message moving to the dead-letter queue after `max_receives`
/// receives, hidden `visibility_secs` after each (the integration tests vary both).
pub async fn create_queues_with(
    client: &aws_sdk_sqs::Client,
    name: &str,
    max_receives: u32,
    visibility_secs: u32,
) -> Result<(String, String)> {
    let dlq = client
        .create_queue()
        .queue_name(format!("{name}-dlq.fifo"))
        .attributes(Q::FifoQueue, "true")
        .send()
        .await
        .context("creating the dead-letter queue")?
        .queue_url
        .unwrap_or_default();
    let arn = client
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(Q::QueueArn)
        .send()
        .await
        .context("reading the dead-letter queue's ARN")?
        .attributes
        .and_then(|a| a.get(&Q::QueueArn).cloned())
        .unwrap_or_default();
    let main = client
        .create_queue()
        .queue_name(format!("{name}.fifo"))
        .attributes(Q::FifoQueue, "true")
        .attributes(Q::VisibilityTimeout, visibility_secs.to_string())
        .attributes(
            Q::RedrivePolicy,
            serde_json::json!({ "deadLetterTargetArn": arn, "maxReceiveCount": max_receives })
                .to_string(),
        )
        .send()
        .await
        .context("creating the ingest queue")?
        .queue_url
        .unwrap_or_default();
    Ok((main, dlq))
}

/// `messages` as Lambda's SQS event source hands them to the function.
pub fn sqs_event(messages: &[Received], queue_arn: &str) -> serde_json::Value {
    serde_json::json!({
        "Records": messages.iter().map(|m| serde_json::json!({
            "messageId": m.message_id,
            "receiptHandle": m.receipt_handle,
            "body": m.body,
            "attributes": {
                "ApproximateReceiveCount": m.receive_count.to_string(),
                "MessageGroupId": m.group_id,
            },
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
        })).collect::<Vec<_>>()
    })
}

/// One poll: up to 10 messages (waiting up to `wait`), handed to `app` as an SQS
/// event; what it did not report failed is deleted. Returns (received, failed).
pub async fn poll_once<R: aftercart::ports::store::Recorder>(
    app: &IngestApp<R>,
    queue: &SqsQueue,
    wait: Duration,
) -> Result<(usize, usize)> {
    let got = queue.receive(10, wait).await?;
    if got.is_empty() {
        return Ok((0, 0));
    }
    let answer = app
        .handle(sqs_event(
            &got,
            "arn:aws:sqs:local:000000000000:aftercart-ingest.fifo",
        ))
        .await
        .map_err(anyhow::Error::msg)?;
    let failed: Vec<&str> = answer["batchItemFailures"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["itemIdentifier"].as_str())
                .collect()
        })
        .unwrap_or_default();
    for m in got
        .iter()
        .filter(|m| !failed.contains(&m.message_id.as_str()))
    {
        queue.delete(&m.receipt_handle).await?;
    }
    Ok((got.len(), failed.len()))
}

/// Polls the queue in `AFTERCART_QUEUE_URL` forever (`make dev`), recording through the
/// `ingest` function's own app.
pub async fn poll_forever() -> Result<()> {
    let app = IngestApp::from_env().await?;
    let queue = app
        .app
        .queue
        .clone()
        .context("AFTERCART_QUEUE_URL is not set: no queue to poll")?;
    eprintln!(
        "polling {} (as Lambda's SQS event source would)",
        queue.url()
    );
    loop {
        // No long poll: moto answers one request at a time, and a waiting receive would
        // hold up the webhook's SendMessage. A short sleep between empty polls instead.
        match poll_once(&app, &queue, Duration::ZERO).await {
            Ok((0, _)) => tokio::time::sleep(Duration::from_millis(200)).await,
            Ok((n, failed)) => eprintln!("batch of {n}: {failed} to retry"),
            Err(e) => {
                eprintln!("poll failed: {e:#}");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

/// Waits (up to `limit`) until the queue in `AFTERCART_QUEUE_URL` is empty: what was
/// queued has been recorded and deleted by the poller. `Ok(false)` without a queue or
/// when it is still not empty at the end.
pub async fn wait_until_drained(limit: Duration) -> Result<bool> {
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let Some(queue) = aftercart::adapters::sqs::from_env(&shared, "AFTERCART_QUEUE_URL") else {
        return Ok(false);
    };
    let until = std::time::Instant::now() + limit;
    loop {
        if queue.depth().await? == 0 {
            return Ok(true);
        }
        if std::time::Instant::now() >= until {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Records every message of the dead-letter queue in `AFTERCART_DLQ_URL`.
pub async fn redrive() -> Result<Redriven> {
    let app = IngestApp::from_env().await?;
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dlq = aftercart::adapters::sqs::from_env(&shared, "AFTERCART_DLQ_URL")
        .context("AFTERCART_DLQ_URL is not set: the stack's output IngestDeadLetterQueueUrl")?;
    Ok(app.redrive(&dlq).await?)
}

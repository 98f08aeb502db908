//! The ingest queue (SQS FIFO): the webhook and the EventBridge router send accepted
//! deliveries to it; the `ingest` consumer backs a message off when the store is in
//! trouble; `aftercart redrive` reads the dead-letter queue.

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::Client;
use std::time::Duration;

/// A queue call that failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("SQS {operation} failed: {message}")]
pub struct QueueError {
    pub operation: &'static str,
    pub message: String,
}

fn failed(operation: &'static str, e: &(dyn std::error::Error + 'static)) -> QueueError {
    QueueError {
        operation,
        message: DisplayErrorContext(e).to_string(),
    }
}

/// One message as received (by `aftercart redrive` or the local poller).
#[derive(Debug, Clone)]
pub struct Received {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    pub group_id: String,
    pub receive_count: u32,
}

/// One SQS queue, by URL.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            url: url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends one message to the FIFO queue in `group`, deduplicated by `dedup`.
    pub async fn send(&self, group: &str, dedup: &str, body: &str) -> Result<(), QueueError> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_group_id(group)
            .message_deduplication_id(dedup)
            .message_body(body)
            .send()
            .await
            .map_err(|e| failed("SendMessage", &e))?;
        Ok(())
    }

    /// Hides a received message for `delay` before its next receive (the consumer's
    /// back-off while the store is in trouble).
    pub async fn back_off(&self, receipt_handle: &str, delay: Duration) -> Result<(), QueueError> {
        let secs = i32::try_from(delay.as_secs().min(43_200)).unwrap_or(43_200);
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(secs)
            .send()
            .await
            .map_err(|e| failed("ChangeMessageVisibility", &e))?;
        Ok(())
    }

    /// Up to `max` (1–10) messages, waiting up to `wait` for the first.
    pub async fn receive(&self, max: i32, wait: Duration) -> Result<Vec<Received>, QueueError> {
        use aws_sdk_sqs::types::MessageSystemAttributeName as A;
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10))
            .wait_time_seconds(i32::try_from(wait.as_secs().min(20)).unwrap_or(20))
            .message_system_attribute_names(A::MessageGroupId)
            .message_system_attribute_names(A::ApproximateReceiveCount)
            .customize()
            // A long poll outlasts the client's 2 s budget for sends.
            .config_override(
                aws_sdk_sqs::config::Builder::default().timeout_config(
                    aws_config::timeout::TimeoutConfig::builder()
                        .operation_attempt_timeout(wait + Duration::from_secs(5))
                        .operation_timeout(wait + Duration::from_secs(10))
                        .build(),
                ),
            )
            .send()
            .await
            .map_err(|e| failed("ReceiveMessage", &e))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let attr = |a: A| m.attributes().and_then(|x| x.get(&a)).cloned();
                Received {
                    group_id: attr(A::MessageGroupId).unwrap_or_default(),
                    receive_count: attr(A::ApproximateReceiveCount)
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(1),
                    message_id: m.message_id.clone().unwrap_or_default(),
                    receipt_handle: m.receipt_handle.clone().unwrap_or_default(),
                    body: m.body.clone().unwrap_or_default(),
                }
            })
            .collect())
    }

    /// Messages in the queue, visible, in flight or delayed (SQS's approximate counts).
    pub async fn depth(&self) -> Result<u64, QueueError> {
        use aws_sdk_sqs::types::QueueAttributeName as Q;
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(Q::ApproximateNumberOfMessages)
            .attribute_names(Q::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(Q::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(|e| failed("GetQueueAttributes", &e))?;
        Ok(out
            .attributes
            .unwrap_or_default()
            .values()
            .map(|v| v.parse::<u64>().unwrap_or(0))
            .sum())
    }

    pub async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(|e| failed("DeleteMessage", &e))?;
        Ok(())
    }
}

/// An SQS client from an already loaded SDK config: 1 s an attempt, 2 s a call, so a
/// webhook that cannot hand a delivery over still answers 503 inside Shopify's 5 s.
pub fn sqs_client_from(shared: &aws_config::SdkConfig) -> Client {
    let ms = Duration::from_millis;
    Client::from_conf(
        aws_sdk_sqs::config::Builder::from(shared)
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(ms(500))
                    .operation_attempt_timeout(ms(1000))
                    .operation_timeout(ms(2000))
                    .build(),
            )
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
            .build(),
    )
}

/// The queue named by `var` (`AFTERCART_QUEUE_URL`, `AFTERCART_DLQ_URL`), if set, on
/// the function's already loaded SDK config (no second credential lookup at cold start).
pub fn from_env(shared: &aws_config::SdkConfig, var: &str) -> Option<SqsQueue> {
    let url = std::env::var(var).ok().filter(|u| !u.trim().is_empty())?;
    Some(SqsQueue::new(sqs_client_from(shared), url))
}

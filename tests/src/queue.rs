//! The ingest queue on moto: a FIFO queue and its dead-letter queue per test, the
//! `ingest` consumer built on a test's table, and a stand-in for Lambda's SQS event
//! source mapping (`drain`): pollers that receive up to 10 messages, hand them to the
//! consumer as an SQS event and delete what it did not report failed.

use crate::{sdk_config_for, TestApp};
use aftercart::adapters::dynamo::{self as store, DynamoStore};
use aftercart::adapters::sqs::SqsQueue;
use aftercart::apps::ingest::IngestApp;
use aftercart::apps::webhook::WebhookApp;
use std::time::Duration;

/// The partner event source the tests' consumer accepts.
pub const EVENT_SOURCE: &str = "aws.partner/shopify.com/1234567/aftercart";

pub struct Queues {
    /// A patient client for the test's own calls (moto under load is slow).
    pub client: aws_sdk_sqs::Client,
    pub main: SqsQueue,
    pub dlq: SqsQueue,
    /// The ingest queue through the production client (2 s a call), for the webhook.
    pub webhook: SqsQueue,
}

/// A new FIFO queue whose messages go to a new FIFO dead-letter queue after
/// `max_receives` receives, visibility `visibility_secs`.
pub async fn queues(max_receives: u32, visibility_secs: u32) -> Queues {
    let shared = sdk_config_for(&crate::endpoint());
    let client = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&shared)
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_timeout(Duration::from_secs(30))
                    .build(),
            )
            .build(),
    );
    let name = format!("it-{:012x}", fastrand::u64(..) >> 16);
    let (url, dlq_url) = aftercart_cli::cli::queue::create_queues_with(
        &client,
        &name,
        max_receives,
        visibility_secs,
    )
    .await
    .expect("create the ingest queue and its dead-letter queue on moto");
    Queues {
        webhook: SqsQueue::new(
            aftercart::adapters::sqs::sqs_client_from(&shared),
            url.clone(),
        ),
        main: SqsQueue::new(client.clone(), url),
        dlq: SqsQueue::new(client.clone(), dlq_url),
        client,
    }
}

impl Queues {
    /// Messages in `queue`: visible, in flight and delayed.
    pub async fn depth(&self, queue: &SqsQueue) -> u64 {
        SqsQueue::new(self.client.clone(), queue.url())
            .depth()
            .await
            .expect("queue attributes")
    }
}

impl TestApp {
    /// The webhook hands deliveries to `queue` instead of recording them.
    pub fn with_queue(mut self, queue: &SqsQueue) -> TestApp {
        self.app.queue = Some(queue.clone());
        self
    }

    /// The `ingest` consumer on this test's table, with the function's own DynamoDB
    /// budget (`Budget::Background`) and `queue` to back messages off on.
    pub fn ingest(&self, queue: &SqsQueue) -> IngestApp<DynamoStore> {
        self.ingest_via(queue, &crate::endpoint())
    }

    /// As [`TestApp::ingest`], its DynamoDB client talking to moto through `proxy` (the
    /// metering proxy of a bench).
    pub fn ingest_via(&self, queue: &SqsQueue, proxy: &str) -> IngestApp<DynamoStore> {
        let client = store::dynamo_client_with(&sdk_config_for(proxy), store::Budget::Background);
        IngestApp {
            app: WebhookApp {
                config: self.app.config.clone(),
                secrets: Default::default(),
                recorder: DynamoStore::new(
                    client,
                    self.table.clone(),
                    Duration::from_secs(7 * 86_400),
                ),
                clock: self.app.clock.clone(),
                queue: Some(queue.clone()),
            },
            event_source: Some(EVENT_SOURCE.into()),
        }
    }
}

/// What a drain did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Drained {
    /// Batches handed to the consumer.
    pub batches: u32,
    pub messages: u32,
    /// Messages the consumer reported failed.
    pub failures: u32,
}

/// The webhook ids of the messages the consumer handled, in the order it handled them.
pub type Handled = std::sync::Mutex<Vec<String>>;

/// Runs `pollers` stand-ins for the event source mapping until the queue is empty (or
/// `limit` passes): each receives up to 10 messages (moto, like SQS, hands out no
/// message of a group that has one in flight), invokes the consumer with them as an
/// SQS event and deletes every message not in its `batchItemFailures`.
pub async fn drain(
    ingest: &IngestApp<DynamoStore>,
    queues: &Queues,
    pollers: usize,
    limit: Duration,
) -> Drained {
    drain_into(ingest, queues, pollers, limit, &Handled::default()).await
}

/// As [`drain`], noting in `handled` each message's webhook id once it is handled.
pub async fn drain_into(
    ingest: &IngestApp<DynamoStore>,
    queues: &Queues,
    pollers: usize,
    limit: Duration,
    handled: &Handled,
) -> Drained {
    let deadline = tokio::time::Instant::now() + limit;
    let runs = (0..pollers).map(|_| async {
        let mut done = Drained::default();
        let mut idle = 0;
        while tokio::time::Instant::now() < deadline {
            // moto under load can be slower than the client's patience: try again, as
            // Lambda's pollers do.
            let got = match queues.main.receive(10, Duration::ZERO).await {
                Ok(got) => got,
                Err(e) => {
                    eprintln!("receive from moto failed, retrying: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            if got.is_empty() {
                if queues.depth(&queues.main).await == 0 {
                    idle += 1;
                    if idle >= 2 {
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            idle = 0;
            let event = sqs_event(&got);
            let answer = ingest.handle(event).await.expect("an SQS batch is handled");
            let failed: Vec<String> = answer["batchItemFailures"]
                .as_array()
                .expect("batchItemFailures")
                .iter()
                .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
                .collect();
            done.batches += 1;
            done.messages += got.len() as u32;
            done.failures += failed.len() as u32;
            for m in got.iter().filter(|m| !failed.contains(&m.message_id)) {
                if let Ok(env) = aftercart::wire::intake::Envelope::decode(&m.body) {
                    handled.lock().expect("not poisoned").push(env.webhook_id);
                }
                queues.main.delete(&m.receipt_handle).await.expect("delete");
            }
        }
        done
    });
    futures::future::join_all(runs)
        .await
        .into_iter()
        .fold(Drained::default(), |a, b| Drained {
            batches: a.batches + b.batches,
            messages: a.messages + b.messages,
            failures: a.failures + b.failures,
        })
}

/// `messages` as Lambda's SQS event source hands them to a function (the CLI's poller
/// builds the same event).
pub fn sqs_event(messages: &[aftercart::adapters::sqs::Received]) -> serde_json::Value {
    aftercart_cli::cli::queue::sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:ingest.fifo")
}

/// `body` of `topic` as Shopify's EventBridge delivery would carry it.
pub fn bridge_event(topic: &str, body: &[u8], webhook_id: &str) -> serde_json::Value {
    aftercart::wire::shopify::eventbridge::sample_event(
        EVENT_SOURCE,
        crate::SHOP,
        topic,
        webhook_id,
        crate::NOW,
        body,
    )
    .expect("a JSON body")
}

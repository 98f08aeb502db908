//! Logging: one JSON object per line, as CloudWatch Logs Insights reads it.
//!
//! Log fields are ids, topics, outcomes and timings. Bodies, secrets and email
//! addresses are never logged (hash an address with [`crate::model::email_hash`]).

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber, writing to stdout, once.
pub fn init() {
    let _ = subscriber(std::io::stdout).try_init();
}

/// The production log format, writing to `writer`: what [`init`] installs with stdout,
/// and what tests install with a buffer. `RUST_LOG` overrides the level (default
/// `info`); the AWS SDK's own chatter is kept at `warn`. Each event is one flat JSON
/// object: its fields beside `timestamp`, `level` and `message`, no target or spans.
pub fn subscriber<W>(writer: W) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,aws_smithy_runtime=warn,aws_config=warn,hyper=warn")
    });
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_target(false)
        .with_current_span(false)
        .with_span_list(false)
        .flatten_event(true)
        .with_writer(writer)
        .finish()
}

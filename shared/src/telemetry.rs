//! Logging: one JSON object per line, as CloudWatch Logs Insights reads it.
//!
//! Log fields are ids, topics, outcomes and timings. Bodies, secrets and email
//! addresses are never logged (hash an address with [`crate::model::email_hash`]).

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber once. `RUST_LOG` overrides the level (default `info`);
/// the AWS SDK's own chatter is kept at `warn`.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,aws_smithy_runtime=warn,aws_config=warn,hyper=warn")
    });
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_target(false)
        .with_current_span(false)
        .with_span_list(false)
        .flatten_event(true)
        .try_init();
}

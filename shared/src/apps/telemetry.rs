//! Logging: one JSON object per line, as CloudWatch Logs Insights reads it.
//!
//! Log fields are ids, topics, outcomes and timings. Bodies, secrets and email
//! addresses are never logged (hash an address with [`crate::model::email_hash`]).

use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The levels unless `RUST_LOG` says otherwise: the AWS SDK's own chatter at `warn`.
const DEFAULT_LEVELS: &str = "info,aws_smithy_runtime=warn,aws_config=warn,hyper=warn";

/// Installs the JSON subscriber, writing to stdout, once.
pub fn init() {
    let _ = subscriber(std::io::stdout).try_init();
}

/// The production log format, writing to `writer`: what [`init`] installs with stdout,
/// and what tests install with a buffer. `RUST_LOG` overrides the levels (default
/// [`DEFAULT_LEVELS`]): a comma-separated list of `level` and `target=level` (a target
/// matches its module path prefix); unreadable, it is ignored. This is a
/// [`Targets`] filter, not an `EnvFilter`: no span or field directives, and no regex
/// engine linked into every function (about 0.19 MB of each zip). Each event is one flat
/// JSON object: its fields beside `timestamp`, `level` and `message`, no target or spans.
pub fn subscriber<W>(writer: W) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_target(false)
        .with_current_span(false)
        .with_span_list(false)
        .flatten_event(true)
        .with_writer(writer)
        .finish()
        .with(levels(std::env::var("RUST_LOG").ok().as_deref()))
}

/// The filter `rust_log` (the value of `RUST_LOG`, if set) asks for, else the default.
fn levels(rust_log: Option<&str>) -> Targets {
    rust_log
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .and_then(|s| s.parse::<Targets>().ok())
        .unwrap_or_else(|| DEFAULT_LEVELS.parse().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::level_filters::LevelFilter;

    #[test]
    fn rust_log_sets_levels_per_target_and_the_default_keeps_the_sdk_quiet() {
        let d = levels(None);
        assert!(d.would_enable("aftercart::apps::dispatch", &tracing::Level::INFO));
        assert!(!d.would_enable("aftercart::apps::dispatch", &tracing::Level::DEBUG));
        assert!(!d.would_enable("aws_smithy_runtime::client", &tracing::Level::INFO));
        assert!(d.would_enable("aws_smithy_runtime::client", &tracing::Level::WARN));
        assert!(!d.would_enable("hyper_util::client", &tracing::Level::INFO));
        let custom = levels(Some("warn,aftercart=debug"));
        assert!(custom.would_enable("aftercart::adapters", &tracing::Level::DEBUG));
        assert!(!custom.would_enable("lambda_runtime", &tracing::Level::INFO));
        assert_eq!(
            levels(Some("info")).default_level(),
            Some(LevelFilter::INFO)
        );
        // Unreadable or empty: the default.
        for odd in ["", "  ", "aftercart=loud"] {
            assert_eq!(
                levels(Some(odd)).default_level(),
                Some(LevelFilter::INFO),
                "{odd:?}"
            );
        }
    }
}

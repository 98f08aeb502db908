//! `aftercart`: developer and operator commands.
//!
//!   aftercart setup-local            create the table (and an SES identity) on AWS_ENDPOINT_URL
//!   aftercart sample --topic T       send a signed sample webhook, print the answer and what changed
//!   aftercart table-def              print the table block for infra/template.yaml
//!   aftercart check-config [PATH]    validate a merchant config file and its templates
//!   aftercart dispatch [--at T]      run the dispatcher once, as of T
//!   aftercart outbox                 write the emails moto received to outbox/
//!   aftercart preview --playbook P   render a playbook for the sample order, send nothing
//!   aftercart confirm-redact --shop S  confirm a shop/redact the Admin API could not confirm
//!   aftercart reputation --shop S [--resume]  bounce and complaint rates, marketing brake
//!   aftercart report --shop S [--from D --to D] --format html|json|csv [--out F]  the merchant's report
//!   aftercart report-link --shop S [--days N]  a signed link to the shop's report page
//!   aftercart import-orders --shop S --file F  record a shop's past orders from Shopify's CSV export, send nothing

use aftercart::adapters::dynamo::{table, Attrs};
use aftercart::wire::shopify::Topic;
use aftercart::wire::verify::sign_webhook;
use anyhow::{bail, Context as _, Result};
use aws_sdk_dynamodb::Client;
use clap::{Parser, Subcommand};
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "aftercart",
    version,
    about = "Aftercart developer and operator commands"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the table and an SES sender identity on the endpoint in AWS_ENDPOINT_URL
    /// (the local moto server). Safe to run again.
    SetupLocal {
        #[arg(long, env = "AFTERCART_TABLE")]
        table: String,
        /// Email address or domain to register as an SES identity.
        #[arg(long, env = "AFTERCART_SES_IDENTITY")]
        identity: Option<String>,
    },
    /// Send a correctly signed sample webhook to a running endpoint, exactly as a store
    /// would, then print the answer and every table item the delivery added or changed.
    Sample {
        /// Webhook topic, e.g. orders/paid, fulfillment_events/create, refunds/create.
        #[arg(long, default_value = "orders/paid")]
        topic: String,
        /// Endpoint URL (cargo lambda watch serves the function here).
        #[arg(
            long,
            env = "AFTERCART_WEBHOOK_URL",
            default_value = "http://127.0.0.1:9000/lambda-url/webhook/"
        )]
        url: String,
        #[arg(
            long,
            env = "AFTERCART_SAMPLE_SHOP",
            default_value = "aftercart-demo.myshopify.com"
        )]
        shop: String,
        /// Reuse a webhook id to replay the same delivery (default: a new id each run).
        #[arg(long)]
        webhook_id: Option<String>,
        /// Send this file as the body instead of the built-in sample for the topic.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Table to show changes from (skipped when unset).
        #[arg(long, env = "AFTERCART_TABLE")]
        table: Option<String>,
        /// `https` (signed POST to --url) or `eventbridge` (the event Shopify's
        /// EventBridge delivery carries, invoking the `ingest` function at
        /// --ingest-url, with AFTERCART_EVENT_SOURCE as its source).
        #[arg(long, default_value = "https")]
        via: String,
        #[arg(
            long,
            default_value = "http://127.0.0.1:9000/2015-03-31/functions/ingest/invocations"
        )]
        ingest_url: String,
    },
    /// Print the table's keys, indexes and TTL as the YAML block infra/template.yaml carries.
    TableDef,
    /// Run the dispatcher once, as of a given time (default: now), against the table
    /// and SES endpoint in the environment (the local moto server under `make dev`).
    Dispatch {
        /// RFC 3339 time to dispatch "as of", e.g. 2026-12-30T10:00:00Z.
        #[arg(long)]
        at: Option<String>,
    },
    /// Write every email the local moto server has received to DIR as .eml and .html.
    Outbox {
        #[arg(long, default_value = "outbox")]
        dir: PathBuf,
        /// The moto server (default: AWS_ENDPOINT_URL).
        #[arg(
            long,
            env = "AWS_ENDPOINT_URL",
            default_value = "http://127.0.0.1:5005"
        )]
        endpoint: String,
    },
    /// Render a playbook's email for the sample order to DIR/preview-PLAYBOOK.{html,txt,eml},
    /// without sending anything.
    Preview {
        /// The playbook to render (the possible values come from the Playbook enum).
        #[arg(
            long,
            default_value = "thank_you",
            value_parser = clap::builder::PossibleValuesParser::new(
                aftercart::model::Playbook::ALL.map(aftercart::model::Playbook::as_str)
            )
        )]
        playbook: String,
        /// Shop whose rules and templates to use (default: the first in the config).
        #[arg(long)]
        shop: Option<String>,
        /// Customer locale, e.g. fr.
        #[arg(long)]
        locale: Option<String>,
        #[arg(long, default_value = "outbox")]
        dir: PathBuf,
    },
    /// Render every playbook in every shipped language for the sample order to
    /// DIR/PLAYBOOK.LOCALE.{html,txt,eml}, with DIR/index.html linking them; nothing sent.
    PreviewAll {
        /// Shop whose rules, brand and templates to use (default: the first in the config).
        #[arg(long)]
        shop: Option<String>,
        #[arg(long, default_value = "outbox/preview")]
        dir: PathBuf,
    },
    /// Validate a merchant config file, each shop's template overrides, and the secrets
    /// it names.
    CheckConfig {
        /// Defaults to AFTERCART_CONFIG, then ./aftercart.toml.
        path: Option<PathBuf>,
    },
    /// Confirm a shop/redact that waits (status awaiting_confirmation) because the Admin
    /// API could not confirm the uninstall (no access token configured), once you have
    /// checked that the app is uninstalled from the store: the next dispatch erases the
    /// shop's data. Uses the table in AFTERCART_TABLE.
    ConfirmRedact {
        /// The shop's domain, e.g. acme.myshopify.com.
        #[arg(long)]
        shop: String,
        /// Who confirms (recorded on the request as confirmed_by).
        #[arg(long, env = "USER", default_value = "operator")]
        by: String,
    },
    /// Record the deliveries of a shop that were quarantined because the store refused
    /// them for good (answered 200 so Shopify kept the subscription; alarm
    /// DeliveriesQuarantined), once the cause is fixed. Exactly once: a replay run twice
    /// records nothing twice. Uses the config (AFTERCART_CONFIG) and AFTERCART_TABLE.
    Replay {
        /// The shop's domain, e.g. acme.myshopify.com.
        #[arg(long)]
        shop: String,
    },
    /// Record every delivery in the ingest queue's dead-letter queue (AFTERCART_DLQ_URL,
    /// the stack's output IngestDeadLetterQueueUrl; alarm IngestDeadLetterAlarm) after
    /// the cause is fixed, through the consumer's own path. Exactly once: the receipts
    /// make a redrive run twice record nothing twice; what still fails stays.
    Redrive,
    /// Poll the ingest queue (AFTERCART_QUEUE_URL) and record what arrives, as Lambda's
    /// SQS event source does for the `ingest` function in AWS. `make dev` runs it.
    PollQueue,
    /// Record a shop's past orders from Shopify's order export (Orders → Export → CSV):
    /// orders, customer profiles and history, as the webhook records them, with no
    /// follow-up planned — nothing is ever sent for a past order. Bad rows are reported
    /// by line and skip their order; running it again changes nothing
    /// (docs/replenishment.md). Uses the config (AFTERCART_CONFIG) and AFTERCART_TABLE.
    ImportOrders {
        /// The shop's domain, e.g. acme.myshopify.com.
        #[arg(long)]
        shop: String,
        /// The CSV file Shopify exported.
        #[arg(long)]
        file: PathBuf,
    },
    /// Hold out each customer's last repeat purchase of a real order export and predict
    /// it from what came before, with learned and with fixed timing (in memory; nothing
    /// is written). Uses the config (AFTERCART_CONFIG) for the shop's products.
    Backtest {
        /// The shop's domain, e.g. acme.myshopify.com.
        #[arg(long)]
        shop: String,
        /// The CSV file Shopify exported.
        #[arg(long)]
        file: PathBuf,
    },
    /// Run a synthetic store with known truth for a simulated year through the real
    /// recording path and guards, in memory, and print how replenishment reminders land
    /// against the customers' true need: learned timing, fixed configured timing and an
    /// oracle (docs/replenishment.md, Simulation). Seeded and reproducible.
    Simulate {
        #[arg(long, default_value_t = 5_000)]
        customers: usize,
        #[arg(long, default_value_t = 365)]
        days: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// σ of the log-normal spread of customers' days per unit.
        #[arg(long, default_value_t = 0.2)]
        spread: f64,
        /// σ of when customers reorder around running out, in days.
        #[arg(long, default_value_t = 1.5)]
        noise_days: f64,
        /// Percent of customers held out of replenishment (0–50): also prints the
        /// holdout comparison of the learned run.
        #[arg(long, default_value_t = 0)]
        holdout: u32,
        /// Chance (0–1) that a reminder brings back a customer who would have stopped.
        #[arg(long, default_value_t = 0.0)]
        effect: f64,
    },
    /// Show a shop's bounce and complaint rates over the window and whether its
    /// marketing is paused; `--resume` lifts a pause by hand (docs/deliverability.md).
    /// Uses the config (AFTERCART_CONFIG) and the table in AFTERCART_TABLE.
    Reputation {
        /// The shop's domain, e.g. acme.myshopify.com.
        #[arg(long)]
        shop: String,
        /// Lift the pause now; it holds for the window unless new bounces or complaints arrive.
        #[arg(long)]
        resume: bool,
    },
    /// Write a shop's report (what the follow-ups did, what customers said, what it
    /// earned) for a period as HTML, JSON (docs/report.md) or CSV. Uses the config
    /// (AFTERCART_CONFIG) and the table in AFTERCART_TABLE.
    Report {
        /// The shop's domain, e.g. acme.myshopify.com.
        #[arg(long)]
        shop: String,
        /// First UTC day, YYYY-MM-DD (default: 29 days before --to).
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        /// Last UTC day, included (default: today).
        #[arg(long)]
        to: Option<chrono::NaiveDate>,
        #[arg(long, value_enum, default_value = "html")]
        format: aftercart_cli::cli::ReportFormat,
        /// Write to this file (and print its path) instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print a signed link to a shop's report page (the links function's /report),
    /// valid --days days (default: the shop's [report] link_days). Uses the config and
    /// the link keys (AFTERCART_LINK_KEYS or AFTERCART_LINK_KEYS_PARAM).
    ReportLink {
        #[arg(long)]
        shop: String,
        #[arg(long)]
        days: Option<u32>,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse().command).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The cause chain, without a backtrace: these are user-facing errors.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<()> {
    match command {
        Command::SetupLocal { table, identity } => setup_local(&table, identity.as_deref()).await,
        Command::Sample {
            topic,
            url,
            shop,
            webhook_id,
            file,
            table,
            via,
            ingest_url,
        } => {
            let bridge = match via.as_str() {
                "https" => None,
                "eventbridge" => Some(ingest_url),
                other => bail!("--via {other:?}: use https or eventbridge"),
            };
            let delivery = SampleDelivery {
                topic: &topic,
                shop: &shop,
                webhook_id,
                file,
            };
            sample(delivery, &url, bridge.as_deref(), table).await
        }
        Command::TableDef => {
            print!("{}", table::cloudformation_block());
            Ok(())
        }
        Command::CheckConfig { path } => check_config(path),
        Command::Dispatch { at } => dispatch(at).await,
        Command::Outbox { dir, endpoint } => outbox(&dir, &endpoint).await,
        Command::Preview {
            playbook,
            shop,
            locale,
            dir,
        } => preview(&playbook, shop.as_deref(), locale, &dir),
        Command::PreviewAll { shop, dir } => {
            let config = aftercart::apps::startup::load_config()?;
            let index = aftercart_cli::cli::preview_all(
                &config,
                shop.as_deref(),
                &dir,
                chrono::Utc::now(),
            )?;
            println!("{}", index.display());
            Ok(())
        }
        Command::ConfirmRedact { shop, by } => confirm_redact(&shop, &by).await,
        Command::Reputation { shop, resume } => reputation(&shop, resume).await,
        Command::Replay { shop } => replay(&shop).await,
        Command::Redrive => {
            let done = aftercart_cli::cli::queue::redrive().await?;
            println!(
                "redrive: {} recorded, {} already recorded, {} ignored or quarantined, {} still failing (left in the dead-letter queue)",
                done.recorded, done.duplicates, done.settled, done.failing
            );
            Ok(())
        }
        Command::PollQueue => aftercart_cli::cli::queue::poll_forever().await,
        Command::ImportOrders { shop, file } => import_orders(&shop, &file).await,
        Command::Backtest { shop, file } => {
            let config = aftercart::apps::startup::load_config()?;
            let export = aftercart_cli::cli::import::read_export(&file)?;
            let b =
                aftercart_cli::cli::backtest::backtest(&config, &shop, &export, chrono::Utc::now())
                    .await?;
            println!("{b}");
            Ok(())
        }
        Command::Simulate {
            customers,
            days,
            seed,
            spread,
            noise_days,
            holdout,
            effect,
        } => simulate(aftercart_cli::cli::simulate::Params {
            customers,
            days,
            seed,
            spread,
            noise_days,
            holdout_percent: holdout,
            effect,
            ..Default::default()
        }),
        Command::Report {
            shop,
            from,
            to,
            format,
            out,
        } => report(&shop, from, to, format, out).await,
        Command::ReportLink { shop, days } => {
            let config = aftercart::apps::startup::load_config()?;
            let keys = aftercart::apps::startup::link_keys().await?;
            let link =
                aftercart_cli::cli::report_link(&config, keys, &shop, days, chrono::Utc::now())?;
            println!("{link}");
            Ok(())
        }
    }
}

async fn sdk() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

async fn setup_local(table_name: &str, identity: Option<&str>) -> Result<()> {
    let shared = sdk().await;
    let created = table::create_table(&Client::new(&shared), table_name)
        .await
        .with_context(|| format!("creating table {table_name}"))?;
    println!(
        "table {table_name}: {}",
        if created { "created" } else { "already exists" }
    );
    let (queue, dlq) = aftercart_cli::cli::queue::create_queues(
        &aws_sdk_sqs::Client::new(&shared),
        aftercart_cli::cli::queue::LOCAL_QUEUE,
    )
    .await?;
    println!("ingest queue: {queue}\ndead-letter queue: {dlq}");
    if let Some(identity) = identity {
        let ses = aws_sdk_sesv2::Client::new(&shared);
        match ses
            .create_email_identity()
            .email_identity(identity)
            .send()
            .await
        {
            Ok(_) => println!("SES identity {identity}: created"),
            Err(e) if format!("{e:?}").contains("AlreadyExists") => {
                println!("SES identity {identity}: already exists")
            }
            Err(e) => {
                return Err(anyhow::Error::new(e))
                    .with_context(|| format!("creating SES identity {identity}"))
            }
        }
    }
    Ok(())
}

/// The delivery `aftercart sample` sends.
struct SampleDelivery<'a> {
    topic: &'a str,
    shop: &'a str,
    webhook_id: Option<String>,
    file: Option<PathBuf>,
}

async fn sample(
    d: SampleDelivery<'_>,
    url: &str,
    bridge: Option<&str>,
    table_name: Option<String>,
) -> Result<()> {
    let SampleDelivery {
        topic,
        shop,
        webhook_id,
        file,
    } = d;
    let body: Vec<u8> = match (&file, Topic::parse(topic)) {
        (Some(path), _) => {
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))?
        }
        (None, Some(t)) => aftercart::wire::shopify::fixtures::sample(t).to_vec(),
        (None, None) => bail!("no built-in sample for topic {topic:?}; pass --file PATH"),
    };
    let webhook_id = webhook_id.unwrap_or_else(uuid_v4);

    let dynamo = match &table_name {
        Some(_) => Some(Client::new(&sdk().await)),
        None => None,
    };
    let before = match (&dynamo, &table_name) {
        (Some(c), Some(t)) => scan(c, t).await?,
        _ => BTreeMap::new(),
    };

    let (status, text) = match bridge {
        Some(ingest_url) => send_bridge(topic, shop, &webhook_id, &body, ingest_url).await?,
        None => send_https(topic, shop, &webhook_id, body, url).await?,
    };
    println!("=> {status} {text}");
    // Through the queue the delivery is recorded a moment after the answer.
    let queued = bridge.is_some() || text.contains("\"queued\"");

    if let (Some(c), Some(t)) = (&dynamo, &table_name) {
        if queued && status.is_success() {
            // Recorded once the poller (`make dev`) has taken it off the queue.
            if !aftercart_cli::cli::queue::wait_until_drained(std::time::Duration::from_secs(15))
                .await?
            {
                println!(
                    "(the ingest queue is not empty after 15 s: is `make dev`'s poller running?)"
                );
            }
        }
        let after = scan(c, t).await?;
        let changed: Vec<_> = after
            .iter()
            .filter(|(k, v)| before.get(*k) != Some(*v))
            .collect();
        println!(
            "table {t}: {} items (was {}); {} added or changed by this delivery",
            after.len(),
            before.len(),
            changed.len()
        );
        for (_, item) in changed {
            let json: serde_json::Value = serde_dynamo::from_item(item.clone())?;
            println!("{}", serde_json::to_string_pretty(&json)?);
        }
    }
    if !status.is_success() {
        bail!("the endpoint answered {status}");
    }
    Ok(())
}

/// The client `sample` sends with: Shopify gives up on an answer after 5 s; a local
/// endpoint may first compile the function, so this waits up to 120 s, never for ever.
fn http_client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(120))
        .build()?)
}

/// Sends `body` as Shopify's HTTPS delivery, signed; the answer's status and text.
async fn send_https(
    topic: &str,
    shop: &str,
    webhook_id: &str,
    body: Vec<u8>,
    url: &str,
) -> Result<(reqwest::StatusCode, String)> {
    // Like the functions: AFTERCART_WEBHOOK_SECRETS, or the SSM SecureString named by
    // AFTERCART_WEBHOOK_SECRETS_PARAM (to smoke-test a deployed stack).
    let secrets = aftercart::apps::startup::secret(aftercart::config::DEFAULT_SECRETS_ENV)
        .await?
        .unwrap_or_default();
    let Some(secret) = secrets.split(',').map(str::trim).find(|s| !s.is_empty()) else {
        bail!(
            "{0} is not set: it (or the SSM SecureString named by {0}_PARAM) must hold the secret the endpoint verifies with (see .env)",
            aftercart::config::DEFAULT_SECRETS_ENV
        );
    };
    let signature = sign_webhook(&body, &SecretString::from(secret.to_owned()));
    println!("POST {url}\n  X-Shopify-Topic: {topic}\n  X-Shopify-Shop-Domain: {shop}\n  X-Shopify-Webhook-Id: {webhook_id}\n  ({} bytes, signed)", body.len());
    let resp = http_client()?
        .post(url)
        .header("content-type", "application/json")
        .header("x-shopify-topic", topic)
        .header("x-shopify-shop-domain", shop)
        .header("x-shopify-hmac-sha256", signature)
        .header("x-shopify-webhook-id", webhook_id)
        .header("x-shopify-event-id", uuid_v4())
        .header("x-shopify-api-version", "2025-10")
        .header("x-shopify-triggered-at", chrono::Utc::now().to_rfc3339())
        .body(body)
        .send()
        .await
        .with_context(|| format!("sending to {url} (is `make dev` running?)"))?;
    let status = resp.status();
    Ok((status, resp.text().await.unwrap_or_default()))
}

/// Invokes the `ingest` function at `ingest_url` with `body` as Shopify's EventBridge
/// delivery carries it (source AFTERCART_EVENT_SOURCE).
async fn send_bridge(
    topic: &str,
    shop: &str,
    webhook_id: &str,
    body: &[u8],
    ingest_url: &str,
) -> Result<(reqwest::StatusCode, String)> {
    let source = std::env::var("AFTERCART_EVENT_SOURCE")
        .context("AFTERCART_EVENT_SOURCE is not set: the partner event source the ingest function accepts (see .env)")?;
    let event = aftercart::wire::shopify::eventbridge::sample_event(
        &source,
        shop,
        topic,
        webhook_id,
        &chrono::Utc::now().to_rfc3339(),
        body,
    )
    .context("the sample body is not JSON")?;
    println!("EventBridge event from {source} → {ingest_url}\n  detail.metadata.X-Shopify-Topic: {topic}\n  X-Shopify-Shop-Domain: {shop}\n  X-Shopify-Webhook-Id: {webhook_id}\n  ({} bytes of payload, unsigned)", body.len());
    let resp = http_client()?
        .post(ingest_url)
        .json(&event)
        .send()
        .await
        .with_context(|| format!("invoking {ingest_url} (is `make dev` running?)"))?;
    let status = resp.status();
    Ok((status, resp.text().await.unwrap_or_default()))
}

async fn scan(client: &Client, table_name: &str) -> Result<BTreeMap<(String, String), Attrs>> {
    let mut out = BTreeMap::new();
    let mut pages = client
        .scan()
        .table_name(table_name)
        .consistent_read(true)
        .into_paginator()
        .items()
        .send();
    while let Some(item) = pages.next().await {
        let item = item.with_context(|| format!("scanning {table_name}"))?;
        let key = |a: &str| {
            item.get(a)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        out.insert((key(table::PK), key(table::SK)), item);
    }
    Ok(out)
}

fn check_config(path: Option<PathBuf>) -> Result<()> {
    let path = path.unwrap_or_else(aftercart::apps::startup::config_path);
    let check = aftercart_cli::cli::check_config(&path, |v| std::env::var(v).ok())?;
    println!(
        "{}: OK ({} shop(s); email templates load)",
        path.display(),
        check.shops
    );
    for note in &check.notes {
        println!("  note: {note}");
    }
    Ok(())
}

/// A random RFC 4122 version-4 id, the form Shopify's webhook ids take.
fn uuid_v4() -> String {
    let a = fastrand::u128(..);
    let b = (a & !(0xF << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    let h = format!("{b:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

async fn dispatch(at: Option<String>) -> Result<()> {
    use aftercart::model::time::{Clock, FixedClock, SystemClock};
    let clock: std::sync::Arc<dyn Clock> = match at {
        Some(t) => {
            let t = chrono::DateTime::parse_from_rfc3339(&t)
                .with_context(|| format!("--at {t:?} is not an RFC 3339 time"))?;
            std::sync::Arc::new(FixedClock::new(t.to_utc()))
        }
        None => std::sync::Arc::new(SystemClock),
    };
    let now = clock.now();
    let d = aftercart::apps::dispatch::Dispatcher::from_env(
        clock,
        aftercart::apps::dispatch::instance_id(),
    )
    .await?;
    let report = d
        .run(std::time::Instant::now() + std::time::Duration::from_secs(60))
        .await?;
    println!("dispatch as of {}: {}", now.to_rfc3339(), report.summary());
    Ok(())
}

async fn outbox(dir: &std::path::Path, endpoint: &str) -> Result<()> {
    let url = format!("{}/moto-api/data.json", endpoint.trim_end_matches('/'));
    let data: serde_json::Value = reqwest::get(&url)
        .await
        .with_context(|| format!("reading {url} (is `make dev` running?)"))?
        .json()
        .await
        .with_context(|| format!("{url} did not return JSON"))?;
    let messages = aftercart_cli::outbox::messages_from_moto(&data)?;
    let paths = aftercart_cli::outbox::write_outbox(dir, &messages)?;
    println!("{} email(s) in {}", messages.len(), dir.display());
    for p in paths {
        println!("  {}", p.display());
    }
    Ok(())
}

async fn confirm_redact(shop: &str, by: &str) -> Result<()> {
    let table_name = aftercart::apps::startup::table_name()?;
    let store = aftercart::adapters::dynamo::DynamoStore::new(
        aftercart::adapters::dynamo::dynamo_client(aftercart::adapters::dynamo::Budget::Background)
            .await,
        table_name,
        std::time::Duration::from_secs(7 * 86_400),
    );
    let done = aftercart_cli::cli::confirm_redact(&store, shop, by, chrono::Utc::now()).await?;
    println!("{done}");
    Ok(())
}

async fn replay(shop: &str) -> Result<()> {
    let config = aftercart::apps::startup::load_config()?;
    anyhow::ensure!(
        config.shop(shop).is_some(),
        "{shop} is not a shop of the config file"
    );
    let table_name = aftercart::apps::startup::table_name()?;
    let store = aftercart::adapters::dynamo::DynamoStore::new(
        aftercart::adapters::dynamo::dynamo_client(aftercart::adapters::dynamo::Budget::Background)
            .await,
        table_name,
        std::time::Duration::from_secs(config.webhook.receipt_days as u64 * 86_400),
    );
    let app = aftercart::apps::webhook::WebhookApp {
        config: std::sync::Arc::new(config),
        // Nothing is verified on a replay: the deliveries were verified when they came.
        secrets: aftercart::config::WebhookSecrets::from_pairs(
            std::iter::empty::<(&str, &[&str])>(),
        ),
        recorder: store,
        clock: std::sync::Arc::new(aftercart::model::time::SystemClock),
        queue: None,
    };
    let done = app.replay(shop).await?;
    println!(
        "{shop}: {} recorded, {} already recorded, {} still refused, {} unreadable",
        done.recorded, done.duplicates, done.still_refused, done.unreadable
    );
    Ok(())
}

fn simulate(params: aftercart_cli::cli::simulate::Params) -> Result<()> {
    use aftercart_cli::cli::simulate;
    anyhow::ensure!(params.holdout_percent <= 50, "--holdout is 0 to 50");
    anyhow::ensure!((0.0..=1.0).contains(&params.effect), "--effect is 0 to 1");
    let started = std::time::Instant::now();
    let comparison = simulate::compare(&params)?;
    print!("{comparison}");
    if params.holdout_percent > 0 {
        if let Some((_, learned)) = comparison.runs.first() {
            print!("\n{}", simulate::holdout_summary(&params, learned));
        }
    }
    println!("({:.1} s)", started.elapsed().as_secs_f64());
    Ok(())
}

async fn import_orders(shop: &str, file: &std::path::Path) -> Result<()> {
    let config = aftercart::apps::startup::load_config()?;
    aftercart_cli::cli::import::shop_rules(&config, shop)?;
    // The whole file is read and checked before anything is written.
    let export = aftercart_cli::cli::import::read_export(file)?;
    let store = aftercart::adapters::dynamo::DynamoStore::new(
        aftercart::adapters::dynamo::dynamo_client(aftercart::adapters::dynamo::Budget::Background)
            .await,
        aftercart::apps::startup::table_name()?,
        std::time::Duration::from_secs(config.webhook.receipt_days as u64 * 86_400),
    );
    let total = export.orders.len();
    let summary = aftercart_cli::cli::import::import_orders(
        &store,
        &config,
        shop,
        &export,
        chrono::Utc::now(),
        |done| {
            if done % 500 == 0 && done < total {
                eprintln!("  {done} of {total} orders…");
            }
        },
    )
    .await?;
    println!("{}: {summary}", file.display());
    Ok(())
}

async fn report(
    shop: &str,
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
    format: aftercart_cli::cli::ReportFormat,
    out: Option<PathBuf>,
) -> Result<()> {
    let config = aftercart::apps::startup::load_config()?;
    let store = aftercart::adapters::dynamo::DynamoStore::new(
        aftercart::adapters::dynamo::dynamo_client(aftercart::adapters::dynamo::Budget::Background)
            .await,
        aftercart::apps::startup::table_name()?,
        std::time::Duration::from_secs(7 * 86_400),
    );
    let text =
        aftercart_cli::cli::report(&store, &config, shop, from, to, format, chrono::Utc::now())
            .await?;
    match out {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            println!("{}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

async fn reputation(shop: &str, resume: bool) -> Result<()> {
    let config = aftercart::apps::startup::load_config()?;
    let table_name = aftercart::apps::startup::table_name()?;
    let store = aftercart::adapters::dynamo::DynamoStore::new(
        aftercart::adapters::dynamo::dynamo_client(aftercart::adapters::dynamo::Budget::Background)
            .await,
        table_name,
        std::time::Duration::from_secs(7 * 86_400),
    );
    let out =
        aftercart_cli::cli::reputation(&store, &config, shop, resume, chrono::Utc::now()).await?;
    print!("{out}");
    Ok(())
}

fn preview(
    playbook: &str,
    shop: Option<&str>,
    locale: Option<String>,
    dir: &std::path::Path,
) -> Result<()> {
    let playbook = aftercart_cli::cli::parse_playbook(playbook)?;
    let config = aftercart::apps::startup::load_config()?;
    let preview = aftercart_cli::cli::preview(&config, playbook, shop, locale, chrono::Utc::now())?;
    for path in preview.write_to(dir)? {
        println!("{}", path.display());
    }
    println!("subject: {}", preview.subject);
    Ok(())
}

//! The merchant configuration file (TOML) and the secrets it refers to.
//!
//! The file is read once at start and validated; every error names the field and the
//! fix. Secrets never live in the file: it names the environment variables that hold
//! them (filled from SSM Parameter Store in production, from `.env` locally), and they
//! are wrapped in [`SecretString`](secrecy::SecretString) so they cannot be printed by
//! accident.
//!
//! This file holds the environment variable names and defaults shared by the others.
//! `schema.rs` holds the file's shape: the serde structs, their `Default`s and default
//! values, and the small lookups on them (`Config::shop`, `ShopConfig::product`, …).
//! `load.rs` reads the file (`Config::load`, `load_with_env`, `parse`), applies the
//! environment's overrides (`apply_env`) and defines [`ConfigError`]. `validate.rs`
//! holds every check run at load, in the order they run, and the checks other modules
//! reuse ([`validate_discount`], [`check_admin_endpoint`]). `secrets.rs` holds
//! [`WebhookSecrets`], read from the variables the file names. The tests are in
//! `tests.rs`. Every public item is re-exported here, so paths such as
//! `crate::config::ShopConfig` do not name the file that defines it.

mod load;
mod report;
mod reputation;
mod schema;
mod secrets;
mod validate;

pub use load::*;
pub use report::*;
pub use reputation::*;
pub use schema::*;
pub use secrets::*;
pub use validate::*;

/// Default cap on a webhook body: 1 MiB. Shopify's largest order payloads (250 line
/// items with all their fields) stay well below it.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Environment variable holding the webhook secrets, comma-separated, newest first.
pub const DEFAULT_SECRETS_ENV: &str = "AFTERCART_WEBHOOK_SECRETS";
/// Environment variable holding the link-signing keys (`VERSION:SECRET,…`, newest first).
pub const LINK_KEYS_VAR: &str = "AFTERCART_LINK_KEYS";
/// Environment variable holding a shop's Shopify Admin API access token.
pub const DEFAULT_ADMIN_TOKEN_ENV: &str = "AFTERCART_ADMIN_TOKEN";
/// Environment variable that, when set (`true` or `false`), overrides `email.dev_mode`
/// for the process: local runs turn dev mode on in `.env` while the deployed file keeps
/// it off.
pub const DEV_MODE_ENV: &str = "AFTERCART_DEV_MODE";
/// Shopify's retry horizon (4 h) plus the day a delivery may be late.
pub const DEFAULT_MAX_DELIVERY_AGE_HOURS: u32 = 28;

#[cfg(test)]
mod tests;

//! Start-up settings read from the environment (once, at cold start).

use crate::config::{Config, ConfigError};
use std::path::PathBuf;

/// Path of the merchant config file.
pub const CONFIG_VAR: &str = "AFTERCART_CONFIG";
/// Name of the DynamoDB table.
pub const TABLE_VAR: &str = "AFTERCART_TABLE";
/// Used when `AFTERCART_CONFIG` is unset: the file deployed beside the binary.
pub const DEFAULT_CONFIG_PATH: &str = "aftercart.toml";

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("environment variable {0} is not set. Fix: {1}")]
    MissingVar(&'static str, &'static str),
    #[error("{0} is not valid: {1}")]
    Invalid(&'static str, String),
}

pub fn config_path() -> PathBuf {
    std::env::var_os(CONFIG_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH))
}

pub fn load_config() -> Result<Config, ConfigError> {
    Config::load(&config_path())
}

pub fn table_name() -> Result<String, StartupError> {
    std::env::var(TABLE_VAR)
        .ok()
        .filter(|t| !t.is_empty())
        .ok_or(StartupError::MissingVar(
            TABLE_VAR,
            "set it to the DynamoDB table name (the SAM template does; locally .env does)",
        ))
}

/// A secret setting by its variable name (`AFTERCART_LINK_KEYS`, a shop's
/// `webhook_secrets_env`, …): `None` when it is not set.
///
/// Every function reads its secrets through here, once at cold start, so where they come
/// from (env vars locally, SSM Parameter Store SecureStrings in production) is decided
/// in one place.
pub async fn secret(var: &str) -> Result<Option<String>, StartupError> {
    Ok(std::env::var(var).ok().filter(|v| !v.is_empty()))
}

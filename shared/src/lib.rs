//! Aftercart: post-purchase automation for Shopify stores.
//!
//! All logic lives in this crate; each Lambda binary in `functions/` only wires it up.

pub mod admin;
pub mod attribution;
pub mod config;
pub mod dispatch;
pub mod email;
pub mod env;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod followup;
pub mod ingest;
pub mod links;
pub mod links_app;
pub mod mail_events;
pub mod mailer;
pub mod model;
pub mod privacy;
pub mod refusals;
pub mod secrets;
pub mod shopify;
pub mod store;
pub mod telemetry;
pub mod time;
pub mod verify;
pub mod webhook;

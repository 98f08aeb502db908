//! What arrives from outside, as it arrives: Shopify webhook payloads and their
//! signatures (over HTTPS) or their EventBridge events, the ingest queue's message
//! (`intake`), and the SES events SNS or EventBridge deliver.

pub mod intake;
pub mod ses;
pub mod shopify;
pub mod verify;

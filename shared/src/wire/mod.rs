//! What arrives from outside, as it arrives: Shopify webhook payloads and their
//! signatures, and the SES events SNS or EventBridge deliver.

pub mod ses;
pub mod shopify;
pub mod verify;

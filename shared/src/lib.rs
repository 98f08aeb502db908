//! Aftercart: post-purchase automation for Shopify stores.
//!
//! All logic lives in this crate; each Lambda binary in `functions/` only wires it up.
//! The modules are layers, and each imports only the layers listed before it
//! (`make cycles` checks it; `docs/architecture.md` says what goes where):
//!
//! 1. [`model`] — the vocabulary: records and keys, time, personal-data rules, link tokens.
//! 2. [`wire`] — what arrives from outside: Shopify payloads and signatures, SES events.
//! 3. [`config`] — the merchant's config file: schema, validation, secrets.
//! 4. [`email`] — rendering emails and pages, and the one MIME builder.
//! 5. [`domain`] — pure decisions: planning, guards, mail-event and privacy rules.
//! 6. [`ports`] — one trait per capability the apps need, with in-memory versions.
//! 7. [`adapters`] — DynamoDB, SES, the Shopify Admin API, SSM.
//! 8. [`apps`] — the Lambda handlers, each built by one startup module.

pub mod adapters;
pub mod apps;
pub mod config;
pub mod domain;
pub mod email;
pub mod model;
pub mod ports;
pub mod wire;

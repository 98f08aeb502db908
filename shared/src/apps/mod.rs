//! The Lambda handlers. Each app is built once per cold start by its `from_env`, which
//! reads the config and secrets through [`startup`].

pub mod dispatch;
pub mod feedback;
pub mod ingest;
pub mod links;
pub mod mail_events;
pub mod privacy;
pub mod report;
pub mod startup;
pub mod telemetry;
pub mod webhook;

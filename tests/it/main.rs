//! Integration tests: one binary, a module per capability.
//! Run with `make test-integration` (starts and stops the moto server).

mod admin;
mod crash;
mod dispatch;
mod fake_admin;
mod import;
mod links;
mod mail_events;
mod privacy;
mod queue;
mod reminder;
mod replay;
mod replenishment;
mod report;
mod reputation;
mod secrets;
mod webhook;
mod webhook_failures;

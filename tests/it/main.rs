//! Integration tests: one binary, a module per capability.
//! Run with `make test-integration` (starts and stops the moto server).

mod dispatch;
mod secrets;
mod webhook;
mod webhook_failures;

//! One trait per capability the apps need from the outside world, so the apps' logic
//! runs over in-memory versions in unit tests and over the adapters in production.

pub mod admin;
pub mod dispatch;
pub mod links;
pub mod mail;
pub mod mail_events;
/// The in-memory doubles: for the unit tests, and with the `memory` feature for the fuzz
/// targets (never in the functions).
#[cfg(any(test, feature = "memory"))]
pub mod memory;
pub mod privacy;
pub mod report;
pub mod store;

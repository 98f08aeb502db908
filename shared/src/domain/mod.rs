//! Pure decisions over the model: what a delivery writes and plans, when a follow-up
//! is due, what an order is credited to, which deliveries were refused. No SDK, HTTP or
//! Lambda types; every function here is unit-tested without a store.

pub mod attribution;
pub mod cadence;
pub mod feedback;
pub mod followup;
pub mod guards;
pub mod holdout;
pub mod ingest;
pub mod mail_events;
pub mod refusals;
pub mod reminder;
pub mod report;
pub mod reputation;

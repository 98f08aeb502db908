//! The mail-events handler applies its plans through this port.

use crate::domain::mail_events::{Applied, DeliveryInfo, Plan};
use crate::model::report::Tally;
use crate::ports::store::StoreError;
use std::future::Future;

/// The port the handler applies plans through.
pub trait MailEventStore: Send + Sync {
    /// Applies one event exactly once; the report counters it calls for come back in
    /// [`Applied::Written`], not written.
    fn apply(
        &self,
        plan: &Plan,
        delivery: &DeliveryInfo<'_>,
    ) -> impl Future<Output = Result<Applied, StoreError>> + Send;

    /// Adds `tallies` (merged: one write per day and scope) to `shop`'s report counters.
    /// Best effort, like every report counter: a failed write is logged, not retried.
    fn count(&self, shop: &str, tallies: Vec<Tally>) -> impl Future<Output = ()> + Send;
}

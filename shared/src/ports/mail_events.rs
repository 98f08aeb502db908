//! The mail-events handler applies its plans through this port.

use crate::domain::mail_events::{Applied, DeliveryInfo, Plan};
use crate::ports::store::StoreError;
use std::future::Future;

/// The port the handler applies plans through.
pub trait MailEventStore: Send + Sync {
    fn apply(
        &self,
        plan: &Plan,
        delivery: &DeliveryInfo<'_>,
    ) -> impl Future<Output = Result<Applied, StoreError>> + Send;
}

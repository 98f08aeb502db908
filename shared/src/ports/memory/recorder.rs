//! [`MemoryRecorder`], the [`Recorder`] port in memory: the planner's writes applied to
//! a [`MemoryTable`] (`domain::ingest::memory`) with the adapter's receipts (one per
//! delivery, where `domain::ingest::receipts::home` puts it).
//! `aftercart simulate` and `aftercart backtest` record a whole store's orders through
//! it.

pub use crate::domain::ingest::memory::MemoryTable;
use crate::domain::ingest::receipts::{home, Home};
use crate::domain::ingest::Context;
use crate::domain::refusals::RefusalKind;
use crate::model::{Key, QuarantineRecord};
use crate::ports::store::{seen_receipt, Outcome, Recorder, StoreError};
use crate::wire::shopify::Event;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
struct State {
    table: MemoryTable,
    /// Where each receipt lives → the webhook id that wrote it.
    receipts: HashMap<Home, String>,
    quarantined: BTreeMap<Key, QuarantineRecord>,
    refusals: Vec<(String, RefusalKind)>,
}

/// The [`Recorder`] port in memory: a cheap handle (`Clone`) on one [`MemoryTable`],
/// deduplicating deliveries by their receipts as the DynamoDB adapter does.
#[derive(Debug, Clone, Default)]
pub struct MemoryRecorder {
    state: Arc<Mutex<State>>,
}

impl MemoryRecorder {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("memory recorder not poisoned")
    }

    /// Runs `f` on the table (to look inside, or to change it as another writer would).
    pub fn with_table<T>(&self, f: impl FnOnce(&mut MemoryTable) -> T) -> T {
        f(&mut self.lock().table)
    }

    /// Deliveries kept by [`Recorder::quarantine`].
    pub fn quarantined(&self) -> usize {
        self.lock().quarantined.len()
    }

    /// Records `event` at once (the [`Recorder::record`] logic, without a runtime).
    pub fn record_now(&self, ctx: &Context<'_>, event: &Event) -> Result<Outcome, StoreError> {
        let receipt = home(ctx, event);
        let mut s = self.lock();
        // No SDK retries here: a stored receipt is never this call's own.
        let found = s.receipts.get(&receipt).map(|id| ("", id.as_str()));
        if let Some(seen) = seen_receipt(found, "this call", ctx.webhook_id, 0) {
            return Ok(seen);
        }
        let writes = s
            .table
            .deliver(ctx, event)
            .map_err(|message| StoreError::Refused {
                operation: "memory TransactWriteItems",
                message,
            })?;
        let items = writes.len() + 1;
        s.receipts.insert(receipt, ctx.webhook_id.to_owned());
        Ok(Outcome::Recorded { items })
    }
}

impl Recorder for MemoryRecorder {
    async fn record(&self, ctx: &Context<'_>, event: &Event) -> Result<Outcome, StoreError> {
        self.record_now(ctx, event)
    }

    async fn quarantine(&self, key: &Key, record: &QuarantineRecord) -> Result<(), StoreError> {
        self.lock()
            .quarantined
            .entry(key.clone())
            .or_insert_with(|| record.clone());
        Ok(())
    }

    async fn count_refusal(
        &self,
        shop: &str,
        kind: RefusalKind,
        _now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.lock().refusals.push((shop.to_owned(), kind));
        Ok(())
    }
}

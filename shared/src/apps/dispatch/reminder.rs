//! The dispatcher's part in the satisfaction reminder (`domain::reminder`): planning the
//! reminder once its satisfaction check is recorded as sent. What the guard reads about
//! the check a due reminder repeats comes with the send's other reads
//! (`FollowUpStore::get_for_send`).

use super::{Dispatcher, Run};
use crate::domain::reminder;
use crate::model::time::utc_key;
use crate::model::FollowUpRecord;
use crate::ports::dispatch::{DiscountStore, FollowUpStore, StoreAdmin};
use crate::ports::mail::Mailer;
use crate::ports::store::Cas;

impl<M: Mailer, S: FollowUpStore + DiscountStore, A: StoreAdmin> Dispatcher<M, S, A> {
    /// Plans the reminder of `sent`, a satisfaction follow-up whose send was just
    /// recorded (or marked possibly sent), if the shop wants one: created only if
    /// absent, so a re-run or a retaken claim never makes a second. A failing store is
    /// retried while a call fits before the deadline; if it still fails the reminder
    /// is not planned (logged): one reminder fewer, never one more, and never a reason
    /// to hold up the run.
    pub(super) async fn plan_reminder(&self, sent: &FollowUpRecord, run: &Run<'_>) {
        let Some(shop) = self.config.shop(&sent.shop) else {
            return;
        };
        let now_key = utc_key(&self.clock.now());
        let rules = &shop.playbooks.satisfaction;
        let shards = self.config.dispatch.shards;
        let Some(next) = reminder::plan(sent, rules, &now_key, shards) else {
            return;
        };
        let mut wait = std::time::Duration::from_millis(100);
        loop {
            match self.store.create_followup(&next).await {
                Ok(Cas::Done) => {
                    tracing::info!(followup = %next.id, shop = %next.shop, due_at = %next.due_at, "satisfaction reminder planned");
                    let tally = crate::domain::report::planned(&next, &now_key);
                    run.counts.tally(&next.shop, tally);
                    return;
                }
                // Planned before (a re-run, or a retaken claim): still one reminder.
                Ok(Cas::Lost) => return,
                Err(e) if run.time_for(wait) => {
                    tracing::warn!(followup = %next.id, error = %e, "satisfaction reminder not planned yet; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(std::time::Duration::from_secs(2));
                }
                Err(e) => {
                    tracing::error!(followup = %next.id, shop = %next.shop, error = %e, "satisfaction reminder not planned: the store kept failing");
                    return;
                }
            }
        }
    }
}

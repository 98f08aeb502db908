//! The dispatcher's part in the satisfaction reminder (`domain::reminder`): planning the
//! reminder as its satisfaction check is handed to SES. What the guard reads about
//! the check a due reminder repeats comes with the send's other reads
//! (`FollowUpStore::get_for_send`).

use super::{Dispatcher, Run};
use crate::domain::reminder;
use crate::model::time::utc_key;
use crate::model::FollowUpRecord;
use crate::ports::dispatch::{DiscountStore, FollowUpStore, StoreAdmin};
use crate::ports::mail::Mailer;

impl<M: Mailer, S: FollowUpStore + DiscountStore, A: StoreAdmin> Dispatcher<M, S, A> {
    /// The reminder of `sent`, a satisfaction follow-up being handed to SES (or marked
    /// possibly sent), if the shop wants one. It is created in the same write as the
    /// hand-over mark (`FollowUpStore::hand_over`), so a re-run or a retaken claim never
    /// makes a second, and a check whose mark is not written gets none; a mark an older
    /// dispatcher wrote without one gets it when a later claim marks the check possibly
    /// sent.
    pub(super) fn reminder_of(&self, sent: &FollowUpRecord) -> Option<FollowUpRecord> {
        let shop = self.config.shop(&sent.shop)?;
        let now_key = utc_key(&self.clock.now());
        let rules = &shop.playbooks.satisfaction;
        reminder::plan(sent, rules, &now_key, self.config.dispatch.shards)
    }

    /// Counts a reminder just created.
    pub(super) fn count_planned(&self, planned: &FollowUpRecord, run: &Run<'_>) {
        tracing::info!(followup = %planned.id, shop = %planned.shop, due_at = %planned.due_at, "satisfaction reminder planned");
        let tally = crate::domain::report::planned(planned, &utc_key(&self.clock.now()));
        run.counts.tally(&planned.shop, tally);
    }
}

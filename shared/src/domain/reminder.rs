//! The one reminder of a satisfaction check ([`Playbook::SatisfactionReminder`]): when
//! it is planned, and why a due one is called off. Pure: the dispatcher reads the facts
//! ([`ReminderFacts`]) and writes the follow-up.
//!
//! It is planned by the dispatcher when it hands the satisfaction email to SES, in the
//! same write as the hand-over mark (not by the webhook's planner: it depends on the
//! send, not on the order's state), due `reminder_days` after that send. Its id is
//! deterministic (`satisfaction_reminder#{order}#0`) and it is created only if absent,
//! so a satisfaction check gets at most one reminder however often planning runs (a
//! check retried after a failed send keeps the one its first hand-over made). A check
//! that then fails for good or never goes is caught by the guard below ([`NOT_SENT`]).
//!
//! At its due time it goes only to a customer who got the first email and did not
//! answer: the satisfaction email was sent, SES reported it delivered, it neither
//! bounced nor drew a complaint, no rating counts ([`FeedbackRecord::counts`]), the
//! order has no refund, and the reminder is still turned on. Suppression, consent, the
//! frequency cap and quiet hours apply as to any follow-up (`domain::guards`).

use crate::config::SatisfactionRule;
use crate::model::time::{parse_time, utc_key};
use crate::model::{FeedbackRecord, FollowUpRecord, FollowUpStatus, OrderRecord, Playbook};
use chrono::Duration;

/// Why a due reminder is cancelled (the follow-up's `reason`).
pub const TURNED_OFF: &str = "satisfaction reminder turned off (reminder_days = 0)";
pub const REFUNDED: &str = "order refunded since the satisfaction email";
pub const NO_SATISFACTION: &str = "satisfaction email not found";
pub const RATED: &str = "customer already rated";
pub const NOT_SENT: &str = "satisfaction email not sent";
pub const BOUNCED: &str = "satisfaction email bounced";
pub const COMPLAINED: &str = "complaint about the satisfaction email";
pub const NOT_DELIVERED: &str = "satisfaction email not delivered (no SES delivery event)";

/// The reminder of `sent`, a satisfaction follow-up just recorded as sent, if the shop
/// wants one: pending, due `reminder_days` after its `sent_at`. `None` for other
/// playbooks, when the reminder is off, or without a readable send time.
pub fn plan(
    sent: &FollowUpRecord,
    rules: &SatisfactionRule,
    now_key: &str,
    shards: u32,
) -> Option<FollowUpRecord> {
    if sent.playbook != Playbook::Satisfaction || !rules.reminder_on() {
        return None;
    }
    let sent_at = parse_time(sent.sent_at.as_deref()?)?;
    let due = utc_key(&sent_at.checked_add_signed(Duration::days(rules.reminder_days.into()))?);
    let mut reminder = FollowUpRecord::pending(
        &sent.shop,
        &sent.customer_key,
        Playbook::SatisfactionReminder,
        sent.order_id,
        sent.product_id,
        &due,
        now_key,
        shards,
    );
    reminder.email_hash.clone_from(&sent.email_hash);
    Some(reminder)
}

/// What the guard needs to know about the satisfaction check a due reminder repeats,
/// read just before sending.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReminderFacts {
    /// The satisfaction follow-up (`None`: erased, or never planned).
    pub satisfaction: Option<FollowUpRecord>,
    /// Its feedback item, if any.
    pub feedback: Option<FeedbackRecord>,
}

/// Whether the order has any refund, however small (a partial one calls off the
/// reminder; a full one cancels every follow-up but the returns note).
fn any_refund(order: &OrderRecord) -> bool {
    order.refunded_at.is_some() || !order.refunds_applied.is_empty() || !order.refunded.is_empty()
}

/// Why a due reminder must not go, or `None` if it may (the other guards still apply).
/// `facts` is `None` when nothing was read (treated as no satisfaction check).
pub fn stop_reason(
    rules: &SatisfactionRule,
    order: &OrderRecord,
    facts: Option<&ReminderFacts>,
) -> Option<&'static str> {
    if !rules.reminder_on() {
        return Some(TURNED_OFF);
    }
    if any_refund(order) {
        return Some(REFUNDED);
    }
    let Some(first) = facts.and_then(|f| f.satisfaction.as_ref()) else {
        return Some(NO_SATISFACTION);
    };
    let feedback = facts.and_then(|f| f.feedback.as_ref());
    if feedback.is_some_and(FeedbackRecord::counts) {
        return Some(RATED);
    }
    if first.status != FollowUpStatus::Sent {
        return Some(NOT_SENT);
    }
    // Any bounce, soft ones included: a mailbox that bounced once gets no second ask.
    if first.tracking.bounced_at.is_some() {
        return Some(BOUNCED);
    }
    if first.tracking.complained_at.is_some() {
        return Some(COMPLAINED);
    }
    if first.tracking.delivered_at.is_none() {
        return Some(NOT_DELIVERED);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::followup_id;

    const SHOP: &str = "acme.myshopify.com";

    fn satisfaction(sent_at: Option<&str>) -> FollowUpRecord {
        let mut f = FollowUpRecord::pending(
            SHOP,
            "42",
            Playbook::Satisfaction,
            1001,
            None,
            "2026-11-20T10:00:00.000Z",
            "2026-11-01T10:00:00.000Z",
            4,
        );
        f.status = FollowUpStatus::Sent;
        f.sent_at = sent_at.map(str::to_owned);
        f.unindex();
        f
    }

    fn delivered() -> FollowUpRecord {
        let mut f = satisfaction(Some("2026-11-20T10:00:30.000Z"));
        f.tracking.delivered_at = Some("2026-11-20T10:00:32.000Z".into());
        f
    }

    fn facts(first: FollowUpRecord, feedback: Option<FeedbackRecord>) -> ReminderFacts {
        ReminderFacts {
            satisfaction: Some(first),
            feedback,
        }
    }

    fn rating(score: u8) -> FeedbackRecord {
        FeedbackRecord {
            v: 1,
            followup: followup_id(Playbook::Satisfaction, 1001, None),
            order_id: 1001,
            score,
            comment: None,
            first_at: "2026-11-21T10:00:00.000Z".into(),
            updated_at: "2026-11-21T10:00:00.000Z".into(),
            submissions: 1,
            ..Default::default()
        }
    }

    fn order() -> OrderRecord {
        OrderRecord {
            v: 1,
            order_id: 1001,
            ..OrderRecord::default()
        }
    }

    fn rules(days: u32) -> SatisfactionRule {
        SatisfactionRule {
            reminder_days: days,
            ..SatisfactionRule::default()
        }
    }

    #[test]
    fn planned_once_per_satisfaction_check_reminder_days_after_its_send() {
        let sent = satisfaction(Some("2026-11-20T10:00:30.000Z"));
        let r = plan(&sent, &rules(5), "2026-11-20T10:00:31.000Z", 4).expect("planned");
        assert_eq!(r.playbook, Playbook::SatisfactionReminder);
        assert_eq!(r.id, "satisfaction_reminder#1001#0");
        assert_eq!((r.shop.as_str(), r.customer_key.as_str()), (SHOP, "42"));
        assert_eq!(r.due_at, "2026-11-25T10:00:30.000Z");
        assert_eq!(r.status, FollowUpStatus::Pending);
        assert!(
            r.due_sk
                .as_deref()
                .is_some_and(|k| k.starts_with("2026-11-25T10:00:30.000Z#")),
            "in the due index at its due time"
        );
        assert_eq!(r.planned_at, "2026-11-20T10:00:31.000Z");
        // The same send planned again is the same follow-up (created only if absent).
        assert_eq!(
            plan(&sent, &rules(5), "2026-11-20T10:00:31.000Z", 4),
            Some(r.clone())
        );
        // Its ratings land on the satisfaction check's feedback item.
        assert_eq!(r.rating_target(), Some(sent.id.clone()));
        assert_eq!(sent.rating_target(), Some(sent.id.clone()));
    }

    #[test]
    fn not_planned_when_off_for_other_playbooks_or_without_a_send_time() {
        let sent = satisfaction(Some("2026-11-20T10:00:30.000Z"));
        let now = "2026-11-20T10:00:31.000Z";
        assert_eq!(plan(&sent, &rules(0), now, 4), None, "reminder_days = 0");
        let off = SatisfactionRule {
            enabled: false,
            ..rules(5)
        };
        assert_eq!(plan(&sent, &off, now, 4), None, "satisfaction off");
        assert_eq!(plan(&satisfaction(None), &rules(5), now, 4), None);
        let mut thanks = sent.clone();
        thanks.playbook = Playbook::ThankYou;
        assert_eq!(plan(&thanks, &rules(5), now, 4), None);
        // A reminder never plans a reminder of its own.
        let reminder = plan(&sent, &rules(5), now, 4).unwrap();
        let mut reminder_sent = reminder.clone();
        reminder_sent.status = FollowUpStatus::Sent;
        reminder_sent.sent_at = Some("2026-11-25T10:00:30.000Z".into());
        assert_eq!(plan(&reminder_sent, &rules(5), now, 4), None);
    }

    #[test]
    fn a_delivered_unanswered_satisfaction_email_lets_the_reminder_go() {
        assert_eq!(
            stop_reason(&rules(5), &order(), Some(&facts(delivered(), None))),
            None
        );
    }

    #[test]
    fn each_reason_to_call_it_off() {
        let ok = facts(delivered(), None);
        let stop =
            |r: &SatisfactionRule, o: &OrderRecord, f: &ReminderFacts| stop_reason(r, o, Some(f));
        assert_eq!(stop(&rules(0), &order(), &ok), Some(TURNED_OFF));
        let off = SatisfactionRule {
            enabled: false,
            ..rules(5)
        };
        assert_eq!(stop(&off, &order(), &ok), Some(TURNED_OFF));

        // Any refund: a date, an applied refund or a refunded quantity.
        let mut o = order();
        o.refunded_at = Some("2026-11-22T10:00:00.000Z".into());
        assert_eq!(stop(&rules(5), &o, &ok), Some(REFUNDED));
        let mut o = order();
        o.refunds_applied = vec![9];
        assert_eq!(stop(&rules(5), &o, &ok), Some(REFUNDED));
        let mut o = order();
        o.refunded.insert("1".into(), 1);
        assert_eq!(stop(&rules(5), &o, &ok), Some(REFUNDED));

        assert_eq!(
            stop(&rules(5), &order(), &ReminderFacts::default()),
            Some(NO_SATISFACTION)
        );
        assert_eq!(
            stop_reason(&rules(5), &order(), None),
            Some(NO_SATISFACTION)
        );

        // A rating of any score (the reminder is sent whatever they would rate, and
        // never once they have).
        for score in 1..=5 {
            let rated = facts(delivered(), Some(rating(score)));
            assert_eq!(stop(&rules(5), &order(), &rated), Some(RATED), "{score}");
        }

        let mut pending = delivered();
        pending.status = FollowUpStatus::Failed;
        assert_eq!(
            stop(&rules(5), &order(), &facts(pending, None)),
            Some(NOT_SENT)
        );

        for bounce in ["permanent", "transient"] {
            let mut bounced = delivered();
            bounced.tracking.bounced_at = Some("2026-11-20T10:00:33.000Z".into());
            bounced.tracking.bounce_type = Some(bounce.into());
            assert_eq!(
                stop(&rules(5), &order(), &facts(bounced, None)),
                Some(BOUNCED),
                "{bounce}"
            );
        }
        let mut bounced = satisfaction(Some("2026-11-20T10:00:30.000Z"));
        bounced.tracking.bounced_at = Some("2026-11-20T10:00:33.000Z".into());
        assert_eq!(
            stop(&rules(5), &order(), &facts(bounced, None)),
            Some(BOUNCED)
        );

        let mut complained = delivered();
        complained.tracking.complained_at = Some("2026-11-21T10:00:00.000Z".into());
        assert_eq!(
            stop(&rules(5), &order(), &facts(complained, None)),
            Some(COMPLAINED)
        );

        let undelivered = satisfaction(Some("2026-11-20T10:00:30.000Z"));
        assert_eq!(
            stop(&rules(5), &order(), &facts(undelivered, None)),
            Some(NOT_DELIVERED)
        );
    }
}

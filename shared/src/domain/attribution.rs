//! Which follow-up an order is credited to, as pure logic run when the webhook first
//! records the order.
//!
//! In order of certainty:
//! 1. **code** — the order used a discount code Aftercart issued to this customer
//!    (whenever it is used);
//! 2. **reorder_click** — the order's cart came from a reorder link (the cart attribute
//!    `aftercart_followup` names the follow-up);
//! 3. **reorder_click** / **rating_click** — the customer clicked a reorder or rating link
//!    of a follow-up within the shop's window (default 5 days) before ordering; the
//!    latest click wins;
//! 4. **time** — for a playbook with a holdout group (`holdout_percent`, see
//!    `docs/replenishment.md`): the order came within the window after a held-out
//!    follow-up's `held_out_at`, or after a sent follow-up's `sent_at` of a playbook
//!    with a holdout group, so both groups convert by the same rule; the latest such
//!    time wins, whatever its status or playbook.
//!
//! A follow-up is credited with one order only (the first), and never with the order it
//! is about; an order is credited to one follow-up at most. A held-out follow-up has no
//! code, link or click: only the time rule credits it, after every sent follow-up's
//! code, link and click.

use crate::model::{DiscountRecord, FollowUpRecord, FollowUpStatus, Playbook};
use chrono::{DateTime, Duration};

/// The credit for one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    /// The follow-up credited.
    pub followup: String,
    /// `code`, `reorder_click`, `rating_click` or `time`.
    pub by: &'static str,
    /// The discount code used, when the credit is by code.
    pub code: Option<String>,
}

/// What the order brings to the decision.
#[derive(Debug, Clone, Copy)]
pub struct OrderFacts<'a> {
    pub order_id: u64,
    /// UTC key of the order's creation.
    pub created_at: &'a str,
    pub discount_codes: &'a [String],
    /// The `aftercart_followup` cart attribute.
    pub from_link: Option<&'a str>,
}

/// The follow-up `order` is credited to, if any. `timed` are the shop's playbooks with a
/// holdout group, whose sent follow-ups the time rule credits too.
pub fn credit(
    order: OrderFacts<'_>,
    followups: &[FollowUpRecord],
    discounts: &[DiscountRecord],
    window_days: u32,
    timed: &[Playbook],
) -> Option<Credit> {
    let find = |id: &str| {
        followups
            .iter()
            .filter(|f| open(order, f))
            .find(|f| f.id == id)
    };

    for d in discounts.iter().filter(|d| d.redeemed_order_id.is_none()) {
        let used = order
            .discount_codes
            .iter()
            .any(|c| c.trim().eq_ignore_ascii_case(&d.code));
        if used {
            if let Some(f) = find(&d.followup) {
                return Some(Credit {
                    followup: f.id.clone(),
                    by: "code",
                    code: Some(d.code.clone()),
                });
            }
        }
    }
    if let Some(f) = order.from_link.and_then(find) {
        return Some(Credit {
            followup: f.id.clone(),
            by: "reorder_click",
            code: None,
        });
    }
    let created = DateTime::parse_from_rfc3339(order.created_at).ok()?;
    let earliest = crate::model::time::utc_key(
        &created.checked_sub_signed(Duration::days(window_days.into()))?,
    );
    let within = |at: &str| at >= earliest.as_str() && at <= order.created_at;
    by_click(order, followups, &within).or_else(|| by_time(order, followups, timed, &within))
}

/// A follow-up that may still earn credit for `order`: not about it, not credited yet.
fn open(order: OrderFacts<'_>, f: &FollowUpRecord) -> bool {
    f.order_id != order.order_id && f.tracking.attributed_order_id.is_none()
}

/// The sent follow-up whose reorder or rating link was clicked last within the window.
fn by_click(
    order: OrderFacts<'_>,
    followups: &[FollowUpRecord],
    within: &dyn Fn(&str) -> bool,
) -> Option<Credit> {
    followups
        .iter()
        .filter(|f| open(order, f))
        .filter(|f| {
            matches!(
                f.playbook,
                Playbook::Replenishment | Playbook::Satisfaction | Playbook::Recovery
            )
        })
        .filter_map(|f| {
            let clicked = f
                .tracking
                .last_clicked_at
                .as_deref()
                .or(f.tracking.clicked_at.as_deref())?;
            within(clicked).then_some((clicked, f))
        })
        .max_by(|a, b| a.0.cmp(b.0))
        .map(|(_, f)| Credit {
            followup: f.id.clone(),
            by: if f.playbook == Playbook::Replenishment {
                "reorder_click"
            } else {
                "rating_click"
            },
            code: None,
        })
}

/// The time rule of holdout groups: the held-out follow-up, or the sent follow-up of a
/// playbook in `timed`, held out or sent last within the window before the order.
fn by_time(
    order: OrderFacts<'_>,
    followups: &[FollowUpRecord],
    timed: &[Playbook],
    within: &dyn Fn(&str) -> bool,
) -> Option<Credit> {
    followups
        .iter()
        .filter(|f| open(order, f))
        .filter_map(|f| {
            let at = match f.status {
                FollowUpStatus::HeldOut => f.held_out_at.as_deref(),
                FollowUpStatus::Sent if timed.contains(&f.playbook) => f.sent_at.as_deref(),
                _ => None,
            }?;
            within(at).then_some((at, f))
        })
        .max_by(|a, b| a.0.cmp(b.0).then_with(|| a.1.id.cmp(&b.1.id)))
        .map(|(_, f)| Credit {
            followup: f.id.clone(),
            by: "time",
            code: None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DiscountStatus, FollowUpStatus, Tracking};

    fn f(playbook: Playbook, order_id: u64, clicked: Option<&str>) -> FollowUpRecord {
        let mut f = FollowUpRecord::pending(
            "s.myshopify.com",
            "42",
            playbook,
            order_id,
            None,
            "2026-11-01T00:00:00.000Z",
            "2026-10-01T00:00:00.000Z",
            4,
        );
        f.status = FollowUpStatus::Sent;
        f.unindex();
        f.tracking = Tracking {
            clicked_at: clicked.map(str::to_owned),
            last_clicked_at: clicked.map(str::to_owned),
            ..Tracking::default()
        };
        f
    }

    fn code(followup: &str, code: &str) -> DiscountRecord {
        DiscountRecord {
            v: 1,
            followup: followup.into(),
            code: code.into(),
            status: DiscountStatus::Created,
            reserved_at: "2026-11-01T00:00:00.000Z".into(),
            customer_gid: None,
            starts_at: None,
            replaced: Vec::new(),
            created_at: None,
            discount_id: None,
            ends_at: None,
            reason: None,
            redeemed_order_id: None,
            redeemed_at: None,
        }
    }

    const NOW: &str = "2026-11-20T12:00:00.000Z";

    fn order<'a>(codes: &'a [String], from_link: Option<&'a str>) -> OrderFacts<'a> {
        OrderFacts {
            order_id: 9,
            created_at: NOW,
            discount_codes: codes,
            from_link,
        }
    }

    #[test]
    fn a_code_we_issued_wins_whenever_it_is_used() {
        let loyalty = f(Playbook::Loyalty, 1, None);
        let clicked = f(Playbook::Replenishment, 2, Some("2026-11-20T11:00:00.000Z"));
        let codes = vec!["thanks-abcd".to_owned()];
        let c = credit(
            order(&codes, None),
            &[loyalty.clone(), clicked],
            &[code(&loyalty.id, "THANKS-ABCD")],
            5,
            &[],
        )
        .unwrap();
        assert_eq!(
            (c.followup.as_str(), c.by, c.code.as_deref()),
            (loyalty.id.as_str(), "code", Some("THANKS-ABCD"))
        );
    }

    #[test]
    fn the_cart_attribute_names_the_reminder() {
        let r = f(Playbook::Replenishment, 2, None);
        let c = credit(
            order(&[], Some(&r.id)),
            std::slice::from_ref(&r),
            &[],
            5,
            &[],
        )
        .unwrap();
        assert_eq!((c.followup, c.by), (r.id, "reorder_click"));
        // An id that is not this customer's follow-up credits nothing.
        assert_eq!(
            credit(order(&[], Some("replenishment#5#0")), &[], &[], 5, &[]),
            None
        );
    }

    #[test]
    fn a_click_within_the_window_credits_the_latest_clicked_follow_up() {
        let old = f(Playbook::Replenishment, 2, Some("2026-11-15T12:00:00.000Z"));
        let rated = f(Playbook::Satisfaction, 3, Some("2026-11-19T12:00:00.000Z"));
        let c = credit(order(&[], None), &[old.clone(), rated.clone()], &[], 5, &[]).unwrap();
        assert_eq!((c.followup, c.by), (rated.id, "rating_click"));
        // Five days exactly is inside; a second more is outside.
        let edge = f(Playbook::Replenishment, 2, Some("2026-11-15T12:00:00.000Z"));
        assert!(credit(order(&[], None), std::slice::from_ref(&edge), &[], 5, &[]).is_some());
        let out = f(Playbook::Replenishment, 2, Some("2026-11-15T11:59:59.000Z"));
        assert_eq!(credit(order(&[], None), &[out], &[], 5, &[]), None);
    }

    #[test]
    fn no_credit_for_clicks_after_the_order_its_own_order_or_twice() {
        let later = f(Playbook::Replenishment, 2, Some("2026-11-20T12:00:01.000Z"));
        assert_eq!(credit(order(&[], None), &[later], &[], 5, &[]), None);
        let own = f(Playbook::Replenishment, 9, Some("2026-11-20T11:00:00.000Z"));
        assert_eq!(credit(order(&[], None), &[own], &[], 5, &[]), None);
        let mut taken = f(Playbook::Replenishment, 2, Some("2026-11-20T11:00:00.000Z"));
        taken.tracking.attributed_order_id = Some(8);
        assert_eq!(credit(order(&[], None), &[taken], &[], 5, &[]), None);
        // Thank-you and loyalty emails have no reorder or rating links.
        let thanks = f(Playbook::ThankYou, 2, Some("2026-11-20T11:00:00.000Z"));
        assert_eq!(credit(order(&[], None), &[thanks], &[], 5, &[]), None);
    }

    fn held_out(playbook: Playbook, order_id: u64, at: &str) -> FollowUpRecord {
        let mut h = f(playbook, order_id, None);
        h.status = FollowUpStatus::HeldOut;
        h.held_out_at = Some(at.into());
        h
    }

    #[test]
    fn an_order_within_the_window_after_a_held_out_follow_up_is_credited_to_it_by_time() {
        let h = held_out(Playbook::Replenishment, 2, "2026-11-16T12:00:00.000Z");
        let c = credit(order(&[], None), std::slice::from_ref(&h), &[], 5, &[]).unwrap();
        assert_eq!(
            (c.followup.as_str(), c.by, c.code),
            (h.id.as_str(), "time", None)
        );
        // The window's edge is inside; before it, or after the order, nothing.
        let edge = held_out(Playbook::Replenishment, 2, "2026-11-15T12:00:00.000Z");
        assert!(credit(order(&[], None), &[edge], &[], 5, &[]).is_some());
        let old = held_out(Playbook::Replenishment, 2, "2026-11-15T11:59:59.000Z");
        assert_eq!(credit(order(&[], None), &[old], &[], 5, &[]), None);
        let later = held_out(Playbook::Replenishment, 2, "2026-11-20T12:00:01.000Z");
        assert_eq!(credit(order(&[], None), &[later], &[], 5, &[]), None);
        // Once only, and never for its own order.
        let mut taken = h.clone();
        taken.tracking.attributed_order_id = Some(8);
        assert_eq!(credit(order(&[], None), &[taken], &[], 5, &[]), None);
        let own = held_out(Playbook::Replenishment, 9, "2026-11-19T12:00:00.000Z");
        assert_eq!(credit(order(&[], None), &[own], &[], 5, &[]), None);
    }

    #[test]
    fn sent_follow_ups_of_a_holdout_playbook_are_credited_by_time_too() {
        let mut sent = f(Playbook::Loyalty, 2, None);
        sent.sent_at = Some("2026-11-18T12:00:00.000Z".into());
        // Without a holdout group, a loyalty email earns credit by its code only.
        assert_eq!(
            credit(order(&[], None), std::slice::from_ref(&sent), &[], 5, &[]),
            None
        );
        let c = credit(
            order(&[], None),
            std::slice::from_ref(&sent),
            &[],
            5,
            &[Playbook::Loyalty],
        )
        .unwrap();
        assert_eq!((c.followup, c.by), (sent.id, "time"));
    }

    #[test]
    fn codes_links_and_clicks_of_sent_follow_ups_come_before_the_time_rule() {
        let h = held_out(Playbook::Loyalty, 3, "2026-11-20T11:00:00.000Z");
        let clicked = f(Playbook::Replenishment, 2, Some("2026-11-17T12:00:00.000Z"));
        let both = [h.clone(), clicked.clone()];
        let timed = [Playbook::Loyalty, Playbook::Replenishment];
        let c = credit(order(&[], None), &both, &[], 5, &timed).unwrap();
        assert_eq!(
            (c.followup.as_str(), c.by),
            (clicked.id.as_str(), "reorder_click")
        );
        let c = credit(order(&[], Some(&clicked.id)), &both, &[], 5, &timed).unwrap();
        assert_eq!(c.followup, clicked.id);
    }

    #[test]
    fn by_time_the_latest_candidate_wins_whatever_its_status() {
        let mut sent = f(Playbook::Replenishment, 2, None);
        sent.sent_at = Some("2026-11-18T12:00:00.000Z".into());
        let h = held_out(Playbook::Loyalty, 3, "2026-11-19T12:00:00.000Z");
        let timed = [Playbook::Loyalty, Playbook::Replenishment];
        let c = credit(order(&[], None), &[sent.clone(), h.clone()], &[], 5, &timed).unwrap();
        assert_eq!((c.followup.as_str(), c.by), (h.id.as_str(), "time"));
        let mut later = sent.clone();
        later.sent_at = Some("2026-11-19T13:00:00.000Z".into());
        let c = credit(order(&[], None), &[later.clone(), h], &[], 5, &timed).unwrap();
        assert_eq!(c.followup, later.id);
    }
}

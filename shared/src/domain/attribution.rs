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
//!    latest click wins.
//!
//! A follow-up is credited with one order only (the first), and never with the order it
//! is about.

use crate::model::{DiscountRecord, FollowUpRecord, Playbook};
use chrono::{DateTime, Duration};

/// The credit for one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    /// The follow-up credited.
    pub followup: String,
    /// `code`, `reorder_click` or `rating_click`.
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

pub fn credit(
    order: OrderFacts<'_>,
    followups: &[FollowUpRecord],
    discounts: &[DiscountRecord],
    window_days: u32,
) -> Option<Credit> {
    let open = |f: &&FollowUpRecord| {
        f.order_id != order.order_id && f.tracking.attributed_order_id.is_none()
    };
    let find = |id: &str| followups.iter().filter(open).find(|f| f.id == id);

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
    followups
        .iter()
        .filter(open)
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
            (clicked >= earliest.as_str() && clicked <= order.created_at).then_some((clicked, f))
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
        let c = credit(order(&[], Some(&r.id)), std::slice::from_ref(&r), &[], 5).unwrap();
        assert_eq!((c.followup, c.by), (r.id, "reorder_click"));
        // An id that is not this customer's follow-up credits nothing.
        assert_eq!(
            credit(order(&[], Some("replenishment#5#0")), &[], &[], 5),
            None
        );
    }

    #[test]
    fn a_click_within_the_window_credits_the_latest_clicked_follow_up() {
        let old = f(Playbook::Replenishment, 2, Some("2026-11-15T12:00:00.000Z"));
        let rated = f(Playbook::Satisfaction, 3, Some("2026-11-19T12:00:00.000Z"));
        let c = credit(order(&[], None), &[old.clone(), rated.clone()], &[], 5).unwrap();
        assert_eq!((c.followup, c.by), (rated.id, "rating_click"));
        // Five days exactly is inside; a second more is outside.
        let edge = f(Playbook::Replenishment, 2, Some("2026-11-15T12:00:00.000Z"));
        assert!(credit(order(&[], None), std::slice::from_ref(&edge), &[], 5).is_some());
        let out = f(Playbook::Replenishment, 2, Some("2026-11-15T11:59:59.000Z"));
        assert_eq!(credit(order(&[], None), &[out], &[], 5), None);
    }

    #[test]
    fn no_credit_for_clicks_after_the_order_its_own_order_or_twice() {
        let later = f(Playbook::Replenishment, 2, Some("2026-11-20T12:00:01.000Z"));
        assert_eq!(credit(order(&[], None), &[later], &[], 5), None);
        let own = f(Playbook::Replenishment, 9, Some("2026-11-20T11:00:00.000Z"));
        assert_eq!(credit(order(&[], None), &[own], &[], 5), None);
        let mut taken = f(Playbook::Replenishment, 2, Some("2026-11-20T11:00:00.000Z"));
        taken.tracking.attributed_order_id = Some(8);
        assert_eq!(credit(order(&[], None), &[taken], &[], 5), None);
        // Thank-you and loyalty emails have no reorder or rating links.
        let thanks = f(Playbook::ThankYou, 2, Some("2026-11-20T11:00:00.000Z"));
        assert_eq!(credit(order(&[], None), &[thanks], &[], 5), None);
    }
}

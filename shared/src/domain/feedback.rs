//! Ratings that only people make.
//!
//! Mail security scanners (Outlook Safe Links, Mimecast, Proofpoint) open every link of
//! an email within seconds of delivery. A click on a rating link is therefore only a
//! candidate: the feedback item keeps the recent clicks, and a few minutes after the last
//! one the dispatcher settles it. A click is a person's unless a click on a *different*
//! score came within the burst window of it (`links.scanner_burst_seconds`); the score
//! that counts is the person's latest. A submission of the rating page's form is always a
//! person's: scanners fetch links, they do not fill in forms.
//!
//! Settling is where a rating takes effect: the click is counted on the follow-up, a low
//! score alerts the merchant and plans the apology, a high one calls it off, and a comment
//! is passed on. Each notice goes once per feedback item; the low-score alert waits for
//! the settlement (`playbooks.satisfaction.comment_wait_minutes`), so a comment written
//! meanwhile arrives in the same mail.
//!
//! Return reasons (one-click links in the returns email) are feedback items of the
//! returns follow-up, with the reason's number as their score, and follow the same
//! rules. Settling one counts the return in its products' tallies ([`tally`]); a product
//! whose returns give one reason `reason_alert_count` times within `reason_alert_days`
//! alerts the merchant, once per window.

use crate::model::time::{parse_time, utc_key};
use crate::model::{FeedbackRecord, FeedbackState, ReasonTallyRecord, ReturnReason, ScoreClick};
use chrono::{DateTime, Duration, Utc};

/// Whose item a click or a form goes to.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub shop: &'a str,
    pub customer_key: &'a str,
    pub followup: &'a str,
    pub order_id: u64,
}

/// The timing rules of one shop.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Two different scores clicked within this of each other are a scanner's.
    pub burst: Duration,
    /// How long after the last click the item is settled (and a low score alerted).
    pub wait: Duration,
    /// Due index shards.
    pub shards: u32,
}

/// The latest click that is a person's: from the form, or with no click on another
/// score within `burst` of it.
pub fn person_click(clicks: &[ScoreClick], burst: Duration) -> Option<&ScoreClick> {
    let at = |c: &ScoreClick| parse_time(&c.at).map(|t| t.to_utc());
    clicks.iter().rev().find(|c| {
        c.by_form
            || at(c).is_some_and(|t| {
                !clicks.iter().any(|o| {
                    !o.by_form
                        && o.score != c.score
                        && at(o).is_some_and(|u| (u - t).abs() <= burst)
                })
            })
    })
}

fn new_item(t: &Target<'_>, score: u8, now_key: &str) -> FeedbackRecord {
    FeedbackRecord {
        v: 0,
        shop: t.shop.to_owned(),
        customer_key: t.customer_key.to_owned(),
        followup: t.followup.to_owned(),
        order_id: t.order_id,
        score,
        first_at: now_key.to_owned(),
        updated_at: now_key.to_owned(),
        state: FeedbackState::Pending,
        ..Default::default()
    }
}

fn push_click(item: &mut FeedbackRecord, click: ScoreClick) {
    item.clicks.push(click);
    let excess = item.clicks.len().saturating_sub(FeedbackRecord::MAX_CLICKS);
    item.clicks.drain(..excess);
}

/// The item after a GET of the rating link for `score` at `now`: the click is kept, the
/// score and state follow the person's latest click (none: a scanner's burst), and the
/// dispatcher settles it `wait` after this click.
pub fn clicked(
    current: Option<FeedbackRecord>,
    t: &Target<'_>,
    score: u8,
    now: DateTime<Utc>,
    timing: &Timing,
) -> FeedbackRecord {
    let now_key = utc_key(&now);
    let mut next = current.unwrap_or_else(|| new_item(t, score, &now_key));
    fill_owner(&mut next, t);
    next.v += 1;
    next.submissions = next.submissions.saturating_add(1);
    now_key.clone_into(&mut next.updated_at);
    push_click(
        &mut next,
        ScoreClick {
            score,
            at: now_key,
            by_form: false,
        },
    );
    match person_click(&next.clicks, timing.burst).map(|c| c.score) {
        Some(s) => {
            next.score = s;
            next.state = FeedbackState::Pending;
        }
        None => {
            next.score = score;
            next.state = FeedbackState::Scanner;
        }
    }
    next.index_at(&utc_key(&(now + timing.wait)), timing.shards);
    next
}

/// The item after the rating page's form for `score` (with `comment`, possibly empty)
/// was sent at `now`: a person's rating at once, settled by the next dispatcher run.
pub fn submitted(
    current: Option<FeedbackRecord>,
    t: &Target<'_>,
    score: u8,
    comment: &str,
    now: DateTime<Utc>,
    timing: &Timing,
) -> FeedbackRecord {
    let now_key = utc_key(&now);
    let mut next = current.unwrap_or_else(|| new_item(t, score, &now_key));
    fill_owner(&mut next, t);
    next.v += 1;
    next.score = score;
    next.state = FeedbackState::Rated;
    now_key.clone_into(&mut next.updated_at);
    if !comment.is_empty() {
        next.comment = Some(comment.to_owned());
    }
    push_click(
        &mut next,
        ScoreClick {
            score,
            at: now_key.clone(),
            by_form: true,
        },
    );
    next.index_at(&now_key, timing.shards);
    next
}

/// Items written before they carried their owner learn it on their next write.
fn fill_owner(item: &mut FeedbackRecord, t: &Target<'_>) {
    if item.shop.is_empty() {
        t.shop.clone_into(&mut item.shop);
        t.customer_key.clone_into(&mut item.customer_key);
    }
}

/// What settling a person's rating does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effects {
    pub score: u8,
    /// The person's click to count on the follow-up (not counted before), and its time.
    pub count_click_at: Option<String>,
    /// When the person rated: the recovery email's delay runs from here.
    pub rated_at: String,
    /// Alert the merchant of a low score (first time only).
    pub alert_low: bool,
    /// Pass the comment on to the merchant (first time only).
    pub pass_comment: bool,
    /// The score is low: plan the apology (a no-op when it exists).
    pub plan_recovery: bool,
    /// The score is high: call off a pending apology.
    pub cancel_recovery: bool,
    /// A return reason to count in its products' tallies: the one it was counted under
    /// before (to take it out of), and the new one.
    pub retally: Option<(Option<ReturnReason>, ReturnReason)>,
}

/// The item once settled at `now` (out of the due index, version bumped), and what the
/// rating does, if it is a person's. Notices are marked sent here, in the same
/// version-conditioned write that settles the item, so two dispatchers never both send
/// one: a notice that then fails to go out is logged, not retried.
/// What an item's score means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// A 1–5 rating with the shop's bands.
    Score { low: u8, high: u8 },
    /// A return reason: no bands, no apology.
    Reason,
}

pub fn settle(
    current: &FeedbackRecord,
    scale: Scale,
    burst: Duration,
    now: DateTime<Utc>,
) -> (FeedbackRecord, Option<Effects>) {
    let now_key = utc_key(&now);
    let mut next = current.clone();
    next.v += 1;
    next.unindex();
    next.settled_at = Some(now_key.clone());
    let person = person_click(&current.clicks, burst).cloned();
    match (current.state, &person) {
        (FeedbackState::Scanner, _) | (FeedbackState::Pending, None) => {
            next.state = FeedbackState::Scanner;
            return (next, None);
        }
        (FeedbackState::Pending, Some(c)) => {
            next.state = FeedbackState::Rated;
            next.score = c.score;
        }
        (FeedbackState::Rated, _) => {}
    }
    // The person's latest link click not counted before (the form is no link click).
    let links_only: Vec<ScoreClick> = current
        .clicks
        .iter()
        .filter(|c| !c.by_form)
        .cloned()
        .collect();
    let link_click = person_click(&links_only, burst);
    let count_click_at = link_click
        .filter(|c| current.settled_at.as_ref().is_none_or(|s| c.at > *s))
        .map(|c| c.at.clone());
    // When the person rated: their link click, else the form.
    let rated_at = link_click.or(person.as_ref()).map(|c| c.at.clone());
    let (low, high) = match scale {
        Scale::Score { low, high } => (next.score <= low, next.score >= high),
        Scale::Reason => (false, false),
    };
    let alert_low = low && next.alerted_at.is_none();
    if alert_low {
        next.alerted_at = Some(now_key.clone());
    }
    let pass_comment = next.comment.is_some() && next.comment_sent_at.is_none();
    if pass_comment {
        next.comment_sent_at = Some(now_key.clone());
    }
    let effects = Effects {
        score: next.score,
        count_click_at,
        rated_at: rated_at.unwrap_or(now_key),
        alert_low,
        pass_comment,
        plan_recovery: low,
        cancel_recovery: high,
        retally: None,
    };
    let mut effects = effects;
    if let (Scale::Reason, Some(reason)) = (scale, ReturnReason::from_number(next.score)) {
        if next.tallied != Some(reason) {
            effects.retally = Some((next.tallied, reason));
            next.tallied = Some(reason);
        }
    }
    (next, Some(effects))
}

/// How many returns of one product with one reason alert the merchant, and within what.
#[derive(Debug, Clone, Copy)]
pub struct TallyRule {
    /// 0: never.
    pub count: u32,
    pub window: Duration,
}

/// The tally after `followup`'s return was counted under it at `at` (`add`), or taken
/// out of it (a changed reason), as of `now`: entries older than the window dropped.
/// The second value says whether the merchant must now be alerted (the count reached,
/// and no alert within the window); the returned tally then carries the alert's time.
/// Adding the same return twice changes nothing.
pub fn tally(
    current: ReasonTallyRecord,
    followup: &str,
    at: Option<&str>,
    now: DateTime<Utc>,
    rule: &TallyRule,
) -> (ReasonTallyRecord, bool) {
    let mut next = current;
    next.v += 1;
    let since = utc_key(&(now - rule.window));
    next.returns.retain(|_, t| *t >= since);
    match at {
        Some(at) => {
            next.returns.insert(followup.to_owned(), at.to_owned());
        }
        None => {
            next.returns.remove(followup);
        }
    }
    while next.returns.len() > ReasonTallyRecord::MAX_RETURNS {
        let oldest = next
            .returns
            .iter()
            .min_by(|a, b| a.1.cmp(b.1))
            .map(|(k, _)| k.clone());
        match oldest {
            Some(k) => next.returns.remove(&k),
            None => break,
        };
    }
    let recently_alerted = next.alerted_at.as_ref().is_some_and(|t| *t >= since);
    let alert = at.is_some()
        && rule.count > 0
        && next.returns.len() >= rule.count as usize
        && !recently_alerted;
    if alert {
        next.alerted_at = Some(utc_key(&now));
    }
    (next, alert)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Target<'static> = Target {
        shop: "acme.myshopify.com",
        customer_key: "42",
        followup: "satisfaction#1001#0",
        order_id: 1001,
    };

    fn timing() -> Timing {
        Timing {
            burst: Duration::seconds(10),
            wait: Duration::minutes(10),
            shards: 4,
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        format!("2026-12-06T{s}Z").parse().unwrap()
    }

    fn clicks(seq: &[(u8, &str)]) -> FeedbackRecord {
        let mut item = None;
        for (score, time) in seq {
            item = Some(clicked(item, &T, *score, at(time), &timing()));
        }
        item.unwrap()
    }

    fn settled(item: &FeedbackRecord, time: &str) -> (FeedbackRecord, Option<Effects>) {
        settle(
            item,
            Scale::Score { low: 2, high: 4 },
            Duration::seconds(10),
            at(time),
        )
    }

    #[test]
    fn a_scanner_opening_all_five_links_within_a_second_rates_nothing() {
        let item = clicks(&[
            (1, "10:00:00.100"),
            (2, "10:00:00.300"),
            (3, "10:00:00.500"),
            (4, "10:00:00.700"),
            (5, "10:00:00.900"),
        ]);
        assert_eq!(item.state, FeedbackState::Scanner);
        assert!(!item.counts());
        let (done, effects) = settled(&item, "10:10:01");
        assert_eq!(effects, None, "no rating, no alert, no recovery");
        assert_eq!(done.state, FeedbackState::Scanner);
        assert_eq!(done.due_pk, None, "out of the index");
    }

    #[test]
    fn one_click_is_a_persons_rating_and_takes_effect_when_settled() {
        let item = clicks(&[(2, "10:00:00")]);
        assert_eq!((item.state, item.score), (FeedbackState::Pending, 2));
        assert!(item.counts());
        assert!(item.due_pk.as_deref().unwrap().starts_with("SETTLE#"));
        assert!(item
            .due_sk
            .as_deref()
            .unwrap()
            .starts_with("2026-12-06T10:10:00.000Z#"));
        let (done, effects) = settled(&item, "10:10:30");
        let e = effects.unwrap();
        assert_eq!(done.state, FeedbackState::Rated);
        assert!(e.alert_low && e.plan_recovery && !e.cancel_recovery && !e.pass_comment);
        assert_eq!(
            e.count_click_at.as_deref(),
            Some("2026-12-06T10:00:00.000Z")
        );
        assert_eq!(e.rated_at, "2026-12-06T10:00:00.000Z");
        // Settled again (a comment later): no second alert, the click not counted again.
        let mut later = submitted(Some(done), &T, 2, "broken", at("11:00:00"), &timing());
        later.state = FeedbackState::Rated;
        let (_, e) = settled(&later, "11:00:30");
        let e = e.unwrap();
        assert!(!e.alert_low && e.pass_comment);
        assert_eq!(e.count_click_at, None);
    }

    #[test]
    fn a_person_clicking_after_a_scanner_burst_is_heard() {
        let item = clicks(&[(1, "10:00:00.100"), (5, "10:00:00.200"), (4, "10:20:00")]);
        assert_eq!((item.state, item.score), (FeedbackState::Pending, 4));
        let (done, e) = settled(&item, "10:30:01");
        assert_eq!(done.score, 4);
        let e = e.unwrap();
        assert!(!e.alert_low && e.cancel_recovery);
    }

    #[test]
    fn a_burst_after_a_persons_click_leaves_the_persons_score() {
        let item = clicks(&[
            (4, "10:00:00"),
            (1, "10:05:00.100"),
            (2, "10:05:00.200"),
            (3, "10:05:00.300"),
        ]);
        assert_eq!((item.state, item.score), (FeedbackState::Pending, 4));
    }

    #[test]
    fn the_same_score_twice_is_no_burst_and_a_changed_mind_counts_the_latest() {
        let twice = clicks(&[(3, "10:00:00"), (3, "10:00:01")]);
        assert_eq!((twice.state, twice.score), (FeedbackState::Pending, 3));
        let changed = clicks(&[(2, "10:00:00"), (4, "10:03:00")]);
        assert_eq!((changed.state, changed.score), (FeedbackState::Pending, 4));
        assert_eq!(changed.submissions, 2);
    }

    #[test]
    fn the_form_is_a_persons_even_inside_a_burst() {
        let burst = clicks(&[(1, "10:00:00.100"), (2, "10:00:00.200")]);
        let item = submitted(Some(burst), &T, 2, "", at("10:00:05"), &timing());
        assert_eq!((item.state, item.score), (FeedbackState::Rated, 2));
        assert_eq!(item.comment, None, "an empty comment keeps none");
        let (_, e) = settled(&item, "10:00:30");
        let e = e.unwrap();
        assert!(e.alert_low);
        assert_eq!(e.count_click_at, None, "the form is not a link click");
    }

    #[test]
    fn only_the_latest_clicks_are_kept() {
        let seq: Vec<(u8, String)> = (0..25)
            .map(|i| (3, format!("10:{:02}:00", i * 2)))
            .collect();
        let seq: Vec<(u8, &str)> = seq.iter().map(|(s, t)| (*s, t.as_str())).collect();
        let item = clicks(&seq);
        assert_eq!(item.clicks.len(), FeedbackRecord::MAX_CLICKS);
        assert_eq!(item.clicks.last().unwrap().at, "2026-12-06T10:48:00.000Z");
    }

    #[test]
    fn items_written_before_owners_were_stored_learn_them() {
        let old = FeedbackRecord {
            v: 3,
            followup: T.followup.into(),
            order_id: 1001,
            score: 5,
            first_at: "2026-01-01T00:00:00.000Z".into(),
            updated_at: "2026-01-01T00:00:00.000Z".into(),
            submissions: 1,
            ..Default::default()
        };
        assert_eq!(old.state, FeedbackState::Rated, "old items are ratings");
        let next = clicked(Some(old), &T, 4, at("10:00:00"), &timing());
        assert_eq!((next.shop.as_str(), next.v), ("acme.myshopify.com", 4));
    }

    #[test]
    fn a_reason_is_counted_once_and_moved_when_it_changes() {
        let t = Target {
            followup: "returns#1001#0",
            ..T
        };
        let item = clicked(None, &t, 1, at("10:00:00"), &timing());
        assert!(item.is_return_reason());
        let (done, e) = settle(&item, Scale::Reason, Duration::seconds(10), at("10:10:01"));
        let e = e.unwrap();
        assert!(!e.alert_low && !e.plan_recovery && !e.cancel_recovery);
        assert_eq!(e.retally, Some((None, ReturnReason::SizeTooSmall)));
        assert_eq!(done.return_reason(), Some(ReturnReason::SizeTooSmall));
        // The comment settles it again: not counted twice.
        let commented = submitted(Some(done), &t, 1, "tight", at("10:20:00"), &timing());
        let (done, e) = settle(
            &commented,
            Scale::Reason,
            Duration::seconds(10),
            at("10:20:30"),
        );
        assert_eq!(e.unwrap().retally, None);
        // Another reason: moved.
        let changed = clicked(Some(done), &t, 4, at("11:00:00"), &timing());
        let (_, e) = settle(
            &changed,
            Scale::Reason,
            Duration::seconds(10),
            at("11:10:01"),
        );
        assert_eq!(
            e.unwrap().retally,
            Some((Some(ReturnReason::SizeTooSmall), ReturnReason::Defective))
        );
    }

    #[test]
    fn the_third_same_reason_within_the_window_alerts_once() {
        let rule = TallyRule {
            count: 3,
            window: Duration::days(30),
        };
        let day =
            |d: u32| -> DateTime<Utc> { format!("2026-12-{d:02}T10:00:00Z").parse().unwrap() };
        let add = |t: ReasonTallyRecord, f: &str, d: u32| {
            tally(t, f, Some(&utc_key(&day(d))), day(d), &rule)
        };
        let (t, a1) = add(ReasonTallyRecord::default(), "returns#1#0", 1);
        let (t, a1_again) = add(t, "returns#1#0", 1);
        let (t, a2) = add(t, "returns#2#0", 2);
        assert!(!a1 && !a1_again && !a2, "two returns, one counted twice");
        let (t, a3) = add(t, "returns#3#0", 3);
        assert!(a3, "the third alerts");
        let (t, a4) = add(t, "returns#4#0", 4);
        assert!(!a4, "not again within the window");
        // A changed reason takes a return out.
        let (t, _) = tally(t, "returns#4#0", None, day(4), &rule);
        assert_eq!(t.returns.len(), 3);
    }

    #[test]
    fn returns_older_than_the_window_fall_out_and_a_new_window_alerts_again() {
        let rule = TallyRule {
            count: 2,
            window: Duration::days(30),
        };
        let at_day = |s: &str| -> DateTime<Utc> { format!("{s}T10:00:00Z").parse().unwrap() };
        let add = |t: ReasonTallyRecord, f: &str, d: &str| {
            tally(t, f, Some(&utc_key(&at_day(d))), at_day(d), &rule)
        };
        let (t, _) = add(ReasonTallyRecord::default(), "returns#1#0", "2026-10-01");
        let (t, late) = add(t, "returns#2#0", "2026-11-15");
        assert!(!late, "the first fell out of the window");
        assert_eq!(t.returns.len(), 1);
        let (t, alert) = add(t, "returns#3#0", "2026-11-20");
        assert!(alert);
        let (t, again) = add(t, "returns#4#0", "2026-11-25");
        assert!(!again);
        let (_, next_window) = add(
            ReasonTallyRecord {
                alerted_at: t.alerted_at.clone(),
                ..t
            },
            "returns#5#0",
            "2026-12-21",
        );
        assert!(next_window, "a month after the last alert");
    }
}

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

use crate::model::time::{parse_time, utc_key};
use crate::model::{FeedbackRecord, FeedbackState, ScoreClick};
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
}

/// The item once settled at `now` (out of the due index, version bumped), and what the
/// rating does, if it is a person's. Notices are marked sent here, in the same
/// version-conditioned write that settles the item, so two dispatchers never both send
/// one: a notice that then fails to go out is logged, not retried.
pub fn settle(
    current: &FeedbackRecord,
    low_score: u8,
    high_score: u8,
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
    let low = next.score <= low_score;
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
        cancel_recovery: next.score >= high_score,
    };
    (next, Some(effects))
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
        settle(item, 2, 4, Duration::seconds(10), at(time))
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
}

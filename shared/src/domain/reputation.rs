//! The reputation brake, pure: a shop's permanent-bounce and complaint rates over a
//! rolling window of UTC days, and whether its marketing playbooks (replenishment,
//! loyalty) pause or resume. Transactional playbooks never pause.
//!
//! - **Rates** are per email sent (what SES divides by): permanent bounces / sent and
//!   complaints / sent, over the last `window_days` UTC days, today included.
//! - **Pause** when either rate is at or over its warning line (`bounce_warn`,
//!   `complaint_warn`) and the window holds at least `min_sends` emails.
//! - **Resume** (hysteresis) when both rates are below `resume_ratio` × their line with
//!   at least `min_sends` emails in the window, or when the window holds no permanent
//!   bounce and no complaint at all (with marketing paused, volume may stay under
//!   `min_sends`: the pause then lasts at most `window_days` after the last bad event).
//! - **Operator resume** (`aftercart reputation --resume`) lifts a pause by hand. It
//!   holds for `window_days` unless new permanent bounces or complaints arrive (the
//!   window's counts grow past what they were at the resume) while a rate is still over
//!   its line; after `window_days` every event counted before it has left the window
//!   and the rule above applies as usual.
//!
//! The dispatcher applies this once per run per shop (`apps::dispatch::reputation`);
//! the guard defers a paused shop's marketing follow-ups by [`RECHECK_MINUTES`].

use crate::config::{ReputationSettings, ShopConfig};
use crate::model::reputation::{Figures, OperatorResume, ReputationDay, ReputationState};
use crate::model::time::utc_key;
use crate::model::Playbook;
use chrono::{DateTime, Duration, Utc};

/// How long a paused shop's marketing follow-up waits before the guards look again.
pub const RECHECK_MINUTES: i64 = 60;

/// The UTC day of `t` (`YYYY-MM-DD`), as the day items are keyed.
pub fn day_of(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// The window's first and last day (`YYYY-MM-DD`), today the last.
pub fn window(now: DateTime<Utc>, window_days: u32) -> (String, String) {
    let first = now - Duration::days(i64::from(window_days.max(1)) - 1);
    (day_of(first), day_of(now))
}

/// The window's counts: the day items from `first_day` on, summed.
pub fn sum(days: &[ReputationDay], first_day: &str, window_days: u32) -> Figures {
    let mut f = Figures {
        window_days,
        ..Figures::default()
    };
    for d in days.iter().filter(|d| d.day.as_str() >= first_day) {
        f.sent += d.sent;
        f.bounced += d.bounced;
        f.complained += d.complained;
    }
    f
}

/// A rate as the merchant reads it: `0.12 %`.
pub fn percent(rate: f64) -> String {
    format!("{:.2} %", rate * 100.0)
}

/// The rates at or over their warning line, described (`complaint rate 0.12 %`); empty
/// under `min_sends` emails.
pub fn over_lines(s: &ReputationSettings, f: &Figures) -> Vec<String> {
    let mut over = Vec::new();
    if f.sent < s.min_sends {
        return over;
    }
    if f.bounced > 0 && f.bounce_rate() >= s.bounce_warn {
        over.push(format!("bounce rate {}", percent(f.bounce_rate())));
    }
    if f.complained > 0 && f.complaint_rate() >= s.complaint_warn {
        over.push(format!("complaint rate {}", percent(f.complaint_rate())));
    }
    over
}

/// Whether the figures let a paused shop resume: both rates under their resume line
/// with enough volume, or no bad event in the window at all.
pub fn may_resume(s: &ReputationSettings, f: &Figures) -> bool {
    if f.bounced == 0 && f.complained == 0 {
        return true;
    }
    f.sent >= s.min_sends
        && f.bounce_rate() < s.bounce_warn * s.resume_ratio
        && f.complaint_rate() < s.complaint_warn * s.resume_ratio
}

/// The reason a paused shop's marketing follow-ups carry.
pub fn pause_reason(over: &[String], window_days: u32) -> String {
    let days = if window_days == 1 { "day" } else { "days" };
    format!(
        "marketing paused: {} over {window_days} {days}",
        over.join(" and ")
    )
}

/// What a run does to a shop's state.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Nothing to write.
    Keep,
    /// Marketing pauses; the merchant is told.
    Pause(ReputationState),
    /// Marketing resumes on the rates; the merchant is told.
    Resume(ReputationState),
    /// An operator's resume has done its work (expired, or the rates are fine): it is
    /// forgotten, without a notice.
    Forget(ReputationState),
}

/// Decides the shop's state from the window's figures. Pure.
pub fn evaluate(
    s: &ReputationSettings,
    state: Option<&ReputationState>,
    f: &Figures,
    now: DateTime<Utc>,
) -> Change {
    let current = state.cloned().unwrap_or_default();
    let now_key = utc_key(&now);
    if current.paused_at.is_some() {
        if !may_resume(s, f) {
            return Change::Keep;
        }
        return Change::Resume(ReputationState {
            figures: *f,
            changed_at: Some(now_key),
            ..ReputationState::default()
        });
    }
    let over = over_lines(s, f);
    let holds = current.operator_resume.as_ref().is_some_and(|op| {
        now_key < op.until && f.bounced <= op.bounced && f.complained <= op.complained
    });
    if !over.is_empty() && !holds {
        return Change::Pause(ReputationState {
            paused_at: Some(now_key.clone()),
            paused_reason: Some(pause_reason(&over, f.window_days)),
            figures: *f,
            changed_at: Some(now_key),
            notified_at: None,
            operator_resume: None,
        });
    }
    match &current.operator_resume {
        Some(op) if now_key >= op.until || (over.is_empty() && may_resume(s, f)) => {
            Change::Forget(ReputationState {
                operator_resume: None,
                ..current
            })
        }
        _ => Change::Keep,
    }
}

/// The state after an operator's resume at `now` with the window's figures `f`.
pub fn operator_resume(f: &Figures, now: DateTime<Utc>) -> ReputationState {
    let now_key = utc_key(&now);
    ReputationState {
        figures: *f,
        changed_at: Some(now_key.clone()),
        operator_resume: Some(OperatorResume {
            at: now_key,
            bounced: f.bounced,
            complained: f.complained,
            until: utc_key(&(now + Duration::days(i64::from(f.window_days.max(1))))),
        }),
        ..ReputationState::default()
    }
}

/// Why `playbook` waits for `state`'s pause, and until when: marketing playbooks only.
pub fn brake(
    playbook: Playbook,
    pause_reason: Option<&str>,
    now: DateTime<Utc>,
) -> Option<(DateTime<Utc>, String)> {
    let reason = pause_reason.filter(|_| playbook.is_marketing())?;
    Some((now + Duration::minutes(RECHECK_MINUTES), reason.to_owned()))
}

/// The counter an SES event adds one to (`bounced`, `complained`), if any: permanent
/// bounces and complaints of follow-up mail (tagged with a follow-up, as sends are
/// counted). Transient bounces are not in SES's bounce rate.
pub fn counter_of(plan: &crate::domain::mail_events::Plan) -> Option<&'static str> {
    use crate::domain::mail_events::TrackingUpdate;
    plan.followup.as_ref()?;
    match plan.tracking.as_ref()? {
        TrackingUpdate::PermanentBounce { .. } => Some("bounced"),
        TrackingUpdate::Complained { .. } => Some("complained"),
        _ => None,
    }
}

/// The merchant's notice of a change: subject and plain text with the figures.
pub fn notice_text(
    shop: &ShopConfig,
    s: &ReputationSettings,
    state: &ReputationState,
) -> (String, String) {
    let brand = shop.brand();
    let f = &state.figures;
    let figures = format!(
        "Over the last {} days (UTC), {} for {brand}: {} bounced permanently \
         (bounce rate {}; Aftercart's line {}, SES reviews accounts at 5 % and pauses them at 10 %) \
         and {} recipients complained (complaint rate {}; Aftercart's line {}, SES reviews at \
         0.1 % and pauses at 0.5 %, Gmail refuses bulk senders at 0.3 %).",
        f.window_days,
        if f.sent == 1 {
            "1 email was sent".to_owned()
        } else {
            format!("{} emails were sent", f.sent)
        },
        f.bounced,
        percent(f.bounce_rate()),
        percent(s.bounce_warn),
        f.complained,
        percent(f.complaint_rate()),
        percent(s.complaint_warn),
    );
    if state.paused_at.is_some() {
        let subject = format!("Aftercart paused marketing emails for {brand}");
        let text = format!(
            "Hello,\n\n{figures}\n\n{}.\n\nPaused: replenishment reminders and loyalty rewards. \
             They wait and go out once sending resumes; nothing is lost. Still sent: thank-you \
             emails, satisfaction checks and their one reminder, returns follow-ups and \
             apologies.\n\n\
             Marketing resumes by itself once both rates are below {} of their lines with \
             at least {} emails in the window (or no bounce or complaint is left in it). \
             Addresses that bounced or complained are already suppressed. Check where the \
             addresses come from (imported lists, typos at checkout) and whether customers \
             expect these emails. An operator can resume sooner with \
             `aftercart reputation --shop {} --resume`.\n",
            state.paused_reason.as_deref().unwrap_or("marketing paused"),
            percent(s.resume_ratio),
            s.min_sends,
            shop.domain,
        );
        (subject, text)
    } else {
        let how = if state.operator_resume.is_some() {
            "An operator resumed them by hand"
        } else {
            "The rates are back below their lines"
        };
        let subject = format!("Aftercart resumed marketing emails for {brand}");
        let text = format!(
            "Hello,\n\n{how}: replenishment reminders and loyalty rewards go out again, the \
             ones that waited first.\n\n{figures}\n"
        );
        (subject, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ReputationSettings {
        ReputationSettings::default()
    }

    fn fig(sent: u64, bounced: u64, complained: u64) -> Figures {
        Figures {
            sent,
            bounced,
            complained,
            window_days: 7,
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    const NOW: &str = "2026-12-02T10:00:00Z";

    fn paused(f: Figures) -> ReputationState {
        match evaluate(&settings(), None, &f, at(NOW)) {
            Change::Pause(s) => s,
            other => panic!("expected a pause, got {other:?}"),
        }
    }

    #[test]
    fn window_and_sum_take_the_last_days_today_included() {
        let (first, last) = window(at(NOW), 7);
        assert_eq!(
            (first.as_str(), last.as_str()),
            ("2026-11-26", "2026-12-02")
        );
        let day = |d: &str, sent, bounced, complained| ReputationDay {
            day: d.into(),
            sent,
            bounced,
            complained,
        };
        let days = [
            day("2026-11-25", 1000, 100, 10), // before the window
            day("2026-11-26", 300, 0, 0),
            day("2026-11-26", 0, 2, 1), // the events item of the same day
            day("2026-12-02", 200, 3, 0),
        ];
        assert_eq!(sum(&days, &first, 7), fig(500, 5, 1));
    }

    #[test]
    fn rates_are_per_email_sent() {
        let f = fig(2000, 90, 3);
        assert_eq!(f.bounce_rate(), 0.045);
        assert_eq!(f.complaint_rate(), 0.0015);
        assert_eq!(fig(0, 3, 3).bounce_rate(), 0.0);
        assert_eq!(percent(0.0012), "0.12 %");
        assert_eq!(percent(0.045), "4.50 %");
    }

    #[test]
    fn pauses_at_either_line_with_the_figures_in_the_reason() {
        // Complaints: 0.12 % ≥ 0.08 %.
        let s = paused(fig(2500, 10, 3));
        assert_eq!(
            s.paused_reason.as_deref(),
            Some("marketing paused: complaint rate 0.12 % over 7 days")
        );
        assert_eq!(s.pause_reason(), s.paused_reason.as_deref());
        assert_eq!(s.figures, fig(2500, 10, 3));
        assert_eq!(s.notified_at, None);
        // Bounces exactly at 4 %.
        let s = paused(fig(1000, 40, 0));
        assert_eq!(
            s.paused_reason.as_deref(),
            Some("marketing paused: bounce rate 4.00 % over 7 days")
        );
        // Both.
        let s = paused(fig(1000, 50, 1));
        assert_eq!(
            s.paused_reason.as_deref(),
            Some("marketing paused: bounce rate 5.00 % and complaint rate 0.10 % over 7 days")
        );
        // Under both lines.
        let f = fig(10_000, 399, 7);
        assert_eq!(evaluate(&settings(), None, &f, at(NOW)), Change::Keep);
    }

    #[test]
    fn under_min_volume_nothing_pauses() {
        // 99 emails, 50 % bounced: too few to judge.
        let f = fig(99, 50, 5);
        assert!(over_lines(&settings(), &f).is_empty());
        assert_eq!(evaluate(&settings(), None, &f, at(NOW)), Change::Keep);
        assert!(matches!(
            evaluate(&settings(), None, &fig(100, 50, 5), at(NOW)),
            Change::Pause(_)
        ));
    }

    #[test]
    fn resumes_only_below_the_lower_line_hysteresis() {
        let s = paused(fig(1000, 0, 2)); // 0.2 %
        let still = |f: Figures| evaluate(&settings(), Some(&s), &f, at(NOW));
        // Below the line (0.08 %) but not below 75 % of it (0.06 %): still paused.
        assert_eq!(still(fig(10_000, 0, 7)), Change::Keep);
        // Bounces fine, complaints at 0.061 %: still paused.
        assert_eq!(still(fig(100_000, 0, 61)), Change::Keep);
        // Both below their resume lines.
        let Change::Resume(r) = still(fig(10_000, 299, 5)) else {
            panic!("expected a resume")
        };
        assert_eq!(r.paused_at, None);
        assert_eq!(r.figures, fig(10_000, 299, 5));
        assert_eq!(r.changed_at.as_deref(), Some("2026-12-02T10:00:00.000Z"));
        // Bounces still high: paused.
        assert_eq!(still(fig(10_000, 301, 0)), Change::Keep);
    }

    #[test]
    fn a_pause_under_min_volume_holds_until_the_window_is_clean() {
        let s = paused(fig(1000, 0, 2));
        let now = at(NOW);
        // Marketing paused: only 40 sends in the window, one complaint left in it.
        assert_eq!(
            evaluate(&settings(), Some(&s), &fig(40, 0, 1), now),
            Change::Keep
        );
        assert!(matches!(
            evaluate(&settings(), Some(&s), &fig(40, 0, 0), now),
            Change::Resume(_)
        ));
    }

    #[test]
    fn an_operator_resume_holds_until_new_bad_events_or_the_window_passes() {
        let f = fig(1000, 0, 2);
        let now = at(NOW);
        let r = operator_resume(&f, now);
        assert_eq!(r.paused_at, None);
        let op = r.operator_resume.clone().unwrap();
        assert_eq!(op.until, "2026-12-09T10:00:00.000Z");
        let later = now + Duration::hours(3);
        // Same complaints (more sends even): the resume holds.
        assert_eq!(
            evaluate(&settings(), Some(&r), &fig(1200, 0, 2), later),
            Change::Keep
        );
        // A new complaint while over the line: paused again, the resume forgotten.
        let Change::Pause(p) = evaluate(&settings(), Some(&r), &fig(1200, 0, 3), later) else {
            panic!("expected a pause")
        };
        assert_eq!(p.operator_resume, None);
        // The window has passed: forgotten, and the usual rule applies again.
        let expired = now + Duration::days(7);
        assert!(matches!(
            evaluate(&settings(), Some(&r), &fig(5000, 0, 0), expired),
            Change::Forget(ref s) if s.operator_resume.is_none() && s.paused_at.is_none()
        ));
        assert!(matches!(
            evaluate(&settings(), Some(&r), &fig(1000, 0, 2), expired),
            Change::Pause(_)
        ));
        // Rates fine again before then: forgotten too.
        assert!(matches!(
            evaluate(&settings(), Some(&r), &fig(10_000, 0, 2), later),
            Change::Forget(_)
        ));
    }

    #[test]
    fn the_brake_defers_marketing_only() {
        let now = at(NOW);
        let reason = "marketing paused: complaint rate 0.12 % over 7 days";
        for p in Playbook::ALL {
            let b = brake(p, Some(reason), now);
            if p.is_marketing() {
                assert_eq!(
                    b,
                    Some((now + Duration::minutes(60), reason.to_owned())),
                    "{p:?}"
                );
            } else {
                assert_eq!(b, None, "{p:?}");
            }
            assert_eq!(brake(p, None, now), None);
        }
    }

    #[test]
    fn the_notices_carry_the_figures_and_what_is_paused() {
        let cfg = crate::config::Config::parse(
            "[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"a.myshopify.com\"\nname = \"Acme\"\nsender_email = \"s@a.example\"\n",
            "t",
        )
        .unwrap();
        let s = paused(fig(2500, 10, 3));
        let (subject, text) = notice_text(&cfg.shops[0], &settings(), &s);
        assert_eq!(subject, "Aftercart paused marketing emails for Acme");
        for part in [
            "2500 emails",
            "bounce rate 0.40 %",
            "complaint rate 0.12 %",
            "last 7 days",
            "replenishment reminders and loyalty rewards",
            "thank-you",
            "--shop a.myshopify.com --resume",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
        let (subject, text) = notice_text(
            &cfg.shops[0],
            &settings(),
            &operator_resume(&s.figures, at(NOW)),
        );
        assert_eq!(subject, "Aftercart resumed marketing emails for Acme");
        assert!(text.contains("An operator resumed them"), "{text}");
    }
}

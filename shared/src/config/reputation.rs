//! `[reputation]`: the marketing brake on a shop's bounce and complaint rates (see
//! `domain::reputation` and `docs/deliverability.md`).

use super::ConfigError;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReputationSettings {
    /// The rolling window the rates are computed over, in UTC days (today included).
    #[serde(default = "default_window_days")]
    pub window_days: u32,
    /// Fewer emails sent in the window than this: too few to judge a rate on, so no
    /// pause starts.
    #[serde(default = "default_min_sends")]
    pub min_sends: u64,
    /// A permanent-bounce rate at or over this pauses marketing (SES reviews an
    /// account at 5 % and pauses it at 10 %).
    #[serde(default = "default_bounce_warn")]
    pub bounce_warn: f64,
    /// A complaint rate at or over this pauses marketing (SES reviews at 0.1 % and
    /// pauses at 0.5 %; Gmail refuses bulk senders at a 0.3 % spam rate).
    #[serde(default = "default_complaint_warn")]
    pub complaint_warn: f64,
    /// Marketing resumes once both rates are below this share of their lines
    /// (hysteresis, so a shop near a line does not flap between paused and running).
    #[serde(default = "default_resume_ratio")]
    pub resume_ratio: f64,
}

fn default_window_days() -> u32 {
    7
}
fn default_min_sends() -> u64 {
    100
}
fn default_bounce_warn() -> f64 {
    0.04
}
fn default_complaint_warn() -> f64 {
    0.0008
}
fn default_resume_ratio() -> f64 {
    0.75
}

impl Default for ReputationSettings {
    fn default() -> Self {
        ReputationSettings {
            window_days: default_window_days(),
            min_sends: default_min_sends(),
            bounce_warn: default_bounce_warn(),
            complaint_warn: default_complaint_warn(),
            resume_ratio: default_resume_ratio(),
        }
    }
}

/// Longest window: the day items are kept 40 days (`model::reputation::RETENTION_DAYS`).
pub const MAX_WINDOW_DAYS: u32 = 30;

impl ReputationSettings {
    /// Every field in range, each error naming the field and the fix.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &str, problem: &str, fix: &str| ConfigError::Invalid {
            field: format!("reputation.{field}"),
            problem: problem.to_owned(),
            fix: fix.to_owned(),
        };
        if !(1..=MAX_WINDOW_DAYS).contains(&self.window_days) {
            return Err(invalid(
                "window_days",
                &format!("must be between 1 and {MAX_WINDOW_DAYS} days"),
                "remove it to use 7 days",
            ));
        }
        if self.min_sends == 0 {
            return Err(invalid(
                "min_sends",
                "must be at least 1 (a rate over no email means nothing)",
                "remove it to use 100",
            ));
        }
        // `!(x > 0 && x < 1)` also refuses NaN.
        if !(self.bounce_warn > 0.0 && self.bounce_warn < 0.10) {
            return Err(invalid(
                "bounce_warn",
                "must be a fraction above 0 and below 0.10 (SES pauses an account at a 10 % bounce rate)",
                "write 4 % as 0.04, or remove it to use 0.04",
            ));
        }
        if !(self.complaint_warn > 0.0 && self.complaint_warn < 0.005) {
            return Err(invalid(
                "complaint_warn",
                "must be a fraction above 0 and below 0.005 (SES pauses an account at a 0.5 % complaint rate)",
                "write 0.08 % as 0.0008, or remove it to use 0.0008",
            ));
        }
        if !(self.resume_ratio > 0.0 && self.resume_ratio <= 1.0) {
            return Err(invalid(
                "resume_ratio",
                "must be above 0 and at most 1 (a share of the warning lines)",
                "remove it to resume below 75 % of each line",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const SHOP: &str =
        "[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"a.myshopify.com\"\nsender_email = \"hello@a.example\"\n";

    fn parse(section: &str) -> Result<Config, crate::config::ConfigError> {
        Config::parse(&format!("[reputation]\n{section}\n{SHOP}"), "test")
    }

    #[test]
    fn defaults_and_overrides() {
        let c = Config::parse(SHOP, "test").unwrap();
        let r = &c.reputation;
        assert_eq!((r.window_days, r.min_sends), (7, 100));
        assert_eq!((r.bounce_warn, r.complaint_warn), (0.04, 0.0008));
        assert_eq!(r.resume_ratio, 0.75);
        let c = parse("window_days = 14\nmin_sends = 500\ncomplaint_warn = 0.001").unwrap();
        assert_eq!(c.reputation.window_days, 14);
        assert_eq!(c.reputation.min_sends, 500);
        assert_eq!(c.reputation.complaint_warn, 0.001);
    }

    #[test]
    fn out_of_range_values_name_the_field() {
        for (line, field) in [
            ("window_days = 0", "reputation.window_days"),
            ("window_days = 31", "reputation.window_days"),
            ("min_sends = 0", "reputation.min_sends"),
            ("bounce_warn = 4.0", "reputation.bounce_warn"),
            ("bounce_warn = 0.0", "reputation.bounce_warn"),
            ("bounce_warn = 0.1", "reputation.bounce_warn"),
            ("complaint_warn = 0.08", "reputation.complaint_warn"),
            ("complaint_warn = -0.001", "reputation.complaint_warn"),
            ("complaint_warn = nan", "reputation.complaint_warn"),
            ("resume_ratio = 0.0", "reputation.resume_ratio"),
            ("resume_ratio = 1.5", "reputation.resume_ratio"),
        ] {
            let e = parse(line).expect_err(line).to_string();
            assert!(e.contains(field), "{line}: {e}");
        }
        let e = parse("window = 7").unwrap_err().to_string();
        assert!(e.contains("window"), "{e}");
    }
}

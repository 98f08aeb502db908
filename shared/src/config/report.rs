//! `[shop.report]`: the merchant's weekly digest and report links (see
//! `docs/report.md`).

use super::ConfigError;
use chrono::Weekday;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    /// Send the weekly digest to `alert_email` (else `support_email`).
    #[serde(default = "default_digest")]
    pub digest: bool,
    /// The day it goes out, in the shop's `time_zone` (`monday` … `sunday`).
    #[serde(default = "default_digest_day")]
    pub digest_day: String,
    /// The hour it goes out (0–23), in the shop's `time_zone`.
    #[serde(default = "default_digest_hour")]
    pub digest_hour: u32,
    /// Days a report link stays valid (the digest's, and `aftercart report-link`'s
    /// default).
    #[serde(default = "default_link_days")]
    pub link_days: u32,
}

fn default_digest() -> bool {
    true
}
fn default_digest_day() -> String {
    "monday".into()
}
fn default_digest_hour() -> u32 {
    9
}
fn default_link_days() -> u32 {
    14
}

impl Default for ReportSettings {
    fn default() -> Self {
        ReportSettings {
            digest: default_digest(),
            digest_day: default_digest_day(),
            digest_hour: default_digest_hour(),
            link_days: default_link_days(),
        }
    }
}

/// Longest a report link may be valid.
pub const MAX_LINK_DAYS: u32 = 90;

impl ReportSettings {
    /// The digest's weekday (validated at load; Monday if not).
    pub fn weekday(&self) -> Weekday {
        self.digest_day.parse().unwrap_or(Weekday::Mon)
    }

    /// Every field in range, each error naming the field and the fix.
    pub fn validate(&self, shop: usize) -> Result<(), ConfigError> {
        let invalid = |field: &str, problem: &str, fix: &str| ConfigError::Invalid {
            field: format!("shop[{shop}].report.{field}"),
            problem: problem.to_owned(),
            fix: fix.to_owned(),
        };
        if self.digest_day.parse::<Weekday>().is_err() {
            return Err(invalid(
                "digest_day",
                &format!("{:?} is not a day of the week", self.digest_day),
                "use monday, tuesday, … or sunday",
            ));
        }
        if self.digest_hour > 23 {
            return Err(invalid(
                "digest_hour",
                "must be an hour from 0 to 23",
                "remove it to send at 9",
            ));
        }
        if !(1..=MAX_LINK_DAYS).contains(&self.link_days) {
            return Err(invalid(
                "link_days",
                &format!("must be between 1 and {MAX_LINK_DAYS} days"),
                "remove it to use 14 days",
            ));
        }
        Ok(())
    }
}

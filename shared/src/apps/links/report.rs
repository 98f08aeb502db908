//! `GET /report?t={token}[&days=N][&to=YYYY-MM-DD][&order=#1001][&format=csv|json]`: the merchant's
//! report page. The token's purpose is `report` and its shop is the only shop shown: a
//! customer's token (any other purpose), another key's, an expired one or none is
//! refused with the friendly page before anything is read.

use super::{pages, LinksApp, Refusal, Served};
use crate::config::ShopConfig;
use crate::email::report::{render_csv, render_page, PageOptions};
use crate::ports::links::LinkStore;
use crate::ports::mail::Mailer;
use crate::ports::report::ReportStore;
use chrono::Datelike;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};

/// Periods the page offers (days); others are refused as a bad request.
pub(super) const PERIODS: [u32; 4] = [7, 30, 90, 365];

impl<S: LinkStore + ReportStore, M: Mailer> LinksApp<S, M> {
    pub(super) async fn report(
        &self,
        shop: &ShopConfig,
        token: &str,
        req: &Request,
        served: &mut Served,
    ) -> Result<Response<Body>, Refusal> {
        let params = req.query_string_parameters_ref();
        let param = |name: &str| params.and_then(|q| q.first(name)).map(str::trim);
        let days = match param("days") {
            None | Some("") => 30,
            Some(d) => d
                .parse::<u32>()
                .ok()
                .filter(|d| PERIODS.contains(d))
                .ok_or(Refusal::BadForm)?,
        };
        let now = self.clock.now();
        // The period's last day: today unless `to` names another (up to a year on).
        let to = match param("to") {
            None | Some("") => now.date_naive(),
            Some(d) => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .ok()
                .filter(|d| (2000..=now.year() + 1).contains(&d.year()))
                .ok_or(Refusal::BadForm)?,
        };
        let format = param("format");
        // The page lists 200 comments; its exports as many as the CLI's.
        let listed = match format {
            Some("csv" | "json") => crate::model::report::Report::MAX_COMMENTS,
            _ => crate::model::report::Report::PAGE_COMMENTS,
        };
        let report =
            crate::apps::report::compute_listing(&self.store, shop, to, days, now, listed).await?;
        served.outcome = "report";
        match format {
            Some("csv") => {
                return Ok(pages::with_headers(
                    StatusCode::OK,
                    "text/csv; charset=utf-8",
                    render_csv(&report),
                ))
            }
            Some("json") => {
                let json = serde_json::to_string_pretty(&report).unwrap_or_default();
                return Ok(pages::with_headers(
                    StatusCode::OK,
                    "application/json",
                    json,
                ));
            }
            _ => {}
        }
        let query = param("order").filter(|q| !q.is_empty());
        let lookup = match query {
            Some(q) => crate::apps::report::lookup(&self.store, &shop.domain, q).await?,
            None => None,
        };
        let self_url = format!("{}?t={token}", req.uri().path());
        let missing: Option<String> = query
            .filter(|_| lookup.is_none())
            .map(|q| q.chars().take(64).collect());
        let options = PageOptions {
            self_url: Some(&self_url),
            token: Some(token),
            lookup: lookup.as_ref(),
            lookup_missing: missing.as_deref(),
        };
        match render_page(&report, &options) {
            Ok(html) => Ok(pages::with_headers(
                StatusCode::OK,
                "text/html; charset=utf-8",
                html,
            )),
            Err(e) => {
                tracing::error!(error = %e, "report page failed to render");
                Err(Refusal::Render)
            }
        }
    }
}

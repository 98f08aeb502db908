//! The merchant's report ([`Report`]) rendered three ways: a self-contained HTML page
//! ([`render_page`]), a CSV export ([`render_csv`]) and a digest email
//! ([`render_digest`]).
//!
//! The figures are turned into a view here (numbers formatted, chart geometry computed)
//! and drawn by the minijinja templates in `report_templates/`, compiled into the binary.
//! The templates run in the email [`environment`](super::environment): `.html` templates
//! auto-escape every value, undefined variables are errors, so every merchant- or
//! customer-supplied string (shop, comments, product titles, failure reasons) is escaped
//! where it is written.
//!
//! Rates in the [`Report`] are shares (`0.42`) and are shown as percentages
//! (`42.0 %`), `–` when there is none. The page has no script, font, image or
//! stylesheet link: one inline `<style>` and inline SVG charts (no `xmlns`, so the only
//! URLs in it are the report's own and the orders' admin links).

use crate::model::report::{
    CommentRow, Figures, Lookup, LookupRow, Money, NotSentReason, Period, ProductRow, Report,
};
use chrono::{DateTime, NaiveDate};
use minijinja::{context, Environment, Value};
use rust_decimal::Decimal;
use serde::Serialize;
use std::str::FromStr;

mod timing;

#[cfg(test)]
pub(crate) mod tests;

/// What the page needs besides the report.
#[derive(Debug, Clone, Copy, Default)]
pub struct PageOptions<'a> {
    /// Base URL of the report page with its token, e.g.
    /// "https://x.lambda-url.../report?t=TOKEN"; the lookup form and period links build
    /// on it. None when rendering a file (CLI export): then no form.
    pub self_url: Option<&'a str>,
    /// The token value, to put in a hidden input of the lookup form (GET form, fields
    /// `t` and `order`).
    pub token: Option<&'a str>,
    /// A follow-up lookup result to show (or None).
    pub lookup: Option<&'a Lookup>,
    /// The order the merchant searched for but which was not found.
    pub lookup_missing: Option<&'a str>,
}

/// The digest email's parts: one-line subject, text and HTML with CRLF line endings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportRenderError {
    #[error("report template: {0}")]
    Template(String),
}

/// Every template of the report, by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("charts.html", include_str!("report_templates/charts.html")),
    ("page.html", include_str!("report_templates/page.html")),
    ("digest.html", include_str!("report_templates/digest.html")),
    ("digest.txt", include_str!("report_templates/digest.txt")),
];

/// Period lengths offered as links on the page (`days` query parameter).
const PERIOD_CHOICES: [u32; 3] = [7, 30, 90];

/// The funnel's stages, in order.
const STAGES: [(&str, &str); 6] = [
    ("planned", "Planned"),
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("opened", "Opened"),
    ("clicked", "Clicked"),
    ("ordered", "Ordered"),
];

/// Renders the report page: one HTML document with an inline style and SVG charts.
pub fn render_page(report: &Report, opts: &PageOptions<'_>) -> Result<String, ReportRenderError> {
    let view = context! {
        head => header_view(report, opts.self_url),
        tiles => headline_tiles(report, "\n"),
        funnel => funnel_view(report),
        money => money_view(report),
        holdout => holdout_rows(report),
        voice => voice_view(report),
        timing => timing::view(report),
        deliv => deliverability_view(report),
        lookup => lookup_view(opts),
    };
    render("page.html", view)
}

/// The digest email for the shop's merchant (English), linking to `report_url`.
pub fn render_digest(report: &Report, report_url: &str) -> Result<Digest, ReportRenderError> {
    let url = super::check_url(report_url)
        .map_err(|reason| ReportRenderError::Template(format!("report_url {reason}")))?;
    let subject = super::clean_line(&digest_subject(report));
    let t = &report.total;
    let voice = &report.voice;
    let mut rows = headline_tiles(report, " · ");
    rows.push(tile(
        "Responses",
        int(voice.responses),
        int(voice.responses_previous),
        count_change(voice.responses, voice.responses_previous, true),
    ));
    let view = context! {
        subject => subject.as_str(),
        shop => report.shop.as_str(),
        period => period_text(&report.period, &report.previous_period),
        rows,
        funnel => funnel_chart(t),
        nothing_sent => t.sent == 0,
        comments => lowest_comments(&report.comments, 5),
        deliverability => digest_deliverability(report),
        holdout => holdout_rows(report),
        warned => !report.deliverability.warnings.is_empty(),
        url,
    };
    let text = super::tidy_text(&render("digest.txt", view.clone())?);
    let html = super::crlf(render("digest.html", view)?.trim_end());
    Ok(Digest {
        subject,
        text,
        html,
    })
}

fn render(name: &str, ctx: Value) -> Result<String, ReportRenderError> {
    let mut env: Environment<'static> = super::environment();
    for (template, source) in TEMPLATES {
        env.add_template(template, source).map_err(template_error)?;
    }
    env.get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(template_error)
}

fn template_error(err: minijinja::Error) -> ReportRenderError {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    ReportRenderError::Template(text)
}

// ---------------------------------------------------------------------------------------
// Page sections

#[derive(Serialize)]
struct Header {
    shop: String,
    period: String,
    generated: String,
    periods: Vec<PeriodLink>,
}

#[derive(Serialize)]
struct PeriodLink {
    days: u32,
    url: String,
    current: bool,
}

fn header_view(report: &Report, self_url: Option<&str>) -> Header {
    let periods = self_url
        .map(|base| {
            let sep = if base.contains('?') { '&' } else { '?' };
            PERIOD_CHOICES
                .iter()
                .map(|&days| PeriodLink {
                    days,
                    url: format!("{base}{sep}days={days}"),
                    current: days == report.period.days,
                })
                .collect()
        })
        .unwrap_or_default();
    Header {
        shop: report.shop.clone(),
        period: period_text(&report.period, &report.previous_period),
        generated: time_text(&report.generated_at),
        periods,
    }
}

/// A headline number with its change against the previous period.
#[derive(Serialize)]
struct Tile {
    label: &'static str,
    value: String,
    previous: String,
    change: Change,
    /// Set for a long value (several currencies), shown smaller.
    long: bool,
}

fn tile(label: &'static str, value: String, previous: String, change: Change) -> Tile {
    Tile {
        label,
        previous,
        long: value.len() > 12,
        value,
        change,
    }
}

fn rate_tile(label: &'static str, cur: Option<f64>, prev: Option<f64>, better: bool) -> Tile {
    tile(
        label,
        pct(cur, 1),
        pct(prev, 1),
        points_change(cur, prev, better),
    )
}

/// The headline numbers; `money_sep` separates the net revenue of each currency.
fn headline_tiles(report: &Report, money_sep: &str) -> Vec<Tile> {
    let (t, p) = (&report.total, &report.total_previous);
    let v = &report.voice;
    vec![
        tile(
            "Sent",
            int(t.sent),
            int(p.sent),
            count_change(t.sent, p.sent, true),
        ),
        rate_tile("Open rate", t.rates.opened, p.rates.opened, true),
        rate_tile("Click rate", t.rates.clicked, p.rates.clicked, true),
        tile(
            "Orders credited",
            int(t.ordered),
            int(p.ordered),
            count_change(t.ordered, p.ordered, true),
        ),
        tile(
            "Net revenue",
            money_text(&t.money, money_sep),
            money_text(&p.money, " · "),
            money_change(&t.money, &p.money),
        ),
        rate_tile("CSAT", v.csat, v.csat_previous, true),
    ]
}

#[derive(Serialize)]
struct Cell {
    figure: String,
    count: u64,
    rate: String,
}

#[derive(Serialize)]
struct FunnelRow {
    label: String,
    marketing: bool,
    cells: Vec<Cell>,
}

#[derive(Serialize)]
struct NotSentRow {
    label: String,
    total: u64,
    per_playbook: Vec<u64>,
}

fn stage_counts(f: &Figures) -> [u64; 6] {
    [
        f.planned,
        f.sent,
        f.delivered,
        f.opened,
        f.clicked,
        f.ordered,
    ]
}

/// Shares of sent for each stage (none for planned and sent itself).
fn stage_rates(f: &Figures) -> [Option<f64>; 6] {
    let r = &f.rates;
    [None, None, r.delivered, r.opened, r.clicked, r.ordered]
}

fn funnel_row(prefix: &str, label: &str, marketing: bool, f: &Figures) -> FunnelRow {
    let rates = stage_rates(f);
    let cells = STAGES
        .iter()
        .zip(stage_counts(f))
        .zip(rates)
        .map(|(((stage, _), count), rate)| Cell {
            figure: format!("{prefix}.{stage}"),
            count,
            rate: rate.map(|r| pct(Some(r), 1)).unwrap_or_default(),
        })
        .collect();
    FunnelRow {
        label: label.to_owned(),
        marketing,
        cells,
    }
}

fn funnel_chart(f: &Figures) -> BarChart {
    let items = STAGES
        .iter()
        .zip(stage_counts(f))
        .zip(stage_rates(f))
        .map(|(((_, label), count), rate)| BarItem {
            label: (*label).to_owned(),
            amount: count as f64,
            value: int(count),
            figure: None,
            note: rate.map(|r| pct(Some(r), 1)).unwrap_or_default(),
        })
        .collect();
    bar_chart("Funnel of all playbooks", items)
}

fn funnel_view(report: &Report) -> Value {
    let t = &report.total;
    let rows: Vec<FunnelRow> = report
        .playbooks
        .iter()
        .map(|p| {
            let prefix = format!("playbook.{}", p.playbook);
            funnel_row(&prefix, &p.label, p.marketing, &p.current)
        })
        .collect();
    let not_sent = not_sent_rows(report);
    context! {
        empty => t.planned == 0 && t.sent == 0,
        chart => funnel_chart(t),
        stages => STAGES.iter().map(|(_, label)| *label).collect::<Vec<_>>(),
        rows,
        total => funnel_row("total", "All playbooks", false, t),
        playbooks => report.playbooks.iter().map(|p| p.label.as_str()).collect::<Vec<_>>(),
        not_sent,
        failed_reasons => t.failed_reasons.clone(),
    }
}

fn not_sent_rows(report: &Report) -> Vec<NotSentRow> {
    let row = |label: &str, pick: &dyn Fn(&Figures) -> u64| NotSentRow {
        label: label.to_owned(),
        total: pick(&report.total),
        per_playbook: report.playbooks.iter().map(|p| pick(&p.current)).collect(),
    };
    let mut rows: Vec<NotSentRow> = NotSentReason::ALL
        .iter()
        .map(|reason| {
            row(reason.label(), &|f: &Figures| {
                f.not_sent.get(reason.as_str()).copied().unwrap_or(0)
            })
        })
        .collect();
    rows.push(row("Held by the frequency cap", &|f: &Figures| {
        f.held_by_cap
    }));
    rows.push(row("…of which sent after the cap", &|f: &Figures| {
        f.sent_after_cap
    }));
    rows.push(row("Failed", &|f: &Figures| f.failed));
    rows.retain(|r| r.total > 0 || r.per_playbook.iter().any(|&n| n > 0));
    rows
}

#[derive(Serialize)]
struct MoneyRow {
    label: String,
    total: bool,
    /// `data-figure` name for the net (total rows only).
    figure: Option<String>,
    currency: String,
    orders: u64,
    revenue: String,
    refunded: String,
    net: String,
    net_exact: String,
    per_recipient: String,
    codes_issued: u64,
    codes_redeemed: u64,
    redemption: String,
}

fn money_rows(label: &str, total: bool, f: &Figures) -> Vec<MoneyRow> {
    let row = |m: Option<&Money>| MoneyRow {
        label: label.to_owned(),
        total,
        figure: m
            .filter(|_| total)
            .map(|m| format!("money.{}.net", m.currency)),
        currency: m.map(|m| m.currency.clone()).unwrap_or_else(|| "–".into()),
        orders: f.ordered,
        revenue: m.map(|m| amount(&m.revenue)).unwrap_or_else(|| "–".into()),
        refunded: m.map(|m| amount(&m.refunded)).unwrap_or_else(|| "–".into()),
        net: m.map(|m| amount(&m.net)).unwrap_or_else(|| "–".into()),
        net_exact: m.map(|m| m.net.clone()).unwrap_or_default(),
        per_recipient: m
            .and_then(|m| m.per_recipient.as_deref())
            .map(amount)
            .unwrap_or_else(|| "–".into()),
        codes_issued: f.codes_issued,
        codes_redeemed: f.codes_redeemed,
        redemption: pct(f.rates.redemption, 1),
    };
    if f.money.is_empty() {
        vec![row(None)]
    } else {
        f.money.iter().map(|m| row(Some(m))).collect()
    }
}

fn money_view(report: &Report) -> Value {
    let rows: Vec<MoneyRow> = report
        .playbooks
        .iter()
        .flat_map(|p| money_rows(&p.label, false, &p.current))
        .collect();
    context! {
        rows,
        total => money_rows("All playbooks", true, &report.total),
        rule => report.attribution_rule.as_str(),
        window => report.attribution_window_days,
        empty => report.total.ordered == 0
            && report.total.money.is_empty()
            && report.total.codes_issued == 0,
    }
}

/// One playbook's holdout comparison as the page and the digest show it.
#[derive(Serialize)]
struct HoldoutView {
    label: String,
    percent: String,
    sent: String,
    sent_ordered: String,
    sent_rate: String,
    held_out: String,
    held_out_ordered: String,
    held_out_rate: String,
    /// "+20.0 points (95 % interval +5.2 to +33.4)", or "–".
    difference: String,
    conclusive: bool,
    verdict: String,
}

/// A difference of two shares in percentage points, signed.
fn points(d: f64) -> String {
    format!("{:+.1}", d * 100.0)
}

/// The playbooks with a holdout comparison (`model::report::Holdout`).
fn holdout_rows(report: &Report) -> Vec<HoldoutView> {
    report
        .playbooks
        .iter()
        .filter_map(|p| {
            let h = p.holdout.as_ref()?;
            let difference = match (h.difference, h.difference_low, h.difference_high) {
                (Some(d), Some(l), Some(u)) => format!(
                    "{} points (95 % interval {} to {})",
                    points(d),
                    points(l),
                    points(u)
                ),
                _ => "–".into(),
            };
            Some(HoldoutView {
                label: p.label.clone(),
                percent: format!("{} %", h.percent),
                sent: int(h.sent),
                sent_ordered: int(h.sent_ordered),
                sent_rate: pct(h.sent_rate, 1),
                held_out: int(h.held_out),
                held_out_ordered: int(h.held_out_ordered),
                held_out_rate: pct(h.held_out_rate, 1),
                difference,
                conclusive: h.conclusive,
                verdict: h.verdict.clone(),
            })
        })
        .collect()
}

#[derive(Serialize)]
struct CommentView {
    date: String,
    score: String,
    low: bool,
    comment: String,
    order: String,
    /// Only `https://` links are linked.
    admin_url: Option<String>,
}

fn comment_view(c: &CommentRow) -> CommentView {
    let score = match (c.score, &c.reason) {
        (Some(s), _) => format!("★ {s}/5"),
        (None, Some(reason)) => reason.clone(),
        (None, None) => "–".into(),
    };
    CommentView {
        date: day_text(c.at.get(..10).unwrap_or(&c.at)),
        score,
        low: c.score.is_some_and(|s| s <= 2),
        comment: c.comment.clone(),
        order: order_label(c.order_name.as_deref(), c.order_id),
        admin_url: admin_link(&c.admin_url),
    }
}

#[derive(Serialize)]
struct ProductView {
    title: String,
    ratings: u64,
    average: String,
    returns: u64,
    reasons: String,
}

fn product_view(p: &ProductRow) -> ProductView {
    let reasons: Vec<String> = p
        .reasons
        .iter()
        .take(3)
        .map(|r| format!("{} ({})", r.label, r.count))
        .collect();
    ProductView {
        title: p
            .title
            .clone()
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| format!("Product {}", p.product_id)),
        ratings: p.ratings,
        average: average_text(p.average),
        returns: p.returns,
        reasons: if reasons.is_empty() {
            "–".into()
        } else {
            reasons.join(", ")
        },
    }
}

fn score_chart(scores: &[u64; 5]) -> BarChart {
    let total: u64 = scores.iter().sum();
    let items = (1..=5usize)
        .rev()
        .map(|n| {
            let count = scores[n - 1];
            BarItem {
                label: format!("★ {n}"),
                amount: count as f64,
                value: count.to_string(),
                figure: Some(format!("voice.score_{n}")),
                note: share(count, total)
                    .map(|s| pct(Some(s), 0))
                    .unwrap_or_default(),
            }
        })
        .collect();
    bar_chart("Scores, 5 to 1", items)
}

fn voice_view(report: &Report) -> Value {
    let v = &report.voice;
    let week_labels: Vec<String> = v.weeks.iter().map(|w| short_day(&w.week)).collect();
    let week_values: Vec<Option<f64>> = v.weeks.iter().map(|w| w.csat).collect();
    let reasons = report
        .return_reasons
        .iter()
        .map(|r| BarItem {
            label: r.label.clone(),
            amount: r.count as f64,
            value: int(r.count),
            figure: None,
            note: String::new(),
        })
        .collect();
    context! {
        responses => v.responses,
        asked => int(v.asked),
        response_rate => pct(v.response_rate, 1),
        csat => pct(v.csat, 1),
        csat_change => points_change(v.csat, v.csat_previous, true),
        average => average_text(v.average),
        scores => score_chart(&v.scores),
        weeks => line_chart("CSAT by week", &week_labels, &week_values, &[], Some(1.0)),
        comments => report.comments.iter().map(comment_view).collect::<Vec<_>>(),
        comments_total => report.comments_total,
        truncated => report.comments_total > report.comments.len() as u64,
        recoveries_sent => v.recoveries_sent,
        recoveries_ordered => v.recoveries_ordered,
        reasons => (!report.return_reasons.is_empty())
            .then(|| bar_chart("Return reasons", reasons)),
        products => report.products.iter().map(product_view).collect::<Vec<_>>(),
        products_since => &report.products_since,
    }
}

fn deliverability_view(report: &Report) -> Value {
    let d = &report.deliverability;
    let labels: Vec<String> = d.days.iter().map(|day| short_day(&day.day)).collect();
    let bounce: Vec<Option<f64>> = d.days.iter().map(|x| share(x.bounced, x.sent)).collect();
    let complaint: Vec<Option<f64>> = d.days.iter().map(|x| share(x.complained, x.sent)).collect();
    let bounce_refs = [(
        format!("SES review {}", pct(Some(d.ses_bounce_line), 0)),
        d.ses_bounce_line,
    )];
    let complaint_refs = [
        (
            format!("SES review {}", pct(Some(d.ses_complaint_line), 1)),
            d.ses_complaint_line,
        ),
        (
            format!("Gmail spam {}", pct(Some(d.gmail_spam_line), 1)),
            d.gmail_spam_line,
        ),
    ];
    context! {
        sent => int(d.sent),
        bounced => d.bounced,
        complained => d.complained,
        bounce_rate => pct(d.bounce_rate, 1),
        complaint_rate => pct(d.complaint_rate, 2),
        unsubscribed => d.unsubscribed,
        suppressions => int(d.suppressions_added),
        bounce_line => pct(Some(d.ses_bounce_line), 0),
        complaint_line => pct(Some(d.ses_complaint_line), 1),
        gmail_line => pct(Some(d.gmail_spam_line), 1),
        bounce_chart => line_chart("Bounce rate per day", &labels, &bounce, &bounce_refs, None),
        // A scale where both lines show; a day above it is a red dot at the top.
        complaint_chart => line_chart(
            "Complaint rate per day",
            &labels,
            &complaint,
            &complaint_refs,
            Some(nice_ceil(d.gmail_spam_line.max(d.ses_complaint_line) * 1.6)),
        ),
        warnings => d.warnings.clone(),
    }
}

#[derive(Serialize)]
struct LookupRowView {
    playbook: String,
    product: String,
    status: String,
    due: String,
    sent: String,
    reason: String,
    events: Vec<String>,
    feedback: String,
}

fn lookup_row(r: &LookupRow) -> LookupRowView {
    let score = r.score.map(|s| format!("★ {s}/5"));
    let feedback = match (score, r.comment.as_deref().filter(|c| !c.trim().is_empty())) {
        (Some(s), Some(c)) => format!("{s} · {c}"),
        (Some(s), None) => s,
        (None, Some(c)) => c.to_owned(),
        (None, None) => "–".into(),
    };
    LookupRowView {
        playbook: r.playbook.clone(),
        product: r
            .product_id
            .map(|p| p.to_string())
            .unwrap_or_else(|| "–".into()),
        status: r.status.clone(),
        due: time_text(&r.due_at),
        sent: r
            .sent_at
            .as_deref()
            .map(time_text)
            .unwrap_or_else(|| "–".into()),
        reason: r.reason.clone().unwrap_or_else(|| "–".into()),
        events: r
            .events
            .iter()
            .map(|(what, at)| format!("{what} {}", time_text(at)))
            .collect(),
        feedback,
    }
}

fn lookup_view(opts: &PageOptions<'_>) -> Value {
    let result = opts.lookup.map(|l| {
        context! {
            order => order_label(l.order_name.as_deref(), l.order_id),
            admin_url => admin_link(&l.admin_url),
            rows => l.followups.iter().map(lookup_row).collect::<Vec<_>>(),
        }
    });
    context! {
        action => opts.self_url.map(|u| u.split(['?', '#']).next().unwrap_or(u)),
        token => opts.token.unwrap_or_default(),
        missing => opts.lookup_missing,
        result,
    }
}

// ---------------------------------------------------------------------------------------
// Digest

/// "Aftercart weekly: 120 sent, 38 % opened, 4.6★ — acme.myshopify.com".
fn digest_subject(report: &Report) -> String {
    let cadence = match report.period.days {
        1 => "daily".to_owned(),
        7 => "weekly".to_owned(),
        28..=31 => "monthly".to_owned(),
        n => format!("{n}-day report"),
    };
    let t = &report.total;
    let mut parts = vec![format!("{} sent", int(t.sent))];
    if t.rates.opened.is_some() {
        parts.push(format!("{} opened", pct(t.rates.opened, 0)));
    }
    if let Some(avg) = report.voice.average.filter(|a| a.is_finite()) {
        parts.push(format!("{avg:.1}★"));
    }
    format!(
        "Aftercart {cadence}: {} — {}",
        parts.join(", "),
        report.shop
    )
}

/// The `n` lowest-score rated comments (the report lists low scores first).
fn lowest_comments(comments: &[CommentRow], n: usize) -> Vec<CommentView> {
    let mut rated: Vec<&CommentRow> = comments.iter().filter(|c| c.score.is_some()).collect();
    rated.sort_by_key(|c| c.score);
    rated.into_iter().take(n).map(comment_view).collect()
}

fn digest_deliverability(report: &Report) -> Vec<String> {
    let d = &report.deliverability;
    if !d.warnings.is_empty() {
        return d.warnings.clone();
    }
    if d.sent == 0 {
        return vec!["Nothing sent in this period: no bounces or complaints.".into()];
    }
    vec![format!(
        "Bounce {}, complaints {}: within SES and Gmail limits.",
        pct(d.bounce_rate, 1),
        pct(d.complaint_rate, 2)
    )]
}

// ---------------------------------------------------------------------------------------
// CSV

const CSV_FIGURES: &str = "period,from,to,playbook,planned,sent,delivered,opened,clicked,\
ordered,failed,held_by_cap,sent_after_cap,not_sent_no_consent,not_sent_suppressed,\
not_sent_reorder,not_sent_order_cancelled,not_sent_refunded,not_sent_paused,\
not_sent_answered,not_sent_other,codes_issued,codes_redeemed,bounced,complained,\
unsubscribed,currency,revenue,refunded,net";

const CSV_COMMENTS: &str = "comment_at,playbook,score,reason,order_name,order_id,comment";

/// The report as CSV (RFC 4180, CRLF): the figures per period and playbook (one row per
/// currency when there are several), a blank line, the comments, a blank line, then the
/// replenishment timing per product (current, not the period's). Free text is
/// guarded against spreadsheet formulas.
pub fn render_csv(report: &Report) -> String {
    let mut out = String::new();
    out.push_str(CSV_FIGURES);
    out.push_str("\r\n");
    let periods = [
        ("current", &report.period, false),
        ("previous", &report.previous_period, true),
    ];
    for (name, period, previous) in periods {
        for p in &report.playbooks {
            let f = if previous { &p.previous } else { &p.current };
            csv_figures(&mut out, name, period, &p.playbook, f);
        }
        let total = if previous {
            &report.total_previous
        } else {
            &report.total
        };
        csv_figures(&mut out, name, period, "total", total);
    }
    out.push_str("\r\n");
    out.push_str(CSV_COMMENTS);
    out.push_str("\r\n");
    for c in &report.comments {
        let fields = [
            csv_field(&c.at),
            csv_field(&c.playbook),
            c.score.map(|s| s.to_string()).unwrap_or_default(),
            csv_text(c.reason.as_deref().unwrap_or_default()),
            csv_text(c.order_name.as_deref().unwrap_or_default()),
            c.order_id.to_string(),
            csv_text(&c.comment),
        ];
        csv_row(&mut out, &fields);
    }
    out.push_str("\r\n");
    timing::csv(&mut out, report);
    out
}

fn csv_figures(out: &mut String, name: &str, period: &Period, playbook: &str, f: &Figures) {
    let mut base: Vec<String> = vec![
        name.to_owned(),
        csv_field(&period.from),
        csv_field(&period.to),
        csv_field(playbook),
    ];
    let counts = [
        f.planned,
        f.sent,
        f.delivered,
        f.opened,
        f.clicked,
        f.ordered,
        f.failed,
        f.held_by_cap,
        f.sent_after_cap,
    ];
    base.extend(counts.iter().map(u64::to_string));
    base.extend(
        NotSentReason::ALL
            .iter()
            .map(|r| f.not_sent.get(r.as_str()).copied().unwrap_or(0).to_string()),
    );
    let tail = [
        f.codes_issued,
        f.codes_redeemed,
        f.bounced,
        f.complained,
        f.unsubscribed,
    ];
    base.extend(tail.iter().map(u64::to_string));
    if f.money.is_empty() {
        let mut row = base;
        row.extend(std::iter::repeat_n(String::new(), 4));
        csv_row(out, &row);
        return;
    }
    for m in &f.money {
        let mut row = base.clone();
        row.extend([&m.currency, &m.revenue, &m.refunded, &m.net].map(|s| csv_field(s)));
        csv_row(out, &row);
    }
}

fn csv_row(out: &mut String, fields: &[String]) {
    out.push_str(&fields.join(","));
    out.push_str("\r\n");
}

/// A field quoted when it holds a comma, quote, CR or LF (quotes doubled).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Free text: a leading `'` when a spreadsheet would read it as a formula, then quoted.
fn csv_text(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        csv_field(&format!("'{s}"))
    } else {
        csv_field(s)
    }
}

// ---------------------------------------------------------------------------------------
// Charts: one horizontal bar chart and one line chart, drawn by `charts.html` (SVG) and,
// for the digest, by nested tables.

/// Width of every chart's viewBox.
const CHART_W: f64 = 400.0;
/// Height of one bar's row: label line, then the bar.
const BAR_ROW: u32 = 30;

struct BarItem {
    label: String,
    /// What the bar's length is proportional to.
    amount: f64,
    /// Shown at the right of the label (the exact integer when `figure` is set).
    value: String,
    figure: Option<String>,
    /// Shown after the value, muted ("42.0 %").
    note: String,
}

#[derive(Serialize)]
struct Bar {
    label: String,
    value: String,
    figure: Option<String>,
    note: String,
    /// Top of the row in the SVG.
    y: u32,
    /// Bar length in viewBox units.
    width: String,
    /// Bar length in percent of the longest (the digest's table cells).
    pct: u32,
}

#[derive(Serialize)]
struct BarChart {
    title: String,
    width: f64,
    height: u32,
    bars: Vec<Bar>,
}

/// Bars scaled to the largest amount; all-zero amounts give empty tracks.
fn bar_chart(title: &str, items: Vec<BarItem>) -> BarChart {
    let max = items
        .iter()
        .map(|i| i.amount)
        .filter(|a| a.is_finite())
        .fold(0.0, f64::max);
    let height = BAR_ROW * items.len() as u32 + 2;
    let bars = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let share = if max > 0.0 && item.amount.is_finite() {
                (item.amount / max).clamp(0.0, 1.0)
            } else {
                0.0
            };
            Bar {
                label: item.label,
                value: item.value,
                figure: item.figure,
                note: item.note,
                y: BAR_ROW * i as u32,
                width: format!(
                    "{:.1}",
                    (share * CHART_W).max(if share > 0.0 { 4.0 } else { 0.0 })
                ),
                pct: (share * 100.0).round() as u32,
            }
        })
        .collect();
    BarChart {
        title: title.to_owned(),
        width: CHART_W,
        height,
        bars,
    }
}

/// Plot area of a line chart: left, right, top, bottom (viewBox `0 0 400 180`).
const PLOT: (f64, f64, f64, f64) = (54.0, 392.0, 14.0, 150.0);

#[derive(Serialize)]
struct Tick {
    pos: String,
    label: String,
    anchor: &'static str,
}

#[derive(Serialize)]
struct Dot {
    x: String,
    y: String,
    title: String,
    /// Above the chart's scale (drawn at the top).
    over: bool,
}

#[derive(Serialize)]
struct LineChart {
    title: String,
    left: f64,
    right: f64,
    yticks: Vec<Tick>,
    xticks: Vec<Tick>,
    refs: Vec<Tick>,
    paths: Vec<String>,
    dots: Vec<Dot>,
}

/// A line of shares (`0.05` = 5 %) over `labels`, with gaps where a value is missing and
/// dashed reference lines; `max` fixes the scale, else it fits the data and the lines.
/// None when there is no value at all (the template says so instead).
fn line_chart(
    title: &str,
    labels: &[String],
    values: &[Option<f64>],
    refs: &[(String, f64)],
    max: Option<f64>,
) -> Option<LineChart> {
    let valid = |v: &Option<f64>| v.filter(|x| x.is_finite() && *x >= 0.0);
    if values.iter().all(|v| valid(v).is_none()) {
        return None;
    }
    let top = values
        .iter()
        .filter_map(valid)
        .chain(refs.iter().map(|r| r.1).filter(|r| r.is_finite()))
        .fold(0.0, f64::max);
    let max = max.unwrap_or_else(|| nice_ceil(top * 1.15));
    let (left, right, upper, bottom) = PLOT;
    let n = values.len();
    let x = |i: usize| match n {
        0 | 1 => (left + right) / 2.0,
        _ => left + (right - left) * i as f64 / (n - 1) as f64,
    };
    let y = |v: f64| bottom - (bottom - upper) * (v / max).clamp(0.0, 1.0);
    let decimals = axis_decimals(max);
    let (mut paths, mut run, mut dots) = (Vec::new(), Vec::new(), Vec::new());
    for (i, v) in values.iter().enumerate() {
        let Some(v) = valid(v) else {
            flush_run(&mut run, &mut paths);
            continue;
        };
        run.push(format!("{:.1},{:.1}", x(i), y(v)));
        let label = labels.get(i).map(String::as_str).unwrap_or_default();
        dots.push(Dot {
            x: format!("{:.1}", x(i)),
            y: format!("{:.1}", y(v)),
            title: format!("{label}: {}", pct(Some(v), decimals + 1)),
            over: v > max,
        });
    }
    flush_run(&mut run, &mut paths);
    let tick = |v: f64, label: String| Tick {
        pos: format!("{:.1}", y(v)),
        label,
        anchor: "end",
    };
    Some(LineChart {
        title: title.to_owned(),
        left,
        right,
        yticks: [0.0, max / 2.0, max]
            .map(|v| tick(v, pct(Some(v), decimals)))
            .into(),
        xticks: x_ticks(labels, x),
        refs: refs.iter().map(|(l, v)| tick(*v, l.clone())).collect(),
        paths,
        dots,
    })
}

fn flush_run(run: &mut Vec<String>, paths: &mut Vec<String>) {
    if run.len() > 1 {
        paths.push(run.join(" "));
    }
    run.clear();
}

/// First, middle and last labels, anchored so none runs off the chart.
fn x_ticks(labels: &[String], x: impl Fn(usize) -> f64) -> Vec<Tick> {
    let n = labels.len();
    let mut picks = vec![0];
    if n >= 5 {
        picks.push(n / 2);
    }
    if n >= 2 {
        picks.push(n - 1);
    }
    picks
        .into_iter()
        .filter_map(|i| {
            let anchor = match (i, n) {
                (_, 1) => "middle",
                (0, _) => "start",
                (i, n) if i + 1 == n => "end",
                _ => "middle",
            };
            Some(Tick {
                pos: format!("{:.1}", x(i)),
                label: labels.get(i)?.clone(),
                anchor,
            })
        })
        .collect()
}

/// The smallest of 1, 2, 2.5, 5 × 10^k at or above `v` (1.0 for nothing).
fn nice_ceil(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&c| c >= v * 0.999_999)
        .unwrap_or(10.0 * magnitude)
}

/// Decimals of a percentage axis going up to `max` (a share).
fn axis_decimals(max: f64) -> usize {
    match max * 100.0 {
        m if m >= 10.0 => 0,
        m if m >= 1.0 => 1,
        _ => 2,
    }
}

// ---------------------------------------------------------------------------------------
// Formatting

/// A change against the previous period: "▲ 12 %", "▼ 3.0 pts", "–".
#[derive(Serialize, Clone)]
struct Change {
    text: String,
    /// `good`, `bad` or `flat`.
    class: &'static str,
}

fn change(delta: Option<f64>, unit: &str, decimals: usize, higher_is_better: bool) -> Change {
    let Some(d) = delta.filter(|d| d.is_finite()) else {
        return Change {
            text: "–".into(),
            class: "flat",
        };
    };
    let shown = format!("{:.*}", decimals, d.abs());
    if shown.chars().all(|c| c == '0' || c == '.') {
        return Change {
            text: format!("= 0{unit}"),
            class: "flat",
        };
    }
    let (arrow, up) = if d > 0.0 {
        ("▲", true)
    } else {
        ("▼", false)
    };
    Change {
        text: format!("{arrow} {shown}{unit}"),
        class: if up == higher_is_better {
            "good"
        } else {
            "bad"
        },
    }
}

fn count_change(cur: u64, prev: u64, higher_is_better: bool) -> Change {
    let delta = (prev > 0).then(|| (cur as f64 - prev as f64) / prev as f64 * 100.0);
    change(delta, " %", 0, higher_is_better)
}

fn points_change(cur: Option<f64>, prev: Option<f64>, higher_is_better: bool) -> Change {
    let delta = cur.zip(prev).map(|(c, p)| (c - p) * 100.0);
    change(delta, " pts", 1, higher_is_better)
}

/// Net revenue change in the first currency of the current period.
fn money_change(cur: &[Money], prev: &[Money]) -> Change {
    let delta = cur.first().and_then(|c| {
        let p = prev.iter().find(|p| p.currency == c.currency)?;
        let (c, p) = (
            Decimal::from_str(&c.net).ok()?,
            Decimal::from_str(&p.net).ok()?,
        );
        if p <= Decimal::ZERO {
            return None;
        }
        let ratio = (c - p) / p * Decimal::from(100);
        ratio.to_string().parse::<f64>().ok()
    });
    change(delta, " %", 0, true)
}

/// A share as a percentage ("42.0 %"), "–" when there is none.
fn pct(share: Option<f64>, decimals: usize) -> String {
    match share.filter(|s| s.is_finite()) {
        Some(s) => format!("{:.*} %", decimals, s * 100.0),
        None => "–".into(),
    }
}

fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn average_text(average: Option<f64>) -> String {
    match average.filter(|a| a.is_finite()) {
        Some(a) => format!("{a:.1} / 5"),
        None => "–".into(),
    }
}

/// 1234567 -> "1,234,567".
fn int(n: u64) -> String {
    group_thousands(&n.to_string())
}

fn group_thousands(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An exact decimal with two decimals and thousands separators ("1,234.50"); the input
/// as it is when it is not a decimal.
fn amount(exact: &str) -> String {
    let Ok(d) = Decimal::from_str(exact.trim()) else {
        return exact.to_owned();
    };
    let fixed = format!("{:.2}", d.abs().round_dp(2));
    let (whole, frac) = fixed.split_once('.').unwrap_or((fixed.as_str(), "00"));
    let sign = if d.is_sign_negative() && !d.is_zero() {
        "−"
    } else {
        ""
    };
    format!("{sign}{}.{frac}", group_thousands(whole))
}

/// "1,234.50 USD · 310.00 EUR" (with `sep` " · "), or "–".
fn money_text(money: &[Money], sep: &str) -> String {
    if money.is_empty() {
        return "–".into();
    }
    money
        .iter()
        .map(|m| format!("{} {}", amount(&m.net), m.currency))
        .collect::<Vec<_>>()
        .join(sep)
}

fn date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()
}

/// "3 Nov 2026".
fn day_text(s: &str) -> String {
    date(s).map_or_else(|| s.to_owned(), |d| d.format("%-d %b %Y").to_string())
}

/// "3 Nov".
fn short_day(s: &str) -> String {
    date(s).map_or_else(|| s.to_owned(), |d| d.format("%-d %b").to_string())
}

/// "1 Nov – 30 Nov 2026 vs previous 30 days".
fn period_text(p: &Period, previous: &Period) -> String {
    let span = match (date(&p.from), date(&p.to)) {
        (Some(from), Some(to)) if from.format("%Y").to_string() == to.format("%Y").to_string() => {
            format!("{} – {}", from.format("%-d %b"), to.format("%-d %b %Y"))
        }
        _ => format!("{} – {}", day_text(&p.from), day_text(&p.to)),
    };
    let days = if previous.days == 1 {
        "day".to_owned()
    } else {
        format!("{} days", previous.days)
    };
    format!("{span} vs previous {days}")
}

/// "2026-11-03 10:00" (UTC) from an RFC 3339 key; the input as it is otherwise.
fn time_text(s: &str) -> String {
    DateTime::parse_from_rfc3339(s).map_or_else(
        |_| s.to_owned(),
        |t| t.naive_utc().format("%Y-%m-%d %H:%M").to_string(),
    )
}

fn order_label(name: Option<&str>, id: u64) -> String {
    name.map(str::trim)
        .filter(|n| !n.is_empty())
        .map_or_else(|| format!("Order {id}"), str::to_owned)
}

/// The admin link when it is an `https://` URL the page may link to.
fn admin_link(url: &str) -> Option<String> {
    let url = super::check_url(url).ok()?;
    url.get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
        .then(|| url.to_owned())
}

//! Money and dates as a customer reads them, in their locale.

use rust_decimal::Decimal;

/// `amount` in `currency` (ISO 4217, as Shopify sends it) for `locale`.
pub fn format_money(amount: Decimal, currency: &str, _locale: &str) -> String {
    let amount = amount.round_dp(2);
    format!("{amount:.2} {currency}").trim().to_owned()
}

/// A calendar date for `locale`.
pub fn format_date(date: chrono::NaiveDate, _locale: &str) -> String {
    date.format("%Y-%m-%d").to_string()
}

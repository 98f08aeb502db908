//! Locale tags as customers' and shops' settings carry them.

/// The languages Aftercart's emails, pages, money and dates are written in; the first
/// is the fallback.
pub const SHIPPED: [&str; 4] = ["en", "fr", "de", "es"];

/// Locale candidates for a customer: their own locale's ([`locale_chain`]), then the
/// shop's default's; English comes after all of them.
pub fn customer_chain(customer: Option<&str>, shop_default: Option<&str>) -> Vec<String> {
    let mut chain = locale_chain(customer);
    chain.extend(locale_chain(shop_default));
    chain
}

/// Lower-cased locale candidates, most specific first: `fr_CA` -> [`fr-ca`, `fr`].
/// Anything that is not 1–8 ASCII alphanumerics per subtag is ignored (no locale).
pub fn locale_chain(locale: Option<&str>) -> Vec<String> {
    let Some(locale) = locale.map(str::trim).filter(|l| !l.is_empty()) else {
        return Vec::new();
    };
    let normalized = locale.replace('_', "-").to_ascii_lowercase();
    let subtags: Vec<&str> = normalized.split('-').collect();
    let valid = subtags.len() <= 4
        && subtags
            .iter()
            .all(|t| (1..=8).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_alphanumeric()));
    if !valid {
        return Vec::new();
    }
    (1..=subtags.len())
        .rev()
        .map(|n| subtags[..n].join("-"))
        .collect()
}

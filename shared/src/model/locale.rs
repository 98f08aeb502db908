//! Locale tags as customers' and shops' settings carry them.

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

//! Money amounts and dates for a customer's locale, from CLDR data (ICU4X).
//!
//! Aftercart ships four languages: en, fr, de and es. A customer's locale tag (as Shopify
//! gives it: `fr-CA`, `fr_CA`, `de`, `EN-gb`, or junk) is reduced to its language and
//! region; a language other than the four falls back to `en`, and a region without data
//! of its own in CLDR uses its parent's (`fr-BE` -> `fr`, `es-AR` -> `es-419` -> `es`).
//!
//! Neither function panics, whatever the input: a currency code that is not three ASCII
//! letters, an amount past what the formatter takes, or a date outside the Gregorian
//! formatter's range gets a plain, still readable, fallback.

use chrono::{Datelike, NaiveDate};
use fixed_decimal::{Decimal as FixedDecimal, SignedRoundingMode, UnsignedRoundingMode};
use icu_calendar::{Date, Gregorian};
use icu_datetime::fieldsets::YMD;
use icu_datetime::FixedCalendarDateTimeFormatter;
use icu_decimal::options::DecimalFormatterOptions;
use icu_decimal::DecimalFormatter;
use icu_experimental::dimension::currency::formatter::CurrencyFormatter;
use icu_experimental::dimension::currency::CurrencyType;
use icu_locale_core::subtags::{Language, Region};
use icu_locale_core::{LanguageIdentifier, Locale};
use rust_decimal::{Decimal, RoundingStrategy};

/// CLDR data for en, fr, de and es (all their regions) only: ICU4X's compiled data
/// (the `icu_*_data` crates, CLDR 49), re-exported for those languages by
/// `tools/icu_datagen/`.
/// ICU4X's own compiled data (every locale) would add about 260 KB more to each binary.
mod data {
    #![allow(clippy::all, missing_docs, unreachable_pub)]
    include!("data/mod.rs");
    /// The baked data in `model/money/data`, with locale fallback built in.
    pub(crate) struct Provider;
    impl_data_provider!(Provider);
}
use data::Provider;

/// The languages Aftercart's emails are written in; any other falls back to the first.
use crate::model::locale::SHIPPED as SHIPPED_LANGUAGES;

/// `amount` in `currency` (an ISO 4217 code, as Shopify sends it) for `locale`, with
/// CLDR's symbol, pattern, separators and the currency's number of decimals
/// (`64,87 €` in de-DE, `$64.87` in en-US, `¥1,235` for 1234.5 JPY in en).
///
/// Rounding to the currency's decimals is half away from zero (ICU4X's choice, as in
/// ECMA-402 `Intl.NumberFormat`). A well-formed code that CLDR has no symbol for
/// (`XYZ`) is written as the code itself, in the locale's pattern (`XYZ 64.87`); a code
/// that is not three ASCII letters is written after the number (`64.87 EURO`).
pub fn format_money(amount: Decimal, currency: &str, locale: &str) -> String {
    let locale = resolve_locale(locale);
    let value = to_fixed_decimal(amount);
    let code = currency.trim();
    if let Ok(currency_type) = CurrencyType::try_from_str(code) {
        if let Ok(formatter) = CurrencyFormatter::try_new_symbol_unstable(
            &Provider,
            (&locale).into(),
            currency_type,
            Default::default(),
        ) {
            return formatter.format_fixed_decimal(&value).to_string();
        }
    }
    money_fallback(value, amount, code, &locale)
}

/// `date` as a long date (month spelled out) in `locale`'s CLDR pattern:
/// `December 3, 2026` (en-US), `3 December 2026` (en-GB), `3. Dezember 2026` (de),
/// `3 décembre 2026` (fr), `3 de diciembre de 2026` (es).
///
/// Dates outside the Gregorian years -9999..=9999 are written as ISO 8601 (`YYYY-MM-DD`).
pub fn format_date(date: NaiveDate, locale: &str) -> String {
    let locale = resolve_locale(locale);
    let Ok(month) = u8::try_from(date.month()) else {
        return date.to_string();
    };
    let Ok(day) = u8::try_from(date.day()) else {
        return date.to_string();
    };
    let Ok(icu_date) = Date::try_new_gregorian(date.year(), month, day) else {
        return date.to_string();
    };
    match FixedCalendarDateTimeFormatter::<Gregorian, YMD>::try_new_unstable(
        &Provider,
        (&locale).into(),
        YMD::long(),
    ) {
        Ok(formatter) => formatter.format(&icu_date).to_string(),
        Err(_) => date.to_string(),
    }
}

/// The customer's locale tag reduced to a shipped language and, if the tag has a valid
/// one, its region. Script, variants and extensions (`-u-nu-arab`, `-u-ca-japanese`)
/// are dropped: the emails always use Latin digits and the Gregorian calendar.
fn resolve_locale(tag: &str) -> Locale {
    let normalized = tag.trim().replace('_', "-");
    let (language, region) = match LanguageIdentifier::try_from_str(&normalized)
        .or_else(|_| Locale::try_from_str(&normalized).map(|l| l.id))
    {
        Ok(id) => (id.language, id.region),
        Err(_) => {
            // A tag that does not parse whole (`fr-CA-x` , `de--DE`): keep a leading
            // language and a region that parse on their own.
            let mut parts = normalized.split('-');
            let language = parts
                .next()
                .and_then(|l| Language::try_from_str(l).ok())
                .unwrap_or(Language::UNKNOWN);
            let region = parts.next().and_then(|r| Region::try_from_str(r).ok());
            (language, region)
        }
    };
    let mut locale = Locale::UNKNOWN;
    if SHIPPED_LANGUAGES.contains(&language.as_str()) {
        locale.id.language = language;
        locale.id.region = region;
    } else {
        locale.id.language = icu_locale_core::subtags::language!("en");
    }
    locale
}

/// rust_decimal's exact value (96-bit mantissa, scale 0..=28) as ICU4X's decimal; no
/// rounding and no parsing. A negative zero becomes zero.
fn to_fixed_decimal(amount: Decimal) -> FixedDecimal {
    let mut value = FixedDecimal::from(amount.mantissa());
    // `scale()` is at most 28 (rust_decimal's MAX_SCALE), so it always fits in an i16.
    let scale = i16::try_from(amount.scale()).unwrap_or(i16::MAX);
    value.absolute.multiply_pow10(-scale);
    value
}

/// A currency code the currency formatter cannot take: the number in the locale's
/// digits and separators with two decimals, then the code (if there is one), printable
/// characters only, at most 16 of them, after a no-break space.
fn money_fallback(mut value: FixedDecimal, amount: Decimal, code: &str, locale: &Locale) -> String {
    let code: String = code
        .chars()
        .filter(|c| !c.is_control() && !c.is_whitespace())
        .take(16)
        .collect();
    // Half away from zero, as the currency formatter rounds.
    value.round_with_mode(
        -2,
        SignedRoundingMode::Unsigned(UnsignedRoundingMode::HalfExpand),
    );
    value.pad_end(-2);
    let number = match DecimalFormatter::try_new_unstable(
        &Provider,
        locale.into(),
        DecimalFormatterOptions::default(),
    ) {
        Ok(formatter) => formatter.format(&value).to_string(),
        Err(_) => amount
            .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
            .to_string(),
    };
    if code.is_empty() {
        number
    } else {
        format!("{number}\u{a0}{code}")
    }
}

/// `model/money/data` gives what ICU4X's full compiled data gives, for every shipped language and
/// the regions we know customers use (a regenerated `model/money/data` that lost a locale fails).
#[cfg(test)]
mod same_as_compiled_data {
    use super::*;
    use rust_decimal_macros::dec;

    const LOCALES: [&str; 32] = [
        "en", "en-US", "en-GB", "en-CA", "en-AU", "en-IE", "en-IN", "en-NZ", "en-001", "en-150",
        "fr", "fr-FR", "fr-CA", "fr-BE", "fr-CH", "fr-LU", "de", "de-DE", "de-AT", "de-CH",
        "de-LI", "de-LU", "es", "es-ES", "es-MX", "es-419", "es-AR", "es-CO", "es-US", "es-CL",
        "es-PE", "fr-MA",
    ];
    const CURRENCIES: [&str; 14] = [
        "USD", "EUR", "GBP", "CAD", "CHF", "JPY", "MXN", "AUD", "KWD", "SEK", "INR", "BRL", "CLP",
        "XYZ",
    ];

    #[test]
    fn money() {
        let amounts = [dec!(64.87), dec!(-1234567.891), dec!(0), dec!(1234.5)];
        for locale in LOCALES {
            let resolved = resolve_locale(locale);
            for code in CURRENCIES {
                let currency = CurrencyType::try_from_str(code).unwrap();
                let compiled = CurrencyFormatter::try_new_symbol(
                    (&resolved).into(),
                    currency,
                    Default::default(),
                )
                .unwrap();
                for amount in amounts {
                    let expected = compiled
                        .format_fixed_decimal(&to_fixed_decimal(amount))
                        .to_string();
                    assert_eq!(
                        format_money(amount, code, locale),
                        expected,
                        "{locale} {code}"
                    );
                }
            }
        }
    }

    #[test]
    fn dates() {
        let dates = [
            (2026, 12, 3),
            (2027, 1, 15),
            (2028, 2, 29),
            (1, 1, 1),
            (-5, 7, 4),
        ];
        for locale in LOCALES {
            let resolved = resolve_locale(locale);
            let compiled = FixedCalendarDateTimeFormatter::<Gregorian, YMD>::try_new(
                (&resolved).into(),
                YMD::long(),
            )
            .unwrap();
            for (y, m, d) in dates {
                let date = NaiveDate::from_ymd_opt(y, m, d).unwrap();
                let icu_date =
                    Date::try_new_gregorian(y, u8::try_from(m).unwrap(), u8::try_from(d).unwrap())
                        .unwrap();
                let expected = compiled.format(&icu_date).to_string();
                assert_eq!(format_date(date, locale), expected, "{locale} {date}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    const NBSP: char = '\u{a0}';
    const NNBSP: char = '\u{202f}';

    fn date() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 3).unwrap()
    }

    #[test]
    fn euro_in_german_has_a_no_break_space_before_the_symbol() {
        assert_eq!(
            format_money(dec!(64.87), "EUR", "de-DE"),
            format!("64,87{NBSP}€")
        );
        assert_eq!(
            format_money(dec!(64.87), "EUR", "de"),
            format!("64,87{NBSP}€")
        );
        assert_eq!(
            format_money(dec!(1234.5), "EUR", "de-DE"),
            format!("1.234,50{NBSP}€")
        );
    }

    #[test]
    fn dollar_in_us_english() {
        assert_eq!(format_money(dec!(64.87), "USD", "en-US"), "$64.87");
        assert_eq!(format_money(dec!(64.87), "USD", "en"), "$64.87");
        assert_eq!(
            format_money(dec!(1234567.891), "USD", "en-US"),
            "$1,234,567.89"
        );
        assert_eq!(format_money(dec!(5), "USD", "en-US"), "$5.00");
    }

    #[test]
    fn euro_in_french_groups_with_narrow_no_break_spaces() {
        // CLDR fr: currency pattern `#,##0.00\u{a0}¤` (U+00A0 before the symbol, not
        // U+202F) and U+202F as the grouping separator.
        assert_eq!(
            format_money(dec!(64.87), "EUR", "fr-FR"),
            format!("64,87{NBSP}€")
        );
        assert_eq!(
            format_money(dec!(1234.5), "EUR", "fr-FR"),
            format!("1{NNBSP}234,50{NBSP}€")
        );
        assert_eq!(
            format_money(dec!(1234567.5), "EUR", "fr"),
            format!("1{NNBSP}234{NNBSP}567,50{NBSP}€")
        );
        assert_eq!(
            format_money(dec!(64.87), "EUR", "fr"),
            format!("64,87{NBSP}€")
        );
    }

    #[test]
    fn euro_in_spanish() {
        assert_eq!(
            format_money(dec!(64.87), "EUR", "es-ES"),
            format!("64,87{NBSP}€")
        );
        assert_eq!(
            format_money(dec!(64.87), "EUR", "es"),
            format!("64,87{NBSP}€")
        );
        // CLDR es: no grouping of four-digit numbers (minimumGroupingDigits 2).
        assert_eq!(
            format_money(dec!(1234.5), "EUR", "es-ES"),
            format!("1234,50{NBSP}€")
        );
        assert_eq!(
            format_money(dec!(12345.5), "EUR", "es-ES"),
            format!("12.345,50{NBSP}€")
        );
    }

    #[test]
    fn region_variants() {
        assert_eq!(format_money(dec!(64.87), "GBP", "en-GB"), "£64.87");
        assert_eq!(format_money(dec!(64.87), "EUR", "en-GB"), "€64.87");
        assert_eq!(format_money(dec!(64.87), "USD", "en-GB"), "US$64.87");
        // fr-CA groups with U+00A0, not fr's U+202F.
        assert_eq!(
            format_money(dec!(64.87), "CAD", "fr-CA"),
            format!("64,87{NBSP}$")
        );
        assert_eq!(
            format_money(dec!(1234.5), "CAD", "fr-CA"),
            format!("1{NBSP}234,50{NBSP}$")
        );
        assert_eq!(
            format_money(dec!(64.87), "USD", "fr-CA"),
            format!("64,87{NBSP}${NBSP}US")
        );
        assert_eq!(
            format_money(dec!(64.87), "EUR", "de-AT"),
            format!("€{NBSP}64,87")
        );
        // de-CH: `¤\u{a0}#,##0.00;¤-#,##0.00`, decimal `.`, grouping U+0027 apostrophe;
        // CHF has no symbol other than its code.
        assert_eq!(
            format_money(dec!(64.87), "CHF", "de-CH"),
            format!("CHF{NBSP}64.87")
        );
        assert_eq!(
            format_money(dec!(1234.5), "CHF", "de-CH"),
            format!("CHF{NBSP}1'234.50")
        );
        assert_eq!(format_money(dec!(-64.87), "CHF", "de-CH"), "CHF-64.87");
        assert_eq!(format_money(dec!(64.87), "MXN", "es-MX"), "$64.87");
        // A currency that is not the locale's own gets its international symbol.
        assert_eq!(format_money(dec!(64.87), "CAD", "en-US"), "CA$64.87");
        assert_eq!(
            format_money(dec!(64.87), "USD", "fr-FR"),
            format!("64,87{NBSP}$US")
        );
    }

    /// Where ICU4X 2.4 / icu_experimental 0.7 differ from CLDR 48 as ICU4C (Node 20's
    /// `Intl.NumberFormat`) applies it. Pinned so that an upgrade that fixes them shows.
    #[test]
    fn known_differences_from_cldr() {
        // CLDR de-AT: currencyGroup `.` (ICU4C: `€ 1.234,50`); ICU4X uses the number
        // grouping separator U+00A0 (unicode-org/icu4x#4740).
        assert_eq!(
            format_money(dec!(1234.5), "EUR", "de-AT"),
            format!("€{NBSP}1{NBSP}234,50")
        );
        // CLDR de-CH's EUR symbol and es-MX's USD and EUR symbols are the ISO codes
        // (ICU4C: `EUR 64.87`, `USD 64.87`); ICU4X uses the parent locale's symbol.
        assert_eq!(
            format_money(dec!(64.87), "EUR", "de-CH"),
            format!("€{NBSP}64.87")
        );
        assert_eq!(format_money(dec!(64.87), "USD", "es-MX"), "US$64.87");
        assert_eq!(format_money(dec!(64.87), "EUR", "es-MX"), "€64.87");
    }

    #[test]
    fn locale_with_underscore_and_odd_case() {
        assert_eq!(
            format_money(dec!(64.87), "CAD", "fr_CA"),
            format!("64,87{NBSP}$")
        );
        assert_eq!(
            format_money(dec!(64.87), "EUR", "DE_de"),
            format!("64,87{NBSP}€")
        );
        assert_eq!(
            format_money(dec!(64.87), "EUR", " de-DE "),
            format!("64,87{NBSP}€")
        );
    }

    #[test]
    fn yen_has_no_decimals_and_rounds_half_away_from_zero() {
        assert_eq!(format_money(dec!(1234.5), "JPY", "en"), "¥1,235");
        assert_eq!(format_money(dec!(1234.4), "JPY", "en"), "¥1,234");
        assert_eq!(format_money(dec!(1234), "JPY", "en-US"), "¥1,234");
        assert_eq!(
            format_money(dec!(1234.5), "JPY", "de-DE"),
            format!("1.235{NBSP}¥")
        );
    }

    #[test]
    fn currency_decimals_round_half_away_from_zero() {
        assert_eq!(format_money(dec!(0.125), "USD", "en-US"), "$0.13");
        assert_eq!(format_money(dec!(0.135), "USD", "en-US"), "$0.14");
        assert_eq!(
            format_money(dec!(1.005), "EUR", "de-DE"),
            format!("1,01{NBSP}€")
        );
        // Three-decimal currency.
        assert_eq!(
            format_money(dec!(1.5), "KWD", "en-US"),
            format!("KWD{NBSP}1.500")
        );
    }

    #[test]
    fn negative_amounts() {
        assert_eq!(format_money(dec!(-64.87), "USD", "en-US"), "-$64.87");
        assert_eq!(
            format_money(dec!(-64.87), "EUR", "de-DE"),
            format!("-64,87{NBSP}€")
        );
        assert_eq!(
            format_money(dec!(-64.87), "EUR", "fr-FR"),
            format!("-64,87{NBSP}€")
        );
        assert_eq!(format_money(-Decimal::ZERO, "USD", "en-US"), "$0.00");
    }

    #[test]
    fn unknown_currency_code_falls_back_to_the_code() {
        assert_eq!(
            format_money(dec!(64.87), "XYZ", "en-US"),
            format!("XYZ{NBSP}64.87")
        );
        assert_eq!(
            format_money(dec!(64.87), "XYZ", "de-DE"),
            format!("64,87{NBSP}XYZ")
        );
        assert_eq!(
            format_money(dec!(64.87), "xyz", "en-US"),
            format!("XYZ{NBSP}64.87")
        );
        assert_eq!(format_money(dec!(64.87), "usd", "en-US"), "$64.87");
    }

    #[test]
    fn malformed_currency_code_is_written_after_the_number() {
        assert_eq!(
            format_money(dec!(64.87), "EURO", "en-US"),
            format!("64.87{NBSP}EURO")
        );
        assert_eq!(
            format_money(dec!(64.87), "EURO", "de-DE"),
            format!("64,87{NBSP}EURO")
        );
        assert_eq!(format_money(dec!(64.87), "", "en-US"), "64.87");
        assert_eq!(format_money(dec!(64.87), "   ", "fr"), "64,87");
        assert_eq!(
            format_money(dec!(64.87), "€", "fr"),
            format!("64,87{NBSP}€")
        );
        assert_eq!(
            format_money(dec!(64.8), "U$D", "en"),
            format!("64.80{NBSP}U$D")
        );
        assert_eq!(
            format_money(dec!(1), "A\u{0}B\nC very long code indeed 1234567890", "en"),
            format!("1.00{NBSP}ABCverylongcodei")
        );
    }

    #[test]
    fn odd_locales_fall_back_to_english() {
        for locale in [
            "",
            "x-klingon",
            "tlh",
            "zz-ZZ",
            "ja-JP",
            "und",
            "-",
            "_",
            "💶",
            "en-",
            "de--DE",
        ] {
            let money = format_money(dec!(64.87), "USD", locale);
            assert!(!money.is_empty(), "{locale:?}");
            let date = format_date(date(), locale);
            assert!(!date.is_empty(), "{locale:?}");
        }
        assert_eq!(format_money(dec!(64.87), "USD", ""), "$64.87");
        assert_eq!(format_money(dec!(64.87), "USD", "x-klingon"), "$64.87");
        assert_eq!(format_money(dec!(64.87), "EUR", "ja-JP"), "€64.87");
        assert_eq!(format_date(date(), ""), "December 3, 2026");
        assert_eq!(format_date(date(), "x-klingon"), "December 3, 2026");
        // A tag with a bad tail keeps its language (and region when that parses).
        assert_eq!(
            format_money(dec!(64.87), "EUR", "de-DE-!!"),
            format!("64,87{NBSP}€")
        );
        assert_eq!(format_date(date(), "fr-FR-@@"), "3 décembre 2026");
    }

    #[test]
    fn extensions_are_ignored() {
        assert_eq!(
            format_money(dec!(64.87), "USD", "en-US-u-nu-arab"),
            "$64.87"
        );
        assert_eq!(
            format_date(date(), "en-US-u-ca-japanese"),
            "December 3, 2026"
        );
        assert_eq!(format_date(date(), "de-Latn-DE"), "3. Dezember 2026");
    }

    #[test]
    fn huge_and_tiny_amounts_do_not_panic() {
        assert_eq!(
            format_money(Decimal::MAX, "USD", "en-US"),
            "$79,228,162,514,264,337,593,543,950,335.00"
        );
        assert_eq!(
            format_money(Decimal::MIN, "EUR", "de-DE"),
            format!("-79.228.162.514.264.337.593.543.950.335,00{NBSP}€")
        );
        // 28 decimal places (rust_decimal's maximum scale).
        let tiny = Decimal::from_i128_with_scale(1, 28);
        assert_eq!(format_money(tiny, "USD", "en-US"), "$0.00");
        assert_eq!(format_money(-tiny, "USD", "en-US"), "-$0.00");
        let big_scaled = Decimal::from_i128_with_scale(i128::from(i64::MAX), 28);
        assert_eq!(format_money(big_scaled, "JPY", "en"), "¥0");
        for locale in ["en", "fr", "de", "es", ""] {
            for code in ["USD", "JPY", "KWD", "XYZ", "EURO", ""] {
                for amount in [Decimal::MAX, Decimal::MIN, tiny, -tiny, Decimal::ZERO] {
                    assert!(!format_money(amount, code, locale).is_empty());
                }
            }
        }
    }

    #[test]
    fn long_dates() {
        assert_eq!(format_date(date(), "en-GB"), "3 December 2026");
        assert_eq!(format_date(date(), "en-US"), "December 3, 2026");
        assert_eq!(format_date(date(), "en"), "December 3, 2026");
        assert_eq!(format_date(date(), "de"), "3. Dezember 2026");
        assert_eq!(format_date(date(), "de-DE"), "3. Dezember 2026");
        assert_eq!(format_date(date(), "de-AT"), "3. Dezember 2026");
        assert_eq!(format_date(date(), "de-CH"), "3. Dezember 2026");
        assert_eq!(format_date(date(), "fr"), "3 décembre 2026");
        assert_eq!(format_date(date(), "fr-FR"), "3 décembre 2026");
        assert_eq!(format_date(date(), "fr_CA"), "3 décembre 2026");
        assert_eq!(format_date(date(), "es"), "3 de diciembre de 2026");
        assert_eq!(format_date(date(), "es-ES"), "3 de diciembre de 2026");
        assert_eq!(format_date(date(), "es-MX"), "3 de diciembre de 2026");
    }

    #[test]
    fn regional_month_names() {
        let january = NaiveDate::from_ymd_opt(2027, 1, 15).unwrap();
        assert_eq!(format_date(january, "de-DE"), "15. Januar 2027");
        assert_eq!(format_date(january, "de-AT"), "15. Jänner 2027");
        let first = NaiveDate::from_ymd_opt(2026, 5, 1).unwrap();
        assert_eq!(format_date(first, "fr"), "1 mai 2026");
    }

    #[test]
    fn dates_at_the_edges_do_not_panic() {
        assert_eq!(
            format_date(NaiveDate::MIN, "en"),
            NaiveDate::MIN.to_string()
        );
        assert_eq!(
            format_date(NaiveDate::MAX, "de"),
            NaiveDate::MAX.to_string()
        );
        let leap = NaiveDate::from_ymd_opt(2028, 2, 29).unwrap();
        assert_eq!(format_date(leap, "es"), "29 de febrero de 2028");
        let y1 = NaiveDate::from_ymd_opt(1, 1, 1).unwrap();
        assert!(!format_date(y1, "en").is_empty());
        let y9999 = NaiveDate::from_ymd_opt(9999, 12, 31).unwrap();
        assert_eq!(format_date(y9999, "en-US"), "December 31, 9999");
        let y10000 = NaiveDate::from_ymd_opt(10000, 1, 1).unwrap();
        assert_eq!(format_date(y10000, "en-US"), "+10000-01-01");
    }

    /// A small deterministic generator (xorshift64*), so the test needs no extra crate.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            let len = u64::try_from(items.len()).unwrap();
            items[usize::try_from(self.next() % len).unwrap()]
        }

        fn junk(&mut self) -> String {
            let len = self.next() % 12;
            (0..len)
                .map(|_| {
                    let pool = [
                        'a', 'Z', '-', '_', '0', '9', ' ', 'é', '€', '\u{0}', '\u{202f}', '@', 'x',
                    ];
                    pool[usize::try_from(self.next() % 13).unwrap()]
                })
                .collect()
        }
    }

    #[test]
    fn random_inputs_never_panic() {
        let locales = [
            "en",
            "en-US",
            "en-GB",
            "fr",
            "fr-FR",
            "fr-CA",
            "de",
            "de-DE",
            "de-AT",
            "de-CH",
            "es",
            "es-ES",
            "es-MX",
            "",
            "x-klingon",
            "fr_CA",
            "root",
            "und-u-nu-arab",
        ];
        let codes = [
            "USD", "EUR", "JPY", "KWD", "CLF", "XXX", "XAU", "XYZ", "usd", "", "EURO",
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..3000 {
            let mantissa = i128::from(rng.next() as i64) * i128::from(rng.next() as u32);
            let scale = u32::try_from(rng.next() % 29).unwrap();
            let amount = Decimal::try_from_i128_with_scale(mantissa, scale).unwrap_or(Decimal::MAX);
            let junk_locale = rng.junk();
            let junk_code = rng.junk();
            let locale = if rng.next().is_multiple_of(4) {
                junk_locale.as_str()
            } else {
                rng.pick(&locales)
            };
            let code = if rng.next().is_multiple_of(4) {
                junk_code.as_str()
            } else {
                rng.pick(&codes)
            };
            assert!(
                !format_money(amount, code, locale).is_empty(),
                "{amount} {code:?} {locale:?}"
            );
            let days = i32::try_from(rng.next() % 8_000_000).unwrap() - 4_000_000;
            if let Some(date) = NaiveDate::from_num_days_from_ce_opt(days) {
                assert!(!format_date(date, locale).is_empty(), "{date} {locale:?}");
            }
        }
    }
}

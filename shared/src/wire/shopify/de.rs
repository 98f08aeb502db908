//! Deserializers for Shopify's value conventions: ids beyond 2^53, money as decimal
//! strings, and `null` where a list is expected; and the bounds on quantities, money
//! and times past which a value is not a real order's (refused, naming the field).

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;

/// A Shopify id: a JSON integer (never read through a float) or a string of digits.
pub fn id<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    d.deserialize_any(IdVisitor)
}

/// An optional id: `null`, missing, an integer or a string of digits.
pub fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    d.deserialize_option(OptVisitor(IdVisitor))
}

/// A list of ids; `null` reads as empty.
pub fn ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    #[derive(Deserialize)]
    struct Id(#[serde(deserialize_with = "id")] u64);
    let v: Option<Vec<Id>> = Option::deserialize(d)?;
    Ok(v.unwrap_or_default().into_iter().map(|Id(i)| i).collect())
}

/// Money: `null`, missing, or a decimal string such as `"409.94"` (or an integer),
/// kept exact. Floats are refused: they cannot carry money exactly.
pub fn opt_money<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    d.deserialize_option(OptVisitor(MoneyVisitor))
}

/// Largest quantity of one line (ordered, fulfilled or refunded) accepted. Shopify
/// caps a line far below; beyond this a body is not a real order, and sums over lines
/// would stop fitting the counters that planning keeps.
pub const MAX_QUANTITY: u32 = 1_000_000;

/// Largest amount of money accepted, in absolute value, in the order's currency (a
/// trillion in any currency is no real order; sums of such amounts stay far inside
/// [`Decimal`]'s range).
pub const MAX_MONEY: Decimal = Decimal::from_parts(0xD4A5_1000, 0xE8, 0, false, 0);

/// Earliest and latest times accepted, in UTC: 1970-01-01T00:00:00Z (epoch seconds
/// are the tables' expiry times) to 9999-12-31T23:59:59.999Z (a table key's year has
/// four digits; an offset that pushes a time past it is refused too).
pub const EARLIEST_TIME_SECS: i64 = 0;
pub const LATEST_TIME_SECS: i64 = 253_402_300_799;

/// A line quantity: `null` or missing reads as 0; above [`MAX_QUANTITY`] (or
/// negative, or not an integer) is refused.
pub fn quantity<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    Ok(d.deserialize_option(OptVisitor(QuantityVisitor))?
        .unwrap_or(0))
}

/// A timestamp (RFC 3339 with its offset) inside the accepted window.
pub fn timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<FixedOffset>, D::Error> {
    let t = DateTime::<FixedOffset>::deserialize(d)?;
    check_time(&t).map_err(de::Error::custom)?;
    Ok(t)
}

/// An optional timestamp: `null`, missing, or one inside the accepted window.
pub fn opt_timestamp<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<DateTime<FixedOffset>>, D::Error> {
    let t = Option::<DateTime<FixedOffset>>::deserialize(d)?;
    if let Some(t) = &t {
        check_time(t).map_err(de::Error::custom)?;
    }
    Ok(t)
}

/// `Err` (without quoting the value) when `t` is outside the accepted window.
pub fn check_time<Tz: TimeZone>(t: &DateTime<Tz>) -> Result<(), &'static str> {
    let secs = t.with_timezone(&Utc).timestamp();
    if (EARLIEST_TIME_SECS..=LATEST_TIME_SECS).contains(&secs) {
        Ok(())
    } else {
        Err("out of range: a time must fall between 1970-01-01 and 9999-12-31 in UTC")
    }
}

/// `true` for a key that is there, whatever its value (`null` too), which is skipped.
pub fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    de::IgnoredAny::deserialize(d)?;
    Ok(true)
}

/// Any defaultable value where Shopify may send `null` instead (lists, flags).
pub fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Clone, Copy)]
struct IdVisitor;

impl Visitor<'_> for IdVisitor {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a non-negative integer id")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
        // A float id has already lost precision somewhere upstream: refuse it.
        Err(E::invalid_type(de::Unexpected::Float(v), &self))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        // Digits only: no sign, no spaces, no leading zeros (another spelling of an id
        // would be another string in a table key).
        let canonical = !v.is_empty()
            && v.bytes().all(|b| b.is_ascii_digit())
            && (v == "0" || !v.starts_with('0'));
        canonical
            .then(|| v.parse().ok())
            .flatten()
            .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

#[derive(Clone, Copy)]
struct MoneyVisitor;

impl Visitor<'_> for MoneyVisitor {
    type Value = Decimal;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a decimal amount as a string, such as \"19.99\"")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
        // Plain decimal notation only (`-12.50`), exact or refused: no exponents, digit
        // separators or plus signs, and nothing rust_decimal would have to round.
        let amount = plain_decimal(v.trim())
            .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))?;
        bounded_money(amount)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
        bounded_money(Decimal::from(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
        bounded_money(Decimal::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
        // Binary floats cannot carry money exactly; Shopify sends strings.
        Err(E::invalid_type(de::Unexpected::Float(v), &self))
    }
}

/// `amount`, or an error (that does not quote it) beyond [`MAX_MONEY`].
/// An amount in plain decimal notation (`12.50`, `-3`), exact: no exponent, digit
/// separator or plus sign, and nothing `rust_decimal` would have to round. Not bounded
/// (see [`MAX_MONEY`]). The webhook's money fields and the order export's are read by it.
pub fn plain_decimal(t: &str) -> Option<Decimal> {
    let unsigned = t.strip_prefix('-').unwrap_or(t);
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, "0"));
    let plain = !int.is_empty()
        && !frac.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit());
    plain.then(|| Decimal::from_str_exact(t).ok()).flatten()
}

fn bounded_money<E: de::Error>(amount: Decimal) -> Result<Decimal, E> {
    if amount.abs() <= MAX_MONEY {
        Ok(amount)
    } else {
        Err(E::custom(
            "out of range: an amount must be at most 1000000000000 (in absolute value)",
        ))
    }
}

#[derive(Clone, Copy)]
struct QuantityVisitor;

impl Visitor<'_> for QuantityVisitor {
    type Value = u32;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a quantity from 0 to {MAX_QUANTITY}")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u32, E> {
        u32::try_from(v)
            .ok()
            .filter(|q| *q <= MAX_QUANTITY)
            .ok_or_else(|| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u32, E> {
        match u64::try_from(v) {
            Ok(u) => self.visit_u64(u),
            Err(_) => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
        }
    }
}

struct OptVisitor<V>(V);

impl<'de, V: Visitor<'de> + Copy> Visitor<'de> for OptVisitor<V> {
    type Value = Option<V::Value>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.expecting(f)?;
        f.write_str(" or null")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self.0).map(Some)
    }
}

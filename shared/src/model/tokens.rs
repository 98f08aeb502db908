//! Signed customer links: the rating, unsubscribe and reorder links put in follow-up
//! emails and later served by the `links` function.
//!
//! A token is three dot-separated fields, all in the URL-safe base64 alphabet (no
//! padding) except the leading `v`, so it goes in a query string without escaping:
//!
//! ```text
//! v{version}.{base64url(claims as JSON)}.{base64url(HMAC-SHA256(key[version], "v{version}.{payload}"))}
//! ```
//!
//! The version names the key that signed the token. Keys are configured as
//! `"VERSION:SECRET[,VERSION:SECRET…]"`: the first one signs, all of them verify, so a key
//! is rotated by putting a new one first and dropping the old one once the links it
//! signed have expired.
//!
//! [`verify`] checks, in order: the token's shape, that the key version is known, the
//! signature (in constant time, over the token's own bytes, before anything is decoded),
//! then the claims' purpose and expiry.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Length in bytes of an HMAC-SHA256 digest.
const DIGEST_LEN: usize = 32;

/// Shortest secret accepted by [`LinkKeys::parse`], in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// Longest token [`verify`] looks at; anything longer is [`LinkError::Malformed`]
/// without further work. Real tokens are a few hundred characters.
pub const MAX_TOKEN_LEN: usize = 4096;

const SECONDS_PER_DAY: i64 = 86_400;

/// What a link does when followed. A token signed for one purpose is refused for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Rate,
    Unsubscribe,
    Reorder,
    /// A return reason (the reason's number, 1–8, in `score`: [`crate::model::ReturnReason`]).
    Reason,
    /// The merchant's report page for one shop (`customer_key` empty, `followup`
    /// `report`): never opened by a customer's token, nor by another shop's.
    Report,
}

impl Purpose {
    /// The name used in JSON and in the link path.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Rate => "rate",
            Purpose::Unsubscribe => "unsubscribe",
            Purpose::Reorder => "reorder",
            Purpose::Reason => "reason",
            Purpose::Report => "report",
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a token says, once its signature is checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkClaims {
    pub shop: String,
    pub customer_key: String,
    pub followup: String,
    pub purpose: Purpose,
    /// Epoch seconds; the token is valid up to and including this second, except where
    /// it is checked with [`verify_lasting`] (unsubscribing never expires).
    pub expires_at: i64,
    /// The score a rating link records (1 to 5), or a return-reason link's reason (1 to
    /// 8); `None` for other links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<u8>,
}

/// Why a token, or a key specification, was refused. No variant carries secret
/// material or token contents, so errors can be logged as they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link token is malformed")]
    Malformed,
    #[error("the link token's signature does not match")]
    BadSignature,
    #[error("the link token was signed with key version {0}, which is not configured")]
    UnknownKeyVersion(u32),
    #[error("the link has expired")]
    Expired,
    #[error("the link is for {found}, not {expected}")]
    WrongPurpose { expected: Purpose, found: Purpose },
    #[error("invalid link keys: {0}")]
    InvalidKeys(String),
}

/// The versioned HMAC keys links are signed with. The first key signs; all verify.
///
/// Neither `Debug` nor `Display` shows the secrets, only the versions.
#[derive(Clone)]
pub struct LinkKeys {
    /// Never empty; the first entry is the current signing key. Versions are unique.
    keys: Vec<(u32, SecretString)>,
}

impl LinkKeys {
    /// Parses `"VERSION:SECRET[,VERSION:SECRET…]"`. The first entry is the current
    /// signing key; the others still verify (rotation). Whitespace around entries,
    /// versions and secrets is ignored. A version is a plain decimal number (`u32`); a
    /// secret is at least [`MIN_SECRET_LEN`] bytes and may contain `:` but not `,`.
    ///
    /// Errors are [`LinkError::InvalidKeys`] naming the entry (1-based) and the problem,
    /// never the secret.
    pub fn parse(spec: &str) -> Result<LinkKeys, LinkError> {
        let invalid = |msg: String| LinkError::InvalidKeys(msg);
        if spec.trim().is_empty() {
            return Err(invalid(
                "the key list is empty; expected \"VERSION:SECRET[,VERSION:SECRET...]\"".into(),
            ));
        }
        let mut keys: Vec<(u32, SecretString)> = Vec::new();
        for (i, entry) in spec.split(',').enumerate() {
            let n = i + 1;
            let entry = entry.trim();
            if entry.is_empty() {
                return Err(invalid(format!("entry {n} is empty (stray comma?)")));
            }
            let Some((version, secret)) = entry.split_once(':') else {
                return Err(invalid(format!(
                    "entry {n} has no ':'; expected VERSION:SECRET"
                )));
            };
            let version = version.trim();
            let version = parse_version(version).ok_or_else(|| {
                invalid(format!(
                    "entry {n}: bad version number {version:?}; expected a decimal number \
                     such as 1"
                ))
            })?;
            if keys.iter().any(|(v, _)| *v == version) {
                return Err(invalid(format!("entry {n}: duplicate version {version}")));
            }
            let secret = secret.trim();
            if secret.len() < MIN_SECRET_LEN {
                return Err(invalid(format!(
                    "entry {n} (version {version}): secret is {} bytes, shorter than {MIN_SECRET_LEN}",
                    secret.len()
                )));
            }
            keys.push((version, SecretString::from(secret)));
        }
        Ok(LinkKeys { keys })
    }

    /// The version new tokens are signed with.
    pub fn current_version(&self) -> u32 {
        self.keys[0].0
    }

    /// All configured versions, current first.
    pub fn versions(&self) -> Vec<u32> {
        self.keys.iter().map(|(v, _)| *v).collect()
    }

    fn secret(&self, version: u32) -> Option<&SecretString> {
        self.keys
            .iter()
            .find(|(v, _)| *v == version)
            .map(|(_, s)| s)
    }

    fn mac(&self, version: u32) -> Option<HmacSha256> {
        self.secret(version).map(|secret| {
            // HMAC accepts keys of any length, so this constructor cannot fail.
            HmacSha256::new_from_slice(secret.expose_secret().as_bytes())
                .expect("HMAC accepts keys of any length")
        })
    }
}

impl fmt::Debug for LinkKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkKeys")
            .field("current", &self.current_version())
            .field("versions", &self.versions())
            .finish_non_exhaustive()
    }
}

impl fmt::Display for LinkKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "link keys (current v{}", self.current_version())?;
        for (v, _) in &self.keys[1..] {
            write!(f, ", v{v}")?;
        }
        f.write_str(")")
    }
}

/// A version number as written in a key spec or a token: ASCII digits only, no sign, no
/// leading zero (so each version has exactly one spelling), fits in a `u32`.
fn parse_version(s: &str) -> Option<u32> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if canonical {
        s.parse().ok()
    } else {
        None
    }
}

/// Signs `claims` with the current key. The result uses only `v`, `.` and the URL-safe
/// base64 alphabet.
pub fn sign(keys: &LinkKeys, claims: &LinkClaims) -> String {
    let version = keys.current_version();
    // Serializing a struct of strings and integers to JSON cannot fail.
    let json = serde_json::to_vec(claims).expect("link claims serialize to JSON");
    let mut token = format!("v{version}.{}", URL_SAFE_NO_PAD.encode(json));
    let mut mac = keys.mac(version).expect("the current key is configured");
    mac.update(token.as_bytes());
    let tag = mac.finalize().into_bytes();
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(tag));
    token
}

/// Checks `token` and returns its claims if it is well-formed, signed by a configured
/// key, for `purpose`, and not expired at `now` (epoch seconds; valid while
/// `now <= expires_at`).
///
/// The signature is compared in constant time (`Mac::verify_slice`) before the payload
/// is decoded. Any input, however odd, gives an error rather than a panic.
pub fn verify(
    keys: &LinkKeys,
    token: &str,
    purpose: Purpose,
    now: i64,
) -> Result<LinkClaims, LinkError> {
    let claims = verify_lasting(keys, token, purpose)?;
    if now > claims.expires_at {
        return Err(LinkError::Expired);
    }
    Ok(claims)
}

/// As [`verify`], without the expiry: for what a link must do for as long as the
/// address could receive our mail — unsubscribing (the footer link and the RFC 8058
/// one-click POST). Still signed, still scoped to its shop, customer and purpose.
pub fn verify_lasting(
    keys: &LinkKeys,
    token: &str,
    purpose: Purpose,
) -> Result<LinkClaims, LinkError> {
    if token.len() > MAX_TOKEN_LEN || !token.is_ascii() {
        return Err(LinkError::Malformed);
    }
    // "v{version}.{payload}.{signature}": the signed part is everything before the last dot.
    let (signed, signature) = token.rsplit_once('.').ok_or(LinkError::Malformed)?;
    let (version, payload) = signed.split_once('.').ok_or(LinkError::Malformed)?;
    let version = version
        .strip_prefix('v')
        .and_then(parse_version)
        .ok_or(LinkError::Malformed)?;
    if payload.is_empty() || payload.contains('.') || signature.is_empty() {
        return Err(LinkError::Malformed);
    }
    let mut tag = [0u8; DIGEST_LEN];
    match URL_SAFE_NO_PAD.decode_slice(signature, &mut tag) {
        Ok(DIGEST_LEN) => {}
        _ => return Err(LinkError::Malformed),
    }
    let mut mac = keys
        .mac(version)
        .ok_or(LinkError::UnknownKeyVersion(version))?;
    mac.update(signed.as_bytes());
    mac.verify_slice(&tag)
        .map_err(|_| LinkError::BadSignature)?;

    // Only what we signed gets this far, so these cannot fail short of a bug; they are
    // still errors rather than panics.
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| LinkError::Malformed)?;
    let claims: LinkClaims = serde_json::from_slice(&json).map_err(|_| LinkError::Malformed)?;
    if claims.purpose != purpose {
        return Err(LinkError::WrongPurpose {
            expected: purpose,
            found: claims.purpose,
        });
    }
    Ok(claims)
}

/// Builds the customer links put in emails.
#[derive(Debug, Clone)]
pub struct LinkBuilder {
    /// Public base URL of the `links` function, e.g. `https://links.example.com` or
    /// `http://127.0.0.1:9000/lambda-url/links`. Trailing slashes are ignored.
    pub base_url: String,
    pub keys: LinkKeys,
    /// Days a link stays valid from `now`.
    pub ttl_days: i64,
}

impl LinkBuilder {
    /// Five rating links, `{base}/rate?t={token}`, for scores 1 to 5 in that order.
    pub fn rating_urls(
        &self,
        shop: &str,
        customer_key: &str,
        followup: &str,
        now: i64,
    ) -> Vec<String> {
        (1..=5u8)
            .map(|score| {
                self.url(
                    shop,
                    customer_key,
                    followup,
                    Purpose::Rate,
                    Some(score),
                    now,
                )
            })
            .collect()
    }

    /// One return-reason link per [`crate::model::ReturnReason`], `{base}/reason?t={token}`,
    /// in [`crate::model::ReturnReason::ALL`] order.
    pub fn reason_urls(
        &self,
        shop: &str,
        customer_key: &str,
        followup: &str,
        now: i64,
    ) -> Vec<(crate::model::ReturnReason, String)> {
        crate::model::ReturnReason::ALL
            .into_iter()
            .map(|r| {
                let url = self.url(
                    shop,
                    customer_key,
                    followup,
                    Purpose::Reason,
                    Some(r.number()),
                    now,
                );
                (r, url)
            })
            .collect()
    }

    /// `{base}/unsubscribe?t={token}`.
    pub fn unsubscribe_url(
        &self,
        shop: &str,
        customer_key: &str,
        followup: &str,
        now: i64,
    ) -> String {
        self.url(
            shop,
            customer_key,
            followup,
            Purpose::Unsubscribe,
            None,
            now,
        )
    }

    /// `{base}/reorder?t={token}`.
    pub fn reorder_url(&self, shop: &str, customer_key: &str, followup: &str, now: i64) -> String {
        self.url(shop, customer_key, followup, Purpose::Reorder, None, now)
    }

    /// The shop's report page, `{base}/report?t={token}`, valid `days` days from `now`.
    pub fn report_url(&self, shop: &str, now: i64, days: i64) -> String {
        let claims = LinkClaims {
            shop: shop.to_owned(),
            customer_key: String::new(),
            followup: "report".into(),
            purpose: Purpose::Report,
            expires_at: now.saturating_add(days.max(1).saturating_mul(SECONDS_PER_DAY)),
            score: None,
        };
        format!(
            "{}/report?t={}",
            self.base_url.trim_end_matches('/'),
            sign(&self.keys, &claims)
        )
    }

    fn url(
        &self,
        shop: &str,
        customer_key: &str,
        followup: &str,
        purpose: Purpose,
        score: Option<u8>,
        now: i64,
    ) -> String {
        let claims = LinkClaims {
            shop: shop.to_owned(),
            customer_key: customer_key.to_owned(),
            followup: followup.to_owned(),
            purpose,
            expires_at: now.saturating_add(self.ttl_days.saturating_mul(SECONDS_PER_DAY)),
            score,
        };
        let token = sign(&self.keys, &claims);
        format!(
            "{}/{}?t={token}",
            self.base_url.trim_end_matches('/'),
            purpose.as_str()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "old-secret-old-secret-old-secret-old";
    const NEW: &str = "new-secret-new-secret-new-secret-new";
    const NOW: i64 = 1_800_000_000;

    fn keys() -> LinkKeys {
        LinkKeys::parse(&format!("1:{OLD}")).unwrap()
    }

    fn claims(purpose: Purpose) -> LinkClaims {
        LinkClaims {
            shop: "demo.myshopify.com".into(),
            customer_key: "cust_42".into(),
            followup: "review_request".into(),
            purpose,
            expires_at: NOW + 3600,
            score: None,
        }
    }

    /// Alphabet a token may use.
    fn is_token_char(c: char) -> bool {
        c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'
    }

    /// Replaces the character at byte `i` (tokens are ASCII) with `c`.
    fn with_char(token: &str, i: usize, c: char) -> String {
        let mut s = String::with_capacity(token.len());
        s.push_str(&token[..i]);
        s.push(c);
        s.push_str(&token[i + 1..]);
        s
    }

    fn parts(token: &str) -> Vec<&str> {
        token.split('.').collect()
    }

    #[test]
    fn round_trip() {
        let c = claims(Purpose::Unsubscribe);
        let token = sign(&keys(), &c);
        assert!(token.starts_with("v1."), "{token}");
        assert!(token.chars().all(is_token_char), "{token}");
        assert_eq!(parts(&token).len(), 3);
        assert_eq!(verify(&keys(), &token, Purpose::Unsubscribe, NOW), Ok(c));
    }

    #[test]
    fn tampered_payload_is_bad_signature() {
        let token = sign(&keys(), &claims(Purpose::Reorder));
        let p = parts(&token);
        // A different, well-formed payload under the original signature.
        let mut other = claims(Purpose::Reorder);
        other.customer_key = "cust_43".into();
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&other).unwrap());
        let forged = format!("{}.{}.{}", p[0], forged_payload, p[2]);
        assert_eq!(
            verify(&keys(), &forged, Purpose::Reorder, NOW),
            Err(LinkError::BadSignature)
        );
    }

    #[test]
    fn tampered_signature_is_bad_signature() {
        let token = sign(&keys(), &claims(Purpose::Reorder));
        let p = parts(&token);
        // Flip one bit of the digest and re-encode, so the signature stays well-formed.
        let mut tag = URL_SAFE_NO_PAD.decode(p[2]).unwrap();
        tag[7] ^= 0x01;
        let forged = format!("{}.{}.{}", p[0], p[1], URL_SAFE_NO_PAD.encode(&tag));
        assert_eq!(
            verify(&keys(), &forged, Purpose::Reorder, NOW),
            Err(LinkError::BadSignature)
        );
    }

    #[test]
    fn old_key_still_verifies_after_rotation() {
        let token = sign(&keys(), &claims(Purpose::Rate));
        let rotated = LinkKeys::parse(&format!("2:{NEW},1:{OLD}")).unwrap();
        assert_eq!(rotated.current_version(), 2);
        assert_eq!(
            verify(&rotated, &token, Purpose::Rate, NOW),
            Ok(claims(Purpose::Rate))
        );
        // New tokens are signed with the new key, which the old config does not know.
        let fresh = sign(&rotated, &claims(Purpose::Rate));
        assert!(fresh.starts_with("v2."), "{fresh}");
        assert_eq!(
            verify(&keys(), &fresh, Purpose::Rate, NOW),
            Err(LinkError::UnknownKeyVersion(2))
        );
    }

    #[test]
    fn unknown_version_is_reported() {
        let token = sign(&keys(), &claims(Purpose::Rate));
        let only_new = LinkKeys::parse(&format!("2:{NEW}")).unwrap();
        assert_eq!(
            verify(&only_new, &token, Purpose::Rate, NOW),
            Err(LinkError::UnknownKeyVersion(1))
        );
    }

    #[test]
    fn an_unsubscribe_link_never_expires_but_stays_signed_and_scoped() {
        let mut c = claims(Purpose::Unsubscribe);
        c.expires_at = 1_199_145_600; // 2008-01-01
        let token = sign(&keys(), &c);
        assert_eq!(
            verify(&keys(), &token, Purpose::Unsubscribe, NOW),
            Err(LinkError::Expired)
        );
        assert_eq!(
            verify_lasting(&keys(), &token, Purpose::Unsubscribe),
            Ok(c.clone())
        );
        assert!(matches!(
            verify_lasting(&keys(), &token, Purpose::Rate),
            Err(LinkError::WrongPurpose { .. })
        ));
        let other = LinkKeys::parse("1:someone-elses-key-0123456789abcdef012345").unwrap();
        assert_eq!(
            verify_lasting(&other, &token, Purpose::Unsubscribe),
            Err(LinkError::BadSignature)
        );
    }

    #[test]
    fn expired_after_expires_at() {
        let c = claims(Purpose::Rate);
        let token = sign(&keys(), &c);
        assert!(verify(&keys(), &token, Purpose::Rate, c.expires_at).is_ok());
        assert_eq!(
            verify(&keys(), &token, Purpose::Rate, c.expires_at + 1),
            Err(LinkError::Expired)
        );
    }

    #[test]
    fn wrong_purpose_is_refused() {
        let token = sign(&keys(), &claims(Purpose::Unsubscribe));
        assert_eq!(
            verify(&keys(), &token, Purpose::Reorder, NOW),
            Err(LinkError::WrongPurpose {
                expected: Purpose::Reorder,
                found: Purpose::Unsubscribe
            })
        );
    }

    #[test]
    fn garbage_is_malformed_never_a_panic() {
        let valid = sign(&keys(), &claims(Purpose::Rate));
        let p = parts(&valid);
        let long = "A".repeat(1 << 20);
        let long_token = format!("v1.{long}.{}", p[2]);
        let cases: Vec<String> = vec![
            "".into(),
            "v".into(),
            "v1".into(),
            "v1.".into(),
            "v1..".into(),
            "v1...".into(),
            "vX.a.b".into(),
            "v.a.b".into(),
            "1.a.b".into(),
            "V1.a.b".into(),
            "v-1.a.b".into(),
            "v+1.a.b".into(),
            "v01.a.b".into(),
            "v99999999999.a.b".into(),
            "v1.a.b".into(),
            "v1.a.b.c".into(),
            "...".into(),
            "v1.é.b".into(),
            "v1.🦀.🦀".into(),
            format!("v1.{}.{}", p[1], "ab"),
            format!("v1.{}.{}=", p[1], p[2]),
            format!("v1.{}.{}", p[1], &p[2][..p[2].len() - 1]),
            format!("v1.{}.{}A", p[1], p[2]),
            format!("v1..{}", p[2]),
            format!("v1.{}.", p[1]),
            format!(" {valid}"),
            format!("{valid}\n"),
            format!("{valid}é"),
            long.clone(),
            long_token,
        ];
        for case in &cases {
            let got = verify(&keys(), case, Purpose::Rate, NOW);
            assert_eq!(got, Err(LinkError::Malformed), "input {:?}", truncate(case));
        }
    }

    fn truncate(s: &str) -> String {
        s.chars().take(80).collect()
    }

    #[test]
    fn rating_urls_carry_distinct_scores() {
        let b = builder("https://links.example.com");
        let urls = b.rating_urls("demo.myshopify.com", "cust_42", "review_request", NOW);
        assert_eq!(urls.len(), 5);
        for (i, url) in urls.iter().enumerate() {
            let token = url
                .strip_prefix("https://links.example.com/rate?t=")
                .unwrap();
            let c = verify(&b.keys, token, Purpose::Rate, NOW).unwrap();
            assert_eq!(c.score, Some(i as u8 + 1));
            assert_eq!(c.shop, "demo.myshopify.com");
        }
        let mut distinct = urls.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 5);
        // Non-rating links carry no score, and the JSON omits the field.
        let u = b.unsubscribe_url("demo.myshopify.com", "cust_42", "review_request", NOW);
        let token = u.split_once("?t=").unwrap().1;
        let c = verify(&b.keys, token, Purpose::Unsubscribe, NOW).unwrap();
        assert_eq!(c.score, None);
        let json = URL_SAFE_NO_PAD.decode(parts(token)[1]).unwrap();
        assert!(!String::from_utf8(json).unwrap().contains("score"));
    }

    #[test]
    fn keys_debug_and_display_hide_secrets() {
        let k = LinkKeys::parse(&format!("2:{NEW},1:{OLD}")).unwrap();
        let b = builder("https://links.example.com");
        let shown = [
            format!("{k:?}"),
            format!("{k:#?}"),
            format!("{k}"),
            format!("{b:?}"),
        ];
        for s in &shown {
            assert!(!s.contains("secret"), "{s}");
            assert!(!s.contains(&OLD[..8]) && !s.contains(&NEW[..8]), "{s}");
        }
        assert!(
            shown[0].contains('2') && shown[0].contains('1'),
            "{}",
            shown[0]
        );
        assert_eq!(shown[2], "link keys (current v2, v1)");
    }

    #[test]
    fn parse_errors_name_the_problem() {
        let long = "s".repeat(MIN_SECRET_LEN);
        let short = "s".repeat(MIN_SECRET_LEN - 1);
        let cases = [
            ("".to_owned(), "empty"),
            ("   ".to_owned(), "empty"),
            (format!("1:{long},"), "entry 2 is empty"),
            (format!("1{long}"), "no ':'"),
            (format!("x:{long}"), "bad version number \"x\""),
            (format!("-1:{long}"), "bad version number"),
            (format!("+1:{long}"), "bad version number"),
            (format!("01:{long}"), "bad version number"),
            (format!(":{long}"), "bad version number"),
            (format!("4294967296:{long}"), "bad version number"),
            (format!("1:{long},1:{long}"), "duplicate version 1"),
            (format!("1:{short}"), "shorter than 32"),
            ("1:".to_owned(), "shorter than 32"),
        ];
        for (spec, needle) in &cases {
            match LinkKeys::parse(spec) {
                Err(LinkError::InvalidKeys(msg)) => {
                    assert!(msg.contains(needle), "{spec:?}: {msg:?} lacks {needle:?}");
                    assert!(!msg.contains(&short), "{spec:?}: message shows the secret");
                }
                other => panic!("{spec:?}: expected InvalidKeys, got {other:?}"),
            }
        }
        // Accepted: whitespace, ':' inside a secret, version 0 and u32::MAX.
        let k = LinkKeys::parse(&format!(" 7 : {long} , 0:a:{long}, 4294967295:{long}\n")).unwrap();
        assert_eq!(k.current_version(), 7);
        assert_eq!(k.versions(), vec![7, 0, u32::MAX]);
    }

    fn builder(base: &str) -> LinkBuilder {
        LinkBuilder {
            base_url: base.into(),
            keys: LinkKeys::parse(&format!("2:{NEW},1:{OLD}")).unwrap(),
            ttl_days: 60,
        }
    }

    #[test]
    fn builder_urls_are_well_formed_for_both_base_forms() {
        let bases = [
            ("https://links.example.com", "https://links.example.com"),
            ("https://links.example.com/", "https://links.example.com"),
            (
                "http://127.0.0.1:9000/lambda-url/links",
                "http://127.0.0.1:9000/lambda-url/links",
            ),
            (
                "http://127.0.0.1:9000/lambda-url/links/",
                "http://127.0.0.1:9000/lambda-url/links",
            ),
        ];
        for (base, want) in bases {
            let b = builder(base);
            let mut urls = b.rating_urls("s", "c", "f", NOW);
            urls.push(b.unsubscribe_url("s", "c", "f", NOW));
            urls.push(b.reorder_url("s", "c", "f", NOW));
            let purposes = [
                [Purpose::Rate; 5].as_slice(),
                &[Purpose::Unsubscribe, Purpose::Reorder],
            ]
            .concat();
            for (url, purpose) in urls.iter().zip(purposes) {
                let prefix = format!("{want}/{purpose}?t=");
                let token = url
                    .strip_prefix(&prefix)
                    .unwrap_or_else(|| panic!("{url} does not start with {prefix}"));
                assert!(
                    !url.contains("//rate")
                        && !url.contains("//unsub")
                        && !url.contains("//reorder")
                );
                assert!(token.chars().all(is_token_char), "{url}");
                let c = verify(&b.keys, token, purpose, NOW).unwrap();
                assert_eq!(c.expires_at, NOW + 60 * 86_400);
                assert_eq!(
                    (
                        c.shop.as_str(),
                        c.customer_key.as_str(),
                        c.followup.as_str()
                    ),
                    ("s", "c", "f")
                );
            }
        }
    }

    fn random_string(rng: &mut fastrand::Rng) -> String {
        let len = rng.usize(0..40);
        (0..len)
            .map(|_| match rng.u8(0..10) {
                0 => rng.char(..),
                1 => ['"', '\\', '.', '/', '?', '&', '=', ' ', '\n', '\0'][rng.usize(0..10)],
                _ => rng.alphanumeric(),
            })
            .collect()
    }

    fn random_claims(rng: &mut fastrand::Rng) -> LinkClaims {
        let purpose = [Purpose::Rate, Purpose::Unsubscribe, Purpose::Reorder][rng.usize(0..3)];
        LinkClaims {
            shop: random_string(rng),
            customer_key: random_string(rng),
            followup: random_string(rng),
            purpose,
            expires_at: rng.i64(NOW..NOW + 400 * 86_400),
            score: if rng.bool() { Some(rng.u8(..)) } else { None },
        }
    }

    /// 1,000 random claims round-trip, and no single-character change to a token
    /// verifies. Every position of every token is changed once (to a random other token
    /// character, or now and then to something outside the alphabet).
    #[test]
    fn property_random_claims_round_trip_and_single_flips_never_verify() {
        let seed = std::env::var("LINKS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| fastrand::u64(..));
        let mut rng = fastrand::Rng::with_seed(seed);
        // Two keys, so a flipped version digit can land on the other, known key.
        let keys = LinkKeys::parse(&format!("2:{NEW},1:{OLD}")).unwrap();
        let alphabet: Vec<char> = ('A'..='Z')
            .chain('a'..='z')
            .chain('0'..='9')
            .chain(['-', '_', '.', 'v'])
            .collect();
        for n in 0..1000 {
            let c = random_claims(&mut rng);
            let token = sign(&keys, &c);
            assert!(
                token.chars().all(is_token_char),
                "seed {seed}, #{n}: {token}"
            );
            assert_eq!(
                verify(&keys, &token, c.purpose, NOW).as_ref(),
                Ok(&c),
                "seed {seed}, #{n}"
            );
            for (i, orig) in token.char_indices() {
                let replacement = if rng.u8(0..20) == 0 {
                    ['=', '+', '/', ' ', '%', 'é'][rng.usize(0..6)]
                } else {
                    loop {
                        let r = alphabet[rng.usize(0..alphabet.len())];
                        if r != orig {
                            break r;
                        }
                    }
                };
                let flipped = with_char(&token, i, replacement);
                let got = verify(&keys, &flipped, c.purpose, NOW);
                assert!(
                    got.is_err(),
                    "seed {seed}, #{n}: changing byte {i} of {token} to {replacement:?} verified"
                );
            }
        }
    }
}

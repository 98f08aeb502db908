//! Link tokens through `tokens::verify` and `verify_lasting` for every purpose.
//!
//! The first byte picks a mode; the rest is the input:
//! - 0: the input is a token, as a customer's click brings it;
//! - 1: the input is the claims JSON, signed with the current key (so the decoding
//!   after the signature check is reached with any payload);
//! - 2: the input is the signed part (`v{version}.{payload}`), signed with that version's
//!   key where it is one;
//! - 3: the input is a key specification for `LinkKeys::parse`;
//! - otherwise: the input's lines are shop, customer key and follow-up id of claims
//!   that are signed and must verify back to the same claims.

#![no_main]

use aftercart::model::tokens::{sign, verify, verify_lasting, LinkClaims, LinkKeys, Purpose};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;
use std::sync::LazyLock;

const SECRET_2: &str = "fuzz-link-key-version-two-0123456789";
const SECRET_1: &str = "fuzz-link-key-version-one-0123456789";
const NOW: i64 = 1_796_000_000;
const PURPOSES: [Purpose; 4] = [
    Purpose::Rate,
    Purpose::Unsubscribe,
    Purpose::Reorder,
    Purpose::Reason,
];

static KEYS: LazyLock<LinkKeys> = LazyLock::new(|| {
    LinkKeys::parse(&format!("2:{SECRET_2}, 1:{SECRET_1}")).expect("valid link keys")
});

fn tag(secret: &str, signed: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(signed.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

fn check(token: &str) {
    for purpose in PURPOSES {
        let lasting = verify_lasting(&KEYS, token, purpose);
        let timed = verify(&KEYS, token, purpose, NOW);
        if let Ok(claims) = &timed {
            assert_eq!(
                lasting.as_ref(),
                Ok(claims),
                "verify passed, verify_lasting did not"
            );
        }
        for r in [lasting, timed] {
            if let Err(e) = r {
                let _ = e.to_string();
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(input) = std::str::from_utf8(rest) else {
        return;
    };
    match mode {
        0 => check(input),
        1 => {
            let signed = format!("v2.{}", URL_SAFE_NO_PAD.encode(input));
            let token = format!("{signed}.{}", tag(SECRET_2, &signed));
            check(&token);
        }
        2 => {
            let secret = if input.starts_with("v1.") {
                SECRET_1
            } else {
                SECRET_2
            };
            let token = format!("{input}.{}", tag(secret, input));
            check(&token);
        }
        3 => match LinkKeys::parse(input) {
            Ok(keys) => {
                let _ = (
                    keys.current_version(),
                    keys.versions(),
                    format!("{keys} {keys:?}"),
                );
            }
            Err(e) => {
                let _ = e.to_string();
            }
        },
        _ => {
            let mut lines = input.splitn(3, '\n');
            let claims = LinkClaims {
                shop: lines.next().unwrap_or_default().to_owned(),
                customer_key: lines.next().unwrap_or_default().to_owned(),
                followup: lines.next().unwrap_or_default().to_owned(),
                purpose: PURPOSES[usize::from(mode) % PURPOSES.len()],
                expires_at: NOW + i64::from(mode),
                score: (mode % 2 == 0).then_some(mode % 9),
            };
            let token = sign(&KEYS, &claims);
            if token.len() <= aftercart::model::tokens::MAX_TOKEN_LEN {
                assert_eq!(verify(&KEYS, &token, claims.purpose, NOW), Ok(claims));
            }
            check(&token);
        }
    }
});

use super::code::{self, ALPHABET};
use super::graphql::{self, *};
use super::*;
use crate::config::{CombinesWith, Config};
use rust_decimal::Decimal;
use serde_json::json;

fn shop_with(loyalty: &str) -> Config {
    Config::parse(
        &format!(
            "[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"acme.myshopify.com\"\nname = \"Acme\"\nsender_email = \"shop@acme.example\"\n[shop.playbooks.loyalty]\n{loyalty}\n"
        ),
        "t",
    )
    .unwrap()
}

fn followup(customer_key: &str) -> FollowUpRecord {
    FollowUpRecord::pending(
        "acme.myshopify.com",
        customer_key,
        Playbook::Loyalty,
        5002,
        None,
        "2026-11-23T08:00:00.000Z",
        "2026-11-22T08:00:00.000Z",
        4,
    )
}

// ---- which playbooks get a code

#[test]
fn only_a_configured_loyalty_rule_makes_codes() {
    let with = shop_with("discount = { percentage = 15 }");
    let without = shop_with("nth_order = 2");
    for p in Playbook::ALL {
        assert_eq!(
            needs_code(&with.shops[0], p),
            p == Playbook::Loyalty,
            "{p:?}"
        );
        assert!(!needs_code(&without.shops[0], p), "{p:?}");
    }
    assert!(shop_makes_codes(&with.shops[0]));
    assert!(!shop_makes_codes(&without.shops[0]));
}

// ---- codes

#[test]
fn the_alphabet_has_no_confusable_symbols_and_no_repeats() {
    for confusable in b"01OIL" {
        assert!(!ALPHABET.contains(confusable), "{}", *confusable as char);
    }
    let mut sorted = ALPHABET.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), ALPHABET.len());
    assert!(ALPHABET
        .iter()
        .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()));
}

#[test]
fn codes_carry_enough_entropy_in_readable_groups() {
    assert!(code::entropy_bits() > 59.0, "{}", code::entropy_bits());
    let c = code::new_code("THANKS").unwrap();
    assert_eq!(c.len(), "THANKS-XXXX-XXXX-XXXX".len(), "{c}");
    assert!(code::is_well_formed("THANKS", &c), "{c}");
    assert!(!code::is_well_formed("THANKS", "THANKS-0000-1111-OOOO"));
    assert!(!code::is_well_formed("THANKS", "THANKS-ABCD-EFGH"));
    assert!(!code::is_well_formed("VIP", &c));
}

#[test]
fn codes_do_not_repeat_and_use_every_symbol_about_evenly() {
    let mut seen = std::collections::HashSet::new();
    let mut counts = [0u32; 31];
    for _ in 0..2000 {
        let c = code::new_code("T").unwrap();
        for b in c.bytes().skip(1).filter(|b| *b != b'-') {
            counts[ALPHABET.iter().position(|a| *a == b).unwrap()] += 1;
        }
        assert!(seen.insert(c));
    }
    // 24 000 symbols, 774 expected each; a biased generator would be far off.
    let (min, max) = (*counts.iter().min().unwrap(), *counts.iter().max().unwrap());
    assert!(min > 600 && max < 950, "{counts:?}");
}

#[test]
fn byte_mapping_rejects_the_biased_tail() {
    // 248..=255 would favour the first 8 symbols: they are skipped, not wrapped.
    let symbols: Vec<u8> = code::symbols_from([0, 30, 31, 247, 248, 255]).collect();
    assert_eq!(symbols, vec![b'2', b'Z', b'2', b'Z']);
    assert_eq!(
        code::format_code("VIP", b"ABCDEFGHJKMN"),
        "VIP-ABCD-EFGH-JKMN"
    );
}

// ---- variables

fn discount(value: DiscountValue) -> NewDiscount {
    NewDiscount {
        title: "Acme reward (loyalty#5002#0)".into(),
        code: "THANKS-ABCD-EFGH-JKMN".into(),
        starts_at: "2026-11-23T08:00:00.000Z".into(),
        ends_at: Some("2026-12-23T08:00:00.000Z".into()),
        customer_gid: "gid://shopify/Customer/207119551".into(),
        value,
        combines_with: CombinesWith::default(),
    }
}

#[test]
fn variables_from_2025_10_tie_the_code_to_the_customer_through_context() {
    let v = create_variables(&discount(DiscountValue::Percentage(15.into())), "2025-10");
    assert_eq!(
        v,
        json!({"basicCodeDiscount": {
            "title": "Acme reward (loyalty#5002#0)",
            "code": "THANKS-ABCD-EFGH-JKMN",
            "startsAt": "2026-11-23T08:00:00.000Z",
            "endsAt": "2026-12-23T08:00:00.000Z",
            "usageLimit": 1,
            "appliesOncePerCustomer": true,
            "context": {"customers": {"add": ["gid://shopify/Customer/207119551"]}},
            "customerGets": {"value": {"percentage": 0.15}, "items": {"all": true}},
            "combinesWith": {"orderDiscounts": false, "productDiscounts": false, "shippingDiscounts": true}
        }})
    );
    assert!(uses_context("2026-01") && uses_context("unstable"));
}

#[test]
fn variables_before_2025_10_use_customer_selection() {
    let v = create_variables(
        &discount(DiscountValue::Amount {
            amount: "10.50".parse().unwrap(),
            each_item: true,
        }),
        "2025-07",
    );
    let input = &v["basicCodeDiscount"];
    assert!(input.get("context").is_none());
    assert_eq!(
        input["customerSelection"],
        json!({"customers": {"add": ["gid://shopify/Customer/207119551"]}})
    );
    assert_eq!(
        input["customerGets"]["value"],
        json!({"discountAmount": {"amount": "10.50", "appliesOnEachItem": true}})
    );
}

#[test]
fn odd_percentages_become_exact_fractions() {
    let v = create_variables(
        &discount(DiscountValue::Percentage(
            "12.5".parse::<Decimal>().unwrap(),
        )),
        "2025-10",
    );
    assert_eq!(
        v["basicCodeDiscount"]["customerGets"]["value"]["percentage"],
        json!(0.125)
    );
    let v = create_variables(&discount(DiscountValue::Percentage(100.into())), "2025-10");
    assert_eq!(
        v["basicCodeDiscount"]["customerGets"]["value"]["percentage"],
        json!(1.0)
    );
}

#[test]
fn only_shopify_customers_have_a_gid() {
    assert_eq!(
        customer_gid("207119551").as_deref(),
        Some("gid://shopify/Customer/207119551")
    );
    for key in [
        "guest-5ff860bf1190596c7188ab851db691f0",
        "",
        "0",
        "12a",
        "99999999999999999999999",
    ] {
        assert_eq!(customer_gid(key), None, "{key}");
    }
}

#[test]
fn the_request_follows_the_rule_and_the_reservation() {
    let config = shop_with(
        "discount = { amount = \"10.00\", days_valid = 14, prefix = \"VIP\", title = \"VIP thanks\", combines_with = { order = true, shipping = false } }",
    );
    let shop = &config.shops[0];
    let rule = code_rule(shop, Playbook::Loyalty).unwrap();
    let f = followup("207119551");
    let now: DateTime<Utc> = "2026-11-23T08:00:00Z".parse().unwrap();
    let rec = reservation(rule, &f, "gid://shopify/Customer/207119551", now).unwrap();
    assert!(code::is_well_formed("VIP", &rec.code), "{}", rec.code);
    assert_eq!(rec.status, DiscountStatus::Reserved);
    assert_eq!(rec.ends_at.as_deref(), Some("2026-12-07T08:00:00.000Z"));
    let d = new_discount(shop, rule, &f, &rec, "gid://shopify/Customer/207119551");
    assert_eq!(d.title, "VIP thanks (loyalty#5002#0)");
    assert_eq!(d.starts_at, "2026-11-23T08:00:00.000Z");
    assert_eq!(
        d.value,
        DiscountValue::Amount {
            amount: "10.00".parse().unwrap(),
            each_item: false
        }
    );
    assert_eq!(
        d.combines_with,
        CombinesWith {
            order: true,
            product: false,
            shipping: false
        }
    );
    assert_eq!(expiry_date(&rec, shop).as_deref(), Some("2026-12-07"));
    // In the shop's time zone: 02:00 UTC is still the day before in New York.
    let mut late = rec.clone();
    late.ends_at = Some("2026-12-07T02:00:00.000Z".into());
    let mut ny = shop.clone();
    ny.time_zone = "America/New_York".into();
    assert_eq!(expiry_date(&late, &ny).as_deref(), Some("2026-12-06"));
    // Without a title: the shop's name.
    let config = shop_with("discount = { percentage = 15 }");
    let shop = &config.shops[0];
    let rule = code_rule(shop, Playbook::Loyalty).unwrap();
    assert_eq!(
        discount_title(shop, rule, &f),
        "Acme reward (loyalty#5002#0)"
    );
}

// ---- responses

#[test]
fn a_created_discount_is_read_with_its_id_and_code() {
    let data = json!({"discountCodeBasicCreate": {
        "codeDiscountNode": {"id": "gid://shopify/DiscountCodeNode/1057371270",
            "codeDiscount": {"title": "t", "startsAt": "2026-11-23T08:00:00Z", "endsAt": null,
                "codes": {"nodes": [{"code": "THANKS-ABCD-EFGH-JKMN"}]}}},
        "userErrors": []}});
    assert_eq!(
        parse_create(&data),
        CreateAnswer::Created {
            id: "gid://shopify/DiscountCodeNode/1057371270".into(),
            code: Some("THANKS-ABCD-EFGH-JKMN".into())
        }
    );
}

#[test]
fn user_errors_are_told_apart() {
    let taken = json!({"discountCodeBasicCreate": {"codeDiscountNode": null, "userErrors": [
        {"field": ["basicCodeDiscount", "code"], "code": "TAKEN", "message": "Code must be unique. Please try a different code."}
    ]}});
    assert_eq!(parse_create(&taken), CreateAnswer::CodeTaken);
    let invalid = json!({"discountCodeBasicCreate": {"codeDiscountNode": null, "userErrors": [
        {"field": ["basicCodeDiscount", "customerGets", "value", "percentage"], "code": "VALUE_OUTSIDE_RANGE", "message": "Value must be between 0.0 and 1.0"}
    ]}});
    let CreateAnswer::Rejected(errors) = parse_create(&invalid) else {
        panic!("not rejected");
    };
    let shown = AdminError::Rejected(errors).to_string();
    assert_eq!(
        shown,
        "the store rejected the discount: VALUE_OUTSIDE_RANGE at basicCodeDiscount.customerGets.value.percentage: Value must be between 0.0 and 1.0"
    );
    // TAKEN on another field is not about our code.
    let other_taken = json!({"discountCodeBasicCreate": {"codeDiscountNode": null, "userErrors": [
        {"field": ["basicCodeDiscount", "title"], "code": "TAKEN", "message": "taken"}
    ]}});
    assert!(matches!(
        parse_create(&other_taken),
        CreateAnswer::Rejected(_)
    ));
    assert!(matches!(
        parse_create(
            &json!({"discountCodeBasicCreate": {"codeDiscountNode": null, "userErrors": []}})
        ),
        CreateAnswer::Unexpected(_)
    ));
    assert!(matches!(
        parse_create(&json!({})),
        CreateAnswer::Unexpected(_)
    ));
}

#[test]
fn a_code_lookup_finds_the_owner_or_nothing() {
    let found = json!({"codeDiscountNodeByCode": {"id": "gid://shopify/DiscountCodeNode/9",
        "codeDiscount": {"title": "Acme reward (loyalty#5002#0)"}}});
    assert_eq!(
        parse_by_code(&found).unwrap(),
        Some(FoundDiscount {
            id: "gid://shopify/DiscountCodeNode/9".into(),
            title: Some("Acme reward (loyalty#5002#0)".into())
        })
    );
    assert_eq!(
        parse_by_code(&json!({"codeDiscountNodeByCode": null})).unwrap(),
        None
    );
    assert!(parse_by_code(&json!({})).is_err());
}

#[test]
fn top_level_errors_are_classified() {
    let throttled = json!({"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
        "extensions": {"cost": {"requestedQueryCost": 10, "actualQueryCost": null,
            "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 4, "restoreRate": 100.0}}}});
    assert_eq!(top_errors(&throttled), TopErrors::Throttled);
    assert_eq!(
        top_errors(
            &json!({"errors": [{"message": "Access denied for discountCodeBasicCreate field.", "extensions": {"code": "ACCESS_DENIED"}}]})
        ),
        TopErrors::AccessDenied("Access denied for discountCodeBasicCreate field.".into())
    );
    assert!(matches!(
        top_errors(
            &json!({"errors": [{"message": "Internal error", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]})
        ),
        TopErrors::Internal(_)
    ));
    assert_eq!(
        top_errors(
            &json!({"errors": [{"message": "Field 'context' doesn't exist on type 'DiscountCodeBasicInput'"}]})
        ),
        TopErrors::Other("Field 'context' doesn't exist on type 'DiscountCodeBasicInput'".into())
    );
    assert_eq!(
        top_errors(&json!({"errors": "[API] Invalid API key or access token"})),
        TopErrors::Other("[API] Invalid API key or access token".into())
    );
    assert_eq!(top_errors(&json!({"data": {}})), TopErrors::None);
    assert_eq!(
        top_errors(&json!({"data": {}, "errors": []})),
        TopErrors::None
    );
}

#[test]
fn the_cost_extension_is_read() {
    let body = json!({"data": {}, "extensions": {"cost": {"requestedQueryCost": 10, "actualQueryCost": 10,
        "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1990, "restoreRate": 100.0}}}});
    assert_eq!(
        graphql::cost(&body),
        Some(Cost {
            requested: Some(10.0),
            actual: Some(10.0),
            throttle: Some(ThrottleStatus {
                maximum_available: 2000.0,
                currently_available: 1990.0,
                restore_rate: 100.0
            })
        })
    );
    assert_eq!(graphql::cost(&json!({"data": {}})), None);
    let no_status =
        graphql::cost(&json!({"extensions": {"cost": {"requestedQueryCost": 10}}})).unwrap();
    assert_eq!(no_status.throttle, None);
}

// ---- throttle math

fn bucket(max: f64, available: f64, rate: f64) -> Bucket {
    Bucket {
        status: ThrottleStatus {
            maximum_available: max,
            currently_available: available,
            restore_rate: rate,
        },
        at: 100.0,
    }
}

#[test]
fn a_full_bucket_lets_calls_through_at_once() {
    let b = bucket(2000.0, 1990.0, 100.0);
    assert_eq!(b.wait(100.0, 10.0, Duration::from_secs(20)), Duration::ZERO);
}

#[test]
fn calls_wait_before_the_bucket_runs_empty() {
    // 10 % of 1000 is kept back: a 10-point call needs 110 points; 60 are there and 50
    // come back each second, so it waits one second.
    let b = bucket(1000.0, 60.0, 50.0);
    assert_eq!(
        b.wait(100.0, 10.0, Duration::from_secs(20)),
        Duration::from_secs(1)
    );
    // Half a second later half of that is restored.
    assert_eq!(
        b.wait(100.5, 10.0, Duration::from_secs(20)),
        Duration::from_millis(500)
    );
    assert_eq!(b.wait(101.0, 10.0, Duration::from_secs(20)), Duration::ZERO);
    // The refill never exceeds the bucket.
    assert_eq!(b.available(1_000.0), 1000.0);
}

#[test]
fn waits_are_capped_and_a_dead_restore_rate_does_not_hang() {
    let b = bucket(1000.0, 0.0, 1.0);
    assert_eq!(
        b.wait(100.0, 10.0, Duration::from_secs(20)),
        Duration::from_secs(20)
    );
    let b = bucket(1000.0, 0.0, 0.0);
    assert_eq!(
        b.wait(100.0, 10.0, Duration::from_secs(3)),
        Duration::from_secs(3)
    );
}

#[test]
fn spending_leaves_less_for_the_next_caller() {
    let mut b = bucket(100.0, 40.0, 10.0);
    assert_eq!(b.wait(100.0, 10.0, Duration::from_secs(20)), Duration::ZERO);
    b.spend(100.0, 10.0);
    b.spend(100.0, 10.0);
    b.spend(100.0, 10.0);
    // 10 left, 20 needed (10 + 10 % of 100): one second.
    assert_eq!(
        b.wait(100.0, 10.0, Duration::from_secs(20)),
        Duration::from_secs(1)
    );
}

#[test]
fn a_cost_above_the_whole_bucket_waits_for_a_full_bucket_only() {
    let b = bucket(100.0, 50.0, 10.0);
    assert_eq!(
        b.wait(100.0, 100.0, Duration::from_secs(60)),
        Duration::from_secs(5)
    );
}

// ---- client

#[test]
fn the_endpoint_is_the_shop_unless_overridden() {
    let settings = crate::config::AdminSettings::default();
    let c = AdminClient::new(&settings, AdminTokens::default()).unwrap();
    assert_eq!(
        c.graphql_url("acme.myshopify.com"),
        "https://acme.myshopify.com/admin/api/2025-10/graphql.json"
    );
    let settings = crate::config::AdminSettings {
        endpoint: Some("http://127.0.0.1:5112".into()),
        api_version: "2025-07".into(),
        ..Default::default()
    };
    let c = AdminClient::new(&settings, AdminTokens::default()).unwrap();
    assert_eq!(
        c.graphql_url("acme.myshopify.com"),
        "http://127.0.0.1:5112/admin/api/2025-07/graphql.json"
    );
    let bad = crate::config::AdminSettings {
        endpoint: Some("http://proxy.example.com".into()),
        ..Default::default()
    };
    assert!(AdminClient::new(&bad, AdminTokens::default()).is_err());
}

#[test]
fn tokens_are_required_only_where_codes_are_made_and_never_printed() {
    let config = Config::parse(
        "[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"a.myshopify.com\"\nsender_email = \"shop@acme.example\"\nadmin_token_env = \"A_TOKEN\"\n[shop.playbooks.loyalty]\ndiscount = { percentage = 10 }\n\
         [[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"b.myshopify.com\"\nsender_email = \"shop@acme.example\"\n",
        "t",
    )
    .unwrap();
    let tokens = AdminTokens::load(&config, |v| {
        (v == "A_TOKEN").then(|| "shpat_secret123".into())
    })
    .unwrap();
    let shown = format!("{tokens:?}");
    assert!(
        shown.contains("a.myshopify.com") && !shown.contains("shpat"),
        "{shown}"
    );
    let client = AdminClient::new(&config.admin, tokens).unwrap();
    assert!(!format!("{client:?}").contains("shpat"));

    let e = AdminTokens::load(&config, |_| None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("A_TOKEN") && e.contains("shop[0]") && e.contains("Fix:"),
        "{e}"
    );
    let e = AdminTokens::load(&config, |_| Some("bad\ntoken".into()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("A_TOKEN") && !e.contains("bad"), "{e}");
}

#[tokio::test]
async fn a_shop_without_a_token_is_refused_before_any_request() {
    let client = AdminClient::new(
        &crate::config::AdminSettings {
            // Nothing listens there: a request would fail differently.
            endpoint: Some("http://127.0.0.1:9".into()),
            ..Default::default()
        },
        AdminTokens::default(),
    )
    .unwrap();
    let e = client
        .create_discount(
            "acme.myshopify.com",
            &discount(DiscountValue::Percentage(15.into())),
        )
        .await
        .unwrap_err();
    assert_eq!(e, AdminError::NoToken);
}

#[test]
fn the_merchant_alert_says_what_broke_and_how_to_fix_it_without_secrets() {
    let config = shop_with("discount = { percentage = 15 }");
    let mut shop = config.shops[0].clone();
    shop.admin_token_env = Some("ACME_ADMIN_TOKEN".into());
    let raw = alert_message(
        &shop,
        "shop@acme.example",
        "help@acme.example",
        &AdminError::Auth("HTTP 401".into()),
        "2026-11-23T08:00:00Z".parse().unwrap(),
    )
    .unwrap();
    let msg = mail_parser::MessageParser::default().parse(&raw).unwrap();
    assert_eq!(
        msg.subject(),
        Some("Action needed: Aftercart cannot create discount codes for Acme")
    );
    assert_eq!(
        msg.to().and_then(|a| a.first()).and_then(|a| a.address()),
        Some("help@acme.example")
    );
    let text = msg.body_text(0).unwrap();
    for needed in [
        "HTTP 401",
        "ACME_ADMIN_TOKEN",
        "write_discounts",
        "acme.myshopify.com",
    ] {
        assert!(text.contains(needed), "{needed}: {text}");
    }
}

// ---- the access check (confirms an uninstall)
//
// The HTTP answers (200 with the shop id, 401 for a revoked token, 503 retried) are
// exercised against the fake Admin API of the integration tests (`tests/it/privacy.rs`).

#[test]
fn the_access_check_is_the_cheapest_query_and_reads_the_shop_id() {
    assert_eq!(ACCESS_CHECK, "query AftercartAccessCheck { shop { id } }");
    assert_eq!(
        parse_access_check(&json!({"shop": {"id": "gid://shopify/Shop/954889"}})),
        Ok("gid://shopify/Shop/954889".to_owned())
    );
    for odd in [
        json!({"shop": null}),
        json!({"shop": {"id": ""}}),
        json!({"shop": {"id": 954889}}),
        json!({}),
    ] {
        assert!(parse_access_check(&odd).is_err(), "{odd}");
    }
}

fn client_at(url: &str, tokens: AdminTokens) -> AdminClient {
    AdminClient::new(
        &crate::config::AdminSettings {
            endpoint: Some(url.into()),
            max_attempts: 2,
            retry_base_ms: 1,
            ..Default::default()
        },
        tokens,
    )
    .unwrap()
}

#[tokio::test]
async fn a_shop_without_a_token_cannot_be_checked() {
    // Nothing listens on port 9: a request would fail differently.
    let client = client_at("http://127.0.0.1:9", AdminTokens::default());
    assert_eq!(
        client.check_access("acme.myshopify.com").await,
        Err(AdminError::NoToken)
    );
}

#[tokio::test]
async fn an_unreachable_store_is_transient() {
    let tokens = AdminTokens::from_pairs([("acme.myshopify.com", "shpat_acme")]);
    let e = client_at("http://127.0.0.1:9", tokens)
        .check_access("acme.myshopify.com")
        .await
        .unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    assert!(e.to_string().contains("cannot connect"), "{e}");
}

// ---- the HTTP transport, against a local one-connection-per-answer server
//
// Each canned answer is served on its own connection (`Connection: close`); what each
// request looked like comes back for the assertions.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request as the server read it: the request line and headers (lower-cased
/// names), and the body.
#[derive(Debug)]
struct Heard {
    head: String,
    body: Vec<u8>,
}

impl Heard {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Serves `answers` in order (`None`: accept, read, never answer), one per connection;
/// returns the base URL and what was heard.
async fn serve(
    answers: Vec<Option<String>>,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<Heard>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let heard = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = heard.clone();
    tokio::spawn(async move {
        for answer in answers {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let heard = loop {
                let n = conn.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
                let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                let h = Heard {
                    head,
                    body: Vec::new(),
                };
                let len: usize = h
                    .header("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    break Heard {
                        body: buf[end + 4..end + 4 + len].to_vec(),
                        ..h
                    };
                }
            };
            log.lock().unwrap().push(heard);
            match answer {
                Some(a) => conn.write_all(a.as_bytes()).await.unwrap(),
                // Hold the connection open, silent, and take the next one.
                None => {
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        drop(conn);
                    });
                }
            }
        }
    });
    (base, heard)
}

fn answer(status: &str, extra_headers: &str, body: &str) -> Option<String> {
    Some(format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra_headers}\r\n{body}",
        body.len()
    ))
}

const SHOP_ANSWER: &str = r#"{"data":{"shop":{"id":"gid://shopify/Shop/1"}},"extensions":{"cost":{"requestedQueryCost":1,"actualQueryCost":1,"throttleStatus":{"maximumAvailable":2000.0,"currentlyAvailable":1999,"restoreRate":100.0}}}}"#;

fn acme() -> AdminTokens {
    AdminTokens::from_pairs([("acme.myshopify.com", "shpat_acme")])
}

#[tokio::test]
async fn a_call_posts_json_with_the_token_to_the_versioned_path() {
    let (base, heard) = serve(vec![answer("200 OK", "", SHOP_ANSWER)]).await;
    let client = client_at(&base, acme());
    assert_eq!(client.check_access("acme.myshopify.com").await, Ok(()));
    let heard = heard.lock().unwrap();
    let h = &heard[0];
    assert!(
        h.head
            .starts_with("POST /admin/api/2025-10/graphql.json HTTP/1.1\r\n"),
        "{}",
        h.head
    );
    assert_eq!(h.header("x-shopify-access-token"), Some("shpat_acme"));
    assert_eq!(h.header("content-type"), Some("application/json"));
    assert!(h
        .header("user-agent")
        .is_some_and(|a| a.starts_with("aftercart/")));
    let body: Value = serde_json::from_slice(&h.body).unwrap();
    assert_eq!(body["query"], ACCESS_CHECK);
    assert_eq!(body["variables"], json!({}));
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_fails_the_call() {
    let (base, heard) = serve(vec![
        answer(
            "302 Found",
            "Location: http://127.0.0.1:9/elsewhere\r\n",
            "",
        ),
        answer("200 OK", "", SHOP_ANSWER),
    ])
    .await;
    let e = client_at(&base, acme())
        .check_access("acme.myshopify.com")
        .await
        .unwrap_err();
    assert_eq!(e, AdminError::Api("HTTP 302".into()));
    assert_eq!(heard.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn statuses_are_typed_and_5xx_and_429_are_retried() {
    let (base, _) = serve(vec![answer("401 Unauthorized", "", "{}")]).await;
    let e = client_at(&base, acme())
        .check_access("acme.myshopify.com")
        .await
        .unwrap_err();
    assert_eq!(e, AdminError::Auth("HTTP 401".into()));

    let (base, heard) = serve(vec![
        answer("503 Service Unavailable", "", "oops"),
        answer("200 OK", "", SHOP_ANSWER),
    ])
    .await;
    let client = client_at(&base, acme());
    assert_eq!(client.check_access("acme.myshopify.com").await, Ok(()));
    assert_eq!(heard.lock().unwrap().len(), 2);

    let (base, heard) = serve(vec![
        answer("429 Too Many Requests", "Retry-After: 0\r\n", "{}"),
        answer("200 OK", "", SHOP_ANSWER),
    ])
    .await;
    let client = client_at(&base, acme());
    assert_eq!(client.check_access("acme.myshopify.com").await, Ok(()));
    assert_eq!(heard.lock().unwrap().len(), 2);

    let (base, _) = serve(vec![
        answer("500 Internal Server Error", "", ""),
        answer("502 Bad Gateway", "", ""),
    ])
    .await;
    let e = client_at(&base, acme())
        .check_access("acme.myshopify.com")
        .await
        .unwrap_err();
    assert_eq!(
        e,
        AdminError::Transient("HTTP 502, after 2 attempts".into())
    );
}

#[tokio::test]
async fn a_store_that_never_answers_times_out_as_transient() {
    let (base, heard) = serve(vec![None, None]).await;
    let client = AdminClient::new(
        &crate::config::AdminSettings {
            endpoint: Some(base),
            timeout_ms: 200,
            max_attempts: 2,
            retry_base_ms: 1,
            ..Default::default()
        },
        acme(),
    )
    .unwrap();
    let begun = Instant::now();
    let e = client.check_access("acme.myshopify.com").await.unwrap_err();
    assert_eq!(
        e,
        AdminError::Transient("timed out, after 2 attempts".into())
    );
    assert!(
        begun.elapsed() < Duration::from_secs(5),
        "{:?}",
        begun.elapsed()
    );
    assert_eq!(heard.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_retried_then_transient() {
    let (base, _) = serve(vec![
        answer("200 OK", "", "<html>"),
        answer("200 OK", "", "<html>"),
    ])
    .await;
    let e = client_at(&base, acme())
        .check_access("acme.myshopify.com")
        .await
        .unwrap_err();
    assert_eq!(
        e,
        AdminError::Transient("an unreadable response, after 2 attempts".into())
    );
}

#[test]
fn the_shop_url_is_https_on_a_transport_with_the_system_roots() {
    // Only the loopback override may use http; the shop URL is always https.
    assert!(transport::Transport::new(Duration::from_secs(1), true).is_ok());
    let settings = crate::config::AdminSettings::default();
    let c = AdminClient::new(&settings, acme()).unwrap();
    assert!(c.graphql_url("acme.myshopify.com").starts_with("https://"));
}

#[tokio::test]
async fn an_https_only_transport_does_not_send_plain_http() {
    let (base, heard) = serve(vec![answer("200 OK", "", SHOP_ANSWER)]).await;
    let t = transport::Transport::new(Duration::from_secs(1), true).unwrap();
    let url = format!("{base}/admin/api/2025-10/graphql.json");
    let token = http::HeaderValue::from_static("shpat_acme");
    let sent = t
        .post_json(&url, &[("x-shopify-access-token", &token)], b"{}".to_vec())
        .await;
    assert!(
        matches!(sent, Err(transport::SendError::Connect)),
        "{sent:?}"
    );
    assert!(heard.lock().unwrap().is_empty());
    let sent = t.post_json("https://bad host/", &[], b"{}".to_vec()).await;
    assert!(
        matches!(sent, Err(transport::SendError::Invalid)),
        "{sent:?}"
    );
}

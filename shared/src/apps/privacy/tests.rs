use super::*;
use crate::adapters::dynamo::privacy::item_of;
use crate::adapters::dynamo::Attrs;
use crate::model::personal::elide_quoted;
use aws_sdk_dynamodb::types::AttributeValue;
use mail_parser::{MessageParser, MimeHeaders};
use std::collections::HashMap;

const SHOP: &str = "acme.myshopify.com";

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: &str) -> AttributeValue {
    AttributeValue::N(v.into())
}

/// A stored item as the privacy port hands it out (built as DynamoDB stores it).
fn item(pk: &str, sk: &str, attrs: &[(&str, AttributeValue)]) -> Item {
    let mut m: Attrs = attrs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    m.insert("pk".into(), s(pk));
    m.insert("sk".into(), s(sk));
    item_of(&m)
}

fn request(topic: &str) -> PrivacyRequestRecord {
    PrivacyRequestRecord {
        topic: topic.into(),
        received_at: "2026-12-01T12:00:00.000Z".into(),
        status: "pending".into(),
        customer_id: Some(9_007_199_254_740_993), // 2^53 + 1: must survive exactly
        email_hash: Some(email_hash("zoe@example.com")),
        order_ids: vec![5001],
        data_request_id: Some(9999),
    }
}

// ---------------------------------------------------------------------------------------
// finding the customer's data

#[test]
fn customer_items_point_to_orders_and_addresses() {
    let pk = "SHOP#acme.myshopify.com#CUSTOMER#42";
    let items = vec![
        item(pk, "PROFILE", &[("email", s(" Zoe@Example.com "))]),
        item(
            pk,
            "ORDER#2026-11-01T10:00:00.000Z#5001",
            &[("order_id", n("5001"))],
        ),
        item(pk, "FOLLOWUP#thank_you#5002#0", &[("order_id", n("5002"))]),
        item(
            pk,
            "FEEDBACK#satisfaction#5003#0",
            &[("order_id", n("5003"))],
        ),
        item(
            pk,
            "DISCOUNT#loyalty#5001#0",
            &[("redeemed_order_id", n("777"))],
        ),
    ];
    let found = scan_customer_items(&items);
    assert_eq!(
        found.order_ids.into_iter().collect::<Vec<_>>(),
        vec![5001, 5002, 5003],
        "a code redeemed on someone else's order does not make it the customer's"
    );
    assert_eq!(
        found.hashes.into_iter().collect::<Vec<_>>(),
        vec![email_hash("zoe@example.com")]
    );
}

#[test]
fn an_order_belongs_to_the_customer_unless_stored_for_another() {
    let mine: BTreeSet<String> = ["42".to_owned(), "guest-abc".to_owned()].into();
    let pk = "SHOP#acme.myshopify.com#ORDER#1";
    let order_of = |who: &str| vec![item(pk, "ORDER", &[("customer_key", s(who))])];
    assert!(order_belongs(&order_of("42"), &mine, false));
    assert!(order_belongs(&order_of("guest-abc"), &mine, false));
    assert!(!order_belongs(&order_of("43"), &mine, false));
    assert!(
        order_belongs(&order_of("43"), &mine, true),
        "Shopify named it in orders_to_redact"
    );
    let shipment_only = vec![item(pk, "FULFILLMENT#9", &[])];
    assert!(order_belongs(&shipment_only, &mine, false));
}

#[test]
fn shop_items_are_told_by_the_shop_segment_of_the_key() {
    for pk in [
        "SHOP#acme.myshopify.com#ORDER#1",
        "SHOP#acme.myshopify.com#CUSTOMER#42",
        "SHOP#acme.myshopify.com#PRIVACY",
        "DELIVERY#acme.myshopify.com#wh-1",
        "EVENT#acme.myshopify.com#orders/paid#1#2026-01-01T00:00:00.000Z",
        "SUPPRESS#acme.myshopify.com#abc",
        "MAILEVENT#acme.myshopify.com#msg-1",
    ] {
        assert!(is_shop_item(pk, SHOP), "{pk}");
    }
    for pk in [
        "SHOP#acme.myshopify.com", // the tombstone
        "SHOP#acme.myshopify.com.evil.com#ORDER#1",
        "SHOP#other.myshopify.com#ORDER#1",
        "DELIVERY#other.myshopify.com#acme.myshopify.com#x",
        "DUE#0",
    ] {
        assert!(!is_shop_item(pk, SHOP), "{pk}");
    }
}

#[test]
fn a_scan_cursor_never_names_another_shops_customer() {
    assert!(safe_cursor("SHOP#acme.myshopify.com#CUSTOMER#42", SHOP));
    assert!(safe_cursor("SHOP#other.myshopify.com#ORDER#1", SHOP));
    assert!(safe_cursor("DELIVERY#other.myshopify.com#wh-1", SHOP));
    assert!(!safe_cursor("SHOP#other.myshopify.com#CUSTOMER#42", SHOP));
}

#[test]
fn quoted_values_are_dropped_from_decode_errors() {
    assert_eq!(
        elide_quoted(r#"invalid type: string "8814402219", expected u64"#),
        r#"invalid type: string "…", expected u64"#
    );
    assert_eq!(
        elide_quoted("missing field `topic`"),
        "missing field `topic`"
    );
}

#[test]
fn topics_map_to_kinds() {
    assert_eq!(Kind::of("customers/redact"), Some(Kind::CustomerRedact));
    assert_eq!(Kind::of("customers/data_request"), Some(Kind::DataRequest));
    assert_eq!(Kind::of("shop/redact"), Some(Kind::ShopRedact));
    assert_eq!(Kind::of("app/uninstalled"), Some(Kind::Uninstall));
    assert_eq!(Kind::Uninstall.as_str(), "app/uninstalled");
    assert_eq!(Kind::of("nonsense"), None);
}

// ---------------------------------------------------------------------------------------
// the stored request

#[test]
fn request_state_reads_what_the_webhook_wrote_and_keeps_ids_exact() {
    let record = request("customers/redact");
    let mut stored: Attrs = serde_dynamo::to_item(&record).unwrap();
    stored.insert("pk".into(), s("SHOP#acme.myshopify.com#PRIVACY"));
    stored.insert("sk".into(), s("2026-12-01T12:00:00.000Z#wh-1"));
    stored.insert("entity".into(), s("privacy_request"));
    let state: RequestState = serde_dynamo::from_item(stored).unwrap();
    assert_eq!(state.request, record);
    assert_eq!(state.attempts, 0);

    let mut claimed = state.clone();
    claimed.lease_owner = Some("me".into());
    claimed.cursor_pk = Some("SHOP#acme.myshopify.com#ORDER#1".into());
    let back: RequestState =
        serde_dynamo::from_item(serde_dynamo::to_item::<_, Attrs>(&claimed).unwrap()).unwrap();
    assert_eq!(back, claimed);
}

#[test]
fn a_finished_request_no_longer_names_the_customer() {
    let mut state = RequestState {
        request: request("customers/redact"),
        lease_owner: None,
        lease_until: None,
        attempts: 1,
        not_before: None,
        reason: None,
        more_hashes: vec![email_hash("old@example.com")],
        erased_items: 12,
        cursor_pk: None,
        cursor_sk: None,
        confirmed_by: None,
        confirmed_at: None,
        unconfirmed: None,
        ses_message_id: None,
        completed_at: None,
        expires_at: None,
    };
    forget_customer(&mut state);
    let json = serde_json::to_string(&state).unwrap();
    assert!(!json.contains("9007199254740993"), "{json}");
    assert!(!json.contains(&email_hash("zoe@example.com")), "{json}");
    assert!(!json.contains(&email_hash("old@example.com")), "{json}");
    assert!(!json.contains("5001"), "{json}");
    assert!(json.contains("\"erased_items\":12"), "{json}");
}

// ---------------------------------------------------------------------------------------
// confirming an uninstall

#[test]
fn only_a_refused_token_confirms_and_only_a_working_one_shows_a_forgery() {
    assert_eq!(confirmation(&Ok(())), Confirmation::Forged);
    assert_eq!(
        confirmation(&Err(AdminError::Auth("HTTP 401".into()))),
        Confirmation::Confirmed
    );
    let Confirmation::Retry(why) = confirmation(&Err(AdminError::Transient(
        "HTTP 503, after 4 attempts".into(),
    ))) else {
        panic!("a 5xx is retried")
    };
    assert!(why.contains("HTTP 503"), "{why}");
    for unknown in [
        AdminError::NoToken,
        AdminError::Api("HTTP 402: the shop is frozen (unpaid bill)".into()),
    ] {
        let Confirmation::Unknown(why) = confirmation(&Err(unknown.clone())) else {
            panic!("{unknown:?} neither confirms nor refutes")
        };
        assert_eq!(why, unknown.to_string());
    }
}

#[test]
fn a_waiting_shop_erasure_names_the_command_and_the_30_days() {
    let reason = awaiting_reason(SHOP, &AdminError::NoToken.to_string());
    for needed in [
        "aftercart confirm-redact --shop acme.myshopify.com",
        "no Admin API access token",
        "30 days",
    ] {
        assert!(reason.contains(needed), "{needed}: {reason}");
    }
}

#[test]
fn an_operator_confirmation_sets_the_request_pending_and_says_who_and_when() {
    let mut state: RequestState = serde_dynamo::from_item({
        let mut rec = request("shop/redact");
        rec.status = status::AWAITING_CONFIRMATION.into();
        serde_dynamo::to_item::<_, Attrs>(&rec).unwrap()
    })
    .unwrap();
    state.reason = Some(awaiting_reason(SHOP, "no token"));
    state.not_before = Some("2026-12-01T12:05:00.000Z".into());
    let now: DateTime<Utc> = "2026-12-02T09:00:00Z".parse().unwrap();
    confirm_by_operator(&mut state, "ops\nadmin ", now);
    assert_eq!(state.request.status, status::PENDING);
    assert_eq!(state.confirmed_by.as_deref(), Some("operator opsadmin"));
    assert_eq!(
        state.confirmed_at.as_deref(),
        Some("2026-12-02T09:00:00.000Z")
    );
    assert_eq!((&state.reason, &state.not_before), (&None, &None));
    // Stored and read back, the confirmation is kept.
    let back: RequestState =
        serde_dynamo::from_item(serde_dynamo::to_item::<_, Attrs>(&state).unwrap()).unwrap();
    assert_eq!(back.confirmed_by.as_deref(), Some("operator opsadmin"));
}

// ---------------------------------------------------------------------------------------
// the export

#[test]
fn items_become_json_without_table_plumbing_and_with_exact_numbers() {
    let i = item(
        "SHOP#acme.myshopify.com#ORDER#1",
        "ORDER",
        &[
            ("entity", s("order")),
            ("v", n("3")),
            ("due_pk", s("DUE#1")),
            ("order_id", n("18446744073709551615")),
            ("delta", n("-5")),
            ("total_price", s("409.94")),
            ("ratio", n("0.5")),
            ("test", AttributeValue::Bool(false)),
            (
                "lines",
                AttributeValue::L(vec![AttributeValue::M(HashMap::from([(
                    "title".to_owned(),
                    s("Tea"),
                )]))]),
            ),
        ],
    );
    assert_eq!(
        item_json(&i),
        json!({
            "order_id": 18_446_744_073_709_551_615u64,
            "delta": -5,
            "total_price": "409.94",
            "ratio": "0.5",
            "test": false,
            "lines": [{"title": "Tea"}],
        })
    );
}

fn holdings() -> Holdings {
    let cpk = "SHOP#acme.myshopify.com#CUSTOMER#42";
    let opk = "SHOP#acme.myshopify.com#ORDER#5001";
    let mut held = Holdings::default();
    held.customers.insert(
        cpk.into(),
        vec![
            item(cpk, "PROFILE", &[("email", s("zoe@example.com"))]),
            item(
                cpk,
                "ORDER#2026-11-01T10:00:00.000Z#5001",
                &[("order_id", n("5001"))],
            ),
            item(cpk, "FOLLOWUP#thank_you#5001#0", &[("status", s("sent"))]),
            item(
                cpk,
                "FEEDBACK#satisfaction#5001#0",
                &[("comment", s("lovely"))],
            ),
            item(cpk, "DISCOUNT#loyalty#5001#0", &[("code", s("THANKS-1"))]),
        ],
    );
    held.orders.insert(
        5001,
        vec![
            item(opk, "ORDER", &[("name", s("#1001"))]),
            item(opk, "FULFILLMENT#9", &[("status", s("success"))]),
            item(opk, "REFUND#7", &[("restock", AttributeValue::Bool(true))]),
        ],
    );
    held
}

#[test]
fn the_export_groups_everything_held_by_kind() {
    let supp = item(
        "SUPPRESS#acme.myshopify.com#abc",
        "SUPPRESSION",
        &[("reason", s("unsubscribed"))],
    );
    let doc = export_document(
        SHOP,
        &request("customers/data_request"),
        "2026-12-02T00:00:00.000Z",
        &holdings(),
        &[supp],
    );
    assert_eq!(doc["shop"], SHOP);
    assert_eq!(doc["data_request_id"], 9999);
    assert_eq!(doc["customer_id"], 9_007_199_254_740_993u64);
    assert_eq!(doc["profiles"][0]["email"], "zoe@example.com");
    assert_eq!(doc["order_history"][0]["order_id"], 5001);
    assert_eq!(doc["followups"][0]["status"], "sent");
    assert_eq!(doc["feedback"][0]["comment"], "lovely");
    assert_eq!(doc["discount_codes"][0]["code"], "THANKS-1");
    assert_eq!(doc["orders"][0]["order_id"], 5001);
    assert_eq!(doc["orders"][0]["order"]["name"], "#1001");
    assert_eq!(doc["orders"][0]["fulfillments"][0]["status"], "success");
    assert_eq!(doc["orders"][0]["refunds"][0]["restock"], true);
    assert_eq!(doc["suppressions"][0]["reason"], "unsubscribed");
    assert!(doc.get("other").is_none());
}

#[test]
fn the_export_shows_an_orders_lines_under_their_full_names() {
    let order = crate::model::OrderRecord {
        order_id: 5001,
        lines: vec![crate::model::OrderLine {
            line_item_id: 466157049,
            product_id: Some(632910392),
            variant_id: Some(39072856),
            sku: Some("TEA-1".into()),
            title: "Tea".into(),
            variant_title: Some("green".into()),
            quantity: 2,
            price: Some("4.50".parse().unwrap()),
        }],
        ..Default::default()
    };
    let mut attrs: Attrs = serde_dynamo::to_item(&order).unwrap();
    attrs.insert("pk".into(), s("SHOP#acme.myshopify.com#ORDER#5001"));
    attrs.insert("sk".into(), s("ORDER"));
    let mut held = Holdings::default();
    held.orders.insert(5001, vec![item_of(&attrs)]);
    let doc = export_document(SHOP, &request("customers/data_request"), "t", &held, &[]);
    assert_eq!(
        doc["orders"][0]["order"]["lines"][0],
        json!({
            "line_item_id": 466157049, "product_id": 632910392, "variant_id": 39072856,
            "sku": "TEA-1", "title": "Tea", "variant_title": "green", "quantity": 2,
            "price": "4.50",
        })
    );
}

fn mail<'a>(json: &'a [u8], shop_name: &'a str) -> ExportMail<'a> {
    ExportMail {
        from: "shop@acme.example",
        from_name: "Acme",
        to: "privacy@acme.example",
        shop_name,
        reference: "9999",
        json,
        date: DateTime::parse_from_rfc3339("2026-12-02T00:00:00Z")
            .unwrap()
            .to_utc(),
    }
}

#[test]
fn the_export_email_carries_the_json_as_an_attachment() {
    let body = br#"{"profiles":[{"email":"zoe@example.com"}]}"#;
    let raw = export_email(&mail(body, "Café Acme")).unwrap();
    let msg = MessageParser::default().parse(&raw).expect("MIME parses");
    assert_eq!(
        msg.to().and_then(|a| a.first()).and_then(|a| a.address()),
        Some("privacy@acme.example")
    );
    assert_eq!(
        msg.from().and_then(|a| a.first()).and_then(|a| a.address()),
        Some("shop@acme.example")
    );
    assert_eq!(
        msg.subject(),
        Some("Customer data request 9999 – Café Acme")
    );
    assert!(msg.body_text(0).unwrap().contains("data request 9999"));
    assert_eq!(msg.attachment_count(), 1);
    let a = msg.attachment(0).unwrap();
    assert_eq!(a.attachment_name(), Some("customer-data-9999.json"));
    let ct = a.content_type().unwrap();
    assert_eq!((ct.ctype(), ct.subtype()), ("application", Some("json")));
    assert_eq!(a.contents(), body);
}

#[test]
fn the_export_email_rejects_a_bad_address_and_cleans_header_text() {
    let mut m = mail(b"{}", "Acme\r\nBcc: x@evil.example");
    m.to = "not an address";
    assert!(matches!(
        export_email(&m),
        Err(ExportError::Address("privacy_email"))
    ));
    m.to = "privacy@acme.example";
    let raw = String::from_utf8(export_email(&m).unwrap()).unwrap();
    assert!(!raw.contains("\r\nBcc:"), "{raw}");
}

// ---------------------------------------------------------------------------------------
// retention stamped by the webhook's planner

mod stamping {
    use super::*;
    use crate::domain::ingest::{plan, Context, Item, Loaded};
    use crate::wire::shopify::parse_event;

    fn config() -> crate::config::Config {
        crate::config::Config::parse(
            "[privacy]\nretention_days = 400\n[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"acme.myshopify.com\"\nsender_email = \"shop@acme.example\"\n",
            "test",
        )
        .unwrap()
    }

    fn expiries(
        topic: Topic,
        body: &[u8],
        loaded: &Loaded,
        shop: &crate::config::ShopConfig,
    ) -> Vec<(&'static str, Option<i64>)> {
        let ctx = Context {
            shop: SHOP,
            webhook_id: "wh-1",
            now: DateTime::parse_from_rfc3339("2026-12-01T12:00:00Z")
                .unwrap()
                .to_utc(),
            rules: Some(shop),
            shards: 4,
            redelivery: false,
            import: false,
            counts: None,
        };
        let event = parse_event(topic, body).unwrap();
        plan(&ctx, &event, loaded)
            .into_iter()
            .filter_map(|w| match w.item {
                Item::Order(r) => Some(("order", r.expires_at)),
                Item::Fulfillment(r) => Some(("fulfillment", r.expires_at)),
                Item::Refund(r) => Some(("refund", r.expires_at)),
                Item::History(r) => Some(("history", r.expires_at)),
                _ => None,
            })
            .collect()
    }

    const DAYS_400: i64 = 400 * 86_400;

    #[test]
    fn an_order_and_its_history_expire_retention_days_after_the_order_time() {
        let c = config();
        let got = expiries(
            Topic::OrdersPaid,
            crate::wire::shopify::fixtures::ORDER,
            &Loaded::default(),
            &c.shops[0],
        );
        // The fixture order was created 2008-01-10T11:00:00-05:00.
        let expected = Some(1_199_980_800 + DAYS_400);
        assert!(got.contains(&("order", expected)), "{got:?}");
        assert!(got.contains(&("history", expected)), "{got:?}");
    }

    #[test]
    fn a_shipment_or_refund_before_its_order_expires_from_its_own_time_then_from_the_order() {
        let c = config();
        // fulfillment.json: created 2013-11-01T16:06:08-04:00 = 1383336368.
        let got = expiries(
            Topic::FulfillmentsCreate,
            crate::wire::shopify::fixtures::FULFILLMENT,
            &Loaded::default(),
            &c.shops[0],
        );
        let shipped = Some(1_383_336_368 + DAYS_400);
        assert!(got.contains(&("fulfillment", shipped)), "{got:?}");
        assert!(got.contains(&("order", shipped)), "{got:?}");

        // Once the order is known, its time decides, for refunds too.
        let known = Loaded {
            order: Some(crate::model::OrderRecord {
                v: 1,
                order_id: 450789469,
                created_at: Some("2008-01-10T16:00:00.000Z".into()),
                ..Default::default()
            }),
            ..Loaded::default()
        };
        let got = expiries(
            Topic::RefundsCreate,
            crate::wire::shopify::fixtures::REFUND,
            &known,
            &c.shops[0],
        );
        let ordered = Some(1_199_980_800 + DAYS_400);
        assert!(got.contains(&("refund", ordered)), "{got:?}");
        assert!(got.contains(&("order", ordered)), "{got:?}");
    }
}

use super::*;
use crate::model::{FollowUpStatus, OrderLine, Playbook, Tracking};

fn followup(product_id: Option<u64>) -> FollowUpRecord {
    FollowUpRecord {
        v: 3,
        id: crate::model::followup_id(Playbook::Replenishment, 1001, product_id),
        shop: "acme.myshopify.com".into(),
        customer_key: "42".into(),
        playbook: Playbook::Replenishment,
        order_id: 1001,
        product_id,
        status: FollowUpStatus::Sent,
        due_at: "2026-12-01T10:00:00.000Z".into(),
        due_pk: None,
        due_sk: None,
        lease_owner: None,
        lease_until: None,
        attempts: 1,
        store_retries: 0,
        reason: None,
        ses_message_id: Some("m-1".into()),
        sent_at: Some("2026-12-01T10:00:00.000Z".into()),
        held_out_at: None,
        planned_at: "2026-11-01T10:00:00.000Z".into(),
        email_hash: None,
        tracking: Tracking::default(),
    }
}

fn line(id: u64, product: Option<u64>, variant: Option<u64>, qty: u32) -> OrderLine {
    OrderLine {
        line_item_id: id,
        product_id: product,
        variant_id: variant,
        sku: None,
        title: "Beans".into(),
        variant_title: None,
        quantity: qty,
        price: None,
    }
}

fn order(lines: Vec<OrderLine>) -> OrderRecord {
    let mut o: OrderRecord = serde_json::from_value(serde_json::json!({
        "v": 1, "order_id": 1001
    }))
    .unwrap();
    o.lines = lines;
    o
}

#[test]
fn routes_by_last_segment_and_method() {
    assert_eq!(route(&Method::GET, "/rate").unwrap(), Route::Rate);
    assert_eq!(
        route(&Method::GET, "/lambda-url/links/rate").unwrap(),
        Route::Rate
    );
    assert_eq!(route(&Method::POST, "/rate/").unwrap(), Route::Comment);
    assert_eq!(
        route(&Method::GET, "/unsubscribe").unwrap(),
        Route::UnsubscribePage
    );
    assert_eq!(
        route(&Method::POST, "/unsubscribe").unwrap(),
        Route::Unsubscribe
    );
    assert_eq!(
        route(&Method::POST, "/resubscribe").unwrap(),
        Route::Resubscribe
    );
    assert_eq!(route(&Method::GET, "/reorder").unwrap(), Route::Reorder);
    assert!(matches!(
        route(&Method::GET, "/resubscribe"),
        Err(Refusal::Method("POST"))
    ));
    assert!(matches!(
        route(&Method::DELETE, "/rate"),
        Err(Refusal::Method(_))
    ));
    assert!(matches!(
        route(&Method::GET, "/admin"),
        Err(Refusal::NotFound)
    ));
    assert!(matches!(route(&Method::GET, ""), Err(Refusal::NotFound)));
}

#[test]
fn token_refusals_map_to_400_403_410() {
    let status = |e: LinkError| Refusal::Token(e).status().as_u16();
    assert_eq!(status(LinkError::Malformed), 400);
    assert_eq!(status(LinkError::BadSignature), 403);
    assert_eq!(status(LinkError::UnknownKeyVersion(9)), 403);
    assert_eq!(
        status(LinkError::WrongPurpose {
            expected: Purpose::Rate,
            found: Purpose::Reorder
        }),
        403
    );
    assert_eq!(status(LinkError::Expired), 410);
    assert_eq!(Refusal::NoToken.status().as_u16(), 400);
    assert_eq!(Refusal::Gone.status().as_u16(), 410);
    assert_eq!(
        Refusal::Store(StoreError::Contention { attempts: 1 })
            .status()
            .as_u16(),
        503
    );
}

#[test]
fn cart_permalink_has_the_reminders_variants_and_quantities_and_the_attribution_tag() {
    let o = order(vec![
        line(1, Some(7), Some(70), 2),
        line(2, Some(8), Some(80), 1),
        line(3, Some(7), Some(71), 1),
    ]);
    assert_eq!(
        cart_permalink("acme.myshopify.com", &o, &followup(Some(7))).as_deref(),
        Some(
            "https://acme.myshopify.com/cart/70:2,71:1?attributes%5Baftercart_followup%5D=replenishment%231001%237&ref=aftercart"
        )
    );
    // Without a product, the whole order.
    let all = cart_permalink("acme.myshopify.com", &o, &followup(None)).unwrap();
    assert!(all.starts_with("https://acme.myshopify.com/cart/70:2,80:1,71:1?"));
}

#[test]
fn cart_permalink_leaves_out_refunded_units_and_custom_items() {
    let mut o = order(vec![
        line(1, Some(7), Some(70), 3),
        line(2, Some(7), None, 1),
    ]);
    o.refunded.insert("1".into(), 1);
    let url = cart_permalink("acme.myshopify.com", &o, &followup(Some(7))).unwrap();
    assert!(url.contains("/cart/70:2?"), "{url}");
    o.refunded.insert("1".into(), 3);
    assert_eq!(
        cart_permalink("acme.myshopify.com", &o, &followup(Some(7))),
        None
    );
}

#[test]
fn cart_permalink_quantities_of_one_variant_saturate_instead_of_overflowing() {
    // Lines of one variant summing past u32 (issue 17) used to overflow.
    let o = order(vec![
        line(1, Some(7), Some(70), u32::MAX),
        line(2, Some(7), Some(70), 2),
    ]);
    let url = cart_permalink("acme.myshopify.com", &o, &followup(Some(7))).unwrap();
    assert!(url.contains("/cart/70:4294967295?"), "{url}");
}

#[test]
fn comments_are_trimmed_cut_and_cleaned() {
    assert_eq!(clean_comment("  too\r\nsalty \u{7}"), "too\nsalty");
    let long = "é".repeat(MAX_COMMENT_CHARS + 50);
    assert_eq!(clean_comment(&long).chars().count(), MAX_COMMENT_CHARS);
}

#[test]
fn pages_escape_brand_and_text_and_carry_safe_headers() {
    let r = page(
        StatusCode::OK,
        Some("<b>Acme & Co</b>"),
        "Hi \"there\"",
        "<p>ok</p>",
    );
    let html = match r.body() {
        Body::Text(t) => t.clone(),
        _ => panic!("text body"),
    };
    assert!(html.contains("&lt;b&gt;Acme &amp; Co&lt;/b&gt;"));
    assert!(html.contains("<h1>Hi &quot;there&quot;</h1>"));
    assert!(!html.contains("<b>Acme"));
    assert!(html.contains("lang=\"en\""));
    assert!(
        !html.contains("http://") && !html.contains("src="),
        "no external assets"
    );
    let h = r.headers();
    assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(h[header::CACHE_CONTROL], "no-store");
    assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
    assert!(h[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .starts_with("default-src 'none'"));
}

#[test]
fn esc_covers_the_five_html_specials() {
    assert_eq!(
        esc(r#"<a href="x">'&'</a>"#),
        "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
    );
}

mod pages;

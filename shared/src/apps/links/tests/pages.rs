//! The customer-facing pages: templates, languages, escaping, headers.

use super::super::*;
use crate::config::Config;

const SHOP: &str = "acme.myshopify.com";

fn config(name: &str, extra: &str) -> Config {
    let toml = format!(
        "[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"{SHOP}\"\nname = {name:?}\nsender_email = \"shop@acme.example\"\n{extra}"
    );
    Config::parse(&toml, "test").expect("test config is valid")
}

/// "Acme", with a support address and a review URL.
fn full_config() -> Config {
    config(
        "Acme",
        "support_email = \"help@acme.example\"\nreview_url = \"https://reviews.example/acme\"\n",
    )
}

/// The review ask every rating page shows, whatever the score (no review gating).
const REVIEW_ASK: &str = "<p>Would you like to tell other shoppers about your order?</p>\n<p><a class=\"button\" href=\"https://reviews.example/acme\">Write a review</a></p>";

fn html(r: &Response<Body>) -> String {
    match r.body() {
        Body::Text(t) => t.clone(),
        _ => panic!("text body"),
    }
}

fn chain(locale: &str) -> Vec<String> {
    pages::customer_chain(Some(locale), None)
}

/// Every page a customer can get, by name, rendered for `shop` in `chain`.
fn every_page(shop: &ShopConfig, token: &str, chain: &[String]) -> Vec<(String, Response<Body>)> {
    let mut all = vec![
        (
            "rated low".into(),
            rating_page(shop, 1, token, false, chain),
        ),
        (
            "rated middle".into(),
            rating_page(shop, 3, token, false, chain),
        ),
        (
            "rated high".into(),
            rating_page(shop, 5, token, false, chain),
        ),
        ("commented".into(), rating_page(shop, 2, token, true, chain)),
        (
            "expired-rating".into(),
            expired_page(shop, Route::Rate, chain),
        ),
        (
            "expired-reorder".into(),
            expired_page(shop, Route::Reorder, chain),
        ),
        (
            "reason".into(),
            reason_page(shop, ReturnReason::Defective, token, false, chain),
        ),
        (
            "reason_commented".into(),
            reason_page(shop, ReturnReason::Unwanted, token, true, chain),
        ),
        (
            "unsubscribe".into(),
            unsubscribe_page(false, false, shop, token, chain),
        ),
        (
            "unsubscribed".into(),
            unsubscribe_page(true, true, shop, token, chain),
        ),
        (
            "unsubscribed old link".into(),
            unsubscribe_page(true, false, shop, token, chain),
        ),
        (
            "resubscribed".into(),
            resubscribe_page(Resubscribed::Now, shop, chain),
        ),
        (
            "subscribed".into(),
            resubscribe_page(Resubscribed::Already, shop, chain),
        ),
        (
            "kept suppressed".into(),
            resubscribe_page(Resubscribed::Kept, shop, chain),
        ),
        ("shop again".into(), shop_again_page(shop, chain)),
    ];
    for refusal in refusals() {
        let name = format!("refusal {}", refusal.kind());
        all.push((name, refusal_page(&refusal, chain)));
    }
    all
}

fn refusals() -> Vec<Refusal> {
    vec![
        Refusal::NotFound,
        Refusal::Method("GET"),
        Refusal::NoToken,
        Refusal::Token(LinkError::Malformed),
        Refusal::NoScore,
        Refusal::Token(LinkError::Expired),
        Refusal::Token(LinkError::WrongPurpose {
            expected: Purpose::Rate,
            found: Purpose::Reorder,
        }),
        Refusal::Token(LinkError::BadSignature),
        Refusal::UnknownShop,
        Refusal::Gone,
        Refusal::BadForm,
        Refusal::NotAForm,
        Refusal::Store(StoreError::Contention { attempts: 1 }),
        Refusal::Contention,
    ]
}

fn h1(html: &str) -> &str {
    let start = html.find("<h1>").expect("an h1") + 4;
    let end = html[start..].find("</h1>").expect("h1 closes") + start;
    &html[start..end]
}

#[test]
fn every_page_renders_in_english_and_french_with_its_lang() {
    let config = full_config();
    let shop = config.shop(SHOP).unwrap();
    let en = every_page(shop, "tok", &[]);
    let fr = every_page(shop, "tok", &chain("fr"));
    let fr_ca = every_page(shop, "tok", &chain("fr-CA"));
    assert_eq!(en.len(), fr.len());
    for (((name, en), (_, fr)), (_, fr_ca)) in en.iter().zip(&fr).zip(&fr_ca) {
        let (en_html, fr_html) = (html(en), html(fr));
        assert!(
            en_html.starts_with("<!doctype html>\n<html lang=\"en\">"),
            "{name}: {en_html}"
        );
        assert!(
            fr_html.starts_with("<!doctype html>\n<html lang=\"fr\">"),
            "{name}: {fr_html}"
        );
        assert_eq!(html(fr_ca), fr_html, "{name}: fr-CA falls back to fr");
        assert_eq!(en.status(), fr.status(), "{name}");
        assert_ne!(
            h1(&en_html),
            h1(&fr_html),
            "{name}: the title is translated"
        );
        for page in [&en_html, &fr_html] {
            assert!(
                !page.contains("{{") && !page.contains("{%"),
                "{name}: {page}"
            );
            assert!(page.ends_with("</main></body></html>\n"), "{name}");
            assert!(
                !page.contains("http://") && !page.contains("src="),
                "{name}"
            );
        }
        // French typography: a non-breaking space before ? ! : and never a plain one.
        for mark in [" ?", " !", " :"] {
            assert!(!fr_html.contains(mark), "{name}: {mark:?} in {fr_html}");
        }
        if name.starts_with("refusal") {
            assert!(
                !en_html.contains("Acme") && !fr_html.contains("Acme"),
                "{name}"
            );
        } else {
            assert!(en_html.contains("<p class=\"brand\">Acme</p>"), "{name}");
            assert!(
                fr_html.contains("<title>") && fr_html.contains(" · Acme</title>"),
                "{name}"
            );
        }
    }
}

#[test]
fn the_english_wording_is_unchanged() {
    let config = full_config();
    let shop = config.shop(SHOP).unwrap();
    let expect = |r: Response<Body>, title: &str, parts: &[&str]| {
        let page = html(&r);
        assert_eq!(h1(&page), title);
        assert!(
            page.contains(&format!("<title>{title} · Acme</title>")),
            "{page}"
        );
        for part in parts {
            assert!(page.contains(part), "{part:?} not in {page}");
        }
    };
    let form = "<form method=\"post\" action=\"rate?t=tok\">\n<label for=\"comment\">Anything you'd like to add? (optional) It goes to the Acme team, who can reply to you by email.</label>\n<textarea id=\"comment\" name=\"comment\" rows=\"4\" maxlength=\"1000\"></textarea>\n<button type=\"submit\">Send</button></form>";
    expect(
        rating_page(shop, 1, "tok", false, &[]),
        "We're sorry",
        &["<p>Thank you for your rating (1 out of 5). We're sorry it wasn't better. We'll let the Acme team know so they can look into it.</p>", REVIEW_ASK, form],
    );
    expect(
        rating_page(shop, 3, "tok", false, &[]),
        "Thank you",
        &[
            "<p>Thanks for your rating (3 out of 5).</p>",
            REVIEW_ASK,
            form,
        ],
    );
    expect(
        rating_page(shop, 5, "tok", false, &[]),
        "Thank you!",
        &[
            "<p>We're glad you're happy (5 out of 5).</p>",
            REVIEW_ASK,
            "<p>Know someone who'd like Acme too? <a href=\"https://acme.myshopify.com\">Share it with a friend</a>.</p>",
            form,
        ],
    );
    expect(
        rating_page(shop, 2, "tok", true, &[]),
        "Thanks for your comment",
        &["<p>It's on its way to the Acme team, who can reply to you by email. Your rating: 2 out of 5.</p>"],
    );
    expect(
        unsubscribe_page(false, false, shop, "tok", &[]),
        "Unsubscribe",
        &["<p>Stop emails from Acme about your orders (thank-you notes, reminders and offers)?</p>\n<form method=\"post\" action=\"unsubscribe?t=tok\">\n<button type=\"submit\">Unsubscribe</button></form>"],
    );
    expect(
        unsubscribe_page(true, true, shop, "tok", &[]),
        "You're unsubscribed",
        &["<p>You won't get any more emails from Acme about your orders.</p>\n<form method=\"post\" action=\"resubscribe?t=tok\">\n<p>Changed your mind?</p>\n<button type=\"submit\">Resubscribe</button></form>"],
    );
    expect(
        resubscribe_page(Resubscribed::Now, shop, &[]),
        "Welcome back",
        &["<p>You'll hear from Acme about your orders again.</p>"],
    );
    expect(
        resubscribe_page(Resubscribed::Already, shop, &[]),
        "You're subscribed",
        &["<p>You already get emails from Acme about your orders.</p>"],
    );
    expect(
        resubscribe_page(Resubscribed::Kept, shop, &[]),
        "We can't resume emails here",
        &["<p>Emails to your address stopped because they could not be delivered or were reported as unwanted. Write to help@acme.example and we'll look into it.</p>"],
    );
    expect(
        shop_again_page(shop, &[]),
        "Shop again",
        &["<p>We couldn't rebuild your cart automatically.</p>\n<p><a href=\"https://acme.myshopify.com\">Go to Acme</a></p>"],
    );
    // Without a review URL or a support address, those sentences are left out.
    let bare = self::config("Acme", "");
    let bare = bare.shop(SHOP).unwrap();
    let high = html(&rating_page(bare, 5, "tok", false, &[]));
    assert!(!high.contains("Write a review"), "{high}");
    let kept = html(&resubscribe_page(Resubscribed::Kept, bare, &[]));
    assert!(kept.contains("reported as unwanted.</p>"), "{kept}");

    let refusal = |r: Refusal| {
        let page = html(&refusal_page(&r, &[]));
        let title = h1(&page).to_owned();
        let start = page.find("</h1>\n<p>").expect("a paragraph") + 9;
        let text = page[start..]
            .split("</p>")
            .next()
            .unwrap_or_default()
            .to_owned();
        assert!(page.contains(&format!("<title>{title}</title>")), "{page}");
        (title, text)
    };
    let cases: [(Refusal, &str, &str); 9] = [
        (Refusal::NotFound, "Page not found", "There is nothing at this address."),
        (Refusal::Method("GET"), "This link can't be used this way", "Open the link from your email in a browser."),
        (Refusal::NoScore, "This link is incomplete", "Part of the link seems to be missing. Open it again from your email, or copy the whole address into your browser."),
        (Refusal::Token(LinkError::Expired), "This link has expired", "Links in our emails work for a limited time. If you need anything, reply to the email it came in."),
        (Refusal::Token(LinkError::WrongPurpose { expected: Purpose::Rate, found: Purpose::Reorder }), "This link can't be used here", "The link belongs to another page. Open it again from your email."),
        (Refusal::Token(LinkError::BadSignature), "This link isn't valid", "The link was changed or is not one of ours. Open it again from your email."),
        (Refusal::Gone, "This link is no longer active", "What it pointed to no longer exists. If you need anything, reply to the email it came in."),
        (Refusal::BadForm, "We couldn't read that", "Please go back and send the form again."),
        (Refusal::Contention, "Something went wrong on our side", "Nothing was lost. Please try again in a minute."),
    ];
    for (r, title, text) in cases {
        assert_eq!(refusal(r), (title.to_owned(), text.to_owned()));
    }
}

#[test]
fn brand_token_and_urls_are_escaped_in_every_page() {
    let evil = "<script>alert(\"x\")</script> O'Hara & Co";
    let config = config(
        evil,
        "support_email = \"help@acme.example\"\nreview_url = \"https://reviews.example/a?b=1&c=2\"\n",
    );
    let shop = config.shop(SHOP).unwrap();
    let token = "\"><script>x</script>'";
    for locale in ["en", "fr"] {
        for (name, r) in every_page(shop, token, &chain(locale)) {
            let page = html(&r);
            assert!(!page.contains("<script>"), "{locale} {name}: {page}");
            assert!(!page.contains("O'Hara"), "{locale} {name}: {page}");
            if !name.starts_with("refusal") {
                assert!(
                    page.contains(
                        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; O&#x27;Hara &amp; Co"
                    ),
                    "{locale} {name}: {page}"
                );
            }
            if page.contains("<form") {
                assert!(
                    page.contains("?t=&quot;&gt;&lt;script&gt;x&lt;/script&gt;&#x27;\">"),
                    "{locale} {name}: {page}"
                );
            }
            if name.starts_with("rated") {
                assert!(
                    page.contains("href=\"https://reviews.example/a?b=1&amp;c=2\""),
                    "{page}"
                );
            }
        }
    }
}

#[test]
fn the_page_language_falls_back_customer_then_shop_then_english() {
    let lang = |chain: Vec<String>| {
        pages::render(
            "refusal",
            &chain,
            minijinja::context! { brand => None::<&str>, refusal => "expired" },
        )
        .expect("renders")
        .1
    };
    // (customer's locale, shop's default, expected language, why)
    let customer = [
        (Some("fr"), None, "fr", "the customer's"),
        (Some("FR_ca"), None, "fr", "fr-CA falls back to fr"),
        (
            Some("fr-CA"),
            Some("en"),
            "fr",
            "the customer's before the shop's",
        ),
        (Some("de-AT"), Some("fr"), "fr", "unsupported: the shop's"),
        (None, Some("fr"), "fr", "unknown: the shop's"),
        (Some("en-GB"), Some("fr"), "en", "English is a language too"),
        (Some("de"), None, "en", "then English"),
        (Some("<fr>"), None, "en", "not a locale"),
        (None, None, "en", "nothing known"),
    ];
    for (c, shop, expected, why) in customer {
        let got = lang(pages::customer_chain(c, shop));
        assert_eq!(got, expected, "{c:?} {shop:?}: {why}");
    }
    // (shop's default, Accept-Language, expected language, why)
    let anonymous = [
        (Some("fr"), Some("en-US,en;q=0.9"), "fr", "the shop's first"),
        (
            None,
            Some("fr-CH, fr;q=0.9, en;q=0.8"),
            "fr",
            "the browser's",
        ),
        (
            None,
            Some("de-DE,de;q=0.9,fr;q=0.8,en;q=0.5"),
            "fr",
            "first supported",
        ),
        (None, Some("en-US,fr;q=0.9"), "en", "English first"),
        (None, Some("en;q=0.5, fr;q=0.8"), "fr", "by q, not position"),
        (None, Some("fr;q=0, de"), "en", "q=0 means not wanted"),
        (None, Some("fr;q=lots"), "en", "unreadable q"),
        (None, Some("*"), "en", "any"),
        (None, Some(",,;;q=,"), "en", "garbage"),
        (None, None, "en", "no header"),
    ];
    for (shop, accept, expected, why) in anonymous {
        let got = lang(pages::anonymous_chain(shop, accept));
        assert_eq!(got, expected, "{shop:?} {accept:?}: {why}");
    }
}

fn offline_app(config: Config) -> LinksApp<DynamoStore, crate::adapters::ses::SesMailer> {
    use aws_config::{BehaviorVersion, Region};
    let dynamo = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .build();
    let ses = aws_sdk_sesv2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .build();
    LinksApp {
        config: Arc::new(config),
        keys: LinkKeys::parse("1:a-test-key-that-is-long-enough-0123456789").unwrap(),
        store: DynamoStore::new(
            aws_sdk_dynamodb::Client::from_conf(dynamo),
            "unused",
            std::time::Duration::from_secs(60),
        ),
        mailer: crate::adapters::ses::SesMailer::new(aws_sdk_sesv2::Client::from_conf(ses)),
        clock: Arc::new(crate::model::time::FixedClock::new(chrono::Utc::now())),
    }
}

fn request(method: &str, path: &str, token: Option<&str>, accept: Option<&str>) -> Request {
    let mut builder = lambda_http::http::Request::builder()
        .method(method)
        .uri(format!("https://links.example.test{path}"));
    if let Some(accept) = accept {
        builder = builder.header(header::ACCEPT_LANGUAGE, accept);
    }
    let query: std::collections::HashMap<String, String> = token
        .map(|t| ("t".to_owned(), t.to_owned()))
        .into_iter()
        .collect();
    builder
        .body(Body::Empty)
        .unwrap()
        .with_query_string_parameters(query)
}

#[tokio::test]
async fn refusals_follow_accept_language_and_keep_their_status_and_headers() {
    let app = offline_app(config("Acme", ""));
    let cases = [
        ("GET", "/admin", None, 404, None),
        ("PUT", "/rate", None, 405, Some("GET, POST")),
        ("GET", "/rate", None, 400, None),
        ("GET", "/rate", Some("not-a-token"), 400, None),
    ];
    for (method, path, token, status, allow) in cases {
        for (accept, lang) in [
            (None, "en"),
            (Some("fr-FR,fr;q=0.9,en;q=0.8"), "fr"),
            (Some("de, en-GB;q=0.5"), "en"),
        ] {
            let r = app.handle(request(method, path, token, accept)).await;
            assert_eq!(r.status().as_u16(), status, "{method} {path}");
            let page = html(&r);
            assert!(
                page.starts_with(&format!("<!doctype html>\n<html lang=\"{lang}\">")),
                "{method} {path} {accept:?}: {page}"
            );
            let h = r.headers();
            assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
            assert_eq!(h[header::CACHE_CONTROL], "no-store");
            assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
            assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert_eq!(
                h[header::CONTENT_SECURITY_POLICY],
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
            );
            assert_eq!(h.get(header::ALLOW).map(|v| v.to_str().unwrap()), allow);
        }
    }
}

#[test]
fn every_page_carries_the_same_safe_headers() {
    let config = config("Acme", "");
    let shop = config.shop(SHOP).unwrap();
    for locale in ["en", "fr"] {
        for (name, r) in every_page(shop, "tok", &chain(locale)) {
            let h = r.headers();
            assert_eq!(h.len(), 5, "{name}: {h:?}");
            assert_eq!(
                h[header::CONTENT_TYPE],
                "text/html; charset=utf-8",
                "{name}"
            );
            assert_eq!(h[header::CACHE_CONTROL], "no-store", "{name}");
            assert_eq!(h[header::REFERRER_POLICY], "no-referrer", "{name}");
            assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{name}");
            assert_eq!(h[header::CONTENT_SECURITY_POLICY], pages::CSP, "{name}");
        }
    }
}

/// Writes every page in English and French to `$AFTERCART_PAGES_DIR` (e.g. `/tmp/pages`),
/// to look at in a browser: `AFTERCART_PAGES_DIR=/tmp/pages cargo test -p aftercart
/// --lib write_pages -- --ignored`.
#[test]
#[ignore = "writes files; run by hand to look at the pages"]
fn write_pages_for_a_look() {
    let Ok(dir) = std::env::var("AFTERCART_PAGES_DIR") else {
        return;
    };
    std::fs::create_dir_all(&dir).unwrap();
    let config = config(
        "Maison Lumière & Fils",
        "support_email = \"bonjour@maison-lumiere.example\"\nreview_url = \"https://reviews.example/maison-lumiere\"\n",
    );
    let shop = config.shop(SHOP).unwrap();
    let token =
        "v1.eyJzaG9wIjoiYWNtZS5teXNob3BpZnkuY29tIiwiY3VzdG9tZXJfa2V5IjoiNDIifQ.c2lnbmF0dXJl";
    for locale in ["en", "fr"] {
        for (name, r) in every_page(shop, token, &chain(locale)) {
            let file = format!("{dir}/{}-{locale}.html", name.replace(' ', "-"));
            std::fs::write(file, html(&r)).unwrap();
        }
    }
}

#[test]
fn the_shops_configured_locale_is_its_pages_default() {
    let french = config("Acme", "locale = \"fr-CA\"\n");
    assert_eq!(pages::shop_locale(&french.shops[0]), Some("fr-CA"));
    assert_eq!(pages::shop_locale(&config("Acme", "").shops[0]), None);
}

/// Review gating is forbidden (FTC 16 CFR 465, Google's and Shopify's review policies):
/// every score's page must ask for a review in exactly the same words and link.
#[test]
fn every_score_is_asked_for_a_review_the_same_way() {
    let config = full_config();
    let shop = config.shop(SHOP).unwrap();
    for locale in ["en", "fr"] {
        let chain = chain(locale);
        let asks: Vec<String> = (1..=5)
            .map(|score| review_ask(&html(&rating_page(shop, score, "tok", false, &chain))))
            .collect();
        assert!(
            asks[0].contains("https://reviews.example/acme"),
            "{locale}: {}",
            asks[0]
        );
        for (i, ask) in asks.iter().enumerate() {
            assert_eq!(
                ask,
                &asks[0],
                "{locale}: score {} asks differently from score 1",
                i + 1
            );
        }
    }
}

/// The paragraphs from the one before the review link to the link's own.
fn review_ask(page: &str) -> String {
    let link = page
        .find("https://reviews.example/")
        .expect("a review link");
    let start = page[..link].rfind("</p>").map_or(0, |i| i + "</p>".len());
    let end = link + page[link..].find("</p>").expect("closing paragraph") + "</p>".len();
    page[start..end].trim().to_owned()
}

/// An old link still unsubscribes; resubscribing (consent given again) is then offered
/// through the support address, not the stale link.
#[test]
fn an_old_links_unsubscribed_page_offers_no_resubscribe_button() {
    let config = full_config();
    let shop = config.shop(SHOP).unwrap();
    for locale in ["en", "fr"] {
        let page = html(&unsubscribe_page(true, false, shop, "tok", &chain(locale)));
        assert!(!page.contains("resubscribe?t="), "{locale}: {page}");
        assert!(page.contains("help@acme.example"), "{locale}: {page}");
        let fresh = html(&unsubscribe_page(true, true, shop, "tok", &chain(locale)));
        assert!(fresh.contains("resubscribe?t=tok"), "{locale}: {fresh}");
    }
}

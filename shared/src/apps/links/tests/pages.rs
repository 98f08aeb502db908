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

/// Every language the pages come in, English first.
const LOCALES: [&str; 4] = ["en", "fr", "de", "es"];

/// Each language with a regional locale that falls back to it.
const REGIONAL: [(&str, &str); 4] = [
    ("en", "en-US"),
    ("fr", "fr-CA"),
    ("de", "de-DE"),
    ("es", "es-MX"),
];

/// What a person reads: the text of `<main>` (the page's title is its `<h1>`), without
/// tags and without `<code>` (a command, the same in every language).
fn visible_text(html: &str) -> String {
    let start = html.find("<main>").expect("a main") + "<main>".len();
    let end = html.find("</main>").expect("main closes");
    let mut main = html[start..end].to_owned();
    while let Some(open) = main.find("<code>") {
        let close = main[open..].find("</code>").expect("code closes") + open;
        main.replace_range(open..close + "</code>".len(), " ");
    }
    let mut text = String::new();
    let mut in_tag = false;
    for c in main.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text
}

/// The words of `text` (letters and digits).
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// The sentences and clauses of `text` of two words or more: split at `.`, `?`, `!` and
/// `:` before a space (not inside an address) and at line breaks.
fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let ends = c == '\n'
            || (matches!(c, '.' | '?' | '!' | ':')
                && chars.peek().is_none_or(|next| next.is_whitespace()));
        if ends {
            out.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    out.push(current);
    out.into_iter()
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| s.contains(' '))
        .collect()
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
            "expired-report".into(),
            expired_page(shop, Route::Report, chain),
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
fn every_page_renders_in_every_language_with_its_lang() {
    let config = full_config();
    let shop = config.shop(SHOP).unwrap();
    let en = every_page(shop, "tok", &[]);
    for (lang, regional) in REGIONAL {
        let pages = every_page(shop, "tok", &chain(lang));
        let regional_pages = every_page(shop, "tok", &chain(regional));
        assert_eq!(en.len(), pages.len());
        for (((name, en), (_, r)), (_, regional_r)) in en.iter().zip(&pages).zip(&regional_pages) {
            let (en_html, page) = (html(en), html(r));
            assert!(
                page.starts_with(&format!("<!doctype html>\n<html lang=\"{lang}\">")),
                "{lang} {name}: {page}"
            );
            assert_eq!(
                html(regional_r),
                page,
                "{lang} {name}: {regional} falls back to {lang}"
            );
            assert_eq!(en.status(), r.status(), "{lang} {name}");
            if lang != "en" {
                assert_ne!(
                    h1(&en_html),
                    h1(&page),
                    "{lang} {name}: the title is translated"
                );
            }
            assert!(
                !page.contains("{{") && !page.contains("{%"),
                "{lang} {name}: {page}"
            );
            assert!(page.ends_with("</main></body></html>\n"), "{lang} {name}");
            assert!(
                !page.contains("http://") && !page.contains("src="),
                "{lang} {name}"
            );
            let text = visible_text(&page);
            match lang {
                // French typography: a non-breaking space before ? ! : and never a plain one.
                "fr" => {
                    for mark in [" ?", " !", " :"] {
                        assert!(!page.contains(mark), "{name}: {mark:?} in {page}");
                    }
                }
                // No space at all before ? ! : in German and Spanish.
                "de" | "es" => {
                    for space in [" ", "\u{a0}", "\u{202f}", "&nbsp;"] {
                        for mark in ["?", "!", ":"] {
                            let spaced = format!("{space}{mark}");
                            assert!(
                                !text.contains(&spaced),
                                "{lang} {name}: {spaced:?} in {text}"
                            );
                        }
                    }
                }
                _ => {}
            }
            if lang == "es" {
                // Every question and exclamation opens with ¿ and ¡.
                for (open, close) in [('¿', '?'), ('¡', '!')] {
                    assert_eq!(
                        text.matches(open).count(),
                        text.matches(close).count(),
                        "es {name}: {open} … {close} in {text}"
                    );
                }
            }
            if lang == "de" {
                // German quotation marks, if any: „…“, never "…".
                assert!(!text.contains('"'), "de {name}: {text}");
            }
            if name.starts_with("refusal") {
                assert!(!page.contains("Acme"), "{lang} {name}");
            } else {
                assert!(
                    page.contains("<p class=\"brand\">Acme</p>"),
                    "{lang} {name}"
                );
                assert!(
                    page.contains("<title>") && page.contains(" · Acme</title>"),
                    "{lang} {name}"
                );
            }
        }
    }
}

/// Each page's main sentence in English, French, German and Spanish (in [`LOCALES`]
/// order), with "Acme" and the full configuration.
const MAIN_SENTENCES: &[(&str, [&str; 4])] = &[
    (
        "rated low",
        [
            "We're sorry it wasn't better.",
            "Nous sommes désolés que votre expérience n’ait pas été meilleure.",
            "Es tut uns leid, dass Ihre Erfahrung nicht besser war.",
            "Lamentamos que su experiencia no haya sido mejor.",
        ],
    ),
    (
        "rated middle",
        [
            "<p>Thanks for your rating (3 out of 5).</p>",
            "<p>Merci pour votre note (3 sur 5).</p>",
            "<p>Danke für Ihre Bewertung (3 von 5).</p>",
            "<p>Gracias por su valoración (3 de 5).</p>",
        ],
    ),
    (
        "rated high",
        [
            "We're glad you're happy (5 out of 5).",
            "Nous sommes ravis que votre commande vous ait plu (5 sur 5).",
            "Wir freuen uns, dass Sie zufrieden sind (5 von 5).",
            "Nos alegra que su pedido le haya gustado (5 de 5).",
        ],
    ),
    (
        "commented",
        [
            "It's on its way to the Acme team, who can reply to you by email.",
            "Nous le transmettons à l’équipe Acme, qui pourra vous répondre par e-mail.",
            "Wir leiten ihn an das Team von Acme weiter, das Ihnen per E-Mail antworten kann.",
            "Lo hemos enviado al equipo de Acme, que podrá responderle por correo electrónico.",
        ],
    ),
    (
        "expired-rating",
        [
            "To tell Acme about your order, write to",
            "Pour donner votre avis à Acme sur votre commande, écrivez à",
            "Wenn Sie Acme eine Rückmeldung zu Ihrer Bestellung geben möchten, schreiben Sie an",
            "Para dar su opinión a Acme sobre su pedido, escriba a",
        ],
    ),
    (
        "expired-reorder",
        [
            "You can still order from Acme any time.",
            "Vous pouvez toujours commander chez Acme quand vous le souhaitez.",
            "Bei Acme können Sie aber jederzeit bestellen.",
            "Puede seguir comprando en Acme cuando quiera.",
        ],
    ),
    (
        "expired-report",
        [
            "This report link has expired",
            "Ce lien vers le rapport a expiré",
            "Dieser Berichtslink ist abgelaufen",
            "Este enlace al informe ha caducado",
        ],
    ),
    (
        "reason",
        [
            "Your reason for the return: <strong>Defective or damaged</strong>.",
            "Le motif de votre retour&nbsp;: <strong>Défectueux ou endommagé</strong>.",
            "Ihr Grund für die Rücksendung: <strong>Defekt oder beschädigt</strong>.",
            "El motivo de su devolución: <strong>Defectuoso o dañado</strong>.",
        ],
    ),
    (
        "reason_commented",
        [
            "Your reason: Changed my mind.",
            "Votre motif&nbsp;: J’ai changé d’avis.",
            "Ihr Rücksendegrund: Ich habe es mir anders überlegt.",
            "Motivo de la devolución: Cambié de opinión.",
        ],
    ),
    (
        "unsubscribe",
        [
            "Stop emails from Acme about your orders (thank-you notes, reminders and offers)?",
            "Ne plus recevoir d’e-mails de Acme au sujet de vos commandes (remerciements, rappels et offres)&#8239;?",
            "Möchten Sie keine E-Mails mehr von Acme zu Ihren Bestellungen erhalten (Dankesnachrichten, Erinnerungen und Angebote)?",
            "¿Desea dejar de recibir correos de Acme sobre sus pedidos (agradecimientos, recordatorios y ofertas)?",
        ],
    ),
    (
        "unsubscribed",
        [
            "You won't get any more emails from Acme about your orders.",
            "Vous ne recevrez plus d’e-mails de Acme au sujet de vos commandes.",
            "Sie erhalten keine E-Mails mehr von Acme zu Ihren Bestellungen.",
            "Ya no recibirá correos de Acme sobre sus pedidos.",
        ],
    ),
    (
        "unsubscribed old link",
        [
            "Changed your mind? Write to",
            "Vous avez changé d’avis&#8239;? Écrivez à",
            "Haben Sie es sich anders überlegt? Schreiben Sie an",
            "¿Ha cambiado de opinión? Escriba a",
        ],
    ),
    (
        "resubscribed",
        [
            "You'll hear from Acme about your orders again.",
            "Vous recevrez de nouveau les e-mails de Acme au sujet de vos commandes.",
            "Sie erhalten wieder E-Mails von Acme zu Ihren Bestellungen.",
            "Volverá a recibir correos de Acme sobre sus pedidos.",
        ],
    ),
    (
        "subscribed",
        [
            "You already get emails from Acme about your orders.",
            "Vous recevez déjà les e-mails de Acme au sujet de vos commandes.",
            "Sie erhalten bereits E-Mails von Acme zu Ihren Bestellungen.",
            "Ya recibe correos de Acme sobre sus pedidos.",
        ],
    ),
    (
        "kept suppressed",
        [
            "Emails to your address stopped because they could not be delivered or were reported as unwanted.",
            "Nous avons cessé d’envoyer des e-mails à votre adresse, car ils n’ont pas pu être distribués ou ont été signalés comme indésirables.",
            "Der Versand an Ihre Adresse wurde eingestellt, weil unsere E-Mails nicht zugestellt werden konnten oder als unerwünscht gemeldet wurden.",
            "Dejamos de enviar correos a su dirección porque no se pudieron entregar o se marcaron como no deseados.",
        ],
    ),
    (
        "shop again",
        [
            "We couldn't rebuild your cart automatically.",
            "Nous n’avons pas pu reconstituer votre panier automatiquement.",
            "Wir konnten Ihren Warenkorb leider nicht automatisch wiederherstellen.",
            "No pudimos preparar su carrito automáticamente.",
        ],
    ),
];

/// Each refusal explanation's main sentence (by `refusal` in `refusal.html`), in
/// [`LOCALES`] order.
const REFUSAL_SENTENCES: &[(&str, [&str; 4])] = &[
    (
        "not_found",
        [
            "There is nothing at this address.",
            "Il n’y a rien à cette adresse.",
            "Unter dieser Adresse ist nichts zu finden.",
            "No hay nada en esta dirección.",
        ],
    ),
    (
        "method",
        [
            "Open the link from your email in a browser.",
            "Ouvrez le lien de votre e-mail dans un navigateur.",
            "Öffnen Sie den Link aus Ihrer E-Mail in einem Browser.",
            "Abra el enlace de su correo en un navegador.",
        ],
    ),
    (
        "incomplete",
        [
            "Part of the link seems to be missing.",
            "Une partie du lien semble manquer.",
            "Ein Teil des Links scheint zu fehlen.",
            "Parece que falta una parte del enlace.",
        ],
    ),
    (
        "expired",
        [
            "Links in our emails work for a limited time.",
            "Les liens de nos e-mails sont valables pour une durée limitée.",
            "Die Links in unseren E-Mails sind nur für begrenzte Zeit gültig.",
            "Los enlaces de nuestros correos son válidos durante un tiempo limitado.",
        ],
    ),
    (
        "wrong_purpose",
        [
            "The link belongs to another page.",
            "Ce lien correspond à une autre page.",
            "Der Link gehört zu einer anderen Seite.",
            "El enlace corresponde a otra página.",
        ],
    ),
    (
        "invalid",
        [
            "The link was changed or is not one of ours.",
            "Ce lien a été modifié ou ne vient pas de nous.",
            "Der Link wurde verändert oder stammt nicht von uns.",
            "El enlace se ha modificado o no es nuestro.",
        ],
    ),
    (
        "inactive",
        [
            "What it pointed to no longer exists.",
            "La page vers laquelle il menait n’existe plus.",
            "Die Seite, zu der er führte, gibt es nicht mehr.",
            "La página a la que llevaba ya no existe.",
        ],
    ),
    (
        "bad_form",
        [
            "Please go back and send the form again.",
            "Revenez à la page précédente et renvoyez le formulaire.",
            "Bitte gehen Sie zurück und senden Sie das Formular erneut ab.",
            "Vuelva a la página anterior y envíe el formulario de nuevo.",
        ],
    ),
    (
        "server",
        [
            "Nothing was lost. Please try again in a minute.",
            "Rien n’a été perdu. Réessayez dans une minute.",
            "Es ist nichts verloren gegangen. Bitte versuchen Sie es in einer Minute noch einmal.",
            "No se ha perdido nada. Vuelva a intentarlo en un minuto.",
        ],
    ),
];

#[test]
fn each_page_says_its_main_sentence_in_its_language() {
    let config = full_config();
    let shop = config.shop(SHOP).unwrap();
    let lookup = |table: &[(&str, [&'static str; 4])], key: &str| {
        table
            .iter()
            .find(|(k, _)| *k == key)
            .unwrap_or_else(|| panic!("no main sentence for {key:?}"))
            .1
    };
    for (i, lang) in LOCALES.into_iter().enumerate() {
        let pages = every_page(shop, "tok", &chain(lang));
        assert_eq!(pages.len(), MAIN_SENTENCES.len() + refusals().len());
        let refusal_pages = refusals().into_iter().map(|r| r.page());
        let keys = MAIN_SENTENCES.iter().map(|(k, _)| *k).chain(refusal_pages);
        for ((name, r), key) in pages.iter().zip(keys) {
            let table = if name.starts_with("refusal") {
                REFUSAL_SENTENCES
            } else {
                assert_eq!(name, key, "MAIN_SENTENCES follows every_page");
                MAIN_SENTENCES
            };
            let sentences = lookup(table, key);
            let page = html(r);
            assert!(
                page.starts_with(&format!("<!doctype html>\n<html lang=\"{lang}\">")),
                "{lang} {name}"
            );
            assert!(
                page.contains(sentences[i]),
                "{lang} {name}: {:?} not in {page}",
                sentences[i]
            );
            for (j, other) in sentences.iter().enumerate() {
                if j != i {
                    assert!(
                        !page.contains(other),
                        "{lang} {name}: {:?} is in {}'s words",
                        other,
                        LOCALES[j]
                    );
                }
            }
        }
    }
}

/// No sentence or clause of an English page (nor a common English word) is left in its
/// German or Spanish version, with every optional part shown or left out.
#[test]
fn no_english_is_left_in_a_german_or_spanish_page() {
    let full = full_config();
    let bare = config("Acme", "");
    for config in [&full, &bare] {
        let shop = config.shop(SHOP).unwrap();
        let en = every_page(shop, "tok", &[]);
        for lang in ["de", "es"] {
            for ((name, en), (_, r)) in en.iter().zip(every_page(shop, "tok", &chain(lang))) {
                let text = visible_text(&html(&r));
                for sentence in sentences(&visible_text(&html(en))) {
                    assert!(
                        !text.contains(&sentence),
                        "{lang} {name}: English {sentence:?} in {text}"
                    );
                }
                for word in words(&text) {
                    assert!(
                        ![
                            "the", "you", "your", "and", "to", "of", "Thank", "Thanks", "Please",
                            "Send", "email", "emails", "order", "orders", "link", "shop",
                        ]
                        .contains(&word),
                        "{lang} {name}: English {word:?} in {text}"
                    );
                }
                // One form of address: Sie in German, usted in Spanish.
                let informal: &[&str] = match lang {
                    "de" => &[
                        "du", "Du", "dich", "dir", "dein", "deine", "deinen", "deiner", "euch",
                    ],
                    _ => &["tú", "tu", "Tu", "tus", "te", "ti", "contigo"],
                };
                for word in words(&text) {
                    assert!(
                        !informal.contains(&word),
                        "{lang} {name}: informal {word:?} in {text}"
                    );
                }
            }
        }
    }
}

#[test]
fn every_return_reason_is_named_in_every_language() {
    let config = full_config();
    let shop = config.shop(SHOP).unwrap();
    for lang in LOCALES {
        for reason in ReturnReason::ALL {
            for commented in [false, true] {
                let r = reason_page(shop, reason, "tok", commented, &chain(lang));
                assert_eq!(r.status(), StatusCode::OK, "{lang} {reason:?}");
                let page = html(&r);
                let english = if commented {
                    format!("Your reason: {}.", reason.label())
                } else {
                    format!("<strong>{}</strong>", reason.label())
                };
                assert_eq!(
                    page.contains(&english),
                    lang == "en",
                    "{lang} {reason:?}: {page}"
                );
            }
        }
    }
}

use crate::email::locale_tests::markup;

/// A page's only difference between languages is its words: the same tags, attributes,
/// form fields, links and variables, in the same order.
#[test]
fn translations_keep_the_english_markup_and_variables() {
    let source = |name: &str| {
        pages::TEMPLATES
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("{name} is not in TEMPLATES"))
            .1
    };
    for (name, text) in pages::TEMPLATES {
        let Some((page, lang)) = name
            .strip_suffix(".html")
            .and_then(|stem| stem.split_once('.'))
        else {
            continue;
        };
        let english = markup(source(&format!("{page}.html")));
        assert!(english.len() > 3, "{page}: {english:?}");
        assert_eq!(markup(text), english, "{page} in {lang}");
    }
}

/// Every page has a French, German and Spanish version, and every template file is
/// compiled in.
#[test]
fn every_page_has_french_german_and_spanish_templates() {
    let names: Vec<&str> = pages::TEMPLATES.iter().map(|(n, _)| *n).collect();
    let english: Vec<&str> = names
        .iter()
        .filter_map(|n| n.strip_suffix(".html"))
        .filter(|stem| !stem.contains('.') && *stem != "layout")
        .collect();
    assert_eq!(english.len(), 11, "{english:?}");
    for page in &english {
        for lang in ["fr", "de", "es"] {
            let sibling = format!("{page}.{lang}.html");
            assert!(names.contains(&sibling.as_str()), "{sibling} is missing");
        }
    }
    for name in &names {
        let stem = name.strip_suffix(".html").expect("an .html template");
        if let Some((page, lang)) = stem.split_once('.') {
            assert!(english.contains(&page), "{name} has no English {page}.html");
            assert!(LOCALES.contains(&lang), "{name}: {lang} is not in LOCALES");
        }
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/apps/links/templates");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let mut registered: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    registered.sort();
    assert_eq!(
        files, registered,
        "every file in templates/ is in TEMPLATES"
    );
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
    for locale in LOCALES {
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
        (Some("it-IT"), Some("fr"), "fr", "unsupported: the shop's"),
        (None, Some("fr"), "fr", "unknown: the shop's"),
        (Some("en-GB"), Some("fr"), "en", "English is a language too"),
        (Some("de"), None, "de", "German"),
        (Some("de-DE"), None, "de", "de-DE falls back to de"),
        (
            Some("de_AT"),
            Some("fr"),
            "de",
            "de-AT: de, before the shop's",
        ),
        (Some("es"), None, "es", "Spanish"),
        (Some("es-MX"), Some("fr"), "es", "es-MX falls back to es"),
        (Some("es-419"), None, "es", "es-419 falls back to es"),
        (None, Some("de-CH"), "de", "the shop's German"),
        (Some("nl"), None, "en", "then English"),
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
            Some("it-IT,it;q=0.9,fr;q=0.8,en;q=0.5"),
            "fr",
            "first supported",
        ),
        (None, Some("de"), "de", "German"),
        (
            None,
            Some("de-DE,de;q=0.9,en;q=0.5"),
            "de",
            "de-DE falls back to de",
        ),
        (None, Some("es-MX,es;q=0.9,en;q=0.8"), "es", "Spanish"),
        (
            Some("es"),
            Some("de"),
            "es",
            "the shop's before the browser's",
        ),
        (None, Some("en-US,fr;q=0.9"), "en", "English first"),
        (None, Some("en;q=0.5, fr;q=0.8"), "fr", "by q, not position"),
        (None, Some("fr;q=0, nl"), "en", "q=0 means not wanted"),
        (None, Some("fr;q=0, de"), "de", "q=0: the next one"),
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
        let english = html(&app.handle(request(method, path, token, None)).await);
        for (accept, lang) in [
            (None, "en"),
            (Some("fr-FR,fr;q=0.9,en;q=0.8"), "fr"),
            (Some("de"), "de"),
            (Some("de-DE,de;q=0.9,en;q=0.8"), "de"),
            (Some("es-MX,es;q=0.9"), "es"),
            (Some("nl, en-GB;q=0.5"), "en"),
        ] {
            let r = app.handle(request(method, path, token, accept)).await;
            assert_eq!(r.status().as_u16(), status, "{method} {path}");
            let page = html(&r);
            assert!(
                page.starts_with(&format!("<!doctype html>\n<html lang=\"{lang}\">")),
                "{method} {path} {accept:?}: {page}"
            );
            assert_eq!(
                h1(&page) == h1(&english),
                lang == "en",
                "{method} {path} {accept:?}: the title is in {lang}: {page}"
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
    for locale in LOCALES {
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

/// Writes every page in every language to `$AFTERCART_PAGES_DIR` (e.g. `/tmp/pages`),
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
    for locale in LOCALES {
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
    for locale in LOCALES {
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
    for locale in LOCALES {
        let page = html(&unsubscribe_page(true, false, shop, "tok", &chain(locale)));
        assert!(!page.contains("resubscribe?t="), "{locale}: {page}");
        assert!(page.contains("help@acme.example"), "{locale}: {page}");
        let fresh = html(&unsubscribe_page(true, true, shop, "tok", &chain(locale)));
        assert!(fresh.contains("resubscribe?t=tok"), "{locale}: {fresh}");
    }
}

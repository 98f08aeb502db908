//! The email's view model: what the templates of one follow-up see, built from the
//! stored order and profile and the shop's config.

use super::{BrandView, CareView, EmailContext, LineView, LinkView, Sender};
use crate::config::{ProductRule, ShopConfig};
use crate::model::tokens::LinkBuilder;
use crate::model::{FollowUpRecord, LineUnits, OrderRecord, Playbook, ProfileRecord};
use chrono::{DateTime, Utc};

/// The email for follow-up `f`: what the templates see.
#[allow(clippy::too_many_arguments)]
pub fn email_context(
    links: &LinkBuilder,
    f: &FollowUpRecord,
    shop: &ShopConfig,
    order: &OrderRecord,
    profile: &ProfileRecord,
    to: &str,
    from: &str,
    now: DateTime<Utc>,
) -> EmailContext {
    let now_s = now.timestamp();
    let lines = shown_lines(f, order);
    let rules: Vec<Option<&ProductRule>> = lines
        .iter()
        .map(|u| shop.product(u.line.product_id, u.line.sku.as_deref()))
        .collect();
    EmailContext {
        playbook: f.playbook,
        shop_name: shop.brand().to_owned(),
        shop_url: Some(format!("https://{}", shop.domain)),
        from: Sender {
            name: shop
                .sender_name
                .clone()
                .unwrap_or_else(|| shop.brand().to_owned()),
            email: from.to_owned(),
        },
        to: to.to_owned(),
        support_email: shop.support_email.clone(),
        first_name: profile.first_name.clone(),
        locale: order
            .customer_locale
            .clone()
            .or_else(|| profile.locale.clone()),
        shop_locale: shop.locale.clone(),
        order_name: order.name.clone(),
        currency: order.currency.clone(),
        lines: lines
            .iter()
            .zip(&rules)
            .map(|(u, rule)| LineView {
                title: u.line.title.clone(),
                variant_title: u.line.variant_title.clone(),
                quantity: u.quantity,
                unit_price: u.line.price,
                image_url: rule.and_then(|r| r.image_url.clone()),
            })
            .collect(),
        care: care_links(&lines, &rules),
        total: (f.playbook == Playbook::ThankYou)
            .then_some(order.total_price)
            .flatten(),
        savings: (f.playbook == Playbook::ThankYou)
            .then_some(order.total_discounts)
            .flatten()
            .filter(|d| d.is_sign_positive() && !d.is_zero()),
        // A reminder's ratings are signed for the satisfaction check it repeats, so
        // they land on that one feedback item.
        rating_urls: match f.rating_target() {
            Some(target) => links.rating_urls(&f.shop, &f.customer_key, &target, now_s),
            None => Vec::new(),
        },
        reason_urls: if f.playbook == Playbook::Returns {
            links.reason_urls(&f.shop, &f.customer_key, &f.id, now_s)
        } else {
            Vec::new()
        },
        reorder_url: (f.playbook == Playbook::Replenishment)
            .then(|| links.reorder_url(&f.shop, &f.customer_key, &f.id, now_s)),
        review_url: shop.review_url.clone(),
        // Set by `send` once the code exists in the store (see `admin::code_rule`).
        discount_code: None,
        discount_expires: None,
        complementary: cross_sell(shop, f, order),
        preheader: shop.preheader(f.playbook).map(str::to_owned),
        brand: brand_view(shop),
        unsubscribe_url: Some(links.unsubscribe_url(&f.shop, &f.customer_key, &f.id, now_s)),
    }
}

/// The "You may also like" block: the complementary products of what the customer kept
/// (also where no line is shown), when the playbook's `cross_sell` is on.
fn cross_sell(shop: &ShopConfig, f: &FollowUpRecord, order: &OrderRecord) -> Vec<LinkView> {
    if !shop.cross_sell(f.playbook) {
        return Vec::new();
    }
    let kept: Vec<Option<&ProductRule>> = order
        .kept_lines(f.product_id)
        .iter()
        .map(|u| shop.product(u.line.product_id, u.line.sku.as_deref()))
        .collect();
    complementary_links(&kept)
}

/// The shop's `[shop.brand]` and postal address.
fn brand_view(shop: &ShopConfig) -> BrandView {
    BrandView {
        logo_url: shop.brand.logo_url.clone(),
        color: shop.brand.color.clone(),
        accent: shop.brand.accent.clone(),
        sign_off: shop.brand.sign_off.clone(),
        postal_address: shop.postal_address.clone(),
    }
}

/// The lines an email is about, with the units that count for it:
/// - returns: what was refunded;
/// - replenishment: exactly what its reorder cart holds (kept units per variant, of its
///   product);
/// - loyalty and recovery: none (they are about the customer, not the parcel);
/// - the others: what the customer kept.
fn shown_lines<'a>(f: &FollowUpRecord, order: &'a OrderRecord) -> Vec<LineUnits<'a>> {
    match f.playbook {
        Playbook::Returns => order.refunded_lines(),
        Playbook::Replenishment => order.reorder_items(f.product_id),
        Playbook::Loyalty | Playbook::Recovery => Vec::new(),
        Playbook::ThankYou | Playbook::Satisfaction | Playbook::SatisfactionReminder => {
            order.kept_lines(f.product_id)
        }
    }
}

/// The care and how-to links of the lines' products, once per product (three variants
/// of one product share one pair), titled by the product's first line.
fn care_links(lines: &[LineUnits<'_>], rules: &[Option<&ProductRule>]) -> Vec<CareView> {
    let mut seen: Vec<&ProductRule> = Vec::new();
    let mut care = Vec::new();
    for (u, rule) in lines.iter().zip(rules) {
        let Some(rule) = *rule else { continue };
        if seen.iter().any(|s| std::ptr::eq(*s, rule)) {
            continue;
        }
        seen.push(rule);
        if rule.care_url.is_none() && rule.how_to_url.is_none() {
            continue;
        }
        care.push(CareView {
            title: u.line.title.clone(),
            care_url: rule.care_url.clone(),
            how_to_url: rule.how_to_url.clone(),
        });
    }
    care
}

/// The complementary products of the lines' products, each once.
fn complementary_links(rules: &[Option<&ProductRule>]) -> Vec<LinkView> {
    let mut complementary: Vec<LinkView> = Vec::new();
    for c in rules.iter().flatten().flat_map(|r| &r.complementary) {
        if !complementary.iter().any(|x| x.url == c.url) {
            complementary.push(LinkView {
                title: c.title.clone(),
                url: c.url.clone(),
            });
        }
    }
    complementary
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::model::tokens::LinkKeys;
    use crate::model::OrderLine;
    use rust_decimal::Decimal;

    /// A shop whose one configured product (id 1) has care links, a picture and a
    /// complementary product.
    fn shop(extra: &str) -> Config {
        Config::parse(
            &format!(
                "[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"acme.myshopify.com\"\nsender_email = \"shop@acme.example\"\n{extra}\n\
                 [[shop.product]]\nproduct_id = 1\nconsumption_days = 30\ncare_url = \"https://acme.example/care\"\n\
                 how_to_url = \"https://acme.example/how\"\nimage_url = \"https://cdn.example/serum.png\"\n\
                 complementary = [{{ title = \"Cream\", url = \"https://acme.example/cream\" }}]\n"
            ),
            "test",
        )
        .unwrap()
    }

    fn line(
        id: u64,
        product: Option<u64>,
        variant: Option<u64>,
        title: &str,
        qty: u32,
    ) -> OrderLine {
        OrderLine {
            line_item_id: id,
            product_id: product,
            variant_id: variant,
            sku: None,
            title: title.into(),
            variant_title: variant.map(|v| format!("variant {v}")),
            quantity: qty,
            price: Some(Decimal::new(2450, 2)),
        }
    }

    /// Product 1 in three variants (two lines of variant 12), a product with no rule,
    /// and a custom item; one unit of variant 12 and the unruled product refunded.
    fn order() -> OrderRecord {
        let mut order = OrderRecord {
            order_id: 1001,
            name: Some("#1001".into()),
            currency: Some("EUR".into()),
            total_price: Some(Decimal::new(14700, 2)),
            total_discounts: Some(Decimal::new(500, 2)),
            lines: vec![
                line(1, Some(1), Some(11), "Serum", 1),
                line(2, Some(1), Some(12), "Serum", 2),
                line(3, Some(1), Some(12), "Serum", 1),
                line(4, Some(1), Some(13), "Serum", 1),
                line(5, Some(2), Some(21), "Soap", 1),
                line(6, None, None, "Gift wrap", 1),
            ],
            ..OrderRecord::default()
        };
        order.refunded.insert("2".into(), 1);
        order.refunded.insert("5".into(), 1);
        order
    }

    fn context(config: &Config, playbook: Playbook, product: Option<u64>) -> EmailContext {
        let links = LinkBuilder {
            base_url: "https://links.example.test".into(),
            keys: LinkKeys::parse("1:a-test-key-that-is-long-enough-0123456789").unwrap(),
            ttl_days: 60,
        };
        let f = FollowUpRecord::pending(
            "acme.myshopify.com",
            "42",
            playbook,
            1001,
            product,
            "2026-12-01T10:00:00Z",
            "2026-12-01T10:00:00Z",
            1,
        );
        email_context(
            &links,
            &f,
            &config.shops[0],
            &order(),
            &ProfileRecord::default(),
            "a@b.example",
            "shop@acme.example",
            "2026-12-01T10:00:00Z".parse().unwrap(),
        )
    }

    fn shown(ctx: &EmailContext) -> Vec<(String, Option<String>, u32)> {
        ctx.lines
            .iter()
            .map(|l| (l.title.clone(), l.variant_title.clone(), l.quantity))
            .collect()
    }

    fn row(title: &str, variant: Option<u64>, qty: u32) -> (String, Option<String>, u32) {
        (title.into(), variant.map(|v| format!("variant {v}")), qty)
    }

    #[test]
    fn returns_shows_only_the_refunded_lines_and_units() {
        let ctx = context(&shop(""), Playbook::Returns, None);
        assert_eq!(
            shown(&ctx),
            [row("Serum", Some(12), 1), row("Soap", Some(21), 1)]
        );
    }

    #[test]
    fn replenishment_shows_exactly_what_its_reorder_cart_holds() {
        let config = shop("");
        let ctx = context(&config, Playbook::Replenishment, Some(1));
        // Variant 12's two lines merged, less the refunded unit; other products and
        // the custom item left out.
        assert_eq!(
            shown(&ctx),
            [
                row("Serum", Some(11), 1),
                row("Serum", Some(12), 2),
                row("Serum", Some(13), 1)
            ]
        );
        // `links::cart_permalink` builds the cart from the same `reorder_items`.
        let order = order();
        let cart: Vec<(Option<u64>, u32)> = order
            .reorder_items(Some(1))
            .iter()
            .map(|u| (u.line.variant_id, u.quantity))
            .collect();
        assert_eq!(cart, [(Some(11), 1), (Some(12), 2), (Some(13), 1)]);
    }

    #[test]
    fn thank_you_and_satisfaction_show_what_was_kept_with_prices_total_and_savings() {
        let config = shop("");
        for playbook in [Playbook::ThankYou, Playbook::Satisfaction] {
            let ctx = context(&config, playbook, None);
            assert_eq!(
                shown(&ctx),
                [
                    row("Serum", Some(11), 1),
                    row("Serum", Some(12), 1),
                    row("Serum", Some(12), 1),
                    row("Serum", Some(13), 1),
                    row("Gift wrap", None, 1),
                ],
                "{playbook:?}"
            );
            assert_eq!(ctx.lines[0].unit_price, Some(Decimal::new(2450, 2)));
            assert_eq!(
                ctx.lines[0].image_url.as_deref(),
                Some("https://cdn.example/serum.png")
            );
            assert_eq!(ctx.lines[4].image_url, None);
        }
        let thanks = context(&config, Playbook::ThankYou, None);
        assert_eq!(
            (thanks.total, thanks.savings),
            (Some(Decimal::new(14700, 2)), Some(Decimal::new(500, 2)))
        );
        let check = context(&config, Playbook::Satisfaction, None);
        assert_eq!((check.total, check.savings), (None, None));
    }

    #[test]
    fn care_links_come_once_per_product_however_many_variants() {
        let ctx = context(&shop(""), Playbook::ThankYou, None);
        assert_eq!(
            ctx.care,
            [CareView {
                title: "Serum".into(),
                care_url: Some("https://acme.example/care".into()),
                how_to_url: Some("https://acme.example/how".into()),
            }]
        );
        let html = crate::email::Templates::builtin()
            .render(&ctx)
            .unwrap()
            .html;
        assert_eq!(html.matches("https://acme.example/care").count(), 1);
        assert_eq!(html.matches("https://acme.example/how").count(), 1);
    }

    #[test]
    fn cross_sell_is_on_where_it_thanks_or_reminds_off_in_apologies_and_configurable() {
        let config = shop("");
        let cross_sells =
            |config: &Config, p| !context(config, p, Some(1)).complementary.is_empty();
        for playbook in Playbook::ALL {
            let expected = matches!(
                playbook,
                Playbook::ThankYou | Playbook::Replenishment | Playbook::Loyalty
            );
            assert_eq!(cross_sells(&config, playbook), expected, "{playbook:?}");
        }
        let config = shop(
            "[shop.emails.thank_you]\ncross_sell = false\n[shop.emails.returns]\ncross_sell = true\n",
        );
        assert!(!cross_sells(&config, Playbook::ThankYou));
        assert!(cross_sells(&config, Playbook::Returns));
        assert!(cross_sells(&config, Playbook::Loyalty));
    }

    #[test]
    fn the_shops_preheader_and_brand_reach_the_email() {
        let config = shop(
            "[shop.brand]\nlogo_url = \"https://cdn.example/logo.png\"\ncolor = \"#0F5132\"\naccent = \"#ffd700\"\nsign_off = \"Sam at Acme\"\n\
             [shop.emails.thank_you]\npreheader = \"Packed with care\"\n",
        );
        let ctx = context(&config, Playbook::ThankYou, None);
        let r = crate::email::Templates::builtin().render(&ctx).unwrap();
        assert!(r.html.contains(">Packed with care&#8199;"), "{}", r.html);
        assert!(r
            .html
            .contains("<img src=\"https://cdn.example/logo.png\" alt=\"acme.myshopify.com\""));
        assert!(r.html.contains("border-top:4px solid #0f5132"));
        // A light accent gets dark button text (the reminder's reorder button).
        let reminder = context(&config, Playbook::Replenishment, Some(1));
        let html = crate::email::Templates::builtin()
            .render(&reminder)
            .unwrap()
            .html;
        assert!(html.contains("background-color:#ffd700;"), "{html}");
        assert!(
            html.contains("color:#1f2328;text-decoration:none;border-radius:6px;"),
            "{html}"
        );
        assert!(r.html.contains("Sam at Acme") && r.text.contains("Sam at Acme"));
        assert!(!r.text.contains("Thanks,"));
        assert!(
            r.html.contains("1 Test Street, Springfield")
                && r.text.contains("1 Test Street, Springfield")
        );
        // Without a preheader of its own, the template's.
        let ctx = context(&config, Playbook::Satisfaction, None);
        let html = crate::email::Templates::builtin()
            .render(&ctx)
            .unwrap()
            .html;
        assert!(html.contains(">One click tells us how it went"), "{html}");
    }
}

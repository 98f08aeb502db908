//! The email's view model: what the templates of one follow-up see, built from the
//! stored order and profile and the shop's config.

use super::{EmailContext, LineView, LinkView, Sender};
use crate::config::ShopConfig;
use crate::model::tokens::LinkBuilder;
use crate::model::{FollowUpRecord, OrderRecord, Playbook, ProfileRecord};
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
    let lines: Vec<_> = order
        .lines
        .iter()
        .filter(|l| f.product_id.is_none() || l.product_id == f.product_id)
        .collect();
    let complementary = complementary_links(shop, &lines);
    EmailContext {
        playbook: f.playbook,
        shop_name: shop.brand().to_owned(),
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
            .or_else(|| profile.locale.clone())
            .or_else(|| shop.locale.clone()),
        order_name: order.name.clone(),
        lines: lines.iter().map(|l| line_view(shop, l)).collect(),
        savings: order.total_discounts.filter(|d| !d.is_zero()).map(|d| {
            format!("{d} {}", order.currency.as_deref().unwrap_or_default())
                .trim()
                .to_owned()
        }),
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
        complementary,
        unsubscribe_url: Some(links.unsubscribe_url(&f.shop, &f.customer_key, &f.id, now_s)),
    }
}

/// The complementary products of the email's lines, each once.
fn complementary_links(shop: &ShopConfig, lines: &[&crate::model::OrderLine]) -> Vec<LinkView> {
    let rules: Vec<_> = lines
        .iter()
        .filter_map(|l| shop.product(l.product_id, l.sku.as_deref()))
        .collect();
    let mut complementary: Vec<LinkView> = Vec::new();
    for c in rules.iter().flat_map(|r| &r.complementary) {
        if !complementary.iter().any(|x| x.url == c.url) {
            complementary.push(LinkView {
                title: c.title.clone(),
                url: c.url.clone(),
            });
        }
    }
    complementary
}

/// One order line as the templates show it, with its product's care and how-to links.
fn line_view(shop: &ShopConfig, l: &crate::model::OrderLine) -> LineView {
    let rule = shop.product(l.product_id, l.sku.as_deref());
    LineView {
        title: l.title.clone(),
        variant_title: l.variant_title.clone(),
        quantity: l.quantity,
        care_url: rule.and_then(|r| r.care_url.clone()),
        how_to_url: rule.and_then(|r| r.how_to_url.clone()),
    }
}

//! Recording a webhook, as pure logic: given a parsed event and the items it touches as
//! they are now, decide the items to write. The store adapter reads the items named by
//! [`needs`], calls [`plan`], and writes the result in one transaction in which every
//! versioned item expects the version it read; if another delivery changed one of them
//! meanwhile, the adapter reads again and re-plans. So deliveries that arrive together,
//! twice, late or out of order still leave the same state as one careful writer would.

use crate::config::ShopConfig;
use crate::domain::attribution;
use crate::domain::followup::{self, Planner, Triggers};
use crate::model::cadence::CadenceRecord;
use crate::model::time::utc_key;
use crate::model::Expect;
use crate::model::{
    customer_key, email_hash, keys, DiscountRecord, FollowUpRecord, FulfillmentRecord,
    HistoryRecord, Key, OrderLine, OrderRecord, PrivacyRequestRecord, ProfileRecord, RefundLine,
    RefundRecord, ShopRecord,
};
use crate::wire::shopify::{
    AppUninstalled, ConsentUpdate, Event, Fulfillment, FulfillmentEvent, Order, Refund, ShopRedact,
    Topic,
};
use chrono::{DateTime, Utc};

pub mod receipts;
mod timing;
pub use timing::cadence_keys;

/// The stored items an event's plan depends on.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Needs {
    pub order: Option<u64>,
    pub fulfillment: Option<(u64, u64)>,
    pub profile: Option<String>,
    pub shop: bool,
    /// The customer whose follow-ups to read.
    pub followups_of: Option<String>,
    /// Timing keys of the products whose learned timing to read ([`cadence_keys`]).
    pub cadences: Vec<String>,
}

/// Those items as read (consistently) from the table.
#[derive(Debug, Default, Clone)]
pub struct Loaded {
    pub order: Option<OrderRecord>,
    pub fulfillment: Option<FulfillmentRecord>,
    pub profile: Option<ProfileRecord>,
    pub shop: Option<ShopRecord>,
    pub followups: Vec<FollowUpRecord>,
    /// Discount codes issued to the customer (read with the follow-ups).
    pub discounts: Vec<DiscountRecord>,
    /// The learned timing of the products in [`Needs::cadences`] that have any.
    pub cadences: Vec<CadenceRecord>,
}

/// One item to write.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Order(OrderRecord),
    Fulfillment(FulfillmentRecord),
    Refund(RefundRecord),
    Profile(ProfileRecord),
    History(HistoryRecord),
    Privacy(PrivacyRequestRecord),
    Shop(ShopRecord),
    FollowUp(FollowUpRecord),
    Discount(DiscountRecord),
    Cadence(CadenceRecord),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    pub key: Key,
    pub item: Item,
    pub expect: Expect,
}

/// Where and when a delivery arrived.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub shop: &'a str,
    pub webhook_id: &'a str,
    pub now: DateTime<Utc>,
    /// The shop's rules; `None` records without planning follow-ups.
    pub rules: Option<&'a ShopConfig>,
    /// Partitions of the due index.
    pub shards: u32,
    /// Shopify triggered the delivery longer ago than [`REDELIVERY_AFTER_SECS`]: most
    /// likely a retry of one already received, so the store checks its receipt alone
    /// (one small read) before the full read for planning.
    pub redelivery: bool,
    /// A history import (`aftercart import-orders`): the order, the customer's profile,
    /// history and learned timing are recorded as for a delivery, but nothing is planned
    /// or credited — no email is ever sent for a past order.
    pub import: bool,
    /// Where the report counts of what is recorded go: `None` adds them right after the
    /// write (the webhook); the ingest consumer gathers a batch's here and adds them
    /// once, merged, at the batch's end.
    pub counts: Option<&'a crate::model::report::Counts>,
}

/// A delivery arriving this long after Shopify triggered it is treated as a likely
/// redelivery ([`Context::redelivery`]). Shopify sends within seconds and retries no
/// sooner than that after a failure.
pub const REDELIVERY_AFTER_SECS: i64 = 60;

/// The items `event` reads before planning.
pub fn needs(event: &Event) -> Needs {
    match event {
        Event::Order(_, o) => Needs {
            order: Some(o.id),
            profile: order_customer_key(o),
            followups_of: order_customer_key(o),
            ..Needs::default()
        },
        Event::Fulfillment(_, f) => Needs {
            order: Some(f.order_id),
            fulfillment: Some((f.order_id, f.id)),
            ..Needs::default()
        },
        Event::FulfillmentEvent(e) => Needs {
            order: Some(e.order_id),
            fulfillment: Some((e.order_id, e.fulfillment_id)),
            ..Needs::default()
        },
        Event::Refund(r) => Needs {
            order: Some(r.order_id),
            ..Needs::default()
        },
        Event::Consent(c) => Needs {
            profile: Some(c.customer_id.to_string()),
            ..Needs::default()
        },
        Event::ShopRedact(_) | Event::AppUninstalled(_) => Needs {
            shop: true,
            ..Needs::default()
        },
        Event::DataRequest(_) | Event::CustomerRedact(_) => Needs::default(),
    }
}

/// The ingest queue's message group for `event` of `shop`
/// ([`crate::wire::intake::group_id`]): deliveries in one group are recorded one at a
/// time, in the order they were accepted, and different groups in parallel.
///
/// An order's states go with its customer (the profile they all change), or with the
/// order itself for a guest without an address. Shipments and refunds name no
/// customer: they go with the customer `stored` on their order (the caller reads it,
/// [`group_lookup`]), or with the order while it is not recorded yet. Consent and
/// privacy requests go with the customer, the shop's own events with the shop. A
/// delivery of another group that touches the same items (a shipment that came before
/// its order was recorded) is still exact: the recorder's writes are conditioned on
/// the versions it read, and a lost race re-reads and re-plans.
pub fn group(shop: &str, event: &Event, stored: Option<&str>) -> String {
    use crate::wire::intake::group_id;
    let order = |id: u64| group_id(&[shop, "order", &id.to_string()]);
    // A customer's key (`model::customer_key`): their id, or `guest-{digest}`.
    let customer = |key: Option<String>| key.map(|k| group_id(&[shop, "customer", &k]));
    match event {
        Event::Order(_, o) => customer(order_customer_key(o)).unwrap_or_else(|| order(o.id)),
        Event::Fulfillment(..) | Event::FulfillmentEvent(_) | Event::Refund(_) => {
            customer(stored.map(str::to_owned))
                .unwrap_or_else(|| order(group_lookup(event).unwrap_or_default()))
        }
        Event::Consent(c) => customer(Some(c.customer_id.to_string())).unwrap_or_default(),
        Event::DataRequest(d) => customer(customer_key(d.customer.id, d.customer.email.as_deref()))
            .unwrap_or_else(|| group_id(&[shop, "privacy"])),
        Event::CustomerRedact(r) => {
            customer(customer_key(r.customer.id, r.customer.email.as_deref()))
                .unwrap_or_else(|| group_id(&[shop, "privacy"]))
        }
        Event::ShopRedact(_) | Event::AppUninstalled(_) => group_id(&[shop, "shop"]),
    }
}

/// The order whose stored customer decides `event`'s group: shipments and refunds.
pub fn group_lookup(event: &Event) -> Option<u64> {
    match event {
        Event::Fulfillment(_, f) => Some(f.order_id),
        Event::FulfillmentEvent(e) => Some(e.order_id),
        Event::Refund(r) => Some(r.order_id),
        _ => None,
    }
}

/// The items to read once the first read (`needs(event)`) is known: an order that was
/// already counted for a customer stays with that customer's profile even if a later
/// state of the order names another (a guest order that gained a customer account).
/// When this differs from `needs`, the adapter reads again with it before planning.
pub fn needs_after(event: &Event, needs: &Needs, loaded: &Loaded) -> Needs {
    let mut refined = needs.clone();
    let Some(stored) = loaded.order.as_ref() else {
        return refined;
    };
    match event {
        Event::Order(..) if stored.counted => {
            if let Some(key) = &stored.customer_key {
                refined.profile = Some(key.clone());
                refined.followups_of = Some(key.clone());
            }
        }
        Event::Fulfillment(..) => refined.followups_of.clone_from(&stored.customer_key),
        // Before delivery a tracking event changes the shipment alone.
        Event::FulfillmentEvent(e) if e.is_delivery() => {
            refined.followups_of.clone_from(&stored.customer_key);
        }
        // A refund also changes the units the customer kept (`model::cadence`).
        Event::Refund(_) => {
            refined.followups_of.clone_from(&stored.customer_key);
            if stored.spend_counted && !stored.timing.is_empty() {
                refined.profile.clone_from(&stored.customer_key);
            }
        }
        _ => {}
    }
    refined
}

/// The writes that record `event`, given the current state `loaded`.
pub fn plan(ctx: &Context<'_>, event: &Event, loaded: &Loaded) -> Vec<Write> {
    let mut out = Vec::new();
    match event {
        Event::Order(topic, o) => plan_order(ctx, *topic, o, loaded, &mut out),
        Event::Fulfillment(_, f) => plan_fulfillment(ctx, f, loaded, &mut out),
        Event::FulfillmentEvent(e) => plan_fulfillment_event(ctx, e, loaded, &mut out),
        Event::Refund(r) => plan_refund(ctx, r, loaded, &mut out),
        Event::Consent(c) => plan_consent(ctx, c, loaded, &mut out),
        Event::DataRequest(d) => out.push(privacy(
            ctx,
            Topic::CustomersDataRequest,
            d.customer.id,
            d.customer.email.as_deref(),
            d.orders_requested.clone(),
            Some(d.data_request.id),
        )),
        Event::CustomerRedact(r) => out.push(privacy(
            ctx,
            Topic::CustomersRedact,
            r.customer.id,
            r.customer.email.as_deref(),
            r.orders_to_redact.clone(),
            None,
        )),
        Event::ShopRedact(s) => plan_shop_redact(ctx, s, loaded, &mut out),
        Event::AppUninstalled(s) => plan_app_uninstalled(ctx, s, loaded, &mut out),
    }
    out
}

/// A consent update: the newer consent state (an undated one counts as newest unless a
/// dated one is stored), and the email address if the profile has none yet. Writes
/// the profile only if it is new or changed.
fn plan_consent(ctx: &Context<'_>, c: &ConsentUpdate, loaded: &Loaded, out: &mut Vec<Write>) {
    let key = c.customer_id.to_string();
    let (mut p, expect) = versioned(loaded.profile.as_ref(), || ProfileRecord {
        customer_key: key.clone(),
        customer_id: Some(c.customer_id),
        ..ProfileRecord::default()
    });
    let mut changed = loaded.profile.is_none();
    if let Some(consent) = &c.email_marketing_consent {
        let at = consent.consent_updated_at.map(|t| utc_key(&t));
        let newer = match (&at, &p.consent_updated_at) {
            (Some(new), Some(old)) => new >= old,
            (None, Some(_)) => false,
            _ => true,
        };
        if newer {
            p.consent_state = Some(consent.state.clone());
            p.consent_updated_at = at.or_else(|| Some(utc_key(&ctx.now)));
            changed = true;
        }
    }
    if p.email.is_none() && c.email_address.is_some() {
        p.email = c.email_address.clone();
        changed = true;
    }
    if changed {
        out.push(write(
            keys::profile(ctx.shop, &key),
            Item::Profile(p),
            expect,
        ));
    }
}

/// A shop's redaction: a privacy request to carry out, and the shop marked as redacted
/// and uninstalled (a redacted shop is sent nothing more).
fn plan_shop_redact(ctx: &Context<'_>, s: &ShopRedact, loaded: &Loaded, out: &mut Vec<Write>) {
    out.push(privacy(
        ctx,
        Topic::ShopRedact,
        None,
        None,
        Vec::new(),
        None,
    ));
    let (mut rec, expect) = versioned(loaded.shop.as_ref(), ShopRecord::default);
    rec.shop_id = rec.shop_id.or(s.shop_id);
    rec.redact_requested_at
        .get_or_insert_with(|| utc_key(&ctx.now));
    // A redacted shop is uninstalled too: nothing more may be sent.
    rec.uninstalled_at.get_or_insert_with(|| utc_key(&ctx.now));
    rec.uninstall_unconfirmed_at = Some(utc_key(&ctx.now));
    out.push(write(keys::shop(ctx.shop), Item::Shop(rec), expect));
}

/// An uninstall: a privacy request to carry out, and the shop marked as uninstalled
/// (unconfirmed until the dispatcher checks).
fn plan_app_uninstalled(
    ctx: &Context<'_>,
    s: &AppUninstalled,
    loaded: &Loaded,
    out: &mut Vec<Write>,
) {
    // Sends stop at once; the dispatcher then confirms the uninstall with the
    // Admin API (the topic header is not signed) and resumes them if forged.
    out.push(privacy(
        ctx,
        Topic::AppUninstalled,
        None,
        None,
        Vec::new(),
        None,
    ));
    let (mut rec, expect) = versioned(loaded.shop.as_ref(), ShopRecord::default);
    rec.shop_id = rec.shop_id.or(s.id);
    rec.uninstalled_at = Some(utc_key(&ctx.now));
    rec.uninstall_unconfirmed_at = Some(utc_key(&ctx.now));
    out.push(write(keys::shop(ctx.shop), Item::Shop(rec), expect));
}

fn order_customer_key(o: &Order) -> Option<String> {
    customer_key(o.customer.as_ref().map(|c| c.id), o.recipient_email())
}

/// An order delivery: the order's newest state and its one-way facts, the customer's
/// profile and history, the follow-ups this state calls for, and (the first time the
/// order is counted) its attribution to a follow-up. The order itself is written last.
fn plan_order(ctx: &Context<'_>, topic: Topic, o: &Order, loaded: &Loaded, out: &mut Vec<Write>) {
    let (mut rec, expect) = versioned(loaded.order.as_ref(), OrderRecord::default);
    rec.order_id = o.id;
    let version = utc_key(&o.version_time());
    let created = utc_key(&o.created_at);
    let is_newest = rec
        .order_updated_at
        .as_deref()
        .is_none_or(|stored| version.as_str() >= stored);
    if is_newest {
        take_order_snapshot(&mut rec, o, &version, &created);
    }
    let mut triggers = Triggers {
        newly_paid: merge_one_way_facts(topic, o, &mut rec, &version),
        ..Triggers::default()
    };
    rec.expires_at = order_expiry(ctx, &rec, &created);
    let newly_counted = !rec.counted && rec.customer_key.is_some();
    if let Some(ckey) = rec.customer_key.clone() {
        triggers.loyalty = plan_customer(ctx, o, &mut rec, &ckey, &created, loaded, out);
    }
    // Only an order Aftercart had not seen yet becomes a past one: importing an order
    // that came in live leaves its follow-ups as they were.
    if ctx.import && loaded.order.is_none() {
        rec.imported = true;
    }
    plan_followups(ctx, &rec, triggers, loaded, out);
    if newly_counted && !ctx.import {
        plan_attribution(ctx, o, &rec, loaded, out);
    }
    out.push(write(keys::order(ctx.shop, o.id), Item::Order(rec), expect));
}

/// Copies the order's current state (the newest delivery seen) onto its record.
fn take_order_snapshot(rec: &mut OrderRecord, o: &Order, version: &str, created: &str) {
    rec.order_updated_at = Some(version.to_owned());
    rec.name = o.name.clone();
    rec.created_at = Some(created.to_owned());
    rec.currency = o.currency.clone();
    rec.total_price = o.total_price;
    rec.total_discounts = o.total_discounts;
    rec.financial_status = o.financial_status.clone();
    rec.fulfillment_status = o.fulfillment_status.clone();
    rec.test = o.test;
    rec.buyer_accepts_marketing = o.buyer_accepts_marketing;
    rec.customer_locale = o.customer_locale.clone();
    rec.discount_codes = o.discount_codes.iter().map(|d| d.code.clone()).collect();
    rec.lines = o.line_items.iter().map(order_line).collect();
}

/// Merges the facts that only ever move one way, whatever the delivery order: the
/// customer (the one an order was counted for stays its customer, see `needs_after`),
/// paid, cancelled and fulfilled times. True if this delivery is the first to see the
/// order paid.
fn merge_one_way_facts(topic: Topic, o: &Order, rec: &mut OrderRecord, version: &str) -> bool {
    if !rec.counted || rec.customer_key.is_none() {
        rec.customer_key = order_customer_key(o);
    }
    let mut newly_paid = false;
    if (topic == Topic::OrdersPaid || o.is_paid()) && rec.paid_at.is_none() {
        newly_paid = true;
        rec.paid_at = Some(version.to_owned());
    }
    if let Some(c) = o
        .cancelled_at
        .filter(|_| topic == Topic::OrdersCancelled || rec.cancelled_at.is_none())
    {
        rec.cancelled_at = Some(earliest(rec.cancelled_at.take(), utc_key(&c)));
    }
    if topic == Topic::OrdersFulfilled {
        rec.fulfilled_at = Some(earliest(rec.fulfilled_at.take(), version.to_owned()));
    }
    newly_paid
}

/// Brings the customer `ckey`'s profile up to date with the order: counts it once (with
/// a history entry), counts its spend once paid, and takes the spend back if it is
/// cancelled. Writes the profile if it changed; true if this payment earned the loyalty
/// reward.
fn plan_customer(
    ctx: &Context<'_>,
    o: &Order,
    rec: &mut OrderRecord,
    ckey: &str,
    created: &str,
    loaded: &Loaded,
    out: &mut Vec<Write>,
) -> bool {
    let current = loaded.profile.as_ref().filter(|p| p.customer_key == ckey);
    let (mut p, pexpect) = versioned(current, || ProfileRecord {
        customer_key: ckey.to_owned(),
        ..ProfileRecord::default()
    });
    let mut changed = false;
    let mut loyalty = false;
    if !rec.counted {
        rec.counted = true;
        changed = true;
        count_order(&mut p, o, created);
        out.push(history(ctx, ckey, o, created));
    }
    if rec.paid_at.is_some() && rec.cancelled_at.is_none() && !rec.spend_counted {
        changed = true;
        loyalty = count_spend(ctx, rec, &mut p);
        timing::learn_from_payment(ctx, rec, &mut p, loaded, out);
    } else if rec.cancelled_at.is_some() && rec.spend_counted {
        // A cancelled order no longer counts towards spend or loyalty.
        rec.spend_counted = false;
        changed = true;
        timing::forget_units(rec, &mut p);
        p.paid_orders_count = p.paid_orders_count.saturating_sub(1);
        p.total_spent = p
            .total_spent
            .saturating_sub(rec.counted_spend.take().unwrap_or_default());
    }
    if changed {
        out.push(write(
            keys::profile(ctx.shop, ckey),
            Item::Profile(p),
            pexpect,
        ));
    }
    loyalty
}

/// Counts an order placed at `created` in the profile: the order count, the products
/// bought, the first and last order times, and, if it is the latest order, its contact
/// details.
fn count_order(p: &mut ProfileRecord, o: &Order, created: &str) {
    p.orders_count = p.orders_count.saturating_add(1);
    for id in o.line_items.iter().filter_map(|l| l.product_id) {
        let seen = p.products.entry(id.to_string()).or_default();
        if seen.as_str() < created {
            *seen = created.to_owned();
        }
    }
    p.first_order_at = Some(match p.first_order_at.take() {
        Some(f) if f.as_str() <= created => f,
        _ => created.to_owned(),
    });
    let latest = p.last_order_at.as_deref().is_none_or(|l| created >= l);
    if latest {
        p.last_order_at = Some(created.to_owned());
        p.last_order_id = Some(o.id);
        take_contact_details(p, o);
    }
}

/// The latest order carries the freshest contact details.
fn take_contact_details(p: &mut ProfileRecord, o: &Order) {
    p.customer_id = o.customer.as_ref().map(|c| c.id).or(p.customer_id);
    if let Some(email) = o.recipient_email() {
        p.email = Some(email.to_owned());
    }
    if let Some(name) = o.customer.as_ref().and_then(|c| c.first_name.clone()) {
        p.first_name = Some(name);
    }
    p.locale = o
        .customer_locale
        .clone()
        .or_else(|| o.customer.as_ref().and_then(|c| c.locale.clone()))
        .or(p.locale.take());
    p.accepts_marketing_at_checkout = o.buyer_accepts_marketing;
}

/// The customer's history entry for an order placed at `created`.
fn history(ctx: &Context<'_>, ckey: &str, o: &Order, created: &str) -> Write {
    write(
        keys::history(ctx.shop, ckey, created, o.id),
        Item::History(HistoryRecord {
            order_id: o.id,
            created_at: created.to_owned(),
            name: o.name.clone(),
            total_price: o.total_price,
            currency: o.currency.clone(),
            product_ids: product_ids(o),
            expires_at: expiry(ctx, created),
        }),
        Expect::Any,
    )
}

/// Counts a paid order's total in the profile's spend (once). True if this payment
/// earned the loyalty reward: the shop's Nth paid order, or crossing its spend threshold.
fn count_spend(ctx: &Context<'_>, rec: &mut OrderRecord, p: &mut ProfileRecord) -> bool {
    let total = rec.total_price.unwrap_or_default();
    rec.spend_counted = true;
    rec.counted_spend = Some(total);
    let spent_before = p.total_spent;
    p.paid_orders_count = p.paid_orders_count.saturating_add(1);
    // Each total is bounded at parse (`wire::shopify::de::MAX_MONEY`), but a profile
    // may hold any sum: lifetime spend saturates at `Decimal::MAX` rather than overflow.
    p.total_spent = p.total_spent.saturating_add(total);
    let loyalty = ctx.rules.map(|r| &r.playbooks.loyalty).is_some_and(|rule| {
        let nth = rule.nth_order.max(1);
        let crossed = rule
            .spend_threshold
            .is_some_and(|t| spent_before < t && p.total_spent >= t);
        p.paid_orders_count % nth == 0 || crossed
    });
    if p.currency.is_none() {
        p.currency.clone_from(&rec.currency);
    }
    loyalty
}

/// Credits a newly recorded order to the follow-up that led to it (see
/// [`crate::domain::attribution`]): the follow-up's tracking, and the code's redemption.
fn plan_attribution(
    ctx: &Context<'_>,
    o: &Order,
    order: &OrderRecord,
    loaded: &Loaded,
    out: &mut Vec<Write>,
) {
    let (Some(rules), Some(created)) = (ctx.rules, order.created_at.as_deref()) else {
        return;
    };
    let facts = attribution::OrderFacts {
        order_id: order.order_id,
        created_at: created,
        discount_codes: &order.discount_codes,
        from_link: o.note_attribute(crate::wire::shopify::ATTRIBUTION_ATTRIBUTE),
    };
    let Some(credit) = attribution::credit(
        facts,
        &loaded.followups,
        &loaded.discounts,
        rules.attribution_window_days,
        &rules.playbooks.with_holdout(),
    ) else {
        return;
    };
    let Some(stored) = loaded.followups.iter().find(|f| f.id == credit.followup) else {
        return;
    };
    // The planner may already write this follow-up: credit that write instead (one
    // transaction cannot touch an item twice).
    let key = stored.key();
    let index = out.iter().position(|w| w.key == key);
    let mut f = match index.map(|i| &out[i].item) {
        Some(Item::FollowUp(planned)) => planned.clone(),
        _ => {
            let mut next = stored.clone();
            next.v += 1;
            next
        }
    };
    f.tracking.attributed_order_id = Some(order.order_id);
    f.tracking.attributed_at = Some(created.to_owned());
    f.tracking.attributed_by = Some(credit.by.to_owned());
    match index {
        Some(i) => out[i].item = Item::FollowUp(f),
        None => out.push(write(key, Item::FollowUp(f), Expect::Version(stored.v))),
    }
    if let Some(code) = &credit.code {
        if let Some(d) = loaded.discounts.iter().find(|d| &d.code == code) {
            let mut redeemed = d.clone();
            redeemed.v += 1;
            redeemed.redeemed_order_id = Some(order.order_id);
            redeemed.redeemed_at = Some(created.to_owned());
            out.push(write(
                keys::discount(ctx.shop, &stored.customer_key, &d.followup),
                Item::Discount(redeemed),
                Expect::Version(d.v),
            ));
        }
    }
}

/// Adds the follow-up writes for `order`'s new state (when the shop's rules are known).
fn plan_followups(
    ctx: &Context<'_>,
    order: &OrderRecord,
    triggers: Triggers,
    loaded: &Loaded,
    out: &mut Vec<Write>,
) {
    let Some(rules) = ctx.rules else { return };
    // A past order from the history import never gets an email, not even when a later
    // delivery of it (an edit, a refund, a shipment) comes in.
    if order.imported || ctx.import {
        return;
    }
    let now = utc_key(&ctx.now);
    let planner = Planner {
        shop: ctx.shop,
        rules,
        shards: ctx.shards,
        now: &now,
    };
    // The customer's address as this delivery leaves the profile, for the dispatcher's
    // suppression read (`FollowUpRecord::email_hash`).
    let written = out.iter().rev().find_map(|w| match &w.item {
        Item::Profile(p) => Some(p),
        _ => None,
    });
    let hint = written
        .or(loaded.profile.as_ref())
        .and_then(|p| p.email.as_deref())
        .map(email_hash);
    for (mut f, expect) in followup::reconcile(&planner, order, triggers, &loaded.followups) {
        if hint.is_some() {
            f.email_hash.clone_from(&hint);
        }
        out.push(write(f.key(), Item::FollowUp(f), expect));
    }
}

fn plan_fulfillment(ctx: &Context<'_>, f: &Fulfillment, loaded: &Loaded, out: &mut Vec<Write>) {
    let (mut rec, expect) = versioned(loaded.fulfillment.as_ref(), FulfillmentRecord::default);
    rec.fulfillment_id = f.id;
    rec.order_id = f.order_id;
    let version = f.updated_at.or(f.created_at).map(|t| utc_key(&t));
    let is_newest = match (&version, &rec.fulfillment_updated_at) {
        (Some(new), Some(old)) => new >= old,
        (None, Some(_)) => false,
        _ => true,
    };
    if is_newest {
        rec.status.clone_from(&f.status);
        rec.shipment_status.clone_from(&f.shipment_status);
        rec.fulfillment_updated_at.clone_from(&version);
        rec.line_item_ids = f.line_items.iter().map(|l| l.id).collect();
    }
    let shipped = f
        .created_at
        .map(|t| utc_key(&t))
        .or(version.clone())
        .unwrap_or_else(|| utc_key(&ctx.now));
    rec.created_at = Some(earliest(rec.created_at.take(), shipped.clone()));
    let delivered = (f.shipment_status.as_deref() == Some("delivered"))
        .then(|| version.clone().unwrap_or_else(|| utc_key(&ctx.now)));
    if let Some(d) = &delivered {
        rec.delivered_at = Some(earliest(rec.delivered_at.take(), d.clone()));
    }
    let (mut order, oexpect) = versioned(loaded.order.as_ref(), OrderRecord::default);
    order.order_id = f.order_id;
    order.expires_at = order_expiry(ctx, &order, &shipped);
    rec.expires_at = order.expires_at;
    order.fulfilled_at = Some(earliest(order.fulfilled_at.take(), shipped));
    if let Some(d) = delivered {
        order.delivered_at = Some(earliest(order.delivered_at.take(), d));
    }
    out.push(write(
        keys::fulfillment(ctx.shop, f.order_id, f.id),
        Item::Fulfillment(rec),
        expect,
    ));
    plan_followups(ctx, &order, Triggers::default(), loaded, out);
    out.push(write(
        keys::order(ctx.shop, f.order_id),
        Item::Order(order),
        oexpect,
    ));
}

fn plan_fulfillment_event(
    ctx: &Context<'_>,
    e: &FulfillmentEvent,
    loaded: &Loaded,
    out: &mut Vec<Write>,
) {
    let (mut rec, expect) = versioned(loaded.fulfillment.as_ref(), FulfillmentRecord::default);
    rec.fulfillment_id = e.fulfillment_id;
    rec.order_id = e.order_id;
    let at = e
        .happened_at
        .or(e.created_at)
        .map(|t| utc_key(&t))
        .unwrap_or_else(|| utc_key(&ctx.now));
    let delivered = e.is_delivery();
    if rec.delivered_at.is_none() {
        // Carrier statuses only move forward until delivery.
        rec.shipment_status = Some(e.status.clone());
    }
    let mut writes_order = false;
    let (mut order, oexpect) = versioned(loaded.order.as_ref(), OrderRecord::default);
    order.order_id = e.order_id;
    order.expires_at = order_expiry(ctx, &order, rec.created_at.as_deref().unwrap_or(&at));
    rec.expires_at = order.expires_at;
    if delivered {
        rec.delivered_at = Some(earliest(rec.delivered_at.take(), at.clone()));
        order.delivered_at = Some(earliest(order.delivered_at.take(), at));
        writes_order = true;
    }
    out.push(write(
        keys::fulfillment(ctx.shop, e.order_id, e.fulfillment_id),
        Item::Fulfillment(rec),
        expect,
    ));
    if writes_order {
        plan_followups(ctx, &order, Triggers::default(), loaded, out);
        out.push(write(
            keys::order(ctx.shop, e.order_id),
            Item::Order(order),
            oexpect,
        ));
    }
}

fn plan_refund(ctx: &Context<'_>, r: &Refund, loaded: &Loaded, out: &mut Vec<Write>) {
    let created = r
        .created_at
        .map(|t| utc_key(&t))
        .unwrap_or_else(|| utc_key(&ctx.now));
    let (mut order, expect) = versioned(loaded.order.as_ref(), OrderRecord::default);
    order.expires_at = order_expiry(ctx, &order, &created);
    out.push(write(
        keys::refund(ctx.shop, r.order_id, r.id),
        Item::Refund(RefundRecord {
            refund_id: r.id,
            order_id: r.order_id,
            created_at: Some(created.clone()),
            restock: r.restock,
            lines: r
                .refund_line_items
                .iter()
                .map(|l| RefundLine {
                    line_item_id: l.line_item_id,
                    quantity: l.quantity,
                    product_id: l.line_item.as_ref().and_then(|i| i.product_id),
                    variant_id: l.line_item.as_ref().and_then(|i| i.variant_id),
                })
                .collect(),
            expires_at: order.expires_at,
        }),
        Expect::Any,
    ));
    order.order_id = r.order_id;
    order.refunded_at = Some(match order.refunded_at.take() {
        Some(prev) if prev >= created => prev,
        _ => created,
    });
    if !order.refunds_applied.contains(&r.id) {
        order.refunds_applied.push(r.id);
        for l in &r.refund_line_items {
            // Saturating: more units refunded than a `u32` holds are all of them anyway.
            let refunded = order
                .refunded
                .entry(l.line_item_id.to_string())
                .or_default();
            *refunded = refunded.saturating_add(l.quantity);
        }
    }
    timing::refunded_units(ctx, &order, loaded, out);
    plan_followups(ctx, &order, Triggers::default(), loaded, out);
    out.push(write(
        keys::order(ctx.shop, r.order_id),
        Item::Order(order),
        expect,
    ));
}

fn privacy(
    ctx: &Context<'_>,
    topic: Topic,
    customer_id: Option<u64>,
    email: Option<&str>,
    order_ids: Vec<u64>,
    data_request_id: Option<u64>,
) -> Write {
    let received_at = utc_key(&ctx.now);
    write(
        keys::privacy_request(ctx.shop, &received_at, ctx.webhook_id),
        Item::Privacy(PrivacyRequestRecord {
            topic: topic.as_str().to_owned(),
            received_at,
            status: "pending".into(),
            customer_id,
            email_hash: email.filter(|e| !e.trim().is_empty()).map(email_hash),
            order_ids,
            data_request_id,
        }),
        Expect::Any,
    )
}

/// When order data recorded for an order placed at `at` (a UTC key) expires: the
/// shop's `privacy.retention_days` later.
fn expiry(ctx: &Context<'_>, at: &str) -> Option<i64> {
    let days = ctx
        .rules
        .map_or(crate::model::personal::DEFAULT_RETENTION_DAYS, |r| {
            r.retention_days
        });
    crate::model::personal::retention_expiry(at, days)
}

/// The expiry of `order`'s data: from its order time, or from `fallback` (the shipment
/// or refund time) while the order itself has not arrived.
fn order_expiry(ctx: &Context<'_>, order: &OrderRecord, fallback: &str) -> Option<i64> {
    expiry(ctx, order.created_at.as_deref().unwrap_or(fallback))
}

fn order_line(l: &crate::wire::shopify::LineItem) -> OrderLine {
    OrderLine {
        line_item_id: l.id,
        product_id: l.product_id,
        variant_id: l.variant_id,
        sku: l.sku.clone(),
        title: l.title.clone(),
        variant_title: l.variant_title.clone(),
        quantity: l.quantity,
        price: l.price,
    }
}

fn product_ids(o: &Order) -> Vec<u64> {
    let mut ids: Vec<u64> = o.line_items.iter().filter_map(|l| l.product_id).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

fn earliest(current: Option<String>, candidate: String) -> String {
    match current {
        Some(c) if c <= candidate => c,
        _ => candidate,
    }
}

/// Versioned records carry `v`; this gives the record to modify and what to expect.
trait Versioned: Clone {
    fn version(&self) -> u64;
    fn set_version(&mut self, v: u64);
}

macro_rules! versioned_record {
    ($($t:ty),*) => {$(
        impl Versioned for $t {
            fn version(&self) -> u64 { self.v }
            fn set_version(&mut self, v: u64) { self.v = v; }
        }
    )*};
}
versioned_record!(
    OrderRecord,
    FulfillmentRecord,
    ProfileRecord,
    ShopRecord,
    CadenceRecord
);

fn versioned<T: Versioned>(current: Option<&T>, new: impl FnOnce() -> T) -> (T, Expect) {
    match current {
        Some(c) => {
            let mut next = c.clone();
            next.set_version(c.version() + 1);
            (next, Expect::Version(c.version()))
        }
        None => {
            let mut next = new();
            next.set_version(1);
            (next, Expect::Absent)
        }
    }
}

fn write(key: Key, item: Item, expect: Expect) -> Write {
    Write { key, item, expect }
}

/// The partition a quarantined delivery of `event` is kept in: its order's, or its
/// customer's, so erasing them erases it; shop-wide topics in `SHOP#{shop}#QUARANTINE`.
pub fn quarantine_pk(shop: &str, event: &Event) -> String {
    match event {
        Event::Order(_, o) => keys::order_pk(shop, o.id),
        Event::Fulfillment(_, f) => keys::order_pk(shop, f.order_id),
        Event::FulfillmentEvent(e) => keys::order_pk(shop, e.order_id),
        Event::Refund(r) => keys::order_pk(shop, r.order_id),
        Event::Consent(c) => keys::customer_pk(shop, &c.customer_id.to_string()),
        Event::DataRequest(r) => customer_or_shop(shop, r.customer.id),
        Event::CustomerRedact(r) => customer_or_shop(shop, r.customer.id),
        Event::ShopRedact(_) | Event::AppUninstalled(_) => format!("SHOP#{shop}#QUARANTINE"),
    }
}

fn customer_or_shop(shop: &str, customer: Option<u64>) -> String {
    match customer {
        Some(id) => keys::customer_pk(shop, &id.to_string()),
        None => format!("SHOP#{shop}#QUARANTINE"),
    }
}

/// The planner's table in memory, for the unit tests and (with the `memory` feature)
/// the in-memory recorder.
#[cfg(any(test, feature = "memory"))]
pub mod memory;

#[cfg(test)]
mod tests;

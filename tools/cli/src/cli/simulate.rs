//! `aftercart simulate`: a synthetic store whose truth is known, run for a simulated
//! year through the real recording path and the real guards, to measure how well
//! replenishment reminders are timed — learned timing against the fixed configured
//! timing and an oracle — and, with a holdout group, whether the report's comparison
//! finds an effect planted in the customers' behaviour.
//!
//! **The store.** Three products, each with a true mean of days one unit lasts and a
//! configured `consumption_days` the merchant guessed (off by half for one, a third for
//! another, right for the third). Each customer buys one of them; their own days per
//! unit are the product's mean × a log-normal factor (σ = `spread`). Customers join
//! over the first half of the year. At each purchase the customer draws, in this order:
//! units (1: 70 %, 2: 25 %, 3: 5 %), whether they stop buying (`churn`), a uniform
//! number for the planted effect, whether they buy the next supply elsewhere
//! (`elsewhere`; the store then sees the purchase after that one), and when they
//! actually reorder relative to running out (normal, σ = `noise_days`). The draws come
//! from a per-customer seeded generator, so every timing strategy sees the same
//! customers doing the same things.
//!
//! **The path.** Every purchase is an `orders/paid` body recorded through
//! [`MemoryRecorder`] — the planner, the learned timing and the attribution the webhook
//! runs — at the time it happens. Each planned replenishment reminder is taken up at
//! its due time (the oracle: at the true need) and goes through
//! [`guards::guard`] with the stored order and profile, then through the holdout
//! assignment ([`holdout::held_out`]); it is then marked sent or held out in the table,
//! as the dispatcher would (nothing is rendered or sent).
//!
//! **Need** is when the reminder should arrive: the customer's true run-out minus the
//! product's `lead_days`. A reminder is *on time* within ±3 days of it.
//!
//! **The planted effect.** A customer who would stop buying, and gets the reminder,
//! buys again after all with probability `effect` (when they run out, plus their
//! noise). The true effect is counted per reminder from both potential outcomes (the
//! same draws, reminded or not) by the attribution window's rule.

use aftercart::config::{Config, ShopConfig};
use aftercart::domain::cadence;
use aftercart::domain::guards::{self, GuardContext, Verdict};
use aftercart::domain::holdout;
use aftercart::domain::ingest::{Context, Item};
use aftercart::model::time::{parse_time, utc_key};
use aftercart::model::{followup_id, keys, FollowUpRecord, FollowUpStatus, Playbook};
use aftercart::ports::memory::MemoryRecorder;
use aftercart::wire::shopify::{parse_event, Topic};
use anyhow::{anyhow, Context as _, Result};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt::{self, Write as _};

const SHOP: &str = "simulated-store.myshopify.com";

/// How close to the need a reminder counts as on time, in days.
pub const ON_TIME_DAYS: f64 = 3.0;

/// From this many learned repeats a product counts as mature (the issue's goal: ≥ 80 %
/// on time from here on).
pub const MATURE_REPEATS: u64 = 20;

/// A simulated product.
#[derive(Debug, Clone)]
pub struct SimProduct {
    pub id: u64,
    pub sku: &'static str,
    pub title: &'static str,
    /// The true geometric mean of the days one unit lasts.
    pub true_days: f64,
    /// What the merchant configured (`consumption_days`).
    pub configured: u32,
    pub lead_days: u32,
    /// Share of the customers who buy it.
    pub share: f64,
}

/// The default store.
pub fn default_products() -> Vec<SimProduct> {
    vec![
        SimProduct {
            id: 9_001,
            sku: "COFFEE-250",
            title: "Coffee beans 250 g",
            true_days: 14.0,
            configured: 21,
            lead_days: 2,
            share: 0.5,
        },
        SimProduct {
            id: 9_002,
            sku: "SHAMPOO-500",
            title: "Shampoo 500 ml",
            true_days: 45.0,
            configured: 30,
            lead_days: 4,
            share: 0.3,
        },
        SimProduct {
            id: 9_003,
            sku: "VITAMIN-D-60",
            title: "Vitamin D, 60 capsules",
            true_days: 60.0,
            configured: 60,
            lead_days: 5,
            share: 0.2,
        },
    ]
}

/// What the simulation is run with.
#[derive(Debug, Clone)]
pub struct Params {
    pub customers: usize,
    pub days: u32,
    pub seed: u64,
    /// σ of the log-normal spread of customers' days per unit around the product's.
    pub spread: f64,
    /// σ of when a customer actually reorders around running out, in days.
    pub noise_days: f64,
    /// Chance per purchase that the customer never buys again.
    pub churn: f64,
    /// Chance per purchase that the next supply is bought elsewhere.
    pub elsewhere: f64,
    /// Chance that a reminder brings back a customer who would have stopped.
    pub effect: f64,
    /// `holdout_percent` of the replenishment playbook.
    pub holdout_percent: u32,
    pub products: Vec<SimProduct>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            customers: 5_000,
            days: 365,
            seed: 1,
            spread: 0.2,
            noise_days: 1.5,
            churn: 0.1,
            elsewhere: 0.05,
            effect: 0.0,
            holdout_percent: 0,
            products: default_products(),
        }
    }
}

/// How reminders are timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// Learned from the store's repeats (`learn = true`, the default).
    Learned,
    /// The configured `consumption_days` only (`learn = false`).
    Fixed,
    /// At the customer's true need (what no planner can know).
    Oracle,
}

impl Timing {
    pub fn as_str(self) -> &'static str {
        match self {
            Timing::Learned => "learned",
            Timing::Fixed => "fixed",
            Timing::Oracle => "oracle",
        }
    }
}

/// Reminders sent and how they landed against the need.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    pub sent: u64,
    pub on_time: u64,
    pub early: u64,
    pub late: u64,
    /// Sent to a customer who had in truth already restocked (elsewhere).
    pub restocked: u64,
}

impl Tally {
    /// Counts one reminder `error_days` after its need.
    pub fn add(&mut self, error_days: f64, restocked: bool) {
        self.sent += 1;
        if error_days < -ON_TIME_DAYS {
            self.early += 1;
        } else if error_days > ON_TIME_DAYS {
            self.late += 1;
        } else {
            self.on_time += 1;
        }
        self.restocked += u64::from(restocked);
    }

    /// Share of `n` in the sent reminders; `None` with none sent.
    pub fn share(&self, n: u64) -> Option<f64> {
        (self.sent > 0).then(|| n as f64 / self.sent as f64)
    }
}

/// A product's learned figure at the end of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductEnd {
    pub title: &'static str,
    pub true_days: f64,
    pub configured: u32,
    pub learned: Option<f64>,
    pub repeats: u64,
}

/// The holdout comparison, from the real attribution's credits.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HoldoutFigures {
    pub sent: u64,
    pub sent_ordered: u64,
    pub held_out: u64,
    pub held_out_ordered: u64,
    /// The true effect: the mean over every reminder (sent or held out) of ordered if
    /// sent − ordered if not, by the attribution window's rule.
    pub true_effect: f64,
}

/// What one run of one timing strategy measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub customers: u64,
    pub orders: u64,
    pub planned: u64,
    pub all: Tally,
    /// Reminders planned when the product had ≥ [`MATURE_REPEATS`] learned repeats.
    pub mature: Tally,
    /// By the customer's own repeats of the product when it was planned: 0, 1–2, ≥ 3.
    pub by_own: [Tally; 3],
    /// Reminders the guards (or the planner, on a reorder) called off, by reason.
    pub cancelled: BTreeMap<String, u64>,
    pub holdout: HoldoutFigures,
    pub products: Vec<ProductEnd>,
}

/// The shop's config for the simulation: replenishment only, learning per `timing`.
pub fn config(params: &Params, timing: Timing) -> Result<Config> {
    let mut text = format!(
        r#"
[[shop]]
domain = "{SHOP}"
sender_email = "shop@simulated-store.example"
postal_address = "1 Simulation Street, Springfield"

[shop.playbooks.thank_you]
enabled = false
[shop.playbooks.satisfaction]
enabled = false
[shop.playbooks.returns]
enabled = false
[shop.playbooks.loyalty]
enabled = false
[shop.playbooks.replenishment]
learn = {learn}
holdout_percent = {holdout}
"#,
        learn = timing == Timing::Learned,
        holdout = params.holdout_percent,
    );
    for p in &params.products {
        let _ = write!(
            text,
            "\n[[shop.product]]\nproduct_id = {}\nsku = \"{}\"\nconsumption_days = {}\nlead_days = {}\n",
            p.id, p.sku, p.configured, p.lead_days
        );
    }
    Config::parse(&text, "simulation").map_err(|e| anyhow!("{e}"))
}

/// A draw from N(0, 1) (Box–Muller).
fn normal(rng: &mut fastrand::Rng) -> f64 {
    let u1 = rng.f64().max(f64::MIN_POSITIVE);
    let u2 = rng.f64();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn days(d: f64) -> Duration {
    Duration::seconds((d * 86_400.0).round() as i64)
}

fn days_between(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a).num_seconds() as f64 / 86_400.0
}

/// One purchase's draws and what follows from them.
#[derive(Debug, Clone, Copy)]
struct Cycle {
    order_id: u64,
    /// When this purchase runs out, in truth.
    runout: DateTime<Utc>,
    /// The next purchase the store sees, if the customer keeps buying here.
    next: Option<DateTime<Utc>>,
    /// When a customer who stopped would buy again if a reminder brings them back.
    saved: Option<DateTime<Utc>>,
    /// When the customer restocked elsewhere (the store never sees it).
    elsewhere_at: Option<DateTime<Utc>>,
    /// The customer's own repeats of the product before this purchase.
    own: usize,
    mature: bool,
}

struct Customer {
    id: u64,
    product: usize,
    days_per_unit: f64,
    rng: fastrand::Rng,
    orders: usize,
    cycle: Option<Cycle>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Order { customer: usize },
    Due { customer: usize, order_id: u64 },
}

struct Sim<'a> {
    params: &'a Params,
    timing: Timing,
    config: Config,
    recorder: MemoryRecorder,
    end: DateTime<Utc>,
    customers: Vec<Customer>,
    queue: BinaryHeap<Reverse<(i64, u64, Event)>>,
    seq: u64,
    next_order_id: u64,
    figures: Figures,
    /// Per reminder: ordered if sent, ordered if not (for the true effect).
    outcomes: Vec<(bool, bool)>,
}

/// Runs the simulated store once with `timing`.
pub fn run(params: &Params, timing: Timing) -> Result<Figures> {
    let mut sim = Sim::new(params, timing)?;
    while let Some(Reverse((at, _, event))) = sim.queue.pop() {
        let at = Utc
            .timestamp_opt(at, 0)
            .single()
            .ok_or_else(|| anyhow!("event time {at} out of range"))?;
        if at >= sim.end {
            break;
        }
        match event {
            Event::Order { customer } => sim.order(customer, at)?,
            Event::Due { customer, order_id } => sim.due(customer, order_id, at)?,
        }
    }
    sim.finish()
}

impl<'a> Sim<'a> {
    fn new(params: &'a Params, timing: Timing) -> Result<Self> {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).unwrap();
        let mut sim = Sim {
            params,
            timing,
            config: config(params, timing)?,
            recorder: MemoryRecorder::default(),

            end: start + Duration::days(i64::from(params.days)),
            customers: Vec::with_capacity(params.customers),
            queue: BinaryHeap::new(),
            seq: 0,
            next_order_id: 100_000,
            figures: Figures::default(),
            outcomes: Vec::new(),
        };
        let total_share: f64 = params.products.iter().map(|p| p.share).sum();
        for c in 0..params.customers {
            let mut rng = fastrand::Rng::with_seed(
                params.seed ^ (c as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            let mut pick = rng.f64() * total_share;
            let product = params
                .products
                .iter()
                .position(|p| {
                    pick -= p.share;
                    pick < 0.0
                })
                .unwrap_or(params.products.len() - 1);
            let days_per_unit =
                params.products[product].true_days * (params.spread * normal(&mut rng)).exp();
            let first = start + days(rng.f64() * f64::from(params.days) / 2.0);
            sim.customers.push(Customer {
                id: 1_000_000 + c as u64,
                product,
                days_per_unit,
                rng,
                orders: 0,
                cycle: None,
            });
            sim.push(first, Event::Order { customer: c });
        }
        sim.figures.customers = params.customers as u64;
        Ok(sim)
    }

    fn push(&mut self, at: DateTime<Utc>, event: Event) {
        self.seq += 1;
        self.queue.push(Reverse((at.timestamp(), self.seq, event)));
    }

    fn shop(&self) -> &ShopConfig {
        &self.config.shops[0]
    }

    /// A purchase: recorded through the recorder, its draws made, the next purchase and
    /// the reminder scheduled.
    fn order(&mut self, c: usize, at: DateTime<Utc>) -> Result<()> {
        let order_id = self.next_order_id;
        self.next_order_id += 1;
        let units = {
            let r = self.customers[c].rng.f64();
            if r < 0.70 {
                1
            } else if r < 0.95 {
                2
            } else {
                3
            }
        };
        self.record(c, order_id, units, at)?;
        let product = &self.params.products[self.customers[c].product];
        let cycle = self.draw_cycle(c, order_id, units, at);
        let (lead, product_id) = (product.lead_days, product.id);
        self.customers[c].orders += 1;
        self.customers[c].cycle = Some(cycle);
        if let Some(next) = cycle.next {
            self.push(next, Event::Order { customer: c });
        }
        let id = followup_id(Playbook::Replenishment, order_id, Some(product_id));
        let Some(f) = self.followup(c, &id) else {
            return Ok(());
        };
        self.figures.planned += 1;
        let due = match self.timing {
            Timing::Oracle => cycle.runout - Duration::days(i64::from(lead)),
            _ => parse_time(&f.due_at)
                .map(|t| t.to_utc())
                .ok_or_else(|| anyhow!("follow-up {id} has no due time"))?,
        };
        self.push(
            due,
            Event::Due {
                customer: c,
                order_id,
            },
        );
        Ok(())
    }

    fn draw_cycle(&mut self, c: usize, order_id: u64, units: u32, at: DateTime<Utc>) -> Cycle {
        let p = self.params;
        let mature = self.repeats(self.customers[c].product) >= MATURE_REPEATS;
        let cust = &mut self.customers[c];
        let supply = cust.days_per_unit * f64::from(units);
        let runout = at + days(supply);
        let churns = cust.rng.f64() < p.churn;
        let brought_back = cust.rng.f64() < p.effect;
        let elsewhere = cust.rng.f64() < p.elsewhere;
        let noise = normal(&mut cust.rng) * p.noise_days;
        // Never two purchases within half a day.
        let reorder = |t: DateTime<Utc>| (t + days(noise)).max(at + Duration::hours(12));
        let (next, elsewhere_at) = match (churns, elsewhere) {
            (true, _) => (None, None),
            (false, true) => (Some(reorder(runout + days(supply))), Some(runout)),
            (false, false) => (Some(reorder(runout)), None),
        };
        Cycle {
            order_id,
            runout,
            next,
            saved: (churns && brought_back).then(|| reorder(runout)),
            elsewhere_at,
            own: cust.orders,
            mature,
        }
    }

    fn record(&mut self, c: usize, order_id: u64, units: u32, at: DateTime<Utc>) -> Result<()> {
        let cust = &self.customers[c];
        let product = &self.params.products[cust.product];
        let email = format!("customer{}@simulated.example", cust.id);
        let body = json!({
            "id": order_id,
            "name": format!("#{order_id}"),
            "email": email,
            "created_at": at.to_rfc3339(),
            "updated_at": at.to_rfc3339(),
            "currency": "USD",
            "total_price": format!("{}.00", 12 * units),
            "subtotal_price": format!("{}.00", 12 * units),
            "total_discounts": "0.00",
            "financial_status": "paid",
            "fulfillment_status": null,
            "test": false,
            "buyer_accepts_marketing": true,
            "discount_codes": [],
            "note_attributes": [],
            "customer": { "id": cust.id, "email": email },
            "line_items": [{
                "id": order_id * 10 + 1,
                "product_id": product.id,
                "variant_id": product.id * 10,
                "sku": product.sku,
                "title": product.title,
                "quantity": units,
                "price": "12.00",
                "gift_card": false,
            }],
        })
        .to_string();
        let event = parse_event(Topic::OrdersPaid, body.as_bytes())
            .with_context(|| format!("the simulated order {order_id} does not parse"))?;
        let webhook_id = format!("sim-{order_id}");
        let ctx = Context {
            shop: SHOP,
            webhook_id: &webhook_id,
            now: at,
            rules: Some(self.shop()),
            shards: 4,
            redelivery: false,
            import: false,
            counts: None,
        };
        self.recorder
            .record_now(&ctx, &event)
            .with_context(|| format!("recording the simulated order {order_id}"))?;
        self.figures.orders += 1;
        Ok(())
    }

    fn repeats(&self, product: usize) -> u64 {
        let key = keys::cadence(SHOP, &self.params.products[product].id.to_string());
        self.recorder.with_table(|t| match t.items.get(&key) {
            Some(Item::Cadence(r)) => r.repeats,
            _ => 0,
        })
    }

    fn followup(&self, c: usize, id: &str) -> Option<FollowUpRecord> {
        let key = keys::followup(SHOP, &self.customers[c].id.to_string(), id);
        self.recorder.with_table(|t| match t.items.get(&key) {
            Some(Item::FollowUp(f)) => Some(f.clone()),
            _ => None,
        })
    }

    /// A reminder's due time: the guards, the holdout, then marked as the dispatcher
    /// marks it.
    fn due(&mut self, c: usize, order_id: u64, at: DateTime<Utc>) -> Result<()> {
        let product_id = self.params.products[self.customers[c].product].id;
        let id = followup_id(Playbook::Replenishment, order_id, Some(product_id));
        let Some(mut f) = self.followup(c, &id) else {
            return Ok(());
        };
        if f.status != FollowUpStatus::Pending {
            let reason = f.reason.clone().unwrap_or_else(|| "not pending".into());
            *self.figures.cancelled.entry(reason).or_default() += 1;
            return Ok(());
        }
        let verdict = {
            let ctx = self.guard_context(&f, order_id);
            guards::guard(&self.config, self.shop(), &f, &ctx, at)
        };
        f.v += 1;
        match verdict {
            Verdict::Send => self.send(c, order_id, &mut f, at),
            Verdict::Cancel(reason) => {
                *self.figures.cancelled.entry(reason.clone()).or_default() += 1;
                f.status = FollowUpStatus::Cancelled;
                f.reason = Some(reason);
            }
            Verdict::Defer { reason, .. } => {
                *self
                    .figures
                    .cancelled
                    .entry(format!("deferred: {reason}"))
                    .or_default() += 1;
            }
        }
        self.recorder.with_table(|t| {
            t.items.insert(f.key(), Item::FollowUp(f));
        });
        Ok(())
    }

    fn guard_context(&self, f: &FollowUpRecord, order_id: u64) -> GuardContext {
        self.recorder.with_table(|t| GuardContext {
            order: match t.items.get(&keys::order(SHOP, order_id)) {
                Some(Item::Order(o)) => Some(o.clone()),
                _ => None,
            },
            profile: match t.items.get(&keys::profile(SHOP, &f.customer_key)) {
                Some(Item::Profile(p)) => Some(p.clone()),
                _ => None,
            },
            ..GuardContext::default()
        })
    }

    fn send(&mut self, c: usize, order_id: u64, f: &mut FollowUpRecord, at: DateTime<Utc>) {
        let held_out = holdout::held_out(
            SHOP,
            &f.customer_key,
            Playbook::Replenishment,
            self.params.holdout_percent,
        );
        let window = Duration::days(i64::from(self.shop().attribution_window_days));
        let ordered = |t: Option<DateTime<Utc>>| t.is_some_and(|t| t >= at && t <= at + window);
        let Some(cycle) = self.customers[c].cycle.filter(|y| y.order_id == order_id) else {
            // A reminder of an older purchase (the customer has bought since).
            return;
        };
        let if_sent = cycle.next.or(cycle.saved);
        self.outcomes.push((ordered(if_sent), ordered(cycle.next)));
        if held_out {
            f.status = FollowUpStatus::HeldOut;
            f.held_out_at = Some(utc_key(&at));
            self.figures.holdout.held_out += 1;
            return;
        }
        f.status = FollowUpStatus::Sent;
        f.sent_at = Some(utc_key(&at));
        self.figures.holdout.sent += 1;
        if cycle.next.is_none() {
            if let Some(back) = cycle.saved {
                self.customers[c].cycle = Some(Cycle {
                    next: Some(back),
                    ..cycle
                });
                self.push(back, Event::Order { customer: c });
            }
        }
        let lead = self.params.products[self.customers[c].product].lead_days;
        let need = cycle.runout - Duration::days(i64::from(lead));
        let error = days_between(need, at);
        let restocked = cycle.elsewhere_at.is_some_and(|e| e <= at);
        self.figures.all.add(error, restocked);
        if cycle.mature {
            self.figures.mature.add(error, restocked);
        }
        self.figures.by_own[cycle.own.min(3).div_ceil(2)].add(error, restocked);
    }

    /// The holdout's credits from the table, the true effect, the products' figures.
    fn finish(mut self) -> Result<Figures> {
        let (sent_ordered, held_ordered) = self.recorder.with_table(|t| {
            let mut out = (0, 0);
            for item in t.items.values() {
                if let Item::FollowUp(f) = item {
                    let credited = u64::from(f.tracking.attributed_order_id.is_some());
                    match f.status {
                        FollowUpStatus::Sent => out.0 += credited,
                        FollowUpStatus::HeldOut => out.1 += credited,
                        _ => {}
                    }
                }
            }
            out
        });
        let h = &mut self.figures.holdout;
        h.sent_ordered = sent_ordered;
        h.held_out_ordered = held_ordered;
        let n = self.outcomes.len().max(1) as f64;
        h.true_effect = self
            .outcomes
            .iter()
            .map(|(s, n)| f64::from(u8::from(*s)) - f64::from(u8::from(*n)))
            .sum::<f64>()
            / n;
        let rule = self.shop().playbooks.replenishment.clone();
        for p in &self.params.products {
            let key = keys::cadence(SHOP, &p.id.to_string());
            let record = self.recorder.with_table(|t| match t.items.get(&key) {
                Some(Item::Cadence(r)) => Some(r.clone()),
                _ => None,
            });
            let estimate = cadence::product_estimate(Some(p.configured), record.as_ref(), &rule);
            self.figures.products.push(ProductEnd {
                title: p.title,
                true_days: p.true_days,
                configured: p.configured,
                learned: estimate.filter(|e| e.samples > 0).map(|e| e.days_per_unit),
                repeats: record.map_or(0, |r| r.repeats),
            });
        }
        Ok(self.figures)
    }
}

/// The three strategies on the same simulated store.
pub struct Comparison {
    pub params: Params,
    pub runs: Vec<(Timing, Figures)>,
}

pub fn compare(params: &Params) -> Result<Comparison> {
    let runs = [Timing::Learned, Timing::Fixed, Timing::Oracle]
        .into_iter()
        .map(|t| run(params, t).map(|f| (t, f)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Comparison {
        params: params.clone(),
        runs,
    })
}

fn pct(x: Option<f64>) -> String {
    x.map_or("–".into(), |x| format!("{:.1} %", x * 100.0))
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.params;
        writeln!(
            f,
            "Simulated store: {} customers, {} days, seed {}; customers' days per unit spread \
             σ = {} (log-normal), reorder noise σ = {} days, churn {:.0} % and elsewhere {:.0} % \
             per purchase",
            p.customers,
            p.days,
            p.seed,
            p.spread,
            p.noise_days,
            p.churn * 100.0,
            p.elsewhere * 100.0
        )?;
        let row = |f: &mut fmt::Formatter<'_>, label: &str, cell: &dyn Fn(&Figures) -> String| {
            write!(f, "{label:<52}")?;
            for (_, fig) in &self.runs {
                write!(f, "{:>12}", cell(fig))?;
            }
            writeln!(f)
        };
        write!(f, "{:<52}", "")?;
        for (t, _) in &self.runs {
            write!(f, "{:>12}", t.as_str())?;
        }
        writeln!(f)?;
        row(f, "reminders sent", &|g| g.all.sent.to_string())?;
        row(f, "  per customer", &|g| {
            format!("{:.2}", g.all.sent as f64 / g.customers.max(1) as f64)
        })?;
        row(f, "  within ±3 days of need", &|g| {
            pct(g.all.share(g.all.on_time))
        })?;
        row(f, "  too early (> 3 days before)", &|g| {
            pct(g.all.share(g.all.early))
        })?;
        row(f, "  too late (> 3 days after)", &|g| {
            pct(g.all.share(g.all.late))
        })?;
        row(f, "  to customers who had already restocked", &|g| {
            pct(g.all.share(g.all.restocked))
        })?;
        row(f, "product with ≥ 20 repeats: within ±3 days", &|g| {
            pct(g.mature.share(g.mature.on_time))
        })?;
        row(f, "  (reminders)", &|g| g.mature.sent.to_string())?;
        for (i, label) in [
            "customer's 1st purchase",
            "customer with 1–2 own repeats",
            "customer with ≥ 3 own repeats",
        ]
        .iter()
        .enumerate()
        {
            row(f, &format!("{label}: within ±3 days"), &|g| {
                pct(g.by_own[i].share(g.by_own[i].on_time))
            })?;
        }
        row(f, "called off (customer reordered first)", &|g| {
            g.cancelled.values().sum::<u64>().to_string()
        })?;
        writeln!(f)?;
        writeln!(
            f,
            "{:<28}{:>10}{:>12}{:>10}{:>10}",
            "product (days per unit)", "true", "configured", "learned", "repeats"
        )?;
        if let Some((_, learned)) = self.runs.iter().find(|(t, _)| *t == Timing::Learned) {
            for p in &learned.products {
                writeln!(
                    f,
                    "{:<28}{:>10.1}{:>12}{:>10}{:>10}",
                    p.title,
                    p.true_days,
                    p.configured,
                    p.learned.map_or("–".into(), |d| format!("{d:.1}")),
                    p.repeats
                )?;
            }
        }
        Ok(())
    }
}

/// The holdout comparison of a run, as the report computes it.
pub fn holdout_summary(params: &Params, fig: &Figures) -> String {
    let h = fig.holdout;
    let d = holdout::newcombe(h.sent_ordered, h.sent, h.held_out_ordered, h.held_out);
    let mut out = format!(
        "Holdout: {} % held out, planted effect {:.0} % of would-be churners brought back\n",
        params.holdout_percent,
        params.effect * 100.0
    );
    let rate = |x: u64, n: u64| pct((n > 0).then(|| x as f64 / n as f64));
    let _ = writeln!(
        out,
        "  sent:     {} reminders, {} ordered within the attribution window ({})",
        h.sent,
        h.sent_ordered,
        rate(h.sent_ordered, h.sent)
    );
    let _ = writeln!(
        out,
        "  held out: {} reminders, {} ordered within the attribution window ({})",
        h.held_out,
        h.held_out_ordered,
        rate(h.held_out_ordered, h.held_out)
    );
    match d {
        Some(d) => {
            let _ = writeln!(
                out,
                "  difference {:+.1} points, 95 % interval {:+.1} to {:+.1} (Newcombe); true effect {:+.1}",
                d.estimate * 100.0,
                d.low * 100.0,
                d.high * 100.0,
                h.true_effect * 100.0
            );
        }
        None => out.push_str("  difference: nobody held out\n"),
    }
    let _ = writeln!(out, "  report says: {}", holdout::verdict(d.as_ref()));
    out
}

#[cfg(test)]
#[path = "simulate_tests.rs"]
mod tests;

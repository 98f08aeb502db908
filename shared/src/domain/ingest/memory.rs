//! The items a delivery's plan reads and writes, in memory, with the semantics the
//! DynamoDB adapter gives the planner: a consistent read of the items `Needs` names and
//! an all-or-nothing transaction checking every write's `Expect` first. The ingest unit
//! tests plan against it; `ports::memory::MemoryRecorder` records through it.

use super::{cadence_keys, needs, needs_after, plan, Context, Item, Loaded, Needs, Write};
use crate::model::{keys, Expect, Key};
use crate::wire::shopify::Event;
use std::collections::{BTreeMap, HashSet};

/// How [`MemoryTable::apply`]'s refusal of a transaction naming one item twice begins.
pub const TWO_OPERATIONS: &str = "two operations on one item";

/// Items by key, ordered like the table (so a partition is a range).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct MemoryTable {
    pub items: BTreeMap<Key, Item>,
}

fn version_of(item: &Item) -> Option<u64> {
    match item {
        Item::Order(r) => Some(r.v),
        Item::Fulfillment(r) => Some(r.v),
        Item::Profile(r) => Some(r.v),
        Item::Shop(r) => Some(r.v),
        Item::FollowUp(r) => Some(r.v),
        Item::Discount(r) => Some(r.v),
        Item::Cadence(r) => Some(r.v),
        Item::Refund(_) | Item::History(_) | Item::Privacy(_) => None,
    }
}

impl MemoryTable {
    /// The items under partition `pk` whose sort key starts with `prefix`.
    pub fn partition<'a>(
        &'a self,
        pk: &'a str,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a Key, &'a Item)> + 'a {
        let from = Key {
            pk: pk.to_owned(),
            sk: prefix.to_owned(),
        };
        self.items
            .range(from..)
            .take_while(move |(k, _)| k.pk == pk && k.sk.starts_with(prefix))
    }

    /// A consistent read of the items `needs` names, as the adapter does it (the
    /// customer's follow-ups and discount codes with them).
    pub fn load(&self, shop: &str, needs: &Needs) -> Loaded {
        let get = |k: Key| self.items.get(&k);
        let customer = needs
            .followups_of
            .as_deref()
            .map(|c| keys::customer_pk(shop, c));
        let under = |prefix: &'static str| {
            customer
                .iter()
                .flat_map(move |pk| self.partition(pk, prefix).map(|(_, i)| i))
        };
        Loaded {
            order: needs.order.and_then(|id| match get(keys::order(shop, id)) {
                Some(Item::Order(r)) => Some(r.clone()),
                _ => None,
            }),
            fulfillment: needs.fulfillment.and_then(|(o, f)| {
                match get(keys::fulfillment(shop, o, f)) {
                    Some(Item::Fulfillment(r)) => Some(r.clone()),
                    _ => None,
                }
            }),
            profile: needs
                .profile
                .as_deref()
                .and_then(|c| match get(keys::profile(shop, c)) {
                    Some(Item::Profile(r)) => Some(r.clone()),
                    _ => None,
                }),
            shop: match needs.shop.then(|| get(keys::shop(shop))).flatten() {
                Some(Item::Shop(r)) => Some(r.clone()),
                _ => None,
            },
            followups: under(keys::FOLLOWUP_PREFIX)
                .filter_map(|i| match i {
                    Item::FollowUp(f) => Some(f.clone()),
                    _ => None,
                })
                .collect(),
            discounts: under(keys::DISCOUNT_PREFIX)
                .filter_map(|i| match i {
                    Item::Discount(d) => Some(d.clone()),
                    _ => None,
                })
                .collect(),
            cadences: needs
                .cadences
                .iter()
                .filter_map(|p| match get(keys::cadence(shop, p)) {
                    Some(Item::Cadence(r)) => Some(r.clone()),
                    _ => None,
                })
                .collect(),
        }
    }

    /// One TransactWriteItems: every condition is checked first, then all writes are
    /// applied, or none. Like DynamoDB, two operations on one item are refused.
    pub fn apply(&mut self, writes: Vec<Write>) -> Result<(), String> {
        let mut seen = HashSet::new();
        for w in &writes {
            if !seen.insert(&w.key) {
                return Err(format!("{TWO_OPERATIONS} {:?}", w.key));
            }
            let stored = self.items.get(&w.key);
            match (w.expect, stored) {
                (Expect::Any, _) | (Expect::Absent, None) => {}
                (Expect::Absent, Some(_)) => {
                    return Err(format!("ConditionalCheckFailed: {:?} exists", w.key));
                }
                (Expect::Version(v), None) => {
                    return Err(format!(
                        "ConditionalCheckFailed: {:?} absent, expected v={v}",
                        w.key
                    ));
                }
                (Expect::Version(v), Some(item)) => match version_of(item) {
                    Some(stored) if stored == v => {}
                    stored => {
                        return Err(format!(
                            "ConditionalCheckFailed: {:?} has v={stored:?}, expected v={v}",
                            w.key
                        ));
                    }
                },
            }
        }
        for w in writes {
            self.items.insert(w.key, w.item);
        }
        Ok(())
    }

    /// Reads, plans and applies one delivery, as one round of the adapter (the read
    /// refined by what the stored order says, as the adapter refines it).
    pub fn deliver(&mut self, ctx: &Context<'_>, event: &Event) -> Result<Vec<Write>, String> {
        let mut first = needs(event);
        first.cadences = cadence_keys(ctx.rules, event);
        let loaded = self.load(ctx.shop, &first);
        let loaded = self.load(ctx.shop, &needs_after(event, &first, &loaded));
        let writes = plan(ctx, event, &loaded);
        self.apply(writes.clone())?;
        Ok(writes)
    }
}

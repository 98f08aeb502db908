//! A metering proxy in front of moto: every DynamoDB call the functions make is
//! forwarded unchanged and counted, with the read and write request units DynamoDB
//! on-demand would bill for it. moto's own `ConsumedCapacity` figures are fixed
//! placeholders, so the units are computed here from the items themselves, by the
//! rules DynamoDB documents (the "Read and write operations" and "Item sizes" pages):
//!
//! - **Item size**: attribute names plus values: a string or binary its length, a
//!   number about one byte per two significant digits plus one, a boolean or null one
//!   byte, a list or map three bytes plus one per element plus its elements.
//! - **Writes** (`PutItem`, `UpdateItem`, `DeleteItem`, each `BatchWriteItem` request):
//!   one WRU per started KB of the larger of the item before and after, at least one,
//!   also when a condition refuses it. In `TransactWriteItems` each `Put`, `Update` and
//!   `Delete` costs twice that; a `ConditionCheck` is a transactional read.
//! - **Index writes**: the table's one index (`due`) keeps keys only, so a write that
//!   adds the item to it or removes it costs one WRU per started KB of the index entry
//!   (the table's and the index's keys), a changed index key a delete and a put, and a
//!   write that keeps the index key nothing. (Were it to project every attribute, any
//!   changed attribute of an indexed item would rewrite the entry.)
//! - **Reads**: `GetItem` one RRU per started 4 KB of the item (half when eventually
//!   consistent; an absent item still costs the minimum); each `BatchGetItem` key the
//!   same; `TransactGetItems` and a `ConditionCheck` twice that; `Query` one RRU per
//!   started 4 KB of all the items it reads (before any filter or projection), halved
//!   when eventually consistent.
//!
//! Write units are also kept by the kind of item written (its `entity`), split into the
//! item's own units, a transaction's second unit and the index's ([`WriteShare`]), so
//! the bench can say where a life's units go.
//!
//! To find the sizes the proxy reads each written item just before and just after the
//! call, and re-runs each query without its projection and filter; those reads go
//! straight to moto and are not counted. Requests are metered one at a time (a lock
//! around each call), so concurrent writers cannot blur one another's before and
//! after: the figures are exact for what the functions sent, at the price of
//! serialising them through the proxy.

use super::{endpoint, read_request, respond};
use aftercart::adapters::dynamo::table::{projection, INDEXES, PK, SK};
use aws_sdk_dynamodb::types::ProjectionType;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// What one kind of call (or all calls) cost.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Units {
    pub calls: u64,
    pub rru: f64,
    pub wru: f64,
}

impl Units {
    pub fn add(&mut self, other: Units) {
        self.calls += other.calls;
        self.rru += other.rru;
        self.wru += other.wru;
    }

    /// These units divided by `n` (per email, per event, …).
    pub fn per(self, n: u64) -> Units {
        let n = n.max(1) as f64;
        Units {
            calls: self.calls,
            rru: self.rru / n,
            wru: self.wru / n,
        }
    }
}

/// Where the write units of one kind of item went: its own units (one per started
/// KB), a transaction's second unit, and the `due` index's entries.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WriteShare {
    pub own: f64,
    pub transaction: f64,
    pub index: f64,
}

impl WriteShare {
    pub fn total(self) -> f64 {
        self.own + self.transaction + self.index
    }

    /// These units plus `k` times `other`'s (`k` negative takes them away).
    pub fn add_times(&mut self, other: WriteShare, k: f64) {
        self.own += k * other.own;
        self.transaction += k * other.transaction;
        self.index += k * other.index;
    }
}

/// The calls metered since the last [`Meter::take`], by operation.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    pub by_operation: BTreeMap<String, Units>,
    /// The write units by the kind of item written (its `entity`).
    pub writes: BTreeMap<String, WriteShare>,
    /// Each call, in order: operation, units and the keys it named (what
    /// `METER_LOG=1` prints).
    pub log: Vec<String>,
}

impl Usage {
    pub fn total(&self) -> Units {
        let mut t = Units::default();
        for u in self.by_operation.values() {
            t.add(*u);
        }
        t
    }

    pub fn add(&mut self, other: &Usage) {
        self.add_writes(other, 1.0);
        for (op, u) in &other.by_operation {
            self.by_operation.entry(op.clone()).or_default().add(*u);
        }
        self.log.extend(other.log.iter().cloned());
    }

    /// `k` times `other`'s write units by kind of item, added to these.
    pub fn add_writes(&mut self, other: &Usage, k: f64) {
        for (kind, w) in &other.writes {
            self.writes
                .entry(kind.clone())
                .or_default()
                .add_times(*w, k);
        }
    }

    /// These calls without `n` times those of `other` (e.g. a run's fixed cost), by
    /// operation and by kind of item written.
    pub fn minus(&self, other: &Usage, n: u64) -> Usage {
        let mut out = self.clone();
        for (op, u) in &other.by_operation {
            let mine = out.by_operation.entry(op.clone()).or_default();
            mine.calls = mine.calls.saturating_sub(u.calls * n);
            mine.rru = (mine.rru - u.rru * n as f64).max(0.0);
            mine.wru = (mine.wru - u.wru * n as f64).max(0.0);
        }
        out.by_operation.retain(|_, u| u.calls > 0);
        out.add_writes(other, -(n as f64));
        out
    }

    /// `TransactWriteItems×1 PutItem×2`, for a line of the bench's table.
    pub fn calls_line(&self) -> String {
        self.by_operation
            .iter()
            .map(|(op, u)| format!("{op}×{}", u.calls))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The proxy. Point the functions' DynamoDB clients at [`Meter::url`].
pub struct Meter {
    pub url: String,
    usage: Arc<Mutex<Usage>>,
    /// Held while a call is forwarded and metered.
    one_at_a_time: Arc<tokio::sync::Mutex<()>>,
}

impl Meter {
    pub async fn start() -> Meter {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let usage = Arc::new(Mutex::new(Usage::default()));
        let one_at_a_time = Arc::new(tokio::sync::Mutex::new(()));
        let http = reqwest::Client::new();
        let (seen, lock) = (usage.clone(), one_at_a_time.clone());
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let (usage, lock, http) = (seen.clone(), lock.clone(), http.clone());
                tokio::spawn(async move {
                    let mut pending = Vec::new();
                    while let Some((head, body)) = read_request(&mut sock, &mut pending).await {
                        let guard = lock.lock().await;
                        let named = keys_named(&body);
                        let Some(call) = forward(&http, &head, body).await else {
                            return;
                        };
                        // Answer first, then look at what the call wrote: the caller's
                        // own timeouts see the call's time, not the meter's.
                        let (status, ctype, answer) = &call.answer;
                        let answered = respond(&mut sock, *status, ctype, answer).await;
                        let (op, units, sizes, shares) = call.units(&http).await;
                        if !op.is_empty() {
                            let mut u = usage.lock().expect("not poisoned");
                            for (kind, w) in shares {
                                u.writes.entry(kind).or_default().add_times(w, 1.0);
                            }
                            let sizes = if sizes.is_empty() {
                                sizes
                            } else {
                                format!("  [{sizes}]")
                            };
                            u.log.push(format!(
                                "{op:<18} {:>4.1} WRU {:>4.1} RRU  {named}{sizes}",
                                units.wru, units.rru
                            ));
                            u.by_operation.entry(op).or_default().add(units);
                        }
                        // Only now: a `take` waiting for this call gets its units.
                        drop(guard);
                        if !answered {
                            return;
                        }
                    }
                });
            }
        });
        Meter {
            url,
            usage,
            one_at_a_time,
        }
    }

    /// What was metered since the last call (waiting for a call still being metered
    /// after its answer), and start counting afresh.
    pub async fn take(&self) -> Usage {
        let _quiet = self.one_at_a_time.lock().await;
        std::mem::take(&mut *self.usage.lock().expect("not poisoned"))
    }
}

/// The `pk`/`sk` pairs (and index) a request names, for the call log.
fn keys_named(body: &[u8]) -> String {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let (Some(pk), Some(sk)) = (m.get("pk"), m.get("sk")) {
                    let s = |x: &Value| x["S"].as_str().unwrap_or("?").to_owned();
                    out.push(format!("{} / {}", s(pk), s(sk)));
                    return;
                }
                if let Some(index) = m.get("IndexName").and_then(Value::as_str) {
                    out.push(format!("index {index}"));
                }
                for (k, v) in m {
                    if k != "ExpressionAttributeValues" {
                        walk(v, out);
                    }
                }
                if let Some(Value::Object(values)) = m.get("ExpressionAttributeValues") {
                    if let Some(pk) = values.get(":pk").and_then(|v| v["S"].as_str()) {
                        out.push(format!("query {pk}"));
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        walk(&v, &mut out);
    }
    out.join(", ")
}

/// The DynamoDB operation of a request head, as [`super::dynamodb_operation`].
fn operation(head: &str) -> String {
    super::dynamodb_operation(head)
}

/// Sends `body` as operation `op` straight to moto (not metered); the JSON answer.
async fn direct(http: &reqwest::Client, op: &str, body: &Value) -> Option<Value> {
    let resp = http
        .post(endpoint())
        .header("x-amz-target", format!("DynamoDB_20120810.{op}"))
        .header("content-type", "application/x-amz-json-1.0")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(body.to_string())
        .send()
        .await
        .ok()?;
    serde_json::from_slice(&resp.bytes().await.ok()?).ok()
}

/// The item under `key` in `table` now, if any.
async fn image(http: &reqwest::Client, table: &str, key: &Value) -> Option<Value> {
    let answer = direct(
        http,
        "GetItem",
        &json!({"TableName": table, "Key": key, "ConsistentRead": true}),
    )
    .await?;
    answer.get("Item").cloned()
}

/// One item a call writes: its table and key, and whether it is part of a transaction.
struct Write {
    table: String,
    key: Value,
    transactional: bool,
}

/// The key (`pk`, `sk`) of a request's `Key`, or of its `Item`.
fn key_of(request: &Value) -> Value {
    let source = request.get("Key").or_else(|| request.get("Item"));
    json!({
        "pk": source.and_then(|s| s.get("pk")).cloned().unwrap_or(Value::Null),
        "sk": source.and_then(|s| s.get("sk")).cloned().unwrap_or(Value::Null),
    })
}

fn table_of(request: &Value, fallback: &str) -> String {
    request["TableName"].as_str().unwrap_or(fallback).to_owned()
}

/// A call forwarded to moto, with what metering it needs afterwards.
struct Forwarded {
    op: String,
    request: Value,
    writes: Vec<Write>,
    before: Vec<Option<Value>>,
    /// Units known before the call (condition checks).
    units: Units,
    answer: (u16, String, Vec<u8>),
}

impl Forwarded {
    /// The call's operation and units, from the items as the call left them.
    /// With, for the call log, each written item's size before and after (bytes) and
    /// its index units; and the write units by the kind of item written.
    async fn units(
        self,
        http: &reqwest::Client,
    ) -> (String, Units, String, Vec<(String, WriteShare)>) {
        let mut units = self.units;
        let mut sizes = Vec::new();
        let mut shares = Vec::new();
        for (w, before) in self.writes.iter().zip(self.before) {
            let after = image(http, &w.table, &w.key).await;
            let (b, a) = (item_size_of(&before), item_size_of(&after));
            let own = write_units(b.max(a));
            let share = WriteShare {
                own,
                transaction: if w.transactional { own } else { 0.0 },
                index: index_write_units(before.as_ref(), after.as_ref()),
            };
            units.wru += share.total();
            sizes.push(format!("{b}→{a} B, index {}", share.index));
            shares.push((entity_of(after.as_ref().or(before.as_ref())), share));
        }
        units.rru += read_cost(http, &self.op, &self.request, &self.answer.2).await;
        (self.op, units, sizes.join("; "), shares)
    }
}

/// Reads what a request will write, then forwards it to moto.
async fn forward(http: &reqwest::Client, head: &str, body: Vec<u8>) -> Option<Forwarded> {
    let op = operation(head);
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut writes = Vec::new();
    let mut units = Units {
        calls: 1,
        ..Units::default()
    };
    match op.as_str() {
        "PutItem" | "UpdateItem" | "DeleteItem" => writes.push(Write {
            table: table_of(&request, ""),
            key: key_of(&request),
            transactional: false,
        }),
        "BatchWriteItem" => {
            for (table, requests) in request["RequestItems"].as_object().into_iter().flatten() {
                for r in requests.as_array().into_iter().flatten() {
                    let inner = r.get("PutRequest").or_else(|| r.get("DeleteRequest"));
                    if let Some(inner) = inner {
                        writes.push(Write {
                            table: table.clone(),
                            key: key_of(inner),
                            transactional: false,
                        });
                    }
                }
            }
        }
        "TransactWriteItems" => {
            for item in request["TransactItems"].as_array().into_iter().flatten() {
                for kind in ["Put", "Update", "Delete"] {
                    if let Some(w) = item.get(kind) {
                        writes.push(Write {
                            table: table_of(w, ""),
                            key: key_of(w),
                            transactional: true,
                        });
                    }
                }
                if let Some(c) = item.get("ConditionCheck") {
                    let size = image(http, &table_of(c, ""), &key_of(c))
                        .await
                        .map_or(0, |i| item_size(&i));
                    units.rru += 2.0 * read_units(size);
                }
            }
        }
        _ => {}
    }
    let mut before = Vec::with_capacity(writes.len());
    for w in &writes {
        before.push(image(http, &w.table, &w.key).await);
    }

    let answer = super::forward_to_moto(http, head, body).await?;
    Some(Forwarded {
        op,
        request,
        writes,
        before,
        units,
        answer,
    })
}

/// The read units of a read call (`GetItem`, `BatchGetItem`, `TransactGetItems`,
/// `Query`); 0 for others.
async fn read_cost(http: &reqwest::Client, op: &str, request: &Value, answer: &[u8]) -> f64 {
    let consistent = request["ConsistentRead"].as_bool().unwrap_or(false);
    let half = |units: f64| if consistent { units } else { units / 2.0 };
    match op {
        "GetItem" => {
            let size = image(http, &table_of(request, ""), &key_of(request))
                .await
                .map_or(0, |i| item_size(&i));
            half(read_units(size))
        }
        "BatchGetItem" => {
            let mut total = 0.0;
            for (table, spec) in request["RequestItems"].as_object().into_iter().flatten() {
                let consistent = spec["ConsistentRead"].as_bool().unwrap_or(false);
                for key in spec["Keys"].as_array().into_iter().flatten() {
                    let size = image(http, table, &key_of(&json!({"Key": key})))
                        .await
                        .map_or(0, |i| item_size(&i));
                    let u = read_units(size);
                    total += if consistent { u } else { u / 2.0 };
                }
            }
            total
        }
        "TransactGetItems" => {
            let mut total = 0.0;
            for item in request["TransactItems"].as_array().into_iter().flatten() {
                if let Some(get) = item.get("Get") {
                    let size = image(http, &table_of(get, ""), &key_of(get))
                        .await
                        .map_or(0, |i| item_size(&i));
                    total += 2.0 * read_units(size);
                }
            }
            total
        }
        "Query" => {
            // What the query read: the same query without projection or filter.
            let mut bare = request.clone();
            if let Some(o) = bare.as_object_mut() {
                for k in ["ProjectionExpression", "FilterExpression", "Select"] {
                    o.remove(k);
                }
                // Names and values only the filter or projection used would be refused.
                let key_condition = o
                    .get("KeyConditionExpression")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                for k in ["ExpressionAttributeNames", "ExpressionAttributeValues"] {
                    if let Some(Value::Object(m)) = o.get_mut(k) {
                        m.retain(|name, _| key_condition.contains(name.as_str()));
                    }
                }
            }
            let read = direct(http, "Query", &bare).await;
            let returned: Value = serde_json::from_slice(answer).unwrap_or(Value::Null);
            // Only as many items as the real call evaluated (its Limit or page).
            let evaluated = returned["ScannedCount"]
                .as_u64()
                .or_else(|| returned["Count"].as_u64())
                .unwrap_or(0) as usize;
            let size: usize = read
                .as_ref()
                .and_then(|r| r["Items"].as_array())
                .into_iter()
                .flatten()
                .take(evaluated)
                .map(item_size)
                .sum();
            half(read_units(size))
        }
        _ => 0.0,
    }
}

/// The kind of an item (its `entity`, which every item of the table carries).
fn entity_of(item: Option<&Value>) -> String {
    item.and_then(|i| i["entity"]["S"].as_str())
        .unwrap_or("(no entity)")
        .to_owned()
}

fn item_size_of(item: &Option<Value>) -> usize {
    item.as_ref().map_or(0, item_size)
}

/// Write request units for an item of `size` bytes: per started KB, at least one.
fn write_units(size: usize) -> f64 {
    size.div_ceil(1024).max(1) as f64
}

/// Read request units (strongly consistent) for `size` bytes: per started 4 KB, at
/// least one.
fn read_units(size: usize) -> f64 {
    size.div_ceil(4096).max(1) as f64
}

/// The index writes of one item write, from its images before and after. An index
/// entry is the item's projection: with `KEYS_ONLY` the table's and the index's keys,
/// which a write that keeps the index key leaves as they were; with `ALL` the whole
/// item, which any changed attribute rewrites.
fn index_write_units(before: Option<&Value>, after: Option<&Value>) -> f64 {
    let keys_only = projection() == ProjectionType::KeysOnly;
    let mut units = 0.0;
    for index in INDEXES {
        let keys = |i: Option<&Value>| {
            i.and_then(|i| Some((i.get(index.pk)?.clone(), i.get(index.sk)?.clone())))
        };
        let entry = |i: Option<&Value>| -> f64 {
            let Some(i) = i else { return 0.0 };
            let size = if keys_only {
                [PK, SK, index.pk, index.sk]
                    .iter()
                    .filter_map(|name| Some(name.len() + value_size(i.get(*name)?)))
                    .sum()
            } else {
                item_size(i)
            };
            write_units(size)
        };
        let (old, new) = (keys(before), keys(after));
        match (&old, &new) {
            (None, None) => {}
            (Some(_), None) => units += entry(before),
            (None, Some(_)) => units += entry(after),
            (Some(o), Some(n)) if o != n => units += entry(before) + entry(after),
            (Some(_), Some(_)) => {
                if !keys_only && before != after {
                    units += entry(after);
                }
            }
        }
    }
    units
}

/// An item's size in bytes (DynamoDB JSON), by DynamoDB's documented rules.
pub fn item_size(item: &Value) -> usize {
    item.as_object()
        .into_iter()
        .flatten()
        .map(|(name, v)| name.len() + value_size(v))
        .sum()
}

fn number_size(n: &str) -> usize {
    let digits: String = n.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant.max(1).div_ceil(2) + 1
}

fn value_size(v: &Value) -> usize {
    let Some((kind, inner)) = v.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    let str_len = |x: &Value| x.as_str().map_or(0, str::len);
    let b64_len = |x: &Value| x.as_str().map_or(0, |s| s.len() * 3 / 4);
    let each = |x: &Value, f: &dyn Fn(&Value) -> usize| {
        x.as_array().into_iter().flatten().map(f).sum::<usize>()
    };
    match kind.as_str() {
        "S" => str_len(inner),
        "N" => inner.as_str().map_or(1, number_size),
        "B" => b64_len(inner),
        "BOOL" | "NULL" => 1,
        "SS" => each(inner, &str_len),
        "NS" => each(inner, &|x| x.as_str().map_or(1, number_size)),
        "BS" => each(inner, &b64_len),
        "L" => {
            let items = inner.as_array().map_or(0, Vec::len);
            3 + items + each(inner, &value_size)
        }
        "M" => {
            let entries = inner.as_object().map_or(0, |m| m.len());
            3 + entries
                + inner
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| k.len() + value_size(v))
                    .sum::<usize>()
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_dynamodbs_rules() {
        // "pk" (2) + "abc" (3); "n" (1) + 12345 (3 digit pairs → 3 + 1).
        assert_eq!(item_size(&json!({"pk": {"S": "abc"}})), 5);
        assert_eq!(item_size(&json!({"n": {"N": "12345"}})), 1 + 4);
        assert_eq!(item_size(&json!({"b": {"BOOL": true}})), 2);
        // A map: 3 + 1 per entry + names and values.
        assert_eq!(
            item_size(&json!({"m": {"M": {"a": {"S": "xy"}}}})),
            1 + 3 + 1 + 1 + 2
        );
        assert_eq!(write_units(0), 1.0);
        assert_eq!(write_units(1024), 1.0);
        assert_eq!(write_units(1025), 2.0);
        assert_eq!(read_units(4097), 2.0);
    }

    #[test]
    fn write_shares_add_up_and_come_off_with_a_runs_fixed_cost() {
        let share = |own, transaction, index| WriteShare {
            own,
            transaction,
            index,
        };
        let mut run = Usage::default();
        run.writes.insert("followup".into(), share(3.0, 2.0, 1.0));
        run.writes.insert("stats".into(), share(1.0, 0.0, 0.0));
        let mut idle = Usage::default();
        idle.writes.insert("followup".into(), share(1.0, 0.0, 0.0));
        idle.writes.insert("stats".into(), share(0.5, 0.0, 0.0));
        let mut two = run.clone();
        two.add(&run);
        assert_eq!(two.writes["followup"], share(6.0, 4.0, 2.0));
        assert_eq!(two.writes["followup"].total(), 12.0);
        let rest = two.minus(&idle, 2);
        assert_eq!(rest.writes["followup"], share(4.0, 4.0, 2.0));
        assert_eq!(rest.writes["stats"], share(1.0, 0.0, 0.0));
    }

    #[test]
    fn index_writes_count_adds_key_moves_and_removals_but_not_other_changes() {
        let small = |due: &str, x: &str| json!({"pk": {"S": "p"}, "due_pk": {"S": "D"}, "due_sk": {"S": due}, "x": {"S": x}});
        let plain = json!({"pk": {"S": "p"}});
        assert_eq!(index_write_units(None, Some(&plain)), 0.0);
        assert_eq!(index_write_units(None, Some(&small("1", "a"))), 1.0);
        assert_eq!(
            index_write_units(Some(&small("1", "a")), Some(&small("1", "a"))),
            0.0
        );
        assert_eq!(
            index_write_units(Some(&small("1", "a")), Some(&small("1", "b"))),
            0.0,
            "the index keeps keys only: another attribute's change is not its write"
        );
        assert_eq!(
            index_write_units(Some(&small("1", "a")), Some(&small("2", "a"))),
            2.0
        );
        assert_eq!(index_write_units(Some(&small("1", "a")), Some(&plain)), 1.0);
    }
}

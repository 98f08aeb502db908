//! The GraphQL side, as pure functions: the documents, the variables for
//! `discountCodeBasicCreate` (both API-version shapes), reading responses and their
//! `userErrors`, and the cost-bucket arithmetic for throttling.

use crate::ports::admin::{DiscountValue, FoundDiscount, NewDiscount, UserError};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::time::Duration;

/// Creates one basic code discount and returns what the store made of it.
pub const CREATE_DISCOUNT: &str =
    "mutation AftercartDiscountCreate($basicCodeDiscount: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) {
    codeDiscountNode {
      id
      codeDiscount {
        ... on DiscountCodeBasic {
          title
          startsAt
          endsAt
          codes(first: 1) { nodes { code } }
        }
      }
    }
    userErrors { field code message }
  }
}";

/// Finds the discount a code belongs to (to tell our own earlier attempt from a
/// genuine collision when the store says a code is taken).
pub const DISCOUNT_BY_CODE: &str = "query AftercartDiscountByCode($code: String!) {
  codeDiscountNodeByCode(code: $code) {
    id
    codeDiscount {
      ... on DiscountCodeBasic { title }
    }
  }
}";

/// The cheapest authenticated query: whether the store still accepts the app's access
/// token. Shopify revokes the token when the app is uninstalled, so a refusal (401/403)
/// confirms an `app/uninstalled` or `shop/redact` delivery independently of it.
pub const ACCESS_CHECK: &str = "query AftercartAccessCheck { shop { id } }";

/// Points the access check costs at most.
pub const ACCESS_CHECK_COST: f64 = 1.0;

/// Reads the `data` of an [`ACCESS_CHECK`] response: the shop's GraphQL id.
pub fn parse_access_check(data: &Value) -> Result<String, String> {
    match data["shop"]["id"].as_str() {
        Some(id) if !id.is_empty() => Ok(id.to_owned()),
        _ => Err("no shop id in the access check response".into()),
    }
}

/// Points a mutation costs (Shopify's fixed mutation cost), before the API tells us.
pub const CREATE_COST: f64 = 10.0;
/// Points the by-code lookup costs at most.
pub const LOOKUP_COST: f64 = 2.0;

/// The first API version whose `DiscountCodeBasicInput` takes `context`; older pinned
/// versions use the (since deprecated) `customerSelection`.
pub const CONTEXT_SINCE: &str = "2025-10";

/// Whether `api_version` (`YYYY-MM` or `unstable`) takes `context`.
pub fn uses_context(api_version: &str) -> bool {
    api_version == "unstable" || api_version >= CONTEXT_SINCE
}

/// The customer's GraphQL id, when the key is a Shopify customer id (all digits);
/// guests (`guest-…`) have none.
pub fn customer_gid(customer_key: &str) -> Option<String> {
    if customer_key.is_empty() || !customer_key.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let id: u64 = customer_key.parse().ok().filter(|id| *id > 0)?;
    Some(format!("gid://shopify/Customer/{id}"))
}

/// The variables of [`CREATE_DISCOUNT`] for the pinned `api_version`.
pub fn create_variables(d: &NewDiscount, api_version: &str) -> Value {
    let value = match &d.value {
        DiscountValue::Percentage(p) => {
            // Exact decimal division, then the nearest float (15 → 0.15).
            let fraction = (*p / Decimal::ONE_HUNDRED).normalize().to_string();
            json!({ "percentage": fraction.parse::<f64>().unwrap_or(0.0) })
        }
        DiscountValue::Amount { amount, each_item } => json!({
            "discountAmount": { "amount": amount.to_string(), "appliesOnEachItem": each_item }
        }),
    };
    let customers = json!({ "customers": { "add": [d.customer_gid] } });
    let mut input = json!({
        "title": d.title,
        "code": d.code,
        "startsAt": d.starts_at,
        "endsAt": d.ends_at,
        "usageLimit": 1,
        "appliesOncePerCustomer": true,
        "customerGets": { "value": value, "items": { "all": true } },
        "combinesWith": {
            "orderDiscounts": d.combines_with.order,
            "productDiscounts": d.combines_with.product,
            "shippingDiscounts": d.combines_with.shipping,
        },
    });
    let who = if uses_context(api_version) {
        "context"
    } else {
        "customerSelection"
    };
    input[who] = customers;
    json!({ "basicCodeDiscount": input })
}

impl UserError {
    /// The store already has a discount with this code.
    pub fn is_code_taken(&self) -> bool {
        self.code.as_deref() == Some("TAKEN")
            && self
                .field
                .as_ref()
                .is_none_or(|f| f.last().is_some_and(|last| last == "code"))
    }
}

/// What `discountCodeBasicCreate` answered.
#[derive(Debug, Clone, PartialEq)]
pub enum CreateAnswer {
    Created {
        /// `gid://shopify/DiscountCodeNode/…`.
        id: String,
        /// The code as the store echoes it.
        code: Option<String>,
    },
    /// `userErrors` say the code exists already.
    CodeTaken,
    /// Other `userErrors`: the store refuses this discount.
    Rejected(Vec<UserError>),
    /// Neither a discount nor `userErrors`: not a shape we know.
    Unexpected(String),
}

/// Reads the `data` of a [`CREATE_DISCOUNT`] response.
pub fn parse_create(data: &Value) -> CreateAnswer {
    let payload = &data["discountCodeBasicCreate"];
    if !payload.is_object() {
        return CreateAnswer::Unexpected("no discountCodeBasicCreate in the response".into());
    }
    let errors: Vec<UserError> = match serde_json::from_value(payload["userErrors"].clone()) {
        Ok(e) => e,
        Err(_) if payload["userErrors"].is_null() => Vec::new(),
        Err(e) => return CreateAnswer::Unexpected(format!("unreadable userErrors: {e}")),
    };
    if errors.iter().any(UserError::is_code_taken) {
        return CreateAnswer::CodeTaken;
    }
    if !errors.is_empty() {
        return CreateAnswer::Rejected(errors);
    }
    let node = &payload["codeDiscountNode"];
    match node["id"].as_str() {
        Some(id) if !id.is_empty() => CreateAnswer::Created {
            id: id.to_owned(),
            code: node["codeDiscount"]["codes"]["nodes"][0]["code"]
                .as_str()
                .map(str::to_owned),
        },
        _ => CreateAnswer::Unexpected("no codeDiscountNode and no userErrors".into()),
    }
}

/// Reads the `data` of a [`DISCOUNT_BY_CODE`] response (`None`: no discount has it).
pub fn parse_by_code(data: &Value) -> Result<Option<FoundDiscount>, String> {
    let node = match data.get("codeDiscountNodeByCode") {
        None => return Err("no codeDiscountNodeByCode in the response".into()),
        Some(Value::Null) => return Ok(None),
        Some(n) => n,
    };
    let id = node["id"]
        .as_str()
        .ok_or("codeDiscountNodeByCode has no id")?;
    Ok(Some(FoundDiscount {
        id: id.to_owned(),
        title: node["codeDiscount"]["title"].as_str().map(str::to_owned),
    }))
}

/// How a response's top-level `errors` read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopErrors {
    None,
    /// `Throttled`: the cost bucket was empty; try again once it refills.
    Throttled,
    /// `ACCESS_DENIED`: the token lacks a scope (e.g. `write_discounts`).
    AccessDenied(String),
    /// `INTERNAL_SERVER_ERROR`: Shopify's side; worth another try.
    Internal(String),
    /// Anything else (a query the pinned version does not know, bad input…).
    Other(String),
}

/// Classifies the top-level `errors` of a GraphQL response body.
pub fn top_errors(body: &Value) -> TopErrors {
    let Some(errors) = body["errors"].as_array().filter(|e| !e.is_empty()) else {
        // `errors` may also be a plain string on some failures.
        return match body["errors"].as_str() {
            Some(s) if !s.is_empty() => TopErrors::Other(short(s)),
            _ => TopErrors::None,
        };
    };
    let code = |e: &Value| {
        e["extensions"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let message = |e: &Value| short(e["message"].as_str().unwrap_or("(no message)"));
    if errors
        .iter()
        .any(|e| code(e) == "THROTTLED" || e["message"].as_str() == Some("Throttled"))
    {
        return TopErrors::Throttled;
    }
    if let Some(e) = errors.iter().find(|e| code(e) == "ACCESS_DENIED") {
        return TopErrors::AccessDenied(message(e));
    }
    if let Some(e) = errors.iter().find(|e| code(e) == "INTERNAL_SERVER_ERROR") {
        return TopErrors::Internal(message(e));
    }
    TopErrors::Other(
        errors
            .iter()
            .take(3)
            .map(message)
            .collect::<Vec<_>>()
            .join("; "),
    )
}

fn short(s: &str) -> String {
    s.chars().take(200).collect()
}

/// `extensions.cost` of a response.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    pub requested: Option<f64>,
    pub actual: Option<f64>,
    pub throttle: Option<ThrottleStatus>,
}

/// `extensions.cost.throttleStatus`: the app's bucket on this store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleStatus {
    pub maximum_available: f64,
    pub currently_available: f64,
    /// Points restored per second.
    pub restore_rate: f64,
}

/// Reads `extensions.cost`, if present.
pub fn cost(body: &Value) -> Option<Cost> {
    let c = body.get("extensions")?.get("cost")?;
    let t = &c["throttleStatus"];
    let throttle = match (
        t["maximumAvailable"].as_f64(),
        t["currentlyAvailable"].as_f64(),
        t["restoreRate"].as_f64(),
    ) {
        (Some(max), Some(now), Some(rate)) if max > 0.0 && rate >= 0.0 => Some(ThrottleStatus {
            maximum_available: max,
            currently_available: now.clamp(0.0, max),
            restore_rate: rate,
        }),
        _ => None,
    };
    Some(Cost {
        requested: c["requestedQueryCost"].as_f64(),
        actual: c["actualQueryCost"].as_f64(),
        throttle,
    })
}

/// The share of the bucket left untouched: calls wait before it would run empty, so a
/// burst of our own calls never hits `Throttled`.
pub const RESERVE_SHARE: f64 = 0.1;

/// Our view of the bucket: the last status the API reported, refilled over time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub status: ThrottleStatus,
    /// Seconds since some fixed start (`Instant`s are not constructible in tests).
    pub at: f64,
}

impl Bucket {
    /// Points available at `now` (seconds on the same scale as `at`).
    pub fn available(&self, now: f64) -> f64 {
        let s = &self.status;
        (s.currently_available + s.restore_rate * (now - self.at).max(0.0)).min(s.maximum_available)
    }

    /// How long to wait at `now` before spending `cost` points while keeping
    /// [`RESERVE_SHARE`] of the bucket, capped at `cap` (a restore rate of 0 waits `cap`).
    pub fn wait(&self, now: f64, cost: f64, cap: Duration) -> Duration {
        let s = &self.status;
        let reserve = s.maximum_available * RESERVE_SHARE;
        // A cost above the whole bucket can never fit with a reserve: just wait for it.
        let want = (cost + reserve).min(s.maximum_available.max(cost));
        let missing = want - self.available(now);
        if missing <= 0.0 {
            return Duration::ZERO;
        }
        if s.restore_rate <= 0.0 {
            return cap;
        }
        Duration::from_secs_f64(missing / s.restore_rate).min(cap)
    }

    /// Takes `cost` points at `now` (callers that run at once then see less).
    pub fn spend(&mut self, now: f64, cost: f64) {
        self.status.currently_available = self.available(now) - cost;
        self.at = now;
    }
}

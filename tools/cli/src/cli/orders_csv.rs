//! Shopify's order export (Admin → Orders → Export, "CSV for Excel, Numbers, or other
//! spreadsheet programs"), read into orders: pure, no I/O beyond the reader it is given.
//!
//! The export has a header row and **one row per line item**; an order's first row
//! carries its order-level fields (`Financial Status`, `Total`, …) and its later rows
//! repeat `Name` (and usually `Email`) with the rest left empty. Columns are matched by
//! their header (trimmed, any order; unknown ones ignored). Fields may be quoted, with
//! commas, doubled quotes and newlines inside; the file may start with a UTF-8 BOM and
//! use CRLF line endings.
//!
//! [`parse`] returns every order it could read whole ([`ExportOrder`]) and, for every
//! other, the reasons with the physical line of the row at fault ([`RowError`]): one bad
//! row skips its whole order. A file without a required column ([`REQUIRED`]) is refused
//! as a whole ([`FileError`]). [`webhook_bodies`] turns an order into the `orders/paid`
//! (or `orders/create`) body, and for a refunded order the `refunds/create` body, that the
//! library's own parser then checks (`aftercart import-orders`). `aftercart backtest`
//! reads the same orders.

use aftercart::config::ShopConfig;
use aftercart::wire::shopify::{
    check_time, plain_decimal, Timestamp, Topic, MAX_MONEY, MAX_QUANTITY,
};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::fmt;

/// The export's column names that the import reads.
pub mod col {
    pub const NAME: &str = "Name";
    pub const ID: &str = "Id";
    pub const EMAIL: &str = "Email";
    pub const FINANCIAL_STATUS: &str = "Financial Status";
    pub const PAID_AT: &str = "Paid at";
    pub const FULFILLMENT_STATUS: &str = "Fulfillment Status";
    pub const FULFILLED_AT: &str = "Fulfilled at";
    pub const ACCEPTS_MARKETING: &str = "Accepts Marketing";
    pub const CURRENCY: &str = "Currency";
    pub const SUBTOTAL: &str = "Subtotal";
    pub const SHIPPING: &str = "Shipping";
    pub const TAXES: &str = "Taxes";
    pub const TOTAL: &str = "Total";
    pub const DISCOUNT_CODE: &str = "Discount Code";
    pub const DISCOUNT_AMOUNT: &str = "Discount Amount";
    pub const CREATED_AT: &str = "Created at";
    pub const CANCELLED_AT: &str = "Cancelled at";
    pub const REFUNDED_AMOUNT: &str = "Refunded Amount";
    pub const LINE_QUANTITY: &str = "Lineitem quantity";
    pub const LINE_NAME: &str = "Lineitem name";
    pub const LINE_PRICE: &str = "Lineitem price";
    pub const LINE_SKU: &str = "Lineitem sku";
    pub const LINE_REQUIRES_SHIPPING: &str = "Lineitem requires shipping";
    pub const LINE_FULFILLMENT_STATUS: &str = "Lineitem fulfillment status";
    pub const VENDOR: &str = "Vendor";
}

/// Columns a file must have (a value may still be empty where the order allows it:
/// a line without a SKU, an order whose later rows leave `Id` empty).
pub const REQUIRED: [&str; 8] = [
    col::NAME,
    col::ID,
    col::EMAIL,
    col::CREATED_AT,
    col::FINANCIAL_STATUS,
    col::LINE_QUANTITY,
    col::LINE_SKU,
    col::LINE_NAME,
];

/// Every column read; [`REQUIRED`] first.
const COLUMNS: [&str; 24] = [
    col::NAME,
    col::ID,
    col::EMAIL,
    col::CREATED_AT,
    col::FINANCIAL_STATUS,
    col::LINE_QUANTITY,
    col::LINE_SKU,
    col::LINE_NAME,
    col::PAID_AT,
    col::FULFILLMENT_STATUS,
    col::FULFILLED_AT,
    col::ACCEPTS_MARKETING,
    col::CURRENCY,
    col::SUBTOTAL,
    col::SHIPPING,
    col::TAXES,
    col::TOTAL,
    col::DISCOUNT_CODE,
    col::DISCOUNT_AMOUNT,
    col::CANCELLED_AT,
    col::REFUNDED_AMOUNT,
    col::LINE_PRICE,
    col::LINE_REQUIRES_SHIPPING,
    col::LINE_FULFILLMENT_STATUS,
];
// `Vendor` is a line's too, read with the others below.
const N: usize = COLUMNS.len() + 1;
const VENDOR_AT: usize = COLUMNS.len();

/// Order-level fields every row of one order must agree on where it fills them.
const AGREE: [&str; 6] = [
    col::ID,
    col::EMAIL,
    col::CREATED_AT,
    col::FINANCIAL_STATUS,
    col::CURRENCY,
    col::TOTAL,
];

/// Longest order name accepted (it becomes part of a table key).
pub const MAX_NAME_LEN: usize = 255;
/// Longest email address accepted (RFC 5321's limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// One order of the export, read whole.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportOrder {
    /// The physical line (1-based, the header is line 1) of the order's first row.
    pub line: u64,
    /// The order's name, e.g. `#1001`.
    pub name: String,
    /// The numeric order id (`Id`).
    pub id: u64,
    pub email: String,
    /// The customer's key as the library makes it from an address alone
    /// (`aftercart::model::customer_key(None, Some(email))`): the export has no
    /// customer id.
    pub customer_key: String,
    pub created_at: Timestamp,
    /// `Financial Status`, lower-cased: `paid`, `pending`, `refunded`, ….
    pub financial_status: String,
    pub paid_at: Option<Timestamp>,
    pub fulfillment_status: Option<String>,
    pub fulfilled_at: Option<Timestamp>,
    pub cancelled_at: Option<Timestamp>,
    pub accepts_marketing: bool,
    pub currency: Option<String>,
    pub subtotal: Option<Decimal>,
    pub shipping: Option<Decimal>,
    pub taxes: Option<Decimal>,
    pub total: Option<Decimal>,
    pub discount_code: Option<String>,
    pub discount_amount: Option<Decimal>,
    pub refunded_amount: Option<Decimal>,
    /// In the file's order.
    pub lines: Vec<ExportLine>,
}

/// One line item (one row) of an order.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportLine {
    /// The row's physical line in the file.
    pub line: u64,
    pub sku: Option<String>,
    pub name: String,
    pub quantity: u32,
    pub price: Option<Decimal>,
    pub requires_shipping: Option<bool>,
    pub fulfillment_status: Option<String>,
    pub vendor: Option<String>,
}

impl ExportOrder {
    /// Whether the payment was captured, as Shopify's webhooks say it
    /// (`Order::is_paid`): paid, partially paid, partially refunded or refunded.
    pub fn is_paid(&self) -> bool {
        matches!(
            self.financial_status.as_str(),
            "paid" | "partially_paid" | "partially_refunded" | "refunded"
        )
    }

    /// When it was paid: `Paid at`, else `Created at`; `None` if it is not paid.
    pub fn paid_time(&self) -> Option<Timestamp> {
        self.is_paid()
            .then(|| self.paid_at.unwrap_or(self.created_at))
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled_at.is_some()
    }

    /// The whole order was refunded (`Financial Status` `refunded`).
    pub fn fully_refunded(&self) -> bool {
        self.financial_status == "refunded"
    }
}

/// Why an order (or a row belonging to none) was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The physical line where the row at fault starts.
    pub line: u64,
    /// The order's name, when the row has one.
    pub order: Option<String>,
    pub reason: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.order {
            Some(name) => write!(f, "line {}: order {name}: {}", self.line, self.reason),
            None => write!(f, "line {}: {}", self.line, self.reason),
        }
    }
}

/// What a file held.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Export {
    /// Every order read whole, in the order of their first rows.
    pub orders: Vec<ExportOrder>,
    /// Every reason an order was skipped (an order may have several), by line.
    pub errors: Vec<RowError>,
    /// Data rows in the file (the header not counted).
    pub rows: usize,
}

impl Export {
    /// The names of the orders skipped for an error, each once, by first error.
    pub fn skipped_orders(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for name in self.errors.iter().filter_map(|e| e.order.as_deref()) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }
}

/// A file that is not an order export at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("the file is empty: expected Shopify's order export, with its header row")]
    Empty,
    #[error(
        "the header has no {} column{}: export the orders from Shopify (Orders → Export → CSV)",
        .0.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", "),
        if .0.len() > 1 { "s" } else { "" }
    )]
    MissingColumns(Vec<&'static str>),
    #[error("the header has the column `{0}` twice")]
    DuplicateColumn(&'static str),
    #[error("reading the file: {0}")]
    Read(String),
}

/// Reads Shopify's order export from `reader`: the orders read whole and the reasons
/// for each one skipped. Nothing in the input can make it panic.
pub fn parse<R: std::io::Read>(mut reader: R) -> Result<Export, FileError> {
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| FileError::Read(e.to_string()))?;
    parse_bytes(&bytes)
}

/// [`parse`] over the file's bytes.
pub fn parse_bytes(bytes: &[u8]) -> Result<Export, FileError> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    let header = csv
        .byte_headers()
        .map_err(|e| FileError::Read(e.to_string()))?
        .clone();
    if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
        return Err(FileError::Empty);
    }
    let columns = Columns::of(&header)?;
    let mut groups = Groups::default();
    let mut record = csv::ByteRecord::new();
    let mut export = Export::default();
    let mut lines = Lines::new(bytes);
    loop {
        match csv.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(FileError::Read(e.to_string())),
        }
        export.rows += 1;
        let line = lines.at(record.position().map_or(0, csv::Position::byte));
        groups.add(columns.row(&record, line, header.len()));
    }
    for group in groups.list {
        match group.build() {
            Ok(order) => export.orders.push(order),
            Err(mut errors) => export.errors.append(&mut errors),
        }
    }
    export.errors.append(&mut groups.orphans);
    refuse_shared_ids(&mut export);
    export.errors.sort_by_key(|e| e.line);
    Ok(export)
}

/// Physical line numbers of byte offsets, counted forward (the csv crate's own line
/// count runs short after CRLF endings). A line ends at `\n`, or at a `\r` not
/// followed by one.
struct Lines<'a> {
    bytes: &'a [u8],
    offset: usize,
    line: u64,
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Lines {
            bytes,
            offset: 0,
            line: 1,
        }
    }

    /// The line of the record that starts at byte `at` (the csv crate's position may
    /// point at the line ending before it, as the `\n` of a CRLF); never goes back.
    fn at(&mut self, at: u64) -> u64 {
        let mut end = usize::try_from(at)
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        while matches!(self.bytes.get(end), Some(b'\r' | b'\n')) {
            end += 1;
        }
        let from = self.offset.min(end);
        for (i, b) in self.bytes[from..end].iter().enumerate() {
            let ends = *b == b'\n' || (*b == b'\r' && self.bytes.get(from + i + 1) != Some(&b'\n'));
            if ends {
                self.line += 1;
            }
        }
        self.offset = self.offset.max(end);
        self.line
    }
}

/// Where each column read sits in a row.
struct Columns {
    at: [Option<usize>; N],
}

impl Columns {
    fn of(header: &csv::ByteRecord) -> Result<Columns, FileError> {
        let mut at = [None; N];
        for (i, raw) in header.iter().enumerate() {
            let name = String::from_utf8_lossy(raw);
            let name = name.trim_start_matches('\u{feff}').trim();
            let known = COLUMNS
                .iter()
                .chain(std::iter::once(&col::VENDOR))
                .position(|c| *c == name);
            if let Some(k) = known {
                if at[k].is_some() {
                    return Err(FileError::DuplicateColumn(column_name(k)));
                }
                at[k] = Some(i);
            }
        }
        let missing: Vec<&'static str> = REQUIRED
            .iter()
            .enumerate()
            .filter(|(k, _)| at[*k].is_none())
            .map(|(_, c)| *c)
            .collect();
        if !missing.is_empty() {
            return Err(FileError::MissingColumns(missing));
        }
        Ok(Columns { at })
    }

    /// The row's values, trimmed, and what is wrong with it as a whole: a field count
    /// other than the header's, or the first column read that is not UTF-8.
    fn row(&self, record: &csv::ByteRecord, line: u64, width: usize) -> Row {
        let mut values: [String; N] = Default::default();
        let mut problem = (record.len() != width).then(|| {
            format!(
                "the row has {} fields, the header {width}: is the file cut short or edited?",
                record.len()
            )
        });
        for (k, at) in self.at.iter().enumerate() {
            let Some(raw) = at.and_then(|i| record.get(i)) else {
                continue;
            };
            match std::str::from_utf8(raw) {
                Ok(v) => values[k] = v.trim().to_owned(),
                Err(_) => {
                    // The name still groups the row with its order.
                    values[k] = String::from_utf8_lossy(raw).trim().to_owned();
                    problem.get_or_insert_with(|| format!("{} is not UTF-8 text", column_name(k)));
                }
            }
        }
        Row {
            line,
            values,
            problem,
        }
    }
}

fn column_name(k: usize) -> &'static str {
    COLUMNS.get(k).copied().unwrap_or(col::VENDOR)
}

fn column_index(name: &str) -> usize {
    COLUMNS.iter().position(|c| *c == name).unwrap_or(VENDOR_AT)
}

/// One data row: its line and the values of the columns read (empty if absent).
struct Row {
    line: u64,
    values: [String; N],
    problem: Option<String>,
}

impl Row {
    fn get(&self, name: &str) -> &str {
        &self.values[column_index(name)]
    }

    fn opt(&self, name: &str) -> Option<&str> {
        Some(self.get(name)).filter(|v| !v.is_empty())
    }
}

/// Rows grouped by `Name`, in the order each name first appears. A name that comes
/// back after other orders' rows is the same order: its rows are merged.
#[derive(Default)]
struct Groups {
    list: Vec<Group>,
    by_name: HashMap<String, usize>,
    /// Rows without a name, which belong to no order.
    orphans: Vec<RowError>,
}

impl Groups {
    fn add(&mut self, row: Row) {
        let name = row.get(col::NAME).to_owned();
        if name.is_empty() {
            self.orphans.push(RowError {
                line: row.line,
                order: None,
                reason: "Name is empty: the row belongs to no order".into(),
            });
            return;
        }
        let i = *self.by_name.entry(name.clone()).or_insert_with(|| {
            self.list.push(Group {
                name,
                rows: Vec::new(),
            });
            self.list.len() - 1
        });
        self.list[i].rows.push(row);
    }
}

struct Group {
    name: String,
    rows: Vec<Row>,
}

impl Group {
    fn error(&self, line: u64, reason: String) -> RowError {
        RowError {
            line,
            order: Some(quoted_name(&self.name)),
            reason,
        }
    }

    /// The order, or every reason it cannot be read.
    fn build(&self) -> Result<ExportOrder, Vec<RowError>> {
        let mut errors: Vec<RowError> = self
            .rows
            .iter()
            .filter_map(|r| r.problem.clone().map(|p| self.error(r.line, p)))
            .collect();
        let first_line = self.rows.first().map_or(0, |r| r.line);
        if self.name.chars().count() > MAX_NAME_LEN {
            errors.push(self.error(
                first_line,
                format!("Name is longer than {MAX_NAME_LEN} characters"),
            ));
        }
        let fields = OrderFields::of(self, &mut errors);
        let lines: Vec<ExportLine> = self
            .rows
            .iter()
            .filter_map(|r| {
                line_of(r)
                    .map_err(|e| errors.push(self.error(r.line, e)))
                    .ok()
            })
            .collect();
        match fields {
            Some(f) if errors.is_empty() => Ok(f.into_order(self.name.clone(), first_line, lines)),
            _ => {
                errors.sort_by_key(|e| e.line);
                Err(errors)
            }
        }
    }

    /// The first non-empty value of `name` among the rows, with its line; a later row
    /// giving another value for a field in [`AGREE`] is an error.
    fn order_value(&self, name: &str, errors: &mut Vec<RowError>) -> Option<(&str, u64)> {
        let mut found: Option<(&str, u64)> = None;
        for row in &self.rows {
            let Some(v) = row.opt(name) else { continue };
            match found {
                None => found = Some((v, row.line)),
                Some((first, at)) if first != v && AGREE.contains(&name) => {
                    errors.push(self.error(
                        row.line,
                        format!(
                            "{name} {} differs from {} on line {at}: the rows of one order must agree",
                            quoted(v),
                            quoted(first)
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        found
    }
}

impl Group {
    /// The order-level field `name` read with `parse`; `None` when no row fills it or
    /// it does not read (the reason added to `errors`).
    fn optional<T>(
        &self,
        name: &str,
        errors: &mut Vec<RowError>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        let (v, line) = self.order_value(name, errors)?;
        parse(v)
            .map_err(|reason| errors.push(self.error(line, reason)))
            .ok()
    }

    /// As [`Group::optional`], for a field every order must fill.
    fn required<T>(
        &self,
        name: &str,
        errors: &mut Vec<RowError>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        if self.rows.iter().all(|r| r.opt(name).is_none()) {
            let line = self.rows.first().map_or(0, |r| r.line);
            errors.push(self.error(line, format!("{name} is empty on every row of the order")));
            return None;
        }
        self.optional(name, errors, parse)
    }
}

/// The order-level fields, checked.
struct OrderFields {
    id: u64,
    email: String,
    created_at: Timestamp,
    financial_status: String,
    paid_at: Option<Timestamp>,
    fulfillment_status: Option<String>,
    fulfilled_at: Option<Timestamp>,
    cancelled_at: Option<Timestamp>,
    accepts_marketing: bool,
    currency: Option<String>,
    subtotal: Option<Decimal>,
    shipping: Option<Decimal>,
    taxes: Option<Decimal>,
    total: Option<Decimal>,
    discount_code: Option<String>,
    discount_amount: Option<Decimal>,
    refunded_amount: Option<Decimal>,
}

impl OrderFields {
    /// Reads each field from the rows that fill it; `None` (with the reasons added to
    /// `errors`) if a required one is missing or any is unreadable.
    fn of(g: &Group, errors: &mut Vec<RowError>) -> Option<OrderFields> {
        let before = errors.len();
        let id = g.required(col::ID, errors, order_id);
        let email = g.required(col::EMAIL, errors, email);
        let created_at = g.required(col::CREATED_AT, errors, |v| time(col::CREATED_AT, v));
        let financial_status = g.required(col::FINANCIAL_STATUS, errors, |v| {
            status(col::FINANCIAL_STATUS, v)
        });
        let paid_at = g.optional(col::PAID_AT, errors, |v| time(col::PAID_AT, v));
        let fulfillment_status = g.optional(col::FULFILLMENT_STATUS, errors, |v| {
            status(col::FULFILLMENT_STATUS, v)
        });
        let fulfilled_at = g.optional(col::FULFILLED_AT, errors, |v| time(col::FULFILLED_AT, v));
        let cancelled_at = g.optional(col::CANCELLED_AT, errors, |v| time(col::CANCELLED_AT, v));
        let accepts_marketing = g.optional(col::ACCEPTS_MARKETING, errors, |v| {
            yes_no(col::ACCEPTS_MARKETING, v)
        });
        let currency = g.optional(col::CURRENCY, errors, currency);
        let mut amount = |name: &str| g.optional(name, errors, |v| money(name, v));
        let [subtotal, shipping, taxes, total, discount_amount, refunded_amount] = [
            col::SUBTOTAL,
            col::SHIPPING,
            col::TAXES,
            col::TOTAL,
            col::DISCOUNT_AMOUNT,
            col::REFUNDED_AMOUNT,
        ]
        .map(&mut amount);
        let discount_code = g.optional(col::DISCOUNT_CODE, errors, |v| Ok(v.to_owned()));
        if errors.len() > before {
            return None;
        }
        Some(OrderFields {
            id: id?,
            email: email?,
            created_at: created_at?,
            financial_status: financial_status?,
            paid_at,
            fulfillment_status,
            fulfilled_at,
            cancelled_at,
            accepts_marketing: accepts_marketing.unwrap_or(false),
            currency,
            subtotal,
            shipping,
            taxes,
            total,
            discount_code,
            discount_amount,
            refunded_amount,
        })
    }

    fn into_order(self, name: String, line: u64, lines: Vec<ExportLine>) -> ExportOrder {
        let customer_key =
            aftercart::model::customer_key(None, Some(&self.email)).unwrap_or_default();
        ExportOrder {
            line,
            name,
            id: self.id,
            customer_key,
            email: self.email,
            created_at: self.created_at,
            financial_status: self.financial_status,
            paid_at: self.paid_at,
            fulfillment_status: self.fulfillment_status,
            fulfilled_at: self.fulfilled_at,
            cancelled_at: self.cancelled_at,
            accepts_marketing: self.accepts_marketing,
            currency: self.currency,
            subtotal: self.subtotal,
            shipping: self.shipping,
            taxes: self.taxes,
            total: self.total,
            discount_code: self.discount_code,
            discount_amount: self.discount_amount,
            refunded_amount: self.refunded_amount,
            lines,
        }
    }
}

/// A row's line item.
fn line_of(r: &Row) -> Result<ExportLine, String> {
    let quantity = match r.opt(col::LINE_QUANTITY) {
        None => return Err(format!("{} is empty", col::LINE_QUANTITY)),
        Some(q) => quantity(q)?,
    };
    Ok(ExportLine {
        line: r.line,
        sku: r.opt(col::LINE_SKU).map(str::to_owned),
        name: r.get(col::LINE_NAME).to_owned(),
        quantity,
        price: r
            .opt(col::LINE_PRICE)
            .map(|v| money(col::LINE_PRICE, v))
            .transpose()?,
        requires_shipping: r
            .opt(col::LINE_REQUIRES_SHIPPING)
            .map(|v| yes_no(col::LINE_REQUIRES_SHIPPING, v))
            .transpose()?,
        fulfillment_status: r
            .opt(col::LINE_FULFILLMENT_STATUS)
            .map(|v| status(col::LINE_FULFILLMENT_STATUS, v))
            .transpose()?,
        vendor: r.opt(col::VENDOR).map(str::to_owned),
    })
}

/// Orders of different names with one `Id` are both skipped: which one it is cannot
/// be told, and recording both would merge them into one order.
fn refuse_shared_ids(export: &mut Export) {
    let mut by_id: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, o) in export.orders.iter().enumerate() {
        by_id.entry(o.id).or_default().push(i);
    }
    let mut shared: Vec<usize> = by_id
        .into_values()
        .filter(|v| v.len() > 1)
        .flatten()
        .collect();
    if shared.is_empty() {
        return;
    }
    shared.sort_unstable();
    for &i in shared.iter().rev() {
        let o = export.orders.remove(i);
        export.errors.push(RowError {
            line: o.line,
            order: Some(quoted_name(&o.name)),
            reason: format!("Id {} is the Id of another order in the file too", o.id),
        });
    }
}

/// A value as an error message quotes it: in quotes, at most 40 characters.
fn quoted(v: &str) -> String {
    const MAX: usize = 40;
    if v.chars().count() <= MAX {
        format!("{v:?}")
    } else {
        let cut: String = v.chars().take(MAX).collect();
        format!("{cut:?}…")
    }
}

/// An order's name as messages show it (cut short if very long).
fn quoted_name(name: &str) -> String {
    const MAX: usize = 40;
    if name.chars().count() <= MAX {
        name.to_owned()
    } else {
        format!("{}…", name.chars().take(MAX).collect::<String>())
    }
}

fn order_id(v: &str) -> Result<u64, String> {
    let canonical =
        !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) && (v == "0" || !v.starts_with('0'));
    canonical
        .then(|| v.parse().ok())
        .flatten()
        .ok_or_else(|| format!("Id {} is not an order id (a whole number)", quoted(v)))
}

fn email(v: &str) -> Result<String, String> {
    let valid = v.len() <= MAX_EMAIL_LEN
        && !v.chars().any(char::is_whitespace)
        && v.split_once('@')
            .is_some_and(|(a, d)| !a.is_empty() && !d.is_empty());
    if valid {
        Ok(v.to_owned())
    } else {
        Err(format!("Email {} is not an email address", quoted(v)))
    }
}

/// A time as the export writes it (`2024-03-05 14:07:31 +0100`), or RFC 3339, inside
/// the window the webhook accepts (1970–9999 in UTC).
pub fn time(name: &str, v: &str) -> Result<Timestamp, String> {
    let t = chrono::DateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S %z")
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(v))
        .map_err(|_| {
            format!(
                "{name} {} is not a time such as 2024-03-05 14:07:31 +0100",
                quoted(v)
            )
        })?;
    check_time(&t).map_err(|_| format!("{name} {} is outside 1970–9999", quoted(v)))?;
    Ok(t)
}

/// A status word (`paid`, `partially_refunded`), lower-cased.
fn status(name: &str, v: &str) -> Result<String, String> {
    let s = v.to_ascii_lowercase().replace(' ', "_");
    let valid = s.len() <= 64 && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if valid {
        Ok(s)
    } else {
        Err(format!("{name} {} is not a status such as paid", quoted(v)))
    }
}

fn yes_no(name: &str, v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" => Ok(true),
        "no" | "false" => Ok(false),
        _ => Err(format!("{name} {} is not yes or no", quoted(v))),
    }
}

fn currency(v: &str) -> Result<String, String> {
    if v.len() == 3 && v.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(v.to_ascii_uppercase())
    } else {
        Err(format!(
            "Currency {} is not a currency code such as EUR",
            quoted(v)
        ))
    }
}

fn quantity(v: &str) -> Result<u32, String> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{} {} is not a whole number",
            col::LINE_QUANTITY,
            quoted(v)
        ));
    }
    v.parse::<u32>()
        .ok()
        .filter(|q| *q <= MAX_QUANTITY)
        .ok_or_else(|| {
            format!(
                "{} {} is more than {MAX_QUANTITY}",
                col::LINE_QUANTITY,
                quoted(v)
            )
        })
}

/// An amount in plain decimal notation (`12.50`, `-3.00`), exact, within the
/// webhook's bound.
fn money(name: &str, v: &str) -> Result<Decimal, String> {
    let amount = plain_decimal(v)
        .ok_or_else(|| format!("{name} {} is not an amount such as 12.50", quoted(v)))?;
    if amount.abs() > MAX_MONEY {
        return Err(format!("{name} {} is too large an amount", quoted(v)));
    }
    Ok(amount)
}

/// The webhook bodies that record one exported order.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderBodies {
    /// `orders/paid` for a paid order, else `orders/create` (an unpaid order must not
    /// be recorded as paid).
    pub topic: Topic,
    pub order: Vec<u8>,
    /// For a refunded order, a `refunds/create` body refunding every unit of every line.
    pub refund: Option<Vec<u8>>,
    /// The lines (`line`, `sku`) no `[[shop.product]]` rule matches by SKU.
    pub unmatched: Vec<(u64, Option<String>)>,
}

/// `order` as Shopify's order webhook would carry it: no customer object (the export
/// has no customer id), line item ids 1, 2, … in the file's order (the export has
/// none), each line's `product_id` taken from the shop's product rule its SKU matches.
/// `updated_at` is the paid time for a paid order (the library records a payment at
/// the order's version), else `Created at`.
pub fn webhook_bodies(order: &ExportOrder, rules: &ShopConfig) -> OrderBodies {
    let LineBodies {
        line_items,
        refund_lines,
        unmatched,
    } = line_bodies(order, rules);
    let money = |d: Option<Decimal>| d.map(|d| d.to_string());
    let discount_codes: Vec<Value> = order
        .discount_code
        .iter()
        .map(|code| json!({ "code": code, "amount": money(order.discount_amount) }))
        .collect();
    let paid = order.paid_time();
    let body = json!({
        "id": order.id,
        "name": order.name,
        "email": order.email,
        "created_at": order.created_at.to_rfc3339(),
        "updated_at": paid.unwrap_or(order.created_at).to_rfc3339(),
        "cancelled_at": order.cancelled_at.map(|t| t.to_rfc3339()),
        "currency": order.currency,
        "total_price": money(order.total),
        "subtotal_price": money(order.subtotal),
        "total_discounts": money(order.discount_amount),
        "financial_status": order.financial_status,
        "fulfillment_status": order.fulfillment_status,
        "test": false,
        "buyer_accepts_marketing": order.accepts_marketing,
        "discount_codes": discount_codes,
        "note_attributes": [],
        "line_items": line_items,
    });
    let refund = order.fully_refunded().then(|| {
        json!({
            "id": order.id,
            "order_id": order.id,
            "created_at": refund_time(order).to_rfc3339(),
            "restock": false,
            "refund_line_items": refund_lines,
        })
        .to_string()
        .into_bytes()
    });
    OrderBodies {
        topic: if paid.is_some() {
            Topic::OrdersPaid
        } else {
            Topic::OrdersCreate
        },
        order: body.to_string().into_bytes(),
        refund,
        unmatched,
    }
}

/// An order's `line_items`, the `refund_line_items` refunding all of them, and the
/// lines no product rule matches.
struct LineBodies {
    line_items: Vec<Value>,
    refund_lines: Vec<Value>,
    unmatched: Vec<(u64, Option<String>)>,
}

fn line_bodies(order: &ExportOrder, rules: &ShopConfig) -> LineBodies {
    let mut out = LineBodies {
        line_items: Vec::new(),
        refund_lines: Vec::new(),
        unmatched: Vec::new(),
    };
    for (i, l) in order.lines.iter().enumerate() {
        let line_id = i as u64 + 1;
        let product_id = match rules.product(None, l.sku.as_deref()) {
            Some(rule) => rule.product_id,
            None => {
                out.unmatched.push((l.line, l.sku.clone()));
                None
            }
        };
        out.line_items.push(json!({
            "id": line_id,
            "product_id": product_id,
            "sku": l.sku,
            "title": l.name,
            "quantity": l.quantity,
            "price": l.price.map(|p| p.to_string()),
            "gift_card": false,
        }));
        out.refund_lines.push(json!({
            "line_item_id": line_id,
            "quantity": l.quantity,
            "line_item": { "id": line_id, "product_id": product_id, "quantity": l.quantity },
        }));
    }
    out
}

/// The export has no refund time: the latest time it gives for the order.
fn refund_time(order: &ExportOrder) -> Timestamp {
    [order.paid_at, order.fulfilled_at, order.cancelled_at]
        .into_iter()
        .flatten()
        .fold(order.created_at, |a, b| a.max(b))
}

#[cfg(test)]
#[path = "orders_csv_tests.rs"]
mod tests;

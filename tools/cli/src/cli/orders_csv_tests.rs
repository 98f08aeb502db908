use super::*;
use aftercart::config::Config;
use aftercart::wire::shopify::{parse_delivery, Event};

const EXPORT: &[u8] = include_bytes!("../../tests/fixtures/shopify_orders_export.csv");

/// The columns of a small export, in Shopify's order.
const HEADER: &str = "Name,Email,Financial Status,Paid at,Accepts Marketing,Currency,Total,\
                      Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku,\
                      Billing Street,Cancelled at,Id";

fn parse_str(text: &str) -> Result<Export, FileError> {
    parse(text.as_bytes())
}

fn ok(text: &str) -> Export {
    parse_str(text).expect("the file reads")
}

fn config() -> Config {
    Config::parse(
        "[links]\nbase_url = \"https://links.example.test\"\n\
         [[shop]]\ndomain = \"roasters.myshopify.com\"\nname = \"Roasters\"\n\
         postal_address = \"1 Test Street\"\nsender_email = \"hello@roasters.example\"\n\
         [[shop.product]]\nsku = \"BEANS-1KG\"\nproduct_id = 111\nconsumption_days = 30\n\
         [[shop.product]]\nsku = \"GRINDER-01\"\n",
        "test",
    )
    .expect("test config")
}

fn order<'a>(export: &'a Export, name: &str) -> &'a ExportOrder {
    export
        .orders
        .iter()
        .find(|o| o.name == name)
        .unwrap_or_else(|| panic!("no order {name}: {export:#?}"))
}

fn reasons(export: &Export) -> Vec<String> {
    export.errors.iter().map(ToString::to_string).collect()
}

#[test]
fn a_real_shaped_export_reads_every_order_with_its_lines() {
    let export = parse(EXPORT).expect("reads");
    assert!(export.errors.is_empty(), "{:?}", reasons(&export));
    assert_eq!(export.rows, 8);
    let names: Vec<&str> = export.orders.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(
        names,
        ["#1006", "#1005", "#1004", "#1003", "#1002", "#1001"]
    );

    let o = order(&export, "#1001");
    assert_eq!((o.line, o.id), (11, 5_001_000_001));
    assert_eq!(o.email, "alice@example.com");
    assert_eq!(o.created_at.to_rfc3339(), "2024-03-05T14:07:31+01:00");
    assert_eq!(
        o.paid_time().map(|t| t.to_rfc3339()).as_deref(),
        Some("2024-03-05T14:07:35+01:00")
    );
    assert!(o.accepts_marketing);
    assert_eq!(o.currency.as_deref(), Some("EUR"));
    assert_eq!(o.total, Some(Decimal::new(6090, 2)));
    let lines: Vec<(u64, Option<&str>, u32)> = o
        .lines
        .iter()
        .map(|l| (l.line, l.sku.as_deref(), l.quantity))
        .collect();
    assert_eq!(
        lines,
        [(11, Some("BEANS-1KG"), 2), (12, Some("GRINDER-01"), 1)]
    );
    assert_eq!(o.lines[1].name, "Hand grinder, steel");
}

#[test]
fn quoted_commas_quotes_and_newlines_stay_inside_their_field() {
    let export = parse(EXPORT).expect("reads");
    let o = order(&export, "#1002");
    // The first row's name and billing street span lines 6 to 9.
    assert_eq!(o.line, 6);
    assert_eq!(o.lines[0].name, "Gift box\nwith a hand-written card");
    assert_eq!(o.lines[1].name, "Mug \"Classic\", 350 ml");
    assert_eq!(
        o.lines[1].line, 10,
        "the physical line where the row starts"
    );
    assert_eq!(o.created_at.to_rfc3339(), "2024-04-02T09:00:00-04:00");
}

#[test]
fn the_statuses_say_paid_cancelled_and_refunded() {
    let export = parse(EXPORT).expect("reads");
    let voided = order(&export, "#1006");
    assert!(!voided.is_paid() && voided.is_cancelled());
    assert!(order(&export, "#1005").paid_time().is_none());
    let refunded = order(&export, "#1004");
    assert!(refunded.is_paid() && refunded.fully_refunded());
    let partial = order(&export, "#1003");
    assert!(partial.is_paid() && !partial.fully_refunded());
    assert_eq!(partial.refunded_amount, Some(Decimal::new(1800, 2)));
    assert_eq!(partial.discount_code.as_deref(), Some("SPRING10"));
    // Keyed by the address alone, whatever its case.
    assert_eq!(
        partial.customer_key,
        order(&export, "#1001").customer_key,
        "Alice@Example.com and alice@example.com are one customer"
    );
}

#[test]
fn lf_endings_no_bom_and_columns_in_another_order_read_the_same() {
    let text = "Id,Lineitem sku,Lineitem quantity,Lineitem name,Created at,Financial Status,Email,Name,Unknown\n\
                7,BEANS-1KG,2,Beans,2024-03-05 14:07:31 +0100,paid,a@example.com,#7,whatever\n\
                ,GRINDER-01,1,Grinder,,,a@example.com,#7,\n";
    let export = ok(text);
    assert!(export.errors.is_empty(), "{:?}", reasons(&export));
    let o = order(&export, "#7");
    assert_eq!((o.id, o.lines.len(), o.lines[1].quantity), (7, 2, 1));
    assert_eq!(
        o.paid_time(),
        Some(o.created_at),
        "no Paid at: paid when created"
    );
}

#[test]
fn headers_are_matched_trimmed() {
    let text = "\u{feff} Name , Id ,Email,Created at,Financial Status,Lineitem quantity,Lineitem sku,Lineitem name\r\n\
                #1,1,a@example.com,2024-01-01 00:00:00 +0000,paid,1,X,Thing\r\n";
    let export = ok(text);
    assert_eq!(export.orders.len(), 1, "{:?}", reasons(&export));
}

#[test]
fn a_missing_required_column_is_one_error_naming_it() {
    let text = "Name,Email,Created at,Financial Status,Lineitem quantity,Lineitem name\n#1,a@example.com,x,paid,1,T\n";
    let err = parse_str(text).expect_err("refused");
    assert_eq!(err, FileError::MissingColumns(vec!["Id", "Lineitem sku"]));
    let message = err.to_string();
    assert!(
        message.contains("`Id`") && message.contains("`Lineitem sku`"),
        "{message}"
    );
}

#[test]
fn a_column_given_twice_is_refused() {
    let text = format!("{HEADER},Email\n");
    assert_eq!(
        parse_str(&text).expect_err("refused"),
        FileError::DuplicateColumn("Email")
    );
}

#[test]
fn an_empty_file_is_refused_and_a_header_alone_has_no_orders() {
    assert_eq!(parse_str("").expect_err("empty"), FileError::Empty);
    assert_eq!(parse_str("\u{feff}").expect_err("empty"), FileError::Empty);
    assert_eq!(parse_str("\r\n\r\n").expect_err("empty"), FileError::Empty);
    let export = ok(&format!("{HEADER}\r\n"));
    assert_eq!(export, Export::default());
}

#[test]
fn a_bad_quantity_skips_its_order_with_the_line_and_the_reason() {
    let text = format!(
        "{HEADER}\n\
         #1,a@example.com,paid,,no,EUR,10.00,2024-01-01 10:00:00 +0000,1,Beans,10.00,BEANS-1KG,,,1\n\
         #2,b@example.com,paid,,no,EUR,10.00,2024-01-02 10:00:00 +0000,abc,Beans,10.00,BEANS-1KG,,,2\n"
    );
    let export = ok(&text);
    assert_eq!(export.orders.len(), 1);
    assert_eq!(
        reasons(&export),
        ["line 3: order #2: Lineitem quantity \"abc\" is not a whole number"]
    );
    assert_eq!(export.skipped_orders(), ["#2"]);
}

#[test]
fn bad_dates_ids_amounts_and_addresses_are_named() {
    let text = format!(
        "{HEADER}\n\
         #1,a@example.com,paid,,no,EUR,10.00,05/03/2024,1,Beans,,X,,,1\n\
         #2,b@example.com,paid,,no,EUR,ten,2024-01-02 10:00:00 +0000,1,Beans,,X,,,2\n\
         #3,not-an-address,paid,,maybe,EUR,10.00,2024-01-02 10:00:00 +0000,-1,Beans,,X,,,03\n\
         #4,d@example.com,paid,,no,EUR,10.00,9999-12-31 23:59:59 -2359,2000000,Beans,,X,,,4\n"
    );
    let export = ok(&text);
    assert!(export.orders.is_empty());
    assert_eq!(
        reasons(&export),
        [
            "line 2: order #1: Created at \"05/03/2024\" is not a time such as 2024-03-05 14:07:31 +0100",
            "line 3: order #2: Total \"ten\" is not an amount such as 12.50",
            "line 4: order #3: Id \"03\" is not an order id (a whole number)",
            "line 4: order #3: Email \"not-an-address\" is not an email address",
            "line 4: order #3: Accepts Marketing \"maybe\" is not yes or no",
            "line 4: order #3: Lineitem quantity \"-1\" is not a whole number",
            "line 5: order #4: Created at \"9999-12-31 23:59:59 -2359\" is outside 1970–9999",
            "line 5: order #4: Lineitem quantity \"2000000\" is more than 1000000",
        ]
    );
}

#[test]
fn an_order_whose_later_row_is_bad_is_skipped_whole() {
    let text = format!(
        "{HEADER}\r\n\
         #1,a@example.com,paid,,no,EUR,30.00,2024-01-01 10:00:00 +0000,1,Beans,10.00,BEANS-1KG,\"1 Main St,\r\nFlat 2\",,1\r\n\
         #1,a@example.com,,,,,,,1,Grinder,20.00,GRINDER-01,,,\r\n\
         #1,a@example.com,,,,,,,x2,Mug,,MUG,,,\r\n\
         #2,b@example.com,paid,,no,EUR,10.00,2024-01-02 10:00:00 +0000,1,Beans,10.00,BEANS-1KG,,,2\r\n"
    );
    let export = ok(&text);
    let names: Vec<&str> = export.orders.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["#2"], "nothing of #1 is kept");
    assert_eq!(
        reasons(&export),
        ["line 5: order #1: Lineitem quantity \"x2\" is not a whole number"]
    );
}

#[test]
fn a_name_that_comes_back_later_is_merged_into_its_order() {
    let text = format!(
        "{HEADER}\n\
         #1,a@example.com,paid,,no,EUR,30.00,2024-01-01 10:00:00 +0000,1,Beans,10.00,BEANS-1KG,,,1\n\
         #2,b@example.com,paid,,no,EUR,10.00,2024-01-02 10:00:00 +0000,1,Beans,10.00,BEANS-1KG,,,2\n\
         #1,a@example.com,,,,,,,2,Grinder,10.00,GRINDER-01,,,\n"
    );
    let export = ok(&text);
    assert!(export.errors.is_empty(), "{:?}", reasons(&export));
    let lines: Vec<u64> = order(&export, "#1").lines.iter().map(|l| l.line).collect();
    assert_eq!(lines, [2, 4]);
}

#[test]
fn rows_of_one_order_that_disagree_skip_it() {
    let text = format!(
        "{HEADER}\n\
         #1,a@example.com,paid,,no,EUR,30.00,2024-01-01 10:00:00 +0000,1,Beans,10.00,BEANS-1KG,,,1\n\
         #1,someone@else.example,,,,,,,2,Grinder,10.00,GRINDER-01,,,9\n"
    );
    let export = ok(&text);
    assert!(export.orders.is_empty());
    assert_eq!(
        reasons(&export),
        [
            "line 3: order #1: Id \"9\" differs from \"1\" on line 2: the rows of one order must agree",
            "line 3: order #1: Email \"someone@else.example\" differs from \"a@example.com\" on line 2: the rows of one order must agree",
        ]
    );
}

#[test]
fn missing_order_fields_one_id_for_two_names_and_rows_without_a_name() {
    let text = format!(
        "{HEADER}\n\
         #1,a@example.com,,,no,EUR,30.00,,1,Beans,10.00,BEANS-1KG,,,1\n\
         #2,b@example.com,paid,,no,EUR,10.00,2024-01-02 10:00:00 +0000,1,Beans,10.00,BEANS-1KG,,,7\n\
         #3,c@example.com,paid,,no,EUR,10.00,2024-01-03 10:00:00 +0000,1,Beans,10.00,BEANS-1KG,,,7\n\
         ,c@example.com,,,,,,,1,Beans,,X,,,\n\
         #4,d@example.com,paid,,no,EUR,10.00,2024-01-03 10:00:00 +0000,1\n"
    );
    let export = ok(&text);
    assert!(export.orders.is_empty(), "{:?}", export.orders);
    assert_eq!(
        reasons(&export),
        [
            "line 2: order #1: Created at is empty on every row of the order",
            "line 2: order #1: Financial Status is empty on every row of the order",
            "line 3: order #2: Id 7 is the Id of another order in the file too",
            "line 4: order #3: Id 7 is the Id of another order in the file too",
            "line 5: Name is empty: the row belongs to no order",
            "line 6: order #4: the row has 9 fields, the header 15: is the file cut short or edited?",
            "line 6: order #4: Id is empty on every row of the order",
        ]
    );
}

#[test]
fn text_that_is_not_utf8_skips_its_order() {
    let mut bytes = format!("{HEADER}\n").into_bytes();
    bytes.extend_from_slice(
        b"#1,a@example.com,paid,,no,EUR,10.00,2024-01-01 10:00:00 +0000,1,Caf\xe9,,X,,,1\n",
    );
    let export = parse(&bytes[..]).expect("reads");
    assert_eq!(
        reasons(&export),
        ["line 2: order #1: Lineitem name is not UTF-8 text"]
    );
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let alphabet = b"#,\"\r\n abc019.:-+@\xef\xbb\xbf\xff";
    for _ in 0..2000 {
        let len = (seed % 200) as usize;
        let mut bytes = HEADER.as_bytes().to_vec();
        bytes.push(b'\n');
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            bytes.push(alphabet[(seed % alphabet.len() as u64) as usize]);
        }
        if let Ok(export) = parse(&bytes[..]) {
            for o in &export.orders {
                let _ = webhook_bodies(o, &config().shops[0]);
            }
        }
    }
}

#[test]
fn bodies_pass_the_webhooks_own_parser_with_products_matched_by_sku() {
    let config = config();
    let shop = &config.shops[0];
    let export = parse(EXPORT).expect("reads");
    let o = order(&export, "#1001");
    let bodies = webhook_bodies(o, shop);
    assert_eq!(bodies.topic, Topic::OrdersPaid);
    assert!(bodies.refund.is_none());
    assert!(bodies.unmatched.is_empty(), "{:?}", bodies.unmatched);
    let Event::Order(_, parsed) =
        parse_delivery(bodies.topic, &shop.domain, &bodies.order).expect("a valid order body")
    else {
        panic!("not an order");
    };
    assert_eq!((parsed.id, parsed.name.as_deref()), (o.id, Some("#1001")));
    assert!(parsed.customer.is_none(), "the export has no customer id");
    assert_eq!(parsed.recipient_email(), Some("alice@example.com"));
    assert_eq!(parsed.version_time(), o.paid_at.expect("paid at"));
    let lines: Vec<(u64, Option<u64>, u32)> = parsed
        .line_items
        .iter()
        .map(|l| (l.id, l.product_id, l.quantity))
        .collect();
    // The grinder's rule has no product id: matched, but no id to give.
    assert_eq!(lines, [(1, Some(111), 2), (2, None, 1)]);
    assert_eq!(parsed.total_price, Some(Decimal::new(6090, 2)));
}

#[test]
fn an_unpaid_order_is_not_sent_as_paid_and_a_refunded_one_gets_a_full_refund() {
    let config = config();
    let shop = &config.shops[0];
    let export = parse(EXPORT).expect("reads");
    let pending = webhook_bodies(order(&export, "#1005"), shop);
    assert_eq!(pending.topic, Topic::OrdersCreate);
    assert_eq!(pending.unmatched, [(3, Some("FILTER-100".to_owned()))]);

    let cancelled = webhook_bodies(order(&export, "#1006"), shop);
    let Event::Order(_, o) =
        parse_delivery(cancelled.topic, &shop.domain, &cancelled.order).expect("valid")
    else {
        panic!("not an order");
    };
    assert!(o.cancelled_at.is_some() && !o.is_paid());

    let refunded = webhook_bodies(order(&export, "#1004"), shop);
    let body = refunded.refund.expect("a refund body");
    let Event::Refund(r) =
        parse_delivery(Topic::RefundsCreate, &shop.domain, &body).expect("valid")
    else {
        panic!("not a refund");
    };
    assert_eq!((r.id, r.order_id), (5_001_000_004, 5_001_000_004));
    let units: Vec<(u64, u32)> = r
        .refund_line_items
        .iter()
        .map(|l| (l.line_item_id, l.quantity))
        .collect();
    assert_eq!(units, [(1, 2)]);
    // No refund time in the export: the latest time it gives (fulfilled at).
    assert_eq!(
        r.created_at.map(|t| t.to_rfc3339()).as_deref(),
        Some("2024-05-16T09:00:00+02:00")
    );
    // Partially refunded: the export does not say which units; none are refunded.
    assert!(webhook_bodies(order(&export, "#1003"), shop)
        .refund
        .is_none());
}

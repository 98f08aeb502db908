use super::*;
use crate::domain::mail_events::*;
use crate::model::{email_hash, Playbook};
use crate::wire::ses::*;
use serde_json::json;
use std::sync::Mutex;

const BOB: &str = "bob.norman@hostmail.com";

fn payload(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("fixture is JSON")
}

/// The one event of a fixture.
fn event_of(bytes: &[u8]) -> SesEvent {
    let mut all = parse_payload(&payload(bytes)).expect("known shape");
    assert_eq!(all.len(), 1);
    all.remove(0).event.expect("event parses")
}

fn tracked(bytes: &[u8]) -> TrackedEvent {
    match event_of(bytes) {
        SesEvent::Tracked(e) => *e,
        other => panic!("not tracked: {other:?}"),
    }
}

fn plan_of(bytes: &[u8]) -> Plan {
    plan(&tracked(bytes)).expect("plans")
}

/// The SES event inside an SNS fixture, as a JSON object.
fn ses_inside(sns: &[u8]) -> Value {
    let p = payload(sns);
    serde_json::from_str(p["Records"][0]["Sns"]["Message"].as_str().unwrap()).unwrap()
}

fn as_sns(ses: &Value) -> Value {
    json!({"Records": [{"EventSource": "aws:sns", "Sns": {
        "Type": "Notification", "MessageId": "m-1", "Message": ses.to_string()}}]})
}

fn as_eventbridge(ses: &Value, detail_type: &str) -> Value {
    json!({"version": "0", "id": "e-1", "detail-type": detail_type, "source": "aws.ses",
           "detail": ses})
}

fn only_error(p: &Value) -> EventError {
    let mut all = parse_payload(p).expect("known shape");
    all.remove(0).event.expect_err("must not parse")
}

const THANKS: &str = "thank_you#450789469#0";

#[test]
fn every_fixture_parses_and_names_its_shop_and_follow_up() {
    for (name, bytes) in fixtures::ALL {
        let incoming = parse_payload(&payload(bytes)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(incoming.len(), 1, "{name}");
        let i = &incoming[0];
        let want = if name.starts_with("sns") {
            Source::Sns
        } else {
            Source::EventBridge
        };
        assert_eq!(i.source, want, "{name}");
        assert!(!i.delivery_id.is_empty(), "{name}");
        match i.event.clone().unwrap_or_else(|e| panic!("{name}: {e}")) {
            SesEvent::Ignored(t) => assert_eq!((name, t), ("sns_send", EventType::Send)),
            SesEvent::Tracked(e) => {
                let p = plan(&e).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(p.shop, "aftercart-demo.myshopify.com", "{name}");
                let f = p.followup.as_ref().expect(name);
                assert_eq!(
                    (f.customer_key.as_str(), f.id.as_str()),
                    ("207119551", THANKS)
                );
                assert!(p.notes.is_empty(), "{name}: {:?}", p.notes);
                assert!(p.tracking.is_some(), "{name}");
            }
        }
    }
}

#[test]
fn permanent_bounce_suppresses_the_address_and_marks_the_follow_up() {
    for bytes in [
        fixtures::SNS_BOUNCE_PERMANENT,
        fixtures::EB_BOUNCE_PERMANENT,
    ] {
        let p = plan_of(bytes);
        assert_eq!(p.suppress, vec![(email_hash(BOB), SuppressReason::Bounced)]);
        assert!(p.transient.is_empty());
        assert!(matches!(
            p.tracking,
            Some(TrackingUpdate::PermanentBounce { .. })
        ));
    }
    let p = plan_of(fixtures::SNS_BOUNCE_PERMANENT);
    assert_eq!(
        p.tracking,
        Some(TrackingUpdate::PermanentBounce {
            at: "2026-11-22T09:00:31.904Z".into()
        })
    );
    assert_eq!(p.at, "2026-11-22T09:00:31.904Z");
    assert_eq!(p.event_type, EventType::Bounce);
}

#[test]
fn complaint_suppresses_as_complained() {
    for bytes in [fixtures::SNS_COMPLAINT, fixtures::EB_COMPLAINT] {
        let p = plan_of(bytes);
        assert_eq!(
            p.suppress,
            vec![(email_hash(BOB), SuppressReason::Complained)]
        );
        assert!(matches!(
            p.tracking,
            Some(TrackingUpdate::Complained { .. })
        ));
    }
}

#[test]
fn transient_and_undetermined_bounces_count_and_never_suppress() {
    for bytes in [
        fixtures::SNS_BOUNCE_TRANSIENT,
        fixtures::EB_BOUNCE_TRANSIENT,
    ] {
        let p = plan_of(bytes);
        assert!(p.suppress.is_empty());
        assert_eq!(p.transient, vec![email_hash(BOB)]);
        assert!(matches!(
            p.tracking,
            Some(TrackingUpdate::TransientBounce { .. })
        ));
    }
    let mut ses = ses_inside(fixtures::SNS_BOUNCE_TRANSIENT);
    ses["bounce"]["bounceType"] = "Undetermined".into();
    let SesEvent::Tracked(e) = parse_ses_event(&ses).unwrap() else {
        panic!("tracked")
    };
    let p = plan(&e).unwrap();
    assert!(p.suppress.is_empty());
    assert_eq!(p.transient.len(), 1);
}

#[test]
fn delivery_open_and_click_update_tracking_only() {
    let cases: [(&[u8], TrackingUpdate); 6] = [
        (
            fixtures::SNS_DELIVERY,
            TrackingUpdate::Delivered {
                at: "2026-11-22T09:00:32.000Z".into(),
            },
        ),
        (
            fixtures::EB_DELIVERY,
            TrackingUpdate::Delivered {
                at: "2026-11-22T09:00:31.700Z".into(),
            },
        ),
        (
            fixtures::SNS_OPEN,
            TrackingUpdate::Opened {
                at: "2026-11-22T09:14:03.778Z".into(),
            },
        ),
        (
            fixtures::EB_OPEN,
            TrackingUpdate::Opened {
                at: "2026-11-22T18:27:40.015Z".into(),
            },
        ),
        (
            fixtures::SNS_CLICK,
            TrackingUpdate::Clicked {
                at: "2026-11-22T09:14:20.413Z".into(),
            },
        ),
        (
            fixtures::EB_CLICK,
            TrackingUpdate::Clicked {
                at: "2026-11-22T18:28:02.561Z".into(),
            },
        ),
    ];
    for (bytes, want) in cases {
        let p = plan_of(bytes);
        assert_eq!(p.tracking, Some(want));
        assert!(p.suppress.is_empty() && p.transient.is_empty());
    }
}

#[test]
fn the_same_ses_event_has_one_id_whatever_the_route() {
    let ses = ses_inside(fixtures::SNS_BOUNCE_PERMANENT);
    let by_sns = tracked(fixtures::SNS_BOUNCE_PERMANENT);
    let by_eb = match parse_payload(&as_eventbridge(&ses, "Email Bounced")).unwrap()[0]
        .event
        .clone()
        .unwrap()
    {
        SesEvent::Tracked(e) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(by_sns.event_id, by_eb.event_id);
    assert_eq!(by_sns.event_id.len(), 32);
    // Distinct events of the same message have distinct ids.
    let ids: std::collections::HashSet<String> = fixtures::ALL
        .iter()
        .filter_map(|(_, b)| match event_of(b) {
            SesEvent::Tracked(e) => Some(e.event_id),
            SesEvent::Ignored(_) => None,
        })
        .collect();
    assert_eq!(ids.len(), 12);
}

#[test]
fn followup_ids_are_rebuilt_from_the_right() {
    assert_eq!(
        followup_from_tag("thank_you_450789469_0").unwrap(),
        (Playbook::ThankYou, 450789469, 0)
    );
    assert_eq!(
        followup_from_tag("replenishment_18446744073709551615_632910392").unwrap(),
        (Playbook::Replenishment, u64::MAX, 632910392)
    );
    let tags = |f: &str| Tags {
        shop: Some("s.myshopify.com".into()),
        playbook: None,
        followup: Some(f.into()),
        customer: Some("guest-5ff860bf1190596c7188ab851db691f0".into()),
    };
    assert_eq!(
        followup_ref(&tags("replenishment_1001_632910392"))
            .unwrap()
            .unwrap()
            .id,
        "replenishment#1001#632910392"
    );
    for (bad, problem) in [
        ("thank_you_x_0", "order id is not a number"),
        ("thank_you_1_-2", "product id is not a number"),
        ("refund_1_0", "unknown playbook"),
        ("1_0", "expected {playbook}_{order id}_{product id}"),
        ("thank_you", "expected {playbook}_{order id}_{product id}"),
        (
            "thank_you_1_99999999999999999999",
            "product id is not a number",
        ),
    ] {
        assert_eq!(
            followup_from_tag(bad),
            Err(EventError::BadTag {
                tag: "followup",
                problem
            }),
            "{bad}"
        );
    }
}

#[test]
fn a_bad_follow_up_tag_still_suppresses_the_address() {
    let mut ses = ses_inside(fixtures::SNS_BOUNCE_PERMANENT);
    ses["mail"]["tags"]["followup"] = json!(["thank_you_oops_0"]);
    let SesEvent::Tracked(e) = parse_ses_event(&ses).unwrap() else {
        panic!()
    };
    let p = plan(&e).unwrap();
    assert_eq!(p.suppress.len(), 1);
    assert_eq!(p.followup, None);
    assert_eq!(p.tracking, None);
    assert_eq!(p.notes.len(), 1);
    assert!(!p.is_empty());

    // Tags that disagree are not trusted either.
    let mut ses = ses_inside(fixtures::SNS_BOUNCE_PERMANENT);
    ses["mail"]["tags"]["playbook"] = json!(["loyalty"]);
    let SesEvent::Tracked(e) = parse_ses_event(&ses).unwrap() else {
        panic!()
    };
    let p = plan(&e).unwrap();
    assert_eq!(
        p.notes,
        vec![EventError::BadTag {
            tag: "playbook",
            problem: "does not match the followup tag"
        }]
    );
}

#[test]
fn an_open_without_follow_up_tags_has_nothing_to_do() {
    let mut ses = ses_inside(fixtures::SNS_OPEN);
    let tags = ses["mail"]["tags"].as_object_mut().unwrap();
    tags.remove("followup");
    tags.remove("customer");
    tags.remove("playbook");
    let SesEvent::Tracked(e) = parse_ses_event(&ses).unwrap() else {
        panic!()
    };
    let p = plan(&e).unwrap();
    assert!(p.is_empty() && p.notes.is_empty());
}

#[test]
fn an_event_without_a_shop_tag_cannot_be_placed() {
    let mut ses = ses_inside(fixtures::SNS_COMPLAINT);
    ses["mail"]["tags"].as_object_mut().unwrap().remove("shop");
    let SesEvent::Tracked(e) = parse_ses_event(&ses).unwrap() else {
        panic!()
    };
    assert_eq!(plan(&e), Err(EventError::MissingTag("shop")));
    ses["mail"]["tags"]["shop"] = json!(["Not A Domain"]);
    let SesEvent::Tracked(e) = parse_ses_event(&ses).unwrap() else {
        panic!()
    };
    assert!(matches!(
        plan(&e),
        Err(EventError::BadTag { tag: "shop", .. })
    ));
}

#[test]
fn the_single_destination_is_suppressed_with_the_reported_recipient() {
    // A bounce reported for a forwarding target still stops mail to the address sent to.
    let mut ses = ses_inside(fixtures::SNS_BOUNCE_PERMANENT);
    ses["bounce"]["bouncedRecipients"][0]["emailAddress"] = "Bob <bob@forward.example>".into();
    let SesEvent::Tracked(e) = parse_ses_event(&ses).unwrap() else {
        panic!()
    };
    let p = plan(&e).unwrap();
    let hashes: Vec<_> = p.suppress.iter().map(|(h, _)| h.clone()).collect();
    assert_eq!(
        hashes,
        vec![email_hash("bob@forward.example"), email_hash(BOB)]
    );

    // The same address in other case is one address.
    ses["bounce"]["bouncedRecipients"][0]["emailAddress"] = "Bob.Norman@HostMail.com".into();
    let SesEvent::Tracked(e) = parse_ses_event(&ses).unwrap() else {
        panic!()
    };
    assert_eq!(plan(&e).unwrap().suppress.len(), 1);

    // No recipient and no single destination: nothing to suppress is an error.
    ses["bounce"]["bouncedRecipients"] = json!([]);
    ses["mail"]["destination"] = json!([]);
    let SesEvent::Tracked(e) = parse_ses_event(&ses).unwrap() else {
        panic!()
    };
    assert_eq!(plan(&e), Err(EventError::NoRecipients("the bounce")));
}

#[test]
fn accepted_but_ignored_event_types() {
    for t in [
        "Send",
        "Reject",
        "DeliveryDelay",
        "Rendering Failure",
        "RenderingFailure",
        "Subscription",
        "AmazonSnsSubscriptionSucceeded",
    ] {
        let ev = parse_ses_event(&json!({"eventType": t})).unwrap();
        assert!(matches!(ev, SesEvent::Ignored(_)), "{t}");
    }
    // Identity notifications name the type `notificationType`.
    let mut ses = ses_inside(fixtures::SNS_DELIVERY);
    let t = ses.as_object_mut().unwrap().remove("eventType").unwrap();
    ses["notificationType"] = t;
    assert_eq!(
        parse_ses_event(&ses).unwrap().event_type(),
        EventType::Delivery
    );
}

#[test]
fn malformed_envelopes_say_what_is_wrong() {
    assert_eq!(
        parse_payload(&json!({"hello": 1})),
        Err(EventError::UnknownShape)
    );
    assert_eq!(parse_payload(&json!([1, 2])), Err(EventError::UnknownShape));
    let ses = ses_inside(fixtures::SNS_DELIVERY);
    let mut eb = as_eventbridge(&ses, "Email Delivered");
    eb["source"] = "aws.events".into();
    assert_eq!(
        parse_payload(&eb),
        Err(EventError::NotFromSes("aws.events".into()))
    );
    let mut eb = as_eventbridge(&ses, "Email Delivered");
    eb.as_object_mut().unwrap().remove("id");
    assert_eq!(
        parse_payload(&eb),
        Err(EventError::MissingEnvelopeField {
            shape: "EventBridge",
            field: "id"
        })
    );
    assert_eq!(
        only_error(&as_eventbridge(&ses, "Email Bounced")),
        EventError::DetailTypeMismatch {
            detail_type: "Email Bounced".into(),
            event_type: "Delivery"
        }
    );
    // A detail-type SES may add later is not held against the event.
    assert!(
        parse_payload(&as_eventbridge(&ses, "Email Something New")).unwrap()[0]
            .event
            .is_ok()
    );

    let mut sns = as_sns(&ses);
    sns["Records"][0]["Sns"]["Message"] = "{not json".into();
    assert!(matches!(only_error(&sns), EventError::NotJson(_)));
    let mut sns = as_sns(&ses);
    sns["Records"][0]["Sns"]["Type"] = "SubscriptionConfirmation".into();
    assert_eq!(
        only_error(&sns),
        EventError::SnsType {
            index: 0,
            kind: "SubscriptionConfirmation".into()
        }
    );
    let mut sns = as_sns(&ses);
    sns["Records"][0]["Sns"]
        .as_object_mut()
        .unwrap()
        .remove("Message");
    assert_eq!(
        only_error(&sns),
        EventError::SnsRecord {
            index: 0,
            problem: "has no Sns.Message string"
        }
    );
    assert_eq!(
        only_error(&as_sns(&json!({"eventType": "Bounced"}))),
        EventError::UnknownEventType("Bounced".into())
    );
    assert_eq!(
        only_error(&as_sns(&json!({"mail": {}}))),
        EventError::MissingEventType
    );
}

#[test]
fn malformed_ses_events_name_the_field_and_never_the_address() {
    let base = ses_inside(fixtures::SNS_BOUNCE_PERMANENT);
    let cases: Vec<(Value, &str)> = vec![
        (
            {
                let mut s = base.clone();
                s["bounce"]["bouncedRecipients"] = json!(BOB);
                s
            },
            "bounce.bouncedRecipients: wrong type, expected a sequence",
        ),
        (
            {
                let mut s = base.clone();
                s["bounce"]["bouncedRecipients"][0]["emailAddress"] = "bob at hostmail".into();
                s
            },
            "bounce.bouncedRecipients[0] is not an email address",
        ),
        (
            {
                let mut s = base.clone();
                s["mail"]["destination"] = json!(["not-an-address"]);
                s
            },
            "mail.destination[0] is not an email address",
        ),
        (
            {
                let mut s = base.clone();
                s["bounce"]["timestamp"] = BOB.into();
                s
            },
            "bounce.timestamp is not an RFC 3339 time",
        ),
        (
            {
                let mut s = base.clone();
                s["bounce"]["bounceType"] = "Soft".into();
                s
            },
            "bounce.bounceType: expected Permanent, Transient or Undetermined",
        ),
        (
            {
                let mut s = base.clone();
                s.as_object_mut().unwrap().remove("bounce");
                s
            },
            "the bounce object is missing",
        ),
        (
            {
                let mut s = base.clone();
                s["mail"].as_object_mut().unwrap().remove("messageId");
                s
            },
            "mail: missing field `messageId`",
        ),
        (
            {
                let mut s = base.clone();
                s["mail"]["tags"]["shop"] = json!(BOB);
                s
            },
            "mail.tags.shop: wrong type, expected a sequence",
        ),
        (
            {
                let mut s = base.clone();
                s["bounce"]["bouncedRecipients"] =
                    json!(vec![json!({"emailAddress": "x@example.com"}); 51]);
                s
            },
            "51 recipients",
        ),
    ];
    for (ses, want) in cases {
        let e = only_error(&as_sns(&ses)).to_string();
        assert!(e.contains(want), "{e:?} should contain {want:?}");
        assert!(
            !e.contains('@') && !e.contains("bob"),
            "{e:?} shows an address"
        );
    }
}

#[test]
fn addresses_never_print() {
    let a = Address::parse("Bob Norman <Bob.Norman@hostmail.com>").unwrap();
    assert_eq!(a.hash(), email_hash(BOB));
    let shown = format!("{a:?} {a}");
    assert!(!shown.contains("bob") && !shown.contains('@'), "{shown}");
    let e = tracked(fixtures::SNS_COMPLAINT);
    let debug = format!("{e:?} {:?}", plan(&e).unwrap());
    assert!(!debug.contains("hostmail"), "{debug}");
    for bad in ["", "bob", "@x", "bob@", "a@b@c", "bo b@x.y"] {
        assert_eq!(Address::parse(bad), None, "{bad}");
    }
}

// ---- the handler, over an in-memory store ----

#[derive(Default)]
struct MemoryStore {
    receipts: Mutex<Vec<String>>,
    applied: Mutex<Vec<Plan>>,
    /// Fails every write once this many events are applied (`Some(0)`: always).
    fail_after: Option<usize>,
    /// Each `count` call: the shop and its tallies.
    counted: Mutex<Vec<(String, Vec<Tally>)>>,
}

impl MailEventStore for MemoryStore {
    async fn apply(&self, plan: &Plan, _: &DeliveryInfo<'_>) -> Result<Applied, StoreError> {
        let mut applied = self.applied.lock().unwrap();
        if self.fail_after.is_some_and(|n| applied.len() >= n) {
            return Err(StoreError::Unavailable {
                operation: "TransactWriteItems",
                message: "down".into(),
            });
        }
        let key = receipt_key(&plan.shop, &plan.event_id).pk;
        let mut receipts = self.receipts.lock().unwrap();
        if receipts.contains(&key) {
            return Ok(Applied::Duplicate);
        }
        receipts.push(key);
        applied.push(plan.clone());
        // One count per event, as the report's day counter of its kind.
        let day = crate::domain::report::day(&plan.at);
        let counter = crate::model::report::Counter::Opened;
        Ok(Applied::Written {
            followup_found: true,
            tallies: vec![Tally::new(&day, crate::model::report::Scope::Shop).one(counter)],
        })
    }

    async fn count(&self, shop: &str, tallies: Vec<Tally>) {
        self.counted
            .lock()
            .unwrap()
            .push((shop.to_owned(), tallies));
    }
}

/// `events` (EventBridge events) as a batch from the mail-events queue, record `n`'s
/// message id `m-{n}`.
fn as_sqs(events: &[Value]) -> Value {
    let records: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(n, e)| {
            json!({"messageId": format!("m-{n}"), "eventSource": "aws:sqs",
                   "body": e.to_string()})
        })
        .collect();
    json!({ "Records": records })
}

fn failures(s: &Summary) -> Vec<&str> {
    s.batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

fn app(store: MemoryStore) -> MailEventsApp<MemoryStore> {
    MailEventsApp {
        store,
        clock: Arc::new(crate::model::time::FixedClock::new(
            "2026-11-22T10:00:00Z".parse().unwrap(),
        )),
    }
}

#[tokio::test]
async fn handler_applies_each_event_once_and_skips_what_it_cannot_read() {
    let app = app(MemoryStore::default());
    let s = app
        .handle(payload(fixtures::SNS_BOUNCE_PERMANENT))
        .await
        .unwrap();
    assert_eq!(
        s,
        Summary {
            events: 1,
            applied: 1,
            ..Summary::default()
        }
    );
    // Redelivered, and the same SES event by the other route: duplicates.
    let again = app
        .handle(payload(fixtures::SNS_BOUNCE_PERMANENT))
        .await
        .unwrap();
    assert_eq!(again.duplicates, 1);
    let ses = ses_inside(fixtures::SNS_BOUNCE_PERMANENT);
    let other_route = app
        .handle(as_eventbridge(&ses, "Email Bounced"))
        .await
        .unwrap();
    assert_eq!(other_route.duplicates, 1);
    assert_eq!(app.store.applied.lock().unwrap().len(), 1);

    // Two records in one SNS payload: one good, one broken.
    let mut two = payload(fixtures::SNS_OPEN);
    let mut broken = two["Records"][0].clone();
    broken["Sns"]["Message"] = "[]".into();
    two["Records"].as_array_mut().unwrap().push(broken);
    let s = app.handle(two).await.unwrap();
    assert_eq!(
        s,
        Summary {
            events: 2,
            applied: 1,
            skipped: 1,
            ..Summary::default()
        }
    );

    let s = app.handle(payload(fixtures::SNS_SEND)).await.unwrap();
    assert_eq!(s.ignored, 1);
    let s = app.handle(json!({"unexpected": true})).await.unwrap();
    assert_eq!(s.skipped, 1);
}

#[tokio::test]
async fn handler_fails_when_the_store_does_so_lambda_retries() {
    let app = app(MemoryStore {
        fail_after: Some(0),
        ..MemoryStore::default()
    });
    let e = app
        .handle(payload(fixtures::EB_COMPLAINT))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Unavailable { .. }));
    // Malformed events don't reach the store, so they never fail the invocation.
    assert_eq!(
        app.handle(json!({"Records": [{"Sns": {}}]}))
            .await
            .unwrap()
            .skipped,
        1
    );
}

#[test]
fn clicks_on_our_own_links_are_left_to_the_links_function() {
    assert!(is_customer_link(
        "https://links.example.com/rate?t=v1.abc.def"
    ));
    assert!(is_customer_link(
        "http://127.0.0.1:9000/lambda-url/links/reorder?t=v2.x.y"
    ));
    assert!(is_customer_link(
        "https://l.example.com/unsubscribe?x=1&t=v1.a.b"
    ));
    assert!(!is_customer_link(
        "https://shop.example.com/pages/care-guide"
    ));
    assert!(!is_customer_link("https://shop.example.com/rate?stars=5"));
    assert!(!is_customer_link("https://shop.example.com/t=v1/rate"));
}

#[tokio::test]
async fn a_queue_batch_is_applied_event_by_event_and_counted_in_one_write_per_shop() {
    let app = app(MemoryStore::default());
    let s = app.handle(payload(fixtures::SQS_BATCH)).await.unwrap();
    assert_eq!(
        s,
        Summary {
            events: 3,
            applied: 3,
            ..Summary::default()
        }
    );
    let kinds: Vec<EventType> = app
        .store
        .applied
        .lock()
        .unwrap()
        .iter()
        .map(|p| p.event_type)
        .collect();
    assert_eq!(
        kinds,
        [EventType::Delivery, EventType::Open, EventType::Click]
    );
    // The three events' counts reach the store together, once.
    let counted = app.store.counted.lock().unwrap().clone();
    assert_eq!(counted.len(), 1, "{counted:?}");
    assert_eq!(counted[0].0, "aftercart-demo.myshopify.com");
    assert_eq!(counted[0].1.len(), 3);
    // Received again (a visibility timeout ran out): duplicates, nothing counted.
    let again = app.handle(payload(fixtures::SQS_BATCH)).await.unwrap();
    assert_eq!((again.duplicates, again.applied), (3, 0));
    assert_eq!(app.store.counted.lock().unwrap().len(), 1);
    // Lambda reads `batchItemFailures` only when there are some.
    let shown = serde_json::to_value(&again).unwrap();
    assert!(shown.get("batchItemFailures").is_none(), "{shown}");
}

#[tokio::test]
async fn a_store_failure_in_a_queue_batch_returns_that_record_and_the_rest_and_counts_the_done() {
    let app = app(MemoryStore {
        fail_after: Some(1),
        ..MemoryStore::default()
    });
    let events = [
        ses_inside(fixtures::SNS_DELIVERY),
        ses_inside(fixtures::SNS_OPEN),
        ses_inside(fixtures::SNS_CLICK),
    ];
    let batch = as_sqs(&[
        as_eventbridge(&events[0], "Email Delivered"),
        as_eventbridge(&events[1], "Email Opened"),
        json!({"not": "an event"}),
        as_eventbridge(&events[2], "Email Clicked"),
    ]);
    let s = app.handle(batch).await.expect("a batch answers, not fails");
    assert_eq!(s.applied, 1);
    // The open met the failure; the broken record after it and the click go back to
    // the queue with it (nothing after the failure was tried).
    assert_eq!(failures(&s), ["m-1", "m-2", "m-3"]);
    let shown = serde_json::to_value(&s).unwrap();
    assert_eq!(
        shown["batchItemFailures"],
        json!([{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-2"}, {"itemIdentifier": "m-3"}])
    );
    // The delivery was applied before the failure: its count is still added.
    assert_eq!(app.store.counted.lock().unwrap().len(), 1);
}

#[test]
fn queue_records_are_read_from_their_body_and_named_by_their_message_id() {
    let incoming = parse_payload(&payload(fixtures::SQS_BATCH)).unwrap();
    assert_eq!(incoming.len(), 3);
    for i in &incoming {
        assert_eq!(i.source, Source::Sqs);
        assert!(i.event.is_ok(), "{:?}", i.event);
    }
    assert_eq!(
        incoming[0].delivery_id,
        "2e1424d4-f796-459a-8184-9c92662be6da"
    );
    let record = |r: Value| only_error(&json!({ "Records": [r] }));
    assert_eq!(
        record(json!({"eventSource": "aws:sqs", "body": "{}"})),
        EventError::SqsRecord {
            index: 0,
            problem: "has no messageId"
        }
    );
    assert_eq!(
        record(json!({"eventSource": "aws:sqs", "messageId": "m"})),
        EventError::SqsRecord {
            index: 0,
            problem: "has no body string"
        }
    );
    assert_eq!(
        record(json!({"eventSource": "aws:sqs", "messageId": "m", "body": "{"})),
        EventError::SqsRecord {
            index: 0,
            problem: "body is not a JSON EventBridge event"
        }
    );
    let not_ses = json!({"source": "aws.s3", "id": "x", "detail": {}});
    assert_eq!(
        record(json!({"eventSource": "aws:sqs", "messageId": "m", "body": not_ses.to_string()})),
        EventError::NotFromSes("aws.s3".into())
    );
}

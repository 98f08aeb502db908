//! SES events in their SNS, EventBridge and SQS (the mail-events queue's batches)
//! envelopes through `wire::ses::parse_payload` and the pure decision
//! `domain::mail_events::plan`, as the mail-events function runs them (the Lambda
//! runtime hands it the payload as JSON).

#![no_main]

use aftercart::domain::mail_events::{followup_from_tag, plan, receipt_key, transient_key};
use aftercart::wire::ses::{parse_payload, SesEvent};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(payload) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let incoming = match parse_payload(&payload) {
        Ok(i) => i,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    for i in incoming {
        let _ = (i.source.as_str(), i.delivery_id.len());
        let event = match &i.event {
            Ok(SesEvent::Tracked(e)) => e,
            Ok(SesEvent::Ignored(t)) => {
                let _ = t.as_str();
                continue;
            }
            Err(e) => {
                let _ = e.to_string();
                continue;
            }
        };
        let _ = format!("{event:?}");
        if let Some(tag) = &event.tags.followup {
            let _ = followup_from_tag(tag);
        }
        match plan(event) {
            Ok(p) => {
                let _ = p.is_empty();
                let _ = receipt_key(&p.shop, &p.event_id);
                if let Some(f) = &p.followup {
                    let _ = f.key(&p.shop);
                }
                for (hash, reason) in &p.suppress {
                    let _ = (transient_key(&p.shop, hash), reason.as_str());
                }
                for hash in &p.transient {
                    let _ = transient_key(&p.shop, hash);
                }
                for note in &p.notes {
                    let _ = note.to_string();
                }
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
});

//! One dispatcher run in a process of its own, for the crash test (`it/crash.rs`),
//! which kills it with SIGKILL part-way.
//!
//!   dispatch_child TABLE AT CONFIG_TOP
//!
//! The dispatcher is the tests' own ([`TestApp::dispatcher`]: the real `Dispatcher`
//! with the DynamoDB and SES v2 clients against AFTERCART_TEST_ENDPOINT) on the table
//! `TABLE`, as of `AT`, with the test config whose top part is `CONFIG_TOP` (e.g.
//! `[email]` settings). On stdout, one line as each SES call starts
//! (`start <follow-up id>`) and one as it returns (`done <follow-up id> ok|refused`),
//! each flushed before the call goes on, so the test knows which sends were in flight
//! when it killed the process; `report <summary JSON>` if the run ends.

use aftercart::apps::dispatch::Dispatcher;
use aftercart::ports::mail::{Mailer, OutgoingEmail, SendError};
use aftercart_integration::{config_with, TestApp};
use std::io::Write;

/// A mailer that announces each send on stdout before and after passing it on.
struct Announcing<M>(M);

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // A test that stopped reading is no reason to stop sending.
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

fn followup_of(email: &OutgoingEmail) -> &str {
    email
        .tags
        .iter()
        .find(|(k, _)| *k == "followup")
        .map_or("-", |(_, v)| v.as_str())
}

impl<M: Mailer> Mailer for Announcing<M> {
    async fn send(&self, email: &OutgoingEmail) -> Result<String, SendError> {
        let id = followup_of(email);
        say(&format!("start {id}"));
        let sent = self.0.send(email).await;
        say(&format!(
            "done {id} {}",
            if sent.is_ok() { "ok" } else { "refused" }
        ));
        sent
    }
    async fn max_send_rate(&self) -> Option<f64> {
        self.0.max_send_rate().await
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [table, at, top] = args.as_slice() else {
        eprintln!("usage: dispatch_child TABLE AT CONFIG_TOP");
        std::process::exit(2);
    };
    let t = TestApp::on_table(table, config_with(top, "")).await;
    let d = t.dispatcher(at, None).await;
    let d = Dispatcher {
        mailer: Announcing(d.mailer),
        config: d.config,
        store: d.store,
        links: d.links,
        templates: d.templates,
        clock: d.clock,
        owner: d.owner,
        admin: d.admin,
    };
    let report = d
        .run(std::time::Instant::now() + std::time::Duration::from_secs(60))
        .await
        .expect("dispatch run");
    say(&format!("report {}", report.summary()));
}

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
//! when it killed the process. If the run ends: `run <seconds> <seconds sending> <CPU
//! seconds>` (the run's wall time, the time from its first SES call to its last answer,
//! and the CPU time it took, for the cost bench's run at a Lambda function's share),
//! then `report <summary JSON>`.

use aftercart::apps::dispatch::Dispatcher;
use aftercart::ports::mail::{Mailer, OutgoingEmail, SendError};
use aftercart_integration::{config_with, TestApp};
use std::io::Write;
use std::time::Instant;

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

/// When the first SES call started and the latest returned.
static FIRST_SEND: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
static LAST_RETURN: std::sync::Mutex<Option<Instant>> = std::sync::Mutex::new(None);

impl<M: Mailer> Mailer for Announcing<M> {
    async fn send(&self, email: &OutgoingEmail) -> Result<String, SendError> {
        let id = followup_of(email);
        FIRST_SEND.get_or_init(Instant::now);
        say(&format!("start {id}"));
        let sent = self.0.send(email).await;
        if let Ok(mut last) = LAST_RETURN.lock() {
            *last = Some(Instant::now());
        }
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
    let cpu = aftercart_integration::lambda_share::own_cpu_seconds;
    let (before, began) = (cpu(), Instant::now());
    let report = d
        .run(Instant::now() + std::time::Duration::from_secs(60))
        .await
        .expect("dispatch run");
    let wall = began.elapsed().as_secs_f64();
    let sending = match (FIRST_SEND.get(), LAST_RETURN.lock().ok().and_then(|l| *l)) {
        (Some(first), Some(last)) => last.duration_since(*first).as_secs_f64(),
        _ => 0.0,
    };
    if let (Some(b), Some(a)) = (before, cpu()) {
        say(&format!("run {wall:.3} {sending:.3} {:.2}", a - b));
    }
    say(&format!("report {}", report.summary()));
}

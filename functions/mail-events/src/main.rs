//! Lambda entry point for `mail-events`: SES events from SNS or EventBridge.

fn main() {
    unimplemented!("mail-events function: built in issue 4")
}

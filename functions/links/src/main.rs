//! Lambda entry point for `links` (HTTP API): what customers click in follow-up emails.

fn main() {
    unimplemented!("links function: built in issue 4")
}

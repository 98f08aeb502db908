//! The `aftercart` developer and operator tool, outside the production library so the
//! Lambda binaries link none of it: what its commands do (`cli`) and the local outbox
//! reader (`outbox`). `main.rs` parses arguments and prints.

pub mod cli;
pub mod outbox;

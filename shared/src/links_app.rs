//! The `links` function: rating capture, unsubscribe, reorder redirect (issue 4).

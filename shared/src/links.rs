//! Signed customer links (in progress).

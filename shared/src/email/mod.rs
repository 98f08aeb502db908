//! Email rendering and MIME (in progress).

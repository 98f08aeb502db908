//! Privacy compliance: customer data export and erasure, shop erasure (issue 5).

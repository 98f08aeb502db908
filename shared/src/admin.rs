//! Shopify Admin GraphQL client: unique single-use discount codes (issue 5).

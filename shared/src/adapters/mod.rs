//! The outside world behind the ports: DynamoDB, SES v2, SQS (the ingest queue), the
//! Shopify Admin API, SSM.

pub mod dynamo;
pub mod ses;
pub mod shopify_admin;
pub mod sqs;
pub mod ssm;

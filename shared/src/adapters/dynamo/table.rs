//! The one table, defined once. `make dev` and the tests create it from
//! [`create_table`]; `infra/template.yaml` carries the block [`cloudformation_block`]
//! prints, and a test fails if the two ever differ.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;

/// Partition key attribute.
pub const PK: &str = "pk";
/// Sort key attribute.
pub const SK: &str = "sk";
/// Epoch-seconds attribute DynamoDB TTL expires items by.
pub const TTL_ATTRIBUTE: &str = "expires_at";
/// Item type attribute (`order`, `profile`, …), for people reading the table.
pub const ENTITY: &str = "entity";

/// A global secondary index.
#[derive(Debug, Clone, Copy)]
pub struct Index {
    pub name: &'static str,
    pub pk: &'static str,
    pub sk: &'static str,
}

/// Follow-ups by due time (sparse: only pending follow-ups carry these attributes;
/// sharded: `due_pk` is `DUE#<shard>` so no partition gets hot). It keeps keys only, so
/// only a write that adds an item, moves its due key or removes it writes the index;
/// readers fetch the items themselves (`DynamoStore::due_items`).
pub const DUE_INDEX: Index = Index {
    name: "due",
    pk: "due_pk",
    sk: "due_sk",
};

pub const INDEXES: [Index; 1] = [DUE_INDEX];

/// What every index keeps of an item: its keys (the table's and the index's) only.
pub fn projection() -> ProjectionType {
    ProjectionType::KeysOnly
}

/// Creates the table (on-demand billing, the indexes, TTL). Returns `false` if it
/// already existed.
pub async fn create_table(client: &Client, name: &str) -> Result<bool, aws_sdk_dynamodb::Error> {
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(PK, KeyType::Hash))
        .key_schema(key(SK, KeyType::Range));
    let mut attrs = vec![PK, SK];
    for index in INDEXES {
        attrs.extend([index.pk, index.sk]);
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index.name)
                .key_schema(key(index.pk, KeyType::Hash))
                .key_schema(key(index.sk, KeyType::Range))
                .projection(Projection::builder().projection_type(projection()).build())
                .build()?,
        );
    }
    for a in attrs {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(a)
                .attribute_type(ScalarAttributeType::S)
                .build()?,
        );
    }
    match req.send().await {
        Ok(_) => {}
        Err(e) => {
            let e = aws_sdk_dynamodb::Error::from(e);
            if matches!(e, aws_sdk_dynamodb::Error::ResourceInUseException(_)) {
                return Ok(false);
            }
            return Err(e);
        }
    }
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(TTL_ATTRIBUTE)
                .enabled(true)
                .build()?,
        )
        .send()
        .await?;
    Ok(true)
}

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .unwrap_or_else(|_| unreachable!("name and key type are both set"))
}

/// The table's keys, indexes and TTL as the CloudFormation YAML that
/// `infra/template.yaml` must contain (indented for the `Properties:` of the table).
pub fn cloudformation_block() -> String {
    let mut attrs = vec![PK, SK];
    let mut out = String::new();
    out.push_str("      BillingMode: PAY_PER_REQUEST\n");
    out.push_str("      KeySchema:\n");
    out.push_str(&format!(
        "        - AttributeName: {PK}\n          KeyType: HASH\n"
    ));
    out.push_str(&format!(
        "        - AttributeName: {SK}\n          KeyType: RANGE\n"
    ));
    out.push_str("      GlobalSecondaryIndexes:\n");
    for index in INDEXES {
        attrs.extend([index.pk, index.sk]);
        out.push_str(&format!("        - IndexName: {}\n", index.name));
        out.push_str("          KeySchema:\n");
        out.push_str(&format!(
            "            - AttributeName: {}\n              KeyType: HASH\n",
            index.pk
        ));
        out.push_str(&format!(
            "            - AttributeName: {}\n              KeyType: RANGE\n",
            index.sk
        ));
        out.push_str(&format!(
            "          Projection:\n            ProjectionType: {}\n",
            projection().as_str()
        ));
    }
    out.push_str("      AttributeDefinitions:\n");
    for a in attrs {
        out.push_str(&format!(
            "        - AttributeName: {a}\n          AttributeType: S\n"
        ));
    }
    out.push_str("      TimeToLiveSpecification:\n");
    out.push_str(&format!(
        "        AttributeName: {TTL_ATTRIBUTE}\n        Enabled: true\n"
    ));
    out
}

/// Markers around the generated block in `infra/template.yaml`.
pub const BLOCK_BEGIN: &str =
    "      # BEGIN table definition (generated: cargo run -p aftercart -- table-def)\n";
pub const BLOCK_END: &str = "      # END table definition\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_carries_the_table_exactly_as_the_code_defines_it() {
        let template = include_str!("../../../../infra/template.yaml");
        let start = template
            .find(BLOCK_BEGIN)
            .expect("infra/template.yaml lacks the BEGIN table definition marker")
            + BLOCK_BEGIN.len();
        let end = template[start..]
            .find(BLOCK_END)
            .expect("infra/template.yaml lacks the END table definition marker")
            + start;
        assert_eq!(
            &template[start..end],
            cloudformation_block(),
            "infra/template.yaml differs from the code's table: run `make table-def` and paste its output"
        );
    }
}

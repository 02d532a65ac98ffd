//! The store conformance suite against the DynamoDB adapter, on a real
//! DynamoDB-compatible server (moto), each suite in a fresh table.

use aws_sdk_dynamodb::types::AttributeValue;
use greenlight_core::ids::WorkspaceId;
use greenlight_core::ports::Store;
use greenlight_store_dynamodb::DynamoStore;
use greenlight_tests::moto::Moto;

#[tokio::test]
async fn dynamodb_passes_the_store_conformance_suite() {
    let moto = Moto::start();
    let store = DynamoStore::new(moto.dynamodb(), "greenlight-conformance");
    store.create_table().await.expect("table created");
    greenlight_tests::conformance::run_all(&store).await;
    // A second function's handle on the same table.
    let other = DynamoStore::new(moto.dynamodb(), "greenlight-conformance");
    greenlight_tests::conformance::outputs_rewritten_elsewhere(&store, &other).await;
}

/// A workspace item an earlier version wrote (no revision: before they were
/// counted, or an old function's PutItem during a rolling deploy) has no
/// revision to cache its brand data by, however often it is rewritten so;
/// this version's next write gives it one.
#[tokio::test]
async fn a_workspace_written_without_a_revision_is_never_cached_by_one() {
    let moto = Moto::start();
    let client = moto.dynamodb();
    let store = DynamoStore::new(client.clone(), "greenlight-revisions");
    store.create_table().await.expect("table created");
    let id = WorkspaceId::parse("legacy").unwrap();
    let put_as_earlier_version = |cap: &str| {
        client
            .put_item()
            .table_name("greenlight-revisions")
            .item("PK", AttributeValue::S("WS#legacy".into()))
            .item("SK", AttributeValue::S("META".into()))
            .item("name", AttributeValue::S("Legacy".into()))
            .item("spend_cap", AttributeValue::N(cap.into()))
            .item("data", AttributeValue::S("{}".into()))
            .send()
    };
    put_as_earlier_version("1000000").await.expect("put");
    assert_eq!(store.workspace_revision(&id).await.unwrap(), None);
    let ws = store.get_workspace(&id).await.unwrap().expect("readable");
    assert_eq!(ws.spend_cap.micros(), 1_000_000);
    put_as_earlier_version("2000000").await.expect("put again");
    assert_eq!(store.workspace_revision(&id).await.unwrap(), None);
    store.put_workspace(&ws).await.unwrap();
    let first = store.workspace_revision(&id).await.unwrap();
    assert!(
        first.is_some(),
        "this version's write gives a revision: {first:?}"
    );
    // Dropped by an earlier version's write, a revision never comes back
    // to one a function may have cached.
    put_as_earlier_version("3000000").await.expect("put over it");
    assert_eq!(store.workspace_revision(&id).await.unwrap(), None);
    store.put_workspace(&ws).await.unwrap();
    let second = store.workspace_revision(&id).await.unwrap();
    assert!(second.is_some() && second != first, "{first:?} then {second:?}");
}

//! The store conformance suite against the DynamoDB adapter, on a real
//! DynamoDB-compatible server (moto), each suite in a fresh table.

use greenlight_store_dynamodb::DynamoStore;
use greenlight_tests::moto::Moto;

#[tokio::test]
async fn dynamodb_passes_the_store_conformance_suite() {
    let moto = Moto::start();
    let store = DynamoStore::new(moto.dynamodb(), "greenlight-conformance");
    store.create_table().await.expect("table created");
    greenlight_tests::conformance::run_all(&store).await;
}

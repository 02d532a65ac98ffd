//! The store conformance suite against the embedded SQLite store, in memory
//! and on disk.

use greenlight_store_sqlite::SqliteStore;

#[tokio::test]
async fn sqlite_in_memory_passes_the_store_conformance_suite() {
    let store = SqliteStore::in_memory().expect("in-memory store");
    greenlight_tests::conformance::run_all(&store).await;
}

#[tokio::test]
async fn sqlite_on_disk_passes_the_store_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("store.sqlite3")).expect("store on disk");
    greenlight_tests::conformance::run_all(&store).await;
}

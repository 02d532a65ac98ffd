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

/// Two stores on one database file, as two processes would open it: the
/// outputs one keeps for its reads give way to what the other wrote.
#[tokio::test]
async fn sqlite_serves_no_output_another_process_has_written_since() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let (reader, writer) = (
        SqliteStore::open(&path).unwrap(),
        SqliteStore::open(&path).unwrap(),
    );
    greenlight_tests::conformance::outputs_rewritten_elsewhere(&reader, &writer).await;
}

/// The engine's journal on SQLite: outcomes one by one and all at once, and
/// concurrent writes (committed in groups) each answered for itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_journal_keeps_each_task_outcome_once_under_concurrent_writes() {
    use greenlight_engine::{ExecutionRecord, ExecutionStatus, Failure, Journal, TaskOutcome};
    use serde_json::json;
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("store.sqlite3")).unwrap());
    for name in ["e1", "e2"] {
        let record = ExecutionRecord {
            name: name.into(),
            machine: "m".into(),
            input: json!({}),
            start_time: "2026-11-27T00:00:00Z".into(),
            status: ExecutionStatus::Running,
            output: None,
            failure: None,
            notified: false,
        };
        assert!(store.create_execution(&record).await.unwrap());
        assert!(!store.create_execution(&record).await.unwrap(), "created twice");
    }
    // 100 tasks, each recorded twice at once: one of each pair wins.
    let mut writes = Vec::new();
    for i in 0..200 {
        let store = store.clone();
        writes.push(tokio::spawn(async move {
            let outcome = TaskOutcome::Succeeded(json!({"i": i % 100}));
            store
                .record_task("e1", &format!("k{}", i % 100), &outcome)
                .await
                .unwrap()
        }));
    }
    let mut won = 0;
    for w in writes {
        won += usize::from(w.await.unwrap());
    }
    assert_eq!(won, 100);
    let failed = TaskOutcome::Failed(Failure {
        error: "E".into(),
        cause: "c".into(),
    });
    assert!(store.record_task("e2", "k0", &failed).await.unwrap());

    let all = store.task_outcomes("e1").await.unwrap();
    assert_eq!(all.len(), 100);
    assert!(matches!(&all["k7"], TaskOutcome::Succeeded(v) if *v == json!({"i": 7})));
    assert!(matches!(
        store.task_outcome("e1", "k7").await.unwrap(),
        Some(TaskOutcome::Succeeded(v)) if v == json!({"i": 7})
    ));
    let other = store.task_outcomes("e2").await.unwrap();
    assert_eq!(other.len(), 1);
    assert!(matches!(&other["k0"], TaskOutcome::Failed(f) if f.error == "E"));
    assert!(store.task_outcomes("none").await.unwrap().is_empty());
    assert!(store.task_outcome("e1", "k100").await.unwrap().is_none());
}

//! The store's connections: one writer thread that commits operations in
//! groups, and a pool of read connections used on the caller's thread.
//!
//! Every write operation runs in its own savepoint inside a transaction
//! that may hold the operations queued behind it too; an operation that
//! fails rolls back to its savepoint and leaves the others be. No caller is
//! answered before the transaction holding its operation has committed, so
//! a group commit acknowledges exactly what a commit per operation would,
//! with one WAL append and one lock instead of one per operation.
//!
//! Reads (a file database in WAL mode) take a connection of their own from
//! the pool: they see every commit acknowledged before they began, never
//! wait for the writer, and skip the hop to another thread.

use crate::{Res, db_err};
use greenlight_core::ports::StoreError;
use rusqlite::Connection;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;
use tokio::sync::oneshot;
use tracing::warn;

/// Most operations one transaction commits together.
const MAX_GROUP: usize = 256;

/// Prepared statements each connection keeps (the store has about 60).
pub(crate) const STATEMENTS: usize = 128;

/// Idle read connections kept for reuse.
const MAX_IDLE_READERS: usize = 8;

/// A write operation, queued for the writer thread.
trait Job: Send {
    /// Runs the operation in its own savepoint. What it gives back answers
    /// the caller once the transaction's fate is known; an error beside it
    /// means the savepoint itself failed, and with it the whole group.
    fn run(self: Box<Self>, conn: &Connection) -> (Box<dyn Answer>, Option<String>);
    /// The operation will not run: its group could not begin or broke.
    fn refuse(self: Box<Self>, error: &str);
}

trait Answer: Send {
    /// `committed`: whether the group's transaction committed. If it did
    /// not, nothing of the group was kept, and every caller hears so (an
    /// operation's own error may have come from a sibling's write that is
    /// gone now).
    fn send(self: Box<Self>, committed: &Result<(), String>);
}

struct Op<T, F> {
    f: F,
    reply: oneshot::Sender<Res<T>>,
}

struct Done<T> {
    result: Res<T>,
    reply: oneshot::Sender<Res<T>>,
}

impl<T, F> Job for Op<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Res<T> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> (Box<dyn Answer>, Option<String>) {
        let Op { f, reply } = *self;
        let (result, broken) = match in_savepoint(conn, f) {
            Ok(result) => (result, None),
            Err(e) => {
                let e = message(e);
                (Err(StoreError::Unavailable(e.clone())), Some(e))
            }
        };
        (Box::new(Done { result, reply }), broken)
    }

    fn refuse(self: Box<Self>, error: &str) {
        let _ = self.reply.send(Err(StoreError::Unavailable(error.to_string())));
    }
}

impl<T: Send> Answer for Done<T> {
    fn send(self: Box<Self>, committed: &Result<(), String>) {
        let answer = match committed {
            Ok(()) => self.result,
            Err(e) => Err(StoreError::Unavailable(e.clone())),
        };
        let _ = self.reply.send(answer);
    }
}

/// Runs `f` between `SAVEPOINT` and `RELEASE`, rolling back what it wrote
/// if it fails (or panics): `Ok` with its result, or `Err` if the savepoint
/// could not be set, rolled back or released.
fn in_savepoint<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Res<T>) -> Res<Res<T>> {
    exec(conn, "SAVEPOINT op")?;
    let result = match std::panic::catch_unwind(AssertUnwindSafe(|| f(conn))) {
        Ok(r) => r,
        Err(_) => Err(StoreError::Unavailable(
            "a store operation failed unexpectedly (it panicked); nothing it wrote was kept".into(),
        )),
    };
    if result.is_err() {
        exec(conn, "ROLLBACK TO op")?;
    }
    exec(conn, "RELEASE op")?;
    Ok(result)
}

/// What went wrong, for every caller of a group that failed as one.
fn message(e: StoreError) -> String {
    match e {
        StoreError::Unavailable(m) => m,
        other => other.to_string(),
    }
}

fn exec(conn: &Connection, sql: &str) -> Res<()> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute([]))
        .map(|_| ())
        .map_err(db_err)
}

/// Ends whatever transaction is open (a failed one SQLite did not end).
fn roll_back(conn: &Connection) {
    if !conn.is_autocommit()
        && let Err(e) = conn.execute_batch("ROLLBACK")
    {
        warn!(error = %e, "could not roll back a failed write transaction");
    }
}

/// Begins the group's transaction, first ending one left open.
fn begin(conn: &Connection) -> Res<()> {
    roll_back(conn);
    exec(conn, "BEGIN IMMEDIATE")
}

/// The writer thread's end of the queue.
fn write_loop(conn: Connection, jobs: mpsc::Receiver<Box<dyn Job>>) {
    let mut group: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_GROUP);
    while let Ok(first) = jobs.recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = begin(&conn) {
            warn!(error = %e, operations = group.len(), "could not begin a write transaction");
            let e = message(e);
            for job in group.drain(..) {
                job.refuse(&e);
            }
            continue;
        }
        let mut answers: Vec<Box<dyn Answer>> = Vec::with_capacity(group.len());
        let mut broken: Option<String> = None;
        for job in group.drain(..) {
            if let Some(e) = &broken {
                job.refuse(e);
                continue;
            }
            let (answer, failed) = job.run(&conn);
            answers.push(answer);
            // SQLite may end a transaction itself on an I/O error or a full
            // disk: then nothing of the group is left to commit.
            broken = failed.or_else(|| {
                conn.is_autocommit()
                    .then(|| "the write transaction was rolled back by the database".to_string())
            });
        }
        let committed = match broken {
            Some(e) => Err(e),
            None => exec(&conn, "COMMIT").map_err(message),
        };
        if let Err(e) = &committed {
            warn!(error = %e, operations = answers.len(), "a write transaction did not commit");
            roll_back(&conn);
        }
        for a in answers {
            a.send(&committed);
        }
    }
}

/// Where operations go: the writer for writes, the pool for reads.
#[derive(Clone)]
pub(crate) struct Connections {
    writer: mpsc::Sender<Box<dyn Job>>,
    readers: Arc<Readers>,
}

struct Readers {
    /// `None` for an in-memory database, whose reads go to the writer.
    path: Option<PathBuf>,
    idle: Mutex<Vec<Connection>>,
}

impl Connections {
    /// Starts the writer thread on `conn` (set up and migrated already);
    /// reads open their own connections to `path`.
    pub(crate) fn start(conn: Connection, path: Option<&Path>) -> Res<Connections> {
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        std::thread::Builder::new()
            .name("greenlight-store-writer".into())
            .spawn(move || write_loop(conn, rx))
            .map_err(|e| StoreError::Unavailable(format!("could not start the store's writer: {e}")))?;
        Ok(Connections {
            writer: tx,
            readers: Arc::new(Readers {
                path: path.map(Path::to_path_buf),
                idle: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Runs `f` in the writer's transaction (with the operations queued
    /// beside it); answers once that transaction committed.
    pub(crate) async fn write<T, F>(&self, f: F) -> Res<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Res<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(Box::new(Op { f, reply }))
            .map_err(|_| StoreError::Unavailable("the store's writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the store's writer stopped before answering".into()))?
    }

    /// Runs `f` in a read transaction of its own, on this thread.
    pub(crate) async fn read<T, F>(&self, f: F) -> Res<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Res<T> + Send + 'static,
    {
        let Some(path) = &self.readers.path else {
            return self.write(f).await;
        };
        let pooled = self.readers.idle.lock().ok().and_then(|mut idle| idle.pop());
        let mut conn = match pooled {
            Some(c) => c,
            None => open_reader(path)?,
        };
        let result = read_in(&mut conn, f);
        // Only a connection with no transaction left open goes back.
        if conn.is_autocommit()
            && let Ok(mut idle) = self.readers.idle.lock()
            && idle.len() < MAX_IDLE_READERS
        {
            idle.push(conn);
        }
        result
    }
}

fn read_in<T>(conn: &mut Connection, f: impl FnOnce(&Connection) -> Res<T>) -> Res<T> {
    let tx = conn.transaction().map_err(db_err)?;
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| f(&tx))).unwrap_or_else(|_| {
        Err(StoreError::Unavailable(
            "a store read failed unexpectedly (it panicked)".into(),
        ))
    });
    // A read transaction has nothing to keep: ending it either way is the same.
    tx.rollback().map_err(db_err)?;
    result
}

fn open_reader(path: &Path) -> Res<Connection> {
    let conn = Connection::open(path).map_err(db_err)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(db_err)?;
    conn.set_prepared_statement_cache_capacity(STATEMENTS);
    // A reader never writes, whatever a bug might ask of it.
    conn.pragma_update(None, "query_only", true).map_err(db_err)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Connections to a fresh WAL database with one table, `t (x)`.
    fn table_t() -> (tempfile::TempDir, Connections) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite3");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER PRIMARY KEY);")
            .unwrap();
        let conns = Connections::start(conn, Some(&path)).unwrap();
        (dir, conns)
    }

    /// Writes `op(c, i)` for every `i` below `n` at once; the answers in order of `i`.
    async fn all_at_once<T: Send + 'static>(
        conns: &Connections,
        n: i64,
        op: fn(&Connection, i64) -> Res<T>,
    ) -> Vec<Res<T>> {
        let ops: Vec<_> = (0..n)
            .map(|i| {
                let conns = conns.clone();
                tokio::spawn(async move { conns.write(move |c| op(c, i)).await })
            })
            .collect();
        let mut answers = Vec::new();
        for op in ops {
            answers.push(op.await.unwrap());
        }
        answers
    }

    /// Every `x` in `t`, in order.
    async fn kept(conns: &Connections) -> Vec<i64> {
        conns
            .read(|c| {
                let mut s = c.prepare("SELECT x FROM t ORDER BY x").map_err(db_err)?;
                let rows = s.query_map([], |r| r.get(0)).map_err(db_err)?;
                rows.collect::<Result<_, _>>().map_err(db_err)
            })
            .await
            .unwrap()
    }

    fn insert(c: &Connection, x: i64) -> Res<()> {
        c.execute("INSERT INTO t (x) VALUES (?1)", [x])
            .map(|_| ())
            .map_err(db_err)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_operation_rolls_back_alone_and_the_rest_of_its_group_commits() {
        let (_dir, conns) = table_t();
        let answers = all_at_once(&conns, 200, |c, i| {
            insert(c, i)?;
            if i % 10 == 3 {
                // Wrote, then failed: what it wrote must go.
                insert(c, 1000 + i)?;
                return Err(StoreError::Corrupt(format!("op {i} fails")));
            }
            Ok(i)
        })
        .await;
        let mut failed = 0;
        for (i, answer) in answers.into_iter().enumerate() {
            match answer {
                Ok(v) => assert_eq!(v, i as i64),
                Err(StoreError::Corrupt(m)) => {
                    assert_eq!(m, format!("op {i} fails"));
                    failed += 1;
                }
                Err(e) => panic!("op {i}: {e}"),
            }
        }
        assert_eq!(failed, 20);
        let expected: Vec<i64> = (0..200).filter(|i| i % 10 != 3).collect();
        assert_eq!(kept(&conns).await, expected);
        // A panicking operation is an error for its caller, and the writer goes on.
        let panicked = conns.write(|_| -> Res<()> { panic!("a bug") }).await.unwrap_err();
        assert!(panicked.to_string().contains("panicked"), "{panicked}");
        conns.write(|c| insert(c, 5000)).await.unwrap();
    }

    /// When a group's transaction ends under it (as SQLite ends one on an
    /// I/O error or a full disk; here an operation ends it itself), nobody in
    /// the group is told their write was kept unless it was.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_answer_of_success_always_means_committed_even_when_a_group_breaks() {
        let (_dir, conns) = table_t();
        let answers = all_at_once(&conns, 300, |c, i| {
            insert(c, i)?;
            if i % 50 == 7 {
                c.execute_batch("ROLLBACK").map_err(db_err)?;
            }
            Ok(())
        })
        .await;
        let kept = kept(&conns).await;
        for (i, answer) in answers.iter().enumerate() {
            let ok = answer.is_ok();
            assert_eq!(ok, kept.contains(&(i as i64)), "op {i} answered {ok}");
        }
        assert!(answers.iter().any(Result::is_err), "no group broke");
        // And the writer goes on.
        conns.write(|c| insert(c, 1000)).await.unwrap();
    }
}

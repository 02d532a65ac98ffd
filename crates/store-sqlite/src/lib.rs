//! The embedded store: SQLite adapters of the core's `Store` port and of the
//! local engine's `Journal`, in one database file.
//!
//! The database is in WAL mode. Every domain operation is atomic: a write
//! runs on the writer thread in a savepoint of a transaction that commits
//! it, with whatever other writes were queued, before anyone is answered; a
//! read runs in a read transaction of its own (see [`conn`]).

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use greenlight_core::ids::*;
use greenlight_core::model::*;
use greenlight_core::money::Money;
use greenlight_core::ports::*;
use greenlight_core::time::Timestamp;
use greenlight_core::trail;
use greenlight_engine::{ExecutionRecord, ExecutionStatus, Failure, Journal, JournalError, TaskOutcome};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

mod conn;
mod outputs;

use outputs::{Outputs, Stamp};
use std::sync::Arc;

const SCHEMA: &str = include_str!("schema.sql");

#[derive(Clone)]
pub struct SqliteStore {
    conns: conn::Connections,
    outputs: Arc<Outputs>,
}

type Res<T> = Result<T, StoreError>;

fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// Runs a statement from the connection's cache of prepared statements.
fn execute(tx: &Connection, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
    tx.prepare_cached(sql)?.execute(params)
}

/// Reads one row with a statement from the connection's cache.
fn query_row<T>(
    tx: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    tx.prepare_cached(sql)?.query_row(params, f)
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn to_json<T: Serialize>(v: &T) -> Res<String> {
    serde_json::to_string(v).map_err(corrupt)
}

fn from_json<T: for<'de> Deserialize<'de>>(s: &str) -> Res<T> {
    serde_json::from_str(s).map_err(corrupt)
}

/// A trail as stored: JSON text, or packed (a blob), as [`trail::pack`] says.
fn write_trail(trail: &[Value]) -> Res<rusqlite::types::Value> {
    Ok(match trail::pack(trail).map_err(corrupt)? {
        trail::Stored::Text(json) => rusqlite::types::Value::Text(json),
        trail::Stored::Packed(bytes) => rusqlite::types::Value::Blob(bytes),
    })
}

/// A stored trail: JSON text (as earlier versions wrote every trail), or a
/// packed blob.
fn read_trail(stored: rusqlite::types::ValueRef<'_>) -> Res<Vec<Value>> {
    use rusqlite::types::ValueRef;
    match stored {
        ValueRef::Null => Ok(Vec::new()),
        ValueRef::Text(t) => trail::from_text(t).map_err(corrupt),
        ValueRef::Blob(b) => trail::unpack(b, trail::MAX_BYTES).map_err(corrupt),
        _ => Err(corrupt("a stored trail is neither text nor a blob")),
    }
}

fn ts(s: &str) -> Res<Timestamp> {
    Timestamp::parse(s).ok_or_else(|| corrupt(format!("bad time {s}")))
}

fn opt_ts(s: Option<String>) -> Res<Option<Timestamp>> {
    s.as_deref().map(ts).transpose()
}

/// A pagination cursor: the sort key of the last item served, bound to the
/// workspace and the list it came from.
#[derive(Serialize, Deserialize)]
struct Cursor {
    w: String,
    l: String,
    a: String,
    b: String,
}

/// Keeps a decision in the history; one already kept under its key stays.
fn insert_history(tx: &Connection, ws: &WorkspaceId, e: &HistoryEntry) -> Res<()> {
    execute(
                tx,
        "INSERT INTO decision_history (workspace_id, workflow, gate, at, step_id, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT DO NOTHING",
        params![ws.as_str(), e.workflow, e.gate, e.at.to_string(), e.step_id, to_json(e)?],
    )
    .map_err(db_err)?;
    Ok(())
}

fn encode_cursor(ws: &WorkspaceId, list: &str, a: &str, b: &str) -> String {
    let c = Cursor {
        w: ws.to_string(),
        l: list.into(),
        a: a.into(),
        b: b.into(),
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap_or_default())
}

fn decode_cursor(ws: &WorkspaceId, list: &str, cursor: &Option<String>) -> Res<Option<(String, String)>> {
    let Some(raw) = cursor else { return Ok(None) };
    let bytes = URL_SAFE_NO_PAD
        .decode(raw.as_bytes())
        .map_err(|_| StoreError::BadCursor)?;
    let c: Cursor = serde_json::from_slice(&bytes).map_err(|_| StoreError::BadCursor)?;
    if c.w != ws.as_str() || c.l != list {
        return Err(StoreError::BadCursor);
    }
    Ok(Some((c.a, c.b)))
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open(path).map_err(db_err)?;
        Self::init(conn, Some(path))
    }

    /// A private in-memory database (tests).
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        Self::init(Connection::open_in_memory().map_err(db_err)?, None)
    }

    fn init(conn: Connection, path: Option<&Path>) -> Result<SqliteStore, StoreError> {
        conn.busy_timeout(Duration::from_secs(5)).map_err(db_err)?;
        conn.set_prepared_statement_cache_capacity(conn::STATEMENTS);
        // Reads on connections of their own need WAL (readers and the
        // writer then never wait on each other); where the file system
        // cannot have it, every operation goes to the writer.
        let mode = journal_mode_wal(&conn)?;
        let path = path.filter(|_| mode.eq_ignore_ascii_case("wal"));
        if path.is_none() && mode != "memory" {
            tracing::warn!(journal_mode = %mode, "the database is not in WAL mode; reads go through the writer");
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(db_err)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(db_err)?;
        // Each operation's savepoint journal stays in memory instead of
        // spilling to a temporary file past 64 KiB (a step's output does).
        conn.pragma_update(None, "temp_store", "MEMORY").map_err(db_err)?;
        // Checkpoint the WAL every 8,000 pages (32 MB) rather than 1,000:
        // fewer stalls behind a checkpoint (the decisions' p99 latency fell
        // from about 8 ms to 4 ms). Durability is the same: a commit is in
        // the WAL either way.
        conn.pragma_update(None, "wal_autocheckpoint", 8000)
            .map_err(db_err)?;
        migrate(&conn)?;
        Ok(SqliteStore {
            conns: conn::Connections::start(conn, path)?,
            outputs: Arc::new(Outputs::new(outputs::BUDGET_BYTES)),
        })
    }

    /// How many approvals wait in all workspaces (for benchmarks and operators).
    pub async fn count_pending(&self) -> Res<u64> {
        self.read(|tx| {
            query_row(
                tx,
                "SELECT count(*) FROM approvals WHERE status = 'pending'",
                [],
                |r| r.get(0),
            )
            .map_err(db_err)
        })
        .await
    }

    /// Runs a write operation (atomically, committed before it answers).
    async fn tx<T, F>(&self, f: F) -> Res<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Res<T> + Send + 'static,
    {
        self.conns.write(f).await
    }

    /// Runs a read-only operation in a read transaction of its own.
    async fn read<T, F>(&self, f: F) -> Res<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Res<T> + Send + 'static,
    {
        self.conns.read(f).await
    }
}

// ---- row mapping -------------------------------------------------------------

const RUN_COLS: &str = "id, workspace_id, workflow, workflow_name, brief, status, error, created_at, finished_at, created_by, rerun_of";

/// The format of the database this version writes (`PRAGMA user_version`):
/// 1 since long trails are stored compressed, which versions before it
/// cannot read. A database of a later format is refused.
const FORMAT: i64 = 1;

/// How long opening a database waits for another process that holds it
/// (migrating it, or switching it to WAL): a rebuild of a large steps table
/// can take a while.
const OPEN_WAIT: Duration = Duration::from_secs(600);

/// Asks for WAL mode and answers the mode the database is in. Switching a
/// database out of rollback mode needs it to itself, and SQLite refuses at
/// once, without waiting, while another connection (a process opening the
/// same file) holds a lock on it: that refusal is retried until
/// [`OPEN_WAIT`].
fn journal_mode_wal(conn: &Connection) -> Res<String> {
    let started = Instant::now();
    let mut told = false;
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && started.elapsed() < OPEN_WAIT =>
            {
                if !told && started.elapsed() >= Duration::from_secs(1) {
                    tracing::info!(
                        "waiting for another process to release the database to switch it to WAL mode"
                    );
                    told = true;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            answered => return answered.map_err(db_err),
        }
    }
}

/// Creates what `schema.sql` has and the database has not, and brings a
/// database made by an earlier version up to it, in one transaction that
/// holds the write lock while it looks and changes (two processes opening
/// an old database at once: the second waits, then finds it done).
fn migrate(conn: &Connection) -> Res<()> {
    conn.busy_timeout(OPEN_WAIT).map_err(db_err)?;
    conn.execute_batch("BEGIN IMMEDIATE").map_err(db_err)?;
    let migrated = check_format(conn)
        .and_then(|()| conn.execute_batch(SCHEMA).map_err(db_err))
        .and_then(|()| add_revision(conn))
        .and_then(|()| add_output_rev(conn))
        .and_then(|()| reorder_steps(conn))
        .and_then(|()| {
            conn.execute_batch(&format!("PRAGMA user_version = {FORMAT}"))
                .map_err(db_err)
        });
    let ended = match &migrated {
        Ok(()) => conn.execute_batch("COMMIT"),
        Err(_) => conn.execute_batch("ROLLBACK"),
    };
    conn.busy_timeout(Duration::from_secs(5)).map_err(db_err)?;
    migrated?;
    ended.map_err(db_err)
}

/// Refuses a database of a format later than this version's.
fn check_format(conn: &Connection) -> Res<()> {
    let format: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db_err)?;
    if format > FORMAT {
        return Err(StoreError::Corrupt(format!(
            "the database has format {format}, and this version reads up to {FORMAT}: it was written by a newer version of Greenlight"
        )));
    }
    Ok(())
}

/// Adds a counter column (`INTEGER NOT NULL DEFAULT 0`) that earlier
/// versions' tables have not.
fn add_counter(conn: &Connection, table: &str, column: &str) -> Res<()> {
    let has: bool = conn
        .query_row(
            "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2",
            [table, column],
            |r| r.get::<_, i64>(0),
        )
        .map_err(db_err)?
        > 0;
    if !has {
        conn.execute_batch(&format!(
            "ALTER TABLE {table} ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0"
        ))
        .map_err(db_err)?;
        tracing::info!("added {table}.{column} to a database made by an earlier version");
    }
    Ok(())
}

/// `steps.output_rev`, which earlier versions had not (added last; the
/// reordering that follows puts it before the large columns). Their rows
/// start at 0, which no output in memory was cached under.
fn add_output_rev(conn: &Connection) -> Res<()> {
    add_counter(conn, "steps", "output_rev")
}

/// `workspaces.revision`, which earlier versions had not.
fn add_revision(conn: &Connection) -> Res<()> {
    add_counter(conn, "workspaces", "revision")?;
    // Every write of a workspace counts, whoever makes it (an earlier
    // version's `greenlight admin` too): what cached brand data is checked against.
    conn.execute_batch(
        "CREATE TRIGGER IF NOT EXISTS workspaces_revision AFTER UPDATE OF name, spend_cap, data ON workspaces
         BEGIN UPDATE workspaces SET revision = revision + 1 WHERE id = NEW.id; END;",
    )
    .map_err(db_err)
}

/// The columns of `steps`, in the order of `schema.sql`.
const STEP_COLUMNS: &str = "run_id, key, position, label, kind, status, after, cost, started_at, finished_at, decision, output_rev, output, trail";

/// The columns of the `steps` table as the database has them, in order.
fn step_column_names(conn: &Connection) -> Res<Vec<String>> {
    conn.prepare("SELECT name FROM pragma_table_info('steps') ORDER BY cid")
        .and_then(|mut stmt| stmt.query_map([], |r| r.get(0))?.collect())
        .map_err(db_err)
}

/// Rebuilds a `steps` table made with the output and trail before the small
/// columns (as earlier versions made it) in the order of `schema.sql`, in
/// the caller's transaction. A table with other columns is refused, not
/// rebuilt: whatever made it, nothing of it is dropped.
fn reorder_steps(conn: &Connection) -> Res<()> {
    let names = step_column_names(conn)?;
    if names.join(", ") == STEP_COLUMNS {
        return Ok(());
    }
    let (mut have, mut want): (Vec<&str>, Vec<&str>) = (
        names.iter().map(String::as_str).collect(),
        STEP_COLUMNS.split(", ").collect(),
    );
    have.sort_unstable();
    want.sort_unstable();
    if have != want {
        return Err(corrupt(format!(
            "the steps table has the columns {}, not those of this version ({STEP_COLUMNS}): was the database made by a newer version?",
            names.join(", ")
        )));
    }
    let create = SCHEMA
        .split_once("CREATE TABLE IF NOT EXISTS steps (")
        .and_then(|(_, rest)| rest.split_once(");"))
        .map(|(body, _)| format!("CREATE TABLE steps_reordered ({body});"))
        .ok_or_else(|| corrupt("schema.sql has no steps table"))?;
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM steps", [], |r| r.get(0))
        .map_err(db_err)?;
    tracing::info!(
        rows,
        "reordering the columns of steps in a database made by an earlier version"
    );
    conn.execute_batch(&format!(
        "{create}
         INSERT INTO steps_reordered ({STEP_COLUMNS}) SELECT {STEP_COLUMNS} FROM steps;
         DROP TABLE steps;
         ALTER TABLE steps_reordered RENAME TO steps;"
    ))
    .map_err(db_err)
}

fn run_from_row(r: &Row<'_>) -> rusqlite::Result<[Option<String>; 11]> {
    Ok([
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
    ])
}

fn run_from_cols(c: [Option<String>; 11]) -> Res<Run> {
    let [
        id,
        ws,
        workflow,
        workflow_name,
        brief,
        status,
        error,
        created_at,
        finished_at,
        created_by,
        rerun_of,
    ] = c;
    let req = |v: Option<String>| v.ok_or_else(|| corrupt("missing run column"));
    Ok(Run {
        id: RunId::parse(req(id)?).map_err(corrupt)?,
        workspace_id: WorkspaceId::parse(req(ws)?).map_err(corrupt)?,
        workflow: req(workflow)?,
        workflow_name: req(workflow_name)?,
        brief: from_json(&req(brief)?)?,
        status: RunStatus::parse(&req(status)?).ok_or_else(|| corrupt("bad run status"))?,
        error,
        created_at: ts(&req(created_at)?)?,
        finished_at: opt_ts(finished_at)?,
        created_by: from_json(&req(created_by)?)?,
        rerun_of: rerun_of.map(RunId::parse).transpose().map_err(corrupt)?,
    })
}

/// Which columns of a run's steps a read carries.
#[derive(Clone, Copy)]
enum StepCols<'a> {
    /// Everything.
    All,
    /// Every output, no trails.
    NoTrails,
    /// As `NoTrails`, for a list of runs: what it reads leaves the outputs
    /// kept in memory as they were (a page of runs would push out those of
    /// the runs in flight).
    Listed,
    /// No trails, and the outputs of these keys only.
    OutputsOf(&'a [StepKey]),
    /// No trails, and only the steps of these keys.
    Only(&'a [StepKey]),
}

/// A run with its steps, as `cols` says; the outputs come from `outputs`
/// where it holds them for the rows as they are.
fn load_run(tx: &Connection, id: &str, step_cols: StepCols<'_>, outputs: &Outputs) -> Res<Option<RunRecord>> {
    let cols = tx
        .prepare_cached(&format!("SELECT {RUN_COLS} FROM runs WHERE id = ?1"))
        .and_then(|mut s| s.query_row([id], run_from_row).optional())
        .map_err(db_err)?;
    let Some(cols) = cols else { return Ok(None) };
    let run = run_from_cols(cols)?;
    let steps = match step_cols {
        StepCols::All => load_steps_with_trails(tx, &run.id)?,
        cols => load_steps(tx, &run.id, cols, outputs)?,
    };
    Ok(Some(RunRecord { run, steps }))
}

/// The keys as a JSON array, for `json_each`.
fn keys_json(keys: &[StepKey]) -> Res<String> {
    to_json(&keys.iter().map(StepKey::as_str).collect::<Vec<_>>())
}

/// A step's row but for its output and trail.
struct StepRow {
    key: String,
    label: String,
    kind: String,
    status: String,
    after: String,
    cost: i64,
    started_at: Option<String>,
    finished_at: Option<String>,
    decision: Option<String>,
    position: i64,
    output_rev: i64,
}

/// The columns [`step_row`] reads, in its order.
const STEP_ROW_COLS: &str =
    "key, label, kind, status, after, cost, started_at, finished_at, decision, position, output_rev";

/// The place of the first column after [`STEP_ROW_COLS`].
const AFTER_STEP_ROW: usize = 11;

fn step_row(r: &Row<'_>) -> rusqlite::Result<StepRow> {
    Ok(StepRow {
        key: r.get(0)?,
        label: r.get(1)?,
        kind: r.get(2)?,
        status: r.get(3)?,
        after: r.get(4)?,
        cost: r.get(5)?,
        started_at: r.get(6)?,
        finished_at: r.get(7)?,
        decision: r.get(8)?,
        position: r.get(9)?,
        output_rev: r.get(10)?,
    })
}

impl StepRow {
    /// What an output kept in memory must have been cached under to be
    /// this row's.
    fn stamp(&self) -> Stamp {
        Stamp {
            status: self.status.clone(),
            finished_at: self.finished_at.clone(),
            rev: self.output_rev,
        }
    }
}

fn step_record(
    run: &RunId,
    row: StepRow,
    output: Option<Arc<Value>>,
    trail: Vec<Value>,
) -> Res<(i64, StepRecord)> {
    Ok((
        row.position,
        StepRecord {
            run_id: run.clone(),
            key: StepKey::parse(row.key).map_err(corrupt)?,
            label: row.label,
            kind: row.kind,
            status: StepStatus::parse(&row.status).ok_or_else(|| corrupt("bad step status"))?,
            after: from_json(&row.after)?,
            output,
            trail,
            cost: Money::from_micros(row.cost),
            started_at: opt_ts(row.started_at)?,
            finished_at: opt_ts(row.finished_at)?,
            decision: row.decision.as_deref().map(from_json).transpose()?,
        },
    ))
}

/// In recipe order: sorted here rather than by SQLite, whose sorter would
/// copy every output through its own buffers.
fn in_order(mut steps: Vec<(i64, StepRecord)>) -> Vec<StepRecord> {
    steps.sort_by_key(|(position, _)| *position);
    steps.into_iter().map(|(_, s)| s).collect()
}

/// Every column of a run's steps, trails too (read for one run's page).
fn load_steps_with_trails(tx: &Connection, run: &RunId) -> Res<Vec<StepRecord>> {
    let mut stmt = tx
        .prepare_cached(&format!(
            "SELECT {STEP_ROW_COLS}, output, trail FROM steps WHERE run_id = ?1"
        ))
        .map_err(db_err)?;
    let rows = stmt
        .query_map([run.as_str()], |r| {
            Ok((
                step_row(r)?,
                r.get::<_, Option<String>>(AFTER_STEP_ROW)?,
                read_trail(r.get_ref(AFTER_STEP_ROW + 1)?),
            ))
        })
        .map_err(db_err)?;
    let mut out = Vec::new();
    for row in rows {
        let (row, output, trail) = row.map_err(db_err)?;
        let output = output.as_deref().map(from_json).transpose()?;
        out.push(step_record(run, row, output, trail?)?);
    }
    Ok(in_order(out))
}

/// A run's steps without trails, as `cols` says. The rows are read first,
/// without outputs; an output `outputs` holds under the row's stamp (its
/// status, finish time and count of output writes) comes from there, and
/// only the others are read, in the same read transaction, and kept there.
fn load_steps(tx: &Connection, run: &RunId, cols: StepCols<'_>, outputs: &Outputs) -> Res<Vec<StepRecord>> {
    // `typeof` tells NULL without reading the output.
    let (sql, keys) = match cols {
        StepCols::All => return load_steps_with_trails(tx, run),
        StepCols::NoTrails | StepCols::Listed => (
            format!(
                "SELECT {STEP_ROW_COLS}, typeof(output) != 'null' FROM steps WHERE run_id = ?1 AND ?2 IS NULL"
            ),
            None,
        ),
        StepCols::OutputsOf(keys) => (
            format!(
                "SELECT {STEP_ROW_COLS}, typeof(output) != 'null' AND key IN (SELECT value FROM json_each(?2))
                 FROM steps WHERE run_id = ?1"
            ),
            Some(keys_json(keys)?),
        ),
        StepCols::Only(keys) => (
            format!(
                "SELECT {STEP_ROW_COLS}, typeof(output) != 'null'
                 FROM steps WHERE run_id = ?1 AND key IN (SELECT value FROM json_each(?2))"
            ),
            Some(keys_json(keys)?),
        ),
    };
    let mut stmt = tx.prepare_cached(&sql).map_err(db_err)?;
    let rows = stmt
        .query_map(params![run.as_str(), keys], |r| {
            Ok((step_row(r)?, r.get::<_, bool>(AFTER_STEP_ROW)?))
        })
        .map_err(db_err)?;
    // Each row with its output, if it carries one and it is kept in memory;
    // if it carries one that is not, the stamp to keep it under once read.
    let mut read: Vec<(StepRow, Option<Arc<Value>>, Option<Stamp>)> = Vec::new();
    for row in rows {
        let (row, carries) = row.map_err(db_err)?;
        let stamp = row.stamp();
        let kept = if carries {
            outputs.get(run.as_str(), &row.key, &stamp, !matches!(cols, StepCols::Listed))
        } else {
            None
        };
        let missing = (carries && kept.is_none()).then_some(stamp);
        read.push((row, kept, missing));
    }
    drop(stmt);
    let missing: Vec<&str> = read
        .iter()
        .filter(|(_, _, m)| m.is_some())
        .map(|(row, _, _)| row.key.as_str())
        .collect();
    let mut parsed: HashMap<String, Arc<Value>> = HashMap::new();
    if !missing.is_empty() {
        let mut stmt = tx
            .prepare_cached(
                "SELECT key, output FROM steps
                 WHERE run_id = ?1 AND key IN (SELECT value FROM json_each(?2)) AND output IS NOT NULL",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![run.as_str(), to_json(&missing)?], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(db_err)?;
        for row in rows {
            let (key, json) = row.map_err(db_err)?;
            let output: Arc<Value> = Arc::new(from_json(&json)?);
            if let Some((_, _, Some(stamp))) = read.iter().find(|(r, _, _)| r.key == key)
                && !matches!(cols, StepCols::Listed)
            {
                outputs.put(run.as_str(), &key, stamp.clone(), output.clone(), json.len());
            }
            parsed.insert(key, output);
        }
    }
    let mut out = Vec::with_capacity(read.len());
    for (row, kept, _) in read {
        let output = kept.or_else(|| parsed.remove(&row.key));
        out.push(step_record(run, row, output, Vec::new())?);
    }
    Ok(in_order(out))
}

/// Events written for the database: (type, when, data as JSON).
type WrittenEvents = Vec<(&'static str, String, String)>;

fn write_events(events: &[NewEvent], at: impl Fn(&NewEvent) -> Timestamp) -> Res<WrittenEvents> {
    events
        .iter()
        .map(|e| Ok((e.kind.as_str(), at(e).to_string(), to_json(&e.data)?)))
        .collect()
}

fn append_events(tx: &Connection, run: &RunId, at: Timestamp, events: &[NewEvent]) -> Res<()> {
    insert_events(tx, run.as_str(), &write_events(events, |_| at)?)
}

fn insert_events(tx: &Connection, run: &str, events: &[(&'static str, String, String)]) -> Res<()> {
    if events.is_empty() {
        return Ok(());
    }
    let seq: i64 =
        query_row(tx, "SELECT next_seq FROM runs WHERE id = ?1", [run], |r| r.get(0)).map_err(db_err)?;
    let mut stmt = tx
        .prepare_cached("INSERT INTO events (run_id, seq, type, at, data) VALUES (?1, ?2, ?3, ?4, ?5)")
        .map_err(db_err)?;
    for (i, (kind, at, data)) in events.iter().enumerate() {
        stmt.execute(params![run, seq + i as i64, kind, at, data])
            .map_err(db_err)?;
    }
    execute(
        tx,
        "UPDATE runs SET next_seq = next_seq + ?2 WHERE id = ?1",
        params![run, events.len() as i64],
    )
    .map_err(db_err)?;
    Ok(())
}

fn run_status(tx: &Connection, run: &str) -> Res<Option<RunStatus>> {
    let s: Option<String> = query_row(tx, "SELECT status FROM runs WHERE id = ?1", [run], |r| r.get(0))
        .optional()
        .map_err(db_err)?;
    Ok(s.and_then(|s| RunStatus::parse(&s)))
}

/// A run's status and one of its steps', in one lookup (`None` where the
/// run, or its step, is not there).
fn statuses(tx: &Connection, run: &str, key: &str) -> Res<(Option<RunStatus>, Option<StepStatus>)> {
    let s: Option<(String, Option<String>)> = query_row(
        tx,
        "SELECT runs.status, steps.status FROM runs
         LEFT JOIN steps ON steps.run_id = runs.id AND steps.key = ?2 WHERE runs.id = ?1",
        [run, key],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
    .map_err(db_err)?;
    Ok(match s {
        Some((run, step)) => (
            RunStatus::parse(&run),
            step.as_deref().and_then(StepStatus::parse),
        ),
        None => (None, None),
    })
}

/// A step update with its JSON written: what the writer thread applies.
/// Writing the JSON (and dropping the update's values) stays with the
/// caller, off the one writer thread.
struct WrittenUpdate {
    run_id: String,
    key: String,
    from: Vec<StepStatus>,
    to: StepStatus,
    started_at: Option<String>,
    finished_at: Option<String>,
    /// Output, trail (see [`write_trail`]) and cost.
    result: Option<(String, rusqlite::types::Value, i64)>,
    events: WrittenEvents,
}

impl WrittenUpdate {
    fn of(u: &StepUpdate) -> Res<WrittenUpdate> {
        Ok(WrittenUpdate {
            run_id: u.run_id.to_string(),
            key: u.key.to_string(),
            from: u.from.clone(),
            to: u.to,
            started_at: u.started_at.map(|t| t.to_string()),
            finished_at: u.finished_at.map(|t| t.to_string()),
            result: u
                .result
                .as_ref()
                .map(|r| Ok::<_, StoreError>((to_json(&r.output)?, write_trail(&r.trail)?, r.cost.micros())))
                .transpose()?,
            events: write_events(&u.events, |e| {
                u.event_at(e)
                    .unwrap_or_else(|| Timestamp::from_datetime(chrono_now()))
            })?,
        })
    }
}

/// What [`apply_update`] did.
enum Applied {
    /// The condition did not hold: nothing written.
    No,
    /// Written; with a result, the row's stamp as written.
    Yes(Option<Stamp>),
}

fn apply_update(tx: &Connection, u: &WrittenUpdate) -> Res<Applied> {
    let (run, step) = statuses(tx, &u.run_id, &u.key)?;
    if run != Some(RunStatus::Running) || !step.is_some_and(|c| u.from.contains(&c)) {
        return Ok(Applied::No);
    }
    let stamp = match &u.result {
        None => execute(
            tx,
            "UPDATE steps SET status = ?3, started_at = COALESCE(?4, started_at), finished_at = COALESCE(?5, finished_at)
             WHERE run_id = ?1 AND key = ?2",
            params![u.run_id, u.key, u.to.as_str(), u.started_at, u.finished_at],
        )
        .map(|_| None),
        Some((output, trail, cost)) => tx
            .prepare_cached(
                "UPDATE steps SET status = ?3, started_at = COALESCE(?4, started_at), finished_at = COALESCE(?5, finished_at),
                                  output = ?6, trail = ?7, cost = ?8, output_rev = output_rev + 1
                 WHERE run_id = ?1 AND key = ?2
                 RETURNING status, finished_at, output_rev",
            )
            .and_then(|mut stmt| {
                // Stepped to its end: an error at the end is not lost.
                stmt.query_one(
                    params![u.run_id, u.key, u.to.as_str(), u.started_at, u.finished_at, output, trail, cost],
                    |r| {
                        Ok(Stamp {
                            status: r.get(0)?,
                            finished_at: r.get(1)?,
                            rev: r.get(2)?,
                        })
                    },
                )
            })
            .map(Some),
    }
    .map_err(db_err)?;
    insert_events(tx, &u.run_id, &u.events)?;
    Ok(Applied::Yes(stamp))
}

fn chrono_now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

fn approval_from_row(body: &str, status: &str) -> Res<Approval> {
    let mut a: Approval = from_json(body)?;
    a.status = match status {
        "pending" => ApprovalStatus::Pending,
        "decided" => ApprovalStatus::Decided,
        _ => ApprovalStatus::Cancelled,
    };
    Ok(a)
}

/// Releases the run's unconsumed spend reservations from their months' totals.
fn release_reservations(tx: &Connection, run: &str) -> Res<()> {
    execute(
        tx,
        "UPDATE spend SET total = total - (
             SELECT COALESCE(SUM(r.amount), 0) FROM spend_reservations r
             WHERE r.run_id = ?1 AND r.state = 'reserved'
               AND r.workspace_id = spend.workspace_id AND r.month = spend.month)
         WHERE EXISTS (SELECT 1 FROM spend_reservations r WHERE r.run_id = ?1 AND r.state = 'reserved'
               AND r.workspace_id = spend.workspace_id AND r.month = spend.month)",
        [run],
    )
    .map_err(db_err)?;
    execute(
        tx,
        "UPDATE spend_reservations SET state = 'released' WHERE run_id = ?1 AND state = 'reserved'",
        [run],
    )
    .map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn put_workspace(&self, ws: &Workspace) -> Res<()> {
        let ws = ws.clone();
        self.tx(move |tx| {
            execute(
                tx,
                "INSERT INTO workspaces (id, name, spend_cap, data) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, spend_cap = excluded.spend_cap,
                   data = excluded.data",
                params![ws.id.as_str(), ws.name, ws.spend_cap.micros(), to_json(&ws.data)?],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn workspace_revision(&self, id: &WorkspaceId) -> Res<Option<u64>> {
        let id = id.clone();
        self.read(move |tx| {
            query_row(
                tx,
                "SELECT revision FROM workspaces WHERE id = ?1",
                [id.as_str()],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|r| r.map(|r| r as u64))
            .map_err(db_err)
        })
        .await
    }

    async fn get_workspace(&self, id: &WorkspaceId) -> Res<Option<Workspace>> {
        let id = id.clone();
        self.read(move |tx| {
            let row = query_row(
                tx,
                "SELECT name, spend_cap, data FROM workspaces WHERE id = ?1",
                [id.as_str()],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                },
            )
            .optional()
            .map_err(db_err)?;
            row.map(|(name, cap, data)| {
                Ok(Workspace {
                    id: id.clone(),
                    name,
                    spend_cap: Money::from_micros(cap),
                    data: from_json(&data)?,
                })
            })
            .transpose()
        })
        .await
    }

    async fn put_member(&self, m: &Member) -> Res<()> {
        let m = m.clone();
        self.tx(move |tx| {
            execute(
                tx,
                "INSERT INTO members (workspace_id, id, name, roles) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (workspace_id, id) DO UPDATE SET name = excluded.name, roles = excluded.roles",
                params![m.workspace_id.as_str(), m.id.as_str(), m.name, to_json(&m.roles)?],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn get_member(&self, ws: &WorkspaceId, id: &MemberId) -> Res<Option<Member>> {
        let (ws, id) = (ws.clone(), id.clone());
        self.read(move |tx| {
            let row = query_row(
                tx,
                "SELECT name, roles FROM members WHERE workspace_id = ?1 AND id = ?2",
                params![ws.as_str(), id.as_str()],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()
            .map_err(db_err)?;
            row.map(|(name, roles)| {
                Ok(Member {
                    workspace_id: ws.clone(),
                    id: id.clone(),
                    name,
                    roles: from_json(&roles)?,
                })
            })
            .transpose()
        })
        .await
    }

    async fn put_token(&self, token_hash: &str, m: &Member, dev_only: bool) -> Res<()> {
        let (hash, m) = (token_hash.to_string(), m.clone());
        self.tx(move |tx| {
            execute(
                tx,
                "INSERT INTO tokens (hash, workspace_id, member_id, dev_only) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (hash) DO UPDATE SET workspace_id = excluded.workspace_id, member_id = excluded.member_id, dev_only = excluded.dev_only",
                params![hash, m.workspace_id.as_str(), m.id.as_str(), dev_only],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn delete_token(&self, token_hash: &str) -> Res<bool> {
        let hash = token_hash.to_string();
        self.tx(move |tx| Ok(execute(tx, "DELETE FROM tokens WHERE hash = ?1", [hash]).map_err(db_err)? == 1))
            .await
    }

    async fn member_by_token(&self, token_hash: &str) -> Res<Option<(Member, bool)>> {
        let hash = token_hash.to_string();
        self.read(move |tx| {
            let row = query_row(
                tx,
                "SELECT m.workspace_id, m.id, m.name, m.roles, t.dev_only FROM tokens t
                     JOIN members m ON m.workspace_id = t.workspace_id AND m.id = t.member_id
                     WHERE t.hash = ?1",
                [hash],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, bool>(4)?,
                    ))
                },
            )
            .optional()
            .map_err(db_err)?;
            row.map(|(ws, id, name, roles, dev)| {
                Ok((
                    Member {
                        workspace_id: WorkspaceId::parse(ws).map_err(corrupt)?,
                        id: MemberId::parse(id).map_err(corrupt)?,
                        name,
                        roles: from_json(&roles)?,
                    },
                    dev,
                ))
            })
            .transpose()
        })
        .await
    }

    async fn create_run(&self, new: &NewRun) -> Res<()> {
        let new = new.clone();
        self.tx(move |tx| {
            let r = &new.run;
            let inserted = execute(
                tx,
                    &format!("INSERT OR IGNORE INTO runs ({RUN_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
                    params![
                        r.id.as_str(),
                        r.workspace_id.as_str(),
                        r.workflow,
                        r.workflow_name,
                        to_json(&r.brief)?,
                        r.status.as_str(),
                        r.error,
                        r.created_at.to_string(),
                        r.finished_at.map(|t| t.to_string()),
                        to_json(&r.created_by)?,
                        r.rerun_of.as_ref().map(|x| x.to_string()),
                    ],
                )
                .map_err(db_err)?;
            if inserted == 0 {
                return Err(StoreError::AlreadyExists(format!("run {}", r.id)));
            }
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO steps (run_id, key, position, label, kind, status, after) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(db_err)?;
            for (i, s) in new.steps.iter().enumerate() {
                stmt.execute(params![
                    r.id.as_str(),
                    s.key.as_str(),
                    i as i64,
                    s.label,
                    s.kind,
                    s.status.as_str(),
                    to_json(&s.after)?
                ])
                .map_err(db_err)?;
            }
            append_events(tx, &r.id, r.created_at, std::slice::from_ref(&new.started))
        })
        .await
    }

    async fn get_run(&self, id: &RunId) -> Res<Option<RunRecord>> {
        let id = id.clone();
        let outputs = self.outputs.clone();
        self.read(move |tx| load_run(tx, id.as_str(), StepCols::All, &outputs))
            .await
    }

    async fn get_run_without_trails(&self, id: &RunId) -> Res<Option<RunRecord>> {
        let id = id.clone();
        let outputs = self.outputs.clone();
        self.read(move |tx| load_run(tx, id.as_str(), StepCols::NoTrails, &outputs))
            .await
    }

    async fn get_run_with_outputs_of(&self, id: &RunId, keys: &[StepKey]) -> Res<Option<RunRecord>> {
        let id = id.clone();
        let (keys, outputs) = (keys.to_vec(), self.outputs.clone());
        self.read(move |tx| load_run(tx, id.as_str(), StepCols::OutputsOf(&keys), &outputs))
            .await
    }

    async fn get_run_with_steps(&self, id: &RunId, keys: &[StepKey]) -> Res<Option<RunRecord>> {
        let id = id.clone();
        let (keys, outputs) = (keys.to_vec(), self.outputs.clone());
        self.read(move |tx| load_run(tx, id.as_str(), StepCols::Only(&keys), &outputs))
            .await
    }

    async fn list_runs(
        &self,
        ws: &WorkspaceId,
        status: Option<RunStatus>,
        page: &PageRequest,
    ) -> Res<Page<RunRecord>> {
        let (ws, page, outputs) = (ws.clone(), page.clone(), self.outputs.clone());
        self.read(move |tx| {
            let after = decode_cursor(&ws, "runs", &page.cursor)?;
            let (a, b) = after.unwrap_or_else(|| ("\u{10FFFF}".into(), String::new()));
            let mut stmt = tx
                .prepare_cached(
                    "SELECT id FROM runs WHERE workspace_id = ?1 AND (?2 IS NULL OR status = ?2)
                     AND (created_at < ?3 OR (created_at = ?3 AND id < ?4))
                     ORDER BY created_at DESC, id DESC LIMIT ?5",
                )
                .map_err(db_err)?;
            let ids: Vec<String> = stmt
                .query_map(
                    params![
                        ws.as_str(),
                        status.map(|s| s.as_str()),
                        a,
                        b,
                        (page.limit + 1) as i64
                    ],
                    |r| r.get(0),
                )
                .map_err(db_err)?
                .collect::<Result<_, _>>()
                .map_err(db_err)?;
            let more = ids.len() > page.limit;
            let mut items = Vec::new();
            for id in ids.iter().take(page.limit) {
                // Lists show no trails.
                if let Some(r) = load_run(tx, id, StepCols::Listed, &outputs)? {
                    items.push(r);
                }
            }
            let next_cursor = match (more, items.last()) {
                (true, Some(last)) => Some(encode_cursor(
                    &ws,
                    "runs",
                    &last.run.created_at.to_string(),
                    last.run.id.as_str(),
                )),
                _ => None,
            };
            Ok(Page { items, next_cursor })
        })
        .await
    }

    async fn update_step(&self, update: &StepUpdate) -> Res<bool> {
        let u = WrittenUpdate::of(update)?;
        let written = u.result.as_ref().map(|(json, _, _)| json.len());
        Ok(match self.tx(move |tx| apply_update(tx, &u)).await? {
            Applied::No => false,
            Applied::Yes(stamp) => {
                // The output as written, for the steps that read it next.
                if let (Some(stamp), Some(bytes), Some(r)) = (stamp, written, &update.result) {
                    let (run, key) = (update.run_id.as_str(), update.key.as_str());
                    self.outputs.put(run, key, stamp, r.output.clone(), bytes);
                }
                true
            }
        })
    }

    async fn open_gate(&self, open: &OpenGate) -> Res<GateOpened> {
        // The JSON written here, off the writer thread; only strings go to it.
        let a = &open.approval;
        let (sid, ws, run_id, key, created) = (
            a.step_id.to_string(),
            a.workspace_id.to_string(),
            a.run_id.to_string(),
            a.step_key.to_string(),
            a.created_at.to_string(),
        );
        let (token, cost, body) = (open.task_token.clone(), open.cost.micros(), to_json(a)?);
        let events = write_events(&open.events, |_| a.created_at)?;
        self.tx(move |tx| {
            let existing: Option<String> = query_row(tx, "SELECT status FROM approvals WHERE step_id = ?1", [&sid], |r| r.get(0))
                .optional()
                .map_err(db_err)?;
            match existing.as_deref() {
                Some("pending") => {
                    execute(tx, "UPDATE approvals SET task_token = ?2 WHERE step_id = ?1", params![sid, token])
                        .map_err(db_err)?;
                    return Ok(GateOpened::StillWaiting);
                }
                Some("decided") => {
                    // A retried gate task: the stored decision goes out with the new token.
                    execute(tx, "UPDATE approvals SET task_token = ?2 WHERE step_id = ?1", params![sid, token])
                        .map_err(db_err)?;
                    execute(
                        tx,
                        "UPDATE resumes SET task_token = ?2, done = 0, attempts = 0 WHERE step_id = ?1",
                        params![sid, token],
                    )
                    .map_err(db_err)?;
                    return Ok(GateOpened::AlreadyDecided);
                }
                Some(_) => return Ok(GateOpened::Closed),
                None => {}
            }
            let (run, current) = statuses(tx, &run_id, &key)?;
            if run != Some(RunStatus::Running)
                || !matches!(current, Some(StepStatus::Pending) | Some(StepStatus::Running))
            {
                return Ok(GateOpened::Closed);
            }
            execute(
                tx,
                "INSERT INTO approvals (step_id, workspace_id, run_id, step_key, status, created_at, task_token, body)
                 VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?7)",
                params![sid, ws, run_id, key, created, token, body],
            )
            .map_err(db_err)?;
            execute(
                tx,
                "UPDATE steps SET status = 'waiting_for_approval', started_at = COALESCE(started_at, ?3),
                 cost = cost + ?4
                 WHERE run_id = ?1 AND key = ?2",
                params![run_id, key, created, cost],
            )
            .map_err(db_err)?;
            insert_events(tx, &run_id, &events)?;
            Ok(GateOpened::Waiting)
        })
        .await
    }

    async fn get_approval(&self, step_id: &StepId) -> Res<Option<Approval>> {
        let sid = step_id.to_string();
        self.read(move |tx| {
            let row = query_row(
                tx,
                "SELECT body, status FROM approvals WHERE step_id = ?1",
                [sid],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()
            .map_err(db_err)?;
            row.map(|(b, s)| approval_from_row(&b, &s)).transpose()
        })
        .await
    }

    async fn list_pending(
        &self,
        ws: &WorkspaceId,
        filter: &QueueFilter,
        page: &PageRequest,
    ) -> Res<Page<Approval>> {
        let (ws, filter, page) = (ws.clone(), filter.clone(), page.clone());
        self.read(move |tx| {
            let after = decode_cursor(&ws, "approvals", &page.cursor)?;
            let (a, b) = after.unwrap_or_else(|| ("\u{10FFFF}".into(), String::new()));
            let mut stmt = tx
                .prepare_cached(
                    "SELECT body, status, created_at, step_id FROM approvals
                     WHERE workspace_id = ?1 AND status = 'pending'
                       AND (created_at < ?2 OR (created_at = ?2 AND step_id < ?3))
                       AND (?4 IS NULL OR json_extract(body, '$.workflow') = ?4)
                       AND (?5 IS NULL OR step_key = ?5)
                     ORDER BY created_at DESC, step_id DESC LIMIT ?6",
                )
                .map_err(db_err)?;
            let rows: Vec<(String, String, String, String)> = stmt
                .query_map(
                    params![
                        ws.as_str(),
                        a,
                        b,
                        filter.workflow,
                        filter.step_key,
                        (page.limit + 1) as i64
                    ],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .map_err(db_err)?
                .collect::<Result<_, _>>()
                .map_err(db_err)?;
            let more = rows.len() > page.limit;
            let mut items = Vec::new();
            let mut last = None;
            for (body, status, created, sid) in rows.into_iter().take(page.limit) {
                items.push(approval_from_row(&body, &status)?);
                last = Some((created, sid));
            }
            let next_cursor = match (more, last) {
                (true, Some((c, s))) => Some(encode_cursor(&ws, "approvals", &c, &s)),
                _ => None,
            };
            Ok(Page { items, next_cursor })
        })
        .await
    }

    async fn apply_decision(&self, w: &DecisionWrite) -> Res<DecisionApplied> {
        let (w, step) = (w.clone(), w.step_id.clone());
        let applied = self.tx(move |tx| {
            let run = w.step_id.run_id().as_str().to_string();
            let key = w.step_id.step_key().as_str().to_string();
            let sid = w.step_id.to_string();
            // Conditions: the step is waiting and the run is running.
            if statuses(tx, &run, &key)? != (Some(RunStatus::Running), Some(StepStatus::WaitingForApproval)) {
                return Ok(DecisionApplied::Conflict);
            }
            let token: Option<String> = query_row(tx, "SELECT task_token FROM approvals WHERE step_id = ?1 AND status = 'pending'", [&sid], |r| r.get(0))
                .optional()
                .map_err(db_err)?;
            let Some(token) = token else { return Ok(DecisionApplied::Conflict) };
            // The spend aggregate, under the cap.
            if let Some(r) = &w.reserve {
                let spent: i64 = query_row(
                tx,
                        "SELECT COALESCE((SELECT total FROM spend WHERE workspace_id = ?1 AND month = ?2), 0)",
                        params![w.workspace_id.as_str(), r.month],
                        |row| row.get(0),
                    )
                    .map_err(db_err)?;
                if spent + r.amount.micros() > r.cap.micros() {
                    return Ok(DecisionApplied::OverCap { remaining: Money::from_micros(r.cap.micros() - spent).max(Money::ZERO) });
                }
                execute(
                tx,
                    "INSERT INTO spend (workspace_id, month, total) VALUES (?1, ?2, ?3)
                     ON CONFLICT (workspace_id, month) DO UPDATE SET total = total + excluded.total",
                    params![w.workspace_id.as_str(), r.month, r.amount.micros()],
                )
                .map_err(db_err)?;
                execute(
                tx,
                    "INSERT INTO spend_reservations (step_id, workspace_id, run_id, month, amount) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![sid, w.workspace_id.as_str(), run, r.month, r.amount.micros()],
                )
                .map_err(db_err)?;
            }
            let at = w.decision.at.to_string();
            execute(
                tx,
                "UPDATE steps SET status = ?3, output = ?4, decision = ?5, finished_at = ?6, output_rev = output_rev + 1
                 WHERE run_id = ?1 AND key = ?2",
                params![run, key, w.step_status.as_str(), to_json(&w.step_output)?, to_json(&w.decision)?, at],
            )
            .map_err(db_err)?;
            execute(tx, "UPDATE approvals SET status = 'decided' WHERE step_id = ?1", [&sid])
                .map_err(db_err)?;
            let a = &w.audit;
            execute(
                tx,
                "INSERT INTO audit (workspace_id, at, id, actor, action, run_id, step_id, text) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    a.workspace_id.as_str(),
                    a.at.to_string(),
                    a.id,
                    to_json(&a.actor)?,
                    a.action,
                    a.run_id.as_str(),
                    a.step_id.to_string(),
                    a.text
                ],
            )
            .map_err(db_err)?;
            insert_history(tx, &w.workspace_id, &w.history)?;
            execute(
                tx,
                "INSERT INTO resumes (step_id, task_token, action) VALUES (?1, ?2, ?3)
                 ON CONFLICT (step_id) DO UPDATE SET task_token = excluded.task_token, action = excluded.action, done = 0, attempts = 0",
                params![sid, token, to_json(&w.resume)?],
            )
            .map_err(db_err)?;
            let run_id = w.step_id.run_id().clone();
            append_events(tx, &run_id, w.decision.at, &w.events)?;
            let mut cancelled = Vec::new();
            if let Some(fail) = &w.fail_run {
                execute(
                tx,
                    "UPDATE runs SET status = 'failed', error = ?2, finished_at = ?3 WHERE id = ?1",
                    params![run, fail.error, at],
                )
                .map_err(db_err)?;
                // The run's other pending gates leave the queue.
                let siblings: Vec<(String, String)> = {
                    let mut stmt = tx
                        .prepare_cached("SELECT step_id, step_key FROM approvals WHERE run_id = ?1 AND status = 'pending'")
                        .map_err(db_err)?;
                    stmt.query_map([&run], |r| Ok((r.get(0)?, r.get(1)?)))
                        .map_err(db_err)?
                        .collect::<Result<_, _>>()
                        .map_err(db_err)?
                };
                let mut events = Vec::new();
                for (other, other_key) in siblings {
                    execute(tx, "UPDATE approvals SET status = 'cancelled' WHERE step_id = ?1", [&other])
                        .map_err(db_err)?;
                    execute(
                tx,
                        "UPDATE steps SET status = 'cancelled', finished_at = ?3 WHERE run_id = ?1 AND key = ?2",
                        params![run, other_key, at],
                    )
                    .map_err(db_err)?;
                    events.push(NewEvent {
                        kind: EventType::ApprovalCancelled,
                        data: serde_json::json!({"step_id": other, "step_key": other_key, "reason": fail.error}),
                    });
                    cancelled.push(StepId::parse(&other).map_err(corrupt)?);
                }
                events.push(fail.event.clone());
                append_events(tx, &run_id, w.decision.at, &events)?;
                release_reservations(tx, &run)?;
            }
            Ok(DecisionApplied::Applied { cancelled })
        })
        .await;
        // The gate's output is written anew (the proposal as decided).
        self.outputs
            .forget(step.run_id().as_str(), step.step_key().as_str());
        applied
    }

    async fn month_spend(&self, ws: &WorkspaceId, month: &str) -> Res<Money> {
        let (ws, month) = (ws.clone(), month.to_string());
        self.read(move |tx| {
            let total: i64 = query_row(
                tx,
                "SELECT COALESCE((SELECT total FROM spend WHERE workspace_id = ?1 AND month = ?2), 0)",
                params![ws.as_str(), month],
                |r| r.get(0),
            )
            .map_err(db_err)?;
            Ok(Money::from_micros(total))
        })
        .await
    }

    async fn pending_resumes(&self, limit: usize) -> Res<Vec<PendingResume>> {
        self.read(move |tx| {
            let mut stmt = tx
                .prepare_cached("SELECT step_id, task_token, action, attempts FROM resumes WHERE done = 0 ORDER BY attempts, step_id LIMIT ?1")
                .map_err(db_err)?;
            let rows: Vec<(String, String, String, i64)> = stmt
                .query_map([limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .map_err(db_err)?
                .collect::<Result<_, _>>()
                .map_err(db_err)?;
            rows.into_iter()
                .map(|(sid, token, action, attempts)| {
                    Ok(PendingResume {
                        step_id: StepId::parse(&sid).map_err(corrupt)?,
                        task_token: token,
                        action: from_json(&action)?,
                        attempts: attempts as u32,
                    })
                })
                .collect()
        })
        .await
    }

    async fn resume_done(&self, step_id: &StepId) -> Res<()> {
        let sid = step_id.to_string();
        self.tx(move |tx| {
            execute(tx, "UPDATE resumes SET done = 1 WHERE step_id = ?1", [sid]).map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn resume_failed_attempt(&self, step_id: &StepId) -> Res<()> {
        let sid = step_id.to_string();
        self.tx(move |tx| {
            execute(
                tx,
                "UPDATE resumes SET attempts = attempts + 1 WHERE step_id = ?1",
                [sid],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn complete_action(&self, item: &OutboxItem, update: &StepUpdate, gate: &StepId) -> Res<bool> {
        let (item, u, gate) = (item.clone(), WrittenUpdate::of(update)?, gate.clone());
        self.tx(move |tx| {
            if let Applied::No = apply_update(tx, &u)? {
                return Ok(false);
            }
            execute(
                tx,
                "INSERT OR IGNORE INTO outbox (step_id, workspace_id, run_id, step_key, action, payload, sent_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    item.step_id.to_string(),
                    item.workspace_id.as_str(),
                    item.run_id.as_str(),
                    item.step_key.as_str(),
                    item.action,
                    to_json(&item.payload)?,
                    item.sent_at.to_string()
                ],
            )
            .map_err(db_err)?;
            execute(
                tx,
                "UPDATE spend_reservations SET state = 'consumed' WHERE step_id = ?1 AND state = 'reserved'",
                [gate.to_string()],
            )
            .map_err(db_err)?;
            Ok(true)
        })
        .await
    }

    async fn finish_run(&self, f: &FinishRun) -> Res<bool> {
        let f = f.clone();
        self.tx(move |tx| {
            let run = f.run_id.as_str();
            let Some(status) = run_status(tx, run)? else {
                return Ok(false);
            };
            let changed = status == RunStatus::Running;
            let at = f.at.to_string();
            if changed {
                execute(
                    tx,
                    "UPDATE runs SET status = ?2, error = ?3, finished_at = ?4 WHERE id = ?1",
                    params![run, f.status.as_str(), f.error, at],
                )
                .map_err(db_err)?;
            }
            let final_status = if changed { f.status } else { status };
            // Steps that never finished: skipped on success, cancelled on failure.
            let never_ran = if final_status == RunStatus::Succeeded {
                "skipped"
            } else {
                "cancelled"
            };
            execute(
                tx,
                "UPDATE steps SET status = ?2, finished_at = ?3 WHERE run_id = ?1 AND status = 'pending'",
                params![run, never_ran, at],
            )
            .map_err(db_err)?;
            execute(
                tx,
                "UPDATE steps SET status = 'cancelled', finished_at = ?2
                 WHERE run_id = ?1 AND status IN ('running', 'waiting_for_approval')",
                params![run, at],
            )
            .map_err(db_err)?;
            let pending: Vec<(String, String)> = {
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT step_id, step_key FROM approvals WHERE run_id = ?1 AND status = 'pending'",
                    )
                    .map_err(db_err)?;
                stmt.query_map([run], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(db_err)?
                    .collect::<Result<_, _>>()
                    .map_err(db_err)?
            };
            let mut events = Vec::new();
            for (sid, key) in pending {
                execute(
                    tx,
                    "UPDATE approvals SET status = 'cancelled' WHERE step_id = ?1",
                    [&sid],
                )
                .map_err(db_err)?;
                events.push(NewEvent {
                    kind: EventType::ApprovalCancelled,
                    data: serde_json::json!({"step_id": sid, "step_key": key, "reason": "the run ended"}),
                });
            }
            if changed {
                events.push(f.event.clone());
            }
            append_events(tx, &f.run_id, f.at, &events)?;
            if final_status == RunStatus::Failed {
                release_reservations(tx, run)?;
            }
            Ok(changed)
        })
        .await
    }

    async fn events_after(&self, run: &RunId, after: u64, limit: usize) -> Res<Vec<Event>> {
        let run = run.clone();
        self.read(move |tx| {
            let mut stmt = tx
                .prepare_cached("SELECT seq, type, at, data FROM events WHERE run_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3")
                .map_err(db_err)?;
            let rows: Vec<(i64, String, String, String)> = stmt
                .query_map(params![run.as_str(), after as i64, limit as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .map_err(db_err)?
                .collect::<Result<_, _>>()
                .map_err(db_err)?;
            rows.into_iter()
                .map(|(seq, ty, at, data)| {
                    Ok(Event {
                        run_id: run.clone(),
                        seq: seq as u64,
                        kind: EventType::parse(&ty).ok_or_else(|| corrupt("bad event type"))?,
                        at: ts(&at)?,
                        data: from_json(&data)?,
                    })
                })
                .collect()
        })
        .await
    }

    async fn list_audit(&self, ws: &WorkspaceId, page: &PageRequest) -> Res<Page<AuditEntry>> {
        let (ws, page) = (ws.clone(), page.clone());
        self.read(move |tx| {
            let after = decode_cursor(&ws, "audit", &page.cursor)?;
            let (a, b) = after.unwrap_or_else(|| ("\u{10FFFF}".into(), String::new()));
            let mut stmt = tx
                .prepare_cached(
                    "SELECT at, id, actor, action, run_id, step_id, text FROM audit
                     WHERE workspace_id = ?1 AND (at < ?2 OR (at = ?2 AND id < ?3))
                     ORDER BY at DESC, id DESC LIMIT ?4",
                )
                .map_err(db_err)?;
            type AuditRow = (String, String, String, String, String, String, Option<String>);
            let rows: Vec<AuditRow> = stmt
                .query_map(params![ws.as_str(), a, b, (page.limit + 1) as i64], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                })
                .map_err(db_err)?
                .collect::<Result<_, _>>()
                .map_err(db_err)?;
            let more = rows.len() > page.limit;
            let mut items = Vec::new();
            for (at, id, actor, action, run, step, text) in rows.into_iter().take(page.limit) {
                items.push(AuditEntry {
                    id,
                    workspace_id: ws.clone(),
                    at: ts(&at)?,
                    actor: from_json(&actor)?,
                    action,
                    run_id: RunId::parse(run).map_err(corrupt)?,
                    step_id: StepId::parse(&step).map_err(corrupt)?,
                    text,
                });
            }
            let next_cursor = match (more, items.last()) {
                (true, Some(l)) => Some(encode_cursor(&ws, "audit", &l.at.to_string(), &l.id)),
                _ => None,
            };
            Ok(Page { items, next_cursor })
        })
        .await
    }

    async fn list_outbox(&self, ws: &WorkspaceId, page: &PageRequest) -> Res<Page<OutboxItem>> {
        let (ws, page) = (ws.clone(), page.clone());
        self.read(move |tx| {
            let after = decode_cursor(&ws, "outbox", &page.cursor)?;
            let (a, b) = after.unwrap_or_else(|| ("\u{10FFFF}".into(), String::new()));
            let mut stmt = tx
                .prepare_cached(
                    "SELECT step_id, run_id, step_key, action, payload, sent_at FROM outbox
                     WHERE workspace_id = ?1 AND (sent_at < ?2 OR (sent_at = ?2 AND step_id < ?3))
                     ORDER BY sent_at DESC, step_id DESC LIMIT ?4",
                )
                .map_err(db_err)?;
            type OutboxRow = (String, String, String, String, String, String);
            let rows: Vec<OutboxRow> = stmt
                .query_map(params![ws.as_str(), a, b, (page.limit + 1) as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
                })
                .map_err(db_err)?
                .collect::<Result<_, _>>()
                .map_err(db_err)?;
            let more = rows.len() > page.limit;
            let mut items = Vec::new();
            for (sid, run, key, action, payload, sent) in rows.into_iter().take(page.limit) {
                items.push(OutboxItem {
                    step_id: StepId::parse(&sid).map_err(corrupt)?,
                    workspace_id: ws.clone(),
                    run_id: RunId::parse(run).map_err(corrupt)?,
                    step_key: StepKey::parse(key).map_err(corrupt)?,
                    action,
                    payload: from_json(&payload)?,
                    sent_at: ts(&sent)?,
                });
            }
            let next_cursor = match (more, items.last()) {
                (true, Some(l)) => Some(encode_cursor(
                    &ws,
                    "outbox",
                    &l.sent_at.to_string(),
                    &l.step_id.to_string(),
                )),
                _ => None,
            };
            Ok(Page { items, next_cursor })
        })
        .await
    }

    async fn running_runs(&self) -> Res<Vec<RunId>> {
        self.read(|tx| {
            let mut stmt = tx
                .prepare_cached("SELECT id FROM runs WHERE status = 'running' ORDER BY created_at")
                .map_err(db_err)?;
            let ids: Vec<String> = stmt
                .query_map([], |r| r.get(0))
                .map_err(db_err)?
                .collect::<Result<_, _>>()
                .map_err(db_err)?;
            ids.into_iter()
                .map(|i| RunId::parse(i).map_err(corrupt))
                .collect()
        })
        .await
    }

    async fn add_history(&self, ws: &WorkspaceId, entries: &[HistoryEntry]) -> Res<()> {
        let (ws, entries) = (ws.clone(), entries.to_vec());
        self.tx(move |tx| {
            for e in &entries {
                insert_history(tx, &ws, e)?;
            }
            Ok(())
        })
        .await
    }

    async fn list_history(
        &self,
        ws: &WorkspaceId,
        workflow: &str,
        gate: &str,
        page: &PageRequest,
    ) -> Res<Page<HistoryEntry>> {
        let (ws, workflow, gate, page) = (ws.clone(), workflow.to_string(), gate.to_string(), page.clone());
        self.read(move |tx| {
            let list = format!("history:{workflow}:{gate}");
            let after = decode_cursor(&ws, &list, &page.cursor)?;
            let (a, b) = after.unwrap_or_else(|| ("\u{10FFFF}".into(), String::new()));
            let mut stmt = tx
                .prepare_cached(
                    "SELECT at, step_id, body FROM decision_history
                     WHERE workspace_id = ?1 AND workflow = ?2 AND gate = ?3 AND (at < ?4 OR (at = ?4 AND step_id < ?5))
                     ORDER BY at DESC, step_id DESC LIMIT ?6",
                )
                .map_err(db_err)?;
            let rows: Vec<(String, String, String)> = stmt
                .query_map(
                    params![ws.as_str(), workflow, gate, a, b, (page.limit + 1) as i64],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .map_err(db_err)?
                .collect::<Result<_, _>>()
                .map_err(db_err)?;
            let more = rows.len() > page.limit;
            let mut items = Vec::new();
            let mut last = None;
            for (at, step_id, body) in rows.into_iter().take(page.limit) {
                items.push(from_json::<HistoryEntry>(&body)?);
                last = Some((at, step_id));
            }
            let next_cursor = match (more, last) {
                (true, Some((at, step_id))) => Some(encode_cursor(&ws, &list, &at, &step_id)),
                _ => None,
            };
            Ok(Page { items, next_cursor })
        })
        .await
    }

    async fn put_approver_settings(&self, ws: &WorkspaceId, settings: &ApproverSettings) -> Res<()> {
        let (ws, body) = (ws.clone(), to_json(settings)?);
        self.tx(move |tx| {
            execute(
                tx,
                "INSERT INTO approver_settings (workspace_id, body) VALUES (?1, ?2)
                 ON CONFLICT (workspace_id) DO UPDATE SET body = excluded.body",
                params![ws.as_str(), body],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn approver_settings(&self, ws: &WorkspaceId) -> Res<ApproverSettings> {
        let ws = ws.clone();
        self.read(move |tx| {
            let body: Option<String> = query_row(
                tx,
                "SELECT body FROM approver_settings WHERE workspace_id = ?1",
                [ws.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)?;
            match body {
                Some(b) => from_json(&b),
                None => Ok(ApproverSettings::default()),
            }
        })
        .await
    }

    async fn keep_response(&self, r: &KeptResponse, now: Timestamp) -> Res<KeptResponse> {
        let (r, now) = (r.clone(), now.to_string());
        self.tx(move |tx| {
            // Expired responses go as new ones come.
            execute(tx, "DELETE FROM kept_responses WHERE expires_at <= ?1", [&now]).map_err(db_err)?;
            if let Some(kept) = kept_row(tx, r.workspace_id.as_str(), r.member_id.as_str(), &r.key)? {
                return Ok(kept);
            }
            execute(
                tx,
                "INSERT INTO kept_responses
                 (workspace_id, member_id, key, fingerprint, status, body, location, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    r.workspace_id.as_str(),
                    r.member_id.as_str(),
                    r.key,
                    r.fingerprint,
                    r.status,
                    r.body,
                    r.location,
                    r.created_at.to_string(),
                    r.expires_at.to_string()
                ],
            )
            .map_err(db_err)?;
            Ok(r)
        })
        .await
    }

    async fn kept_response(
        &self,
        ws: &WorkspaceId,
        member: &MemberId,
        key: &str,
        now: Timestamp,
    ) -> Res<Option<KeptResponse>> {
        let (ws, member, key) = (ws.to_string(), member.to_string(), key.to_string());
        self.read(move |tx| Ok(kept_row(tx, &ws, &member, &key)?.filter(|k| k.expires_at > now)))
            .await
    }
}

fn kept_row(tx: &Connection, ws: &str, member: &str, key: &str) -> Res<Option<KeptResponse>> {
    let row = query_row(
        tx,
        "SELECT fingerprint, status, body, location, created_at, expires_at FROM kept_responses
             WHERE workspace_id = ?1 AND member_id = ?2 AND key = ?3",
        params![ws, member, key],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, u16>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ))
        },
    )
    .optional()
    .map_err(db_err)?;
    row.map(|(fingerprint, status, body, location, created, expires)| {
        Ok(KeptResponse {
            workspace_id: WorkspaceId::parse(ws).map_err(corrupt)?,
            member_id: MemberId::parse(member).map_err(corrupt)?,
            key: key.to_string(),
            fingerprint,
            status,
            body,
            location,
            created_at: ts(&created)?,
            expires_at: ts(&expires)?,
        })
    })
    .transpose()
}

// ---- the engine's journal ---------------------------------------------------------

fn jerr(e: StoreError) -> JournalError {
    JournalError(e.to_string())
}

type ExecRow = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    bool,
);

fn exec_from_row(r: &Row<'_>) -> rusqlite::Result<ExecRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

fn exec_from_cols(c: ExecRow) -> Res<ExecutionRecord> {
    let (name, machine, input, start_time, status, output, failure, notified) = c;
    Ok(ExecutionRecord {
        name,
        machine,
        input: from_json(&input)?,
        start_time,
        status: ExecutionStatus::parse(&status).ok_or_else(|| corrupt("bad execution status"))?,
        output: output.as_deref().map(from_json).transpose()?,
        failure: failure.as_deref().map(from_json::<Failure>).transpose()?,
        notified,
    })
}

const EXEC_COLS: &str = "name, machine, input, start_time, status, output, failure, notified";

#[async_trait]
impl Journal for SqliteStore {
    async fn create_execution(&self, e: &ExecutionRecord) -> Result<bool, JournalError> {
        let e = e.clone();
        self.tx(move |tx| {
            let n = execute(
                tx,
                    &format!("INSERT OR IGNORE INTO executions ({EXEC_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, NULL, NULL, 0)"),
                    params![e.name, e.machine, to_json(&e.input)?, e.start_time, e.status.as_str()],
                )
                .map_err(db_err)?;
            Ok(n == 1)
        })
        .await
        .map_err(jerr)
    }

    async fn get_execution(&self, name: &str) -> Result<Option<ExecutionRecord>, JournalError> {
        let name = name.to_string();
        self.read(move |tx| {
            query_row(
                tx,
                &format!("SELECT {EXEC_COLS} FROM executions WHERE name = ?1"),
                [name],
                exec_from_row,
            )
            .optional()
            .map_err(db_err)?
            .map(exec_from_cols)
            .transpose()
        })
        .await
        .map_err(jerr)
    }

    async fn unfinished(&self) -> Result<Vec<ExecutionRecord>, JournalError> {
        self.read(|tx| {
            let mut stmt = tx
                .prepare_cached(&format!(
                    "SELECT {EXEC_COLS} FROM executions WHERE notified = 0 ORDER BY start_time"
                ))
                .map_err(db_err)?;
            let rows: Vec<ExecRow> = stmt
                .query_map([], exec_from_row)
                .map_err(db_err)?
                .collect::<Result<_, _>>()
                .map_err(db_err)?;
            rows.into_iter().map(exec_from_cols).collect()
        })
        .await
        .map_err(jerr)
    }

    async fn record_task(
        &self,
        execution: &str,
        task_key: &str,
        outcome: &TaskOutcome,
    ) -> Result<bool, JournalError> {
        let (e, k, o) = (execution.to_string(), task_key.to_string(), outcome.clone());
        self.tx(move |tx| {
            let n = execute(
                tx,
                "INSERT OR IGNORE INTO task_outcomes (execution, task_key, outcome) VALUES (?1, ?2, ?3)",
                params![e, k, to_json(&o)?],
            )
            .map_err(db_err)?;
            Ok(n == 1)
        })
        .await
        .map_err(jerr)
    }

    async fn task_outcome(
        &self,
        execution: &str,
        task_key: &str,
    ) -> Result<Option<TaskOutcome>, JournalError> {
        let (e, k) = (execution.to_string(), task_key.to_string());
        self.read(move |tx| {
            let s: Option<String> = query_row(
                tx,
                "SELECT outcome FROM task_outcomes WHERE execution = ?1 AND task_key = ?2",
                params![e, k],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)?;
            s.as_deref().map(from_json).transpose()
        })
        .await
        .map_err(jerr)
    }

    async fn task_outcomes(
        &self,
        execution: &str,
    ) -> Result<std::collections::HashMap<String, TaskOutcome>, JournalError> {
        let e = execution.to_string();
        self.read(move |tx| {
            let mut stmt = tx
                .prepare_cached("SELECT task_key, outcome FROM task_outcomes WHERE execution = ?1")
                .map_err(db_err)?;
            let rows = stmt
                .query_map([e], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(db_err)?;
            let mut out = std::collections::HashMap::new();
            for row in rows {
                let (k, o) = row.map_err(db_err)?;
                out.insert(k, from_json(&o)?);
            }
            Ok(out)
        })
        .await
        .map_err(jerr)
    }

    async fn finish_execution(
        &self,
        name: &str,
        status: ExecutionStatus,
        output: Option<&Value>,
        failure: Option<&Failure>,
    ) -> Result<(), JournalError> {
        let name = name.to_string();
        let output = output.map(to_json).transpose().map_err(jerr)?;
        let failure = failure.map(to_json).transpose().map_err(jerr)?;
        self.tx(move |tx| {
            execute(
                tx,
                "UPDATE executions SET status = ?2, output = ?3, failure = ?4 WHERE name = ?1 AND status = 'RUNNING'",
                params![name, status.as_str(), output, failure],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
        .map_err(jerr)
    }

    async fn mark_notified(&self, name: &str) -> Result<(), JournalError> {
        let name = name.to_string();
        self.tx(move |tx| {
            execute(tx, "UPDATE executions SET notified = 1 WHERE name = ?1", [name]).map_err(db_err)?;
            Ok(())
        })
        .await
        .map_err(jerr)
    }
}

/// Assets kept in the database: no file per asset (creating files was a
/// sixth of the CPU a run took), and committed with the rest.
#[async_trait]
impl BlobStore for SqliteStore {
    async fn put(&self, key: &str, content_type: &str, bytes: Vec<u8>) -> Result<(), BlobError> {
        let (key, ct) = (key.to_string(), content_type.to_string());
        self.tx(move |tx| {
            execute(
                tx,
                "INSERT INTO blobs (key, content_type, bytes) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET content_type = excluded.content_type, bytes = excluded.bytes",
                params![key, ct, bytes],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
        .map_err(|e| BlobError::Unavailable(e.to_string()))
    }

    async fn get(&self, key: &str) -> Result<Option<(String, Vec<u8>)>, BlobError> {
        let key = key.to_string();
        self.read(move |tx| {
            query_row(
                tx,
                "SELECT content_type, bytes FROM blobs WHERE key = ?1",
                [key],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)),
            )
            .optional()
            .map_err(db_err)
        })
        .await
        .map_err(|e| BlobError::Unavailable(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blobs_keep_their_bytes_and_type_and_are_replaced_whole() {
        let store = SqliteStore::in_memory().unwrap();
        let key = "runs/run_01abc/post-1.svg";
        assert_eq!(store.get(key).await.unwrap(), None);
        store.put(key, "image/svg+xml", b"<svg/>".to_vec()).await.unwrap();
        assert_eq!(
            store.get(key).await.unwrap(),
            Some(("image/svg+xml".to_string(), b"<svg/>".to_vec()))
        );
        let png = vec![0x89, b'P', b'N', b'G', 0, 0xff];
        store.put(key, "image/png", png.clone()).await.unwrap();
        assert_eq!(
            store.get(key).await.unwrap(),
            Some(("image/png".to_string(), png))
        );
        assert_eq!(store.get("runs/run_01abc/other.svg").await.unwrap(), None);
    }

    /// A database made before workspaces had a revision opens, keeps its
    /// workspace, and counts revisions from there.
    #[tokio::test]
    async fn a_database_from_before_revisions_opens_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite3");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE workspaces (id TEXT PRIMARY KEY, name TEXT NOT NULL,
                                          spend_cap INTEGER NOT NULL, data TEXT NOT NULL);
                 INSERT INTO workspaces VALUES ('old', 'Old', 5, '{\"kept\":true}');",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).expect("an older database opens");
        let id = WorkspaceId::parse("old").unwrap();
        assert_eq!(store.workspace_revision(&id).await.unwrap(), Some(0));
        let mut ws = store.get_workspace(&id).await.unwrap().expect("kept");
        assert_eq!(ws.data, serde_json::json!({"kept": true}));
        ws.name = "Renamed".into();
        store.put_workspace(&ws).await.unwrap();
        assert_eq!(store.workspace_revision(&id).await.unwrap(), Some(1));
        drop(store);
        // Opening it again migrates nothing twice.
        let store = SqliteStore::open(&path).expect("opens again");
        assert_eq!(store.workspace_revision(&id).await.unwrap(), Some(1));
    }

    #[test]
    fn a_long_trail_is_stored_as_a_blob_and_a_short_one_as_text() {
        let long = vec![serde_json::json!({"kind": "llm", "prompt": "Linen & Loom ✨\n".repeat(200)})];
        let stored = write_trail(&long).unwrap();
        assert!(matches!(stored, rusqlite::types::Value::Blob(_)), "{stored:?}");
        assert_eq!(read_trail((&stored).into()).unwrap(), long);
        let short = vec![serde_json::json!({"kind": "rule"})];
        let stored = write_trail(&short).unwrap();
        assert_eq!(stored, rusqlite::types::Value::Text(to_json(&short).unwrap()));
        assert_eq!(read_trail((&stored).into()).unwrap(), short);
        // As earlier versions stored every trail.
        let text = to_json(&long).unwrap();
        assert_eq!(
            read_trail(rusqlite::types::ValueRef::Text(text.as_bytes())).unwrap(),
            long
        );
        match read_trail(rusqlite::types::ValueRef::Blob(&[9, 9])) {
            Err(StoreError::Corrupt(m)) => assert!(m.contains("unknown format"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_new_database_has_this_format_and_a_later_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.sqlite3");
        drop(SqliteStore::open(&path).expect("a new database opens"));
        let conn = Connection::open(&path).unwrap();
        let format: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(format, FORMAT);
        conn.execute_batch(&format!("PRAGMA user_version = {}", FORMAT + 1))
            .unwrap();
        drop(conn);
        match SqliteStore::open(&path) {
            Err(StoreError::Corrupt(m)) => assert!(m.contains("newer version"), "{m}"),
            Err(e) => panic!("refused, but with {e}"),
            Ok(_) => panic!("a database of a later format opened"),
        }
    }

    /// A run of two steps as earlier versions wrote it (the first finished).
    const OLD_RUN: &str = "
        INSERT INTO runs (id, workspace_id, workflow, workflow_name, brief, status, created_at, created_by)
            VALUES ('run_old1', 'old', 'wf', 'Workflow', '{}', 'running',
                    '2026-11-27T00:00:00.000000Z', '{\"member_id\":\"alice\",\"name\":\"Alice\"}');
        INSERT INTO steps (run_id, key, position, label, kind, status, after, output, trail, cost, started_at, finished_at)
            VALUES ('run_old1', 'a', 0, 'A', 'agent', 'succeeded', '[]', '{\"x\":1}', '[{\"t\":1}]', 7,
                    '2026-11-27T00:00:01.000000Z', '2026-11-27T00:00:02.000000Z'),
                   ('run_old1', 'b', 1, 'B', 'agent', 'pending', '[\"a\"]', NULL, '[]', 0, NULL, NULL);";

    /// A database made before `steps.output_rev` (its large columns last
    /// already) opens with its steps kept and the column before them, and
    /// every write of an output counts it up.
    #[tokio::test]
    async fn a_steps_table_from_before_output_rev_gets_it_with_nothing_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite3");
        let without: String = SCHEMA
            .lines()
            .filter(|l| !l.contains("output_rev"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(!without.contains("output_rev") && without.contains("output        TEXT"));
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(&without).unwrap();
            conn.execute_batch(OLD_RUN).unwrap();
        }
        let store = SqliteStore::open(&path).expect("an older database opens");
        let run_id = RunId::parse("run_old1").unwrap();
        let run = store.get_run(&run_id).await.unwrap().expect("the run is kept");
        assert_eq!(run.steps[0].output.as_deref(), Some(&serde_json::json!({"x": 1})));
        assert_eq!(run.steps[0].trail, vec![serde_json::json!({"t": 1})]);
        let written = store
            .update_step(&StepUpdate {
                run_id: run_id.clone(),
                key: StepKey::parse("b").unwrap(),
                from: vec![StepStatus::Pending],
                to: StepStatus::Succeeded,
                result: Some(StepResult {
                    output: Arc::new(serde_json::json!({"y": 2})),
                    trail: vec![],
                    cost: Money::ZERO,
                }),
                started_at: None,
                finished_at: Some(Timestamp::parse("2026-11-27T00:00:03.000000Z").unwrap()),
                events: vec![],
            })
            .await
            .unwrap();
        assert!(written);
        let lite = store.get_run_without_trails(&run_id).await.unwrap().unwrap();
        let outputs: Vec<_> = lite.steps.iter().map(|s| s.output.as_deref().cloned()).collect();
        assert_eq!(
            outputs,
            [
                Some(serde_json::json!({"x": 1})),
                Some(serde_json::json!({"y": 2}))
            ]
        );
        drop(store);
        let conn = Connection::open(&path).unwrap();
        assert_eq!(step_column_names(&conn).unwrap().join(", "), STEP_COLUMNS);
        let revs: Vec<(String, i64)> = conn
            .prepare("SELECT key, output_rev FROM steps ORDER BY key")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(revs, [("a".to_string(), 0), ("b".to_string(), 1)]);
    }

    /// A database whose steps have their output and trail before the small
    /// columns (as earlier versions made them) opens with every step kept,
    /// in the order of `schema.sql`.
    #[tokio::test]
    async fn a_steps_table_of_an_earlier_version_is_reordered_with_nothing_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite3");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(SCHEMA).unwrap();
            conn.execute_batch(
                "DROP TABLE steps;
                 CREATE TABLE steps (
                     run_id TEXT NOT NULL REFERENCES runs(id), key TEXT NOT NULL, position INTEGER NOT NULL,
                     label TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL, after TEXT NOT NULL,
                     output TEXT, trail TEXT NOT NULL DEFAULT '[]', cost INTEGER NOT NULL DEFAULT 0,
                     started_at TEXT, finished_at TEXT, decision TEXT, PRIMARY KEY (run_id, key));",
            )
            .unwrap();
            conn.execute_batch(OLD_RUN).unwrap();
        }
        // Four processes open it at once (its journal still in rollback
        // mode): one switches it to WAL and migrates, the others wait and
        // find it done.
        let together = Arc::new(std::sync::Barrier::new(4));
        let opens: Vec<_> = (0..4)
            .map(|_| {
                let (path, together) = (path.clone(), together.clone());
                std::thread::spawn(move || {
                    together.wait();
                    SqliteStore::open(&path).map(drop)
                })
            })
            .collect();
        for o in opens {
            o.join().unwrap().expect("an older database opens");
        }
        let store = SqliteStore::open(&path).expect("an older database opens");
        let run = store
            .get_run(&RunId::parse("run_old1").unwrap())
            .await
            .unwrap()
            .expect("the run is kept");
        let keys: Vec<&str> = run.steps.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, ["a", "b"]);
        let a = &run.steps[0];
        assert_eq!(a.output.as_deref(), Some(&serde_json::json!({"x": 1})));
        assert_eq!(a.trail, vec![serde_json::json!({"t": 1})]);
        assert_eq!((a.cost, a.status), (Money::from_micros(7), StepStatus::Succeeded));
        assert!(a.started_at.is_some() && a.finished_at.is_some());
        assert_eq!(run.steps[1].after, vec!["a".to_string()]);
        drop(store);
        let conn = Connection::open(&path).unwrap();
        assert_eq!(step_column_names(&conn).unwrap().join(", "), STEP_COLUMNS);
        // A steps table with a column this version does not know is refused, untouched.
        conn.execute_batch("ALTER TABLE steps ADD COLUMN later TEXT; UPDATE steps SET later = 'kept';")
            .unwrap();
        drop(conn);
        let refused = SqliteStore::open(&path).err().expect("refused").to_string();
        assert!(
            refused.contains("later") && refused.contains("newer version"),
            "{refused}"
        );
        let conn = Connection::open(&path).unwrap();
        let kept: i64 = conn
            .query_row("SELECT count(*) FROM steps WHERE later = 'kept'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(kept, 2);
    }

    /// A workspace written by an earlier version (which knew no revision)
    /// still changes its revision: cached brand data never outlives it.
    #[tokio::test]
    async fn any_write_of_a_workspace_changes_its_revision() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        let store = SqliteStore::open(&path).unwrap();
        let id = WorkspaceId::parse("w").unwrap();
        store
            .put_workspace(&Workspace {
                id: id.clone(),
                name: "W".into(),
                spend_cap: Money::ZERO,
                data: serde_json::json!({}),
            })
            .await
            .unwrap();
        let before = store.workspace_revision(&id).await.unwrap().unwrap();
        let conn = Connection::open(&path).unwrap();
        conn.execute(
            "INSERT INTO workspaces (id, name, spend_cap, data) VALUES ('w', 'W', 7, '{}')
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, spend_cap = excluded.spend_cap, data = excluded.data",
            [],
        )
        .unwrap();
        assert_ne!(store.workspace_revision(&id).await.unwrap().unwrap(), before);
    }
}

-- The embedded store's schema. Times are fixed-width RFC 3339 UTC strings,
-- money is integer micro-dollars, JSON is TEXT.

CREATE TABLE IF NOT EXISTS workspaces (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    spend_cap     INTEGER NOT NULL,
    data          TEXT NOT NULL,
    -- Bumped by every write of the workspace (what cached brand data is checked against).
    revision      INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS members (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    id            TEXT NOT NULL,
    name          TEXT NOT NULL,
    roles         TEXT NOT NULL,
    PRIMARY KEY (workspace_id, id)
);

-- API tokens, by hash only.
CREATE TABLE IF NOT EXISTS tokens (
    hash          TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL,
    member_id     TEXT NOT NULL,
    dev_only      INTEGER NOT NULL,
    FOREIGN KEY (workspace_id, member_id) REFERENCES members(workspace_id, id)
);

CREATE TABLE IF NOT EXISTS runs (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL,
    workflow      TEXT NOT NULL,
    workflow_name TEXT NOT NULL,
    brief         TEXT NOT NULL,
    status        TEXT NOT NULL,
    error         TEXT,
    created_at    TEXT NOT NULL,
    finished_at   TEXT,
    created_by    TEXT NOT NULL,
    rerun_of      TEXT,
    next_seq      INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS runs_by_workspace ON runs (workspace_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS runs_running ON runs (status) WHERE status = 'running';

-- The large columns last: reading a step's state never walks the overflow
-- pages of its output and trail.
CREATE TABLE IF NOT EXISTS steps (
    run_id        TEXT NOT NULL REFERENCES runs(id),
    key           TEXT NOT NULL,
    position      INTEGER NOT NULL,
    label         TEXT NOT NULL,
    kind          TEXT NOT NULL,
    status        TEXT NOT NULL,
    after         TEXT NOT NULL,
    cost          INTEGER NOT NULL DEFAULT 0,
    started_at    TEXT,
    finished_at   TEXT,
    decision      TEXT,
    -- Counts the writes of `output`: what an output kept in memory is
    -- checked against before it is served (outputs.rs).
    output_rev    INTEGER NOT NULL DEFAULT 0,
    output        TEXT,
    -- JSON text, or (when long) a blob: LZ4-compressed JSON (lib.rs, write_trail).
    trail         TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (run_id, key)
);

-- One row per gate that opened. The partial index is the queue: present
-- only while pending, newest first.
CREATE TABLE IF NOT EXISTS approvals (
    step_id       TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL,
    run_id        TEXT NOT NULL,
    step_key      TEXT NOT NULL,
    status        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    task_token    TEXT NOT NULL,
    body          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS approvals_pending ON approvals (workspace_id, created_at DESC, step_id DESC)
    WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS approvals_by_run ON approvals (run_id);

CREATE TABLE IF NOT EXISTS events (
    run_id        TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    type          TEXT NOT NULL,
    at            TEXT NOT NULL,
    data          TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE IF NOT EXISTS audit (
    workspace_id  TEXT NOT NULL,
    at            TEXT NOT NULL,
    id            TEXT NOT NULL,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    run_id        TEXT NOT NULL,
    step_id       TEXT NOT NULL,
    text          TEXT,
    PRIMARY KEY (workspace_id, at, id)
);

-- The resume outbox: a decision's delivery to the orchestrator.
CREATE TABLE IF NOT EXISTS resumes (
    step_id       TEXT PRIMARY KEY,
    task_token    TEXT NOT NULL,
    action        TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    done          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS resumes_pending ON resumes (done) WHERE done = 0;

-- What actions sent; one row per action step, ever.
CREATE TABLE IF NOT EXISTS outbox (
    step_id       TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL,
    run_id        TEXT NOT NULL,
    step_key      TEXT NOT NULL,
    action        TEXT NOT NULL,
    payload       TEXT NOT NULL,
    sent_at       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_by_workspace ON outbox (workspace_id, sent_at DESC, step_id DESC);

-- The month's external spend: one aggregate per month, reservations beside it.
CREATE TABLE IF NOT EXISTS spend (
    workspace_id  TEXT NOT NULL,
    month         TEXT NOT NULL,
    total         INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, month)
);
CREATE TABLE IF NOT EXISTS spend_reservations (
    step_id       TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL,
    run_id        TEXT NOT NULL,
    month         TEXT NOT NULL,
    amount        INTEGER NOT NULL,
    state         TEXT NOT NULL DEFAULT 'reserved'  -- reserved | consumed | released
);
CREATE INDEX IF NOT EXISTS spend_reservations_by_run ON spend_reservations (run_id);

-- The local engine's journal.
CREATE TABLE IF NOT EXISTS executions (
    name          TEXT PRIMARY KEY,
    machine       TEXT NOT NULL,
    input         TEXT NOT NULL,
    start_time    TEXT NOT NULL,
    status        TEXT NOT NULL,
    output        TEXT,
    failure       TEXT,
    notified      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS executions_unfinished ON executions (notified) WHERE notified = 0;

CREATE TABLE IF NOT EXISTS task_outcomes (
    execution     TEXT NOT NULL,
    task_key      TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    PRIMARY KEY (execution, task_key)
);

-- Responses kept for replay under an Idempotency-Key, until they expire.
CREATE TABLE IF NOT EXISTS kept_responses (
    workspace_id  TEXT NOT NULL,
    member_id     TEXT NOT NULL,
    key           TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    status        INTEGER NOT NULL,
    body          TEXT NOT NULL,
    location      TEXT,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    PRIMARY KEY (workspace_id, member_id, key)
);
CREATE INDEX IF NOT EXISTS kept_responses_expiry ON kept_responses (expires_at);

-- The decision history: the approver agent's training data, per gate.
CREATE TABLE IF NOT EXISTS decision_history (
    workspace_id  TEXT NOT NULL,
    workflow      TEXT NOT NULL,
    gate          TEXT NOT NULL,
    at            TEXT NOT NULL,
    step_id       TEXT NOT NULL,
    body          TEXT NOT NULL,
    PRIMARY KEY (workspace_id, workflow, gate, at, step_id)
);

-- A workspace's approver agent settings (auto-approve opt-ins).
CREATE TABLE IF NOT EXISTS approver_settings (
    workspace_id  TEXT PRIMARY KEY,
    body          TEXT NOT NULL
);

-- Rendered assets (the `BlobStore` of the embedded runtime): in the one
-- file with everything else, written in the same group commits.
CREATE TABLE IF NOT EXISTS blobs (
    key           TEXT PRIMARY KEY,
    content_type  TEXT NOT NULL,
    bytes         BLOB NOT NULL
);

-- CDC runs (FEATURES.md section 5c): stages Snapshot and Stream, the job's
-- stream state (positions, what flowgate created at the source, counters)
-- and per-table counters.

-- run_stages gains the stage names of the other modes. SQLite cannot
-- change a CHECK, so the table is rebuilt (its view goes and comes back).
DROP VIEW dataflow_run_stages;
CREATE TABLE run_stages_new (
    run_id       TEXT NOT NULL,
    task_id      INT8 NOT NULL,
    stage        TEXT NOT NULL CHECK (stage IN ('ExportTable', 'ImportTable', 'TableDataDiff',
                                                'Snapshot', 'Stream', 'PreAction', 'ScanTable')),
    seq          INT8 NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed', 'skipped')),
    attempts     INT8 NOT NULL DEFAULT 0,
    rows         INT8 NOT NULL DEFAULT 0,
    bytes        INT8 NOT NULL DEFAULT 0,
    message      TEXT,
    started_at   TIMESTAMPTZ,
    finished_at  TIMESTAMPTZ,
    heartbeat_at TIMESTAMPTZ,
    PRIMARY KEY (run_id, task_id, stage),
    FOREIGN KEY (run_id, task_id) REFERENCES run_tasks (run_id, task_id) ON DELETE CASCADE
);
INSERT INTO run_stages_new SELECT run_id, task_id, stage, seq, status, attempts, rows, bytes, message,
    started_at, finished_at, heartbeat_at FROM run_stages;
DROP TABLE run_stages;
ALTER TABLE run_stages_new RENAME TO run_stages;
CREATE VIEW dataflow_run_stages AS
SELECT run_id, task_id, stage, status, attempts, rows, bytes, message, started_at, finished_at
FROM run_stages;

-- One row per CDC job: where its stream is and what flowgate made for it.
CREATE TABLE cdc_state (
    job_id              INTEGER PRIMARY KEY REFERENCES sync_jobs (id) ON DELETE CASCADE,
    run_id              TEXT,
    source_position     TEXT,
    checkpoint_position TEXT,
    checkpoint_at       TIMESTAMPTZ,
    last_event_at       TIMESTAMPTZ,
    lag_ms              INT8,
    events              INT8 NOT NULL DEFAULT 0,
    inserts             INT8 NOT NULL DEFAULT 0,
    updates             INT8 NOT NULL DEFAULT 0,
    deletes             INT8 NOT NULL DEFAULT 0,
    snapshot_rows       INT8 NOT NULL DEFAULT 0,
    restarts            INT8 NOT NULL DEFAULT 0,
    -- the source objects (PostgreSQL slot and publication) and whether
    -- flowgate created them: DROP SYNC JOB removes only those.
    slot_name           TEXT,
    publication_name    TEXT,
    created_slot        BOOLEAN NOT NULL DEFAULT 0,
    created_publication BOOLEAN NOT NULL DEFAULT 0,
    -- the snapshot finished and its position reached the target
    snapshot_done       BOOLEAN NOT NULL DEFAULT 0,
    updated_at          TIMESTAMPTZ NOT NULL
);

CREATE TABLE cdc_tables (
    job_id        INTEGER NOT NULL REFERENCES sync_jobs (id) ON DELETE CASCADE,
    source_table  TEXT NOT NULL,
    target_table  TEXT NOT NULL,
    inserts       INT8 NOT NULL DEFAULT 0,
    updates       INT8 NOT NULL DEFAULT 0,
    deletes       INT8 NOT NULL DEFAULT 0,
    last_event_at TIMESTAMPTZ,
    PRIMARY KEY (job_id, source_table)
);

CREATE VIEW dataflow_cdc_status AS
SELECT j.name AS job, c.run_id, r.status, c.source_position, c.checkpoint_position, c.checkpoint_at,
       c.last_event_at, c.lag_ms, c.events, c.inserts, c.updates, c.deletes, c.snapshot_rows, c.restarts
FROM cdc_state c
JOIN sync_jobs j ON j.id = c.job_id
LEFT JOIN runs r ON r.run_id = c.run_id;

CREATE VIEW dataflow_cdc_tables AS
SELECT j.name AS job, t.source_table, t.target_table, t.inserts, t.updates, t.deletes, t.last_event_at
FROM cdc_tables t JOIN sync_jobs j ON j.id = t.job_id;

-- Sync jobs, runs and their statistics (FEATURES.md sections 5 and 6).

CREATE TABLE sync_jobs (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    mode           TEXT NOT NULL CHECK (mode IN ('batch', 'scan', 'cdc')),
    kind           TEXT NOT NULL CHECK (kind IN ('table', 'database')),
    source_id      INTEGER NOT NULL REFERENCES datasources (id),
    source_schema  TEXT,
    source_table   TEXT,
    target_id      INTEGER NOT NULL REFERENCES datasources (id),
    target_schema  TEXT,
    target_table   TEXT,
    -- the rest of the definition (column maps, table lists, filters) as JSON
    definition     JSON NOT NULL,
    schedule_kind  TEXT NOT NULL CHECK (schedule_kind IN ('none', 'once', 'cron', 'every')),
    schedule_expr  TEXT,
    schedule_state TEXT NOT NULL CHECK (schedule_state IN ('active', 'paused', 'none')),
    last_fire      TIMESTAMPTZ,
    options        JSON NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE runs (
    run_id       TEXT PRIMARY KEY,
    job_id       INTEGER NOT NULL REFERENCES sync_jobs (id) ON DELETE CASCADE,
    status       TEXT NOT NULL CHECK (status IN ('created', 'running', 'completed', 'terminating', 'restarting',
                                                  'terminated', 'failed', 'data_inconsistent')),
    trigger      TEXT NOT NULL CHECK (trigger IN ('manual', 'schedule', 'retry')),
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ,
    rows_read    INT8 NOT NULL DEFAULT 0,
    rows_written INT8 NOT NULL DEFAULT 0,
    bytes        INT8 NOT NULL DEFAULT 0,
    message      TEXT,
    -- the job definition and options the run used, so RETRY repeats it
    plan         JSON NOT NULL
);
CREATE INDEX runs_job ON runs (job_id, started_at);
CREATE INDEX runs_status ON runs (status);

CREATE TABLE run_tasks (
    run_id       TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    task_id      INT8 NOT NULL,
    source_table TEXT NOT NULL,
    target_table TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('created', 'running', 'completed', 'terminating', 'restarting',
                                                  'terminated', 'failed', 'data_inconsistent')),
    started_at   TIMESTAMPTZ,
    finished_at  TIMESTAMPTZ,
    message      TEXT,
    PRIMARY KEY (run_id, task_id)
);

CREATE TABLE run_stages (
    run_id       TEXT NOT NULL,
    task_id      INT8 NOT NULL,
    stage        TEXT NOT NULL CHECK (stage IN ('ExportTable', 'ImportTable', 'TableDataDiff')),
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

CREATE TABLE run_diffs (
    id      INTEGER PRIMARY KEY,
    run_id  TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    task_id INT8 NOT NULL,
    key     TEXT NOT NULL,
    side    TEXT NOT NULL CHECK (side IN ('source', 'target')),
    row     JSON
);
CREATE INDEX run_diffs_run ON run_diffs (run_id, task_id);

CREATE TABLE export_files (
    run_id   TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    task_id  INT8 NOT NULL,
    seq      INT8 NOT NULL,
    uri      TEXT NOT NULL,
    rows     INT8 NOT NULL,
    bytes    INT8 NOT NULL,
    state    TEXT NOT NULL CHECK (state IN ('present', 'deleted')),
    imported BOOLEAN NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, task_id, seq)
);

CREATE TABLE cleanup_history (
    id        INTEGER PRIMARY KEY,
    run_id    TEXT NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('source_data', 'export_files')),
    host      TEXT NOT NULL,
    sql       TEXT NOT NULL,
    user_name TEXT NOT NULL,
    at        TIMESTAMPTZ NOT NULL,
    rows      INT8 NOT NULL
);

-- One row per table import or export, for the overview.
CREATE TABLE operations (
    id              INTEGER PRIMARY KEY,
    run_id          TEXT NOT NULL,
    job             TEXT NOT NULL,
    datasource      TEXT NOT NULL,
    datasource_type TEXT NOT NULL,
    table_name      TEXT NOT NULL,
    operation       TEXT NOT NULL CHECK (operation IN ('import', 'export')),
    started_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ NOT NULL,
    seconds         FLOAT8 NOT NULL,
    records         INT8 NOT NULL,
    bytes           INT8 NOT NULL
);
CREATE INDEX operations_started ON operations (started_at);

-- Next fire times are computed by the scheduler (cron needs Go) and kept here.
CREATE TABLE schedule_fires (
    job_id     INTEGER PRIMARY KEY REFERENCES sync_jobs (id) ON DELETE CASCADE,
    next_fires JSON NOT NULL
);

CREATE VIEW dataflow_jobs AS
SELECT j.name, j.mode, j.kind,
       s.name || CASE WHEN j.kind = 'table' THEN '.' || coalesce(j.source_schema || '.', '') || j.source_table
                      ELSE coalesce(' schema ' || j.source_schema, '') END AS source,
       g.name || CASE WHEN j.kind = 'table' THEN '.' || coalesce(j.target_schema || '.', '') || j.target_table
                      ELSE coalesce(' schema ' || j.target_schema, '') END AS target,
       CASE j.schedule_kind WHEN 'none' THEN NULL WHEN 'once' THEN 'ONCE'
            ELSE upper(j.schedule_kind) || ' ''' || j.schedule_expr || '''' END AS schedule,
       j.schedule_state, j.options, j.definition, j.created_at, j.updated_at
FROM sync_jobs j
JOIN datasources s ON s.id = j.source_id
JOIN datasources g ON g.id = j.target_id;
INSERT INTO view_column_types VALUES ('dataflow_jobs', 'source', 'text'), ('dataflow_jobs', 'target', 'text'),
    ('dataflow_jobs', 'schedule', 'text');

CREATE VIEW dataflow_runs AS
SELECT r.run_id, j.name AS job, r.status, r.trigger, r.started_at, r.finished_at,
       r.rows_read, r.rows_written, r.bytes, r.message
FROM runs r JOIN sync_jobs j ON j.id = r.job_id;

CREATE VIEW dataflow_run_tasks AS
SELECT run_id, task_id, source_table, target_table, status, started_at, finished_at, message
FROM run_tasks;

CREATE VIEW dataflow_run_stages AS
SELECT run_id, task_id, stage, status, attempts, rows, bytes, message, started_at, finished_at
FROM run_stages;

CREATE VIEW dataflow_run_diffs AS
SELECT run_id, task_id, key, side, row FROM run_diffs;

CREATE VIEW dataflow_export_files AS
SELECT run_id, task_id, uri, rows, bytes, state, imported FROM export_files;

CREATE VIEW dataflow_cleanup_history AS
SELECT run_id, kind, host, sql, user_name AS "user", at, rows FROM cleanup_history;

CREATE VIEW dataflow_schedules AS
SELECT j.name AS job, CASE j.schedule_kind WHEN 'once' THEN 'ONCE' ELSE j.schedule_expr END AS expr,
       j.schedule_state AS state, j.last_fire, f.next_fires
FROM sync_jobs j LEFT JOIN schedule_fires f ON f.job_id = j.id
WHERE j.schedule_kind <> 'none';
INSERT INTO view_column_types VALUES ('dataflow_schedules', 'expr', 'text');

CREATE VIEW dataflow_operations AS
SELECT run_id, job, datasource, datasource_type, table_name, operation, started_at, finished_at, seconds, records, bytes
FROM operations;

CREATE VIEW dataflow_overview AS
SELECT datasource, operation, count(*) AS executions, sum(records) AS records,
       avg(seconds) AS avg_seconds, sum(seconds) AS total_seconds
FROM operations GROUP BY datasource, operation;
INSERT INTO view_column_types VALUES ('dataflow_overview', 'executions', 'int8'), ('dataflow_overview', 'records', 'int8'),
    ('dataflow_overview', 'avg_seconds', 'float8'), ('dataflow_overview', 'total_seconds', 'float8');

CREATE VIEW dataflow_overview_tables AS
SELECT datasource, table_name, operation, count(*) AS executions, sum(records) AS records,
       avg(seconds) AS avg_seconds, sum(seconds) AS total_seconds
FROM operations GROUP BY datasource, table_name, operation;
INSERT INTO view_column_types VALUES ('dataflow_overview_tables', 'executions', 'int8'), ('dataflow_overview_tables', 'records', 'int8'),
    ('dataflow_overview_tables', 'avg_seconds', 'float8'), ('dataflow_overview_tables', 'total_seconds', 'float8');

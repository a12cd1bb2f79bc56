-- What the dashboard (FEATURES.md section 9) shows beyond the other views:
-- live progress of a run's stages with totals and rates, and CDC lag over
-- time. Both are views like the others, so SQL sees what the page sees.

-- The expected row count of a stage, once the engine knows it (a batch
-- export counts the source's rows while it runs). A separate table, so
-- rebuilding run_stages never has to carry it.
CREATE TABLE run_stage_totals (
    run_id  TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    task_id INT8 NOT NULL,
    stage   TEXT NOT NULL,
    total   INT8 NOT NULL,
    PRIMARY KEY (run_id, task_id, stage)
);

-- One row per task and stage. total: the stored total; else, for
-- ImportTable and TableDataDiff, the rows the task's finished export read
-- (or the export's stored total); a completed stage's total is its rows.
-- percent: rows of total, at most 100, 100 when completed, NULL when the
-- total is unknown or the stage was skipped. rows_per_sec: rows over the stage's time so far
-- (started_at to finished_at, or to the last heartbeat while it runs).
CREATE VIEW dataflow_run_progress AS
SELECT run_id, job, task_id, source_table, target_table, stage, seq, status, attempts, rows,
       total,
       CASE WHEN status = 'completed' THEN 100.0
            WHEN status = 'skipped' THEN NULL
            WHEN total IS NULL OR total <= 0 THEN NULL
            ELSE min(100.0, round(rows * 100.0 / total, 1)) END AS percent,
       CASE WHEN secs IS NULL OR secs <= 0 THEN NULL ELSE round(rows / secs, 1) END AS rows_per_sec,
       bytes, message, started_at, finished_at, heartbeat_at
FROM (
    SELECT s.run_id, j.name AS job, s.task_id, t.source_table, t.target_table, s.stage, s.seq, s.status,
           s.attempts, s.rows, s.bytes, s.message, s.started_at, s.finished_at, s.heartbeat_at,
           CASE WHEN s.status = 'completed' AND x.total IS NULL
                     AND (s.stage NOT IN ('ImportTable', 'TableDataDiff') OR e.status <> 'completed') THEN s.rows
                WHEN x.total IS NOT NULL THEN x.total
                WHEN s.stage IN ('ImportTable', 'TableDataDiff') AND e.status = 'completed' THEN e.rows
                WHEN s.stage IN ('ImportTable', 'TableDataDiff') THEN ex.total
                ELSE NULL END AS total,
           CASE WHEN s.started_at IS NULL OR s.status = 'pending' THEN NULL
                ELSE (julianday(coalesce(s.finished_at, s.heartbeat_at, s.started_at)) - julianday(s.started_at)) * 86400.0
           END AS secs
    FROM run_stages s
    JOIN run_tasks t ON t.run_id = s.run_id AND t.task_id = s.task_id
    JOIN runs r ON r.run_id = s.run_id
    JOIN sync_jobs j ON j.id = r.job_id
    LEFT JOIN run_stage_totals x ON x.run_id = s.run_id AND x.task_id = s.task_id AND x.stage = s.stage
    LEFT JOIN run_stages e ON e.run_id = s.run_id AND e.task_id = s.task_id AND e.stage = 'ExportTable'
    LEFT JOIN run_stage_totals ex ON ex.run_id = s.run_id AND ex.task_id = s.task_id AND ex.stage = 'ExportTable'
);
INSERT INTO view_column_types VALUES ('dataflow_run_progress', 'job', 'text'), ('dataflow_run_progress', 'total', 'int8'),
    ('dataflow_run_progress', 'percent', 'float8'), ('dataflow_run_progress', 'rows_per_sec', 'float8');

-- CDC lag history: one sample per job at most every 10 s, written with the
-- stream's progress reports; samples older than 24 h are pruned.
CREATE TABLE cdc_lag_samples (
    job_id INTEGER NOT NULL REFERENCES sync_jobs (id) ON DELETE CASCADE,
    at     TIMESTAMPTZ NOT NULL,
    lag_ms INT8 NOT NULL,
    events INT8 NOT NULL,
    PRIMARY KEY (job_id, at)
);
CREATE INDEX cdc_lag_samples_at ON cdc_lag_samples (at);

CREATE VIEW dataflow_cdc_lag AS
SELECT j.name AS job, s.at, s.lag_ms, s.events
FROM cdc_lag_samples s JOIN sync_jobs j ON j.id = s.job_id;

-- The Temporal engine (FEATURES.md section 8).

-- The workflow executing a run's current attempt under --engine temporal;
-- NULL for runs of the embedded engine. A restarted gateway follows the
-- runs that have one instead of failing them.
ALTER TABLE runs ADD COLUMN workflow_id TEXT;

-- The workers the gateway has seen polling its task queues.
CREATE TABLE workers (
    identity           TEXT PRIMARY KEY,
    task_queue         TEXT NOT NULL,
    host               TEXT NOT NULL DEFAULT '',
    last_seen          TIMESTAMPTZ NOT NULL,
    activities_running INT8 NOT NULL DEFAULT 0
);

CREATE VIEW dataflow_workers AS
SELECT identity, task_queue, host, last_seen, activities_running FROM workers;

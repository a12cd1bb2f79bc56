-- Scheduled scans and files jobs (FEATURES.md sections 5a and 5b).

-- The watermark of each incremental scan, per source table: the largest
-- value of the incremental column the last scan committed. The target
-- holds the same value as the scan's checkpoint, committed with the rows
-- (that copy is the one a scan continues from); this one is for the view.
CREATE TABLE scan_watermarks (
    job_id         INTEGER NOT NULL REFERENCES sync_jobs (id) ON DELETE CASCADE,
    source_table   TEXT NOT NULL,
    column_name    TEXT NOT NULL,
    value          TEXT,
    rows_last_scan INT8 NOT NULL DEFAULT 0,
    run_id         TEXT,
    updated_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (job_id, source_table)
);

CREATE VIEW dataflow_watermarks AS
SELECT j.name AS job, w.source_table, w.column_name AS "column", w.value, w.rows_last_scan, w.run_id, w.updated_at
FROM scan_watermarks w JOIN sync_jobs j ON j.id = w.job_id;
INSERT INTO view_column_types VALUES ('dataflow_watermarks', 'job', 'text');

-- The objects a scan FROM store OBJECT 'prefix' loaded: an object is loaded
-- again only when its size, etag or modification time changed.
CREATE TABLE scan_objects (
    job_id     INTEGER NOT NULL REFERENCES sync_jobs (id) ON DELETE CASCADE,
    object_key TEXT NOT NULL,
    size       INT8 NOT NULL,
    etag       TEXT,
    mtime      TIMESTAMPTZ,
    rows       INT8 NOT NULL DEFAULT 0,
    run_id     TEXT NOT NULL,
    loaded_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (job_id, object_key)
);

CREATE VIEW dataflow_scan_objects AS
SELECT j.name AS job, o.object_key AS "key", o.size, o.etag, o.mtime, o.rows, o.run_id, o.loaded_at
FROM scan_objects o JOIN sync_jobs j ON j.id = o.job_id;
INSERT INTO view_column_types VALUES ('dataflow_scan_objects', 'job', 'text');

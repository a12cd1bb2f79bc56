-- Message-queue jobs (FEATURES.md section 7) and bad records of every mode
-- that has an error_limit: records a run skipped, and per partition the
-- offsets a Kafka job committed at its target.

-- One row per bad record a run skipped (error_limit): where it was in the
-- source (a Kafka job: topic/partition@offset), why it was refused, and
-- the start of the record. A record read again after a restart is the same
-- row, so it is counted once.
CREATE TABLE run_errors (
    run_id    TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    task_id   INT8 NOT NULL,
    position  TEXT NOT NULL,
    error     TEXT NOT NULL,
    record    TEXT,
    at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, position)
);

CREATE VIEW dataflow_run_errors AS
SELECT run_id, task_id, position, error, record, at
FROM run_errors;

-- Per partition of a Kafka job: the next offset after what the target
-- committed (its checkpoint), the partition's high watermark when last
-- seen, and when.
CREATE TABLE mq_offsets (
    job_id           INTEGER NOT NULL REFERENCES sync_jobs (id) ON DELETE CASCADE,
    topic            TEXT NOT NULL,
    partition        INT8 NOT NULL,
    committed_offset INT8 NOT NULL,
    high_watermark   INT8,
    updated_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (job_id, topic, partition)
);

CREATE VIEW dataflow_mq_offsets AS
SELECT j.name AS job, o.topic, o.partition, o.committed_offset, o.high_watermark,
       CASE WHEN o.high_watermark IS NULL THEN NULL
            ELSE max(o.high_watermark - o.committed_offset, 0) END AS lag,
       o.updated_at
FROM mq_offsets o JOIN sync_jobs j ON j.id = o.job_id;
INSERT INTO view_column_types VALUES ('dataflow_mq_offsets', 'job', 'text'), ('dataflow_mq_offsets', 'lag', 'int8');

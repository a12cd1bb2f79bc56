-- Batch runs cut each table into partitions by key range (docs/
-- architecture.md, "Partitions, marks and resume"). A task's partitions are
-- derived once, before its first export, and kept here with the run, so a
-- RETRY reads the same ranges and finds the same marks in the target.
-- lower/upper are JSON arrays of the key's values in flowgate CSV text
-- (NULL = unbounded); key_columns the source columns they bound (a JSON
-- array, [] for a table read as one stream). imported is set after the
-- partition's rows and mark committed in the target; a crash in between is
-- settled by the mark.
CREATE TABLE run_partitions (
    run_id      TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    task_id     INT8 NOT NULL,
    seq         INT8 NOT NULL,
    key_columns TEXT NOT NULL,
    lower       TEXT,
    upper       TEXT,
    note        TEXT,
    rows        INT8,
    imported    BOOLEAN NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, task_id, seq)
);

CREATE VIEW dataflow_run_partitions AS
SELECT run_id, task_id, seq, key_columns, lower, upper, rows, imported, note FROM run_partitions;

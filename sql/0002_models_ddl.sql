-- Table models (FEATURES.md section 3) and DDL tasks (section 4).

CREATE TABLE table_models (
    id             INTEGER PRIMARY KEY,
    schema_name    TEXT NOT NULL,
    name           TEXT NOT NULL,
    title          TEXT,
    case_sensitive BOOLEAN NOT NULL DEFAULT 0,
    comment        TEXT,
    -- dialect the column types are spelled in: mysql, postgres, sqlite
    dialect        TEXT NOT NULL,
    -- canonical structure (connectors/schema.Table as JSON): indexes,
    -- auto-increment position and everything the columns table flattens
    structure      JSON NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    UNIQUE (schema_name, name)
);

-- One row per column, flattened from structure for the views.
CREATE TABLE model_columns (
    model_id       INTEGER NOT NULL REFERENCES table_models (id) ON DELETE CASCADE,
    ordinal        INTEGER NOT NULL,
    name           TEXT NOT NULL,
    type           TEXT NOT NULL,
    kind           TEXT NOT NULL,
    length         INT8,
    precision      INT8,
    scale          INT8,
    nullable       BOOLEAN NOT NULL,
    primary_key    BOOLEAN NOT NULL,
    default_value  TEXT,
    auto_increment BOOLEAN NOT NULL,
    comment        TEXT,
    PRIMARY KEY (model_id, name)
);

CREATE TABLE model_datasources (
    model_id      INTEGER NOT NULL REFERENCES table_models (id) ON DELETE CASCADE,
    datasource_id INTEGER NOT NULL REFERENCES datasources (id) ON DELETE CASCADE,
    -- how the association came about: imported (read from the source) or
    -- associated (by hand)
    origin        TEXT NOT NULL CHECK (origin IN ('imported', 'associated')),
    -- current, or dropped_at_source when REFRESH found the table gone
    state         TEXT NOT NULL CHECK (state IN ('current', 'dropped_at_source')),
    associated_at TIMESTAMPTZ NOT NULL,
    refreshed_at  TIMESTAMPTZ,
    PRIMARY KEY (model_id, datasource_id)
);

CREATE TABLE ddl_tasks (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    source_id     INTEGER NOT NULL REFERENCES datasources (id),
    source_schema TEXT,
    target_id     INTEGER NOT NULL REFERENCES datasources (id),
    target_schema TEXT,
    tables        JSON NOT NULL,
    exclude       JSON NOT NULL,
    options       JSON NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('initial', 'running', 'finished', 'failed')),
    message       TEXT,
    started_at    TIMESTAMPTZ,
    finished_at   TIMESTAMPTZ,
    succeeded     INT8 NOT NULL DEFAULT 0,
    failed        INT8 NOT NULL DEFAULT 0,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE ddl_task_tables (
    task_id    INTEGER NOT NULL REFERENCES ddl_tasks (id) ON DELETE CASCADE,
    table_name TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('success', 'failed')),
    message    TEXT NOT NULL,
    sql        TEXT NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (task_id, table_name)
);

CREATE VIEW dataflow_tables AS
SELECT m.schema_name AS schema, m.name, m.title, m.case_sensitive,
       d.name AS datasource, d.type AS datasource_type, m.comment, m.created_at,
       md.state
FROM table_models m
LEFT JOIN model_datasources md ON md.model_id = m.id
LEFT JOIN datasources d ON d.id = md.datasource_id;

CREATE VIEW dataflow_columns AS
SELECT m.schema_name AS schema, m.name AS table_name, c.name, c.ordinal, c.type,
       c.length, c.precision, c.scale, c.nullable, c.primary_key, c.comment,
       c.default_value, c.auto_increment
FROM model_columns c
JOIN table_models m ON m.id = c.model_id;

CREATE VIEW dataflow_table_datasources AS
SELECT m.schema_name AS schema, m.name AS table_name, d.name AS datasource,
       d.type AS datasource_type, md.origin, md.state, md.associated_at, md.refreshed_at
FROM model_datasources md
JOIN table_models m ON m.id = md.model_id
JOIN datasources d ON d.id = md.datasource_id;

CREATE VIEW dataflow_ddl_tasks AS
SELECT t.name, s.name AS source, t.source_schema, g.name AS target, t.target_schema,
       t.status, t.message, t.started_at, t.finished_at, t.succeeded, t.failed,
       t.tables, t.exclude, t.options, t.created_at
FROM ddl_tasks t
JOIN datasources s ON s.id = t.source_id
JOIN datasources g ON g.id = t.target_id;

CREATE VIEW dataflow_ddl_task_tables AS
SELECT t.name AS task, x.table_name, x.status, x.message, x.sql, x.at
FROM ddl_task_tables x
JOIN ddl_tasks t ON t.id = x.task_id;

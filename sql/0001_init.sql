-- Catalog bootstrap: users, datasources, audit log and the dataflow views.
-- Column types use PostgreSQL type names on purpose: the views inherit them
-- and the query layer reports them to clients as PostgreSQL types.
-- Timestamps are TEXT 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC; booleans 0/1.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    role           TEXT NOT NULL CHECK (role IN ('admin', 'manage', 'readonly')),
    scram_verifier TEXT,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE datasources (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    type       TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('normal', 'recycled')),
    -- options with secret values replaced by '********' (what views show)
    options    JSON NOT NULL,
    -- AES-GCM sealed JSON object of the secret options only
    secrets    BLOB,
    comment    TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE audit_log (
    id               INTEGER PRIMARY KEY,
    at               TIMESTAMPTZ NOT NULL,
    user_name        TEXT NOT NULL,
    client_addr      TEXT,
    application_name TEXT,
    statement        TEXT NOT NULL,
    sqlstate         TEXT NOT NULL,
    duration_ms      FLOAT8 NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);

-- Types of view columns that are computed (SQLite reports no declared type
-- for expressions). Plain column references inherit the table's type.
CREATE TABLE view_column_types (
    view    TEXT NOT NULL,
    col     TEXT NOT NULL,
    pg_type TEXT NOT NULL,
    PRIMARY KEY (view, col)
);

CREATE VIEW dataflow_datasources AS
SELECT name, type, status, options, comment, created_at, updated_at
FROM datasources;

CREATE VIEW dataflow_users AS
SELECT name, role, (scram_verifier IS NOT NULL) AS has_password, created_at, updated_at
FROM users;
INSERT INTO view_column_types VALUES ('dataflow_users', 'has_password', 'boolean');

CREATE VIEW dataflow_audit_log AS
SELECT at, user_name AS "user", client_addr, application_name, statement, sqlstate, duration_ms
FROM audit_log;

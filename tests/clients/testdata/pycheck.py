"""Drives psycopg2 and SQLAlchemy against a server; prints one fact per line."""
import sys

import psycopg2
import sqlalchemy
from sqlalchemy import inspect, text

dsn = sys.argv[1]  # postgresql://user@host:port/db


def out(k, v):
    print(f"{k}={v}", flush=True)


# psycopg2 without autocommit: every statement runs in an implicit BEGIN.
conn = psycopg2.connect(dsn)
cur = conn.cursor()
cur.execute("SELECT name, type FROM dataflow.datasources ORDER BY name")
out("pg2_rows", cur.fetchall())
cur.execute('SELECT count(*) FROM dataflow.audit_log WHERE "user" = %s', ("admin",))
out("pg2_param_count_positive", cur.fetchone()[0] > 0)
out("pg2_description", [d.name for d in cur.description])
conn.commit()
conn.close()

# psycopg2 with autocommit.
conn = psycopg2.connect(dsn)
conn.autocommit = True
cur = conn.cursor()
cur.execute("SELECT current_database(), current_user, version()")
db, user, ver = cur.fetchone()
out("pg2_auto", f"{db}/{user}/{ver.split()[0]}")
cur.execute("SELECT %s::int + 1, %s::text", (41, "x"))
out("pg2_auto_params", cur.fetchone())
conn.close()

# SQLAlchemy over psycopg2.
engine = sqlalchemy.create_engine(dsn.replace("postgresql://", "postgresql+psycopg2://"))
with engine.connect() as c:
    out("sa_one", c.execute(text("SELECT 1")).scalar())
    rows = c.execute(text("SELECT type, count(*) AS n FROM dataflow.datasources GROUP BY type ORDER BY type")).fetchall()
    out("sa_group", [tuple(r) for r in rows])
    r = c.execute(text("SELECT name FROM dataflow.datasources WHERE type = :t ORDER BY name"), {"t": "file"}).fetchall()
    out("sa_param", [x[0] for x in r])
insp = inspect(engine)
out("sa_schemas", sorted(insp.get_schema_names()))
views = insp.get_view_names(schema="dataflow")
out("sa_views_has_audit_log", "audit_log" in views)
out("sa_views_has_datasources", "datasources" in views)
out("sa_tables", insp.get_table_names(schema="dataflow"))
cols = insp.get_columns("datasources", schema="dataflow")
out("sa_columns", [(c["name"], str(c["type"])) for c in cols])
out("sa_pk", insp.get_pk_constraint("datasources", schema="dataflow"))
out("sa_fks", insp.get_foreign_keys("datasources", schema="dataflow"))
out("sa_indexes", insp.get_indexes("datasources", schema="dataflow"))
out("sa_has_table", insp.has_table("datasources", schema="dataflow"))
out("sa_view_definition_nonempty", bool(insp.get_view_definition("datasources", schema="dataflow")))
# pandas-style read: rows as dicts through the result's keys
with engine.connect() as c:
    res = c.execute(text("SELECT name, type, created_at FROM dataflow.datasources ORDER BY name"))
    keys = list(res.keys())
    frame = [dict(zip(keys, row)) for row in res]
    out("sa_frame", [(d["name"], d["type"], type(d["created_at"]).__name__) for d in frame])
out("done", True)

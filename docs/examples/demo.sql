-- The statements `make demo` runs (cmd/flowgate-demo), as admin, with
--   psql -X -v ON_ERROR_STOP=1 -v shop_db=... -v warehouse_db=... -v files_dir=... -f docs/examples/demo.sql
-- shop_db is docs/examples/shop-sqlite.sql loaded into a new SQLite file, warehouse_db an
-- empty SQLite file and files_dir an empty directory, all in a temporary directory of their
-- own (not next to the gateway's catalog). :'name' is psql's quoted variable.

\echo '== 1. Datasources: the shop and the warehouse are SQLite files, exports a directory'
CREATE DATASOURCE shop TYPE sqlite OPTIONS (path :'shop_db') COMMENT 'sample shop';
CREATE DATASOURCE warehouse TYPE sqlite OPTIONS (path :'warehouse_db') COMMENT 'empty at first';
CREATE DATASOURCE exports TYPE file OPTIONS (path :'files_dir') COMMENT 'export files';
TEST DATASOURCE shop;
SELECT name, type, status, comment FROM dataflow.datasources ORDER BY name;

\echo '== 2. IMPORT TABLES reads the shop''s structure into table models'
IMPORT TABLES FROM shop;
SELECT name, type, nullable, primary_key
  FROM dataflow.columns WHERE table_name = 'orders' ORDER BY ordinal;

\echo '== 3. A DDL task creates the tables in the warehouse (sql: exactly what ran)'
CREATE DDL TASK shop_to_warehouse FROM shop TO warehouse;
RUN DDL TASK shop_to_warehouse;

\echo '== 4. A batch job copies every table: exported as CSV files into the exports'
\echo '==    datasource, imported, then verified with hashdiff. WAIT shows progress NOTICEs.'
CREATE SYNC JOB shop_copy FROM DATABASE shop TO DATABASE warehouse MODE BATCH
    WITH (algorithm = 'hashdiff', staging = 'exports', export_batch_rows = 1000,
          compression = 'none', verbose = on);
RUN SYNC JOB shop_copy WAIT;
SELECT t.target_table, s.stage, s.status, s.rows
  FROM dataflow.run_stages s JOIN dataflow.run_tasks t USING (run_id, task_id)
 WHERE s.run_id = (SELECT run_id FROM dataflow.runs WHERE job = 'shop_copy' ORDER BY started_at DESC LIMIT 1)
 ORDER BY 1, 2;

\echo '== 5. The export files, in the exports directory'
SELECT * FROM dataflow.export_files ORDER BY uri;

\echo '== 6. The overview: executions, records and seconds per datasource and operation'
SELECT * FROM dataflow.overview ORDER BY datasource;

// Drives node-postgres (pg) against a server; prints one fact per line.
// Usage: node nodecheck.js <connection string>
const { Client } = require('pg');

function out(k, v) { console.log(`${k}=${JSON.stringify(v)}`); }

(async () => {
  const c = new Client({ connectionString: process.argv[2] });
  await c.connect();
  const simple = await c.query('SELECT name, type FROM dataflow.datasources ORDER BY name');
  out('simple_rows', simple.rows);
  out('simple_fields', simple.fields.map((f) => [f.name, f.dataTypeID, f.tableID > 0, f.columnID]));
  const param = await c.query('SELECT count(*)::int AS n FROM dataflow.datasources WHERE type = $1', ['file']);
  out('param_count', param.rows[0].n);
  const named = await c.query({ name: 'by-type', text: 'SELECT name FROM dataflow.datasources WHERE type = $1 ORDER BY name', values: ['sqlite'] });
  out('named_rows', named.rows.map((r) => r.name));
  const again = await c.query({ name: 'by-type', text: 'SELECT name FROM dataflow.datasources WHERE type = $1 ORDER BY name', values: ['file'] });
  out('named_again', again.rows.map((r) => r.name));
  const ts = await c.query('SELECT max(at) AS last FROM dataflow.audit_log WHERE at > $1', [new Date(0)]);
  out('timestamp_is_date', ts.rows[0].last instanceof Date);
  const rel = await c.query("SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'v' ORDER BY 1", ['dataflow']);
  out('views_has_runs', rel.rows.some((r) => r.relname === 'runs'));
  try {
    await c.query('SELECT * FROM pg_catalog.pg_stat_activity');
    out('unsupported', 'no error');
  } catch (e) {
    out('unsupported', e.code);
  }
  await c.end();
  out('done', true);
})().catch((e) => { console.error(e); process.exit(1); });

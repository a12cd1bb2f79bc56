-- Grafana's PostgreSQL data source: version detection and the TimescaleDB
-- probe (postgresMetaQuery.ts), the query builder's information_schema
-- queries, and a time-series panel query after macro expansion.

-- name: version
SELECT current_setting('server_version_num')::int/100 as version

-- name: timescaledb
SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'

-- name: schemas
SELECT schema_name AS "name"
    FROM information_schema.schemata
    WHERE schema_name NOT IN ('information_schema',
                              'pg_catalog',
                              'pg_toast',
                              '_timescaledb_cache',
                              '_timescaledb_catalog',
                              '_timescaledb_internal',
                              '_timescaledb_config',
                              'timescaledb_information',
                              'timescaledb_experimental')
    ORDER BY schema_name

-- name: tables of schema
SELECT quote_ident(table_name) AS "table"
      FROM information_schema.tables
      WHERE quote_ident(table_schema) = 'dataflow'
      ORDER BY 1

-- name: tables on search path
SELECT
    CASE WHEN 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )
      THEN quote_ident(table_name)
      ELSE quote_ident(table_schema) || '.' || quote_ident(table_name)
    END AS "table"
    FROM information_schema.tables
    WHERE quote_ident(table_schema) NOT IN ('information_schema',
                             'pg_catalog',
                             '_timescaledb_cache',
                             '_timescaledb_catalog',
                             '_timescaledb_internal',
                             '_timescaledb_config',
                             'timescaledb_information',
                             'timescaledb_experimental')
    ORDER BY CASE WHEN 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          ) THEN 0 ELSE 1 END, 1

-- name: columns of table
SELECT quote_ident(column_name) AS "column", data_type AS "type"
    FROM information_schema.columns
    WHERE
      CASE WHEN array_length(parse_ident('runs'),1) = 2
        THEN quote_ident(table_schema) = (parse_ident('runs'))[1]
          AND quote_ident(table_name) = (parse_ident('runs'))[2]
        ELSE quote_ident(table_name) = 'runs'
          AND 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )
      END

-- name: columns of qualified table
SELECT quote_ident(column_name) AS "column", data_type AS "type"
    FROM information_schema.columns
    WHERE
      CASE WHEN array_length(parse_ident('dataflow.audit_log'),1) = 2
        THEN quote_ident(table_schema) = (parse_ident('dataflow.audit_log'))[1]
          AND quote_ident(table_name) = (parse_ident('dataflow.audit_log'))[2]
        ELSE quote_ident(table_name) = 'dataflow.audit_log'
          AND 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )
      END

-- name: time series panel
SELECT date_trunc('minute', started_at) AS "time", count(*) FROM dataflow.runs WHERE started_at BETWEEN '2024-01-01T00:00:00Z' AND '2030-01-01T00:00:00Z' GROUP BY 1 ORDER BY 1

-- name: audit time series panel
SELECT date_trunc('minute', at) AS "time", count(*) AS "statements" FROM dataflow.audit_log WHERE at BETWEEN '2020-01-01T00:00:00Z' AND '2099-01-01T00:00:00Z' GROUP BY 1 ORDER BY 1

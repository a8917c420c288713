"""The table of hostile queries, shared by the core tests and the API tests.

Each is refused before it runs. Placeholders name real files of the test: `{secret}` (a CSV
holding `topsecret`), `{sqlite}` (a SQLite file holding `topsecret`), `{canary}` (a path
that must never be written), `{tmp}` (the test's directory).
"""

from __future__ import annotations

from pathlib import Path

import pytest

HOSTILE: list[tuple[str, str]] = [
    # table functions that read files or the network, in any case and spelling
    ("read_csv", "SELECT * FROM read_csv('{secret}')"),
    ("read_csv_auto_mixed_case", "select * from READ_csv_AUTO('{secret}')"),
    ("read_parquet", "SELECT * FROM read_parquet('{tmp}/**/*.parquet')"),
    ("parquet_scan", "SELECT * FROM parquet_scan('{secret}')"),
    ("read_json_auto", "SELECT * FROM Read_Json_Auto('{secret}')"),
    ("read_json_objects", "SELECT * FROM read_json_objects('{secret}')"),
    ("read_ndjson", "SELECT * FROM read_ndjson('{secret}')"),
    ("read_text", "SELECT * FROM read_text('/etc/passwd')"),
    ("read_blob", "SELECT * FROM read_blob('{secret}')"),
    ("read_text_list", "SELECT * FROM read_text(['{secret}', '/etc/passwd'])"),
    ("glob", "SELECT * FROM glob('/*')"),
    ("glob_tmp", "SELECT file FROM GLOB('{tmp}/*')"),
    ("sniff_csv", "SELECT * FROM sniff_csv('{secret}')"),
    ("read_xlsx", "SELECT * FROM read_xlsx('{secret}')"),
    ("iceberg_scan", "SELECT * FROM iceberg_scan('{tmp}')"),
    ("delta_scan", "SELECT * FROM delta_scan('{tmp}')"),
    ("sqlite_scan", "SELECT * FROM sqlite_scan('{sqlite}', 'secrets')"),
    ("sqlite_attach", "SELECT * FROM sqlite_attach('{sqlite}')"),
    ("postgres_scan", "SELECT * FROM postgres_scan('host=127.0.0.1', 'public', 't')"),
    ("postgres_execute", "SELECT * FROM postgres_execute('lake', 'DROP TABLE x')"),
    ("mysql_scan", "SELECT * FROM mysql_scan('host=127.0.0.1', 'db', 't')"),
    ("quoted_function_name", "SELECT * FROM \"read_text\"('{secret}')"),
    ("qualified_function_name", "SELECT * FROM system.main.read_text('{secret}')"),
    ("ducklake_list_files", "SELECT * FROM ducklake_list_files('lake', 'orders')"),
    ("ducklake_cleanup", "SELECT * FROM ducklake_cleanup_old_files('lake', cleanup_all => true)"),
    # SQL held in strings, settings, the environment
    ("query_function", "SELECT * FROM query('DROP TABLE raw_shop.orders')"),
    ("query_table", "SELECT * FROM query_table('raw_shop.orders')"),
    ("json_execute", "SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT 1'))"),
    ("getenv", "SELECT getenv('HOME')"),
    ("getenv_in_argument", "SELECT length(upper(GETENV('HOME')))"),
    ("current_setting", "SELECT current_setting('enable_external_access')"),
    ("duckdb_settings", "SELECT * FROM duckdb_settings()"),
    ("duckdb_databases", "SELECT path FROM duckdb_databases()"),
    ("duckdb_databases_view", "SELECT * FROM duckdb_databases"),
    ("duckdb_secrets", "SELECT * FROM duckdb_secrets()"),
    ("pg_settings", "SELECT * FROM pg_catalog.pg_settings"),
    ("ducklake_metadata", "SELECT * FROM __ducklake_metadata_lake.ducklake_data_file"),
    ("system_catalog", "SELECT * FROM system.main.duckdb_databases"),
    ("pg_sleep", "SELECT pg_sleep(60)"),
    # a string literal or path used as a table
    ("string_literal_table", "SELECT * FROM '{secret}'"),
    ("quoted_path_table", 'SELECT * FROM "{secret}"'),
    ("from_first_file", "FROM '{secret}'"),
    ("url_table", "SELECT * FROM 'https://example.com/data.csv'"),
    # statements that write, change settings, attach, install, load, export
    ("copy_to", "COPY raw_shop.orders TO '{canary}'"),
    ("copy_query_to", "copy (select * from raw_shop.orders) to '{canary}' (FORMAT csv)"),
    ("copy_from", "COPY raw_shop.orders FROM '{secret}'"),
    ("attach_file", "ATTACH '{canary}' AS other"),
    ("attach_sqlite", "ATTACH '{sqlite}' AS meta (TYPE sqlite)"),
    ("detach", "DETACH lake"),
    ("install", "INSTALL httpfs"),
    ("load", "LOAD httpfs"),
    ("pragma", "PRAGMA database_list"),
    ("set", "SET enable_external_access = true"),
    ("set_variable", "SET VARIABLE home = getenv('HOME')"),
    ("reset", "RESET lock_configuration"),
    ("call", "CALL ducklake_expire_snapshots('lake', older_than => now())"),
    ("export_database", "EXPORT DATABASE '{tmp}/export'"),
    ("import_database", "IMPORT DATABASE '{tmp}'"),
    ("create_table", "CREATE TABLE raw_shop.evil AS SELECT 1 AS a"),
    ("create_macro", "CREATE MACRO m() AS TABLE SELECT * FROM read_text('{secret}')"),
    ("create_secret", "CREATE SECRET s (TYPE s3, KEY_ID 'x', SECRET 'y')"),
    ("insert", "INSERT INTO raw_shop.orders (order_id) VALUES (99)"),
    ("update", "UPDATE raw_shop.orders SET amount = 0"),
    ("delete", "DELETE FROM raw_shop.orders"),
    (
        "merge",
        "MERGE INTO raw_shop.orders t USING (SELECT 1 AS order_id) s "
        "ON t.order_id = s.order_id WHEN MATCHED THEN DELETE",
    ),
    ("drop", "DROP TABLE raw_shop.orders"),
    ("alter", "ALTER TABLE raw_shop.orders ADD COLUMN x INTEGER"),
    ("truncate", "TRUNCATE raw_shop.orders"),
    ("select_into", "SELECT * INTO evil FROM raw_shop.orders"),
    ("use", "USE memory"),
    ("checkpoint", "CHECKPOINT"),
    ("vacuum", "VACUUM"),
    ("begin", "BEGIN TRANSACTION"),
    ("prepare", "PREPARE p AS SELECT 1"),
    ("explain_analyze", "EXPLAIN ANALYZE SELECT 1"),
    ("show_databases", "SHOW DATABASES"),
    # more than one statement, however it is hidden
    ("two_statements", "SELECT 1; DROP TABLE raw_shop.orders"),
    ("write_first", "DROP TABLE raw_shop.orders; SELECT 1"),
    ("block_comment_then_statement", "SELECT 1 /* read only */; DROP TABLE raw_shop.orders"),
    ("line_comment_then_statement", "SELECT 1 -- read only\n; DELETE FROM raw_shop.orders"),
    ("nested_comment", "SELECT 1 /* /* */ */; DROP TABLE raw_shop.orders"),
    ("dollar_quote", "SELECT $$ $$; DROP TABLE raw_shop.orders; --"),
    # nested in subqueries, CTEs, joins, lateral joins, set operations, function arguments
    (
        "in_subquery",
        "SELECT * FROM raw_shop.orders WHERE customer IN (SELECT * FROM read_csv('{secret}'))",
    ),
    ("in_cte", "WITH s AS (SELECT * FROM read_text('{secret}')) SELECT * FROM s"),
    ("in_join", "SELECT * FROM raw_shop.orders o JOIN read_csv('{secret}') s ON true"),
    ("in_lateral", "SELECT * FROM raw_shop.orders, LATERAL read_text('{secret}')"),
    (
        "in_scalar_subquery_argument",
        "SELECT upper((SELECT content FROM read_text('{secret}'))) AS x",
    ),
    ("in_union", "SELECT 'x' AS c UNION ALL SELECT content FROM read_text('{secret}')"),
    ("in_lambda", "SELECT list_transform(['{secret}'], x -> (SELECT 1 FROM read_text(x)))"),
    ("in_describe", "DESCRIBE SELECT * FROM read_csv('{secret}')"),
    ("in_summarize", "SUMMARIZE SELECT * FROM '{secret}'"),
    ("file_table_in_cte", "WITH s AS (FROM '{secret}') SELECT * FROM s"),
    ("whitespace_and_case", "\n\tsElEcT *\n fRoM\n  ReAd_TeXt( '{secret}' )  "),
]
"""(test id, SQL template): every one must be refused with nothing read or changed."""


def render(template: str, paths: dict[str, Path]) -> str:
    """The SQL of `template` with its placeholders replaced by the test's paths."""
    sql = template
    for name, path in paths.items():
        sql = sql.replace("{" + name + "}", str(path))
    return sql


def hostile_params() -> list[object]:
    """HOSTILE as pytest parameters with readable ids."""
    return [pytest.param(template, id=name) for name, template in HOSTILE]

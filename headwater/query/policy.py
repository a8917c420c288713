"""What user SQL may name: the one policy that both parsers' checks apply.

Table references are allowlisted: plain (`lake`.)schema.table names, and in table position
only a short list of harmless table functions. Scalar functions are denylisted, because
DuckDB has hundreds of harmless ones; the denylist covers everything that reads or writes
files, reaches the network or other databases, runs SQL text, reads settings, secrets or
the environment, or changes state.
"""

from __future__ import annotations

from headwater.warehouse import LAKE

TABLE_FUNCTIONS = frozenset(
    {
        "range",
        "generate_series",
        "unnest",
        # DuckLake's own read-only views of the lake: snapshots for time travel, changes.
        "ducklake_snapshots",
        "ducklake_table_info",
        "ducklake_table_changes",
        "ducklake_table_insertions",
        "ducklake_table_deletions",
    }
)
"""The only functions allowed where a table goes (`FROM`, `JOIN`, `LATERAL`)."""

DENIED_FUNCTIONS = frozenset(
    {
        # run SQL held in a string, past any check of the text
        "query",
        "query_table",
        "json_execute_serialized_sql",
        # settings, variables, the environment, secrets
        "current_setting",
        "getenv",
        "getvariable",
        "which_secret",
        # files and the network
        "glob",
        "sniff_csv",
        # state changes, logs, caches
        "checkpoint",
        "force_checkpoint",
        "write_log",
        "enable_logging",
        "disable_logging",
        "enable_profiling",
        "disable_profiling",
        "truncate_duckdb_logs",
        "pg_clear_cache",
        "load_aws_credentials",
        # scans of the Python process's own objects
        "pandas_scan",
        "arrow_scan",
        "arrow_scan_dumb",
        "python_map_function",
        # sleeping holds a worker thread that an interrupt may not wake
        "pg_sleep",
        "sleep_ms",
        # what they show includes the catalog's connection string, paths or settings
        "duckdb_databases",
        "duckdb_settings",
        "duckdb_secrets",
        "duckdb_extensions",
        "duckdb_variables",
        "duckdb_temporary_files",
        "duckdb_external_file_cache",
        "duckdb_logs",
        "duckdb_logs_parsed",
        "duckdb_log_contexts",
        "pragma_database_list",
        "pragma_database_size",
        "pragma_show",
    }
)
"""Functions refused anywhere in a query, whatever the case of their name."""

DENIED_PREFIXES = (
    "read_",  # read_csv(_auto), read_parquet, read_json*, read_ndjson*, read_text, read_blob, ...
    "parquet_",  # parquet_scan, parquet_metadata, parquet_schema, ...
    "iceberg_",
    "delta_",
    "sqlite_",  # sqlite_scan, sqlite_attach, sqlite_query: the loaded extension reads any file
    "postgres_",  # postgres_scan, postgres_query, postgres_execute, postgres_attach
    "mysql_",
    "ducklake_",  # maintenance and writes; the read-only ones are in TABLE_FUNCTIONS
    "st_read",  # spatial's file readers
    "http_",
)
"""Function name prefixes refused anywhere (file, network and foreign-database access)."""

DENIED_SUFFIXES = ("_scan", "_attach", "_query", "_execute")
"""Function name suffixes refused anywhere (scans of files or other databases)."""

DENIED_RELATIONS = frozenset(
    {
        "duckdb_databases",
        "duckdb_settings",
        "duckdb_secrets",
        "duckdb_extensions",
        "duckdb_logs",
        "pragma_database_list",
        "pg_settings",
    }
)
"""Built-in views refused by name: they show connection strings, paths or settings."""

OTHER_CATALOGS = frozenset({"system", "temp", "memory"})
"""DuckDB's catalogs besides the lake; queries read the lake only."""

_PATH_CHARACTERS = frozenset("./\\:*?~")


def function_refusal(name: str) -> str | None:
    """Why calling function `name` is refused, or None when it may be called."""
    lowered = name.lower()
    if lowered in TABLE_FUNCTIONS:
        return None
    denied = (
        lowered in DENIED_FUNCTIONS
        or lowered.startswith(DENIED_PREFIXES)
        or lowered.endswith(DENIED_SUFFIXES)
    )
    if denied:
        return (
            f"function {lowered}() is not allowed: queries may not read files, reach the network "
            "or other databases, run SQL strings, read settings or change anything; query the "
            "warehouse's tables instead"
        )
    return None


def table_function_refusal(name: str) -> str | None:
    """Why table function `name` (in FROM, JOIN or LATERAL) is refused, or None."""
    lowered = name.lower()
    if lowered in TABLE_FUNCTIONS:
        return None
    allowed = ", ".join(sorted(TABLE_FUNCTIONS))
    return (
        f"table function {lowered}() is not allowed: FROM takes warehouse tables "
        f"(schema.table) or one of {allowed}"
    )


def table_refusal(catalog: str, schema: str, name: str) -> str | None:
    """Why the table reference `catalog.schema.name` (empty parts omitted) is refused."""
    shown = ".".join(part for part in (catalog, schema, name) if part)
    if any(part.lower().startswith("__ducklake") for part in (catalog, schema, name)):
        return f"{shown}: DuckLake's own catalog tables cannot be queried; query the lake's tables"
    if catalog and catalog.lower() != LAKE:
        return (
            f"{shown}: only the warehouse catalog '{LAKE}' can be queried; "
            f"write schema.table or {LAKE}.schema.table"
        )
    if not catalog and schema.lower() in OTHER_CATALOGS:
        return f"{shown}: only the warehouse catalog '{LAKE}' can be queried"
    if _PATH_CHARACTERS & set(name):
        return (
            f"'{name}' looks like a file path or URL: queries read warehouse tables only "
            "(write schema.table), never files"
        )
    if name.lower() in DENIED_RELATIONS:
        return f"{shown} is not allowed: it shows connection strings, paths or settings"
    return None

"""Where a console's result goes besides the run history: table `consoles.<name>` in the
warehouse and an export file, each replaced whole on every run."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from headwater.config.consoles import ExportFormat
from headwater.consoles.definition import CONSOLES_SCHEMA, materialized_table
from headwater.consoles.errors import ConsoleOutputError
from headwater.query.arrow_text import csv_unwritable, parquet_unwritable, text_columns
from headwater.warehouse import LAKE, Warehouse
from headwater.warehouse.sql import quote_identifier

_RESULT_VIEW = "_hw_console_result"
"""The temporary name the writer session gives the result (never stored in the lake)."""


def materialize(warehouse: Warehouse, name: str, table: pa.Table) -> str:
    """Replace `consoles.<name>` with `table` in one transaction (readers see the old rows
    or the new ones, never none); returns the table's name. Takes a writer session, so a
    SQLite catalog's write lock: callers in flows hold a writer slot around it."""
    target = f"{LAKE}.{quote_identifier(CONSOLES_SCHEMA, name)}"
    try:
        with warehouse.writer() as conn:
            # The result is registered as a temporary view: only the already-checked rows
            # reach the writer session, never the console's SQL itself.
            conn.register(_RESULT_VIEW, table)
            conn.execute("BEGIN")
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {LAKE}.{quote_identifier(CONSOLES_SCHEMA)}")
            conn.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT * FROM {_RESULT_VIEW}")
            conn.execute("COMMIT")
    except duckdb.Error as exc:
        raise ConsoleOutputError(
            f"materializing console '{name}' into {materialized_table(name)} failed: "
            f"{' '.join(str(exc).split())}"
        ) from None
    return materialized_table(name)


def export_result(path: Path, fmt: ExportFormat, table: pa.Table) -> Path:
    """Write `table` to `path` as Parquet or CSV, atomically: into a temporary file beside
    it, then renamed over it, so readers see the old file or the new one, never half of
    one. Columns the format cannot hold (intervals, nested values in CSV) become text."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConsoleOutputError(
            f"cannot create the export directory {path.parent}: {exc}"
        ) from None
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    unwritable = parquet_unwritable if fmt == "parquet" else csv_unwritable
    schema, convert = text_columns(table.schema, unwritable)
    try:
        batches = [convert(batch) if convert else batch for batch in table.to_batches()]
        converted = pa.Table.from_batches(batches, schema=schema)
        if fmt == "parquet":
            pq.write_table(converted, temporary)
        else:
            pa_csv.write_csv(converted, temporary)
        os.replace(temporary, path)
    except (OSError, pa.ArrowException) as exc:
        temporary.unlink(missing_ok=True)
        raise ConsoleOutputError(
            f"writing the export {path} ({fmt}) failed: {' '.join(str(exc).split())}"
        ) from None
    return path

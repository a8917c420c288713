"""Stream a checked query's whole result as CSV, Parquet, NDJSON or an Arrow IPC stream.

The result is read in record batches and each batch is written out before the next is
fetched, so an export of any size holds one batch in memory. There is no row cap: the time
limit bounds the DuckDB work (only time DuckDB spends producing rows counts, not time spent
waiting for a slow client).
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress
from datetime import UTC, datetime
from typing import Any, Literal

import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from headwater.query.arrow_text import (
    BatchConverter,
    csv_unwritable,
    parquet_unwritable,
    text_columns,
)
from headwater.query.errors import QueryFailedError
from headwater.query.safety import check_read_only
from headwater.query.session import Deadline, query_session
from headwater.query.values import row_converter
from headwater.warehouse import Warehouse

ExportFormat = Literal["csv", "parquet", "ndjson", "arrow"]
"""The export formats."""

MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "ndjson": "application/x-ndjson",
    "arrow": "application/vnd.apache.arrow.stream",
}
"""Format -> the response's media type."""

EXTENSIONS: dict[str, str] = {
    "csv": "csv",
    "parquet": "parquet",
    "ndjson": "ndjson",
    "arrow": "arrows",
}
"""Format -> file name extension (`.arrows` is the Arrow IPC *stream* format)."""

BATCH_ROWS = 100_000
"""Rows fetched and written per step."""


class _Drain(io.RawIOBase):
    """A write-only file whose bytes are taken out after each batch; `tell()` keeps counting
    because the Parquet footer records absolute offsets."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


class QueryExport:
    """An export whose query already runs: iterate `chunks()` for the bytes; `close()` stops
    it early (client gone) and is safe to call at any time, more than once."""

    def __init__(
        self,
        fmt: ExportFormat,
        stack: ExitStack,
        conn: duckdb.DuckDBPyConnection,
        produce: Iterator[bytes],
    ) -> None:
        """The export's format."""
        self.media_type = MEDIA_TYPES[fmt]
        """The media type of the bytes."""
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        self.filename = f"query-{stamp}.{EXTENSIONS[fmt]}"
        """A file name for Content-Disposition."""
        self._stack = stack
        self._conn = conn
        self._produce = produce
        self._lock = threading.Lock()
        self._closed = False

    def chunks(self) -> Iterator[bytes]:
        """The export's bytes, chunk by chunk; the session closes after the last one."""
        with self._stack:  # DuckDB errors are translated and the session closed on the way out
            while not self._closed:
                with self._lock:
                    chunk = None if self._closed else next(self._produce, None)
                if chunk is None:
                    self._closed = True
                    return
                if chunk:
                    yield chunk

    def close(self) -> None:
        """Stop the query and release the session."""
        if not self._closed:
            self._closed = True
            with suppress(duckdb.Error):  # the session may be closing on its own
                self._conn.interrupt()
        with self._lock:
            self._stack.close()


def open_export(
    warehouse: Warehouse,
    sql: str,
    fmt: ExportFormat,
    timeout_seconds: float,
    batch_rows: int = BATCH_ROWS,
) -> QueryExport:
    """Check `sql`, start it on a locked-down read-only session and fetch its first batch,
    so that refusals and DuckDB's errors (unknown table, ...) raise here, before any byte
    is sent; later errors end the stream early (`QueryTimeoutError`, `QueryFailedError`)."""
    if fmt not in MEDIA_TYPES:
        raise ValueError(f"unknown export format {fmt!r}; known: {', '.join(MEDIA_TYPES)}")
    check_read_only(sql)
    stack = ExitStack()
    conn = stack.enter_context(query_session(warehouse))
    try:
        deadline = Deadline(conn, timeout_seconds)
        with deadline.running():
            cursor = conn.execute(sql)
        if fmt == "ndjson":
            names = [str(item[0]) for item in cursor.description or []]
            convert = row_converter([str(item[1]) for item in cursor.description or []])

            def fetch_rows() -> list[Any]:
                with deadline.running():
                    return cursor.fetchmany(batch_rows)

            produce = _ndjson(names, convert, fetch_rows)
        else:
            with deadline.running():
                reader = cursor.to_arrow_reader(batch_rows)
            produce = _arrow_formats(fmt, reader, deadline)
        first = next(produce)  # the header, plus the first batch's rows
    except BaseException as exc:
        # Unwinding the session translates DuckDB's error (it raises the translation).
        stack.__exit__(type(exc), exc, exc.__traceback__)
        raise
    return QueryExport(fmt, stack, conn, _prepend(first, produce))


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _next_batch(reader: pa.RecordBatchReader, deadline: Deadline) -> pa.RecordBatch | None:
    try:
        with deadline.running():
            return reader.read_next_batch()
    except StopIteration:
        return None
    except (OSError, pa.ArrowException) as exc:  # DuckDB's errors, as the Arrow reader raises them
        raise QueryFailedError(f"the query failed: {' '.join(str(exc).split())}") from None


def _arrow_formats(
    fmt: ExportFormat, reader: pa.RecordBatchReader, deadline: Deadline
) -> Iterator[bytes]:
    sink = _Drain()
    try:
        writer, prepare = _writer(fmt, sink, reader.schema)
        batch = _next_batch(reader, deadline)
        while batch is not None:
            writer.write_batch(prepare(batch) if prepare else batch)
            yield sink.take()
            batch = _next_batch(reader, deadline)
        writer.close()
    except pa.ArrowException as exc:
        raise QueryFailedError(
            f"the result cannot be written as {fmt}: {' '.join(str(exc).split())}; export it "
            "as arrow, or cast that column in the SQL (e.g. CAST(x AS VARCHAR))"
        ) from None
    yield sink.take()


def _writer(
    fmt: ExportFormat, sink: _Drain, schema: pa.Schema
) -> tuple[Any, BatchConverter | None]:
    """The format's writer on `sink`, and the converter of columns it cannot take."""
    if fmt == "arrow":
        return pa.ipc.new_stream(sink, schema), None
    if fmt == "parquet":
        parquet_schema, prepare = text_columns(schema, parquet_unwritable)
        return pq.ParquetWriter(sink, parquet_schema), prepare
    csv_schema, prepare = text_columns(schema, csv_unwritable)
    return pa_csv.CSVWriter(sink, csv_schema), prepare


def _ndjson(
    names: list[str],
    convert: Callable[[Any], list[Any]],
    fetch_rows: Callable[[], list[Any]],
) -> Iterator[bytes]:
    """One JSON object per row, values converted as in query results."""
    rows = fetch_rows()
    yield b""  # the header: NDJSON has none
    while rows:
        lines = [
            json.dumps(dict(zip(names, convert(row), strict=True)), ensure_ascii=False)
            for row in rows
        ]
        yield ("\n".join(lines) + "\n").encode("utf-8")
        rows = fetch_rows()

"""`/api/query`: read-only SQL over the warehouse, answered as JSON or streamed as a file."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response, StreamingResponse
from pydantic import Field
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from api.access import GuardedRoute, requires
from api.deps import AppContext, Context
from api.errors import ApiError
from api.schemas.common import ApiModel, RequestModel
from headwater.query import (
    InvalidSqlError,
    QueryError,
    QueryExport,
    QueryTimeoutError,
    QueryTooLargeError,
    UnsafeQueryError,
    open_export,
    run_query,
)
from headwater.query.export import MEDIA_TYPES, ExportFormat

logger = logging.getLogger("headwater.api.query")

router = APIRouter(route_class=GuardedRoute, tags=["query"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "description": "Refused or failed; `code` says which: `unsafe_query`, `invalid_sql`, "
        "`query_timeout`, `query_failed`. `detail` gives the reason."
    },
    413: {"description": "The SQL is longer than 100 KB (`query_too_large`)."},
}


class QueryIn(RequestModel):
    """A read-only query."""

    sql: str = Field(
        description="One read-only statement (SELECT, WITH ... SELECT, set operations, VALUES, "
        "DESCRIBE, SUMMARIZE) over the warehouse's tables, at most 100 KB.",
        examples=["SELECT * FROM raw_orders.orders LIMIT 10"],
    )


class ExportIn(QueryIn):
    """A read-only query and the file format of its result."""

    format: ExportFormat = Field(
        default="csv",
        description="csv, parquet, ndjson (one JSON object per line) or arrow (Arrow IPC stream).",
    )


class ColumnOut(ApiModel):
    """One result column."""

    name: str = Field(description="The column's name.")
    type: str = Field(description="Its DuckDB type, e.g. BIGINT, DECIMAL(18,3), VARCHAR[].")


class QueryOut(ApiModel):
    """A query's first rows."""

    columns: list[ColumnOut] = Field(description="The result's columns, in order.")
    rows: list[list[Any]] = Field(
        description="Rows as lists in column order. DECIMAL is a number; dates and times ISO "
        "8601 strings; INTERVAL an ISO 8601 duration; BLOB base64; UUID text; LIST an array; "
        "STRUCT and MAP objects; NaN and infinities the strings NaN, Infinity, -Infinity."
    )
    row_count: int = Field(description="How many rows `rows` holds.")
    truncated: bool = Field(description="The result had more rows than `api.query_max_rows`.")
    elapsed_ms: float = Field(description="Time taken, in milliseconds.")


def _refusal(exc: QueryError) -> ApiError:
    """The API's answer to a refused or failed query."""
    if isinstance(exc, QueryTooLargeError):
        return ApiError(413, str(exc), "query_too_large")
    if isinstance(exc, InvalidSqlError):
        return ApiError(400, str(exc), "invalid_sql")
    if isinstance(exc, UnsafeQueryError):
        return ApiError(400, str(exc), "unsafe_query")
    if isinstance(exc, QueryTimeoutError):
        return ApiError(400, str(exc), "query_timeout")
    return ApiError(400, str(exc), "query_failed")


@router.post(
    "/api/query",
    openapi_extra=requires("query.execute"),
    response_model=QueryOut,
    responses=_ERRORS,
)
async def query(body: QueryIn, context: Context) -> Response:
    """Run one read-only SQL statement on the warehouse and return its first rows.

    The SQL is checked by two parsers (sqlglot and DuckDB's own) and refused with 400
    `unsafe_query` and the reason unless it is one read statement over plain
    `schema.table` names: anything that writes, changes settings, attaches or detaches
    databases, installs or loads extensions, exports, runs SQL held in strings, or reads
    files, the network or other databases (COPY, ATTACH, INSTALL, LOAD, PRAGMA, SET, CALL,
    read_csv, read_parquet, read_json, read_text, glob, `FROM 'file.csv'`, ...) is refused
    in any case and at any depth. SQL that does not parse gets 400 `invalid_sql` with the
    parser's message; SQL over 100 KB gets 413 `query_too_large`.

    The query then runs on a read-only session that cannot reach the file system or the
    network. At most `api.query_max_rows` rows (project.yml, default 10,000) come back, with
    `truncated: true` when there were more. A query running longer than
    `api.query_timeout_seconds` (default 30) is interrupted and answered with 400
    `query_timeout` (400, not 408: the client's request was not slow, the query was); other
    DuckDB errors (an unknown table, a type error) answer 400 `query_failed`."""
    api = context.project.config.api
    try:
        content = await run_in_threadpool(
            _run, context, body.sql, api.query_max_rows, api.query_timeout_seconds
        )
    except QueryError as exc:
        raise _refusal(exc) from None
    return Response(content, media_type="application/json")


def _run(context: AppContext, sql: str, max_rows: int, timeout_seconds: float) -> bytes:
    """The query's answer as JSON bytes, encoded off the event loop. The values already are
    JSON values, so pydantic's validation of up to max_rows rows (about 5x the cost of
    encoding them) is skipped; `QueryOut` documents the shape."""
    result = run_query(context.warehouse, sql, max_rows, timeout_seconds)
    body = {
        "columns": [{"name": column.name, "type": column.type} for column in result.columns],
        "rows": result.rows,
        "row_count": result.row_count,
        "truncated": result.truncated,
        "elapsed_ms": result.elapsed_ms,
    }
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _stream(export: QueryExport) -> Iterator[bytes]:
    """The export's chunks; an error after the first byte can no longer change the status,
    so it is logged and the connection is cut, which the client sees as an incomplete body."""
    try:
        yield from export.chunks()
    except QueryError as exc:
        logger.warning("query export stopped after it started: %s", exc)
        raise


@router.post(
    "/api/query/export",
    openapi_extra=requires("query.execute"),
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The whole result as a file (Content-Disposition names it).",
            "content": {media_type.split(";")[0]: {} for media_type in MEDIA_TYPES.values()},
        },
        **_ERRORS,
    },
)
async def export(body: ExportIn, context: Context) -> StreamingResponse:
    """Run one read-only SQL statement and stream its whole result as a file: `csv`,
    `parquet`, `ndjson` (one JSON object per line) or `arrow` (an Arrow IPC stream).

    The SQL is checked and refused exactly as by `POST /api/query` (400 `unsafe_query`,
    `invalid_sql`, 413 `query_too_large`); errors found before the first byte is sent
    (unknown table, timeout) answer 400 `query_failed` / `query_timeout`. There is no row
    cap: rows are fetched and written batch by batch, so the server holds one batch at a
    time. `api.query_timeout_seconds` bounds the time DuckDB spends producing rows (not time
    spent waiting for a slow client); if it runs out mid-stream the connection is cut and
    the file is incomplete. Arrow keeps every DuckDB type exactly and Parquet nearly so
    (INTERVAL and UNION columns become text); CSV and NDJSON write nested values as JSON,
    BLOBs as base64 and intervals as ISO 8601 durations."""
    api = context.project.config.api
    try:
        started = await run_in_threadpool(
            open_export, context.warehouse, body.sql, body.format, api.query_timeout_seconds
        )
    except QueryError as exc:
        raise _refusal(exc) from None
    return StreamingResponse(
        _stream(started),
        media_type=started.media_type,
        headers={"Content-Disposition": f'attachment; filename="{started.filename}"'},
        background=BackgroundTask(started.close),
    )

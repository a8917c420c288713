"""Read-only SQL over the warehouse: safety checks, a locked-down runner, streaming export."""

from headwater.query.errors import (
    InvalidSqlError,
    QueryError,
    QueryFailedError,
    QueryTimeoutError,
    QueryTooLargeError,
    UnsafeQueryError,
)
from headwater.query.export import ExportFormat, QueryExport, open_export
from headwater.query.runner import QueryColumn, QueryResult, run_query
from headwater.query.safety import MAX_SQL_BYTES, check_read_only

__all__ = [
    "MAX_SQL_BYTES",
    "ExportFormat",
    "InvalidSqlError",
    "QueryColumn",
    "QueryError",
    "QueryExport",
    "QueryFailedError",
    "QueryResult",
    "QueryTimeoutError",
    "QueryTooLargeError",
    "UnsafeQueryError",
    "check_read_only",
    "open_export",
    "run_query",
]

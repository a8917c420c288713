"""One run of a console: query, assertions, then materialization and export.

Failures of the console itself (unsafe SQL, a missing file, a failed assertion, a query
error) do not raise: they come back as a failed `ConsoleOutcome`, so the caller can record
them in the history before failing its run. Assertions are checked before anything is
written: a result that fails them never replaces the table or the export file.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from headwater.config import Project
from headwater.consoles.assertions import AssertionResult, check_assertions
from headwater.consoles.definition import console_sql, get_console
from headwater.consoles.errors import ConsoleAssertionError
from headwater.consoles.outputs import export_result, materialize
from headwater.consoles.result import ConsoleResult, fetch_result, preview_rows
from headwater.errors import HeadwaterError
from headwater.query.values import JsonValue
from headwater.store.types import utcnow
from headwater.warehouse import Warehouse

PREVIEW_ROWS = 20
"""Rows of each result kept in the run history (`GET /api/consoles/{name}`)."""

WriteGuard = Callable[[], AbstractContextManager[Any]]
"""Held around the warehouse write (a flow's writer slot)."""


@dataclass
class ConsoleOutcome:
    """What one run of a console did."""

    console: str
    """The console's name."""
    status: str = "running"
    """succeeded or failed once finished."""
    started_at: datetime = field(default_factory=utcnow)
    """When the run started."""
    seconds: float = 0.0
    """How long it took."""
    row_count: int | None = None
    """Rows of the result (None when the query failed)."""
    columns: list[dict[str, str]] = field(default_factory=list)
    """[{name, type}] of the result."""
    preview: list[list[JsonValue]] = field(default_factory=list)
    """The first `PREVIEW_ROWS` rows as JSON values."""
    assertions: list[AssertionResult] = field(default_factory=list)
    """Every assertion checked."""
    error: str | None = None
    """Why the run failed."""
    materialized_table: str | None = None
    """`consoles.<name>` when replaced by this run."""
    export_path: str | None = None
    """The export file replaced by this run."""
    transient: bool = False
    """The failure may pass when tried again (a locked catalog)."""

    @property
    def failed_assertions(self) -> list[AssertionResult]:
        """The assertions that failed."""
        return [result for result in self.assertions if not result.passed]

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (the flow's return value, events)."""
        return {
            "console": self.console,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "rows": self.row_count,
            "assertions": [result.as_dict() for result in self.assertions],
            "error": self.error,
            "materialized_table": self.materialized_table,
            "export_path": self.export_path,
        }


def execute_console(
    project: Project, name: str, write_guard: WriteGuard | None = None
) -> ConsoleOutcome:
    """Run console `name` of `project` once. Raises `ConsoleNotFoundError` for an unknown
    name; every other failure is a failed outcome with its message in `error`."""
    get_console(project, name)  # an unknown name raises before anything is recorded
    outcome = ConsoleOutcome(console=name)
    started = time.perf_counter()
    try:
        _run(project, name, outcome, write_guard or nullcontext)
        outcome.status = "succeeded"
    except HeadwaterError as exc:
        message = str(exc)
        outcome.status = "failed"
        prefix = f"console '{name}'"
        outcome.error = message if message.startswith(prefix) else f"{prefix}: {message}"
        outcome.transient = exc.transient
    outcome.seconds = time.perf_counter() - started
    return outcome


def _run(project: Project, name: str, outcome: ConsoleOutcome, write_guard: WriteGuard) -> None:
    config = get_console(project, name)
    if config.timeout:
        timeout, setting = config.timeout.total_seconds(), f"consoles.{name}.timeout"
    else:
        timeout, setting = project.config.api.query_timeout_seconds, "api.query_timeout_seconds"
    warehouse = Warehouse(project)
    sql = console_sql(project, name)
    result: ConsoleResult = fetch_result(warehouse, sql, timeout, setting)
    outcome.row_count = result.row_count
    outcome.columns = result.columns
    outcome.preview = preview_rows(result.table, PREVIEW_ROWS)
    outcome.assertions = check_assertions(result.table, config.assertions)
    failed = outcome.failed_assertions
    if failed:
        raise ConsoleAssertionError(
            f"console '{name}': {len(failed)} of {len(outcome.assertions)} assertions failed: "
            + "; ".join(check.message for check in failed)
        )
    if config.materialize:
        with write_guard():
            outcome.materialized_table = materialize(warehouse, name, result.table)
    if config.export is not None:
        path = project.path(config.export.path)
        outcome.export_path = str(export_result(path, config.export.file_format, result.table))

"""dbt's `run_results.json`: the last outcome of each node, plus tolerant JSON readers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class RunResult:
    """The outcome of one node in dbt's last `run_results.json`."""

    unique_id: str
    """Node the result belongs to."""
    status: str
    """success, error, skipped (models, seeds); pass, fail, warn, error (tests)."""
    message: str | None = None
    """dbt's message: the database error on failure."""
    failures: int | None = None
    """Failing rows of a test."""
    started_at: datetime | None = None
    """Start of the execute step."""
    completed_at: datetime | None = None
    """End of the execute step: the node's last built (or tested) time."""
    execution_time: float | None = None
    """Seconds the node took."""
    rows_affected: int | None = None
    """Rows written, when the adapter reports them."""


def parse_run_results(run_results: Mapping[str, Any]) -> dict[str, RunResult]:
    """unique_id -> RunResult from a decoded `run_results.json`."""
    parsed: dict[str, RunResult] = {}
    for raw in run_results.get("results") or ():
        if not isinstance(raw, Mapping) or not raw.get("unique_id"):
            continue
        timing = [t for t in raw.get("timing") or () if isinstance(t, Mapping)]
        # The execute step is the build itself; compile-only runs have no execute step.
        step = next((t for t in timing if t.get("name") == "execute"), timing[-1] if timing else {})
        response = as_dict(raw.get("adapter_response"))
        parsed[str(raw["unique_id"])] = RunResult(
            unique_id=str(raw["unique_id"]),
            status=str(raw.get("status") or "unknown"),
            message=as_str(raw.get("message")),
            failures=as_int(raw.get("failures")),
            started_at=as_time(step.get("started_at")),
            completed_at=as_time(step.get("completed_at")),
            execution_time=as_float(raw.get("execution_time")),
            rows_affected=as_int(response.get("rows_affected")),
        )
    return parsed


def as_dict(value: object) -> dict[str, Any]:
    """`value` if it is a JSON object, else {} (keys may be missing or null)."""
    return dict(value) if isinstance(value, Mapping) else {}


def as_str(value: object) -> str | None:
    """`value` as text; None for null or empty."""
    return str(value) if value not in (None, "") else None


def as_int(value: object) -> int | None:
    """`value` if it is a number, as int; else None."""
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def as_float(value: object) -> float | None:
    """`value` if it is a number, as float; else None."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def as_time(value: object) -> datetime | None:
    """An ISO timestamp from dbt (`...Z`) as an aware datetime; None if absent or bad."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None

"""Each source's state from its Prefect runs and the warehouse, cached for a moment.

A page of sources costs one Prefect query per source and one warehouse query; dashboards
poll it, so the answer is reused for `TTL_SECONDS` (one computation at a time), which
keeps it cheap under load without hiding a change for long.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool

from api.schemas.sources import LastRun, SourceOut, TableCount
from headwater.runs import RUN_KINDS, parse_time, source_tag
from headwater.warehouse import raw_schema

if TYPE_CHECKING:
    from api.deps import AppContext

TTL_SECONDS = 2.0
logger = logging.getLogger("headwater.api")
_SYNCING = {"PENDING", "RUNNING", "CANCELLING"}
_FAILED = {"FAILED", "CRASHED"}


class SourceStatusCache:
    """The sources' states, recomputed in the background when older than TTL_SECONDS.

    Only the first call waits for the computation; later ones get the last value while a
    single refresh runs, so a slow Prefect or warehouse read never stalls every caller."""

    def __init__(self) -> None:
        self._value: dict[str, SourceOut] | None = None
        self._computed_at = 0.0
        self._refresh: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def get(self, context: AppContext) -> dict[str, SourceOut]:
        """Source name -> state, in project.yml order."""
        if self._value is None:
            async with self._lock:
                if self._value is None:
                    await self._compute(context)
        elif time.monotonic() - self._computed_at >= TTL_SECONDS and (
            self._refresh is None or self._refresh.done()
        ):
            self._refresh = asyncio.create_task(self._compute(context))
        assert self._value is not None
        return self._value

    async def _compute(self, context: AppContext) -> None:
        try:
            self._value = await compute_statuses(context)
        except Exception:
            if self._value is None:
                raise  # the first caller sees why
            logger.warning("refreshing source states failed", exc_info=True)
        finally:
            self._computed_at = time.monotonic()


async def compute_statuses(context: AppContext) -> dict[str, SourceOut]:
    """Every source's state, now."""
    names = list(context.project.config.sources)
    counts, runs = await asyncio.gather(
        run_in_threadpool(_row_counts, context),
        asyncio.gather(*(recent_sync_runs(context, name) for name in names)),
    )
    return {
        name: _status(context, name, counts.get(raw_schema(name), {}), source_runs)
        for name, source_runs in zip(names, runs, strict=True)
    }


async def recent_sync_runs(
    context: AppContext, source: str, limit: int = 10
) -> list[dict[str, Any]]:
    """The newest sync runs of `source` (CDC runs for a CDC source), newest first."""
    flows = [RUN_KINDS["sync"], RUN_KINDS["cdc"]]
    return await context.prefect.flow_runs(flows, [source_tag(source)], limit=limit)


def _row_counts(context: AppContext) -> dict[str, dict[str, int]]:
    with context.warehouse.reader() as conn:
        counts = context.warehouse.row_counts(conn)
    by_schema: dict[str, dict[str, int]] = {}
    for (schema, table), rows in counts.items():
        by_schema.setdefault(schema, {})[table] = rows
    return by_schema


def _status(
    context: AppContext, name: str, tables: dict[str, int], runs: list[dict[str, Any]]
) -> SourceOut:
    config = context.project.config.sources[name]
    finished = [run for run in runs if run["state"]["type"] in {"COMPLETED", *_FAILED}]
    succeeded = next((run for run in runs if run["state"]["type"] == "COMPLETED"), None)
    if any(run["state"]["type"] in _SYNCING for run in runs):
        status = "syncing"
    elif finished:
        status = "synced" if finished[0]["state"]["type"] == "COMPLETED" else "failed"
    else:
        status = "never synced"
    last_synced = parse_time(succeeded.get("end_time")) if succeeded else None
    age = (datetime.now(UTC) - last_synced).total_seconds() if last_synced else None
    return SourceOut(
        name=name,
        type=config.type,
        description=config.description,
        enabled=config.enabled,
        status=status,
        last_run=_last_run(runs[0]) if runs else None,
        last_synced_at=last_synced,
        age_seconds=age,
        rows=sum(tables.values()),
        tables=[TableCount(name=table, rows=rows) for table, rows in sorted(tables.items())],
    )


def _last_run(run: dict[str, Any]) -> LastRun:
    return LastRun(
        id=run["id"],
        state=str(run["state"]["type"]).lower(),
        start_time=parse_time(run.get("start_time")),
        end_time=parse_time(run.get("end_time")),
    )


_SECRET_KEY = re.compile(r"password|secret|token|api_key|authorization", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(//[^/:@]+):[^/@]*@")


def masked(value: Any, key: str = "") -> Any:
    """A config value safe to show: credentials in URLs and secret-looking keys masked; env
    var names (keys ending in `_env`) are shown, since they are not secrets."""
    if isinstance(value, dict):
        return {k: masked(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(item, key) for item in value]
    if isinstance(value, str):
        if _SECRET_KEY.search(key) and not key.endswith("_env"):
            return "***"
        return _URL_PASSWORD.sub(r"\1:***@", value)
    return value

"""Prefect's flow-run JSON -> the API's run models."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, get_args

from api.prefect import PrefectApi
from api.schemas.runs import RunDetail, RunOut, RunState, TableRows
from headwater.runs import KIND_OF_FLOW, parse_time, source_of

_ERROR_STATES = {"failed", "crashed", "cancelled"}
_KNOWN_STATES = frozenset(get_args(RunState))


async def run_view(prefect: PrefectApi, raw: dict[str, Any]) -> RunOut:
    """The API's view of one Prefect flow run."""
    state = raw.get("state") or {}
    state_type = str(state.get("type") or "unknown").lower()
    start, end = parse_time(raw.get("start_time")), parse_time(raw.get("end_time"))
    duration = None
    if start is not None:
        duration = ((end or datetime.now(UTC)) - start).total_seconds()
    flow = await prefect.flow_name(raw["flow_id"])
    tags = list(raw.get("tags") or [])
    return RunOut(
        id=raw["id"],
        name=raw["name"],
        kind=KIND_OF_FLOW.get(flow, flow),
        source=source_of(tags),
        state=state_type if state_type in _KNOWN_STATES else "unknown",
        state_name=state.get("name"),
        error=state.get("message") if state_type in _ERROR_STATES else None,
        parameters=raw.get("parameters") or {},
        expected_start_time=parse_time(raw.get("expected_start_time")),
        start_time=start,
        end_time=end,
        duration_seconds=duration,
        tags=tags,
        ui_url=f"{prefect.ui_url}/runs/flow-run/{raw['id']}",
    )


async def run_detail(prefect: PrefectApi, raw: dict[str, Any]) -> RunDetail:
    """The run with what its artifacts record: rows per table, dbt nodes."""
    view = await run_view(prefect, raw)
    tables: list[TableRows] | None = None
    nodes: list[dict[str, Any]] | None = None
    for artifact in await prefect.artifacts(view.id):
        if artifact.get("type") != "table":
            continue
        data = artifact.get("data")
        rows: list[dict[str, Any]] = (json.loads(data) if isinstance(data, str) else data) or []
        key = str(artifact.get("key") or "")
        if key.startswith("sync-") and tables is None:
            tables = [TableRows.model_validate(row) for row in rows]
        elif key == "dbt-build" and nodes is None:
            nodes = rows
    return RunDetail(**view.model_dump(), tables=tables, nodes=nodes)

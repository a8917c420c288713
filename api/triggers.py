"""Starting syncs and dbt builds: flow runs of the served deployments, created in Prefect.

The API never runs a flow itself. It creates a flow run of a deployment; the process
serving that deployment (`headwater serve`, or a worker) picks it up, and the Prefect UI
shows it like any other run.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from api.deps import AppContext
from api.errors import ApiError, not_found
from api.prefect import ACTIVE_STATES, PrefectNotFoundError
from api.run_views import run_view
from api.schemas.runs import TriggeredRun
from headwater.auth.roles import Principal
from headwater.config.sources import FilesSource, PostgresCdcSource, RestApiSource, SqlSource
from headwater.runs import RUN_KINDS, cdc_deployment_name, source_tag, sync_deployment_name

# A run created for "now" stays Scheduled until the serving process polls for it (seconds):
# it counts as running, so a second trigger in that window is refused too.
_DUE_GRACE = timedelta(seconds=5)


def check_source(context: AppContext, name: str, tables: list[str] | None) -> None:
    """404 for an unknown source, 400 for a disabled one or unknown tables."""
    sources = context.project.config.sources
    if name not in sources:
        raise not_found("source", name, list(sources))
    config = sources[name]
    if not config.enabled:
        raise ApiError(
            400, f"source '{name}' is disabled (enabled: false in project.yml)", "source_disabled"
        )
    known = _configured_tables(config)
    unknown = [table for table in tables or [] if known is not None and table not in known]
    if unknown:
        raise ApiError(
            400,
            f"source '{name}' has no table {', '.join(map(repr, unknown))}; "
            f"its tables: {', '.join(sorted(known or []))}",
            "table_not_found",
        )


def _configured_tables(config: Any) -> list[str] | None:
    """Tables named in project.yml; None when the source discovers them (a whole schema)."""
    if isinstance(config, FilesSource):
        return list(config.tables)
    if isinstance(config, SqlSource):
        return list(config.tables) if config.tables else None
    if isinstance(config, RestApiSource):
        return list(config.resources)
    return None


def sync_target(context: AppContext, source: str) -> tuple[str, str]:
    """(flow, deployment) that syncs `source`: a CDC source applies its waiting changes."""
    if isinstance(context.project.config.sources[source], PostgresCdcSource):
        return RUN_KINDS["cdc"], cdc_deployment_name(source)
    return RUN_KINDS["sync"], sync_deployment_name(source)


async def running_sync(context: AppContext, source: str) -> dict[str, Any] | None:
    """A sync of `source` under way or due to start now, if any."""
    flow, _ = sync_target(context, source)
    runs = await context.prefect.flow_runs(
        [flow], [source_tag(source)], [*ACTIVE_STATES, "SCHEDULED"], limit=20
    )
    now = datetime.now(UTC)
    for run in runs:
        if run["state"]["type"] != "SCHEDULED":
            return run
        expected = run.get("expected_start_time")
        if expected is None or datetime.fromisoformat(expected) <= now + _DUE_GRACE:
            return run
    return None


async def start_run(
    context: AppContext,
    flow: str,
    deployment: str,
    parameters: dict[str, Any],
    idempotency_key: str | None,
    source: str | None = None,
    tags: list[str] | None = None,
) -> TriggeredRun:
    """Create a flow run of `flow/deployment` (with `tags` beside the source's); 503 when
    nothing serves the deployment."""
    try:
        found = await context.prefect.deployment(flow, deployment)
    except PrefectNotFoundError:
        raise ApiError(
            503,
            f"deployment {flow}/{deployment} is not served: start `headwater serve` "
            "(it serves one deployment per enabled source and one for dbt)",
            "not_served",
        ) from None
    run_tags = ([source_tag(source)] if source else []) + (tags or [])
    raw = await context.prefect.create_flow_run(
        found["id"], parameters, idempotency_key, run_tags
    )
    return await _triggered(context, raw, f"{flow}/{deployment}", source, replayed=False)


async def _triggered(
    context: AppContext, raw: dict[str, Any], deployment: str, source: str | None, replayed: bool
) -> TriggeredRun:
    view = await run_view(context.prefect, raw)
    return TriggeredRun(
        run_id=view.id,
        source=source,
        deployment=deployment,
        state=view.state,
        replayed=replayed,
        ui_url=view.ui_url,
    )


async def replayed_run(
    context: AppContext, idempotency_key: str | None, deployment: str, source: str | None
) -> TriggeredRun | None:
    """The run an earlier request with this Idempotency-Key created, if any."""
    if not idempotency_key:
        return None
    runs = await context.prefect.flow_runs(idempotency_key=idempotency_key, limit=1)
    if not runs:
        return None
    return await _triggered(context, runs[0], deployment, source, replayed=True)


def scoped_key(principal: Principal, scope: str, header: str | None) -> str | None:
    """The Idempotency-Key as stored in Prefect: per caller and per target, so two users
    (or two sources of one request) never share a run by accident."""
    if header is None:
        return None
    key = header.strip()
    if not key or len(key) > 200:
        raise ApiError(400, "Idempotency-Key must be 1 to 200 characters")
    return f"headwater:{principal.user_id}:{scope}:{key}"


async def trigger_sync(
    context: AppContext,
    principal: Principal,
    source: str,
    parameters: dict[str, Any],
    queue: bool,
    idempotency_header: str | None,
) -> TriggeredRun:
    """Start a sync of `source` (or return the run its Idempotency-Key already started);
    409 when one is running and `queue` is false."""
    flow, deployment = sync_target(context, source)
    if flow == RUN_KINDS["cdc"] and any(parameters.values()):
        raise ApiError(
            400,
            f"source '{source}' is a postgres_cdc source: a sync applies its waiting changes "
            "and takes no tables, window or full refresh; re-snapshot a table with "
            f"`headwater cdc resync {source} --table T`",
            "cdc_source",
        )
    parameters = {} if flow == RUN_KINDS["cdc"] else parameters
    key = scoped_key(principal, f"sync:{source}", idempotency_header)
    replay = await replayed_run(context, key, f"{flow}/{deployment}", source)
    if replay is not None:
        return replay
    lock = context.trigger_locks.setdefault(source, asyncio.Lock())
    async with lock:  # two requests at once must not both pass the running check
        if not queue:
            running = await running_sync(context, source)
            if running is not None:
                raise ApiError(
                    409,
                    f"a sync of '{source}' is already {running['state']['name'].lower()} "
                    f"(run {running['id']}); send `queue: true` to run after it",
                    "sync_running",
                )
        return await start_run(context, flow, deployment, parameters, key, source)

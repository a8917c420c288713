"""Triggers: `POST /api/sources/{name}/sync` and `POST /api/sync/trigger`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header

from api.access import GuardedRoute, requires
from api.deps import Context, CurrentPrincipal
from api.errors import ApiError
from api.schemas.runs import MultiSyncRequest, SyncRequest, TriggeredRun, TriggerResponse
from api.triggers import check_source, running_sync, trigger_sync

router = APIRouter(route_class=GuardedRoute, tags=["sync"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Repeat a request with the same key to get the same run back instead "
        "of starting another (per user and source).",
    ),
]


@router.post("/api/sources/{name}/sync", status_code=202, openapi_extra=requires("source.sync"))
async def sync_source(
    context: Context,
    principal: CurrentPrincipal,
    name: str,
    idempotency_key: IdempotencyKey = None,
    body: SyncRequest | None = None,
) -> TriggeredRun:
    """Start a sync of one source as a Prefect flow run and return its id at once.

    409 when a sync of the source is running (unless `queue: true`: Prefect then runs it
    after the current one). Poll `GET /api/runs/{run_id}` or watch it in the Prefect UI."""
    request = body or SyncRequest()
    check_source(context, name, request.tables)
    # The flow's parameters that differ from the deployment's defaults.
    parameters = request.model_dump(exclude={"queue"}, exclude_none=True)
    return await trigger_sync(context, principal, name, parameters, request.queue, idempotency_key)


@router.post("/api/sync/trigger", status_code=202, openapi_extra=requires("source.sync"))
async def trigger_sources(
    context: Context,
    principal: CurrentPrincipal,
    body: MultiSyncRequest,
    idempotency_key: IdempotencyKey = None,
) -> TriggerResponse:
    """Start syncs of several sources; all or none: 409 naming the sources already
    syncing (unless `queue: true`)."""
    sources = list(dict.fromkeys(body.sources))
    for source in sources:
        check_source(context, source, None)
    if not body.queue:
        busy = [source for source in sources if await running_sync(context, source)]
        if busy:
            raise ApiError(
                409,
                f"already syncing: {', '.join(busy)}; send `queue: true` to run after them",
                "sync_running",
            )
    runs = [
        await trigger_sync(
            context, principal, source, {"full_refresh": body.full_refresh}, True, idempotency_key
        )
        for source in sources
    ]
    return TriggerResponse(runs=runs)

"""`/api/dbt`: the dbt models and builds of one model (and what is downstream)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from api.access import GuardedRoute, requires
from api.deps import Context, CurrentPrincipal
from api.errors import not_found
from api.routes.sync import IdempotencyKey
from api.schemas.common import Page, Paging
from api.schemas.runs import TriggeredRun
from api.triggers import replayed_run, scoped_key, start_run
from headwater.dbt.models import ModelInfo, list_models
from headwater.runs import DBT_BUILD_DEPLOYMENT, RUN_KINDS

router = APIRouter(route_class=GuardedRoute, tags=["dbt"])

# dbt keeps global state: one parse at a time in this process.
_PARSE_LOCK = asyncio.Lock()


async def _models(context: Context) -> list[ModelInfo]:
    async with _PARSE_LOCK:
        return await run_in_threadpool(list_models, context.project)


@router.get("/api/dbt/models", openapi_extra=requires("source.view"))
async def list_dbt_models(context: Context, paging: Paging) -> Page[ModelInfo]:
    """The dbt project's models with their last build status, sorted by name."""
    models = await _models(context)
    items = paging.window(models)
    return Page[ModelInfo](items=items, total=len(models))


@router.post("/api/dbt/models/{name}/run", status_code=202, openapi_extra=requires("dbt.run"))
async def run_dbt_model(
    context: Context,
    principal: CurrentPrincipal,
    name: str,
    cascade: Annotated[bool, Query(description="Also build everything downstream.")] = False,
    idempotency_key: IdempotencyKey = None,
) -> TriggeredRun:
    """Build one model (with `cascade=true`, it and everything downstream: `name+`) as a
    flow run of the `dbt_build/dbt-build` deployment; returns its run id at once."""
    models = await _models(context)
    if name not in {model.name for model in models}:
        raise not_found("model", name, [model.name for model in models])
    deployment = f"{RUN_KINDS['dbt']}/{DBT_BUILD_DEPLOYMENT}"
    key = scoped_key(principal, f"dbt:{name}:{cascade}", idempotency_key)
    replay = await replayed_run(context, key, deployment, None)
    if replay is not None:
        return replay
    select = [f"{name}+" if cascade else name]
    return await start_run(context, RUN_KINDS["dbt"], DBT_BUILD_DEPLOYMENT, {"select": select}, key)

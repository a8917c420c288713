"""`/api/dbt`: the dbt models and builds of one model (and what is downstream)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
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


class ModelOut(BaseModel):
    """One dbt model with its last build."""

    unique_id: str
    """dbt's id."""
    name: str
    """Model name."""
    materialized: str
    """table, view, incremental, ..."""
    schema_name: str
    """Warehouse schema it builds into."""
    description: str
    """From its YAML."""
    depends_on: list[str]
    """unique_ids of the nodes it reads."""
    last_status: str
    """success, error, skipped, ... or `never run`."""
    last_run_at: str | None
    """When its last build finished."""
    rows: int | None
    """Rows its last build wrote."""
    message: str | None
    """Error of its last build."""


async def _models(context: Context) -> list[ModelInfo]:
    async with _PARSE_LOCK:
        return await run_in_threadpool(list_models, context.project)


def _out(model: ModelInfo) -> ModelOut:
    return ModelOut(
        unique_id=model.unique_id,
        name=model.name,
        materialized=model.materialized,
        schema_name=model.schema,
        description=model.description,
        depends_on=model.depends_on,
        last_status=model.last_status,
        last_run_at=model.last_run_at,
        rows=model.rows,
        message=model.message,
    )


@router.get("/api/dbt/models", openapi_extra=requires("source.view"))
async def list_dbt_models(context: Context, paging: Paging) -> Page[ModelOut]:
    """The dbt project's models with their last build status, sorted by name."""
    models = await _models(context)
    items = [_out(model) for model in models[paging.skip : paging.skip + paging.limit]]
    return Page[ModelOut](items=items, total=len(models))


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

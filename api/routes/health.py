"""`/api/health`: liveness (public) and the platform's state."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from api.access import PUBLIC, GuardedRoute, requires
from api.deps import AppContext, Context
from api.run_views import run_view
from api.schemas.common import ApiModel
from api.schemas.runs import RunOut
from headwater.errors import TransientError
from headwater.runs import RUN_KINDS

router = APIRouter(route_class=GuardedRoute, tags=["health"])


class Health(ApiModel):
    """The API answers."""

    status: str
    """Always `ok` when the API answers."""
    version: str
    """Headwater's version."""


class WarehouseHealth(ApiModel):
    """The warehouse's size and reachability."""

    catalog: str
    """Where its catalog lives."""
    reachable: bool
    """A read-only session opened."""
    tables: int
    """User tables in the lake."""
    size_bytes: int
    """Data files plus the catalog file."""
    error: str | None
    """Why it is unreachable."""


class PlatformHealth(ApiModel):
    """The platform's state: warehouse, Prefect, recent failures, disk."""

    warehouse: WarehouseHealth
    """The DuckLake warehouse."""
    prefect_url: str
    """The Prefect API the platform uses."""
    prefect_reachable: bool
    """Whether Prefect answered its health check."""
    recent_failures: list[RunOut]
    """Failed or crashed runs in the last 24 hours (newest ten)."""
    disk_free_bytes: int
    """Free space on the warehouse's disk."""


@router.get("/api/health", openapi_extra=requires(PUBLIC))
async def health() -> Health:
    """Liveness: answers `ok` and the version without credentials."""
    return Health(status="ok", version=version("headwater"))


def _directory_size(path: Path) -> int:
    if not path.exists():
        return 0
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


def _warehouse_health(context: AppContext) -> WarehouseHealth:
    warehouse = context.warehouse
    size = _directory_size(warehouse.data_path)
    if warehouse.catalog_path is not None and warehouse.catalog_path.exists():
        size += warehouse.catalog_path.stat().st_size
    try:
        with warehouse.reader() as conn:
            tables = len(warehouse.row_counts(conn))
    except Exception as exc:  # any failure is what this route reports
        return WarehouseHealth(
            catalog=warehouse.describe(),
            reachable=False,
            tables=0,
            size_bytes=size,
            error=str(exc).splitlines()[0],
        )
    return WarehouseHealth(
        catalog=warehouse.describe(), reachable=True, tables=tables, size_bytes=size, error=None
    )


async def _recent_failures(context: AppContext) -> list[RunOut]:
    try:
        raw = await context.prefect.flow_runs(
            list(RUN_KINDS.values()), states=["FAILED", "CRASHED"], limit=10
        )
    except TransientError:
        return []
    cutoff = datetime.now(UTC) - timedelta(hours=24)
    views = [await run_view(context.prefect, run) for run in raw]
    return [run for run in views if (run.end_time or run.expected_start_time or cutoff) >= cutoff]


@router.get("/api/health/platform", openapi_extra=requires("source.view"))
async def platform_health(context: Context) -> PlatformHealth:
    """Warehouse size and tables, whether Prefect answers, recent failures, free disk."""
    warehouse, reachable = await asyncio.gather(
        run_in_threadpool(_warehouse_health, context), context.prefect.healthy()
    )
    failures = await _recent_failures(context) if reachable else []
    data_path = context.warehouse.data_path
    disk = shutil.disk_usage(data_path if data_path.exists() else context.project.root)
    return PlatformHealth(
        warehouse=warehouse,
        prefect_url=context.prefect.api_url,
        prefect_reachable=reachable,
        recent_failures=failures,
        disk_free_bytes=disk.free,
    )

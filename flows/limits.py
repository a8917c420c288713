"""The cap on concurrent warehouse writers, as a Prefect global concurrency limit.

Every flow step that commits to the warehouse (a sync's load, a CDC batch, a dbt build,
housekeeping) holds one slot of `<project>-warehouse-writers` while it writes, so the
Prefect UI shows who writes and who waits. The slot is leased: when a worker dies with a
slot, Prefect takes it back after the lease expires. Inside the slot, a SQLite catalog's
writers still take its file lock (`Warehouse.write_lock`), which also covers writers that
run outside Prefect (the CLI's maintenance commands).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
)
from prefect.concurrency.sync import concurrency
from prefect.context import FlowRunContext, TaskRunContext
from prefect.exceptions import ObjectNotFound

from headwater.config import Project
from headwater.errors import WarehouseLockTimeoutError
from headwater.runs import writers_limit_name

SLOT_LEASE_SECONDS = 60
"""A writer's slot lease, renewed while it lives; a dead writer's slot frees after this."""

_ensured: set[tuple[str, str, int]] = set()


def ensure_writer_limit(project: Project) -> str:
    """Create or resize the project's writers limit on the Prefect server; returns its name.
    Checked once per process, so a write costs no extra call."""
    name = writers_limit_name(project)
    limit = project.config.warehouse.writer_limit
    key = (str(project.file), name, limit)
    if key in _ensured:
        return name
    with get_client(sync_client=True) as client:
        try:
            existing = client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=name, limit=limit)
            )
        else:
            if existing.limit != limit or not existing.active:
                client.update_global_concurrency_limit(
                    name, GlobalConcurrencyLimitUpdate(limit=limit, active=True)
                )
    _ensured.add(key)
    return name


@contextmanager
def writer_slot(project: Project) -> Iterator[None]:
    """Hold one warehouse writers slot for the duration of a write, waiting up to
    `write_lock_timeout_seconds` for it. Outside a flow run (plain scripts and tests call
    the loading functions directly) there is no Prefect run to account for: no slot."""
    if FlowRunContext.get() is None and TaskRunContext.get() is None:
        yield
        return
    name = ensure_writer_limit(project)
    timeout = project.config.warehouse.write_lock_timeout_seconds
    with ExitStack() as held:
        try:
            held.enter_context(
                concurrency(
                    name,
                    occupy=1,
                    timeout_seconds=timeout,
                    lease_duration=SLOT_LEASE_SECONDS,
                    strict=True,
                )
            )
        except TimeoutError:
            raise WarehouseLockTimeoutError(
                f"no warehouse writer slot ({name}, {project.config.warehouse.writer_limit} "
                f"at once) freed within {timeout:.0f}s; it is retried, or raise "
                "warehouse.max_writers (PostgreSQL catalog) or "
                "warehouse.write_lock_timeout_seconds in project.yml"
            ) from None
        yield

"""The `dbt_build` Prefect flow, and the hook that builds what a sync changed.

Not `flows/dbt.py`: a served deployment loads its flow file with the file's folder on
sys.path, where a module named `dbt` would shadow the dbt package.

dbt runs in the flow's process through its programmatic runner (headwater.dbt.runner). Each
model and test shows in Prefect as a row of the run's table artifact (status, seconds, rows,
message) and as a log line; a failing node fails the flow with its message, which names the
node, its compiled SQL file and the database error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.events import emit_event

from flows.limits import writer_slot
from flows.run_tags import tag_this_run
from headwater.config import Project, load_project
from headwater.dbt.profile import has_dbt_project
from headwater.dbt.runner import DbtResult, NodeResult, build
from headwater.dbt.selection import downstream_models
from headwater.dbt.sources import declared_sources, merge_sources, warehouse_tables
from headwater.errors import TerminalError
from headwater.runs import project_tag
from headwater.warehouse import Warehouse, raw_schema

Selector = str | list[str] | None
"""dbt selector(s): "a b" or ["a", "b"]."""

result_listeners: list[Callable[[DbtResult], None]] = []
"""Called in-process with each build's result before the flow ends (the CLI's table)."""


def _run_name() -> str:
    return f"dbt-build-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"


@flow(name="dbt_build", flow_run_name=_run_name, validate_parameters=True)
def dbt_build(
    select: Selector = None,
    exclude: Selector = None,
    full_refresh: bool = False,
    project_file: str | None = None,
) -> dict[str, Any]:
    """`dbt build` of `select` (everything when empty) minus `exclude`; fails when a node
    errors or a test fails, with those nodes' messages."""
    logger = get_run_logger()
    project = load_project(project_file)
    tag_this_run(project_tag(project))
    selected, excluded = _split(select), _split(exclude)
    # Models over sources never synced (PostgreSQL absent, the demo's first syncs) would fail
    # on missing tables; leave them out, and their tests with them, until those sources land.
    unsynced = _unsynced_sources(project)
    if unsynced:
        logger.info("not built, sources never synced: %s", ", ".join(unsynced))
        excluded += [f"source:{name}+" for name in unsynced]
    with writer_slot(project):
        result = build(project, selected, excluded, full_refresh)
    for listener in result_listeners:
        listener(result)
    for node in result.nodes:
        logger.info(
            "%s %s: %s in %.2fs%s",
            node.resource_type,
            node.name,
            node.status,
            node.seconds,
            f" ({node.message})" if node.message else "",
        )
    _finish(project, result, selected, excluded)
    if not result.success or result.failures:
        raise TerminalError(f"dbt build failed: {result.failure_message()}")
    logger.info("dbt build: %s nodes in %.1fs", len(result.nodes), result.seconds)
    return asdict(result)


def build_after_sync(project_file: str, source: str, tables: list[dict[str, Any]]) -> Any:
    """After a sync of `source`: refresh its entries in sources.yml and build the models
    downstream of the tables that loaded rows (`source:<source>.<table>+`), as a subflow.

    Returns the subflow's final state, or None when nothing is to be built: no dbt project,
    no rows loaded, or no model reads those tables. A failed build does not fail the sync
    (the sync did load); the dbt_build run shows the failure.
    """
    logger = get_run_logger()
    changed = [str(entry["table"]) for entry in tables if int(entry["rows"]) > 0]
    project = load_project(project_file)
    if not changed or not has_dbt_project(project):
        logger.info("no dbt build: %s", "nothing loaded" if not changed else "no dbt project")
        return None
    select = [f"source:{source}.{table}+" for table in changed]
    try:
        found = warehouse_tables(project).get(source)
        if found:
            merge_sources(project, {source: found})
        downstream = downstream_models(project, source, changed)
    except Exception as exc:  # the rows did load: a broken dbt project must not fail the sync
        logger.error("no dbt build after the sync of %s: %s", source, exc)
        return None
    if not downstream:
        logger.info("no dbt build: no model reads %s", ", ".join(select))
        return None
    return dbt_build(select=select, project_file=project_file, return_state=True)


def _split(selector: Selector) -> list[str]:
    if selector is None:
        return []
    parts = selector.split() if isinstance(selector, str) else selector
    return [part for item in parts for part in item.split()]


def _unsynced_sources(project: Project) -> list[str]:
    """Sources that sources.yml declares but whose raw schema does not exist yet."""
    with Warehouse(project).reader() as conn:
        schemas = set(Warehouse(project).schemas(conn))
    return [
        name
        for name in declared_sources(project)
        if name in project.config.sources and raw_schema(name) not in schemas
    ]


def _finish(project: Project, result: DbtResult, select: list[str], exclude: list[str]) -> None:
    """The run's table artifact (one row per node) and its Prefect event."""
    failed = not result.success or bool(result.failures)
    rows = [_artifact_row(node) for node in result.nodes]
    if result.error:
        rows.append({"name": "dbt", "type": "invocation", "status": "error", "seconds": None,
                     "rows": None, "message": result.error})
    create_table_artifact(
        key="dbt-build",
        table=rows,
        description=f"dbt build {' '.join(select) or '(all)'}: "
        f"{'failed' if failed else 'succeeded'} in {result.seconds:.1f}s",
    )
    statuses: dict[str, int] = {}
    for node in result.nodes:
        statuses[node.status] = statuses.get(node.status, 0) + 1
    emit_event(
        event="headwater.dbt.failed" if failed else "headwater.dbt.completed",
        resource={
            "prefect.resource.id": f"headwater.dbt.{project.config.project.name}",
            "prefect.resource.name": "dbt build",
            "headwater.project": project.config.project.name,
        },
        payload={
            "select": select,
            "exclude": exclude,
            "seconds": round(result.seconds, 3),
            "statuses": statuses,
            "models": [n.name for n in result.nodes if n.resource_type == "model"],
            "failures": {n.unique_id: n.message for n in result.failures},
            "error": result.error,
        },
    )


def _artifact_row(node: NodeResult) -> dict[str, Any]:
    return {
        "name": node.name,
        "type": node.resource_type,
        "status": node.status,
        "seconds": round(node.seconds, 3),
        "rows": node.rows_affected,
        "message": node.message or "",
    }


def build_outcome(state: Any) -> dict[str, Any] | None:
    """What the build after a sync did, for the sync's summary: None when none ran, else
    `completed`, the `models` built, `seconds` and the `error` when it failed."""
    if state is None:
        return None
    result = state.result(raise_on_failure=False)
    if isinstance(result, BaseException):
        return {"completed": False, "models": [], "seconds": None, "error": str(result)}
    models = [node["name"] for node in result["nodes"] if node["resource_type"] == "model"]
    return {"completed": True, "models": models, "seconds": result["seconds"], "error": None}

"""The `sync_source` Prefect flow: one task per table, retries for transient errors only."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NONE
from prefect.client.schemas.objects import State, TaskRun
from prefect.events import emit_event

from connectors import BackfillWindow, TableSpec, connector_for
from flows.dbt_build import build_after_sync, build_outcome
from flows.governance import govern_sync
from flows.loading import TableLoad, load_table
from flows.run_tags import source_resource, source_run_name, tag_this_run
from headwater.config import Project, load_project
from headwater.errors import HeadwaterError, TerminalError
from headwater.runs import project_tag, source_tag

TableListener = Callable[[str, str, TableLoad | None, str | None], None]
"""Called with (source, table, result, error) when a table starts (result and error None)
and when it ends; lets the CLI draw progress for an in-process run."""

table_listeners: list[TableListener] = []
"""Listeners notified in-process; empty in deployments served by a runner."""


@dataclass
class SyncSummary:
    """What a sync run did, returned by the flow and written to its artifact."""

    source: str
    """Source name."""
    tables: list[dict[str, Any]] = field(default_factory=list)
    """One entry per loaded table: table, rows, seconds, rows_per_second, write_disposition."""
    failures: dict[str, str] = field(default_factory=dict)
    """Table -> error message for tables that failed."""

    @property
    def rows(self) -> int:
        """Rows loaded over all tables."""
        return sum(int(entry["rows"]) for entry in self.tables)


def _retry_transient(task: Any, task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect retries a table only when it failed on a transient cause."""
    try:
        state.result()
    except HeadwaterError as exc:
        return exc.transient
    except Exception:
        return False
    return False


def _notify(source: str, table: str, result: TableLoad | None, error: str | None) -> None:
    for listener in table_listeners:
        listener(source, table, result, error)


@task(
    task_run_name="{spec.name}",
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=_retry_transient,
    cache_policy=NONE,
)
def sync_table(
    project_file: str,
    source: str,
    spec: TableSpec,
    window: BackfillWindow | None,
    full_refresh: bool,
) -> TableLoad:
    """Load one table of `source` into raw_<source>."""
    project = load_project(project_file)
    _notify(source, spec.name, None, None)
    result = load_table(
        project, connector_for(project, source), spec, window=window, full_refresh=full_refresh
    )
    get_run_logger().info(
        "%s.%s: %s rows in %.1fs (%s rows/s)",
        source,
        spec.name,
        f"{result.rows:,}",
        result.seconds,
        f"{result.rows_per_second:,.0f}",
    )
    _notify(source, spec.name, result, None)
    return result


@flow(name="sync_source", flow_run_name=source_run_name("sync"), validate_parameters=True)
def sync_source(
    source: str,
    tables: list[str] | None = None,
    full_refresh: bool = False,
    start: str | None = None,
    end: str | None = None,
    project_file: str | None = None,
    build_downstream: bool = True,
) -> dict[str, Any]:
    """Sync every table (or `tables`) of `source`; `start`/`end` backfill cursor tables.
    `build_downstream: false` leaves the dbt build to the caller (a pipeline schedule builds
    `source:<name>+` once, after all its syncs)."""
    project = load_project(project_file)
    tag_this_run(source_tag(source), project_tag(project))
    summary = SyncSummary(source=source)
    try:
        specs = _select_tables(project, source, tables)
    except HeadwaterError as exc:
        _finish(project, summary, str(exc))
        raise
    window = BackfillWindow(start, end) if (start or end) else None
    for spec in specs:
        try:
            result = sync_table(str(project.file), source, spec, window, full_refresh)
        except HeadwaterError as exc:
            summary.failures[spec.name] = str(exc)
            _notify(source, spec.name, None, str(exc))
            continue
        summary.tables.append({**asdict(result), "rows_per_second": result.rows_per_second})
    _finish(project, summary, None)
    # Drift, row counts, PII of what loaded (never raises); breaking drift holds dbt back.
    held_back = govern_sync(str(project.file), source, summary.tables)
    if summary.failures:
        failed = "; ".join(summary.failures.values())
        raise TerminalError(f"{len(summary.failures)} of {len(specs)} tables failed: {failed}")
    # The models downstream of what loaded: source:<source>.<table>+
    if not build_downstream:
        built = None
    elif held_back:
        built = {"held_back": held_back}
    else:
        built = build_outcome(build_after_sync(str(project.file), source, summary.tables))
    return {**asdict(summary), "dbt": built}


def _select_tables(project: Project, source: str, only: list[str] | None) -> list[TableSpec]:
    config = project.source(source)
    if not config.enabled:
        raise TerminalError(f"source '{source}' is disabled (enabled: false in project.yml)")
    specs = connector_for(project, source).tables()
    if not only:
        return specs
    known = {spec.name: spec for spec in specs}
    unknown = [name for name in only if name not in known]
    if unknown:
        raise TerminalError(
            f"source '{source}' has no table {', '.join(map(repr, unknown))}; "
            f"its tables: {', '.join(sorted(known)) or 'none'}"
        )
    return [known[name] for name in only]


def _finish(project: Project, summary: SyncSummary, fatal: str | None) -> None:
    """Write the run's table artifact (one row per table) and emit its Prefect event."""
    failed = bool(fatal or summary.failures)
    create_table_artifact(
        key=f"sync-{summary.source.replace('_', '-')}",
        table=_artifact_rows(summary, fatal),
        description=f"Sync of source {summary.source}: "
        f"{'failed' if failed else 'succeeded'}, {summary.rows:,} rows",
    )
    emit_event(
        event="headwater.sync.failed" if failed else "headwater.sync.completed",
        resource=source_resource(project, summary.source),
        payload={
            "source": summary.source,
            "rows": summary.rows,
            "tables": {entry["table"]: entry["rows"] for entry in summary.tables},
            "failures": summary.failures,
            "error": fatal,
        },
    )


def _artifact_rows(summary: SyncSummary, fatal: str | None) -> list[dict[str, Any]]:
    """Rows of the artifact; the API reads `table` and `rows` from them."""
    rows: list[dict[str, Any]] = [
        {
            "table": entry["table"],
            "status": "loaded",
            "rows": entry["rows"],
            "seconds": round(entry["seconds"], 3),
            "rows_per_second": round(entry["rows_per_second"]),
            "write_disposition": entry["write_disposition"],
            "error": None,
        }
        for entry in summary.tables
    ]
    for table, error in summary.failures.items():
        rows.append({"table": table, "status": "failed", "rows": None, "seconds": None,
                     "rows_per_second": None, "write_disposition": None, "error": error})
    if fatal:
        rows.append({"table": "*", "status": "failed", "rows": None, "seconds": None,
                     "rows_per_second": None, "write_disposition": None, "error": fatal})
    return rows

"""Load one table of a source into the warehouse with dlt, safely.

Plain functions: `flows/sync.py` wraps them in tasks. The steps are dlt's own
(extract -> normalize -> load); Headwater adds what dlt leaves to the caller:

- packages a killed run left behind are loaded first, so the next run completes it;
- extraction runs without the warehouse write lock, only the load step holds it (and,
  in a flow run, a warehouse writers slot: `flows.limits`);
- a `replace` that would load 0 rows into a non-empty table is refused;
- `full_refresh` resets the table's saved cursor and replaces through a staging table,
  so the previous rows stay visible until the new ones commit.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connectors import BackfillWindow, Connector, TableSpec
from flows.limits import writer_slot
from headwater.config.project import Project
from headwater.errors import (
    ConnectorError,
    DataSafetyError,
    HeadwaterError,
    TerminalError,
    TransientError,
    is_transient_message,
)
from headwater.governance.columns import DeliveredColumns
from headwater.warehouse import Warehouse, raw_schema

if TYPE_CHECKING:
    from dlt import Pipeline

_lakes_created: set[str] = set()
"""Project files whose lake this process made sure exists."""


@dataclass(frozen=True)
class TableLoad:
    """The outcome of loading one table."""

    table: str
    """Warehouse table name."""
    rows: int
    """Rows loaded into the table (child tables of nested data not counted)."""
    seconds: float
    """Wall time from the start of extraction to the load commit."""
    write_disposition: str
    """How the rows were written."""
    columns: dict[str, str | None] = field(default_factory=dict)
    """Columns (warehouse names) and dlt data types of what this load delivered, empty when
    it delivered nothing: schema drift compares them with the table's baseline."""

    @property
    def rows_per_second(self) -> float:
        """Throughput of this load."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def pipeline_for(project: Project, source: str) -> Pipeline:
    """The dlt pipeline of `source`: state under .headwater/pipelines, data in raw_<source>."""
    import dlt

    # Staging tables are emptied after each load: otherwise every merged or replaced table
    # keeps a second full copy in the lake.
    dlt.config["load.truncate_staging_dataset"] = True
    warehouse = Warehouse(project)
    if str(project.file) not in _lakes_created:
        # dlt creates a missing lake as it loads; several first loads at once would race.
        warehouse.ensure_created()
        _lakes_created.add(str(project.file))
    return dlt.pipeline(
        pipeline_name=f"hw_{source}",
        pipelines_dir=str(project.state_dir / "pipelines"),
        destination=warehouse.dlt_destination(),
        dataset_name=raw_schema(source),
    )


def finish_pending(project: Project, pipeline: Pipeline) -> int:
    """Load packages that a killed or failed run left normalized or extracted; returns how
    many packages were completed.

    Packages that another machine's run has superseded since are dropped, not loaded: on
    several workers, the run after a dead one may have happened elsewhere, and loading the
    older rows now would overwrite newer ones."""
    if not pipeline.has_pending_data:
        return 0
    if _superseded(pipeline):
        pipeline.abort_packages()
        return 0
    pending = 0
    if pipeline.list_extracted_load_packages():
        pipeline.normalize()
    packages = pipeline.list_normalized_load_packages()
    if packages:
        pending = len(packages)
        with writer_slot(project), Warehouse(project).write_lock():
            pipeline.load()
    return pending


def _superseded(pipeline: Pipeline) -> bool:
    """Whether the warehouse holds a newer state of this pipeline than the local one, which
    dlt then restores: a run elsewhere loaded after the local packages were extracted."""
    before = pipeline.state["_version_hash"]
    pipeline.sync_destination()
    return bool(pipeline.state["_version_hash"] != before)


def load_table(
    project: Project,
    connector: Connector[Any],
    spec: TableSpec,
    *,
    window: BackfillWindow | None = None,
    full_refresh: bool = False,
) -> TableLoad:
    """Extract, normalize and load one table; errors come out as HeadwaterError kinds."""
    started = time.perf_counter()
    source = connector.name
    try:
        pipeline = pipeline_for(project, source)
        finish_pending(project, pipeline)
        if full_refresh:
            spec = dataclasses.replace(spec, write_disposition="replace")
            _reset_table_state(pipeline, source, spec.name)
        resource = connector.resource(spec, window)
        delivered = DeliveredColumns()
        resource.add_map(delivered.observe)
        pipeline.extract(_as_source(source, resource))
        normalize_info = pipeline.normalize()
        rows = int(normalize_info.row_counts.get(spec.name, 0))
        if spec.write_disposition == "replace" and rows == 0 and not spec.allow_empty_replace:
            _refuse_empty_replace(project, pipeline, source, spec.name)
        with writer_slot(project), Warehouse(project).write_lock():
            pipeline.load()
    except HeadwaterError:
        raise
    except Exception as exc:
        raise classify(exc, source, spec.name) from exc
    return TableLoad(
        table=spec.name,
        rows=rows,
        seconds=time.perf_counter() - started,
        write_disposition=spec.write_disposition,
        columns=delivered.columns,
    )


def _as_source(source: str, resource: Any) -> Any:
    """Wrap a resource in a dlt source named after the Headwater source, so its state lives
    under a stable key (`sources.<source>.resources.<table>`) for every connector type."""
    from dlt.common.schema import Schema
    from dlt.extract.source import DltSource

    return DltSource(Schema(source), source, [resource])


def _reset_table_state(pipeline: Pipeline, source: str, table: str) -> None:
    """Forget the table's cursor / seen files so a full refresh reads everything again."""
    from dlt.extract.state import reset_resource_state

    if pipeline.default_schema_name is None:
        return  # never synced: no state to forget (and dlt cannot open it yet)
    with pipeline.managed_state(extract_state=True) as state:
        source_state = state.setdefault("sources", {}).setdefault(source, {})
        reset_resource_state(table, source_state)


def _refuse_empty_replace(project: Project, pipeline: Pipeline, source: str, table: str) -> None:
    """Raise DataSafetyError when the warehouse table has rows that a 0-row replace would wipe."""
    existing = table_row_count(project, raw_schema(source), table)
    if not existing:
        return
    pipeline.abort_packages()
    raise DataSafetyError(
        f"source '{source}', table '{table}': the source returned 0 rows, and a replace "
        f"would empty a table that holds {existing:,} rows; nothing was changed. If the "
        f"source is meant to be empty, set `allow_empty_replace: true` on the source or table"
    )


def table_row_count(project: Project, schema: str, table: str) -> int | None:
    """Rows in `schema.table`, or None when the table does not exist yet."""
    with Warehouse(project).reader() as conn:
        counts = Warehouse(project).row_counts(conn, schema)
    return counts.get((schema, table))


def classify(exc: BaseException, source: str, table: str | None) -> HeadwaterError:
    """Turn any exception from dlt or a driver into a transient or terminal HeadwaterError
    naming the source and the table, with the innermost cause as the message."""
    cause = _root_cause(exc)
    if isinstance(cause, HeadwaterError):
        return cause
    message = " ".join(str(cause).split()) or type(cause).__name__
    if len(message) > 600:
        message = message[:600] + " ..."
    where = f"source '{source}'" + (f", table '{table}'" if table else "")
    if isinstance(cause, (ConnectionError, TimeoutError)) or is_transient_message(message):
        return TransientError(f"{where}: {message}")
    if isinstance(cause, ConnectorError):
        return cause
    return TerminalError(f"{where}: {message}")


def _root_cause(exc: BaseException) -> BaseException:
    """dlt wraps errors in PipelineStepFailed and friends; the innermost one says what
    happened. A HeadwaterError anywhere in the chain wins, since it is already worded."""
    seen: set[int] = set()
    current: BaseException | None = exc
    innermost = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, HeadwaterError):
            return current
        innermost = current
        current = current.__cause__ or current.__context__
    return innermost

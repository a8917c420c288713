"""`headwater cdc`: preflight, run, status, resync and schema health of CDC sources."""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from headwater.cli.common import ProjectOption, console, fail, friendly_errors
from headwater.config import Project, load_project
from headwater.prefect_server import ensure_server, ui_url
from headwater.runs import project_tag, source_tag

if TYPE_CHECKING:
    from connectors.postgres_cdc.replicator import Replicator

app = typer.Typer(help="Change data capture from PostgreSQL (postgres_cdc sources).")

SourceArgument = Annotated[str, typer.Argument(help="A postgres_cdc source from project.yml.")]


def _replicator(project: Project, source: str) -> Replicator:
    """The source's replicator (imported here: the connector loads psycopg and pyarrow)."""
    from connectors.postgres_cdc.replicator import Replicator

    return Replicator(project, source)


@app.command()
@friendly_errors
def check(source: SourceArgument, project: ProjectOption = None) -> None:
    """Check the source database is ready (wal_level, slots, publication, keys, privileges);
    print each problem with the SQL that fixes it, and exit 1 when there is one."""
    from connectors.postgres_cdc.preflight import fix_script

    preflight = _replicator(load_project(project), source).preflight()
    facts = ", ".join(f"{key} {value}" for key, value in preflight.facts.items())
    console.print(f"{source}: {facts}", highlight=False, soft_wrap=True)
    console.print(f"tables: {', '.join(preflight.tables) or 'none'}", highlight=False)
    if preflight.ok:
        console.print(f"[green]ready[/]: {source} can be replicated", highlight=False)
        return
    for problem in preflight.problems:
        console.print(f"[red]✗[/] {problem.message}", highlight=False, soft_wrap=True)
        console.print(f"    fix: {problem.fix_sql}", highlight=False, soft_wrap=True)
    console.print("\nall fixes, to run as a database admin:\n" + fix_script(preflight))
    raise typer.Exit(1)


def run_cdc(
    project: Project,
    source: str,
    *,
    continuous: bool = False,
    resync: list[str] | None = None,
    max_batches: int | None = None,
) -> dict[str, Any]:
    """Run the CDC flow in this process against the project's Prefect server."""
    project.source(source)  # unknown names fail before any server starts
    ensure_server(project)
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    from prefect import tags

    from flows.cdc import cdc_sync

    with tags(source_tag(source), project_tag(project)):
        state = cdc_sync(
            source=source,
            continuous=continuous,
            resync=resync,
            max_batches=max_batches,
            project_file=str(project.file),
            return_state=True,
        )
    result: dict[str, Any] = state.result(raise_on_failure=True)
    return result


@app.command()
@friendly_errors
def run(
    source: SourceArgument,
    continuous: Annotated[
        bool, typer.Option("--continuous", help="Keep polling and applying until stopped.")
    ] = False,
    max_batches: Annotated[
        int | None, typer.Option("--max-batches", help="Stop after this many batches.")
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Snapshot new tables, then apply the waiting changes (or keep going: --continuous)."""
    loaded = load_project(project)
    started = time.monotonic()
    result = run_cdc(loaded, source, continuous=continuous, max_batches=max_batches)
    _print_run(loaded, source, result, time.monotonic() - started)


@app.command()
@friendly_errors
def resync(
    source: SourceArgument,
    table: Annotated[
        list[str] | None, typer.Option("--table", "-t", help="Only this table (repeatable).")
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Re-snapshot tables (all when no --table) without dropping the slot, then catch up."""
    loaded = load_project(project)
    tables = table or _replicator(loaded, source).preflight().tables
    started = time.monotonic()
    result = run_cdc(loaded, source, resync=tables)
    _print_run(loaded, source, result, time.monotonic() - started)


def _print_run(project: Project, source: str, result: dict[str, Any], seconds: float) -> None:
    for snapshot in result["snapshots"]:
        console.print(
            f"snapshot {snapshot['table']}: {snapshot['rows']:,} rows", highlight=False
        )
    changes = ", ".join(f"{n:,} {op}s" for op, n in result["changes"].items()) or "no changes"
    console.print(
        f"{source}: {result['batches']} batches, {changes} in {seconds:.1f}s; "
        f"run details at {ui_url(project)}",
        highlight=False,
    )
    for reason in result["status"]["needs_attention"]:
        console.print(f"[yellow]attention[/]: {reason}", highlight=False, soft_wrap=True)


@app.command()
@friendly_errors
def status(
    source: SourceArgument,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    project: ProjectOption = None,
) -> None:
    """Slot, confirmed LSN, lag, last batch, changes per operation and rows per table."""
    from connectors.postgres_cdc.status import cdc_status

    current = cdc_status(_replicator(load_project(project), source))
    if as_json:
        console.print_json(json.dumps(current.to_dict(), default=str))
        return
    slot = f"slot {current.slot}: " + (
        f"confirmed {current.confirmed_lsn}, lag {current.lag_bytes:,} bytes, "
        f"retains {current.retained_bytes:,} bytes"
        if current.slot_exists and current.lag_bytes is not None
        and current.retained_bytes is not None
        else "not created yet"
    )
    console.print(slot, highlight=False)
    console.print(f"last batch: {current.last_batch_at or 'never'}", highlight=False)
    table = Table("table", "status", "rows", "inserts", "updates", "deletes", "applied LSN")
    for t in current.tables:
        table.add_row(
            t.table, t.status, f"{t.rows:,}" if t.rows is not None else "-",
            f"{t.inserts:,}", f"{t.updates:,}", f"{t.deletes:,}", t.applied_lsn,
        )
    console.print(table)
    for reason in current.needs_attention:
        console.print(f"[yellow]attention[/]: {reason}", highlight=False, soft_wrap=True)


@app.command("schema-health")
@friendly_errors
def schema_health_command(source: SourceArgument, project: ProjectOption = None) -> None:
    """Live warehouse column types against the types the source reports; exit 1 on drift."""
    from connectors.postgres_cdc.status import schema_health

    rows = schema_health(_replicator(load_project(project), source))
    table = Table("entity", "column", "live type", "expected type", "status")
    for row in rows:
        mark = "[green]match[/]" if row.status == "match" else "[red]drift[/]"
        table.add_row(row.table, row.column, row.live_type or "-", row.expected_type or "-", mark)
    console.print(table)
    if any(row.status == "drift" for row in rows):
        raise fail(f"{source}: the warehouse and the source disagree on some columns")

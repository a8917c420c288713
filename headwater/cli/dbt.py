"""`headwater dbt build | models | sources`: dbt through Headwater's profile and flows."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from headwater.cli.common import ProjectOption, console, friendly_errors
from headwater.config import Project, load_project

if TYPE_CHECKING:
    from headwater.dbt.runner import DbtResult

app = typer.Typer(
    help="dbt models over the warehouse: build them, list them, generate their sources.",
    no_args_is_help=True,
)

# As for `headwater sync`: Prefect's logs reach its API and UI, the terminal shows our table.
_QUIET_CONSOLE_LOGS = {"PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL"}
_STATUS_COLORS = {"success": "green", "pass": "green", "warn": "yellow", "skipped": "yellow"}

SelectOption = Annotated[
    list[str] | None,
    typer.Option("--select", "-s", help="dbt selector, e.g. 'source:orders+' (repeatable)."),
]
ExcludeOption = Annotated[
    list[str] | None, typer.Option("--exclude", help="dbt selector to leave out (repeatable).")
]


def run_build(
    project: Project,
    select: list[str] | None = None,
    exclude: list[str] | None = None,
    full_refresh: bool = False,
) -> DbtResult | None:
    """Run the dbt_build flow in this process against the project's Prefect server; returns
    the dbt result it reported (None if it failed before running dbt)."""
    from headwater.dbt.profile import dbt_paths, has_dbt_project
    from headwater.errors import TerminalError
    from headwater.prefect_server import ensure_server

    if not has_dbt_project(project):
        raise TerminalError(f"no dbt project: {dbt_paths(project).project_dir} does not exist")
    ensure_server(project)
    for key, value in _QUIET_CONSOLE_LOGS.items():
        os.environ.setdefault(key, value)
    from flows.dbt_build import dbt_build, result_listeners

    seen: list[DbtResult] = []
    result_listeners.append(seen.append)
    try:
        with console.status("dbt build running"):
            state = dbt_build(
                select=select or None,
                exclude=exclude or None,
                full_refresh=full_refresh,
                project_file=str(project.file),
                return_state=True,
            )
    finally:
        result_listeners.remove(seen.append)
    if seen:
        console.print(_nodes_table(seen[-1]))
    state.result(raise_on_failure=True)  # raises the flow's error (failing nodes' messages)
    return seen[-1] if seen else None


@app.command()
@friendly_errors
def build(
    select: SelectOption = None,
    exclude: ExcludeOption = None,
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Rebuild incremental models from scratch.")
    ] = False,
    project: ProjectOption = None,
) -> None:
    """Build (run and test) dbt models as a Prefect flow run; exit 1 when a node fails."""
    from headwater.prefect_server import ui_url

    loaded = load_project(project)
    started = time.monotonic()
    result = run_build(loaded, select, exclude, full_refresh)
    nodes = result.nodes if result else []
    models = sum(1 for node in nodes if node.resource_type == "model")
    console.print(
        f"dbt build: {models} models, {len(nodes) - models} other nodes in "
        f"{time.monotonic() - started:.1f}s; run details at {ui_url(loaded)}",
        highlight=False,
    )


@app.command()
@friendly_errors
def models(project: ProjectOption = None) -> None:
    """List the dbt models: materialization, last status and last run."""
    from headwater.dbt.models import list_models

    found = list_models(load_project(project))
    table = Table("model", "materialized", "schema", "last status", "last run (UTC)", "rows")
    for model in found:
        color = _STATUS_COLORS.get(model.last_status, "dim" if model.last_run_at is None else "red")
        table.add_row(
            model.name,
            model.materialized,
            model.schema,
            f"[{color}]{model.last_status}[/]",
            str(model.last_run_at or "").replace("T", " ").split("+")[0],
            f"{model.rows:,}" if model.rows is not None else "",
        )
    console.print(table)
    console.print(f"{len(found)} models", highlight=False)


@app.command()
@friendly_errors
def sources(project: ProjectOption = None) -> None:
    """Generate dbt_project/models/sources.yml from the warehouse, keeping hand edits."""
    from headwater.dbt.sources import generate_sources

    loaded = load_project(project)
    update = generate_sources(loaded)
    for entry in update.added:
        console.print(f"[green]added[/] {entry}", highlight=False)
    for entry in update.missing:
        console.print(f"[yellow]kept, not in the warehouse:[/] {entry}", highlight=False)
    verb = "updated" if update.changed else "unchanged:"
    console.print(f"{verb} {update.path}", highlight=False)


def _nodes_table(result: DbtResult) -> Table:
    table = Table("node", "type", "status", "seconds", "rows", "message")
    for node in result.nodes:
        color = _STATUS_COLORS.get(node.status, "red")
        table.add_row(
            node.name,
            node.resource_type,
            f"[{color}]{node.status}[/]",
            f"{node.seconds:.2f}",
            f"{node.rows_affected:,}" if node.rows_affected is not None else "",
            node.message or "",
        )
    if result.error:
        table.add_row("dbt", "invocation", "[red]error[/]", "", "", result.error)
    return table

"""`headwater consoles list | run NAME | history NAME`: saved SQL from project.yml."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer
from rich.table import Table

from headwater.cli.common import ProjectOption, console, fail, friendly_errors
from headwater.config import Project, load_project

app = typer.Typer(
    help="Consoles: saved read-only SQL with assertions, a table and an export file.",
    no_args_is_help=True,
)

# As for `headwater sync`: Prefect's logs reach its API and UI, the terminal shows the result.
_QUIET_CONSOLE_LOGS = {"PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL"}
_STATUS_COLORS = {"succeeded": "green", "failed": "red", "running": "yellow"}


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


@app.command("list")
@friendly_errors
def list_consoles(project: ProjectOption = None) -> None:
    """List the consoles: schedule, outputs and last run."""
    from headwater.consoles import describe_schedule, last_runs, materialized_table
    from headwater.store import MetadataStore

    loaded = load_project(project)
    store = MetadataStore.open(loaded)
    try:
        last = last_runs(store)
    finally:
        store.close()
    table = Table("console", "schedule", "table", "export", "last run (UTC)", "status", "rows")
    for name, config in sorted(loaded.config.consoles.items()):
        run = last.get(name)
        status = run.status if run else "never run"
        table.add_row(
            name,
            describe_schedule(config.schedule) if config.schedule else "on demand",
            materialized_table(name) if config.materialize else "",
            config.export.path if config.export else "",
            _when(run.started_at) if run else "",
            f"[{_STATUS_COLORS.get(status, 'dim')}]{status}[/]",
            f"{run.row_count:,}" if run and run.row_count is not None else "",
        )
    console.print(table)
    console.print(f"{len(loaded.config.consoles)} consoles", highlight=False)


@app.command()
@friendly_errors
def run(
    name: Annotated[str, typer.Argument(help="The console (a key under `consoles:`).")],
    project: ProjectOption = None,
) -> None:
    """Run a console now as a Prefect flow run; print its first rows and assertions, exit
    1 when it fails."""
    run_and_show(load_project(project), name)


def run_and_show(loaded: Project, name: str) -> None:
    """Run console `name` in this process as a Prefect flow run and print its first rows,
    assertions and outputs; raise the Exit of `fail` when it fails."""
    from headwater.consoles import get_console, last_run
    from headwater.prefect_server import ensure_server, ui_url
    from headwater.store import MetadataStore

    get_console(loaded, name)  # an unknown name fails here, listing the known ones
    ensure_server(loaded)
    for key, value in _QUIET_CONSOLE_LOGS.items():
        os.environ.setdefault(key, value)
    from flows.consoles import run_console

    with console.status(f"console {name} running"):
        state = run_console(console=name, project_file=str(loaded.file), return_state=True)
    store = MetadataStore.open(loaded)
    try:
        entry = last_run(store, name)
    finally:
        store.close()
    if entry is not None and entry.columns:
        result = Table(*(column["name"] for column in entry.columns))
        for row in entry.preview or []:
            result.add_row(*("" if value is None else str(value) for value in row))
        console.print(result)
    for check in (entry.assertions or []) if entry else []:
        mark = "[green]pass[/]" if check["passed"] else "[red]FAIL[/]"
        console.print(f"{mark} {check['message']}", highlight=False)
    if not state.is_completed():
        message = entry.error if entry is not None and entry.error else state.message
        raise fail(str(message))
    assert entry is not None
    outputs = [part for part in (entry.materialized_table, entry.export_path) if part]
    console.print(
        f"console {name}: {entry.row_count or 0:,} rows in {entry.duration_seconds or 0:.1f}s"
        + (f", wrote {', '.join(outputs)}" if outputs else "")
        + f"; run details at {ui_url(loaded)}",
        highlight=False,
    )


@app.command()
@friendly_errors
def history(
    name: Annotated[str, typer.Argument(help="The console.")],
    limit: Annotated[int, typer.Option(help="Runs to show, newest first.")] = 20,
    project: ProjectOption = None,
) -> None:
    """Show a console's runs: status, start, duration, rows, assertions and error."""
    from headwater.consoles import console_runs, get_console
    from headwater.store import MetadataStore

    loaded = load_project(project)
    get_console(loaded, name)
    store = MetadataStore.open(loaded)
    try:
        runs, total = console_runs(store, name, 0, limit)
    finally:
        store.close()
    table = Table("started (UTC)", "status", "took", "rows", "assertions", "error")
    for entry in runs:
        checks = entry.assertions or []
        passed = sum(1 for check in checks if check["passed"])
        status = entry.status
        table.add_row(
            _when(entry.started_at),
            f"[{_STATUS_COLORS.get(status, 'dim')}]{status}[/]",
            f"{entry.duration_seconds:.1f}s" if entry.duration_seconds is not None else "",
            f"{entry.row_count:,}" if entry.row_count is not None else "",
            f"{passed}/{len(checks)} passed" if checks else "",
            entry.error or "",
        )
    console.print(table)
    console.print(f"{len(runs)} of {total} runs of console {name}", highlight=False)

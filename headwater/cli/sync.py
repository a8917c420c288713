"""`headwater sync`, `status` and `demo`: run sync flows and read their state from Prefect."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.live import Live
from rich.table import Table

from headwater.cli.common import ProjectOption, console, fail, friendly_errors, heading
from headwater.config import Project, load_project
from headwater.config.sources import PostgresCdcSource
from headwater.errors import HeadwaterError
from headwater.prefect_server import ensure_server, ui_url
from headwater.runs import latest_run, project_tag, source_tag
from headwater.warehouse import Warehouse, raw_schema

if TYPE_CHECKING:
    from flows.loading import TableLoad

# Prefect's logs still reach its API and UI at INFO; the terminal shows the progress table
# and one error line instead of Prefect's console log and tracebacks.
_QUIET_CONSOLE_LOGS = {
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL",
    "RUNTIME__LOG_LEVEL": "ERROR",  # dlt's own logger
}


class TableProgress:
    """A live table of per-table progress: running, then rows and rows/s, or the error."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[str, str, str, str]] = {}
        self.started: dict[str, float] = {}

    def update(self, source: str, table: str, result: TableLoad | None, error: str | None) -> None:
        """Listener for flows.sync: a table started (no result, no error) or ended."""
        if error is not None:
            self.rows[table] = ("[red]failed[/]", "", "", error)
        elif result is None:
            self.started[table] = time.monotonic()
            self.rows[table] = ("[yellow]running[/]", "", "", "")
        else:
            self.rows[table] = (
                "[green]done[/]",
                f"{result.rows:,}",
                f"{result.rows_per_second:,.0f}",
                f"{result.seconds:.1f}s",
            )

    def render(self) -> Table:
        """The current state as a rich table."""
        table = Table("table", "status", "rows", "rows/s", "time / error")
        for name, (status, rows, rate, extra) in self.rows.items():
            if status.endswith("running[/]"):
                extra = f"{time.monotonic() - self.started[name]:.0f}s"
            table.add_row(name, status, rows, rate, extra)
        return table


@contextlib.contextmanager
def _progress_display(
    progress: TableProgress, listeners: list[Callable[..., None]]
) -> Iterator[Live | None]:
    """A live table on a terminal; redirected output gets the final table once instead
    (a Live display there prints only its last frame, without the closing newline)."""
    if console.is_terminal:
        with Live(progress.render(), console=console, refresh_per_second=4) as live:
            listeners.append(lambda *_: live.update(progress.render()))
            yield live
        return
    try:
        yield None
    finally:
        console.print(progress.render())


def run_sync(
    project: Project,
    source: str,
    tables: list[str] | None = None,
    full_refresh: bool = False,
    start: str | None = None,
    end: str | None = None,
) -> dict[str, Any]:
    """Run the sync flow in this process against the project's Prefect server, drawing
    progress; raise HeadwaterError when it fails."""
    project.source(source)  # unknown names fail before any server starts
    ensure_server(project)
    for key, value in _QUIET_CONSOLE_LOGS.items():
        os.environ.setdefault(key, value)
    from prefect import tags

    from flows.sync import sync_source, table_listeners

    progress = TableProgress()
    table_listeners.append(progress.update)
    try:
        # Tagged from creation, so even the run's first events carry its source and project.
        with (
            tags(source_tag(source), project_tag(project)),
            _progress_display(progress, table_listeners) as live,
        ):
            state = sync_source(
                source=source,
                tables=tables or None,
                full_refresh=full_refresh,
                start=start,
                end=end,
                project_file=str(project.file),
                return_state=True,
            )
            if live is not None:
                live.update(progress.render())
    finally:
        table_listeners.clear()
    result: dict[str, Any] = state.result(raise_on_failure=True)
    return result


@friendly_errors
def sync(
    source: Annotated[str, typer.Argument(help="Source name from project.yml.")],
    table: Annotated[
        list[str] | None, typer.Option("--table", "-t", help="Only this table (repeatable).")
    ] = None,
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Forget cursors and reload everything.")
    ] = False,
    start: Annotated[
        str | None, typer.Option(help="Backfill: cursor values from this one (inclusive).")
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="Backfill: cursor values before this one (exclusive).")
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Sync one source into the warehouse as a Prefect flow run."""
    loaded = load_project(project)
    if isinstance(loaded.source(source), PostgresCdcSource):
        raise fail(
            f"source '{source}' is a postgres_cdc source: apply its changes with "
            f"`headwater cdc run {source}` (re-snapshot with `headwater cdc resync {source}`)"
        )
    started = time.monotonic()
    summary = run_sync(loaded, source, table, full_refresh, start, end)
    rows = sum(entry["rows"] for entry in summary["tables"])
    console.print(
        f"synced [bold]{source}[/]: {len(summary['tables'])} tables, {rows:,} rows in "
        f"{time.monotonic() - started:.1f}s into schema {raw_schema(source)}; "
        f"run details at {ui_url(loaded)}",
        highlight=False,
    )
    _print_build(summary.get("dbt"))


def _print_build(built: dict[str, Any] | None) -> None:
    """One line on the dbt build a sync started (none when nothing loaded)."""
    if built is None:
        return
    if built.get("held_back"):
        console.print(f"[yellow]dbt build held back:[/] {built['held_back']}", highlight=False)
        return
    if built["completed"]:
        console.print(
            f"then built {len(built['models'])} dbt models downstream "
            f"({', '.join(built['models'])}) in {built['seconds']:.1f}s",
            highlight=False,
        )
    else:
        console.print(f"[yellow]the dbt build after the sync failed:[/] {built['error']}")


@friendly_errors
def status(project: ProjectOption = None) -> None:
    """Show the last run of each source (state, when, rows) from Prefect."""
    loaded = load_project(project)
    url = ensure_server(loaded)
    warehouse = Warehouse(loaded)
    with warehouse.reader() as conn:
        counts = warehouse.row_counts(conn)
    table = Table("source", "type", "last run", "state", "started (UTC)", "took", "rows")
    for name, config in loaded.config.sources.items():
        run = latest_run(url, source_tag(name), project_tag(loaded))
        rows = sum(n for (schema, _), n in counts.items() if schema == raw_schema(name))
        state = "never synced" if run is None else run.state
        color = {"completed": "green", "failed": "red", "crashed": "red"}.get(state, "yellow")
        took = run.duration_seconds if run else None
        table.add_row(
            name,
            config.type,
            run.name if run else "",
            f"[{color}]{state}[/]",
            run.start_time.strftime("%Y-%m-%d %H:%M:%S") if run and run.start_time else "",
            f"{took:.1f}s" if took is not None else "",
            f"{rows:,}",
        )
    console.print(table)
    console.print(f"Prefect UI: {ui_url(loaded)}", highlight=False)


@friendly_errors
def demo(
    rows: Annotated[int, typer.Option(help="Rows in the generated orders CSV.")] = 100_000,
    project: ProjectOption = None,
) -> None:
    """Generate the demo data, sync every demo source, run its consoles, and show where
    everything is."""
    from headwater.cli.consoles import run_and_show
    from headwater.demo import generate_demo_data

    loaded = load_project(project)
    skipped = generate_demo_data(loaded, rows)
    failed = []
    for name, config in loaded.config.sources.items():
        if name in skipped:
            console.print(f"[yellow]skipping {name}:[/] {skipped[name]}", highlight=False)
            continue
        if not config.enabled:
            continue
        heading(f"sync {name}")
        try:
            run_sync(loaded, name)
        except Exception as exc:  # one failing source must not hide the others
            failed.append(name)
            console.print(f"[red]{name} failed:[/] {exc}", highlight=False)
    for name in loaded.config.consoles:
        heading(f"console {name}")
        try:
            run_and_show(loaded, name)
        except (typer.Exit, HeadwaterError) as exc:  # printed already (Exit) or here
            failed.append(f"console {name}")
            if isinstance(exc, HeadwaterError):
                console.print(f"[red]console {name} failed:[/] {exc}", highlight=False)
    warehouse = Warehouse(loaded)
    with warehouse.reader() as conn:
        counts = warehouse.row_counts(conn)
    table = Table("schema", "table", "rows")
    for (schema_name, table_name), count in counts.items():
        table.add_row(schema_name, table_name, f"{count:,}")
    console.print(table)
    console.print(f"warehouse: {warehouse.describe()}", highlight=False)
    console.print(
        f"query it: headwater sql \"SELECT * FROM raw_orders.orders LIMIT 5\"\n"
        f"Prefect UI (runs, logs, artifacts): {ui_url(loaded)}",
        highlight=False,
    )
    if failed:
        raise fail(f"demo sources failed: {', '.join(failed)}")

"""The `headwater` Typer app and its small commands (validate, sql, schema)."""

from __future__ import annotations

from typing import Annotated

import typer

from headwater import __version__
from headwater.cli import cdc, consoles, dbt, lineage, notifications, serve, sync, worker
from headwater.cli.api import api
from headwater.cli.common import ProjectOption, console, fail, friendly_errors
from headwater.cli.governance import app as governance_app
from headwater.cli.governance import monitoring
from headwater.cli.governance_pii import pii_app, profile
from headwater.cli.scaffold import init
from headwater.cli.schedules import app as schedules_app
from headwater.config import load_project
from headwater.errors import ConfigError

app = typer.Typer(
    name="headwater",
    help="Headwater: sources, syncs and the warehouse, orchestrated by Prefect.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(init)
app.command()(sync.sync)
app.command()(sync.status)
app.command()(sync.demo)
app.command()(serve.serve)
app.command()(worker.deploy)
app.command()(worker.worker)
app.command()(api)
app.command()(lineage.lineage)
app.add_typer(dbt.app, name="dbt")
app.add_typer(cdc.app, name="cdc")
app.add_typer(consoles.app, name="consoles")
app.add_typer(schedules_app, name="schedules")
app.add_typer(pii_app, name="pii")
app.command()(profile)
app.add_typer(notifications.app, name="notifications")
app.add_typer(governance_app, name="governance")
app.command()(monitoring)


@app.command()
def version() -> None:
    """Print Headwater's version."""
    console.print(__version__)


@app.command()
def validate(project: ProjectOption = None) -> None:
    """Check project.yml; print every problem with its line, exit 1 when there is one."""
    try:
        loaded = load_project(project)
    except ConfigError as exc:
        for line in str(exc).splitlines():
            console.print(line, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    config = loaded.config
    console.print(
        f"{loaded.file.name} is valid: project '{config.project.name}', "
        f"{len(config.sources)} sources, {len(config.schedules)} schedules, "
        f"{len(config.consoles)} consoles",
        highlight=False,
        soft_wrap=True,
    )


@app.command()
@friendly_errors
def sql(
    query: Annotated[str, typer.Argument(help="One read-only SQL statement.")],
    limit: Annotated[int, typer.Option(help="Rows to print at most.")] = 100,
    project: ProjectOption = None,
) -> None:
    """Run a read-only query against the warehouse and print the result as a table."""
    import duckdb
    from rich.table import Table

    from headwater.warehouse import Warehouse

    warehouse = Warehouse(load_project(project))
    with warehouse.reader() as conn:
        try:
            cursor = conn.execute(query)
        except duckdb.Error as exc:
            raise fail(" ".join(str(exc).split())) from None
        if cursor.description is None:
            console.print("statement ran; it returned no rows")
            return
        columns = [column[0] for column in cursor.description]
        rows = cursor.fetchmany(limit + 1)
    table = Table(*columns, show_lines=False)
    for row in rows[:limit]:
        table.add_row(*("NULL" if value is None else str(value) for value in row))
    console.print(table)
    more = " (more rows not shown; raise --limit)" if len(rows) > limit else ""
    console.print(f"{min(len(rows), limit)} rows{more}")


@app.command()
def schema(
    write: Annotated[bool, typer.Option(help="Write schemas/project.schema.json.")] = False,
) -> None:
    """Print the JSON Schema of project.yml (or write it with --write)."""
    from headwater.config.schema import SCHEMA_PATH, render_schema, write_schema

    if write:
        changed = write_schema()
        console.print(f"{'wrote' if changed else 'unchanged:'} {SCHEMA_PATH}", highlight=False)
    else:
        typer.echo(render_schema(), nl=False)


@app.command()
@friendly_errors
def housekeeping(project: ProjectOption = None) -> None:
    """Expire warehouse snapshots older than warehouse.snapshot_retention_days, now."""
    from headwater.prefect_server import ensure_server

    loaded = load_project(project)
    ensure_server(loaded)
    from flows.housekeeping import warehouse_housekeeping

    result = warehouse_housekeeping(project_file=str(loaded.file))
    console.print(
        f"expired {result['expired_snapshots']} snapshots, deleted {result['deleted_files']} "
        f"files; {result['remaining_snapshots']} snapshots kept",
        highlight=False,
    )


@app.command()
@friendly_errors
def check(
    source: Annotated[str, typer.Argument(help="Source name from project.yml.")],
    project: ProjectOption = None,
) -> None:
    """Test a source's connection and list what its next sync would load, loading nothing."""
    from rich.table import Table

    from connectors import connector_for
    from flows.loading import pipeline_for

    loaded = load_project(project)
    connector = connector_for(loaded, source)
    pipeline_for(loaded, source)  # activates the source's saved state: files know what loaded
    report = connector.check()
    table = Table("table", "write", "primary key", "cursor", "what is there")
    for spec in report.tables:
        table.add_row(
            spec.name,
            spec.write_disposition,
            ", ".join(spec.primary_key),
            spec.cursor or "",
            report.details.get(spec.name, ""),
        )
    console.print(table)
    console.print(f"{source}: connection works, {len(report.tables)} tables", highlight=False)

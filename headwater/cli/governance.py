"""`headwater governance drift | accept | attention | freshness` and `headwater monitoring`."""

from __future__ import annotations

import getpass
import os
from typing import Annotated

import typer
from rich.table import Table

from headwater.cli.common import ProjectOption, console, fail, friendly_errors
from headwater.config import load_project

app = typer.Typer(
    help="Schema drift, accepting it, and the sources that need attention.",
    no_args_is_help=True,
)

_STATUS_COLORS = {"ok": "green", "warning": "yellow", "skipped": "dim"}


@app.command()
@friendly_errors
def drift(
    source: Annotated[str | None, typer.Argument(help="Only this source.")] = None,
    table: Annotated[str | None, typer.Option("--table", "-t", help="Only this table.")] = None,
    limit: Annotated[int, typer.Option(help="Events to show at most.")] = 20,
    project: ProjectOption = None,
) -> None:
    """List schema drift events, newest first (open breaking ones need `accept`)."""
    from headwater.governance.drift import describe_event, list_drift_events, when
    from headwater.store import MetadataStore

    loaded = load_project(project)
    if source is not None:
        loaded.source(source)  # an unknown source fails with the known ones
    store = MetadataStore.open(loaded)
    try:
        with store.session() as session:
            events, total = list_drift_events(session, source=source, table=table, limit=limit)
            table_out = Table("id", "detected (UTC)", "source.table", "kind", "changes",
                              "accepted")
            for event in events:
                kind = "[red]breaking[/]" if event.breaking else "additive"
                accepted = (
                    f"{event.accepted_by} {when(event.accepted_at)}" if event.accepted_at
                    else "[red]open[/]"
                )
                table_out.add_row(str(event.id), when(event.detected_at),
                                  f"{event.source}.{event.table_name}", kind,
                                  describe_event(event), accepted)
    finally:
        store.close()
    console.print(table_out)
    console.print(f"{min(total, limit)} of {total} drift events", highlight=False)


@app.command()
@friendly_errors
def accept(
    source: Annotated[str, typer.Argument(help="Source whose drift to accept.")],
    table: Annotated[
        str | None, typer.Option("--table", "-t", help="Only this table of the source.")
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Accept a source's schema drift: the schema its last sync delivered becomes the
    baseline, its breaking events are marked accepted, and dbt builds after its syncs run
    again. Recorded in the audit log as `cli:<your OS user>`."""
    from headwater.governance.drift import accept_drift, baseline_tables
    from headwater.store import AuditRecord, MetadataStore, record_audit

    loaded = load_project(project)
    loaded.source(source)
    who = f"cli:{_os_user()}"
    store = MetadataStore.open(loaded)
    try:
        if table is not None:
            with store.session() as session:
                known = baseline_tables(session, source)
            if table not in known:
                raise fail(
                    f"source '{source}' has no table '{table}' with a schema baseline; "
                    f"tables with one: {', '.join(known) or 'none (never synced)'}"
                )
        done = accept_drift(store, source, who, table)
        command = f"headwater governance accept {source}" + (f" --table {table}" if table else "")
        record_audit(store, AuditRecord(
            method="CLI", path=command, route="headwater governance accept", status_code=200,
            user_email=who,
            detail=f"accepted {done.events} drift events; baseline set for "
                   f"{', '.join(done.tables) or 'no table'}",
        ))
    finally:
        store.close()
    if not done.events and not done.tables:
        console.print(f"{source}: no drift to accept", highlight=False)
        return
    console.print(
        f"accepted {done.events} breaking drift events of {source}; the baseline of "
        f"{', '.join(done.tables) or 'no table'} is now what its last sync delivered",
        highlight=False,
    )


@app.command()
@friendly_errors
def attention(project: ProjectOption = None) -> None:
    """List the sources that need attention, with the reasons."""
    from headwater.governance.attention import sources_needing_attention
    from headwater.prefect_server import api_url
    from headwater.store import MetadataStore

    loaded = load_project(project)
    store = MetadataStore.open(loaded)
    try:
        report = sources_needing_attention(loaded, store, api_url(loaded))
    finally:
        store.close()
    if not report.sources:
        console.print("no source needs attention", highlight=False)
    for entry in report.sources:
        console.print(f"[bold]{entry.source}[/]", highlight=False)
        for reason in entry.reasons:
            console.print(f"  [yellow]{reason.kind}[/]: {reason.message}", highlight=False,
                          soft_wrap=True)
    for kind, why in report.not_checked.items():
        console.print(f"[dim]not checked: {kind}: {why}[/]", highlight=False, soft_wrap=True)


@app.command()
@friendly_errors
def freshness(project: ProjectOption = None) -> None:
    """Each source's freshness against its `freshness` setting or schedule."""
    from headwater.governance.drift import when
    from headwater.governance.freshness import source_freshness
    from headwater.prefect_server import api_url

    loaded = load_project(project)
    table = Table("source", "state", "last success (UTC)", "reason")
    colors = {"fresh": "green", "stale": "red", "never_synced": "yellow"}
    for fresh in source_freshness(loaded, api_url(loaded)).values():
        color = colors.get(fresh.state, "dim")
        table.add_row(fresh.source, f"[{color}]{fresh.state}[/]", when(fresh.last_success_at),
                      fresh.reason)
    console.print(table)


@friendly_errors
def monitoring(
    run: Annotated[
        bool, typer.Option("--run", help="Run the checks now (a Prefect flow run) first.")
    ] = False,
    project: ProjectOption = None,
) -> None:
    """Show the latest monitoring results: freshness, row-count changes, reconciliation."""
    from headwater.governance.drift import when
    from headwater.governance.monitoring import latest_report
    from headwater.store import MetadataStore

    loaded = load_project(project)
    if run:
        from headwater.prefect_server import ensure_server

        ensure_server(loaded)
        # As for `headwater sync`: Prefect's logs reach its UI, the terminal shows the table.
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
        from flows.monitoring import run_monitoring

        with console.status("monitoring checks running"):
            run_monitoring(project_file=str(loaded.file))
    store = MetadataStore.open(loaded)
    try:
        report = latest_report(store)
    finally:
        store.close()
    if report is None:
        raise fail("monitoring never ran; run `headwater monitoring --run`")
    table = Table("check", "source", "table", "status", "message")
    for result in report.results:
        color = _STATUS_COLORS.get(result.status, "red")
        table.add_row(result.check, result.source, result.table or "",
                      f"[{color}]{result.status}[/]", result.message)
    console.print(table)
    console.print(
        f"{len(report.results)} checks, {report.warnings} warnings; ran "
        f"{when(report.finished_at or report.started_at)} UTC",
        highlight=False,
    )


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (containers)
        return "unknown"

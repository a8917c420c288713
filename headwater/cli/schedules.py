"""`headwater schedules list | reload | history NAME | trigger NAME`."""

from __future__ import annotations

import difflib
import time
from datetime import datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from headwater.cli.common import ProjectOption, console, fail, friendly_errors
from headwater.config import Project, load_project
from headwater.config.durations import format_duration
from headwater.prefect_server import ensure_server, ui_url
from headwater.schedules import (
    ReloadReport,
    ScheduleRun,
    apply_schedules,
    read_schedule_run,
    schedule_history,
    schedule_statuses,
    start_schedule_run,
    target_text,
    timing_text,
)
from headwater.schedules.reload import find_schedule_deployment

app = typer.Typer(help="Schedules from project.yml, as Prefect runs them.", no_args_is_help=True)

_COLORS = {"completed": "green", "failed": "red", "crashed": "red", "cancelled": "red"}


def print_report(report: ReloadReport) -> None:
    """Print what applying the schedules changed, and the warnings."""
    console.print(f"schedules ({report.deployment}): {report.summary()}", highlight=False)
    for name in report.added:
        console.print(f"  [green]+[/] {name}", highlight=False)
    for name, change in report.changed.items():
        console.print(f"  [yellow]~[/] {name}: {change}", highlight=False)
    for name in report.removed:
        console.print(f"  [red]-[/] {name}", highlight=False)
    if report.paused:
        console.print(
            "[yellow]the schedules deployment is paused (its runner stopped): start "
            "`headwater serve` to run them[/]",
            highlight=False,
        )
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def _took(run: ScheduleRun) -> str:
    seconds = run.duration_seconds
    return format_duration(timedelta(seconds=round(seconds))) if seconds is not None else ""


def _state(run: ScheduleRun | None) -> str:
    if run is None:
        return "never ran"
    color = _COLORS.get(run.state, "yellow")
    return f"[{color}]{run.state_name or run.state}[/]"


def _known(project: Project, name: str) -> None:
    schedules = project.config.all_schedules()
    if name not in schedules:
        close = difflib.get_close_matches(name, list(schedules), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise fail(
            f"no schedule '{name}' in {project.file.name}{hint}; "
            f"schedules: {', '.join(sorted(schedules)) or 'none'}"
        )


@app.command("list")
@friendly_errors
def list_schedules(project: ProjectOption = None) -> None:
    """Every schedule: what it runs, when, next run, last run and its state, and warnings
    (an interval shorter than the typical run)."""
    loaded = load_project(project)
    url = ensure_server(loaded)
    statuses = schedule_statuses(loaded, url)
    if not statuses:
        console.print("project.yml has no schedules", highlight=False)
        return
    table = Table("schedule", "runs", "when", "next run", "last run", "took")
    for status in statuses:
        when = timing_text(status.config)
        if not status.config.enabled:
            when += " [dim](disabled)[/]"
        elif not status.applied:
            when += " [yellow](not applied: headwater schedules reload)[/]"
        last = status.last_run
        table.add_row(
            status.name,
            target_text(status.config),
            when,
            _when(status.next_run_time),
            f"{_state(last)} {_when(last.start_time or last.expected_start_time) if last else ''}",
            _took(last) if last else "",
        )
    console.print(table)
    for status in statuses:
        if status.warning:
            console.print(f"[yellow]warning:[/] {status.warning}", highlight=False, soft_wrap=True)


@app.command()
@friendly_errors
def reload(project: ProjectOption = None) -> None:
    """Apply project.yml's schedules to Prefect without a restart: only what was added,
    changed or removed; the running `headwater serve` (or the workers) runs them."""
    loaded = load_project(project)
    print_report(apply_schedules(loaded, ensure_server(loaded)))


@app.command()
@friendly_errors
def history(
    name: Annotated[str, typer.Argument(help="Schedule name from project.yml.")],
    limit: Annotated[int, typer.Option(min=1, max=200, help="Runs to show.")] = 20,
    project: ProjectOption = None,
) -> None:
    """A schedule's runs, newest first: state, start, duration, error."""
    loaded = load_project(project)
    _known(loaded, name)
    runs, total = schedule_history(ensure_server(loaded), loaded, name, limit=limit)
    if not runs:
        console.print(f"schedule '{name}' has not run yet", highlight=False)
        return
    table = Table("run", "state", "started", "took", "error")
    for run in runs:
        table.add_row(run.name, _state(run), _when(run.start_time), _took(run), run.error or "")
    console.print(table)
    console.print(f"{len(runs)} of {total} runs", highlight=False)


@app.command()
@friendly_errors
def trigger(
    name: Annotated[str, typer.Argument(help="Schedule name from project.yml.")],
    wait: Annotated[bool, typer.Option(help="Wait for the run to end; exit 1 on failure.")] = False,
    project: ProjectOption = None,
) -> None:
    """Run a schedule now, outside its timing, through the running `headwater serve` (or
    the workers)."""
    loaded = load_project(project)
    _known(loaded, name)
    url = ensure_server(loaded)
    deployment = find_schedule_deployment(url, loaded)
    run = start_schedule_run(url, loaded, deployment["id"], name)
    console.print(
        f"started run {run.id} of schedule '{name}': {ui_url(loaded)}/runs/flow-run/{run.id}",
        highlight=False,
    )
    if not wait:
        return
    while run.state not in {"completed", "failed", "crashed", "cancelled"}:
        time.sleep(2)
        run = read_schedule_run(url, run.id)
    console.print(f"{_state(run)} after {_took(run)}", highlight=False)
    if run.state != "completed":
        raise fail(run.message or run.state)

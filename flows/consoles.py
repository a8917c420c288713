"""The `run_console` Prefect flow: one run of a saved console from project.yml.

The console's SQL runs read-only (the checks and locked-down session of `POST /api/query`);
its assertions are checked; then, only if they pass, the result replaces table
`consoles.<name>` (holding a warehouse writer slot) and the export file. Every run leaves a
row in the metadata DB's `console_runs`, a table artifact with the result's first rows and
the event `headwater.console.completed` or `headwater.console.failed`; failed assertions
also publish a `console_assertion_failed` notification.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.events import emit_event
from prefect.runtime import flow_run

from flows.limits import writer_slot
from flows.run_tags import tag_this_run
from headwater.config import Project, load_project
from headwater.consoles import (
    ConsoleOutcome,
    execute_console,
    get_console,
    record_failure,
    record_finish,
    record_start,
)
from headwater.consoles.notify import notify_assertion_failure
from headwater.errors import TerminalError, TransientError
from headwater.runs import console_tag, project_tag
from headwater.store import MetadataStore


def _run_name() -> str:
    console = flow_run.parameters.get("console", "unknown")
    return f"console-{console}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"


@flow(name="run_console", flow_run_name=_run_name, validate_parameters=True)
def run_console(console: str, project_file: str | None = None) -> dict[str, Any]:
    """Run console `console` once; fails with the reason when its SQL is refused or fails,
    its file is missing, an assertion fails, or the table or export cannot be written."""
    logger = get_run_logger()
    project = load_project(project_file)
    tag_this_run(console_tag(console), project_tag(project))
    get_console(project, console)  # an unknown name fails the run, listing the known ones
    run_id = flow_run.get_id()
    store = MetadataStore.open(project)
    try:
        history_id = record_start(store, console, run_id)
        try:
            outcome = execute_console(project, console, lambda: writer_slot(project))
        except Exception as exc:  # a bug or a broken environment: the history says so too
            record_failure(store, history_id, f"console '{console}': {exc}")
            raise
        record_finish(store, history_id, outcome)
    finally:
        store.close()
    _finish(project, outcome)
    if outcome.failed_assertions:
        notify_assertion_failure(project, outcome, run_id)
    for result in outcome.assertions:
        logger.info("%s %s", "passed" if result.passed else "FAILED", result.message)
    if outcome.status != "succeeded":
        error = outcome.error or f"console '{console}' failed"
        raise TransientError(error) if outcome.transient else TerminalError(error)
    logger.info(
        "console %s: %s rows in %.2fs%s%s",
        console,
        f"{outcome.row_count:,}",
        outcome.seconds,
        f", table {outcome.materialized_table} replaced" if outcome.materialized_table else "",
        f", exported to {outcome.export_path}" if outcome.export_path else "",
    )
    return outcome.summary()


def _finish(project: Project, outcome: ConsoleOutcome) -> None:
    """The run's table artifact (the result's first rows) and its Prefect event."""
    failed = outcome.status != "succeeded"
    names = [column["name"] for column in outcome.columns]
    rows: list[dict[str, Any]] = [dict(zip(names, row, strict=True)) for row in outcome.preview]
    if failed and not rows:
        rows = [{"error": outcome.error}]
    lines = [
        f"console {outcome.console}: {'failed' if failed else 'succeeded'} in "
        f"{outcome.seconds:.2f}s"
        + (f", {outcome.row_count:,} rows" if outcome.row_count is not None else ""),
        *(f"- {'pass' if r.passed else 'FAIL'}: {r.message}" for r in outcome.assertions),
    ]
    if outcome.error:
        lines.append(f"error: {outcome.error}")
    create_table_artifact(
        key=f"console-{outcome.console.replace('_', '-')}",
        table=rows,
        description="\n".join(lines),
    )
    emit_event(
        event="headwater.console.failed" if failed else "headwater.console.completed",
        resource={
            "prefect.resource.id": f"headwater.console.{outcome.console}",
            "prefect.resource.name": outcome.console,
            "headwater.project": project.config.project.name,
        },
        payload=outcome.summary(),
    )

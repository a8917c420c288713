"""The run history of consoles in the metadata DB (`console_runs`): written by the
`run_console` flow, read by the API and `headwater consoles history`."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select

from headwater.consoles.runner import ConsoleOutcome
from headwater.store import MetadataStore
from headwater.store.consoles import ConsoleRun
from headwater.store.types import utcnow


def record_start(store: MetadataStore, console: str, flow_run_id: str | None) -> int:
    """A `running` row for a run that starts now; returns its id."""
    with store.session() as session:
        run = ConsoleRun(console=console, flow_run_id=flow_run_id, status="running")
        session.add(run)
        session.flush()
        return int(run.id)


def record_finish(store: MetadataStore, run_id: int, outcome: ConsoleOutcome) -> None:
    """Fill in row `run_id` with what the run did."""
    with store.session() as session:
        run = session.get(ConsoleRun, run_id)
        if run is None:
            return
        _finish(run)
        run.status = outcome.status
        run.row_count = outcome.row_count
        run.assertions = [result.as_dict() for result in outcome.assertions]
        run.error = outcome.error
        run.columns = outcome.columns if outcome.row_count is not None else None
        run.preview = outcome.preview if outcome.row_count is not None else None
        run.materialized_table = outcome.materialized_table
        run.export_path = outcome.export_path


def record_failure(store: MetadataStore, run_id: int, error: str) -> None:
    """Mark row `run_id` failed with `error` (the run broke before it had an outcome)."""
    with store.session() as session:
        run = session.get(ConsoleRun, run_id)
        if run is not None:
            _finish(run)
            run.status = "failed"
            run.error = error


def _finish(run: ConsoleRun) -> None:
    run.finished_at = utcnow()
    run.duration_seconds = round((run.finished_at - run.started_at).total_seconds(), 3)


def console_runs(
    store: MetadataStore, console: str, skip: int = 0, limit: int = 50
) -> tuple[Sequence[ConsoleRun], int]:
    """Runs of `console`, newest first, and how many there are in all."""
    with store.session() as session:
        total = session.scalar(
            select(func.count()).select_from(ConsoleRun).where(ConsoleRun.console == console)
        )
        runs = session.scalars(
            select(ConsoleRun)
            .where(ConsoleRun.console == console)
            .order_by(ConsoleRun.started_at.desc(), ConsoleRun.id.desc())
            .offset(skip)
            .limit(limit)
        ).all()
    return runs, int(total or 0)


def last_run(store: MetadataStore, console: str) -> ConsoleRun | None:
    """The newest run of `console`, if any."""
    runs, _ = console_runs(store, console, limit=1)
    return runs[0] if runs else None


def last_runs(store: MetadataStore) -> dict[str, ConsoleRun]:
    """The newest run of every console that has run, by console name."""
    with store.session() as session:
        newest = (
            select(ConsoleRun.console, func.max(ConsoleRun.id).label("id"))
            .group_by(ConsoleRun.console)
            .subquery()
        )
        runs = session.scalars(select(ConsoleRun).join(newest, ConsoleRun.id == newest.c.id)).all()
    return {run.console: run for run in runs}


def last_result_run(store: MetadataStore, console: str) -> ConsoleRun | None:
    """The newest run of `console` that got a result (its first rows are in `preview`)."""
    with store.session() as session:
        return session.scalars(
            select(ConsoleRun)
            .where(ConsoleRun.console == console, ConsoleRun.row_count.is_not(None))
            .order_by(ConsoleRun.id.desc())
            .limit(1)
        ).first()

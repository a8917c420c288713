"""The `run_schedule` flow: one run of a schedule from project.yml.

Every schedule is a Prefect deployment schedule of one deployment of this flow
(headwater.schedules.reload). A run reads its schedule from project.yml when it starts and
runs the target through the existing deployments, as child runs it waits for:

- sync: `sync_source/sync-<source>` of each source at once (each deployment still runs one
  sync of its source at a time; a CDC source runs `cdc_sync/cdc-<source>`);
- dbt: `dbt_build/dbt-build` with the selection;
- console: `run_console/run-console` with the console's name;
- pipeline: the syncs, then one dbt build of `source:<s>+` for every source that synced.

`timeout` bounds the whole run: past it, the child runs still going are cancelled and the
run fails (state name TimedOut). `retries` starts the failed child runs again after
`retry_delay`. A waiting run holds its runner or worker slot (see docs/schedules.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

from prefect import Flow, flow, get_run_logger, runtime
from prefect.artifacts import create_table_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterParentFlowRunId,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.deployments import run_deployment
from prefect.events import emit_event
from prefect.exceptions import ObjectNotFound
from prefect.states import Cancelled, Cancelling, Failed, State

from flows.run_tags import tag_this_run
from headwater.config import Project, load_project
from headwater.config.durations import format_duration
from headwater.config.schedules import ScheduleConfig
from headwater.config.sources import PostgresCdcSource
from headwater.errors import TerminalError
from headwater.governance.drift import held_back_sources
from headwater.runs import (
    CONSOLE_DEPLOYMENT,
    DBT_BUILD_DEPLOYMENT,
    RUN_KINDS,
    cdc_deployment_name,
    project_tag,
    source_tag,
    sync_deployment_name,
)
from headwater.schedules.names import schedule_tag, synced_sources

POLL_SECONDS = (0.5, 5.0)
"""The states of the child runs are read after 0.5 s, then less and less often, every
5 s at most: short runs end promptly, long ones cost the server little."""

_UNSTARTED = {StateType.SCHEDULED, StateType.PENDING, StateType.PAUSED}


@dataclass
class Step:
    """One child run of a schedule's run (retried as the same step)."""

    label: str
    """What it does, e.g. `sync orders`."""
    deployment: str
    """`flow/deployment` it runs."""
    parameters: dict[str, Any]
    """Its parameters (merged with the deployment's)."""
    source: str | None = None
    """The source it syncs, for syncs."""
    run_id: UUID | None = None
    """The latest child run."""
    state: str | None = None
    """The latest child run's final state type, lower case."""
    message: str | None = None
    """Its state message (the error of a failed run)."""
    attempts: int = 0
    """Child runs started for this step."""

    @property
    def ok(self) -> bool:
        """Whether the latest child run completed."""
        return self.state == "completed"


class ScheduleTimeoutError(TerminalError):
    """The schedule's run went past its `timeout`."""


def _run_name() -> str:
    name = runtime.flow_run.parameters.get("schedule", "unknown")
    return f"schedule-{name}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def _cancel_children(flow: Flow[..., Any], flow_run: FlowRun, state: State[Any]) -> None:
    """When the schedule's run is cancelled or crashes, cancel the child runs it left."""
    with get_client(sync_client=True) as client:
        children = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run.id])
            ),
            sort=FlowRunSort.ID_DESC,
            limit=200,
        )
    _cancel([child for child in children if child.state and not child.state.is_final()])


def _cancel(runs: list[FlowRun]) -> None:
    """Cancel `runs`: those not started at once, running ones through Cancelling (their
    runner or worker ends the process)."""
    with get_client(sync_client=True) as client:
        for run in runs:
            unstarted = run.state is not None and run.state.type in _UNSTARTED
            state = Cancelled if unstarted else Cancelling
            client.set_flow_run_state(
                run.id, state(message="cancelled: the schedule's run stopped"), force=True
            )


class ScheduleRunner:
    """Starts and watches a schedule's child runs, within its timeout."""

    def __init__(self, project: Project, name: str, schedule: ScheduleConfig) -> None:
        self.project = project
        self.name = name
        self.schedule = schedule
        self.started = time.monotonic()
        self.deadline = (
            self.started + schedule.timeout.total_seconds() if schedule.timeout else None
        )
        self.steps: list[Step] = []
        self.logger = get_run_logger()

    def remaining(self) -> float | None:
        """Seconds left before the timeout (None: no timeout)."""
        return None if self.deadline is None else self.deadline - time.monotonic()

    def run(self, steps: list[Step]) -> list[Step]:
        """Run `steps` at once, then the failed ones again up to `retries` times."""
        self._check_deployments(steps)
        self.steps += steps
        todo = steps
        for attempt in range(self.schedule.retries + 1):
            for step in todo:
                self._start(step)
            self._wait(todo)
            todo = [step for step in todo if not step.ok]
            if not todo or attempt == self.schedule.retries:
                break
            delay = self.schedule.retry_delay.total_seconds()
            self.logger.warning(
                "%s failed; try %s of %s in %s",
                ", ".join(step.label for step in todo),
                attempt + 2,
                self.schedule.retries + 1,
                format_duration(self.schedule.retry_delay),
            )
            remaining = self.remaining()
            if remaining is not None and remaining <= delay:
                time.sleep(max(remaining, 0))
                raise self._timed_out([])
            time.sleep(delay)
        return steps

    def _check_deployments(self, steps: list[Step]) -> None:
        with get_client(sync_client=True) as client:
            for deployment in {step.deployment for step in steps}:
                try:
                    client.read_deployment_by_name(deployment)
                except ObjectNotFound:
                    raise TerminalError(
                        f"schedule '{self.name}' runs deployment {deployment}, which is not "
                        "registered: start `headwater serve` (or `headwater deploy` with a work "
                        "pool) for this project"
                    ) from None

    def _start(self, step: Step) -> None:
        tags = [project_tag(self.project), schedule_tag(self.name)]
        if step.source:
            tags.append(source_tag(step.source))
        run = cast(
            FlowRun,
            run_deployment(step.deployment, parameters=step.parameters, timeout=0, tags=tags),
        )
        step.run_id, step.state, step.message = run.id, None, None
        step.attempts += 1
        self.logger.info("%s: started run %s (%s)", step.label, run.id, step.deployment)

    def _wait(self, steps: list[Step]) -> None:
        """Poll until every step's run ended; past the timeout, cancel what is left."""
        waiting = {step.run_id: step for step in steps if step.run_id is not None}
        pause = POLL_SECONDS[0]
        while waiting:
            with get_client(sync_client=True) as client:
                runs = client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=list(waiting))),
                    sort=FlowRunSort.ID_DESC,  # the sync client sends no default
                    limit=len(waiting),
                )
            unfinished = []
            for run in runs:
                if run.state is not None and run.state.is_final():
                    step = waiting.pop(run.id)
                    step.state = run.state.type.value.lower()
                    step.message = run.state.message
                    log = self.logger.info if step.ok else self.logger.error
                    log(
                        "%s: %s%s",
                        step.label,
                        step.state,
                        f" ({step.message})" if step.message and not step.ok else "",
                    )
                else:
                    unfinished.append(run)
            for missing in set(waiting) - {run.id for run in runs}:  # deleted in Prefect
                step = waiting.pop(missing)
                step.state, step.message = "failed", f"run {missing} was deleted"
            if not waiting:
                return
            remaining = self.remaining()
            if remaining is not None and remaining <= 0:
                _cancel(unfinished)
                raise self._timed_out([waiting[run.id] for run in unfinished])
            time.sleep(pause if remaining is None else min(pause, remaining))
            pause = min(pause * 1.5, POLL_SECONDS[1])

    def _timed_out(self, cancelled: list[Step]) -> ScheduleTimeoutError:
        assert self.schedule.timeout is not None
        for step in cancelled:
            step.state, step.message = "cancelled", "the schedule timed out"
        what = (
            "; cancelled " + ", ".join(f"{step.label} (run {step.run_id})" for step in cancelled)
            if cancelled
            else ""
        )
        return ScheduleTimeoutError(
            f"schedule '{self.name}' timed out after {format_duration(self.schedule.timeout)}"
            f"{what}; raise its `timeout` in project.yml if runs need longer"
        )


def sync_steps(project: Project, sources: list[str], build_downstream: bool = True) -> list[Step]:
    """One sync step per enabled source (CDC sources apply their waiting changes); without
    `build_downstream`, file/SQL/REST syncs leave the dbt build to the caller."""
    steps = []
    for source in sources:
        config = project.config.sources[source]
        if not config.enabled:
            continue
        parameters: dict[str, Any] = {"source": source}
        if isinstance(config, PostgresCdcSource):
            deployment = f"{RUN_KINDS['cdc']}/{cdc_deployment_name(source)}"
        else:
            deployment = f"{RUN_KINDS['sync']}/{sync_deployment_name(source)}"
            if not build_downstream:
                parameters["build_downstream"] = False
        steps.append(Step(f"sync {source}", deployment, parameters, source=source))
    return steps


def dbt_step(select: str, exclude: str = "", full_refresh: bool = False) -> Step:
    """A dbt build of a selection."""
    label = f"dbt build {select}".strip()
    parameters = {
        "select": select or None,
        "exclude": exclude or None,
        "full_refresh": full_refresh,
    }
    return Step(label, f"{RUN_KINDS['dbt']}/{DBT_BUILD_DEPLOYMENT}", parameters)


def _run_target(runner: ScheduleRunner) -> None:
    """Run the schedule's target; the steps and their states end up in `runner.steps`."""
    schedule, project = runner.schedule, runner.project
    if schedule.kind == "dbt":
        selection = schedule.dbt
        assert selection is not None
        runner.run([dbt_step(selection.select, selection.exclude, selection.full_refresh)])
    elif schedule.kind == "console":
        deployment = f"{RUN_KINDS['console']}/{CONSOLE_DEPLOYMENT}"
        runner.run([Step(f"console {schedule.console}", deployment, {"console": schedule.console})])
    else:
        sources = synced_sources(schedule)
        skipped = [s for s in sources if not project.config.sources[s].enabled]
        if skipped:
            runner.logger.warning("not synced, disabled in project.yml: %s", ", ".join(skipped))
        pipeline = schedule.kind == "pipeline"
        synced = runner.run(sync_steps(project, sources, build_downstream=not pipeline))
        if pipeline:
            done = [step.source for step in synced if step.ok and step.source]
            for source, reason in held_back_sources(project, done).items():
                runner.logger.warning("not built downstream of %s: %s", source, reason)
                done.remove(source)
            if done:
                runner.run([dbt_step(" ".join(f"source:{source}+" for source in done))])
            else:
                runner.logger.warning("no dbt build: no source synced (or all held back)")


@flow(
    name="run_schedule",
    flow_run_name=_run_name,
    validate_parameters=True,
    on_cancellation=[_cancel_children],
    on_crashed=[_cancel_children],
)
def run_schedule(schedule: str, project_file: str | None = None) -> Any:
    """Run schedule `schedule` of project.yml once: its syncs, dbt build, console or
    pipeline, within its timeout and with its retries."""
    project = load_project(project_file)
    config = project.config.all_schedules().get(schedule)
    if config is None:
        known = ", ".join(sorted(project.config.all_schedules())) or "none"
        raise TerminalError(
            f"project.yml has no schedule '{schedule}' (known: {known}); if it was removed, "
            "run `headwater schedules reload` so Prefect stops running it"
        )
    tag_this_run(
        schedule_tag(schedule),
        project_tag(project),
        *(source_tag(source) for source in synced_sources(config)),
    )
    runner = ScheduleRunner(project, schedule, config)
    try:
        _run_target(runner)
    except ScheduleTimeoutError as exc:
        _finish(runner, str(exc))
        return Failed(name="TimedOut", message=str(exc))
    except TerminalError as exc:
        _finish(runner, str(exc))
        raise
    failed = [step for step in runner.steps if not step.ok]
    error = None
    if failed:
        error = f"{len(failed)} of {len(runner.steps)} runs failed: " + "; ".join(
            f"{step.label}: {step.message or step.state}" for step in failed
        )
    _finish(runner, error)
    if error:
        raise TerminalError(f"schedule '{schedule}': {error}")
    return {"schedule": schedule, "kind": config.kind, "runs": _rows(runner)}


def _rows(runner: ScheduleRunner) -> list[dict[str, Any]]:
    return [
        {
            "step": step.label,
            "deployment": step.deployment,
            "run_id": str(step.run_id) if step.run_id else None,
            "state": step.state,
            "attempts": step.attempts,
            "message": step.message if not step.ok else None,
        }
        for step in runner.steps
    ]


def _finish(runner: ScheduleRunner, error: str | None) -> None:
    """The run's table artifact (one row per child run) and its Prefect event."""
    name, project = runner.name, runner.project
    seconds = round(time.monotonic() - runner.started, 3)
    create_table_artifact(
        key=f"schedule-{name.replace('_', '-')}",
        table=_rows(runner) or [{"step": "(nothing to run)", "state": "completed"}],
        description=f"Schedule {name}: {'failed' if error else 'succeeded'} in {seconds:.0f}s",
    )
    emit_event(
        event="headwater.schedule.failed" if error else "headwater.schedule.completed",
        resource={
            "prefect.resource.id": f"headwater.schedule.{project.config.project.name}.{name}",
            "prefect.resource.name": name,
            "headwater.project": project.config.project.name,
        },
        payload={
            "schedule": name,
            "kind": runner.schedule.kind,
            "seconds": seconds,
            "runs": _rows(runner),
            "error": error,
        },
    )

"""Runs of schedules, read from Prefect's REST API: history, last run, next run.

A run of a schedule is a flow run of `run_schedule` tagged `schedule:<name>` (the flow
tags itself when it starts; triggers tag it when they create it). Runs the scheduler
planned but that have not started carry only the deployment's tags: they are found by
deployment and told apart by their `schedule` parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from headwater.config import Project
from headwater.runs import parse_time, prefect_request, project_tag
from headwater.schedules.names import SCHEDULE_FLOW, schedule_of, schedule_tag

FINISHED_STATES = ("COMPLETED", "FAILED", "CANCELLED", "CRASHED")
"""Prefect state types of a run that ended."""


@dataclass(frozen=True)
class ScheduleRun:
    """One run of a schedule."""

    id: str
    """Prefect flow-run id."""
    name: str
    """Flow-run name, e.g. `schedule-nightly-20261122T020000Z`."""
    schedule: str | None
    """The schedule it ran."""
    state: str
    """Prefect state type in lower case (scheduled, running, completed, failed, ...)."""
    state_name: str | None
    """Prefect's state name (`Late`, `TimedOut`, ...)."""
    message: str | None
    """Prefect's state message: the error of a failed run."""
    expected_start_time: datetime | None
    """When it was due."""
    start_time: datetime | None
    """When it started."""
    end_time: datetime | None
    """When it ended."""

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from start to end (to now while running)."""
        if self.start_time is None:
            return None
        return ((self.end_time or datetime.now(UTC)) - self.start_time).total_seconds()

    @property
    def error(self) -> str | None:
        """Why it failed, crashed or was cancelled."""
        return self.message if self.state in {"failed", "crashed", "cancelled"} else None


def schedule_run(raw: dict[str, Any]) -> ScheduleRun:
    """A ScheduleRun from Prefect's flow-run JSON."""
    state = raw.get("state") or {}
    parameters = raw.get("parameters") or {}
    return ScheduleRun(
        id=raw["id"],
        name=raw["name"],
        schedule=parameters.get("schedule") or schedule_of(raw.get("tags") or []),
        state=str(state.get("type") or "unknown").lower(),
        state_name=state.get("name"),
        message=state.get("message"),
        expected_start_time=parse_time(raw.get("expected_start_time")),
        start_time=parse_time(raw.get("start_time")),
        end_time=parse_time(raw.get("end_time")),
    )


def _filter(project: Project, schedule: str | None, states: tuple[str, ...] = ()) -> dict[str, Any]:
    tags = [project_tag(project)] + ([schedule_tag(schedule)] if schedule else [])
    # Runs the scheduler planned for later carry the project tag too: they are not history.
    due = (datetime.now(UTC) + timedelta(seconds=5)).isoformat()
    runs: dict[str, Any] = {"tags": {"all_": tags}, "expected_start_time": {"before_": due}}
    if states:
        runs["state"] = {"type": {"any_": list(states)}}
    return {"flows": {"name": {"any_": [SCHEDULE_FLOW]}}, "flow_runs": runs}


def schedule_history(
    api_url: str,
    project: Project,
    schedule: str | None = None,
    offset: int = 0,
    limit: int = 50,
    states: tuple[str, ...] = (),
) -> tuple[list[ScheduleRun], int]:
    """Runs of `schedule` (of every schedule when None), newest first, and their total."""
    body = _filter(project, schedule, states)
    page = {**body, "sort": "EXPECTED_START_TIME_DESC", "offset": offset, "limit": limit}
    raw = prefect_request(api_url, "/flow_runs/filter", page)
    total = int(prefect_request(api_url, "/flow_runs/count", body))
    return [schedule_run(item) for item in raw], total


def last_run(api_url: str, project: Project, schedule: str) -> ScheduleRun | None:
    """The newest run of `schedule` that started (or ended without starting)."""
    states = (*FINISHED_STATES, "RUNNING", "PENDING", "CANCELLING", "PAUSED")
    runs, _ = schedule_history(api_url, project, schedule, limit=1, states=states)
    return runs[0] if runs else None


def upcoming_runs(api_url: str, deployment_id: str, limit: int = 200) -> dict[str, datetime]:
    """Schedule name -> when its next planned run (of the schedules deployment) is due."""
    body = {
        "flow_runs": {
            "deployment_id": {"any_": [deployment_id]},
            "state": {"type": {"any_": ["SCHEDULED"]}},
            "expected_start_time": {"after_": datetime.now(UTC).isoformat()},
        },
        "sort": "EXPECTED_START_TIME_ASC",
        "limit": limit,
    }
    upcoming: dict[str, datetime] = {}
    for raw in prefect_request(api_url, "/flow_runs/filter", body):
        run = schedule_run(raw)
        if run.schedule and run.expected_start_time and run.schedule not in upcoming:
            upcoming[run.schedule] = run.expected_start_time
    return upcoming


def start_schedule_run(
    api_url: str, project: Project, deployment_id: str, name: str
) -> ScheduleRun:
    """A run of schedule `name` now, outside its timing (the CLI's trigger)."""
    body = {
        "parameters": {"schedule": name},
        "tags": [project_tag(project), schedule_tag(name)],
    }
    raw = prefect_request(api_url, f"/deployments/{deployment_id}/create_flow_run", body)
    return schedule_run(raw)


def read_schedule_run(api_url: str, run_id: str) -> ScheduleRun:
    """Run `run_id` as it is now."""
    return schedule_run(prefect_request(api_url, f"/flow_runs/{run_id}"))

"""run_failed and run_succeeded: flow runs of the project that reached a final state,
found by polling Prefect's REST API from a cursor kept in the metadata DB.

The cursor holds the latest end time read and the states seen near it. Each poll reads runs
that ended since (cursor - OVERLAP_SECONDS), so a run whose end was committed a moment late
is still found, and skips states already seen; the event id is derived from the Prefect
state id, so two processes polling at once (the API and `headwater notifications deliver`)
still send each run once. The first poll of a project looks back INITIAL_LOOKBACK_SECONDS.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from headwater.config import Project
from headwater.notify.delivery import DeliveryResult, publish
from headwater.notify.events import NotificationEvent
from headwater.runs import RUN_KINDS, parse_time, prefect_request, project_tag
from headwater.store import MetadataStore, utcnow
from headwater.store.notifications import NotificationCursor

logger = logging.getLogger("headwater.notify")

CURSOR_NAME = "prefect_runs"
"""The row of notification_cursors the run watcher uses."""

OVERLAP_SECONDS = 120.0
"""How far before the cursor each poll reads again (late-committed ends are not lost)."""

INITIAL_LOOKBACK_SECONDS = 600.0
"""How far back the first poll reads (runs that ended just before the API first started)."""

PAGE_SIZE = 200
MAX_RUNS_PER_POLL = 2000
"""Runs read per poll at most; the rest come with the next poll (the cursor moves in order)."""

FINAL_STATES = {"FAILED": "run_failed", "CRASHED": "run_failed", "COMPLETED": "run_succeeded"}
"""Prefect state type -> event kind (a timed-out run is FAILED with the name TimedOut)."""

RUN_EVENT_KINDS = frozenset(FINAL_STATES.values())

SCHEDULE_FLOW = RUN_KINDS["schedule"]
"""Runs a schedule starts carry its `schedule:<name>` tag; only the schedule's own run (of
this flow) is reported, with its children's errors in its message, so one failure of a
scheduled sync sends one notification, not two."""


@dataclass(frozen=True)
class FinishedRun:
    """A flow run in a final state, as the watcher reads it from Prefect."""

    run_id: str
    run_name: str
    flow_id: str
    state_id: str
    state_type: str
    state_name: str
    message: str | None
    start_time: datetime | None
    end_time: datetime
    tags: tuple[str, ...]

    def tag_values(self, prefix: str) -> list[str]:
        """The values of the run's `<prefix>:<value>` tags, in tag order."""
        marker = f"{prefix}:"
        return [tag[len(marker) :] for tag in self.tags if tag.startswith(marker)]

    def tag_value(self, prefix: str) -> str | None:
        """The value of the run's first `<prefix>:<value>` tag."""
        return next(iter(self.tag_values(prefix)), None)


def _finished(raw: dict[str, Any]) -> FinishedRun | None:
    state = raw.get("state") or {}
    end = parse_time(raw.get("end_time"))
    if end is None or not state.get("id"):
        return None
    return FinishedRun(
        run_id=raw["id"],
        run_name=raw["name"],
        flow_id=raw["flow_id"],
        state_id=state["id"],
        state_type=str(state.get("type")),
        state_name=str(state.get("name") or state.get("type")),
        message=state.get("message"),
        start_time=parse_time(raw.get("start_time")),
        end_time=end,
        tags=tuple(raw.get("tags") or ()),
    )


def finished_runs(api_url: str, tag: str, since: datetime) -> list[FinishedRun]:
    """Runs tagged `tag` that reached a final state at or after `since`, oldest first."""
    runs: list[FinishedRun] = []
    offset = 0
    while offset < MAX_RUNS_PER_POLL:
        body = {
            "flow_runs": {
                "tags": {"all_": [tag]},
                "state": {"type": {"any_": list(FINAL_STATES)}},
                "end_time": {"after_": since.isoformat()},
            },
            "sort": "END_TIME_DESC",
            "limit": PAGE_SIZE,
            "offset": offset,
        }
        page = prefect_request(api_url, "/flow_runs/filter", body)
        runs.extend(run for run in map(_finished, page) if run is not None)
        if len(page) < PAGE_SIZE:
            break
        offset += PAGE_SIZE
    runs.sort(key=lambda run: run.end_time)
    return runs


def _flow_names(api_url: str, flow_ids: set[str]) -> dict[str, str]:
    if not flow_ids:
        return {}
    body = {"flows": {"id": {"any_": sorted(flow_ids)}}, "limit": len(flow_ids)}
    return {flow["id"]: flow["name"] for flow in prefect_request(api_url, "/flows/filter", body)}


def run_event(run: FinishedRun, flow: str) -> NotificationEvent:
    """The run_failed / run_succeeded event of a finished run."""
    kind = FINAL_STATES[run.state_type]
    sources = run.tag_values("source")
    duration = (run.end_time - run.start_time).total_seconds() if run.start_time else None
    verb = "succeeded" if kind == "run_succeeded" else f"failed ({run.state_name})"
    summary = f"{flow} run {run.run_name} {verb}"
    if kind == "run_failed" and run.message:
        summary += f": {run.message.splitlines()[0][:300]}"
    return NotificationEvent(
        kind="run_failed" if kind == "run_failed" else "run_succeeded",
        summary=summary,
        source=sources[0] if sources else None,
        other_sources=tuple(sources[1:]),
        console=run.tag_value("console"),
        details={
            "run_id": run.run_id,
            "run_name": run.run_name,
            "flow": flow,
            "state": run.state_name,
            "message": run.message,
            "duration": duration,
            "sources": sources,
        },
        occurred_at=run.end_time,
        # One event per final state: a re-poll, or a second poller, sends nothing twice.
        id=f"prefect_state_{run.state_id}",
    )


def wants_run_events(project: Project) -> bool:
    """Whether an enabled rule fires on run_failed or run_succeeded (notifications on)."""
    config = project.config.notifications
    return config.enabled and any(
        rule.enabled and RUN_EVENT_KINDS.intersection(rule.events) for rule in config.rules.values()
    )


def watch_runs(
    project: Project, store: MetadataStore, api_url: str, *, retry_within: float = 0.0
) -> list[DeliveryResult]:
    """Publish run_failed / run_succeeded for the project's runs that ended since the last
    poll; the deliveries made. Nothing is read while no enabled rule wants run events (the
    cursor is dropped then, so enabling a rule later does not replay old runs). Raises
    TransientError when Prefect does not answer (the cursor stays: nothing is missed)."""
    if not wants_run_events(project):
        with store.session() as session:
            cursor = session.get(NotificationCursor, CURSOR_NAME)
            if cursor is not None:
                session.delete(cursor)
        return []
    now = utcnow()
    with store.session() as session:
        cursor = session.get(NotificationCursor, CURSOR_NAME)
        position = cursor.position if cursor and cursor.position else None
        seen = set(cursor.seen_ids if cursor else [])
    start = position or now - timedelta(seconds=INITIAL_LOOKBACK_SECONDS)
    runs = finished_runs(api_url, project_tag(project), start - timedelta(seconds=OVERLAP_SECONDS))
    fresh = [run for run in runs if run.state_id not in seen]
    names = _flow_names(api_url, {run.flow_id for run in fresh})
    results: list[DeliveryResult] = []
    for run in fresh:
        seen.add(run.state_id)
        flow = names.get(run.flow_id, "flow")
        if run.tag_value("schedule") and flow != SCHEDULE_FLOW:
            continue  # a schedule's child run: its schedule's run reports it (once)
        event = run_event(run, flow)
        results.extend(publish(project, event, store=store, retry_within=retry_within))
    newest = max([run.end_time for run in runs] + ([position] if position else [start]))
    keep_after = newest - timedelta(seconds=OVERLAP_SECONDS)
    kept = sorted(run.state_id for run in runs if run.end_time >= keep_after)
    with store.session() as session:
        cursor = session.get(NotificationCursor, CURSOR_NAME)
        if cursor is None:
            cursor = NotificationCursor(name=CURSOR_NAME)
            session.add(cursor)
        cursor.position = newest
        # Every run this close to the cursor was read by this poll: the next one re-reads
        # them (overlap) and must skip them.
        cursor.seen_ids = kept
    if fresh:
        logger.info("run watcher: %d finished run(s) published", len(fresh))
    return results


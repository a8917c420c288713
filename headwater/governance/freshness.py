"""Freshness: is each source's last successful sync recent enough?

A source is stale when its last successful sync ended longer ago than its threshold: its
`freshness` setting, or else twice the interval of the fastest enabled schedule that syncs
it (`sources:` or `pipeline:` of `schedules`; a cron's interval is the gap between the fire
times around now, so `0 2 * * 1-5` allows a weekend). Batch CDC sources also count their
own `interval_seconds`. A source with none of these is not monitored.

Reads run history from Prefect over plain HTTP (headwater.runs): no Prefect import, so the
API and the catalog can call it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from headwater.config import Project
from headwater.config.durations import format_duration
from headwater.config.schedules import ScheduleConfig
from headwater.config.sources import PostgresCdcSource
from headwater.runs import RUN_KINDS, RunInfo, parse_time, prefect_request, project_tag, source_tag

FreshnessState = Literal["fresh", "stale", "never_synced", "unmonitored"]
"""fresh / stale against the threshold; never_synced: a threshold but no successful sync
yet; unmonitored: no threshold (or the source is disabled)."""

SYNC_FLOWS = (RUN_KINDS["sync"], RUN_KINDS["cdc"])
"""Flows whose completed runs count as a successful sync of a source."""


@dataclass(frozen=True)
class Freshness:
    """How fresh one source is."""

    source: str
    """Source name."""
    state: FreshnessState
    """fresh, stale, never_synced or unmonitored."""
    stale: bool
    """Whether its last successful sync is older than the threshold."""
    last_success_at: datetime | None
    """When its last successful sync ended."""
    threshold: timedelta | None
    """How old the last successful sync may be (None: not monitored)."""
    threshold_from: str | None
    """Where the threshold comes from: `freshness: 6h`, `2 x schedule nightly (1d)`."""
    reason: str
    """One line for people."""

    @property
    def age(self) -> timedelta | None:
        """Time since the last successful sync ended."""
        return datetime.now(UTC) - self.last_success_at if self.last_success_at else None


def source_freshness(
    project: Project, prefect_api_url: str, now: datetime | None = None
) -> dict[str, Freshness]:
    """Every source's freshness, in project.yml order (one Prefect query per monitored
    source). Raises TransientError when Prefect does not answer."""
    moment = now or datetime.now(UTC)
    result: dict[str, Freshness] = {}
    for name, config in project.config.sources.items():
        if not config.enabled:
            result[name] = Freshness(name, "unmonitored", False, None, None, None,
                                     "disabled (enabled: false): not monitored")
            continue
        threshold = freshness_threshold(project, name, moment)
        if threshold is None:
            result[name] = Freshness(
                name, "unmonitored", False, None, None, None,
                "no `freshness` setting and no enabled schedule syncs it: not monitored",
            )
            continue
        last = last_successful_sync(project, prefect_api_url, name)
        result[name] = judge(name, threshold, last.end_time if last else None, moment)
    return result


def judge(
    source: str,
    threshold: tuple[timedelta, str],
    last_success_at: datetime | None,
    now: datetime,
) -> Freshness:
    """The freshness of `source` given its threshold (limit, where from) and last success."""
    limit, origin = threshold
    if last_success_at is None:
        return Freshness(source, "never_synced", False, None, limit, origin,
                         f"never synced successfully (expected every {_text(limit)}, {origin})")
    age = now - last_success_at
    if age > limit:
        return Freshness(
            source, "stale", True, last_success_at, limit, origin,
            f"last successful sync {_text(age)} ago, older than {_text(limit)} ({origin})",
        )
    return Freshness(source, "fresh", False, last_success_at, limit, origin,
                     f"last successful sync {_text(age)} ago, within {_text(limit)} ({origin})")


def freshness_threshold(
    project: Project, source: str, now: datetime | None = None
) -> tuple[timedelta, str] | None:
    """(how old the last success may be, where that comes from) for `source`, or None."""
    config = project.source(source)
    if config.freshness is not None:
        return config.freshness, f"freshness: {format_duration(config.freshness)}"
    moment = now or datetime.now(UTC)
    candidates: list[tuple[timedelta, str]] = []
    for name, schedule in project.config.all_schedules().items():
        if schedule.enabled and source in (*schedule.sources, *schedule.pipeline):
            interval = schedule_interval(schedule, moment)
            candidates.append((2 * interval, f"2 x schedule {name} ({_text(interval)})"))
    if isinstance(config, PostgresCdcSource) and config.mode == "batch":
        interval = timedelta(seconds=config.interval_seconds)
        candidates.append((2 * interval, f"2 x CDC interval_seconds ({_text(interval)})"))
    return min(candidates, key=lambda candidate: candidate[0]) if candidates else None


def schedule_interval(schedule: ScheduleConfig, now: datetime) -> timedelta:
    """A schedule's interval; for a cron, the gap between its last fire time before `now`
    and its next one (in the schedule's time zone)."""
    if schedule.interval is not None:
        return schedule.interval
    from croniter import croniter

    assert schedule.cron is not None
    start = now.astimezone(ZoneInfo(schedule.timezone))
    previous = croniter(schedule.cron, start).get_prev(datetime)
    following = croniter(schedule.cron, start).get_next(datetime)
    gap: timedelta = following - previous
    return gap


def last_successful_sync(project: Project, prefect_api_url: str, source: str) -> RunInfo | None:
    """The sync (or CDC) run of `source` that completed last, or None."""
    runs = _sync_runs(project, prefect_api_url, source, ["COMPLETED"], "END_TIME_DESC", 1)
    return runs[0] if runs else None


def latest_finished_sync(project: Project, prefect_api_url: str, source: str) -> RunInfo | None:
    """The newest sync (or CDC) run of `source` that ended: completed, failed or crashed."""
    states = ["COMPLETED", "FAILED", "CRASHED"]
    runs = _sync_runs(project, prefect_api_url, source, states, "END_TIME_DESC", 1)
    return runs[0] if runs else None


def _sync_runs(
    project: Project, api_url: str, source: str, states: list[str], sort: str, limit: int
) -> list[RunInfo]:
    body = {
        "flow_runs": {
            "tags": {"all_": [project_tag(project), source_tag(source)]},
            "state": {"type": {"any_": states}},
        },
        "flows": {"name": {"any_": list(SYNC_FLOWS)}},
        "sort": sort,
        "limit": limit,
    }
    return [
        RunInfo(
            id=raw["id"],
            name=raw["name"],
            state=str((raw.get("state") or {}).get("type") or "unknown").lower(),
            state_message=(raw.get("state") or {}).get("message"),
            start_time=parse_time(raw.get("start_time")),
            end_time=parse_time(raw.get("end_time")),
            tags=tuple(raw.get("tags") or ()),
        )
        for raw in prefect_request(api_url, "/flow_runs/filter", body)
    ]


def _text(value: timedelta) -> str:
    """`1d2h`, `15m`, `3s` (sub-second ages show as 0s)."""
    return format_duration(value) if value.total_seconds() >= 1 else "0s"


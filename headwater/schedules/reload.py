"""Apply project.yml's schedules to Prefect: only the difference, by schedule name.

Every schedule is a Prefect deployment schedule of one deployment (`run_schedule/
schedules-<project>`) with `slug` = the schedule's name and `parameters` =
`{"schedule": name}`. Applying reads that deployment's schedules from the server, then
creates the new ones, updates the changed ones and deletes the removed ones. The set of
deployments never changes, so the runner `headwater serve` started (or the pool's workers)
keeps running them without a restart.

Only timing and `enabled` live in Prefect. What a schedule runs, its timeout and retries
are read from project.yml when each run starts, so they need no apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from headwater.config import Project
from headwater.errors import TerminalError
from headwater.prefect_server import api_url as project_api_url
from headwater.runs import prefect_request
from headwater.schedules.names import (
    SCHEDULE_FLOW,
    schedule_deployment,
    schedule_deployment_name,
    synced_sources,
    timing_text,
)
from headwater.schedules.timing import prefect_timing, timing_key
from headwater.schedules.typical import interval_warnings


@dataclass
class ReloadReport:
    """What applying the schedules changed in Prefect."""

    deployment: str
    """The deployment carrying the schedules (`run_schedule/schedules-<project>`)."""
    deployment_id: str
    """Its Prefect id."""
    added: list[str] = field(default_factory=list)
    """Schedules created."""
    changed: dict[str, str] = field(default_factory=dict)
    """Schedules updated -> what changed (`cron 0 2 * * * -> 0 3 * * *`, `disabled`)."""
    removed: list[str] = field(default_factory=list)
    """Schedules deleted (no longer in project.yml)."""
    unchanged: list[str] = field(default_factory=list)
    """Schedules already as project.yml says."""
    warnings: list[str] = field(default_factory=list)
    """Problems worth a look: intervals shorter than the typical run, disabled sources."""
    paused: bool = False
    """The deployment is paused (its runner stopped): nothing runs until it is served."""

    @property
    def changes(self) -> int:
        """How many schedules were added, changed or removed."""
        return len(self.added) + len(self.changed) + len(self.removed)

    def summary(self) -> str:
        """One line: `2 added, 1 changed, 0 removed, 3 unchanged`."""
        return (
            f"{len(self.added)} added, {len(self.changed)} changed, "
            f"{len(self.removed)} removed, {len(self.unchanged)} unchanged"
        )


def desired_schedules(project: Project) -> dict[str, dict[str, Any]]:
    """Schedule name -> the Prefect deployment schedule project.yml asks for."""
    return {
        name: {
            "slug": name,
            "schedule": prefect_timing(schedule),
            "active": schedule.enabled,
            "parameters": {"schedule": name},
        }
        for name, schedule in project.config.all_schedules().items()
    }


def find_schedule_deployment(api_url: str, project: Project) -> dict[str, Any]:
    """The schedules deployment on the server; a TerminalError saying how to register it."""
    body = {
        "flows": {"name": {"any_": [SCHEDULE_FLOW]}},
        "deployments": {"name": {"any_": [schedule_deployment_name(project)]}},
        "limit": 1,
    }
    found = prefect_request(api_url, "/deployments/filter", body)
    if not found:
        raise TerminalError(
            f"deployment {schedule_deployment(project)} is not registered on the Prefect "
            f"server at {api_url}: start `headwater serve` (or run `headwater deploy` with a "
            "work pool), which registers it and applies the schedules"
        )
    deployment: dict[str, Any] = found[0]
    return deployment


def _difference(before: dict[str, Any], after: dict[str, Any], project: Project) -> str:
    """What changed in one schedule, in words."""
    parts = []
    if timing_key(before["schedule"]) != timing_key(after["schedule"]):
        config = project.config.all_schedules()[after["slug"]]
        parts.append(f"now {timing_text(config)}")
    if bool(before.get("active")) != after["active"]:
        parts.append("enabled" if after["active"] else "disabled")
    if (before.get("parameters") or {}) != after["parameters"]:
        parts.append("parameters")
    return ", ".join(parts)


def apply_schedules(project: Project, api_url: str | None = None) -> ReloadReport:
    """Make the schedules deployment's schedules match project.yml (create, update and
    delete only what differs) and report it, with the warnings of `schedule_warnings`.

    `headwater serve`, `headwater deploy`, `headwater schedules reload` and
    `POST /api/schedules/reload` all apply schedules through this function; the
    deployment must exist (serve and deploy register it first)."""
    api = (api_url or project_api_url(project)).rstrip("/")
    deployment = find_schedule_deployment(api, project)
    path = f"/deployments/{deployment['id']}/schedules"
    existing: list[dict[str, Any]] = prefect_request(api, path)
    report = ReloadReport(
        deployment=schedule_deployment(project),
        deployment_id=deployment["id"],
        paused=bool(deployment.get("paused")),
    )
    wanted = desired_schedules(project)
    create = []
    for name, desired in wanted.items():
        current = next((item for item in existing if item.get("slug") == name), None)
        if current is None:
            create.append(desired)
            report.added.append(name)
            continue
        change = _difference(current, desired, project)
        if not change:
            report.unchanged.append(name)
            continue
        prefect_request(api, f"{path}/{current['id']}", desired, method="PATCH")
        report.changed[name] = change
    for item in existing:
        if item.get("slug") not in wanted:  # removed from project.yml, or not Headwater's
            prefect_request(api, f"{path}/{item['id']}", method="DELETE")
            if item.get("slug"):
                report.removed.append(str(item["slug"]))
    if create:
        prefect_request(api, path, create)
    report.warnings = schedule_warnings(project, api)
    return report


def schedule_warnings(project: Project, api_url: str) -> list[str]:
    """What deserves a look in project.yml's schedules, for reload, serve and list: an
    interval shorter than the typical run, a schedule syncing a disabled source."""
    warnings = [str(warning) for warning in interval_warnings(api_url, project)]
    sources = project.config.sources
    for name, schedule in project.config.all_schedules().items():
        disabled = [source for source in synced_sources(schedule) if not sources[source].enabled]
        if schedule.enabled and disabled:
            warnings.append(
                f"schedule '{name}' syncs disabled source {', '.join(disabled)}: it is skipped "
                "(set enabled: true on the source, or take it out of the schedule)"
            )
    return warnings

"""Read flow-run state from Prefect's REST API with plain HTTP.

Importing the Prefect client costs about 5 s on a small machine; reading a few runs over
HTTP costs milliseconds, so read-only commands use this module instead.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from headwater.config import Project
from headwater.errors import TransientError


@dataclass(frozen=True)
class RunInfo:
    """One Prefect flow run, as Headwater shows it."""

    id: str
    """Prefect flow-run id."""
    name: str
    """Flow-run name, e.g. `sync-orders-20261122T101500Z`."""
    state: str
    """Prefect state type in lower case: scheduled, pending, running, completed, failed,
    cancelled, crashed, paused, cancelling."""
    state_message: str | None
    """Prefect's message for the state (the error for failed runs)."""
    start_time: datetime | None
    """When the run started."""
    end_time: datetime | None
    """When the run ended."""
    tags: tuple[str, ...]
    """The run's tags, e.g. `source:orders`."""

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from start to end, when both are known."""
        if self.start_time and self.end_time:
            return (self.end_time - self.start_time).total_seconds()
        return None


RUN_KINDS: dict[str, str] = {
    "sync": "sync_source",
    "dbt": "dbt_build",
    "housekeeping": "warehouse_housekeeping",
    "cdc": "cdc_sync",
    "console": "run_console",
    "schedule": "run_schedule",
}
"""Kind of run -> the Prefect flow that runs it."""

KIND_OF_FLOW: dict[str, str] = {flow: kind for kind, flow in RUN_KINDS.items()}
"""Prefect flow name -> kind of run."""

DBT_BUILD_DEPLOYMENT = "dbt-build"
"""Name of the served deployment of flow `dbt_build`."""


def sync_deployment_name(source: str) -> str:
    """Name of the served deployment that syncs `source` (flow `sync_source`)."""
    return f"sync-{source}"


CONSOLE_DEPLOYMENT = "run-console"
"""Name of the served deployment of flow `run_console` (the console is a parameter)."""


def cdc_deployment_name(source: str) -> str:
    """Name of the served deployment that replicates CDC source `source` (flow `cdc_sync`)."""
    return f"cdc-{source}"


def project_tag(project: Project) -> str:
    """The tag every run of `project` carries: one Prefect server can hold several projects."""
    return f"project:{project.config.project.name}"


def writers_limit_name(project: Project) -> str:
    """The Prefect global concurrency limit capping the project's warehouse writers."""
    return f"{project.config.project.name}-warehouse-writers"


def source_tag(source: str) -> str:
    """The tag every sync run of `source` carries."""
    return f"source:{source}"


def console_tag(console: str) -> str:
    """The tag every run of console `console` carries."""
    return f"console:{console}"


def source_of(tags: list[str] | tuple[str, ...]) -> str | None:
    """The source a run's `source:<name>` tag names, if any."""
    return next((tag.split(":", 1)[1] for tag in tags if tag.startswith("source:")), None)


RETRY_STATUSES = frozenset({429, 502, 503, 504})
"""Answers that mean "busy, ask again": a SQLite-backed Prefect server returns 503 while its
database is locked. Prefect's own client retries the same codes."""


def prefect_request(
    api_url: str,
    path: str,
    body: Any = None,
    attempts: int = 5,
    method: str | None = None,
) -> Any:
    """GET (or POST `body` to, or `method`) `path` of the Prefect API and decode the JSON
    answer (None for an empty one), retrying busy answers with backoff; raise
    TransientError when it stays unreachable."""
    data = json.dumps(body).encode() if body is not None else None
    for attempt in range(attempts):
        request = urllib.request.Request(
            f"{api_url}{path}",
            data=data,
            headers={"Content-Type": "application/json"},
            method=method or ("POST" if data is not None else "GET"),
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw = response.read()
                return json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            if exc.code not in RETRY_STATUSES or attempt == attempts - 1:
                detail = exc.read()[:300].decode(errors="replace")
                raise TransientError(
                    f"the Prefect API at {api_url} answered {exc.code} to {path}"
                    + (f": {detail}" if detail else "")
                ) from None
        except (urllib.error.URLError, OSError) as exc:
            if attempt == attempts - 1:
                message = f"the Prefect API at {api_url} did not answer: {exc}"
                raise TransientError(message) from None
        time.sleep(0.5 * 2**attempt)
    raise AssertionError("unreachable")


def parse_time(value: str | None) -> datetime | None:
    """A time from Prefect's JSON (ISO 8601), or None."""
    return datetime.fromisoformat(value) if value else None


def _run_info(raw: dict[str, Any]) -> RunInfo:
    state = raw.get("state") or {}
    return RunInfo(
        id=raw["id"],
        name=raw["name"],
        state=str(state.get("type") or "unknown").lower(),
        state_message=state.get("message"),
        start_time=parse_time(raw.get("start_time")),
        end_time=parse_time(raw.get("end_time")),
        tags=tuple(raw.get("tags") or ()),
    )


def runs_with_tag(api_url: str, *tags: str, limit: int = 10) -> list[RunInfo]:
    """The newest flow runs carrying every one of `tags`, newest first."""
    body = {
        "flow_runs": {"tags": {"all_": list(tags)}},
        "sort": "EXPECTED_START_TIME_DESC",
        "limit": limit,
    }
    return [_run_info(raw) for raw in prefect_request(api_url, "/flow_runs/filter", body)]


def latest_run(api_url: str, *tags: str) -> RunInfo | None:
    """The newest flow run carrying every one of `tags`, or None."""
    runs = runs_with_tag(api_url, *tags, limit=1)
    return runs[0] if runs else None

"""Prefect's REST API, asynchronously, for the API process.

The API reads run state from Prefect and starts work only by creating flow runs of
deployments. Plain JSON over one pooled httpx client keeps each call to a few
milliseconds; Prefect's Python client would add seconds of import and an object layer
the routes do not need.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import httpx

from headwater.errors import TerminalError, TransientError
from headwater.runs import RETRY_STATUSES

ACTIVE_STATES = ("PENDING", "RUNNING", "CANCELLING", "PAUSED")
"""States of a run that is under way (a scheduled run has not started yet)."""


class PrefectNotFoundError(LookupError):
    """Prefect answered 404: no such run, deployment or flow."""


class PrefectApi:
    """A small async client of the Prefect server's REST API, scoped to one project: every
    run it lists or reads carries `project_tag` (one server can hold several projects)."""

    def __init__(self, api_url: str, project_tag: str, attempts: int = 4) -> None:
        self.api_url = api_url.rstrip("/")
        self.project_tag = project_tag
        self.attempts = attempts
        self._http = httpx.AsyncClient(
            base_url=self.api_url,
            timeout=httpx.Timeout(15.0, connect=3.0),
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        )
        self._flow_names: dict[str, str] = {}

    @property
    def ui_url(self) -> str:
        """The Prefect UI, where people watch runs."""
        return self.api_url.removesuffix("/api")

    async def close(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        """Send one request and decode the JSON answer, retrying busy answers (a SQLite-backed
        server answers 503 while its database is locked)."""
        for attempt in range(self.attempts):
            try:
                response = await self._http.request(method, path, json=body)
            except httpx.HTTPError as exc:
                if attempt == self.attempts - 1:
                    raise TransientError(
                        f"the Prefect API at {self.api_url} did not answer: {exc!r}"
                    ) from None
            else:
                if response.status_code == 404:
                    raise PrefectNotFoundError(path)
                if response.status_code < 400:
                    return response.json() if response.content else None
                if response.status_code not in RETRY_STATUSES:
                    raise TerminalError(
                        f"the Prefect API at {self.api_url} refused {method} {path} "
                        f"({response.status_code}): {response.text[:300]}"
                    )
                if attempt == self.attempts - 1:
                    raise TransientError(
                        f"the Prefect API at {self.api_url} answered "
                        f"{response.status_code} to {method} {path}: {response.text[:300]}"
                    )
            await asyncio.sleep(0.2 * 2**attempt)
        raise AssertionError("unreachable")

    async def healthy(self) -> bool:
        """Whether the server answers its health check."""
        try:
            return bool(await self.request("GET", "/health"))
        except (TransientError, PrefectNotFoundError):
            return False

    async def flow_runs(
        self,
        flow_names: list[str] | None = None,
        tags: list[str] | None = None,
        states: list[str] | None = None,
        idempotency_key: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """Flow runs matching the filters, newest first."""
        body = {
            **_run_filter(flow_names, [self.project_tag, *(tags or [])], states, idempotency_key),
            "sort": "EXPECTED_START_TIME_DESC",
            "offset": offset,
            "limit": limit,
        }
        runs: list[dict[str, Any]] = await self.request("POST", "/flow_runs/filter", body)
        return runs

    async def count_flow_runs(
        self,
        flow_names: list[str] | None = None,
        tags: list[str] | None = None,
        states: list[str] | None = None,
    ) -> int:
        """How many flow runs match the filters."""
        body = _run_filter(flow_names, [self.project_tag, *(tags or [])], states, None)
        return int(await self.request("POST", "/flow_runs/count", body))

    async def flow_run(self, run_id: str) -> dict[str, Any]:
        """One flow run of the project; PrefectNotFoundError when there is none."""
        run: dict[str, Any] = await self.request("GET", f"/flow_runs/{run_id}")
        if self.project_tag not in (run.get("tags") or []):
            raise PrefectNotFoundError(f"/flow_runs/{run_id}")
        return run

    async def flow_name(self, flow_id: str) -> str:
        """The name of flow `flow_id` (cached: flows are never renamed)."""
        if flow_id not in self._flow_names:
            flow = await self.request("GET", f"/flows/{flow_id}")
            self._flow_names[flow_id] = flow["name"]
        return self._flow_names[flow_id]

    async def deployment(self, flow_name: str, deployment_name: str) -> dict[str, Any]:
        """Deployment `flow_name/deployment_name`; PrefectNotFoundError when not served."""
        deployment: dict[str, Any] = await self.request(
            "GET", f"/deployments/name/{flow_name}/{deployment_name}"
        )
        return deployment

    async def create_flow_run(
        self,
        deployment_id: str,
        parameters: dict[str, Any],
        idempotency_key: str | None = None,
        tags: list[str] | None = None,
    ) -> dict[str, Any]:
        """A new flow run of the deployment (or, for a known idempotency key, the run that
        key created before)."""
        body: dict[str, Any] = {"parameters": parameters, "tags": [self.project_tag, *(tags or [])]}
        if idempotency_key:
            body["idempotency_key"] = idempotency_key
        run: dict[str, Any] = await self.request(
            "POST", f"/deployments/{deployment_id}/create_flow_run", body
        )
        return run

    async def set_state(self, run_id: str, state_type: str, message: str) -> dict[str, Any]:
        """Force flow run `run_id` into `state_type` (CANCELLING, CANCELLED, ...)."""
        body = {
            "state": {"type": state_type, "name": state_type.title(), "message": message},
            "force": True,
        }
        result: dict[str, Any] = await self.request("POST", f"/flow_runs/{run_id}/set_state", body)
        return result

    async def logs(self, run_id: str, offset: int, limit: int) -> list[dict[str, Any]]:
        """Log lines of flow run `run_id` (its tasks' too), oldest first."""
        body = {
            "logs": {"flow_run_id": {"any_": [run_id]}},
            "sort": "TIMESTAMP_ASC",
            "offset": offset,
            "limit": limit,
        }
        logs: list[dict[str, Any]] = await self.request("POST", "/logs/filter", body)
        return logs

    async def artifacts(self, run_id: str) -> list[dict[str, Any]]:
        """Artifacts flow run `run_id` created."""
        body = {"artifacts": {"flow_run_id": {"any_": [run_id]}}, "sort": "CREATED_DESC"}
        artifacts: list[dict[str, Any]] = await self.request("POST", "/artifacts/filter", body)
        return artifacts

    async def events(
        self, since: datetime, prefixes: list[str], limit: int = 50
    ) -> list[dict[str, Any]]:
        """Events whose name starts with one of `prefixes`, occurred at or after `since`,
        oldest first (at most 50: Prefect's page size)."""
        body = {
            "filter": {
                "occurred": {"since": since.isoformat()},
                "event": {"prefix": prefixes},
                "order": "ASC",
            },
            "limit": limit,
        }
        page = await self.request("POST", "/events/filter", body)
        events: list[dict[str, Any]] = page["events"]
        return events


def _run_filter(
    flow_names: list[str] | None,
    tags: list[str] | None,
    states: list[str] | None,
    idempotency_key: str | None,
) -> dict[str, Any]:
    run_filter: dict[str, Any] = {}
    if tags:
        run_filter["tags"] = {"all_": tags}
    if states:
        run_filter["state"] = {"type": {"any_": states}}
    if idempotency_key:
        run_filter["idempotency_key"] = {"any_": [idempotency_key]}
    body: dict[str, Any] = {"flow_runs": run_filter}
    if flow_names:
        body["flows"] = {"name": {"any_": flow_names}}
    return body

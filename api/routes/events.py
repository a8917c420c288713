"""`GET /api/events`: server-sent events for sync, dbt and console runs starting and ending.

Read from Prefect's event store, so every run shows, however it was started (API, CLI,
schedule, the Prefect UI). Each SSE `id` is `<occurred>~<event id>`: a client that
reconnects with `Last-Event-ID` resumes after the last event it saw.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from api.access import GuardedRoute, requires
from api.deps import AppContext, Context
from api.errors import ApiError
from headwater.errors import TransientError
from headwater.runs import KIND_OF_FLOW, source_of

router = APIRouter(route_class=GuardedRoute, tags=["events"])

POLL_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
# Prefect stores events a moment after they occur: look back this far on every poll and
# skip the ids already sent, so a late arrival is not missed.
LOOKBACK = timedelta(seconds=15)
PAGE = 50
"""Prefect's largest page of events."""
_RUN_STATES = {"Running", "Completed", "Failed", "Crashed", "Cancelled"}


def _parse_event_id(value: str) -> tuple[datetime, str]:
    occurred, _, event_id = value.partition("~")
    try:
        moment = datetime.fromisoformat(occurred)
    except ValueError:
        raise ApiError(
            400, "Last-Event-ID is not an id this stream sent", "invalid_event_id"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC), event_id


def _related(event: dict[str, Any], role: str) -> dict[str, Any] | None:
    return next(
        (r for r in event.get("related", []) if r.get("prefect.resource.role") == role), None
    )


def to_message(event: dict[str, Any], project_tag: str) -> dict[str, Any] | None:
    """The SSE message for a Prefect event of this project, or None when the stream does
    not show it."""
    name: str = event["event"]
    tags = [
        r["prefect.resource.id"].removeprefix("prefect.tag.")
        for r in event.get("related", [])
        if r.get("prefect.resource.role") == "tag"
    ]
    if name.startswith("prefect.flow-run."):
        if project_tag not in tags:
            return None
        state = name.removeprefix("prefect.flow-run.")
        flow = _related(event, "flow")
        flow_name = flow.get("prefect.resource.name") if flow else None
        if state not in _RUN_STATES or flow_name not in KIND_OF_FLOW:
            return None
        return {
            "type": f"run.{state.lower()}",
            "run_id": event["resource"]["prefect.resource.id"].removeprefix("prefect.flow-run."),
            "run_name": event["resource"].get("prefect.resource.name"),
            "kind": KIND_OF_FLOW[flow_name],
            "source": source_of(tags),
            "state": state.lower(),
            "message": (event.get("payload") or {}).get("validated_state", {}).get("message"),
        }
    if f"project:{event['resource'].get('headwater.project')}" != project_tag:
        return None
    flow_run = _related(event, "flow-run")
    return {
        "type": name.removeprefix("headwater."),
        "run_id": flow_run["prefect.resource.id"].removeprefix("prefect.flow-run.")
        if flow_run
        else None,
        "payload": event.get("payload") or {},
    }


async def stream(
    context: AppContext,
    request: Request,
    after: tuple[datetime, str] | None,
    max_seconds: float | None,
) -> AsyncIterator[str]:
    """SSE lines: events after `after` (or from now), until the client leaves or
    `max_seconds` pass."""
    cursor = after[0] if after else datetime.now(UTC)
    sent: dict[str, datetime] = {after[1]: after[0]} if after else {}
    resumed_from = after[0] if after else None
    started = last_write = time.monotonic()
    yield "retry: 3000\n\n"
    while max_seconds is None or time.monotonic() - started < max_seconds:
        if await request.is_disconnected():
            return
        since = cursor if resumed_from is not None else cursor - LOOKBACK
        try:
            events = await context.prefect.events(since, ["prefect.flow-run.", "headwater."], PAGE)
        except TransientError:
            events = []
        for event in events:
            occurred = datetime.fromisoformat(event["occurred"])
            if event["id"] in sent or (resumed_from is not None and occurred < resumed_from):
                continue
            sent[event["id"]] = occurred
            cursor = max(cursor, occurred)
            message = to_message(event, context.prefect.project_tag)
            if message is None:
                continue
            message["occurred"] = event["occurred"]
            last_write = time.monotonic()
            yield (
                f"id: {event['occurred']}~{event['id']}\nevent: {message['type']}\n"
                f"data: {json.dumps(message, default=str)}\n\n"
            )
        resumed_from = None
        horizon = cursor - LOOKBACK * 2
        sent = {key: moment for key, moment in sent.items() if moment >= horizon}
        if time.monotonic() - last_write > KEEPALIVE_SECONDS:
            last_write = time.monotonic()
            yield ": keepalive\n\n"
        if len(events) < PAGE:
            await asyncio.sleep(POLL_SECONDS)


@router.get(
    "/api/events",
    openapi_extra=requires("source.view"),
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def events(
    context: Context,
    request: Request,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    max_seconds: Annotated[
        float | None, Query(gt=0, le=3600, description="Close the stream after this long.")
    ] = None,
) -> StreamingResponse:
    """Server-sent events: `run.running`, `run.completed`, `run.failed`, `run.crashed`,
    `run.cancelled` for sync, dbt and housekeeping runs, and Headwater's own events
    (`sync.completed`, `sync.failed`, `dbt.completed`, ...) with their payloads."""
    after = _parse_event_id(last_event_id) if last_event_id else None
    return StreamingResponse(
        stream(context, request, after, max_seconds),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )

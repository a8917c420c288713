"""Tags and names of the running flow run, so runs started from the CLI, a deployment or the
API carry the same ones (the API and `headwater status` find runs by them)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from prefect.context import get_run_context
from prefect.runtime import flow_run

from headwater.config import Project


def tag_this_run(*tags: str) -> None:
    """Add `tags` to the current flow run (those it lacks)."""
    context = get_run_context()
    run = getattr(context, "flow_run", None)
    if run is None:
        return
    missing = [tag for tag in tags if tag not in (run.tags or [])]
    if not missing:
        return
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.update_flow_run(run.id, tags=[*(run.tags or []), *missing])


def source_run_name(kind: str) -> Callable[[], str]:
    """A `flow_run_name` for flows of one source: `<kind>-<source>-<UTC timestamp>`."""

    def name() -> str:
        source = flow_run.parameters.get("source", "unknown")
        return f"{kind}-{source}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"

    return name


def source_resource(project: Project, source: str) -> dict[str, str]:
    """The Prefect event resource of a source: sync and CDC events of it share it."""
    return {
        "prefect.resource.id": f"headwater.source.{source}",
        "prefect.resource.name": source,
        "headwater.project": project.config.project.name,
    }

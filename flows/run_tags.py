"""Tags on the running flow run, so runs started from the CLI, a deployment or the API
carry the same ones (the API and `headwater status` find runs by them)."""

from __future__ import annotations

from prefect.context import get_run_context


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

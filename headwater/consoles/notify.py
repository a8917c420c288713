"""The notification a console run sends when its assertions fail."""

from __future__ import annotations

from headwater.config import Project
from headwater.consoles.runner import ConsoleOutcome
from headwater.notify import NotificationEvent, publish


def assertion_failure_event(
    outcome: ConsoleOutcome, flow_run_id: str | None
) -> NotificationEvent | None:
    """The `console_assertion_failed` event for `outcome`, or None when none failed."""
    failed = outcome.failed_assertions
    if not failed:
        return None
    return NotificationEvent(
        kind="console_assertion_failed",
        summary=f"console {outcome.console}: {len(failed)} assertion"
        f"{'s' if len(failed) > 1 else ''} failed: "
        + "; ".join(result.message for result in failed),
        console=outcome.console,
        details={
            "flow_run_id": flow_run_id,
            "rows": outcome.row_count,
            "assertions": [result.as_dict() for result in outcome.assertions],
        },
    )


def notify_assertion_failure(
    project: Project, outcome: ConsoleOutcome, flow_run_id: str | None
) -> NotificationEvent | None:
    """Publish the `console_assertion_failed` event when assertions failed (publishing
    never raises); returns the event published, if any."""
    event = assertion_failure_event(outcome, flow_run_id)
    if event is not None:
        publish(project, event)
    return event

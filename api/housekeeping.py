"""In-process housekeeping of the API (APScheduler, as DESIGN.md chooses for this):
ended sessions and sign-in challenges are deleted once they are a month old; notification
retries that are due are sent, and finished Prefect runs become run_failed / run_succeeded
notifications."""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler

from headwater.auth.sessions import purge_expired
from headwater.config import Project
from headwater.errors import TransientError
from headwater.notify import deliver_due
from headwater.notify.runs import watch_runs
from headwater.store import MetadataStore

logger = logging.getLogger("headwater.api")

PURGE_EVERY_HOURS = 6
DELIVER_EVERY_SECONDS = 5
"""How often due notification retries are sent."""
WATCH_RUNS_EVERY_SECONDS = 10
"""How often Prefect is asked for runs that finished (run_failed / run_succeeded)."""


def _purge(store: MetadataStore) -> None:
    try:
        with store.session() as session:
            removed = purge_expired(session)
    except Exception:  # a busy DB now is no reason to stop the scheduler
        logger.warning("purging ended sessions failed; retrying later", exc_info=True)
        return
    if removed:
        logger.info("purged %d ended sessions and sign-in challenges", removed)


def _deliver(project: Project, store: MetadataStore) -> None:
    try:
        deliver_due(project, store)
    except Exception:  # a busy DB now is no reason to stop the scheduler
        logger.warning("sending due notifications failed; retrying later", exc_info=True)


def _watch_runs(project: Project, store: MetadataStore, prefect_url: str) -> None:
    try:
        watch_runs(project, store, prefect_url)
    except TransientError as exc:  # Prefect restarting: the cursor stays, nothing is lost
        logger.warning("reading finished runs for notifications failed: %s", exc)
    except Exception:
        logger.warning("reading finished runs for notifications failed", exc_info=True)


def _add_notification_jobs(
    scheduler: BackgroundScheduler, project: Project, store: MetadataStore, prefect_url: str
) -> None:
    for job, seconds, args in (
        (_deliver, DELIVER_EVERY_SECONDS, [project, store]),
        (_watch_runs, WATCH_RUNS_EVERY_SECONDS, [project, store, prefect_url]),
    ):
        scheduler.add_job(
            job,
            "interval",
            seconds=seconds,
            args=args,
            id=f"notifications{job.__name__}",
            coalesce=True,
            max_instances=1,
        )


def start_housekeeping(
    store: MetadataStore, project: Project | None = None, prefect_url: str | None = None
) -> BackgroundScheduler:
    """Start the API's housekeeping jobs in a background thread; call `.shutdown()` on exit.
    With `project` and `prefect_url`, notification retries and the run watcher run too."""
    scheduler = BackgroundScheduler(daemon=True)
    if project is not None and prefect_url is not None:
        _add_notification_jobs(scheduler, project, store, prefect_url)
    scheduler.add_job(
        _purge,
        "interval",
        hours=PURGE_EVERY_HOURS,
        args=[store],
        id="purge-sessions",
        coalesce=True,
        max_instances=1,
    )
    scheduler.start()
    return scheduler

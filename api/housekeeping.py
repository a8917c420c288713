"""In-process housekeeping of the API (APScheduler, as DESIGN.md chooses for this):
ended sessions and sign-in challenges are deleted once they are a month old."""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler

from headwater.auth.sessions import purge_expired
from headwater.store import MetadataStore

logger = logging.getLogger("headwater.api")

PURGE_EVERY_HOURS = 6


def _purge(store: MetadataStore) -> None:
    try:
        with store.session() as session:
            removed = purge_expired(session)
    except Exception:  # a busy DB now is no reason to stop the scheduler
        logger.warning("purging ended sessions failed; retrying later", exc_info=True)
        return
    if removed:
        logger.info("purged %d ended sessions and sign-in challenges", removed)


def start_housekeeping(store: MetadataStore) -> BackgroundScheduler:
    """Start the API's housekeeping jobs in a background thread; call `.shutdown()` on exit."""
    scheduler = BackgroundScheduler(daemon=True)
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

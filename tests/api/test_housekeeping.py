"""The API's housekeeping job: ended sessions are purged from the metadata DB."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from api.housekeeping import _purge
from headwater.store.models import LoginSession
from headwater.store.types import utcnow

pytestmark = pytest.mark.anyio


async def test_purge_deletes_sessions_that_ended_a_month_ago(
    app: FastAPI, admin_client: httpx.AsyncClient
) -> None:
    store = app.state.context.store
    with store.session() as db:
        db.execute(update(LoginSession).values(expires_at=utcnow() - timedelta(days=31)))
        assert db.scalar(select(func.count()).select_from(LoginSession)) == 1
    _purge(store)
    with store.session() as db:
        assert db.scalar(select(func.count()).select_from(LoginSession)) == 0

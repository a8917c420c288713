"""Sign-in end to end: setup, login and logout, cookies, lockout, sessions, passwords,
the login rate limit and the audit log, through the real app and metadata DB."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from api.audit import AuditMiddleware
from headwater.store import AuditEntry, MetadataStore, User, utcnow
from tests.api.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    USER_PASSWORD,
    api_client,
    bearer_headers,
    invite_and_sign_in,
    running_app,
    sign_in,
)
from tests.conftest import MakeProject

pytestmark = pytest.mark.anyio


def _audit(app: FastAPI, action: str) -> list[AuditEntry]:
    with app.state.context.store.session() as db:
        return list(
            db.scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            )
        )


async def test_setup_once_then_sign_in_and_out(client: httpx.AsyncClient, app: FastAPI) -> None:
    assert (await client.get("/api/auth/status")).json()["setup_needed"] is True
    assert (await client.get("/api/auth/me")).status_code == 401

    short = await client.post("/api/auth/setup", json={"email": ADMIN_EMAIL, "password": "short"})
    assert short.status_code == 400
    assert short.json()["code"] == "weak_password"
    assert "at least 12" in short.json()["detail"]

    made = await client.post(
        "/api/auth/setup", json={"email": " Admin@Example.com ", "password": ADMIN_PASSWORD}
    )
    assert made.status_code == 201, made.text
    assert made.json()["email"] == ADMIN_EMAIL
    assert made.json()["role"] == "admin"
    assert (await client.get("/api/auth/status")).json()["setup_needed"] is False

    again = await client.post(
        "/api/auth/setup", json={"email": "other@example.com", "password": ADMIN_PASSWORD}
    )
    assert again.status_code == 409
    assert again.json()["code"] == "setup_done"

    response = await sign_in(client, ADMIN_EMAIL.upper(), ADMIN_PASSWORD)
    assert set(response.json()) == {"two_factor_required", "user", "session_expires_at"}
    assert response.json()["two_factor_required"] is False
    assert response.json()["user"]["display_name"] is None
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("hw_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Max-Age=43200" in cookie  # auth.session_hours defaults to 12
    assert "Secure" not in cookie

    me = (await client.get("/api/auth/me")).json()
    assert me["email"] == ADMIN_EMAIL
    assert me["auth_method"] == "session"
    assert "users.manage" in me["permissions"]

    out = await client.post("/api/auth/logout")
    assert out.status_code == 204
    assert 'hw_session=""' in out.headers["set-cookie"]
    assert (await client.get("/api/auth/me")).status_code == 401


async def test_wrong_password_and_unknown_email_answer_alike(
    client: httpx.AsyncClient, admin_client: httpx.AsyncClient
) -> None:
    wrong = await client.post(
        "/api/auth/login", json={"email": ADMIN_EMAIL, "password": "not-the-password"}
    )
    unknown = await client.post(
        "/api/auth/login", json={"email": "nobody@example.com", "password": "not-the-password"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json()
        == unknown.json()
        == {
            "detail": "wrong email or password",
            "code": "invalid_credentials",
        }
    )
    extra = await client.post(
        "/api/auth/login", json={"email": ADMIN_EMAIL, "password": "x" * 12, "remember": True}
    )
    assert extra.status_code == 422
    assert "remember" in extra.json()["detail"]


async def test_lockout_after_five_failures_then_unlock(
    app: FastAPI, client: httpx.AsyncClient, admin_client: httpx.AsyncClient
) -> None:
    async with api_client(app, "127.0.0.5") as user:
        user_id = await invite_and_sign_in(app, admin_client, user, "ann@example.com", "viewer")
    attempt = {"email": "ann@example.com", "password": "wrong-password-00"}
    for _ in range(4):
        assert (await client.post("/api/auth/login", json=attempt)).status_code == 401
    locking = await client.post("/api/auth/login", json=attempt)
    assert locking.status_code == 403
    assert locking.json()["code"] == "account_locked"
    assert "locked" in locking.json()["detail"] and "UTC" in locking.json()["detail"]

    # Locked: the right password gets the same answer as a wrong one.
    right = await client.post(
        "/api/auth/login", json={"email": "ann@example.com", "password": USER_PASSWORD}
    )
    assert right.status_code == 403
    assert right.json() == locking.json()
    listed = (await admin_client.get(f"/api/admin/users/{user_id}")).json()
    assert listed["status"] == "locked"

    unlocked = await admin_client.post(f"/api/admin/users/{user_id}/unlock")
    assert unlocked.status_code == 200
    assert unlocked.json()["status"] == "active"
    await sign_in(client, "ann@example.com", USER_PASSWORD)

    # A lockout also ends by itself once its time has passed.
    with app.state.context.store.session() as db:
        db.get(User, user_id).locked_until = utcnow() - timedelta(seconds=1)
    await sign_in(client, "ann@example.com", USER_PASSWORD)

    failures = [e for e in _audit(app, "POST /api/auth/login") if e.status_code != 200]
    assert [e.status_code for e in failures] == [401, 401, 401, 401, 403, 403]
    assert {e.user_email for e in failures} == {"ann@example.com"}
    assert {e.client_address for e in failures} == {"127.0.0.1"}


async def test_sessions_listed_and_revoked(app: FastAPI, admin_client: httpx.AsyncClient) -> None:
    async with api_client(app, "127.0.0.6") as laptop:
        await sign_in(laptop, ADMIN_EMAIL, ADMIN_PASSWORD)
        listed = (await admin_client.get("/api/auth/sessions")).json()
        assert listed["total"] == 2
        current = [s for s in listed["items"] if s["current"]]
        other = [s for s in listed["items"] if not s["current"]]
        assert len(current) == len(other) == 1
        assert other[0]["client_address"] == "127.0.0.6"

        assert (await laptop.get("/api/auth/me")).status_code == 200
        gone = await admin_client.delete(f"/api/auth/sessions/{other[0]['id']}")
        assert gone.status_code == 204
        assert (await laptop.get("/api/auth/me")).status_code == 401
        assert (await admin_client.get("/api/auth/me")).status_code == 200

        again = await admin_client.delete(f"/api/auth/sessions/{other[0]['id']}")
        assert again.status_code == 404
        assert again.json()["code"] == "session_not_found"

        # A session that has run out of time is no longer a session.
        await sign_in(laptop, ADMIN_EMAIL, ADMIN_PASSWORD)
        with app.state.context.store.session() as db:
            user = db.scalar(select(User).where(User.email == ADMIN_EMAIL))
            newest = max(user.sessions, key=lambda s: s.id)
            newest.expires_at = utcnow() - timedelta(seconds=1)
        # Changed behind the API's back: it trusts a verified credential for a moment.
        app.state.context.principals.clear()
        assert (await laptop.get("/api/auth/me")).status_code == 401
        assert (await laptop.get("/api/auth/status")).status_code == 200  # public still works


async def test_change_password_signs_out_other_sessions(
    app: FastAPI, admin_client: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    await sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    new = "a-much-better-password"
    wrong = await admin_client.post(
        "/api/auth/change-password",
        json={"current_password": "not-it-at-all", "new_password": new},
    )
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "wrong_password"
    short = await admin_client.post(
        "/api/auth/change-password",
        json={"current_password": ADMIN_PASSWORD, "new_password": "short"},
    )
    assert short.status_code == 400
    assert "at least 12" in short.json()["detail"]

    changed = await admin_client.post(
        "/api/auth/change-password", json={"current_password": ADMIN_PASSWORD, "new_password": new}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"sessions_revoked": 1}
    assert (await admin_client.get("/api/auth/me")).status_code == 200
    assert (await client.get("/api/auth/me")).status_code == 401

    old = await client.post(
        "/api/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    assert old.status_code == 401
    await sign_in(client, ADMIN_EMAIL, new)


async def test_login_rate_limit_answers_429_with_retry_after(
    client: httpx.AsyncClient, admin_client: httpx.AsyncClient, app: FastAPI
) -> None:
    attempt = {"email": "nobody@example.com", "password": "wrong-password-00"}
    limit = app.state.context.project.config.auth.login_rate_limit_per_minute
    for _ in range(limit):
        assert (await client.post("/api/auth/login", json=attempt)).status_code == 401
    limited = await client.post("/api/auth/login", json=attempt)
    assert limited.status_code == 429
    assert limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    # Per address: the admin, elsewhere, is not held back.
    assert (await admin_client.get("/api/auth/me")).status_code == 200
    assert _audit(app, "POST /api/auth/login")[-1].status_code == 429


async def test_secure_cookie_and_session_length_follow_project_yml(
    make_project: MakeProject,
) -> None:
    project = make_project(
        """
        project:
          name: secure
        auth:
          secure_cookies: true
          session_hours: 1.5
        """
    )
    async with running_app(project) as app, api_client(app) as http:
        setup = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        assert (await http.post("/api/auth/setup", json=setup)).status_code == 201
        cookie = (await sign_in(http, ADMIN_EMAIL, ADMIN_PASSWORD)).headers["set-cookie"]
        assert "Secure" in cookie
        assert "Max-Age=5400" in cookie


async def test_audit_log_records_who_what_where(
    app: FastAPI, admin_client: httpx.AsyncClient, admin_key: str, client: httpx.AsyncClient
) -> None:
    made = await client.post(
        "/api/admin/users",
        json={"email": "bob@example.com", "role": "editor"},
        headers=bearer_headers(admin_key),
    )
    assert made.status_code == 201
    await client.post("/api/auth/login", json={"email": "bob@example.com", "password": "x" * 12})
    assert (await client.get("/api/auth/status")).status_code == 200  # reads are not audited

    page = (await admin_client.get("/api/admin/audit", params={"action": "admin/users"})).json()
    assert page["total"] == 1
    entry = page["items"][0]
    assert entry["action"] == "POST /api/admin/users"
    assert entry["user_email"] == ADMIN_EMAIL
    assert entry["api_key_id"] is not None
    assert entry["client_address"] == "127.0.0.1"
    assert entry["status_code"] == 201

    by_user = (await admin_client.get("/api/admin/audit", params={"email": "bob@"})).json()
    assert [(e["action"], e["status_code"], e["detail"]) for e in by_user["items"]] == [
        ("POST /api/auth/login", 401, "invalid_credentials")
    ]
    await admin_client.patch(f"/api/admin/users/{made.json()['id']}", json={"role": "viewer"})
    patched = (await admin_client.get("/api/admin/audit", params={"action": "PATCH"})).json()
    assert patched["items"][0]["detail"] == "role editor -> viewer"
    assert patched["items"][0]["path"] == f"/api/admin/users/{made.json()['id']}"
    assert patched["items"][0]["action"] == "PATCH /api/admin/users/{user_id}"
    assert all(
        e["action"] != "GET /api/auth/status"
        for e in (await admin_client.get("/api/admin/audit", params={"limit": 100})).json()["items"]
    )
    assert (await admin_client.get("/api/admin/audit", params={"limit": 101})).status_code == 422


async def test_audit_middleware_streams_and_records_crashes(make_project: MakeProject) -> None:
    """The audit entry is written when the answer starts, while a streamed body still
    flows (nothing is buffered), and a crash is recorded as 500."""
    store = MetadataStore.open(make_project("project:\n  name: audit\n"))
    host = FastAPI()
    host.state.context = SimpleNamespace(store=store)
    host.add_middleware(AuditMiddleware)
    seen_while_streaming: list[int] = []

    @host.post("/stream")
    async def stream() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b"first\n"
            with store.session() as db:
                seen_while_streaming.append(len(db.scalars(select(AuditEntry)).all()))
            yield b"second\n"

        return StreamingResponse(body(), media_type="text/plain")

    @host.delete("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    transport = httpx.ASGITransport(app=host, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            assert (await http.post("/stream")).text == "first\nsecond\n"
            assert (await http.delete("/boom")).status_code == 500
            assert (await http.get("/stream")).status_code == 405  # reads are not audited
        assert seen_while_streaming == [1]
        with store.session() as db:
            rows = db.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
            assert [(r.action, r.status_code) for r in rows] == [
                ("POST /stream", 200),
                ("DELETE /boom", 500),
            ]
    finally:
        store.close()

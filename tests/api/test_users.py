"""Managing users end to end: invitations, roles and their permissions, deactivation,
session revocation, deletion, and the last admin who cannot be removed."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from headwater.store import Invitation, utcnow
from tests.api.conftest import (
    ADMIN_EMAIL,
    USER_PASSWORD,
    api_client,
    bearer_headers,
    invite,
    invite_and_sign_in,
    sign_in,
)

pytestmark = pytest.mark.anyio


async def test_invite_accept_and_role_permissions(
    app: FastAPI,
    admin_client: httpx.AsyncClient,
    editor_key: str,
    viewer_key: str,
    client: httpx.AsyncClient,
) -> None:
    listed = (await admin_client.get("/api/admin/users")).json()
    assert listed["total"] == 3
    assert [(u["email"], u["role"], u["status"]) for u in listed["items"]] == [
        (ADMIN_EMAIL, "admin", "active"),
        ("editor@example.com", "editor", "active"),
        ("viewer@example.com", "viewer", "active"),
    ]
    page = (await admin_client.get("/api/admin/users", params={"skip": 1, "limit": 1})).json()
    assert page["total"] == 3 and [u["role"] for u in page["items"]] == ["editor"]

    viewer = (await client.get("/api/auth/me", headers=bearer_headers(viewer_key))).json()
    assert sorted(viewer["permissions"]) == [
        "governance.view",
        "query.execute",
        "scheduler.view",
        "source.view",
    ]
    editor = (await client.get("/api/auth/me", headers=bearer_headers(editor_key))).json()
    assert {"source.sync", "dbt.run", "console.manage"} <= set(editor["permissions"])
    assert "users.manage" not in editor["permissions"]

    for key in (viewer_key, editor_key):
        for call in (
            client.get("/api/admin/users", headers=bearer_headers(key)),
            client.post(
                "/api/admin/users",
                json={"email": "x@example.com", "role": "admin"},
                headers=bearer_headers(key),
            ),
            client.get("/api/admin/audit", headers=bearer_headers(key)),
            # 403 before anything else: even for a user that does not exist.
            client.delete("/api/admin/users/999", headers=bearer_headers(key)),
        ):
            answer = await call
            assert answer.status_code == 403, answer.text
            assert "users.manage" in answer.json()["detail"]
    assert (await client.get("/api/admin/users")).status_code == 401


async def test_invitations_are_single_use_and_expire(
    app: FastAPI, admin_client: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    user_id, token = await invite(admin_client, "new@example.com", "viewer")
    assert (await admin_client.get(f"/api/admin/users/{user_id}")).json()["status"] == "invited"
    # No password yet: nobody can sign in as them.
    no = await client.post("/api/auth/login", json={"email": "new@example.com", "password": ""})
    assert no.status_code == 401

    duplicate = await admin_client.post(
        "/api/admin/users", json={"email": "NEW@example.com", "role": "editor"}
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "email_taken"
    bad_email = await admin_client.post(
        "/api/admin/users", json={"email": "nope", "role": "viewer"}
    )
    assert bad_email.status_code == 422
    assert "not an email address" in bad_email.json()["detail"]
    bad_role = await admin_client.post(
        "/api/admin/users", json={"email": "r@example.com", "role": "owner"}
    )
    assert bad_role.status_code == 422

    short = await client.post("/api/auth/accept-invite", json={"token": token, "password": "short"})
    assert short.status_code == 400
    accepted = await client.post(
        "/api/auth/accept-invite", json={"token": token, "password": USER_PASSWORD}
    )
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "active"
    reused = await client.post(
        "/api/auth/accept-invite", json={"token": token, "password": USER_PASSWORD}
    )
    assert reused.status_code == 401
    assert reused.json()["code"] == "invite_invalid"
    assert (await admin_client.post(f"/api/admin/users/{user_id}/invite")).status_code == 409

    late_id, late_token = await invite(admin_client, "late@example.com", "viewer")
    with app.state.context.store.session() as db:
        db.execute(update(Invitation).values(expires_at=utcnow() - timedelta(seconds=1)))
    expired = await client.post(
        "/api/auth/accept-invite", json={"token": late_token, "password": USER_PASSWORD}
    )
    assert expired.status_code == 401
    assert expired.json()["code"] == "invite_expired"
    fresh = await admin_client.post(f"/api/admin/users/{late_id}/invite")
    assert fresh.status_code == 201
    lasts = datetime.fromisoformat(fresh.json()["invite_expires_at"]) - utcnow()
    assert timedelta(days=6, hours=23) < lasts <= timedelta(days=7)  # auth.invite_days
    again = await client.post(
        "/api/auth/accept-invite",
        json={"token": fresh.json()["invite_token"], "password": USER_PASSWORD},
    )
    assert again.status_code == 200


async def test_deactivate_reactivate_revoke_delete(
    app: FastAPI, admin_client: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    async with api_client(app, "127.0.0.5") as user:
        user_id = await invite_and_sign_in(app, admin_client, user, "dee@example.com", "editor")
        assert (await user.get("/api/auth/me")).status_code == 200

        off = await admin_client.post(f"/api/admin/users/{user_id}/deactivate")
        assert off.json()["status"] == "deactivated"
        assert (await user.get("/api/auth/me")).status_code == 401
        refused = await client.post(
            "/api/auth/login", json={"email": "dee@example.com", "password": USER_PASSWORD}
        )
        assert refused.status_code == 403
        assert refused.json()["code"] == "account_disabled"

        on = await admin_client.post(f"/api/admin/users/{user_id}/reactivate")
        assert on.json()["status"] == "active"
        await sign_in(user, "dee@example.com", USER_PASSWORD)
        revoked = await admin_client.post(f"/api/admin/users/{user_id}/revoke-sessions")
        assert revoked.json() == {"sessions_revoked": 1}
        assert (await user.get("/api/auth/me")).status_code == 401

    assert (await admin_client.delete(f"/api/admin/users/{user_id}")).status_code == 204
    missing = await admin_client.get(f"/api/admin/users/{user_id}")
    assert missing.status_code == 404
    assert missing.json()["code"] == "user_not_found"
    for action in ("deactivate", "reactivate", "unlock", "revoke-sessions"):
        assert (await admin_client.post(f"/api/admin/users/{user_id}/{action}")).status_code == 404
    # The audit log outlives the user.
    audit = (await admin_client.get("/api/admin/audit", params={"user_id": user_id})).json()
    assert audit["total"] >= 2
    assert {e["user_email"] for e in audit["items"]} == {"dee@example.com"}
    deleted = (await admin_client.get("/api/admin/audit", params={"action": "DELETE"})).json()
    assert deleted["items"][0]["path"] == f"/api/admin/users/{user_id}"
    assert deleted["items"][0]["user_email"] == ADMIN_EMAIL


async def test_the_last_active_admin_stays(app: FastAPI, admin_client: httpx.AsyncClient) -> None:
    me = (await admin_client.get("/api/auth/me")).json()["id"]
    for call in (
        admin_client.patch(f"/api/admin/users/{me}", json={"role": "viewer"}),
        admin_client.post(f"/api/admin/users/{me}/deactivate"),
        admin_client.delete(f"/api/admin/users/{me}"),
    ):
        answer = await call
        assert answer.status_code == 409, answer.text
        assert answer.json()["code"] == "last_admin"
        assert "last active admin" in answer.json()["detail"]

    # An invited admin who has not chosen a password cannot manage anything yet.
    await invite(admin_client, "pending@example.com", "admin")
    assert (await admin_client.delete(f"/api/admin/users/{me}")).status_code == 409

    async with api_client(app, "127.0.0.5") as other:
        other_id = await invite_and_sign_in(app, admin_client, other, "two@example.com", "admin")
        demoted = await admin_client.patch(f"/api/admin/users/{me}", json={"role": "editor"})
        assert demoted.status_code == 200
        assert demoted.json()["role"] == "editor"
        # Now the other admin is the last one.
        last = await other.post(f"/api/admin/users/{other_id}/deactivate")
        assert last.status_code == 409
        assert (await admin_client.get("/api/admin/users")).status_code == 403

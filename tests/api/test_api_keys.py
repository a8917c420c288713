"""API keys end to end: made once, used as Bearer, listed without the key, expiry,
revocation, a deactivated owner, and `last_used_at` written at most once a minute."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from headwater.store import ApiKey, utcnow
from tests.api.conftest import api_client, bearer_headers, invite_and_sign_in

pytestmark = pytest.mark.anyio


async def test_create_use_list_revoke(
    app: FastAPI, admin_client: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    made = await admin_client.post(
        "/api/auth/api-keys", json={"name": "nightly export", "expires_in_days": 30}
    )
    assert made.status_code == 201, made.text
    body = made.json()
    key = body["key"]
    assert key.startswith("hw_") and len(key) > 40
    assert body["prefix"] == key[:10]
    assert body["expires_at"] is not None and body["expired"] is False

    me = await client.get("/api/auth/me", headers=bearer_headers(key))
    assert me.status_code == 200
    assert me.json()["auth_method"] == "api_key"
    assert me.json()["api_key_id"] == body["id"]

    listed = (await admin_client.get("/api/auth/api-keys")).json()
    assert listed["total"] == 1
    assert "key" not in listed["items"][0]
    assert listed["items"][0]["last_used_at"] is not None
    with app.state.context.store.session() as db:
        stored = db.get(ApiKey, body["id"])
        assert stored is not None and key not in (stored.key_hash, stored.prefix)

    revoked = await admin_client.delete(f"/api/auth/api-keys/{body['id']}")
    assert revoked.status_code == 204
    refused = await client.get("/api/auth/me", headers=bearer_headers(key))
    assert refused.status_code == 401
    assert refused.json()["code"] == "api_key_revoked"
    assert "revoked" in refused.json()["detail"]
    assert (await admin_client.get("/api/auth/api-keys")).json()["total"] == 0
    assert (await admin_client.delete(f"/api/auth/api-keys/{body['id']}")).status_code == 404


async def test_bad_keys_say_what_is_wrong(
    client: httpx.AsyncClient, admin_client: httpx.AsyncClient
) -> None:
    unknown = await client.get("/api/auth/me", headers=bearer_headers("hw_" + "x" * 43))
    assert unknown.status_code == 401
    assert unknown.json()["code"] == "invalid_api_key"
    foreign = await client.get("/api/auth/me", headers=bearer_headers("ghp_abcdef"))
    assert foreign.status_code == 401
    assert "hw_" in foreign.json()["detail"]
    # A bad key is refused even on a public route: the caller meant to authenticate.
    assert (
        await client.get("/api/auth/status", headers=bearer_headers("hw_nope"))
    ).status_code == 401

    bad_expiry = await admin_client.post(
        "/api/auth/api-keys", json={"name": "x", "expires_in_days": 0}
    )
    assert bad_expiry.status_code == 422
    no_name = await admin_client.post("/api/auth/api-keys", json={"name": "  "})
    assert no_name.status_code == 400


async def test_expired_key_is_refused(
    app: FastAPI, admin_key: str, client: httpx.AsyncClient
) -> None:
    assert (await client.get("/api/auth/me", headers=bearer_headers(admin_key))).status_code == 200
    with app.state.context.store.session() as db:
        db.execute(update(ApiKey).values(expires_at=utcnow() - timedelta(minutes=1)))
    # Changed behind the API's back: it trusts a verified credential for a moment.
    app.state.context.principals.clear()
    expired = await client.get("/api/auth/me", headers=bearer_headers(admin_key))
    assert expired.status_code == 401
    assert expired.json()["code"] == "api_key_expired"
    assert "expired" in expired.json()["detail"]


async def test_keys_are_their_owners_and_follow_the_account(
    app: FastAPI, admin_client: httpx.AsyncClient, viewer_key: str, client: httpx.AsyncClient
) -> None:
    mine = (await client.get("/api/auth/api-keys", headers=bearer_headers(viewer_key))).json()
    assert mine["total"] == 1
    key_id = mine["items"][0]["id"]
    # Another user cannot see or revoke it.
    assert (await admin_client.get("/api/auth/api-keys")).json()["total"] == 0
    assert (await admin_client.delete(f"/api/auth/api-keys/{key_id}")).status_code == 404

    viewer_id = (await client.get("/api/auth/me", headers=bearer_headers(viewer_key))).json()["id"]
    await admin_client.post(f"/api/admin/users/{viewer_id}/deactivate")
    refused = await client.get("/api/auth/me", headers=bearer_headers(viewer_key))
    assert refused.status_code == 401
    assert refused.json()["code"] == "account_disabled"
    await admin_client.post(f"/api/admin/users/{viewer_id}/reactivate")
    assert (await client.get("/api/auth/me", headers=bearer_headers(viewer_key))).status_code == 200

    await admin_client.patch(f"/api/admin/users/{viewer_id}", json={"role": "editor"})
    me = (await client.get("/api/auth/me", headers=bearer_headers(viewer_key))).json()
    assert me["role"] == "editor" and "source.sync" in me["permissions"]


async def test_last_used_at_is_written_at_most_once_a_minute(
    app: FastAPI, admin_client: httpx.AsyncClient
) -> None:
    async with api_client(app, "127.0.0.5") as http:
        await invite_and_sign_in(app, admin_client, http, "kim@example.com", "viewer")
        made = (await http.post("/api/auth/api-keys", json={"name": "k"})).json()
    store = app.state.context.store

    def last_used() -> object:
        with store.session() as db:
            key = db.get(ApiKey, made["id"])
            assert key is not None
            return key.last_used_at

    assert last_used() is None
    async with api_client(app) as http:
        await http.get("/api/auth/me", headers=bearer_headers(made["key"]))
        first = last_used()
        assert first is not None
        app.state.context.principals.clear()  # read the key again: the throttle decides
        await http.get("/api/auth/me", headers=bearer_headers(made["key"]))
        assert last_used() == first
        earlier = utcnow() - timedelta(minutes=2)
        with store.session() as db:
            db.execute(update(ApiKey).values(last_used_at=earlier))
        app.state.context.principals.clear()
        await http.get("/api/auth/me", headers=bearer_headers(made["key"]))
        assert last_used() not in (earlier, first)

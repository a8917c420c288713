"""TOTP end to end with codes made by pyotp: setup, sign-in's second step, replayed codes,
single-use recovery codes, disabling, and `auth.require_2fa`."""

from __future__ import annotations

import time

import httpx
import pyotp
import pytest
from fastapi import FastAPI

from tests.api.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    api_client,
    bearer_headers,
    create_key,
    running_app,
    set_up_admin,
)
from tests.conftest import MakeProject

pytestmark = pytest.mark.anyio


def next_code(secret: str) -> str:
    """The code of the next time step: one step of clock drift is accepted, and it is
    newer than any code used so far in the test (each step's code works once)."""
    return pyotp.TOTP(secret).at(time.time() + 30)


async def _turn_on(http: httpx.AsyncClient) -> tuple[str, list[str], str]:
    """Set up 2FA for the signed-in `http`: (secret, recovery codes, the code it used)."""
    started = await http.post("/api/auth/2fa/setup", json={"password": ADMIN_PASSWORD})
    assert started.status_code == 200, started.text
    body = started.json()
    secret = body["secret"]
    assert body["otpauth_uri"].startswith("otpauth://totp/Headwater:")
    assert f"secret={secret}" in body["otpauth_uri"]
    assert len(body["recovery_codes"]) == len(set(body["recovery_codes"])) == 8
    used = pyotp.TOTP(secret).now()
    verified = await http.post("/api/auth/2fa/verify-setup", json={"code": used})
    assert verified.status_code == 200, verified.text
    assert verified.json() == {"enabled": True, "recovery_codes_left": 8}
    return secret, body["recovery_codes"], used


async def _pending(http: httpx.AsyncClient) -> str:
    response = await http.post(
        "/api/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 200, response.text
    assert response.json().keys() == {"two_factor_required", "pending_token"}
    assert response.json()["two_factor_required"] is True
    assert "set-cookie" not in response.headers
    return str(response.json()["pending_token"])


async def test_setup_then_sign_in_with_codes(app: FastAPI, admin_client: httpx.AsyncClient) -> None:
    wrong_password = await admin_client.post("/api/auth/2fa/setup", json={"password": "nope"})
    assert wrong_password.status_code == 401
    not_started = await admin_client.post("/api/auth/2fa/verify-setup", json={"code": "123456"})
    assert not_started.status_code == 409

    secret, recovery, used = await _turn_on(admin_client)
    assert (await admin_client.get("/api/auth/me")).json()["totp_enabled"] is True
    twice = await admin_client.post("/api/auth/2fa/setup", json={"password": ADMIN_PASSWORD})
    assert twice.status_code == 409
    assert twice.json()["code"] == "2fa_already_enabled"

    async with api_client(app, "127.0.0.7") as http:
        pending = await _pending(http)
        # The code verify-setup used is spent (still inside the accepted drift window).
        replay = await http.post(
            "/api/auth/2fa/verify", json={"pending_token": pending, "code": used}
        )
        assert replay.status_code == 401
        assert replay.json()["code"] == "invalid_code"
        assert (await http.get("/api/auth/me")).status_code == 401

        code = next_code(secret)
        done = await http.post(
            "/api/auth/2fa/verify", json={"pending_token": pending, "code": code}
        )
        assert done.status_code == 200, done.text
        assert done.json()["user"]["email"] == ADMIN_EMAIL
        assert done.headers["set-cookie"].startswith("hw_session=")
        assert (await http.get("/api/auth/me")).status_code == 200

        # The pending token is spent, and the code too, even with a fresh token.
        reused = await http.post(
            "/api/auth/2fa/verify", json={"pending_token": pending, "code": code}
        )
        assert reused.status_code == 401
        assert reused.json()["code"] == "pending_token_invalid"
        again = await http.post(
            "/api/auth/2fa/verify", json={"pending_token": await _pending(http), "code": code}
        )
        assert again.status_code == 401
        assert again.json()["code"] == "invalid_code"

        # A recovery code works once, in any case and without its dash.
        first = recovery[0].replace("-", "").upper()
        ok = await http.post(
            "/api/auth/2fa/verify", json={"pending_token": await _pending(http), "code": first}
        )
        assert ok.status_code == 200, ok.text
        spent = await http.post(
            "/api/auth/2fa/verify",
            json={"pending_token": await _pending(http), "code": recovery[0]},
        )
        assert spent.status_code == 401

    bogus = await admin_client.post(
        "/api/auth/2fa/verify", json={"pending_token": "not-a-token", "code": "123456"}
    )
    assert bogus.status_code == 401
    assert bogus.json()["code"] == "pending_token_invalid"


async def test_regenerate_recovery_and_disable(
    app: FastAPI, admin_client: httpx.AsyncClient
) -> None:
    secret, old, _ = await _turn_on(admin_client)
    fresh = await admin_client.post(
        "/api/auth/2fa/regenerate-recovery", json={"password": ADMIN_PASSWORD}
    )
    assert fresh.status_code == 200
    new = fresh.json()["recovery_codes"]
    assert len(new) == 8 and not set(new) & set(old)

    async with api_client(app, "127.0.0.7") as http:
        stale = await http.post(
            "/api/auth/2fa/verify", json={"pending_token": await _pending(http), "code": old[1]}
        )
        assert stale.status_code == 401
        ok = await http.post(
            "/api/auth/2fa/verify", json={"pending_token": await _pending(http), "code": new[1]}
        )
        assert ok.status_code == 200

    no_code = await admin_client.post(
        "/api/auth/2fa/disable", json={"password": ADMIN_PASSWORD, "code": "000000"}
    )
    assert no_code.status_code == 401
    no_password = await admin_client.post(
        "/api/auth/2fa/disable", json={"password": "wrong-password-00", "code": next_code(secret)}
    )
    assert no_password.status_code == 401
    assert no_password.json()["code"] == "wrong_password"
    off = await admin_client.post(
        "/api/auth/2fa/disable", json={"password": ADMIN_PASSWORD, "code": next_code(secret)}
    )
    assert off.status_code == 200, off.text
    assert off.json() == {"enabled": False, "recovery_codes_left": 0}

    async with api_client(app, "127.0.0.8") as http:
        signed = await http.post(
            "/api/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        assert signed.json()["two_factor_required"] is False


async def test_wrong_codes_count_towards_lockout(
    app: FastAPI, admin_client: httpx.AsyncClient
) -> None:
    await _turn_on(admin_client)
    async with api_client(app, "127.0.0.7") as http:
        pending = await _pending(http)
        answers = [
            (
                await http.post(
                    "/api/auth/2fa/verify", json={"pending_token": pending, "code": "000000"}
                )
            ).json()["code"]
            for _ in range(5)
        ]
        assert answers == ["invalid_code"] * 4 + ["account_locked"]
        locked = await http.post(
            "/api/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        assert locked.status_code == 403
        assert locked.json()["code"] == "account_locked"


async def test_require_2fa_holds_users_back_until_set_up(make_project: MakeProject) -> None:
    project = make_project(
        """
        project:
          name: strict
        auth:
          require_2fa: true
        """
    )
    async with running_app(project) as app, api_client(app) as http:
        assert (await http.get("/api/auth/status")).json()["require_2fa"] is True
        await set_up_admin(http)
        me = await http.get("/api/auth/me")
        assert me.status_code == 200
        assert me.json()["needs_2fa_setup"] is True
        for blocked in (
            http.get("/api/auth/sessions"),
            http.get("/api/admin/users"),
            http.post("/api/auth/api-keys", json={"name": "sneaky"}),
        ):
            answer = await blocked
            assert answer.status_code == 403
            assert answer.json()["code"] == "2fa_setup_required"
            assert "/api/auth/2fa/setup" in answer.json()["detail"]

        await _turn_on(http)
        assert (await http.get("/api/auth/me")).json()["needs_2fa_setup"] is False
        assert (await http.get("/api/admin/users")).status_code == 200
        key = await create_key(http)
        assert (await http.get("/api/auth/me", headers=bearer_headers(key))).status_code == 200

"""Walk every route of the OpenAPI document: who may call it, without and with a viewer key."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from headwater.auth.roles import VIEWER_PERMISSIONS

pytestmark = pytest.mark.anyio

PUBLIC_ROUTES = {
    ("get", "/api/health"),
    ("get", "/api/auth/status"),
    ("post", "/api/auth/setup"),
    ("post", "/api/auth/login"),
    ("post", "/api/auth/2fa/verify"),
    ("post", "/api/auth/accept-invite"),
}
"""The only operations that answer without credentials (plus the docs pages below)."""
DOCS = ["/openapi.json", "/api/docs", "/api/redoc"]
SELF_SERVICE = ("/api/auth/", "/api/query", "/api/lineage")
"""Prefixes a viewer may POST to (their own account; read-only SQL; SQL lineage, which only
parses)."""

Bearer = Any


def _url(path: str) -> str:
    """The path with its parameters filled in (ids that exist nowhere)."""
    path = re.sub(r"\{run_id\}", "00000000-0000-0000-0000-000000000000", path)
    return re.sub(r"\{[^}]+\}", "1", path)


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    ]


async def test_every_route_declares_its_permission_and_only_public_ones_answer_anonymously(
    app: FastAPI,
) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as anonymous:
        spec = (await anonymous.get("/openapi.json")).json()
        operations = _operations(spec)
        assert len(operations) > 30
        declared_public = {
            (method, path) for method, path, op in operations if op["x-permission"] == "public"
        }
        assert declared_public == PUBLIC_ROUTES
        for method, path, _ in operations:
            response = await anonymous.request(method, _url(path))
            if (method, path) in PUBLIC_ROUTES:
                assert response.status_code not in (401, 403), (method, path, response.text)
            else:
                assert response.status_code == 401, (method, path, response.text)
                body = response.json()
                assert set(body) == {"detail", "code"} and body["code"] == "not_authenticated"
        for page in DOCS:
            assert (await anonymous.get(page)).status_code == 200


async def test_a_viewer_key_is_refused_on_every_route_that_changes_something(
    client: httpx.AsyncClient, viewer_key: str, bearer: Bearer
) -> None:
    spec = (await client.get("/openapi.json")).json()
    checked = 0
    for method, path, operation in _operations(spec):
        permission = operation["x-permission"]
        changes = method in {"post", "put", "patch", "delete"}
        if changes and not path.startswith(SELF_SERVICE):
            assert permission not in VIEWER_PERMISSIONS | {"public", "authenticated"}, path
        if permission in VIEWER_PERMISSIONS | {"public", "authenticated"}:
            continue  # a viewer may call it; calling it here could change the viewer's account
        response = await client.request(method, _url(path), headers=bearer(viewer_key))
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["code"] == "forbidden"
        checked += 1
    assert checked >= 15


async def test_unknown_routes_answer_the_one_error_body(client: httpx.AsyncClient) -> None:
    for path in ["/api/nowhere", "/api/sources/x/y/z"]:
        response = await client.get(path)
        assert response.status_code == 404
        assert response.json() == {
            "detail": "no such route; the routes are listed at /api/docs",
            "code": "not_found",
        }

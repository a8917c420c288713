"""The real app through httpx's ASGI transport, over a throwaway project and metadata DB."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from api.main import create_app
from headwater.config import Project
from headwater.runs import prefect_request
from tests.conftest import MakeProject

API_PROJECT_YML = """
project:
  name: api_test
sources:
  orders:
    type: files
    tables:
      orders:
        path: data/orders.csv
        primary_key: [order_id]
"""


@pytest.fixture
def anyio_backend() -> str:
    """anyio runs the async tests on asyncio (each module sets `pytestmark = pytest.mark.anyio`:
    a marker added after collection misses parametrized tests)."""
    return "asyncio"


@pytest.fixture
def api_project(make_project: MakeProject, tmp_path: Path) -> Project:
    """A project with one small CSV source (`orders`, 3 rows)."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "orders.csv").write_text("order_id,amount\n1,10.5\n2,20\n3,7.25\n")
    return make_project(API_PROJECT_YML)


@pytest.fixture
async def app(api_project: Project) -> AsyncIterator[FastAPI]:
    """The app with its lifespan entered (metadata DB created, Prefect client open)."""
    application = create_app(api_project)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An unauthenticated client of the app (keeps cookies, like a browser)."""
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


# --- Signed-in callers (auth) -------------------------------------------------------------
# Each caller below comes from its own client address, so the fixtures' sign-ins do not use
# up the per-address login limit of the `client` fixture (127.0.0.1).

ADMIN_EMAIL = "admin@example.com"
"""The first admin that `admin_client` creates."""
ADMIN_PASSWORD = "admin-password-0123"
"""Their password."""
USER_PASSWORD = "user-password-0123"
"""The password of the users `invite_and_sign_in` creates (editor, viewer)."""


def bearer_headers(key: str) -> dict[str, str]:
    """Headers that authenticate with API key `key`."""
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def bearer() -> Callable[[str], dict[str, str]]:
    """`bearer(key)`: headers that authenticate with API key `key` (`bearer_headers`)."""
    return bearer_headers


@asynccontextmanager
async def api_client(app: FastAPI, address: str = "127.0.0.9") -> AsyncIterator[httpx.AsyncClient]:
    """Another client of `app` (its own cookies) calling from `address`."""
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@asynccontextmanager
async def running_app(project: Project, prefect_url: str | None = None) -> AsyncIterator[FastAPI]:
    """The app of `project` with its lifespan entered (for projects with their own auth
    settings or Prefect server; the `app` fixture uses `api_project`)."""
    application = create_app(project, prefect_url)
    async with application.router.lifespan_context(application):
        yield application


async def sign_in(http: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    """Sign `http` in (it keeps the session cookie); fails the test unless it worked."""
    response = await http.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return response


async def set_up_admin(http: httpx.AsyncClient) -> None:
    """Create the first admin (ADMIN_EMAIL) and sign `http` in as them."""
    response = await http.post(
        "/api/auth/setup", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 201, response.text
    await sign_in(http, ADMIN_EMAIL, ADMIN_PASSWORD)


async def invite(admin: httpx.AsyncClient, email: str, role: str) -> tuple[int, str]:
    """Invite `email` with `role` through the admin API: (user id, invitation token)."""
    response = await admin.post("/api/admin/users", json={"email": email, "role": role})
    assert response.status_code == 201, response.text
    body = response.json()
    return int(body["id"]), str(body["invite_token"])


async def invite_and_sign_in(
    app: FastAPI, admin: httpx.AsyncClient, http: httpx.AsyncClient, email: str, role: str
) -> int:
    """Invite `email` as `role`, accept the invitation (password USER_PASSWORD) and sign
    `http` in as them; returns the user's id."""
    user_id, token = await invite(admin, email, role)
    response = await http.post(
        "/api/auth/accept-invite", json={"token": token, "password": USER_PASSWORD}
    )
    assert response.status_code == 200, response.text
    await sign_in(http, email, USER_PASSWORD)
    return user_id


async def create_key(http: httpx.AsyncClient, name: str = "tests") -> str:
    """A new API key of the user `http` is signed in as."""
    response = await http.post("/api/auth/api-keys", json={"name": name})
    assert response.status_code == 201, response.text
    return str(response.json()["key"])


@pytest.fixture
async def admin_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client signed in (session cookie) as the first admin, ADMIN_EMAIL, from 127.0.0.2."""
    async with api_client(app, "127.0.0.2") as http:
        await set_up_admin(http)
        yield http


@pytest.fixture
async def admin_key(admin_client: httpx.AsyncClient) -> str:
    """An API key of the admin (send it with `bearer(key)`)."""
    return await create_key(admin_client, "admin tests")


async def _role_key(app: FastAPI, admin: httpx.AsyncClient, role: str, address: str) -> str:
    async with api_client(app, address) as http:
        await invite_and_sign_in(app, admin, http, f"{role}@example.com", role)
        return await create_key(http, f"{role} tests")


@pytest.fixture
async def editor_key(app: FastAPI, admin_client: httpx.AsyncClient) -> str:
    """An API key of editor@example.com, invited by the admin (invite, accept, sign in)."""
    return await _role_key(app, admin_client, "editor", "127.0.0.3")


@pytest.fixture
async def viewer_key(app: FastAPI, admin_client: httpx.AsyncClient) -> str:
    """An API key of viewer@example.com, invited by the admin (invite, accept, sign in)."""
    return await _role_key(app, admin_client, "viewer", "127.0.0.4")


@contextmanager
def deployment_absent(prefect_api: str, deployment: str) -> Iterator[str]:
    """No deployment `deployment` (`flow/name`) on the server before and after the block,
    so a triggered run stays scheduled for the test to read; yields the API URL."""

    def drop() -> None:
        try:
            found = prefect_request(prefect_api, f"/deployments/name/{deployment}")
        except Exception:  # not registered
            return
        prefect_request(prefect_api, f"/deployments/{found['id']}", method="DELETE")

    drop()
    try:
        yield prefect_api
    finally:
        drop()

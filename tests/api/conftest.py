"""The real app through httpx's ASGI transport, over a throwaway project and metadata DB."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from api.main import create_app
from headwater.config import Project
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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the async tests of this folder on asyncio (anyio's pytest plugin)."""
    for item in items:
        if "tests/api/" in str(item.fspath) and getattr(item, "obj", None) is not None:
            import inspect

            if inspect.iscoroutinefunction(item.obj):
                item.add_marker(pytest.mark.anyio)


@pytest.fixture
def anyio_backend() -> str:
    """anyio runs the async tests on asyncio."""
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

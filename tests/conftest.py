"""Shared fixtures: throwaway projects, and the real PostgreSQL and MariaDB servers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from headwater.config import Project, load_project
from headwater.prefect_server import QUIET_PREFECT_ENV, is_healthy, wait_until_healthy


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Prefect reads its settings when first imported, so the test server's URL is fixed here,
# before any test module imports Prefect; the server itself starts on first use.
_PREFECT_HOME = Path(tempfile.mkdtemp(prefix="headwater-test-prefect-"))
os.environ.setdefault("PREFECT_API_URL", f"http://127.0.0.1:{free_port()}/api")
os.environ["PREFECT_HOME"] = str(_PREFECT_HOME)
os.environ.update(QUIET_PREFECT_ENV)
os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")

PG_URL = os.environ.get("HEADWATER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
"""Test PostgreSQL (trust auth on this machine); override with HEADWATER_TEST_PG_URL."""
MYSQL_URL = os.environ.get("HEADWATER_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
"""Test MariaDB/MySQL; override with HEADWATER_TEST_MYSQL_URL."""

MakeProject = Callable[[str], Project]


@pytest.fixture
def make_project(tmp_path: Path) -> MakeProject:
    """Write project.yml (dedented) into a fresh directory and load it."""

    def make(yaml_text: str) -> Project:
        file = tmp_path / "project.yml"
        file.write_text(textwrap.dedent(yaml_text).lstrip())
        return load_project(file)

    return make


def _server_reachable(url: str) -> str | None:
    """None when the server answers, else the reason it does not."""
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(url)
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure means: skip with the reason
        return str(exc).splitlines()[0]
    return None


@pytest.fixture(scope="session")
def pg_url() -> str:
    """SQLAlchemy URL of the test PostgreSQL; skips the test when it is unreachable."""
    url = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    reason = _server_reachable(url)
    if reason:
        pytest.skip(f"PostgreSQL at {PG_URL} unreachable: {reason}")
    return url


@pytest.fixture(scope="session")
def mysql_url() -> str:
    """SQLAlchemy URL of the test MariaDB; skips the test when it is unreachable."""
    reason = _server_reachable(MYSQL_URL)
    if reason:
        pytest.skip(f"MariaDB at {MYSQL_URL} unreachable: {reason}")
    return MYSQL_URL


@pytest.fixture
def unique_name() -> Iterator[str]:
    """A short unique lower-case name for tables and schemas shared with other tests."""
    yield "t" + uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """A real Prefect server for the test session (SQLite in a temp dir); yields its API URL."""
    url = os.environ["PREFECT_API_URL"]
    if is_healthy(url):  # an outside server named by PREFECT_API_URL
        yield url
        return
    port = url.rsplit(":", 1)[1].split("/")[0]
    log_file = _PREFECT_HOME / "server.log"
    env = {**os.environ, "PREFECT_HOME": str(_PREFECT_HOME)}
    env.pop("PREFECT_API_URL")
    with open(log_file, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
             "--port", port],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        wait_until_healthy(url, 120, log_file)
        yield url
    finally:
        drain_prefect_workers()
        server.terminate()
        server.wait(timeout=30)


def drain_prefect_workers() -> None:
    """Send the in-process runs' logs and events now, while the session's server is up
    (else the process spends a minute at exit retrying them against a stopped server)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10, at_exit=False)
    EventsWorker.drain_all(timeout=10, at_exit=False)


def wait_for_event(api: str, name: str, run_id: str, seconds: float = 20) -> dict[str, Any]:
    """The payload of event `name` that flow run `run_id` emitted; events reach the server
    asynchronously, so poll the events API for a while."""
    from headwater.runs import prefect_request

    body = {"filter": {"event": {"name": [name]}}}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for event in prefect_request(api, "/events/filter", body)["events"]:
            related = {resource["prefect.resource.id"] for resource in event["related"]}
            if f"prefect.flow-run.{run_id}" in related:
                payload: dict[str, Any] = event["payload"]
                return payload
        time.sleep(0.5)
    raise AssertionError(f"no {name} event for flow run {run_id}")

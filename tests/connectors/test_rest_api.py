"""The rest_api connector against a real local HTTP server and a real DuckLake warehouse."""

from __future__ import annotations

import base64
import json
import socket
import textwrap
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import dlt
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from connectors import connector_for
from connectors.base import BackfillWindow, TableSpec
from connectors.rest_api import CONNECTOR, RestApiConnector
from connectors.rest_api.connector import incremental_config, paginator_config
from headwater.config import Project
from headwater.config.sources import Paginator, RestApiSource, RestIncremental
from headwater.errors import ConnectorError, MissingSecretError, TransientConnectorError
from headwater.warehouse.warehouse import Warehouse

SOURCE = "api"
PAGE_SIZE = 3
MakeProject = Callable[[str], Project]


@dataclass
class FakeApi:
    """What the test server serves and what it was asked."""

    base_url: str = ""
    expected_headers: dict[str, str] = field(default_factory=dict)
    """Header name -> value every request must carry (else 401)."""
    expected_query: dict[str, str] = field(default_factory=dict)
    """Query parameter -> value every request must carry (else 401)."""
    items: list[dict[str, Any]] = field(default_factory=list)
    queries: list[dict[str, str]] = field(default_factory=list)
    """Query parameters of each /items request, in order."""

    def add_items(self, first: int, last: int) -> None:
        """Items `first`..`last`, item n updated on 2024-01-n."""
        self.items += [
            {"id": n, "name": f"item {n}", "updated_at": f"2024-01-{n:02d}T00:00:00Z"}
            for n in range(first, last + 1)
        ]


def _handler(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server's naming
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            authorized = all(self.headers.get(k) == v for k, v in api.expected_headers.items())
            authorized &= all(query.get(k) == v for k, v in api.expected_query.items())
            if not authorized:
                return self._send(401, {"error": "unauthorized"})
            if url.path == "/v1/items":
                api.queries.append(query)
                return self._send(200, self._items_page(query))
            if url.path == "/v1/events":  # json_link pagination: {"results", "next"}
                offset = int(query.get("after", "0"))
                more = offset + 2 < 5
                next_url = f"{api.base_url}events?after={offset + 2}" if more else None
                events = [{"seq": n} for n in range(offset, min(offset + 2, 5))]
                return self._send(200, {"results": events, "next": next_url})
            if url.path == "/v1/broken":
                return self._send(503, {"error": "down for maintenance"})
            self._send(404, {"error": "no such path"})

        def _items_page(self, query: dict[str, str]) -> dict[str, Any]:
            since = query.get("since", "")
            matching = [item for item in api.items if item["updated_at"] >= since]
            page = int(query.get("page", "1"))
            chunk = matching[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
            pages = max(1, -(-len(matching) // PAGE_SIZE))
            return {"data": chunk, "total_pages": pages}

        def _send(self, status: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep pytest output clean

    return Handler


@pytest.fixture
def api() -> Iterator[FakeApi]:
    """A JSON API on 127.0.0.1 with 7 items, paginated 3 per page."""
    fake = FakeApi()
    fake.add_items(1, 7)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1/"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


ITEMS = """
      items:
        path: items
        data_selector: data
        paginator: {type: page_number, page_param: page, base_page: 1, total_path: total_pages}
"""
INCREMENTAL = (
    "        incremental: {cursor_path: updated_at, param: since, initial_value: '2024-01-01'}\n"
)


def project_with(
    make_project: MakeProject, base_url: str, auth: str, resources: str = ITEMS
) -> Project:
    """A project with one rest_api source `api`: `auth` a YAML flow mapping (or empty),
    `resources` the YAML block under `resources:` (any common indentation)."""
    block = textwrap.dedent(resources.strip("\n"))
    indented = "".join(f"      {line}\n" for line in block.splitlines())
    auth_line = f"    auth: {auth}\n" if auth else ""
    return make_project(
        "project: {name: demo}\nsources:\n  api:\n    type: rest_api\n"
        f"    base_url: {base_url}\n{auth_line}    resources:\n{indented}"
    )


def connector(project: Project) -> RestApiConnector:
    """The rest_api connector of source `api`."""
    config = project.source(SOURCE)
    assert isinstance(config, RestApiSource)
    return RestApiConnector(SOURCE, config, project)


def sync(project: Project, window: BackfillWindow | None = None) -> None:
    """Load every resource of the source once, through the source's one pipeline."""
    warehouse = Warehouse(project)
    warehouse.connect(read_only=False).close()  # creates the catalog directory and file
    pipeline = dlt.pipeline(
        pipeline_name=f"test_{SOURCE}",
        destination=warehouse.dlt_destination(),
        dataset_name=f"raw_{SOURCE}",
        pipelines_dir=str(project.root / "pipelines"),
    )
    rest = connector(project)
    pipeline.run([rest.resource(spec, window) for spec in rest.tables()])


def count(project: Project, table: str) -> int:
    """Rows in raw_api.<table>."""
    with Warehouse(project).reader() as conn:
        return int(conn.execute(f"SELECT count(*) FROM raw_{SOURCE}.{table}").fetchall()[0][0])


BEARER = "{type: bearer, token_env: HW_TEST_TOKEN}"


def test_registered_under_its_type(make_project: MakeProject) -> None:
    assert CONNECTOR is RestApiConnector
    project = project_with(make_project, "http://127.0.0.1:9/v1/", "")
    assert isinstance(connector_for(project, SOURCE), RestApiConnector)


def test_bearer_auth_and_pagination_load_every_page(
    make_project: MakeProject, api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HW_TEST_TOKEN", "s3cret")
    api.expected_headers = {"Authorization": "Bearer s3cret"}
    resources = ITEMS + "      events:\n        path: events\n        data_selector: results\n"
    resources += "        paginator: {type: json_link, next_url_path: next}\n"
    project = project_with(make_project, api.base_url, BEARER, resources)
    sync(project)
    assert [q.get("page") for q in api.queries] == ["1", "2", "3"]
    assert (count(project, "items"), count(project, "events")) == (7, 5)


@pytest.mark.parametrize(
    ("auth", "headers", "query"),
    [
        (BEARER, {"Authorization": "Bearer s3cret"}, {}),
        ("{type: api_key, key_env: HW_TEST_TOKEN}", {"X-API-Key": "s3cret"}, {}),
        (
            "{type: api_key, name: key, location: query, key_env: HW_TEST_TOKEN}",
            {},
            {"key": "s3cret"},
        ),
        (
            "{type: basic, username: ann, password_env: HW_TEST_TOKEN}",
            {"Authorization": "Basic " + base64.b64encode(b"ann:s3cret").decode()},
            {},
        ),
    ],
)
def test_check_authenticates_and_counts_the_first_page(
    make_project: MakeProject,
    api: FakeApi,
    monkeypatch: pytest.MonkeyPatch,
    auth: str,
    headers: dict[str, str],
    query: dict[str, str],
) -> None:
    monkeypatch.setenv("HW_TEST_TOKEN", "s3cret")
    api.expected_headers, api.expected_query = headers, query
    report = connector(project_with(make_project, api.base_url, auth)).check()
    assert report.details == {"items": "first page: 3 records"}
    assert len(api.queries) == 1


def test_refused_credentials_name_the_env_var(
    make_project: MakeProject, api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HW_TEST_TOKEN", "wrong")
    api.expected_headers = {"Authorization": "Bearer s3cret"}
    project = project_with(make_project, api.base_url, BEARER)
    with pytest.raises(ConnectorError) as error:
        connector(project).check()
    assert str(error.value) == (
        f"source 'api', table 'items': HTTP 401 Unauthorized from {api.base_url}items?page=1; "
        "the token in HW_TEST_TOKEN may be wrong or expired"
    )
    with pytest.raises(PipelineStepFailed) as failed:
        sync(project)
    assert "HW_TEST_TOKEN may be wrong" in str(failed.value)


def test_api_key_in_the_query_is_masked_in_errors(
    make_project: MakeProject, api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HW_TEST_TOKEN", "wrong-key")
    api.expected_query = {"k": "s3cret"}
    auth = "{type: api_key, name: k, location: query, key_env: HW_TEST_TOKEN}"
    with pytest.raises(ConnectorError) as error:
        connector(project_with(make_project, api.base_url, auth)).check()
    assert "wrong-key" not in str(error.value)
    assert "k=***" in str(error.value)


def test_unreachable_server_is_transient(make_project: MakeProject) -> None:
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    project = project_with(make_project, f"http://127.0.0.1:{port}/v1/", "")
    with pytest.raises(TransientConnectorError, match=r"source 'api', table 'items': cannot"):
        connector(project).check()


def test_missing_secret_is_a_clear_error(make_project: MakeProject, api: FakeApi) -> None:
    project = project_with(make_project, api.base_url, "{type: bearer, token_env: HW_UNSET_9}")
    with pytest.raises(MissingSecretError, match="HW_UNSET_9"):
        connector(project).resource(connector(project).tables()[0])


@pytest.mark.slow  # several syncs: each costs 1-4 s in dlt and DuckLake
def test_second_sync_asks_only_for_new_records(make_project: MakeProject, api: FakeApi) -> None:
    project = project_with(make_project, api.base_url, "", ITEMS + INCREMENTAL)
    sync(project)
    assert api.queries[0]["since"] == "2024-01-01"
    api.queries.clear()
    api.add_items(8, 9)
    sync(project)
    assert api.queries[0]["since"] == "2024-01-07T00:00:00Z"
    # The server repeats item 7 (since is inclusive); dlt's cursor state drops it.
    assert count(project, "items") == 9


@pytest.mark.slow  # several syncs: each costs 1-4 s in dlt and DuckLake
def test_backfill_window_loads_a_range_and_keeps_the_cursor(
    make_project: MakeProject, api: FakeApi
) -> None:
    project = project_with(make_project, api.base_url, "", ITEMS + INCREMENTAL)
    sync(project, BackfillWindow(start="2024-01-03", end="2024-01-05"))
    assert api.queries[0]["since"] == "2024-01-03"
    assert count(project, "items") == 2  # items 3 and 4: the end is exclusive
    api.queries.clear()
    sync(project)
    assert api.queries[0]["since"] == "2024-01-01"  # the backfill did not move the cursor


def test_tables_carry_cursor_and_keys(make_project: MakeProject, api: FakeApi) -> None:
    resources = ITEMS + INCREMENTAL + "        write_disposition: merge\n"
    resources += "        primary_key: [id]\n"
    project = project_with(make_project, api.base_url, "", resources)
    assert connector(project).tables() == [
        TableSpec("items", "merge", ["id"], cursor="updated_at"),
    ]


def test_merge_without_primary_key_is_refused(make_project: MakeProject, api: FakeApi) -> None:
    resources = ITEMS + "        write_disposition: merge\n"
    project = project_with(make_project, api.base_url, "", resources)
    with pytest.raises(ConnectorError, match="merge needs primary_key"):
        connector(project).tables()


def test_paginator_and_incremental_map_onto_dlt() -> None:
    offset = Paginator(type="offset", limit=50)
    assert paginator_config(offset) == {"type": "offset", "limit": 50, "total_path": None}
    cursor = Paginator(type="cursor", cursor_path="meta.next", cursor_param="cursor")
    assert paginator_config(cursor) == {
        "type": "cursor",
        "cursor_path": "meta.next",
        "cursor_param": "cursor",
    }
    incremental = RestIncremental(cursor_path="seq", param="after", initial_value=10)
    assert incremental_config(incremental, BackfillWindow(start="20")) == {
        "start_param": "after",
        "cursor_path": "seq",
        "initial_value": 20,
        "end_value": float("inf"),
    }


def test_server_errors_are_transient_and_client_errors_show_the_body(
    make_project: MakeProject, api: FakeApi
) -> None:
    broken = project_with(make_project, api.base_url, "", "items:\n  path: broken\n")
    with pytest.raises(TransientConnectorError, match=r"HTTP 503 Service Unavailable from"):
        connector(broken).check()
    missing = project_with(make_project, api.base_url, "", "items:\n  path: nope\n")
    with pytest.raises(ConnectorError, match=r"HTTP 404 Not Found from .*/v1/nope: .*no such"):
        connector(missing).check()

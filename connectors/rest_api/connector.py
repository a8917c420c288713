"""The rest_api connector: project.yml's REST config mapped onto dlt's declarative REST source.

REST responses are JSON records, so resources yield what dlt's rest_api yields (dicts);
HTTP failures become ConnectorError (refused credentials, bad requests) or
TransientConnectorError (connection refused, timeouts, 429 and 5xx) naming source and table.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, ClassVar, cast

import requests

from connectors.base import BackfillWindow, CheckReport, Connector, TableSpec, resolve_options
from headwater.config import read_secret
from headwater.config.sources import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    CursorValue,
    Paginator,
    RestApiSource,
    RestIncremental,
    RestResource,
)
from headwater.errors import ConnectorError, TransientConnectorError

if TYPE_CHECKING:
    from dlt.extract.resource import DltResource
    from dlt.sources.rest_api.typing import AuthConfig, RESTAPIConfig

CHECK_TIMEOUT_SECONDS = 10.0
"""check() asks once, without retries, and gives up after this long."""

_PAGINATOR_FIELDS = (
    "next_url_path",
    "limit",
    "offset_param",
    "limit_param",
    "page_param",
    "base_page",
    "cursor_path",
    "cursor_param",
)
_HTTP_TRANSIENT = (requests.ConnectionError, requests.Timeout)


class RestApiConnector(Connector[RestApiSource]):
    """Loads one warehouse table per `resources.<name>` endpoint."""

    type: ClassVar[str] = "rest_api"

    def tables(self) -> list[TableSpec]:
        """One TableSpec per resource; merge resources must name a primary key."""
        specs = []
        for name, resource in self.config.resources.items():
            disposition, allow_empty = resolve_options(self.config, resource)
            primary_key = list(resource.primary_key or [])
            if disposition == "merge" and not primary_key:
                raise ConnectorError(self.name, name, "write_disposition merge needs primary_key")
            cursor = resource.incremental.cursor_path if resource.incremental else None
            specs.append(TableSpec(name, disposition, primary_key, cursor, allow_empty))
        return specs

    def check(self) -> CheckReport:
        """Request each resource's first page once (no retries) and count its records."""
        from dlt.sources.helpers.rest_client import RESTClient
        from dlt.sources.rest_api.config_setup import create_auth, create_paginator

        specs = self.tables()
        details: dict[str, str] = {}
        for spec in specs:
            endpoint = self._endpoint(spec.name, None)
            client = RESTClient(
                base_url=self.config.base_url,
                headers=dict(self.config.headers),
                auth=create_auth(cast("AuthConfig | None", self._auth())),
                session=self._session(spec.name, retries=False),
            )
            params = dict(endpoint.get("params", {}))
            incremental = endpoint.get("incremental")
            if incremental:  # the first sync's request: the cursor at its initial value
                params[incremental["start_param"]] = incremental["initial_value"]
            pages = client.paginate(
                endpoint["path"],
                params=params,
                paginator=create_paginator(endpoint.get("paginator")),
                data_selector=endpoint.get("data_selector"),
                hooks={"response": endpoint["response_actions"]},
                timeout=CHECK_TIMEOUT_SECONDS,
            )
            try:
                page: list[Any] = next(iter(pages), [])
            except ValueError as exc:  # not JSON, or no records/paginator dlt can find
                raise ConnectorError(self.name, spec.name, f"unexpected response: {exc}") from exc
            details[spec.name] = f"first page: {len(page)} record{'' if len(page) == 1 else 's'}"
        return CheckReport(tables=specs, details=details)

    def resource(self, table: TableSpec, window: BackfillWindow | None = None) -> DltResource:
        """dlt's REST resource for `table`: paginated, authenticated, incremental on the
        cursor (a `window` loads [start, end) without advancing the cursor's state)."""
        from dlt.sources.rest_api import rest_api_resources

        entry: dict[str, Any] = {
            "name": table.name,
            "endpoint": self._endpoint(table.name, window),
            "write_disposition": table.write_disposition,
        }
        if table.primary_key:
            entry["primary_key"] = table.primary_key
        session = self._session(table.name, retries=True)
        client: dict[str, Any] = {
            "base_url": self.config.base_url,
            "headers": dict(self.config.headers),
            "auth": self._auth(),
            "session": session,
        }
        config = cast("RESTAPIConfig", {"client": client, "resources": [entry]})
        (resource,) = rest_api_resources(config)
        return resource

    def _resource_config(self, table_name: str) -> RestResource:
        config = self.config.resources.get(table_name)
        if config is None:
            raise ConnectorError(self.name, table_name, "no such resource in this source")
        return config

    def _endpoint(self, table_name: str, window: BackfillWindow | None) -> dict[str, Any]:
        """dlt's `endpoint` dict of a resource."""
        resource = self._resource_config(table_name)
        endpoint: dict[str, Any] = {
            "path": resource.path,
            "params": dict(resource.params),
            "response_actions": [self._error_hook(table_name)],
        }
        if resource.data_selector:
            endpoint["data_selector"] = resource.data_selector
        paginator = resource.paginator or self.config.paginator
        if paginator is not None:
            endpoint["paginator"] = paginator_config(paginator)
        if resource.incremental is not None:
            endpoint["incremental"] = incremental_config(resource.incremental, window)
        elif window is not None:
            raise ConnectorError(
                self.name, table_name, "a backfill window needs `incremental:` on the resource"
            )
        return endpoint

    def _auth(self) -> dict[str, Any] | None:
        """dlt's auth dict, secrets read from their env vars."""
        auth = self.config.auth
        field = "auth"
        if isinstance(auth, BearerAuth):
            token = read_secret(auth.token_env, self.name, f"{field}.token_env")
            return {"type": "bearer", "token": token}
        if isinstance(auth, ApiKeyAuth):
            key = read_secret(auth.key_env, self.name, f"{field}.key_env")
            return {"type": "api_key", "name": auth.name, "api_key": key, "location": auth.location}
        if isinstance(auth, BasicAuth):
            password = read_secret(auth.password_env, self.name, f"{field}.password_env")
            return {"type": "http_basic", "username": auth.username, "password": password}
        return None

    def _error_hook(self, table_name: str) -> Callable[[requests.Response], None]:
        """A response hook raising on HTTP errors that retrying cannot fix (4xx but 429);
        429 and 5xx are left to the session, which retries them first."""

        def raise_for_status(response: requests.Response, *args: Any, **kwargs: Any) -> None:
            if not _retryable(response.status_code):
                error = self._http_error(table_name, response)
                if error is not None:
                    raise error

        return raise_for_status

    def _http_error(
        self, table_name: str, response: requests.Response
    ) -> ConnectorError | TransientConnectorError | None:
        """The error an HTTP response means, its URL's secrets masked; None when it is fine."""
        from dlt.sources.helpers.rest_client.redaction import SENSITIVE_PARAMS, sanitize_url

        status = response.status_code
        if status < 400:
            return None
        auth = self.config.auth
        secret_params = {auth.name} if isinstance(auth, ApiKeyAuth) else set()
        url = sanitize_url(response.url, set(SENSITIVE_PARAMS) | secret_params)
        cause = f"HTTP {status} {response.reason} from {url}"
        if _retryable(status):
            return TransientConnectorError(self.name, table_name, cause)
        if status in (401, 403):
            return ConnectorError(self.name, table_name, f"{cause}; {self._auth_hint()}")
        body = " ".join(response.text.split())[:200]
        return ConnectorError(self.name, table_name, cause + (f": {body}" if body else ""))

    def _auth_hint(self) -> str:
        auth = self.config.auth
        if isinstance(auth, BearerAuth):
            return f"the token in {auth.token_env} may be wrong or expired"
        if isinstance(auth, ApiKeyAuth):
            return f"the API key in {auth.key_env} may be wrong"
        if isinstance(auth, BasicAuth):
            return f"the password in {auth.password_env} (user {auth.username}) may be wrong"
        return "the API wants credentials: add `auth:` to the source"

    def _session(self, table_name: str, retries: bool) -> requests.Session:
        from dlt.sources.helpers.requests import Client

        session = Client(raise_for_status=False).session if retries else requests.Session()
        return self._wrap_session(session, table_name)

    def _wrap_session(self, session: requests.Session, table_name: str) -> requests.Session:
        """Make network failures and 429/5xx (after dlt's retries) TransientConnectorErrors."""
        send = session.send

        def send_or_raise(request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
            try:
                response = send(request, **kwargs)
            except _HTTP_TRANSIENT as exc:
                cause = f"cannot reach {self.config.base_url}: {type(exc).__name__}: {exc}"
                raise TransientConnectorError(self.name, table_name, cause) from exc
            if _retryable(response.status_code):  # still failing after the session's retries
                error = self._http_error(table_name, response)
                assert error is not None  # every retryable status is an error
                raise error
            return response

        session.send = send_or_raise  # type: ignore[method-assign]
        return session


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def paginator_config(paginator: Paginator) -> dict[str, Any]:
    """dlt's paginator dict for `paginator`."""
    config: dict[str, Any] = {"type": paginator.type}
    for name in _PAGINATOR_FIELDS:
        value = getattr(paginator, name)
        if value is not None:
            config[name] = value
    if paginator.type in ("offset", "page_number"):
        # dlt defaults total_path to `total`; ours means "stop on an empty page" when omitted.
        config["total_path"] = paginator.total_path
    return config


def incremental_config(incremental: RestIncremental, window: BackfillWindow | None) -> dict:
    """dlt's endpoint `incremental` dict; a window sets `end_value`, which makes dlt load the
    range without reading or advancing the stored cursor."""
    initial = _json_cursor(incremental.initial_value)
    config: dict[str, Any] = {
        "start_param": incremental.param,
        "cursor_path": incremental.cursor_path,
        "initial_value": initial,
    }
    if window is not None:
        if window.start is not None:
            config["initial_value"] = _like(window.start, initial)
        config["end_value"] = _like(window.end, initial) if window.end else _open_end(initial)
    return config


def _json_cursor(value: CursorValue) -> int | float | str:
    """The cursor as JSON records carry it: dates and times become ISO text."""
    if isinstance(value, datetime):
        if value.tzinfo is not None and value.utcoffset() == UTC.utcoffset(None):
            return value.replace(tzinfo=None).isoformat() + "Z"
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _like(text: str, example: int | float | str) -> int | float | str:
    """A window bound (text) as the type of the configured cursor, so dlt can compare them."""
    if isinstance(example, bool) or not isinstance(example, int | float):
        return text
    return int(text) if isinstance(example, int) and text.lstrip("-").isdigit() else float(text)


def _open_end(example: int | float | str) -> int | float | str:
    """An end above every cursor value: dlt only leaves the state alone with an end_value."""
    return float("inf") if isinstance(example, int | float) else "\uffff"

"""Models of `sources:` in project.yml, one per connector type.

The models live in the core (not in `connectors/`) so that validation, the JSON schema and
the API can read a project without importing connector code.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, cast

from pydantic import Field, field_validator, model_validator
from pydantic.config import JsonDict

from headwater.config.base import EnvVarName, Identifier, LocatedValueError, StrictModel
from headwater.config.durations import Duration

WriteDisposition = Literal["append", "replace", "merge"]
"""How rows reach the warehouse table: add, swap the whole table, or upsert by primary key."""

CursorValue = int | float | date | datetime | str


class TableOptions(StrictModel):
    """Settings that every table of every source type accepts."""

    write_disposition: WriteDisposition | None = None
    """append, replace or merge; defaults to the source's `write_disposition`."""
    primary_key: list[str] | None = None
    """Columns that identify a row, used by merge; SQL sources default to the table's key."""
    allow_empty_replace: bool | None = None
    """Let a `replace` load 0 rows into a non-empty table (refused by default)."""


class Incremental(StrictModel):
    """A cursor column: only rows with a cursor above the last seen value are loaded."""

    cursor: str
    """Column (or JSON path for REST) whose value only grows, e.g. `updated_at`."""
    initial_value: CursorValue | None = None
    """Where the first sync starts; omit to load everything on the first sync."""


class SourceCommon(StrictModel):
    """Fields every source type shares."""

    description: str = ""
    """What this source is, shown in the catalog."""
    enabled: bool = True
    """Disabled sources are validated but never synced or scheduled."""
    freshness: Duration | None = None
    """The source is stale when its last successful sync is older than this (`6h`, `1d`);
    without it, when older than twice its schedule's interval."""


class SourceBase(SourceCommon):
    """Fields of the source types loaded by dlt (batch syncs)."""

    write_disposition: WriteDisposition = "append"
    """Default for the source's tables: append, replace or merge."""
    allow_empty_replace: bool = False
    """Let a `replace` load 0 rows into a non-empty table (refused by default)."""


# --- files -------------------------------------------------------------------------------

FileFormat = Literal["csv", "jsonl", "parquet"]


class FileTable(TableOptions):
    """One warehouse table loaded from every file matching a path or glob."""

    path: str
    """File path or glob, relative to project.yml, e.g. `data/orders_*.csv`."""
    format: FileFormat | None = None
    """csv, jsonl or parquet; inferred from the file extension when omitted."""
    delimiter: str | None = None
    """CSV only: the field separator; auto-detected when omitted."""
    header: bool = True
    """CSV only: whether the first line holds column names."""


class FilesSource(SourceBase):
    """CSV, JSONL/NDJSON and Parquet files; files already loaded are skipped unless changed."""

    type: Literal["files"]
    """Connector type."""
    tables: dict[Identifier, FileTable] = Field(min_length=1)
    """Warehouse table name -> the files that fill it."""


# --- sql ---------------------------------------------------------------------------------

SqlBackend = Literal["duckdb", "pyarrow", "connectorx"]
"""duckdb: DuckDB's postgres scanner for PostgreSQL (fastest measured, see
bench/sql_backends.py), pyarrow for SQLite and MySQL/MariaDB; pyarrow: SQLAlchemy rows to Arrow;
connectorx: the connectorx package (installed separately)."""


def _also_list_of_names(schema: JsonDict) -> None:
    """The before-validator also accepts a plain list of table names: tell editors so."""
    cast(list[Any], schema["anyOf"]).insert(1, {"type": "array", "items": {"type": "string"}})


class SqlTable(TableOptions):
    """Per-table settings of an SQL source."""

    incremental: Incremental | None = None
    """Cursor column for incremental loads; without it the whole table is read."""


class SqlSource(SourceBase):
    """A SQLite, PostgreSQL or MySQL/MariaDB database read through SQLAlchemy."""

    type: Literal["sql"]
    """Connector type."""
    url: str | None = None
    """SQLAlchemy URL without a password, e.g. `postgresql://app@db:5432/crm` or
    `sqlite:///data/crm.db` (relative SQLite paths are relative to project.yml)."""
    url_env: EnvVarName | None = None
    """Env var holding the whole URL, instead of `url`."""
    password_env: EnvVarName | None = None
    """Env var holding the password that is added to `url`."""
    schema_name: str | None = Field(default=None, alias="schema")
    """Database schema to read; the connection's default when omitted."""
    tables: dict[str, SqlTable] | None = Field(
        default=None, json_schema_extra=_also_list_of_names
    )
    """Tables to load: names -> settings (a plain list of names also works); all tables when
    omitted."""
    backend: SqlBackend = "duckdb"
    """Extraction backend: duckdb (default), pyarrow or connectorx; all produce Arrow batches."""
    chunk_size: int = Field(default=100_000, ge=1_000, le=5_000_000)
    """Rows per Arrow batch read from the database."""

    @field_validator("tables", mode="before")
    @classmethod
    def _list_of_names(cls, value: Any) -> Any:
        return _names_to_mapping(value)

    @model_validator(mode="after")
    def _one_url(self) -> SqlSource:
        _check_url(self.url, self.url_env)
        return self


def _names_to_mapping(value: Any) -> Any:
    """`tables: [a, b]` means `tables: {a: {}, b: {}}`."""
    if not isinstance(value, list):
        return value
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise LocatedValueError(
                "is not a table name; write names as text (`- orders`) or use a mapping "
                "`orders: {}`",
                index,
            )
    return {name: {} for name in value}


def _check_url(url: str | None, url_env: str | None, prefixes: tuple[str, ...] = ()) -> None:
    """Exactly one of `url` / `url_env`; a `url` of the right kind and without a secret."""
    if (url is None) == (url_env is None):
        raise ValueError("set exactly one of `url` or `url_env`")
    if url is None:
        return
    if prefixes and not url.startswith(prefixes):
        raise ValueError(f"url must be a libpq URL starting with {prefixes[0]}")
    if _url_has_password(url):
        raise ValueError(
            "the url contains a password; secrets never go in project.yml: "
            "remove it from `url` and name its env var in `password_env`"
        )


def _url_has_password(url: str) -> bool:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).password is not None
    except ArgumentError:
        return False


# --- rest_api ----------------------------------------------------------------------------


class BearerAuth(StrictModel):
    """`Authorization: Bearer <token>`."""

    type: Literal["bearer"]
    """Auth type."""
    token_env: EnvVarName
    """Env var holding the token."""


class ApiKeyAuth(StrictModel):
    """An API key sent in a header or a query parameter."""

    type: Literal["api_key"]
    """Auth type."""
    name: str = "X-API-Key"
    """Header or query parameter name."""
    location: Literal["header", "query"] = "header"
    """Where the key is sent."""
    key_env: EnvVarName
    """Env var holding the key."""


class BasicAuth(StrictModel):
    """HTTP basic auth."""

    type: Literal["basic"]
    """Auth type."""
    username: str
    """User name (not secret)."""
    password_env: EnvVarName
    """Env var holding the password."""


RestAuth = Annotated[BearerAuth | ApiKeyAuth | BasicAuth, Field(discriminator="type")]


class Paginator(StrictModel):
    """How to get the next page; maps onto dlt's REST paginators."""

    type: Literal["json_link", "header_link", "offset", "page_number", "cursor", "single_page"]
    """dlt paginator type."""
    next_url_path: str | None = None
    """json_link: JSON path of the next page URL in the response."""
    limit: int | None = None
    """offset: page size."""
    offset_param: str | None = None
    """offset: name of the offset query parameter (default `offset`)."""
    limit_param: str | None = None
    """offset: name of the limit query parameter (default `limit`)."""
    total_path: str | None = None
    """offset / page_number: JSON path of the total count; omit to stop on an empty page."""
    page_param: str | None = None
    """page_number: name of the page query parameter (default `page`)."""
    base_page: int | None = None
    """page_number: number of the first page (default 0)."""
    cursor_path: str | None = None
    """cursor: JSON path of the next cursor in the response."""
    cursor_param: str | None = None
    """cursor: name of the cursor query parameter."""


class RestIncremental(StrictModel):
    """Ask the API only for records newer than the last sync."""

    cursor_path: str
    """JSON path of the cursor field in each record, e.g. `updated_at`."""
    param: str
    """Query parameter that receives the last cursor value, e.g. `since`."""
    initial_value: CursorValue
    """Value sent on the first sync."""


class RestResource(TableOptions):
    """One endpoint that fills one warehouse table."""

    path: str
    """Endpoint path relative to `base_url`, e.g. `orders`."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Fixed query parameters."""
    data_selector: str | None = None
    """JSON path of the record list in the response; auto-detected when omitted."""
    paginator: Paginator | None = None
    """Overrides the source's paginator."""
    incremental: RestIncremental | None = None
    """Incremental cursor for this endpoint."""


class RestApiSource(SourceBase):
    """A REST API described declaratively (dlt's rest_api source)."""

    type: Literal["rest_api"]
    """Connector type."""
    base_url: str
    """Common URL prefix, e.g. `https://api.example.com/v1/`."""
    auth: RestAuth | None = None
    """Authentication; secrets come from env vars."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra request headers (not secret)."""
    paginator: Paginator | None = None
    """Default paginator for all resources; auto-detected when omitted."""
    resources: dict[Identifier, RestResource] = Field(min_length=1)
    """Warehouse table name -> endpoint."""

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value


# --- postgres_cdc ------------------------------------------------------------------------

DeleteMode = Literal["hard", "soft"]
"""hard: a source delete removes the warehouse row; soft: it sets `_hw_deleted_at`."""


class CdcTable(StrictModel):
    """Per-table settings of a CDC source."""

    deletes: DeleteMode | None = None
    """hard or soft; defaults to the source's `deletes`."""


class PostgresCdcSource(SourceCommon):
    """PostgreSQL tables replicated from the write-ahead log (logical replication, pgoutput):
    an initial consistent snapshot, then every insert, update and delete merged by key."""

    type: Literal["postgres_cdc"]
    """Connector type."""
    url: str | None = None
    """libpq URL without a password, e.g. `postgresql://replicator@db:5432/shop`."""
    url_env: EnvVarName | None = None
    """Env var holding the whole URL, instead of `url`."""
    password_env: EnvVarName | None = None
    """Env var holding the password that is added to `url`."""
    schema_name: str = Field(default="public", alias="schema")
    """Database schema of the tables."""
    tables: dict[str, CdcTable] | None = Field(default=None, json_schema_extra=_also_list_of_names)
    """Tables to replicate: names -> settings (a plain list of names also works); every table
    of the schema when omitted."""
    deletes: DeleteMode = "hard"
    """Default delete handling for the tables: hard or soft."""
    slot: Identifier | None = None
    """Replication slot name; `headwater_<source>` when omitted."""
    publication: Identifier | None = None
    """Publication name; `headwater_<source>` when omitted (created if missing and allowed)."""
    mode: Literal["batch", "continuous"] = "batch"
    """batch: a deployment applies the pending changes every `interval_seconds`;
    continuous: one long-running flow run polls and applies until cancelled."""
    interval_seconds: int = Field(default=60, ge=5)
    """batch mode: seconds between scheduled runs."""
    poll_seconds: float = Field(default=1.0, gt=0, le=300)
    """continuous mode: pause when the stream is idle."""
    batch_changes: int = Field(default=100_000, ge=100, le=10_000_000)
    """Changes read per batch at most (whole transactions: a larger one is read whole)."""
    lag_warning_bytes: int = Field(default=1 << 30, ge=1)
    """Emit a warning event when the slot lags more than this: WAL written since its
    confirmed position (1 GiB by default)."""

    @field_validator("tables", mode="before")
    @classmethod
    def _list_of_names(cls, value: Any) -> Any:
        return _names_to_mapping(value)

    @model_validator(mode="after")
    def _one_url(self) -> PostgresCdcSource:
        _check_url(self.url, self.url_env, prefixes=("postgresql://", "postgres://"))
        return self

    def slot_name(self, source: str) -> str:
        """The replication slot of `source`."""
        return self.slot or f"headwater_{source}"

    def publication_name(self, source: str) -> str:
        """The publication of `source`."""
        return self.publication or f"headwater_{source}"

    def delete_mode(self, table: str) -> DeleteMode:
        """hard or soft for `table`."""
        settings = (self.tables or {}).get(table)
        return settings.deletes if settings and settings.deletes else self.deletes


SourceConfig = Annotated[
    FilesSource | SqlSource | RestApiSource | PostgresCdcSource, Field(discriminator="type")
]
"""Any source; `type:` selects the model."""

SOURCE_TYPES: tuple[str, ...] = ("files", "sql", "rest_api", "postgres_cdc")
"""Every known `type:` value, in the order they are documented."""

"""The top-level model of project.yml, its small sections, and the checks that span
sections (a schedule naming a source, a rule naming a channel)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Literal

from pydantic import Field, model_validator

from headwater.config.base import EnvVarName, Identifier, LocatedValueError, StrictModel
from headwater.config.consoles import ConsoleConfig
from headwater.config.governance import GovernanceConfig
from headwater.config.notifications import NotificationsConfig
from headwater.config.schedules import ScheduleConfig
from headwater.config.sources import SourceConfig

CONSOLE_SCHEDULE_PREFIX = "console_"
"""A console's own `schedule` is listed among the schedules as `console_<name>`."""


class ProjectInfo(StrictModel):
    """Who this project is."""

    name: Identifier
    """Project name (lower case, digits, underscores)."""
    description: str = ""
    """One line shown in the UI and the catalog."""


class CatalogConfig(StrictModel):
    """Where DuckLake keeps its metadata (tables, snapshots, file lists)."""

    type: Literal["sqlite", "postgres"] = "sqlite"
    """sqlite: one embedded file, writers are serialized; postgres: many writers and machines."""
    path: str = ".headwater/warehouse/catalog.sqlite"
    """sqlite: catalog file, relative to project.yml."""
    url_env: EnvVarName | None = None
    """postgres: env var holding a libpq URL, e.g. `postgresql://hw@db/lake`."""

    @model_validator(mode="after")
    def _postgres_needs_url(self) -> CatalogConfig:
        if self.type == "postgres" and self.url_env is None:
            raise ValueError("a postgres catalog needs `url_env`, the env var holding its URL")
        return self


class WarehouseConfig(StrictModel):
    """The DuckLake warehouse: catalog, data files and housekeeping."""

    catalog: CatalogConfig = Field(default_factory=CatalogConfig)
    """Metadata catalog (SQLite file by default)."""
    data_path: str = ".headwater/warehouse/data"
    """Directory of the Parquet data files, relative to project.yml."""
    snapshot_retention_days: int = Field(default=7, ge=0)
    """Snapshots older than this are expired by housekeeping (0 keeps only the latest);
    within it, time travel and rollback of a bad sync are possible."""
    write_lock_timeout_seconds: float = Field(default=600, gt=0)
    """How long a writer waits for the warehouse write lock (SQLite catalog) before failing
    with a retryable error."""
    max_writers: int | None = Field(default=None, ge=1, le=64)
    """How many flow runs may write the warehouse at once, enforced by a Prefect global
    concurrency limit (`<project>-warehouse-writers`, shown in the Prefect UI). Default: 1
    with a SQLite catalog (it takes one writer at a time), 4 with PostgreSQL."""

    @model_validator(mode="after")
    def _sqlite_takes_one_writer(self) -> WarehouseConfig:
        if self.catalog.type == "sqlite" and (self.max_writers or 1) > 1:
            raise ValueError(
                f"max_writers {self.max_writers} needs a PostgreSQL catalog: a SQLite catalog "
                "takes one writer at a time; use `catalog: {type: postgres, url_env: ...}`"
            )
        return self

    @property
    def writer_limit(self) -> int:
        """The effective cap on concurrent warehouse writers."""
        default = 1 if self.catalog.type == "sqlite" else 4
        return self.max_writers or default


class PrefectConfig(StrictModel):
    """Which Prefect server runs and records the flows."""

    api_url: str | None = None
    """Prefect API URL; when omitted, Headwater starts (and reuses) a local server.
    The PREFECT_API_URL env var overrides this."""
    server_host: str = "127.0.0.1"
    """Host of the local server Headwater starts."""
    server_port: int = Field(default=4200, ge=1, le=65535)
    """Port of the local server Headwater starts (UI at http://host:port)."""
    home: str = ".headwater/prefect"
    """PREFECT_HOME of the local server (its SQLite database and logs), relative to project.yml."""
    work_pool: str | None = Field(
        default=None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
    )
    """Prefect process work pool the deployments target. Set: `headwater serve` registers
    the deployments there and `headwater worker`, on any machine with the project checked
    out, runs them. Omitted: `headwater serve` runs the deployments itself."""
    crash_after_seconds: int = Field(default=120, ge=60, le=86400)
    """A flow run whose process sent no heartbeat for this long (its worker or machine
    died) is marked Crashed by a Prefect automation, which frees its concurrency slots.
    Runs send a heartbeat every 30 s."""


class AuthConfig(StrictModel):
    """API authentication: lockout, sessions, 2FA and invitations."""

    max_failed_logins: int = Field(default=5, ge=1)
    """Failed logins before the account is locked."""
    lockout_minutes: int = Field(default=15, ge=1)
    """How long a locked account stays locked."""
    require_2fa: bool = False
    """Force every user to set up TOTP: until they do, only the 2FA setup routes answer."""
    session_hours: float = Field(default=12, gt=0)
    """Lifetime of a login session (its cookie)."""
    secure_cookies: bool = False
    """Mark the session cookie `Secure` (turn on behind HTTPS)."""
    invite_days: int = Field(default=7, ge=1)
    """How long an invitation token can be accepted."""
    login_rate_limit_per_minute: int = Field(default=10, ge=1)
    """Login attempts (login, 2FA verify, setup, accept-invite) per client address per minute."""


class ApiConfig(StrictModel):
    """The REST API service."""

    host: str = "127.0.0.1"
    """Interface the API listens on."""
    port: int = Field(default=8800, ge=1, le=65535)
    """Port the API listens on."""
    rate_limit_per_minute: int = Field(default=1200, ge=1)
    """Requests per minute per user or API key; more get 429 with Retry-After."""
    query_timeout_seconds: float = Field(default=30, gt=0, le=3600)
    """`/api/query`: a query running longer is interrupted."""
    query_max_rows: int = Field(default=10_000, ge=1)
    """`/api/query`: rows returned at most (the answer says `truncated`)."""


class StoreConfig(StrictModel):
    """The metadata database (users, sessions, API keys, audit log), through SQLAlchemy."""

    path: str = ".headwater/metadata.sqlite"
    """SQLite file, relative to project.yml (the default)."""
    url_env: EnvVarName | None = None
    """Env var holding a SQLAlchemy URL (e.g. `postgresql+psycopg://hw@db/headwater`);
    when set, it is used instead of `path`."""


class ProjectConfig(StrictModel):
    """The whole of project.yml."""

    project: ProjectInfo
    """Name and description."""
    warehouse: WarehouseConfig = Field(default_factory=WarehouseConfig)
    """The DuckLake warehouse."""
    prefect: PrefectConfig = Field(default_factory=PrefectConfig)
    """The Prefect server."""
    sources: dict[Identifier, SourceConfig] = Field(default_factory=dict)
    """Source name -> source; each lands in schema `raw_<name>`."""
    schedules: dict[Identifier, ScheduleConfig] = Field(default_factory=dict)
    """Schedule name -> schedule."""
    consoles: dict[Identifier, ConsoleConfig] = Field(default_factory=dict)
    """Console name -> saved SQL."""
    notifications: NotificationsConfig = Field(default_factory=NotificationsConfig)
    """Notification rules."""
    governance: GovernanceConfig = Field(default_factory=GovernanceConfig)
    """Governance settings."""
    auth: AuthConfig = Field(default_factory=AuthConfig)
    """API authentication."""
    api: ApiConfig = Field(default_factory=ApiConfig)
    """The REST API service."""
    store: StoreConfig = Field(default_factory=StoreConfig)
    """The metadata database."""

    def all_schedules(self) -> dict[str, ScheduleConfig]:
        """`schedules:` plus each console's own `schedule` (as `console_<name>`)."""
        combined = dict(self.schedules)
        for name, console in self.consoles.items():
            if console.schedule is not None:
                combined[f"{CONSOLE_SCHEDULE_PREFIX}{name}"] = ScheduleConfig(
                    console=name,
                    description=console.description or f"Run console {name}",
                    **console.schedule.model_dump(exclude_unset=True),
                )
        return combined

    @model_validator(mode="after")
    def _references_exist(self) -> ProjectConfig:
        for name, schedule in self.schedules.items():
            for field in ("sources", "pipeline"):
                for index, source in enumerate(getattr(schedule, field)):
                    self._require("source", source, self.sources, "schedules", name, field, index)
            if schedule.console is not None:
                self._require("console", schedule.console, self.consoles, "schedules", name,
                              "console")
        for name, console in self.consoles.items():
            taken = f"{CONSOLE_SCHEDULE_PREFIX}{name}"
            if console.schedule is not None and taken in self.schedules:
                raise LocatedValueError(
                    f"schedule '{taken}' has the name of console '{name}'s own schedule; "
                    "rename it",
                    "schedules",
                    taken,
                )
        notifications = self.notifications
        for name, rule in notifications.rules.items():
            self._require("channel", rule.channel, notifications.channels, "notifications",
                          "rules", name, "channel")
            for index, source in enumerate(rule.sources):
                self._require("source", source, self.sources, "notifications", "rules", name,
                              "sources", index)
            for index, console_name in enumerate(rule.consoles):
                self._require("console", console_name, self.consoles, "notifications", "rules",
                              name, "consoles", index)
        for index, override in enumerate(self.governance.pii_overrides):
            if override.source is not None:
                self._require("source", override.source, self.sources, "governance",
                              "pii_overrides", index, "source")
        return self

    @staticmethod
    def _require(kind: str, name: str, known: Mapping[str, object], *loc: str | int) -> None:
        if name not in known:
            names = ", ".join(sorted(known)) or "none"
            close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise LocatedValueError(
                f"unknown {kind} '{name}'{hint}; known {kind}s: {names}", *loc
            )

"""Opening the metadata DB: an engine, sessions, and the tables created on first use."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from headwater.config.project import Project
from headwater.errors import ConfigError, TransientError
from headwater.store.models import Base

SQLITE_BUSY_TIMEOUT_MS = 10_000
"""How long a SQLite writer waits for another one before giving up (`database is locked`)."""


def store_url(project: Project) -> str:
    """The SQLAlchemy URL of the project's metadata DB: from the env var that
    `store.url_env` names, else the SQLite file at `store.path`."""
    config = project.config.store
    if config.url_env:
        url = os.environ.get(config.url_env)
        if not url:
            raise ConfigError(
                f"store.url_env names the environment variable {config.url_env}, which is "
                f"not set; export {config.url_env}=<SQLAlchemy URL> or remove store.url_env "
                "to use the SQLite file at store.path"
            )
        try:
            make_url(url)
        except ArgumentError:
            raise ConfigError(
                f"{config.url_env} does not hold a valid SQLAlchemy URL "
                "(expected e.g. postgresql+psycopg://user@host/db)"
            ) from None
        return url
    path = project.path(config.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _tune_sqlite(engine: Engine) -> None:
    """WAL lets readers work while one writer commits; the busy timeout makes a second
    writer wait instead of failing at once; SQLite enforces foreign keys only when asked."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


class MetadataStore:
    """The metadata DB (users, sessions, API keys, audit log): one engine per process."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Objects stay readable after commit: routes commit, then build their answers.
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, project: Project) -> MetadataStore:
        """Open (and on first use create) the project's metadata DB."""
        return cls.open_url(store_url(project))

    @classmethod
    def open_url(cls, url: str) -> MetadataStore:
        """Open (and on first use create) the metadata DB at a SQLAlchemy `url`."""
        is_sqlite = make_url(url).get_backend_name() == "sqlite"
        engine = create_engine(
            url,
            pool_pre_ping=not is_sqlite,
            connect_args={"check_same_thread": False} if is_sqlite else {},
        )
        if is_sqlite:
            _tune_sqlite(engine)
        try:
            Base.metadata.create_all(engine)
        except OperationalError as exc:
            engine.dispose()
            raise TransientError(
                f"cannot open the metadata DB at {engine.url.render_as_string()}: "
                f"{str(exc.orig).splitlines()[0]}"
            ) from exc
        return cls(engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed when the block ends normally, rolled back on an error.

        A database that is locked for too long or unreachable raises TransientError, so
        callers (and the API, with 503) can say "try again" rather than fail for good."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except OperationalError as exc:
            session.rollback()
            raise TransientError(
                f"the metadata DB did not answer ({str(exc.orig).splitlines()[0]}); try again"
            ) from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

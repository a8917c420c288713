"""The metadata DB: where it lives, SQLite tuning, transactions, time zones, the audit log,
and the same tables on a real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy
from sqlalchemy import select, text

from headwater.errors import ConfigError, TransientError
from headwater.store import (
    ApiKey,
    AuditRecord,
    MetadataStore,
    User,
    list_audit,
    record_audit,
    store_url,
)
from tests.conftest import MakeProject


@pytest.fixture
def store(make_project: MakeProject) -> Iterator[MetadataStore]:
    """A metadata DB in a throwaway project (SQLite)."""
    opened = MetadataStore.open(make_project("project:\n  name: store_test\n"))
    yield opened
    opened.close()


def test_sqlite_file_beside_project_yml_with_wal(make_project: MakeProject) -> None:
    project = make_project("project:\n  name: s\nstore:\n  path: state/meta.db\n")
    store = MetadataStore.open(project)
    try:
        assert (project.root / "state" / "meta.db").exists()
        with store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 10_000
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        store.close()


def test_url_from_the_env_var_store_url_env_names(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project("project:\n  name: s\nstore:\n  url_env: HW_TEST_STORE_URL\n")
    with pytest.raises(ConfigError, match=r"HW_TEST_STORE_URL.*not set"):
        store_url(project)
    monkeypatch.setenv("HW_TEST_STORE_URL", "not a url")
    with pytest.raises(ConfigError, match="not hold a valid SQLAlchemy URL"):
        store_url(project)
    target = project.root / "elsewhere.sqlite"
    monkeypatch.setenv("HW_TEST_STORE_URL", f"sqlite:///{target}")
    store = MetadataStore.open(project)
    store.close()
    assert target.exists()


def test_session_commits_or_rolls_back(store: MetadataStore) -> None:
    with store.session() as db:
        db.add(User(email="a@example.com", role="viewer"))
    with pytest.raises(RuntimeError), store.session() as db:
        db.add(User(email="b@example.com", role="viewer"))
        db.flush()
        raise RuntimeError("boom")
    with store.session() as db:
        assert db.scalars(select(User.email)).all() == ["a@example.com"]


def test_timestamps_come_back_aware_in_utc(store: MetadataStore) -> None:
    paris = datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=1)))
    with store.session() as db:
        user = User(email="t@example.com", role="viewer", locked_until=paris)
        db.add(user)
    with store.session() as db:
        loaded = db.scalar(select(User))
        assert loaded is not None
        assert loaded.locked_until == paris
        assert loaded.locked_until.tzinfo == UTC
        assert loaded.created_at.tzinfo == UTC


def test_deleting_a_user_deletes_their_keys(store: MetadataStore) -> None:
    with store.session() as db:
        user = User(email="k@example.com", role="viewer")
        db.add(user)
        db.flush()
        db.add(ApiKey(user_id=user.id, name="k", prefix="hw_x", key_hash="h" * 64, expires_at=None))
    with store.session() as db:
        db.delete(db.scalar(select(User)))
    with store.session() as db:
        assert db.scalars(select(ApiKey)).all() == []


def test_audit_log_filters_newest_first(store: MetadataStore) -> None:
    for i, (who, route) in enumerate(
        [
            ("ann@example.com", "/api/auth/login"),
            ("bob@example.com", "/api/admin/users"),
            ("ann@example.com", "/api/admin/users/{user_id}/deactivate"),
        ]
    ):
        record_audit(
            store,
            AuditRecord(
                method="POST",
                path=route,
                route=route,
                status_code=200,
                user_id=i % 2 + 1,
                user_email=who,
                client_address="10.0.0.1",
            ),
        )
    with store.session() as db:
        rows, total = list_audit(db)
        assert total == 3
        assert rows[0].action == "POST /api/admin/users/{user_id}/deactivate"
        rows, total = list_audit(db, email="ANN@")
        assert total == 2
        rows, total = list_audit(db, action="admin/users")
        assert [r.user_email for r in rows] == ["ann@example.com", "bob@example.com"]
        rows, total = list_audit(db, user_id=2, limit=1)
        assert total == 1 and rows[0].client_address == "10.0.0.1"
        rows, total = list_audit(db, action="100%_")  # LIKE wildcards are taken literally
        assert total == 0


@pytest.mark.postgres
def test_same_tables_on_postgresql(pg_url: str) -> None:
    schema = "hw_store_" + uuid.uuid4().hex[:8]
    admin = sqlalchemy.create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        store = MetadataStore.open_url(f"{pg_url}?options=-csearch_path%3D{schema}")
        try:
            with store.session() as db:
                db.add(
                    User(
                        email="pg@example.com",
                        role="admin",
                        locked_until=datetime(2026, 1, 1, tzinfo=UTC),
                    )
                )
            record_audit(store, AuditRecord(method="POST", path="/x", route=None, status_code=201))
            with store.session() as db:
                user = db.scalar(select(User))
                assert user is not None and user.locked_until == datetime(2026, 1, 1, tzinfo=UTC)
                assert list_audit(db)[1] == 1
        finally:
            store.close()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_unreachable_database_is_a_transient_error() -> None:
    with pytest.raises(TransientError, match="cannot open the metadata DB"):
        MetadataStore.open_url("postgresql+psycopg://nobody@127.0.0.1:1/none")

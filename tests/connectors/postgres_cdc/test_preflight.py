"""Preflight of postgres_cdc sources against the real PostgreSQL: each failed check names
what is wrong, and running its fix SQL (as superuser) makes the problem go away."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from connectors.postgres_cdc.connection import source_database
from connectors.postgres_cdc.preflight import (
    RESTART,
    Preflight,
    Problem,
    create_publication_sql,
    evaluate_settings,
    fix_script,
    run_preflight,
)
from headwater.config.sources import PostgresCdcSource
from headwater.errors import TransientConnectorError


class Env:
    """A throwaway schema, source name and roles on the test server, with helpers."""

    def __init__(self, url: str, admin: psycopg.Connection) -> None:
        self.url, self.admin = url, admin
        suffix = uuid.uuid4().hex[:10]
        self.source = f"pf_{suffix}"
        self.schema = f"hw_pf_{suffix}"
        self.roles: list[str] = []
        self.database = str(make_url(url).database)

    def url_as(self, user: str) -> str:
        """The server's URL, logging in as `user`."""
        return make_url(self.url).set(username=user).render_as_string(hide_password=False)

    def sql(self, statement: str) -> None:
        """Run SQL as superuser (`{s}` is the quoted schema)."""
        self.admin.execute(statement.replace("{s}", sql.Identifier(self.schema).as_string()))

    def role(self, attributes: str = "") -> str:
        """A new login role (dropped at teardown)."""
        name = f"hw_t_{uuid.uuid4().hex[:10]}"
        self.admin.execute(f"CREATE ROLE {name} LOGIN {attributes}")
        self.roles.append(name)
        return name

    def config(self, **fields: Any) -> PostgresCdcSource:
        """The source's config: this schema, connecting as `user` (superuser by default)."""
        url = self.url_as(fields.pop("user")) if "user" in fields else self.url
        fields.setdefault("schema", self.schema)
        return PostgresCdcSource.model_validate({"type": "postgres_cdc", "url": url, **fields})

    def check(self, **fields: Any) -> Preflight:
        """Preflight of the source with config `fields`."""
        config = self.config(**fields)
        return run_preflight(self.source, config, source_database(self.source, config))

    def fix(self, problem: Problem) -> None:
        """Run a problem's fix SQL as superuser."""
        for line in problem.fix_sql.splitlines():
            if not line.startswith("--"):
                self.admin.execute(line)

    def slot(self) -> str:
        """The source's slot name."""
        return f"headwater_{self.source}"

    def cleanup(self) -> None:
        """Drop what the test made: slot, publication, schema and roles."""
        name = self.slot()
        self.admin.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
            " WHERE slot_name = %s",
            (name,),
        )
        self.admin.execute(f"DROP PUBLICATION IF EXISTS {name}")
        self.sql("DROP SCHEMA IF EXISTS {s} CASCADE")
        for role in self.roles:
            self.admin.execute(f"DROP OWNED BY {role}")
            self.admin.execute(f"DROP ROLE {role}")


@pytest.fixture
def env(pg_url: str) -> Iterator[Env]:
    url = pg_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as admin:
        environment = Env(url, admin)
        try:
            yield environment
        finally:
            environment.cleanup()


def checks(preflight: Preflight) -> list[str]:
    return [problem.check for problem in preflight.problems]


def only(preflight: Preflight, check: str) -> Problem:
    """The one problem of `check`."""
    found = [p for p in preflight.problems if p.check == check]
    assert len(found) == 1, preflight.problems
    return found[0]


def with_tables(env: Env) -> None:
    env.sql("CREATE SCHEMA {s}")
    env.sql("CREATE TABLE {s}.orders (id int PRIMARY KEY, total numeric)")
    env.sql("CREATE TABLE {s}.events (at timestamptz, what text)")
    env.sql("ALTER TABLE {s}.events REPLICA IDENTITY FULL")
    env.sql("CREATE TABLE {s}.codes (code text NOT NULL, label text)")
    env.sql("CREATE UNIQUE INDEX codes_code ON {s}.codes (code)")
    env.sql("ALTER TABLE {s}.codes REPLICA IDENTITY USING INDEX codes_code")


# --- passing cases --------------------------------------------------------------------------


def test_well_formed_schema_is_ok_for_superuser(env: Env) -> None:
    with_tables(env)
    env.sql("CREATE VIEW {s}.summary AS SELECT 1 AS one")  # not a table: not replicated
    preflight = env.check()
    assert preflight.ok, preflight.problems
    assert preflight.tables == ["codes", "events", "orders"]
    assert (preflight.publication_exists, preflight.slot_exists) == (False, False)
    assert preflight.facts["wal_level"] == "logical"
    assert preflight.facts["superuser"] == "yes"
    assert int(preflight.facts["free_replication_slots"]) > 0
    assert fix_script(preflight) == ""


def test_owner_with_replication_is_ok_and_sees_its_publication_and_slot(env: Env) -> None:
    with_tables(env)
    role = env.role("REPLICATION")
    env.sql(f"GRANT CREATE ON DATABASE {env.database} TO {role}")
    for table in ("orders", "events", "codes"):
        env.sql(f"ALTER TABLE {{s}}.{table} OWNER TO {role}")
    env.sql(f"ALTER SCHEMA {{s}} OWNER TO {role}")
    preflight = env.check(user=role, tables=["orders", "events"])
    assert preflight.ok, preflight.problems
    assert preflight.tables == ["orders", "events"]
    assert preflight.facts["role"] == role and preflight.facts["superuser"] == "no"

    # The flow creates the publication with create_publication_sql, then the slot.
    config = env.config(user=role, tables=["orders", "events"])
    with psycopg.connect(env.url_as(role), autocommit=True) as conn:
        conn.execute(create_publication_sql(config, env.source, preflight.tables))
    env.admin.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (env.slot(),))
    again = env.check(user=role, tables=["orders", "events"])
    assert again.ok, again.problems
    assert (again.publication_exists, again.slot_exists) == (True, True)
    assert again.facts["slot_plugin"] == "pgoutput"


def test_identifiers_are_quoted(env: Env) -> None:
    env.sql("CREATE SCHEMA {s}")
    env.sql('CREATE TABLE {s}."Odd ""Name""" (v text)')
    preflight = env.check()
    problem = only(preflight, "primary_key")
    assert problem.table == 'Odd "Name"'
    assert '."Odd ""Name""" REPLICA IDENTITY FULL;' in problem.fix_sql
    env.fix(problem)
    assert env.check().ok
    statement = create_publication_sql(env.config(), env.source, preflight.tables)
    assert statement.startswith(f'CREATE PUBLICATION "headwater_{env.source}" FOR TABLE "')
    env.admin.execute(statement)  # valid SQL despite the name
    assert env.check().publication_exists


# --- schema and tables ----------------------------------------------------------------------


def test_missing_schema(env: Env) -> None:
    preflight = env.check()
    problem = only(preflight, "schema")
    assert problem.message == f"schema {env.schema} does not exist in database {env.database}"
    assert "project.yml" in problem.fix_sql and problem.fix_sql.startswith("--")
    assert preflight.tables == [] and checks(preflight) == ["schema"]


def test_schema_without_tables(env: Env) -> None:
    env.sql("CREATE SCHEMA {s}")
    problem = only(env.check(), "tables_missing")
    assert problem.message == f"schema {env.schema} has no tables to replicate"


def test_missing_configured_table(env: Env) -> None:
    with_tables(env)
    preflight = env.check(tables=["orders", "ghost"])
    problem = only(preflight, "tables_missing")
    assert problem.message == f"table {env.schema}.ghost does not exist"
    assert problem.table == "ghost" and "remove ghost from `tables:`" in problem.fix_sql
    assert preflight.tables == ["orders"]
    env.sql("CREATE TABLE {s}.ghost (id int PRIMARY KEY)")
    assert env.check(tables=["orders", "ghost"]).ok


def test_view_is_not_a_table(env: Env) -> None:
    with_tables(env)
    env.sql("CREATE VIEW {s}.summary AS SELECT 1 AS one")
    problem = only(env.check(tables=["summary"]), "table_kind")
    assert problem.message == (
        f"{env.schema}.summary is a view, and only ordinary tables are replicated"
    )


@pytest.mark.parametrize(
    ("setup", "says"),
    [
        ("CREATE TABLE {s}.t (v text)", "has no primary key"),
        (
            "CREATE TABLE {s}.t (id int PRIMARY KEY); ALTER TABLE {s}.t REPLICA IDENTITY NOTHING",
            "has REPLICA IDENTITY NOTHING",
        ),
        (
            "CREATE TABLE {s}.t (c text NOT NULL); CREATE UNIQUE INDEX t_c ON {s}.t (c);"
            " ALTER TABLE {s}.t REPLICA IDENTITY USING INDEX t_c; DROP INDEX {s}.t_c",
            "lost its replica identity index",
        ),
    ],
    ids=["no-key", "identity-nothing", "index-dropped"],
)
def test_table_without_replica_identity(env: Env, setup: str, says: str) -> None:
    env.sql("CREATE SCHEMA {s}")
    for statement in setup.split(";"):
        env.sql(statement)
    problem = only(env.check(), "primary_key")
    assert problem.table == "t"
    assert problem.message.startswith(f"table {env.schema}.t {says}, so its updates")
    assert problem.fix_sql == f'ALTER TABLE "{env.schema}"."t" REPLICA IDENTITY FULL;'
    env.fix(problem)
    assert env.check().ok


# --- role privileges ------------------------------------------------------------------------


def test_role_without_replication(env: Env) -> None:
    with_tables(env)
    role = env.role()
    env.sql(f"GRANT USAGE ON SCHEMA {{s}} TO {role}")
    env.sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA {{s}} TO {role}")
    env.sql(f"CREATE PUBLICATION headwater_{env.source} FOR TABLES IN SCHEMA {{s}}")
    problem = only(env.check(user=role), "privileges")
    assert problem.message == (
        f"role {role} may not stream changes: it has neither REPLICATION nor SUPERUSER"
    )
    assert problem.fix_sql == f'ALTER ROLE "{role}" WITH REPLICATION;'
    env.fix(problem)
    assert env.check(user=role).ok


def test_role_without_select_or_ownership(env: Env) -> None:
    with_tables(env)
    role = env.role("REPLICATION")
    preflight = env.check(user=role, tables=["orders", "events"])
    assert checks(preflight) == ["privileges", "privileges", "privileges", "publication"]
    usage, orders, events, publication = preflight.problems
    assert usage.message == f"role {role} may not use schema {env.schema} (no USAGE)"
    assert orders.table == "orders" and orders.message.startswith(
        f"role {role} may not SELECT from table {env.schema}.orders"
    )
    assert events.fix_sql == f'GRANT SELECT ON "{env.schema}"."events" TO "{role}";'
    # Without ownership of the tables the role cannot create the publication itself.
    assert publication.message.startswith(
        f"publication headwater_{env.source} does not exist and role {role} cannot create it"
    )
    assert publication.fix_sql == create_publication_sql(
        env.config(), env.source, ["orders", "events"]
    )
    script = fix_script(preflight)
    expected = [usage.fix_sql, orders.fix_sql, events.fix_sql, publication.fix_sql]
    assert script.splitlines() == expected
    for problem in preflight.problems:
        env.fix(problem)
    after = env.check(user=role, tables=["orders", "events"])
    assert after.ok and after.publication_exists


# --- publication ----------------------------------------------------------------------------


def test_publication_without_every_table(env: Env) -> None:
    with_tables(env)
    env.sql(f"CREATE PUBLICATION headwater_{env.source} FOR TABLE {{s}}.orders")
    preflight = env.check()
    assert preflight.publication_exists
    missing = [p for p in preflight.problems if p.check == "publication_tables"]
    assert [p.table for p in missing] == ["codes", "events"]
    assert missing[0].message == (
        f"publication headwater_{env.source} does not include table {env.schema}.codes"
    )
    for problem in missing:
        env.fix(problem)
    assert env.check().ok


def test_publication_without_every_action(env: Env) -> None:
    with_tables(env)
    env.sql(
        f"CREATE PUBLICATION headwater_{env.source} FOR TABLE {{s}}.orders"
        " WITH (publish = 'insert')"
    )
    problem = only(env.check(tables=["orders"]), "publication_actions")
    assert problem.message == (
        f"publication headwater_{env.source} does not publish update, delete, truncate"
    )
    env.fix(problem)
    assert env.check(tables=["orders"]).ok


@pytest.mark.parametrize("spec", ["{s}.orders WHERE (id > 10)", "{s}.orders (id)"])
def test_publication_with_row_filter_or_column_list(env: Env, spec: str) -> None:
    with_tables(env)
    env.sql(f"CREATE PUBLICATION headwater_{env.source} FOR TABLE {spec}")
    problem = only(env.check(tables=["orders"]), "publication_filter")
    assert "with a row filter or column list" in problem.message
    env.fix(problem)
    assert env.check(tables=["orders"]).ok


# --- replication slot -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("create", "says"),
    [
        ("pg_create_logical_replication_slot(%s, 'test_decoding')", "uses plugin test_decoding"),
        ("pg_create_physical_replication_slot(%s)", "is a physical slot"),
    ],
    ids=["test_decoding", "physical"],
)
def test_slot_with_another_plugin(env: Env, create: str, says: str) -> None:
    with_tables(env)
    env.admin.execute(f"SELECT {create}", (env.slot(),))
    preflight = env.check()
    assert preflight.slot_exists
    problem = only(preflight, "slot_plugin")
    assert problem.message.startswith(f"replication slot {env.slot()} {says}, not pgoutput")
    assert problem.fix_sql == f"SELECT pg_drop_replication_slot('{env.slot()}');"
    env.fix(problem)
    after = env.check()
    assert after.ok and not after.slot_exists


def test_slot_in_another_database(env: Env) -> None:
    with_tables(env)
    other = make_url(env.url).set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(other, autocommit=True) as conn:
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (env.slot(),))
    problem = only(env.check(), "slot_database")
    assert problem.message.startswith(
        f"replication slot {env.slot()} is in database postgres, not {env.database}"
    )
    env.fix(problem)
    assert env.check().ok


# --- server settings (a restart changes them: checked on given facts) ----------------------

FACTS = {
    "wal_level": "logical",
    "max_replication_slots": "10",
    "replication_slots_used": "2",
    "max_wal_senders": "10",
    "wal_senders_used": "1",
}


def settings(slot_exists: bool = False, **changes: str) -> list[Problem]:
    return evaluate_settings({**FACTS, **changes}, slot_exists=slot_exists)


def test_settings_that_allow_replication() -> None:
    assert settings() == []
    assert settings(wal_senders_used="unknown") == []  # hidden from unprivileged roles


def test_wal_level_not_logical() -> None:
    (problem,) = settings(wal_level="replica")
    assert problem.check == "wal_level"
    assert problem.message.startswith("wal_level is 'replica' but logical replication needs")
    assert problem.fix_sql == f"ALTER SYSTEM SET wal_level = logical;\n{RESTART}"


def test_no_free_replication_slot() -> None:
    (problem,) = settings(replication_slots_used="10")
    assert problem.check == "replication_slots"
    assert problem.message == (
        "no free slot to create the replication slot: max_replication_slots is 10 and 10 in use"
    )
    assert problem.fix_sql.splitlines()[0] == "ALTER SYSTEM SET max_replication_slots = 11;"
    # The source's own slot already exists: nothing new is needed.
    assert settings(slot_exists=True, replication_slots_used="10") == []


def test_no_free_wal_sender() -> None:
    (problem,) = settings(max_wal_senders="0", wal_senders_used="unknown")
    assert problem.check == "wal_senders"
    assert problem.fix_sql.splitlines()[0] == "ALTER SYSTEM SET max_wal_senders = 1;"
    assert [p.check for p in settings(wal_senders_used="10")] == ["wal_senders"]
    assert settings(slot_exists=True, max_wal_senders="0") == []


def test_fix_script_orders_and_restarts_once() -> None:
    problems = settings(wal_level="replica", replication_slots_used="10")
    problems.insert(0, Problem("primary_key", "m", 'ALTER TABLE "s"."t" REPLICA IDENTITY FULL;'))
    preflight = Preflight(problems, [], False, False, {})
    assert not preflight.ok
    assert fix_script(preflight).splitlines() == [
        'ALTER TABLE "s"."t" REPLICA IDENTITY FULL;',
        "ALTER SYSTEM SET wal_level = logical;",
        "ALTER SYSTEM SET max_replication_slots = 11;",
        RESTART,
    ]


# --- connection -----------------------------------------------------------------------------


def test_unreachable_server_is_transient() -> None:
    config = PostgresCdcSource.model_validate(
        {"type": "postgres_cdc", "url": "postgresql://postgres@127.0.0.1:1/test"}
    )
    with pytest.raises(TransientConnectorError, match=r"source 'shop': connecting 127\.0\.0\.1"):
        run_preflight("shop", config, source_database("shop", config))

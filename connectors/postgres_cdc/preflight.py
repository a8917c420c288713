"""Preflight of a `postgres_cdc` source: is the server, the role and every table ready?

`headwater cdc check SOURCE` prints the result and the CDC flow runs it before it starts.
Each failed check is a `Problem` carrying the SQL that fixes it, so an administrator can
run `fix_script()` as is; steps SQL cannot do (a restart, editing project.yml) are SQL
comments, which keeps the script valid for psql.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from connectors.postgres_cdc.connection import SourceDatabase
from headwater.config.sources import PostgresCdcSource

PLUGIN = "pgoutput"
"""Output plugin of the source's slot: the one built into PostgreSQL."""
PUBLISH_ACTIONS = ("insert", "update", "delete", "truncate")
"""What the publication must publish: every change that alters a replicated table."""
RESTART = "-- then restart PostgreSQL: these settings are read only at server start"
"""Step after an ALTER SYSTEM that needs a restart."""

# Order of fix_script: tables and privileges first, then the replication objects that
# depend on them, and the ALTER SYSTEM settings last, next to the restart they need.
_FIX_ORDER = (
    *("schema", "tables_missing", "table_kind", "privileges", "primary_key"),
    *("slot_plugin", "slot_database", "slot_lost"),
    *("publication", "publication_tables", "publication_actions", "publication_filter"),
    *("wal_level", "replication_slots", "wal_senders"),
)


@dataclass(frozen=True)
class Problem:
    """One failed check and how to fix it."""

    check: str
    """Short id of the check, e.g. `wal_level`, `primary_key`, `publication_tables`."""
    message: str
    """One sentence naming what is wrong (the table, the setting, its current value)."""
    fix_sql: str
    """SQL that fixes it, one statement per line, to run as an administrator; steps SQL
    cannot do (a restart, editing project.yml) are `--` comment lines."""
    table: str | None = None
    """The table concerned, when there is one."""


@dataclass(frozen=True)
class Preflight:
    """What the preflight found: its problems, the tables to replicate and server facts."""

    problems: list[Problem]
    """Every failed check; empty when the source is ready."""
    tables: list[str]
    """Tables that will be replicated: the configured ones that exist, in config order, or
    every ordinary (non-partition) table of the schema, by name."""
    publication_exists: bool
    """Whether the source's publication exists."""
    slot_exists: bool
    """Whether the source's replication slot exists."""
    facts: dict[str, str]
    """Server and role facts for display: wal_level, free slots, server version, role..."""

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return not self.problems


@dataclass(frozen=True)
class _Table:
    """Catalog facts of one relation of the schema."""

    name: str
    kind: str  # pg_class.relkind
    is_partition: bool
    replident: str  # pg_class.relreplident: d(efault), n(othing), f(ull), i(ndex)
    has_pk: bool
    has_replident_index: bool
    owned: bool  # the role owns it (directly or through a role it belongs to)
    can_select: bool


_KIND_NAMES = {
    "p": "partitioned table",
    "v": "view",
    "m": "materialized view",
    "f": "foreign table",
}


def _q(*names: str) -> str:
    """A (qualified) identifier, double-quoted by psycopg."""
    return sql.Identifier(*names).as_string()


def create_publication_sql(config: PostgresCdcSource, source: str, tables: list[str]) -> str:
    """`CREATE PUBLICATION` of the source's publication for `tables` of its schema."""
    return (
        f"CREATE PUBLICATION {_q(config.publication_name(source))} FOR TABLE "
        + ", ".join(_q(config.schema_name, t) for t in tables)
        + f" WITH (publish = '{', '.join(PUBLISH_ACTIONS)}');"
    )


def fix_script(preflight: Preflight) -> str:
    """Every problem's fix, one statement per line, in an order that works when run top to
    bottom (privileges and tables, then publication, then server settings); empty if ok."""
    rank = {check: index for index, check in enumerate(_FIX_ORDER)}
    ordered = sorted(preflight.problems, key=lambda p: rank.get(p.check, len(rank)))
    lines = [line for problem in ordered for line in problem.fix_sql.splitlines()]
    # A repeated line (the RESTART step of several settings) is kept once, at its last place.
    kept = [line for index, line in enumerate(lines) if line not in lines[index + 1 :]]
    return "".join(line + "\n" for line in kept)


def evaluate_settings(facts: Mapping[str, str], *, slot_exists: bool) -> list[Problem]:
    """Problems of the server settings in `facts` (as gathered by `run_preflight`); pure, so
    the settings that only a restart changes can be checked without a server."""
    problems: list[Problem] = []
    if facts["wal_level"] != "logical":
        problems.append(
            Problem(
                "wal_level",
                f"wal_level is '{facts['wal_level']}' but logical replication needs 'logical' "
                "(on a managed service, set it in the parameter group instead)",
                f"ALTER SYSTEM SET wal_level = logical;\n{RESTART}",
            )
        )
    if slot_exists:
        return problems  # a free slot and a wal sender are needed only to create the slot
    # The slot is created on a replication connection (a wal sender) so that it exports a
    # snapshot; reading changes later uses SQL functions in an ordinary session. Other
    # roles' sessions are hidden from unprivileged roles (wal_senders_used "unknown"): then
    # only a limit of zero is certain to be a problem.
    for check, setting, used, what in (
        ("replication_slots", "max_replication_slots", "replication_slots_used", "slot"),
        ("wal_senders", "max_wal_senders", "wal_senders_used", "wal sender"),
    ):
        known = facts[used].isdigit()
        limit, in_use = int(facts[setting]), int(facts[used]) if known else 0
        if limit - in_use < 1:
            problems.append(
                Problem(
                    check,
                    f"no free {what} to create the replication slot: {setting} is {limit} and "
                    f"{in_use if known else 'an unknown number'} in use",
                    f"ALTER SYSTEM SET {setting} = {max(limit, in_use) + 1};\n{RESTART}",
                )
            )
    return problems


def run_preflight(source: str, config: PostgresCdcSource, db: SourceDatabase) -> Preflight:
    """Check the source's server, role, tables, publication and slot; connection and query
    failures raise the connector errors of `db` (transient when the server is unreachable)."""
    with db.session() as conn, db.errors(None, "checking the replication setup of"):
        return _Inspection(conn, source, config).run()


class _Inspection:
    """One preflight on an open session: gathers facts, then problems in check order."""

    def __init__(self, conn: psycopg.Connection, source: str, config: PostgresCdcSource) -> None:
        self.conn, self.source, self.config = conn, source, config
        self.schema = config.schema_name
        self.publication = config.publication_name(source)
        self.slot = config.slot_name(source)
        self.problems: list[Problem] = []
        self.facts: dict[str, str] = {}

    def _rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        return self.conn.execute(query, params).fetchall()

    def _add(self, check: str, message: str, fix_sql: str, table: str | None = None) -> None:
        self.problems.append(Problem(check, message, fix_sql, table))

    def _name(self, table: str) -> str:
        return f"{self.schema}.{table}"

    def run(self) -> Preflight:
        superuser, can_create_in_db = self._server_facts()
        slot_exists = self._check_slot()
        self.problems.extend(evaluate_settings(self.facts, slot_exists=slot_exists))
        role = _q(self.facts["role"])
        tables = self._resolve_tables(role)
        if not superuser and self.facts["replication"] != "yes":
            self._add(
                "privileges",
                f"role {self.facts['role']} may not stream changes: it has neither "
                "REPLICATION nor SUPERUSER",
                f"ALTER ROLE {role} WITH REPLICATION;",
            )
        for table in tables:
            self._check_table(table, role)
        publication_exists = self._check_publication(
            [t.name for t in tables],
            superuser or (can_create_in_db and all(t.owned for t in tables)),
        )
        return Preflight(
            problems=self.problems,
            tables=[t.name for t in tables],
            publication_exists=publication_exists,
            slot_exists=slot_exists,
            facts=self.facts,
        )

    def _server_facts(self) -> tuple[bool, bool]:
        """Fill `facts`; returns (superuser, may CREATE in the database)."""
        cursor = self.conn.cursor(row_factory=dict_row)
        row = cursor.execute(
            "SELECT current_setting('server_version') AS server_version,"
            " current_database() AS database, current_user AS role, r.rolsuper AS superuser,"
            # Amazon RDS grants replication by membership of rds_replication, not the attribute.
            " (r.rolreplication OR EXISTS (SELECT 1 FROM pg_roles g WHERE g.rolname ="
            " 'rds_replication' AND pg_has_role(g.oid, 'MEMBER'))) AS replication,"
            " current_setting('wal_level') AS wal_level,"
            " current_setting('max_replication_slots') AS max_replication_slots,"
            " (SELECT count(*) FROM pg_replication_slots) AS replication_slots_used,"
            " current_setting('max_wal_senders') AS max_wal_senders,"
            " (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender') AS senders,"
            # Rows without a backend type are sessions this role may not see.
            " (SELECT count(*) FROM pg_stat_activity WHERE backend_type IS NULL) AS hidden,"
            " has_database_privilege(current_database(), 'CREATE') AS db_create"
            " FROM pg_roles r WHERE r.rolname = current_user"
        ).fetchone()
        assert row is not None  # current_user is always a role
        superuser, db_create = bool(row.pop("superuser")), bool(row.pop("db_create"))
        senders, hidden = row.pop("senders"), row.pop("hidden")
        row["replication"] = "yes" if row["replication"] else "no"
        self.facts.update({key: str(value) for key, value in row.items()})
        self.facts.update(
            superuser="yes" if superuser else "no",
            free_replication_slots=str(
                int(row["max_replication_slots"]) - row["replication_slots_used"]
            ),
            wal_senders_used="unknown" if hidden else str(senders),
            schema=self.schema,
            publication=self.publication,
            slot=self.slot,
        )
        return superuser, db_create

    def _check_slot(self) -> bool:
        """Check the source's slot if it exists; returns whether it exists."""
        query = "SELECT to_jsonb(s) FROM pg_replication_slots s WHERE slot_name = %s"
        rows = self._rows(query, self.slot)
        if not rows:
            return False
        # to_jsonb: the view's columns differ between versions (wal_status is 13+).
        slot: dict[str, Any] = rows[0][0]
        plugin, database = slot.get("plugin"), slot.get("database")
        self.facts.update(slot_plugin=str(plugin), slot_database=str(database))
        self.facts["slot_active"] = "yes" if slot.get("active") else "no"
        name = self.slot
        drop = f"SELECT pg_drop_replication_slot({sql.Literal(name).as_string()});"
        again = "drop it (or set another `slot:`) and the flow creates its own"
        if slot.get("slot_type") != "logical" or plugin != PLUGIN:
            kind = f"uses plugin {plugin}" if plugin else "is a physical slot"
            self._add("slot_plugin", f"replication slot {name} {kind}, not {PLUGIN}; {again}", drop)
        elif database != self.facts["database"]:
            where = f"database {database}, not {self.facts['database']}"
            self._add("slot_database", f"replication slot {name} is in {where}; {again}", drop)
        elif slot.get("wal_status") == "lost":
            why = "the server removed WAL it still needed (max_slot_wal_keep_size)"
            again = "drop it and the flow creates a new one with a fresh snapshot"
            self._add("slot_lost", f"replication slot {name} is invalidated: {why}; {again}", drop)
        return True

    def _resolve_tables(self, role: str) -> list[_Table]:
        """The tables to replicate; adds schema, tables_missing and table_kind problems."""
        project = f"source '{self.source}' in project.yml"
        query = "SELECT has_schema_privilege(oid, 'USAGE') FROM pg_namespace WHERE nspname = %s"
        usage = self._rows(query, self.schema)
        if not usage:
            self._add(
                "schema",
                f"schema {self.schema} does not exist in database {self.facts['database']}",
                f"-- create schema {_q(self.schema)}, or set `schema:` of {project}",
            )
            return []
        if not usage[0][0]:
            self._add(
                "privileges",
                f"role {self.facts['role']} may not use schema {self.schema} (no USAGE)",
                f"GRANT USAGE ON SCHEMA {_q(self.schema)} TO {role};",
            )
        found = {
            row[0]: _Table(*row)
            for row in self._rows(
                "SELECT c.relname, c.relkind::text, c.relispartition, c.relreplident::text,"
                " EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary),"
                " EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident),"
                " pg_has_role(c.relowner, 'USAGE'), has_table_privilege(c.oid, 'SELECT')"
                " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')",
                self.schema,
            )
        }
        if self.config.tables is None:
            # A partition's changes arrive under the partition's own name: "every table"
            # means the ordinary tables that are not partitions.
            names = sorted(n for n, t in found.items() if t.kind == "r" and not t.is_partition)
            if not names:
                self._add(
                    "tables_missing",
                    f"schema {self.schema} has no tables to replicate",
                    f"-- create tables in schema {_q(self.schema)}, or set `schema:` of {project}",
                )
            return [found[n] for n in names]
        tables: list[_Table] = []
        for name in self.config.tables:
            table, qualified = found.get(name), self._name(name)
            remove = f"-- remove {name} from `tables:` of {project}"
            if table is None:
                message = f"table {qualified} does not exist"
                fix = f"-- create table {_q(self.schema, name)}, or{remove[2:]}"
                self._add("tables_missing", message, fix, name)
            elif table.kind != "r":
                kind = _KIND_NAMES[table.kind]
                message = f"{qualified} is a {kind}, and only ordinary tables are replicated"
                self._add("table_kind", message, remove, name)
            else:
                tables.append(table)
        return tables

    def _check_table(self, table: _Table, role: str) -> None:
        """Replica identity and SELECT privilege of one table."""
        name, quoted = self._name(table.name), _q(self.schema, table.name)
        # Updates and deletes carry only the replica identity's columns of the old row:
        # without one they cannot be matched to the warehouse row (and PostgreSQL refuses
        # them outright once the table is published).
        lacks = {
            "n": "has REPLICA IDENTITY NOTHING",
            "d": "has no primary key" if not table.has_pk else None,
            "i": "lost its replica identity index" if not table.has_replident_index else None,
        }.get(table.replident)
        if lacks:
            self._add(
                "primary_key",
                f"table {name} {lacks}, so its updates and deletes cannot be matched "
                "(add a primary key, or use REPLICA IDENTITY FULL)",
                f"ALTER TABLE {quoted} REPLICA IDENTITY FULL;",
                table.name,
            )
        if not table.can_select:
            self._add(
                "privileges",
                f"role {self.facts['role']} may not SELECT from table {name} (the initial "
                "snapshot reads it)",
                f"GRANT SELECT ON {quoted} TO {role};",
                table.name,
            )

    def _check_publication(self, tables: list[str], can_create: bool) -> bool:
        """Check the source's publication; returns whether it exists."""
        query = "SELECT to_jsonb(p) FROM pg_publication p WHERE pubname = %s"
        rows = self._rows(query, self.publication)
        name, pub = self.publication, _q(self.publication)
        if not rows:
            if tables and not can_create:
                self._add(
                    "publication",
                    f"publication {name} does not exist and role {self.facts['role']} cannot "
                    f"create it (that needs CREATE on database {self.facts['database']} and "
                    "ownership of every table); create it as an administrator",
                    create_publication_sql(self.config, self.source, tables),
                )
            return False
        query = "SELECT tablename FROM pg_publication_tables WHERE pubname = %s AND schemaname = %s"
        published = {row[0] for row in self._rows(query, name, self.schema)}
        for table in tables:
            if table not in published:
                message = f"publication {name} does not include table {self._name(table)}"
                fix = f"ALTER PUBLICATION {pub} ADD TABLE {_q(self.schema, table)};"
                self._add("publication_tables", message, fix, table)
        # pubtruncate exists from PostgreSQL 11 on; older servers cannot publish truncates.
        missing = [a for a in PUBLISH_ACTIONS if rows[0][0].get(f"pub{a}") is False]
        if missing:
            self._add(
                "publication_actions",
                f"publication {name} does not publish {', '.join(missing)}",
                f"ALTER PUBLICATION {pub} SET (publish = '{', '.join(PUBLISH_ACTIONS)}');",
            )
        # Row filters and column lists (PostgreSQL 15+) would silently drop changes.
        query = (
            "SELECT c.relname, to_jsonb(pr) FROM pg_publication_rel pr"
            " JOIN pg_publication p ON p.oid = pr.prpubid JOIN pg_class c ON c.oid = pr.prrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE p.pubname = %s AND n.nspname = %s"
        )
        for table, rel in self._rows(query, name, self.schema):
            if table in tables and (rel.get("prqual") or rel.get("prattrs")):
                quoted = _q(self.schema, table)
                self._add(
                    "publication_filter",
                    f"publication {name} publishes table {self._name(table)} with a row "
                    "filter or column list, so some of its changes would never arrive",
                    f"ALTER PUBLICATION {pub} DROP TABLE {quoted};\n"
                    f"ALTER PUBLICATION {pub} ADD TABLE {quoted};",
                    table,
                )
        return True

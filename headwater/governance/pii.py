"""PII scans of source tables: sample text values, match detectors and column names, record
findings, announce new ones.

A scan reads `governance.pii_sample_rows` random rows of a warehouse table (`USING SAMPLE
... ROWS`, reservoir sampling, in a read-only session) and looks at its VARCHAR columns: a
column is PII for a kind when at least `governance.pii_min_share` of its non-empty sampled
values match that kind's detector (headwater.governance.pii_detectors). A column whose
name hints at a kind (`email`, `first_name`, `dob`, `street`, ...) is PII of that kind
whatever its type and values ("name_hint" evidence). dlt's `_dlt_*` columns are skipped.

Findings are recorded per (column, kind) with the share, the sample size and one masked
example; sampled values themselves are never stored. A kind found on a column for the
first time is new: unless `governance.pii_overrides` declares the column not PII, a
`new_pii` notification lists the new columns of the table (once: the finding stays
recorded) and, inside a Prefect run, a `headwater.pii.detected` event is emitted.
Overrides are applied when findings are read (headwater.governance.pii_lineage), so
changing one in project.yml takes effect without a new scan.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import duckdb
from sqlalchemy.exc import IntegrityError

from headwater.config import Project
from headwater.config.governance import PiiOverride
from headwater.errors import HeadwaterError, TerminalError
from headwater.governance.pii_detectors import DETECTORS, PiiKind, mask, name_hint
from headwater.notify import NotificationEvent, publish
from headwater.store import MetadataStore, utcnow
from headwater.store.pii import PiiFinding, table_findings
from headwater.warehouse import Warehouse, raw_schema
from headwater.warehouse.sql import quote_identifier, quote_literal

logger = logging.getLogger("headwater.governance.pii")

SKIPPED_PREFIX = "_dlt_"
"""dlt's bookkeeping columns (load ids, row hashes): never scanned or profiled."""

MAX_DETECTED_LENGTH = 254
"""Longest value a detector can accept (an email address); longer values are counted as
samples but not matched."""

PII_DETECTED_EVENT = "headwater.pii.detected"
"""Prefect event emitted (inside a run) when a scan finds new PII columns."""


@dataclass(frozen=True)
class ColumnFinding:
    """One PII kind found in one column by a scan."""

    column: str
    """Column name."""
    kind: PiiKind
    """What was found (email, phone, card_number, ..., name, address, birth_date)."""
    column_type: str
    """The column's warehouse type."""
    share: float | None
    """Share of non-empty sampled values that matched (None: values not scanned)."""
    matches: int
    """Sampled values that matched."""
    sample_size: int
    """Non-empty values sampled."""
    name_hint: bool
    """The column's name suggests the kind."""
    masked_example: str | None
    """One matching value, masked."""

    @property
    def evidence(self) -> list[str]:
        """Why the column counts as PII of this kind: "values", "name_hint" or both."""
        found = []
        if self.share is not None and self.matches:
            found.append("values")
        if self.name_hint:
            found.append("name_hint")
        return found


@dataclass
class TableScan:
    """What a scan of one table found."""

    source: str
    """Source name."""
    table: str
    """Table in `raw_<source>`."""
    sampled_rows: int = 0
    """Rows sampled."""
    text_columns: list[str] = field(default_factory=list)
    """VARCHAR columns whose values were scanned."""
    findings: list[ColumnFinding] = field(default_factory=list)
    """Every PII kind found, by column."""
    new: list[ColumnFinding] = field(default_factory=list)
    """Findings seen for the first time and not overridden as not PII."""
    notified: bool = False
    """A new_pii notification was published for `new`."""
    profiled: bool = False
    """The table was profiled after the scan (`scan_after_sync`)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (for flow results and artifacts)."""
        return {
            "source": self.source,
            "table": self.table,
            "sampled_rows": self.sampled_rows,
            "columns": sorted({f.column for f in self.findings}),
            "new": [_new_entry(f) for f in self.new],
            "profiled": self.profiled,
        }


def source_override(project: Project, source: str, table: str, column: str) -> PiiOverride | None:
    """The project.yml override of a source column, if any (the last one wins)."""
    found = None
    for override in project.config.governance.pii_overrides:
        if (
            override.source == source
            and override.table is not None
            and override.table.lower() == table.lower()
            and override.column.lower() == column.lower()
        ):
            found = override
    return found


def text_columns(types: dict[str, str]) -> list[str]:
    """The VARCHAR columns of a table (`_dlt_*` left out), in table order."""
    return [
        name
        for name, kind in types.items()
        if kind.upper() == "VARCHAR" and not name.startswith(SKIPPED_PREFIX)
    ]


def column_types(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> dict[str, str]:
    """{column: type} of a lake table in column order; TerminalError when there is none."""
    rows = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        f"WHERE table_catalog = 'lake' AND table_schema = {quote_literal(schema)} "
        f"AND table_name = {quote_literal(table)} ORDER BY ordinal_position"
    ).fetchall()
    if not rows:
        raise TerminalError(f"no table {schema}.{table} in the warehouse")
    return {str(name): str(kind) for name, kind in rows}


def sample_values(
    conn: duckdb.DuckDBPyConnection, schema: str, table: str, columns: list[str], rows: int
) -> tuple[int, dict[str, list[str]]]:
    """(rows sampled, {column: non-empty stripped values}) from `rows` random rows."""
    if not columns:
        return 0, {}
    select = ", ".join(quote_identifier(c) for c in columns)
    result = conn.execute(
        f"SELECT {select} FROM {quote_identifier(schema, table)} USING SAMPLE {int(rows)} ROWS"
    ).fetchall()
    values: dict[str, list[str]] = {column: [] for column in columns}
    for row in result:
        for column, value in zip(columns, row, strict=True):
            if value is not None and (text := str(value).strip()):
                values[column].append(text)
    return len(result), values


def find_pii(
    types: dict[str, str], samples: dict[str, list[str]], min_share: float
) -> list[ColumnFinding]:
    """PII kinds of each column: value matches at `min_share` or more, and name hints."""
    findings: list[ColumnFinding] = []
    for column, column_type in types.items():
        if column.startswith(SKIPPED_PREFIX):
            continue
        values = samples.get(column)
        hinted = name_hint(column)
        matched: dict[PiiKind, tuple[int, str]] = {}
        if values:
            for value in values:
                if len(value) > MAX_DETECTED_LENGTH:  # free text: no format is this long
                    continue
                for kind, check in DETECTORS.items():
                    if check(value):
                        count, example = matched.get(kind, (0, value))
                        matched[kind] = (count + 1, example)
        kinds: list[PiiKind] = [
            kind for kind, (count, _) in matched.items() if count / len(values or [1]) >= min_share
        ]
        if hinted is not None and hinted not in kinds:
            kinds.append(hinted)
        for kind in kinds:
            count, example = matched.get(kind, (0, ""))
            scanned = values is not None
            findings.append(
                ColumnFinding(
                    column=column,
                    kind=kind,
                    column_type=column_type,
                    share=round(count / len(values), 4) if scanned and values else None,
                    matches=count,
                    sample_size=len(values or []),
                    name_hint=kind == hinted,
                    masked_example=mask(example) if count else None,
                )
            )
    return findings


def scan_table(
    project: Project,
    source: str,
    table: str,
    *,
    store: MetadataStore | None = None,
    conn: duckdb.DuckDBPyConnection | None = None,
    notify: bool = True,
) -> TableScan:
    """Scan `raw_<source>.<table>` now, record its findings and, with `notify`, announce
    new ones. Raises TerminalError for an unknown source or table; `conn` (a read-only
    session) and `store` are opened here when not given."""
    if source not in project.config.sources:
        known = ", ".join(sorted(project.config.sources)) or "none"
        raise TerminalError(f"no source '{source}' in project.yml; known sources: {known}")
    settings = project.config.governance
    schema = raw_schema(source)
    if conn is None:
        with Warehouse(project).reader() as reader:
            return scan_table(project, source, table, store=store, conn=reader, notify=notify)
    require_table(conn, source, table)
    types = column_types(conn, schema, table)
    scanned = text_columns(types)
    sampled, samples = sample_values(conn, schema, table, scanned, settings.pii_sample_rows)
    scan = TableScan(source, table, sampled, scanned)
    scan.findings = find_pii(types, samples, settings.pii_min_share)
    owned = store is None
    db = store if store is not None else MetadataStore.open(project)
    try:
        scan.new = _record(project, db, scan)
        if scan.new and notify:
            scan.notified = _announce(project, db, scan)
    finally:
        if owned:
            db.close()
    return scan


def scan_source(
    project: Project,
    source: str,
    tables: list[str] | None = None,
    *,
    store: MetadataStore | None = None,
) -> list[TableScan]:
    """Scan tables of a source (all its warehouse tables when `tables` is None)."""
    schema = raw_schema(source)
    with Warehouse(project).reader() as conn:
        if tables is None:
            tables = _tables_of(conn, schema)
        return [scan_table(project, source, table, store=store, conn=conn) for table in tables]


def scan_after_sync(
    project: Project,
    source: str,
    tables: list[dict[str, Any]],
    store: MetadataStore | None = None,
) -> list[TableScan]:
    """Scan the tables a sync just loaded (`tables`: the sync summary's entries, dicts with
    "table" and "rows") plus their nested child tables (`<table>__*`), then profile them
    (PII first, so the profile masks what the scan found); tables that got no rows are
    skipped, the PII scan when `governance.pii_scan` is off, the profile when
    `governance.profile_after_sync` is. One TableScan per
    table. Uses `store` when given (else opens the metadata DB). Never raises: a problem
    is logged and that step left out."""
    from headwater.governance.profiling import profile_table  # profiling builds on this module

    loaded = [str(entry["table"]) for entry in tables if int(entry.get("rows") or 0) > 0]
    if not loaded:
        return []
    scans: list[TableScan] = []
    opened: MetadataStore | None = None
    try:
        if store is None:
            store = opened = MetadataStore.open(project)
        with Warehouse(project).reader() as conn:
            present = _tables_of(conn, raw_schema(source))
            targets = [t for t in present if any(t == n or t.startswith(f"{n}__") for n in loaded)]
            for table in targets:
                scan = TableScan(source, table)
                try:
                    if project.config.governance.pii_scan:
                        scan = scan_table(project, source, table, store=store, conn=conn)
                except (HeadwaterError, duckdb.Error) as exc:
                    logger.warning("PII scan of %s.%s failed: %s", source, table, exc)
                if not project.config.governance.profile_after_sync:
                    scans.append(scan)
                    continue
                try:
                    profile_table(project, store, source, table, conn)
                    scan.profiled = True
                except (HeadwaterError, duckdb.Error) as exc:
                    logger.warning("profiling %s.%s failed: %s", source, table, exc)
                scans.append(scan)
    except Exception:  # a scan must never fail the sync that called it
        logger.exception("PII scan after the sync of %s failed", source)
    finally:
        if opened is not None:
            opened.close()
    return scans


def require_table(conn: duckdb.DuckDBPyConnection, source: str, table: str) -> None:
    """TerminalError naming the source's tables unless `raw_<source>.<table>` exists."""
    tables = _tables_of(conn, raw_schema(source))
    if table not in tables:
        raise TerminalError(
            f"source '{source}' has no table '{table}' in the warehouse; its tables: "
            f"{', '.join(tables) or 'none (sync it first)'}"
        )


def _tables_of(conn: duckdb.DuckDBPyConnection, schema: str) -> list[str]:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'lake' "
        f"AND table_schema = {quote_literal(schema)} AND NOT starts_with(table_name, '_dlt_') "
        "ORDER BY 1"
    ).fetchall()
    return [str(row[0]) for row in rows]


def _record(project: Project, store: MetadataStore, scan: TableScan) -> list[ColumnFinding]:
    """Upsert the scan's findings, mark the table's others as no longer present; return
    the findings seen for the first time that no override declares not PII."""
    now = utcnow()
    new: list[ColumnFinding] = []
    try:
        with store.session() as session:
            existing = {(f.column_name, f.kind): f for f in table_findings(session, scan.source,
                                                                          scan.table)}
            found = set()
            for finding in scan.findings:
                key = (finding.column, finding.kind)
                found.add(key)
                row = existing.get(key)
                if row is None:
                    row = PiiFinding(source=scan.source, table_name=scan.table,
                                     column_name=finding.column, kind=finding.kind,
                                     first_seen_at=now)
                    session.add(row)
                    override = source_override(project, scan.source, scan.table, finding.column)
                    if override is None or override.pii:
                        new.append(finding)
                row.column_type = finding.column_type
                row.share = finding.share
                row.matches = finding.matches
                row.sample_size = finding.sample_size
                row.name_hint = finding.name_hint
                row.masked_example = finding.masked_example
                row.present = True
                row.detected_at = now
            for key, row in existing.items():
                if key not in found:
                    row.present = False
    except IntegrityError:
        # Another scan of the same table recorded the same finding a moment ago: it owns
        # the "new" announcement; this scan's rows are in its transaction, rolled back.
        logger.info("PII findings of %s.%s recorded by a concurrent scan", scan.source,
                    scan.table)
        return []
    return new


def _new_entry(finding: ColumnFinding) -> dict[str, Any]:
    return {"column": finding.column, "kind": finding.kind, "share": finding.share}


def _announce(project: Project, store: MetadataStore, scan: TableScan) -> bool:
    """Publish the new_pii notification (and the Prefect event inside a run), then note it
    on the findings."""
    columns = [_new_entry(f) for f in scan.new]
    listed = ", ".join(f"{c['column']} ({c['kind']})" for c in columns)
    event = NotificationEvent(
        kind="new_pii",
        summary=f"new PII in {scan.source}.{scan.table}: {listed}",
        source=scan.source,
        details={"table": scan.table, "columns": columns},
    )
    publish(project, event, store=store)
    _emit_prefect_event(project, scan.source, event.details)
    keys = {(f.column, f.kind) for f in scan.new}
    with store.session() as session:
        for row in table_findings(session, scan.source, scan.table):
            if (row.column_name, row.kind) in keys:
                row.notified_at = utcnow()
    return True


def _emit_prefect_event(project: Project, source: str, details: dict[str, Any]) -> None:
    """`headwater.pii.detected` on the source's resource, only inside a Prefect run (the
    core never needs a Prefect server; the CLI and API call scans outside runs)."""
    try:
        from prefect.context import FlowRunContext, TaskRunContext
        from prefect.events import emit_event
    except ImportError:  # pragma: no cover - Prefect is a dependency
        return
    if FlowRunContext.get() is None and TaskRunContext.get() is None:
        return
    # The same resource as flows.run_tags.source_resource (the core cannot import flows).
    resource = {
        "prefect.resource.id": f"headwater.source.{source}",
        "prefect.resource.name": source,
        "headwater.project": project.config.project.name,
    }
    try:
        emit_event(event=PII_DETECTED_EVENT, resource=resource,
                   payload={"source": source, **details})
    except Exception:  # an event is a nicety: never fail the scan over it
        logger.exception("emitting %s failed", PII_DETECTED_EVENT)

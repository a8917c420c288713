"""Effective PII flags: scan findings, overrides, and PII followed into dbt models.

Raw columns (`raw_<source>.<table>`): the findings of the latest scan, then the
`governance.pii_overrides` entry with `source`/`table`/`column`, which wins either way.

Model columns: a model column is PII when a PII column reaches it through an edge of
column lineage (headwater.catalog.column_lineage) that carries the value:

* `passthrough`, `rename` and `transformation` carry PII: the value (or a function of it,
  `lower(email)`, `md5(email)`, `first_name || ' ' || last_name`) is still about a person.
* `value_aggregation` carries it too: `min(email)`, `any_value(email)`, `arg_max(email, t)`,
  `string_agg(email, ',')`, `list(email)` return the values themselves.
* `aggregation` (`count(email)`, `sum(amount)`), `filter` (WHERE) and `join_key` (JOIN ON)
  do not: they decide how many rows or which rows, not what a value says.

The rule is applied transitively across models; the kinds of every upstream PII column are
inherited, with the evidence `lineage from raw_x.t.c` naming the raw columns. An override
with `model` and `column` wins: `pii: false` makes the model column not PII and stops the
propagation through it; `pii: true` makes it PII and propagates from it.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from headwater.catalog.column_graph import ColumnGraph, relation_of, warehouse_schema
from headwater.catalog.column_lineage import ColumnEdge, ColumnRef
from headwater.catalog.manifest import Manifest, ManifestError, ManifestNode, load_manifest
from headwater.config import Project
from headwater.config.governance import PiiOverride
from headwater.dbt.profile import dbt_paths
from headwater.governance.pii import source_override
from headwater.store import MetadataStore
from headwater.store.pii import PiiFinding, present_findings
from headwater.warehouse import Warehouse, raw_schema

logger = logging.getLogger("headwater.governance.pii")

CARRYING_EDGES = frozenset({"passthrough", "rename", "transformation", "value_aggregation"})
"""Column-lineage edge kinds along which PII flows into a model column."""

OVERRIDE_KIND = "declared"
"""The kind listed for a column that only an override makes PII."""


@dataclass
class PiiColumn:
    """A column with its PII evidence and its effective flag."""

    relation: str
    """`schema.table` in the warehouse (`raw_orders.customers`, `marts.customers`)."""
    column: str
    """Column name."""
    table: str
    """The table (source table or model table) name."""
    source: str | None = None
    """The source, for a raw column."""
    model: str | None = None
    """The dbt model, for a model column."""
    kinds: list[str] = field(default_factory=list)
    """PII kinds found or inherited (`declared` when only an override says PII)."""
    findings: list[dict[str, Any]] = field(default_factory=list)
    """Per kind: share, sample size, evidence, masked example, first seen, detected."""
    lineage_from: list[str] = field(default_factory=list)
    """Raw columns (`raw_x.t.c`) the PII came from, for a model column."""
    evidence: list[str] = field(default_factory=list)
    """Why: `values`, `name_hint`, `lineage from raw_x.t.c`, `override: <reason>`."""
    share: float | None = None
    """Highest share of matching samples over the kinds (None: none scanned)."""
    sample_size: int | None = None
    """Non-empty values sampled (raw columns)."""
    first_seen_at: datetime | None = None
    """When a scan first found PII in it."""
    detected_at: datetime | None = None
    """The latest scan that found PII in it."""
    new: bool = False
    """Found for the first time by its latest scan (and effective PII)."""
    overridden: bool = False
    """A `governance.pii_overrides` entry decides it."""
    override_reason: str | None = None
    """That entry's reason."""
    pii: bool = False
    """Effective flag: the override's decision, else whether any evidence was found."""


def raw_pii(
    project: Project, store: MetadataStore, source: str | None = None, table: str | None = None
) -> list[PiiColumn]:
    """Raw columns with findings or source overrides (optionally of one source/table)."""
    with store.session() as session:
        findings = present_findings(session, source, table)
    grouped: dict[tuple[str, str, str], list[PiiFinding]] = defaultdict(list)
    for finding in findings:
        grouped[(finding.source, finding.table_name, finding.column_name)].append(finding)
    columns: list[PiiColumn] = []
    for (src, tbl, col), rows in grouped.items():
        column = PiiColumn(relation=f"{raw_schema(src)}.{tbl}", column=col, table=tbl, source=src)
        column.kinds = [row.kind for row in rows]
        column.findings = [_finding(row) for row in rows]
        column.evidence = sorted({e for entry in column.findings for e in entry["evidence"]})
        shares = [row.share for row in rows if row.share is not None]
        column.share = max(shares) if shares else None
        column.sample_size = max(row.sample_size for row in rows)
        column.first_seen_at = min(row.first_seen_at for row in rows)
        column.detected_at = max(row.detected_at for row in rows)
        column.pii = True
        _apply(column, source_override(project, src, tbl, col))
        column.new = column.pii and any(row.new for row in rows)
        columns.append(column)
    listed = {(c.source, c.table.lower(), c.column.lower()) for c in columns}
    for override in project.config.governance.pii_overrides:
        if override.source is None or override.table is None:
            continue
        if (source and override.source != source) or (table and override.table != table):
            continue
        key = (override.source, override.table.lower(), override.column.lower())
        if key in listed:
            continue
        listed.add(key)
        column = PiiColumn(
            relation=f"{raw_schema(override.source)}.{override.table}",
            column=override.column,
            table=override.table,
            source=override.source,
        )
        _apply(column, override)
        columns.append(column)
    return sorted(columns, key=lambda c: (c.relation, c.column))


def model_pii(
    project: Project, raw: list[PiiColumn], conn: duckdb.DuckDBPyConnection
) -> list[PiiColumn]:
    """Model columns made PII (or declared not PII) by lineage from `raw` and by model
    overrides (only the overrides when there is no dbt manifest yet)."""
    graph = _graph(project, conn)
    edges, models = (graph[0].edges, graph[1]) if graph is not None else ([], {})
    overrides = _model_overrides(project)
    state: dict[ColumnRef, tuple[set[str], set[str]]] = {}
    for column in raw:
        if column.pii:
            ref = ColumnRef(column.relation.lower(), column.column.lower())
            state[ref] = (set(column.kinds or [OVERRIDE_KIND]), {f"{ref.table}.{ref.column}"})
    for (model, col), override in overrides.items():
        node = models.get(model)
        if override.pii and node is not None:
            ref = ColumnRef(relation_of(node), col)
            state[ref] = ({OVERRIDE_KIND}, {f"{ref.table}.{ref.column}"})
    by_source: dict[ColumnRef, list[ColumnEdge]] = defaultdict(list)
    for edge in edges:
        if edge.kind in CARRYING_EDGES:
            by_source[edge.source].append(edge)
    by_relation = {relation_of(node): node for node in models.values()}
    blocked: dict[ColumnRef, tuple[set[str], set[str]]] = defaultdict(lambda: (set(), set()))
    queue = list(state)
    while queue:
        ref = queue.pop()
        kinds, origins = state[ref]
        for edge in by_source.get(ref, ()):
            target = edge.target
            node = by_relation.get(target.table)
            if node is None:
                continue
            decided = overrides.get((node.name, target.column))
            if decided is not None and not decided.pii:
                blocked[target][0].update(kinds)  # shown as derived, but declared not PII
                blocked[target][1].update(origins)
                continue
            old_kinds, old_origins = state.get(target, (set(), set()))
            merged = (old_kinds | kinds, old_origins | origins)
            if merged != (old_kinds, old_origins):
                state[target] = merged
                queue.append(target)
    columns: dict[ColumnRef, PiiColumn] = {}
    for ref, (kinds, origins) in state.items():
        node = by_relation.get(ref.table)
        if node is None:
            continue
        column = _model_column(ref, node, origins)
        column.kinds = sorted(kinds - {OVERRIDE_KIND} or kinds)
        column.pii = True
        _apply(column, overrides.get((node.name, ref.column)))
        columns[ref] = column
    for ref, (kinds, origins) in blocked.items():
        node = by_relation[ref.table]
        column = columns.setdefault(ref, _model_column(ref, node, origins))
        column.kinds = sorted(kinds - {OVERRIDE_KIND})
        _apply(column, overrides[(node.name, ref.column)])
    for (model, col), override in overrides.items():
        node = models.get(model)
        ref = ColumnRef(relation_of(node) if node else model, col)
        if ref not in columns:
            column = PiiColumn(relation=ref.table, column=col, table=node.table if node else model,
                               model=model)
            _apply(column, override)
            columns[ref] = column
    return sorted(columns.values(), key=lambda c: (c.relation, c.column))


def effective_pii(
    project: Project,
    store: MetadataStore,
    conn: duckdb.DuckDBPyConnection | None = None,
    *,
    models: bool = True,
) -> list[PiiColumn]:
    """Every raw and (with `models`) model column with PII evidence or an override.
    `conn`: a read-only warehouse session (opened here when None and models are wanted)."""
    raw = raw_pii(project, store)
    if not models:
        return raw
    if conn is None:
        with Warehouse(project).reader() as reader:
            return raw + model_pii(project, raw, reader)
    return raw + model_pii(project, raw, conn)


def pii_columns(
    project: Project, store: MetadataStore, conn: duckdb.DuckDBPyConnection | None = None
) -> dict[str, dict[str, list[str]]]:
    """Effective PII columns for the catalog: `schema.table` -> {column: kinds}, raw
    tables and dbt models alike; columns declared not PII are left out."""
    found: dict[str, dict[str, list[str]]] = {}
    for column in effective_pii(project, store, conn):
        if column.pii:
            found.setdefault(column.relation, {})[column.column] = column.kinds or [OVERRIDE_KIND]
    return found


def table_pii(
    project: Project, store: MetadataStore, source: str, table: str
) -> dict[str, PiiColumn]:
    """Column name -> its PII entry, for one source table (no warehouse needed)."""
    return {column.column: column for column in raw_pii(project, store, source, table)}


def _apply(column: PiiColumn, override: PiiOverride | None) -> None:
    if override is None:
        return
    column.overridden = True
    column.override_reason = override.reason
    column.pii = override.pii
    column.evidence.append(f"override: {override.reason}")
    if override.pii and not column.kinds:
        column.kinds = [OVERRIDE_KIND]


def _model_column(ref: ColumnRef, node: ManifestNode, origins: set[str]) -> PiiColumn:
    lineage = sorted(origins - {f"{ref.table}.{ref.column}"})
    return PiiColumn(
        relation=ref.table,
        column=ref.column,
        table=node.table,
        model=node.name,
        lineage_from=lineage,
        evidence=[f"lineage from {origin}" for origin in lineage],
    )


def _finding(row: PiiFinding) -> dict[str, Any]:
    evidence = (["values"] if row.share is not None and row.matches else []) + (
        ["name_hint"] if row.name_hint else []
    )
    return {
        "kind": row.kind,
        "share": row.share,
        "matches": row.matches,
        "sample_size": row.sample_size,
        "evidence": evidence,
        "masked_example": row.masked_example,
        "column_type": row.column_type,
        "first_seen_at": row.first_seen_at,
        "detected_at": row.detected_at,
        "new": row.new,
    }


def _model_overrides(project: Project) -> dict[tuple[str, str], PiiOverride]:
    return {
        (o.model, o.column.lower()): o
        for o in project.config.governance.pii_overrides
        if o.model is not None
    }


_cache_lock = threading.Lock()
_cache: dict[str, tuple[tuple[Any, ...], ColumnGraph, dict[str, ManifestNode]]] = {}


def _graph(
    project: Project, conn: duckdb.DuckDBPyConnection
) -> tuple[ColumnGraph, dict[str, ManifestNode]] | None:
    """The column graph of the last dbt manifest and the models by name; None without a
    manifest. Analysing every model's SQL takes a while, so the graph is kept until the
    manifest or the warehouse's columns change."""
    target = dbt_paths(project).target_dir
    manifest_file = target / "manifest.json"
    try:
        stat = manifest_file.stat()
    except FileNotFoundError:
        return None
    schema = warehouse_schema(conn)
    key = (stat.st_mtime_ns, stat.st_size, hash(repr(sorted(schema.items()))))
    with _cache_lock:
        cached = _cache.get(str(manifest_file))
    if cached is not None and cached[0] == key:
        return cached[1], cached[2]
    try:
        manifest: Manifest = load_manifest(target, with_run_results=False)
    except ManifestError as exc:
        logger.warning("PII lineage skipped: %s", exc)
        return None
    graph = ColumnGraph(manifest, schema)
    models = {node.name: node for node in manifest.of_type("model")}
    with _cache_lock:
        _cache[str(manifest_file)] = (key, graph, models)
    return graph, models

"""dbt's `manifest.json` and `run_results.json`, read into small typed records.

Only the keys the catalog and lineage need are read, and every optional key may be missing:
manifests written by `dbt parse`, by older dbt versions or by hand-made fixtures all load.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from headwater.catalog.run_results import (
    RunResult,
    as_dict,
    as_str,
    as_time,
    parse_run_results,
)
from headwater.errors import TerminalError

MODEL_TYPES = ("model", "seed", "snapshot", "source")
"""Resource types that are tables or views in the warehouse (tests are kept apart)."""


class ManifestError(TerminalError):
    """dbt's manifest is missing or unreadable; the message names the file."""


@dataclass(frozen=True)
class ColumnDoc:
    """A column as documented in dbt's YAML."""

    name: str
    """Column name."""
    description: str = ""
    """Description from the YAML ('' when none)."""
    data_type: str | None = None
    """Declared data type, when the YAML gives one."""
    tags: tuple[str, ...] = ()
    """Column tags."""
    meta: Mapping[str, object] = field(default_factory=dict)
    """Column `meta`."""


@dataclass(frozen=True)
class ManifestNode:
    """A model, seed, snapshot or source of the dbt project."""

    unique_id: str
    """dbt's id, e.g. `model.shop.stg_orders`, `source.shop.orders.orders`."""
    name: str
    """Model name, or table name for a source."""
    resource_type: str
    """model, seed, snapshot or source."""
    package_name: str = ""
    """dbt package (project) the node belongs to."""
    database: str | None = None
    """Database (catalog) of the relation."""
    schema: str | None = None
    """Schema of the relation."""
    alias: str | None = None
    """Table name in the warehouse (model alias or source identifier)."""
    relation_name: str | None = None
    """Quoted `database.schema.table` as dbt renders it."""
    description: str = ""
    """Description from the YAML."""
    columns: tuple[ColumnDoc, ...] = ()
    """Documented columns, in YAML order."""
    depends_on: tuple[str, ...] = ()
    """unique_ids of the nodes this one reads."""
    raw_code: str | None = None
    """The model's SQL as written (Jinja included)."""
    compiled_code: str | None = None
    """The compiled SQL, from the manifest or the compiled file."""
    compiled_path: str | None = None
    """Where dbt wrote the compiled SQL (as dbt records it)."""
    original_file_path: str | None = None
    """The model's file in the dbt project."""
    materialized: str | None = None
    """config.materialized: table, view, incremental, seed, ..."""
    meta: Mapping[str, object] = field(default_factory=dict)
    """Merged `meta` and `config.meta`."""
    tags: tuple[str, ...] = ()
    """Node tags."""
    owner: str | None = None
    """meta.owner (or config.meta.owner)."""
    source_name: str | None = None
    """For a source: the source it belongs to (`orders` in `orders.orders`)."""
    last_result: RunResult | None = None
    """Its result in the last run_results.json, if it ran."""

    @property
    def display_name(self) -> str:
        """What people call it: the model name, or `source.table` for a source."""
        return f"{self.source_name}.{self.name}" if self.source_name else self.name

    @property
    def table(self) -> str:
        """The table (or view) name in the warehouse."""
        return self.alias or self.name


@dataclass(frozen=True)
class ManifestTest:
    """A dbt data test and its last result."""

    unique_id: str
    """dbt's id, e.g. `test.shop.unique_orders_id.1a2b3c`."""
    name: str
    """Test node name."""
    test_name: str
    """The generic test (`unique`, `not_null`, ...) or the singular test's name."""
    attached_node: str | None
    """unique_id of the model, seed or source under test."""
    column_name: str | None
    """The column under test, for column tests."""
    depends_on: tuple[str, ...] = ()
    """Every node the test reads (relationships tests read two)."""
    severity: str | None = None
    """error or warn."""
    last_result: RunResult | None = None
    """Its result in the last run_results.json, if it ran."""


@dataclass(frozen=True)
class Manifest:
    """The parts of a dbt manifest Headwater uses, joined with the last run results."""

    nodes: Mapping[str, ManifestNode]
    """Models, seeds, snapshots and sources by unique_id."""
    tests: Mapping[str, ManifestTest]
    """Tests by unique_id."""
    project_name: str | None = None
    """The root dbt project."""
    dbt_version: str | None = None
    """dbt version that wrote the manifest."""
    generated_at: datetime | None = None
    """When the manifest was written."""
    target_dir: Path | None = None
    """The target directory it was read from."""

    def of_type(self, *resource_types: str) -> list[ManifestNode]:
        """Nodes of the given resource types, sorted by unique_id."""
        return [n for _, n in sorted(self.nodes.items()) if n.resource_type in resource_types]

    def tests_of(self, unique_id: str) -> list[ManifestTest]:
        """Tests attached to node `unique_id`, sorted by column then name."""
        found = [t for t in self.tests.values() if t.attached_node == unique_id]
        return sorted(found, key=lambda t: (t.column_name or "", t.name))


def load_manifest(target_dir: Path | str, with_run_results: bool = True) -> Manifest:
    """Read `manifest.json` (and `run_results.json` when present) from dbt's target dir."""
    target = Path(target_dir)
    manifest_file = target / "manifest.json"
    manifest = _read_json(manifest_file)
    if manifest is None:
        raise ManifestError(f"no dbt manifest at {manifest_file}: run `headwater dbt build`")
    results = _read_json(target / "run_results.json") if with_run_results else None
    return parse_manifest(manifest, results, target)


def parse_manifest(
    manifest: Mapping[str, Any],
    run_results: Mapping[str, Any] | None = None,
    target_dir: Path | None = None,
) -> Manifest:
    """Build a Manifest from already-decoded JSON (tolerant of missing optional keys)."""
    results = parse_run_results(run_results or {})
    nodes: dict[str, ManifestNode] = {}
    tests: dict[str, ManifestTest] = {}
    raw_nodes = {**as_dict(manifest.get("nodes")), **as_dict(manifest.get("sources"))}
    for unique_id, raw in raw_nodes.items():
        if not isinstance(raw, Mapping):
            continue
        resource_type = str(raw.get("resource_type") or unique_id.split(".", 1)[0])
        if resource_type == "test":
            tests[unique_id] = _test(unique_id, raw, results.get(unique_id))
        elif resource_type in MODEL_TYPES:
            nodes[unique_id] = _node(unique_id, resource_type, raw, results, target_dir)
    metadata = as_dict(manifest.get("metadata"))
    return Manifest(
        nodes=nodes,
        tests=tests,
        project_name=as_str(metadata.get("project_name")),
        dbt_version=as_str(metadata.get("dbt_version")),
        generated_at=as_time(metadata.get("generated_at")),
        target_dir=target_dir,
    )


def _node(
    unique_id: str,
    resource_type: str,
    raw: Mapping[str, Any],
    results: Mapping[str, RunResult],
    target_dir: Path | None,
) -> ManifestNode:
    config = as_dict(raw.get("config"))
    # dbt 1.10+ moved meta into config; older manifests keep it top-level. Merge both.
    meta = {**as_dict(config.get("meta")), **as_dict(raw.get("meta"))}
    owner = meta.get("owner")
    columns = tuple(
        ColumnDoc(
            name=str(col.get("name") or name),
            description=str(col.get("description") or ""),
            data_type=as_str(col.get("data_type")),
            tags=tuple(str(t) for t in col.get("tags") or ()),
            meta=as_dict(col.get("meta")),
        )
        for name, col in as_dict(raw.get("columns")).items()
        if isinstance(col, Mapping)
    )
    compiled_path = as_str(raw.get("compiled_path"))
    compiled_code = as_str(raw.get("compiled_code")) or _read_compiled(compiled_path, target_dir)
    if compiled_code is None and compiled_path is None and raw.get("original_file_path"):
        # A build of a selection records compiled SQL only for the nodes it selected; the
        # others keep the file their last build compiled, where dbt always writes it.
        last = f"target/compiled/{raw.get('package_name')}/{raw['original_file_path']}"
        compiled_code = _read_compiled(last, target_dir)
        compiled_path = last if compiled_code is not None else None
    return ManifestNode(
        unique_id=unique_id,
        name=str(raw.get("name") or unique_id.rsplit(".", 1)[-1]),
        resource_type=resource_type,
        package_name=str(raw.get("package_name") or ""),
        database=as_str(raw.get("database")),
        schema=as_str(raw.get("schema")),
        alias=as_str(raw.get("identifier") if resource_type == "source" else raw.get("alias")),
        relation_name=as_str(raw.get("relation_name")),
        description=str(raw.get("description") or ""),
        columns=columns,
        depends_on=tuple(str(n) for n in as_dict(raw.get("depends_on")).get("nodes") or ()),
        raw_code=as_str(raw.get("raw_code") or raw.get("raw_sql")),
        compiled_code=compiled_code,
        compiled_path=compiled_path,
        original_file_path=as_str(raw.get("original_file_path")),
        materialized=as_str(config.get("materialized")),
        meta=meta,
        tags=tuple(str(t) for t in raw.get("tags") or config.get("tags") or ()),
        owner=str(owner) if owner else None,
        source_name=as_str(raw.get("source_name")) if resource_type == "source" else None,
        last_result=results.get(unique_id),
    )


def _test(unique_id: str, raw: Mapping[str, Any], result: RunResult | None) -> ManifestTest:
    config = as_dict(raw.get("config"))
    metadata = as_dict(raw.get("test_metadata"))
    depends_on = tuple(str(n) for n in as_dict(raw.get("depends_on")).get("nodes") or ())
    column = raw.get("column_name") or as_dict(metadata.get("kwargs")).get("column_name")
    # Older manifests lack attached_node: the first node a test reads is the one it tests.
    attached = raw.get("attached_node") or next(iter(depends_on), None)
    return ManifestTest(
        unique_id=unique_id,
        name=str(raw.get("name") or unique_id),
        test_name=str(metadata.get("name") or raw.get("name") or unique_id),
        attached_node=as_str(attached),
        column_name=as_str(column),
        depends_on=depends_on,
        severity=as_str(config.get("severity")),
        last_result=result,
    )


def _read_compiled(compiled_path: str | None, target_dir: Path | None) -> str | None:
    """The compiled SQL file, for manifests written without compiled_code (`dbt parse`)."""
    if not compiled_path:
        return None
    path = Path(compiled_path)
    candidates = [path] if path.is_absolute() else []
    if target_dir is not None and not path.is_absolute():
        # dbt records `target/compiled/...` relative to the project; Headwater keeps target/
        # elsewhere, so also try the path below the actual target dir.
        candidates += [target_dir.parent / path, target_dir.joinpath(*path.parts[1:])]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.read_text()
    return None


def _read_json(path: Path) -> Mapping[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ManifestError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, Mapping):
        raise ManifestError(f"{path} is not a JSON object")
    return data

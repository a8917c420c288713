"""Loading dbt's manifest.json and run_results.json from a real dbt build."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from headwater.catalog import ManifestError, load_manifest, parse_manifest
from headwater.catalog.manifest import Manifest
from tests.catalog.tiny_dbt import TinyBuild, tiny_build


@pytest.fixture(scope="module")
def build() -> TinyBuild:
    return tiny_build()


@pytest.fixture(scope="module")
def manifest(build: TinyBuild) -> Manifest:
    return load_manifest(build.target_dir)


def test_nodes_of_each_kind(manifest: Manifest) -> None:
    assert manifest.project_name == "tiny"
    assert manifest.dbt_version and manifest.dbt_version.startswith("1.")
    assert [n.name for n in manifest.of_type("model")] == ["a", "b", "c", "d"]
    assert [n.display_name for n in manifest.of_type("source")] == [
        "orders.orders", "shop.customers"
    ]
    assert [n.name for n in manifest.of_type("seed")] == ["countries"]


def test_model_fields(manifest: Manifest) -> None:
    a = manifest.nodes["model.tiny.a"]
    assert (a.resource_type, a.database, a.schema, a.table) == ("model", "lake", "main", "a")
    assert a.relation_name == '"lake"."main"."a"'
    assert a.description == "Orders with their customer"
    assert a.materialized == "table"
    assert a.owner == "alice" and a.tags == ("core",)
    assert set(a.depends_on) == {"source.tiny.orders.orders", "source.tiny.shop.customers"}
    assert a.raw_code and "{{ source('orders', 'orders') }}" in a.raw_code
    assert a.compiled_code and '"lake"."raw_orders"."orders"' in a.compiled_code
    assert a.compiled_path and a.compiled_path.endswith("models/a.sql")
    [column] = a.columns
    assert (column.name, column.description, column.data_type) == ("id", "the order id", "integer")
    assert a.last_result is not None and a.last_result.status == "success"
    assert a.last_result.completed_at is not None and a.last_result.completed_at.tzinfo
    assert manifest.nodes["model.tiny.d"].owner == "bob"


def test_source_fields(manifest: Manifest) -> None:
    orders = manifest.nodes["source.tiny.orders.orders"]
    assert (orders.source_name, orders.schema, orders.table) == ("orders", "raw_orders", "orders")
    assert orders.description == "One row per order"
    assert orders.columns[0].description == "order id"
    assert orders.last_result is None  # sources are not built


def test_tests_know_their_node_column_and_last_result(manifest: Manifest) -> None:
    [unique] = manifest.tests_of("model.tiny.a")
    assert (unique.test_name, unique.column_name) == ("unique", "id")
    assert unique.last_result is not None and unique.last_result.status == "pass"
    [accepted] = manifest.tests_of("model.tiny.d")
    assert accepted.test_name == "accepted_values" and accepted.severity == "warn"
    assert accepted.last_result is not None
    assert (accepted.last_result.status, accepted.last_result.failures) == ("warn", 1)
    [source_test] = manifest.tests_of("source.tiny.orders.orders")
    assert (source_test.test_name, source_test.column_name) == ("not_null", "id")
    assert len(manifest.tests) == 5


def test_without_run_results(build: TinyBuild) -> None:
    manifest = load_manifest(build.target_dir, with_run_results=False)
    assert all(n.last_result is None for n in manifest.nodes.values())
    assert all(t.last_result is None for t in manifest.tests.values())


def test_compiled_sql_read_from_the_compiled_file_when_missing(build: TinyBuild) -> None:
    data = json.loads((build.target_dir / "manifest.json").read_text())
    del data["nodes"]["model.tiny.b"]["compiled_code"]
    manifest = parse_manifest(data, None, build.target_dir)
    compiled = manifest.nodes["model.tiny.b"].compiled_code
    assert compiled == 'select id, amount from "lake"."main"."a"'


def test_a_node_left_out_of_the_last_build_keeps_its_last_compiled_file(
    build: TinyBuild, tmp_path: Path
) -> None:
    # `dbt build --select a` writes a manifest without compiled SQL or path for b.
    target = shutil.copytree(build.target_dir, tmp_path / "target")
    data = json.loads((target / "manifest.json").read_text())
    del data["nodes"]["model.tiny.b"]["compiled_code"]
    del data["nodes"]["model.tiny.b"]["compiled_path"]
    node = parse_manifest(data, None, target).nodes["model.tiny.b"]
    assert node.compiled_code == 'select id, amount from "lake"."main"."a"'
    assert node.compiled_path == "target/compiled/tiny/models/b.sql"
    (target / "compiled/tiny/models/b.sql").unlink()  # never built: nothing to read
    node = parse_manifest(data, None, target).nodes["model.tiny.b"]
    assert (node.compiled_code, node.compiled_path) == (None, None)


def test_tolerates_missing_optional_keys() -> None:
    manifest = parse_manifest(
        {
            "nodes": {
                "model.p.m": {"resource_type": "model", "meta": {"owner": "eve"}},
                "test.p.t": {"depends_on": {"nodes": ["model.p.m"]}},
                "analysis.p.x": {"resource_type": "analysis"},
            },
            "sources": {"source.p.s.t": {"resource_type": "source", "name": "t"}},
        },
        {"results": [{"unique_id": "model.p.m", "status": "error", "message": "boom"}]},
    )
    model = manifest.nodes["model.p.m"]
    assert (model.name, model.owner, model.columns, model.compiled_code) == ("m", "eve", (), None)
    assert model.last_result is not None and model.last_result.message == "boom"
    assert model.last_result.completed_at is None
    assert manifest.tests["test.p.t"].attached_node == "model.p.m"
    assert set(manifest.nodes) == {"model.p.m", "source.p.s.t"}
    assert manifest.project_name is None


def test_missing_manifest_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"no dbt manifest at .*manifest\.json"):
        load_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ManifestError, match="cannot read"):
        load_manifest(tmp_path)

"""The generated dbt profile: DuckLake attached as `lake`, no secrets, no extension installs."""

from __future__ import annotations

import pytest

from headwater.dbt.profile import profile_dict
from tests.conftest import MakeProject


def test_postgres_catalog_reads_its_url_from_the_env_at_run_time(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKE_URL", "postgresql://hw:secret@db/lake")
    project = make_project(
        "project: {name: p}\n"
        "warehouse: {catalog: {type: postgres, url_env: LAKE_URL}, data_path: files}\n"
    )
    output = profile_dict(project)["headwater"]["outputs"]["lake"]
    [attach] = output["attach"]
    assert attach["path"] == "ducklake:postgres:{{ env_var('LAKE_URL') }}"
    assert "secret" not in repr(output)
    assert attach["alias"] == "lake" and output["database"] == "lake"
    assert attach["options"] == {
        "data_path": f"{project.root / 'files'}/",
        "metadata_schema": "lake",  # where dlt and Warehouse.connect keep the catalog
    }
    assert output["threads"] == 2  # a PostgreSQL catalog takes parallel commits
    assert output["config_options"]["autoinstall_known_extensions"] is False


def test_sqlite_catalog_uses_the_warehouse_files(make_project: MakeProject) -> None:
    project = make_project("project: {name: p}\n")
    output = profile_dict(project)["headwater"]["outputs"]["lake"]
    [attach] = output["attach"]
    catalog = project.root / ".headwater/warehouse/catalog.sqlite"
    assert attach["path"] == f"ducklake:sqlite:{catalog}"
    assert attach["options"]["meta_journal_mode"] == "WAL"
    assert output["path"] == ":memory:" and output["threads"] == 1
    assert output["config_options"]["extension_directory"] == str(
        project.root / ".headwater/duckdb_extensions"
    )

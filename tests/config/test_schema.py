"""The committed JSON schema of project.yml matches the models and accepts what they accept."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from headwater.config.schema import (
    SCHEMA_PATH,
    project_json_schema,
    render_schema,
    schema_is_current,
    write_schema,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def as_json_data(yaml_text: str) -> Any:
    """YAML as editors see it: dates stay strings (the language server reads YAML 1.2)."""
    data = YAML(typ="safe").load(StringIO(yaml_text))
    return json.loads(json.dumps(data, default=str))


def schema_errors(yaml_text: str) -> list[str]:
    """Messages of the JSON schema validation of `yaml_text`."""
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(project_json_schema())
    return [error.message for error in validator.iter_errors(as_json_data(yaml_text))]


def test_committed_schema_is_current() -> None:
    assert SCHEMA_PATH == REPO_ROOT / "schemas" / "project.schema.json"
    assert schema_is_current(), (
        "schemas/project.schema.json is stale (the config models changed); "
        "regenerate it with `headwater schema --write` and commit the result"
    )


def test_rendering_is_stable_json() -> None:
    text = render_schema()
    assert text.endswith("}\n")
    assert text == render_schema()
    schema = json.loads(text)
    assert text == json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "Headwater project.yml"
    assert "headwater schema --write" in schema["description"]


def test_schema_uses_yaml_key_names() -> None:
    sql = project_json_schema()["$defs"]["SqlSource"]["properties"]
    assert "schema" in sql
    assert "schema_name" not in sql


def test_project_json_schema_returns_a_fresh_copy() -> None:
    project_json_schema()["$defs"].clear()
    assert project_json_schema()["$defs"]


def test_write_schema_only_rewrites_when_changed(tmp_path: Path) -> None:
    target = tmp_path / "schemas" / "project.schema.json"
    assert write_schema(target) is True
    assert target.read_text() == render_schema()
    assert write_schema(target) is False
    target.write_text("{}\n")
    assert schema_is_current(target) is False
    assert write_schema(target) is True


def test_full_example_is_valid_under_the_schema(full_example: str) -> None:
    assert schema_errors(full_example) == []


def test_schema_rejects_unknown_keys_and_bad_values() -> None:
    errors = schema_errors(
        "project:\n  name: demo\n  colour: blue\nsources:\n  crm:\n    type: sql\n"
        "    url: sqlite:///x.db\n    backend: pandas\n"
    )
    assert len(errors) >= 2


def test_schema_accepts_sql_tables_as_a_list() -> None:
    text = (
        "project:\n  name: demo\nsources:\n  crm:\n    type: sql\n"
        "    url: sqlite:///x.db\n    tables: [customers, orders]\n"
    )
    assert schema_errors(text) == []

"""The JSON schema of project.yml, derived from the pydantic models.

Editors validate and complete project.yml through it (`# yaml-language-server:
$schema=schemas/project.schema.json`). The committed file is generated, never edited by hand:
`headwater schema --write` rewrites it, and a test fails when it is stale.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from headwater.config.models import ProjectConfig

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "project.schema.json"
"""Where the committed schema lives: `schemas/project.schema.json` at the repository root."""

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
"""The JSON Schema dialect pydantic generates."""


@cache
def _model_schema() -> dict[str, Any]:
    return ProjectConfig.model_json_schema(by_alias=True)


def project_json_schema() -> dict[str, Any]:
    """The JSON schema of project.yml, using the YAML key names (aliases such as `schema`)."""
    return {
        "$schema": SCHEMA_DIALECT,
        **copy.deepcopy(_model_schema()),
        "title": "Headwater project.yml",
        "description": (
            "Sources, schedules, consoles and governance of a Headwater project. "
            "Generated from headwater.config by `headwater schema --write`; do not edit."
        ),
    }


def render_schema() -> str:
    """The schema as stable JSON text (sorted keys, 2-space indent, trailing newline), so
    that regenerating it only changes the file when the models changed."""
    return json.dumps(project_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def schema_is_current(path: Path = SCHEMA_PATH) -> bool:
    """Whether the file at `path` holds exactly what `render_schema()` produces now."""
    try:
        return path.read_text(encoding="utf-8") == render_schema()
    except FileNotFoundError:
        return False


def write_schema(path: Path = SCHEMA_PATH) -> bool:
    """Write the schema to `path` (creating its directory); return whether the file changed."""
    text = render_schema()
    if schema_is_current(path):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


# --- navigation, for the loader's error messages ------------------------------------------
# `path` holds YAML keys and list indexes; `chain[i]` is the parsed YAML value reached after
# `path[:i]` (chain[0] is the whole file), used to pick the member of a union.


def allowed_keys(path: list[str | int], chain: list[Any]) -> list[str]:
    """The keys the schema allows at `path`."""
    node, _ = node_at(path, chain)
    node = _select_branch(node, chain[len(path)], _model_schema().get("$defs", {}))
    return sorted(node.get("properties", {}))


def node_at(path: list[str | int], chain: list[Any]) -> tuple[dict[str, Any], str]:
    """The JSON schema node at `path` (following $refs, dict values and `type:` tags) and the
    name of the last model field on the way (`sources` for `sources.crm`)."""
    defs = _model_schema().get("$defs", {})
    node, field = _model_schema(), ""
    for depth, part in enumerate(path):
        node = _select_branch(node, chain[depth], defs)
        props = node.get("properties", {})
        if isinstance(part, str) and part in props:
            node, field = props[part], part
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        elif node.get("patternProperties"):
            node = next(iter(node["patternProperties"].values()))
        elif isinstance(node.get("items"), dict):
            node = node["items"]
        else:
            return {}, field
    return node, field


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[-1]]
    return node


def _select_branch(node: dict[str, Any], data: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """The member of a (possibly nested or optional) union that matches the data, by its
    `type:` tag or by its shape."""
    node = _resolve(node, defs)
    members = node.get("oneOf") or node.get("anyOf")
    if not members:
        return node
    mapping = node.get("discriminator", {}).get("mapping", {})
    if isinstance(data, dict) and data.get("type") in mapping:
        return _resolve({"$ref": mapping[data["type"]]}, defs)
    shape = "object" if isinstance(data, dict) else "array" if isinstance(data, list) else ""
    candidates = [_select_branch(member, data, defs) for member in members]
    for candidate in candidates:
        if shape and candidate.get("type") == shape:
            return candidate
    return next((c for c in candidates if c.get("type") != "null"), candidates[0])


def union_tags(node: dict[str, Any]) -> list[str]:
    """The `type:` values a discriminated union (possibly optional) accepts."""
    node = _resolve(node, _model_schema().get("$defs", {}))
    if "discriminator" in node:
        # The schema sorts the mapping; the member order is the documented order.
        refs = {ref: tag for tag, ref in node["discriminator"].get("mapping", {}).items()}
        return [refs[member["$ref"]] for member in node["oneOf"] if member.get("$ref") in refs]
    members = node.get("oneOf") or node.get("anyOf") or []
    return next((tags for tags in map(union_tags, members) if tags), [])

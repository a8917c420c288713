"""Read project.yml into a `ProjectConfig`, reporting every problem with file and line.

Errors read like `project.yml:42  sources.orders.write_disposition: 'merg' is not one of
append, replace, merge (did you mean 'merge'?)`.
"""

from __future__ import annotations

import difflib
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from headwater.config.models import ProjectConfig
from headwater.errors import ConfigError


@cache
def _project_schema() -> dict[str, Any]:
    return ProjectConfig.model_json_schema(by_alias=True)


def parse_yaml(path: Path) -> Any:
    """Parse a YAML file keeping line numbers; duplicate keys and syntax errors raise
    `ConfigError` naming the line."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file; pass --project PATH or set HEADWATER_PROJECT, "
            "or create one with `headwater init`"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        return yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        problem = exc.problem or "invalid YAML"
        if "duplicate key" in problem:
            key = problem.split('"')[1] if '"' in problem else ""
            first = exc.context_mark.line + 1 if exc.context_mark else line
            problem = f"duplicate key '{key}' (first defined in the mapping at line {first})"
        raise ConfigError(f"{path.name}:{line}  {problem}") from None


def load_config(path: Path) -> ProjectConfig:
    """Load and validate project.yml; raise `ConfigError` listing every problem at once."""
    data = parse_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path.name}:1  the file must be a mapping with at least a `project:` section"
        )
    try:
        return ProjectConfig.model_validate(data)
    except ValidationError as exc:
        lines = [_format_error(path.name, data, error) for error in exc.errors()]
        raise ConfigError("\n".join(dict.fromkeys(lines))) from None


def _format_error(file_name: str, data: Any, error: ErrorDetails) -> str:
    """One error as `file:line  yaml.path: message`."""
    yaml_path, node_chain = _yaml_path(data, error["loc"])
    line = _line_of(node_chain, yaml_path)
    dotted = ".".join(str(part) for part in yaml_path) or "(top level)"
    return f"{file_name}:{line}  {dotted}: {_message(error, yaml_path, node_chain)}"


def _yaml_path(data: Any, loc: tuple[int | str, ...]) -> tuple[list[str | int], list[Any]]:
    """Map pydantic's loc onto keys that exist in the YAML (dropping union tags)."""
    path: list[str | int] = []
    chain: list[Any] = [data]
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        elif isinstance(node, dict) and node.get("type") == part:
            continue  # discriminated-union tag that pydantic inserts into the loc
        elif isinstance(node, dict) and isinstance(part, str) and "[" in part:
            continue  # union member label such as 'dict[str,SqlTable]'
        else:
            path.append(part)
            chain.append(None)
            break
        path.append(part)
        chain.append(node)
    return path, chain


def _line_of(chain: list[Any], path: list[str | int]) -> int:
    """Line (1-based) of the deepest YAML node on the path that exists."""
    for depth in range(len(path), 0, -1):
        parent = chain[depth - 1]
        key = path[depth - 1]
        if isinstance(parent, CommentedMap) and key in parent:
            return int(parent.lc.key(key)[0]) + 1
        if isinstance(parent, CommentedSeq) and isinstance(key, int) and key < len(parent):
            return int(parent.lc.item(key)[0]) + 1
        if isinstance(parent, (CommentedMap, CommentedSeq)) and parent.lc.line is not None:
            return int(parent.lc.line) + 1
    return 1


def _message(error: ErrorDetails, path: list[str | int], chain: list[Any]) -> str:
    kind = error["type"]
    ctx = error.get("ctx", {})
    given = error.get("input")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(path[:-1], chain[:-1])
        hint = _did_you_mean(str(path[-1]), allowed)
        known = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
        return f"unknown key{hint or known}"
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error":
        options = [opt.strip().strip("'") for opt in _split_options(ctx.get("expected", ""))]
        return f"{given!r} is not one of {', '.join(options)}{_did_you_mean(str(given), options)}"
    if kind == "union_tag_invalid":
        options = [opt.strip().strip("'") for opt in _split_options(ctx.get("expected_tags", ""))]
        tag = ctx.get("tag")
        return (
            f"unknown source type {tag!r}; known types: {', '.join(options)}"
            f"{_did_you_mean(str(tag), options)}"
        )
    if kind == "union_tag_not_found":
        return "`type:` is missing; it selects the kind of source (files, sql, rest_api)"
    if kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern", "")
        if pattern.startswith("^[A-Z_]"):
            return f"{given!r} is not an env var name (upper case, digits, underscores)"
        return f"{given!r} must be lower case letters, digits and underscores, starting with a letter"
    message = error["msg"].removeprefix("Value error, ")
    return message


def _split_options(expected: str) -> list[str]:
    return [part for chunk in expected.split(" or ") for part in chunk.split(",") if part.strip()]


def _did_you_mean(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _allowed_keys(path: list[str | int], chain: list[Any]) -> list[str]:
    """The keys the schema allows at `path`, following $refs, dict values and `type:` tags."""
    schema = _project_schema()
    defs = schema.get("$defs", {})
    node: dict[str, Any] = schema
    for depth, part in enumerate(path):
        node = _select_branch(_resolve(node, defs), chain[depth], defs)
        props = node.get("properties", {})
        if isinstance(part, str) and part in props:
            node = props[part]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        elif node.get("patternProperties"):
            node = next(iter(node["patternProperties"].values()))
        elif isinstance(node.get("items"), dict):
            node = node["items"]
        else:
            return []
    node = _select_branch(_resolve(node, defs), chain[len(path)], defs)
    return sorted(node.get("properties", {}))


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[-1]]
    return node


def _select_branch(node: dict[str, Any], data: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """Pick the member of a union that matches the data (by `type:` or by shape)."""
    members = node.get("oneOf") or node.get("anyOf")
    if not members:
        return node
    mapping = node.get("discriminator", {}).get("mapping", {})
    if isinstance(data, dict) and data.get("type") in mapping:
        return _resolve({"$ref": mapping[data["type"]]}, defs)
    for member in members:
        resolved = _resolve(member, defs)
        if resolved.get("type") == "object" and isinstance(data, dict):
            return resolved
    return _resolve(members[0], defs)

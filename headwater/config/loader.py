"""Read project.yml into a `ProjectConfig`, reporting every problem with file and line.

Errors read like `project.yml:42  sources.orders.write_disposition: 'merg' is not one of
append, replace, merge (did you mean 'merge'?)`: pydantic's error types are translated into
plain English that says what is wrong and how to fix it, and the YAML line numbers kept by
ruamel's round-trip loader locate each one.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from headwater.config.models import ProjectConfig
from headwater.config.schema import allowed_keys, node_at, union_tags
from headwater.errors import ConfigError

YamlPath = list[str | int]

_TYPE_WORDS = {
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "string": "text",
    "date": "a date (YYYY-MM-DD)",
    "datetime": "a date and time (YYYY-MM-DD HH:MM:SS)",
    "dict": "a mapping (indented `key: value` lines)",
    "model": "a mapping (indented `key: value` lines)",
    "list": "a list (`- item` lines or [a, b])",
}
_BOUNDS = {
    "greater_than_equal": ("ge", "at least"),
    "greater_than": ("gt", "greater than"),
    "less_than_equal": ("le", "at most"),
    "less_than": ("lt", "less than"),
}


def parse_yaml(path: Path) -> Any:
    """Parse a YAML file keeping line numbers; a missing file, a duplicate key or a syntax
    error raises `ConfigError` naming the line."""
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
        raise ConfigError(f"{path.name}:{_yaml_problem(exc, text)}") from None


def _yaml_problem(exc: MarkedYAMLError, text: str) -> str:
    """`line  message` for a YAML error (without ruamel's quoting of the values)."""
    mark, context = exc.problem_mark or exc.context_mark, exc.context_mark
    line = mark.line + 1 if mark is not None else 1
    problem = exc.problem or "invalid YAML"
    match = re.match(r'found duplicate key "(.*?)" with value', problem)
    if match and mark is not None:
        key, first = match.group(1), _first_key_line(text, match.group(1), context, mark)
        return f"{line}  duplicate key '{key}' (also at line {first}); keep only one of them"
    tabs = "'\\t'" in problem
    hint = "indent with spaces, not tabs" if tabs else "check the indentation, quotes and brackets"
    where = f" ({exc.context} at line {context.line + 1})" if exc.context and context else ""
    return f"{line}  invalid YAML: {problem}{where}; {hint}"


def _first_key_line(text: str, key: str, start: Any, duplicate: Any) -> int:
    """Line of the first `key:` at the duplicate's column within the same mapping: ruamel
    only reports where the mapping starts."""
    lines = text.splitlines()
    first_line = start.line if start is not None else 0
    pattern = re.compile(rf"(-\s+)?{re.escape(key)}[\"']?\s*:")
    for number in range(first_line, duplicate.line):
        before = lines[number][: duplicate.column]
        if before.strip(" -") == "" and pattern.match(lines[number], duplicate.column):
            return number + 1
    return first_line + 1


def load_config(path: Path) -> ProjectConfig:
    """Load and validate project.yml; raise `ConfigError` listing every problem at once,
    one `file:line  yaml.path: message` line each, in file order."""
    data = parse_yaml(path)
    if not isinstance(data, dict):
        got = "empty" if data is None else f"{_show(data)}, not a mapping"
        raise ConfigError(
            f"{path.name}:1  the file is {got}; it needs at least a `project:` section "
            "with a `name:`"
        )
    try:
        return ProjectConfig.model_validate(data)
    except ValidationError as exc:
        problems = _problems(data, exc.errors())
        lines = [f"{path.name}:{line}  {where}: {message}" for line, where, message in problems]
        raise ConfigError("\n".join(dict.fromkeys(lines))) from None


def _problems(data: Any, errors: list[ErrorDetails]) -> list[tuple[int, str, str]]:
    """(line, dotted path, message) per problem, sorted by line; the per-member errors of a
    failed union (`int | date | str`) become one message listing what would be accepted."""
    located: dict[tuple[str | int, ...], list[tuple[ErrorDetails, list[Any], bool]]] = {}
    for error in errors:
        extra = tuple(getattr(error.get("ctx", {}).get("error"), "loc", ()))
        path, chain, in_union = _yaml_path(data, (*error["loc"], *extra), error["type"])
        located.setdefault(tuple(path), []).append((error, chain, in_union))
    problems = []
    for path_key, group in located.items():
        path, chain = list(path_key), group[0][1]
        line = _line_of(chain, path, missing=group[0][0]["type"] == "missing")
        dotted = ".".join(str(part) for part in path) or "(top level)"
        if group[0][0]["type"] in _TAG_ERRORS and _has_type_key(chain[-1]):
            # The wrong value is on the `type:` line, not on the entry's name.
            line, dotted = int(chain[-1].lc.key("type")[0]) + 1, f"{dotted}.type"
        merged = [e for e, _, in_union in group if in_union and _type_word(e["type"])]
        if len(merged) > 1:
            words = ", ".join(dict.fromkeys(_type_word(e["type"]) for e in merged))
            given = _show(merged[0].get("input"))
            problems.append((line, dotted, f"expected one of: {words}; got {given}"))
        problems += [
            (line, dotted, _message(error, path, chain))
            for error, _, _ in group
            if len(merged) < 2 or error not in merged
        ]
    return sorted(problems, key=lambda problem: problem[0])


def _yaml_path(data: Any, loc: tuple[Any, ...], kind: str) -> tuple[YamlPath, list[Any], bool]:
    """Map pydantic's loc onto keys that exist in the YAML; union tags and member labels
    (`sql`, `int`, `function-after[...]`) are dropped. Also says whether a label was seen."""
    path: YamlPath = []
    chain: list[Any] = [data]
    node, in_union = data, False
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if part == "[key]":
            break  # the dict key itself is invalid; the path already ends with it
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            node = node[part]
        elif isinstance(node, dict) and node.get("type") == part:
            continue  # discriminated-union tag that pydantic inserts into the loc
        elif isinstance(part, str) and not (last and kind in ("missing", "extra_forbidden")):
            in_union = True  # member label of a plain union: not a YAML key
            continue
        else:
            path.append(part)
            chain.append(None)
            break
        path.append(part)
        chain.append(node)
    return path, chain, in_union


_TAG_ERRORS = ("union_tag_invalid", "union_tag_not_found")
"""pydantic's errors about a discriminated union's `type:` tag."""


def _has_type_key(node: Any) -> bool:
    """Whether a YAML mapping has a `type:` key (present, maybe empty)."""
    return isinstance(node, CommentedMap) and "type" in node


def _line_of(chain: list[Any], path: YamlPath, missing: bool = False) -> int:
    """Line (1-based) of the deepest YAML key on the path that exists; a missing key is
    reported at the key of the mapping that lacks it."""
    for depth in range(len(path) - (1 if missing else 0), 0, -1):
        parent, key = chain[depth - 1], path[depth - 1]
        if isinstance(parent, CommentedMap) and key in parent:
            return int(parent.lc.key(key)[0]) + 1
        if isinstance(parent, CommentedSeq) and isinstance(key, int) and key < len(parent):
            return int(parent.lc.item(key)[0]) + 1
    return 1


def _message(error: ErrorDetails, path: YamlPath, chain: list[Any]) -> str:
    """Plain English for one pydantic error: what is wrong and how to fix it."""
    kind, ctx, given = error["type"], error.get("ctx", {}), error.get("input")
    if kind == "extra_forbidden":
        allowed = allowed_keys(path[:-1], chain[:-1])
        hint = _did_you_mean(str(path[-1]), allowed)
        known = f"; allowed keys: {', '.join(allowed)}" if allowed else "; remove it"
        return f"unknown key{hint or known}"
    if kind == "missing":
        return f"required key `{path[-1]}` is missing; add it{_about(path, chain)}"
    if kind == "literal_error":
        choices = _split_options(ctx.get("expected", ""))
        if isinstance(given, (dict, list)) or given is None:
            return f"must be one of {', '.join(choices)}, got {_show(given)}"
        return f"{_show(given)} is not one of {', '.join(choices)}{_did_you_mean(given, choices)}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        node, field = node_at(path, chain)
        options = _split_options(ctx.get("expected_tags", "")) or union_tags(node)
        noun = field.removesuffix("s") or "entry"
        if kind == "union_tag_not_found" or (isinstance(given, dict) and given["type"] is None):
            state = "missing" if kind == "union_tag_not_found" else "empty"
            return f"`type:` is {state}; set it to the kind of {noun}: {', '.join(options)}"
        tag = ctx.get("tag", "")
        return f"unknown {noun} type '{tag}'; known types: {', '.join(options)}" + (
            _did_you_mean(tag, options)
        )
    if kind == "string_pattern_mismatch":
        return _pattern_message(str(ctx.get("pattern", "")), given)
    if kind == "too_short" or kind == "too_long":
        least = "at least" if kind == "too_short" else "at most"
        count = ctx.get("min_length" if kind == "too_short" else "max_length")
        nouns = ("item", "items") if ctx.get("field_type") == "List" else ("entry", "entries")
        noun = nouns[0] if count == 1 else nouns[1]
        return f"must have {least} {'one' if count == 1 else count} {noun}{_about(path, chain)}"
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        return f"must be {words} {ctx.get(key)}, got {_show(given)}"
    if _type_word(kind) and given is None:
        return f"is empty; expected {_type_word(kind)}{_about(path, chain)}"
    if kind == "string_type" and not isinstance(given, (dict, list)):
        # YAML read 8080, true or 2024-01-01 as a number, boolean or date: quoting fixes it.
        return f'expected text, got {_show(given)}; write it in quotes ("{_show(given)}")'
    if _type_word(kind):
        return f"expected {_type_word(kind)}, got {_show(given)}{_about(path, chain)}"
    message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return message.replace("Input should be", "must be")


def _about(path: YamlPath, chain: list[Any]) -> str:
    """The field's documentation in brackets, so the message says what belongs there."""
    description = node_at(path, chain)[0].get("description", "")
    return f" ({' '.join(description.split()).rstrip('.')})" if description else ""


def _type_word(kind: str) -> str:
    """What a `*_type` / `*_parsing` error expected, in words ('' for other errors)."""
    if not kind.endswith(("_type", "_parsing", "_from_float")):
        return ""
    return _TYPE_WORDS.get(kind.split("_")[0], "")


def _pattern_message(pattern: str, given: Any) -> str:
    if pattern.startswith("^[A-Z_]"):
        # The value is not echoed: a secret typed where its env var name belongs would leak.
        return (
            "must be the name of an environment variable (upper case letters, digits and "
            "underscores, e.g. CRM_PASSWORD), not its value"
        )
    if pattern.startswith("^[a-z]"):
        suggestion = re.sub(r"[^a-z0-9_]+", "_", str(given).lower()).strip("_")[:63]
        hint = f" (e.g. '{suggestion}')" if re.match(pattern, suggestion) else ""
        return (
            f"{_show(given)} is not a valid name: use lower case letters, digits and "
            f"underscores, starting with a letter, at most 63 characters{hint}"
        )
    return f"{_show(given)} does not match the pattern {pattern}"


def _show(value: Any) -> str:
    """A value as the user wrote it; containers by their kind, never a Python repr."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dt.date):
        return value.isoformat()
    return f"'{value}'" if isinstance(value, str) else str(value)


def _split_options(expected: str) -> list[str]:
    parts = [part for chunk in expected.split(" or ") for part in chunk.split(",")]
    return [part.strip().strip("'") for part in parts if part.strip()]


def _did_you_mean(word: Any, options: list[str]) -> str:
    close = difflib.get_close_matches(str(word), options, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""

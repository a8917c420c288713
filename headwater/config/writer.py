"""Changing project.yml from code (the API's schedule changes) without losing what people
wrote: comments, key order, quoting and indentation stay as they were.

Every change is a round trip through ruamel.yaml: read the file as it is now, change one
node, write the text to a temporary file beside it, validate that file with the real loader
(every rule a hand edit must pass), and only then rename it over project.yml. A change that
would make the file invalid raises `ConfigError` and leaves project.yml untouched; readers
never see a half-written file. Writers of one file take turns (a file lock).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from itertools import pairwise
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from headwater.config.loader import load_config
from headwater.config.project import Project
from headwater.errors import ConfigError, TransientError

LOCK_TIMEOUT_SECONDS = 10.0
"""How long a change waits for another change of the same file."""

_local_lock = threading.Lock()
_KEY_LINE = re.compile(r"^(\s*)(- )?[^\s#-][^#]*:\s*(#.*)?$")
"""`key:` with nothing after it but a comment: its block follows on the next lines."""


def edit_project_file(path: Path, edit: Callable[[CommentedMap], None]) -> Project:
    """Apply `edit` to project.yml's round-trip data and write it back if it changed;
    returns the project as loaded from the new file. Raises `ConfigError` (file untouched)
    when the result does not validate, naming the problem as the loader does."""
    lock_file = path.parent / ".headwater" / f"{path.name}.lock"  # beside the project's state
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_file), timeout=LOCK_TIMEOUT_SECONDS)
    try:
        with _local_lock, lock:
            return _edit(path, edit)
    except Timeout:
        raise TransientError(
            f"{path.name} is being changed by another process; try again"
        ) from None


def _edit(path: Path, edit: Callable[[CommentedMap], None]) -> Project:
    try:
        current = load_config(path)
    except ConfigError as exc:
        raise ConfigError(
            f"{path.name} is invalid as it is; fix it before changing it here:\n{exc}"
        ) from None
    text = path.read_text(encoding="utf-8")
    yaml = round_trip_yaml(text)
    data = yaml.load(text)
    if not isinstance(data, CommentedMap):
        raise ConfigError(f"{path.name}: the file is not a mapping; fix it by hand first")
    edit(data)
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    new_text = buffer.getvalue()
    if new_text == text:
        return Project(config=current, file=path)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        temporary.write_text(new_text, encoding="utf-8")
        shutil.copymode(path, temporary)
        try:
            config = load_config(temporary)
        except ConfigError as exc:
            raise ConfigError(
                f"the change was not saved, it would make {path.name} invalid:\n"
                + str(exc).replace(temporary.name, path.name)
            ) from None
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return Project(config=config, file=path)


def round_trip_yaml(text: str) -> YAML:
    """A ruamel round-trip dumper that writes `text` back as it was: its quotes, no line
    re-wrapping, and its indentation of mappings and block sequences."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    mapping, offset = _guess_indent(text)
    yaml.indent(mapping=mapping, sequence=offset + 2, offset=offset)
    return yaml


def _guess_indent(text: str) -> tuple[int, int]:
    """(mapping indent, dash offset of block sequences): the most common steps after a
    `key:` line in `text`; (2, 0) when it has no nested blocks."""
    mappings: Counter[int] = Counter()
    offsets: Counter[int] = Counter()
    lines = [line for line in text.splitlines() if line.strip() and line.lstrip()[0] != "#"]
    for line, following in pairwise(lines):
        match = _KEY_LINE.match(line)
        if not match:
            continue
        parent = len(match.group(1)) + (2 if match.group(2) else 0)
        child = len(following) - len(following.lstrip(" "))
        if following.lstrip().startswith("- "):
            if child >= parent:
                offsets[child - parent] += 1
        elif child > parent:
            mappings[child - parent] += 1
    mapping = mappings.most_common(1)[0][0] if mappings else 2
    offset = offsets.most_common(1)[0][0] if offsets else 0
    return mapping, offset


def set_console_schedule(
    project_file: Path, console: str, schedule: Mapping[str, Any] | None
) -> Project:
    """Set (or with None remove) `consoles.<console>.schedule` in project.yml, keeping
    everything else as written; returns the reloaded project. `schedule` holds the keys as
    project.yml spells them (`cron` + `timezone`, or `interval`; `enabled`)."""

    def edit(data: CommentedMap) -> None:
        consoles = data.get("consoles")
        if not isinstance(consoles, dict) or not isinstance(consoles.get(console), dict):
            raise ConfigError(f"{project_file.name} has no console '{console}' to schedule")
        entry = consoles[console]
        if schedule is None:
            entry.pop("schedule", None)
            return
        # Cron expressions are quoted, as people write them (`*` may not start a plain word).
        values = {
            key: DoubleQuotedScalarString(value) if key == "cron" else value
            for key, value in schedule.items()
        }
        current = entry.get("schedule")
        if isinstance(current, CommentedMap):
            # Change the mapping in place: its style (flow or block) and comments stay.
            for key in [key for key in current if key not in values]:
                del current[key]
            for key, value in values.items():
                current[key] = value
            return
        fresh = CommentedMap(values)
        fresh.fa.set_flow_style()
        entry["schedule"] = fresh

    return edit_project_file(project_file, edit)

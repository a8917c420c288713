"""Writing a console's schedule back into project.yml: only that node changes; comments,
order, quoting and indentation stay; an invalid result is refused with the file untouched."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from headwater.config import load_project
from headwater.config.writer import set_console_schedule
from headwater.errors import ConfigError

PROJECT = """\
# yaml-language-server: $schema=schemas/project.schema.json
project:
    name: writer_test      # four-space indentation, kept

sources:
    orders:
        type: files
        tables:
            orders: {path: 'data/orders.csv', primary_key: [order_id]}

consoles:
    # Revenue per day; finance reads the export.
    revenue:
        description: "Revenue per day"
        sql: |
            SELECT 1 AS day,
                   2 AS revenue
        schedule: {cron: "0 7 * * *", timezone: Europe/Lisbon}   # before the stand-up
        assertions:
            not_null:
              - day
              - revenue
    adhoc:
        sql: SELECT 2 AS x   # on demand

schedules:
    nightly:
        sources: [orders]
        cron: '0 2 * * *'
"""


@pytest.fixture
def project_file(tmp_path: Path) -> Path:
    file = tmp_path / "project.yml"
    file.write_text(PROJECT)
    return file


def changed_lines(before: str, after: str) -> list[str]:
    """The lines removed (-) and added (+), without diff headers."""
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]


def test_changing_a_schedule_changes_only_its_line(project_file: Path) -> None:
    project = set_console_schedule(
        project_file, "revenue", {"cron": "30 6 * * 1-5", "timezone": "Europe/Lisbon"}
    )
    after = project_file.read_text()
    # The comment keeps its column where the longer line leaves room, else follows it.
    assert changed_lines(PROJECT, after) == [
        '-        schedule: {cron: "0 7 * * *", timezone: Europe/Lisbon}   # before the stand-up',
        '+        schedule: {cron: "30 6 * * 1-5", timezone: Europe/Lisbon} # before the stand-up',
    ]
    schedule = project.config.consoles["revenue"].schedule
    assert schedule is not None and schedule.cron == "30 6 * * 1-5"
    assert load_project(project_file).config == project.config


def test_adding_and_removing_a_schedule(project_file: Path) -> None:
    project = set_console_schedule(project_file, "adhoc", {"interval": "1h", "enabled": False})
    added = project_file.read_text()
    assert changed_lines(PROJECT, added) == ["+        schedule: {interval: 1h, enabled: false}"]
    schedule = project.config.consoles["adhoc"].schedule
    assert schedule is not None and schedule.interval is not None and not schedule.enabled
    assert "console_adhoc" in project.config.all_schedules()

    project = set_console_schedule(project_file, "adhoc", None)
    assert project_file.read_text() == PROJECT
    assert project.config.consoles["adhoc"].schedule is None
    # Removing what is not there changes nothing.
    set_console_schedule(project_file, "adhoc", None)
    assert project_file.read_text() == PROJECT


def test_a_change_that_would_make_the_file_invalid_leaves_it_untouched(
    project_file: Path,
) -> None:
    before = project_file.read_bytes()
    with pytest.raises(ConfigError) as raised:
        set_console_schedule(project_file, "revenue", {"cron": "every morning"})
    message = str(raised.value)
    assert message.startswith("the change was not saved, it would make project.yml invalid")
    assert "project.yml:18  consoles.revenue.schedule.cron: 'every morning' is not a valid" in (
        message
    )
    assert project_file.read_bytes() == before
    assert sorted(p.name for p in project_file.parent.iterdir() if p.is_file()) == [
        "project.yml"
    ]


def test_a_clash_found_only_by_the_whole_file_check_is_refused(project_file: Path) -> None:
    text = PROJECT.replace(
        "schedules:\n", "schedules:\n    console_adhoc:\n        sources: [orders]\n"
        "        interval: 1d\n"
    )
    project_file.write_text(text)
    with pytest.raises(ConfigError, match="schedule 'console_adhoc' has the name of console"):
        set_console_schedule(project_file, "adhoc", {"interval": "2h"})
    assert project_file.read_text() == text


def test_a_file_already_invalid_is_not_rewritten(project_file: Path) -> None:
    broken = PROJECT.replace("type: files", "type: filez")
    project_file.write_text(broken)
    with pytest.raises(ConfigError, match=r"project\.yml is invalid as it is; fix it"):
        set_console_schedule(project_file, "adhoc", {"interval": "2h"})
    assert project_file.read_text() == broken


def test_an_unknown_console_is_refused(project_file: Path) -> None:
    with pytest.raises(ConfigError, match="no console 'nope'"):
        set_console_schedule(project_file, "nope", {"interval": "2h"})
    assert project_file.read_text() == PROJECT

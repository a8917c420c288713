"""Column profiles of a small warehouse table, exact; PII columns masked; the CLI commands."""

from __future__ import annotations

from typer.testing import CliRunner

from headwater.cli import app
from headwater.config import Project
from headwater.governance.pii import scan_table
from headwater.governance.profiling import profile_table, stored_profile
from headwater.store import MetadataStore
from headwater.warehouse import Warehouse
from tests.conftest import MakeProject

TABLE_SQL = """
CREATE TABLE raw_crm.people AS SELECT * FROM (VALUES
    (1, 'red',   10.0, 'ann@example.com', DATE '2024-01-03', [1, 2], 'a'),
    (2, 'blue',  NULL, 'bob@example.com', DATE '2024-01-01', [3],    'b'),
    (3, 'red',   30.0, 'cy@example.com',  NULL,              NULL,   'c'),
    (4, NULL,    20.0, 'dee@example.com', DATE '2024-01-02', [],     'd'),
    (5, 'red',   NULL, NULL,              DATE '2024-01-02', [4],    'e')
) t(id, colour, score, email, joined_on, tags, _dlt_id)
"""


def _project(make_project: MakeProject) -> Project:
    project = make_project(
        """
        project: {name: profile_test}
        sources:
          crm: {type: files, tables: {people: {path: people.csv}}}
        """
    )
    with Warehouse(project).writer() as conn:
        conn.execute("CREATE SCHEMA raw_crm")
        conn.execute(TABLE_SQL)
    return project


def test_profile_numbers_are_exact_and_pii_is_masked(make_project: MakeProject) -> None:
    project = _project(make_project)
    store = MetadataStore.open(project)
    try:
        scan_table(project, "crm", "people", store=store)
        profile = profile_table(project, store, "crm", "people")
        stored = stored_profile(store, "crm", "people")
    finally:
        store.close()

    assert profile.row_count == 5
    columns = {c.name: c for c in profile.columns}
    assert list(columns) == ["id", "colour", "score", "email", "joined_on", "tags"]  # no _dlt_

    ids = columns["id"]
    assert (ids.null_count, ids.distinct_count, ids.min, ids.max, ids.mean) == (0, 5, 1, 5, 3.0)
    assert not ids.distinct_approx and not ids.masked

    colour = columns["colour"]
    assert colour.null_count == 1 and colour.null_share == 0.2
    assert colour.distinct_count == 2 and (colour.min, colour.max) == ("blue", "red")
    assert colour.mean is None
    assert colour.top_values == [{"value": "red", "count": 3}, {"value": "blue", "count": 1}]

    score = columns["score"]
    assert score.null_count == 2 and score.null_share == 0.4 and score.distinct_count == 3
    assert (score.min, score.max, score.mean) == (10.0, 30.0, 20.0)

    joined = columns["joined_on"]
    assert (joined.min, joined.max, joined.distinct_count) == ("2024-01-01", "2024-01-03", 3)
    assert joined.top_values[0] == {"value": "2024-01-02", "count": 2}

    # A LIST column: nulls only.
    tags = columns["tags"]
    assert tags.null_count == 1 and tags.distinct_count is None and tags.top_values == []

    # The scan found emails: min, max and top values are masked, counts are not.
    email = columns["email"]
    assert email.masked and email.null_count == 1 and email.distinct_count == 4
    assert email.min == "a***@e***.com" and email.max == "d***@e***.com"
    assert [v["value"] for v in email.top_values] == [
        "a***@e***.com", "b***@e***.com", "c***@e***.com", "d***@e***.com"
    ]
    assert "example.com" not in str(profile.as_dict())

    assert stored is not None and stored.row_count == 5
    assert stored.columns == profile.columns


def test_cli_profile_and_pii_commands(make_project: MakeProject) -> None:
    project = _project(make_project)
    runner = CliRunner()
    where = ["--project", str(project.file)]
    env = {"COLUMNS": "200"}

    scanned = runner.invoke(app, ["pii", "scan", "crm", *where], env=env)
    assert scanned.exit_code == 0, scanned.output
    assert "email" in scanned.output and "1 PII columns, 1 new findings" in scanned.output

    listed = runner.invoke(app, ["pii", "list", *where], env=env)
    assert listed.exit_code == 0, listed.output
    assert "raw_crm.people" in listed.output and "1 columns" in listed.output

    profiled = runner.invoke(app, ["profile", "crm", "people", *where], env=env)
    assert profiled.exit_code == 0, profiled.output
    assert "raw_crm.people: 5 rows" in profiled.output and "red (3)" in profiled.output
    assert "ann@example.com" not in profiled.output

    missing = runner.invoke(app, ["profile", "crm", "nope", *where], env=env)
    assert missing.exit_code == 1 and "its tables: people" in missing.output
    unknown = runner.invoke(app, ["pii", "scan", "crmm", *where], env=env)
    assert unknown.exit_code == 1 and "known sources: crm" in unknown.output

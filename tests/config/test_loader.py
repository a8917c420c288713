"""project.yml loading: every kind of mistake is reported with its line and a fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import model_validator

from headwater.config import loader
from headwater.config.loader import load_config
from headwater.config.models import ProjectConfig
from headwater.config.project import PROJECT_ENV_VAR, find_project_file, load_project
from headwater.config.sources import FilesSource, RestApiSource, SqlSource
from headwater.errors import ConfigError


def problems(tmp_path: Path, yaml_text: str) -> list[str]:
    """The lines of the ConfigError raised for `yaml_text` (dedented) as project.yml."""
    file = tmp_path / "project.yml"
    file.write_text(textwrap.dedent(yaml_text).lstrip())
    with pytest.raises(ConfigError) as caught:
        load_config(file)
    return str(caught.value).splitlines()


def only_problem(tmp_path: Path, yaml_text: str) -> str:
    """The single line of the ConfigError raised for `yaml_text`."""
    lines = problems(tmp_path, yaml_text)
    assert len(lines) == 1, lines
    return lines[0]


# --- unknown keys and values ---------------------------------------------------------------


def test_unknown_key_suggests_the_closest_one(tmp_path: Path) -> None:
    line = only_problem(
        tmp_path,
        """
        project:
          name: demo
          descripton: our shop
        """,
    )
    assert line == "project.yml:3  project.descripton: unknown key (did you mean 'description'?)"


def test_unknown_key_without_close_match_lists_the_allowed_keys(tmp_path: Path) -> None:
    line = only_problem(
        tmp_path,
        """
        project:
          name: demo
        warehouse:
          colour: blue
        """,
    )
    assert line == (
        "project.yml:4  warehouse.colour: unknown key; allowed keys: catalog, data_path, "
        "max_writers, snapshot_retention_days, write_lock_timeout_seconds"
    )


def test_unknown_key_inside_a_source_uses_the_keys_of_its_type(tmp_path: Path) -> None:
    line = only_problem(
        tmp_path,
        """
        project:
          name: demo
        sources:
          crm:
            type: sql
            url: sqlite:///crm.db
            chunksize: 5000
        """,
    )
    assert line == "project.yml:7  sources.crm.chunksize: unknown key (did you mean 'chunk_size'?)"


def test_bad_literal_suggests_the_closest_value(tmp_path: Path) -> None:
    line = only_problem(
        tmp_path,
        """
        project:
          name: demo
        sources:
          orders:
            type: files
            tables:
              orders:
                path: data/orders.csv
                write_disposition: merg
        """,
    )
    assert line == (
        "project.yml:9  sources.orders.tables.orders.write_disposition: 'merg' is not one of "
        "append, replace, merge (did you mean 'merge'?)"
    )


def test_unknown_source_type_lists_the_known_ones(tmp_path: Path) -> None:
    line = only_problem(
        tmp_path,
        """
        project:
          name: demo
        sources:
          orders:
            type: fils
        """,
    )
    assert line == (
        "project.yml:5  sources.orders.type: unknown source type 'fils'; known types: "
        "files, sql, rest_api, postgres_cdc (did you mean 'files'?)"
    )


@pytest.mark.parametrize("type_line", ["", "    type:\n"], ids=["absent", "empty"])
def test_missing_source_type_lists_the_known_ones(tmp_path: Path, type_line: str) -> None:
    text = "project:\n  name: demo\nsources:\n  orders:\n" + type_line + "    tables: {}\n"
    line = only_problem(tmp_path, text)
    # An empty `type:` is pointed at its own line; an absent one at the source's name.
    where = "5  sources.orders.type" if type_line else "4  sources.orders"
    state = "empty" if type_line else "missing"
    assert line == (
        f"project.yml:{where}: `type:` is {state}; set it to the kind of source: "
        "files, sql, rest_api, postgres_cdc"
    )


def test_missing_required_key_is_reported_at_its_mapping_with_its_meaning(
    tmp_path: Path,
) -> None:
    line = only_problem(
        tmp_path,
        """
        project:
          name: demo
        sources:
          orders:
            type: files
            tables:
              orders:
                format: csv
        """,
    )
    assert line == (
        "project.yml:7  sources.orders.tables.orders.path: required key `path` is missing; "
        "add it (File path or glob, relative to project.yml, e.g. `data/orders_*.csv`)"
    )


def test_missing_project_section(tmp_path: Path) -> None:
    line = only_problem(tmp_path, "prefect:\n  server_port: 4201\n")
    assert line == (
        "project.yml:1  project: required key `project` is missing; add it (Name and description)"
    )


def test_empty_mapping_where_one_entry_is_needed(tmp_path: Path) -> None:
    line = only_problem(
        tmp_path,
        """
        project:
          name: demo
        sources:
          orders:
            type: files
            tables: {}
        """,
    )
    assert line == (
        "project.yml:6  sources.orders.tables: must have at least one entry "
        "(Warehouse table name -> the files that fill it)"
    )
    assert "Dictionary should" not in line


# --- YAML itself -----------------------------------------------------------------------------


def test_duplicate_key_names_both_lines(tmp_path: Path) -> None:
    line = only_problem(
        tmp_path,
        """
        project:
          name: demo
        sources:
          crm:
            type: sql
            url: sqlite:///crm.db
          erp:
            type: sql
            url: sqlite:///erp.db
          crm:
            type: files
        """,
    )
    assert line == "project.yml:10  duplicate key 'crm' (also at line 4); keep only one of them"


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    line = only_problem(
        tmp_path,
        """
        project:
          name: demo
         description: misaligned
        """,
    )
    assert line.startswith("project.yml:3  invalid YAML: ")
    assert line.endswith("check the indentation, quotes and brackets")


def test_tab_indentation_says_to_use_spaces(tmp_path: Path) -> None:
    line = only_problem(tmp_path, "project:\n\tname: demo\n")
    assert line.startswith("project.yml:2  invalid YAML: ")
    assert line.endswith("indent with spaces, not tabs")


@pytest.mark.parametrize(
    ("text", "got"),
    [("", "empty"), ("- a\n- b\n", "a list, not a mapping"), ("hello\n", "'hello', not a mapping")],
    ids=["empty", "list", "scalar"],
)
def test_file_that_is_not_a_mapping(tmp_path: Path, text: str, got: str) -> None:
    line = only_problem(tmp_path, text)
    assert line == (
        f"project.yml:1  the file is {got}; it needs at least a `project:` section with a `name:`"
    )


def test_missing_file_suggests_project_option_and_init(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nowhere" / "project.yml")
    message = str(caught.value)
    assert message.startswith(str(tmp_path / "nowhere" / "project.yml") + ": no such file")
    assert "--project" in message
    assert "HEADWATER_PROJECT" in message
    assert "headwater init" in message


# --- secrets, names, references ----------------------------------------------------------------


def test_password_in_sql_url_is_refused_without_echoing_it(tmp_path: Path) -> None:
    line = only_problem(
        tmp_path,
        """
        project:
          name: demo
        sources:
          crm:
            type: sql
            url: postgresql://app:s3cret@db:5432/crm
        """,
    )
    assert line == (
        "project.yml:4  sources.crm: the url contains a password; secrets never go in "
        "project.yml: remove it from `url` and name its env var in `password_env`"
    )
    assert "s3cret" not in line


@pytest.mark.parametrize(
    "url_lines",
    ["    url: sqlite:///crm.db\n    url_env: CRM_URL\n", "    schema: public\n"],
    ids=["both", "neither"],
)
def test_sql_source_needs_exactly_one_of_url_and_url_env(tmp_path: Path, url_lines: str) -> None:
    text = "project:\n  name: demo\nsources:\n  crm:\n    type: sql\n" + url_lines
    line = only_problem(tmp_path, text)
    assert line == "project.yml:4  sources.crm: set exactly one of `url` or `url_env`"


@pytest.mark.parametrize(("name", "suggestion"), [("Orders", "orders"), ("web-shop", "web_shop")])
def test_bad_source_name(tmp_path: Path, name: str, suggestion: str) -> None:
    text = f"project:\n  name: demo\nsources:\n  {name}:\n    type: sql\n    url: sqlite:///x.db\n"
    line = only_problem(tmp_path, text)
    assert line == (
        f"project.yml:4  sources.{name}: '{name}' is not a valid name: use lower case letters, "
        "digits and underscores, starting with a letter, at most 63 characters "
        f"(e.g. '{suggestion}')"
    )


def test_bad_env_var_name_is_explained_and_not_echoed(tmp_path: Path) -> None:
    line = only_problem(
        tmp_path,
        """
        project:
          name: demo
        sources:
          crm:
            type: sql
            url_env: postgresql://app:hunter2@db/crm
        """,
    )
    assert line == (
        "project.yml:6  sources.crm.url_env: must be the name of an environment variable "
        "(upper case letters, digits and underscores, e.g. CRM_PASSWORD), not its value"
    )
    assert "hunter2" not in line


SCHEDULE_WITH_UNKNOWN_SOURCE = """
    project:
      name: demo
    sources:
      crm:
        type: sql
        url: sqlite:///crm.db
    schedules:
      nightly:
        sources:
          - crm
          - erp
        cron: "0 6 * * *"
    """


def test_schedule_naming_an_unknown_source(tmp_path: Path) -> None:
    line = only_problem(tmp_path, SCHEDULE_WITH_UNKNOWN_SOURCE)
    assert line.endswith("unknown source 'erp'; known sources: crm")


def test_schedule_naming_an_unknown_source_points_at_the_name(tmp_path: Path) -> None:
    line = only_problem(tmp_path, SCHEDULE_WITH_UNKNOWN_SOURCE)
    assert line.startswith("project.yml:11  schedules.nightly.sources.1: ")


class _LocatedValueError(ValueError):
    def __init__(self, message: str, *loc: str | int) -> None:
        super().__init__(message)
        self.loc = loc


class _ConfigWithLocatedCheck(ProjectConfig):
    @model_validator(mode="after")
    def _no_sqlite(self) -> _ConfigWithLocatedCheck:
        for name, source in self.sources.items():
            if isinstance(source, SqlSource) and (source.url or "").startswith("sqlite"):
                raise _LocatedValueError("sqlite is not allowed here", "sources", name, "url")
        return self


def test_located_model_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model-level check can pin its error to a key by giving its ValueError a `loc`."""
    monkeypatch.setattr(loader, "ProjectConfig", _ConfigWithLocatedCheck)
    line = only_problem(
        tmp_path,
        """
        project:
          name: demo
        sources:
          crm:
            type: sql
            url: sqlite:///crm.db
        """,
    )
    assert line == "project.yml:6  sources.crm.url: sqlite is not allowed here"


# --- nested structures ---------------------------------------------------------------------------


def test_sql_tables_of_non_names(tmp_path: Path) -> None:
    line = only_problem(
        tmp_path,
        """
        project:
          name: demo
        sources:
          crm:
            type: sql
            url: sqlite:///crm.db
            tables: [1, 2]
        """,
    )
    assert line == (
        "project.yml:7  sources.crm.tables.0: is not a table name; write names as text "
        "(`- orders`) or use a mapping `orders: {}`"
    )


def test_error_inside_a_list_points_at_the_item(tmp_path: Path) -> None:
    line = only_problem(
        tmp_path,
        """
        project:
          name: demo
        sources:
          crm:
            type: sql
            url: sqlite:///crm.db
        schedules:
          nightly:
            sources:
              - crm
              - Bad-Name
            cron: "0 6 * * *"
        """,
    )
    assert line.startswith(
        "project.yml:11  schedules.nightly.sources.1: 'Bad-Name' is not a valid name"
    )


AUTH_SOURCE = """\
project:
  name: demo
sources:
  shop:
    type: rest_api
    base_url: https://api.example.com/v1/
    auth:
{auth}
    resources:
      orders:
        path: orders
"""


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        (
            "type: oauth",
            "project.yml:8  sources.shop.auth.type: unknown auth type 'oauth'; "
            "known types: bearer, api_key, basic",
        ),
        (
            "type: baerer\ntoken_env: TOKEN",
            "project.yml:8  sources.shop.auth.type: unknown auth type 'baerer'; "
            "known types: bearer, api_key, basic (did you mean 'bearer'?)",
        ),
        (
            "token_env: TOKEN",
            "project.yml:7  sources.shop.auth: `type:` is missing; set it to the kind of auth: "
            "bearer, api_key, basic",
        ),
        (
            "type: bearer\ntoken_env: TOKEN\ntokn: x",
            "project.yml:10  sources.shop.auth.tokn: unknown key (did you mean 'token_env'?)",
        ),
    ],
    ids=["unknown-type", "typo-type", "no-type", "unknown-key"],
)
def test_rest_api_auth_errors_speak_of_auth(tmp_path: Path, auth: str, expected: str) -> None:
    text = AUTH_SOURCE.replace("{auth}", textwrap.indent(auth, " " * 6))
    assert only_problem(tmp_path, text) == expected


def test_union_of_scalars_gives_one_message(tmp_path: Path) -> None:
    line = only_problem(
        tmp_path,
        """
        project:
          name: demo
        sources:
          crm:
            type: sql
            url: sqlite:///crm.db
            tables:
              orders:
                incremental:
                  cursor: updated_at
                  initial_value: [2024]
        """,
    )
    assert line == (
        "project.yml:11  sources.crm.tables.orders.incremental.initial_value: expected one of: "
        "a whole number, a number, a date (YYYY-MM-DD), a date and time (YYYY-MM-DD HH:MM:SS), "
        "text; got a list"
    )


def test_number_bounds_and_types_in_plain_english(tmp_path: Path) -> None:
    lines = problems(
        tmp_path,
        """
        project:
          name: demo
        warehouse:
          snapshot_retention_days: -1
        api:
          port: 99999
        prefect:
          server_port: eighty
        """,
    )
    assert lines == [
        "project.yml:4  warehouse.snapshot_retention_days: must be at least 0, got -1",
        "project.yml:6  api.port: must be at most 65535, got 99999",
        "project.yml:8  prefect.server_port: expected a whole number, got 'eighty' "
        "(Port of the local server Headwater starts (UI at http://host:port))",
    ]


def test_section_given_as_text_is_not_shown_as_python(tmp_path: Path) -> None:
    line = only_problem(tmp_path, "project: demo\n")
    assert line == (
        "project.yml:1  project: expected a mapping (indented `key: value` lines), got 'demo' "
        "(Name and description)"
    )


def test_several_errors_are_all_reported_in_file_order(tmp_path: Path) -> None:
    lines = problems(
        tmp_path,
        """
        project:
          name: Demo
        sources:
          orders:
            type: files
            tables:
              orders:
                path: data/orders.csv
                write_disposition: merg
          crm:
            type: sql
            url_env: crm_url
            chunk_size: 10
        api:
          prot: 8000
        """,
    )
    assert [line.split("  ")[0] for line in lines] == [
        "project.yml:2",
        "project.yml:9",
        "project.yml:12",
        "project.yml:13",
        "project.yml:15",
    ]
    assert len(lines) == 5
    assert "did you mean 'port'" in lines[-1]


# --- valid configs -------------------------------------------------------------------------------


def write_project(tmp_path: Path, text: str) -> Path:
    """Write project.yml into `tmp_path` and return its path."""
    file = tmp_path / "project.yml"
    file.write_text(text.lstrip())
    return file


def test_full_example_with_every_section_loads(tmp_path: Path, full_example: str) -> None:
    config = load_config(write_project(tmp_path, full_example))
    assert config.project.name == "shop"
    assert set(config.sources) == {"orders", "crm", "shop"}
    orders, crm, shop = (config.sources[name] for name in ("orders", "crm", "shop"))
    assert isinstance(orders, FilesSource)
    assert orders.tables["events"].format == "jsonl"
    assert isinstance(crm, SqlSource)
    assert crm.schema_name == "sales"
    assert crm.tables is not None
    assert crm.tables["customers"].incremental is not None
    assert isinstance(shop, RestApiSource)
    assert shop.auth is not None and shop.auth.type == "api_key"
    assert config.schedules["nightly"].sources == ["orders", "crm", "shop"]
    assert config.consoles["churn"].file == "consoles/churn.sql"
    assert config.auth.require_2fa is True
    assert config.api.port == 8801


def test_minimal_project_gets_defaults(tmp_path: Path) -> None:
    config = load_config(write_project(tmp_path, "project:\n  name: demo\n"))
    assert config.sources == {}
    assert config.warehouse.catalog.type == "sqlite"
    assert config.prefect.server_port == 4200


def test_sql_tables_as_a_list_become_a_mapping(tmp_path: Path) -> None:
    text = (
        "project:\n  name: demo\nsources:\n  crm:\n    type: sql\n"
        "    url: sqlite:///crm.db\n    tables: [customers, orders]\n"
    )
    source = load_config(write_project(tmp_path, text)).sources["crm"]
    assert isinstance(source, SqlSource)
    assert source.tables is not None
    assert list(source.tables) == ["customers", "orders"]
    assert source.tables["orders"].incremental is None


def test_relative_paths_resolve_from_the_project_file(tmp_path: Path, full_example: str) -> None:
    project = load_project(write_project(tmp_path, full_example))
    assert project.root == tmp_path.resolve()
    assert project.path("data/orders.csv") == tmp_path.resolve() / "data" / "orders.csv"
    assert project.path("../shared/x.db") == tmp_path.resolve().parent / "shared" / "x.db"
    assert project.path("/abs/file.csv") == Path("/abs/file.csv")
    assert project.state_dir == tmp_path.resolve() / ".headwater"


def test_unknown_source_lookup_lists_the_known_ones(tmp_path: Path, full_example: str) -> None:
    project = load_project(write_project(tmp_path, full_example))
    with pytest.raises(ConfigError, match=r"no source named 'erp' .*known: crm, orders, shop"):
        project.source("erp")


def test_find_project_file_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(PROJECT_ENV_VAR, raising=False)
    assert find_project_file() == tmp_path.resolve() / "project.yml"
    monkeypatch.setenv(PROJECT_ENV_VAR, str(elsewhere / "custom.yml"))
    assert find_project_file() == elsewhere.resolve() / "custom.yml"
    monkeypatch.setenv(PROJECT_ENV_VAR, str(elsewhere))
    assert find_project_file() == elsewhere.resolve() / "project.yml"
    # an explicit --project wins over the env var; a directory means its project.yml
    assert find_project_file(tmp_path) == tmp_path.resolve() / "project.yml"
    assert find_project_file("other.yml") == tmp_path.resolve() / "other.yml"


def test_number_where_text_belongs_says_to_quote_it(tmp_path: Path) -> None:
    line = only_problem(tmp_path, "project:\n  name: demo\napi:\n  host: 8080\n")
    assert line == 'project.yml:4  api.host: expected text, got 8080; write it in quotes ("8080")'


def test_literal_given_a_list_is_not_shown_as_python(tmp_path: Path) -> None:
    line = only_problem(
        tmp_path,
        """
        project:
          name: demo
        warehouse:
          catalog:
            type: [sqlite]
        """,
    )
    assert line == (
        "project.yml:5  warehouse.catalog.type: must be one of sqlite, postgres, got a list"
    )

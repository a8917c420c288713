"""`headwater init`: a new project that validates and syncs out of the box."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from headwater.cli.common import console, fail

PROJECT_TEMPLATE = """\
# Headwater project: sources, schedules and the warehouse. `headwater validate` checks it.
project:
  name: {name}
  description: A new Headwater project

warehouse:
  catalog:
    type: sqlite                 # or postgres, with url_env naming the env var of its URL
  data_path: .headwater/warehouse/data
  snapshot_retention_days: 7

sources:
  example:
    type: files
    description: Example CSV, replace with your own files, databases or APIs
    write_disposition: merge
    tables:
      cities:
        path: data/cities.csv
        primary_key: [city]

schedules: {{}}
"""

EXAMPLE_CSV = """city,country,population
Lisbon,PT,545923
Porto,PT,231800
Ghent,BE,265086
"""

GITIGNORE = ".headwater/\n"


def init(
    directory: Annotated[Path, typer.Argument(help="Where to create the project.")] = Path("."),
) -> None:
    """Create project.yml, an example CSV source and .gitignore in DIRECTORY."""
    target = directory.resolve()
    project_file = target / "project.yml"
    if project_file.exists():
        raise fail(f"{project_file} already exists; choose an empty directory")
    name = "".join(ch if ch.isalnum() else "_" for ch in target.name.lower()).strip("_")
    if not name or not name[0].isalpha():
        name = f"project_{name}" if name else "project"
    (target / "data").mkdir(parents=True, exist_ok=True)
    project_file.write_text(PROJECT_TEMPLATE.format(name=name[:60]))
    (target / "data" / "cities.csv").write_text(EXAMPLE_CSV)
    gitignore = target / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text(GITIGNORE)
    console.print(
        f"created {project_file}\nnext: cd {directory} && headwater validate && "
        "headwater sync example",
        highlight=False,
    )

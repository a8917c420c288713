"""A loaded project: its validated config plus the directory its relative paths start from."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from headwater.config.loader import load_config
from headwater.config.models import ProjectConfig
from headwater.config.sources import SourceConfig
from headwater.errors import ConfigError, MissingSecretError

PROJECT_ENV_VAR = "HEADWATER_PROJECT"
"""Env var naming project.yml when `--project` is not given."""


@dataclass(frozen=True)
class Project:
    """project.yml, validated, with the directory that relative paths are resolved against."""

    config: ProjectConfig
    file: Path

    @property
    def root(self) -> Path:
        """Directory holding project.yml."""
        return self.file.parent

    @property
    def state_dir(self) -> Path:
        """`.headwater/` beside project.yml: Headwater's own files (never in user schemas)."""
        return self.root / ".headwater"

    def path(self, relative: str) -> Path:
        """Resolve a path from project.yml (absolute paths stay as they are)."""
        candidate = Path(relative).expanduser()
        return candidate if candidate.is_absolute() else (self.root / candidate).resolve()

    def source(self, name: str) -> SourceConfig:
        """The source called `name`, or a ConfigError listing the known ones."""
        try:
            return self.config.sources[name]
        except KeyError:
            known = ", ".join(sorted(self.config.sources)) or "none defined"
            raise ConfigError(
                f"no source named '{name}' in {self.file.name} (known: {known})"
            ) from None


def find_project_file(explicit: str | Path | None = None) -> Path:
    """`--project`, else $HEADWATER_PROJECT, else ./project.yml; a directory means its
    project.yml."""
    chosen = explicit or os.environ.get(PROJECT_ENV_VAR) or "project.yml"
    path = Path(chosen).expanduser()
    if path.is_dir():
        path = path / "project.yml"
    return path.resolve()


def load_project(explicit: str | Path | None = None) -> Project:
    """Find and load project.yml (see `find_project_file`)."""
    file = find_project_file(explicit)
    return Project(config=load_config(file), file=file)


def read_secret(env_var: str, source: str, field: str) -> str:
    """The value of the env var `env_var`, named by `field` of `source`; a clear error when
    it is not set."""
    value = os.environ.get(env_var)
    if value is None:
        raise MissingSecretError(env_var, source, field)
    return value

"""`schedules:` in project.yml: what runs when (syncs, dbt builds, consoles, pipelines)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from headwater.config.base import Identifier, StrictModel
from headwater.config.durations import Duration, parse_duration
from headwater.config.timing import Timing

ScheduleKind = Literal["sync", "dbt", "console", "pipeline"]
"""sync: sync `sources`; dbt: build a selection; console: run a console; pipeline: sync
`pipeline` sources, then build the models downstream of them (`source:<name>+`)."""


class DbtSelection(StrictModel):
    """A dbt build of a selection, as `dbt build --select ... --exclude ...` takes it."""

    select: str = ""
    """dbt selector, e.g. `marts` or `tag:daily orders+` (empty: every model)."""
    exclude: str = ""
    """dbt selector of what to leave out."""
    full_refresh: bool = False
    """Rebuild incremental models from scratch."""


class ScheduleConfig(Timing):
    """A schedule: one of `sources`, `dbt`, `console` or `pipeline`, and when it runs."""

    description: str = ""
    """What this schedule is for, shown in the API and the Prefect UI."""
    sources: list[Identifier] = Field(default_factory=list)
    """Sync these sources (each sync builds the dbt models downstream of what it loaded)."""
    dbt: DbtSelection | None = None
    """Build this dbt selection."""
    console: Identifier | None = None
    """Run this console."""
    pipeline: list[Identifier] = Field(default_factory=list)
    """Sync these sources, then build everything downstream of them (`source:<name>+`)."""
    timeout: Duration | None = None
    """A run still going after this long is stopped and marked failed (`2h`)."""
    retries: int = Field(default=0, ge=0, le=10)
    """Times a failed run is tried again."""
    retry_delay: Duration = Field(default_factory=lambda: parse_duration("1m"))
    """Wait between tries (`30s`, `5m`)."""

    @property
    def kind(self) -> ScheduleKind:
        """What this schedule runs."""
        if self.sources:
            return "sync"
        if self.dbt is not None:
            return "dbt"
        if self.console is not None:
            return "console"
        return "pipeline"

    @model_validator(mode="after")
    def _one_target(self) -> ScheduleConfig:
        targets = [bool(self.sources), self.dbt is not None, self.console is not None,
                   bool(self.pipeline)]
        if sum(targets) != 1:
            raise ValueError(
                "set exactly one of `sources` (sync), `dbt` (a build), `console` or "
                "`pipeline` (sync, then build what is downstream)"
            )
        for field in ("sources", "pipeline"):
            names: list[str] = getattr(self, field)
            repeated = sorted({name for name in names if names.count(name) > 1})
            if repeated:
                raise ValueError(f"`{field}` names {', '.join(repeated)} more than once")
        return self


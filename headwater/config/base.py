"""Shared base for every project.yml model: strict, documented, immutable."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints


class StrictModel(BaseModel):
    """A project.yml section: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


IDENTIFIER_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)]
"""A name that becomes part of a SQL identifier: lower case letters, digits, underscores."""

ENV_VAR_PATTERN = r"^[A-Z_][A-Z0-9_]*$"
EnvVarName = Annotated[str, StringConstraints(pattern=ENV_VAR_PATTERN)]
"""The name (never the value) of an environment variable holding a secret."""

_IDENTIFIER_RE = re.compile(IDENTIFIER_PATTERN)


class LocatedValueError(ValueError):
    """A model-level validation problem pinned to the key it concerns; `loc` is relative
    to the model that raises it (the loader reports that key's line)."""

    def __init__(self, message: str, *loc: str | int) -> None:
        super().__init__(message)
        self.loc = loc


def is_identifier(name: str) -> bool:
    """Whether `name` can be used as a schema or table name without quoting."""
    return bool(_IDENTIFIER_RE.match(name))

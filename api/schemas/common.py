"""Models shared by many routes: pages of items, paging parameters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel, ConfigDict


class ApiModel(BaseModel):
    """A model of the API: each field's docstring becomes its OpenAPI description."""

    model_config = ConfigDict(use_attribute_docstrings=True)


ItemT = TypeVar("ItemT")


class Page(ApiModel, Generic[ItemT]):
    """One page of a list."""

    items: list[ItemT]
    """The items of this page."""
    total: int
    """How many items match, over all pages."""


class RequestModel(ApiModel):
    """A request body: unknown fields are refused, so typos fail loudly."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class PageParams(ApiModel):
    """`skip` and `limit` of a list request."""

    skip: int
    """Items to skip."""
    limit: int
    """Items to return at most."""

    def window(self, items: Sequence[ItemT]) -> Sequence[ItemT]:
        """The requested slice of `items`."""
        return items[self.skip : self.skip + self.limit]


def page_params(
    skip: Annotated[int, Query(ge=0, description="Items to skip.")] = 0,
    limit: Annotated[int, Query(ge=1, le=100, description="Items to return (at most 100).")] = 50,
) -> PageParams:
    """Paging parameters of a list route."""
    return PageParams(skip=skip, limit=limit)


Paging = Annotated[PageParams, Depends(page_params)]
"""Paging parameters (`skip` default 0, `limit` default 50, max 100)."""

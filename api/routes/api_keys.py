"""`/api/auth/api-keys`: a user's keys for scripts (`Authorization: Bearer hw_...`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import Field

from api.access import AUTHENTICATED, GuardedRoute, requires
from api.deps import Context, CurrentPrincipal
from api.schemas.common import ApiModel, Page, Paging, RequestModel
from headwater.auth import api_keys
from headwater.auth.accounts import get_user
from headwater.store.models import ApiKey
from headwater.store.types import utcnow

router = APIRouter(route_class=GuardedRoute, tags=["api keys"])


class ApiKeyIn(RequestModel):
    """A name for the key and, optionally, its lifetime."""

    name: str = Field(min_length=1, max_length=100)
    """What the key is for."""
    expires_in_days: int | None = Field(default=None, ge=1, le=api_keys.MAX_KEY_DAYS)
    """Days until the key stops working; left out, it never expires."""


class ApiKeyOut(ApiModel):
    """An API key (never the key itself, which is shown only when it is made)."""

    id: int
    """The key's id (revoke it with `DELETE /api/auth/api-keys/{id}`)."""
    name: str
    """What it is for."""
    prefix: str
    """Its first characters, to tell keys apart."""
    created_at: datetime
    """When it was made."""
    expires_at: datetime | None
    """When it stops working (None: never)."""
    last_used_at: datetime | None
    """Last request made with it (to the minute)."""
    expired: bool
    """It no longer works."""

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        """The public view of `key`."""
        return cls(
            id=key.id,
            name=key.name,
            prefix=key.prefix,
            created_at=key.created_at,
            expires_at=key.expires_at,
            last_used_at=key.last_used_at,
            expired=key.expires_at is not None and key.expires_at <= utcnow(),
        )


class ApiKeyCreated(ApiKeyOut):
    """A new API key, with the key itself: copy it now, it is not shown again."""

    key: str
    """The key: send it as `Authorization: Bearer <key>`."""


@router.post("/api/auth/api-keys", status_code=201, openapi_extra=requires(AUTHENTICATED))
def create_api_key(body: ApiKeyIn, principal: CurrentPrincipal, context: Context) -> ApiKeyCreated:
    """Make an API key acting with the caller's role. The key is in this answer only:
    Headwater keeps just its hash."""
    with context.store.session() as db:
        user = get_user(db, principal.user_id)
        key, secret = api_keys.create_api_key(db, user, body.name, body.expires_in_days)
        return ApiKeyCreated(**ApiKeyOut.of(key).model_dump(), key=secret)


@router.get("/api/auth/api-keys", openapi_extra=requires(AUTHENTICATED))
def list_api_keys(principal: CurrentPrincipal, context: Context, paging: Paging) -> Page[ApiKeyOut]:
    """The caller's keys that are not revoked, newest first (expired ones included)."""
    with context.store.session() as db:
        rows = api_keys.list_api_keys(db, principal.user_id)
        items = [ApiKeyOut.of(row) for row in paging.window(rows)]
        return Page[ApiKeyOut](items=items, total=len(rows))


@router.delete(
    "/api/auth/api-keys/{key_id}",
    status_code=204,
    response_class=Response,
    openapi_extra=requires(AUTHENTICATED),
)
def revoke_api_key(
    key_id: Annotated[int, Path(description="The key to revoke.")],
    principal: CurrentPrincipal,
    context: Context,
) -> Response:
    """Revoke one of the caller's keys: requests with it get 401 from now on."""
    with context.store.session() as db:
        api_keys.revoke_api_key(db, principal.user_id, key_id)
    return Response(status_code=204)

"""`/api/admin`: managing users (invite, role, deactivate, unlock, delete) and reading the
audit log; admins only (`users.manage`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import ConfigDict, Field

from api.access import GuardedRoute, requires
from api.audit import note_detail
from api.deps import Context, CurrentPrincipal
from api.schemas.common import ApiModel, Page, Paging, RequestModel
from api.security import Email
from headwater.auth import users
from headwater.auth.accounts import get_user
from headwater.auth.roles import Role
from headwater.store import list_audit
from headwater.store.models import User
from headwater.store.types import utcnow

router = APIRouter(route_class=GuardedRoute, tags=["users"])

MANAGE = requires("users.manage")
UserId = Annotated[int, Path(description="The user's id.")]


class UserOut(ApiModel):
    """A user account."""

    id: int
    """The user's id."""
    email: str
    """Sign-in email."""
    display_name: str | None
    """Name shown in the UI."""
    role: str
    """viewer, editor or admin."""
    status: str
    """active, invited (no password yet), locked (failed sign-ins) or deactivated."""
    totp_enabled: bool
    """Two-factor authentication is on."""
    locked_until: datetime | None
    """Sign-in refused until then."""
    created_at: datetime
    """When the account was made."""
    last_login_at: datetime | None
    """Last successful sign-in."""

    @classmethod
    def of(cls, user: User) -> UserOut:
        """The public view of `user`."""
        locked = user.locked_until is not None and user.locked_until > utcnow()
        if not user.is_active:
            status = "deactivated"
        elif user.invited:
            status = "invited"
        else:
            status = "locked" if locked else "active"
        return cls(
            id=user.id,
            email=user.email,
            display_name=user.display_name,
            role=user.role,
            status=status,
            totp_enabled=user.totp_enabled,
            locked_until=user.locked_until if locked else None,
            created_at=user.created_at,
            last_login_at=user.last_login_at,
        )


class NewUserIn(RequestModel):
    """Who to invite and with which role."""

    email: Email
    """Their sign-in email (unique)."""
    role: Role
    """viewer, editor or admin."""
    display_name: str | None = Field(default=None, max_length=200)
    """Name shown in the UI."""


class InviteOut(ApiModel):
    """An invitation: hand `invite_token` to the user for `POST /api/auth/accept-invite`."""

    id: int
    """The user's id."""
    invite_token: str
    """Shown this once; works once, until `invite_expires_at`."""
    invite_expires_at: datetime
    """When the invitation lapses (`auth.invite_days`)."""


class RoleIn(RequestModel):
    """The new role."""

    role: Role
    """viewer, editor or admin."""


class RevokedOut(ApiModel):
    """Sessions were signed out."""

    sessions_revoked: int
    """How many."""


class AuditOut(ApiModel):
    """One change attempted through the API."""

    model_config = ConfigDict(use_attribute_docstrings=True, from_attributes=True)

    id: int
    """The entry's id."""
    at: datetime
    """When."""
    user_id: int | None
    """Who (the user, or the API key's owner)."""
    user_email: str | None
    """Their email at the time (or the email a failed sign-in tried)."""
    api_key_id: int | None
    """The API key used, if any."""
    action: str
    """`METHOD /route/{template}`."""
    path: str
    """The path as called."""
    status_code: int
    """The answer's status."""
    client_address: str | None
    """Where from."""
    user_agent: str | None
    """The caller's User-Agent."""
    detail: str | None
    """A note from the route."""


def _invite_out(invitation: users.NewInvitation) -> InviteOut:
    return InviteOut(
        id=invitation.user.id,
        invite_token=invitation.token,
        invite_expires_at=invitation.expires_at,
    )


@router.get("/api/admin/users", openapi_extra=MANAGE)
def list_users(context: Context, paging: Paging) -> Page[UserOut]:
    """Every user, by id, with role and status."""
    with context.store.session() as db:
        rows, total = users.list_users(db, paging.skip, paging.limit)
        return Page[UserOut](items=[UserOut.of(row) for row in rows], total=total)


@router.post("/api/admin/users", status_code=201, openapi_extra=MANAGE)
def create_user(body: NewUserIn, principal: CurrentPrincipal, context: Context) -> InviteOut:
    """Invite a user with a role: answers the invitation token (shown once) that they use
    with `POST /api/auth/accept-invite` to choose a password. 409 if the email is taken."""
    config = context.project.config.auth
    with context.store.session() as db:
        invitation = users.invite_user(
            db, body.email, body.role, config, body.display_name, principal.user_id
        )
        return _invite_out(invitation)


@router.get("/api/admin/users/{user_id}", openapi_extra=MANAGE)
def get_one_user(user_id: UserId, context: Context) -> UserOut:
    """One user."""
    with context.store.session() as db:
        return UserOut.of(get_user(db, user_id))


@router.patch("/api/admin/users/{user_id}", openapi_extra=MANAGE)
def change_role(user_id: UserId, body: RoleIn, request: Request, context: Context) -> UserOut:
    """Change a user's role (their API keys follow). The last active admin cannot be
    demoted (409)."""
    with context.store.session() as db:
        before = get_user(db, user_id).role
        user = users.change_role(db, user_id, body.role)
        note_detail(request, f"role {before} -> {user.role}")
        return UserOut.of(user)


@router.post("/api/admin/users/{user_id}/invite", status_code=201, openapi_extra=MANAGE)
def reinvite(user_id: UserId, principal: CurrentPrincipal, context: Context) -> InviteOut:
    """A new invitation token for a user who has not accepted theirs (409 once they have)."""
    config = context.project.config.auth
    with context.store.session() as db:
        return _invite_out(users.reinvite_user(db, user_id, config, principal.user_id))


@router.post("/api/admin/users/{user_id}/deactivate", openapi_extra=MANAGE)
def deactivate(user_id: UserId, context: Context) -> UserOut:
    """Stop a user signing in; their sessions end and their API keys stop working. The
    last active admin cannot be deactivated (409)."""
    with context.store.session() as db:
        return UserOut.of(users.deactivate_user(db, user_id))


@router.post("/api/admin/users/{user_id}/reactivate", openapi_extra=MANAGE)
def reactivate(user_id: UserId, context: Context) -> UserOut:
    """Let a deactivated user sign in again; their API keys work again."""
    with context.store.session() as db:
        return UserOut.of(users.reactivate_user(db, user_id))


@router.post("/api/admin/users/{user_id}/unlock", openapi_extra=MANAGE)
def unlock(user_id: UserId, context: Context) -> UserOut:
    """Lift the lockout that failed sign-ins caused."""
    with context.store.session() as db:
        return UserOut.of(users.unlock_user(db, user_id))


@router.post("/api/admin/users/{user_id}/revoke-sessions", openapi_extra=MANAGE)
def revoke_sessions(user_id: UserId, context: Context) -> RevokedOut:
    """Sign a user out everywhere (their API keys keep working: revoke or deactivate)."""
    with context.store.session() as db:
        return RevokedOut(sessions_revoked=users.revoke_sessions(db, user_id))


@router.delete(
    "/api/admin/users/{user_id}", status_code=204, response_class=Response, openapi_extra=MANAGE
)
def delete_user(user_id: UserId, context: Context) -> Response:
    """Delete a user with their sessions, API keys and 2FA; the audit log keeps their
    email. The last active admin cannot be deleted (409)."""
    with context.store.session() as db:
        users.delete_user(db, user_id)
    return Response(status_code=204)


@router.get("/api/admin/audit", openapi_extra=MANAGE)
def read_audit(
    context: Context,
    paging: Paging,
    user_id: Annotated[int | None, Query(description="Only this user's changes.")] = None,
    email: Annotated[str | None, Query(description="Only users whose email has this.")] = None,
    action: Annotated[
        str | None, Query(description="Only actions containing this, e.g. `deactivate`.")
    ] = None,
) -> Page[AuditOut]:
    """The audit log, newest first: every change attempted through the API (sign-ins,
    failed ones too), with who, what, when and from where."""
    with context.store.session() as db:
        rows, total = list_audit(
            db, skip=paging.skip, limit=paging.limit, user_id=user_id, email=email, action=action
        )
        return Page[AuditOut](items=[AuditOut.model_validate(row) for row in rows], total=total)

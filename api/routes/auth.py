"""`/api/auth`: first-admin setup, sign-in and sign-out, the caller, password, sessions,
accepting an invitation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from pydantic import Field

from api.access import AUTHENTICATED, PUBLIC, GuardedRoute, requires
from api.audit import note_subject, noting_refusal
from api.deps import Context, CurrentPrincipal
from api.routes.two_factor import LoginOut, signed_in
from api.routes.users import UserOut
from api.schemas.common import ApiModel, Page, Paging, RequestModel
from api.security import Email, Password, clear_session_cookie, client_info
from headwater.auth import accounts, sessions
from headwater.auth.login import login

router = APIRouter(route_class=GuardedRoute, tags=["auth"])


class AuthStatus(ApiModel):
    """Whether the first admin still has to be created."""

    setup_needed: bool
    """No user exists yet: call `POST /api/auth/setup`."""
    require_2fa: bool
    """Every user must set up two-factor authentication."""


class FirstAdminIn(RequestModel):
    """The first admin's account."""

    email: Email
    """Their sign-in email."""
    password: Password
    """At least 12 characters."""
    display_name: str | None = Field(default=None, max_length=200)
    """Name shown in the UI."""


class LoginIn(RequestModel):
    """Email and password."""

    email: str = Field(max_length=254)
    """Sign-in email (any case)."""
    password: Password
    """The account's password."""


class MeOut(UserOut):
    """The caller: their account, permissions and how they authenticated."""

    permissions: list[str]
    """What the caller's role allows."""
    needs_2fa_setup: bool
    """`auth.require_2fa` holds the caller back until they set up 2FA."""
    auth_method: str
    """`session` (cookie) or `api_key`."""
    session_id: int | None
    """The session, when signed in by cookie."""
    api_key_id: int | None
    """The API key, when called with one."""


class ChangePasswordIn(RequestModel):
    """The current password and the new one (at least 12 characters)."""

    current_password: Password
    """The password in use now."""
    new_password: Password
    """The new one: at least 12 characters, not the current one."""


class ChangePasswordOut(ApiModel):
    """The password changed."""

    sessions_revoked: int
    """Other sessions of the user that were signed out."""


class SessionOut(ApiModel):
    """A signed-in browser."""

    id: int
    """The session's id (revoke it with `DELETE /api/auth/sessions/{id}`)."""
    created_at: datetime
    """When it signed in."""
    expires_at: datetime
    """When it ends."""
    last_seen_at: datetime | None
    """Last request (to the minute)."""
    client_address: str | None
    """Where it signed in from."""
    user_agent: str | None
    """Its browser."""
    current: bool
    """It is the session of this request."""


class AcceptInviteIn(RequestModel):
    """The invitation token from an admin and the password to choose."""

    token: str = Field(min_length=1, max_length=200)
    """The `invite_token` from `POST /api/admin/users`."""
    password: Password
    """The password to choose: at least 12 characters."""


@router.get("/api/auth/status", openapi_extra=requires(PUBLIC))
def auth_status(context: Context) -> AuthStatus:
    """Whether the first admin must still be created (`setup_needed`)."""
    with context.store.session() as db:
        return AuthStatus(
            setup_needed=accounts.setup_needed(db),
            require_2fa=context.project.config.auth.require_2fa,
        )


@router.post("/api/auth/setup", status_code=201, openapi_extra=requires(PUBLIC, login_limited=True))
def setup(body: FirstAdminIn, request: Request, context: Context) -> UserOut:
    """Create the first admin (refused with 409 once any user exists); then sign in."""
    note_subject(request, body.email)
    with noting_refusal(request), context.store.session() as db:
        user = accounts.create_first_admin(db, body.email, body.password, body.display_name)
        note_subject(request, user.email, user.id)
        return UserOut.of(user)


@router.post(
    "/api/auth/login",
    response_model_exclude_unset=True,
    openapi_extra=requires(PUBLIC, login_limited=True),
)
def sign_in(body: LoginIn, request: Request, response: Response, context: Context) -> LoginOut:
    """Sign in with email and password: sets the `hw_session` cookie (HttpOnly,
    SameSite=Lax), or with 2FA on answers `{pending_token}` for `POST /api/auth/2fa/verify`.
    After `auth.max_failed_logins` failures the account locks (403 `account_locked`)."""
    note_subject(request, body.email.strip().lower())
    with noting_refusal(request), context.store.session() as db:
        result = login(
            db, body.email, body.password, context.project.config.auth, client_info(request)
        )
        note_subject(request, result.user.email, result.user.id)
        return signed_in(result, response, context)


@router.post(
    "/api/auth/logout",
    status_code=204,
    response_class=Response,
    openapi_extra=requires(AUTHENTICATED, before_2fa_setup=True),
)
def sign_out(principal: CurrentPrincipal, context: Context) -> Response:
    """Sign out: end this session and drop its cookie (with an API key, nothing to end)."""
    if principal.session_id is not None:
        with context.store.session() as db:
            sessions.revoke_session(db, principal.user_id, principal.session_id)
    response = Response(status_code=204)
    clear_session_cookie(response, context.project.config.auth)
    return response


@router.get("/api/auth/me", openapi_extra=requires(AUTHENTICATED, before_2fa_setup=True))
def me(principal: CurrentPrincipal, context: Context) -> MeOut:
    """The caller: account, role, permissions, 2FA state, cookie or API key."""
    with context.store.session() as db:
        user = accounts.get_user(db, principal.user_id)
        return MeOut(
            **UserOut.of(user).model_dump(),
            permissions=sorted(principal.permissions),
            needs_2fa_setup=principal.needs_2fa_setup,
            auth_method="api_key" if principal.api_key_id else "session",
            session_id=principal.session_id,
            api_key_id=principal.api_key_id,
        )


@router.post("/api/auth/change-password", openapi_extra=requires(AUTHENTICATED))
def change_password(
    body: ChangePasswordIn, principal: CurrentPrincipal, context: Context
) -> ChangePasswordOut:
    """Change one's password (the current one is needed); every other session of the user
    is signed out."""
    with context.store.session() as db:
        user = accounts.get_user(db, principal.user_id)
        revoked = accounts.change_password(
            db, user, body.current_password, body.new_password, principal.session_id
        )
        return ChangePasswordOut(sessions_revoked=revoked)


@router.get("/api/auth/sessions", openapi_extra=requires(AUTHENTICATED))
def list_sessions(
    principal: CurrentPrincipal, context: Context, paging: Paging
) -> Page[SessionOut]:
    """The caller's live sessions, newest first."""
    with context.store.session() as db:
        rows = sessions.list_sessions(db, principal.user_id)
        items = [
            SessionOut(
                id=row.id,
                created_at=row.created_at,
                expires_at=row.expires_at,
                last_seen_at=row.last_seen_at,
                client_address=row.client_address,
                user_agent=row.user_agent,
                current=row.id == principal.session_id,
            )
            for row in paging.window(rows)
        ]
        return Page[SessionOut](items=items, total=len(rows))


@router.delete(
    "/api/auth/sessions/{session_id}",
    status_code=204,
    response_class=Response,
    openapi_extra=requires(AUTHENTICATED),
)
def revoke_session(
    session_id: Annotated[int, Path(description="The session to sign out.")],
    principal: CurrentPrincipal,
    context: Context,
) -> Response:
    """Sign out one of the caller's sessions (404 for anyone else's)."""
    with context.store.session() as db:
        sessions.revoke_session(db, principal.user_id, session_id)
    response = Response(status_code=204)
    if session_id == principal.session_id:
        clear_session_cookie(response, context.project.config.auth)
    return response


@router.post("/api/auth/accept-invite", openapi_extra=requires(PUBLIC, login_limited=True))
def accept_invite(body: AcceptInviteIn, request: Request, context: Context) -> UserOut:
    """Choose a password with the invitation token an admin handed out; then sign in."""
    with noting_refusal(request), context.store.session() as db:
        user = accounts.accept_invite(db, body.token, body.password)
        note_subject(request, user.email, user.id)
        return UserOut.of(user)

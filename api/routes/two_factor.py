"""`/api/auth/2fa`: the second step of signing in, and setting up or turning off TOTP."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import Field

from api.access import AUTHENTICATED, PUBLIC, GuardedRoute, requires
from api.audit import note_subject, noting_refusal
from api.deps import AppContext, Context, CurrentPrincipal
from api.routes.users import UserOut
from api.schemas.common import ApiModel, RequestModel
from api.security import Password, client_info, set_session_cookie
from headwater.auth import two_factor
from headwater.auth.accounts import get_user
from headwater.auth.login import LoginResult, verify_second_factor

router = APIRouter(route_class=GuardedRoute, tags=["two-factor"])

Code = Annotated[str, Field(min_length=6, max_length=32)]
"""A 6-digit code from the authenticator app, or a recovery code."""


class LoginOut(ApiModel):
    """Signed in (the `hw_session` cookie is set), or a second step is needed."""

    two_factor_required: bool
    """True: send `pending_token` with a code to `POST /api/auth/2fa/verify`."""
    pending_token: str | None = None
    """Token for the second step (2FA on); valid 5 minutes."""
    user: UserOut | None = None
    """Who signed in."""
    session_expires_at: datetime | None = None
    """When the session (and its cookie) ends."""


def signed_in(result: LoginResult, response: Response, context: AppContext) -> LoginOut:
    """The answer to a sign-in step: the cookie and the user, or the pending token."""
    if result.pending_token is not None:
        return LoginOut(two_factor_required=True, pending_token=result.pending_token)
    assert result.session is not None and result.session_token is not None
    set_session_cookie(response, result.session_token, context.project.config.auth)
    return LoginOut(
        two_factor_required=False,
        user=UserOut.of(result.user),
        session_expires_at=result.session.expires_at,
    )


class VerifyIn(RequestModel):
    """The pending token from `POST /api/auth/login` and a code."""

    pending_token: str = Field(min_length=1, max_length=200)
    """The `pending_token` that login answered."""
    code: Code
    """The 6-digit code the app shows now, or an unused recovery code."""


class PasswordIn(RequestModel):
    """The caller's password, to confirm it is them."""

    password: Password
    """The caller's password."""


class CodeIn(RequestModel):
    """A code from the authenticator app."""

    code: Code
    """The 6-digit code the app shows now."""


class DisableIn(RequestModel):
    """The password and a current code (or an unused recovery code)."""

    password: Password
    """The caller's password."""
    code: Code
    """The 6-digit code the app shows now, or an unused recovery code."""


class SetupOut(ApiModel):
    """Add Headwater to an authenticator app, then confirm with `verify-setup`."""

    secret: str
    """Base32 secret, to type in by hand."""
    otpauth_uri: str
    """`otpauth://` URI, to show as a QR code."""
    recovery_codes: list[str]
    """Eight single-use codes for a lost device: shown this once, keep them safe."""


class RecoveryCodesOut(ApiModel):
    """New recovery codes; the old ones no longer work."""

    recovery_codes: list[str]
    """Eight single-use codes: shown this once, keep them safe."""


class TwoFactorOut(ApiModel):
    """The caller's 2FA state."""

    enabled: bool
    """Sign-in asks for a code."""
    recovery_codes_left: int
    """Unused recovery codes."""


@router.post(
    "/api/auth/2fa/verify",
    response_model_exclude_unset=True,
    openapi_extra=requires(PUBLIC, login_limited=True),
)
def verify(body: VerifyIn, request: Request, response: Response, context: Context) -> LoginOut:
    """Second sign-in step: the `pending_token` from login with the code the authenticator
    app shows (or an unused recovery code). Sets the `hw_session` cookie. A code works
    once; wrong codes count towards the lockout."""
    with noting_refusal(request), context.store.session() as db:
        result = verify_second_factor(
            db, body.pending_token, body.code, context.project.config.auth, client_info(request)
        )
        note_subject(request, result.user.email, result.user.id)
        return signed_in(result, response, context)


@router.post("/api/auth/2fa/setup", openapi_extra=requires(AUTHENTICATED, before_2fa_setup=True))
def setup(body: PasswordIn, principal: CurrentPrincipal, context: Context) -> SetupOut:
    """Start setting up TOTP (password needed): the secret, its `otpauth://` URI and eight
    recovery codes, shown once. 2FA is on after `POST /api/auth/2fa/verify-setup`."""
    with context.store.session() as db:
        user = get_user(db, principal.user_id)
        made = two_factor.begin_setup(db, user, body.password)
        return SetupOut(
            secret=made.secret, otpauth_uri=made.otpauth_uri, recovery_codes=made.recovery_codes
        )


@router.post(
    "/api/auth/2fa/verify-setup", openapi_extra=requires(AUTHENTICATED, before_2fa_setup=True)
)
def verify_setup(body: CodeIn, principal: CurrentPrincipal, context: Context) -> TwoFactorOut:
    """Turn 2FA on with a first code from the app; from now on sign-in asks for a code."""
    with context.store.session() as db:
        user = get_user(db, principal.user_id)
        two_factor.confirm_setup(db, user, body.code)
        return TwoFactorOut(
            enabled=True, recovery_codes_left=two_factor.recovery_codes_left(db, user.id)
        )


@router.post("/api/auth/2fa/disable", openapi_extra=requires(AUTHENTICATED))
def disable(body: DisableIn, principal: CurrentPrincipal, context: Context) -> TwoFactorOut:
    """Turn 2FA off: the password and a current code (or an unused recovery code).
    With `auth.require_2fa` on, the user must set it up again before doing anything else."""
    with context.store.session() as db:
        user = get_user(db, principal.user_id)
        two_factor.disable(db, user, body.password, body.code)
        return TwoFactorOut(enabled=False, recovery_codes_left=0)


@router.post("/api/auth/2fa/regenerate-recovery", openapi_extra=requires(AUTHENTICATED))
def regenerate_recovery(
    body: PasswordIn, principal: CurrentPrincipal, context: Context
) -> RecoveryCodesOut:
    """Eight new recovery codes (password needed), shown once; the old ones stop working."""
    with context.store.session() as db:
        user = get_user(db, principal.user_id)
        return RecoveryCodesOut(
            recovery_codes=two_factor.regenerate_recovery_codes(db, user, body.password)
        )

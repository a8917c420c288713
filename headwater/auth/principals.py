"""Who is calling: a Principal from a session token or an API key."""

from __future__ import annotations

from sqlalchemy.orm import Session

from headwater.auth.api_keys import api_key_for
from headwater.auth.roles import Principal
from headwater.auth.sessions import session_for_token
from headwater.config.models import AuthConfig
from headwater.store.models import User


def principal_for(
    user: User,
    config: AuthConfig,
    *,
    session_id: int | None = None,
    api_key_id: int | None = None,
) -> Principal:
    """`user` as a Principal; held back to 2FA setup when `auth.require_2fa` is on and they
    have no TOTP yet."""
    return Principal(
        user_id=user.id,
        email=user.email,
        role=user.role,
        session_id=session_id,
        api_key_id=api_key_id,
        needs_2fa_setup=config.require_2fa and not user.totp_enabled,
    )


def principal_from_api_key(session: Session, key: str, config: AuthConfig) -> Principal:
    """The owner of API key `key`, acting through it; InvalidCredentialsError saying what
    is wrong with a key that is unknown, revoked, expired or whose owner is deactivated."""
    row = api_key_for(session, key)
    return principal_for(row.user, config, api_key_id=row.id)


def principal_from_session_token(
    session: Session, token: str, config: AuthConfig
) -> Principal | None:
    """The user signed in with session `token`, or None when it is not a live session."""
    login = session_for_token(session, token)
    if login is None:
        return None
    return principal_for(login.user, config, session_id=login.id)

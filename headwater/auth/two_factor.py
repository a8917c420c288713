"""TOTP two-factor authentication: setup, confirmation, checking a code, disabling,
recovery codes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, or_, select, update
from sqlalchemy.orm import Session

from headwater.auth.errors import AuthConflictError, InvalidCredentialsError
from headwater.auth.passwords import verify_password
from headwater.auth.totp import (
    hash_recovery_code,
    looks_like_totp,
    matching_step,
    new_recovery_codes,
    new_secret,
    provisioning_uri,
)
from headwater.store.models import RecoveryCode, User
from headwater.store.types import utcnow


@dataclass(frozen=True)
class TwoFactorSetup:
    """What a user needs to add Headwater to an authenticator app (shown once)."""

    secret: str
    """Base32 secret, for typing in by hand."""
    otpauth_uri: str
    """`otpauth://` URI, usually shown as a QR code."""
    recovery_codes: list[str]
    """Single-use codes for when the device is lost."""


def _check_password(user: User, password: str) -> None:
    if not verify_password(user.password_hash, password):
        raise InvalidCredentialsError("the password is wrong; type it again", "wrong_password")


def _replace_recovery_codes(session: Session, user: User) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = new_recovery_codes()
    session.add_all(RecoveryCode(user_id=user.id, code_hash=hash_recovery_code(c)) for c in codes)
    return codes


def _rowcount(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount or 0)


def begin_setup(session: Session, user: User, password: str) -> TwoFactorSetup:
    """Start 2FA setup for `user` (password needed): a new secret and recovery codes; 2FA
    is on once a code from the app is confirmed (`confirm_setup`)."""
    _check_password(user, password)
    if user.totp_enabled:
        raise AuthConflictError(
            "two-factor authentication is already on; to move it to another device, "
            "disable it (POST /api/auth/2fa/disable) and set it up again",
            "2fa_already_enabled",
        )
    secret = new_secret()
    user.totp_pending_secret = secret
    codes = _replace_recovery_codes(session, user)
    return TwoFactorSetup(secret, provisioning_uri(secret, user.email), codes)


def confirm_setup(session: Session, user: User, code: str) -> None:
    """Turn 2FA on once `code` shows the authenticator app holds the new secret."""
    if user.totp_enabled:
        raise AuthConflictError("two-factor authentication is already on", "2fa_already_enabled")
    if user.totp_pending_secret is None:
        raise AuthConflictError(
            "no two-factor setup is in progress: call POST /api/auth/2fa/setup first",
            "2fa_setup_not_started",
        )
    step = matching_step(user.totp_pending_secret, code, None)
    if step is None:
        raise InvalidCredentialsError(
            "the code does not match: type the 6-digit code the app shows now, and check "
            "that the device's clock is right",
            "invalid_code",
        )
    user.totp_secret = user.totp_pending_secret
    user.totp_pending_secret = None
    user.totp_last_step = step


def check_second_factor(session: Session, user: User, code: str) -> bool:
    """Whether `code` is a valid second factor of `user`: a TOTP code of a time step newer
    than the last one accepted, or an unused recovery code. Accepting it uses it up.

    Both are claimed with a conditional UPDATE, so two requests racing with the same code
    cannot both succeed."""
    if user.totp_secret is None:
        return False
    if looks_like_totp(code):
        step = matching_step(user.totp_secret, code, user.totp_last_step)
        if step is None:
            return False
        claimed = session.execute(
            update(User)
            .where(
                User.id == user.id,
                or_(User.totp_last_step.is_(None), User.totp_last_step < step),
            )
            .values(totp_last_step=step)
        )
        return _rowcount(claimed) == 1
    code_id = session.scalar(
        select(RecoveryCode.id).where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == hash_recovery_code(code),
            RecoveryCode.used_at.is_(None),
        )
    )
    if code_id is None:
        return False
    claimed = session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.id == code_id, RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow())
    )
    return _rowcount(claimed) == 1


def disable(session: Session, user: User, password: str, code: str) -> None:
    """Turn 2FA off (password and a current code, or a recovery code, needed)."""
    if not user.totp_enabled:
        raise AuthConflictError("two-factor authentication is not on", "2fa_not_enabled")
    _check_password(user, password)
    if not check_second_factor(session, user, code):
        raise InvalidCredentialsError(
            "the code is wrong or was already used: type the code the app shows now, or an "
            "unused recovery code",
            "invalid_code",
        )
    user.totp_secret = None
    user.totp_pending_secret = None
    user.totp_last_step = None
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


def regenerate_recovery_codes(session: Session, user: User, password: str) -> list[str]:
    """New recovery codes for `user` (password needed); the old ones stop working."""
    if not user.totp_enabled:
        raise AuthConflictError(
            "two-factor authentication is not on: set it up first (POST /api/auth/2fa/setup)",
            "2fa_not_enabled",
        )
    _check_password(user, password)
    return _replace_recovery_codes(session, user)


def recovery_codes_left(session: Session, user_id: int) -> int:
    """How many unused recovery codes `user_id` has."""
    return (
        session.scalar(
            select(func.count()).where(
                RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
            )
        )
        or 0
    )

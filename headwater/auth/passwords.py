"""Password hashing (argon2id) and the password rules."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from headwater.auth.errors import AuthInputError

MIN_PASSWORD_LENGTH = 12
"""Shortest password accepted."""
MAX_PASSWORD_LENGTH = 1024
"""Longest password accepted (hashing a megabyte on every sign-in would be a cheap attack)."""

_hasher = PasswordHasher()
# Checked against unknown emails so that they take as long as a wrong password does.
_DUMMY_HASH = _hasher.hash("headwater-dummy-password-for-timing")


def check_password_rules(password: str) -> None:
    """Refuse a password that is too short or too long, saying what is needed."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthInputError(
            f"the password is too short ({len(password)} characters): use at least "
            f"{MIN_PASSWORD_LENGTH}; a few unrelated words make a long one easy to remember",
            "weak_password",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AuthInputError(
            f"the password is too long: use at most {MAX_PASSWORD_LENGTH} characters",
            "weak_password",
        )
    if not password.strip():
        raise AuthInputError("the password cannot be only spaces", "weak_password")


def hash_password(password: str) -> str:
    """Check `password` against the rules and hash it (argon2id, salted)."""
    check_password_rules(password)
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches `password_hash`; None (no password set yet) never does,
    but costs the same time as a real check."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether `password_hash` was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)

"""TOTP codes (RFC 6238, pyotp) and single-use recovery codes."""

from __future__ import annotations

import re
import secrets
from datetime import datetime

import pyotp
from pyotp.exceptions import OTPVerificationError

from headwater.auth.tokens import hash_token

ISSUER = "Headwater"
"""Issuer shown by authenticator apps."""
VALID_WINDOW = 1
"""Steps of clock drift accepted either side of now (30 s each)."""
RECOVERY_CODE_COUNT = 8
"""Recovery codes handed out at once."""
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread
_RECOVERY_HALF = 5
_TOTP_SHAPE = re.compile(r"^\d{6}$")


def new_secret() -> str:
    """A new base32 TOTP secret (160 bits)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, email: str) -> str:
    """The `otpauth://` URI authenticator apps read (usually as a QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def looks_like_totp(code: str) -> bool:
    """Whether `code` has the shape of a TOTP code (six digits) rather than a recovery code."""
    return bool(_TOTP_SHAPE.match(code.strip().replace(" ", "")))


def matching_step(
    secret: str, code: str, last_step: int | None, now: datetime | None = None
) -> int | None:
    """The time step `code` belongs to when it is valid now (one step of drift allowed)
    and newer than `last_step`, the step of the last code accepted; else None.

    Refusing steps up to `last_step` makes a code that was seen once useless to anyone
    who read it over a shoulder or from a log."""
    code = code.strip().replace(" ", "")
    if not _TOTP_SHAPE.match(code):
        return None
    totp = pyotp.TOTP(secret)
    try:
        step = totp.verify_and_get_timecode(
            code, for_time=now or datetime.now().astimezone(), valid_window=VALID_WINDOW
        )
    except OTPVerificationError:
        return None
    if last_step is not None and step <= last_step:
        return None
    return step


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """`count` new recovery codes like `k7m2p-xq9rt` (about 49 random bits each)."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(2 * _RECOVERY_HALF))
        codes.append(f"{raw[:_RECOVERY_HALF]}-{raw[_RECOVERY_HALF:]}")
    return codes


def normalize_recovery_code(code: str) -> str:
    """A recovery code as stored: lower case, without dashes or spaces."""
    return re.sub(r"[\s-]", "", code).lower()


def hash_recovery_code(code: str) -> str:
    """SHA-256 hex of the normalized code (what the DB stores)."""
    return hash_token(normalize_recovery_code(code))

"""What the auth rules refuse, one type per kind of refusal (the API maps each to a status).

Each error carries a stable `code` for clients and a message that says what is wrong and
what to do about it."""

from __future__ import annotations

from datetime import datetime

from headwater.errors import TerminalError


class AuthError(TerminalError):
    """Root of the auth refusals."""

    code = "auth_error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class AuthInputError(AuthError):
    """The request cannot be accepted as sent (a too-short password, an unknown role)."""

    code = "bad_request"


class InvalidCredentialsError(AuthError):
    """A wrong password, code or token, or an unknown, expired or revoked one."""

    code = "invalid_credentials"


class AccountLockedError(AuthError):
    """Too many failed sign-ins: refused whatever the password until `until`."""

    code = "account_locked"

    def __init__(self, until: datetime) -> None:
        self.until = until
        super().__init__(
            "this account is locked after too many failed sign-ins until "
            f"{until.strftime('%Y-%m-%d %H:%M:%S')} UTC; try again then or ask an admin "
            "to unlock it"
        )


class AccountDisabledError(AuthError):
    """The account was deactivated by an admin."""

    code = "account_disabled"


class RecordNotFoundError(AuthError):
    """No such user, session or API key (or not one of the caller's)."""

    code = "not_found"

    def __init__(self, what: str, ident: int | str) -> None:
        self.what = what
        self.ident = ident
        super().__init__(f"no {what} with id {ident}", f"{what.replace(' ', '_')}_not_found")


class AuthConflictError(AuthError):
    """The change clashes with the current state (setup done, email taken, last admin)."""

    code = "conflict"

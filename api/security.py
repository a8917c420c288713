"""Who is calling (session cookie or API key), and the HTTP side of the auth rules:
the session cookie and the status each auth refusal answers with."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Annotated

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, Field

from api.errors import ApiError, error_body
from headwater.auth.accounts import MAX_EMAIL_LENGTH, normalize_email
from headwater.auth.errors import (
    AccountDisabledError,
    AccountLockedError,
    AuthConflictError,
    AuthError,
    AuthInputError,
    InvalidCredentialsError,
    RecordNotFoundError,
)
from headwater.auth.login import ClientInfo
from headwater.auth.passwords import MAX_PASSWORD_LENGTH
from headwater.auth.principals import principal_from_api_key, principal_from_session_token
from headwater.auth.roles import Principal
from headwater.config.models import AuthConfig

if TYPE_CHECKING:  # api.deps imports api.access, which imports this module
    from api.deps import AppContext

SESSION_COOKIE = "hw_session"
"""The session cookie's name."""


def _email(value: str) -> str:
    try:
        return normalize_email(value)
    except AuthInputError as exc:
        raise ValueError(str(exc)) from None


Email = Annotated[str, Field(max_length=MAX_EMAIL_LENGTH), AfterValidator(_email)]
"""A request's email address: checked, trimmed and lower-cased (422 when malformed)."""
Password = Annotated[str, Field(max_length=MAX_PASSWORD_LENGTH)]
"""A request's password (the auth rules check its length with a clear message: 400)."""

_STATUS: list[tuple[type[AuthError], int]] = [
    (AuthInputError, 400),
    (InvalidCredentialsError, 401),
    (AccountLockedError, 403),
    (AccountDisabledError, 403),
    (RecordNotFoundError, 404),
    (AuthConflictError, 409),
]


def auth_api_error(exc: AuthError) -> ApiError:
    """The answer to an auth refusal: its status (400, 401, 403, 404, 409), code and
    message."""
    status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 400)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return ApiError(status, str(exc), exc.code, headers)


def install_auth_error_handler(app: FastAPI) -> None:
    """Answer every auth refusal a route lets out with its status and code (one mapping
    for all routes, so none can forget it and answer 500)."""

    @app.exception_handler(AuthError)
    async def _auth_error(_: Request, exc: AuthError) -> JSONResponse:
        refusal = auth_api_error(exc)
        return JSONResponse(
            error_body(refusal.detail, refusal.code),
            status_code=refusal.status,
            headers=refusal.headers,
        )


def _bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer ...` header (other schemes are not ours:
    a proxy in front may use them)."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = value.strip()
    if not token:
        raise ApiError(
            401, "the Authorization header has no key: send `Bearer hw_...`", "invalid_api_key"
        )
    return token


AUTH_CACHE_SECONDS = 2.0
"""How long a verified credential is trusted without reading the metadata DB again. Changes
made through this API process (revoking a key, signing out, changing a role) clear it at
once; changes made elsewhere (another API process, the DB directly) show within this."""


class PrincipalCache:
    """Recently verified credentials -> their principal: an API dashboard polls several
    times a second, and a DB read per request would cost more than the request."""

    def __init__(self, seconds: float = AUTH_CACHE_SECONDS) -> None:
        self.seconds = seconds
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def credential(request: Request) -> str | None:
        """The request's credential (bearer key or session cookie), if any."""
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return f"key:{value.strip()}"
        cookie = request.cookies.get(SESSION_COOKIE)
        return f"session:{cookie}" if cookie else None

    def get(self, request: Request) -> Principal | None:
        """The cached principal of the request's credential, when fresh."""
        credential = self.credential(request)
        if credential is None:
            return None
        with self._lock:
            entry = self._entries.get(credential)
        if entry is None or time.monotonic() - entry[0] > self.seconds:
            return None
        return entry[1]

    def put(self, request: Request, principal: Principal) -> None:
        """Remember the principal the request's credential was verified as."""
        credential = self.credential(request)
        if credential is None:
            return
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[credential] = (time.monotonic(), principal)

    def clear(self) -> None:
        """Forget every credential (after any change to users, sessions or keys)."""
        with self._lock:
            self._entries.clear()


def authenticate(request: Request, context: AppContext) -> Principal | None:
    """The caller: the owner of the `Bearer hw_...` API key (401 saying what is wrong
    with a bad key), else the user of a live `hw_session` cookie, else None.

    Sync on purpose: the route guard runs it in a thread pool (it reads the DB)."""
    config = context.project.config.auth
    key = _bearer_token(request)
    principal: Principal | None
    if key is not None:
        try:
            with context.store.session() as session:
                principal = principal_from_api_key(session, key, config)
        except AuthError as exc:
            raise auth_api_error(exc) from None
    else:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        with context.store.session() as session:
            # A dead cookie is no error: public routes still answer, others say "sign in".
            principal = principal_from_session_token(session, token, config)
    if principal is not None:
        context.principals.put(request, principal)
    return principal


def client_info(request: Request) -> ClientInfo:
    """Where a sign-in comes from (kept with the session)."""
    return ClientInfo(
        address=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


def set_session_cookie(response: Response, token: str, config: AuthConfig) -> None:
    """Hand the browser its session cookie: HttpOnly (scripts cannot read it), SameSite=Lax
    (other sites cannot post with it), Secure behind HTTPS (`auth.secure_cookies`)."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(config.session_hours * 3600),
        path="/",
        httponly=True,
        samesite="lax",
        secure=config.secure_cookies,
    )


def clear_session_cookie(response: Response, config: AuthConfig) -> None:
    """Tell the browser to drop its session cookie."""
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=config.secure_cookies
    )

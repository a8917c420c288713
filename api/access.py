"""Route permissions, declared once on each route and checked before anything else.

Every route is declared with `openapi_extra=requires(...)`: a permission (`source.sync`),
`AUTHENTICATED` (any signed-in user: self-service) or `PUBLIC`. The declaration is part
of the OpenAPI document (`x-permission`), and `GuardedRoute` refuses to register a route
without one. The check runs before FastAPI reads the body or the path parameters, so a
caller without the permission gets 401/403, never a 404 or 422 that leaks what exists.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from api.errors import ApiError
from api.ratelimit import retry_after_header
from api.security import authenticate
from headwater.auth.roles import ALL_PERMISSIONS, Principal

PUBLIC = "public"
"""Answers without credentials."""
AUTHENTICATED = "authenticated"
"""Any signed-in user or API key (self-service routes)."""

ACCOUNT_PATHS = ("/api/auth", "/api/admin")
"""Routes whose changes (keys, sessions, users) invalidate cached credentials."""

SIGN_IN = "sign in or send `Authorization: Bearer hw_...`"
"""The answer to a request without credentials."""

PERMISSION_KEY = "x-permission"
LOGIN_LIMITED_KEY = "x-login-rate-limited"
DURING_2FA_SETUP_KEY = "x-allowed-before-2fa-setup"


def requires(
    permission: str, *, login_limited: bool = False, before_2fa_setup: bool = False
) -> dict[str, Any]:
    """The `openapi_extra` that declares a route's permission.

    `login_limited` counts calls against the per-address login limit (password and code
    guessing); `before_2fa_setup` lets a user whom `auth.require_2fa` holds back call it."""
    if permission not in ALL_PERMISSIONS | {PUBLIC, AUTHENTICATED}:
        raise ValueError(f"unknown permission {permission!r}")
    extra: dict[str, Any] = {PERMISSION_KEY: permission}
    if login_limited:
        extra[LOGIN_LIMITED_KEY] = True
    if before_2fa_setup:
        extra[DURING_2FA_SETUP_KEY] = True
    return extra


def client_address(request: Request) -> str:
    """The caller's address (audit log, login rate limit)."""
    return request.client.host if request.client else "unknown"


def current_principal(request: Request) -> Principal:
    """The principal the route guard authenticated (routes that are not public)."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        raise ApiError(401, SIGN_IN)
    return principal


class GuardedRoute(APIRoute):
    """An APIRoute that authenticates, rate-limits and authorizes before its handler."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        extra = self.openapi_extra or {}
        if PERMISSION_KEY not in extra:
            raise RuntimeError(
                f"route {path} declares no permission: add openapi_extra=requires(...)"
            )
        self.permission: str = extra[PERMISSION_KEY]
        self.login_limited: bool = bool(extra.get(LOGIN_LIMITED_KEY))
        self.before_2fa_setup: bool = bool(extra.get(DURING_2FA_SETUP_KEY))

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler, behind the permission check."""
        handler = super().get_route_handler()

        changes_accounts = self.path.startswith(ACCOUNT_PATHS) and not (self.methods or set()) <= {
            "GET"
        }

        async def guarded(request: Request) -> Response:
            await self._authorize(request)
            response = await handler(request)
            if changes_accounts:  # a key, session, role or password may have changed
                request.app.state.context.principals.clear()
            return response

        return guarded

    async def _authorize(self, request: Request) -> None:
        context = request.app.state.context
        if self.login_limited:
            wait = context.login_limiter.hit(client_address(request))
            if wait is not None:
                raise ApiError(
                    429,
                    "too many sign-in attempts from this address; wait and try again",
                    headers=retry_after_header(wait),
                )
        principal = context.principals.get(request)
        if principal is None:
            principal = await run_in_threadpool(authenticate, request, context)
        request.state.principal = principal
        if self.permission == PUBLIC:
            return
        if principal is None:
            raise ApiError(401, SIGN_IN)
        caller = (
            f"key:{principal.api_key_id}" if principal.api_key_id else f"user:{principal.user_id}"
        )
        wait = context.api_limiter.hit(caller)
        if wait is not None:
            raise ApiError(429, "rate limit reached; slow down", headers=retry_after_header(wait))
        if principal.needs_2fa_setup and not self.before_2fa_setup:
            raise ApiError(
                403,
                "two-factor authentication is required: set it up with "
                "POST /api/auth/2fa/setup and /api/auth/2fa/verify-setup",
                "2fa_setup_required",
            )
        if self.permission != AUTHENTICATED and not principal.can(self.permission):
            raise ApiError(
                403,
                f"your role '{principal.role}' lacks the permission '{self.permission}'",
            )

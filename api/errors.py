"""One error body everywhere: `{"detail": "...", "code": "..."}`, never a traceback."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from headwater.errors import ConfigError, HeadwaterError, TransientError

logger = logging.getLogger("headwater.api")

_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid_input",
    429: "rate_limited",
    503: "unavailable",
}


class ApiError(Exception):
    """An answer other than success, with its status, a stable code and a message that
    says what is wrong and how to fix it."""

    def __init__(
        self,
        status: int,
        detail: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code or _CODES.get(status, "error")
        self.headers = headers


def not_found(what: str, name: str, known: list[str] | None = None) -> ApiError:
    """404 for `what` called `name`, listing the known names when there are few."""
    hint = ""
    if known is not None:
        hint = f"; known: {', '.join(sorted(known)[:20]) or 'none'}"
    return ApiError(404, f"no {what} '{name}'{hint}", f"{what.replace(' ', '_')}_not_found")


def error_body(detail: str, code: str) -> dict[str, str]:
    """The one error body."""
    return {"detail": detail, "code": code}


def _respond(status: int, detail: str, code: str, headers: dict[str, str] | None = None) -> Any:
    return JSONResponse(error_body(detail, code), status_code=status, headers=headers)


def _describe_validation(exc: RequestValidationError) -> str:
    """`body.tables.0: Input should be a valid string; query.limit: ...`"""
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception to the one error body."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> Any:
        return _respond(exc.status, exc.detail, exc.code, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> Any:
        code = _CODES.get(exc.status_code, "error")
        detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        if exc.status_code == 404 and detail == "Not Found":
            detail = "no such route; the routes are listed at /api/docs"
        return _respond(exc.status_code, detail, code, dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> Any:
        return _respond(422, _describe_validation(exc), "invalid_input")

    # Routes turn the caller's mistakes into ApiError themselves; a Headwater error that
    # gets here is the server's problem (a broken project.yml or warehouse): 500, with
    # Headwater's own message, which names the cause and never holds a traceback.
    @app.exception_handler(ConfigError)
    async def _config_error(_: Request, exc: ConfigError) -> Any:
        return _respond(500, str(exc), "config_error")

    @app.exception_handler(TransientError)
    async def _transient_error(_: Request, exc: TransientError) -> Any:
        return _respond(503, str(exc), "unavailable", {"Retry-After": "5"})

    @app.exception_handler(HeadwaterError)
    async def _headwater_error(_: Request, exc: HeadwaterError) -> Any:
        return _respond(500, str(exc), "failed")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Any:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return _respond(500, "internal error; the server log has the details", "internal_error")

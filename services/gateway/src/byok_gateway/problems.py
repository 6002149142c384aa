"""The v1 error body for every HTTP failure, with the HTTP status equal to its code.

Nothing the caller sent is repeated: validation errors name the field and the
kind of problem, never the value (or an unknown field's name, which could be a key).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from nats.errors import Error as NatsError
from starlette.exceptions import HTTPException as StarletteHTTPException

from byok_contracts import ByokError
from byok_contracts.v1 import ErrorReply
from byok_shared.logs import redact

__all__ = ["ERROR_RESPONSES", "error_response", "install_error_handlers"]

log = logging.getLogger("byok.gateway")

_DESCRIPTIONS = {
    400: "Malformed request",
    401: "Missing or invalid bearer token, or the provider rejected the key",
    403: "Forbidden: another account, a scope outside the token, a read-only scope or token",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    422: "Unrecognised key format or model not allowed",
    429: "Rate limited (see Retry-After)",
    503: "A byok service is unavailable",
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorReply, "description": text} for code, text in _DESCRIPTIONS.items()
}
_HTTP_WORDS = {
    400: "malformed_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    429: "rate_limited",
}


def error_response(
    code: int, error: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = ErrorReply(code=code, error=error, message=message).model_dump()
    return JSONResponse(body, status_code=code, headers=headers)


def _where(loc: Sequence[str | int], kind: str) -> str:
    parts = [str(p) for p in loc if not isinstance(p, int)]
    if kind == "extra_forbidden":
        parts = parts[:-1]  # the unknown field's name is the caller's text
        return ".".join(parts) + " has an unexpected field"
    return ".".join(parts) + f" ({kind})"


def validation_message(errors: Sequence[Any]) -> str:
    places = []
    for err in list(errors)[:5]:
        places.append(_where(tuple(err.get("loc", ())), str(err.get("type", "invalid"))))
    return "Invalid request: " + "; ".join(dict.fromkeys(places))


async def _on_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(400, "malformed_request", validation_message(exc.errors()))


async def _on_byok(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ByokError)
    # Defence in depth: a service message that quotes a field could quote a key.
    message = redact(exc.message)
    return error_response(exc.code, exc.error, message, getattr(exc, "headers", None))


async def _on_http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = exc.status_code
    message = {404: "No such route", 405: "Method not allowed on this route"}.get(
        code, str(exc.detail) if isinstance(exc.detail, str) else "Request failed"
    )
    headers = dict(exc.headers) if exc.headers else None
    return error_response(code, _HTTP_WORDS.get(code, "error"), message, headers)


async def _on_nats(_: Request, exc: Exception) -> JSONResponse:
    log.warning("NATS request failed: %s", type(exc).__name__)
    return error_response(503, "unavailable", "byok services are unreachable; try again")


async def _on_unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled %s in the gateway", type(exc).__name__)
    return error_response(500, "internal", "Internal error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(ByokError, _on_byok)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(NatsError, _on_nats)
    app.add_exception_handler(Exception, _on_unexpected)

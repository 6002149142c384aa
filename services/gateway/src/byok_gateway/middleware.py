"""The outermost layer: body size limit, access log without bodies, no 500 tracebacks out.

The access log names the method, the route *template* (``/v1/scopes/{type}/{id}/keys``,
never the raw path or query), the status, the duration and the token id: nothing
the caller sent can reach it, least of all a key in a body.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["GatewayMiddleware"]

access = logging.getLogger("byok.gateway.access")
log = logging.getLogger("byok.gateway")


def _error_body(code: int, error: str, message: str) -> bytes:
    return json.dumps(
        {"status": "error", "code": code, "error": error, "message": message}
    ).encode()


class _TooLarge(Exception):
    pass


class GatewayMiddleware:
    def __init__(self, app: ASGIApp, *, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 0}
        state: dict[str, Any] = scope.setdefault("state", {})
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body:
            await _send_error(send, 413, "payload_too_large", "Request body too large")
            self._log(scope, 413, started, state)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not status["code"]:
                status["code"] = 413
                await _send_error(send, 413, "payload_too_large", "Request body too large")
        except Exception as exc:
            log.error("unhandled %s in the gateway", type(exc).__name__)
            if not status["code"]:
                status["code"] = 500
                await _send_error(send, 500, "internal", "Internal error")
        self._log(scope, status["code"], started, state)

    @staticmethod
    def _log(scope: Scope, code: int, started: float, state: dict[str, Any]) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "(no route)"
        access.info(
            "%s %s %d %.1fms",
            scope.get("method", "?"),
            template,
            code,
            (time.perf_counter() - started) * 1000,
            extra={"token_id": state.get("token_id")},
        )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_error(send: Send, code: int, error: str, message: str) -> None:
    body = _error_body(code, error, message)
    await send(
        {
            "type": "http.response.start",
            "status": code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

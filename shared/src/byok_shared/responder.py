"""The reply guarantee: every request gets a reply, never a silent timeout.

:func:`respond` turns raw request bytes into reply bytes. A body that is not
JSON, a schema violation, a :class:`ByokError` and any unexpected exception all
become the error contract of DESIGN.md section 3. Services wire it to NATS
through :class:`byok_shared.service.Service`; hot paths may call it directly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import nats.errors
from pydantic import BaseModel, ValidationError

from byok_contracts import ByokError, MalformedRequest, Unavailable
from byok_contracts.redaction import redact_secrets
from byok_contracts.v1 import ErrorReply

from .metrics import Metrics

__all__ = ["Handler", "encode", "error_bytes", "guarded", "parse_request", "respond"]

log = logging.getLogger(__name__)

Req = TypeVar("Req", bound=BaseModel)
Handler = Callable[[Req], Awaitable[BaseModel]]

MAX_BODY = 64 * 1024


def encode(reply: BaseModel) -> bytes:
    """Serialise a reply model (``None`` fields kept: the contract shows them)."""
    return reply.model_dump_json().encode()


def error_bytes(exc: ByokError) -> bytes:
    message = redact_secrets(exc.message)  # a provider's error text may quote the key
    return encode(ErrorReply(code=exc.code, error=exc.error, message=message))


def _describe(exc: ValidationError) -> str:
    """Where and what, never the caller's text: an unknown field is not named (its name
    may be anything, a pasted key even), and messages carry no input."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False)[:5]:
        loc = err["loc"]
        if err["type"] == "extra_forbidden":
            loc = (*loc[:-1], "<unknown field>")
        where = ".".join(str(p) for p in loc) or "body"
        parts.append(f"{where}: {err['msg']}")
    return redact_secrets("; ".join(parts))


def parse_request(raw: bytes, model: type[Req]) -> Req:
    """Decode and validate a request body, raising :class:`MalformedRequest`."""
    if len(raw) > MAX_BODY:
        raise MalformedRequest(f"Request body is larger than {MAX_BODY} bytes")
    if raw.strip() == b"":
        raw = b"{}"
    try:
        # JSON mode: strict types still read enums and timestamps from their JSON form.
        return model.model_validate_json(raw)
    except ValidationError as exc:
        if any(err["type"] == "json_invalid" for err in exc.errors()):
            raise MalformedRequest("Request body is not valid JSON") from None
        raise MalformedRequest(f"Invalid request: {_describe(exc)}") from None


async def respond(
    raw: bytes,
    model: type[Req],
    handler: Callable[[Req], Awaitable[BaseModel]],
    *,
    subject: str,
    metrics: Metrics | None = None,
) -> bytes:
    """Run ``handler`` on the decoded request; always return reply bytes."""

    async def work() -> bytes:
        return encode(await handler(parse_request(raw, model)))

    return await guarded(work(), subject=subject, metrics=metrics)


async def guarded(
    work: Awaitable[bytes],
    *,
    subject: str,
    metrics: Metrics | None = None,
    started: float | None = None,
) -> bytes:
    """Await reply bytes; map any failure to the error contract (and count the reply)."""
    started = time.perf_counter() if started is None else started
    code = 200
    try:
        out = await work
    except ByokError as exc:
        code = exc.code
        out = error_bytes(exc)
    except (nats.errors.Error, TimeoutError) as exc:
        # NATS or JetStream itself failed under the handler (a server restart, a
        # stream leader moving): a dependency is unavailable, the caller may retry.
        code = 503
        log.warning("NATS unavailable on %s: %s: %s", subject, type(exc).__name__, exc)
        out = error_bytes(Unavailable("The message bus is unavailable; retry", error="unavailable"))
    except Exception:
        code = 500
        log.exception("unhandled error on %s", subject)
        out = encode(
            ErrorReply(
                code=500, error="internal", message="Internal error; the request was not applied"
            )
        )
    if metrics is not None:
        metrics.observe_request(subject, code, time.perf_counter() - started)
    return out

"""Retry with backoff while JetStream is not ready yet (a cluster forming or failing over).

On a fresh 3-node cluster at R3 a stream or bucket exists a moment before its
Raft group has a leader: until then a write gets ``NoStreamResponseError`` (or
no responders, or a timeout), and the JetStream API may answer 503 "JetStream
system temporarily unavailable" or "no suitable peers" while the meta group
forms. The same happens for a few seconds after the node leading a group dies.
Those are worth waiting for at start-up; anything else (a 400, a 404, a
permission violation) is a real error and is raised at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import nats.errors
from nats.js import JetStreamContext
from nats.js import errors as js_errors

__all__ = ["is_transient", "quick", "stream_ready", "with_backoff"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# JetStream API error codes that mean "not ready yet", not "wrong request".
_TRANSIENT_CODES = frozenset(
    {
        10008,  # JetStream system temporarily unavailable
        10005,  # no suitable peers for placement (peers still joining)
        10074,  # insufficient resources (a peer not reporting yet)
        10023,  # insufficient resources
        10009,  # JetStream not in clustered mode yet
    }
)
_TRANSIENT_WORDS = ("temporarily unavailable", "no suitable peers", "leader", "not ready")


def is_transient(exc: BaseException) -> bool:
    """True for the errors a JetStream cluster gives while it elects a leader."""
    if isinstance(
        exc,
        (
            js_errors.NoStreamResponseError,
            js_errors.ServiceUnavailableError,
            nats.errors.NoRespondersError,
            nats.errors.TimeoutError,
            nats.errors.ConnectionReconnectingError,
            nats.errors.ConnectionClosedError,
            TimeoutError,
        ),
    ):
        return True
    if isinstance(exc, js_errors.APIError) and not isinstance(exc, js_errors.NotFoundError):
        if exc.code == 503 or exc.err_code in _TRANSIENT_CODES:
            return True
        text = (exc.description or "").lower()
        return any(word in text for word in _TRANSIENT_WORDS)
    return False


async def with_backoff(
    call: Callable[[], Awaitable[T]],
    *,
    what: str,
    timeout: float = 60.0,
    first: float = 0.05,
    most: float = 2.0,
) -> T:
    """``await call()`` until it succeeds, retrying transient JetStream errors.

    Waits ``first`` seconds after the first failure, doubling up to ``most`` (with
    jitter, so replicas starting together do not retry in step), and gives up with
    the last error after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    delay = first
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call()
        except Exception as exc:
            if not is_transient(exc) or time.monotonic() + delay > deadline:
                raise
            level = logging.INFO if attempt < 4 else logging.WARNING
            log.log(
                level,
                "%s: JetStream not ready (%s), retrying in %.2fs",
                what,
                type(exc).__name__,
                delay,
                extra={"attempt": attempt},
            )
        await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311 - jitter
        delay = min(most, delay * 2)


def quick(js: JetStreamContext, timeout: float = 2.0) -> JetStreamContext:
    """The same JetStream context with a short request timeout: a request to a group that
    is electing gets no answer at all, so ask again soon rather than after 5 s."""
    return JetStreamContext(js._nc, prefix=js._prefix, timeout=min(js._timeout, timeout))


async def stream_ready(
    js: JetStreamContext, name: str, *, timeout: float = 60.0, probe: float = 1.0
) -> None:
    """Return once stream ``name`` answers stream info with a leader (at once on one server).

    A stream created a moment ago by someone else may not be there yet (the meta group
    has not applied it): that is waited for too, up to ``timeout``.
    """
    subject = f"{js._prefix}.STREAM.INFO.{name}"  # the API prefix (domains)

    async def led() -> None:
        try:
            info = await js._api_request(subject, b"", timeout=probe)
        except js_errors.NotFoundError:
            raise TimeoutError(f"stream {name} not there yet") from None
        cluster = info.get("cluster") or {}
        if cluster.get("name") and not cluster.get("leader"):
            raise TimeoutError(f"stream {name} has no leader yet")

    await with_backoff(led, what=f"leader of {name}", timeout=timeout)

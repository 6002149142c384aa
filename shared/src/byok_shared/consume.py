"""One way to consume a stream: a pull loop with explicit ack, nak and term.

The service supplies two things: ``handle(msgs)``, which settles each message
(:func:`settle` of ``msg.ack()``, ``msg.nak(delay=...)`` or ``msg.term()``) or keeps
it to ack after its next flush, and ``flush(idle=...)``, which stores what the
handled batches built up. The loop fetches, hands each batch over, flushes at most
every ``flush_interval`` under load and whenever the stream is idle, and once more on
stop. A fetch that fails (a server restart, a reconnect) is retried shortly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

import nats.errors
from nats.aio.msg import Msg
from pydantic import Field
from pydantic_settings import BaseSettings

__all__ = ["Flush", "PullConfig", "PullLoop", "settle", "stream_seq"]

log = logging.getLogger(__name__)


class Flush(Protocol):
    def __call__(self, *, idle: bool = False) -> Awaitable[None]: ...


class PullConfig(BaseSettings):
    """How a durable pull consumer reads (each service sets its ``env_prefix``)."""

    ack_wait: float = 30.0
    batch: int = Field(256, ge=1)
    max_ack_pending: int = 8192
    fetch_timeout: float = 1.0


class PullLoop:
    """Fetch, ``handle``, ``flush``: one task per consumer, started and stopped by its owner."""

    def __init__(
        self,
        name: str,
        fetch: Callable[[], Awaitable[list[Msg]]],
        handle: Callable[[list[Msg]], Awaitable[None]],
        flush: Flush,
        *,
        flush_interval: float,
    ) -> None:
        self._name = name
        self._fetch = fetch
        self._handle = handle
        self._flush = flush
        self._flush_interval = flush_interval
        self._flushed = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        """Stop pulling, then flush what was handled."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._flush()

    async def _run(self) -> None:
        while True:
            try:
                msgs = await self._fetch()
            except (TimeoutError, nats.errors.TimeoutError):  # idle
                await self._flush(idle=True)
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # server restarting, reconnecting: pull again shortly
                log.warning("%s: fetch failed (%r); retrying", self._name, exc)
                await asyncio.sleep(0.5)
                continue
            await self._handle(msgs)
            now = asyncio.get_running_loop().time()
            if now - self._flushed >= self._flush_interval:
                self._flushed = now
                await self._flush()


async def settle(ack: Awaitable[object]) -> None:
    """Await an ack, nak or term; a lost one only means a redelivery, which every
    consumer turns into a no-op (ids are derived from the message)."""
    try:
        await ack
    except Exception as exc:
        log.debug("ack not sent (%r); the message will be redelivered", exc)


def stream_seq(msg: Msg) -> int | None:
    """The message's stream sequence (None for a core message)."""
    try:
        return int(msg.metadata.sequence.stream)
    except Exception:
        return None

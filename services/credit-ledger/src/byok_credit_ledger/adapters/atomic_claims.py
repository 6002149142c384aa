"""Request-index claims of many accounts committed as one JetStream atomic batch.

A fetched batch of usage events claims one index key per event, each a KV create
(``Nats-Expected-Last-Subject-Sequence: 0``). Sent one by one, every claim costs the
ledger a received ack. The accounts of a fetched batch ask in the same turn of the
event loop, so their creates are gathered here and sent as one atomic batch (up to
:data:`MAX_ATOMIC` messages), acknowledged once.

An atomic batch stores every message or none: when any key exists already (a
redelivery, a duplicate event) or the stream refuses atomic batches, nothing was
claimed and each caller claims its keys one by one, which finds the earlier claims.
A stream without ``allow_atomic`` (a deployment not provisioned since) turns the
batching off for this process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from .batch_publish import MAX_ATOMIC, BatchPublisher

__all__ = ["AtomicClaims"]

log = logging.getLogger(__name__)

ATOMIC_DISABLED = 10174  # JSAtomicPublishDisabledErr: the stream lacks allow_atomic

Message = tuple[str, bytes, dict[str, str]]


class AtomicClaims:
    def __init__(self, batches: BatchPublisher) -> None:
        self._batches = batches
        self.enabled = True
        self._queued: list[tuple[Sequence[Message], asyncio.Future[bool]]] = []

    async def create_all(self, messages: Sequence[Message]) -> bool:
        """True when every message was stored (with other callers' in one batch); False
        when none was: the caller claims them one by one. JournalUnavailable when the
        outcome is unknown (no ack in time)."""
        if not self.enabled or not messages or len(messages) > MAX_ATOMIC:
            return False
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if not self._queued:
            # after the callers already scheduled in this turn have queued theirs
            asyncio.get_running_loop().call_soon(self._send_queued)
        self._queued.append((messages, future))
        return await future

    def _send_queued(self) -> None:
        queued, self._queued = self._queued, []
        chunk: list[tuple[Sequence[Message], asyncio.Future[bool]]] = []
        size = 0
        for messages, future in queued:
            if size + len(messages) > MAX_ATOMIC:
                self._send(chunk)
                chunk, size = [], 0
            chunk.append((messages, future))
            size += len(messages)
        if chunk:
            self._send(chunk)

    def _send(self, chunk: list[tuple[Sequence[Message], asyncio.Future[bool]]]) -> None:
        task = asyncio.create_task(self._commit(chunk))
        task.add_done_callback(_consume)

    async def _commit(self, chunk: list[tuple[Sequence[Message], asyncio.Future[bool]]]) -> None:
        try:
            ack = await self._batches.publish_atomic([m for messages, _ in chunk for m in messages])
        except Exception as exc:  # JournalUnavailable: nobody knows what landed
            for _, future in chunk:
                if not future.done():
                    future.set_exception(exc)
            return
        if ack.error == ATOMIC_DISABLED and self.enabled:
            self.enabled = False
            log.warning(
                "the request index refuses atomic batches (provision it again to set "
                "allow_atomic); claims go one by one"
            )
        for _, future in chunk:
            if not future.done():
                future.set_result(ack.error is None)


def _consume(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("atomic claims failed", exc_info=task.exception())

"""Filling a KV bucket fast (tests and the growth bench): pipelined JetStream publishes.

Writes what ``KeyValue.put`` writes (a message on ``$KV.<bucket>.<key>``) without
waiting for each acknowledgement in turn; every acknowledgement is still awaited.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from nats.js import JetStreamContext
from nats.js.api import PubAck

__all__ = ["put_many"]


async def put_many(
    js: JetStreamContext, bucket: str, items: Iterable[tuple[str, bytes]], *, window: int = 4000
) -> int:
    """Put every ``(key, value)`` into ``bucket``; returns how many were written."""
    stream = f"KV_{bucket}"
    pending: list[asyncio.Future[PubAck]] = []
    written = 0
    for key, value in items:
        pending.append(await js.publish_async(f"$KV.{bucket}.{key}", value, stream=stream))
        if len(pending) >= window:
            await asyncio.gather(*pending)
            written += len(pending)
            pending.clear()
    await asyncio.gather(*pending)
    return written + len(pending)

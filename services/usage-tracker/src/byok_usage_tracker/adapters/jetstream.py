"""The feed of ``byok.v1.usage.recorded``: this replica's durable consumer on ``BYOK_USAGE``."""

from __future__ import annotations

import contextlib

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from byok_shared.jetstream import STREAM_USAGE, usage_consumer

from ..config import TrackerConfig

__all__ = ["JetStreamUsageFeed"]


class JetStreamUsageFeed:
    """A durable pull consumer, explicit acks.

    The read model starts empty in a new process, so :meth:`open` rewinds the
    replica's durable to the stream's first message; from then on the durable
    carries the position across reconnects and server restarts, and redelivers
    whatever was not acked.
    """

    def __init__(self, js: JetStreamContext, config: TrackerConfig) -> None:
        self._js = js
        self._config = config
        self._sub: JetStreamContext.PullSubscription | None = None

    async def open(self) -> None:
        with contextlib.suppress(NotFoundError):
            await self._js.delete_consumer(STREAM_USAGE, self._config.durable)
        self._sub = await usage_consumer(
            self._js,
            self._config.durable,
            ack_wait=self._config.ack_wait,
            max_ack_pending=self._config.max_ack_pending,
        )

    async def close(self) -> None:
        """Drop the pull subscription (an open pull request would hold up the drain)."""
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    async def fetch(self) -> list[Msg]:
        """The next batch (raises ``nats.errors.TimeoutError`` when there is none)."""
        assert self._sub is not None, "open() the feed first"
        return await self._sub.fetch(self._config.batch, timeout=self._config.fetch_timeout)

"""Edges of the usage-tracker: the ``usage.query`` responder and the usage consumer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from nats.aio.msg import Msg
from pydantic import ValidationError

from byok_contracts import subjects
from byok_contracts.v1 import UsageRecorded
from byok_shared import Metrics, Service
from byok_shared.consume import PullLoop, settle, stream_seq

from .adapters.jetstream import JetStreamUsageFeed
from .handlers import UsageTracker

__all__ = ["UsageConsumer", "register"]

log = logging.getLogger(__name__)


def register(service: Service, tracker: Callable[[], UsageTracker]) -> None:
    """Serve ``usage.query``; ``tracker()`` is the tracker the start hook built."""
    service.serve(subjects.USAGE_QUERY, lambda req: tracker().query(req))


class UsageConsumer:
    """Records every ``usage.recorded`` once; acks after the call is counted in memory,
    checkpoints (aggregates + stream sequence) every ``flush_interval`` and when idle."""

    def __init__(
        self,
        feed: JetStreamUsageFeed,
        tracker: UsageTracker,
        metrics: Metrics,
        *,
        flush_interval: float = 1.0,
    ) -> None:
        self._feed = feed
        self._tracker = tracker
        self._metrics = metrics
        self._last_seq = 0
        self._loop = PullLoop(
            "usage-tracker-consumer",
            feed.fetch,
            self.handle,
            self._checkpoint,
            flush_interval=flush_interval,
        )

    async def start(self) -> None:
        await self._feed.open(await self._tracker.aggregates.start())
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
        await self._feed.close()

    async def _checkpoint(self, *, idle: bool = False) -> None:
        """Store the aggregates and the stream sequence they include."""
        try:
            await self._tracker.checkpoint(self._last_seq)
        except Exception as exc:  # kept in memory; the next checkpoint stores them
            log.warning("usage aggregates not stored yet (%r); will retry", exc)

    async def handle(self, msgs: list[Msg]) -> None:
        for msg in msgs:
            try:
                event = UsageRecorded.model_validate_json(msg.data)
            except ValidationError:
                log.error("dropping malformed usage event")
                self._metrics.count_event(subjects.USAGE_RECORDED, "malformed")
                await settle(msg.term())
                continue
            seq = stream_seq(msg)
            counted = await self._record(event, seq)
            if seq is not None:
                self._last_seq = max(self._last_seq, seq)
            self._metrics.count_event(subjects.USAGE_RECORDED, "counted" if counted else "dup")
            await settle(msg.ack())

    async def _record(self, event: UsageRecorded, seq: int | None) -> bool:
        """Count the call, retrying while the store is unreachable: messages are counted in
        stream order, so a checkpoint never passes one that was not counted."""
        delay = 0.1
        while True:
            try:
                return await self._tracker.record(event, seq)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("usage aggregates unreachable (%r); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

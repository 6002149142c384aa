"""Edges of the usage-tracker: the ``usage.query`` responder and the usage consumer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import nats.errors
from nats.aio.msg import Msg
from pydantic import ValidationError

from byok_contracts import subjects
from byok_contracts.v1 import QueryUsage, UsageRecorded, UsageReport
from byok_shared import Metrics, Service

from .adapters.jetstream import JetStreamUsageFeed
from .handlers import UsageTracker

__all__ = ["UsageConsumer", "register_responders"]

log = logging.getLogger(__name__)


def register_responders(service: Service, tracker: Callable[[], UsageTracker]) -> None:
    @service.responder(subjects.USAGE_QUERY, QueryUsage)
    async def query(req: QueryUsage) -> UsageReport:
        return await tracker().query(req)


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
        self._flush_interval = flush_interval
        self._task: asyncio.Task[None] | None = None
        self._last_seq = 0
        self._flushed = 0.0

    async def start(self) -> None:
        await self._feed.open(await self._tracker.aggregates.start())
        self._task = asyncio.create_task(self._run(), name="usage-tracker-consumer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._checkpoint()
        await self._feed.close()

    async def _run(self) -> None:
        while True:
            try:
                msgs = await self._feed.fetch()
            except (TimeoutError, nats.errors.TimeoutError):  # idle
                await self._checkpoint()
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # server restarting, reconnecting: pull again shortly
                log.warning("usage fetch failed (%r); retrying", exc)
                await asyncio.sleep(0.5)
                continue
            await self.handle(msgs)
            now = asyncio.get_running_loop().time()
            if now - self._flushed >= self._flush_interval:
                self._flushed = now
                await self._checkpoint()

    async def _checkpoint(self) -> None:
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
                await _settle(msg.term())
                continue
            seq = _seq(msg)
            counted = await self._record(event, seq)
            if seq is not None:
                self._last_seq = max(self._last_seq, seq)
            self._metrics.count_event(subjects.USAGE_RECORDED, "counted" if counted else "dup")
            await _settle(msg.ack())

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


def _seq(msg: Msg) -> int | None:
    try:
        return int(msg.metadata.sequence.stream)
    except Exception:
        return None


async def _settle(ack: object) -> None:
    """Await an ack; a lost one only means a redelivery, which counts nothing twice."""
    try:
        await ack  # type: ignore[misc]
    except Exception as exc:
        log.debug("ack not sent (%r); the message will be redelivered", exc)

"""JetStream adapters: the usage feed (this replica's durable consumer on ``BYOK_USAGE``)
and the aggregate store (KV ``byok-usage-aggregates``, keys under ``<replica>.``)."""

from __future__ import annotations

import contextlib

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import KeyNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from byok_contracts import subjects
from byok_shared.jetstream import STREAM_USAGE, Bucket

from ..config import TrackerConfig

__all__ = ["BUCKET_USAGE_AGGREGATES", "USAGE_BUCKETS", "JetStreamUsageFeed", "KvAggregateStore"]

BUCKET_USAGE_AGGREGATES = "byok-usage-aggregates"
USAGE_BUCKETS = (Bucket(BUCKET_USAGE_AGGREGATES),)


class KvAggregateStore:
    """Each replica keeps its own aggregates (it counts every call itself)."""

    def __init__(self, kv: KeyValue, replica: str) -> None:
        self._kv = kv
        self._prefix = f"{replica}."

    @classmethod
    async def open(cls, js: JetStreamContext, replica: str) -> KvAggregateStore:
        return cls(await js.key_value(BUCKET_USAGE_AGGREGATES), replica)

    async def get(self, key: str) -> bytes | None:
        try:
            entry = await self._kv.get(self._prefix + key)
        except KeyNotFoundError:
            return None
        return entry.value or None

    async def put(self, key: str, value: bytes) -> None:
        await self._kv.put(self._prefix + key, value)

    async def checkpoint(self) -> int:
        raw = await self.get("checkpoint")
        return int(raw) if raw else 0

    async def set_checkpoint(self, seq: int) -> None:
        await self.put("checkpoint", str(seq).encode())


class JetStreamUsageFeed:
    """A durable pull consumer, explicit acks, that starts after the checkpoint.

    :meth:`open` re-creates the replica's durable at ``after + 1``: the stored
    aggregates include everything up to ``after``, so start-up reads only the
    events since (not the stream's whole history).
    """

    def __init__(self, js: JetStreamContext, config: TrackerConfig) -> None:
        self._js = js
        self._config = config
        self._sub: JetStreamContext.PullSubscription | None = None

    async def open(self, after: int = 0) -> None:
        with contextlib.suppress(NotFoundError):
            await self._js.delete_consumer(STREAM_USAGE, self._config.durable)
        durable = self._config.durable
        self._sub = await self._js.pull_subscribe(
            subjects.USAGE_RECORDED,
            durable=durable,
            stream=STREAM_USAGE,
            config=ConsumerConfig(
                durable_name=durable,
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE if after else DeliverPolicy.ALL,
                opt_start_seq=after + 1 if after else None,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=self._config.ack_wait,
                max_ack_pending=self._config.max_ack_pending,
                filter_subject=subjects.USAGE_RECORDED,
            ),
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

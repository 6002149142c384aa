"""Streams and KV buckets byok keeps its state in, created idempotently at start.

Every service calls :func:`ensure_jetstream` at start; creating what exists is a
no-op, and a stream whose config drifted is updated in place.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, NotFoundError

from byok_contracts import subjects

__all__ = [
    "BUCKETS",
    "BUCKET_ACCOUNTS",
    "BUCKET_CREDITS",
    "BUCKET_KEYS",
    "BUCKET_OWNERS",
    "BUCKET_RESOLVERS",
    "BUCKET_SCOPES",
    "BUCKET_SEALING",
    "RESOLVER_PRESENCE_TTL",
    "STREAM_EVENTS",
    "STREAM_LEDGER",
    "STREAM_USAGE",
    "Bucket",
    "bucket_key_pages",
    "bucket_keys",
    "ensure_jetstream",
    "stream_configs",
    "usage_consumer",
]

log = logging.getLogger(__name__)

STREAM_EVENTS = "BYOK_EVENTS"
STREAM_USAGE = "BYOK_USAGE"
STREAM_LEDGER = "BYOK_LEDGER"

BUCKET_KEYS = "byok-keys"  # <scope.type>.<scope.id>.<provider> -> KeyRecord
BUCKET_SCOPES = "byok-scopes"  # <scope.type>.<scope.id> -> ScopeSettings
BUCKET_ACCOUNTS = "byok-accounts"  # <account> -> AccountPolicy
BUCKET_CREDITS = "byok-credits"  # <account> -> CreditState
BUCKET_SEALING = "byok-sealing"  # sealing keypairs, private halves encrypted by the cipher
BUCKET_OWNERS = "byok-owners"  # <scope.type>.<scope.id> -> owning account (first write wins)
BUCKET_RESOLVERS = "byok-resolvers"  # <replica id> -> presence heartbeat (entries expire)
RESOLVER_PRESENCE_TTL = 3.0

_DAY = 86_400.0


def stream_configs(replicas: int = 1) -> list[StreamConfig]:
    """The streams byok needs, with ``replicas`` copies each (R3 in a cluster)."""
    return [
        StreamConfig(
            name=STREAM_EVENTS,
            subjects=[f"{subjects.EVENTS_PREFIX}.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=30 * _DAY,
            duplicate_window=120.0,
            num_replicas=replicas,
        ),
        StreamConfig(
            name=STREAM_USAGE,
            subjects=[subjects.USAGE_RECORDED],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=400 * _DAY,
            duplicate_window=120.0,
            num_replicas=replicas,
        ),
        StreamConfig(
            name=STREAM_LEDGER,
            subjects=[f"{subjects.LEDGER_JOURNAL_PREFIX}.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.NEW,
            duplicate_window=120.0,
            num_replicas=replicas,
        ),
    ]


@dataclass(frozen=True, slots=True)
class Bucket:
    name: str
    history: int = 1
    ttl: float | None = None


BUCKETS: tuple[Bucket, ...] = (
    Bucket(BUCKET_KEYS, history=5),
    Bucket(BUCKET_SCOPES, history=5),
    Bucket(BUCKET_ACCOUNTS, history=5),
    Bucket(BUCKET_CREDITS),
    Bucket(BUCKET_OWNERS),
    Bucket(BUCKET_SEALING, history=10),
    Bucket(BUCKET_RESOLVERS, ttl=RESOLVER_PRESENCE_TTL),
)


async def ensure_jetstream(
    js: JetStreamContext,
    *,
    replicas: int = 1,
    extra_buckets: tuple[Bucket, ...] = (),
) -> None:
    """Create (or bring up to date) every stream and bucket byok uses."""
    for config in stream_configs(replicas):
        assert config.name is not None
        try:
            info = await js.stream_info(config.name)
        except NotFoundError:
            try:
                await js.add_stream(config)
                log.info("created stream %s", config.name)
            except BadRequestError:  # another service created it first
                pass
            continue
        if set(info.config.subjects or []) != set(config.subjects or []):
            await js.update_stream(config)
            log.info("updated stream %s", config.name)
    for bucket in BUCKETS + extra_buckets:
        try:
            await js.key_value(bucket.name)
        except (NotFoundError, BadRequestError):
            try:
                await js.create_key_value(
                    KeyValueConfig(
                        bucket=bucket.name,
                        history=bucket.history,
                        ttl=bucket.ttl,
                        storage=StorageType.FILE,
                        replicas=replicas,
                    )
                )
                log.info("created bucket %s", bucket.name)
            except BadRequestError:  # another service created it first
                pass


async def bucket_keys(js: JetStreamContext, bucket: str) -> list[str]:
    """Every key that has a message in ``bucket`` (a deleted key too, by its marker), sorted.

    Read from the stream's per-subject state, page after page (see
    :func:`bucket_key_pages`): unlike ``KeyValue.keys()`` it creates no consumer and
    cannot stop early (seen here returning 2 of 12 keys while the bucket was busy).
    Callers get each key and skip the deleted ones. Holds every key in memory:
    enumerations of big buckets iterate :func:`bucket_key_pages` instead.
    """
    return [key async for page in bucket_key_pages(js, bucket) for key in page]


async def bucket_key_pages(js: JetStreamContext, bucket: str) -> AsyncIterator[list[str]]:
    """The keys of ``bucket`` in sorted pages, however many there are.

    The server lists at most ``limit`` (100,000) subjects per stream-info reply,
    in sorted order from ``offset``; this follows the offsets until ``total``. A key
    created meanwhile shifts later keys by one (a key is seen twice, never missed:
    the ones already yielded are skipped by name); keys are never removed from the
    per-subject state by a delete or purge, which leave a marker.
    """
    prefix = f"$KV.{bucket}."
    subject = f"{js._prefix}.STREAM.INFO.KV_{bucket}"
    offset, last = 0, ""
    while True:
        request = json.dumps({"subjects_filter": f"{prefix}>", "offset": offset}).encode()
        reply: dict[str, Any] = await js._api_request(subject, request, timeout=js._timeout)
        found = (reply.get("state") or {}).get("subjects") or {}
        page = sorted(name.removeprefix(prefix) for name in found)
        offset += len(page)
        fresh = [key for key in page if key > last]
        if fresh:
            last = fresh[-1]
            yield fresh
        if not page or offset >= int(reply.get("total") or 0):
            return


async def usage_consumer(
    js: JetStreamContext, durable: str, *, ack_wait: float, max_ack_pending: int
) -> JetStreamContext.PullSubscription:
    """A durable pull consumer of ``byok.v1.usage.recorded`` with explicit acks.

    The server keeps its position across reconnects, restarts and kill -9 of the
    consumer, and redelivers whatever was not acked within ``ack_wait``.
    """
    return await js.pull_subscribe(
        subjects.USAGE_RECORDED,
        durable=durable,
        stream=STREAM_USAGE,
        config=ConsumerConfig(
            durable_name=durable,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ack_wait,
            max_ack_pending=max_ack_pending,
            filter_subject=subjects.USAGE_RECORDED,
        ),
    )

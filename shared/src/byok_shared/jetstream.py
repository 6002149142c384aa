"""Streams and KV buckets byok keeps its state in: names and configurations.

They are created and updated by the operator's provisioning step
(:mod:`byok_shared.provision`, ``python -m byok_shared.provision``); services only
check at start that what they use is there as expected, and hold no permission
to create, update, purge or delete a stream (:mod:`byok_shared.natsauth`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from byok_contracts import subjects
from byok_contracts.sealing import SEAL_MAX_AGE, SEAL_MAX_SKEW
from byok_contracts.v1 import buckets as layouts

__all__ = [
    "BUCKETS",
    "BUCKET_ACCOUNTS",
    "BUCKET_API_TOKENS",
    "BUCKET_CREDITS",
    "BUCKET_KEYS",
    "BUCKET_OWNERS",
    "BUCKET_RECIPIENTS",
    "BUCKET_RESOLVERS",
    "BUCKET_SCOPES",
    "BUCKET_SEALING",
    "DEFAULT_EVENTS_MAX_BYTES",
    "DEFAULT_USAGE_MAX_BYTES",
    "RESOLVER_PRESENCE_TTL",
    "SERVICE_BUCKETS",
    "STREAM_AUDIT",
    "STREAM_EVENTS",
    "STREAM_LEDGER",
    "STREAM_USAGE",
    "Bucket",
    "all_buckets",
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
STREAM_AUDIT = "BYOK_AUDIT"  # who touched which key (key-vault appends, operators read)

# Buckets one role writes and others read: layouts in the contract (byok_contracts.v1.buckets).
BUCKET_KEYS = layouts.KEYS.name
BUCKET_SCOPES = layouts.SCOPES.name
BUCKET_ACCOUNTS = layouts.ACCOUNTS.name
BUCKET_CREDITS = layouts.CREDITS.name
BUCKET_OWNERS = layouts.OWNERS.name
BUCKET_SEALING = "byok-sealing"  # sealing keypairs, private halves encrypted by the cipher
BUCKET_RECIPIENTS = layouts.RECIPIENTS.name  # public keys key-vault may seal to
BUCKET_RESOLVERS = layouts.RESOLVERS.name  # presence heartbeats (entries expire)
RESOLVER_PRESENCE_TTL = 3.0
BUCKET_API_TOKENS = layouts.API_TOKENS.name  # ApiTokenRecord (digest only)

_DAY = 86_400.0


DEFAULT_USAGE_MAX_BYTES: Final = 4 * 1024**3  # BYOK_USAGE_MAX_BYTES
DEFAULT_EVENTS_MAX_BYTES: Final = 1 * 1024**3  # BYOK_EVENTS_MAX_BYTES


def stream_configs(
    replicas: int = 1,
    *,
    usage_max_bytes: int = DEFAULT_USAGE_MAX_BYTES,
    events_max_bytes: int = DEFAULT_EVENTS_MAX_BYTES,
) -> list[StreamConfig]:
    """The streams byok needs, with ``replicas`` copies each (R3 in a cluster).

    BYOK_USAGE and BYOK_EVENTS are bounded in bytes with ``DiscardPolicy.NEW``: a full
    stream refuses the next publish (the publisher gets an error and keeps its event)
    and never drops a stored one, so no debit is lost to a limit. Retention stays
    ``LIMITS`` rather than interest: the usage-tracker rebuilds its read model from
    the whole of BYOK_USAGE at every start and backends may read BYOK_EVENTS as an
    outbox, so a message acked by the ledger is still needed. Only ``max_age``
    (400 and 30 days) ever removes a message.
    """

    def stream(name: str, subject: str, **limits: Any) -> StreamConfig:
        return StreamConfig(
            name=name,
            subjects=[subject],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            num_replicas=replicas,
            **limits,
        )

    refuse_when_full: dict[str, Any] = {"discard": DiscardPolicy.NEW, "duplicate_window": 120.0}
    return [
        stream(
            STREAM_EVENTS,
            f"{subjects.EVENTS_PREFIX}.>",
            max_bytes=events_max_bytes,
            max_age=30 * _DAY,
            **refuse_when_full,
        ),
        stream(
            STREAM_USAGE,
            subjects.USAGE_RECORDED,
            max_bytes=usage_max_bytes,
            max_age=400 * _DAY,
            **refuse_when_full,
        ),
        stream(STREAM_LEDGER, f"{subjects.LEDGER_JOURNAL_PREFIX}.>", **refuse_when_full),
        stream(STREAM_AUDIT, f"{subjects.AUDIT_PREFIX}.>", max_age=400 * _DAY),
    ]


@dataclass(frozen=True, slots=True)
class Bucket:
    name: str
    history: int = 1
    ttl: float | None = None
    # The bucket's stream takes JetStream atomic batches (``allow_atomic``, nats-server
    # 2.12+): the ledger commits a fetched batch's request-index claims in one.
    atomic: bool = False


BUCKETS: tuple[Bucket, ...] = (
    Bucket(BUCKET_KEYS, history=5),
    Bucket(BUCKET_SCOPES, history=5),
    Bucket(BUCKET_ACCOUNTS, history=5),
    Bucket(BUCKET_CREDITS),
    Bucket(BUCKET_OWNERS),
    Bucket(BUCKET_RECIPIENTS),
    Bucket(BUCKET_SEALING, history=10),
    Bucket(BUCKET_RESOLVERS, ttl=RESOLVER_PRESENCE_TTL),
    Bucket(BUCKET_API_TOKENS),
)

# Buckets only one service uses (its ``EXTRA_BUCKETS``), provisioned with the rest;
# byok_shared.natsauth gives each service write access to its own.
SERVICE_BUCKETS: Final[Mapping[str, tuple[Bucket, ...]]] = {
    # byok-configure-seals: configure seals already used, kept as long as one could be
    # valid (an envelope's iat may be 60 s ahead, then good for 300 s) plus a margin.
    "key-vault": (
        Bucket("byok-key-index"),
        Bucket("byok-configure-seals", ttl=SEAL_MAX_AGE + SEAL_MAX_SKEW + 60),
    ),
    "validator": (Bucket("byok-validator-sweeps"),),
    "credit-ledger": (
        Bucket("byok-ledger-snapshots"),
        Bucket("byok-ledger-requests", atomic=True),
    ),
    "usage-tracker": (Bucket("byok-usage-aggregates"),),
}


def all_buckets() -> tuple[Bucket, ...]:
    """Every bucket the provisioning step creates: shared ones, then each service's own."""
    return BUCKETS + tuple(b for own in SERVICE_BUCKETS.values() for b in own)


async def ensure_jetstream(
    js: JetStreamContext,
    *,
    replicas: int = 1,
    extra_buckets: tuple[Bucket, ...] = (),
) -> None:
    """The provisioning step (:func:`byok_shared.provision.provision_jetstream`), for tests
    and benchmarks that hold an all-powerful connection. Services never call it: they
    :func:`~byok_shared.provision.verify_jetstream` what the operator provisioned."""
    from .provision import provision_jetstream

    await provision_jetstream(js, replicas=replicas)
    del extra_buckets  # every service bucket is provisioned (SERVICE_BUCKETS)


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

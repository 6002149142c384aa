"""Streams and KV buckets byok keeps its state in, created idempotently at start.

Every service calls :func:`ensure_jetstream` at start; creating what exists is a
no-op, and a stream whose config drifted is updated in place. On a cluster each
call is retried while JetStream is not ready (:mod:`byok_shared.retry`), and the
function returns only once every stream and bucket has a leader, so the first
write of a service does not meet a Raft group still electing one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

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

from .retry import with_backoff

__all__ = [
    "BUCKETS",
    "BUCKET_ACCOUNTS",
    "BUCKET_CREDITS",
    "BUCKET_KEYS",
    "BUCKET_RESOLVERS",
    "BUCKET_SCOPES",
    "BUCKET_SEALING",
    "RESOLVER_PRESENCE_TTL",
    "STREAM_EVENTS",
    "STREAM_LEDGER",
    "STREAM_USAGE",
    "Bucket",
    "bucket_keys",
    "ensure_jetstream",
    "stream_configs",
    "stream_ready",
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
    Bucket(BUCKET_SEALING, history=10),
    Bucket(BUCKET_RESOLVERS, ttl=RESOLVER_PRESENCE_TTL),
)


async def ensure_jetstream(
    js: JetStreamContext,
    *,
    replicas: int = 1,
    extra_buckets: tuple[Bucket, ...] = (),
    timeout: float = 60.0,
) -> None:
    """Create (or bring up to date) every stream and bucket byok uses; wait for their leaders."""
    # A request to a group that is electing gets no answer at all: ask again soon rather
    # than after the context's full timeout.
    js = JetStreamContext(js._nc, prefix=js._prefix, timeout=min(js._timeout, 2.0))
    names: list[str] = []
    for config in stream_configs(replicas):
        assert config.name is not None
        names.append(config.name)
        await with_backoff(
            lambda c=config: _ensure_stream(js, c),  # type: ignore[misc]
            what=f"stream {config.name}",
            timeout=timeout,
        )
    for bucket in BUCKETS + extra_buckets:
        names.append(f"KV_{bucket.name}")
        await with_backoff(
            lambda b=bucket: _ensure_bucket(js, b, replicas),  # type: ignore[misc]
            what=f"bucket {bucket.name}",
            timeout=timeout,
        )
    for name in names:
        await stream_ready(js, name, timeout=timeout)


async def _ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    assert config.name is not None
    try:
        info = await js.stream_info(config.name)
    except NotFoundError:
        try:
            await js.add_stream(config)
            log.info("created stream %s", config.name)
        except BadRequestError:  # another service created it first
            pass
        return
    if set(info.config.subjects or []) != set(config.subjects or []):
        await js.update_stream(config)
        log.info("updated stream %s", config.name)


async def _ensure_bucket(js: JetStreamContext, bucket: Bucket, replicas: int) -> None:
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


async def stream_ready(
    js: JetStreamContext, name: str, *, timeout: float = 60.0, probe: float = 1.0
) -> None:
    """Return once ``name`` answers stream info with a leader (at once on one server).

    Each probe waits ``probe`` seconds, not the context's request timeout: a stream
    whose group is electing does not answer at all, and an election takes ~1-2 s.
    """
    subject = f"{js._prefix}.STREAM.INFO.{name}"  # the API prefix (domains)

    async def led() -> None:
        try:
            info = await js._api_request(subject, b"", timeout=probe)
        except NotFoundError:  # created by another service, not applied by the meta group yet
            raise TimeoutError(f"stream {name} not there yet") from None
        cluster = info.get("cluster") or {}
        if cluster.get("name") and not cluster.get("leader"):
            raise TimeoutError(f"stream {name} has no leader yet")

    await with_backoff(led, what=f"leader of {name}", timeout=timeout)


async def bucket_keys(js: JetStreamContext, bucket: str) -> list[str]:
    """Every key that has a message in ``bucket`` (a deleted key too, by its marker).

    Read from the stream's per-subject state: unlike ``KeyValue.keys()`` it creates
    no consumer and cannot stop early (seen here returning 2 of 12 keys while the
    bucket was busy). Callers get each key and skip the deleted ones.
    """
    prefix = f"$KV.{bucket}."
    info = await js.stream_info(f"KV_{bucket}", subjects_filter=f"{prefix}>")
    return sorted(subject.removeprefix(prefix) for subject in (info.state.subjects or {}))


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

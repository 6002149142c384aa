"""The JetStream subjects a NATS role needs for one stream or bucket (used by natsauth).

Granted per stream and bucket, never ``$JS.API.>``: services read stream info
(to verify the provisioning), consume, get messages and write their own
buckets' keys; only the operator's provisioning step creates or updates a
stream; nobody deletes or purges one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from .jetstream import BUCKETS, SERVICE_BUCKETS, stream_configs

__all__ = [
    "JS_API",
    "consume",
    "durable",
    "kv_read",
    "kv_stream",
    "kv_write",
    "own_buckets",
    "provision_grants",
    "read_stream",
    "verify_grants",
]

JS_API: Final = "$JS.API"


def kv_stream(bucket: str) -> str:
    return f"KV_{bucket}"


def _streams(extra_buckets: Iterable[str]) -> list[str]:
    streams = [c.name for c in stream_configs() if c.name is not None]
    return streams + [kv_stream(b.name) for b in BUCKETS] + [kv_stream(b) for b in extra_buckets]


def verify_grants(extra_buckets: Iterable[str]) -> list[str]:
    """What ``verify_jetstream`` reads at a service's start: stream info, nothing more."""
    streams = _streams(extra_buckets)
    return [f"{JS_API}.INFO", *(f"{JS_API}.STREAM.INFO.{stream}" for stream in streams)]


def provision_grants() -> list[str]:
    """The operator's provisioning step: create, inspect and update (never delete or purge)."""
    streams = _streams(b.name for own in SERVICE_BUCKETS.values() for b in own)
    grants = [f"{JS_API}.INFO"]
    for stream in streams:
        grants += [f"{JS_API}.STREAM.{op}.{stream}" for op in ("INFO", "CREATE", "UPDATE")]
    return grants


def read_stream(stream: str) -> list[str]:
    """Get messages by sequence or subject (``get_msg``/``get_last_msg``, direct or not)."""
    return [
        f"{JS_API}.STREAM.MSG.GET.{stream}",
        f"{JS_API}.DIRECT.GET.{stream}",
        f"{JS_API}.DIRECT.GET.{stream}.>",
    ]


def consume(stream: str) -> list[str]:
    """Create, inspect and pull from consumers on ``stream``, and ack or flow-control them."""
    return [
        *read_stream(stream),
        f"{JS_API}.CONSUMER.CREATE.{stream}",
        f"{JS_API}.CONSUMER.CREATE.{stream}.>",
        f"{JS_API}.CONSUMER.DURABLE.CREATE.{stream}.>",
        f"{JS_API}.CONSUMER.INFO.{stream}.>",
        f"{JS_API}.CONSUMER.DELETE.{stream}.>",
        f"{JS_API}.CONSUMER.MSG.NEXT.{stream}.>",
        f"{JS_API}.CONSUMER.NAMES.{stream}",
        f"{JS_API}.CONSUMER.LIST.{stream}",
        f"$JS.ACK.{stream}.>",
        f"$JS.FC.{stream}.>",
    ]


def durable(stream: str, name: str) -> list[str]:
    """Everything that acts on one durable consumer of ``stream``: create or bind, inspect,
    delete, pull its messages and ack them (for a deny list)."""
    return [
        f"{JS_API}.CONSUMER.CREATE.{stream}.{name}",
        f"{JS_API}.CONSUMER.CREATE.{stream}.{name}.>",
        f"{JS_API}.CONSUMER.DURABLE.CREATE.{stream}.{name}",
        f"{JS_API}.CONSUMER.INFO.{stream}.{name}",
        f"{JS_API}.CONSUMER.DELETE.{stream}.{name}",
        f"{JS_API}.CONSUMER.MSG.NEXT.{stream}.{name}",
        f"$JS.ACK.{stream}.{name}.>",
    ]


def kv_read(bucket: str) -> list[str]:
    """get, keys, history and watch (ordered consumers) on one bucket."""
    return consume(kv_stream(bucket))


def kv_write(bucket: str) -> list[str]:
    """Everything of :func:`kv_read`, plus put, create, update, delete and purge of keys
    (a key purge is a publish with a rollup header to ``$KV.<bucket>.<key>``)."""
    return [*kv_read(bucket), f"$KV.{bucket}.>"]


def own_buckets(service: str) -> list[str]:
    """Write access to the buckets only ``service`` uses."""
    return [grant for b in SERVICE_BUCKETS.get(service, ()) for grant in kv_write(b.name)]

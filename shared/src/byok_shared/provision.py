"""Provisioning: the operator creates and updates byok's streams and buckets; services verify.

No service may create, update, purge or delete a stream (their NATS users lack
``$JS.API.STREAM.CREATE/UPDATE/DELETE/PURGE``, see :mod:`byok_shared.natsauth`).
This step does it instead, as the ``operator`` role:

- ``make run`` runs it before starting the services;
- ``compose.yaml`` runs it as the ``provision`` init job;
- by hand: ``python -m byok_shared.provision`` (``--check`` only reports).

Each service calls :func:`verify_jetstream` at start and refuses to start, with
:class:`NotProvisioned` naming what is missing or wrong, when a stream or bucket it
uses is absent or not configured as byok expects (a stream whose limits were
changed behind its back, a bucket whose entries would expire).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import threading
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import nats
from nats.js import JetStreamContext
from nats.js.api import (
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, NotFoundError

from .connect import connect_options, server_urls
from .jetstream import BUCKETS, Bucket, all_buckets, stream_configs
from .retry import is_transient, quick, stream_ready, with_backoff
from .settings import ByokSettings

__all__ = [
    "PROVISION_HINT",
    "NotProvisioned",
    "main",
    "provision",
    "provision_blocking",
    "provision_jetstream",
    "verify_jetstream",
]

log = logging.getLogger(__name__)

PROVISION_HINT = (
    "Run the provisioning step as the operator: `python -m byok_shared.provision` "
    "(make run and compose's `provision` job do it)"
)


class NotProvisioned(RuntimeError):
    """A stream or bucket a service needs is missing or not configured as expected."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(
            "JetStream is not provisioned as byok expects: "
            + "; ".join(problems)
            + ". "
            + PROVISION_HINT
        )


def _limit(value: float | None) -> float:
    """Unset and unlimited read back from the server as -1 (or 0 for ages)."""
    return -1 if value is None or value <= 0 else value


def _essentials(config: StreamConfig) -> dict[str, Any]:
    """What a service relies on: where messages go and what may remove them."""
    return {
        "subjects": sorted(config.subjects or []),
        "retention": config.retention or RetentionPolicy.LIMITS,
        "discard": config.discard or DiscardPolicy.OLD,
        "storage": config.storage or StorageType.FILE,
        "max_msgs": _limit(config.max_msgs),
        "max_msgs_per_subject": _limit(config.max_msgs_per_subject),
        "max_age": round(_limit(config.max_age)),
        "bounded": _limit(config.max_bytes) > 0,
    }


def _provisioned(config: StreamConfig) -> dict[str, Any]:
    """What the provisioning step sets, the operator's limits and replicas included."""
    return _essentials(config) | {
        "max_bytes": _limit(config.max_bytes),
        "replicas": config.num_replicas or 1,
        # not essential (the ledger claims one by one without it), but provisioned: an
        # existing bucket gets it on the next provisioning run
        "allow_atomic": bool(config.allow_atomic),
    }


def _differences(want: dict[str, Any], have: dict[str, Any]) -> list[str]:
    return [
        f"{field} is {have[field]!r}, expected {value!r}"
        for field, value in want.items()
        if have[field] != value
    ]


def _bucket_stream(bucket: Bucket, replicas: int) -> StreamConfig:
    """The stream behind a KV bucket as nats-py creates it (for comparisons)."""
    return StreamConfig(
        name=f"KV_{bucket.name}",
        subjects=[f"$KV.{bucket.name}.>"],
        storage=StorageType.FILE,
        discard=DiscardPolicy.NEW,
        max_msgs_per_subject=bucket.history,
        max_age=bucket.ttl,
        num_replicas=replicas,
        allow_atomic=bucket.atomic or None,
    )


async def _info(js: JetStreamContext, name: str) -> StreamConfig | None:
    try:
        return (await js.stream_info(name)).config
    except NotFoundError:
        return None


def _names() -> list[str]:
    return [c.name for c in stream_configs() if c.name] + [f"KV_{b.name}" for b in all_buckets()]


async def _provision_stream(js: JetStreamContext, config: StreamConfig, done: list[str]) -> None:
    assert config.name is not None
    have = await _info(js, config.name)
    if have is None:
        try:
            await js.add_stream(config)
            done.append(f"created stream {config.name}")
        except BadRequestError as exc:  # created meanwhile by another provisioning run
            if is_transient(exc):  # or "no suitable peers": the cluster is still forming
                raise
    elif _differences(_provisioned(config), _provisioned(have)):
        await js.update_stream(config)
        done.append(f"updated stream {config.name}")


async def _provision_bucket(
    js: JetStreamContext, bucket: Bucket, replicas: int, done: list[str]
) -> None:
    want = _bucket_stream(bucket, replicas)
    assert want.name is not None
    have = await _info(js, want.name)
    if have is None:
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
            done.append(f"created bucket {bucket.name}")
        except BadRequestError as exc:
            if is_transient(exc):
                raise
        have = await _info(js, want.name)  # what KeyValueConfig cannot say is set below
    if have is not None and _differences(_provisioned(want), _provisioned(have)):
        await js.update_stream(
            replace(
                have,
                subjects=want.subjects,
                discard=want.discard,
                max_msgs=-1,
                max_bytes=-1,
                max_msgs_per_subject=bucket.history,
                max_age=bucket.ttl or 0,
                num_replicas=replicas,
                allow_atomic=want.allow_atomic,
            )
        )
        if not any(line.endswith(f"bucket {bucket.name}") for line in done):
            done.append(f"updated bucket {bucket.name}")


async def provision_jetstream(
    js: JetStreamContext,
    *,
    replicas: int = 1,
    usage_max_bytes: int | None = None,
    events_max_bytes: int | None = None,
) -> list[str]:
    """Create every stream and bucket, or bring a drifted one back; returns what it did.

    Idempotent, and safe to run while services run (an update keeps the data).
    """
    limits = {
        key: value
        for key, value in (
            ("usage_max_bytes", usage_max_bytes),
            ("events_max_bytes", events_max_bytes),
        )
        if value is not None
    }
    done: list[str] = []
    # On a forming cluster each step is retried while JetStream is not ready, with short
    # request timeouts (an electing group does not answer at all).
    js = quick(js)
    for config in stream_configs(replicas, **limits):
        await with_backoff(
            lambda c=config: _provision_stream(js, c, done),  # type: ignore[misc]
            what=f"stream {config.name}",
        )
    for bucket in all_buckets():
        await with_backoff(
            lambda b=bucket: _provision_bucket(js, b, replicas, done),  # type: ignore[misc]
            what=f"bucket {bucket.name}",
        )
    # Return once every group has a leader: the services' first writes then land.
    for name in _names():
        await stream_ready(js, name)
    for line in done:
        log.info("%s", line)
    return done


async def verify_jetstream(js: JetStreamContext, *, buckets: Iterable[Bucket] = ()) -> None:
    """Raise :class:`NotProvisioned` unless every stream, the shared buckets and
    ``buckets`` (the service's own) exist as byok expects."""
    problems: list[str] = []
    expected = [(c, f"stream {c.name}") for c in stream_configs()]
    expected += [
        (_bucket_stream(b, 1), f"bucket {b.name}") for b in dict.fromkeys((*BUCKETS, *buckets))
    ]
    js = quick(js)
    for want, label in expected:
        assert want.name is not None
        have = await with_backoff(
            lambda n=want.name: _info(js, n),  # type: ignore[misc]
            what=f"{label} info",
        )
        if have is None:
            problems.append(f"{label} does not exist")
            continue
        problems += [f"{label}: {d}" for d in _differences(_essentials(want), _essentials(have))]
    if problems:
        raise NotProvisioned(problems)
    for want, _ in expected:  # a cluster may still be electing leaders (issue 11)
        assert want.name is not None
        await stream_ready(js, want.name)


async def provision(settings: ByokSettings, **connect: Any) -> list[str]:
    """Connect as ``settings`` say (or with ``connect`` options) and provision."""
    options = connect_options(settings, role="operator") | connect

    async def quiet(exc: Exception) -> None:  # a failed connect raises; no traceback per try
        log.debug("provisioning connection: %r", exc)

    nc = await nats.connect(
        server_urls(settings, "operator"),
        connect_timeout=5,
        max_reconnect_attempts=3,
        error_cb=quiet,
        **options,
    )
    try:
        return await provision_jetstream(
            nc.jetstream(),
            replicas=settings.stream_replicas,
            usage_max_bytes=settings.usage_max_bytes,
            events_max_bytes=settings.events_max_bytes,
        )
    finally:
        await nc.close()


def provision_blocking(servers: str | list[str], *, replicas: int = 1, **connect: Any) -> list[str]:
    """:func:`provision_jetstream` from synchronous code (a test fixture, a benchmark),
    on its own thread and event loop; ``connect`` adds ``nats.connect`` options."""
    result: list[list[str]] = []
    errors: list[BaseException] = []

    async def run() -> None:
        nc = await nats.connect(servers, connect_timeout=5, max_reconnect_attempts=3, **connect)
        try:
            result.append(await provision_jetstream(nc.jetstream(), replicas=replicas))
        finally:
            await nc.close()

    def target() -> None:
        try:
            asyncio.run(run())
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=target, name="byok-provision")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


async def _check(settings: ByokSettings) -> None:
    nc = await nats.connect(
        server_urls(settings, "operator"),
        connect_timeout=5,
        max_reconnect_attempts=3,
        **connect_options(settings, role="operator"),
    )
    try:
        await verify_jetstream(nc.jetstream(), buckets=all_buckets())
    finally:
        await nc.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m byok_shared.provision",
        description="Create or update byok's JetStream streams and KV buckets (operator role).",
    )
    parser.add_argument("--check", action="store_true", help="only verify, change nothing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = ByokSettings()
    try:
        if args.check:
            asyncio.run(_check(settings))
            print("byok: JetStream provisioned as expected")
        else:
            done = asyncio.run(provision(settings))
            print("byok: " + ("; ".join(done) if done else "JetStream already provisioned"))
    except NotProvisioned as exc:
        print(f"byok: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A real 3-node JetStream cluster for tests and benchmarks, shaped like ``compose.yaml``.

Routes with authorization and TLS (certificates from :mod:`byok_shared.natscerts`),
and, with ``users=True``, every byok role as its own NATS user whose password
the servers know only as a bcrypt hash. Clients get every node's URL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from ..natsauth import ROLES, inbox_prefix
from ..natsconfig import render_config
from ..natsserver import NatsCluster, secure_routes

__all__ = [
    "ClusterUsers",
    "cluster_leaders",
    "cluster_users",
    "connect_as",
    "empty_all_streams",
    "fresh_r3",
    "running_cluster",
    "start_cluster",
]

ClusterUsers = dict[str, str]
"""role -> password"""


def cluster_users(base: Path) -> tuple[ClusterUsers, Path]:
    """A password per byok role and the accounts block with their bcrypt hashes
    (hashing is slow on purpose: make it once and share it across clusters)."""
    base.mkdir(parents=True, exist_ok=True)
    import bcrypt

    passwords = {name: f"pw-{name}-{base.name}" for name in ROLES}
    # bcrypt hashes as make run and compose write them, at the lowest cost: every
    # connect checks one, and on a busy 2-core machine cost 11 made reconnect storms.
    hashes = {
        name: bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
        for name, password in passwords.items()
    }
    accounts = base / "accounts.conf"
    accounts.write_text(render_config(hashes))
    return passwords, accounts


def start_cluster(
    base: Path,
    *,
    size: int = 3,
    users: tuple[ClusterUsers, Path] | None = None,
) -> NatsCluster:
    """Start a fresh cluster under ``base``; ``users`` from :func:`cluster_users`."""
    base.mkdir(parents=True, exist_ok=True)
    names = [f"n{i + 1}" for i in range(size)]
    accounts = users[1] if users is not None else None
    security = secure_routes(base / "routes", names, accounts)
    return NatsCluster(base, size=size, security=security).start()


@contextmanager
def running_cluster(
    base: Path, *, size: int = 3, users: tuple[ClusterUsers, Path] | None = None
) -> Iterator[NatsCluster]:
    cluster = start_cluster(base, size=size, users=users)
    try:
        yield cluster
    finally:
        cluster.stop()


def connect_as(role: str, passwords: ClusterUsers) -> dict[str, Any]:
    """``nats.connect`` options (and ``ByokSettings`` fields) for ``role``."""
    return {"user": role, "password": passwords[role], "inbox_prefix": inbox_prefix(role)}


async def cluster_leaders(js: Any, streams: list[str]) -> dict[str, str | None]:
    """Which node leads each stream (``stream info``'s ``cluster.leader``)."""
    out: dict[str, str | None] = {}
    for stream in streams:
        info = await js.stream_info(stream)
        out[stream] = info.cluster.leader if info.cluster is not None else None
    return out


async def empty_all_streams(urls: list[str]) -> None:
    """Delete every consumer and purge every stream (and so every bucket): a clean slate
    for the next test on a shared cluster. Cheaper than a new cluster, and unlike
    deleting and re-creating streams of the same names it leaves no stale Raft state."""
    import nats

    from ..retry import with_backoff

    nc = await nats.connect(urls)
    try:
        js = nc.jetstream(timeout=5)
        streams = await with_backoff(js.streams_info, what="list streams", timeout=30)
        for info in streams:
            name = info.config.name
            assert name is not None
            consumers = await with_backoff(
                lambda n=name: js.consumers_info(n),  # type: ignore[misc]
                what="list consumers",
                timeout=30,
            )
            for consumer in consumers:
                await with_backoff(
                    lambda n=name, c=consumer.name: js.delete_consumer(n, c),  # type: ignore[misc]
                    what="delete consumer",
                    timeout=30,
                )
            await with_backoff(
                lambda n=name: js.purge_stream(n),  # type: ignore[misc]
                what="purge stream",
                timeout=30,
            )
    finally:
        await nc.close()


@asynccontextmanager
async def fresh_r3(cluster: NatsCluster) -> AsyncIterator[NatsCluster]:
    """``cluster`` provisioned at R3 for one test, emptied after it."""
    import nats

    from ..provision import provision_jetstream
    from ..retry import quick

    nc = await nats.connect(cluster.urls)
    try:
        await provision_jetstream(quick(nc.jetstream()), replicas=3)
    finally:
        await nc.close()
    try:
        yield cluster
    finally:
        await empty_all_streams(cluster.urls)

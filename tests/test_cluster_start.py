"""The stack starts on a fresh 3-node JetStream cluster at R3, every time (issue 11).

Each round starts a new cluster shaped like ``compose.yaml`` (routes with
authorization and TLS, every role its own NATS user checked by bcrypt hash),
provisions the R3 streams and buckets as the operator right away, while the
meta group and the new Raft groups elect leaders, then starts all five services
at once, each as its own user, with every node's URL. They verify JetStream
and make their first KV writes (the resolver's presence entry, key-vault's
sealing keys): before the retry with backoff this failed in 3 of 4 tries with
``NoStreamResponseError``.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import nats
import pytest

from byok_contracts import subjects
from byok_credit_ledger.app import create_app as credit_ledger
from byok_key_vault.app import create_app as key_vault
from byok_resolver.app import create_app as resolver
from byok_shared.jetstream import BUCKET_RESOLVERS, STREAM_LEDGER
from byok_shared.natsserver import NatsCluster
from byok_shared.provision import provision_jetstream
from byok_shared.stack import wait_healthy
from byok_shared.testing import settings_for
from byok_shared.testing.cluster import ClusterUsers, cluster_users, connect_as, start_cluster
from byok_usage_tracker.app import create_app as usage_tracker
from byok_validator.app import create_app as validator

ROUNDS = int(os.environ.get("BYOK_TEST_CLUSTER_ROUNDS", "10"))
APPS = {
    "key-vault": key_vault,
    "validator": validator,
    "resolver": resolver,
    "credit-ledger": credit_ledger,
    "usage-tracker": usage_tracker,
}


async def one_round(base: Path, users: tuple[ClusterUsers, Path]) -> dict[str, float]:
    passwords = users[0]
    started = time.monotonic()
    cluster = start_cluster(base, users=users)
    try:
        formed = time.monotonic() - started
        apps = [
            create(
                settings_for(
                    cluster.url,
                    base / "data",
                    stream_replicas=3,
                    nats_user=name,
                    nats_password=passwords[name],
                    nats_inbox_prefix=connect_as(name, passwords)["inbox_prefix"],
                )
            )
            for name, create in APPS.items()
        ]
        try:
            # The operator's provisioning step (compose's ``provision`` job), then all
            # five services at once, as compose starts them once it completed.
            operator = await nats.connect(cluster.urls, **connect_as("operator", passwords))
            try:
                await provision_jetstream(operator.jetstream(), replicas=3)
            finally:
                await operator.close()
            provisioned = time.monotonic() - started
            await asyncio.gather(*(app.start() for app in apps))
            await wait_healthy(
                cluster.url, list(APPS), timeout=30, connect=connect_as("backend", passwords)
            )
            healthy = time.monotonic() - started
            nc = await nats.connect(cluster.urls, **connect_as("key-vault", passwords))
            try:
                js = nc.jetstream()
                ledger = await js.stream_info(STREAM_LEDGER)
                assert ledger.config.num_replicas == 3
                assert ledger.cluster is not None
                assert ledger.cluster.leader
                assert len(ledger.cluster.replicas or []) == 2  # the two followers
                presence = await js.stream_info(f"KV_{BUCKET_RESOLVERS}")
                assert presence.state.messages >= 1  # the resolver registered
            finally:
                await nc.close()
        finally:
            for app in reversed(apps):
                await app.stop()
        return {
            "cluster_s": round(formed, 2),
            "provision_s": round(provisioned - formed, 2),
            "services_s": round(healthy - provisioned, 2),
        }
    finally:
        cluster.stop()


@pytest.mark.slow
@pytest.mark.timeout(480)  # ~35 s on an idle 2-core machine; a safety net only
async def test_stack_starts_on_ten_fresh_r3_clusters_in_a_row(tmp_path: Path) -> None:
    users = cluster_users(tmp_path / "users")
    rounds = []
    for index in range(ROUNDS):
        rounds.append(await one_round(tmp_path / f"round{index}", users))
    print(json.dumps({"started": f"{len(rounds)}/{ROUNDS}", "rounds": rounds}))
    assert len(rounds) == ROUNDS
    assert tuple(APPS) == subjects.SERVICES


def test_a_port_taken_before_a_node_binds_it_places_the_cluster_again(tmp_path: Path) -> None:
    """The round that failed in CI: between free_port() and a node's bind, the kernel
    gave a route port to someone else (a client's outgoing connection) and the node
    exited. The cluster now starts on new ports instead."""
    import socket

    cluster = NatsCluster(tmp_path / "squat", size=3)
    squatted = cluster.route_ports[1]
    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    squatter.bind(("127.0.0.1", squatted))
    squatter.listen()
    try:
        cluster.start(timeout=30)
        try:
            assert squatted not in cluster.route_ports
            assert cluster.wait_meta_leader() in {"n1", "n2", "n3"}
        finally:
            cluster.stop()
    finally:
        squatter.close()

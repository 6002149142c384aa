"""Node faults on a real 3-node JetStream cluster at R3, under checked load (issue 11).

Every service runs as its own process connected to all three nodes; the load
(``byok_shared.testing.load``) resolves, lists, reports, reads balances and
usage, publishes ``usage.recorded`` with runtime retries and duplicates, and
configures and removes keys, checking each answer as it arrives. Then:

1. kill -9 of the node leading the JetStream meta group; it comes back on its store;
2. kill -9 of the node leading ``BYOK_LEDGER`` and ``KV_byok-keys`` (the keys
   bucket's leadership is first moved onto the ledger's leader);
3. a rolling restart of all three nodes, one after the other.

No service is restarted. Bars: zero wrong answers, zero stale resolves after a
removal replied, zero lost and zero double debits, every balance equal to its
journal, usage exact, the same service processes alive at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient

from byok_client import ByokClient
from byok_shared.jetstream import BUCKET_KEYS, STREAM_LEDGER
from byok_shared.natsserver import NatsCluster
from byok_shared.provision import provision_jetstream
from byok_shared.testing.cluster import start_cluster
from byok_shared.testing.end_state import check_state
from byok_shared.testing.fake_providers import FakeProviders
from byok_shared.testing.load import Load, World
from byok_shared.testing.polling import eventually
from byok_shared.testing.service_cluster import ServiceCluster

OPS = ("resolve", "list", "report", "balance", "usage", "publish", "churn")
KEYS_STREAM = f"KV_{BUCKET_KEYS}"
ENV = {"BYOK_KEY_VAULT_VALIDATE_TIMEOUT": "3", "BYOK_STREAM_REPLICAS": "3"}


class ClusterRun(ServiceCluster):
    """The fault suite's processes, on a 3-node cluster instead of one server."""

    def __init__(self, base: Path, providers: FakeProviders) -> None:
        super().__init__(base, providers, env=ENV)
        self.nats: NatsCluster | None = None

    @property
    def url(self) -> str:
        assert self.nats is not None
        return self.nats.url

    async def nc(self) -> NatsClient:
        if self._nc is None:
            assert self.nats is not None
            self._nc = await nats.connect(
                self.nats.urls, max_reconnect_attempts=-1, reconnect_time_wait=0.1
            )
        return self._nc

    async def start(self, timeout: float = 60.0) -> None:
        self.nats = await asyncio.to_thread(start_cluster, self.base / "nats")
        nc = await self.nc()  # the operator's provisioning step, at R3
        await provision_jetstream(nc.jetstream(), replicas=3)
        for procs in self.procs.values():
            for proc in procs:
                proc.url = self.nats.url
        for procs in self.procs.values():
            procs[0].start()
        for name, procs in self.procs.items():
            await self.wait_replicas(name, len(procs), timeout)

    async def close(self) -> None:
        await super().close()
        if self.nats is not None:
            self.nats.stop()

    def pids(self) -> dict[str, int]:
        return {p.log.name: p.proc.pid for ps in self.procs.values() for p in ps if p.proc}


async def leaders(js: nats.js.JetStreamContext) -> dict[str, str]:
    out = {}
    for stream in (STREAM_LEDGER, KEYS_STREAM):
        info = await js.stream_info(stream)
        assert info.cluster is not None
        out[stream] = str(info.cluster.leader)
    return out


async def move_leader(nc: NatsClient, stream: str, to: str) -> None:
    """Ask ``stream``'s leader to step down in favour of node ``to``."""
    body = json.dumps({"placement": {"preferred": to}}).encode()
    js = nc.jetstream(timeout=5)
    for _ in range(40):
        with contextlib.suppress(Exception):
            await nc.request(f"$JS.API.STREAM.LEADER.STEPDOWN.{stream}", body, timeout=5)
        with contextlib.suppress(Exception):
            info = await js.stream_info(stream)
            if info.cluster is not None and info.cluster.leader == to:
                return
        await asyncio.sleep(0.25)
    raise AssertionError(f"{stream}: leadership did not move to {to}")


async def recovered(load: Load, ops: tuple[str, ...] = OPS, timeout: float = 90.0) -> float:
    """Seconds until every operation succeeded again (three times each)."""
    started = time.monotonic()
    for op in ops:
        try:
            await load.until_ok(op, 3, timeout)
        except AssertionError as exc:
            summary = load.tally.summary()
            raise AssertionError(f"{exc}; {summary}; wrong: {load.tally.wrong[:3]}") from None
    return round(time.monotonic() - started, 2)


@pytest.fixture
async def run(tmp_path: Path, fake_providers: FakeProviders) -> AsyncIterator[ClusterRun]:
    cluster = ClusterRun(tmp_path / "run", fake_providers)
    try:
        await cluster.start()
        yield cluster
    finally:
        await cluster.close()


@pytest.mark.slow
@pytest.mark.timeout(420)
async def test_leader_kills_and_a_rolling_restart_under_checked_load(
    run: ClusterRun, fake_providers: FakeProviders
) -> None:
    assert run.nats is not None
    nodes = run.nats
    client = await ByokClient.connect(run.url, timeout=3.0, account="acme")
    try:
        js = client.nc.jetstream(timeout=3)
        world = await World.seed(client, fake_providers)
        pids = run.pids()
        load = Load(client, js, world, fake_providers, ops=OPS, pause=0.002)
        load.start()
        await recovered(load)
        phases: dict[str, dict[str, object]] = {}

        async def kill_and_return(name: str, phase: str) -> None:
            index = nodes.index_of(name)
            nodes.nodes[index].kill()
            killed = time.monotonic()
            failures_before = len(load.tally.failures)
            recovery = await recovered(load)
            await asyncio.to_thread(nodes.nodes[index].start)
            await asyncio.to_thread(nodes.wait_healthy, 60)
            rejoined = round(time.monotonic() - killed, 2)
            await recovered(load)
            phases[phase] = {
                "node": name,
                "recovered_s": recovery,
                "node_rejoined_s": rejoined,
                "failed_requests": len(load.tally.failures) - failures_before,
            }

        # 1. the meta leader
        meta = await asyncio.to_thread(nodes.wait_meta_leader)
        await kill_and_return(meta, "kill9_meta_leader")

        # 2. the node leading both the ledger journal and the keys bucket
        target = (await leaders(js))[STREAM_LEDGER]
        await move_leader(client.nc, KEYS_STREAM, target)
        assert await leaders(js) == {STREAM_LEDGER: target, KEYS_STREAM: target}
        await kill_and_return(target, "kill9_ledger_and_keys_leader")

        # 3. rolling restart: each node stops cleanly and comes back, one at a time
        started = time.monotonic()
        failures_before = len(load.tally.failures)
        for node in nodes.nodes:
            await asyncio.to_thread(node.stop)
            await recovered(load)
            await asyncio.to_thread(node.start)
            await asyncio.to_thread(nodes.wait_healthy, 60)
        await recovered(load)
        phases["rolling_restart"] = {
            "took_s": round(time.monotonic() - started, 2),
            "failed_requests": len(load.tally.failures) - failures_before,
        }

        await load.until_ok("churn", 2, 30)
        tally = await load.stop()
        assert tally.wrong == [], tally.wrong[:5]
        assert tally.stale == []
        assert run.pids() == pids  # no service was restarted
        assert all(p.alive for ps in run.procs.values() for p in ps), run.logs()

        async def settled() -> bool:
            return all(p.alive for ps in run.procs.values() for p in ps)

        await eventually(settled, 30, "services alive")
        state = await check_state(client, js, world, timeout=60)
        print(json.dumps({"phases": phases, **tally.summary(), **state}))
        assert state["lost_debits"] == 0
        assert state["double_debits"] == 0
    finally:
        await client.close()

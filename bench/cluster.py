"""``make bench BENCH_ARGS=cluster``: resolve and ledger on a 3-node R3 cluster vs one node.

The same workload runs twice in one run, first on a single nats-server (R1), then
on a fresh 3-node JetStream cluster (:class:`~byok_shared.natsserver.NatsCluster`,
routes with TLS and authorization) with every stream and bucket at R3, the
processes connecting with every node's URL:

- resolve: one resolver process, warm cache (``bench/resolve.py``'s seeder):
  throughput with 64 requests in flight and p50/p99 with one in flight;
- ledger: ``N`` platform ``usage.recorded`` events published first (256 in flight),
  then one credit-ledger process: events/s it applies and acks until all ``N`` are
  (``bench/ledger.py``'s events), and the R1/R3 JetStream publish rate alongside.

Both topologies run at once and are measured in turns (single, cluster, single,
cluster), so that drift on a shared machine hits both alike. Reported as ratios
cluster / single node. Resolve is served from memory, so it
should stay close to 1; every debit is a replicated journal append, so the ledger
pays the R3 quorum round trips.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nats

from byok_contracts import Keypair, subjects
from byok_contracts.v1 import Scope
from byok_resolver.app import replica_subject
from byok_shared.jetstream import STREAM_LEDGER, STREAM_USAGE
from byok_shared.natsserver import NatsServer
from byok_shared.provision import provision_jetstream
from byok_shared.retry import quick
from byok_shared.stack import wait_healthy
from byok_shared.testing.cluster import start_cluster

from .ledger import _event, _publish_all, _rate
from .ledger import _spawn as _spawn_module
from .resolve import IN_FLIGHT, Seeder, _latency, _ms, _pct, _spawn, _throughput, _until_answers


class Topology:
    """One NATS topology with its resolver process, measured in turns with the other."""

    def __init__(self, name: str, url: str, urls: list[str], stop: Callable[[], None]) -> None:
        self.name, self.url, self.urls, self.stop = name, url, urls, stop
        self.replicas = 3 if len(urls) > 1 else 1
        self.work = Path(tempfile.mkdtemp(prefix=f"byok-bench-{name}-"))
        self.rps: list[float] = []
        self.latency: list[float] = []
        self.debits: list[float] = []
        self.publishes: list[float] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.sent = 0

    async def open(self) -> None:
        self.nc = await nats.connect(self.urls)
        await provision_jetstream(quick(self.nc.jetstream()), replicas=self.replicas)
        seeder = Seeder(self.nc)
        self.seeder = seeder
        await self.nc.subscribe(subjects.INTERNAL_KEYS_UNSEAL, cb=seeder._unseal)
        await seeder.configure(Scope.parse("workspace:bench"))
        runtime = Keypair.generate()
        self.body = json.dumps(
            {
                "account": "bench",
                "chain": [
                    {"type": "session", "id": "bench-1"},
                    {"type": "workspace", "id": "bench"},
                    {"type": "account", "id": "bench"},
                ],
                "recipient_key": runtime.public_b64,
            }
        ).encode()
        env = {
            **os.environ,
            "BYOK_NATS_URL": self.url,
            "BYOK_DATA_DIR": str(self.work / "data"),
            "BYOK_LOG_LEVEL": "WARNING",
            "BYOK_RESOLVER_REPLICA_ID": f"bench-{self.name}",
        }
        self.proc = _spawn(["-m", "byok_resolver"], env, self.work / "resolver.log")
        reply = await _until_answers(
            self.nc, replica_subject(f"bench-{self.name}"), self.body, timeout=60
        )
        assert json.loads(reply)["status"] == "resolved", reply
        await _throughput(self.nc, subjects.RESOLVE, self.body, 0.5)  # warm

    async def resolve_turn(self, seconds: float, count: int) -> None:
        self.rps.append(await _throughput(self.nc, subjects.RESOLVE, self.body, seconds))
        self.latency += await _latency(self.nc, subjects.RESOLVE, self.body, count)

    async def ledger_turn(self, events: int) -> None:
        """Publish ``events`` (no ledger running), then time one ledger process draining them."""
        js = self.nc.jetstream(timeout=10)
        bodies = [_event(i) for i in range(self.sent, self.sent + events)]
        self.sent += events
        before = int((await js.stream_info(STREAM_USAGE)).state.last_seq or 0)
        self.publishes.append(await _publish_all(js, subjects.USAGE_RECORDED, bodies, 256, True))
        proc = _spawn_module("byok_credit_ledger", self.url, self.work)
        try:
            await wait_healthy(self.url, ["credit-ledger"], timeout=60)

            async def settled() -> int:
                # What the ledger acked (each event applied: a debit, or none by its rules).
                info = await js.consumer_info(STREAM_USAGE, "credit-ledger")
                floor = int(info.ack_floor.stream_seq or 0) if info.ack_floor else 0
                return max(0, floor - before)

            self.debits.append(await _rate(settled, events, timeout=600))
            info = await js.stream_info(STREAM_LEDGER)
            assert (info.config.num_replicas or 1) == self.replicas
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    async def close(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        await self.nc.close()
        await asyncio.to_thread(self.stop)

    def figures(self) -> dict[str, Any]:
        return {
            "replicas": self.replicas,
            "rps": statistics.mean(self.rps),
            "p50": _pct(self.latency, 0.5),
            "p99": _pct(self.latency, 0.99),
            "ledger_events_per_s": statistics.mean(self.debits),
            "usage_publish_per_s": statistics.mean(self.publishes),
        }


def _single(work: Path) -> tuple[str, list[str], Callable[[], None]]:
    server = NatsServer(store_dir=work / "js", log_file=work / "nats.log").start()
    return server.url, [server.url], server.stop


def _three(work: Path) -> tuple[str, list[str], Callable[[], None]]:
    cluster = start_cluster(work / "nats")
    return cluster.url, cluster.urls, cluster.stop


async def run(quick: bool) -> dict[str, Any]:
    seconds = 1.0 if quick else 2.5
    latency = 250 if quick else 1000
    events = 1_000 if quick else 5_000
    turns = 2
    started = time.monotonic()
    single = Topology("single", *await asyncio.to_thread(_single, Path(tempfile.mkdtemp())))
    cluster = Topology("cluster", *await asyncio.to_thread(_three, Path(tempfile.mkdtemp())))
    try:
        await single.open()
        await cluster.open()
        # In turns, so that drift on a shared machine hits both alike.
        for _ in range(turns):
            for topology in (single, cluster):
                await topology.resolve_turn(seconds, latency)
        for _ in range(turns):
            for topology in (single, cluster):
                await topology.ledger_turn(events)
        one, three = single.figures(), cluster.figures()
    finally:
        await single.close()
        await cluster.close()

    def ratio(key: str) -> float:
        return round(float(three[key]) / float(one[key]), 3)

    return {
        "in_flight": IN_FLIGHT,
        "events_per_turn": events,
        "turns": turns,
        "single_node": _rounded(one),
        "cluster_r3": _rounded(three),
        "ratios_cluster_vs_single": {
            "resolve_throughput": ratio("rps"),
            "resolve_p50": ratio("p50"),
            "resolve_p99": ratio("p99"),
            "ledger_events_per_s": ratio("ledger_events_per_s"),
            "usage_publish_per_s": ratio("usage_publish_per_s"),
        },
        "took_s": round(time.monotonic() - started, 1),
    }


def _rounded(figures: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in figures.items():
        if key in ("p50", "p99"):
            out[f"resolve_{key}_ms"] = _ms(value)
        elif isinstance(value, float):
            out[key] = round(value)
        else:
            out[key] = value
    return out

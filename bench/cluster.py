"""``make bench BENCH_ARGS=cluster``: resolve and ledger on a 3-node R3 cluster vs one node.

The same workload runs twice in one run, first on a single nats-server (R1), then
on a fresh 3-node JetStream cluster (:class:`~byok_shared.natsserver.NatsCluster`,
routes with TLS and authorization) with every stream and bucket at R3, the
processes connecting with every node's URL:

- resolve: one resolver process, warm cache (``bench/resolve.py``'s seeder):
  throughput with 64 requests in flight and p50/p99 with one in flight;
- ledger: ``N`` ``usage.recorded`` events published first (256 in flight), then one
  credit-ledger process: events applied and acknowledged per second until its consumer's
  ack floor passes all ``N`` (the bench's key is no platform key, so nothing is debited
  and the journal does not grow), and the raw R1/R3 JetStream publish rate alongside.

Reported as ratios cluster / single node. Resolve is served from memory, so it
should stay close to 1; every debit is a replicated journal append, so the ledger
pays the R3 quorum round trips.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client as NatsClient

from byok_contracts import Keypair, subjects
from byok_contracts.v1 import Scope
from byok_resolver.app import replica_subject
from byok_shared.jetstream import STREAM_LEDGER, STREAM_USAGE
from byok_shared.natsserver import NatsServer
from byok_shared.provision import provision_jetstream
from byok_shared.retry import quick
from byok_shared.stack import wait_healthy
from byok_shared.testing.cluster import start_cluster

from ._support import Proc, ms, pct, resolve_body, resolver_process
from .ledger import _event, _publish_all, _rate
from .resolve import IN_FLIGHT, Seeder, _latency, _throughput, _until_answers


async def _resolve(
    nc: NatsClient, url: str, work: Path, seconds: float, count: int
) -> dict[str, Any]:
    seeder = Seeder(nc)
    await nc.subscribe(subjects.INTERNAL_KEYS_UNSEAL, cb=seeder._unseal)
    await seeder.configure(Scope.parse("workspace:bench"))
    body = resolve_body(Keypair.generate())
    proc = resolver_process(url, work, "bench-r0")
    try:
        reply = await _until_answers(nc, replica_subject("bench-r0"), body, timeout=60)
        assert json.loads(reply)["status"] == "resolved", reply
        await _throughput(nc, subjects.RESOLVE, body, 0.5)  # warm
        rps = statistics.mean(
            [await _throughput(nc, subjects.RESOLVE, body, seconds / 2) for _ in range(2)]
        )
        lat = await _latency(nc, subjects.RESOLVE, body, count)
        return {"rps": rps, "p50": pct(lat, 0.5), "p99": pct(lat, 0.99)}
    finally:
        proc.stop()


async def _ledger(nc: NatsClient, url: str, work: Path, n: int, replicas: int) -> dict[str, Any]:
    js = nc.jetstream(timeout=10)
    bodies = [_event(i) for i in range(n)]
    publish_rate = await _publish_all(js, subjects.USAGE_RECORDED, bodies, 256, True)
    before = int((await js.stream_info(STREAM_USAGE)).state.last_seq) - n
    proc = Proc("byok_credit_ledger", url, work)
    try:
        await wait_healthy(url, ["credit-ledger"], timeout=60)

        async def settled() -> int:  # acked once applied
            info = await js.consumer_info(STREAM_USAGE, "credit-ledger")
            return int(info.ack_floor.stream_seq or 0) - before if info.ack_floor else 0

        acked = await _rate(settled, n, timeout=600)
        info = await js.stream_info(STREAM_LEDGER)
        assert (info.config.num_replicas or 1) == replicas
        return {"ledger_events_acked_per_s": acked, "usage_publish_per_s": publish_rate}
    finally:
        proc.stop()


async def _topology(
    name: str, start: Callable[[Path], tuple[str, list[str], Callable[[], None]]], **sizes: Any
) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"byok-bench-{name}-"))
    url, urls, stop = await asyncio.to_thread(start, work)
    replicas = 3 if len(urls) > 1 else 1
    nc = await nats.connect(urls)
    try:
        await provision_jetstream(quick(nc.jetstream()), replicas=replicas)
        resolve = await _resolve(nc, url, work, sizes["seconds"], sizes["latency"])
        ledger = await _ledger(nc, url, work, sizes["events"], replicas)
        return {"replicas": replicas, **resolve, **ledger}
    finally:
        await nc.close()
        await asyncio.to_thread(stop)


def _single(work: Path) -> tuple[str, list[str], Callable[[], None]]:
    server = NatsServer(store_dir=work / "js", log_file=work / "nats.log").start_anywhere()
    return server.url, [server.url], server.stop


def _three(work: Path) -> tuple[str, list[str], Callable[[], None]]:
    cluster = start_cluster(work / "nats")
    return cluster.url, cluster.urls, cluster.stop


async def run(quick: bool) -> dict[str, Any]:
    sizes = {
        "seconds": 1.5 if quick else 5.0,
        "latency": 500 if quick else 2000,
        "events": 2_000 if quick else 10_000,
    }
    started = time.monotonic()
    single = await _topology("single", _single, **sizes)
    cluster = await _topology("cluster", _three, **sizes)

    def ratio(key: str) -> float:
        return round(float(cluster[key]) / float(single[key]), 3)

    return {
        "in_flight": IN_FLIGHT,
        "events": sizes["events"],
        "single_node": _rounded(single),
        "cluster_r3": _rounded(cluster),
        "ratios_cluster_vs_single": {
            "resolve_throughput": ratio("rps"),
            "resolve_p50": ratio("p50"),
            "resolve_p99": ratio("p99"),
            "ledger_events_acked_per_s": ratio("ledger_events_acked_per_s"),
            "usage_publish_per_s": ratio("usage_publish_per_s"),
        },
        "took_s": round(time.monotonic() - started, 1),
    }


def _rounded(figures: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in figures.items():
        if key in ("p50", "p99"):
            out[f"resolve_{key}_ms"] = ms(value)
        elif isinstance(value, float):
            out[key] = round(value)
        else:
            out[key] = value
    return out

"""``make bench BENCH_ARGS=resolve``: resolve on a warm cache vs a raw nats-py echo, and freshness.

One nats-server; a raw nats-py echo responder in its own process replying as
many bytes as a resolve reply; the resolver in its own process with warm
caches (key records seeded in KV the way key-vault writes them, key material
served once by a stand-in for key-vault's unseal hop in this process). The
load generator runs here:

- throughput with 64 requests in flight, for echo and resolve;
- p50/p99 latency with one request in flight, for both;
- propagation with three resolver replicas: a key is configured, served by
  every replica, then removed (KV delete, event, freshness barrier, as
  key-vault's ``keys.remove`` does before it replies). From the moment the
  removal "replied", each replica is probed on its own subject until it stops
  serving the key; any probe sent after the reply that still names the key is
  a stale answer.

Bars (DESIGN.md section 8): throughput >= 0.75x echo, p99 <= 1.2x echo,
propagation p99 < 100 ms with zero stale answers.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from byok_contracts import Keypair, seal, subjects
from byok_contracts.v1 import KeyChanged, KeyRecord, KeyUnsealed, Scope, UnsealKey, utcnow
from byok_resolver.app import replica_subject
from byok_shared.freshness import FreshnessBarrier
from byok_shared.jetstream import BUCKET_KEYS, ensure_jetstream
from byok_shared.natsserver import NatsServer
from byok_shared.testing.processes import ServiceProcess

from ._support import ms, pct, resolve_body, resolver_process, stop_all

ECHO_SUBJECT = "bench.echo"
IN_FLIGHT = 64
REPLICAS = 3


class Seeder:
    """Writes key records and removes them the way key-vault does; answers unseal requests."""

    def __init__(self, nc: NatsClient) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.secrets: dict[str, bytes] = {}
        self.barrier = FreshnessBarrier(self.nc, self.js, timeout=2.0)
        self._n = 0

    async def start(self) -> None:
        await ensure_jetstream(self.js)
        await self.nc.subscribe(subjects.INTERNAL_KEYS_UNSEAL, cb=self._unseal)

    async def _unseal(self, msg: Msg) -> None:
        req = UnsealKey.model_validate_json(msg.data)
        sealed = seal(self.secrets[req.key_id], req.recipient_key, subjects.INTERNAL_KEYS_UNSEAL)
        reply = KeyUnsealed(key_id=req.key_id, provider="anthropic", sealed_key=sealed, revision=1)
        await self.nc.publish(msg.reply, reply.model_dump_json().encode())

    async def configure(self, scope: Scope) -> KeyRecord:
        self._n += 1
        key_id = f"bench{self._n}"
        self.secrets[key_id] = f"sk-ant-bench-{self._n:06d}-xxxxxxxxxxxxxxxxxxxxxxxx".encode()
        now = utcnow()
        record = KeyRecord(
            key_id=key_id,
            scope=scope,
            provider="anthropic",
            hint="sk-ant-...xxxx",
            fingerprint="0" * 16,
            model="",
            state="active",  # type: ignore[arg-type]
            ciphertext="bench",
            created_at=now,
            updated_at=now,
            account=None if scope.type.value == "platform" else "bench",
        )
        kv = await self.js.key_value(BUCKET_KEYS)
        revision = await kv.put(f"{scope.key}.anthropic", record.model_dump_json().encode())
        event = KeyChanged(
            event="configured",
            key_id=key_id,
            scope=scope,
            provider="anthropic",
            state="active",  # type: ignore[arg-type]
            revision=revision,
            account=record.account,
        )
        await self.js.publish(subjects.EVENTS_KEYS_CONFIGURED, event.model_dump_json().encode())
        return record

    async def remove(self, record: KeyRecord) -> float:
        """Returns the seconds the removal took until its reply (the barrier included)."""
        started = time.perf_counter()
        kv = await self.js.key_value(BUCKET_KEYS)
        await kv.delete(f"{record.scope.key}.anthropic")
        event = KeyChanged(
            event="removed", key_id=record.key_id, scope=record.scope, provider="anthropic"
        )
        await self.js.publish(subjects.EVENTS_KEYS_REMOVED, event.model_dump_json().encode())
        result = await self.barrier.confirm(subjects.EVENTS_KEYS_REMOVED, event)
        if not result.complete:
            raise RuntimeError(f"barrier incomplete: {result}")
        return time.perf_counter() - started


async def _until_answers(nc: NatsClient, subject: str, body: bytes, timeout: float = 30) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return (await nc.request(subject, body, timeout=1)).data
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def _throughput(nc: NatsClient, subject: str, body: bytes, seconds: float) -> float:
    done = 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await nc.request(subject, body, timeout=5)
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return done / (time.perf_counter() - started)


async def _latency(nc: NatsClient, subject: str, body: bytes, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await nc.request(subject, body, timeout=5)
        samples.append(time.perf_counter() - started)
    return samples


async def _serves(nc: NatsClient, subject: str, body: bytes, key_id: str) -> None:
    for _ in range(5000):
        if json.loads((await nc.request(subject, body, 2)).data).get("key_id") == key_id:
            return
        await asyncio.sleep(0.002)
    raise RuntimeError(f"{subject} never served {key_id}")


async def _propagation(
    nc: NatsClient, seeder: Seeder, replicas: list[str], runtime: Keypair, removals: int
) -> dict[str, Any]:
    scope = Scope.parse("session:bench-propagation")
    body = resolve_body(runtime, (("session", "bench-propagation"), ("account", "bench")))
    delays: list[float] = []
    barrier: list[float] = []
    stale = 0
    for _ in range(removals):
        record = await seeder.configure(scope)
        for replica in replicas:  # every replica serves it (from cache) before the removal
            await _serves(nc, replica_subject(replica), body, record.key_id)
        barrier.append(await seeder.remove(record))
        replied = time.perf_counter()

        async def probe(
            replica: str, replied: float = replied, key_id: str = record.key_id
        ) -> float:
            nonlocal stale
            while True:
                msg = await nc.request(replica_subject(replica), body, 2)
                if json.loads(msg.data).get("key_id") != key_id:
                    return time.perf_counter() - replied
                stale += 1  # sent after the removal replied, and still the removed key

        delays += await asyncio.gather(*(probe(r) for r in replicas))
    return {
        "removals": removals,
        "replicas": len(replicas),
        "after_reply_p50_ms": ms(pct(delays, 0.50)),
        "after_reply_p99_ms": ms(pct(delays, 0.99)),
        "after_reply_max_ms": ms(max(delays)),
        "stale_answers": stale,
        "removal_with_barrier_p50_ms": ms(pct(barrier, 0.50)),
        "removal_with_barrier_p99_ms": ms(pct(barrier, 0.99)),
    }


async def run(quick: bool) -> dict[str, Any]:
    seconds = 1.5 if quick else 5.0
    latency_count = 1000 if quick else 4000
    removals = 20 if quick else 200
    work = Path(tempfile.mkdtemp(prefix="byok-bench-resolve-"))
    server = NatsServer(store_dir=work / "jetstream", log_file=work / "nats.log").start_anywhere()
    procs: list[ServiceProcess] = []
    nc = await nats.connect(server.url)
    try:
        seeder = Seeder(nc)
        await seeder.start()
        await seeder.configure(Scope.parse("workspace:bench"))
        runtime = Keypair.generate()
        body = resolve_body(runtime)
        names = [f"bench-r{i}" for i in range(REPLICAS)]
        procs.append(resolver_process(server.url, work, names[0]))
        reply = await _until_answers(nc, replica_subject(names[0]), body)
        assert json.loads(reply)["status"] == "resolved", reply
        echo = [server.url, ECHO_SUBJECT, str(len(reply))]
        procs.append(
            ServiceProcess(
                "echo", server.url, work, module="bench._resolve_echo", args=echo
            ).start()
        )
        await _until_answers(nc, ECHO_SUBJECT, body)

        # Warm both (and the resolver's sealed reply for this recipient).
        await _throughput(nc, ECHO_SUBJECT, body, 0.5)
        await _throughput(nc, subjects.RESOLVE, body, 0.5)

        echo_tput, resolve_tput = [], []
        echo_lat: list[float] = []
        resolve_lat: list[float] = []
        for _ in range(2):  # interleaved, so drift on a shared machine hits both alike
            echo_tput.append(await _throughput(nc, ECHO_SUBJECT, body, seconds / 2))
            resolve_tput.append(await _throughput(nc, subjects.RESOLVE, body, seconds / 2))
            echo_lat += await _latency(nc, ECHO_SUBJECT, body, latency_count // 2)
            resolve_lat += await _latency(nc, subjects.RESOLVE, body, latency_count // 2)
        echo_rps, resolve_rps = statistics.mean(echo_tput), statistics.mean(resolve_tput)
        echo_p99, resolve_p99 = pct(echo_lat, 0.99), pct(resolve_lat, 0.99)

        for name in names[1:]:
            procs.append(resolver_process(server.url, work, name))
        for name in names[1:]:
            await _until_answers(nc, replica_subject(name), body)
        propagation = await _propagation(nc, seeder, names, runtime, removals)

        throughput_ratio = resolve_rps / echo_rps
        p99_ratio = resolve_p99 / echo_p99
        return {
            "reply_bytes": len(reply),
            "in_flight": IN_FLIGHT,
            "echo_rps": round(echo_rps),
            "resolve_rps": round(resolve_rps),
            "throughput_ratio": round(throughput_ratio, 3),
            "echo_p50_ms": ms(pct(echo_lat, 0.5)),
            "echo_p99_ms": ms(echo_p99),
            "resolve_p50_ms": ms(pct(resolve_lat, 0.5)),
            "resolve_p99_ms": ms(resolve_p99),
            "p99_ratio": round(p99_ratio, 3),
            "propagation": propagation,
            "meets_bar": {
                "throughput_ge_0_75x_echo": throughput_ratio >= 0.75,
                "p99_le_1_2x_echo": p99_ratio <= 1.2,
                "propagation_p99_lt_100ms": propagation["after_reply_p99_ms"] < 100,
                "zero_stale": propagation["stale_answers"] == 0,
            },
        }
    finally:
        await nc.close()
        stop_all(procs)
        server.stop()

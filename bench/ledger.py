"""Ledger and usage-tracker throughput against raw JetStream, on one server, in one run.

1. Raw baseline: JetStream publishes/s of a usage-sized message, one in flight
   and 256 in flight (what the server and nats-py give anyone).
2. ``N`` platform ``usage.recorded`` events (64 accounts) are published first;
   then one credit-ledger *process* (``python -m byok_credit_ledger``) starts
   and we time how fast its durable consumer acks all ``N`` events (an event is
   acked once its debit is in the journal and the ``byok-credits`` record follows
   it; the debits of one account in one fetched batch share one optimistic
   concurrency append).
3. Then one usage-tracker process starts and we time how fast its durable
   consumer acks all ``N`` events.

Ratios are reported against the raw figures; the ledger's journal is verified
(balance == sum of entries, one debit per request) at the end.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig

from byok_contracts import subjects
from byok_contracts.v1 import UsageRecorded
from byok_shared.jetstream import STREAM_LEDGER, STREAM_USAGE, ensure_jetstream
from byok_shared.natsserver import NatsServer
from byok_shared.stack import wait_healthy

from ._support import Proc, stop_all

ACCOUNTS = 64


def _event(i: int) -> bytes:
    return (
        UsageRecorded.model_validate(
            {
                "request_id": f"bench-{i}",
                "account": f"acct{i % ACCOUNTS}",
                "chain": [
                    {"type": "session", "id": f"s{i % 500}"},
                    {"type": "workspace", "id": f"w{i % 50}"},
                ],
                "key_id": "platform-key",
                "source": "platform",
                "provider": "openai",
                "model": "gpt-4o-mini",
                "input_tokens": 200 + i % 1000,
                "output_tokens": 50 + i % 300,
                "occurred_at": datetime(2025, 6, 1, tzinfo=UTC),
            }
        )
        .model_dump_json()
        .encode()
    )


async def _publish_all(
    js: JetStreamContext,
    subject: str,
    bodies: list[bytes],
    in_flight: int,
    msg_ids: bool,
) -> float:
    """Publish every body with ``in_flight`` outstanding acks; return publishes/s."""
    sem = asyncio.Semaphore(in_flight)

    async def one(i: int, body: bytes) -> None:
        async with sem:
            headers = {"Nats-Msg-Id": f"bench-{i}"} if msg_ids else None
            await js.publish(subject, body, headers=headers, timeout=10)

    started = time.perf_counter()
    await asyncio.gather(*(one(i, b) for i, b in enumerate(bodies)))
    return len(bodies) / (time.perf_counter() - started)


async def _raw_baseline(js: JetStreamContext, bodies: list[bytes]) -> dict[str, float]:
    await js.add_stream(
        StreamConfig(name="BENCH_RAW", subjects=["bench.raw"], storage=StorageType.FILE)
    )
    sequential = await _publish_all(js, "bench.raw", bodies[: len(bodies) // 4], 1, False)
    pipelined = await _publish_all(js, "bench.raw", bodies, 256, False)
    await js.delete_stream("BENCH_RAW")
    return {
        "raw_publish_per_s_1_in_flight": sequential,
        "raw_publish_per_s_256_in_flight": pipelined,
    }


def _spawn(module: str, url: str, data: Path) -> Proc:
    return Proc(module, url, data)


async def _rate(progress: Any, total: int, timeout: float) -> float:
    """Items/s between the first observed progress and reaching ``total``."""
    first_t: float | None = None
    first_n = 0
    deadline = time.monotonic() + timeout
    while True:
        n = await progress()
        now = time.perf_counter()
        if first_t is None and n > 0:
            first_t, first_n = now, n
        if n >= total:
            assert first_t is not None
            if now - first_t <= 0 or n == first_n:
                return float("nan")
            return (n - first_n) / (now - first_t)
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {n} of {total} after {timeout:.0f}s")
        await asyncio.sleep(0.01)


async def run(quick: bool) -> dict[str, Any]:
    n = 3_000 if quick else 30_000
    bodies = [_event(i) for i in range(n)]
    with tempfile.TemporaryDirectory(prefix="byok-bench-ledger-") as tmp:
        data = Path(tmp)
        server = NatsServer(store_dir=data / "js", log_file=data / "nats.log").start_anywhere()
        procs: list[Proc] = []
        nc = await nats.connect(server.url)
        try:
            js = nc.jetstream(timeout=10)
            await ensure_jetstream(js)
            raw = await _raw_baseline(js, bodies)
            await _publish_all(js, subjects.USAGE_RECORDED, bodies, 256, True)

            procs.append(_spawn("byok_credit_ledger", server.url, data))
            await wait_healthy(server.url, ["credit-ledger"], timeout=60)

            async def settled() -> int:  # acked only once debited and its effects published
                info = await js.consumer_info(STREAM_USAGE, "credit-ledger")
                return int(info.ack_floor.stream_seq or 0) if info.ack_floor else 0

            debits = await _rate(settled, n, timeout=600)
            appends = int((await js.stream_info(STREAM_LEDGER)).state.messages)
            reply = await nc.request(subjects.LEDGER_VERIFY, b"{}", timeout=120)
            verification = json.loads(reply.data)

            procs.append(_spawn("byok_usage_tracker", server.url, data))
            await wait_healthy(server.url, ["usage-tracker"], timeout=60)

            async def tracked() -> int:
                info = await js.consumer_info(STREAM_USAGE, "usage-tracker-main")
                return int(info.ack_floor.stream_seq or 0) if info.ack_floor else 0

            usage_rate = await _rate(tracked, n, timeout=600)
            report = json.loads(
                (
                    await nc.request(
                        subjects.USAGE_QUERY, json.dumps({"account": "acct0"}).encode(), timeout=10
                    )
                ).data
            )
        finally:
            stop_all(procs)
            await nc.close()
            server.stop()
    pipelined = raw["raw_publish_per_s_256_in_flight"]
    sequential = raw["raw_publish_per_s_1_in_flight"]
    return {
        "events": n,
        "accounts": ACCOUNTS,
        **{k: round(v) for k, v in raw.items()},
        "ledger_debits_per_s": round(debits),
        "ledger_vs_raw_256_in_flight": round(debits / pipelined, 3),
        "ledger_vs_raw_1_in_flight": round(debits / sequential, 3),
        "usage_events_per_s": round(usage_rate),
        "usage_vs_raw_256_in_flight": round(usage_rate / pipelined, 3),
        "ledger_consistent": verification.get("consistent"),
        "ledger_entries": verification.get("entries"),  # appends (a batch is one entry)
        "ledger_appends": appends,
        "ledger_debited_credits": -sum(verification.get("balances", {}).values()),
        "usage_calls_acct0": report.get("calls"),
        "usage_calls_acct0_expected": len(range(0, n, ACCOUNTS)),
    }

"""``make bench BENCH_ARGS=soak``: minutes of mixed load through kill -9s and a NATS restart.

Every service runs as a real process (two resolver replicas). The load resolves,
lists, reports, reads balances and usage, publishes ``usage.recorded`` (with
runtime retries and duplicates) and configures/removes keys, checking every
answer as it arrives (``byok_shared.testing.load``). Every few seconds a random
service is killed -9 and started again; once, mid-run, the NATS server restarts
on its store dir. At the end: keys, balances, journal and usage are checked.

Bar: zero wrong answers, zero stale resolves, zero lost or double debits, every
balance equal to its journal, usage totals exact.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from byok_client import ByokClient
from byok_shared.testing.end_state import check_state
from byok_shared.testing.fake_providers import FakeProviders
from byok_shared.testing.load import Load, World
from byok_shared.testing.service_cluster import SERVICES, ServiceCluster

OPS = ("resolve", "list", "report", "balance", "usage", "publish", "churn")


async def run(quick: bool) -> dict[str, Any]:
    duration = 20.0 if quick else 180.0
    every = 4.0 if quick else 10.0
    rng = random.Random(5)
    kills: list[str] = []
    with FakeProviders(slow_seconds=1.0) as providers, tempfile.TemporaryDirectory() as tmp:
        cluster = ServiceCluster(
            Path(tmp),
            providers,
            replicas={"resolver": 2},
            env={"BYOK_KEY_VAULT_VALIDATE_TIMEOUT": "3"},
        )
        try:
            await cluster.start(timeout=60)
            client = await ByokClient.connect(cluster.url, timeout=3.0)
            js = client.nc.jetstream(timeout=2)
            world = await World.seed(client, providers, n=6)
            load = Load(client, js, world, providers, ops=OPS, workers=8, pause=0.002)
            started = time.monotonic()
            load.start()
            nats_restart_at = started + duration / 2
            nats_restarted = False
            while time.monotonic() - started < duration:
                await asyncio.sleep(every)
                if not nats_restarted and time.monotonic() >= nats_restart_at:
                    await asyncio.to_thread(cluster.server.restart)
                    nats_restarted = True
                    kills.append("nats-server")
                    await cluster.wait_all_healthy(timeout=60)
                    continue
                service = rng.choice(SERVICES)
                index = rng.randrange(len(cluster.procs[service]))
                cluster.kill9(service, index)
                kills.append(f"{service}-{index}")
                await asyncio.sleep(rng.uniform(0.2, 1.5))  # down for a while under load
                await cluster.restart(service, index, timeout=60)
            tally = await load.stop()
            elapsed = time.monotonic() - started
            try:
                state = await check_state(client, js, world, timeout=60)
            except AssertionError as exc:  # report it with the figures, do not crash
                state = {"check_failed": str(exc)[:500], "usage_events": len(world.events)}
            await client.close()
        finally:
            await cluster.close()
    summary = tally.summary()
    return {
        "duration_s": round(elapsed, 1),
        "faults": kills,
        "requests": summary["requests"],
        "requests_per_s": round(summary["requests"] / elapsed),
        "ok": summary["ok"],
        "errors_by_code": summary["unavailable"],
        "wrong_answers": summary["wrong"],
        "wrong_examples": tally.wrong[:5],
        "stale_resolves": summary["stale"],
        "usage_events": state["usage_events"],
        "lost_debits": state.get("lost_debits"),
        "double_debits": state.get("double_debits"),
        "balance_equals_journal": state.get("balance_equals_journal", False),
        "end_state_check": state.get("check_failed", "passed"),
        "meets_bar": not tally.wrong
        and not tally.stale
        and "check_failed" not in state
        and state["lost_debits"] == 0
        and state["double_debits"] == 0
        and state["balance_equals_journal"],
    }

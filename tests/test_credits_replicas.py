"""Two credit-ledger replicas, one killed -9 mid-stream (issue 11: the credit state must
catch up to the journal), against a real nats-server and real service processes."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # importlib mode: the helpers next to this file

from credits_support import (
    Workload,
    check_exact,
    client,
    drained,
    eventually,
    grant_all,
    publish,
)

from byok_shared.natsserver import NatsServer
from byok_shared.stack import wait_healthy
from byok_shared.testing.processes import ServiceProcess


async def test_two_ledger_replicas_one_killed_byok_credits_catches_up(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    """Issue 11: after a kill -9 of one of two ledger replicas (never restarted), every
    ``byok-credits`` record follows the last entry of its account's journal."""
    work = Workload.build(900, seed=5)
    ack = {"BYOK_LEDGER_ACK_WAIT": "2"}
    replicas = [
        ServiceProcess("credit-ledger", nats_server.url, tmp_path, index=i, env=ack)
        for i in range(2)
    ]
    tracker = ServiceProcess("usage-tracker", nats_server.url, tmp_path)
    try:
        for proc in (*replicas, tracker):
            proc.start()
        await wait_healthy(nats_server.url, ["credit-ledger", "usage-tracker"], timeout=90)
        async with client(nats_server.url) as (nc, js):
            await grant_all(nc)
            for start in range(0, len(work.events), 100):
                await asyncio.gather(*(publish(js, e) for e in work.events[start : start + 100]))
                if start == 400:
                    replicas[0].kill9()  # mid-stream, with appends and effects in flight

            async def done() -> bool:
                return await drained(js, "credit-ledger") and await drained(
                    js, "usage-tracker-main"
                )

            await eventually(done)
            await check_exact(nc, js, work)  # includes verify: byok-credits == journal
    finally:
        for proc in (*replicas, tracker):
            proc.stop()

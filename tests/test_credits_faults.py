"""Faults against a real nats-server: the ledger and the usage tracker stay exact.

Redelivery after an ack timeout, duplicate publishes inside and beyond the
stream's duplicate window, kill -9 of either service mid-stream (real
processes, ``python -m ...``), a NATS server restart mid-stream. After each:
zero lost and zero double debits, every balance equal to the sum of its
journal entries, usage totals exact.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # importlib mode: the helpers next to this file

from credits_support import (
    ACCOUNTS,
    GRANT,
    Workload,
    ask,
    check_exact,
    client,
    drained,
    eventually,
    grant_all,
    journal,
    publish,
    unsettled,
)
from nats.js.api import AckPolicy, ConsumerConfig

from byok_contracts import subjects
from byok_credit_ledger.app import create_app as create_ledger
from byok_credit_ledger.config import LedgerConfig
from byok_shared.jetstream import STREAM_USAGE, ensure_jetstream
from byok_shared.natsserver import NatsServer
from byok_shared.stack import wait_healthy
from byok_shared.testing import running, settings_for
from byok_shared.testing.processes import ServiceProcess


@pytest.fixture
def services(nats_server: NatsServer, tmp_path: Path) -> Iterator[dict[str, ServiceProcess]]:
    procs = {
        "credit-ledger": ServiceProcess(
            "credit-ledger", nats_server.url, tmp_path, env={"BYOK_LEDGER_ACK_WAIT": "2"}
        ),
        "usage-tracker": ServiceProcess(
            "usage-tracker", nats_server.url, tmp_path, env={"BYOK_USAGE_TRACKER_ACK_WAIT": "2"}
        ),
    }
    try:
        yield procs
    finally:
        for proc in procs.values():
            proc.stop()


async def test_kill9_of_ledger_and_tracker_mid_stream(
    nats_server: NatsServer, services: dict[str, ServiceProcess]
) -> None:
    work = Workload.build(1000)
    for proc in services.values():
        proc.start()
    await wait_healthy(nats_server.url, list(services), timeout=90)
    async with client(nats_server.url) as (nc, js):
        await grant_all(nc)
        backlog: dict[str, int] = {}
        for start in range(0, len(work.events), 100):
            chunk = work.events[start : start + 100]
            publishes = [publish(js, e) for e in chunk]
            publishes += [publish(js, e) for e in chunk[::7]]  # same Nats-Msg-Id: in the window
            publishes += [  # a new message id, same request_id: as if beyond the window
                publish(js, e, msg_id=f"again-{e.request_id}") for e in chunk[::11]
            ]
            await asyncio.gather(*publishes)
            if start == 300:
                backlog["credit-ledger"] = await unsettled(js, "credit-ledger")
                services["credit-ledger"].kill9()
            if start == 500:
                services["credit-ledger"].start()
            if start == 600:
                backlog["usage-tracker"] = await unsettled(js, "usage-tracker-main")
                services["usage-tracker"].kill9()
            if start == 800:
                services["usage-tracker"].start()
        # both were killed with work in flight, not between messages
        assert backlog["credit-ledger"] > 0
        assert backlog["usage-tracker"] > 0
        await wait_healthy(nats_server.url, list(services), timeout=90)

        async def done() -> bool:
            return await drained(js, "credit-ledger") and await drained(js, "usage-tracker-main")

        await eventually(done)
        await check_exact(nc, js, work)


async def test_nats_server_restart_mid_stream(
    nats_server: NatsServer, services: dict[str, ServiceProcess]
) -> None:
    work = Workload.build(800, seed=11)
    for proc in services.values():
        proc.start()
    await wait_healthy(nats_server.url, list(services), timeout=90)
    async with client(nats_server.url) as (nc, js):
        await grant_all(nc)
        for i, event in enumerate(work.events):
            await publish(js, event)
            if i % 13 == 0:
                await publish(js, event, msg_id=f"again-{event.request_id}")
            if i == 300:
                await asyncio.to_thread(nats_server.restart)
        await wait_healthy(nats_server.url, list(services), timeout=90)

        async def done() -> bool:
            return await drained(js, "credit-ledger") and await drained(js, "usage-tracker-main")

        await eventually(done)
        await check_exact(nc, js, work)


async def test_redelivery_after_ack_timeout_and_beyond_the_duplicate_window(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    """A stalled replica takes messages and never acks; the stream forgets message ids."""
    work = Workload.build(200, seed=3)
    async with client(nats_server.url) as (nc, js):
        await ensure_jetstream(js)
        # The duplicate window is 120 s; shrink it so "beyond the window" happens in-test.
        info = await js.stream_info(STREAM_USAGE)
        info.config.duplicate_window = 0.5
        await js.update_stream(info.config)
        config = LedgerConfig(ack_wait=1.0, fetch_timeout=0.2)
        await js.add_consumer(
            STREAM_USAGE,
            ConsumerConfig(
                durable_name=config.durable,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=config.ack_wait,
                filter_subject=subjects.USAGE_RECORDED,
            ),
        )
        for event in work.events:
            await publish(js, event)
        stalled = await js.pull_subscribe_bind(durable=config.durable, stream=STREAM_USAGE)
        taken = await stalled.fetch(120, timeout=2)
        assert len(taken) == 120  # held and never acked: redelivered after ack_wait
        settings = settings_for(nats_server.url, tmp_path)
        async with running(create_ledger(settings, config)):
            await grant_all(nc)
            await asyncio.sleep(1.0)  # past the duplicate window
            for event in work.events[:50]:  # same Nats-Msg-Id, but the stream forgot it
                await publish(js, event)
            assert (await js.stream_info(STREAM_USAGE)).state.messages == 250

            async def done() -> bool:
                return await drained(js, config.durable)

            await eventually(done)
            info = await js.consumer_info(STREAM_USAGE, config.durable)
            assert info.delivered.consumer_seq >= 250 + 120  # the held ones came again
            entries = await journal(js)
            debited = Counter(e.request_id for e in entries if e.kind == "debit")
            assert set(debited) == work.platform_requests()
            assert max(debited.values()) == 1
            expected = work.debits()
            for account in ACCOUNTS:
                reply = await ask(nc, subjects.LEDGER_BALANCE, {"account": account})
                mine = sum(e.amount for e in entries if e.account == account)
                assert reply["balance"] == mine == GRANT - expected.get(account, 0)
            assert (await ask(nc, subjects.LEDGER_VERIFY, {}))["consistent"] is True

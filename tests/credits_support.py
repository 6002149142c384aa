"""Helpers of the credit fault suites: a workload and exact checks (the processes are
:class:`byok_shared.testing.processes.ServiceProcess`)."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import nats
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from byok_contracts import Catalog, subjects
from byok_contracts.pricing import Pricing, credits_for
from byok_contracts.v1 import UsageRecorded, usage_msg_id
from byok_shared.jetstream import STREAM_USAGE
from byok_shared.testing.end_state import journal

ACCOUNTS = [f"acct{i}" for i in range(6)]
MODELS = [
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-sonnet-4-6"),
    ("gemini", "gemini-2.5-flash"),
    ("openai", "in-house-model"),  # unpriced
]
GRANT = 1_000_000
START = datetime(2025, 6, 1, tzinfo=UTC)
CATALOG = Catalog.load()
PRICING = Pricing(CATALOG)


@dataclass
class Workload:
    """Usage events and what the ledger and the tracker must end up with."""

    events: list[UsageRecorded] = field(default_factory=list)

    @classmethod
    def build(cls, n: int, seed: int = 7) -> Workload:
        rng = random.Random(seed)
        work = cls()
        for i in range(n):
            provider, model = rng.choice(MODELS)
            work.events.append(
                UsageRecorded(
                    request_id=f"req-{seed}-{i}",
                    account=rng.choice(ACCOUNTS),
                    chain=[
                        {"type": "session", "id": f"s{i % 9}"},
                        {"type": "workspace", "id": f"w{i % 3}"},
                    ],
                    key_id=f"key{i % 4}",
                    source="byok" if i % 5 == 0 else "platform",
                    provider=provider,
                    model=model,
                    input_tokens=rng.randint(1, 5000),
                    output_tokens=rng.randint(1, 2000),
                    occurred_at=START + timedelta(seconds=i),
                )
            )
        return work

    def debits(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for e in self.events:
            if e.source == "platform":
                cost = PRICING.estimate(
                    e.provider, e.model, e.input_tokens, e.output_tokens, e.occurred_at
                )
                # an unpriced model: the provider's most expensive catalog rate, never 0
                rate = Decimal(str(CATALOG.highest_rate(e.provider)))
                usd = (
                    cost.usd
                    if cost.usd is not None
                    else rate * (e.input_tokens + e.output_tokens) / 10**6
                )
                out[e.account] += credits_for(usd, 1000)
        return dict(out)

    def platform_requests(self) -> set[str]:
        return {e.request_id for e in self.events if e.source == "platform"}

    def totals(self, account: str) -> tuple[int, int, int]:
        mine = [e for e in self.events if e.account == account]
        return len(mine), sum(e.input_tokens for e in mine), sum(e.output_tokens for e in mine)


async def publish(js: JetStreamContext, event: UsageRecorded, msg_id: str | None = None) -> None:
    """Publish like a runtime: retry until JetStream acks (same Nats-Msg-Id on each try)."""
    body = event.model_dump_json().encode()
    headers = {"Nats-Msg-Id": msg_id or usage_msg_id(event.account, event.request_id)}
    deadline = asyncio.get_running_loop().time() + 60
    while asyncio.get_running_loop().time() < deadline:
        try:
            await js.publish(subjects.USAGE_RECORDED, body, headers=headers, timeout=2.0)
            return
        except Exception:
            await asyncio.sleep(0.1)
    raise AssertionError(f"could not publish {event.request_id}")


async def ask(nc: NatsClient, subject: str, body: dict[str, object]) -> dict[str, object]:
    deadline = asyncio.get_running_loop().time() + 60  # services may be restarting
    while asyncio.get_running_loop().time() < deadline:
        try:
            reply = await nc.request(subject, json.dumps(body).encode(), timeout=5)
        except Exception:
            await asyncio.sleep(0.1)
            continue
        data: dict[str, object] = json.loads(reply.data)
        if data.get("code") != 503:
            return data
        await asyncio.sleep(0.1)
    raise AssertionError(f"no answer on {subject}")


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def drained(js: JetStreamContext, durable: str) -> bool:
    try:
        info = await js.consumer_info(STREAM_USAGE, durable)
    except Exception:
        return False
    return info.num_pending == 0 and info.num_ack_pending == 0


async def unsettled(js: JetStreamContext, durable: str) -> int:
    """Messages not yet acked by ``durable`` (pending or in flight)."""
    info = await js.consumer_info(STREAM_USAGE, durable)
    return int(info.num_pending or 0) + int(info.num_ack_pending or 0)


async def check_exact(nc: NatsClient, js: JetStreamContext, work: Workload) -> None:
    """Zero lost, zero double debits, balance == sum of entries, usage totals exact."""
    entries = await journal(js)
    debited = Counter(e.request_id for e in entries if e.kind == "debit")
    assert set(debited) == work.platform_requests(), "lost or extra debits"
    assert max(debited.values()) == 1, "a request_id was debited twice"
    expected = work.debits()
    for account in ACCOUNTS:
        mine = [e for e in entries if e.account == account]
        reply = await ask(nc, subjects.LEDGER_BALANCE, {"account": account})
        assert reply["balance"] == sum(e.amount for e in mine), account
        assert reply["balance"] == GRANT - expected.get(account, 0), account
    verification = await ask(nc, subjects.LEDGER_VERIFY, {})
    assert verification["consistent"] is True, verification["differences"]
    for account in ACCOUNTS:
        report = await ask(nc, subjects.USAGE_QUERY, {"account": account})
        calls, tokens_in, tokens_out = work.totals(account)
        assert (report["calls"], report["input_tokens"], report["output_tokens"]) == (
            calls,
            tokens_in,
            tokens_out,
        ), account
        assert report["unpriced_models"] in ([], ["in-house-model"])


@asynccontextmanager
async def client(url: str) -> AsyncIterator[tuple[NatsClient, JetStreamContext]]:
    nc = await nats.connect(url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    try:
        yield nc, nc.jetstream(timeout=2)
    finally:
        await nc.close()


async def grant_all(nc: NatsClient) -> None:
    for account in ACCOUNTS:
        body = {"account": account, "amount": GRANT, "reason": "monthly", "idempotency_key": "m1"}
        assert (await ask(nc, subjects.LEDGER_GRANT, body))["status"] == "granted"

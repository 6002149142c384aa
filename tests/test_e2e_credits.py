"""Credits and usage end to end through the client: ledger and usage-tracker on real NATS.

Runtimes publish ``usage.recorded``; the services do the rest. The parts of
scenarios 6-9 (DESIGN.md section 9) that need the resolver and key-vault are
covered by their own suites; here key-vault's records are written to KV the
way key-vault writes them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from byok_client import ByokClient
from byok_contracts import Conflict, subjects
from byok_contracts.v1 import AccountPolicy, KeyRecord, Mode, Scope, UsageRecorded
from byok_credit_ledger.app import create_app as create_ledger
from byok_credit_ledger.config import LedgerConfig
from byok_shared.jetstream import BUCKET_ACCOUNTS, BUCKET_KEYS
from byok_shared.natsserver import NatsServer
from byok_shared.testing import running, settings_for
from byok_usage_tracker.app import create_app as create_tracker
from byok_usage_tracker.config import TrackerConfig

T0 = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def record(
    js: JetStreamContext,
    rid: str,
    *,
    source: str = "platform",
    session: str = "s1",
    model: str = "claude-sonnet-4-6",
    minute: int = 0,
    account: str = "acme",
) -> None:
    """What a runtime publishes after a provider call."""
    event = UsageRecorded.model_validate(
        {
            "request_id": rid,
            "account": account,
            "chain": [
                {"type": "session", "id": session},
                {"type": "workspace", "id": "acme-ws"},
                {"type": "account", "id": account},
            ],
            "key_id": "key-ws" if source == "byok" else "key-platform",
            "source": source,
            "provider": "anthropic",
            "model": model,
            "input_tokens": 10_000,
            "output_tokens": 2_000,
            "occurred_at": T0 + timedelta(minutes=minute),
        }
    )
    await js.publish(
        subjects.USAGE_RECORDED, event.model_dump_json().encode(), headers={"Nats-Msg-Id": rid}
    )


async def test_credits_debits_events_and_usage(
    nats_server: NatsServer, nc: NatsClient, js: JetStreamContext, tmp_path: Path
) -> None:
    settings = settings_for(nats_server.url, tmp_path)
    seen: list[str] = []

    async def on_credits(msg: object) -> None:
        seen.append(msg.subject.rsplit(".", 1)[1])  # type: ignore[attr-defined]

    await nc.subscribe(f"{subjects.EVENTS_PREFIX}.credits.*", cb=on_credits)
    async with (
        running(
            create_ledger(settings, LedgerConfig(fetch_timeout=0.2)),
            create_tracker(settings, TrackerConfig(fetch_timeout=0.2)),
        ),
        await ByokClient.connect(nats_server.url) as client,
    ):
        # monthly allowance; a retried grant is a no-op, a conflicting one a 409
        assert (
            await client.grant("acme", 100, reason="May", idempotency_key="2025-05")
        ).balance == 100
        assert (
            await client.grant("acme", 100, reason="May", idempotency_key="2025-05")
        ).balance == 100
        with pytest.raises(Conflict):
            await client.grant("acme", 90, reason="May", idempotency_key="2025-05")

        # sonnet 4.6: 10k in + 2k out = $0.03 + $0.03 = $0.06 -> 60 credits a call
        await record(js, "call-1", minute=1)
        await record(js, "call-2", source="byok", minute=2)  # BYOK: no credits
        await record(js, "call-1", minute=1)  # a runtime retry: one debit

        async def first_debit() -> bool:
            return (await client.balance("acme")).balance == 40

        await eventually(first_debit)
        await record(js, "call-3", session="s2", minute=3)  # 40 - 60 = -20: exhausted

        async def exhausted() -> bool:
            return (await client.balance("acme")).balance == -20 and "exhausted" in seen

        await eventually(exhausted)
        assert (
            await client.grant("acme", 500, reason="top-up", idempotency_key="t1")
        ).balance == 480

        async def restored() -> bool:
            return seen == ["restored", "exhausted", "restored"]

        await eventually(restored)
        verification = await client.verify_ledger()
        assert verification.consistent
        assert verification.balances == {"acme": 480}

        # scenario 9: usage per session and per workspace
        async def counted() -> bool:
            return (await client.usage(scope="workspace:acme-ws")).calls == 3

        await eventually(counted)
        session = await client.usage(scope=Scope.parse("session:s1"))
        assert (session.calls, session.input_tokens, session.output_tokens) == (2, 20_000, 4_000)
        assert session.estimated_cost_usd == pytest.approx(0.12)
        assert session.by_model["claude-sonnet-4-6"].calls == 2
        workspace = await client.usage(scope="workspace:acme-ws")
        assert workspace.estimated_cost_usd == pytest.approx(0.18)
        windowed = await client.usage(account="acme", since=T0 + timedelta(minutes=2))
        assert windowed.calls == 2
        assert (await client.usage(key_id="key-ws")).calls == 1


async def test_credits_paused_follows_policy_and_account_key(
    nats_server: NatsServer, js: JetStreamContext, tmp_path: Path
) -> None:
    """Scenario 6's ledger side: BYOK-first with a usable key pauses credits."""
    settings = settings_for(nats_server.url, tmp_path)
    async with (
        running(create_ledger(settings, LedgerConfig(fetch_timeout=0.2))),
        await ByokClient.connect(nats_server.url) as client,
    ):
        await client.grant("acme", 1000, reason="monthly", idempotency_key="m1")
        assert not (await client.balance("acme")).credits_paused
        keys = await js.key_value(BUCKET_KEYS)
        record_ = {
            "key_id": "key-acct",
            "scope": {"type": "account", "id": "acme"},
            "provider": "anthropic",
            "hint": "sk-ant-...abcd",
            "fingerprint": "f",
            "model": "claude-sonnet-4-6",
            "state": "active",
            "ciphertext": "c",
            "created_at": T0.isoformat(),
            "updated_at": T0.isoformat(),
        }
        await keys.put(
            "account.acme.anthropic", KeyRecord.model_validate(record_).model_dump_json().encode()
        )
        reply = await client.balance("acme")
        assert reply.credits_paused
        assert reply.mode == Mode.BYOK_FIRST
        # BYOK usage while paused leaves the balance untouched
        await record(js, "byok-1", source="byok")
        await asyncio.sleep(0.5)
        assert (await client.balance("acme")).balance == 1000
        # disabling the key (not deleting it) resumes credit use
        record_["state"] = "disabled"
        await keys.put("account.acme.anthropic", json.dumps(record_).encode())
        assert not (await client.balance("acme")).credits_paused
        # credits-first plans never pause credits
        record_["state"] = "active"
        await keys.put("account.acme.anthropic", json.dumps(record_).encode())
        accounts = await js.key_value(BUCKET_ACCOUNTS)
        policy = AccountPolicy(account="acme", mode=Mode.CREDITS_FIRST)
        await accounts.put("acme", policy.model_dump_json().encode())
        reply = await client.balance("acme")
        assert reply.mode == Mode.CREDITS_FIRST
        assert not reply.credits_paused

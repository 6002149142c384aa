"""The ledger service against a real nats-server: requests, the usage consumer, events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

from ledger_helpers import usage
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from byok_contracts import subjects
from byok_contracts.v1 import CreditState
from byok_credit_ledger.app import create_app
from byok_credit_ledger.config import LedgerConfig
from byok_shared.jetstream import BUCKET_CREDITS
from byok_shared.natsserver import NatsServer
from byok_shared.testing import running, settings_for


async def ask(nc: NatsClient, subject: str, body: dict[str, object]) -> dict[str, object]:
    reply = await nc.request(subject, json.dumps(body).encode(), timeout=5)
    data: dict[str, object] = json.loads(reply.data)
    return data


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def balance(nc: NatsClient, account: str = "acme") -> int:
    reply = await ask(nc, subjects.LEDGER_BALANCE, {"account": account})
    value = reply["balance"]
    assert isinstance(value, int)
    return value


async def test_grant_balance_debits_and_events(
    nats_server: NatsServer, nc: NatsClient, js: JetStreamContext, tmp_path: Path
) -> None:
    settings = settings_for(nats_server.url, tmp_path)
    events: list[tuple[str, dict[str, object]]] = []

    async def on_event(msg: object) -> None:
        events.append((msg.subject, json.loads(msg.data)))  # type: ignore[attr-defined]

    await nc.subscribe(f"{subjects.EVENTS_PREFIX}.credits.*", cb=on_event)
    async with running(create_app(settings, LedgerConfig(fetch_timeout=0.2))):
        grant = {"account": "acme", "amount": 5, "reason": "monthly", "idempotency_key": "m1"}
        assert await ask(nc, subjects.LEDGER_GRANT, grant) == {"status": "granted", "balance": 5}
        assert (await ask(nc, subjects.LEDGER_GRANT, grant))["balance"] == 5
        conflict = await ask(nc, subjects.LEDGER_GRANT, grant | {"amount": 6})
        assert (conflict["status"], conflict["code"]) == ("error", 409)
        bad = await ask(nc, subjects.LEDGER_GRANT, {"account": "acme", "amount": -1})
        assert bad["code"] == 400
        reply = await ask(nc, subjects.LEDGER_BALANCE, {"account": "acme"})
        assert reply == {
            "status": "ok",
            "balance": 5,
            "mode": "byok_first",
            "credits_paused": False,
        }

        for i in range(8):  # 1 credit each; byok calls debit nothing
            source = "byok" if i % 2 else "platform"
            event = usage(f"r{i}", source=source)
            await js.publish(
                subjects.USAGE_RECORDED,
                event.model_dump_json().encode(),
                headers={"Nats-Msg-Id": event.request_id},
            )

        async def debited() -> bool:
            return await balance(nc) == 1

        await eventually(debited)
        for i in range(5, 10):  # r5..r7 again (new message ids) plus two new ones
            event = usage(f"r{i}", source="byok" if i in (5, 7) else "platform")
            await js.publish(subjects.USAGE_RECORDED, event.model_dump_json().encode())

        async def exhausted() -> bool:
            return await balance(nc) == -1

        await eventually(exhausted)
        await ask(nc, subjects.LEDGER_GRANT, grant | {"idempotency_key": "topup", "amount": 10})

        async def all_events() -> bool:
            return len(events) == 3

        await eventually(all_events)
        assert [s.rsplit(".", 1)[1] for s, _ in events] == ["restored", "exhausted", "restored"]
        # exhausted carries the balance when it was published: 0, or -1 if both debits
        # that crossed zero came in one batch (effects are published per batch)
        assert [e["balance"] for _, e in events] in ([5, 0, 9], [5, -1, 9])
        report = await ask(nc, subjects.LEDGER_VERIFY, {})
        assert report["consistent"] is True, report
        assert report["balances"] == {"acme": 9}
        kv = await js.key_value(BUCKET_CREDITS)
        state = CreditState.model_validate_json((await kv.get("acme")).value or b"")
        assert state.balance == 9

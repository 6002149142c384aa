"""Ledger integrity attacks, against a real nats-server (issue 10, "The ledger believes the
runtime"), and "debited at most once, for ever" across a restart with snapshots."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from byok_client import ByokClient
from byok_contracts import subjects
from byok_contracts.v1 import KeyRecord, KeyState, Scope, platform_key_slot
from byok_contracts.v1.ledger import LedgerEntry
from byok_credit_ledger.adapters.kv_state import BUCKET_LEDGER_SNAPSHOTS
from byok_credit_ledger.app import create_app
from byok_credit_ledger.config import LedgerConfig
from byok_shared.jetstream import BUCKET_KEYS, STREAM_LEDGER, ensure_jetstream
from byok_shared.natsserver import NatsServer
from byok_shared.testing import running, settings_for
from byok_usage_tracker.app import create_app as create_tracker
from byok_usage_tracker.config import TrackerConfig

AT = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
CONFIG = LedgerConfig(fetch_timeout=0.2, snapshot_every=8)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def entries(js: JetStreamContext) -> list[LedgerEntry]:
    """One entry per debit (a batched debit entry counts as its items)."""
    info = await js.stream_info(STREAM_LEDGER)
    out: list[LedgerEntry] = []
    if not info.state.messages:
        return out
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(STREAM_LEDGER, seq)
        out += LedgerEntry.model_validate_json(msg.data or b"").debits()
    return out


async def put_platform_key(js: JetStreamContext, key_id: str, provider: str = "openai") -> None:
    kv = await js.key_value(BUCKET_KEYS)
    record = KeyRecord(
        key_id=key_id,
        scope=Scope.platform(),
        provider=provider,
        hint="sk-…abcd",
        fingerprint="0" * 64,
        model="gpt-4o-mini",
        state=KeyState.ACTIVE,
        ciphertext="x",
        created_at=AT,
        updated_at=AT,
    )
    await kv.put(platform_key_slot(provider), record.model_dump_json().encode())


async def record(client: ByokClient, account: str, rid: str, **fields: object) -> None:
    values: dict[str, object] = {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "source": "platform",
        "key_id": "key_platform",
    }
    values.update(fields)
    await client.record_usage(
        account,
        [f"workspace:{account}-w"],
        input_tokens=100_000,
        output_tokens=10_000,
        request_id=rid,
        occurred_at=AT,
        **values,  # type: ignore[arg-type]
    )


async def test_usage_on_a_platform_key_is_debited_whatever_the_runtime_claims(
    nats_server: NatsServer, nc: NatsClient, js: JetStreamContext, tmp_path: Path
) -> None:
    await ensure_jetstream(js)
    await put_platform_key(js, "key_platform")
    client = ByokClient(nc)
    async with running(create_app(settings_for(nats_server.url, tmp_path), CONFIG)):
        await record(client, "acme", "r1", source="byok")  # the lie
        await record(client, "acme", "r2", source="byok", key_id="key_theirs")  # a real BYOK call

        async def debited() -> bool:
            return len(await entries(js)) >= 1

        await eventually(debited)
        await asyncio.sleep(0.5)
        found = await entries(js)
        assert [(e.request_id, e.kind) for e in found] == [("r1", "debit")]
        assert found[0].amount < 0
        assert found[0].flags == ["source_mismatch"]
        assert found[0].claimed_source == "byok"


async def test_one_tenants_request_id_does_not_suppress_anothers_debit_or_usage(
    nats_server: NatsServer, nc: NatsClient, js: JetStreamContext, tmp_path: Path
) -> None:
    await ensure_jetstream(js)
    client = ByokClient(nc)
    settings = settings_for(nats_server.url, tmp_path)
    tracker = create_tracker(settings, TrackerConfig(fetch_timeout=0.2))
    async with running(create_app(settings, CONFIG), tracker):
        await record(client, "tenant-a", "same-id")
        await record(client, "tenant-b", "same-id")  # inside the stream's duplicate window

        async def both() -> bool:
            return len(await entries(js)) >= 2

        await eventually(both)
        assert sorted(e.account for e in await entries(js)) == ["tenant-a", "tenant-b"]
        for account in ("tenant-a", "tenant-b"):
            body = json.dumps({"account": account}).encode()

            async def counted(body: bytes = body) -> bool:
                reply = await nc.request(subjects.USAGE_QUERY, body, timeout=5)
                return bool(json.loads(reply.data).get("calls") == 1)

            await eventually(counted)


async def test_unpriced_platform_model_is_debited_at_the_fallback_rate_and_flagged(
    nats_server: NatsServer, nc: NatsClient, js: JetStreamContext, tmp_path: Path
) -> None:
    await ensure_jetstream(js)
    client = ByokClient(nc)
    async with running(create_app(settings_for(nats_server.url, tmp_path), CONFIG)):
        await record(client, "acme", "r1", model="secret-model-x")

        async def debited() -> bool:
            return len(await entries(js)) == 1

        await eventually(debited)
        (entry,) = await entries(js)
        # 110k tokens at openai's most expensive catalog rate ($10/M) = $1.10 = 1100 credits
        assert entry.amount == -1100
        assert entry.flags == ["unpriced_fallback"]


async def test_a_request_is_debited_once_for_ever_across_snapshots_and_restarts(
    nats_server: NatsServer, nc: NatsClient, js: JetStreamContext, tmp_path: Path
) -> None:
    await ensure_jetstream(js)
    client = ByokClient(nc)
    settings = settings_for(nats_server.url, tmp_path)
    async with running(create_app(settings, CONFIG)):
        for i in range(20):
            await record(client, "acme", f"r{i}")

        async def all_debited() -> bool:
            return len(await entries(js)) == 20

        await eventually(all_debited)

        async def snapshotted() -> bool:
            kv = await js.key_value(BUCKET_LEDGER_SNAPSHOTS)
            try:
                stored = json.loads((await kv.get("acme")).value or b"{}")
                last = (await js.stream_info(STREAM_LEDGER)).state.last_seq
                return bool(stored["last_seq"] == last)
            except Exception:
                return False

        await eventually(snapshotted)
    async with running(create_app(settings, CONFIG)):  # a new process: state from the snapshot
        for i in range(20):  # republished with new message ids (beyond the stream's window)
            await record(client, "acme", f"r{i}", source="platform")
            await js.publish(
                subjects.USAGE_RECORDED,
                json.dumps(
                    {
                        "request_id": f"r{i}",
                        "account": "acme",
                        "chain": [{"type": "workspace", "id": "w"}],
                        "key_id": "key_platform",
                        "source": "platform",
                        "provider": "openai",
                        "model": "gpt-4o-mini",
                        "input_tokens": 100_000,
                        "output_tokens": 10_000,
                        "occurred_at": AT.isoformat(),
                    }
                ).encode(),
                headers={"Nats-Msg-Id": f"other-{i}"},
            )
        await record(client, "acme", "r-new")

        async def new_one() -> bool:
            return len(await entries(js)) == 21

        await eventually(new_one)
        await asyncio.sleep(0.5)
        found = await entries(js)
        assert len(found) == 21
        balance = json.loads(
            (await nc.request(subjects.LEDGER_BALANCE, b'{"account": "acme"}', timeout=5)).data
        )["balance"]
        assert balance == sum(e.amount for e in found)
        report = json.loads((await nc.request(subjects.LEDGER_VERIFY, b"{}", timeout=10)).data)
        assert report["consistent"], report

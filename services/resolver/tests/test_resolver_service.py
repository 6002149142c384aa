"""The resolver against a real nats-server: warm start, updates, queue group, hostile input."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from byok_contracts import seal, subjects
from byok_contracts.v1 import KeyUnsealed, UnsealKey
from byok_resolver.adapters.memory import InMemoryKeySource
from byok_resolver.app import create_app
from byok_resolver.config import ResolverConfig
from byok_shared import ByokSettings
from byok_shared.testing import running

from .conftest import Backoffice, Runtime


def is_byok_at(scope: str) -> Any:
    return lambda d: (
        d.get("source") == "byok" and f"{d['scope']['type']}:{d['scope']['id']}" == scope
    )


async def test_warm_start_from_kv(
    backoffice: Backoffice, replicas: Any, runtime: Runtime, key_source: InMemoryKeySource
) -> None:
    await backoffice.key("account:acme", "anthropic", "sk-ant-account", event=False)
    session = await backoffice.key("session:s1", "anthropic", "sk-ant-session", event=False)
    await backoffice.scope("agent:a1", route="metered")
    await backoffice.credits("acme", 50)
    await replicas(1)

    got = await runtime.resolve("session:s1", "account:acme")
    assert got["status"] == "resolved"
    assert (got["source"], got["key_id"], got["secret"]) == (
        "byok",
        session.key_id,
        "sk-ant-session",
    )
    assert got["credits_paused"] is True
    assert got["model"] == "claude-sonnet-4-6"
    assert "session:s1" in got["reason"]

    # The sealed reply is cached: the second resolve does not ask key-vault again.
    calls = key_source.calls
    again = await runtime.resolve("session:s1", "account:acme")
    assert again["secret"] == "sk-ant-session"
    assert key_source.calls == calls

    metered = await runtime.resolve("agent:a1", "account:acme")
    assert metered["status"] == "error"
    assert metered["code"] == 404  # metered, credits but no platform key
    assert metered["error"] == "no_platform_key"


async def test_updates_follow_kv_and_events(
    backoffice: Backoffice, replicas: Any, runtime: Runtime
) -> None:
    await replicas(1)
    missing = await runtime.resolve("session:s1", "account:acme")
    assert (missing["code"], missing["message"]) == (404, "No API key configured for this session")

    account = await backoffice.key("account:acme", "openai", "sk-account")
    got = await runtime.until(is_byok_at("account:acme"), "session:s1", "account:acme")
    assert got["secret"] == "sk-account"

    session = await backoffice.key("session:s1", "openai", "sk-session", event=False)  # watch only
    got = await runtime.until(is_byok_at("session:s1"), "session:s1", "account:acme")
    assert got["secret"] == "sk-session"

    await backoffice.remove(session)  # scenario 4: reverts to the account key at once
    got = await runtime.resolve("session:s1", "account:acme")
    assert (got["key_id"], got["secret"]) == (account.key_id, "sk-account")

    await backoffice.key("platform:default", "openai", "sk-platform")
    await backoffice.credits("acme", 10)
    await backoffice.disable(account)
    got = await runtime.until(lambda d: d.get("source") == "platform", "session:s1", "account:acme")
    assert (got["source"], got["secret"], got["credits_paused"]) == (
        "platform",
        "sk-platform",
        False,
    )

    await backoffice.credits("acme", 0, event=True)  # credits.exhausted
    got = await runtime.until(lambda d: d.get("code") == 402, "session:s1", "account:acme")
    assert got["code"] == 402


async def test_scope_and_account_changes(
    backoffice: Backoffice, replicas: Any, runtime: Runtime
) -> None:
    await replicas(1)
    await backoffice.key("platform:default", "anthropic", "sk-ant-platform")
    await backoffice.key("workspace:w1", "anthropic", "sk-ant-mine")
    await backoffice.credits("acme", 100)
    got = await runtime.until(is_byok_at("workspace:w1"), "workspace:w1")
    assert got["secret"] == "sk-ant-mine"

    await backoffice.scope("workspace:w1", byok_enabled=False)  # scenario 6: credits resume
    got = await runtime.resolve("workspace:w1")
    assert (got["source"], got["secret"]) == ("platform", "sk-ant-platform")

    await backoffice.scope("workspace:w1", byok_enabled=True)
    await backoffice.account("acme", mode="credits_first")  # scenario 7
    got = await runtime.until(lambda d: d.get("source") == "platform", "workspace:w1")
    assert got["secret"] == "sk-ant-platform"
    await backoffice.credits("acme", -3, event=True)
    got = await runtime.until(is_byok_at("workspace:w1"), "workspace:w1")
    assert got["credits_paused"] is True


HOSTILE = [
    b"",
    b"not json",
    b"[]",
    b"null",
    b'{"account": "acme"}',
    b"\xff\xfe\x00",
    b"{" * 5000,
    b'{"account": "a.b", "chain": [{"type": "session", "id": "s1"}], "recipient_key": "AAAA"}',
    b'{"account": "acme", "chain": [{"type": "session", "id": ">"}], "recipient_key": "AAAA"}',
    b'{"account": "acme", "chain": [], "recipient_key": "AAAA"}',
    b'{"account": "acme", "chain": [{"type": "galaxy", "id": "x"}], "recipient_key": "AAAA"}',
    b'{"account": 1, "chain": [{"type": "session", "id": "s1"}], "recipient_key": "AAAA"}',
    b"x" * 70_000,
]


async def test_hostile_bodies_get_400_and_the_service_stays_up(
    backoffice: Backoffice, replicas: Any, runtime: Runtime, nc: NatsClient
) -> None:
    await backoffice.key("account:acme", "gemini", "AIza-mine")
    await replicas(1)
    for payload in HOSTILE:
        got = await runtime.raw(payload)
        assert (got["status"], got["code"], got["error"]) == ("error", 400, "malformed_request"), (
            payload
        )
    base = json.loads(runtime.body("account:acme"))
    for bad in (
        {**base, "extra": 1},
        {**base, "recipient_key": "AAAA"},
        {**base, "source": "free"},
        {**base, "provider": "mistral"},
        {**base, "model": "../../etc"},
        {**base, "chain": [{"type": "session", "id": "s" * 200}]},
        {**base, "chain": [{"type": "session", "id": "s"}] * 17},
    ):
        got = await runtime.raw(json.dumps(bad).encode())
        assert got["code"] == 400, bad
    good = await runtime.resolve("account:acme")
    assert good["secret"] == "AIza-mine"
    health = await nc.request(subjects.health("resolver"), b"{}", timeout=2)
    assert json.loads(health.data)["status"] == "ok"


async def test_queue_group_shares_load_and_every_replica_follows_removals(
    backoffice: Backoffice, replicas: Any, runtime: Runtime, key_source: InMemoryKeySource
) -> None:
    account = await backoffice.key("account:acme", "anthropic", "sk-ant-account")
    session = await backoffice.key("session:s1", "anthropic", "sk-ant-session")
    await replicas(3)
    answers = await asyncio.gather(
        *(runtime.resolve("session:s1", "account:acme") for _ in range(60))
    )
    assert {a["secret"] for a in answers} == {"sk-ant-session"}
    assert key_source.calls >= 2  # more than one replica answered (each fetched material)

    await backoffice.remove(session)
    answers = await asyncio.gather(
        *(runtime.resolve("session:s1", "account:acme") for _ in range(60))
    )
    assert {a["key_id"] for a in answers} == {account.key_id}


async def test_key_source_down_is_503_not_a_timeout(
    backoffice: Backoffice, replicas: Any, runtime: Runtime, key_source: InMemoryKeySource
) -> None:
    await backoffice.key("account:acme", "openai", "sk-x")
    await replicas(1)
    key_source.down = True
    got = await runtime.resolve("account:acme")
    assert (got["code"], got["error"]) == (503, "key_source_unavailable")


async def test_real_unseal_hop_over_nats(
    byok_settings: ByokSettings, backoffice: Backoffice, runtime: Runtime, nc: NatsClient
) -> None:
    """The NATS adapter: key material arrives sealed to the replica's own key, never in clear."""
    record = await backoffice.key("account:acme", "anthropic", "sk-ant-over-the-bus")
    seen: list[bytes] = []

    async def key_vault(msg: Msg) -> None:
        req = UnsealKey.model_validate_json(msg.data)
        sealed = seal(b"sk-ant-over-the-bus", req.recipient_key, subjects.INTERNAL_KEYS_UNSEAL)
        reply = KeyUnsealed(key_id=req.key_id, provider="anthropic", sealed_key=sealed, revision=1)
        await nc.publish(msg.reply, reply.model_dump_json().encode())

    async def spy(msg: Msg) -> None:
        seen.append(msg.data)

    await nc.subscribe(subjects.INTERNAL_KEYS_UNSEAL, cb=key_vault)
    await nc.subscribe(">", cb=spy)
    app = create_app(byok_settings, config=ResolverConfig(replica_id="real-hop"))
    async with running(app):
        got = await runtime.resolve("account:acme")
        assert (got["key_id"], got["secret"]) == (record.key_id, "sk-ant-over-the-bus")
        await nc.flush()
    assert seen
    assert not any(b"sk-ant-over-the-bus" in data for data in seen)


@pytest.mark.parametrize("payload", [b"{}", b"garbage"])
async def test_requests_without_reply_subject_are_ignored(
    replicas: Any, nc: NatsClient, runtime: Runtime, payload: bytes
) -> None:
    await replicas(1)
    await nc.publish(subjects.RESOLVE, payload)
    got = await runtime.resolve("session:s1")
    assert got["code"] == 404

"""Each client call sends its contract model and returns the typed reply."""

from __future__ import annotations

from typing import Any

import pytest
from nats.js import JetStreamContext

from byok_client import ByokClient, Resolution
from byok_contracts import Keypair, NotFound, open_configure, seal, subjects
from byok_contracts.v1 import Mode, UsageRecorded
from byok_shared.jetstream import STREAM_USAGE, ensure_jetstream

from .conftest import ScriptedByok

_SETTINGS = {"status": "ok", "scope": {"type": "agent", "id": "a1"}, "route": "metered"}


async def test_scope_settings_are_typed_and_sent_as_the_contract(
    byok: ScriptedByok, client: ByokClient
) -> None:
    await byok.reply(subjects.SCOPES_CONFIGURE, _SETTINGS)
    reply = await client.configure_scope("agent:a1", route="metered", read_only=False)
    assert reply.route == "metered"
    assert byok.received[subjects.SCOPES_CONFIGURE] == [
        {
            "scope": {"type": "agent", "id": "a1"},
            "read_only": False,
            "route": "metered",
            "account": "acme",
        }
    ]


async def test_account_policy_is_typed(byok: ScriptedByok, client: ByokClient) -> None:
    await byok.reply(
        subjects.ACCOUNTS_CONFIGURE, {"status": "ok", "account": "life", "mode": "credits_first"}
    )
    reply = await client.configure_account("life", mode=Mode.CREDITS_FIRST, actor="ops")
    assert reply.mode is Mode.CREDITS_FIRST
    assert byok.received[subjects.ACCOUNTS_CONFIGURE] == [
        {"account": "life", "mode": "credits_first", "actor": "ops"}
    ]


async def test_configure_seals_the_key_to_this_request(
    byok: ScriptedByok, client: ByokClient
) -> None:
    vault = Keypair.generate()
    await byok.reply(
        subjects.KEYS_PUBLIC_KEY,
        {"status": "ok", "public_key": vault.public_b64, "kid": vault.kid, "suite": "x"},
    )
    opened: list[str] = []

    async def configured(body: dict[str, Any]) -> dict[str, Any]:
        opened.append(
            open_configure(
                body["sealed_key"],
                vault.private_key,
                account=body.get("account"),
                scope=body["scope"],
                request_id=body.get("request_id"),
            )
        )
        return {
            "status": "configured",
            "provider": "anthropic",
            "key_id": "k1",
            "hint": "sk-ant-...wxyz",
            "model": "claude-sonnet-4-5",
            "scope": body["scope"],
        }

    await byok.answer(subjects.KEYS_CONFIGURE, configured)
    reply = await client.configure("workspace:w1", "sk-ant-the-key", provider="claude")
    assert (reply.key_id, opened) == ("k1", ["sk-ant-the-key"])
    (sent,) = byok.received[subjects.KEYS_CONFIGURE]
    assert sent["provider"] == "anthropic"
    assert sent["account"] == "acme"
    assert "sk-ant-the-key" not in str(sent)


def _resolved(recipient: str, key: bytes) -> dict[str, Any]:
    return {
        "status": "resolved",
        "source": "byok",
        "provider": "anthropic",
        "model": "claude-opus-4-5",
        "key_id": "k1",
        "scope": {"type": "workspace", "id": "w1"},
        "sealed_key": seal(key, recipient, subjects.RESOLVE),
        "credits_paused": True,
        "reason": "workspace key",
    }


async def test_resolve_returns_the_key_in_memory_only(
    byok: ScriptedByok, client: ByokClient
) -> None:
    async def resolver(body: dict[str, Any]) -> dict[str, Any]:
        if body["chain"][0]["type"] == "agent":
            return {
                "status": "error",
                "code": 404,
                "error": "no_key",
                "message": "No API key configured for this agent",
            }
        return _resolved(body["recipient_key"], b"sk-ant-the-secret")

    await byok.answer(subjects.RESOLVE, resolver)
    answer = await client.resolve("acme", ["session:s1", "workspace:w1"])
    assert isinstance(answer, Resolution)
    assert (answer.source, answer.provider, answer.key_id) == ("byok", "anthropic", "k1")
    assert answer.api_key == "sk-ant-the-secret"
    assert answer.credits_paused is True
    for shown in (repr(answer), str(answer), answer.model_dump_json()):
        assert "sk-ant-the-secret" not in shown

    with pytest.raises(NotFound) as caught:
        await client.resolve("acme", [{"type": "agent", "id": "a1"}], provider="openai")
    assert caught.value.message == "No API key configured for this agent"


async def test_resolve_per_account_asks_on_the_tenant_subject(
    byok: ScriptedByok, client: ByokClient
) -> None:
    async def resolver(body: dict[str, Any]) -> dict[str, Any]:
        return _resolved(body["recipient_key"], b"sk-x")

    await byok.answer(subjects.resolve_for("acme"), resolver)
    answer = await client.resolve("acme", ["workspace:w1"], per_account=True)
    assert answer.api_key == "sk-x"
    assert list(byok.received) == [subjects.resolve_for("acme")]


async def test_record_usage_publishes_once_per_request_id(
    byok: ScriptedByok, client: ByokClient, js: JetStreamContext
) -> None:
    await ensure_jetstream(js)

    async def resolver(body: dict[str, Any]) -> dict[str, Any]:
        return _resolved(body["recipient_key"], b"sk-openai")

    await byok.answer(subjects.RESOLVE, resolver)
    answer = await client.resolve("acme", ["workspace:w1"])
    for _ in range(2):  # a retry: deduplicated by Nats-Msg-Id
        request_id = await client.record_usage(
            "acme", ["workspace:w1"], answer, input_tokens=120, output_tokens=30, request_id="r1"
        )
        assert request_id == "r1"
    info = await js.stream_info(STREAM_USAGE)
    assert info.state.messages == 1
    msg = await js.get_msg(STREAM_USAGE, seq=1)
    event = UsageRecorded.model_validate_json(msg.data or b"")
    assert (event.source, event.provider, event.key_id) == ("byok", "anthropic", "k1")
    assert (msg.headers or {}).get("Nats-Msg-Id") == "acme:r1"


async def test_usage_and_ledger_calls_send_their_models(
    byok: ScriptedByok, client: ByokClient
) -> None:
    await byok.reply(
        subjects.LEDGER_BALANCE,
        {"status": "ok", "balance": 5, "mode": "byok_first", "credits_paused": False},
    )
    balance = await client.balance("acme")
    assert balance.balance == 5
    assert byok.received[subjects.LEDGER_BALANCE] == [{"account": "acme"}]

"""DESIGN.md section 9, end to end through ``ByokClient``: the key scenarios (1, 2, 3, 8
and 10: configure, reject, read-only, revocation, models). Routing and credits
(4, 5, 6, 7, 9): ``test_e2e_scenarios_routing.py``. One test per scenario.

All five services run in-process against a real nats-server with JetStream; the only
fakes are the LLM providers. Every scenario runs three times (the ``system`` fixture):
the ``local`` cipher, ``BYOK_CIPHER=vault`` against a real OpenBao (key-vault holding
only its limited token), and on a 3-node cluster at R3.
"""

from __future__ import annotations

import json

import pytest
from nats.js.errors import NoKeysError
from nats.js.kv import KeyValue

from byok_contracts import (
    Forbidden,
    KeyRejected,
    NotFound,
    Unprocessable,
    subjects,
)
from byok_shared.testing.system import System, events_on, key, one_event, until


async def _listed(kv: KeyValue) -> list[str]:
    """The bucket's keys. On the R3 cluster the listing's consumer may be placed on a
    replica that has not applied the acknowledged write yet: poll until it has."""

    async def keys() -> list[str]:
        try:
            return await kv.keys()
        except NoKeysError:
            return []

    return await until(keys, bool, timeout=10)


async def test_1_paste_an_anthropic_key_at_workspace_scope(system: System) -> None:
    secret = system.valid("anthropic", "one")
    configured = await events_on(system, subjects.EVENTS_KEYS_CONFIGURED)
    reply = await system.client.configure("workspace:acme", secret, actor="alice")
    assert reply.status == "configured"
    assert reply.provider == "anthropic"
    assert reply.model == "claude-sonnet-4-6"  # provider default (scenario 10)
    assert str(reply.scope) == "workspace:acme"
    assert secret not in reply.hint
    assert secret[13:-4] not in reply.hint
    assert len(reply.hint) < 16
    assert system.fake.calls(secret) == 1  # validated live
    (listed,) = await system.client.list_keys("workspace:acme")
    assert (listed.key_id, listed.state, listed.hint) == (reply.key_id, "active", reply.hint)
    kv = await system.client.nc.jetstream().key_value("byok-keys")
    (slot,) = await _listed(kv)
    stored = json.loads((await kv.get(slot)).value or b"{}")["ciphertext"]
    assert stored.startswith(f"{system.cipher}:v1:")  # encrypted by the chosen cipher
    event = await one_event(system, configured)
    assert event.key_id == reply.key_id
    assert event.revision > 0


async def test_2_rejected_and_reseller_keys_store_nothing(system: System) -> None:
    bad = system.fake.add_key(key("anthropic", "bad"), status="rejected")
    with pytest.raises(KeyRejected) as rejected:
        await system.client.configure("workspace:acme", bad)
    assert rejected.value.code == 401
    assert rejected.value.message == "Invalid anthropic key: invalid x-api-key"
    assert await system.client.list_keys("workspace:acme") == []
    before = system.fake.total_calls
    with pytest.raises(Unprocessable) as reseller:
        await system.client.configure("workspace:acme", "rk-reseller-0123456789abcdef")
    assert reseller.value.code == 422
    assert system.fake.total_calls == before  # no validation call for an unknown prefix
    # An explicit provider that does not match the key's prefix (claude = anthropic).
    with pytest.raises(KeyRejected) as mismatch:
        await system.client.configure(
            "workspace:acme", system.valid("openai", "mismatch"), provider="claude"
        )
    assert mismatch.value.message.startswith("Invalid anthropic key:")
    assert await system.client.list_keys("workspace:acme") == []


async def test_3_read_only_workspace_forbids_configure_and_remove(system: System) -> None:
    await system.configure("workspace:ro", "openai", "ro")
    settings = await system.client.configure_scope("workspace:ro", read_only=True)
    assert settings.read_only is True
    with pytest.raises(Forbidden) as configure:
        await system.client.configure("workspace:ro", system.valid("anthropic", "ro2"))
    with pytest.raises(Forbidden) as remove:
        await system.client.remove("workspace:ro", "openai")
    assert configure.value.code == remove.value.code == 403
    assert [k.provider for k in await system.client.list_keys("workspace:ro")] == ["openai"]
    await system.client.configure_scope("workspace:ro", read_only=False)
    assert (await system.client.remove("workspace:ro", "openai")).status == "removed"
    with pytest.raises(NotFound):
        await system.client.remove("workspace:ro", "openai")


async def test_8_revoked_key_falls_back_to_platform_credits(system: System) -> None:
    c = system.client
    platform = await system.platform_keys()
    await c.grant("bots", 1000, reason="monthly", idempotency_key="bots-1")
    secret = system.valid("openai", "revoke")
    configured = await c.configure("chatbot:helpdesk", secret, account="bots")
    chain = ["chatbot:helpdesk", "account:bots"]
    assert (await c.resolve("bots", chain, provider="openai")).key_id == configured.key_id

    revoked = await events_on(system, subjects.EVENTS_KEYS_REVOKED)
    system.fake.revoke(secret)  # the customer revoked it at the provider
    accepted = await c.report(configured.key_id, 401, "Incorrect API key provided")
    assert (accepted.status, accepted.outcome) == ("accepted", "revoked")
    assert [k.state for k in await c.list_keys("chatbot:helpdesk", account="bots")] == ["revoked"]
    event = await one_event(system, revoked)
    assert (event.event, event.key_id, event.state) == ("revoked", configured.key_id, "revoked")
    route = await c.resolve("bots", chain, provider="openai")  # the chatbot runs a GPT model
    assert (route.source, route.key_id) == ("platform", platform["openai"])
    await c.record_usage("bots", chain, route, input_tokens=20_000, output_tokens=1_000)
    await until(lambda: c.balance("bots"), lambda b: b.balance < 1000)
    with pytest.raises(NotFound):
        await c.report("key_unknown", 401)


async def test_8b_transient_provider_errors_never_revoke(system: System) -> None:
    c = system.client
    secret = system.valid("openai", "flaky")
    configured = await c.configure("chatbot:flaky", secret)
    # Transient codes never revoke, whatever the runtime says: not even re-validated.
    for code in (429, 500, 503):
        assert (await c.report(configured.key_id, code, "overloaded")).outcome == "ignored"
    # A 401 re-validates: a provider that is rate limited or says valid keeps the key.
    system.fake.set_status(secret, "rate_limited")
    assert (await c.report(configured.key_id, 401, "Rate limit reached")).outcome == "transient"
    system.fake.set_status(secret, "valid")
    assert (await c.report(configured.key_id, 401, "authentication_error")).outcome == "valid"
    assert [k.state for k in await c.list_keys("chatbot:flaky")] == ["active"]


async def test_10_models_default_override_and_outside_the_catalog(system: System) -> None:
    c = system.client
    default = await c.configure("account:m", system.valid("openai", "mdef"))
    assert default.model == "gpt-4o-mini"
    gemini = await c.configure("session:m-gem", system.valid("gemini", "mgem"))
    assert gemini.model == "gemini-3.1-flash-lite"
    openai = await c.configure("session:m-oai", system.valid("openai", "moai"), model="gpt-4.1")
    assert openai.model == "gpt-4.1"
    override = await c.configure(
        "account:m2", system.valid("anthropic", "mov"), model="claude-opus-4-5"
    )
    assert override.model == "claude-opus-4-5"
    with pytest.raises(Unprocessable, match="not allowed") as outside:
        await c.configure("workspace:m3", system.valid("openai", "mout"), model="gpt-2-turbo-max")
    assert (outside.value.code, outside.value.error) == (422, "model_not_allowed")

    assert (await c.resolve("m2", ["account:m2"])).model == "claude-opus-4-5"
    assert (
        await c.resolve("m2", ["account:m2"], model="claude-haiku-4-5")
    ).model == "claude-haiku-4-5"
    with pytest.raises(Unprocessable):
        await c.resolve("m2", ["account:m2"], model="gpt-2-turbo-max")

    # An account that allows custom models (Sessionist) may pick a free-text model id.
    await c.configure_account("indie", allow_custom_models=True)
    custom = await c.configure(
        "account:indie", system.valid("openai", "mind"), model="ft:gpt-4o-mini:indie:v1"
    )
    assert custom.model == "ft:gpt-4o-mini:indie:v1"
    other = await c.configure(
        "session:m-ind", system.valid("openai", "mind2"), model="ft:x:y", account="indie"
    )
    assert other.model == "ft:x:y"

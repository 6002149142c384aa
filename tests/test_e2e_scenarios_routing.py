"""DESIGN.md section 9, end to end through ``ByokClient``: routing and credits (scenarios
4, 5, 6, 7 and 9: scope precedence, per-agent routing, BYOK first, credits first,
usage). The key scenarios: ``test_e2e_scenarios.py``. One test per scenario, each on
the local cipher, a real OpenBao and a 3-node cluster (the ``system`` fixture).
"""

from __future__ import annotations

import pytest

from byok_contracts import (
    Catalog,
    CreditsExhausted,
    NotFound,
)
from byok_contracts.pricing import Pricing, credits_for
from byok_contracts.v1 import utcnow
from byok_shared.testing.system import System, key, until


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

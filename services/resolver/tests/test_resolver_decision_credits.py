"""The decision of DESIGN.md section 5, routing and credits: per-agent routing
(scenario 5), BYOK first with credits paused (scenario 6), credits first with BYOK
as overflow (scenario 7)."""

from __future__ import annotations

import pytest
from decision_world import World, pick, sessionist, sprintrr

from byok_contracts.v1 import KeyState
from byok_resolver.errors import (
    NoCredits,
    NoKeyConfigured,
    RouteMetered,
)

# --- scenario 5: per-agent routing (Waypath) ----------------------------------------


def waypath() -> World:
    w = World().credits(500).key("platform:default", "anthropic").key("platform:default", "openai")
    w.key("workspace:w1", "anthropic").key("workspace:w1", "openai")
    w.scope("agent:a1", route="byok:anthropic")
    w.scope("agent:a2", route="metered")
    w.scope("agent:a3", route="byok:openai")
    return w


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        ("agent:a1", ("byok", "workspace:w1", "anthropic")),
        ("agent:a2", ("platform", "platform:default", "anthropic")),
        ("agent:a3", ("byok", "workspace:w1", "openai")),
    ],
)
def test_each_agent_routes_independently(agent: str, expected: tuple[str, str, str]) -> None:
    d = waypath().resolve(agent, "workspace:w1", "account:acme")
    assert pick(d) == expected
    assert agent in d.reason


def test_removing_workspace_anthropic_key_falls_back_to_metered() -> None:
    w = waypath().drop("workspace:w1", "anthropic")
    assert pick(w.resolve("agent:a1", "workspace:w1")) == (
        "platform",
        "platform:default",
        "anthropic",
    )
    assert pick(w.resolve("agent:a3", "workspace:w1")) == ("byok", "workspace:w1", "openai")


def test_pin_overrides_requested_provider() -> None:
    d = waypath().resolve("agent:a1", "workspace:w1", provider="openai")
    assert d.key.provider == "anthropic"


def test_byok_pin_prefers_byok_even_in_credits_first() -> None:
    w = waypath().account(mode="credits_first")
    assert pick(w.resolve("agent:a1", "workspace:w1"))[0] == "byok"
    assert pick(w.resolve("workspace:w1"))[0] == "platform"


def test_metered_route_with_source_byok_is_403() -> None:
    with pytest.raises(RouteMetered) as caught:
        waypath().resolve("agent:a2", "workspace:w1", source="byok")
    assert caught.value.code == 403


def test_metered_without_credits_is_402() -> None:
    w = waypath().credits(0)
    with pytest.raises(NoCredits) as caught:
        w.resolve("agent:a2", "workspace:w1")
    assert caught.value.code == 402


def test_most_specific_pin_wins() -> None:
    w = waypath().scope("workspace:w1", route="metered")
    assert pick(w.resolve("agent:a1", "workspace:w1"))[0] == "byok"
    assert pick(w.resolve("agent:a9", "workspace:w1"))[0] == "platform"


# --- scenario 6: BYOK first, credits paused (sprintrr) -------------------------------


def test_byok_first_with_a_key_pauses_credits() -> None:
    d = sprintrr().resolve("account:acme")
    assert pick(d) == ("byok", "account:acme", "gemini")
    assert d.credits_paused is True
    assert d.model == "gemini-3.1-flash-lite"
    assert "byok_first" in d.reason


def test_disabling_byok_at_scope_resumes_credits() -> None:
    d = sprintrr().scope("account:acme", byok_enabled=False).resolve("account:acme")
    assert pick(d) == ("platform", "platform:default", "anthropic")
    assert d.credits_paused is False


def test_disabling_the_key_resumes_credits() -> None:
    w = sprintrr().key("account:acme", "gemini", state=KeyState.DISABLED)
    assert pick(w.resolve("account:acme"))[0] == "platform"


def test_byok_toggle_is_per_scope() -> None:
    w = sprintrr().key("session:s1", "openai").scope("account:acme", byok_enabled=False)
    assert pick(w.resolve("session:s1", "account:acme")) == ("byok", "session:s1", "openai")


def test_active_provider_picks_among_several_keys() -> None:
    w = sprintrr().key("account:acme", "openai").key("account:acme", "anthropic")
    assert w.resolve("account:acme").key.provider == "anthropic"  # fixed order without a choice
    w.scope("account:acme", active_provider="openai")
    assert w.resolve("account:acme").key.provider == "openai"
    assert w.resolve("account:acme", provider="gemini").key.provider == "gemini"


def test_active_provider_without_its_key_skips_the_scope() -> None:
    w = sprintrr().scope("account:acme", active_provider="openai")
    assert pick(w.resolve("account:acme"))[0] == "platform"


def test_no_platform_fallback_when_disabled() -> None:
    w = sprintrr().drop("account:acme", "gemini").account(platform_fallback=False)
    with pytest.raises(NoKeyConfigured):
        w.resolve("account:acme")


def test_fallback_without_balance_is_402() -> None:
    w = sprintrr().drop("account:acme", "gemini").credits(0)
    with pytest.raises(NoCredits) as caught:
        w.resolve("workspace:w1", "account:acme")
    assert "no API key configured for this workspace" in caught.value.message


def test_account_without_credit_record_has_no_platform() -> None:
    w = World().key("platform:default", "anthropic")
    with pytest.raises(NoCredits):
        w.resolve("session:s1")


# --- scenario 7: credits first, BYOK as overflow (Sessionist Lifetime) ------------------


def test_credits_first_uses_platform_while_credits_last() -> None:
    d = sessionist().resolve("session:s1", "user:u1")
    assert pick(d) == ("platform", "platform:default", "anthropic")
    assert d.credits_paused is False
    assert "credits_first" in d.reason


def test_credits_first_overflows_to_byok_when_spent() -> None:
    d = sessionist().credits(0).resolve("session:s1", "user:u1")
    assert pick(d) == ("byok", "user:u1", "anthropic")
    assert d.credits_paused is True
    assert "overflow" in d.reason


def test_credits_first_nothing_left_is_402() -> None:
    w = sessionist().credits(-5).drop("user:u1", "anthropic")
    with pytest.raises(NoCredits):
        w.resolve("session:s1", "user:u1")

"""The decision of DESIGN.md section 5 as a table of cases from the seeds: which scope
wins (scenario 4), source and plan eligibility, tenancy. Routing and credits:
``test_resolver_decision_credits.py``; models: ``test_resolver_decision_models.py``."""

from __future__ import annotations

import pytest
from decision_world import World, pick, sc, sessionist, sprintrr

from byok_contracts import WrongAccount
from byok_contracts.v1 import KeyState
from byok_resolver.domain import KeyEntry
from byok_resolver.errors import (
    ByokNotAllowed,
    NoCredits,
    NoKeyConfigured,
    NoPlatformKey,
)

# --- scenario 4: most specific scope wins (filepath, SiteSpeakAI) ------------------


def test_session_key_overrides_account_key() -> None:
    w = World().key("session:s1", "anthropic").key("account:acme", "anthropic")
    d = w.resolve("session:s1", "account:acme")
    assert pick(d) == ("byok", "session:s1", "anthropic")
    assert d.credits_paused is True
    assert "session:s1" in d.reason
    assert "most specific" in d.reason


def test_removing_session_key_reverts_to_account_key() -> None:
    w = World().key("session:s1", "anthropic").key("account:acme", "anthropic")
    w.drop("session:s1", "anthropic")
    assert pick(w.resolve("session:s1", "account:acme")) == ("byok", "account:acme", "anthropic")


def test_chatbot_over_account_over_platform() -> None:
    w = World().credits(100).key("platform:default", "openai")
    w.key("account:acme", "openai").key("chatbot:c1", "openai")
    chain = ("chatbot:c1", "account:acme")
    assert pick(w.resolve(*chain)) == ("byok", "chatbot:c1", "openai")
    w.drop("chatbot:c1", "openai")
    assert pick(w.resolve(*chain)) == ("byok", "account:acme", "openai")
    w.drop("account:acme", "openai")
    d = w.resolve(*chain)
    assert pick(d) == ("platform", "platform:default", "openai")
    assert d.credits_paused is False
    assert "platform fallback" in d.reason


def test_revoked_and_disabled_keys_are_not_candidates() -> None:
    w = World().key("session:s1", "anthropic", state=KeyState.REVOKED)
    w.key("workspace:w1", "anthropic", state=KeyState.DISABLED).key("account:acme", "anthropic")
    assert pick(w.resolve("session:s1", "workspace:w1", "account:acme"))[1] == "account:acme"


def test_platform_scope_in_chain_is_not_a_byok_candidate() -> None:
    w = World().key("platform:default", "anthropic")
    with pytest.raises(NoKeyConfigured):
        w.resolve("session:s1", "platform:default", source="byok")


@pytest.mark.parametrize(
    ("chain", "message"),
    [
        (("session:s1", "account:acme"), "No API key configured for this session"),
        (("workspace:w1", "account:acme"), "No API key configured for this workspace"),
        (("chatbot:c1",), "No API key configured for this chatbot"),
    ],
)
def test_no_key_404_names_the_first_scope_type(chain: tuple[str, ...], message: str) -> None:
    with pytest.raises(NoKeyConfigured) as caught:
        World().resolve(*chain)
    assert caught.value.code == 404
    assert caught.value.message == message
    assert caught.value.error == "no_key"


# --- source, plan eligibility ---------------------------------------------------------


def test_source_byok_takes_byok_or_404() -> None:
    w = sessionist()
    assert pick(w.resolve("user:u1", source="byok"))[0] == "byok"
    with pytest.raises(NoKeyConfigured):
        w.resolve("session:s2", source="byok")


def test_source_credits_takes_platform_or_402() -> None:
    w = sprintrr()
    assert pick(w.resolve("account:acme", source="credits"))[0] == "platform"
    with pytest.raises(NoCredits) as caught:
        w.credits(0).resolve("account:acme", source="credits")
    assert caught.value.code == 402


def test_source_credits_without_platform_key_is_404() -> None:
    with pytest.raises(NoPlatformKey):
        World().credits(5).resolve("account:acme", source="credits", provider="openai")


def test_plan_without_byok() -> None:
    w = sprintrr().account(plan="free", byok_allowed=False)
    d = w.resolve("account:acme")
    assert pick(d)[0] == "platform"
    assert "free" in d.reason
    with pytest.raises(ByokNotAllowed) as caught:
        w.resolve("account:acme", source="byok")
    assert caught.value.code == 403


def test_requested_provider_must_match() -> None:
    w = World().key("account:acme", "anthropic")
    with pytest.raises(NoKeyConfigured):
        w.resolve("account:acme", provider="openai")
    assert w.resolve("account:acme", provider="claude").key.provider == "anthropic"


# --- tenancy (issue 10, attack 3) ---------------------------------------------------


def test_a_chain_with_another_tenants_key_is_403() -> None:
    world = World().key("workspace:globex", "anthropic", owner="globex").credits(100)
    with pytest.raises(WrongAccount) as caught:
        world.resolve("workspace:globex")
    assert caught.value.code == 403
    assert caught.value.error == "wrong_account"


def test_an_account_that_does_not_exist_gets_no_tenants_key() -> None:
    world = World().key("workspace:globex", "anthropic", owner="globex")
    with pytest.raises(WrongAccount):
        world.resolve("workspace:globex", account="nobody")


def test_a_scope_owned_by_another_account_is_403_even_without_keys() -> None:
    world = World().key("platform:default", "anthropic").credits(100)
    world.loader.present(sc("workspace:globex"))
    world.cache.apply_owner("workspace:globex".replace(":", "."), "globex")
    with pytest.raises(WrongAccount):
        world.resolve("session:s1", "workspace:globex")


def test_a_key_without_a_known_owner_is_served_to_nobody() -> None:
    world = World()
    world.revision += 1
    where = sc("workspace:legacy")
    entry = KeyEntry("k-legacy", where, "anthropic", "", KeyState.ACTIVE, world.revision)
    world.loader.present(where)
    world.cache.apply_key(where, "anthropic", world.revision, entry)
    with pytest.raises(WrongAccount):
        world.resolve("workspace:legacy")


def test_platform_keys_serve_every_account() -> None:
    world = World().key("platform:default", "anthropic").credits(100, account="anyone")
    decision = world.resolve("session:s9", account="anyone")
    assert pick(decision) == ("platform", "platform:default", "anthropic")


def test_own_scopes_still_resolve() -> None:
    world = World().key("workspace:acme-ws", "openai")
    world.loader.present(sc("workspace:acme-ws"))
    world.cache.apply_owner("workspace.acme-ws", "acme")
    assert pick(world.resolve("workspace:acme-ws")) == ("byok", "workspace:acme-ws", "openai")

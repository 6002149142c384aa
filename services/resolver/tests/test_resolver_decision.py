"""The decision of DESIGN.md section 5 as a table of cases from the seeds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from byok_contracts import Catalog, Keypair, WrongAccount
from byok_contracts.v1 import AccountPolicy, KeyState, Resolve, Scope, ScopeSettings
from byok_resolver.adapters.memory import InMemoryStateLoader
from byok_resolver.cache import ResolverCache
from byok_resolver.domain import Decision, KeyEntry, decide
from byok_resolver.errors import (
    ByokNotAllowed,
    ModelNotAllowed,
    NoCredits,
    NoKeyConfigured,
    NoPlatformKey,
    RouteMetered,
)

CATALOG = Catalog.load()
RECIPIENT = Keypair.generate().public_b64


def sc(text: str) -> Scope:
    return Scope.parse(text)


@dataclass
class World:
    """A StateView built the way the feed builds it: on the real in-memory cache."""

    cache: ResolverCache = field(default_factory=ResolverCache)
    revision: int = 0

    def __post_init__(self) -> None:
        self.loader = InMemoryStateLoader(self.cache)

    def key(
        self,
        scope: str,
        provider: str,
        *,
        state: KeyState = KeyState.ACTIVE,
        model: str = "",
        owner: str = "acme",
    ) -> World:
        self.revision += 1
        where = sc(scope)
        key_id = f"k-{where.type.value}-{where.id}-{provider}"
        account = None if where.type.value == "platform" else owner
        entry = KeyEntry(key_id, where, provider, model, state, self.revision, account)
        self.loader.present(where)
        self.cache.apply_key(where, provider, self.revision, entry)
        return self

    def drop(self, scope: str, provider: str) -> World:
        self.revision += 1
        self.loader.present(sc(scope))
        self.cache.apply_key(sc(scope), provider, self.revision, None)
        return self

    def scope(self, scope: str, **values: Any) -> World:
        self.revision += 1
        settings = ScopeSettings(scope=sc(scope), **values)
        self.loader.present(sc(scope))
        self.cache.apply_settings(settings, self.revision, sc(scope))
        return self

    def account(self, account: str = "acme", **values: Any) -> World:
        self.revision += 1
        self.loader.present_account(account)
        self.cache.apply_policy(AccountPolicy(account=account, **values), self.revision, account)
        return self

    def credits(self, balance: int, account: str = "acme") -> World:
        self.loader.present_account(account)
        self.cache.apply_balance(account, balance, float(self.revision))
        return self

    def resolve(self, *chain: str, **fields: Any) -> Decision:
        body: dict[str, Any] = {
            "account": "acme",
            "chain": [{"type": s.split(":")[0], "id": s.split(":")[1]} for s in chain],
            "recipient_key": RECIPIENT,
        }
        body.update(fields)
        return decide(Resolve.model_validate(body, strict=False), self.cache, CATALOG)


def pick(d: Decision) -> tuple[str, str, str]:
    return d.source, str(d.key.scope), d.key.provider


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


def sprintrr() -> World:
    return World().credits(1000).key("platform:default", "anthropic").key("account:acme", "gemini")


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


def sessionist() -> World:
    w = World().account(mode="credits_first", plan="starter").credits(10)
    return w.key("platform:default", "anthropic").key("user:u1", "anthropic")


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


# --- scenario 10: model choice -------------------------------------------------------


def test_provider_default_model() -> None:
    assert World().key("account:acme", "anthropic").resolve("account:acme").model == (
        CATALOG.default_model("anthropic")
    )


def test_key_override_model() -> None:
    w = World().key("account:acme", "anthropic", model="claude-opus-4-5")
    d = w.resolve("account:acme")
    assert d.model == "claude-opus-4-5"
    assert "the key's model" in d.reason


def test_requested_curated_model_wins() -> None:
    w = World().key("account:acme", "anthropic", model="claude-opus-4-5")
    assert w.resolve("account:acme", model="claude-haiku-4-5").model == "claude-haiku-4-5"


def test_model_outside_catalog_is_422() -> None:
    w = World().key("account:acme", "anthropic")
    with pytest.raises(ModelNotAllowed) as caught:
        w.resolve("account:acme", model="claude-imaginary-9")
    assert caught.value.code == 422
    assert caught.value.error == "model_not_allowed"


def test_model_of_another_provider_is_422() -> None:
    w = World().key("account:acme", "anthropic")
    with pytest.raises(ModelNotAllowed):
        w.resolve("account:acme", provider="anthropic", model="gpt-4o")


def test_requested_model_selects_its_provider() -> None:
    w = World().key("account:acme", "anthropic").key("account:acme", "openai")
    d = w.resolve("account:acme", model="gpt-4.1")
    assert (d.key.provider, d.model) == ("openai", "gpt-4.1")


def test_custom_model_only_when_allowed() -> None:
    w = World().key("account:acme", "openai").account(allow_custom_models=True)
    d = w.resolve("account:acme", model="ft-gpt-4o:acme:2025")
    assert d.model == "ft-gpt-4o:acme:2025"
    assert "custom" in d.reason


def test_model_check_applies_to_platform_too() -> None:
    w = World().credits(5).key("platform:default", "gemini")
    assert w.resolve("account:acme", model="gemini-2.5-pro").model == "gemini-2.5-pro"
    with pytest.raises(ModelNotAllowed):
        w.resolve("account:acme", provider="gemini", model="gemini-0")


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

"""The resolve handler's one decision path, with the in-memory KeySource and loader (no NATS)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from byok_contracts import Catalog, Keypair, subjects
from byok_contracts.v1 import KeyState, Resolve, Scope
from byok_resolver import handlers
from byok_resolver.adapters.memory import InMemoryKeySource, InMemoryStateLoader
from byok_resolver.cache import ResolverCache, SecretCache
from byok_resolver.domain import KeyEntry
from byok_resolver.errors import KeySourceUnavailable, NoKeyConfigured, NotInSync
from byok_resolver.handlers import NOT_LOADED, Resolver
from byok_resolver.ports import Material

S1 = Scope.parse("session:s1")
ACME = Scope.parse("account:acme")


def entry(key_id: str, revision: int, scope: Scope = S1) -> KeyEntry:
    return KeyEntry(key_id, scope, "anthropic", "", KeyState.ACTIVE, revision, "acme")


class Flag:
    def __init__(self) -> None:
        self.fresh = True


class Setup:
    def __init__(self) -> None:
        self.secrets = SecretCache()
        self.cache = ResolverCache(on_key_change=self.secrets.drop)
        self.source = InMemoryKeySource()
        self.flag = Flag()
        self.loader = InMemoryStateLoader(self.cache)
        self.resolver = Resolver(
            self.cache, self.secrets, self.source, Catalog.load(), self.flag, loader=self.loader
        )
        self.runtime = Keypair.generate()

    def request(self, runtime: Keypair | None = None) -> Resolve:
        body = {
            "account": "acme",
            "chain": [{"type": "session", "id": "s1"}, {"type": "account", "id": "acme"}],
            "recipient_key": (runtime or self.runtime).public_b64,
        }
        return Resolve.model_validate_json(json.dumps(body))

    async def resolve(self, runtime: Keypair | None = None) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(await self.resolver.resolve(self.request(runtime)))
        return data

    def opened(self, data: dict[str, Any], runtime: Keypair | None = None) -> bytes:
        return (runtime or self.runtime).open(data["sealed_key"], subjects.RESOLVE)


@pytest.fixture
def s() -> Setup:
    setup = Setup()
    setup.loader.present(S1, ACME)
    return setup


async def test_material_is_fetched_once_and_sealed_once_per_recipient(s: Setup) -> None:
    s.cache.apply_key(S1, "anthropic", 1, entry("k1", 1))
    s.source.add("k1", "anthropic", b"sk-ant-one")
    assert s.resolver.reply(s.request()) is NOT_LOADED  # the account was never loaded
    first = await s.resolve()
    assert s.opened(first) == b"sk-ant-one"
    again = s.resolver.reply(s.request())
    assert isinstance(again, bytes)
    assert json.loads(again)["sealed_key"] == first["sealed_key"]
    other = Keypair.generate()
    third = s.resolver.reply(s.request(other))  # new recipient: sealed from material
    assert isinstance(third, bytes)
    assert other.open(json.loads(third)["sealed_key"], subjects.RESOLVE) == b"sk-ant-one"
    assert s.source.calls == 1


async def test_a_miss_decides_once_more_after_the_unseal(
    s: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    s.cache.apply_key(S1, "anthropic", 1, entry("k1", 1))
    s.source.add("k1", "anthropic", b"sk-ant-one")
    await s.loader.load(s.request())
    decisions = 0
    decide = handlers.decide

    def counting(*args: Any) -> Any:
        nonlocal decisions
        decisions += 1
        return decide(*args)

    monkeypatch.setattr(handlers, "decide", counting)
    miss = s.resolver.reply(s.request())
    assert decisions == 1
    assert not isinstance(miss, bytes)
    out = await s.resolver.complete(s.request(), miss)
    assert json.loads(out)["key_id"] == "k1"
    assert decisions == 2


async def test_a_cold_request_loads_its_scopes_then_decides() -> None:
    fresh = Setup()
    assert fresh.resolver.reply(fresh.request()) is NOT_LOADED
    with pytest.raises(NoKeyConfigured):  # loaded (empty here), then decided
        await fresh.resolve()
    assert fresh.loader.loads == 3  # session, account and platform scopes
    assert fresh.cache.present == (3, 1)


async def test_a_key_removed_while_unsealing_is_not_served(s: Setup) -> None:
    s.cache.apply_key(S1, "anthropic", 1, entry("k1", 1))
    s.cache.apply_key(ACME, "anthropic", 2, entry("k2", 2, scope=ACME))
    s.source.add("k1", "anthropic", b"sk-ant-session")
    s.source.add("k2", "anthropic", b"sk-ant-account")
    unseal = s.source.unseal

    async def unseal_while_removed(key_id: str) -> Material:
        if key_id == "k1":
            s.cache.apply_key_event(S1, "anthropic", "k1", "removed", None)
        await asyncio.sleep(0)
        return await unseal(key_id)

    s.source.unseal = unseal_while_removed  # type: ignore[method-assign]
    answer = await s.resolve()
    assert answer["key_id"] == "k2"
    assert s.opened(answer) == b"sk-ant-account"
    assert s.secrets.material("k1") is None  # never kept for a key that went meanwhile


async def test_a_replica_out_of_sync_refuses_with_503(s: Setup) -> None:
    s.cache.apply_key(S1, "anthropic", 1, entry("k1", 1))
    s.source.add("k1", "anthropic", b"sk-ant-one")
    await s.resolve()
    s.flag.fresh = False
    with pytest.raises(NotInSync) as caught:
        s.resolver.reply(s.request())
    assert caught.value.code == 503


async def test_key_source_down_is_a_503(s: Setup) -> None:
    s.cache.apply_key(S1, "anthropic", 1, entry("k1", 1))
    s.source.down = True
    with pytest.raises(KeySourceUnavailable):
        await s.resolve()


async def test_memoised_reply_follows_every_change(s: Setup) -> None:
    s.cache.apply_key(ACME, "anthropic", 1, entry("k1", 1, scope=ACME))
    s.source.add("k1", "anthropic", b"sk-ant-account")
    s.source.add("k2", "anthropic", b"sk-ant-session")
    await s.resolve()
    first = s.resolver.reply(s.request())
    assert isinstance(first, bytes)
    assert s.resolver.reply(s.request()) is first  # memo hit
    s.cache.apply_key(S1, "anthropic", 2, entry("k2", 2))  # a more specific key appears
    assert not isinstance(s.resolver.reply(s.request()), bytes)  # needs k2's material
    await s.resolve()
    second = s.resolver.reply(s.request())
    assert isinstance(second, bytes)
    assert json.loads(second)["key_id"] == "k2"
    s.cache.apply_key_event(S1, "anthropic", "k2", "removed", None)
    third = s.resolver.reply(s.request())
    assert isinstance(third, bytes)
    assert json.loads(third)["key_id"] == "k1"


async def test_an_evicted_scope_is_not_answered_from_the_memo() -> None:
    s = Setup()
    s.cache.max_scopes = 3  # the platform scope and the two of the chain
    s.source.add("k1", "anthropic", b"sk-ant-one")
    await s.loader.load(s.request())
    s.cache.apply_key(S1, "anthropic", 1, entry("k1", 1))
    assert (await s.resolve())["key_id"] == "k1"
    s.loader.present(Scope.parse("session:other"))  # evicts the older scopes
    assert s.resolver.reply(s.request()) is NOT_LOADED

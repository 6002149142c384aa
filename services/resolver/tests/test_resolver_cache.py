"""Caches and the resolve handler, with the in-memory KeySource (no NATS)."""

from __future__ import annotations

import asyncio
import json

import pytest

from byok_contracts import Catalog, Keypair, subjects
from byok_contracts.v1 import KeyState, Resolve, Scope
from byok_resolver.adapters.memory import InMemoryKeySource
from byok_resolver.cache import ResolverCache, SecretCache
from byok_resolver.domain import KeyEntry
from byok_resolver.errors import KeySourceUnavailable, NotInSync
from byok_resolver.handlers import Resolver
from byok_resolver.ports import Material

S1 = Scope.parse("session:s1")
ACME = Scope.parse("account:acme")


def entry(
    key_id: str, revision: int, state: KeyState = KeyState.ACTIVE, scope: Scope = S1
) -> KeyEntry:
    return KeyEntry(key_id, scope, "anthropic", "", state, revision, "acme")


# --- ResolverCache: revisions and the pending slot -------------------------------------


def test_older_revisions_are_ignored() -> None:
    cache = ResolverCache()
    assert cache.apply_key(S1, "anthropic", 5, entry("k5", 5))
    assert not cache.apply_key(S1, "anthropic", 4, entry("k4", 4))
    assert cache.entry(S1, "anthropic") == entry("k5", 5)


def test_negative_event_drops_at_once() -> None:
    dropped: list[str] = []
    cache = ResolverCache(on_key_change=dropped.append)
    cache.apply_key_event(S1, "anthropic", "k1", "configured", entry("k1", 3))  # event before watch
    assert cache.entry(S1, "anthropic") is not None
    assert cache.apply_key_event(S1, "anthropic", "k1", "removed", None) is True  # needs reconcile
    assert cache.entry(S1, "anthropic") is None
    assert dropped == ["k1"]


def test_a_lagging_watch_cannot_bring_a_removed_key_back() -> None:
    cache = ResolverCache()
    # This replica never saw k1 yet: its watch lags. The removal's sync arrives first.
    cache.apply_key_event(S1, "anthropic", "k1", "removed", None)
    cache.apply_key(S1, "anthropic", 3, entry("k1", 3))  # the configure, late
    assert cache.entry(S1, "anthropic") is None  # buffered, not applied
    cache.reconciled(S1, "anthropic", 4, None)  # KV says: deleted at rev 4
    assert cache.entry(S1, "anthropic") is None
    cache.apply_key(S1, "anthropic", 4, None)
    cache.apply_key(S1, "anthropic", 6, entry("k6", 6))  # a later configure still applies
    assert cache.entry(S1, "anthropic") == entry("k6", 6)


def test_writes_buffered_while_pending_are_kept_when_newer() -> None:
    cache = ResolverCache()
    cache.apply_key(S1, "anthropic", 3, entry("k1", 3))
    cache.apply_key_event(S1, "anthropic", "k1", "disabled", None)
    cache.apply_key(S1, "anthropic", 9, entry("k9", 9))  # arrives while the read is in flight
    cache.reconciled(S1, "anthropic", 8, entry("k1", 8, KeyState.DISABLED))
    assert cache.entry(S1, "anthropic") == entry("k9", 9)


def test_stale_removal_event_is_repaired_by_the_reconcile() -> None:
    cache = ResolverCache()
    cache.apply_key(S1, "anthropic", 7, entry("k1", 7))  # re-configured after an old removal
    cache.apply_key_event(S1, "anthropic", "k1", "removed", None)  # the old removal, late
    assert cache.entry(S1, "anthropic") is None  # safe side first
    cache.reconciled(S1, "anthropic", 7, entry("k1", 7))  # KV: the key is there
    assert cache.entry(S1, "anthropic") == entry("k1", 7)


def test_positive_events_apply_only_when_newer() -> None:
    cache = ResolverCache()
    cache.apply_key(S1, "anthropic", 5, entry("k5", 5))
    cache.apply_key_event(S1, "anthropic", "k4", "configured", entry("k4", 4))
    assert cache.entry(S1, "anthropic") == entry("k5", 5)
    cache.apply_key_event(S1, "anthropic", "k5", "enabled", entry("k5", 6))
    assert cache.entry(S1, "anthropic") == entry("k5", 6)


def test_balances_follow_the_newest_stamp() -> None:
    cache = ResolverCache()
    cache.apply_balance("acme", 10, 100.0)
    cache.apply_balance("acme", 50, 90.0)  # an older KV record after the event
    assert cache.balance("acme") == 10


# --- SecretCache -------------------------------------------------------------------------


def test_sealed_entries_expire_and_are_bounded() -> None:
    secrets = SecretCache(sealed_ttl=10.0, sealed_max=2)
    secrets.put_sealed("k1", 1, "r1", "blob1", now=0.0)
    secrets.put_sealed("k1", 1, "r2", "blob2", now=0.0)
    assert secrets.sealed("k1", 1, "r1", now=5.0) == "blob1"  # r1 now most recently used
    secrets.put_sealed("k2", 1, "r1", "blob3", now=5.0)
    assert len(secrets) == 2
    assert secrets.sealed("k1", 1, "r2", now=5.0) is None  # least recently used went
    assert secrets.sealed("k1", 1, "r1", now=10.0) is None  # expired
    assert secrets.sealed("k1", 2, "r1", now=5.0) is None  # another revision never matches


def test_drop_forgets_material_and_every_sealed_reply_of_a_key() -> None:
    secrets = SecretCache()
    secrets.put_material(Material("k1", "anthropic", 1, b"sk-ant-x"))
    secrets.put_sealed("k1", 1, "r1", "blob", now=0.0)
    secrets.put_sealed("k2", 1, "r1", "other", now=0.0)
    secrets.drop("k1")
    assert secrets.material("k1") is None
    assert secrets.sealed("k1", 1, "r1", now=0.0) is None
    assert secrets.sealed("k2", 1, "r1", now=0.0) == "other"


def test_material_never_shows_in_repr() -> None:
    material = Material("k1", "anthropic", 1, b"sk-ant-very-secret")
    assert "very-secret" not in repr(material)
    assert "very-secret" not in str(material)


# --- Resolver ---------------------------------------------------------------------------


class Flag:
    def __init__(self) -> None:
        self.fresh = True


def setup() -> tuple[ResolverCache, SecretCache, InMemoryKeySource, Resolver, Flag, Keypair]:
    secrets = SecretCache()
    cache = ResolverCache(on_key_change=secrets.drop)
    source = InMemoryKeySource()
    flag = Flag()
    resolver = Resolver(cache, secrets, source, Catalog.load(), flag)
    return cache, secrets, source, resolver, flag, Keypair.generate()


def request(runtime: Keypair) -> Resolve:
    body = {
        "account": "acme",
        "chain": [{"type": "session", "id": "s1"}, {"type": "account", "id": "acme"}],
        "recipient_key": runtime.public_b64,
    }
    return Resolve.model_validate_json(json.dumps(body))


async def test_material_is_fetched_once_and_sealed_once_per_recipient() -> None:
    cache, _, source, resolver, _, runtime = setup()
    cache.apply_key(S1, "anthropic", 1, entry("k1", 1))
    source.add("k1", "anthropic", b"sk-ant-one")
    assert resolver.resolve_cached(request(runtime)) is None  # nothing cached yet
    first = await resolver.resolve(request(runtime))
    assert runtime.open(first.sealed_key, subjects.RESOLVE) == b"sk-ant-one"
    again = resolver.resolve_cached(request(runtime))
    assert again is not None
    assert again.sealed_key == first.sealed_key
    other = Keypair.generate()
    third = resolver.resolve_cached(request(other))  # new recipient: sealed from material
    assert third is not None
    assert other.open(third.sealed_key, subjects.RESOLVE) == b"sk-ant-one"
    assert source.calls == 1


async def test_a_key_removed_while_unsealing_is_not_served() -> None:
    cache, _, source, resolver, _, runtime = setup()
    cache.apply_key(S1, "anthropic", 1, entry("k1", 1))
    cache.apply_key(ACME, "anthropic", 2, entry("k2", 2, scope=ACME))
    source.add("k1", "anthropic", b"sk-ant-session")
    source.add("k2", "anthropic", b"sk-ant-account")
    unseal = source.unseal

    async def unseal_while_removed(key_id: str) -> Material:
        if key_id == "k1":
            cache.apply_key_event(S1, "anthropic", "k1", "removed", None)
        await asyncio.sleep(0)
        return await unseal(key_id)

    source.unseal = unseal_while_removed  # type: ignore[method-assign]
    answer = await resolver.resolve(request(runtime))
    assert answer.key_id == "k2"
    assert runtime.open(answer.sealed_key, subjects.RESOLVE) == b"sk-ant-account"


async def test_a_replica_out_of_sync_refuses_with_503() -> None:
    cache, _, source, resolver, flag, runtime = setup()
    cache.apply_key(S1, "anthropic", 1, entry("k1", 1))
    source.add("k1", "anthropic", b"sk-ant-one")
    await resolver.resolve(request(runtime))
    flag.fresh = False
    with pytest.raises(NotInSync) as caught:
        resolver.resolve_cached(request(runtime))
    assert caught.value.code == 503


async def test_key_source_down_is_a_503() -> None:
    cache, _, source, resolver, _, runtime = setup()
    cache.apply_key(S1, "anthropic", 1, entry("k1", 1))
    source.down = True
    with pytest.raises(KeySourceUnavailable):
        await resolver.resolve(request(runtime))


async def test_memoised_reply_follows_every_change() -> None:
    cache, _, source, resolver, _, runtime = setup()
    cache.apply_key(ACME, "anthropic", 1, entry("k1", 1, scope=ACME))
    source.add("k1", "anthropic", b"sk-ant-account")
    source.add("k2", "anthropic", b"sk-ant-session")
    assert resolver.reply_cached(request(runtime)) is None
    await resolver.resolve(request(runtime))
    first = resolver.reply_cached(request(runtime))
    assert first is not None
    assert resolver.reply_cached(request(runtime)) is first  # memo hit
    cache.apply_key(S1, "anthropic", 2, entry("k2", 2))  # a more specific key appears
    assert resolver.reply_cached(request(runtime)) is None  # needs k2's material
    await resolver.resolve(request(runtime))
    second = resolver.reply_cached(request(runtime))
    assert second is not None
    assert json.loads(second)["key_id"] == "k2"
    cache.apply_key_event(S1, "anthropic", "k2", "removed", None)
    third = resolver.reply_cached(request(runtime))
    assert third is not None
    assert json.loads(third)["key_id"] == "k1"

"""Scopes and accounts present on first use, bounded, and the race of a load with the feed."""

from __future__ import annotations

from byok_contracts import Keypair
from byok_contracts.v1 import KeyState, Resolve, Scope, ScopeSettings
from byok_resolver.cache import ResolverCache
from byok_resolver.domain import KeyEntry

S1 = Scope.parse("session:s1")


def entry(key_id: str, revision: int, scope: Scope = S1) -> KeyEntry:
    return KeyEntry(key_id, scope, "anthropic", "", KeyState.ACTIVE, revision, "acme")


def load(cache: ResolverCache, scope: Scope, *keys: tuple[int, KeyEntry | None]) -> None:
    token = cache.begin_scope(scope)
    assert token is not None
    cache.finish_scope(token, (0, None), [("anthropic", rev, e) for rev, e in keys])


def test_changes_to_scopes_not_present_are_skipped() -> None:
    cache = ResolverCache()
    cache.apply_key(S1, "anthropic", 3, entry("k1", 3))
    cache.apply_settings(ScopeSettings(scope=S1, route="metered"), 4, S1)
    assert cache.present == (0, 0)
    assert cache.keys(S1) == {}
    load(cache, S1, (3, entry("k1", 3)))  # the load reads KV: it has them
    assert cache.entry(S1, "anthropic") == entry("k1", 3)


def test_a_newer_change_during_the_load_wins_over_the_read() -> None:
    cache = ResolverCache()
    token = cache.begin_scope(S1)
    assert token is not None
    cache.apply_key(S1, "anthropic", 9, entry("k9", 9))  # the feed, while the reads are out
    cache.finish_scope(token, (0, None), [("anthropic", 5, entry("k5", 5))])
    assert cache.entry(S1, "anthropic") == entry("k9", 9)


def test_a_change_the_read_already_saw_is_not_applied_twice() -> None:
    cache = ResolverCache()
    token = cache.begin_scope(S1)
    assert token is not None
    cache.finish_scope(token, (0, None), [("anthropic", 0, None)])  # read before the create
    cache.apply_key(S1, "anthropic", 4, entry("k4", 4))  # the create, after the read
    assert cache.entry(S1, "anthropic") == entry("k4", 4)


def test_a_removal_during_the_load_is_never_undone_by_the_read() -> None:
    cache = ResolverCache()
    token = cache.begin_scope(S1)
    assert token is not None
    # The read saw the key active; the removal's sync arrives before the read returns.
    assert cache.apply_key_event(S1, "anthropic", "k1", "removed", None) is True
    cache.finish_scope(token, (0, None), [("anthropic", 3, entry("k1", 3))])
    assert cache.entry(S1, "anthropic") is None  # buffered behind the pending slot
    cache.reconciled(S1, "anthropic", 4, None)
    assert cache.entry(S1, "anthropic") is None


def test_a_load_that_outlived_a_clear_is_dropped() -> None:
    cache = ResolverCache()
    token = cache.begin_scope(S1)
    assert token is not None
    cache.clear()  # a reconnect
    cache.finish_scope(token, (0, None), [("anthropic", 3, entry("k1", 3))])
    assert cache.present == (0, 0)


def test_scopes_are_bounded_least_recently_used_first() -> None:
    dropped: list[str] = []
    cache = ResolverCache(on_key_change=dropped.append, max_scopes=3)
    account = cache.begin_account("acme")
    assert account is not None
    cache.finish_account(account, (0, None), (0.0, None))
    scopes = [Scope.parse(f"session:s{n}") for n in range(5)]
    for n, scope in enumerate(scopes):
        load(cache, scope, (n + 1, entry(f"k{n}", n + 1, scope)))
        if n == 2:
            request = Resolve.model_validate(
                {"account": "acme", "chain": [{"type": "session", "id": "s0"}], "recipient_key": _R}
            )
            cache.covers(request)  # s0 used again: s1 is now the oldest
    assert cache.present[0] == 3
    assert cache.keys(scopes[0])  # kept: recently used
    assert not cache.keys(scopes[1])
    assert not cache.keys(scopes[2])
    assert dropped == ["k1", "k2"]  # their material goes with them


def test_a_scope_with_a_pending_slot_is_not_evicted() -> None:
    cache = ResolverCache(max_scopes=1)
    load(cache, S1, (1, entry("k1", 1)))
    cache.apply_key_event(S1, "anthropic", "k1", "disabled", None)  # pending until reconciled
    load(cache, Scope.parse("session:s2"))
    assert cache.present[0] == 2  # over the bound for as long as the reconcile runs
    cache.reconciled(S1, "anthropic", 2, None)
    load(cache, Scope.parse("session:s3"))
    assert cache.present[0] == 1


def test_loading_a_scope_again_bumps_the_generation() -> None:
    cache = ResolverCache(max_scopes=1)
    load(cache, S1)
    load(cache, Scope.parse("session:s2"))  # evicts S1
    before = cache.generation
    load(cache, S1)  # what memoised replies saw of S1 may have changed meanwhile
    assert cache.generation > before


_R = Keypair.generate().public_b64

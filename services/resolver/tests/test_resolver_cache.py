"""Caches and the resolve handler, with the in-memory KeySource (no NATS)."""

from __future__ import annotations

from byok_contracts.v1 import KeyState, Scope
from byok_resolver.adapters.memory import InMemoryStateLoader
from byok_resolver.cache import ResolverCache, SecretCache
from byok_resolver.domain import KeyEntry
from byok_resolver.ports import Material

S1 = Scope.parse("session:s1")
ACME = Scope.parse("account:acme")


def cached(*scopes: Scope) -> ResolverCache:
    """A cache where ``scopes`` (default S1) are present, as after their first load."""
    cache = ResolverCache()
    InMemoryStateLoader(cache).present(*(scopes or (S1,)))
    return cache


def entry(
    key_id: str, revision: int, state: KeyState = KeyState.ACTIVE, scope: Scope = S1
) -> KeyEntry:
    return KeyEntry(key_id, scope, "anthropic", "", state, revision, "acme")


# --- ResolverCache: revisions and the pending slot -------------------------------------


def test_older_revisions_are_ignored() -> None:
    cache = cached()
    assert cache.apply_key(S1, "anthropic", 5, entry("k5", 5))
    assert not cache.apply_key(S1, "anthropic", 4, entry("k4", 4))
    assert cache.entry(S1, "anthropic") == entry("k5", 5)


def test_negative_event_drops_at_once() -> None:
    dropped: list[str] = []
    cache = ResolverCache(on_key_change=dropped.append)
    InMemoryStateLoader(cache).present(S1)
    cache.apply_key_event(S1, "anthropic", "k1", "configured", entry("k1", 3))  # event before watch
    assert cache.entry(S1, "anthropic") is not None
    assert cache.apply_key_event(S1, "anthropic", "k1", "removed", None) is True  # needs reconcile
    assert cache.entry(S1, "anthropic") is None
    assert dropped == ["k1"]


def test_a_lagging_watch_cannot_bring_a_removed_key_back() -> None:
    cache = cached()
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
    cache = cached()
    cache.apply_key(S1, "anthropic", 3, entry("k1", 3))
    cache.apply_key_event(S1, "anthropic", "k1", "disabled", None)
    cache.apply_key(S1, "anthropic", 9, entry("k9", 9))  # arrives while the read is in flight
    cache.reconciled(S1, "anthropic", 8, entry("k1", 8, KeyState.DISABLED))
    assert cache.entry(S1, "anthropic") == entry("k9", 9)


def test_stale_removal_event_is_repaired_by_the_reconcile() -> None:
    cache = cached()
    cache.apply_key(S1, "anthropic", 7, entry("k1", 7))  # re-configured after an old removal
    cache.apply_key_event(S1, "anthropic", "k1", "removed", None)  # the old removal, late
    assert cache.entry(S1, "anthropic") is None  # safe side first
    cache.reconciled(S1, "anthropic", 7, entry("k1", 7))  # KV: the key is there
    assert cache.entry(S1, "anthropic") == entry("k1", 7)


def test_positive_events_apply_only_when_newer() -> None:
    cache = cached()
    cache.apply_key(S1, "anthropic", 5, entry("k5", 5))
    cache.apply_key_event(S1, "anthropic", "k4", "configured", entry("k4", 4))
    assert cache.entry(S1, "anthropic") == entry("k5", 5)
    cache.apply_key_event(S1, "anthropic", "k5", "enabled", entry("k5", 6))
    assert cache.entry(S1, "anthropic") == entry("k5", 6)


def test_balances_follow_the_newest_stamp() -> None:
    cache = ResolverCache()
    token = cache.begin_account("acme")
    assert token is not None
    cache.finish_account(token, (0, None), (float("-inf"), None))
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


# --- SecretCache: expiry on time, bounds ---------------------------------------------------


def test_material_expires_on_time_without_being_read() -> None:
    secrets = SecretCache(material_ttl=10.0, sealed_ttl=5.0)
    secrets.put_material(Material("k1", "anthropic", 1, b"sk-ant-x"), now=0.0)
    secrets.put_sealed("k1", 1, "r1", "blob", now=0.0)
    assert secrets.expire(now=4.0) == 0
    assert secrets.sizes == (1, 1)
    assert secrets.expire(now=5.0) == 1  # the sealed blob, never read again
    assert secrets.sizes == (1, 0)
    assert secrets.expire(now=10.0) == 1  # the material
    assert secrets.sizes == (0, 0)


def test_material_put_again_lives_from_its_last_put() -> None:
    secrets = SecretCache(material_ttl=10.0)
    secrets.put_material(Material("k1", "anthropic", 1, b"sk-ant-x"), now=0.0)
    secrets.put_material(Material("k1", "anthropic", 1, b"sk-ant-x"), now=8.0)
    assert secrets.expire(now=10.0) == 0
    assert secrets.material("k1", now=10.0) is not None
    assert secrets.expire(now=18.0) == 1


def test_material_is_bounded_least_recently_used_first() -> None:
    secrets = SecretCache(material_max=2)
    for n in range(3):
        secrets.put_material(Material(f"k{n}", "anthropic", 1, b"sk-ant-x"), now=0.0)
        if n == 1:
            assert secrets.material("k0", now=0.0) is not None  # k0 used: k1 is the oldest
    assert secrets.sizes[0] == 2
    assert secrets.material("k1", now=0.0) is None


def test_deadline_queues_stay_bounded_under_repeated_puts() -> None:
    secrets = SecretCache(material_max=4, sealed_max=4)
    for n in range(10_000):
        secrets.put_material(Material("k1", "anthropic", 1, b"sk-ant-x"), now=float(n))
        secrets.put_sealed("k1", 1, f"r{n % 7}", "blob", now=float(n))
    assert len(secrets._material_deadlines) <= 2 * 4 + 1024
    assert len(secrets._sealed_deadlines) <= 2 * 4 + 1024

"""The JetStream KV store's compare-and-set, on a real server: a lost race is a conflict."""

from __future__ import annotations

import pytest
from nats.js import JetStreamContext

from byok_contracts.v1 import KeyRecord, KeyState, Scope, utcnow
from byok_key_vault.adapters.jetstream import EXTRA_BUCKETS, KvKeyStore
from byok_key_vault.errors import StoreConflict
from byok_shared.jetstream import ensure_jetstream

SLOT = "workspace.acme.openai"


def record(model: str = "gpt-4o-mini") -> KeyRecord:
    now = utcnow()
    return KeyRecord(
        key_id="key_1",
        scope=Scope.parse("workspace:acme"),
        provider="openai",
        hint="sk-...abcd",
        fingerprint="f" * 64,
        model=model,
        state=KeyState.ACTIVE,
        ciphertext="local:v1:AAAA",
        created_at=now,
        updated_at=now,
    )


@pytest.fixture
async def store(js: JetStreamContext) -> KvKeyStore:
    await ensure_jetstream(js, extra_buckets=EXTRA_BUCKETS)
    return KvKeyStore(js)


async def test_delete_with_a_stale_revision_is_a_conflict(store: KvKeyStore) -> None:
    first = await store.create(SLOT, record())
    await store.update(SLOT, record("gpt-4.1"), first)  # someone else changed it
    with pytest.raises(StoreConflict):
        await store.delete(SLOT, first)
    current = await store.get(SLOT)
    assert current is not None
    assert current.value.model == "gpt-4.1"  # the lost race changed nothing


async def test_update_and_create_races_are_conflicts(store: KvKeyStore) -> None:
    first = await store.create(SLOT, record())
    with pytest.raises(StoreConflict):
        await store.create(SLOT, record())
    await store.update(SLOT, record("gpt-4.1"), first)
    with pytest.raises(StoreConflict):
        await store.update(SLOT, record("o3"), first)


async def test_delete_at_the_current_revision_removes_every_revision(
    store: KvKeyStore, js: JetStreamContext
) -> None:
    first = await store.create(SLOT, record())
    second = await store.update(SLOT, record("gpt-4.1"), first)
    await store.delete(SLOT, second)
    assert await store.get(SLOT) is None
    kv = await js.key_value("byok-keys")
    history = [e for e in await kv.history(SLOT) if e.value]
    assert history == []  # purged: no older ciphertext lingers


async def test_racing_first_writes_cannot_both_own_a_scope(
    store: KvKeyStore, js: JetStreamContext
) -> None:
    """Tenancy: 20 accounts claim one fresh scope at once; exactly one owns it, for all."""
    import asyncio

    from byok_key_vault.adapters.jetstream import KvOwnerStore

    owners = [KvOwnerStore(js) for _ in range(20)]  # as many replicas
    claims = await asyncio.gather(
        *(o.claim("workspace.contested", f"acct{i}") for i, o in enumerate(owners))
    )
    assert len(set(claims)) == 1
    winner = claims[0]
    assert await owners[5].get("workspace.contested") == winner
    assert await owners[7].claim("workspace.contested", "late") == winner

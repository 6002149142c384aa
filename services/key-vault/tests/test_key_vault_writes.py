"""The compare-and-set unit of work: a lost race reads and decides again, then gives up."""

from __future__ import annotations

import pytest

from byok_contracts.v1 import KeyRecord, KeyState, Scope, key_slot, utcnow
from byok_key_vault.adapters.memory import MemoryKeyStore
from byok_key_vault.errors import StoreConflict
from byok_key_vault.ports import Versioned
from byok_key_vault.writes import RETRIES, compare_and_set, write_slot

SCOPE = Scope.model_validate({"type": "workspace", "id": "acme"})
SLOT = key_slot(SCOPE, "anthropic")


def record(key_id: str, state: KeyState = KeyState.ACTIVE) -> KeyRecord:
    now = utcnow()
    return KeyRecord.model_validate(
        {
            "key_id": key_id,
            "scope": SCOPE,
            "provider": "anthropic",
            "hint": "sk-ant...abcd",
            "fingerprint": "f" * 16,
            "model": "",
            "state": state,
            "ciphertext": "v1:x",
            "created_at": now,
            "updated_at": now,
        }
    )


class RacingStore(MemoryKeyStore):
    """Another writer lands a new revision just before each of our first ``races`` updates."""

    def __init__(self, races: int) -> None:
        super().__init__()
        self.races = races
        self.reads = 0

    async def get(self, slot: str) -> Versioned[KeyRecord] | None:
        self.reads += 1
        return await super().get(slot)

    async def update(self, slot: str, value: KeyRecord, revision: int) -> int:
        if self.races > 0:
            self.races -= 1
            current = await super().get(slot)
            assert current is not None
            await super().update(slot, current.value, current.revision)
        return await super().update(slot, value, revision)


async def disable(store: RacingStore) -> int:
    async def read() -> Versioned[KeyRecord]:
        entry = await store.get(SLOT)
        assert entry is not None
        return entry

    async def write(entry: Versioned[KeyRecord]) -> int:
        changed = entry.value.model_copy(update={"state": KeyState.DISABLED})
        return await store.update(SLOT, changed, entry.revision)

    return await compare_and_set("anthropic key of this scope", read, write)


async def test_a_lost_race_reads_again_and_lands() -> None:
    store = RacingStore(races=RETRIES - 1)
    await store.create(SLOT, record("key_a"))
    revision = await disable(store)
    entry = await store.get(SLOT)
    assert entry is not None
    assert entry.revision == revision
    assert entry.value.state is KeyState.DISABLED
    assert store.reads == RETRIES + 1  # one read per attempt, plus the check above


async def test_a_slot_that_keeps_changing_gives_up_with_a_conflict() -> None:
    store = RacingStore(races=RETRIES)
    await store.create(SLOT, record("key_a"))
    with pytest.raises(StoreConflict) as caught:
        await disable(store)
    assert caught.value.code == 409
    assert "acme" not in caught.value.message  # the caller's scope is not echoed


async def test_write_slot_creates_without_a_read_then_updates_on_a_conflict() -> None:
    store = RacingStore(races=0)
    revision, written, replaced = await write_slot(
        store, SLOT, lambda existing: record("key_a"), "anthropic key of this scope"
    )
    assert (store.reads, replaced, written.key_id) == (0, None, "key_a")
    _, written, replaced = await write_slot(
        store, SLOT, lambda existing: record("key_b"), "anthropic key of this scope"
    )
    assert store.reads == 1
    assert replaced is not None
    assert (replaced.revision, replaced.value.key_id, written.key_id) == (
        revision,
        "key_a",
        "key_b",
    )

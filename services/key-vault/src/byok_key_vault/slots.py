"""Writing a key slot with compare-and-set, create first.

Most configures fill an empty slot, so the create is tried before any read:
one round trip instead of a read and a write. A slot that exists turns the
create into a conflict, and the loop reads it and updates from that revision.
"""

from __future__ import annotations

from collections.abc import Callable

from byok_contracts.v1 import KeyRecord

from .errors import StoreConflict
from .ports import KeyStore, Versioned

__all__ = ["write_slot"]

_RETRIES = 5

Existing = Versioned[KeyRecord] | None


async def write_slot(
    keys: KeyStore, slot: str, build: Callable[[Existing], KeyRecord], what: str
) -> tuple[int, KeyRecord, Existing]:
    """Store ``build(existing)`` at ``slot``; returns (revision, record, what it replaced)."""
    existing: Existing = None
    for _ in range(_RETRIES):
        record = build(existing)
        try:
            if existing is None:
                return await keys.create(slot, record), record, None
            return await keys.update(slot, record, existing.revision), record, existing
        except StoreConflict:
            existing = await keys.get(slot)
    raise StoreConflict(f"The {what} kept changing; try again")

"""Rewrapping every stored ciphertext after a cipher rotation, page by page, in parallel.

The slots come in pages (:meth:`~byok_key_vault.ports.KeyStore.slot_pages`), so no
listing cap or whole-bucket list stands between a rotation and the millionth key;
within a page up to ``in_flight`` slots are rewrapped at once. Each record is
rewritten with compare-and-set, so a configure or remove that races the rewrap
wins and the rewrap simply re-reads (or skips) that slot.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from .errors import StoreConflict
from .ports import Cipher, KeyStore

__all__ = ["rewrap_records"]

_RETRIES = 5


async def rewrap_records(keys: KeyStore, cipher: Cipher, *, in_flight: int = 64) -> Counter[str]:
    """Rewrap every record under the cipher's latest key: counts of each outcome."""
    counts: Counter[str] = Counter()
    gate = asyncio.Semaphore(in_flight)

    async def one(slot: str) -> None:
        async with gate:
            counts[await _rewrap(keys, cipher, slot)] += 1

    async for page in keys.slot_pages():
        await asyncio.gather(*(one(slot) for slot in page))
    return counts


async def _rewrap(keys: KeyStore, cipher: Cipher, slot: str) -> str:
    for _ in range(_RETRIES):
        entry = await keys.get(slot)
        if entry is None:
            return "gone"
        fresh = await cipher.rewrap(entry.value.ciphertext, entry.value.scope.key)
        if fresh == entry.value.ciphertext:
            return "unchanged"
        try:
            await keys.update(
                slot, entry.value.model_copy(update={"ciphertext": fresh}), entry.revision
            )
        except StoreConflict:
            continue
        return "rewrapped"
    raise StoreConflict(f"{slot} kept changing during the rewrap")

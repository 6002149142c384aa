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

from byok_contracts.v1 import KeyRecord

from .ports import Cipher, KeyStore, Versioned
from .writes import compare_and_set

__all__ = ["rewrap_records"]


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
    async def read() -> Versioned[KeyRecord] | None:
        return await keys.get(slot)

    async def rewrap(entry: Versioned[KeyRecord] | None) -> str:
        if entry is None:
            return "gone"
        fresh = await cipher.rewrap(entry.value.ciphertext, entry.value.scope.key)
        if fresh == entry.value.ciphertext:
            return "unchanged"
        record = entry.value.model_copy(update={"ciphertext": fresh})
        await keys.update(slot, record, entry.revision)
        return "rewrapped"

    return await compare_and_set("record being rewrapped", read, rewrap)

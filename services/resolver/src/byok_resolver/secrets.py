"""Key material unsealed to this replica, and reply-ready sealed blobs: timed and bounded.

- Material per ``key_id`` lives at most ``material_ttl`` seconds and at most
  ``material_max`` keys are held (least recently used dropped first).
- Sealed blobs per ``(key_id, revision, recipient_key)`` live at most
  ``sealed_ttl`` seconds, at most ``sealed_max`` of them.

Expiry is enforced on time, not only when an entry is read again: every entry
also sits in a deadline queue (one TTL per kind, so insertion order is expiry
order) and :meth:`SecretCache.expire` drops everything past its deadline. The
resolver app calls it from a timer (:meth:`SecretCache.run_expiry`); reads check
the deadline too, so nothing is served late between two ticks. Any change to a
key drops both kinds for its ``key_id`` synchronously (:meth:`SecretCache.drop`).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import TypeVar

from .ports import Material

__all__ = ["SecretCache"]

_SealedKey = tuple[str, int, str]
K = TypeVar("K")


@dataclass(slots=True)
class _Timed:
    expires: float
    value: object


class SecretCache:
    """Material per key and sealed blobs per (key, revision, recipient), bounded and timed."""

    def __init__(
        self,
        *,
        material_ttl: float = 300.0,
        material_max: int = 10_000,
        sealed_ttl: float = 300.0,
        sealed_max: int = 10_000,
    ) -> None:
        self.material_ttl = material_ttl
        self.material_max = material_max
        self.sealed_ttl = sealed_ttl
        self.sealed_max = sealed_max
        self._material: OrderedDict[str, _Timed] = OrderedDict()
        self._sealed: OrderedDict[_SealedKey, _Timed] = OrderedDict()
        self._by_key: dict[str, set[_SealedKey]] = {}
        self._material_deadlines: deque[tuple[float, str]] = deque()
        self._sealed_deadlines: deque[tuple[float, _SealedKey]] = deque()

    # --- material ----------------------------------------------------------------

    def material(self, key_id: str, now: float | None = None) -> Material | None:
        item = self._material.get(key_id)
        if item is None:
            return None
        if item.expires <= (time.monotonic() if now is None else now):
            del self._material[key_id]
            return None
        self._material.move_to_end(key_id)
        assert isinstance(item.value, Material)
        return item.value

    def put_material(self, material: Material, now: float | None = None) -> None:
        expires = (time.monotonic() if now is None else now) + self.material_ttl
        self._material[material.key_id] = _Timed(expires, material)
        self._material.move_to_end(material.key_id)
        self._material_deadlines.append((expires, material.key_id))
        while len(self._material) > self.material_max:
            self._material.popitem(last=False)
        if len(self._material_deadlines) > 2 * self.material_max + 1024:
            self._material_deadlines = _compacted(self._material)

    # --- sealed blobs ------------------------------------------------------------

    def sealed(self, key_id: str, revision: int, recipient: str, now: float) -> str | None:
        cache_key = (key_id, revision, recipient)
        item = self._sealed.get(cache_key)
        if item is None:
            return None
        if item.expires <= now:
            self._forget(cache_key)
            return None
        self._sealed.move_to_end(cache_key)
        assert isinstance(item.value, str)
        return item.value

    def sealed_until(self, key_id: str, revision: int, recipient: str) -> float:
        """When the sealed blob of this key and recipient expires (0 when not held)."""
        item = self._sealed.get((key_id, revision, recipient))
        return item.expires if item is not None else 0.0

    def put_sealed(
        self, key_id: str, revision: int, recipient: str, sealed: str, now: float
    ) -> None:
        cache_key = (key_id, revision, recipient)
        expires = now + self.sealed_ttl
        self._sealed[cache_key] = _Timed(expires, sealed)
        self._sealed.move_to_end(cache_key)
        self._sealed_deadlines.append((expires, cache_key))
        self._by_key.setdefault(key_id, set()).add(cache_key)
        while len(self._sealed) > self.sealed_max:
            self._forget(next(iter(self._sealed)))
        if len(self._sealed_deadlines) > 2 * self.sealed_max + 1024:
            self._sealed_deadlines = _compacted(self._sealed)

    def _forget(self, cache_key: _SealedKey) -> None:
        self._sealed.pop(cache_key, None)
        keys = self._by_key.get(cache_key[0])
        if keys is not None:
            keys.discard(cache_key)
            if not keys:
                del self._by_key[cache_key[0]]

    # --- expiry and invalidation -------------------------------------------------

    def expire(self, now: float | None = None) -> int:
        """Drop every entry past its deadline; returns how many went."""
        now = time.monotonic() if now is None else now
        dropped = 0
        deadlines = self._material_deadlines
        while deadlines and deadlines[0][0] <= now:
            expires, key_id = deadlines.popleft()
            item = self._material.get(key_id)
            if item is not None and item.expires <= expires:
                del self._material[key_id]
                dropped += 1
        sealed = self._sealed_deadlines
        while sealed and sealed[0][0] <= now:
            expires, cache_key = sealed.popleft()
            held = self._sealed.get(cache_key)
            if held is not None and held.expires <= expires:
                self._forget(cache_key)
                dropped += 1
        return dropped

    async def run_expiry(self, every: float = 1.0) -> None:
        """Expire on a timer until cancelled."""
        while True:
            await asyncio.sleep(every)
            self.expire()

    def drop(self, key_id: str) -> None:
        """Forget everything held for ``key_id`` (any change to the key)."""
        self._material.pop(key_id, None)
        for cache_key in self._by_key.pop(key_id, set()):
            self._sealed.pop(cache_key, None)

    def clear(self) -> None:
        self._material.clear()
        self._sealed.clear()
        self._by_key.clear()
        self._material_deadlines.clear()
        self._sealed_deadlines.clear()

    @property
    def sizes(self) -> tuple[int, int]:
        """How many materials and sealed blobs are held."""
        return len(self._material), len(self._sealed)

    def __len__(self) -> int:
        return len(self._sealed)


def _compacted(held: OrderedDict[K, _Timed]) -> deque[tuple[float, K]]:
    """The deadlines of what is held, in order (a re-put or a drop leaves stale ones behind)."""
    return deque(sorted(((item.expires, key) for key, item in held.items()), key=lambda d: d[0]))

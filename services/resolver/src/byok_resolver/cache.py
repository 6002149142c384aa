"""The resolver's in-memory state: what the decision reads and what makes a reply fast.

Two layers, both rebuilt from NATS by any replica:

- :class:`ResolverCache` holds key entries (no ciphertext), scope settings,
  account policies and balances, applied from KV watches, events and freshness
  syncs with revision checks. It is the :class:`~byok_resolver.domain.StateView`.
- :class:`SecretCache` holds, per key, the material key-vault unsealed to this
  replica (TTL ``material_ttl``) and the reply-ready sealed blob per
  ``(key_id, revision, recipient_key)`` (TTL ``sealed_ttl``, at most
  ``sealed_max`` entries, least recently used dropped first). Any change
  to a key drops both for its ``key_id`` synchronously.

Freshness of keys against a lagging KV watch: a negative change (removed,
disabled, revoked) seen on an event or a sync drops the slot's entry at once and
marks the slot *pending*; watch entries for a pending slot are buffered, not
applied, until a direct KV read (the reconcile) tells the slot's latest state.
So a watch that still delivers the key's older, active revision cannot bring it
back.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from byok_contracts.v1 import AccountPolicy, KeyState, Scope, ScopeSettings

from .domain import KeyEntry
from .ports import Material

__all__ = ["ResolverCache", "SecretCache", "slot_key"]

_EMPTY: Mapping[str, KeyEntry] = {}


def slot_key(scope: Scope, provider: str) -> str:
    """The KV key of a key record: ``<scope.type>.<scope.id>.<provider>``."""
    return f"{scope.key}.{provider}"


@dataclass
class _Slot:
    revision: int = 0
    pending: int = 0
    buffered: list[tuple[int, KeyEntry | None]] = field(default_factory=list)


@dataclass
class _Versioned:
    revision: int
    stamp: float


class ResolverCache:
    """Keys, settings, policies and balances, with the revisions they came from."""

    def __init__(self, on_key_change: Callable[[str], None] | None = None) -> None:
        self._on_key_change = on_key_change
        self.generation = 0
        """Bumped on every change; a handler that awaited re-decides when it moved."""
        self._reset()

    def _reset(self) -> None:
        self._keys: dict[str, dict[str, KeyEntry]] = {}
        self._slots: dict[str, _Slot] = {}
        self._settings: dict[str, ScopeSettings] = {}
        self._settings_rev: dict[str, int] = {}
        self._policies: dict[str, AccountPolicy] = {}
        self._policies_rev: dict[str, int] = {}
        self._balances: dict[str, int] = {}
        self._balance_stamp: dict[str, float] = {}
        self._owners: dict[str, str] = {}

    # --- StateView ---------------------------------------------------------------

    def settings(self, scope: Scope) -> ScopeSettings | None:
        return self._settings.get(scope.key)

    def keys(self, scope: Scope) -> Mapping[str, KeyEntry]:
        return self._keys.get(scope.key, _EMPTY)

    def policy(self, account: str) -> AccountPolicy | None:
        return self._policies.get(account)

    def balance(self, account: str) -> int | None:
        return self._balances.get(account)

    def owner(self, scope: Scope) -> str | None:
        return self._owners.get(scope.key)

    def apply_owner(self, scope_key: str, account: str | None) -> None:
        """Owner of a scope from ``byok-owners`` (fixed by the first write)."""
        if account is None:
            self._owners.pop(scope_key, None)
        else:
            self._owners[scope_key] = account
        self.generation += 1

    # --- keys --------------------------------------------------------------------

    def entry(self, scope: Scope, provider: str) -> KeyEntry | None:
        return self._keys.get(scope.key, _EMPTY).get(provider)

    def _set(self, scope: Scope, provider: str, entry: KeyEntry | None) -> None:
        held = self._keys.get(scope.key, {}).get(provider)
        if entry is None:
            providers = self._keys.get(scope.key)
            if providers is not None:
                providers.pop(provider, None)
                if not providers:
                    del self._keys[scope.key]
        else:
            self._keys.setdefault(scope.key, {})[provider] = entry
        self.generation += 1
        changed = held is not None and (entry is None or entry != held)
        if changed and held is not None and self._on_key_change is not None:
            self._on_key_change(held.key_id)

    def apply_key(self, scope: Scope, provider: str, revision: int, entry: KeyEntry | None) -> bool:
        """Apply an authoritative KV entry (watch): newer revisions only; buffered while pending."""
        slot = self._slots.setdefault(slot_key(scope, provider), _Slot())
        if slot.pending:
            slot.buffered.append((revision, entry))
            return False
        if revision <= slot.revision:
            return False
        slot.revision = revision
        self._set(scope, provider, entry)
        return True

    def apply_key_event(
        self, scope: Scope, provider: str, key_id: str, event: str, entry: KeyEntry | None
    ) -> bool:
        """Apply a key event or sync. Returns True when the slot needs a reconcile read.

        Negative events drop at once and leave the slot pending; positive ones
        apply when their revision is newer than what the slot holds.
        """
        slot = self._slots.setdefault(slot_key(scope, provider), _Slot())
        if event in ("removed", "disabled", "revoked"):
            held = self.entry(scope, provider)
            if held is not None and held.key_id == key_id:
                self._set(scope, provider, None)
            elif self._on_key_change is not None:
                self._on_key_change(key_id)
            slot.pending += 1
            return True
        if entry is not None and not slot.pending and entry.revision > slot.revision:
            slot.revision = entry.revision
            self._set(scope, provider, entry)
        return False

    def reconciled(
        self, scope: Scope, provider: str, revision: int | None, entry: KeyEntry | None
    ) -> None:
        """The result of a direct KV read of a pending slot (``revision`` None: read failed)."""
        slot = self._slots.setdefault(slot_key(scope, provider), _Slot())
        if revision is not None and revision >= slot.revision:
            slot.revision = revision
            self._set(scope, provider, entry)
        slot.pending = max(0, slot.pending - 1)
        if slot.pending == 0 and slot.buffered:
            buffered, slot.buffered = slot.buffered, []
            for rev, buffered_entry in buffered:
                if rev > slot.revision:
                    slot.revision = rev
                    self._set(scope, provider, buffered_entry)

    def still_serves(self, key: KeyEntry) -> bool:
        """Is ``key`` still the usable entry of its slot (checked after every await)?"""
        held = self.entry(key.scope, key.provider)
        return held is not None and held.key_id == key.key_id and held.state is KeyState.ACTIVE

    # --- settings, policies, credits ---------------------------------------------

    def apply_settings(self, settings: ScopeSettings | None, revision: int, scope: Scope) -> None:
        """``revision`` 0 (an event without one) always applies."""
        if revision and revision <= self._settings_rev.get(scope.key, 0):
            return
        if revision:
            self._settings_rev[scope.key] = revision
        if settings is None:
            self._settings.pop(scope.key, None)
        else:
            self._settings[scope.key] = settings
        self.generation += 1

    def apply_policy(self, policy: AccountPolicy | None, revision: int, account: str) -> None:
        if revision and revision <= self._policies_rev.get(account, 0):
            return
        if revision:
            self._policies_rev[account] = revision
        if policy is None:
            self._policies.pop(account, None)
        else:
            self._policies[account] = policy
        self.generation += 1

    def apply_balance(self, account: str, balance: int | None, stamp: float) -> None:
        """Latest by time: a KV record and a credits event race, the newer wins."""
        if stamp < self._balance_stamp.get(account, float("-inf")):
            return
        self._balance_stamp[account] = stamp
        if balance is None:
            self._balances.pop(account, None)
        else:
            self._balances[account] = balance
        self.generation += 1

    def clear(self) -> None:
        """Forget everything (before a full reload)."""
        held = [e.key_id for providers in self._keys.values() for e in providers.values()]
        self._reset()
        self.generation += 1
        if self._on_key_change is not None:
            for key_id in held:
                self._on_key_change(key_id)


@dataclass
class _Sealed:
    expires: float
    sealed: str


class SecretCache:
    """Material per key and sealed blobs per (key, revision, recipient), bounded and timed."""

    def __init__(
        self, *, material_ttl: float = 300.0, sealed_ttl: float = 300.0, sealed_max: int = 10_000
    ) -> None:
        self.material_ttl = material_ttl
        self.sealed_ttl = sealed_ttl
        self.sealed_max = sealed_max
        self._material: dict[str, tuple[float, Material]] = {}
        self._sealed: OrderedDict[tuple[str, int, str], _Sealed] = OrderedDict()
        self._by_key: dict[str, set[tuple[str, int, str]]] = {}

    def material(self, key_id: str, now: float | None = None) -> Material | None:
        item = self._material.get(key_id)
        if item is None:
            return None
        if item[0] <= (time.monotonic() if now is None else now):
            del self._material[key_id]
            return None
        return item[1]

    def put_material(self, material: Material, now: float | None = None) -> None:
        stamp = time.monotonic() if now is None else now
        self._material[material.key_id] = (stamp + self.material_ttl, material)

    def sealed(self, key_id: str, revision: int, recipient: str, now: float) -> str | None:
        cache_key = (key_id, revision, recipient)
        item = self._sealed.get(cache_key)
        if item is None:
            return None
        if item.expires <= now:
            self._forget(cache_key)
            return None
        self._sealed.move_to_end(cache_key)
        return item.sealed

    def sealed_until(self, key_id: str, revision: int, recipient: str) -> float:
        """When the sealed blob of this key and recipient expires (0 when not held)."""
        item = self._sealed.get((key_id, revision, recipient))
        return item.expires if item is not None else 0.0

    def put_sealed(
        self, key_id: str, revision: int, recipient: str, sealed: str, now: float
    ) -> None:
        cache_key = (key_id, revision, recipient)
        self._sealed[cache_key] = _Sealed(now + self.sealed_ttl, sealed)
        self._sealed.move_to_end(cache_key)
        self._by_key.setdefault(key_id, set()).add(cache_key)
        while len(self._sealed) > self.sealed_max:
            self._forget(next(iter(self._sealed)))

    def _forget(self, cache_key: tuple[str, int, str]) -> None:
        self._sealed.pop(cache_key, None)
        keys = self._by_key.get(cache_key[0])
        if keys is not None:
            keys.discard(cache_key)
            if not keys:
                del self._by_key[cache_key[0]]

    def drop(self, key_id: str) -> None:
        """Forget everything held for ``key_id`` (any change to the key)."""
        self._material.pop(key_id, None)
        for cache_key in self._by_key.pop(key_id, set()):
            self._sealed.pop(cache_key, None)

    def clear(self) -> None:
        self._material.clear()
        self._sealed.clear()
        self._by_key.clear()

    def __len__(self) -> int:
        return len(self._sealed)

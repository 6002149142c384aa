"""The resolver's view of stored state: only the scopes and accounts it serves.

:class:`ResolverCache` is the :class:`~byok_resolver.domain.StateView`. It does
not hold every key of every tenant: a scope (its settings and its keys) or an
account (its policy and balance) is *present* once a request needed it, and
least recently used entries go first beyond ``max_scopes``/``max_accounts``.
Memory follows what this replica serves, not what is stored.

Lifecycle of a present entry, with every source revision-checked:

1. :meth:`begin_scope` / :meth:`begin_account` mark it *loading*. From then on
   the feed (KV updates, events, freshness syncs) applies to it.
2. The loader reads KV (O(1) gets) and hands the result to :meth:`finish_scope`
   / :meth:`finish_account`, which apply it like any other source: a newer
   revision seen on the feed meanwhile wins.
3. Changes for scopes and accounts that are not present are ignored: a later
   load reads KV, and KV is written before any event or sync is sent.

Freshness of keys against a lagging feed: a negative change (removed,
disabled, revoked) seen on an event or a sync drops the slot's entry at once and
marks the slot *pending*; other entries for a pending slot (a lagging KV
update, a load in flight) are buffered, not applied, until a direct KV read
(the reconcile) tells the slot's latest state. A scope with a pending slot or a
load in flight is never evicted.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from byok_contracts.v1 import AccountPolicy, KeyState, Resolve, Scope, ScopeSettings

from .domain import PLATFORM, KeyEntry
from .secrets import SecretCache

__all__ = ["AccountLoad", "ResolverCache", "ScopeLoad", "SecretCache"]

_EMPTY: Mapping[str, KeyEntry] = {}
_NEGATIVE = ("removed", "disabled", "revoked")


@dataclass(slots=True)
class _Slot:
    revision: int = 0
    pending: int = 0
    buffered: list[tuple[int, KeyEntry | None]] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class ScopeLoad:
    """One present scope; also the token a loader hands back to :meth:`finish_scope`."""

    scope: Scope
    loaded: bool = False
    settings: ScopeSettings | None = None
    settings_rev: int = 0
    owner: str | None = None
    keys: dict[str, KeyEntry] = field(default_factory=dict)
    slots: dict[str, _Slot] = field(default_factory=dict)

    @property
    def evictable(self) -> bool:
        return self.loaded and not any(slot.pending for slot in self.slots.values())


@dataclass(slots=True, eq=False)
class AccountLoad:
    account: str
    loaded: bool = False
    policy: AccountPolicy | None = None
    policy_rev: int = 0
    balance: int | None = None
    balance_stamp: float = float("-inf")


class ResolverCache:
    """Present scopes and accounts, with the revisions they came from."""

    def __init__(
        self,
        on_key_change: Callable[[str], None] | None = None,
        *,
        max_scopes: int = 100_000,
        max_accounts: int = 100_000,
    ) -> None:
        self._on_key_change = on_key_change
        self.max_scopes = max_scopes
        self.max_accounts = max_accounts
        self.generation = 0
        """Bumped on every change to present state (loads too): memoised replies check it."""
        self._scopes: OrderedDict[str, ScopeLoad] = OrderedDict()
        self._accounts: OrderedDict[str, AccountLoad] = OrderedDict()

    # --- StateView ---------------------------------------------------------------

    def settings(self, scope: Scope) -> ScopeSettings | None:
        state = self._scopes.get(scope.key)
        return state.settings if state is not None else None

    def keys(self, scope: Scope) -> Mapping[str, KeyEntry]:
        state = self._scopes.get(scope.key)
        return state.keys if state is not None else _EMPTY

    def policy(self, account: str) -> AccountPolicy | None:
        state = self._accounts.get(account)
        return state.policy if state is not None else None

    def balance(self, account: str) -> int | None:
        state = self._accounts.get(account)
        return state.balance if state is not None else None

    def owner(self, scope: Scope) -> str | None:
        state = self._scopes.get(scope.key)
        return state.owner if state is not None else None

    # --- presence ----------------------------------------------------------------

    def covers(self, request: Resolve) -> bool:
        """Is everything ``request`` reads loaded? Marks it recently used."""
        return self.covers_keys(request.account, tuple(scope.key for scope in request.chain))

    def covers_keys(self, account: str, scope_keys: tuple[str, ...]) -> bool:
        """:meth:`covers` by the chain's scope keys (the hot path computes them once)."""
        scopes, accounts = self._scopes, self._accounts
        held = accounts.get(account)
        if held is None or not held.loaded:
            return False
        accounts.move_to_end(account)
        for key in scope_keys:
            state = scopes.get(key)
            if state is None or not state.loaded:
                return False
            scopes.move_to_end(key)
        platform = scopes.get(_PLATFORM_KEY)
        return platform is not None and platform.loaded

    def missing(self, request: Resolve) -> tuple[list[Scope], list[str]]:
        """Scopes and accounts ``request`` reads that are not loaded yet."""
        wanted = {scope.key: scope for scope in (*request.chain, PLATFORM)}
        scopes = [s for k, s in wanted.items() if not self._loaded(self._scopes.get(k))]
        account = self._accounts.get(request.account)
        accounts = [] if account is not None and account.loaded else [request.account]
        return scopes, accounts

    @staticmethod
    def _loaded(state: ScopeLoad | AccountLoad | None) -> bool:
        return state is not None and state.loaded

    def begin_scope(self, scope: Scope) -> ScopeLoad | None:
        """Mark ``scope`` loading; None when it is present already."""
        if scope.key in self._scopes:
            return None
        state = self._scopes[scope.key] = ScopeLoad(scope)
        return state

    def finish_scope(
        self,
        token: ScopeLoad,
        settings: tuple[int, ScopeSettings | None],
        keys: Iterable[tuple[str, int, KeyEntry | None]],
        owner: str | None = None,
    ) -> None:
        """Apply what the loader read; ignored when the scope was dropped meanwhile.

        The owner is fixed by a scope's first write, so the one read is kept
        unless the feed already told one.
        """
        if self._scopes.get(token.scope.key) is not token:
            return
        if token.owner is None:
            token.owner = owner
        self.apply_settings(settings[1], settings[0], token.scope)
        for provider, revision, entry in keys:
            self.apply_key(token.scope, provider, revision, entry)
        token.loaded = True
        self._evict_scopes(keep=token)

    def abort_scope(self, token: ScopeLoad) -> None:
        """The load failed: forget the scope (nothing of it is served)."""
        if self._scopes.get(token.scope.key) is token:
            self._drop_scope(token)

    def begin_account(self, account: str) -> AccountLoad | None:
        if account in self._accounts:
            return None
        state = self._accounts[account] = AccountLoad(account)
        return state

    def finish_account(
        self,
        token: AccountLoad,
        policy: tuple[int, AccountPolicy | None],
        balance: tuple[float, int | None],
    ) -> None:
        if self._accounts.get(token.account) is not token:
            return
        self.apply_policy(policy[1], policy[0], token.account)
        self.apply_balance(token.account, balance[1], balance[0])
        token.loaded = True
        while len(self._accounts) > self.max_accounts:
            oldest = next(iter(self._accounts.values()))
            if not oldest.loaded:
                break
            del self._accounts[oldest.account]

    def abort_account(self, token: AccountLoad) -> None:
        if self._accounts.get(token.account) is token:
            del self._accounts[token.account]

    def _evict_scopes(self, keep: ScopeLoad) -> None:
        checked = 0
        while len(self._scopes) > self.max_scopes and checked < 64:
            checked += 1
            key, oldest = next(iter(self._scopes.items()))
            if key == _PLATFORM_KEY or oldest is keep or not oldest.evictable:
                self._scopes.move_to_end(key)  # busy (or the platform): look further
                continue
            self._drop_scope(oldest)

    def _drop_scope(self, state: ScopeLoad) -> None:
        # No generation bump: a memoised reply is only reused while its scopes are
        # present (covers), and loading a scope again bumps it.
        del self._scopes[state.scope.key]
        if self._on_key_change is not None:
            for entry in state.keys.values():
                self._on_key_change(entry.key_id)

    @property
    def present(self) -> tuple[int, int]:
        """How many scopes and accounts are held (metrics, the growth bench)."""
        return len(self._scopes), len(self._accounts)

    # --- keys --------------------------------------------------------------------

    def entry(self, scope: Scope, provider: str) -> KeyEntry | None:
        return self.keys(scope).get(provider)

    def _set(self, state: ScopeLoad, provider: str, entry: KeyEntry | None) -> None:
        held = state.keys.get(provider)
        if entry is None:
            state.keys.pop(provider, None)
        else:
            state.keys[provider] = entry
        self.generation += 1
        changed = held is not None and (entry is None or entry != held)
        if changed and held is not None and self._on_key_change is not None:
            self._on_key_change(held.key_id)

    def apply_key(self, scope: Scope, provider: str, revision: int, entry: KeyEntry | None) -> bool:
        """Apply an authoritative KV entry: newer revisions only; buffered while pending."""
        state = self._scopes.get(scope.key)
        if state is None:
            return False
        slot = state.slots.get(provider)
        if slot is None:
            if entry is None and provider not in state.keys and revision == 0:
                return False  # nothing there, nothing known: no slot to remember
            slot = state.slots[provider] = _Slot()
        if slot.pending:
            slot.buffered.append((revision, entry))
            return False
        if revision <= slot.revision:
            return False
        slot.revision = revision
        self._set(state, provider, entry)
        return True

    def apply_key_event(
        self, scope: Scope, provider: str, key_id: str, event: str, entry: KeyEntry | None
    ) -> bool:
        """Apply a key event or sync. Returns True when the slot needs a reconcile read.

        Negative events drop at once and leave the slot pending; positive ones
        apply when their revision is newer than what the slot holds. A scope that
        is not present only forgets the key's material.
        """
        state = self._scopes.get(scope.key)
        if state is None:
            if event in _NEGATIVE and self._on_key_change is not None:
                self._on_key_change(key_id)
            return False
        slot = state.slots.setdefault(provider, _Slot())
        if event in _NEGATIVE:
            held = state.keys.get(provider)
            if held is not None and held.key_id == key_id:
                self._set(state, provider, None)
            elif self._on_key_change is not None:
                self._on_key_change(key_id)
            slot.pending += 1
            return True
        if entry is not None and not slot.pending and entry.revision > slot.revision:
            slot.revision = entry.revision
            self._set(state, provider, entry)
        return False

    def reconciled(
        self, scope: Scope, provider: str, revision: int | None, entry: KeyEntry | None
    ) -> None:
        """The result of a direct KV read of a pending slot (``revision`` None: read failed)."""
        state = self._scopes.get(scope.key)
        slot = state.slots.get(provider) if state is not None else None
        if state is None or slot is None:
            return
        if revision is not None and revision >= slot.revision:
            slot.revision = revision
            self._set(state, provider, entry)
        slot.pending = max(0, slot.pending - 1)
        if slot.pending == 0 and slot.buffered:
            buffered, slot.buffered = slot.buffered, []
            for rev, buffered_entry in buffered:
                if rev > slot.revision:
                    slot.revision = rev
                    self._set(state, provider, buffered_entry)

    def still_serves(self, key: KeyEntry) -> bool:
        """Is ``key`` still the usable entry of its slot (checked after every await)?"""
        held = self.entry(key.scope, key.provider)
        return held is not None and held.key_id == key.key_id and held.state is KeyState.ACTIVE

    # --- settings, policies, credits ---------------------------------------------

    def apply_settings(self, settings: ScopeSettings | None, revision: int, scope: Scope) -> None:
        """``revision`` 0 (an event without one) always applies."""
        state = self._scopes.get(scope.key)
        if state is None or (revision and revision <= state.settings_rev):
            return
        if revision:
            state.settings_rev = revision
        state.settings = settings
        self.generation += 1

    def apply_owner(self, scope_key: str, account: str | None) -> None:
        """Owner of a present scope from ``byok-owners`` (fixed by the first write)."""
        state = self._scopes.get(scope_key)
        if state is None:
            return
        state.owner = account
        self.generation += 1

    def apply_policy(self, policy: AccountPolicy | None, revision: int, account: str) -> None:
        state = self._accounts.get(account)
        if state is None or (revision and revision <= state.policy_rev):
            return
        if revision:
            state.policy_rev = revision
        state.policy = policy
        self.generation += 1

    def apply_balance(self, account: str, balance: int | None, stamp: float) -> None:
        """Latest by time: a KV record and a credits event race, the newer wins."""
        state = self._accounts.get(account)
        if state is None or stamp < state.balance_stamp:
            return
        state.balance_stamp = stamp
        state.balance = balance
        self.generation += 1

    def clear(self) -> None:
        """Forget everything (after a reconnect: loads start again from KV)."""
        held = [e.key_id for state in self._scopes.values() for e in state.keys.values()]
        self._scopes.clear()
        self._accounts.clear()
        self.generation += 1
        if self._on_key_change is not None:
            for key_id in held:
                self._on_key_change(key_id)


_PLATFORM_KEY = PLATFORM.key

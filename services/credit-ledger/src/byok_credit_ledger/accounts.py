"""The accounts in use, as folds: snapshot + the journal after it, in a bounded LRU.

Loading an account costs one snapshot read and the entries after it (at most
about ``snapshot_every``), whatever its history. A request id is claimed in the
request index before its debit is appended, and a checkpoint writes the grant
keys folded since the snapshot before the new snapshot: so any stored snapshot
at sequence S has every id up to S in the index.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Iterable
from typing import TypeVar

from .domain import Account, debited_ids
from .errors import JournalUnavailable
from .ports import Journal, RequestIndex, Snapshots, StoredEntry

__all__ = ["AccountFolds"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class AccountFolds:
    def __init__(
        self,
        journal: Journal,
        snapshots: Snapshots,
        index: RequestIndex,
        *,
        capacity: int = 10_000,
        snapshot_every: int = 64,
    ) -> None:
        self.journal = journal
        self.snapshots = snapshots
        self.index = index
        self.capacity = capacity
        self.snapshot_every = snapshot_every
        self._folds: OrderedDict[str, Account] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    def __len__(self) -> int:
        return len(self._folds)

    def lock(self, account: str) -> asyncio.Lock:
        lock = self._locks.get(account)
        if lock is None:
            lock = self._locks[account] = asyncio.Lock()
        return lock

    def cached(self, account: str) -> Account | None:
        return self._folds.get(account)

    async def get(self, account: str) -> Account:
        """The account's state as of the last entry this process folded (loads on a miss)."""
        state = self._folds.get(account)
        if state is not None:
            self._folds.move_to_end(account)
            return state
        try:
            snapshot = await self.snapshots.get(account)
        except JournalUnavailable:
            raise
        except Exception as exc:
            raise JournalUnavailable(f"cannot read the snapshot of {account}: {exc!r}") from exc
        state = Account.from_snapshot(snapshot) if snapshot is not None else Account(account)
        for seq, entry in await self._read(account, state.last_seq):
            state.apply(seq, entry)
        current = self._folds.get(account)  # loaded meanwhile by another task: keep one
        if current is not None:
            return current
        self._folds[account] = state
        self._evict()
        return state

    async def catch_up(self, state: Account) -> None:
        try:
            for seq, entry in await self._read(state.account, state.last_seq):
                state.apply(seq, entry)
        except JournalUnavailable:
            self.forget(state.account)
            raise

    def forget(self, account: str) -> None:
        self._folds.pop(account, None)

    async def claim(self, state: Account, request_id: str) -> bool:
        """Claim ``request_id`` in the index; True when it was debited up to the snapshot.

        A new claim means never debited. An earlier claim made at or after the
        snapshot means its debit, if appended, is among the entries folded since
        (the decision sees it). An earlier claim made before the snapshot is the
        rare case (a crash between claim and append, then a snapshot): the journal
        between the two answers it.
        """
        if request_id in state.debited:
            return False  # the decision sees it
        prior = await self._ask(self.index.claim(state.account, request_id, state.last_seq))
        if prior is None or prior >= state.base_seq:
            return False
        return await self.debited_between(state.account, request_id, prior, state.base_seq)

    async def claim_many(self, state: Account, request_ids: list[str]) -> list[bool]:
        """:meth:`claim` of several ids at once (the index is asked in one batch)."""
        fresh = [rid for rid in request_ids if rid not in state.debited]
        if not fresh:
            return [False] * len(request_ids)
        priors = await self._ask(self.index.claim_many(state.account, fresh, state.last_seq))
        old = [p for p in priors if p is not None and p < state.base_seq]
        dropped = await self.debited_since(state, min(old)) if old else {}
        answers = {
            rid: prior is not None and prior < state.base_seq and dropped.get(rid, -1) > prior
            for rid, prior in zip(fresh, priors, strict=True)
        }
        return [answers.get(rid, False) for rid in request_ids]

    async def debited_between(self, account: str, request_id: str, after: int, upto: int) -> bool:
        """Is there a debit of ``request_id`` with ``after < seq <= upto``?"""
        if upto <= after:
            return False
        return any(
            request_id in debited_ids(e)
            for seq, e in await self._read(account, after)
            if seq <= upto
        )

    async def debited_since(self, state: Account, after: int) -> dict[str, int]:
        """Request id -> sequence of every debit with ``after < seq <= state.base_seq``:
        from memory when the last snapshot dropped them, else from the journal."""
        known = state.debited_between(after, state.base_seq)
        if known is not None:
            return known
        return await self.debited_upto(state.account, after, state.base_seq)

    async def debited_upto(self, account: str, after: int, upto: int) -> dict[str, int]:
        """Request id -> sequence of every debit with ``after < seq <= upto``."""
        if upto <= after:
            return {}
        return {
            rid: seq
            for seq, e in await self._read(account, after)
            if seq <= upto
            for rid in debited_ids(e)
        }

    async def granted_before(self, state: Account, key: str) -> int | None:
        if state.base_seq == 0 or key in state.grants:
            return None
        return await self._ask(self.index.granted(state.account, key))

    async def checkpoint(self, accounts: Iterable[str] | None = None, *, every: int = 0) -> None:
        """Snapshot the accounts holding at least ``every`` (default ``snapshot_every``)
        unindexed entries."""
        threshold = max(1, every or self.snapshot_every)
        chosen = list(self._folds if accounts is None else accounts)
        due = [
            a for a in chosen if (s := self._folds.get(a)) is not None and s.unindexed >= threshold
        ]
        await asyncio.gather(*(self._checkpoint(a) for a in due))

    async def _checkpoint(self, account: str) -> None:
        async with self.lock(account):
            state = self._folds.get(account)
            if state is None or not state.unindexed:
                return
            snapshot = state.snapshot()
            try:
                if state.grants:
                    await self.index.record(account, dict(state.grants))
                await self.snapshots.put(snapshot)
            except Exception as exc:  # the next checkpoint tries again; nothing is lost
                log.warning("snapshot of %s not stored yet (%r)", account, exc)
                return
            state.indexed(snapshot)

    def _evict(self) -> None:
        while len(self._folds) > self.capacity:
            for account in self._folds:
                lock = self._locks.get(account)
                if lock is None or not lock.locked():
                    del self._folds[account]
                    self._locks.pop(account, None)
                    break
            else:
                return

    async def _read(self, account: str, after: int) -> list[StoredEntry]:
        try:
            return await self.journal.read(account, after)
        except JournalUnavailable:
            raise
        except Exception as exc:
            raise JournalUnavailable(f"cannot read the journal of {account}: {exc!r}") from exc

    @staticmethod
    async def _ask(call: Awaitable[T]) -> T:
        try:
            return await call
        except JournalUnavailable:
            raise
        except Exception as exc:
            raise JournalUnavailable(f"cannot read the request index: {exc!r}") from exc

"""The effects outbox: ``byok-credits`` records and credits events that follow the journal.

An effect is queued when the ledger sees an account whose journal is past
the record it knows of (its own append, or a decision on a state a dead
replica left behind). ``flush`` publishes the queued events (deduplicated by
message id) and then the record; the store refuses to move a record back, so
replicas flushing out of order cannot leave it behind the journal. The usage
consumer acks a message only after the flush that follows its debit, so a
kill -9 between an append and its effects means a redelivery, whose no-op
decision queues the effect again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import datetime

from byok_contracts.v1 import CreditsChanged, CreditState

from .domain import crossing
from .ports import CreditStates, Notifier

__all__ = ["Effects"]


class Effects:
    def __init__(
        self, states: CreditStates, notifier: Notifier, clock: Callable[[], datetime]
    ) -> None:
        self.states = states
        self.notifier = notifier
        self.clock = clock
        self._recorded: dict[str, int] = {}  # account -> journal seq its record follows
        self._announced: dict[str, int | None] = {}  # account -> balance last judged
        self._pending: dict[str, tuple[int, int]] = {}  # account -> (balance, seq) to record
        self._events: dict[str, list[tuple[CreditsChanged, str]]] = {}  # due, in order

    async def remember(self, account: str) -> None:
        """Learn what ``byok-credits`` says of ``account`` (once per process, or after forget)."""
        if account in self._recorded:
            return
        record = await self.states.get(account)
        if account not in self._recorded:
            self._recorded[account] = record.journal_seq if record else 0
            self._announced[account] = record.balance if record else None

    def known(self, account: str) -> bool:
        return account in self._recorded

    def judge(self, account: str, balance: int, seq: int) -> None:
        """The account's journal ends at ``seq`` with ``balance``: queue what is due."""
        pending = self._pending.get(account)
        if seq <= max(self._recorded.get(account, 0), pending[1] if pending else 0):
            return
        change = crossing(self._announced.get(account), balance)
        if change is not None:
            event = CreditsChanged(event=change, account=account, balance=balance)
            self._events.setdefault(account, []).append((event, f"credits-{account}-{seq}"))
        self._announced[account] = balance
        self._pending[account] = (balance, seq)

    @property
    def pending(self) -> int:
        return len(self._pending) + sum(len(q) for q in self._events.values())

    async def flush(self, accounts: Iterable[str] | None = None) -> None:
        """Publish the credits events and ``byok-credits`` records that are due."""
        chosen = list(self._pending if accounts is None else accounts)
        results = await asyncio.gather(
            *(self._publish(account) for account in chosen), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    def forget(self, account: str) -> None:
        """Drop what is known of an account with nothing due (memory follows use)."""
        if account not in self._pending and not self._events.get(account):
            self._recorded.pop(account, None)
            self._announced.pop(account, None)
            self._events.pop(account, None)

    def trim(self, keep: Callable[[str], bool]) -> None:
        for account in [a for a in self._recorded if not keep(a)]:
            self.forget(account)

    async def _publish(self, account: str) -> None:
        queued = self._events.get(account, [])
        while queued:
            event, msg_id = queued[0]
            await self.notifier.credits_changed(event, msg_id=msg_id)
            queued.pop(0)
        figure = self._pending.get(account)
        if figure is None:
            return
        balance, seq = figure
        record = CreditState(
            account=account, balance=balance, updated_at=self.clock(), journal_seq=seq
        )
        stored = await self.states.put(record)
        self._recorded[account] = max(stored, self._recorded.get(account, 0))
        if self._pending.get(account) == figure:
            del self._pending[account]

"""Credit rules, pure: an account is its snapshot plus the fold of the entries after it.

Nothing here knows NATS. The store appends an entry only if the account's
journal has not moved since the account was folded (optimistic concurrency),
so every decision below is taken against the account's latest state. What
the account did before its snapshot (which request ids were debited, which
grants were made) lives in the request index; ``debited_before`` and
``granted_before`` carry what the index said into the decision, so "each
request_id debits at most once" holds for ever without keeping history in memory.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from byok_contracts.v1 import Grant, UsageRecorded
from byok_contracts.v1.ledger import DebitItem, LedgerEntry

from .charges import Charge
from .errors import GrantConflict

__all__ = ["Account", "CreditsChange", "Snapshot", "crossing", "debited_ids", "entry_id"]

CreditsChange = Literal["exhausted", "restored"]

# uuid5 namespace of journal entry ids: the same command always yields the same id.
_NAMESPACE = uuid.UUID("6b0f4c52-4f7e-5d2a-9a51-3c6f0e8d2b17")


def entry_id(kind: str, account: str, key: str) -> str:
    """Deterministic id of the entry a command produces (also its ``Nats-Msg-Id``)."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{account}:{key}"))


def debited_ids(entry: LedgerEntry) -> list[str]:
    """The request ids an entry debits: its own, or its items' for a batched debit."""
    if entry.kind != "debit":
        return []
    if entry.items:
        return [item.request_id for item in entry.items]
    return [entry.request_id] if entry.request_id is not None else []


def crossing(announced: int | None, balance: int) -> CreditsChange | None:
    """The credits event due when the balance moves from ``announced`` to ``balance``.

    ``announced`` is the balance last published (None: nothing published yet).
    Only debits lower a balance and only grants raise it, so a move to <= 0 is
    "a debit reached zero or below" and a move above 0 is "a grant lifted it".
    """
    if balance <= 0 and (announced is None or announced > 0):
        return "exhausted"
    if balance > 0 and (announced is None or announced <= 0):
        return "restored"
    return None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An account's state up to journal sequence ``last_seq`` (KV ``byok-ledger-snapshots``).

    Every request id and grant key of the entries up to ``last_seq`` is in the
    request index before the snapshot is written.
    """

    account: str
    balance: int
    last_seq: int
    entries: int


@dataclass
class Account:
    """One account: its snapshot (``base_seq``) plus the entries folded after it."""

    account: str
    balance: int = 0
    last_seq: int = 0
    entries: int = 0
    base_seq: int = 0  # the request index covers every entry up to here
    grants: dict[str, int] = field(default_factory=dict)  # since base_seq
    debited: dict[str, int] = field(default_factory=dict)  # since base_seq: id -> entry seq
    # What the last snapshot dropped from memory: the debits with seq in (dropped_after,
    # base_seq]. Claims made just before that snapshot ask about exactly these (a batch is
    # claimed while the previous one is appended), answered without reading the journal.
    dropped: dict[str, int] = field(default_factory=dict)
    dropped_after: int | None = None  # None: not known (loaded from a snapshot)

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot) -> Account:
        return cls(
            snapshot.account,
            balance=snapshot.balance,
            last_seq=snapshot.last_seq,
            entries=snapshot.entries,
            base_seq=snapshot.last_seq,
        )

    def snapshot(self) -> Snapshot:
        return Snapshot(self.account, self.balance, self.last_seq, self.entries)

    @property
    def unindexed(self) -> int:
        """Entries folded since the snapshot (held in memory until the next one)."""
        return len(self.grants) + len(self.debited)

    def indexed(self, snapshot: Snapshot) -> None:
        """``snapshot`` (of this state) is stored and its ids are in the index: drop them."""
        if snapshot.last_seq == self.last_seq:
            self.grants.clear()
            self.dropped, self.debited = self.debited, {}
            self.dropped_after = self.base_seq
            self.base_seq = snapshot.last_seq

    def debited_between(self, after: int, upto: int) -> dict[str, int] | None:
        """Request id -> seq of the debits with ``after < seq <= upto`` when memory holds
        all of them (up to the snapshot: the ids the last one dropped), else None."""
        if upto <= after:
            return {}
        if upto == self.base_seq and self.dropped_after is not None and after >= self.dropped_after:
            return {rid: seq for rid, seq in self.dropped.items() if seq > after}
        return None

    def apply(self, seq: int, entry: LedgerEntry) -> None:
        """Fold one stored entry (stream sequence ``seq``) into the state."""
        self.balance += entry.amount
        self.last_seq = seq
        self.entries += 1
        if entry.kind == "grant" and entry.idempotency_key is not None:
            self.grants[entry.idempotency_key] = entry.amount
        for rid in debited_ids(entry):
            self.debited[rid] = seq

    def grant(self, cmd: Grant, now: datetime, granted_before: int | None) -> LedgerEntry | None:
        """The entry a grant appends, or None when this key was already granted."""
        granted = self.grants.get(cmd.idempotency_key, granted_before)
        if granted is not None:
            if granted != cmd.amount:
                raise GrantConflict(cmd.idempotency_key, granted, cmd.amount)
            return None
        return LedgerEntry(
            entry_id=entry_id("grant", self.account, cmd.idempotency_key),
            account=self.account,
            kind="grant",
            amount=cmd.amount,
            balance=self.balance + cmd.amount,
            reason=cmd.reason,
            idempotency_key=cmd.idempotency_key,
            occurred_at=now,
            recorded_at=now,
        )

    def debit(
        self, usage: UsageRecorded, charge: Charge, now: datetime, debited_before: bool
    ) -> LedgerEntry | None:
        """The entry a platform call appends; None for BYOK calls and already debited ones."""
        if charge.source != "platform" or debited_before or usage.request_id in self.debited:
            return None
        return self._single(usage, charge, now)

    def debit_many(
        self, calls: list[tuple[UsageRecorded, Charge, bool]], now: datetime
    ) -> LedgerEntry | None:
        """One entry for several calls ``(usage, charge, debited_before)`` of this account.

        Calls already debited (before, in memory, or earlier in ``calls``) and BYOK
        calls are left out; one left is an ordinary debit, several a batched one
        whose amount is the sum of its items. None when nothing is due.
        """
        due: dict[str, tuple[UsageRecorded, Charge]] = {}
        for usage, charge, before in calls:
            rid = usage.request_id
            if charge.source == "platform" and not before and rid not in self.debited:
                due.setdefault(rid, (usage, charge))
        if len(due) <= 1:
            return next((self._single(u, c, now) for u, c in due.values()), None)
        items = [_item(usage, charge) for usage, charge in due.values()]
        amount = sum(item.amount for item in items)
        return LedgerEntry(
            entry_id=entry_id("debits", self.account, ",".join(due)),
            account=self.account,
            kind="debit",
            amount=amount,
            balance=self.balance + amount,
            reason="usage",
            items=items,
            occurred_at=max(item.occurred_at for item in items),
            recorded_at=now,
        )

    def _single(self, usage: UsageRecorded, charge: Charge, now: datetime) -> LedgerEntry:
        item = _item(usage, charge)  # an ordinary debit carries its one call's fields itself
        return LedgerEntry(
            entry_id=entry_id("debit", self.account, usage.request_id),
            account=self.account,
            kind="debit",
            balance=self.balance + item.amount,
            recorded_at=now,
            **item.model_dump(),
        )


def _item(usage: UsageRecorded, charge: Charge) -> DebitItem:
    return DebitItem(
        request_id=usage.request_id,
        amount=-charge.credits,
        provider=usage.provider,
        model=usage.model,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        estimated_cost_usd=charge.usd,
        price_source=charge.price_source,
        reason=charge.reason,
        flags=list(charge.flags),
        claimed_source=usage.source if "source_mismatch" in charge.flags else None,
        occurred_at=usage.occurred_at,
    )

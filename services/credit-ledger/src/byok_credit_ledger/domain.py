"""Credit rules, pure: an account is the fold of its journal entries.

Nothing here knows NATS. The store appends an entry only if the account's
journal has not moved since the account was folded (optimistic concurrency),
so every decision below is taken against the complete history of the account:
that is what makes "each request_id debits at most once" hold for ever.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from byok_contracts.pricing import CostEstimate, credits_for
from byok_contracts.v1 import Grant, UsageRecorded
from byok_contracts.v1.ledger import LedgerDifference, LedgerEntry

from .errors import GrantConflict

__all__ = [
    "Account",
    "CreditsChange",
    "crossing",
    "debit_amount",
    "entry_id",
    "fold",
    "verify_journal",
]

CreditsChange = Literal["exhausted", "restored"]

# uuid5 namespace of journal entry ids: the same command always yields the same id.
_NAMESPACE = uuid.UUID("6b0f4c52-4f7e-5d2a-9a51-3c6f0e8d2b17")


def entry_id(kind: str, account: str, key: str) -> str:
    """Deterministic id of the entry a command produces (also its ``Nats-Msg-Id``)."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{account}:{key}"))


def debit_amount(cost: CostEstimate, credits_per_usd: int) -> int:
    """``ceil(estimated_cost_usd * credits_per_usd)``; an unpriced call costs 0 credits."""
    return credits_for(cost.usd, credits_per_usd) if cost.usd is not None else 0


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


@dataclass
class Account:
    """One account's state, exactly the fold of its journal up to ``last_seq``."""

    account: str
    balance: int = 0
    last_seq: int = 0
    entries: int = 0
    grants: dict[str, int] = field(default_factory=dict)
    debited: set[str] = field(default_factory=set)

    def apply(self, seq: int, entry: LedgerEntry) -> None:
        """Fold one stored entry (stream sequence ``seq``) into the state."""
        self.balance += entry.amount
        self.last_seq = seq
        self.entries += 1
        if entry.kind == "grant" and entry.idempotency_key is not None:
            self.grants[entry.idempotency_key] = entry.amount
        if entry.kind == "debit" and entry.request_id is not None:
            self.debited.add(entry.request_id)

    def grant(self, cmd: Grant, now: datetime) -> LedgerEntry | None:
        """The entry a grant appends, or None when this key was already granted."""
        granted = self.grants.get(cmd.idempotency_key)
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
        self, usage: UsageRecorded, cost: CostEstimate, credits_per_usd: int, now: datetime
    ) -> LedgerEntry | None:
        """The entry a platform call appends; None for BYOK calls and already debited ones."""
        if usage.source != "platform" or usage.request_id in self.debited:
            return None
        amount = debit_amount(cost, credits_per_usd)
        return LedgerEntry(
            entry_id=entry_id("debit", self.account, usage.request_id),
            account=self.account,
            kind="debit",
            amount=-amount,
            balance=self.balance - amount,
            reason="usage" if cost.priced else "usage (unpriced model: 0 credits)",
            request_id=usage.request_id,
            provider=usage.provider,
            model=usage.model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            estimated_cost_usd=str(cost.usd) if cost.usd is not None else None,
            price_source=cost.source,
            occurred_at=usage.occurred_at,
            recorded_at=now,
        )


def fold(account: str, entries: Iterable[tuple[int, LedgerEntry]]) -> Account:
    state = Account(account)
    for seq, entry in entries:
        state.apply(seq, entry)
    return state


def verify_journal(
    account: str, entries: Iterable[tuple[int, LedgerEntry]]
) -> tuple[Account, list[LedgerDifference]]:
    """Fold the journal and list every entry that disagrees with the fold so far."""
    state = Account(account)
    problems: list[LedgerDifference] = []
    for seq, entry in entries:
        expected = state.balance + entry.amount
        if entry.account != account:
            problems.append(
                LedgerDifference(
                    account=account,
                    check="entry_account",
                    expected=account,
                    found=entry.account,
                    seq=seq,
                )
            )
        if entry.balance != expected:
            problems.append(
                LedgerDifference(
                    account=account,
                    check="entry_balance",
                    expected=expected,
                    found=entry.balance,
                    seq=seq,
                    detail="recorded balance differs from the sum of the entries before it",
                )
            )
        if entry.kind == "debit" and entry.request_id in state.debited:
            problems.append(
                LedgerDifference(
                    account=account,
                    check="double_debit",
                    found=entry.request_id,
                    seq=seq,
                    detail="request_id debited more than once",
                )
            )
        if entry.kind == "grant" and entry.idempotency_key in state.grants:
            problems.append(
                LedgerDifference(
                    account=account,
                    check="double_grant",
                    found=entry.idempotency_key,
                    seq=seq,
                    detail="idempotency_key granted more than once",
                )
            )
        if (entry.kind == "debit") != (entry.amount <= 0):
            problems.append(
                LedgerDifference(
                    account=account,
                    check="entry_sign",
                    found=entry.amount,
                    seq=seq,
                    detail=f"a {entry.kind} with amount {entry.amount}",
                )
            )
        state.apply(seq, entry)
    return state, problems

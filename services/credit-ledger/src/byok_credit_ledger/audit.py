"""``ledger.verify``: fold the journal from the start and compare it with every figure kept.

This is the one place that reads whole histories on purpose: an audit checks
the journal against itself (each entry's balance, one debit per request id,
one grant per key), against the ``byok-credits`` records and against what
this replica serves.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from byok_contracts.v1 import CreditState
from byok_contracts.v1.ledger import LedgerDifference, LedgerEntry, LedgerVerification

from .domain import Account, Snapshot, debited_ids
from .errors import JournalUnavailable
from .ports import CreditStates, Journal, Snapshots, StoredEntry

__all__ = ["Audit", "verify_journal"]


@dataclass
class Folded:
    account: str
    balance: int = 0
    last_seq: int = 0
    entries: int = 0
    debited: set[str] = field(default_factory=set)
    grants: set[str] = field(default_factory=set)
    at: dict[int, tuple[int, int]] = field(default_factory=dict)  # seq -> (balance, entries)


def verify_journal(
    account: str, entries: Iterable[tuple[int, LedgerEntry]], remember: int | None = None
) -> tuple[Folded, list[LedgerDifference]]:
    """Fold the journal and list every entry that disagrees with the fold so far
    (``remember``: keep the fold's figures at that sequence, to check a snapshot)."""
    state = Folded(account)
    problems: list[LedgerDifference] = []

    def problem(check: str, seq: int, **fields: object) -> None:
        problems.append(
            LedgerDifference.model_validate(
                {"account": account, "check": check, "seq": seq, **fields}
            )
        )

    for seq, entry in entries:
        expected = state.balance + entry.amount
        if entry.account != account:
            problem("entry_account", seq, expected=account, found=entry.account)
        if entry.balance != expected:
            problem(
                "entry_balance",
                seq,
                expected=expected,
                found=entry.balance,
                detail="recorded balance differs from the sum of the entries before it",
            )
        ids = debited_ids(entry)
        for request_id in ids:
            if request_id in state.debited:
                problem(
                    "double_debit",
                    seq,
                    found=request_id,
                    detail="request_id debited more than once",
                )
            state.debited.add(request_id)
        if entry.items and (
            entry.kind != "debit"
            or sum(item.amount for item in entry.items) != entry.amount
            or any(item.amount > 0 for item in entry.items)
        ):
            problem(
                "entry_items",
                seq,
                expected=entry.amount,
                found=sum(item.amount for item in entry.items),
                detail="a batched debit whose items do not add up to its amount",
            )
        if entry.kind == "grant" and entry.idempotency_key in state.grants:
            problem(
                "double_grant",
                seq,
                found=entry.idempotency_key,
                detail="idempotency_key granted more than once",
            )
        if (entry.kind == "debit") != (entry.amount <= 0):
            problem(
                "entry_sign",
                seq,
                found=entry.amount,
                detail=f"a {entry.kind} with amount {entry.amount}",
            )
        state.balance = expected
        state.last_seq = seq
        state.entries += 1
        if seq == remember:
            state.at[seq] = (state.balance, state.entries)
        if entry.kind == "grant" and entry.idempotency_key is not None:
            state.grants.add(entry.idempotency_key)
    return state, problems


class Audit:
    def __init__(
        self,
        journal: Journal,
        states: CreditStates,
        snapshots: Snapshots,
        served: Callable[[str], Account | None],
    ) -> None:
        self.journal = journal
        self.states = states
        self.snapshots = snapshots
        self.served = served

    async def verify(self, account: str | None) -> LedgerVerification:
        journals: dict[str, list[StoredEntry]] = defaultdict(list)
        stored: dict[str, CreditState] = {}
        try:
            if account is not None:
                journals[account] = await self.journal.read(account)
                record = await self.states.get(account)
                if record is not None:
                    stored[account] = record
            else:
                async for acct, seq, entry in self.journal.read_all():
                    journals[acct].append((seq, entry))
                stored = {record.account: record async for record in self.states.get_all()}
        except JournalUnavailable:
            raise
        except Exception as exc:
            raise JournalUnavailable(f"cannot read the journal: {exc!r}") from exc
        differences: list[LedgerDifference] = []
        balances: dict[str, int] = {}
        entries = 0
        for acct, stored_entries in sorted(journals.items()):
            snapshot = await self._snapshot(acct)
            remember = snapshot.last_seq if snapshot is not None else None
            folded, problems = verify_journal(acct, stored_entries, remember)
            differences += problems
            if snapshot is not None:
                differences += _check_snapshot(folded, snapshot)
            balances[acct] = folded.balance
            entries += folded.entries
            differences += self._compare(folded, stored.get(acct))
        return LedgerVerification(
            accounts=len(journals),
            entries=entries,
            consistent=not differences,
            balances=balances,
            differences=differences,
        )

    async def _snapshot(self, account: str) -> Snapshot | None:
        try:
            return await self.snapshots.get(account)
        except Exception as exc:
            raise JournalUnavailable(f"cannot read the snapshot of {account}: {exc!r}") from exc

    def _compare(self, folded: Folded, stored: CreditState | None) -> list[LedgerDifference]:
        out: list[LedgerDifference] = []
        served = self.served(folded.account)
        if (
            served is not None
            and served.last_seq == folded.last_seq
            and served.balance != folded.balance
        ):
            out.append(
                LedgerDifference(
                    account=folded.account,
                    check="served_balance",
                    expected=folded.balance,
                    found=served.balance,
                    seq=folded.last_seq,
                )
            )
        if stored is None:
            out.append(
                LedgerDifference(
                    account=folded.account,
                    check="credit_state_missing",
                    expected=folded.balance,
                    detail="no byok-credits record",
                )
            )
        elif stored.journal_seq != folded.last_seq or stored.balance != folded.balance:
            out.append(
                LedgerDifference(
                    account=folded.account,
                    check="credit_state",
                    expected=folded.balance,
                    found=stored.balance,
                    seq=stored.journal_seq,
                    detail=f"byok-credits follows entry {stored.journal_seq}, "
                    f"journal ends at {folded.last_seq}",
                )
            )
        return out


def _check_snapshot(folded: Folded, snapshot: Snapshot) -> list[LedgerDifference]:
    """A snapshot must be the journal's fold at its sequence."""
    found = folded.at.get(snapshot.last_seq)
    if found == (snapshot.balance, snapshot.entries):
        return []
    return [
        LedgerDifference(
            account=folded.account,
            check="snapshot",
            expected=found[0] if found else None,
            found=snapshot.balance,
            seq=snapshot.last_seq,
            detail="the snapshot differs from the journal's fold at its sequence"
            if found
            else "the snapshot names a sequence that is not an entry of this account",
        )
    ]

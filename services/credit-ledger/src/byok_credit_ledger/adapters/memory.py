"""In-memory adapters: the fakes unit tests run against (same behaviour as JetStream)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence

from byok_contracts.v1 import AccountPolicy, CreditsChanged, CreditState
from byok_contracts.v1.ledger import LedgerEntry

from ..domain import Snapshot
from ..errors import JournalUnavailable, StaleAccount
from ..ports import StoredEntry

__all__ = [
    "MemoryDirectory",
    "MemoryJournal",
    "MemoryNotifier",
    "MemoryRequestIndex",
    "MemorySnapshots",
    "MemoryStates",
]


class MemoryJournal:
    """A single ordered log with per-account optimistic concurrency and msg-id dedupe."""

    def __init__(self) -> None:
        self.log: list[tuple[int, str, LedgerEntry]] = []
        self._ids: set[str] = set()
        self.fail_next = 0  # fault injection: the next N appends land but report failure

    async def append(self, entry: LedgerEntry, expected_last_seq: int) -> int:
        if entry.entry_id in self._ids or await self.last_seq(entry.account) != expected_last_seq:
            raise StaleAccount(entry.account, expected_last_seq)
        seq = len(self.log) + 1
        self.log.append((seq, entry.account, entry))
        self._ids.add(entry.entry_id)
        if self.fail_next > 0:
            self.fail_next -= 1
            raise JournalUnavailable("append outcome unknown (injected)")
        return seq

    async def last_seq(self, account: str) -> int:
        return max((seq for seq, acct, _ in self.log if acct == account), default=0)

    async def read(self, account: str, after: int = 0) -> list[StoredEntry]:
        return [(seq, e) for seq, acct, e in self.log if acct == account and seq > after]

    async def read_all(self) -> AsyncIterator[tuple[str, int, LedgerEntry]]:
        for seq, account, entry in list(self.log):
            yield account, seq, entry

    async def last_entries(self) -> dict[str, StoredEntry]:
        return {acct: (seq, entry) for seq, acct, entry in self.log}


class MemoryStates:
    def __init__(self) -> None:
        self.states: dict[str, CreditState] = {}

    async def get(self, account: str) -> CreditState | None:
        return self.states.get(account)

    async def get_all(self) -> AsyncIterator[CreditState]:
        for state in list(self.states.values()):
            yield state

    async def put(self, state: CreditState) -> int:
        current = self.states.get(state.account)
        if current is not None and current.journal_seq >= state.journal_seq:
            return current.journal_seq
        self.states[state.account] = state
        return state.journal_seq


class MemorySnapshots:
    def __init__(self) -> None:
        self.snapshots: dict[str, Snapshot] = {}

    async def get(self, account: str) -> Snapshot | None:
        return self.snapshots.get(account)

    async def put(self, snapshot: Snapshot) -> None:
        current = self.snapshots.get(snapshot.account)
        if current is None or current.last_seq < snapshot.last_seq:
            self.snapshots[snapshot.account] = snapshot


class MemoryRequestIndex:
    def __init__(self) -> None:
        self.claims: dict[tuple[str, str], int] = {}
        self.grants: dict[tuple[str, str], int] = {}

    async def claim(self, account: str, request_id: str, seq: int) -> int | None:
        prior = self.claims.get((account, request_id))
        if prior is None:
            self.claims[(account, request_id)] = seq
        return prior

    async def claim_many(
        self, account: str, request_ids: Sequence[str], seq: int
    ) -> list[int | None]:
        return [await self.claim(account, rid, seq) for rid in request_ids]

    async def granted(self, account: str, idempotency_key: str) -> int | None:
        return self.grants.get((account, idempotency_key))

    async def record(self, account: str, grants: Mapping[str, int]) -> None:
        self.grants |= {(account, key): amount for key, amount in grants.items()}


class MemoryNotifier:
    def __init__(self) -> None:
        self.events: list[CreditsChanged] = []
        self._ids: set[str] = set()

    async def credits_changed(self, event: CreditsChanged, msg_id: str) -> None:
        if msg_id not in self._ids:
            self._ids.add(msg_id)
            self.events.append(event)


class MemoryDirectory:
    def __init__(self) -> None:
        self.policies: dict[str, AccountPolicy] = {}
        self.byok: set[str] = set()
        self.platform_keys: set[str] = set()

    async def policy(self, account: str) -> AccountPolicy:
        return self.policies.get(account) or AccountPolicy(account=account)

    async def byok_active(self, account: str) -> bool:
        return account in self.byok

    async def is_platform_key(self, key_id: str, provider: str) -> bool:
        return key_id in self.platform_keys

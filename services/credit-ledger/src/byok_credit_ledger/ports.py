"""What the ledger needs from the outside world; adapters live in ``adapters/``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Protocol

from byok_contracts.v1 import AccountPolicy, CreditsChanged, CreditState
from byok_contracts.v1.ledger import LedgerEntry

from .domain import Snapshot

__all__ = [
    "AccountDirectory",
    "CreditStates",
    "Journal",
    "Notifier",
    "RequestIndex",
    "Snapshots",
    "StoredEntry",
]

StoredEntry = tuple[int, LedgerEntry]  # (stream sequence, entry)


class Journal(Protocol):
    """The append-only journal: one ordered sequence of entries per account."""

    async def append(self, entry: LedgerEntry, expected_last_seq: int) -> int:
        """Append ``entry`` if the account's last sequence is still ``expected_last_seq``.

        Returns the entry's sequence. Raises ``StaleAccount`` when the account's
        journal moved on (or the entry already exists), ``JournalUnavailable``
        when the outcome is unknown.
        """
        ...

    async def last_seq(self, account: str) -> int:
        """Sequence of the account's last entry (0 when it has none)."""
        ...

    async def read(self, account: str, after: int = 0) -> list[StoredEntry]:
        """The account's entries with a sequence above ``after``, in order."""
        ...

    def read_all(self) -> AsyncIterator[tuple[str, int, LedgerEntry]]:
        """``(account, seq, entry)`` for every entry, in journal order, up to now.

        ``account`` comes from the entry's subject, the authority on where it belongs.
        """
        ...

    async def last_entries(self) -> dict[str, StoredEntry]:
        """The last entry of every account (an audit tool: O(accounts))."""
        ...


class Snapshots(Protocol):
    """Each account's latest snapshot (KV ``byok-ledger-snapshots``)."""

    async def get(self, account: str) -> Snapshot | None: ...

    async def put(self, snapshot: Snapshot) -> None:
        """Store ``snapshot`` unless a later one is stored already."""
        ...


class RequestIndex(Protocol):
    """Request ids claimed for a debit and grant keys granted, per account, for ever (on disk)."""

    async def claim(self, account: str, request_id: str, seq: int) -> int | None:
        """Claim ``request_id`` before its debit is appended, noting the account's journal
        position ``seq``. None: claimed now (never debited); else the position noted by
        the earlier claim (its debit, if appended, comes after that position)."""
        ...

    async def claim_many(
        self, account: str, request_ids: Sequence[str], seq: int
    ) -> list[int | None]:
        """:meth:`claim` of each id, in order (one id twice: the second sees the first)."""
        ...

    async def granted(self, account: str, idempotency_key: str) -> int | None: ...

    async def record(self, account: str, grants: Mapping[str, int]) -> None:
        """Make every given grant key known; returns once all are stored."""
        ...


class CreditStates(Protocol):
    """Latest balance per account, for the resolver's warm start (KV ``byok-credits``)."""

    async def get(self, account: str) -> CreditState | None: ...

    def get_all(self) -> AsyncIterator[CreditState]: ...

    async def put(self, state: CreditState) -> int:
        """Store ``state`` unless the record follows a later entry; returns the stored seq."""
        ...


class Notifier(Protocol):
    """Publishes ``byok.v1.events.credits.<exhausted|restored>``."""

    async def credits_changed(self, event: CreditsChanged, msg_id: str) -> None: ...


class AccountDirectory(Protocol):
    """Account policy, BYOK key state and platform keys, as key-vault keeps them."""

    async def policy(self, account: str) -> AccountPolicy: ...

    async def byok_active(self, account: str) -> bool:
        """True when the account scope has BYOK enabled and an active key."""
        ...

    async def is_platform_key(self, key_id: str, provider: str) -> bool:
        """True when ``key_id`` is (or was) a platform-scope key."""
        ...

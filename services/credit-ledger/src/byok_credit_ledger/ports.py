"""What the ledger needs from the outside world; adapters live in ``adapters/``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from byok_contracts.v1 import AccountPolicy, CreditsChanged, CreditState
from byok_contracts.v1.ledger import LedgerEntry

__all__ = ["AccountDirectory", "CreditStates", "Journal", "Notifier", "StoredEntry"]

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
        """The last entry of every account."""
        ...


class CreditStates(Protocol):
    """Latest balance per account, for the resolver's warm start (KV ``byok-credits``)."""

    async def get_all(self) -> dict[str, CreditState]: ...

    async def put(self, state: CreditState) -> None: ...


class Notifier(Protocol):
    """Publishes ``byok.v1.events.credits.<exhausted|restored>``."""

    async def credits_changed(self, event: CreditsChanged, msg_id: str) -> None: ...


class AccountDirectory(Protocol):
    """Account policy and BYOK key state, as key-vault keeps them."""

    async def policy(self, account: str) -> AccountPolicy: ...

    async def byok_active(self, account: str) -> bool:
        """True when the account scope has BYOK enabled and an active key."""
        ...

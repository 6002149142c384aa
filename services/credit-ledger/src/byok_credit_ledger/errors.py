"""The credit-ledger's error tree. Request errors become error replies at the edge."""

from __future__ import annotations

from byok_contracts import Conflict, Unavailable

__all__ = ["GrantConflict", "JournalUnavailable", "LedgerError", "StaleAccount"]


class LedgerError(Exception):
    """Base of the ledger's internal errors (never sent as a reply as such)."""


class StaleAccount(LedgerError):
    """The journal moved on since the account was read: re-read it and decide again.

    Raised by the store when ``Nats-Expected-Last-Subject-Sequence`` does not
    match (another writer appended first) or when the entry already exists.
    """

    def __init__(self, account: str, expected: int) -> None:
        super().__init__(f"journal of {account} is past sequence {expected}")
        self.account = account
        self.expected = expected


class GrantConflict(Conflict):
    """409: an idempotency key reused with a different amount."""

    def __init__(self, key: str, granted: int, asked: int) -> None:
        super().__init__(
            f"Idempotency key {key} already granted {granted} credits, not {asked}",
            error="idempotency_conflict",
        )


class JournalUnavailable(Unavailable):
    """503: the journal could not be read or written (the outcome of a write is unknown)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error="journal_unavailable")

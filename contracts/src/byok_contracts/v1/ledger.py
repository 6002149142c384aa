"""Credit ledger: ``byok.v1.ledger.grant`` and ``byok.v1.ledger.balance``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from byok_contracts.redaction import redact_secrets

from .common import AccountId, Event, Reply, Request, RequestId, utcnow
from .settings import Mode

__all__ = [
    "Balance",
    "BalanceRequest",
    "DebitItem",
    "Grant",
    "Granted",
    "LedgerDifference",
    "LedgerEntry",
    "LedgerVerification",
    "VerifyLedger",
]


class Grant(Request):
    account: AccountId
    amount: Annotated[int, Field(gt=0, le=10**12)]
    reason: Annotated[str, Field(min_length=1, max_length=256), AfterValidator(redact_secrets)]
    idempotency_key: RequestId


class Granted(Reply):
    status: Literal["granted"] = "granted"
    balance: int


class BalanceRequest(Request):
    account: AccountId


class Balance(Reply):
    status: Literal["ok"] = "ok"
    balance: int
    mode: Mode
    credits_paused: bool


class DebitItem(Event):
    """One platform call debited inside a batched debit entry (``LedgerEntry.items``)."""

    request_id: str
    amount: int  # signed, <= 0
    provider: str | None = None
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    estimated_cost_usd: str | None = None
    price_source: str | None = None
    reason: str | None = None
    flags: list[str] = Field(default_factory=list)
    claimed_source: str | None = None
    occurred_at: datetime = Field(default_factory=utcnow)


class LedgerEntry(Event):
    """One journal entry on ``byok.v1.ledger.journal.<account>`` (append-only).

    ``amount`` is signed (grants positive, debits negative); ``balance`` is the
    account's balance after this entry, so the journal can be checked against
    its own fold. ``entry_id`` is derived from the input (uuid5), so a replayed
    command produces the same id.
    """

    entry_id: str
    account: AccountId
    kind: Literal["grant", "debit"]
    amount: int
    balance: int
    reason: str | None = None
    idempotency_key: str | None = None
    request_id: str | None = None
    provider: str | None = None
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    estimated_cost_usd: str | None = None
    price_source: str | None = None
    # What the ledger noticed, e.g. ``source_mismatch`` (the runtime claimed ``byok`` for a
    # platform key) or ``unpriced_fallback`` (debited at ``BYOK_UNPRICED_USD_PER_MTOK``).
    flags: list[str] = Field(default_factory=list)
    claimed_source: str | None = None
    occurred_at: datetime = Field(default_factory=utcnow)
    recorded_at: datetime = Field(default_factory=utcnow)
    # A batched debit (one append for several calls of the account): ``request_id`` is
    # None, ``amount`` is the sum of the items' amounts. Empty on every other entry.
    items: list[DebitItem] = Field(default_factory=list)

    def debits(self) -> list[LedgerEntry]:
        """This entry as one entry per call: itself, or one debit per item of a batch
        (each with the balance after it), so readers count debits the same either way."""
        if not self.items:
            return [self]
        balance = self.balance - self.amount
        out: list[LedgerEntry] = []
        for item in self.items:
            balance += item.amount
            fields = item.model_dump() | {"balance": balance}
            out.append(self.model_copy(update=fields | {"items": []}))
        return out


class VerifyLedger(Request):
    """``byok.v1.ledger.verify``: recompute balances from the journal (all accounts by default)."""

    account: AccountId | None = None


class LedgerDifference(Reply):
    """One place where the journal's fold disagrees with a recorded or served figure."""

    account: str
    check: str
    expected: int | str | None = None
    found: int | str | None = None
    seq: int | None = None
    detail: str = ""


class LedgerVerification(Reply):
    status: Literal["ok"] = "ok"
    accounts: int
    entries: int
    consistent: bool
    balances: dict[str, int] = Field(default_factory=dict)
    differences: list[LedgerDifference] = Field(default_factory=list)

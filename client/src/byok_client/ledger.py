"""Credits and usage for product backends: grant, balance, verify, usage queries."""

from __future__ import annotations

from datetime import datetime

from byok_contracts.v1 import Balance, Granted, UsageReport
from byok_contracts.v1.ledger import LedgerVerification
from byok_shared import calls

from .base import BaseClient, ScopeLike, as_scope

__all__ = ["LedgerMixin"]


class LedgerMixin(BaseClient):
    async def grant(
        self, account: str, amount: int, *, reason: str, idempotency_key: str
    ) -> Granted:
        """Add ``amount`` credits once per ``idempotency_key`` (same key, other amount: 409)."""
        fields = {
            "account": account,
            "amount": amount,
            "reason": reason,
            "idempotency_key": idempotency_key,
        }
        return await self.call(calls.LEDGER_GRANT, calls.LEDGER_GRANT.body(fields))

    async def balance(self, account: str) -> Balance:
        """Balance, mode and whether credits are paused (BYOK-first with a usable key)."""
        body = calls.LEDGER_BALANCE.body({"account": account})
        return await self.call(calls.LEDGER_BALANCE, body)

    async def verify_ledger(self, account: str | None = None) -> LedgerVerification:
        """Recompute balances from the journal and report every difference."""
        body = calls.LEDGER_VERIFY.body({"account": account})
        return await self.call(calls.LEDGER_VERIFY, body)

    async def usage(
        self,
        *,
        scope: ScopeLike | None = None,
        key_id: str | None = None,
        account: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> UsageReport:
        """Calls, tokens and estimated cost of one scope, key or account (optionally windowed)."""
        where = None if scope is None else as_scope(scope)
        fields = {"scope": where, "key_id": key_id, "account": account}
        body = calls.USAGE_QUERY.body({**fields, "since": since, "until": until})
        return await self.call(calls.USAGE_QUERY, body)

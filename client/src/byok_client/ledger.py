"""Credits and usage for product backends: grant, balance, verify, usage queries."""

from __future__ import annotations

from datetime import datetime

from byok_contracts import subjects
from byok_contracts.v1 import Balance, Granted, Scope, UsageReport
from byok_contracts.v1.ledger import LedgerVerification

from .base import BaseClient

__all__ = ["LedgerMixin"]


class LedgerMixin(BaseClient):
    async def grant(
        self, account: str, amount: int, *, reason: str, idempotency_key: str
    ) -> Granted:
        """Add ``amount`` credits once per ``idempotency_key`` (same key, other amount: 409)."""
        body = {
            "account": account,
            "amount": amount,
            "reason": reason,
            "idempotency_key": idempotency_key,
        }
        return await self.request(subjects.LEDGER_GRANT, body, Granted)

    async def balance(self, account: str) -> Balance:
        """Balance, mode and whether credits are paused (BYOK-first with a usable key)."""
        return await self.request(subjects.LEDGER_BALANCE, {"account": account}, Balance)

    async def verify_ledger(self, account: str | None = None) -> LedgerVerification:
        """Recompute balances from the journal and report every difference."""
        body: dict[str, object] = {} if account is None else {"account": account}
        return await self.request(subjects.LEDGER_VERIFY, body, LedgerVerification)

    async def usage(
        self,
        *,
        scope: Scope | str | None = None,
        key_id: str | None = None,
        account: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> UsageReport:
        """Calls, tokens and estimated cost of one scope, key or account (optionally windowed)."""
        body: dict[str, object] = {}
        if scope is not None:
            parsed = Scope.parse(scope) if isinstance(scope, str) else scope
            body["scope"] = {"type": parsed.type.value, "id": parsed.id}
        if key_id is not None:
            body["key_id"] = key_id
        if account is not None:
            body["account"] = account
        if since is not None:
            body["since"] = since.isoformat()
        if until is not None:
            body["until"] = until.isoformat()
        return await self.request(subjects.USAGE_QUERY, body, UsageReport)

"""Builders shared by the ledger's tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from byok_contracts import Catalog
from byok_contracts.pricing import Pricing
from byok_contracts.v1 import UsageRecorded
from byok_credit_ledger.adapters.memory import (
    MemoryDirectory,
    MemoryJournal,
    MemoryNotifier,
    MemoryStates,
)
from byok_credit_ledger.handlers import Ledger

AT = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def usage(request_id: str, account: str = "acme", **overrides: Any) -> UsageRecorded:
    values: dict[str, Any] = {
        "request_id": request_id,
        "account": account,
        "chain": [{"type": "session", "id": "s1"}, {"type": "workspace", "id": "w1"}],
        "key_id": "k1",
        "source": "platform",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "input_tokens": 1000,
        "output_tokens": 500,
        "occurred_at": AT,
    }
    values.update(overrides)
    return UsageRecorded.model_validate(values)


def memory_ledger(credits_per_usd: int = 1000) -> tuple[Ledger, MemoryJournal, MemoryNotifier]:
    journal, notifier = MemoryJournal(), MemoryNotifier()
    ledger = Ledger(
        journal,
        MemoryStates(),
        notifier,
        MemoryDirectory(),
        Pricing(Catalog.load()),
        credits_per_usd=credits_per_usd,
    )
    return ledger, journal, notifier

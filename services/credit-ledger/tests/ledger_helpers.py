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
    MemoryRequestIndex,
    MemorySnapshots,
    MemoryStates,
)
from byok_credit_ledger.charges import Charger
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


def charger(credits_per_usd: int = 1000, unpriced: float | None = None) -> Charger:
    catalog = Catalog.load()
    return Charger(
        Pricing(catalog),
        catalog,
        credits_per_usd=credits_per_usd,
        unpriced_usd_per_mtok=unpriced,
    )


def memory_ledger(
    credits_per_usd: int = 1000,
    *,
    journal: MemoryJournal | None = None,
    states: MemoryStates | None = None,
    snapshots: MemorySnapshots | None = None,
    index: MemoryRequestIndex | None = None,
    directory: MemoryDirectory | None = None,
    **options: Any,
) -> tuple[Ledger, MemoryJournal, MemoryNotifier]:
    """A ledger on in-memory stores; pass another ledger's stores to share them."""
    journal, notifier = journal or MemoryJournal(), MemoryNotifier()
    ledger = Ledger(
        journal,
        states or MemoryStates(),
        notifier,
        directory or MemoryDirectory(),
        charger(credits_per_usd),
        snapshots or MemorySnapshots(),
        index or MemoryRequestIndex(),
        **options,
    )
    return ledger, journal, notifier
